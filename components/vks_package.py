"""`VksPackage`: one VKS standard package installed with kapp-controller (Carvel
`PackageInstall` + its values Secret), awaited until it reconciled.

Route A of docs/REFERENCE-VKS-PLATFORM.md section 0: the objects live in the workload cluster and
need only its kubeconfig. Route B (Supervisor `AddonInstall`) would need a Supervisor-scoped
provider and CRs whose official field reference was not readable; one owner per package,
never both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.crds.carvel import API_VERSION, PACKAGE_INSTALL, RECONCILED, VALUES_KEY, package_install_spec
from components.crds.custom_resource import await_annotations
from components.kube_secret import kube_secret
from components.labels import PAIF_LABELS


@dataclass(frozen=True)
class VksPackageArgs:
    ref_name: str
    """Package refName, e.g. contour.kubernetes.vmware.com."""
    version: str
    """Exact package version (never a range: the package must not change under the cluster)."""
    namespace: pulumi.Input[str]
    """Namespace of the PackageRepository, the install and its service account."""
    service_account: str
    """Service account kapp-controller deploys the package as."""
    values: Mapping[str, Any]
    """Package values (rendered to the values Secret as YAML)."""
    timeout_seconds: int = 1200


class VksPackage(pulumi.ComponentResource):
    install: pulumi.CustomResource

    def __init__(
        self,
        name: str,
        args: VksPackageArgs,
        depends_on: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("paif:platform:VksPackage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        values_name = f"{name}-values"
        meta = {"name": values_name, "namespace": args.namespace, "labels": dict(PAIF_LABELS)}
        # Values are not secret, but a Secret is what kapp-controller reads them from.
        values = kube_secret(
            f"{name}-values",
            metadata=meta,
            string_data={VALUES_KEY: pulumi.Output.secret(yaml.safe_dump(dict(args.values), sort_keys=True))},
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(depends_on))),
        )
        self.install = k8s.apiextensions.CustomResource(
            f"{name}-install",
            api_version=API_VERSION,
            kind=PACKAGE_INSTALL,
            metadata={
                "name": name,
                "namespace": args.namespace,
                "labels": dict(PAIF_LABELS),
                "annotations": await_annotations([RECONCILED], args.timeout_seconds),
            },
            spec=package_install_spec(args.ref_name, args.version, args.service_account, values_name),
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[values, *depends_on])
            ),
        )
        self.register_outputs({})
