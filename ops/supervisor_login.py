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

The other way in, on standard Kubernetes APIs only: a service-account token in
`SUPERVISOR_TOKEN` (used instead of the login when set). It must expire by itself: a bound
token minted with the TokenRequest API (`kubectl create token paif-deployer -n <namespace>
--duration=168h`); a token without an expiry (a legacy service-account token Secret) is a
long-lived stored credential and is refused, as is an expired one, before any run. The token
is checked against the Supervisor with a SelfSubjectAccessReview (authorization.k8s.io/v1):
refused (401) or without the right to create Secrets in the namespace, the run stops there,
naming the account and the namespace, never the token.

The kubeconfig is built in memory and handed to Pulumi as a secret config value on stdin
(`ops.deploy`), so it lives in the runner only for the run; its token expires by itself.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import ssl
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

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


def _supervisor_url(server: str) -> SplitResult:
    """The Supervisor's address (https, a host), or LoginError."""
    parts = urlsplit(server if "://" in server else f"https://{server}")
    if parts.scheme != "https" or not parts.hostname:
        raise LoginError(f"--server {server!r}: expected https://<supervisor address>")
    return parts


def _trust(ca_file: Path) -> tuple[str, ssl.SSLContext]:
    """The CA's PEM text and a TLS context that trusts it, or LoginError naming the file."""
    try:
        ca_pem = ca_file.read_text()
        if not ca_pem.strip():
            raise ValueError("the file is empty")  # an empty cadata would trust the system's CAs instead
        return ca_pem, ssl.create_default_context(cadata=ca_pem)
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise LoginError(f"the Supervisor CA {str(ca_file)!r}: not a readable PEM certificate ({exc})") from None


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
    parts = _supervisor_url(server)
    body: dict[str, str] = {}
    if guest_cluster:
        body = {"guest_cluster_name": guest_cluster, "guest_cluster_namespace": namespace or ""}
    ca_pem, trust = _trust(ca_file)
    try:
        response = httpx.post(
            f"https://{parts.netloc}{LOGIN_PATH}",
            json=body,
            auth=(username, password),
            verify=trust,
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


MINT_HINT = "mint one that expires: kubectl create token paif-deployer -n <namespace> --duration=168h"


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a service-account token (a JWT), read without verifying it (the
    Supervisor verifies it); LoginError when the token is no JWT."""
    parts = token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError("not three parts")
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        raise LoginError("SUPERVISOR_TOKEN is not a service-account token (a JWT)") from None
    return claims if isinstance(claims, dict) else {}


def token_expiry(token: str) -> float:
    """When the token expires; LoginError when it never does (or is no JWT)."""
    expiry = token_claims(token).get("exp")
    if isinstance(expiry, bool) or not isinstance(expiry, int | float):
        raise LoginError(
            "SUPERVISOR_TOKEN never expires: a long-lived token is a stored credential; " + MINT_HINT
        )
    return float(expiry)


def token_session(
    server: str, token: str, ca_file: Path, namespace: str | None, *, now: float | None = None
) -> Session:
    """A session on a service-account token that expires by itself and may create Secrets in
    `namespace` (checked with a SelfSubjectAccessReview), or LoginError. The Kubernetes API is
    on `server`'s port when it names one, else on 6443 as after a login."""
    parts = _supervisor_url(server)
    expiry = token_expiry(token)
    if expiry <= (time.time() if now is None else now):
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expiry))
        raise LoginError(f"SUPERVISOR_TOKEN expired at {stamp}; " + MINT_HINT)
    ca_pem, trust = _trust(ca_file)
    session = Session(token, f"https://{parts.hostname}:{parts.port or API_PORT}", ca_pem)
    if namespace is None:
        return session
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"namespace": namespace, "verb": "create", "resource": "secrets"}},
    }
    try:
        response = httpx.post(
            f"{session.server}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            json=review,
            headers={"Authorization": f"Bearer {token}"},
            verify=trust,
            timeout=TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        raise LoginError(f"cannot reach {session.server}: {exc}") from None
    if response.status_code == 401:
        raise LoginError(f"the Supervisor refused SUPERVISOR_TOKEN (401, at {session.server}); " + MINT_HINT)
    if response.status_code != 201:
        raise LoginError(f"{session.server} answered {response.status_code} to a SelfSubjectAccessReview")
    try:
        allowed = (response.json().get("status") or {}).get("allowed") is True
    except (ValueError, AttributeError):
        raise LoginError(f"{session.server} answered something else than a SelfSubjectAccessReview") from None
    if not allowed:
        subject = str(token_claims(token).get("sub") or "")
        account = subject.removeprefix("system:serviceaccount:") if subject.count(":") == 3 else ""
        name = account.rpartition(":")[2] or "<account>"
        raise LoginError(
            f"SUPERVISOR_TOKEN's account {subject or '(unnamed)'} may not create Secrets in namespace "
            f"{namespace!r}: bind it to the namespace's edit role (kubectl create rolebinding {name} "
            f"--clusterrole=edit --serviceaccount={account or '<namespace>:<account>'} -n {namespace})"
        )
    return session


def kubeconfig(session: Session, namespace: str | None = None, name: str = "supervisor") -> str:
    """A kubeconfig for the session (bearer token, CA inline); kept in memory only."""
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
    """A session on SUPERVISOR_TOKEN when it is set, else a login of the SSO user."""
    if env.get("SUPERVISOR_TOKEN"):
        if args.guest_cluster:
            raise LoginError("--guest-cluster needs the SSO login (VCENTER_USERNAME/VCENTER_PASSWORD), not SUPERVISOR_TOKEN")
        return token_session(args.server, env["SUPERVISOR_TOKEN"], args.ca_file, args.namespace)
    missing = [k for k in ("VCENTER_USERNAME", "VCENTER_PASSWORD") if not env.get(k)]
    if missing:
        raise LoginError(
            f"{' and '.join(missing)} not set: the SSO user that logs in to the Supervisor "
            "(or SUPERVISOR_TOKEN, a service-account token that expires)"
        )
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
