# shellcheck shell=bash
# Sourced by toolchain/setup.sh (which provides step, link_tool, module_dir, $ROOT, $CACHE,
# $TOOLS and the pins from versions.env): what the in-cluster platform's tests need.
# - promtool, built from the Go module proxy with -tags remove_all_sd (no service-discovery
#   plugins: rule tests need none, and they are most of Prometheus' dependencies), cached in
#   $CACHE keyed by version and wrapper-module hash. Cold: ~3.5 min on 2 shared cores.
# - the vendors' own CRDs (cert-manager, prometheus-operator, Cluster API), copied out of their
#   Go modules into $CACHE/vendor-crds/<name>-<version>/ (never into the repository). Cold: the
#   three module zips (~60 MB); warm: nothing is downloaded.

# module (no version) | version variable | files inside the module
_VENDOR_CRDS=(
    "github.com/cert-manager/cert-manager|CERT_MANAGER_VERSION|deploy/crds/cert-manager.io_clusterissuers.yaml deploy/crds/cert-manager.io_issuers.yaml deploy/crds/cert-manager.io_certificates.yaml"
    "github.com/prometheus-operator/prometheus-operator|PROMETHEUS_OPERATOR_VERSION|example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml"
    "sigs.k8s.io/cluster-api|CLUSTER_API_VERSION|core/config/crd/bases/cluster.x-k8s.io_clusters.yaml"
)

setup_promtool() {
    local module="$ROOT/toolchain/go/promtool" hash out
    # The build flags are part of the key: a binary built without the version stamp is not reused.
    local flags="-tags remove_all_sd; stamped"
    hash="$( (cat "$module/go.mod" "$module/go.sum"; echo "$flags") | sha256sum | cut -c1-12)"
    out="$CACHE/promtool-$PROMETHEUS_VERSION-$hash/promtool"
    echo "    promtool $PROMETHEUS_VERSION (cold build: ~1.5 min on 2 cores)"
    if [ -x "$out" ]; then
        echo "    cached: $out"
    else
        mkdir -p "$(dirname "$out")"
        local start=$SECONDS
        (
            cd "$module"
            # What Prometheus' release build stamps (.promu.yml): the release from its VERSION file.
            local release
            # module_dir downloads it first: `go list -m` only names a module already in the cache.
            release="$(cat "$(module_dir github.com/prometheus/prometheus)/VERSION")"
            go build -tags remove_all_sd -o "$out.tmp" \
                -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release" \
                github.com/prometheus/prometheus/cmd/promtool
        )
        mv "$out.tmp" "$out"
        echo "    built promtool in $((SECONDS - start)) s"
    fi
    link_tool "$out"
    "$TOOLS/promtool" --version 2>&1 | sed -n '1s/^/    /p'
}

setup_vendor_crds() {
    local entry module var version files dest src f name
    for entry in "${_VENDOR_CRDS[@]}"; do
        IFS='|' read -r module var files <<<"$entry"
        version="${!var}"
        name="$(basename "$module")-$version"
        dest="$CACHE/vendor-crds/$name"
        if [ -f "$dest/.complete" ]; then
            echo "    cached: $dest"
            continue
        fi
        # Downloaded outside any module: a module@version needs no go.mod of ours.
        src="$(cd "$CACHE" && GOFLAGS=-mod=mod go mod download -json "$module@$version" \
            | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
        [ -d "$src" ] || { echo "cannot download Go module $module@$version" >&2; return 1; }
        rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
        for f in $files; do
            install -m 0644 "$src/$f" "$dest.tmp/$(basename "$f")"
        done
        printf '%s@%s\n' "$module" "$version" >"$dest.tmp/.complete"
        rm -rf "$dest" && mv "$dest.tmp" "$dest"
        echo "    extracted $(echo "$files" | wc -w) CRDs from $module@$version"
    done
}

setup_platform() {
    setup_promtool
    setup_vendor_crds
}
