"""The service-account token way into the Supervisor (ops/supervisor_login.py) without a
server: a token must be a JWT that expires and has not expired; the token is never shown."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ops import supervisor_login
from ops.supervisor_login import LoginError, token_expiry, token_session
from tests.unit.app.tls import make_tls_files

NOW = 1_800_000_000.0


def jwt(claims: Any) -> str:
    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'k'})}.{part(claims)}.c2lnbmF0dXJl"


def test_the_expiry_is_read_from_the_token() -> None:
    assert token_expiry(jwt({"sub": "system:serviceaccount:paif-prod:paif-deployer", "exp": 1_800_003_600})) == (
        1_800_003_600.0
    )


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not-a-jwt", "SUPERVISOR_TOKEN is not a service-account token"),
        ("a.%%%.c", "SUPERVISOR_TOKEN is not a service-account token"),
        (jwt(["a", "list"]), "SUPERVISOR_TOKEN never expires"),
        (jwt({"sub": "system:serviceaccount:paif-prod:legacy"}), "SUPERVISOR_TOKEN never expires: a long-lived"),
        (jwt({"exp": "tomorrow"}), "SUPERVISOR_TOKEN never expires"),
        (jwt({"exp": True}), "SUPERVISOR_TOKEN never expires"),
    ],
)
def test_a_token_that_is_no_jwt_or_never_expires_is_refused(token: str, message: str) -> None:
    with pytest.raises(LoginError, match=message) as caught:
        token_expiry(token)
    assert token not in str(caught.value)
    assert "kubectl create token paif-deployer" in str(caught.value) or "JWT" in str(caught.value)


def test_an_expired_token_is_refused_before_the_supervisor_is_asked(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("not used")
    token = jwt({"exp": NOW - 60})
    with pytest.raises(LoginError, match=r"SUPERVISOR_TOKEN expired at 2027-01-15 07:59 UTC; mint one") as caught:
        token_session("https://10.0.0.10", token, ca, "paif-prod", now=NOW)
    assert token not in str(caught.value)


def test_without_a_namespace_the_api_is_on_the_port_given_else_6443(tmp_path: Path) -> None:
    ca = make_tls_files(tmp_path, hostnames=("localhost",)).ca_cert
    token = jwt({"exp": NOW + 3600})
    assert token_session("https://10.0.0.10", token, ca, None, now=NOW).server == "https://10.0.0.10:6443"
    assert token_session("10.0.0.10:8443", token, ca, None, now=NOW).server == "https://10.0.0.10:8443"
    with pytest.raises(LoginError, match="expected https://<supervisor address>"):
        token_session("http://10.0.0.10", token, ca, None, now=NOW)


def test_the_token_is_used_when_set_and_not_for_a_vks_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[tuple[str, str | None]] = []

    def session(server: str, token: str, _ca: Path, namespace: str | None) -> supervisor_login.Session:
        used.append((token, namespace))
        return supervisor_login.Session(token, server, "CA")

    monkeypatch.setattr(supervisor_login, "token_session", session)
    args = argparse.Namespace(server="https://10.0.0.10", ca_file=Path("ca"), namespace="paif-prod", guest_cluster=None)
    supervisor_login.from_env({"SUPERVISOR_TOKEN": "t", "VCENTER_USERNAME": "u", "VCENTER_PASSWORD": "p"}, args)
    assert used == [("t", "paif-prod")]
    with pytest.raises(LoginError, match="--guest-cluster needs the SSO login"):
        supervisor_login.from_env({"SUPERVISOR_TOKEN": "t"}, argparse.Namespace(**{**vars(args), "guest_cluster": "vks"}))
    with pytest.raises(LoginError, match=r"VCENTER_USERNAME and VCENTER_PASSWORD not set: .*\(or SUPERVISOR_TOKEN"):
        supervisor_login.from_env({}, args)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "No such file"), ("", "the file is empty"), ("  \n", "the file is empty"), ("not a certificate", "no start line")],
)
def test_a_ca_file_that_is_no_certificate_stops_the_run_naming_the_file(
    tmp_path: Path, content: str | None, reason: str
) -> None:
    ca = tmp_path / "supervisor-ca.crt"
    if content is not None:
        ca.write_text(content)
    with pytest.raises(LoginError, match=f"the Supervisor CA '{ca}': not a readable PEM certificate .*{reason}"):
        token_session("https://10.0.0.10", jwt({"exp": NOW + 3600}), ca, None, now=NOW)
    with pytest.raises(LoginError, match="not a readable PEM certificate"):
        supervisor_login.login("https://127.0.0.1:1", "user", "password", ca)
