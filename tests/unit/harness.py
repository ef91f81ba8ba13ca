"""Run the program or a component under Pulumi mocks and query what it registered.

    rec = run_program(stack_config("prod"), secrets={"paisClientSecret": "s3cret"})
    deployments = rec.of_type("kubernetes:apps/v1:Deployment")
    assert all(d.props["spec"]["replicas"] >= 2 for d in deployments)
    assert rec.one("kubernetes:core/v1:Secret", "chat-secrets").is_secret("stringData")
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.settings import SETTINGS
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "paif-app"
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def is_secret_value(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SIG_KEY) == _SECRET_SIG


def unwrap(value: Any) -> Any:
    """The plain value with every secret marker removed."""
    if is_secret_value(value):
        return unwrap(value["value"])
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def contains_plain(value: Any, needle: str) -> bool:
    """True when `needle` occurs in `value` outside any secret marker."""
    if is_secret_value(value):
        return False
    if isinstance(value, dict):
        return any(contains_plain(v, needle) or needle in str(k) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_plain(v, needle) for v in value)
    return isinstance(value, str) and needle in value


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    provider: str

    @property
    def props(self) -> dict[str, Any]:
        plain: dict[str, Any] = unwrap(self.inputs)
        return plain

    def is_secret(self, key: str) -> bool:
        return is_secret_value(self.inputs.get(key))


def mock_password(name: str) -> str:
    """The value mocked `Password` resources take, so tests can search for it."""
    return f"mockpw{abs(hash(name)) % 10**8:08d}Zz"


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Registered] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(Registered(args.typ, args.name, dict(args.inputs), args.provider or ""))
        outputs = dict(args.inputs)
        if args.typ.startswith("kubernetes:") and "metadata" in outputs:
            meta = unwrap(outputs["metadata"]) or {}
            outputs["metadata"] = {"name": args.name, **meta}
        if args.typ == "pulumi-python:dynamic/random:Password":
            # What the provider's create would return: the given value, else a password only
            # the test knows.
            given = unwrap(outputs.get("given"))
            outputs["result"] = given if given else mock_password(args.name)
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


@dataclass
class Recorded:
    resources: list[Registered]
    exports: dict[str, Any]
    error: BaseException | None = None
    """What the program raised, when run with `expect_error=True`."""

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str) -> Registered:
        found = [r for r in self.of_type(type_) if r.name == name]
        assert len(found) == 1, f"expected one {type_} named {name}, got {[r.name for r in self.of_type(type_)]}"
        return found[0]

    def types(self) -> set[str]:
        return {r.type for r in self.resources}


def run(
    fn: Callable[[], Any],
    *,
    stack: str = "test",
    preview: bool = False,
    config: dict[str, str] | None = None,
    secret_keys: list[str] | None = None,
    expect_error: bool = False,
) -> Recorded:
    """Run `fn` as a Pulumi program under mocks; exceptions from `fn` propagate unless
    `expect_error`, which records the exception (and fails if there is none)."""
    recorder = Recorder()
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=stack, preview=preview)
    pulumi.runtime.set_all_config(config or {}, secret_keys or [])
    exports: dict[str, Any] = {}
    original_export = pulumi.export

    def capture(name: str, value: Any) -> None:
        exports[name] = value
        original_export(name, value)

    pulumi.export = capture
    error: BaseException | None = None
    try:
        _sync_await(run_pulumi_func(fn))
    except Exception as exc:
        if not expect_error:
            raise
        error = exc
    finally:
        pulumi.export = original_export
    if expect_error and error is None:
        raise AssertionError("the program was expected to fail but succeeded")
    return Recorded(recorder.resources, exports, error)


def stack_config(env: str) -> dict[str, Any]:
    """The committed `stacks/Pulumi.<env>.yaml` config, keys without the `paif:` prefix."""
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{env}.yaml").read_text())
    return {k.split(":", 1)[1]: v for k, v in doc["config"].items() if k.startswith("paif:")}


def flatten_config(config: dict[str, Any], secrets: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    flat = {f"paif:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    for key, value in (secrets or {}).items():
        flat[f"paif:{key}"] = value
    return flat, [f"paif:{k}" for k in (secrets or {})]


def run_program(
    config: dict[str, Any],
    secrets: dict[str, str] | None = None,
    *,
    preview: bool = False,
    stack: str | None = None,
    expect_error: bool = False,
    extra_config: dict[str, str] | None = None,
) -> Recorded:
    """Run the whole program (infra/) with this config under mocks. `extra_config` adds
    raw `namespace:key` entries as given (e.g. plaintext values under a secret key)."""
    from infra.config import load_settings
    from infra.program import build

    flat, secret_keys = flatten_config(config, secrets)
    flat.update(extra_config or {})
    return run(
        lambda: build(load_settings()),
        stack=stack or str(config.get("environment", "test")),
        preview=preview,
        config=flat,
        secret_keys=secret_keys,
        expect_error=expect_error,
    )
