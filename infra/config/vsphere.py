"""`paif:vsphere`: vCenter connection, Supervisor namespace and VM classes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from components.vsphere.names import VGPU_PROFILE
from infra.config.base import DnsLabel, Flag, HostPort, Model


def _vgpu_profile(value: str) -> str:
    if not VGPU_PROFILE.match(value):
        raise ValueError(
            "must be an NVIDIA vGPU profile name <prefix>_<gpu>-<framebuffer GB><type>, "
            "lower case, e.g. grid_a100-40c or nvidia_h100xm-80c"
        )
    return value


VgpuProfile = Annotated[str, AfterValidator(_vgpu_profile)]


class AccessEntry(Model):
    subject: str = Field(min_length=1)
    domain: str = Field("vsphere.local", min_length=1)
    subject_type: Literal["USER", "GROUP"] = "GROUP"
    role: Literal["OWNER", "EDIT", "VIEW"] = "EDIT"


class NamespaceConfig(Model):
    """The Supervisor namespace the app, the DLVM, the DSM cluster and the VKS cluster live in."""

    name: DnsLabel
    description: str = ""
    storage_policy: str = Field(min_length=1)
    storage_limit_mib: int = Field(ge=1024)
    cpu_limit_mhz: int = Field(ge=1000)
    memory_limit_mib: int = Field(ge=1024)
    content_libraries: list[str] = []
    access: list[AccessEntry] = []


class VmClassConfig(Model):
    """A VM class; with `vgpuProfile` set it is a GPU class with full memory reservation."""

    name: DnsLabel
    cpu_count: int = Field(ge=1, le=768)
    memory_mib: int = Field(ge=512)
    cpu_reservation_percent: int = Field(0, ge=0, le=100)
    vgpu_profile: VgpuProfile | None = None


class VsphereConfig(Model):
    """vCenter endpoint and what to declare on it."""

    host: HostPort = Field(description="vCenter host[:port], without scheme")
    username: str = Field(min_length=1)
    insecure: Flag = False
    ca_bundle: str | None = None
    protocol: Literal["https", "http"] = "https"
    cluster: str = Field(min_length=1, description="vSphere cluster name backing the Supervisor")
    namespace: NamespaceConfig
    vm_classes: list[VmClassConfig] = Field(min_length=1)
    gpu_class: DnsLabel = Field(description="name of the VM class (from vmClasses) with the vGPU profile")
    api: Literal["devices", "config-spec"] = "devices"

    @field_validator("vm_classes")
    @classmethod
    def _unique_names(cls, classes: list[VmClassConfig]) -> list[VmClassConfig]:
        names = [c.name for c in classes]
        if len(set(names)) != len(names):
            raise ValueError("vmClasses names must be unique")
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
