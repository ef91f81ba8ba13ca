"""The toolchain that `make setup` builds: pinned CLI, plugins, vcsim, and a real program
run through the engine, our language host and each provider plugin."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from localenv import processes
from localenv.pki import ensure_pki, kubeconfig
from tests.integration.engine import (
    ROOT,
    TOOLS,
    PulumiFailed,
    PulumiProgram,
    new_files_containing,
    temp_files,
)
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
    return subprocess.run(
        [str(TOOLS / args[0]), *args[1:]], capture_output=True, text=True, timeout=60, check=False
    )


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


def test_traefik_is_built_without_legos_dns_providers() -> None:
    """lego's registry of ACME DNS-01 providers is ours in the Traefik build (toolchain/go/traefik/
    _lego): the binary's module list shows lego replaced and none of the providers' cloud SDKs."""
    info = subprocess.run(
        ["go", "version", "-m", str(TOOLS / "traefik")], capture_output=True, text=True, timeout=60, check=True
    )
    deps = [line.split("\t") for line in info.stdout.splitlines()]
    lego = next(i for i, fields in enumerate(deps) if fields[2:3] == ["github.com/go-acme/lego/v4"])
    assert deps[lego + 1][1:3] == ["=>", "./lego"], deps[lego : lego + 2]
    modules = {fields[2] for fields in deps if fields[1:2] == ["dep"]}
    providers = {"github.com/aws/aws-sdk-go-v2/service/route53", "github.com/go-acme/alidns-20150109/v4"}
    assert not modules & providers, modules & providers
    # The setup's shared Go settings (toolchain/setup.sh), which every build since then has.
    settings = {fields[2] for fields in deps if fields[1:2] == ["build"]}
    assert {"CGO_ENABLED=0", "-trimpath=true", "-gcflags=all=-dwarf=false"} <= settings, settings


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


def test_preview_leaves_no_kubeconfig_in_the_temp_directory(tmp_path: Path) -> None:
    """The kubernetes provider writes the kubeconfig it is given (client key included) to a
    `kubeconfigNNNN` file in the temp directory and never deletes it: every run must get a
    private temp directory that is removed afterwards."""
    # A kubeconfig with a client key only this test knows, for a server nobody runs.
    pki = ensure_pki(tmp_path / "pki")
    marker = base64.b64encode(pki.admin_key.read_bytes()).decode()
    before = temp_files()
    program = PulumiProgram(PROGRAM, tmp_path)
    program.set_config("token", "smoke-secret-7733", secret=True)
    program.set_config("withKubernetes", "true")
    program.set_config("kubeconfig", kubeconfig(pki, "https://127.0.0.1:1"), secret=True)
    assert program.preview() == {"create": 4}
    left = new_files_containing(before, marker.encode())
    assert not left, f"credential files left in the temp directory: {left}"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("pulumi-")] == [], (
        "a run's temp dir is left"
    )


def test_a_missing_plugin_says_run_make_setup(tmp_path: Path) -> None:
    program = PulumiProgram(PROGRAM, tmp_path)
    program.set_config("token", "smoke-secret-7734", secret=True)
    program.set_config("withKubernetes", "true")
    program.set_config("kubeconfig", UNREACHABLE_KUBECONFIG)
    # A Pulumi home without plugins, as on a machine where `make setup` has not run.
    program.env["PULUMI_HOME"] = str(tmp_path / "empty-pulumi-home")
    with pytest.raises(PulumiFailed) as failed:
        # Named: the selected stack is remembered in the Pulumi home.
        program.run("preview", "--json", "--stack", program.stack)
    first_line = str(failed.value).splitlines()[0]
    assert first_line.startswith("the Pulumi resource plugin 'kubernetes' v") and first_line.endswith(
        "is not installed: run `make setup`"
    )


def start_language_host(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], int]:
    """The language host under a throwaway parent (a shell standing in for the engine);
    returns the parent and the host's pid once it serves."""
    port_file = tmp_path / "port"
    command = f'"{TOOLS / "pulumi-language-python"}" "$@" >"{port_file}" 2>/dev/null & echo $!; wait'
    parent = subprocess.Popen(
        ["sh", "-c", command, "sh", *args], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert parent.stdout is not None
    host = int(parent.stdout.readline())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if port_file.exists() and port_file.read_text().strip():
            return parent, host
        time.sleep(0.05)
    processes.signal_pid(host, signal.SIGKILL)
    parent.kill()
    raise AssertionError("the language host did not print its port")


def wait_exit(pid: int, timeout: float) -> float | None:
    """Seconds until `pid` is gone (or a zombie), None if it still runs after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if processes.start_time(pid) is None:
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def test_language_host_exits_when_its_engine_process_dies(tmp_path: Path) -> None:
    parent, host = start_language_host(tmp_path)
    try:
        parent.kill()
        parent.wait()
        took = wait_exit(host, 5)
        assert took is not None, "the language host outlived its engine"
        print(f"\nlanguage host gone {took:.2f} s after its parent was killed")
    finally:
        processes.signal_pid(host, signal.SIGKILL)


def test_language_host_exits_when_its_engine_stops_answering(tmp_path: Path) -> None:
    engine = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    port = engine.add_insecure_port("127.0.0.1:0")
    engine.start()
    parent, host = start_language_host(tmp_path, f"127.0.0.1:{port}")
    try:
        assert wait_exit(host, 3) is None, "the language host exited while its engine answered"
        engine.stop(grace=None)
        took = wait_exit(host, 8)
        assert took is not None, "the language host outlived its engine's gRPC server"
        print(f"\nlanguage host gone {took:.2f} s after its engine stopped answering")
    finally:
        processes.signal_pid(host, signal.SIGKILL)
        parent.kill()
        parent.wait()


def test_setup_asks_the_cli_where_plugins_are_whatever_home_says(tmp_path: Path) -> None:
    """The CLI keeps plugins under the home directory of the account in the password
    database, not under $HOME: setup's check must agree with it, and find there the very
    binary setup built (with our patches), not only a plugin of the same version."""
    check = 'kubernetes_plugin_current "$(kubernetes_provider_binary)" && echo installed'
    cache = os.environ.get("PAIF_CACHE", str(Path.home() / ".cache" / "paif"))
    result = subprocess.run(
        ["bash", "-c", f"source toolchain/setup.sh && {check}"],
        cwd=ROOT,
        env={**os.environ, "HOME": str(tmp_path), "PAIF_CACHE": cache},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == "installed", result.stderr


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    found: list[int] = []
    for task in tasks.iterdir() if tasks.exists() else []:
        children = task / "children"
        if children.exists():
            found += [int(c) for c in children.read_text().split()]
    return found


def test_language_host_about_reads_the_virtualenv_without_starting_python(tmp_path: Path) -> None:
    """The CLI asks About on every run: answered from pyvenv.cfg, with no Python process (the
    SDK's pip toolchain starts three), and the same answer the virtualenv's Python gives."""
    from google.protobuf import struct_pb2
    from pulumi.runtime.proto import language_pb2, language_pb2_grpc

    parent, host = start_language_host(tmp_path)
    try:
        port = int((tmp_path / "port").read_text().split()[0])
        options = struct_pb2.Struct()
        options.update({"toolchain": "pip", "virtualenv": "../.venv"})
        info = language_pb2.ProgramInfo(
            root_directory=str(ROOT / "infra"),
            program_directory=str(ROOT / "infra"),
            entry_point=".",
            options=options,
        )
        spawned: set[int] = set()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            about = language_pb2_grpc.LanguageRuntimeStub(channel).About.future(
                language_pb2.AboutRequest(info=info), timeout=10
            )
            while not about.done():
                spawned.update(_children(host))
                time.sleep(0.001)
            answer = about.result()
        spawned.update(_children(host))
        expected = subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "python"),
                "-c",
                "import platform; print(platform.python_version())",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert answer.version == expected
        assert answer.executable == str(ROOT / ".venv" / "bin" / "python")
        assert os.access(answer.executable, os.X_OK)
        assert not spawned, f"About started processes: {spawned}"
    finally:
        processes.signal_pid(host, signal.SIGKILL)
        parent.kill()
        parent.wait()
