"""Install our CRDs (localenv/crds/*.yaml) on the local API server and wait until Established.

The local API server stands in for a Supervisor, which has these types installed; without
them the kubernetes provider could not create the custom resources the stack declares.
Applied with server-side apply, so a changed manifest updates an installed CRD.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import config, dynamic

# The kubernetes package ships no type hints for these.
kube_config: Any = config
kube_dynamic: Any = dynamic
DIRECTORY = Path(__file__).parent / "crds"
FIELD_MANAGER = "paif-localenv"


def manifests() -> list[dict[str, Any]]:
    """The CRD documents, in file name order."""
    return [yaml.safe_load(path.read_text()) for path in sorted(DIRECTORY.glob("*.yaml"))]


def _established(crd: Any) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def apply(kubeconfig: str, timeout: float = 60) -> list[str]:
    """Apply every CRD and wait until each is Established; returns their names."""
    client = kube_dynamic.DynamicClient(kube_config.new_client_from_config(config_file=kubeconfig))
    api = client.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    names = []
    for manifest in manifests():
        api.server_side_apply(body=manifest, field_manager=FIELD_MANAGER, force_conflicts=True)
        names.append(manifest["metadata"]["name"])
    deadline = time.monotonic() + timeout
    pending = list(names)
    while pending:
        pending = [name for name in pending if not _established(api.get(name=name).to_dict())]
        if not pending:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"CRDs not Established after {timeout:.0f} s: {', '.join(pending)}")
        time.sleep(0.1)
    return names
