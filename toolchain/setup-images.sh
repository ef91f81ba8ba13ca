# shellcheck shell=bash
# Sourced by toolchain/setup.sh (which provides step, place_tool, $ROOT, $CACHE, $TOOLS, $VENV
# and the pins from versions.env): the app's container images and the tools that build,
# store and push them. Nothing comes from an image registry: the images are built from
# Debian's and PyPI's packages by toolchain/images/build.py (debootstrap + umoci), cached
# under $CACHE/images keyed by a hash of their inputs; .tools/images.json names the result.
#
# Debian tools, installed only when missing:
#   debootstrap  the minbase root file system
#   umoci        OCI layouts from directory trees, without a daemon or storage driver
#   skopeo       copies an OCI layout to the registry (localenv/registry.py)
#   apache2-utils  htpasswd: the registry's bcrypt password file (password on stdin)
#   docker-registry  (distribution v2) the local registry standing in for Harbor: taken out
#                of its .deb into $CACHE rather than installed, because the package's
#                postinst starts a system-wide, unauthenticated registry on port 5000.

_images_apt_install() {
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "    installing from Debian: $*"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
        --no-install-recommends "$@" >/dev/null
}

_images_tools() {
    local missing=() tool
    for tool in debootstrap umoci skopeo; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    command -v htpasswd >/dev/null || missing+=(apache2-utils)
    if [ "${#missing[@]}" -gt 0 ]; then
        _images_apt_install "${missing[@]}"
    fi
    if [ ! -x "$TOOLS/docker-registry" ] || [ -L "$TOOLS/docker-registry" ]; then
        local work deb version out
        work="$(mktemp -d)"
        # apt-get download needs the package lists: update them only when it fails without.
        (cd "$work" && apt-get download -qq docker-registry 2>/dev/null) ||
            { apt-get update -qq && (cd "$work" && apt-get download -qq docker-registry 2>/dev/null); }
        deb="$(ls "$work"/docker-registry_*.deb)"
        version="$(dpkg-deb -f "$deb" Version)"
        out="$CACHE/docker-registry-$version"
        if [ ! -x "$out/docker-registry" ]; then
            dpkg-deb -x "$deb" "$work/x"
            mkdir -p "$out"
            install -m 0755 "$work/x/usr/bin/docker-registry" "$out/docker-registry"
        fi
        rm -rf "$work"
        # Placed, not linked: the registry runs as `nobody`, which cannot enter $HOME/.cache.
        place_tool "$out/docker-registry" docker-registry
    fi
    echo "    $(umoci --version), $(skopeo --version), $("$TOOLS/docker-registry" --version | sed -n 1p)"
}

setup_images() {
    _images_tools
    [ "$(id -u)" = 0 ] || { echo "building images needs root (debootstrap, chroot, file owners)" >&2; return 1; }
    "$VENV/bin/python" "$ROOT/toolchain/images/build.py" --cache "$CACHE/images" --manifest "$ROOT/.tools/images.json"
}
