"""Compose the components for one stack from validated settings and its environment profile.

Data path: settings (typed config + profile + secrets) -> vSphere (namespace, VM classes)
-> registry (Harbor) -> data (DSM PostgreSQL) -> where the app runs (local API server,
DLVM in dev, VKS cluster in prod) -> stack outputs.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.ai_app import AiApp, AiAppArgs, AutoscalingSpec, ResourceSpec, TlsSpec
from infra.app_settings import AppEnvironment, app_environment
from infra.config import Settings
from infra.preflight import check_apply_secrets
from infra.providers import supervisor_provider
from infra.stack_data import declare_data
from infra.stack_platform import (
    declare_cluster_platform,
    declare_dlvm,
    declare_gpu_workload,
    declare_vks_cluster,
)
from infra.stack_registry import RegistryOutputs, declare_registry
from infra.stack_vsphere import declare_vsphere
from infra.volume_check import check_volume_sizes


def app_args(settings: Settings, env: AppEnvironment, registry: RegistryOutputs | None) -> AiAppArgs:
    """AiApp's arguments from the config and the profile (the environment matrix lives there)."""
    cfg, profile, eff = settings.config, settings.profile, settings.effective
    app = cfg.app
    autoscaling = None
    if profile.autoscaling:
        autoscaling = AutoscalingSpec(
            min_replicas=max(app.autoscaling.min_replicas, eff.replicas),
            max_replicas=max(app.autoscaling.max_replicas, eff.replicas),
            target_cpu_percent=app.autoscaling.target_cpu_percent,
        )
    return AiAppArgs(
        name=app.name,
        namespace=app.namespace,
        hostname=app.hostname,
        frontend_resources=ResourceSpec(**app.frontend_resources.model_dump()),
        backend_resources=ResourceSpec(**app.backend_resources.model_dump()),
        pais_egress_cidr=cfg.pais.egress_cidr,
        db_egress_cidr=cfg.database.egress_cidr,
        db_port=cfg.database.port,
        replicas=eff.replicas,
        create_namespace=True,
        tls=TlsSpec(**app.tls.model_dump()),
        autoscaling=autoscaling,
        disruption_budget=profile.disruption_budget,
        anti_affinity=profile.anti_affinity,
        monitoring=eff.monitoring,
        monitoring_namespace=eff.monitoring_namespace,
        ingress_class=eff.ingress_class_name,
        uploads_volume_size=app.uploads_volume_size,
        uploads_access_mode=eff.uploads_access_mode,
        uploads_storage_class=app.uploads_storage_class,
        protect_uploads=settings.protect("uploadsVolume"),
        image_pull_dockerconfigjson=registry.dockerconfigjson if registry else None,
        **env.args(),
    )


def build(settings: Settings) -> None:
    cfg, profile = settings.config, settings.profile
    check_apply_secrets(settings)
    check_volume_sizes(settings)
    supervisor = supervisor_provider(settings)
    supervisor_ns: pulumi.Input[str]
    vsphere = declare_vsphere(settings)
    supervisor_ns = vsphere.namespace
    if profile.create_supervisor_namespace_object:
        ns_object = k8s.core.v1.Namespace(
            "supervisor-namespace",
            metadata={"name": vsphere.namespace},
            opts=pulumi.ResourceOptions(provider=supervisor),
        )
        supervisor_ns = ns_object.metadata.apply(lambda m: m["name"])

    registry = declare_registry(settings)
    data = declare_data(settings, supervisor, supervisor_ns)
    env = app_environment(settings, data)

    pulumi.export("environment", cfg.environment)
    pulumi.export("supervisorNamespace", vsphere.namespace)
    pulumi.export("gpuVmClass", vsphere.gpu_class)
    pulumi.export("dbHost", data.host)
    pulumi.export("dbName", data.database)
    pulumi.export("dbCluster", data.cluster_name)
    if registry is not None:
        pulumi.export("registryProject", registry.project)

    if profile.declare_dlvm:
        dlvm = declare_dlvm(
            settings,
            supervisor,
            supervisor_ns,
            vsphere.gpu_class,
            env,
            registry.dockerconfigjson if registry else None,
        )
        pulumi.export("dlvmName", dlvm.vm_name)
        pulumi.export("dlvmIp", dlvm.primary_ip)
        pulumi.export("dlvmUrl", dlvm.url)
        pulumi.export("dlvmReadyUrl", dlvm.ready_url)

    app_provider: k8s.Provider | None = None
    app_depends_on: list[pulumi.Resource] = []
    gpu_depends_on: list[pulumi.Resource] | None = None
    if profile.app_platform == "local-kubernetes":
        app_provider = supervisor
    if profile.declare_vks_cluster:
        vks = declare_vks_cluster(settings, supervisor, supervisor_ns, vsphere.gpu_class)
        pulumi.export("vksCluster", vks.cluster_name)
        if profile.app_platform == "vks":
            app_provider = vks.workload_provider
        if profile.cluster_platform and vks.workload_provider is not None:
            platform = declare_cluster_platform(settings, vks.workload_provider)
            app_depends_on, gpu_depends_on = platform.ready, platform.gpu_ready

    if app_provider is not None:
        app = AiApp(
            cfg.app.name,
            app_args(settings, env, registry),
            opts=pulumi.ResourceOptions(providers={"kubernetes": app_provider}, depends_on=app_depends_on),
        )
        if gpu_depends_on is not None:
            pull_secret = f"{cfg.app.name}-registry" if registry is not None else None
            declare_gpu_workload(settings, app_provider, pull_secret, [app, *gpu_depends_on])
        pulumi.export("appUrl", app.url)
        pulumi.export("appNamespace", app.namespace)
