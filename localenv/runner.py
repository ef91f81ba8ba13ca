"""`up`, `down` and `status`: the steps of the local environment in order, one run at a time."""

from __future__ import annotations

import fcntl
import json
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from localenv import registry, roundtrip, stack
from localenv.layout import Layout
from localenv.services import LocalEnvError, describe, health, start_services, stop_services


@contextmanager
def exclusive(layout: Layout) -> Iterator[None]:
    """Hold `.localenv/lock` for the duration: two runners would fight over the same
    processes and stack."""
    layout.prepare()
    with layout.lock_file.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LocalEnvError(f"another localenv command is running on {layout.home}") from None
        yield


def up(
    layout: Layout | None = None,
    *,
    output: IO[str] = sys.stdout,
    image_overrides: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Start (or reuse) the services, push the app images, write the stack config,
    `pulumi up`, then send one chat request through the Ingress; returns the outputs.

    `image_overrides` (frontend/backend -> reference) replaces the images just pushed, e.g.
    to roll the backend to another tag."""
    layout = layout or Layout()

    def log(message: str) -> None:
        print(f"localenv: {message}", file=output, flush=True)

    with exclusive(layout):
        started = time.monotonic()
        committed = stack.checked_committed_config()
        stack.recover_interrupted_run(layout, log)
        services = start_services(layout, **stack.service_settings(committed), log=log)
        images = {**registry.push_app_images(layout, log=log), **(image_overrides or {})}
        config = stack.write_stack_config(services, layout, images=images)
        log(f"stack config: {config}")
        outputs = stack.pulumi_up(layout, output=output)
        log(f"up in {time.monotonic() - started:.1f} s; stack outputs:")
        print(json.dumps(outputs, indent=2, sort_keys=True), file=output, flush=True)
        schema = str((committed.get("paif:database") or {}).get("schemaName", "chat"))
        result = roundtrip.round_trip(layout, services, outputs, ingress_port=services.ingress_port, schema=schema)
        log(f"chat request: POST {result.url} {{'message': {result.prompt!r}}}")
        log(f"chat reply: {result.reply} (source {result.source}, row {result.row_id} in {schema}.{roundtrip.TABLE}, {result.seconds:.1f} s)")
        log(f"try it yourself: {result.curl()}")
        return outputs


def down(layout: Layout | None = None, *, output: IO[str] = sys.stdout) -> None:
    """Destroy the stack's resources, then stop every service. Idempotent.

    Destroying needs the targets, so services that are not running are started first
    (fresh ones hold none of the stack's objects, so the deletes find nothing to do). The
    services are stopped even when the destroy fails.
    """
    layout = layout or Layout()

    def log(message: str) -> None:
        print(f"localenv: {message}", file=output, flush=True)

    if not layout.home.exists():
        log("nothing to do (no .localenv)")
        return
    with exclusive(layout):
        try:
            stack.recover_interrupted_run(layout, log)
            entry = stack.stack_entry(layout)
            if entry and int(entry.get("resourceCount") or 0):
                if not all(health(layout).values()):
                    log("starting the services so the stack's objects can be deleted")
                services = start_services(layout, **stack.service_settings(stack.committed_config()), log=log)
                stack.write_stack_config(services, layout)
                stack.pulumi_destroy(layout, output=output)
            else:
                log(f"the {stack.STACK} stack has no resources")
        finally:
            stop_services(layout, log=log)


def clean(layout: Layout | None = None, *, output: IO[str] = sys.stdout) -> list[Path]:
    """What `make clean` runs: stop every service first (no process keeps running on a
    deleted directory), then delete the local data (PostgreSQL, etcd, registry, node), the
    generated credentials and the file-backend state. Returns what was deleted."""
    layout = layout or Layout()

    def log(message: str) -> None:
        print(f"localenv: {message}", file=output, flush=True)

    deleted: list[Path] = []
    if layout.home.exists():
        with exclusive(layout):
            stack.recover_interrupted_run(layout, log)
            stop_services(layout, log=log)
            shutil.rmtree(layout.home)
        deleted.append(layout.home)
    state_dir = stack.file_backend_dir()
    if state_dir is not None and state_dir.exists():
        shutil.rmtree(state_dir)
        deleted.append(state_dir)
    for path in deleted:
        log(f"deleted {path}")
    if not deleted:
        log("nothing to delete")
    return deleted


def status(layout: Layout | None = None) -> dict[str, Any]:
    """Each service's pid, port and health."""
    return describe(layout or Layout())

