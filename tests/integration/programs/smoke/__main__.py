"""One resource per provider plugin: kubernetes (built from the Go proxy) and the Python
dynamic-provider shim; the secret config value exercises the language host's config path."""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class _EchoProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult("echo", {"value": props["value"]})


class Echo(Resource, module="smoke", name="Echo"):
    value: pulumi.Output[str]

    def __init__(self, name: str, value: pulumi.Input[str]) -> None:
        super().__init__(_EchoProvider(), name, {"value": value})


config = pulumi.Config()
echo = Echo("echo", config.require_secret("token"))
pulumi.export("echoed", echo.value)

if config.get_bool("withKubernetes"):
    # Nothing listens on port 1: a preview must not need the cluster.
    unreachable = k8s.Provider("unreachable", kubeconfig=config.require("kubeconfig"))
    k8s.core.v1.ConfigMap(
        "smoke",
        metadata={"namespace": "smoke"},
        data={"hello": config.get("greeting") or "world"},
        opts=pulumi.ResourceOptions(provider=unreachable),
    )
    if config.get_bool("withSecret"):
        k8s.core.v1.Secret(
            "smoke",
            metadata={"namespace": "smoke"},
            string_data={"token": config.require_secret("secretToken")},
            opts=pulumi.ResourceOptions(provider=unreachable),
        )
    for index in range(config.get_int("extraConfigMaps") or 0):
        k8s.core.v1.ConfigMap(
            f"smoke-{index}",
            metadata={"namespace": "smoke", "labels": {"app.kubernetes.io/part-of": config.get("partOf") or "smoke"}},
            data={"index": str(index)},
            opts=pulumi.ResourceOptions(provider=unreachable),
        )
