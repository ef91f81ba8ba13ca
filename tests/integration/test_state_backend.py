"""Pulumi's PostgreSQL backend as the team's shared state (`ops.state_backend`, `ops.automation`),
against a local PostgreSQL with TLS (verify-full): least-privilege roles, two concurrent ups
of one stack from two clones (one refused by the lock), a SIGKILLed update the next up
recovers from, secrets encrypted in the table, and no password in any process's arguments."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from pulumi.automation import ConfigValue

from localenv import processes
from ops import state_backend
from ops.automation import AutomationError, Outcome, Project, StackLocked, check_backend_url
from tests.integration.state_postgres import StateServer, decoded, program_copy, project, state_server

pytestmark = pytest.mark.integration

STACK = "team"
LOCK_DIR = "/.pulumi/locks/"
"""Keys are `<database>/.pulumi/...`: the database is the bucket."""


@pytest.fixture(scope="module")
def server() -> Iterator[StateServer]:
    with state_server() as prepared:
        yield prepared


def _stack(p: Project, token: str, **config: str) -> None:
    stack = p.stack(STACK, create=STACK not in p.stack_names())
    p.set_secret(STACK, "team-state:token", token)
    for key, value in config.items():
        stack.set_config(f"team-state:{key}", ConfigValue(value))


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (ppid := processes.parent(int(entry.name))) is not None:
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cmdlines() -> list[bytes]:
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes())
            except OSError:
                continue
    return lines


def _wait(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def test_prepared_roles_are_least_privilege_and_urls_carry_no_password(server: StateServer) -> None:
    passwords = state_backend.read_passfile(server.passfile)
    assert set(passwords) == {state_backend.WRITER, state_backend.READER}
    assert server.passfile.stat().st_mode & 0o777 == 0o600
    for url in server.urls.values():
        assert "sslmode=verify-full" in url and ":" not in url.split("@")[0].removeprefix("postgres://")
        assert check_backend_url(url) == url
    with pytest.raises(AutomationError, match=r"carries a password: .*PGPASSWORD or a passfile"):
        check_backend_url("postgres://u:hunter2@db:5432/pulumi_state")

    table = sql.Identifier(state_backend.SCHEMA, state_backend.TABLE)
    insert = sql.SQL("INSERT INTO {} (key, data) VALUES ('probe', '{{}}')").format(table)
    writer = server.server.connect(state_backend.DATABASE, user=state_backend.WRITER, password=passwords[state_backend.WRITER])
    with writer:
        writer.execute(insert)
        writer.execute(sql.SQL("DELETE FROM {} WHERE key = 'probe'").format(table))
        for statement in ("CREATE TABLE pulumi.other (x int)", "CREATE TABLE public.other (x int)", "CREATE DATABASE other"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                writer.execute(statement)
    reader = server.server.connect(state_backend.DATABASE, user=state_backend.READER, password=passwords[state_backend.READER])
    with reader:
        reader.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute(insert)
    # Idempotent, keeping the passwords already handed out.
    os.environ["PGPASSWORD"] = server.pg.password
    try:
        assert state_backend.prepare(server.server, server.passfile, keep_passwords=True) == server.urls
    finally:
        os.environ.pop("PGPASSWORD")
    assert state_backend.read_passfile(server.passfile) == passwords


def test_two_concurrent_ups_of_one_stack_one_is_refused_by_the_lock(server: StateServer) -> None:
    token = f"tok-{secrets.token_hex(8)}"
    first = project(server, program_copy(server.workdir, "clone-a"))
    second = project(server, program_copy(server.workdir, "clone-b"))
    _stack(first, token, delay="2", count="3")
    _stack(second, token, delay="0", count="3")

    results: dict[str, Outcome | BaseException] = {}

    def run_first() -> None:
        try:
            results["first"] = first.run(first.stack(STACK), "up", on_output=None)
        except BaseException as exc:
            results["first"] = exc

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        _wait(lambda: any(LOCK_DIR in k for k, _ in server.rows()), 60, "the first up's lock")
        # While an update runs, no process on this machine has a state password in its arguments.
        passwords = state_backend.read_passfile(server.passfile).values()
        assert not [c for c in _cmdlines() for pw in passwords if pw.encode() in c]
        with pytest.raises(StackLocked) as refused:
            second.run(second.stack(STACK), "up", on_output=None)
    finally:
        thread.join(timeout=300)
    message = str(refused.value)
    assert "the stack is currently locked by 1 lock(s)" in message
    assert "is being updated by someone else" in message and "python -m ops.automation recover team" in message
    assert "****" in message or "@" not in message.split("locked by", 1)[1]  # the lock's URL, password-free
    outcome = results["first"]
    assert isinstance(outcome, Outcome) and outcome.ok, outcome
    assert outcome.changed == {"create": 4}
    assert not [k for k, _ in server.rows() if LOCK_DIR in k]


def test_a_killed_update_leaves_a_state_the_next_up_uses(server: StateServer) -> None:
    token = f"tok-{secrets.token_hex(8)}"
    started: list[int] = []
    killer = project(server, program_copy(server.workdir, "killed"), on_start=lambda pid, _args: started.append(pid))
    killer.stack("killed", create=True)
    killer.set_secret("killed", "team-state:token", token)
    stack = killer.stack("killed")
    stack.set_config("team-state:delay", ConfigValue("3"))
    stack.set_config("team-state:count", ConfigValue("4"))
    first_created = threading.Event()

    def watch(line: str) -> None:
        if "slow-0 created" in line:
            first_created.set()

    results: list[Outcome] = []
    thread = threading.Thread(target=lambda: results.append(killer.run(stack, "up", on_output=watch)))
    thread.start()
    assert first_created.wait(120), "the first resource was never created"
    cli = started[-1]
    plugins = _descendants(cli)
    os.kill(cli, signal.SIGKILL)
    thread.join(timeout=120)
    for pid in plugins:  # the engine's plugins, orphaned by the kill
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert results and not results[0].ok

    # The next up is refused by the killed run's lock, naming it; `recover` releases the lock
    # and clears the create the kill left pending.
    with pytest.raises(StackLocked, match=rf"locked by 1 lock\(s\)[\s\S]*\(pid {cli}\)[\s\S]*ops.automation recover killed"):
        killer.run(stack, "up", on_output=None)
    # What is pending depends on where the kill landed (none once every create had returned).
    cleared = killer.recover(stack)
    assert all("::slow-" in urn for urn in cleared), cleared
    stack.set_config("team-state:delay", ConfigValue("0"))
    recovered = killer.run(stack, "up", on_output=None)
    assert recovered.ok, recovered.errors
    state = killer.export("killed")["deployment"]
    slows = sorted(r["urn"].rsplit("::", 1)[1] for r in state["resources"] if r["type"].endswith(":Slow"))
    assert slows == ["slow-0", "slow-1", "slow-2", "slow-3"]
    assert not state.get("pending_operations")
    again = killer.run(stack, "preview", on_output=None)
    assert again.ok and again.changed == {}, again.summary()


def test_secrets_are_encrypted_in_the_table(server: StateServer) -> None:
    token = f"plaintext-{secrets.token_hex(12)}"
    p = project(server, program_copy(server.workdir, "secrets"))
    p.stack("secrets", create=True)
    p.set_secret("secrets", "team-state:token", token)
    outcome = p.run(p.stack("secrets"), "up", on_output=None)
    assert outcome.ok, outcome.errors
    rows = server.rows()
    checkpoint = [decoded(data) for key, data in rows if key.endswith("/secrets.json")]
    assert checkpoint and b'"ciphertext"' in checkpoint[0], [key for key, _ in rows]
    for key, data in rows:
        assert token.encode() not in data.encode(), key
        assert token.encode() not in decoded(data), key
    # The outputs are there, as secrets, for the one who has the passphrase.
    assert p.stack("secrets").outputs()["token"].value == token


def test_the_read_only_role_previews_and_checks_drift_but_cannot_update(server: StateServer) -> None:
    token = f"tok-{secrets.token_hex(8)}"
    writer = project(server, program_copy(server.workdir, "ro-writer"))
    writer.stack("ro", create=True)
    writer.set_secret("ro", "team-state:token", token)
    assert writer.run(writer.stack("ro"), "up", on_output=None).ok
    clone = program_copy(server.workdir, "ro-reader")
    (clone / "Pulumi.ro.yaml").write_text((server.workdir / "ro-writer" / "Pulumi.ro.yaml").read_text())
    reader = project(server, clone, role=state_backend.READER)
    stack = reader.stack("ro")
    stack.set_config("team-state:label", ConfigValue("two"))
    preview = reader.run(stack, "preview", on_output=None)
    assert preview.ok, preview.errors
    assert preview.changed == {"update": 3}
    # Drift detection's refresh preview writes nothing either.
    drift = reader.run(stack, "preview-refresh", run_program=True, on_output=None)
    assert drift.ok and drift.changed == {}, drift.errors
    up = reader.run(stack, "up", on_output=None)
    assert not up.ok
    assert "permission denied" in up.output
