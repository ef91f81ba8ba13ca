"""The benchmark's program: N production-shaped apps, or a floor of the same size.

Config (namespace `bench`):
  mode       app | configmap | component
  count      N (apps; the floors use N * perApp resources)
  perApp     resources one app registers through the kubernetes provider (the floors' unit)
  kubeconfig the throwaway API server's kubeconfig (a secret)
  skipAwait  true on the stacks that are deployed (for the refresh): see below
  settle     true: wait for the outputs as infra/__main__.py does (infra/settle.py); false:
             leave it to the SDK (the program before that fix)

`app` declares N `AiApp` components with the arguments the real program gives the prod
profile (`infra.program.app_args` on the `paif:` config of stacks/Pulumi.prod.yaml), each
under its own name and namespace. `configmap` declares N * perApp plain ConfigMaps through
the same kind of provider; `component` N * perApp bare component resources (no provider).
On the stacks the benchmark deploys (to measure a no-op refresh), every kubernetes object
carries `pulumi.com/skipAwait` (a stack transform): the API server has no controllers, so
nothing would ever become ready; the benchmark measures Pulumi, not rollouts. The previewed
stacks have no transform (each one costs a callback from the engine per resource).
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_kubernetes as k8s

from components.ai_app import AiApp
from infra.app_settings import DatabaseEndpoint, app_environment
from infra.config import load_settings
from infra.program import app_args
from infra.settle import settle_outputs
from infra.stack_registry import RegistryOutputs

SKIP_AWAIT = "pulumi.com/skipAwait"


def _skip_await(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    if not args.type_.startswith("kubernetes:") or args.custom is False:
        return None
    props = dict(args.props)
    given = props.get("metadata") or {}
    if not isinstance(given, dict):
        raise TypeError(
            f"{args.name}: metadata is {type(given).__name__}, the benchmark expects a plain dict"
        )
    metadata = dict(given)
    metadata["annotations"] = {**(metadata.get("annotations") or {}), SKIP_AWAIT: "true"}
    props["metadata"] = metadata
    return pulumi.ResourceTransformResult(props=props, opts=args.opts)


def _apps(count: int, provider: k8s.Provider) -> None:
    settings = load_settings()
    env = app_environment(
        settings,
        DatabaseEndpoint(
            host="chat-pg.paif-chat-prod.svc",
            port=5432,
            database="chat",
            user="chat_app",
            password=pulumi.Output.secret("bench-not-a-password"),
            sslmode="verify-full",
        ),
    )
    secret = pulumi.Output.secret("{}")
    registry = RegistryOutputs(
        registry="harbor.paif.example.internal",
        project=pulumi.Output.from_input("paif-chat"),
        pull_username=pulumi.Output.from_input("robot$paif-chat+pull"),
        pull_secret=secret,
        dockerconfigjson=secret,
    )
    base = app_args(settings, env, registry)
    for i in range(count):
        name = f"chat{i:02d}"
        AiApp(
            name,
            dataclasses.replace(
                base, name=name, namespace=f"paif-{name}", hostname=f"{name}.paif.example.com"
            ),
            opts=pulumi.ResourceOptions(providers={"kubernetes": provider}),
        )


def _config_maps(count: int, provider: k8s.Provider) -> None:
    namespace = k8s.core.v1.Namespace(
        "bench", metadata={"name": "bench"}, opts=pulumi.ResourceOptions(provider=provider)
    )
    for i in range(count - 1):
        k8s.core.v1.ConfigMap(
            f"cm{i:04d}",
            metadata={"name": f"cm{i:04d}", "namespace": "bench"},
            data={"index": str(i)},
            opts=pulumi.ResourceOptions(provider=provider, depends_on=[namespace]),
        )


def _components(count: int) -> None:
    for i in range(count):
        pulumi.ComponentResource("paif:bench:Plain", f"plain{i:04d}", None)


def main() -> None:
    conf = pulumi.Config("bench")
    mode, count = conf.require("mode"), conf.require_int("count")
    per_app = conf.get_int("perApp") or 0
    if conf.get_bool("settle"):
        pulumi.run(settle_outputs)
    if mode == "component":
        _components(count * per_app)
        return
    if conf.get_bool("skipAwait"):
        pulumi.runtime.register_stack_transform(_skip_await)
    provider = k8s.Provider(
        "bench",
        kubeconfig=conf.require_secret("kubeconfig"),
        opts=pulumi.ResourceOptions(additional_secret_outputs=["kubeconfig"]),
    )
    if mode == "app":
        _apps(count, provider)
    elif mode == "configmap":
        _config_maps(count * per_app, provider)
    else:
        raise ValueError(f"bench:mode: {mode!r} is not one of app, configmap, component")


main()
