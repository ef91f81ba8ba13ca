"""`make up` checks the committed local stack file before it starts anything: a mistake in it
is named (key, value, what is allowed) with no service, image push or Pulumi run behind it,
and never as a traceback."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from localenv import registry, runner, stack
from localenv.__main__ import main
from localenv.layout import Layout
from localenv.services import DEFAULT_DB_SUPERUSER, DEFAULT_VCENTER_USER, LocalEnvError

COMMITTED_TEXT = stack.COMMITTED.read_text()


def _edited(edit: Callable[[dict[str, Any]], None]) -> str:
    document = yaml.safe_load(COMMITTED_TEXT)
    edit(document["config"])
    return yaml.safe_dump(document, sort_keys=False)


@pytest.fixture
def committed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Point the runner at a stack file with the given text; any step past the check fails."""

    def started(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a step after the config check ran")

    monkeypatch.setattr(runner, "start_services", started)
    for name in ("recover_interrupted_run", "write_stack_config", "pulumi_up"):
        monkeypatch.setattr(stack, name, started)
    monkeypatch.setattr(registry, "push_app_images", started)

    def write(text: str) -> Path:
        path = tmp_path / "Pulumi.local.yaml"
        path.write_text(text)
        monkeypatch.setattr(stack, "COMMITTED", path)
        return path

    return write


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda c: c["paif:app"].update(replicas=0), "paif:app.replicas: given 0; must be at least 1"),
        (lambda c: c.update({"paif:vsphere": ["vcsim"]}), "paif:vsphere: given a list of 1 item; must be an object"),
        (lambda c: c.update({"paif:environment": "staging"}), "paif:environment: given 'staging'"),
        (lambda c: c["paif:app"].update(hostname="10.1"), "paif:app.hostname: given '10.1'"),
        (lambda c: c.update({"paiff:app": {"replicas": 2}}), "paiff:app: unknown namespace 'paiff'"),
    ],
    ids=["value", "shape", "environment", "hostname", "namespace"],
)
def test_a_bad_committed_config_stops_up_before_anything_starts(
    committed: Callable[[str], Path], tmp_path: Path, edit: Callable[[dict[str, Any]], None], expected: str
) -> None:
    path = committed(_edited(edit))
    layout = Layout(tmp_path / "home")
    with pytest.raises(LocalEnvError) as caught:
        runner.up(layout, output=io.StringIO())
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid stack config (")
    assert any(line.strip().startswith(f"- {expected}") for line in message.splitlines()), message
    assert message.endswith("no service was started")
    assert not (layout.home / "state.json").exists()


def test_yaml_that_does_not_parse_is_named_without_a_traceback(
    committed: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = committed(COMMITTED_TEXT.replace("paif:app:", "paif:app: [", 1))
    assert main(["up", "--home", str(tmp_path / "home")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"localenv up failed: {path} is not valid YAML:")
    assert "Traceback" not in err


def test_the_committed_local_config_passes_the_check() -> None:
    config = stack.checked_committed_config()
    assert config["paif:environment"] == "local"


def test_down_reads_service_settings_from_a_config_of_the_wrong_shape() -> None:
    settings = stack.service_settings(
        {"paif:vsphere": ["x"], "paif:database": "db", "paif:pais": None, "paif:app": {}}
    )
    assert settings["vcenter_username"] == DEFAULT_VCENTER_USER
    assert settings["db_superuser"] == DEFAULT_DB_SUPERUSER
    assert settings["vgpu_profiles"] == []
    classes = ["a", {"vgpuProfile": 7}, {"vgpuProfile": "grid_a100-40c"}]
    mixed = stack.service_settings({"paif:vsphere": {"vmClasses": classes}})
    assert mixed["vgpu_profiles"] == ["grid_a100-40c"]
