"""The security contexts every pod this project declares runs with: the Kubernetes
`restricted` Pod Security Standard, as uid/gid 10001 (the images' app user)."""

from __future__ import annotations

from typing import Any

APP_UID = 10001
"""The app user of our images (the DLVM's containers run as it too)."""


def pod_security_context() -> dict[str, Any]:
    """Pod-level: non-root as the app user, the runtime's default seccomp profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": APP_UID,
        "runAsGroup": APP_UID,
        "fsGroup": APP_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """Container-level: no privilege escalation, read-only root, every capability dropped."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
