"""`VmClass` (type `dynamic/vsphere:VmClass`): a VM class over
`/api/vcenter/namespace-management/virtual-machine-classes`.

vGPU devices are described in one of two ways, chosen by `api`:
- "devices": `devices.vgpu_devices[{profile_name}]`, deprecated since vSphere 8.0.2 but
  what older vCenters and vcsim understand;
- "config-spec": `config_spec`, a vim JSON VirtualMachineConfigSpec with one
  VirtualPCIPassthrough device per vGPU whose backing is
  VirtualPCIPassthroughVmiopBackingInfo{vgpu}. `cpu_count`/`memory_MB` are sent as well
  and agree with it, as vCenter requires when both are given.
Switching `api` replaces the class: how vCenter treats a PATCH that moves a class from
one form to the other is not documented (UNCONFIRMED), a new class is well defined.

With `cluster` set, create and update first check that some host in that cluster
advertises every vGPU profile (`host.config.sharedPassthruGpuTypes`), and refuse with the
profiles that are available otherwise: vCenter itself accepts any profile name and the
failure would only show when a VM is powered on.

The class's id is global in vCenter (not per namespace); a namespace binds it by id.
Memory is sent as `memory_MB` and read as `memory_mb` or `memory_MB` (vCenter's GET and
create disagree on the spelling). A vGPU class needs `memory_reservation` 100.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure

from components.dynamic.resource import ConnectedArgs, DynamicResource
from components.names import dns_label_problem, vgpu_profile_problem
from components.vsphere.client import VcenterClient, VcenterError
from components.vsphere.connection import VcenterConnection, endpoint_from_props
from components.vsphere.inventory import soap_inventory
from components.vsphere.provider import (
    IGNORED_KEY,
    Props,
    VsphereObjectProvider,
    as_int,
    is_unknown,
    marked,
    unmarked,
)

CLASSES = "/api/vcenter/namespace-management/virtual-machine-classes"
APIS = ("devices", "config-spec")
MAX_CPUS = 768
FULL_RESERVATION = 100
# Temporary device keys in a config spec are negative and unique within the spec.
_FIRST_DEVICE_KEY = -200


class VgpuProfileUnavailable(VcenterError):
    """No host in the cluster advertises a requested vGPU profile."""


def config_spec(
    cpu_count: int, memory_mib: int, vgpu_profiles: Sequence[str], memory_reservation: int
) -> dict[str, Any]:
    """The vim JSON VirtualMachineConfigSpec for a class with these vGPUs."""
    spec: dict[str, Any] = {
        "_typeName": "VirtualMachineConfigSpec",
        "numCPUs": cpu_count,
        "memoryMB": memory_mib,
        "deviceChange": [
            {
                "_typeName": "VirtualDeviceConfigSpec",
                "operation": "add",
                "device": {
                    "_typeName": "VirtualPCIPassthrough",
                    "key": _FIRST_DEVICE_KEY - index,
                    "backing": {"_typeName": "VirtualPCIPassthroughVmiopBackingInfo", "vgpu": profile},
                },
            }
            for index, profile in enumerate(vgpu_profiles)
        ],
    }
    if memory_reservation == FULL_RESERVATION:
        spec["memoryReservationLockedToMax"] = True
    return spec


def _profiles_in_config_spec(spec: Mapping[str, Any]) -> list[str]:
    profiles = []
    for change in spec.get("deviceChange") or []:
        backing = ((change or {}).get("device") or {}).get("backing") or {}
        if backing.get("vgpu"):
            profiles.append(str(backing["vgpu"]))
    return sorted(profiles)


class VmClassProvider(VsphereObjectProvider):
    replace_keys = ("class_id", "api")
    tracked_keys = (
        "cpu_count",
        "memory_mib",
        "cpu_reservation",
        "memory_reservation",
        "vgpu_profiles",
        "description",
    )
    # `cluster` is where the profiles are checked, never sent to vCenter.
    update_keys = (*tracked_keys, "cluster")
    collection = CLASSES
    what = "VM class"
    id_key = "class_id"

    def normalize(self, inputs: dict[str, Any]) -> None:
        profiles = inputs.get("vgpu_profiles") or []
        if isinstance(profiles, list) and not any(is_unknown(p) for p in profiles):
            profiles = sorted(profiles)
        inputs["vgpu_profiles"] = profiles
        inputs["description"] = inputs.get("description") or ""
        inputs["api"] = inputs.get("api") or "devices"
        inputs["cpu_reservation"] = inputs.get("cpu_reservation") or 0
        inputs["memory_reservation"] = inputs.get("memory_reservation") or 0

    def validate(self, inputs: dict[str, Any]) -> list[CheckFailure]:
        failures = []

        def number(key: str, low: int, high: int | None, meaning: str) -> None:
            value = inputs.get(key)
            if is_unknown(value):
                return
            if (
                not isinstance(value, int | float)
                or value != int(value)
                or value < low
                or (high is not None and value > high)
            ):
                failures.append(CheckFailure(key, f"given {value!r}; {meaning}"))

        class_id = inputs.get("class_id")
        if not is_unknown(class_id) and (problem := dns_label_problem(class_id)):
            failures.append(CheckFailure("class_id", problem))
        number("cpu_count", 1, MAX_CPUS, f"must be a whole number of vCPUs from 1 to {MAX_CPUS}")
        number("memory_mib", 1, None, "must be a whole number of MiB >= 1")
        number("cpu_reservation", 0, 100, "must be a percentage from 0 to 100")
        number("memory_reservation", 0, 100, "must be a percentage from 0 to 100")
        if inputs.get("api") not in APIS:
            failures.append(
                CheckFailure("api", f"given {inputs.get('api')!r}; must be one of {', '.join(APIS)}")
            )
        profiles = inputs.get("vgpu_profiles")
        if isinstance(profiles, list):
            for profile in profiles:
                if not is_unknown(profile) and (problem := vgpu_profile_problem(profile)):
                    failures.append(CheckFailure("vgpu_profiles", problem))
            reservation = inputs.get("memory_reservation")
            if profiles and not is_unknown(reservation) and reservation != FULL_RESERVATION:
                failures.append(
                    CheckFailure(
                        "memory_reservation",
                        f"given {reservation!r}; a vGPU class needs a full memory reservation ({FULL_RESERVATION})",
                    )
                )
        return failures

    # -- vCenter ---------------------------------------------------------------------------
    def live(self, body: Mapping[str, Any], props: Props) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        if "cpu_count" in body:
            seen["cpu_count"] = body["cpu_count"]
        memory = body.get("memory_mb", body.get("memory_MB"))
        if memory is not None:
            seen["memory_mib"] = memory
        # vCenter leaves unset optional fields out: no reservation reported is 0 %.
        seen["cpu_reservation"] = body.get("cpu_reservation") or 0
        seen["memory_reservation"] = body.get("memory_reservation") or 0
        if "description" in body:
            seen["description"] = unmarked(body.get("description") or "")[0]
        if props.get("api") == "config-spec":
            if isinstance(body.get("config_spec"), dict):
                seen["vgpu_profiles"] = _profiles_in_config_spec(body["config_spec"])
        elif isinstance(body.get("devices"), dict):
            devices = body["devices"].get("vgpu_devices") or []
            seen["vgpu_profiles"] = sorted(str(d.get("profile_name")) for d in devices)
        return seen

    def _spec(self, props: Props) -> dict[str, Any]:
        cpu_count, memory_mib = as_int(props["cpu_count"]), as_int(props["memory_mib"])
        memory_reservation = as_int(props.get("memory_reservation") or 0)
        profiles = list(props.get("vgpu_profiles") or [])
        spec: dict[str, Any] = {
            "cpu_count": cpu_count,
            "memory_MB": memory_mib,
            "cpu_reservation": as_int(props.get("cpu_reservation") or 0),
            "memory_reservation": memory_reservation,
        }
        if description := marked(props.get("description") or "", props):
            spec["description"] = description
        if props.get("api") == "config-spec":
            spec["config_spec"] = config_spec(cpu_count, memory_mib, profiles, memory_reservation)
        else:
            spec["devices"] = {"vgpu_devices": [{"profile_name": p} for p in profiles]}
        return spec

    def _check_profiles(self, props: Props) -> None:
        profiles = list(props.get("vgpu_profiles") or [])
        if not profiles or not props.get("cluster"):
            return
        cluster = str(props["cluster"])
        with soap_inventory(endpoint_from_props(props)) as inventory:
            hosts = inventory.vgpu_profiles(cluster)
        available = sorted({p for host_profiles in hosts.values() for p in host_profiles})
        missing = [p for p in profiles if p not in available]
        if missing:
            offered = (
                ", ".join(available) if available else "none (is the NVIDIA vGPU host driver installed?)"
            )
            raise VgpuProfileUnavailable(
                f"VM class {props['class_id']!r}: vGPU profile {', '.join(repr(p) for p in missing)} is not "
                f"advertised by any host in cluster {cluster!r} ({len(hosts)} hosts); available profiles: {offered}"
            )

    def create_object(self, client: VcenterClient, props: Props) -> tuple[str, dict[str, Any]]:
        self._check_profiles(props)
        spec = self._spec(props)
        if self.post_new(client, props, {"id": props["class_id"], **spec}) is not None:
            # This stack's own create, never recorded: made to match the declaration.
            client.patch(self.path(props), spec)
        body = self.fetch(client, props)
        if body is None:
            raise VcenterError(f"VM class {props['class_id']!r} vanished right after it was created")
        return str(props["class_id"]), {IGNORED_KEY: self.ignored(body, props)}

    def update_object(self, client: VcenterClient, _id: str, olds: Props, news: Props) -> dict[str, Any]:
        changed = [k for k in self.update_keys if olds.get(k) != news.get(k)]
        if "vgpu_profiles" in changed or "cluster" in changed:
            self._check_profiles(news)
        if not set(changed) & set(self.tracked_keys):
            # Only where to check profiles changed: nothing to send to vCenter.
            return {IGNORED_KEY: olds.get(IGNORED_KEY)}
        # The whole spec: vcsim's PATCH replaces every field, a real vCenter's sets the given ones.
        client.patch(self.path(news), self._spec(news))
        body = self.fetch(client, news)
        if body is None:
            raise VcenterError(f"VM class {news['class_id']!r} vanished right after it was updated")
        return {IGNORED_KEY: self.ignored(body, news)}

    def delete_object(self, client: VcenterClient, _id: str, props: Props) -> None:
        client.delete(self.path(props))


@dataclass(frozen=True, kw_only=True)
class VmClassArgs(ConnectedArgs[VcenterConnection]):
    """`cpu_reservation`/`memory_reservation` are percentages; `cluster`, when given, is where
    the vGPU profiles must be available (checked at apply time)."""

    outputs = (IGNORED_KEY,)
    class_id: pulumi.Input[str]
    cpu_count: pulumi.Input[int]
    memory_mib: pulumi.Input[int]
    cpu_reservation: pulumi.Input[int] = 0
    memory_reservation: pulumi.Input[int] = 0
    vgpu_profiles: Sequence[pulumi.Input[str]] = ()
    api: str = "devices"
    cluster: pulumi.Input[str] | None = None
    description: pulumi.Input[str] = ""

    def values(self) -> dict[str, Any]:
        return {**super().values(), "vgpu_profiles": list(self.vgpu_profiles)}


class VmClass(DynamicResource[VmClassArgs], module="vsphere", name="VmClass"):
    """A VM class. The connection password must be a Pulumi secret; it stays one in state."""

    provider_class = VmClassProvider
    class_id: pulumi.Output[str]
    vgpu_profiles: pulumi.Output[list[str]]
    memory_reservation: pulumi.Output[int]
    ignored_by_server: pulumi.Output[list[str]]
