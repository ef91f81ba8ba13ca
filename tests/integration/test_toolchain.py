"""The toolchain that `make setup` builds: pinned CLI, plugins, vcsim, and a real program
run through the engine, our language host and each provider plugin."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.engine import TOOLS, PulumiProgram
from tests.unit.test_toolchain_pins import versions

pytestmark = pytest.mark.integration
PROGRAM = Path(__file__).parent / "programs" / "smoke"
UNREACHABLE_KUBECONFIG = json.dumps(
    {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "none", "user": {"token": "unused"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
        "current-context": "none",
    }
)


def tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TOOLS / args[0]), *args[1:]], capture_output=True, text=True, timeout=60, check=False)


def test_cli_is_the_pinned_version() -> None:
    assert tool("pulumi", "version").stdout.strip() == f"v{versions()['PULUMI_VERSION']}"


def test_kubernetes_plugin_is_installed_at_the_pinned_version() -> None:
    plugins = json.loads(tool("pulumi", "plugin", "ls", "--json").stdout)
    installed = {(p["name"], p["kind"], p["version"]) for p in plugins}
    assert ("kubernetes", "resource", versions()["PULUMI_KUBERNETES_VERSION"]) in installed


def test_vcsim_runs() -> None:
    result = tool("vcsim", "-h")
    assert result.returncode == 0
    assert "-vgpu-profiles" in result.stderr


def test_preview_loads_every_plugin_without_network(tmp_path: Path) -> None:
    program = PulumiProgram(PROGRAM, tmp_path)
    program.set_config("token", "smoke-secret-7731", secret=True)
    program.set_config("withKubernetes", "true")
    program.set_config("kubeconfig", UNREACHABLE_KUBECONFIG)
    assert program.preview() == {"create": 4}


def test_up_and_destroy_through_the_language_host(tmp_path: Path) -> None:
    program = PulumiProgram(PROGRAM, tmp_path)
    program.set_config("token", "smoke-secret-7732", secret=True)
    assert program.up() == {"create": 2}
    assert program.outputs()["echoed"] == "smoke-secret-7732"
    assert "smoke-secret-7732" not in program.export()
    assert program.up() == {"same": 2}
    assert program.destroy() == {"delete": 2}
