"""Supervisor access by a login at apply time: vCenter SSO user -> Supervisor session token,
as `kubectl vsphere login` does, never a stored kubeconfig.

    VCENTER_USERNAME=svc-deploy@vsphere.local VCENTER_PASSWORD=... \\
        python -m ops.supervisor_login --server https://supervisor.example.internal \\
        --ca-file supervisor-ca.crt --namespace paif-prod > /dev/null   # prints nothing secret

The API (`POST https://<supervisor>/wcp/login`, HTTP Basic auth with the SSO user, JSON body
`{}` or `{"guest_cluster_name": ..., "guest_cluster_namespace": ...}`; the answer's
`session_id` is a JWT used as the bearer token of the Supervisor's Kubernetes API on port
6443, `guest_cluster_server`/`guest_cluster_ca` for a VKS cluster) is what the vSphere plugin
for kubectl calls. Confirmed only from public sources (the vSphere CSI driver's e2e tests
and VKS auth clients call it the same way; VMware's documentation says the token expires
after 10 hours); NOT confirmed against a VCF 9 Supervisor here. Unconfirmed too: whether a
VCF 9 Supervisor still answers `/wcp/login` when an external OIDC provider (Pinniped) is
the only identity source.

The kubeconfig is built in memory and handed to Pulumi as a secret config value on stdin
(`ops.deploy`), so it lives in the runner only for the run; its token expires by itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml

LOGIN_PATH = "/wcp/login"
API_PORT = 6443
TIMEOUT_SECONDS = 30


class LoginError(RuntimeError):
    """The Supervisor refused the login or answered something else than a session."""


@dataclass(frozen=True)
class Session:
    token: str
    server: str
    """The Kubernetes API URL the token is for (Supervisor or VKS cluster)."""
    ca_pem: str


def login(
    server: str,
    username: str,
    password: str,
    ca_file: Path,
    *,
    guest_cluster: str | None = None,
    namespace: str | None = None,
) -> Session:
    """A Supervisor session for the SSO user (or for a VKS cluster in `namespace`)."""
    parts = urlsplit(server if "://" in server else f"https://{server}")
    if parts.scheme != "https" or not parts.hostname:
        raise LoginError(f"--server {server!r}: expected https://<supervisor address>")
    body: dict[str, str] = {}
    if guest_cluster:
        body = {"guest_cluster_name": guest_cluster, "guest_cluster_namespace": namespace or ""}
    ca_pem = ca_file.read_text()
    try:
        response = httpx.post(
            f"https://{parts.netloc}{LOGIN_PATH}",
            json=body,
            auth=(username, password),
            verify=str(ca_file),
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        raise LoginError(f"cannot reach {parts.netloc}{LOGIN_PATH}: {exc}") from None
    if response.status_code in (401, 403):
        raise LoginError(f"the Supervisor refused the login of {username!r} ({response.status_code})")
    if response.status_code != 200:
        raise LoginError(f"{parts.netloc}{LOGIN_PATH} answered {response.status_code}, not a session")
    try:
        answer: Mapping[str, str] = response.json()
    except ValueError:
        raise LoginError(f"{parts.netloc}{LOGIN_PATH} answered something else than JSON") from None
    token = answer.get("session_id")
    if not token:
        raise LoginError(f"{parts.netloc}{LOGIN_PATH}: no session_id in the answer")
    if guest_cluster:
        host = answer.get("guest_cluster_server") or ""
        if not host:
            raise LoginError(f"no guest_cluster_server for VKS cluster {guest_cluster!r}")
        return Session(token, f"https://{host}:{API_PORT}", answer.get("guest_cluster_ca") or ca_pem)
    return Session(token, f"https://{parts.hostname}:{API_PORT}", ca_pem)


def kubeconfig(session: Session, namespace: str | None = None, name: str = "supervisor") -> str:
    """A kubeconfig for the session (bearer token, CA inline); kept in memory only."""
    import base64

    context: dict[str, str] = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": session.server,
                    "certificate-authority-data": base64.b64encode(session.ca_pem.encode()).decode(),
                },
            }
        ],
        "users": [{"name": name, "user": {"token": session.token}}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
    }
    return yaml.safe_dump(document, sort_keys=False)


def from_env(env: Mapping[str, str], args: argparse.Namespace) -> Session:
    missing = [k for k in ("VCENTER_USERNAME", "VCENTER_PASSWORD") if not env.get(k)]
    if missing:
        raise LoginError(f"{' and '.join(missing)} not set: the SSO user that logs in to the Supervisor")
    return login(
        args.server,
        env["VCENTER_USERNAME"],
        env["VCENTER_PASSWORD"],
        args.ca_file,
        guest_cluster=args.guest_cluster,
        namespace=args.namespace,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", required=True, help="the Supervisor address, e.g. https://10.0.0.10")
    parser.add_argument("--ca-file", type=Path, required=True, help="the CA of the Supervisor's certificate")
    parser.add_argument("--namespace", help="the Supervisor namespace (the kubeconfig's default)")
    parser.add_argument("--guest-cluster", help="log in to this VKS cluster in --namespace instead")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.supervisor_login", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        session = from_env(os.environ, args)
    except (LoginError, OSError) as exc:
        print(f"ops.supervisor_login: {exc}", file=sys.stderr)
        return 1
    print(f"logged in to {session.server} (token of {len(session.token)} characters, not shown)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
