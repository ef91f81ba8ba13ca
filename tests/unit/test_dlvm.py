"""DlvmWorkstation (through infra/stack_platform.py) under Pulumi mocks, from the committed
dev and local stack files.

The VM runs on the GPU class, powered on, bootstrapped from a Secret; the cloud-config that
Secret carries is valid YAML that installs the frontend and backend as supervised, journald-
logging systemd units with the same settings as the Kubernetes deployment; no secret value
is anywhere but inside Pulumi secrets.
"""

from __future__ import annotations

import base64
import email
import json
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from pulumi.runtime.sync_await import _sync_await

from components.certificate.self_signed_certificate import issue_self_signed
from components.crds.virtual_machine import TYPE as VIRTUAL_MACHINE
from components.crds.virtual_machine import GuestInfoCheck, ReadinessProbe
from components.dlvm import (
    APPEND_LISTS,
    WORKLOAD_ANNOTATION,
    ContainerPlan,
    DlvmWorkstation,
    DlvmWorkstationArgs,
    Resources,
    env_file,
    health_watch_script,
    tls_pair,
    trigger_digest,
)
from infra.app_settings import AppEnvironment, DatabaseEndpoint, app_environment
from infra.config import Secrets, Settings, parse_config
from infra.config.app import TlsConfig
from infra.profiles import PROFILES
from infra.stack_platform import declare_dlvm, dlvm_args
from tests.unit import harness
from tests.unit.harness import (
    Recorded,
    Registered,
    contains_plain,
    flatten_config,
    mock_password,
    run,
    stack_config,
)

SECRET = "kubernetes:core/v1:Secret"
GPU_CLASS = "paif-gpu-a100-40c"
NAMESPACE = "paif-chat-dev"
# Distinct sentinels, so finding one anywhere is never a coincidence.
PAIS_SECRET = "pais-client-secret-7f3a"
CLIENT_ID = "client-id-4b9e"
DB_USER = "app-user-2c8d"
DB_PASSWORD = "db-app-pw-5e1c"
ROBOT_SECRET = "robot-secret-91ab"
PULL_SECRET = '{"auths":{"harbor.paif.example.internal":{"auth":"' + ROBOT_SECRET + '"}}}'
SECRET_VALUES = (PAIS_SECRET, CLIENT_ID, DB_USER, DB_PASSWORD, ROBOT_SECRET)


def settings(env: str) -> Settings:
    """Settings from the committed stack file; call inside a program (secrets are outputs)."""
    config = stack_config(env)
    config["pais"] = {**config["pais"], "clientId": CLIENT_ID}
    flat, keys = flatten_config(config)
    parsed = parse_config(flat, set(keys), "paif-app")
    secrets = Secrets(
        vcenter_password=None,
        pais_client_secret=pulumi.Output.secret(PAIS_SECRET),
        db_admin_password=None,
        db_app_password=None,
        harbor_password=None,
        supervisor_kubeconfig=None,
        workload_kubeconfig=None,
    )
    return Settings(config=parsed, profile=PROFILES[parsed.environment], secrets=secrets)


def environment(s: Settings) -> AppEnvironment:
    """The settings the program computes for AiApp's ConfigMap and Secret."""
    return app_environment(
        s,
        DatabaseEndpoint(
            host="chat-db.paif-chat-dev.svc",
            port=5432,
            database="chat",
            user=DB_USER,
            password=pulumi.Output.secret(DB_PASSWORD),
            sslmode="require",
        ),
    )


@dataclass
class Declared:
    recorded: Recorded
    env: AppEnvironment
    component: DlvmWorkstation
    opts: dict[str, pulumi.ResourceOptions] = field(default_factory=dict)

    @property
    def vm(self) -> Registered:
        return self.recorded.one(VIRTUAL_MACHINE, "dlvm-vm")

    @property
    def secret(self) -> Registered:
        return self.recorded.one(SECRET, "dlvm-cloud-init")

    def parts(self) -> dict[str, str]:
        """The user data's MIME parts by file name, decoded."""
        message = email.message_from_string(self.secret.props["stringData"]["user-data"])
        assert message.get_content_type() == "multipart/mixed"
        parts: dict[str, str] = {}
        for part in message.walk():
            if part.is_multipart():
                continue
            assert part.get_content_type() == "text/cloud-config"
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            parts[str(part.get_filename())] = payload.decode()
        assert list(parts) == ["app.cfg", "secrets.cfg"]
        return parts

    def app_config(self) -> dict[str, Any]:
        text = self.parts()["app.cfg"]
        assert text.startswith("#cloud-config\n")
        document: dict[str, Any] = yaml.safe_load(text)
        return document

    def files(self, part: str) -> dict[str, dict[str, Any]]:
        document = yaml.safe_load(self.parts()[part])
        return {f["path"]: f for f in document["write_files"]}


def declare(
    env: str = "dev",
    *,
    pull_secret: str | None = PULL_SECRET,
    change: Callable[[Settings], Settings] = lambda s: s,
    preview: bool = False,
) -> Declared:
    captured: dict[str, Any] = {"opts": {}}

    def remember(args: pulumi.ResourceTransformationArgs) -> None:
        captured["opts"][args.name] = args.opts

    def program() -> None:
        s = change(settings(env))
        app_env = environment(s)
        supervisor = k8s.Provider("supervisor")
        secret = None if pull_secret is None else pulumi.Output.secret(pull_secret)
        captured["env"] = app_env
        captured["component"] = DlvmWorkstation(
            "dlvm",
            dlvm_args(s, NAMESPACE, pulumi.Output.from_input(GPU_CLASS), app_env, secret),
            opts=pulumi.ResourceOptions(providers={"kubernetes": supervisor}, transformations=[remember]),
        )

    recorded = run(program, stack=env, preview=preview)
    return Declared(recorded, captured["env"], captured["component"], captured["opts"])


def resolve(output: pulumi.Output[Any]) -> Any:
    return _sync_await(output.future())


def is_secret(output: pulumi.Output[Any]) -> bool:
    return bool(_sync_await(output.is_secret()))


@pytest.fixture(scope="module")
def dev() -> Declared:
    return declare("dev")


def test_vm_runs_on_the_gpu_class_powered_on_from_the_cloud_init_secret(dev: Declared) -> None:
    vm, secret = dev.vm.props, dev.secret.props
    assert vm["apiVersion"] == "vmoperator.vmware.com/v1alpha3"
    assert vm["metadata"]["name"] == "chat-dlvm"
    assert vm["metadata"]["namespace"] == NAMESPACE
    spec = vm["spec"]
    assert spec["className"] == GPU_CLASS
    assert spec["powerState"] == "PoweredOn"
    assert spec["imageName"] == "vmi-dlvm-ubuntu-22-04-nvidia-550"
    assert spec["storageClass"] == "vsan-default-storage-policy"
    assert spec["advanced"] == {"bootDiskCapacity": "200Gi"}
    assert "network" not in spec  # the namespace's default network
    reference = spec["bootstrap"]["cloudInit"]["rawCloudConfig"]
    assert reference == {"name": secret["metadata"]["name"], "key": "user-data"}
    assert secret["metadata"]["namespace"] == NAMESPACE
    assert secret["type"] == "Opaque"
    assert set(secret["stringData"]) == {"user-data"}
    assert dev.recorded.of_type("kubernetes:core/v1:ConfigMap") == []
    assert "::supervisor::" in dev.vm.provider and "::supervisor::" in dev.secret.provider
    # What runs inside is visible on the VM (for operators and the policy pack), values never.
    workload = json.loads(vm["metadata"]["annotations"][WORKLOAD_ANNOTATION])
    images = {c["name"]: c["image"] for c in workload["containers"]}
    assert images == {
        "chat-backend": "harbor.paif.example.internal/paif-chat-dev/chat-backend:1.4.2",
        "chat-frontend": "harbor.paif.example.internal/paif-chat-dev/chat-frontend:1.4.2",
        "chat-tls": "harbor.paif.example.internal/paif-chat-dev/chat-frontend:1.4.2",
    }
    assert workload["published"] == [
        {"port": 443, "protocol": "https", "container": "chat-tls"},
        {"port": 80, "protocol": "http-redirect", "container": "chat-tls"},
    ]
    assert workload["tls"] == {"port": 443, "certificate": "self-signed", "protocols": ["TLSv1.2", "TLSv1.3"]}
    assert workload["secrets"] == {
        "from": "Secret/chat-dlvm-cloud-init",
        "keys": sorted([*dev.env.secrets, "TLS_KEY", "REGISTRY_AUTH"]),
    }
    for container in workload["containers"]:
        assert set(container["resources"]) == {"requests", "limits"} and container["healthCheck"]["path"]


def test_the_component_has_the_platform_type_token(dev: Declared) -> None:
    assert [r.name for r in dev.recorded.of_type("paif:platform:DlvmWorkstation")] == ["dlvm"]


def test_cloud_config_is_yaml_defining_supervised_journald_units(dev: Declared) -> None:
    document = dev.app_config()
    files = dev.files("app.cfg")
    units = {path.rsplit("/", 1)[1]: f for path, f in files.items() if path.startswith("/etc/systemd/system/")}
    assert set(units) == {
        "chat-backend.service",
        "chat-frontend.service",
        "chat-tls.service",
        "paif-health-watch.service",
        "paif-health-watch.timer",
    }
    images = {
        "chat-backend.service": "harbor.paif.example.internal/paif-chat-dev/chat-backend:1.4.2",
        "chat-frontend.service": "harbor.paif.example.internal/paif-chat-dev/chat-frontend:1.4.2",
        "chat-tls.service": "harbor.paif.example.internal/paif-chat-dev/chat-frontend:1.4.2",
    }
    for name, unit in units.items():
        if name.startswith("paif-health-watch"):
            continue
        text = unit["content"]
        lines = set(text.splitlines())
        assert {"Restart=on-failure", "StandardOutput=journal", "StandardError=journal"} <= lines, name
        assert "Requires=docker.service" in lines
        assert "WantedBy=multi-user.target" in lines
        start = text.split("ExecStart=", 1)[1].split("\nExecStop=", 1)[0]
        assert start.startswith("/usr/bin/docker --config /etc/paif/registry run --rm --name ")
        assert images[name] in start
        for hardening in ("--user 10001:10001", "--read-only", "--cap-drop ALL", "--security-opt no-new-privileges"):
            assert hardening in start, (name, hardening)
        # The journal gets the output once, from the unit; docker keeps no json copy.
        assert "--log-driver none" in start
    backend, frontend = units["chat-backend.service"]["content"], units["chat-frontend.service"]["content"]
    assert "--env-file /etc/paif/app.env" in backend and "--env-file /etc/paif/secrets.env" in backend
    assert "--publish" not in backend and "--publish" not in frontend
    assert "--env BACKEND_URL=http://chat-backend:8000" in frontend
    assert "secrets.env" not in frontend
    assert document["runcmd"] == [
        ["systemctl", "daemon-reload"],
        [
            "systemctl",
            "enable",
            "--now",
            "--no-block",
            "chat-backend.service",
            "chat-frontend.service",
            "chat-tls.service",
            "paif-health-watch.timer",
        ],
    ]


def test_cloud_config_carries_the_settings_of_the_kubernetes_deployment(dev: Declared) -> None:
    app_env = files_env(dev.files("app.cfg")["/etc/paif/app.env"]["content"])
    expected = {key: resolve(pulumi.Output.from_input(value)) for key, value in dev.env.config.items()}
    assert app_env == {**expected, "BACKEND_URL": "http://chat-backend:8000"}
    assert app_env["APP_ENV"] == "dev" and app_env["DB_HOST"] == "chat-db.paif-chat-dev.svc"
    secret_env = files_env(dev.files("secrets.cfg")["/etc/paif/secrets.env"]["content"])
    assert set(secret_env) == set(dev.env.secrets)
    assert secret_env["PAIS_CLIENT_SECRET"] == PAIS_SECRET and secret_env["DB_PASSWORD"] == DB_PASSWORD


def files_env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_no_secret_value_is_in_the_cloud_config_or_any_plaintext_input(dev: Declared) -> None:
    app_part = dev.parts()["app.cfg"]
    published = resolve(dev.component.cloud_config)
    assert published == app_part
    assert not is_secret(dev.component.cloud_config)
    for value in SECRET_VALUES:
        assert value not in app_part, value
        for resource in dev.recorded.resources:
            assert not contains_plain(resource.inputs, value), (resource.type, resource.name, value)


def test_secret_part_writes_root_only_files_appended_to_the_app_part(dev: Declared) -> None:
    document = yaml.safe_load(dev.parts()["secrets.cfg"])
    assert document["merge_how"] == APPEND_LISTS == [
        {"name": "list", "settings": ["append"]},
        {"name": "dict", "settings": ["no_replace", "recurse_list"]},
    ]
    assert set(document) == {"merge_how", "write_files"}
    files = dev.files("secrets.cfg")
    assert set(files) == {"/etc/paif/secrets.env", "/etc/paif/tls/tls.key", "/etc/paif/registry/config.json"}
    for f in files.values():
        assert (f["owner"], f["permissions"]) == ("root:root", "0600")
    assert files["/etc/paif/registry/config.json"]["content"] == PULL_SECRET


def test_user_data_is_a_pulumi_secret_and_its_keyed_digest_replaces_the_vm(dev: Declared) -> None:
    """The trigger is no secret (a secret trigger crashes the engine's JSON output), and
    reveals nothing: an HMAC of the user data under a generated key only state holds."""
    assert dev.secret.is_secret("stringData")
    assert set(dev.opts["dlvm-cloud-init"].additional_secret_outputs or []) == {"data", "stringData"}
    vm_opts = dev.opts["dlvm-vm"]
    assert vm_opts.delete_before_replace is True
    trigger = vm_opts.replacement_trigger
    assert isinstance(trigger, pulumi.Output)
    assert not is_secret(trigger)
    dev.recorded.one("pulumi-python:dynamic/random:Password", "dlvm-trigger-key")
    assert "result" in (dev.opts["dlvm-trigger-key"].additional_secret_outputs or [])
    document = dev.secret.props["stringData"]["user-data"]
    digest = resolve(trigger)
    assert digest == trigger_digest(mock_password("dlvm-trigger-key"), document)
    assert digest.startswith("hmac-sha256:") and len(digest) == len("hmac-sha256:") + 64
    for value in SECRET_VALUES:
        assert value not in digest


def test_the_trigger_follows_the_user_data_and_nothing_else() -> None:
    """Same user data, same trigger; any change to it (a setting, an image), another trigger."""
    first = trigger_of(declare("dev"))
    assert trigger_of(declare("dev")) == first
    changed = declare("dev", change=lambda s: replace(s, config=s.config.model_copy(
        update={"app": s.config.app.model_copy(update={"log_level": "debug"})})))
    assert trigger_of(changed) != first


def trigger_of(declared: Declared) -> str:
    trigger = declared.opts["dlvm-vm"].replacement_trigger
    assert isinstance(trigger, pulumi.Output)
    value: str = resolve(trigger)
    return value


def test_anonymous_pulls_write_no_registry_config() -> None:
    declared = declare("dev", pull_secret=None)
    assert set(declared.files("secrets.cfg")) == {"/etc/paif/secrets.env", "/etc/paif/tls/tls.key"}
    for path, f in declared.files("app.cfg").items():
        if path.endswith(".service") and "health-watch" not in path:
            assert "ExecStart=/usr/bin/docker run --rm" in f["content"]
            assert "--config" not in f["content"]


def test_dev_waits_for_the_ready_condition_and_the_ip_and_local_does_not() -> None:
    """`Ready` is what VM Operator's readiness worker sets from the probe (vm-operator
    pkg/prober/worker/readiness_worker.go); the IP too, so the URL outputs are known."""
    dev_vm = declare("dev").vm.props["metadata"]["annotations"]
    assert json.loads(dev_vm["pulumi.com/waitFor"]) == ["condition=Ready", "jsonpath={.status.network.primaryIP4}"]
    assert dev_vm["pulumi.com/timeoutSeconds"] == "1800"
    assert "pulumi.com/skipAwait" not in dev_vm
    local_vm = declare("local", pull_secret=None).vm.props
    assert local_vm["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
    assert "pulumi.com/waitFor" not in local_vm["metadata"]["annotations"]
    assert local_vm["spec"]["imageName"] == "vmi-dlvm-ubuntu-22-04"


class VmStatusMocks(harness.Recorder):
    """Answers like VM Service once the guest is up."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id, outputs = super().new_resource(args)
        if args.typ == VIRTUAL_MACHINE:
            outputs["status"] = {"powerState": "PoweredOn", "network": {"primaryIP4": "10.20.50.7"}}
        return resource_id, outputs


def test_outputs_are_the_vm_name_and_its_reported_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    before = declare("dev")
    assert resolve(before.component.vm_name) == "chat-dlvm"
    assert resolve(before.component.primary_ip) is None

    monkeypatch.setattr(harness, "Recorder", VmStatusMocks)
    up = declare("dev")
    assert resolve(up.component.primary_ip) == "10.20.50.7"


def test_preview_needs_nothing_live() -> None:
    declared = declare("dev", preview=True)
    assert declared.vm.props["spec"]["className"] == GPU_CLASS
    assert declared.secret.is_secret("stringData")


def test_declare_dlvm_returns_the_component_outputs() -> None:
    outputs: list[Any] = []

    def program() -> None:
        s = settings("dev")
        outputs.append(declare_dlvm(s, k8s.Provider("supervisor"), NAMESPACE, GPU_CLASS, environment(s), None))

    rec = run(program, stack="dev")
    assert [r.name for r in rec.of_type(VIRTUAL_MACHINE)] == ["dlvm-vm"]
    assert resolve(outputs[0].vm_name) == "chat-dlvm"


def with_env(change: Callable[[AppEnvironment], AppEnvironment]) -> Callable[[], Recorded]:
    def program() -> None:
        s = settings("dev")
        app_env = change(environment(s))
        DlvmWorkstation("dlvm", dlvm_args(s, NAMESPACE, GPU_CLASS, app_env, None))

    return lambda: run(program, stack="dev", expect_error=True)


def test_a_key_cannot_be_both_a_setting_and_a_secret() -> None:
    rec = with_env(lambda e: replace(e, config={**e.config, "DB_PASSWORD": "x"}))()
    assert "settings DB_PASSWORD: a key is either a setting or a secret setting" in str(rec.error)


def test_multi_line_secret_values_fail_without_showing_the_value() -> None:
    leaked = "first-line-3d2f\nsecond-line"
    rec = with_env(lambda e: replace(e, secrets={**e.secrets, "TLS_KEY": pulumi.Output.secret(leaked)}))()
    message = str(rec.error)
    assert "secret setting TLS_KEY: the value must be a single-line string" in message
    assert "first-line-3d2f" not in message


def test_env_file_refuses_names_that_are_not_variables() -> None:
    with pytest.raises(ValueError, match="setting 'DB-HOST': names must be environment variable names"):
        env_file({"DB-HOST": "x"}, "setting")
    assert env_file({"B": "2", "A": "x=y #z"}, "setting") == "A=x=y #z\nB=2\n"


EXAMPLE_CA = stack_config("prod")["database"]["caBundle"]


def with_ca_bundles(s: Settings) -> Settings:
    cfg = s.config
    database = cfg.database.model_copy(update={"sslmode": "verify-full", "ca_bundle": EXAMPLE_CA})
    pais = cfg.pais.model_copy(update={"ca_bundle": EXAMPLE_CA})
    return replace(s, config=cfg.model_copy(update={"database": database, "pais": pais}))


def test_the_vm_gets_the_ca_files_the_pods_get() -> None:
    """Same files, same paths, same settings as the ConfigMap volume on Kubernetes; CA
    certificates are public, so they go in the reviewable app part."""
    declared = declare("dev", change=with_ca_bundles)
    files = declared.files("app.cfg")
    for name in ("db.crt", "pais.crt"):
        ca = files[f"/etc/paif/ca/{name}"]
        assert ca["content"] == EXAMPLE_CA
        assert (ca["owner"], ca["permissions"]) == ("root:root", "0644")
    app_env = files_env(files["/etc/paif/app.env"]["content"])
    assert app_env["DB_SSLROOTCERT"] == "/etc/paif/ca/db.crt"
    assert app_env["PAIS_CA_BUNDLE"] == "/etc/paif/ca/pais.crt"
    backend = files["/etc/systemd/system/chat-backend.service"]["content"]
    assert "--volume /etc/paif/ca:/etc/paif/ca:ro" in backend
    assert "/etc/paif/ca" not in files["/etc/systemd/system/chat-frontend.service"]["content"]
    assert not [path for path in declared.files("secrets.cfg") if path.startswith("/etc/paif/ca")]


def test_no_ca_files_without_bundles(dev: Declared) -> None:
    files = dev.files("app.cfg")
    assert not [path for path in files if path.startswith("/etc/paif/ca")]
    assert "/etc/paif/ca" not in files["/etc/systemd/system/chat-backend.service"]["content"]


def test_only_the_tls_proxy_publishes_ports_https_and_a_redirect(dev: Declared) -> None:
    """TLS only: 443 terminates TLS (1.2/1.3) and proxies to the frontend, /readyz to the
    backend; 80 answers with a redirect to https and nothing else."""
    files = dev.files("app.cfg")
    tls_unit = files["/etc/systemd/system/chat-tls.service"]["content"]
    published = [line.strip().split()[1] for line in tls_unit.splitlines() if line.strip().startswith("--publish ")]
    assert published == ["443:8443", "80:8081"]
    assert "--entrypoint /usr/sbin/nginx" in tls_unit
    # The key: root-only at rest, a tmpfs copy only the container's uid reads.
    assert "ExecStartPre=/usr/bin/install -m 0400 -o 10001 -g 10001 /etc/paif/tls/tls.key /run/paif-tls/tls.key" in tls_unit
    assert "--volume /run/paif-tls:/run/paif-tls:ro" in tls_unit
    conf = files["/etc/paif/tls/nginx.conf"]["content"]
    assert "listen 8443 ssl;" in conf and "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    assert "ssl_certificate_key /run/paif-tls/tls.key;" in conf
    plain = conf.split("listen 8081;", 1)[1].split("server {", 1)[0]
    assert "return 301 https://$host$request_uri;" in plain and "proxy_pass" not in plain
    assert "proxy_pass http://chat-frontend:8080;" in conf
    assert "proxy_pass http://chat-backend:8000/readyz;" in conf
    assert files["/etc/paif/tls/tls.crt"]["permissions"] == "0644"
    key = dev.files("secrets.cfg")["/etc/paif/tls/tls.key"]
    assert (key["owner"], key["permissions"]) == ("root:root", "0600")
    assert dev.recorded.one("pulumi-python:dynamic/tls:SelfSignedCertificate", "dlvm-tls").props["hostnames"] == [
        "chat.dev.paif.example.internal"
    ]


def test_no_plain_http_port_at_all_when_the_redirect_is_off() -> None:
    from components.dlvm import ContainerPlan

    plan = ContainerPlan("chat", "h/p/f:1", "h/p/b:1", 8080, 8000, False, http_redirect_port=None)
    assert "--publish 80:" not in plan.tls_unit() and "--publish 443:8443" in plan.tls_unit()
    assert [p["protocol"] for p in plan.workload("s", [], "given")["published"]] == ["https"]
    with pytest.raises(ValueError, match="http redirect port 443: must differ from the https port"):
        ContainerPlan("chat", "h/p/f:1", "h/p/b:1", 8080, 8000, False, http_redirect_port=443)


def test_containers_get_the_pods_resources_and_health_checks(dev: Declared) -> None:
    files = dev.files("app.cfg")
    backend = files["/etc/systemd/system/chat-backend.service"]["content"]
    frontend = files["/etc/systemd/system/chat-frontend.service"]["content"]
    # The same quantities as the pods' (paif:app.backendResources / frontendResources).
    app = settings("dev").config.app
    for unit, spec in ((backend, app.backend_resources), (frontend, app.frontend_resources)):
        expected = Resources(**spec.model_dump()).docker_options()
        assert expected[-1] == "--pids-limit 512" and any(o.startswith("--memory ") for o in expected)
        for option in expected:
            assert option in unit, option
    assert Resources("250m", "256Mi", "512Mi", "1").docker_options() == [
        "--cpus 1",
        f"--memory {512 * 2**20}",
        f"--memory-reservation {256 * 2**20}",
        "--cpu-shares 256",
        "--pids-limit 512",
    ]
    assert '--health-cmd "/bin/bash /etc/paif/health/http-check 8000 /readyz"' in backend
    assert '--health-cmd "/bin/bash /etc/paif/health/http-check 8080 /healthz"' in frontend
    check = files["/etc/paif/health/http-check"]
    assert check["permissions"] == "0755" and "/dev/tcp/127.0.0.1/$1" in check["content"]
    watch = files["/usr/local/sbin/paif-health-watch"]["content"]
    assert "chat-backend=chat-backend.service" in watch and "systemctl restart" in watch
    assert "OnUnitActiveSec=1min" in files["/etc/systemd/system/paif-health-watch.timer"]["content"]


def test_resources_refuse_what_docker_could_not_honour() -> None:
    assert Resources("500m", "1Gi", "2Gi", "2").docker_options()[:2] == ["--cpus 2", f"--memory {2 * 2**30}"]
    assert "--cpus" not in " ".join(Resources("500m", "1Gi", "2Gi").docker_options())
    with pytest.raises(ValueError, match="memory request '2Gi' exceeds the memory limit '1Gi'"):
        Resources("1", "2Gi", "1Gi")
    with pytest.raises(ValueError, match="cpu request 'lots': must be a Kubernetes quantity"):
        Resources("lots", "1Gi", "1Gi")


def test_a_given_certificate_is_served_and_its_key_stays_secret() -> None:
    pem_key = "-----BEGIN PRIVATE KEY-----\nkey-material-6a1f\n-----END PRIVATE KEY-----\n"

    def program() -> None:
        s = settings("dev")
        base = dlvm_args(s, NAMESPACE, GPU_CLASS, environment(s), None)
        DlvmWorkstation(
            "dlvm",
            replace(base, tls_certificate=EXAMPLE_CA, tls_key=pulumi.Output.secret(pem_key)),
        )

    rec = run(program, stack="dev")
    assert rec.of_type("pulumi-python:dynamic/tls:SelfSignedCertificate") == []
    secret = rec.one(SECRET, "dlvm-cloud-init")
    assert secret.is_secret("stringData")
    vm = rec.one(VIRTUAL_MACHINE, "dlvm-vm").props
    assert json.loads(vm["metadata"]["annotations"][WORKLOAD_ANNOTATION])["tls"]["certificate"] == "given"
    for resource in rec.resources:
        assert not contains_plain(resource.inputs, "key-material-6a1f"), (resource.type, resource.name)
    message = email.message_from_string(secret.props["stringData"]["user-data"])
    parts = {
        str(p.get_filename()): bytes(p.get_payload(decode=True)).decode() for p in message.walk() if not p.is_multipart()
    }
    app_files = {f["path"]: f for f in yaml.safe_load(parts["app.cfg"])["write_files"]}
    assert app_files["/etc/paif/tls/tls.crt"]["content"] == EXAMPLE_CA
    assert "key-material-6a1f" not in str(parts["app.cfg"])


def test_certificate_and_key_go_together() -> None:
    def program() -> None:
        s = settings("dev")
        DlvmWorkstation("dlvm", replace(dlvm_args(s, NAMESPACE, GPU_CLASS, environment(s), None), tls_certificate="x"))

    rec = run(program, stack="dev", expect_error=True)
    assert "tls_certificate and tls_key go together" in str(rec.error)


def test_outputs_are_the_https_url_and_the_readiness_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "Recorder", VmStatusMocks)
    up = declare("dev")
    assert resolve(up.component.url) == "https://10.20.50.7/"
    assert resolve(up.component.ready_url) == "https://10.20.50.7/readyz"
    assert isinstance(DlvmWorkstationArgs, type)


def test_the_certificate_from_config_and_its_key_from_a_secret() -> None:
    """paif:dlvm.tlsCertificate (public, e.g. from the corporate CA) with the secret
    paif:dlvmTlsKey: served instead of a self-signed one; the key only inside Pulumi secrets."""
    pem_key = "-----BEGIN PRIVATE KEY-----\nconfig-key-5d2e\n-----END PRIVATE KEY-----\n"

    def with_certificate(s: Settings) -> Settings:
        assert s.config.dlvm is not None
        dlvm = s.config.dlvm.model_copy(update={"tls_certificate": EXAMPLE_CA})
        secrets = replace(s.secrets, dlvm_tls_key=pulumi.Output.secret(pem_key))
        return replace(s, config=s.config.model_copy(update={"dlvm": dlvm}), secrets=secrets)

    declared = declare("dev", change=with_certificate)
    assert declared.recorded.of_type("pulumi-python:dynamic/tls:SelfSignedCertificate") == []
    assert declared.files("app.cfg")["/etc/paif/tls/tls.crt"]["content"] == EXAMPLE_CA
    assert declared.files("secrets.cfg")["/etc/paif/tls/tls.key"]["content"] == pem_key
    workload = json.loads(declared.vm.props["metadata"]["annotations"][WORKLOAD_ANNOTATION])
    assert workload["tls"]["certificate"] == "given"
    # Held like every credential: a given value is an update, none (a CI preview) no change.
    holder = declared.recorded.one("pulumi-python:dynamic/random:Password", "credential-dlvmTlsKey")
    assert holder.is_secret("given")
    for resource in declared.recorded.resources:
        assert not contains_plain(resource.inputs, "config-key-5d2e"), (resource.type, resource.name)


def test_through_the_program_a_configured_certificate_needs_its_key_at_up() -> None:
    """The whole dev program: paif:dlvm.tlsCertificate without paif:dlvmTlsKey stops `up`
    before anything is registered, naming the key; with it the VM serves that certificate,
    and the exports include the TLS URLs' keys."""
    from tests.unit.harness import run_program
    from tests.unit.test_program import SECRETS

    config = stack_config("dev")
    config["dlvm"]["tlsCertificate"] = EXAMPLE_CA
    refused = run_program(config, SECRETS, stack="dev", expect_error=True)
    assert "paif:dlvmTlsKey: required key is missing; the DLVM serves paif:dlvm.tlsCertificate" in str(refused.error)
    assert refused.resources == []

    key = "-----BEGIN PRIVATE KEY-----\nprogram-key-77b1\n-----END PRIVATE KEY-----\n"
    rec = run_program(config, {**SECRETS, "dlvmTlsKey": key}, stack="dev")
    vm = rec.one(VIRTUAL_MACHINE, "dlvm-vm").props
    assert json.loads(vm["metadata"]["annotations"][WORKLOAD_ANNOTATION])["tls"]["certificate"] == "given"
    assert rec.of_type("pulumi-python:dynamic/tls:SelfSignedCertificate") == []
    assert {"dlvmUrl", "dlvmReadyUrl"} <= set(rec.exports)
    for resource in rec.resources:
        assert not contains_plain(resource.inputs, "program-key-77b1"), (resource.type, resource.name)


# paif:app.tls.mode secret: the DLVM serves an existing kubernetes.io/tls Secret of the
# Supervisor namespace, read through the supervisor provider.
TLS_SECRET = "chat-tls"
SECRET_KEY_PEM = "-----BEGIN PRIVATE KEY-----\nsecret-key-material-9c4d\n-----END PRIVATE KEY-----\n"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class TlsSecretMocks(harness.Recorder):
    """Answers reads of Secrets like the Supervisor: a kubernetes.io/tls Secret (`data`
    base64); records what was read (the id, "namespace/name")."""

    reads: list[tuple[str, str, str]] = []
    secret_type = "kubernetes.io/tls"
    data: dict[str, str] = {"tls.crt": b64(EXAMPLE_CA), "tls.key": b64(SECRET_KEY_PEM)}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id, outputs = super().new_resource(args)
        if args.typ == SECRET and args.resource_id:
            TlsSecretMocks.reads.append((args.name, args.resource_id, args.provider or ""))
            outputs = {**outputs, "type": self.secret_type, "data": dict(self.data)}
            return args.resource_id, outputs
        return resource_id, outputs


def with_tls_secret(s: Settings) -> Settings:
    app = s.config.app.model_copy(update={"tls": TlsConfig(mode="secret", secret_name=TLS_SECRET)})
    return replace(s, config=s.config.model_copy(update={"app": app}))


@pytest.fixture
def secret_mocks(monkeypatch: pytest.MonkeyPatch) -> type[TlsSecretMocks]:
    TlsSecretMocks.reads = []
    monkeypatch.setattr(harness, "Recorder", TlsSecretMocks)
    return TlsSecretMocks


def test_mode_secret_serves_the_supervisor_secret_and_its_key_stays_secret(secret_mocks: type[TlsSecretMocks]) -> None:
    declared = declare("dev", change=with_tls_secret)
    # Read (not created), by namespace/name, through the supervisor provider, under the component.
    assert secret_mocks.reads == [("dlvm-tls-source", f"{NAMESPACE}/{TLS_SECRET}", secret_mocks.reads[0][2])]
    assert "::supervisor::" in secret_mocks.reads[0][2]
    assert set(declared.opts["dlvm-tls-source"].additional_secret_outputs or []) == {"data", "stringData"}
    assert declared.recorded.of_type("pulumi-python:dynamic/tls:SelfSignedCertificate") == []
    assert [r.name for r in declared.recorded.of_type(SECRET)] == ["dlvm-tls-source", "dlvm-cloud-init"]
    # The certificate is public (reviewable app part); the key only in the secret part.
    assert declared.files("app.cfg")["/etc/paif/tls/tls.crt"]["content"] == EXAMPLE_CA
    assert declared.files("secrets.cfg")["/etc/paif/tls/tls.key"]["content"] == SECRET_KEY_PEM
    assert not is_secret(declared.component.cloud_config)
    assert "secret-key-material-9c4d" not in resolve(declared.component.cloud_config)
    assert declared.secret.is_secret("stringData")
    for resource in declared.recorded.resources:
        assert not contains_plain(resource.inputs, "secret-key-material-9c4d"), (resource.type, resource.name)
    workload = json.loads(declared.vm.props["metadata"]["annotations"][WORKLOAD_ANNOTATION])
    assert workload["tls"] == {
        "port": 443,
        "certificate": "secret",
        "secret": f"Secret/{TLS_SECRET}",
        "protocols": ["TLSv1.2", "TLSv1.3"],
    }


def test_mode_secret_through_the_whole_dev_program(secret_mocks: type[TlsSecretMocks]) -> None:
    """The committed dev stack with paif:app.tls.mode secret: the Secret is read from the
    Supervisor namespace by the supervisor provider, no self-signed certificate is made."""
    from tests.unit.harness import run_program
    from tests.unit.test_program import SECRETS

    config = stack_config("dev")
    config["app"]["tls"] = {"mode": "secret", "secretName": TLS_SECRET}
    rec = run_program(config, SECRETS, stack="dev")
    namespace = config["vsphere"]["namespace"]["name"]
    [(name, read_id, provider)] = secret_mocks.reads
    assert (name, read_id) == ("dlvm-tls-source", f"{namespace}/{TLS_SECRET}")
    supervisor = [r for r in rec.of_type("pulumi:providers:kubernetes") if r.name in provider]
    assert supervisor, provider
    assert rec.of_type("pulumi-python:dynamic/tls:SelfSignedCertificate") == []
    vm = rec.one(VIRTUAL_MACHINE, "dlvm-vm").props
    assert json.loads(vm["metadata"]["annotations"][WORKLOAD_ANNOTATION])["tls"]["certificate"] == "secret"
    for resource in rec.resources:
        assert not contains_plain(resource.inputs, "secret-key-material-9c4d"), (resource.type, resource.name)


@pytest.mark.parametrize(
    ("secret_type", "data", "problem"),
    [
        ("Opaque", {"tls.crt": b64(EXAMPLE_CA), "tls.key": b64(SECRET_KEY_PEM)}, "type 'Opaque'; must be a kubernetes.io/tls Secret (tls.crt, tls.key)"),
        ("kubernetes.io/tls", {"tls.crt": b64(EXAMPLE_CA)}, "tls.key is missing or empty; it must hold a PEM private key"),
        ("kubernetes.io/tls", {"tls.crt": b64(EXAMPLE_CA), "tls.key": "%%secret-key-material-9c4d"}, "tls.key is not base64-encoded text"),
        ("kubernetes.io/tls", {"tls.crt": b64("secret-key-material-9c4d"), "tls.key": b64(SECRET_KEY_PEM)}, "tls.crt is not a PEM certificate"),
    ],
)
def test_a_secret_that_is_no_tls_pair_fails_naming_it_never_a_value(
    secret_type: str, data: dict[str, str], problem: str
) -> None:
    with pytest.raises(ValueError) as raised:
        tls_pair(secret_type, data, "TLS Secret 'ns/chat-tls'")
    assert str(raised.value) == f"TLS Secret 'ns/chat-tls': {problem}"
    assert "secret-key-material-9c4d" not in str(raised.value) and raised.value.__cause__ is None
    assert tls_pair("kubernetes.io/tls", {"tls.crt": b64(EXAMPLE_CA), "tls.key": b64(SECRET_KEY_PEM)}, "x") == (
        EXAMPLE_CA,
        SECRET_KEY_PEM,
    )


def test_a_bad_secret_fails_the_run_without_its_values(monkeypatch: pytest.MonkeyPatch) -> None:
    class OpaqueSecret(TlsSecretMocks):
        secret_type = "Opaque"

    monkeypatch.setattr(harness, "Recorder", OpaqueSecret)

    def program() -> None:
        s = with_tls_secret(settings("dev"))
        DlvmWorkstation("dlvm", dlvm_args(s, NAMESPACE, GPU_CLASS, environment(s), None))

    rec = run(program, stack="dev", expect_error=True)
    assert f"TLS Secret '{NAMESPACE}/{TLS_SECRET}': type 'Opaque'; must be a kubernetes.io/tls Secret" in str(rec.error)
    assert "secret-key-material-9c4d" not in str(rec.error)


def test_a_secret_and_a_given_certificate_are_two_sources() -> None:
    def program() -> None:
        s = settings("dev")
        base = dlvm_args(s, NAMESPACE, GPU_CLASS, environment(s), None)
        DlvmWorkstation(
            "dlvm",
            replace(base, tls_certificate=EXAMPLE_CA, tls_key=pulumi.Output.secret("k"), tls_secret_name=TLS_SECRET),
        )

    rec = run(program, stack="dev", expect_error=True)
    assert "tls_certificate and tls_secret_name are two sources of the certificate: give one" in str(rec.error)
    assert rec.of_type(SECRET) == [] and rec.of_type(VIRTUAL_MACHINE) == []


def test_the_vm_has_a_guestinfo_readiness_probe(dev: Declared) -> None:
    """guestInfo, not tcpSocket (deprecated, refused under VPC networking): VM Service is
    Ready while the guest reports guestinfo.paif.ready = true."""
    assert dev.vm.props["spec"]["readinessProbe"] == {"guestInfo": [{"key": "paif.ready", "value": "^true$"}]}
    with pytest.raises(ValueError, match=r"without the 'guestinfo\.' prefix"):
        GuestInfoCheck("guestinfo.paif.ready")
    with pytest.raises(ValueError, match="at least one guestinfo key"):
        ReadinessProbe(())
    with pytest.raises(ValueError, match="timeout 61: must be 1-60 seconds"):
        ReadinessProbe((GuestInfoCheck("a"),), timeout_seconds=61)


def test_the_health_timer_publishes_readiness_over_https(dev: Declared) -> None:
    files = dev.files("app.cfg")
    watch = files["/usr/local/sbin/paif-health-watch"]["content"]
    assert 'vmware-rpctool "info-set guestinfo.paif.ready $ready"' in watch
    assert (
        "--cacert /etc/paif/tls/tls.crt --resolve chat.dev.paif.example.internal:443:127.0.0.1 "
        "https://chat.dev.paif.example.internal:443/readyz"
    ) in watch
    assert "OnBootSec=2min" in files["/etc/systemd/system/paif-health-watch.timer"]["content"]
    # Still run by the timer the runcmd enables.
    assert "paif-health-watch.timer" in dev.app_config()["runcmd"][1]


class _Readyz(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@dataclass
class Guest:
    """The health script as the VM runs it, against a real TLS server on 127.0.0.1."""

    script: Path
    bin_dir: Path
    calls: Path
    handler: type[_Readyz]

    def run(self, *, rpctool: bool = True) -> tuple[str, list[str]]:
        tool = self.bin_dir / "vmware-rpctool"
        if rpctool:
            tool.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {self.calls}\n')
            tool.chmod(0o755)
        elif tool.exists():
            tool.unlink()
        self.calls.write_text("")
        done = subprocess.run(
            ["/bin/sh", str(self.script)],
            env={"PATH": f"{self.bin_dir}:/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout, self.calls.read_text().splitlines()


@pytest.fixture
def guest(tmp_path: Path) -> Any:
    hostname = "chat.dev.paif.example.internal"
    cert, key = issue_self_signed([hostname], 1)
    (tmp_path / "tls.crt").write_text(cert)
    (tmp_path / "tls.key").write_text(key)
    os.chmod(tmp_path / "tls.key", 0o600)
    handler = type("Readyz", (_Readyz,), {"status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    plan = ContainerPlan("chat", "h/p/f:1", "h/p/b:1", 8080, 8000, False, https_port=port, hostname=hostname)
    script = tmp_path / "paif-health-watch"
    # The script as rendered, with the certificate path of this test and no docker.
    script.write_text(
        health_watch_script(plan)
        .replace("/etc/paif/tls/tls.crt", str(tmp_path / "tls.crt"))
        .replace("/usr/bin/docker", "/bin/false")
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    try:
        yield Guest(script, bin_dir, tmp_path / "calls", handler)
    finally:
        server.shutdown()
        server.server_close()


def test_the_guest_reports_ready_only_while_readyz_answers_200_over_verified_tls(guest: Guest) -> None:
    out, calls = guest.run()
    assert calls == ["info-set guestinfo.paif.ready true"], out

    guest.handler.status = 503
    out, calls = guest.run()
    assert calls == ["info-set guestinfo.paif.ready false"]
    assert "/readyz answered 503 (curl exit 0): not ready" in out


def test_a_certificate_the_host_name_does_not_match_is_not_ready(guest: Guest) -> None:
    guest.script.write_text(guest.script.read_text().replace("chat.dev.paif.example.internal", "other.example.internal"))
    out, calls = guest.run()
    assert calls == ["info-set guestinfo.paif.ready false"]
    assert "answered 000 (curl exit 60): not ready" in out


def test_without_vmware_rpctool_the_script_logs_and_succeeds(guest: Guest) -> None:
    out, calls = guest.run(rpctool=False)
    assert calls == []
    assert "vmware-rpctool not found (open-vm-tools): readiness not published to VM Service" in out


def test_nothing_answering_is_not_ready(guest: Guest) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    text = guest.script.read_text()
    port = text.split("--resolve chat.dev.paif.example.internal:", 1)[1].split(":", 1)[0]
    guest.script.write_text(text.replace(f":{port}", f":{free}"))
    out, calls = guest.run()
    assert calls == ["info-set guestinfo.paif.ready false"]
    assert "answered 000 (curl exit 7): not ready" in out
