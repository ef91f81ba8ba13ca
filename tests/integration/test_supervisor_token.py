"""A service-account token as the way into the Supervisor (`ops.supervisor_login`, SUPERVISOR_TOKEN)
against a real kube-apiserver: a bound token minted with the TokenRequest API for a service
account bound to the namespace's edit role works in that namespace and nowhere else; a token
whose account may not create Secrets there, or one the API server does not accept, stops the
run with a message that names the account's problem and never the token."""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from infra.volume_check import client
from ops import supervisor_login
from ops.supervisor_login import LoginError
from tests.integration.apiserver import ApiServerProcess, running_apiserver

pytestmark = pytest.mark.integration

NAMESPACE, OTHER = "paif-prod", "elsewhere"


@pytest.fixture(scope="module")
def supervisor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    # With the controller manager: it aggregates the edit ClusterRole's rules.
    home = tmp_path_factory.mktemp("supervisor-token") / "home"
    with running_apiserver(home, namespaces=(NAMESPACE, OTHER), controller_manager=True) as server:
        yield server


def mint(server: ApiServerProcess, account: str, *, bind_edit: bool) -> str:
    """What `kubectl create serviceaccount`, `create rolebinding --clusterrole=edit` and
    `create token --duration=1h` do."""
    base = f"{server.url}/api/v1/namespaces/{NAMESPACE}/serviceaccounts"
    created = server.client.post(base, json={"metadata": {"name": account}})
    assert created.status_code == 201, created.text
    if bind_edit:
        bound = server.client.post(
            f"{server.url}/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/rolebindings",
            json={
                "metadata": {"name": account},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
            },
        )
        assert bound.status_code == 201, bound.text
        # The controller manager aggregates edit's rules and the authorizer takes the binding a
        # moment later; a token minted for a deploy is used long after, so wait (bounded) until
        # the API server says the account may.
        user = f"system:serviceaccount:{NAMESPACE}:{account}"
        review = {
            "spec": {"user": user, "resourceAttributes": {"namespace": NAMESPACE, "verb": "create", "resource": "secrets"}}
        }
        for _ in range(300):
            answer = server.client.post(f"{server.url}/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review)
            assert answer.status_code == 201, answer.text
            if answer.json()["status"].get("allowed"):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the edit binding of {user} never took effect")
    token = server.client.post(f"{base}/{account}/token", json={"spec": {"expirationSeconds": 3600}})
    assert token.status_code == 201, token.text
    minted: str = token.json()["status"]["token"]
    return minted


def login_args(server: ApiServerProcess) -> argparse.Namespace:
    return argparse.Namespace(
        server=server.url, ca_file=server.pki.ca_cert, namespace=NAMESPACE, guest_cluster=None
    )


def test_a_bound_token_with_the_edit_role_works_in_its_namespace_only(supervisor: ApiServerProcess) -> None:
    token = mint(supervisor, "paif-deployer", bind_edit=True)
    session = supervisor_login.from_env({"SUPERVISOR_TOKEN": token}, login_args(supervisor))
    assert session.server == supervisor.url
    kubeconfig = supervisor_login.kubeconfig(session, NAMESPACE)
    assert yaml.safe_load(kubeconfig)["users"][0]["user"] == {"token": token}
    with client(kubeconfig) as http:
        for namespace, status in ((NAMESPACE, 201), (OTHER, 403)):
            created = http.post(
                f"/api/v1/namespaces/{namespace}/secrets",
                json={"metadata": {"name": "deployed-with-a-token"}, "stringData": {"k": "v"}},
            )
            assert created.status_code == status, (namespace, created.text)


def test_a_token_without_the_right_or_not_accepted_stops_the_run(supervisor: ApiServerProcess) -> None:
    token = mint(supervisor, "no-rights", bind_edit=False)
    refused = (
        f"SUPERVISOR_TOKEN's account system:serviceaccount:{NAMESPACE}:no-rights may not create Secrets in "
        f"namespace '{NAMESPACE}': bind it to the namespace's edit role (kubectl create rolebinding no-rights "
        f"--clusterrole=edit --serviceaccount={NAMESPACE}:no-rights -n {NAMESPACE})"
    )
    with pytest.raises(LoginError, match=re.escape(refused)):
        supervisor_login.from_env({"SUPERVISOR_TOKEN": token}, login_args(supervisor))
    header, claims, signature = token.split(".")
    forged = f"{header}.{claims}.{signature[::-1]}"
    with pytest.raises(LoginError, match=r"the Supervisor refused SUPERVISOR_TOKEN \(401") as caught:
        supervisor_login.from_env({"SUPERVISOR_TOKEN": forged}, login_args(supervisor))
    assert forged not in str(caught.value) and token not in str(caught.value)
    wrong_ca = argparse.Namespace(**{**vars(login_args(supervisor)), "ca_file": Path(supervisor.pki.admin_cert)})
    with pytest.raises(LoginError, match=r"cannot reach .*CERTIFICATE_VERIFY_FAILED"):
        supervisor_login.from_env({"SUPERVISOR_TOKEN": token}, wrong_ca)
