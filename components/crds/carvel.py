"""Carvel kapp-controller packaging CRs (`packaging.carvel.dev/v1alpha1`): how VKS standard
packages are installed in a workload cluster (route A of docs/REFERENCE-VKS-PLATFORM.md section 0).

kapp-controller is pre-installed in VKS clusters; no vendor CRD of it is obtainable from the
Go module proxy here, so these shapes follow the Carvel packaging API docs only.
"""

from __future__ import annotations

from typing import Any

API_VERSION = "packaging.carvel.dev/v1alpha1"
PACKAGE_REPOSITORY = "PackageRepository"
PACKAGE_INSTALL = "PackageInstall"
RECONCILED = "condition=ReconcileSucceeded"
"""The condition kapp-controller sets once a repository or an install has reconciled."""
VALUES_KEY = "values.yaml"
"""The values Secret's key (what the tanzu/vcf CLIs write)."""


def package_repository_spec(image: str, secret_name: str | None = None) -> dict[str, Any]:
    """A repository fetched from one imgpkg bundle (the VKS standard packages, mirrored to Harbor)."""
    fetch: dict[str, Any] = {"image": image}
    if secret_name:
        fetch["secretRef"] = {"name": secret_name}
    return {"fetch": {"imgpkgBundle": fetch}}


def package_install_spec(
    ref_name: str, version: str, service_account: str, values_secret: str
) -> dict[str, Any]:
    """Install exactly `version` of package `ref_name` with the values in Secret `values_secret`."""
    return {
        "serviceAccountName": service_account,
        "packageRef": {"refName": ref_name, "versionSelection": {"constraints": version}},
        # Every key of the Secret is a values file; it holds one (VALUES_KEY).
        "values": [{"secretRef": {"name": values_secret}}],
    }
