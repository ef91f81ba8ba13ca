"""`paif:vsphere`: vCenter connection, Supervisor namespace and VM classes."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from components.names import VGPU_PROFILE, VGPU_PROFILE_RULE
from infra.config.base import DnsLabel, Flag, HostPort, Model, OwnNamespace, reject_duplicates, rule

INT64_MAX = 2**63 - 1
"""The largest quota vCenter takes: the vSphere Automation API types the namespace quotas
(`Vcenter Namespaces ResourceQuotaOptionsV1`: cpu_limit, memory_limit, storage_request_limit)
and a storage spec's `limit` (`Vcenter Namespaces Instances StorageSpec`) as int64
(developer.broadcom.com, vSphere Automation API reference)."""

VgpuProfile = Annotated[str, rule(VGPU_PROFILE.match, VGPU_PROFILE_RULE)]


class AccessEntry(Model):
    subject: str = Field(min_length=1)
    """SSO user or group name."""
    domain: Annotated[
        str,
        rule(
            re.compile(
                r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
            ).fullmatch,
            "must be an SSO domain name such as vsphere.local or corp.example.com (letters, digits, '-' and '.', "
            "no spaces, labels of at most 63 characters, 253 in all)",
        ),
    ] = "vsphere.local"
    """SSO domain of the subject."""
    subject_type: Literal["USER", "GROUP"] = "GROUP"
    """Whether subject is a user or a group."""
    role: Literal["OWNER", "EDIT", "VIEW"] = "EDIT"
    """The subject's role on the namespace."""


class NamespaceConfig(Model):
    """The Supervisor namespace the app, the DLVM, the DSM cluster and the VKS cluster live in."""

    name: OwnNamespace
    """Supervisor namespace name (a DNS label)."""
    description: str = ""
    """Shown in vCenter."""
    storage_policy: str = Field(min_length=1)
    """vSphere storage policy (by name) whose storage class the namespace gets."""
    storage_limit_mib: int = Field(ge=1024, le=INT64_MAX)
    """Storage quota of the namespace, MiB (at least 1024)."""
    cpu_limit_mhz: int = Field(ge=1000, le=INT64_MAX)
    """CPU quota of the namespace, MHz (at least 1000)."""
    memory_limit_mib: int = Field(ge=1024, le=INT64_MAX)
    """Memory quota of the namespace, MiB (at least 1024)."""
    content_libraries: list[Annotated[str, rule(bool, "must name a content library (not empty)")]] = []
    """Content libraries (by name) VM Service may deploy images from (the DLVM image)."""
    access: list[AccessEntry] = []
    """SSO users and groups with a role on the namespace."""

    @field_validator("content_libraries")
    @classmethod
    def _libraries_once(cls, libraries: list[str]) -> list[str]:
        reject_duplicates(libraries)
        return libraries

    @field_validator("access")
    @classmethod
    def _one_role_per_subject(cls, access: list[AccessEntry]) -> list[AccessEntry]:
        # vCenter keeps one role per subject and domain: a second entry would fight the first.
        reject_duplicates([f"{entry.subject}@{entry.domain}" for entry in access])
        return access


class VmClassConfig(Model):
    """A VM class; with `vgpuProfile` set it is a GPU class with full memory reservation."""

    name: DnsLabel
    """VM class id (a DNS label); namespaces and VM specs refer to it."""
    cpu_count: int = Field(ge=1, le=768)
    """vCPUs, 1 to 768."""
    memory_mib: int = Field(ge=512, le=24 * 1024 * 1024)
    """Memory, MiB: 512 to 25165824 (24 TiB, vSphere 8's per-VM maximum, as cpuCount's 768 vCPUs)."""
    cpu_reservation_percent: int = Field(0, ge=0, le=100)
    """Share of the vCPUs reserved, 0-100."""
    vgpu_profile: VgpuProfile | None = None
    """NVIDIA vGPU profile (e.g. grid_a100-40c); makes it a GPU class with full memory reservation."""


class VsphereConfig(Model):
    """vCenter endpoint and what to declare on it."""

    host: HostPort = Field(description="vCenter host[:port], without scheme")
    username: str = Field(min_length=1)
    """vCenter user that manages namespaces and VM classes (its password: paif:vcenterPassword)."""
    insecure: Flag = False
    """Skip TLS verification of vCenter (the simulator only; refused in prod)."""
    ca_bundle: str | None = None
    """PEM CA bundle (a path) that signed vCenter's certificate; the system trust store when unset."""
    protocol: Literal["https", "http"] = "https"
    """https; http only for the simulator (with insecure; refused in prod)."""
    cluster: str = Field(min_length=1, description="vSphere cluster name backing the Supervisor")
    namespace: NamespaceConfig
    """The Supervisor namespace everything lives in."""
    vm_classes: list[VmClassConfig] = Field(min_length=1)
    """VM classes to declare (one of them the GPU class)."""
    gpu_class: DnsLabel = Field(description="name of the VM class (from vmClasses) with the vGPU profile")
    api: Literal["devices", "config-spec"] = "devices"
    """How a vGPU is described to vCenter: devices (vgpu_devices) or config-spec (vSphere 8.0.2+)."""

    @field_validator("vm_classes")
    @classmethod
    def _unique_names(cls, classes: list[VmClassConfig]) -> list[VmClassConfig]:
        reject_duplicates([c.name for c in classes])
        return classes

    @field_validator("gpu_class")
    @classmethod
    def _gpu_class_declared(cls, gpu_class: str, info: ValidationInfo) -> str:
        if "vm_classes" not in info.data:
            return gpu_class  # vmClasses is invalid and already reported
        classes: list[VmClassConfig] = info.data["vm_classes"]
        gpu = next((c for c in classes if c.name == gpu_class), None)
        if gpu is None:
            raise ValueError(f"must name one of vmClasses ({', '.join(c.name for c in classes)})")
        if gpu.vgpu_profile is None:
            raise ValueError(f"the class '{gpu_class}' in vmClasses must set vgpuProfile")
        return gpu_class

    @model_validator(mode="after")
    def _simulator_only_http(self) -> VsphereConfig:
        if self.protocol == "http" and not self.insecure:
            raise ValueError("protocol 'http' is only for the simulator and needs insecure: true")
        return self
