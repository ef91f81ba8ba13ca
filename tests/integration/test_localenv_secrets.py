"""A `secure:` config value the stack's passphrase cannot decrypt is named by key (the CLI's
own message, "cipher: message authentication failed", names none). Real CLI, no services."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from localenv import LocalEnvError, stack
from localenv.layout import Layout

pytestmark = pytest.mark.integration


def test_an_undecryptable_secure_value_is_named_by_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'state'}")
    layout = Layout(tmp_path / "home")
    layout.home.mkdir(parents=True)
    stack.ensure_stack(layout)
    config = tmp_path / f"Pulumi.{stack.STACK}.yaml"
    shutil.copy(layout.stack_init_dir / f"Pulumi.{stack.STACK}.yaml", config)
    for key in ("paif:good", "paif:tampered"):
        # The value on stdin: never in a process list.
        stack.pulumi(
            layout,
            "config",
            "set",
            "--secret",
            key,
            "--stack",
            stack.STACK,
            "--config-file",
            str(config),
            stdin="s3cret-value\n",
        )
    text = config.read_text()
    tampered = re.sub(
        r"(paif:tampered:\n\s+secure: v1:[^:]+:)(\S+)", lambda m: m.group(1) + "A" * len(m.group(2)), text
    )
    assert tampered != text
    config.write_text(tampered)

    with pytest.raises(LocalEnvError) as refused:
        stack.pulumi(layout, "preview", "--stack", stack.STACK, "--config-file", str(config))
    message = str(refused.value)
    assert "the secure value of paif:tampered cannot be decrypted" in message
    assert "paif:good" not in message.rsplit("cipher: message authentication failed", maxsplit=1)[-1]
    assert "s3cret-value" not in message
