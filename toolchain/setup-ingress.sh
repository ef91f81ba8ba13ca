# shellcheck shell=bash
# Sourced by toolchain/setup.sh (which provides step, link_tool, $ROOT, $CACHE, $TOOLS and
# the pins from versions.env): the ingress controller of the local cluster, Traefik, built
# from the Go module proxy into $CACHE keyed by version and wrapper-module hash. A second run
# only links.
#
# Why Traefik (checked on this machine: Debian 12 packages, the Go proxy reachable here):
# - Contour is only a control plane; its data plane is Envoy, C++ built with Bazel. Debian 12
#   has no Envoy package (`apt-cache search envoy`: nothing) and Bazel cannot be fetched here.
# - ingress-nginx drives an NGINX with its OpenResty Lua libraries. Debian 12 has nginx 1.22,
#   libnginx-mod-http-lua and lua-resty-core/-lrucache, but not lua-resty-balancer, -lock,
#   -dns, -string or -cookie, which the controller's Lua balancer loads; and the project was
#   retired by Kubernetes SIG Network (no releases after March 2026).
# - HAProxy Ingress (jcmoraisjr) would work: it accepts an external HAProxy 2.2+, and Debian
#   12 ships 2.6.12.
#   It is two programs to build, run and keep in step (controller + HAProxy, config reloads).
# - Traefik is one Go program that reads Ingress objects and proxies itself: one static
#   `go build` of cmd/traefik, one process.
#
# The version stamps are what its release build sets (Makefile / .goreleaser.yml):
# pkg/version.Version without the "v", Codename, BuildDate (here the release's commit time
# from the proxy, so the binary does not change from build to build).

setup_ingress() {
    local module="$ROOT/toolchain/go/traefik"
    local hash out
    hash="$(cat "$module/go.mod" "$module/go.sum" "$module"/_lego/*.go | sha256sum | cut -c1-12)"
    out="$CACHE/traefik-$TRAEFIK_VERSION-$hash/traefik"
    echo "    traefik $TRAEFIK_VERSION (cold build: ~4 min on 2 idle cores)"
    if [ -x "$out" ]; then
        echo "    cached: $out"
    else
        mkdir -p "$(dirname "$out")"
        local start=$SECONDS
        # lego's registry of ACME DNS-01 providers is replaced by ours (see that file): the
        # build runs in a copy of the wrapper module whose go.mod points lego at a copy of
        # the pinned module with that file swapped in.
        local work="$CACHE/build/traefik-$hash"
        rm -rf "$work" && mkdir -p "$work"
        cp "$module/go.mod" "$module/go.sum" "$work/"
        (
            cd "$work"
            local date lego pkg=github.com/traefik/traefik/v3/pkg/version
            lego="$(module_dir github.com/go-acme/lego/v4)"
            cp -r "$lego" lego && chmod -R u+w lego
            cp "$module/_lego/zz_gen_dns_providers.go" lego/providers/dns/
            go mod edit -replace github.com/go-acme/lego/v4=./lego
            date="$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' github.com/traefik/traefik/v3)"
            go build -o "$out.tmp" -ldflags "-s -w \
                -X $pkg.Version=${TRAEFIK_VERSION#v} -X $pkg.Codename=$TRAEFIK_CODENAME -X $pkg.BuildDate=$date" \
                github.com/traefik/traefik/v3/cmd/traefik
        )
        rm -rf "$work"
        mv "$out.tmp" "$out"
        echo "    built traefik in $((SECONDS - start)) s"
    fi
    link_tool "$out"
    "$TOOLS/traefik" version | sed 's/^/    /'
}
