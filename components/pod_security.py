"""The security contexts every pod this project declares runs with: the Kubernetes
`restricted` Pod Security Standard, as uid/gid 10001 (the images' app user)."""

from __future__ import annotations

from typing import Any

APP_UID = 10001
"""The app user of our images (the DLVM's containers run as it too)."""


def _restricted(**context: Any) -> dict[str, Any]:
    """What both levels require: never root, the runtime's default seccomp profile."""
    return {**context, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def pod_security_context() -> dict[str, Any]:
    """Pod-level: as the app user (its group owns the volumes)."""
    return _restricted(runAsUser=APP_UID, runAsGroup=APP_UID, fsGroup=APP_UID)


def container_security_context() -> dict[str, Any]:
    """Container-level: no privilege escalation, read-only root, every capability dropped."""
    return _restricted(
        allowPrivilegeEscalation=False,
        readOnlyRootFilesystem=True,
        privileged=False,
        capabilities={"drop": ["ALL"]},
    )
