# shellcheck shell=bash
# Sourced by toolchain/setup.sh after setup-kube.sh (it uses step, link_tool, module_dir,
# _kube_build, _kube_build_commands, _kube_dir, _kube_module_hash, $ROOT, $CACHE, $TOOLS and
# the pins from versions.env): the node of the local cluster (localenv/node.py runs it).
#
# - Debian packages: containerd, runc, the CNI plugins, iptables, ipset, conntrack, umoci
#   (installed only when missing).
# - kube-scheduler, kubelet and kube-proxy from the same wrapper module as kube-apiserver
#   (toolchain/go/kube-control-plane), kube-router and CoreDNS from their own wrapper modules.
# - Two node images, built here and imported straight into containerd (never pulled): the
#   pause image (build/pause/linux/pause.c of the pinned k8s.io/kubernetes module, compiled
#   static), the CoreDNS image (the static coredns binary) and a probe image for tests (Debian's
#   static busybox with its applets as /bin links), each a scratch rootfs packed
#   into an OCI archive with umoci. They land in $CACHE keyed by the hash of their inputs
#   and are linked into .tools/images with a `.ref` file naming the image.

# busybox-static: the probe image the node's tests run in pods (nslookup, wget, nc).
NODE_PACKAGES=(containerd runc containernetworking-plugins iptables ipset conntrack umoci busybox-static)
NODE_IMAGE_REPO="registry.local.paif.test/paif"
NODE_IMAGES="$ROOT/.tools/images"

_node_packages() {
    local missing=() p
    for p in "${NODE_PACKAGES[@]}"; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "    Debian packages present: ${NODE_PACKAGES[*]}"
        return
    fi
    echo "    installing from Debian: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
        --no-install-recommends "${missing[@]}" >/dev/null
}

# Pack `binary` as /<path> into a scratch OCI image (entrypoint /<path>, user 65535) and write
# an OCI archive to $out (atomically). Extra args: further `umoci config` options.
_node_image() {
    local binary="$1" name="$2" tag="$3" out="$4"
    shift 4
    local work applet
    work="$(mktemp -d)"
    (
        cd "$work"
        umoci init --layout oci
        umoci new --image "oci:$tag"
        umoci unpack --image "oci:$tag" bundle >/dev/null
        install -D -m 0755 "$binary" "bundle/rootfs/$name"
        if [ "$name" = bin/busybox ]; then
            for applet in $("$binary" --list); do
                [ -e "bundle/rootfs/bin/$applet" ] || ln -s busybox "bundle/rootfs/bin/$applet"
            done
            mkdir -p bundle/rootfs/tmp && chmod 1777 bundle/rootfs/tmp
        fi
        umoci repack --image "oci:$tag" bundle
        umoci config --image "oci:$tag" --os linux --architecture amd64 \
            --config.user=65535:65535 --config.entrypoint="/$name" "$@"
        umoci gc --layout oci
        tar -C oci -cf "$out.tmp" .
    )
    rm -rf "$work"
    mv "$out.tmp" "$out"
}

_node_link_image() {
    mkdir -p "$NODE_IMAGES"
    ln -sf "$2" "$NODE_IMAGES/$1.tar"
    echo "$NODE_IMAGE_REPO/$1:$3" >"$NODE_IMAGES/$1.ref"
    echo "    image $NODE_IMAGE_REPO/$1:$3 ($(du -h "$2" | cut -f1))"
}

setup_node() {
    _node_packages

    # kubelet, kube-proxy and kube-scheduler: the same module, ldflags and cache directory as
    # setup-kube.sh's kube-apiserver.
    local module hash component
    # `make setup` builds them with the control plane (toolchain/setup-kube.sh); built here
    # only when this step runs alone.
    echo "    kube-scheduler, kubelet and kube-proxy $KUBERNETES_VERSION"
    _kube_build_commands kube-scheduler kubelet kube-proxy
    for component in kube-scheduler kubelet kube-proxy; do
        link_tool "$(_kube_dir)/$component"
    done

    module="$ROOT/toolchain/go/kube-router"
    hash="$(_kube_module_hash "$module")"
    echo "    kube-router $KUBE_ROUTER_VERSION (cold build: ~1.5 min on 2 cores)"
    _kube_build "$module" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router \
        "$CACHE/kube-router-$KUBE_ROUTER_VERSION-$hash/kube-router" \
        "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION"
    link_tool "$CACHE/kube-router-$KUBE_ROUTER_VERSION-$hash/kube-router"

    module="$ROOT/toolchain/go/coredns"
    hash="$(cat "$module"/go.mod "$module"/go.sum "$module"/main.go | sha256sum | cut -c1-12)"
    local coredns="$CACHE/coredns-$COREDNS_VERSION-$hash/coredns"
    echo "    CoreDNS $COREDNS_VERSION (cold build: ~1 min on 2 cores)"
    _kube_build "$module" . "$coredns" "-X github.com/coredns/coredns/coremain.gitTag=$COREDNS_VERSION"

    # The pause image: pause.c of the pinned kubernetes module, its tag from build/pause/Makefile.
    local src pause_tag pause_hash out
    src="$(cd "$ROOT/toolchain/go/kube-control-plane" && module_dir k8s.io/kubernetes)"
    pause_tag="$(sed -n 's/^TAG ?= //p' "$src/build/pause/Makefile")"
    pause_hash="$( (cat "$src/build/pause/linux/pause.c"; gcc --version | sed -n 1p; umoci --version) | sha256sum | cut -c1-12)"
    out="$CACHE/node-images/pause-$pause_tag-$pause_hash"
    if [ ! -f "$out/pause.tar" ]; then
        mkdir -p "$out"
        gcc -Os -Wall -Werror -static -s -DVERSION="v$pause_tag-paif" \
            -o "$out/pause" "$src/build/pause/linux/pause.c"
        _node_image "$out/pause" pause "$pause_tag" "$out/pause.tar"
    fi
    _node_link_image pause "$out/pause.tar" "$pause_tag"

    local coredns_hash
    coredns_hash="$( (sha256sum <"$coredns"; umoci --version) | sha256sum | cut -c1-12)"
    out="$CACHE/node-images/coredns-$COREDNS_VERSION-$coredns_hash"
    if [ ! -f "$out/coredns.tar" ]; then
        mkdir -p "$out"
        _node_image "$coredns" coredns "${COREDNS_VERSION#v}" "$out/coredns.tar"
    fi
    _node_link_image coredns "$out/coredns.tar" "${COREDNS_VERSION#v}"

    local busybox_tag busybox_hash
    busybox_tag="$(dpkg-query -W -f='${Version}' busybox-static | sed 's/^[0-9]*://; s/[^A-Za-z0-9_.-]/-/g')"
    busybox_hash="$( (sha256sum </bin/busybox; umoci --version) | sha256sum | cut -c1-12)"
    out="$CACHE/node-images/busybox-$busybox_hash"
    if [ ! -f "$out/busybox.tar" ]; then
        mkdir -p "$out"
        _node_image /bin/busybox bin/busybox "$busybox_tag" "$out/busybox.tar" --config.cmd=sh
    fi
    _node_link_image busybox "$out/busybox.tar" "$busybox_tag"

    for component in kube-scheduler kubelet kube-proxy; do
        "$TOOLS/$component" --version | sed 's/^/    /'
    done
    "$TOOLS/kube-router" --version 2>&1 | sed -n '1s/^/    /p'
    echo "    $(containerd --version), $(runc --version | sed -n 1p)"
}
