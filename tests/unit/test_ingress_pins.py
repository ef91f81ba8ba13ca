"""The Traefik pin lives in toolchain/versions.env and the wrapper module builds that version."""

from __future__ import annotations

from tests.unit.harness import ROOT
from tests.unit.test_toolchain_pins import versions


def test_traefik_wrapper_module_builds_the_pinned_release() -> None:
    go_mod = (ROOT / "toolchain" / "go" / "traefik" / "go.mod").read_text()
    assert f"github.com/traefik/traefik/v3 {versions()['TRAEFIK_VERSION']}" in go_mod
    assert "tool github.com/traefik/traefik/v3/cmd/traefik" in go_mod


def test_traefik_replace_directives_are_mirrored() -> None:
    # Replaces in a dependency's go.mod are ignored: without these the build would take the
    # upstream modules instead of the forks traefik is tested with.
    go_mod = (ROOT / "toolchain" / "go" / "traefik" / "go.mod").read_text()
    for fork in ("github.com/abbot/go-http-auth => github.com/containous/go-http-auth",
                 "github.com/gorilla/mux => github.com/containous/mux",
                 "github.com/mailgun/minheap => github.com/containous/minheap"):
        assert fork in go_mod
    assert "exclude github.com/tencentcloud/tencentcloud-sdk-go v3.0.83+incompatible" in go_mod
