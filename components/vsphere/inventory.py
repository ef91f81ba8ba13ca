"""Name -> id look-ups the vSphere providers need at apply time (never in a preview).

- cluster name -> MoRef id (`domain-c8`) and the vGPU profiles its hosts advertise
  (`host.config.sharedPassthruGpuTypes`): vSphere's SOAP API via pyvmomi.
- storage policy name -> profile id: the storage policy (PBM) endpoint `/pbm`, reached
  with the SOAP session's cookie. vcsim serves it with its four built-in policies.
- content library name -> id: REST (`/api/content/library?action=find`), because content
  libraries are not in the SOAP inventory. A server without `/api/session` (vcsim) has no
  `/api/content/library` either; there the legacy `/rest/com/vmware/content/library`
  answers the same question.

An unknown name fails with the names that do exist, so the fix is obvious.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from pyVim import connect
from pyVmomi import SoapAdapter, VmomiSupport, pbm, vim, vmodl
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from components.vsphere.client import Endpoint, VcenterClient, VcenterError

PBM_PATH = "/pbm"
# pyVmomi's type stubs cover little of what is used here: go through untyped handles.
_connect: Any = connect
_pbm: Any = pbm
_collector: Any = vmodl.query.PropertyCollector
_soap_stub: Any = SoapAdapter.SoapStubAdapter
_newest_versions: Any = VmomiSupport.newestVersions
_LEGACY_LIBRARY_PATH = "/rest/com/vmware/content/library"
_LIBRARY_PATH = "/api/content/library"


class UnknownName(VcenterError):
    """A name given in the config does not exist in vCenter (the message lists the ones that do)."""


def _available(kind: str, names: Iterable[str]) -> str:
    listed = sorted(set(names))
    return f"available {kind}: {', '.join(repr(n) for n in listed)}" if listed else f"vCenter has no {kind}"


class SoapInventory:
    """Look-ups over one pyvmomi session (see `soap_inventory`)."""

    def __init__(self, si: Any, endpoint: Endpoint) -> None:
        self._si = si
        self._content = si.RetrieveContent()
        self._endpoint = endpoint

    def _collect(
        self, obj_type: type, paths: list[str], root: Any = None
    ) -> list[tuple[Any, dict[str, Any]]]:
        """Objects of `obj_type` below `root` with the properties `paths`, in one round trip per page."""
        content = self._content
        view = content.viewManager.CreateContainerView(root or content.rootFolder, [obj_type], True)
        try:
            collector = _collector
            traversal = collector.TraversalSpec(
                name="view", path="view", skip=False, type=vim.view.ContainerView
            )
            spec = collector.FilterSpec(
                objectSet=[collector.ObjectSpec(obj=view, skip=True, selectSet=[traversal])],
                propSet=[collector.PropertySpec(type=obj_type, pathSet=paths)],
            )
            found: list[tuple[Any, dict[str, Any]]] = []
            page = content.propertyCollector.RetrievePropertiesEx([spec], collector.RetrieveOptions())
            while page is not None:
                found += [(o.obj, {p.name: p.val for p in o.propSet}) for o in page.objects]
                page = (
                    content.propertyCollector.ContinueRetrievePropertiesEx(page.token) if page.token else None
                )
            return found
        finally:
            view.Destroy()

    def _cluster(self, name: str) -> Any:
        clusters = self._collect(vim.ClusterComputeResource, ["name"])
        for ref, props in clusters:
            if props.get("name") == name:
                return ref
        raise UnknownName(
            f"cluster {name!r} not found in vCenter {self._endpoint.host}; "
            + _available("clusters", (str(p.get("name")) for _, p in clusters))
        )

    def cluster_id(self, name: str) -> str:
        """The MoRef id (e.g. domain-c8) of the cluster called `name`."""
        return str(self._cluster(name)._moId)

    def vgpu_profiles(self, cluster: str) -> dict[str, list[str]]:
        """Host name -> the vGPU profiles it advertises, for every host in `cluster`."""
        hosts = self._collect(
            vim.HostSystem, ["name", "config.sharedPassthruGpuTypes"], root=self._cluster(cluster)
        )
        return {
            str(props.get("name")): sorted(props.get("config.sharedPassthruGpuTypes") or [])
            for _, props in hosts
        }

    def storage_policy_ids(self, names: Iterable[str]) -> dict[str, str]:
        """Storage policy name -> profile id, for each of `names`."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        cookie = str(self._si._stub.cookie)
        # "vmware_soap_session="<id>"; Path=/; ..." (vcsim omits the quotes): PBM wants the bare id.
        session = cookie.split("=", 1)[1].split(";", 1)[0].strip().strip('"')
        endpoint = self._endpoint
        stub = _soap_stub(
            host=endpoint.hostname,
            port=endpoint.port if endpoint.protocol == "https" else -endpoint.port,
            path=PBM_PATH,
            version=_newest_versions.Get("pbm"),
            sslContext=endpoint.ssl_context(),
            requestContext={"vcSessionCookie": session},
            httpConnectionTimeout=endpoint.timeout,
            poolSize=0,
        )
        manager = _pbm.ServiceInstance("ServiceInstance", stub).RetrieveContent().profileManager
        profile_ids = manager.PbmQueryProfile(
            resourceType=_pbm.profile.ResourceType(resourceType="STORAGE"), profileCategory="REQUIREMENT"
        )
        profiles = manager.PbmRetrieveContent(profileIds=profile_ids) if profile_ids else []
        by_name = {str(p.name): str(p.profileId.uniqueId) for p in profiles}
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise UnknownName(
                f"storage polic{'y' if len(missing) == 1 else 'ies'} {', '.join(repr(n) for n in missing)} "
                f"not found in vCenter {endpoint.host}; " + _available("storage policies", by_name)
            )
        return {n: by_name[n] for n in wanted}


@contextmanager
def soap_inventory(endpoint: Endpoint) -> Iterator[SoapInventory]:
    """A pyvmomi session to the same vCenter (same TLS settings), logged out on exit."""
    if not endpoint.password:
        raise VcenterError(f"no password for vCenter user {endpoint.username!r} at {endpoint.host}")
    retrying = Retrying(
        # Refused or reset connections while vCenter starts; not TLS or login failures.
        retry=retry_if_exception_type((ConnectionError, TimeoutError)),
        stop=stop_after_attempt(max(1, endpoint.attempts)),
        wait=wait_exponential(multiplier=0.5, max=8),
        reraise=True,
    )
    try:
        si = retrying(
            _connect.SmartConnect,
            protocol=endpoint.protocol,
            host=endpoint.hostname,
            port=endpoint.port,
            user=endpoint.username,
            pwd=endpoint.password,
            sslContext=endpoint.ssl_context(),
            httpConnectionTimeout=endpoint.timeout,
        )
    except vim.fault.InvalidLogin:
        raise VcenterError(
            f"vCenter {endpoint.host} refused the login of user {endpoint.username!r} (SOAP API)"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise VcenterError(
            f"TLS verification of vCenter at {endpoint.host} failed ({exc.verify_message}); give the CA "
            "bundle that signed its certificate (caBundle), or set insecure for the simulator"
        ) from None
    except OSError as exc:
        raise VcenterError(f"cannot reach vCenter's SOAP API at {endpoint.base_url}/sdk: {exc}") from None
    try:
        yield SoapInventory(si, endpoint)
    finally:
        _connect.Disconnect(si)


def content_library_ids(client: VcenterClient, names: Iterable[str]) -> dict[str, str]:
    """Content library name -> id, for each of `names` (one find per name)."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in sorted(set(names)):
        ids = _find_library(client, name)
        if len(ids) > 1:
            raise UnknownName(
                f"content library name {name!r} is ambiguous in vCenter {client.endpoint.host}: ids {ids}"
            )
        if ids:
            found[name] = ids[0]
        else:
            missing.append(name)
    if missing:
        raise UnknownName(
            f"content librar{'y' if len(missing) == 1 else 'ies'} {', '.join(repr(n) for n in missing)} "
            f"not found in vCenter {client.endpoint.host}; "
            + _available("content libraries", _library_names(client))
        )
    return found


def _find_library(client: VcenterClient, name: str) -> list[str]:
    if client.legacy_api():
        answer = client.request(
            "POST",
            _LEGACY_LIBRARY_PATH,
            body={"spec": {"name": name}},
            params={"~action": "find"},
            repeatable=True,
        )
        ids = (answer or {}).get("value")
    else:
        ids = client.request(
            "POST", _LIBRARY_PATH, body={"name": name}, params={"action": "find"}, repeatable=True
        )
    return [str(i) for i in ids or []]


def _library_names(client: VcenterClient) -> list[str]:
    names = []
    if client.legacy_api():
        for library_id in (client.get(_LEGACY_LIBRARY_PATH) or {}).get("value") or []:
            names.append(str(client.get(f"{_LEGACY_LIBRARY_PATH}/id:{library_id}")["value"]["name"]))
    else:
        for library_id in client.get(_LIBRARY_PATH) or []:
            names.append(str(client.get(f"{_LIBRARY_PATH}/{library_id}")["name"]))
    return names
