# shellcheck shell=bash
# Sourced by toolchain/setup.sh (which provides step, link_tool, $ROOT, $CACHE, $TOOLS and
# the pins from versions.env): the local Kubernetes control plane the `local` stack and the
# integration tests run against (etcd, kube-apiserver, kube-controller-manager), built from
# the Go module proxy into $CACHE keyed by version and wrapper-module hash. A second run
# only links.
#
# All are plain `go build`s of a throwaway module under toolchain/go/ that pins the
# release (see the comments in their go.mod). CGO is off: static binaries, no C toolchain.

# The hash of a wrapper module's go.mod and go.sum (a changed pin means a new cache entry).
_kube_module_hash() {
    cat "$1/go.mod" "$1/go.sum" | sha256sum | cut -c1-12
}

# Build package $2 of the wrapper module in $1 into $3 (atomically), unless it is there.
_kube_build() {
    local module="$1" package="$2" out="$3" ldflags="$4"
    if [ -x "$out" ]; then
        echo "    cached: $out"
        return
    fi
    mkdir -p "$(dirname "$out")"
    local start=$SECONDS
    (
        cd "$module"
        go build -ldflags "-s -w $ldflags" -o "$out.tmp" "$package"
    )
    mv "$out.tmp" "$out"
    echo "    built $(basename "$out") in $((SECONDS - start)) s"
}

# Build the commands $4... of k8s.io/kubernetes (wrapper module $1) into directory $2 with
# ldflags $3, in one `go build`; the ones already there are left alone.
_kube_build_all() {
    local module="$1" dir="$2" ldflags="$3" missing=() component
    shift 3
    for component in "$@"; do
        [ -x "$dir/$component" ] || missing+=("k8s.io/kubernetes/cmd/$component")
    done
    [ "${#missing[@]}" -gt 0 ] || return 0
    local start=$SECONDS tmp="$dir.tmp"
    rm -rf "$tmp" && mkdir -p "$tmp" "$dir"
    (cd "$module" && go build -ldflags "-s -w $ldflags" -o "$tmp/" "${missing[@]}")
    for component in "${missing[@]}"; do
        mv "$tmp/${component##*/}" "$dir/"
    done
    rmdir "$tmp"
    echo "    built ${missing[*]##*/} in $((SECONDS - start)) s"
}

# The directory the k8s.io/kubernetes commands are built into (keyed by their wrapper module).
_kube_dir() {
    echo "$CACHE/kubernetes-$KUBERNETES_VERSION-$(_kube_module_hash "$ROOT/toolchain/go/kube-control-plane")"
}

# Build the k8s.io/kubernetes commands $@ into `_kube_dir` in one `go build`, stamped as the
# release build stamps them (hack/lib/version.sh: /version and client checks read it).
_kube_build_commands() {
    local minor="${KUBERNETES_VERSION#v1.}" ldflags="" pkg
    minor="${minor%%.*}"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
        ldflags+=" -X $pkg.gitTreeState=clean"
    done
    _kube_build_all "$ROOT/toolchain/go/kube-control-plane" "$(_kube_dir)" "$ldflags" "$@"
}

setup_kube() {
    local module out hash
    module="$ROOT/toolchain/go/etcd"
    hash="$(_kube_module_hash "$module")"
    out="$CACHE/etcd-$ETCD_VERSION-$hash/etcd"
    echo "    etcd $ETCD_VERSION (cold build: ~0.5 min on 2 cores)"
    _kube_build "$module" go.etcd.io/etcd/server/v3 "$out" ""
    link_tool "$out"

    echo "    kube-apiserver, kube-controller-manager and the node's kube-scheduler, kubelet, kube-proxy $KUBERNETES_VERSION (cold build: ~4.5 min on 2 cores)"
    # One `go build` for these two and the node's three (toolchain/setup-node.sh then finds them
    # built): the go command links one program while it still compiles for the next.
    _kube_build_commands kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy
    local dir
    dir="$(_kube_dir)"
    local component
    for component in kube-apiserver kube-controller-manager; do
        link_tool "$dir/$component"
    done

    # The first line only, read by sed to the end: `head -n1` would exit early, and etcd's
    # SIGPIPE (exit 141) would fail the pipeline under pipefail (1 run in 7).
    "$TOOLS/etcd" --version | sed -n '1s/^/    /p'
    "$TOOLS/kube-apiserver" --version | sed 's/^/    /'
    "$TOOLS/kube-controller-manager" --version | sed 's/^/    /'
}
