#!/usr/bin/env bash
# One-command setup for a fresh machine: Python virtualenv with the pinned dependencies,
# the Pulumi CLI and Python language host, the provider plugins, and the local target
# programs (vcsim, etcd, kube-apiserver, kube-controller-manager, PostgreSQL) and the local node
# (toolchain/setup-node.sh). The Pulumi download sites are not
# reachable from our machines, so Go programs are built from the Go module proxy.
#
# Builds are cached under ~/.cache/paif keyed by version; a second run only checks them.
# The project sees the tools through .tools/bin (symlinks), which the Makefile puts on PATH.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=versions.env
source "$ROOT/toolchain/versions.env"

CACHE="${PAIF_CACHE:-$HOME/.cache/paif}"
TOOLS="$ROOT/.tools/bin"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3.11}"
# Every Go build of the setup shares these settings, so that a package two programs need at
# the same version is compiled once (the build cache keys on them): static binaries, as the
# Kubernetes releases are built; paths trimmed; no DWARF from the compiler (the linker drops
# it anyway with -s -w). Measured on a cold CoreDNS build: 83 s with DWARF, 73 s without.
export CGO_ENABLED=0
export GOFLAGS="-buildvcs=false -trimpath -gcflags=all=-dwarf=false${GOFLAGS:+ $GOFLAGS}"
export PULUMI_SKIP_UPDATE_CHECK=true
mkdir -p "$CACHE" "$TOOLS"

STEP=""
step() {
    STEP="$1"
    printf '==> [%s] %s\n' "$(date +%H:%M:%S)" "$1"
}
trap 'echo "setup FAILED in step: ${STEP}" >&2' ERR

link_tool() { ln -sf "$1" "$TOOLS/$(basename "$1")"; }
# The source directory of a required module, downloading it first (run inside a module).
module_dir() {
    local dir
    dir="$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    [ -d "$dir" ] || { echo "cannot download Go module $1" >&2; return 1; }
    echo "$dir"
}
# The engine looks for its language host beside its own (symlink-resolved) executable and
# warns when PATH finds another one first, so the Pulumi binaries are placed, not linked.
place_tool() {
    rm -f "$TOOLS/$2"
    ln "$1" "$TOOLS/$2" 2>/dev/null || cp "$1" "$TOOLS/$2"
}

# 1. Python virtualenv ------------------------------------------------------------------
setup_venv() {
    step "python virtualenv (.venv) with pinned dependencies"
    # Dynamic providers run with the working directory at `main:` (infra/), where the engine
    # resolves Pulumi.yaml's `virtualenv: .venv` (pulumi/pulumi#7061): point it at ours.
    [ -L "$ROOT/infra/.venv" ] || ln -s ../.venv "$ROOT/infra/.venv"
    local stamp="$VENV/.paif-deps" want
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "    up to date"
        return
    fi
    command -v "$PYTHON" >/dev/null || PYTHON=python3
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[dev]"
    echo "$want" >"$stamp"
}

# 2. Pulumi CLI and Python language host ---------------------------------------------------
pulumi_version_on_path() {
    local p
    p="$(PATH="${PATH//$TOOLS:/}" command -v pulumi 2>/dev/null)" || return 1
    [ "$("$p" version 2>/dev/null)" = "v$PULUMI_VERSION" ] && echo "$p"
}

setup_pulumi() {
    step "pulumi CLI v$PULUMI_VERSION and python language host"
    local out="$CACHE/pulumi-v$PULUMI_VERSION" sdk existing
    local langhost_hash
    langhost_hash="$(cat "$ROOT/toolchain/go/go.mod" "$ROOT/toolchain/go/go.sum" "$ROOT"/toolchain/go/langhost/*.go | sha256sum | cut -c1-12)"
    mkdir -p "$out"
    (
        cd "$ROOT/toolchain/go"
        if existing="$(pulumi_version_on_path)"; then
            echo "    using $existing (pinned version already installed)"
            ln -sf "$existing" "$out/pulumi"
        elif [ ! -x "$out/pulumi" ]; then
            echo "    building the CLI from the Go module proxy (cold: ~4 min on 2 cores)"
            go build -o "$out/pulumi.tmp" \
                -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
                github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
            mv "$out/pulumi.tmp" "$out/pulumi"
        fi
        if [ ! -x "$out/pulumi-language-python-$langhost_hash" ]; then
            echo "    building the python language host"
            go build -o "$out/pulumi-language-python-$langhost_hash" \
                -ldflags "-s -w -X main.version=$PULUMI_VERSION" ./langhost
        fi
        ln -sf "$out/pulumi-language-python-$langhost_hash" "$out/pulumi-language-python"
        # The launcher and the dynamic-provider shim that the official release ships beside
        # the language host come from the same pinned SDK module.
        sdk="$(module_dir github.com/pulumi/pulumi/sdk/v3)"
        install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$out/"
        install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$out/"
    )
    for f in pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python; do
        place_tool "$(readlink -f "$out/$f")" "$f"
    done
    "$TOOLS/pulumi" version
}

# 3. Provider plugins ----------------------------------------------------------------------
# The installed plugin must be the binary this setup built: the CLI keeps plugins in its own
# home (PULUMI_HOME, else ~/.pulumi of the account in the password database, whatever $HOME
# says; they differ under sudo and in some CI images), so that is where we look.
kubernetes_plugin_current() {
    "$VENV/bin/python" - "$1" "$PULUMI_KUBERNETES_VERSION" <<'PY'
import filecmp, os, pwd, sys
from pathlib import Path
built, version = Path(sys.argv[1]), sys.argv[2]
home = Path(os.environ.get("PULUMI_HOME") or Path(pwd.getpwuid(os.getuid()).pw_dir) / ".pulumi")
installed = home / "plugins" / f"resource-kubernetes-v{version}" / "pulumi-resource-kubernetes"
sys.exit(not (installed.is_file() and filecmp.cmp(built, installed, shallow=False)))
PY
}

# Built from the module at the pinned version with our patches applied (each one says what it
# changes and why: toolchain/go/kubernetes-provider/patches); the cache key covers the wrapper
# module and the patches.
kubernetes_provider_binary() {
    local here="$ROOT/toolchain/go/kubernetes-provider" hash
    hash="$(cat "$here"/go.mod "$here"/go.sum "$here"/patches/*.patch | sha256sum | cut -c1-12)"
    echo "$CACHE/kubernetes-provider-v$PULUMI_KUBERNETES_VERSION-$hash/pulumi-resource-kubernetes"
}

setup_kubernetes_provider() {
    step "pulumi-kubernetes provider plugin v$PULUMI_KUBERNETES_VERSION"
    local here="$ROOT/toolchain/go/kubernetes-provider" bin
    bin="$(kubernetes_provider_binary)"
    if [ ! -x "$bin" ]; then
        echo "    building from the Go module proxy (cold: ~6.5 min on 2 cores)"
        local work="$CACHE/build/kubernetes-provider-$PULUMI_KUBERNETES_PROVIDER_MODULE"
        rm -rf "$work" && mkdir -p "$work"
        cp "$here/go.mod" "$here/go.sum" "$work/"
        (
            cd "$work"
            local src patch
            src="$(module_dir github.com/pulumi/pulumi-kubernetes/provider/v4)"
            cp -r "$src" provider && chmod -R u+w provider
            for patch in "$here"/patches/*.patch; do
                patch --quiet --forward --directory=provider -p1 < "$patch"
            done
            go mod edit -replace "github.com/pulumi/pulumi-kubernetes/provider/v4=./provider"
            # The provider's main package embeds schema files its Makefile generates; the
            # module zip has their sources, so generate them here as the Makefile would.
            cp provider/cmd/pulumi-resource-kubernetes/{main.go,generate.go,schema.json,terraform-mapping.json} .
            VERSION="$PULUMI_KUBERNETES_VERSION" go run generate.go
            rm generate.go schema.json terraform-mapping.json
            mkdir -p "$(dirname "$bin")"
            go build -o "$bin.tmp" -ldflags \
                "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PULUMI_KUBERNETES_VERSION" .
            mv "$bin.tmp" "$bin"
        )
    fi
    if kubernetes_plugin_current "$bin"; then
        echo "    already installed"
        return
    fi
    "$TOOLS/pulumi" plugin install resource kubernetes "$PULUMI_KUBERNETES_VERSION" --file "$bin" --reinstall
}

# 4. vcsim -----------------------------------------------------------------------------------
setup_vcsim() {
    step "vcsim (govmomi $GOVMOMI_VERSION simulator, our launcher in toolchain/go/vcsim)"
    local hash out
    hash="$(cat "$ROOT"/toolchain/go/vcsim/{go.mod,go.sum,main.go} | sha256sum | cut -c1-12)"
    out="$CACHE/vcsim-$GOVMOMI_VERSION-$hash"
    if [ ! -x "$out/vcsim" ]; then
        mkdir -p "$out"
        (cd "$ROOT/toolchain/go/vcsim" && go build -ldflags "-s -w" -o "$out/vcsim.tmp" . && mv "$out/vcsim.tmp" "$out/vcsim")
    fi
    link_tool "$out/vcsim"
}

# 5. PostgreSQL server (Debian) ----------------------------------------------------------------
setup_postgres() {
    step "PostgreSQL server (Debian package)"
    local bindir
    bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
    if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
        echo "    installing postgresql from Debian"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
        bindir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
    fi
    for f in initdb pg_ctl postgres psql; do link_tool "$bindir/$f"; done
    echo "    $("$bindir/postgres" --version)"
}

# Two steps spend much of their time waiting on downloads (measured cold: the virtualenv kept
# the cores 63% busy, the images 52%, against 89-96% for every Go build), so each runs in the
# background beside a Go build. Its output is kept and printed when it is joined; a failure
# there fails the setup with that output. Nothing else runs beside them.
BACKGROUND_PIDS=()
in_background() {  # log_file function
    "$2" >"$1" 2>&1 &
    BACKGROUND_PIDS+=("$!")
}
join_background() {  # log_file what
    local pid="${BACKGROUND_PIDS[0]}"
    BACKGROUND_PIDS=("${BACKGROUND_PIDS[@]:1}")
    if wait "$pid"; then
        cat "$1"
    else
        cat "$1" >&2
        STEP="$2"
        return 1
    fi
}
stop_background() {
    local pid
    for pid in "${BACKGROUND_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}

main() {
    local start=$SECONDS logs
    logs="$(mktemp -d)"
    # shellcheck disable=SC2064  # the directory is known now; expand it now
    trap "stop_background; rm -rf '$logs'" EXIT
    in_background "$logs/venv" setup_venv
    setup_pulumi
    join_background "$logs/venv" "python virtualenv (.venv)"
    setup_kubernetes_provider
    setup_vcsim
    setup_postgres
    step "local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager)"
    # shellcheck source=setup-kube.sh
    source "$ROOT/toolchain/setup-kube.sh"
    setup_kube
    step "local node (containerd, kubelet, kube-proxy, kube-router, CoreDNS, node images)"
    # shellcheck source=setup-node.sh
    source "$ROOT/toolchain/setup-node.sh"
    setup_node
    # shellcheck source=setup-images.sh
    source "$ROOT/toolchain/setup-images.sh"
    in_background "$logs/images" images_step
    step "ingress controller (Traefik)"
    # shellcheck source=setup-ingress.sh
    source "$ROOT/toolchain/setup-ingress.sh"
    setup_ingress
    step "platform test tools (promtool, vendor CRDs from Go modules)"
    # shellcheck source=setup-platform.sh
    source "$ROOT/toolchain/setup-platform.sh"
    setup_platform
    join_background "$logs/images" "app container images"
    step "done in $((SECONDS - start)) s"
}

images_step() {
    step "app container images (Debian + PyPI) and the local registry's tools (beside the Go builds)"
    setup_images
}

# When sourced (a test, or one step run by hand), only the functions are defined.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
    # bash reads a script as it runs it: stop here, so an edit of this file while a setup
    # runs cannot make it execute a fragment of the new version.
    exit
fi
