"""`DlvmWorkstation`: a Deep Learning VM (VM Service `VirtualMachine` on the vGPU class) that
runs the chat app's frontend and backend containers from Harbor, set up by cloud-init, served
over TLS only.

Where the secrets go. VM Service's only way into the guest is the cloud-init user data it
reads from one key of one Secret (`spec.bootstrap.cloudInit.rawCloudConfig`) and passes
through guestinfo; it cannot mount other Secrets into a VM, and cloud-init has no
"include from another key". So the user data is a MIME multi-part document (cloud-init's
standard container format) held in a Kubernetes Secret (never a ConfigMap), with two
`text/cloud-config` parts:

- `app.cfg`: everything the VM does, and no secret value: the env file
  /etc/paif/app.env (the keys of AiApp's ConfigMap), the CA bundles under /etc/paif/ca
  (public certificates, as AiApp's `<name>-ca` ConfigMap), the TLS certificate (public),
  the TLS proxy's nginx config, the health-check scripts, the systemd units and the
  `runcmd` that enables them. Because it is free of secrets it is exposed as the
  `cloud_config` output for review, diffs and tests.
- `secrets.cfg`: data only: `write_files` for /etc/paif/secrets.env (the keys of AiApp's
  Secret), the TLS private key and, with a registry robot, /etc/paif/registry/config.json,
  all root-owned 0600. Its `merge_how` appends its `write_files` to the first part's list
  (cloud-init's default merge would replace the list).

What is exposed where. The Secret's whole `stringData` is a Pulumi secret end to end: the
inputs that carry secrets (credentials, the robot's docker config, the TLS key) are Pulumi
secrets, the document built from them is one, the Secret lists `data`/`stringData` as secret
outputs, so state holds ciphertext and previews show `[secret]`. On the Supervisor the
Secret is an ordinary Kubernetes Secret (base64, readable by whoever may read Secrets in the
namespace, encrypted at rest only if the Supervisor's etcd encryption is on). VM Operator
copies the user data into the VM's guestinfo (`guestinfo.userdata`, base64: an encoding, not
encryption), which vSphere administrators can read in the VM's advanced settings and any
process in the guest can read through VMware Tools; in the guest the values live in root-only
files (the env files, the key, cloud-init's copy under /var/lib/cloud). So the DLVM is a
single-tenant dev machine; prod runs on VKS with Kubernetes Secrets.

How the app runs. Docker (DLVM images ship Docker and the NVIDIA container toolkit) under
systemd units `<app>-backend`, `<app>-frontend` and `<app>-tls`: `docker run` stays in the
foreground so systemd supervises the container and restarts it on failure; its output goes
to the journal (`journalctl -u chat-backend`). The docker log driver is `none`, so lines are
neither logged twice nor kept in unrotated json files. The containers get the pods' hardening
(uid 10001, read-only root file system, all capabilities dropped, no-new-privileges, tmpfs for
the writable paths) and the pods' resources (`--cpus`/`--memory` from the limits,
`--memory-reservation`/`--cpu-shares` from the requests, a pid limit). Each has a docker health
check (`/etc/paif/health/http-check`: an HTTP 200 from its own port, over bash's /dev/tcp: the
images have no curl) and a timer restarts the unit of a container docker reports unhealthy.
The backend reads app.env + secrets.env, the same keys as on Kubernetes; the frontend gets
BACKEND_URL; they share a docker network on which they are reached by container name.

TLS only. Neither app container publishes a port. The `<app>-tls` container (nginx from the
frontend image, with our config) is the only one that does: 443 (TLS 1.2/1.3, HSTS) proxies to
the frontend, `/readyz` to the backend's readiness endpoint; port 80 answers only with a
redirect to https (and `/healthz` for its own health check). The certificate comes from one
source (`tls_source` in the workload annotation): the one given (`tls_certificate` + the
secret `tls_key`, "given"), or the `tls.crt`/`tls.key` of an existing kubernetes.io/tls
Secret in the VM's namespace (`tls_secret_name`, "secret": read with the kubernetes
provider's `Secret.get` through the component's provider, its data a Pulumi secret; the
certificate alone is unsecreted, it is public), else a self-signed one for the host name, as
the Ingress's self-signed mode ("self-signed"). The TLS key is copied at start to a tmpfs file
only uid 10001 can read; at rest it stays root-only.

Readiness. The VirtualMachine has a VM Service readiness probe (`spec.readinessProbe.guestInfo`,
see components/crds/virtual_machine.py for why guestInfo): VM Operator sets the VM's `Ready`
condition while `guestinfo.paif.ready` matches `^true$`. The guest sets that key itself: the
health timer (`paif-health-watch`, every minute) requests `https://<hostname>/readyz` on the VM
(resolved to 127.0.0.1, verified against the certificate the VM serves) and runs
`vmware-rpctool "info-set guestinfo.paif.ready true"` on a 200, `false` otherwise; without
vmware-rpctool (open-vm-tools) it logs and publishes nothing (the boot does not fail, the VM
just never becomes Ready). Where VM Service runs, the component waits for `Ready` and the IP.
UNCONFIRMED on a real Supervisor: that a key the guest sets with `info-set` is what the probe
reads (VM Operator's API documentation says so; no run here has shown it) and that the DLVM
image ships curl and open-vm-tools.

What the policy pack sees. What runs inside is otherwise only in the (secret) user data, so
the VirtualMachine carries the workload's shape as a JSON annotation (`WORKLOAD_ANNOTATION`:
containers, images, resources, health checks, published ports, TLS, where the secrets come
from, never a value); policy/rules/dlvm.py validates it like the pods of the other stacks.

Changes. cloud-init applies user data once per instance, and VM Operator does not re-run it
on a running VM, so a change to the user data (an image tag, a setting, a rotated secret, a
new certificate) replaces the VM (the old one goes first: its name is fixed); the VM keeps no
state of its own (chat history is in PostgreSQL). The VM's `replacement_trigger` is a keyed
digest of the user data (HMAC-SHA256 with a random key kept as a secret in state), not the
user data itself: the engine (3.274.1) keeps the trigger in state and in the JSON event
stream, and a secret trigger made every `preview --json` and `up --json` (the gate, CI's
automation) panic with "attempt to encrypt value" once the VM existed, so such an `up`
never replaced anything. The digest is no secret and reveals nothing without the key. A
preview shows the replacement exactly when the user data changes; where a value it embeds is
not known before apply (a credential being set anew, a robot account replaced), the engine
shows a possible replacement and `up` replaces only if the user data really differs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.ai_app import AppContainers, ResourceSpec
from components.certificate import SelfSignedCertificate, SelfSignedCertificateArgs
from components.crds.custom_resource import await_annotations, require_dns_label
from components.crds.virtual_machine import (
    READY_CONDITION,
    USER_DATA_KEY,
    GuestInfoCheck,
    ReadinessProbe,
    SecretKeyRef,
    VirtualMachine,
    VirtualMachineSpec,
    primary_ip4,
)
from components.kube_secret import kube_secret
from components.labels import workload_labels
from components.names import DNS_NAME, quantity
from components.password import Password

APP_ENV_PATH = "/etc/paif/app.env"
SECRETS_ENV_PATH = "/etc/paif/secrets.env"
REGISTRY_CONFIG_DIR = "/etc/paif/registry"
TLS_DIR = "/etc/paif/tls"
TLS_RUNTIME_DIR = "/run/paif-tls"
HEALTH_DIR = "/etc/paif/health"
HEALTH_CHECK = f"{HEALTH_DIR}/http-check"
HEALTH_WATCH = "/usr/local/sbin/paif-health-watch"
# VM Service readiness: the guest sets guestinfo.<READINESS_KEY> (VM Operator adds the prefix).
READINESS_KEY = "paif.ready"
READY_VALUE = "^true$"
RPCTOOL = "vmware-rpctool"
TLS_SECRET_TYPE = "kubernetes.io/tls"  # noqa: S105 - a Secret type
DOCKER = "/usr/bin/docker"
CONTAINER_UID = 10001
CONTAINER_USER = f"{CONTAINER_UID}:{CONTAINER_UID}"
# The TLS proxy listens unprivileged inside its container; the VM publishes 443 and 80.
TLS_CONTAINER_PORT = 8443
REDIRECT_CONTAINER_PORT = 8081
WORKLOAD_ANNOTATION = "paif.vmware.com/workload"
"""JSON shape of what runs in the VM (no values), for operators and the policy pack."""
TRIGGER_PREFIX = "hmac-sha256:"
# Fixed, so the same settings always render the same Secret. The parts are base64-encoded,
# and `-` is not in the base64 alphabet, so no part line can look like the boundary.
MIME_BOUNDARY = "==paif-cloud-init-part-boundary=="
# Appends the part's lists (write_files) to those already read instead of replacing them.
APPEND_LISTS = [{"name": "list", "settings": ["append"]}, {"name": "dict", "settings": ["no_replace", "recurse_list"]}]
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
IMAGE = re.compile(r"^\S+$")
PIDS_LIMIT = 512
# The TLS proxy's own share of the VM (nginx proxying a handful of developers).
PROXY_RESOURCES = {"cpu_request": "100m", "memory_request": "64Mi", "cpu_limit": "500m", "memory_limit": "128Mi"}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (unit files, env files) as literal blocks, so the document reads like the files."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_str)


def _cloud_config(document: Mapping[str, Any]) -> str:
    return "#cloud-config\n" + yaml.dump(dict(document), Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def env_file(values: Mapping[str, str], what: str) -> str:
    """`KEY=value` lines as docker's --env-file reads them (no quoting, one line per value).

    Error messages name the key, never the value (`what` says which map it came from).
    """
    lines = []
    for key in sorted(values):
        value = values[key]
        if not ENV_KEY.match(key):
            raise ValueError(f"{what} {key!r}: names must be environment variable names ([A-Za-z_][A-Za-z0-9_]*)")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            raise ValueError(f"{what} {key}: the value must be a single-line string (the env file has one per line)")
        lines.append(f"{key}={value}\n")
    return "".join(lines)


@dataclass(frozen=True)
class Resources(ResourceSpec):
    """AiApp's requests and limits of one container (Kubernetes quantities), as docker options."""

    def __post_init__(self) -> None:
        for what, value in (
            ("cpu request", self.cpu_request),
            ("memory request", self.memory_request),
            ("memory limit", self.memory_limit),
            ("cpu limit", self.cpu_limit),
        ):
            if value is not None and quantity(value, what) <= 0:
                raise ValueError(f"{what} {value!r}: must be above zero")
        if quantity(self.memory_request, "memory request") > quantity(self.memory_limit, "memory limit"):
            raise ValueError(
                f"memory request {self.memory_request!r} exceeds the memory limit {self.memory_limit!r}"
            )

    def docker_options(self) -> list[str]:
        """`--cpus`/`--memory` (limits) and `--cpu-shares`/`--memory-reservation` (requests)."""
        shares = max(2, round(quantity(self.cpu_request, "cpu request") * 1024))
        options = [
            f"--memory {int(quantity(self.memory_limit, 'memory limit'))}",
            f"--memory-reservation {int(quantity(self.memory_request, 'memory request'))}",
            f"--cpu-shares {shares}",
            f"--pids-limit {PIDS_LIMIT}",
        ]
        if self.cpu_limit is not None:
            options.insert(0, f"--cpus {float(quantity(self.cpu_limit, 'cpu limit')):g}")
        return options


DEFAULT_RESOURCES = Resources(cpu_request="250m", memory_request="256Mi", memory_limit="512Mi", cpu_limit="1")


@dataclass(frozen=True)
class ContainerPlan:
    """How the containers run on the VM."""

    app_name: str
    """Prefix of units, containers and the docker network (the AiApp name, e.g. chat)."""
    frontend_image: str
    backend_image: str
    frontend_port: int
    """Frontend container port, reachable only on the app's docker network."""
    backend_port: int
    """Backend container port, reachable only on the app's docker network."""
    authenticated_pull: bool
    """Pull with the registry robot's docker config (written by the secrets part)."""
    ca_dir: str | None = None
    """Directory of CA bundle files mounted read-only into the backend at the same path; None for none."""
    frontend_resources: Resources = DEFAULT_RESOURCES
    backend_resources: Resources = DEFAULT_RESOURCES
    https_port: int = 443
    """Port the VM serves the app on (TLS)."""
    http_redirect_port: int | None = 80
    """Port that only redirects to https; None publishes no plain-HTTP port at all."""
    backend_health_path: str = "/readyz"
    frontend_health_path: str = "/healthz"
    hostname: str = "dlvm.invalid"
    """Host name the certificate names; the readiness check requests https://<hostname>/readyz on the VM."""

    def __post_init__(self) -> None:
        require_dns_label(self.app_name, "app name")
        # It goes into the health script: a DNS name only.
        if not DNS_NAME.match(self.hostname):
            raise ValueError(f"host name {self.hostname!r}: must be a DNS name such as chat.example.com")
        for what, image in (("frontend image", self.frontend_image), ("backend image", self.backend_image)):
            if not IMAGE.match(image):
                raise ValueError(f"{what} {image!r}: must be an image reference without spaces")
        ports = [("frontend port", self.frontend_port), ("backend port", self.backend_port), ("https port", self.https_port)]
        if self.http_redirect_port is not None:
            ports.append(("http redirect port", self.http_redirect_port))
        for what, port in ports:
            if not 1 <= port <= 65535:
                raise ValueError(f"{what} {port}: must be 1-65535")
        if self.http_redirect_port == self.https_port:
            raise ValueError(f"http redirect port {self.http_redirect_port}: must differ from the https port")

    def unit(self, tier: str) -> str:
        return f"{self.app_name}-{tier}.service"

    def container(self, tier: str) -> str:
        return f"{self.app_name}-{tier}"

    @property
    def network(self) -> str:
        return f"{self.app_name}-net"

    @property
    def backend_url(self) -> str:
        return f"http://{self.container('backend')}:{self.backend_port}"

    @property
    def frontend_url(self) -> str:
        return f"http://{self.container('frontend')}:{self.frontend_port}"

    def _health(self, port: int, path: str) -> list[str]:
        return [
            f'--health-cmd "/bin/bash {HEALTH_CHECK} {port} {path}"',
            "--health-interval 30s",
            "--health-timeout 10s",
            "--health-retries 3",
            "--health-start-period 60s",
            f"--volume {HEALTH_DIR}:{HEALTH_DIR}:ro",
        ]

    def _docker_run(self, tier: str, image: str, options: list[str], command: list[str] | None = None) -> str:
        docker = f"{DOCKER} --config {REGISTRY_CONFIG_DIR}" if self.authenticated_pull else DOCKER
        hardening = [
            f"--user {CONTAINER_USER}",
            "--read-only",
            "--cap-drop ALL",
            "--security-opt no-new-privileges",
        ]
        args = [
            f"{docker} run --rm --name {self.container(tier)}",
            "--pull missing",
            f"--network {self.network}",
            "--log-driver none",
            *hardening,
            *options,
            image,
            *(command or []),
        ]
        return " \\\n  ".join(args)

    def _unit_file(
        self, tier: str, description: str, run: str, after: list[str], pre: list[str] | None = None
    ) -> str:
        container = self.container(tier)
        # Wants, not Requires, for the peer: the frontend keeps serving while the backend restarts.
        wants = " ".join(["network-online.target", *after])
        extra = "".join(f"ExecStartPre={line}\n" for line in pre or [])
        return (
            "[Unit]\n"
            f"Description={description}\n"
            "Requires=docker.service\n"
            f"Wants={wants}\n"
            f"After=docker.service {wants}\n"
            "\n"
            "[Service]\n"
            f"ExecStartPre=-{DOCKER} rm --force {container}\n"
            f"ExecStartPre=-{DOCKER} network create {self.network}\n"
            f"{extra}"
            f"ExecStart={run}\n"
            f"ExecStop={DOCKER} stop --time 30 {container}\n"
            "Restart=on-failure\n"
            "RestartSec=10\n"
            "StandardOutput=journal\n"
            "StandardError=journal\n"
            f"SyslogIdentifier={container}\n"
            "\n"
            "[Install]\n"
            "WantedBy=multi-user.target\n"
        )

    def backend_unit(self) -> str:
        options = [
            "--tmpfs /tmp",
            f"--env-file {APP_ENV_PATH}",
            f"--env-file {SECRETS_ENV_PATH}",
            *self.backend_resources.docker_options(),
            *self._health(self.backend_port, self.backend_health_path),
        ]
        if self.ca_dir is not None:
            options.append(f"--volume {self.ca_dir}:{self.ca_dir}:ro")
        run = self._docker_run("backend", self.backend_image, options)
        return self._unit_file("backend", f"{self.app_name} backend (FastAPI) in a container", run, [])

    def frontend_unit(self) -> str:
        run = self._docker_run(
            "frontend",
            self.frontend_image,
            [
                "--tmpfs /tmp",
                "--tmpfs /var/cache/nginx",
                "--tmpfs /var/run",
                f"--env BACKEND_URL={self.backend_url}",
                f"--env LISTEN_PORT={self.frontend_port}",
                *self.frontend_resources.docker_options(),
                *self._health(self.frontend_port, self.frontend_health_path),
            ],
        )
        return self._unit_file(
            "frontend", f"{self.app_name} frontend (Nginx) in a container", run, [self.unit("backend")]
        )

    def tls_unit(self) -> str:
        """nginx from the frontend image with our config: the only container that publishes ports."""
        publish = [f"--publish {self.https_port}:{TLS_CONTAINER_PORT}"]
        if self.http_redirect_port is not None:
            publish.append(f"--publish {self.http_redirect_port}:{REDIRECT_CONTAINER_PORT}")
        proxy = Resources(**PROXY_RESOURCES)
        run = self._docker_run(
            "tls",
            self.frontend_image,
            [
                "--tmpfs /tmp",
                "--entrypoint /usr/sbin/nginx",
                f"--volume {TLS_DIR}/nginx.conf:{TLS_DIR}/nginx.conf:ro",
                f"--volume {TLS_DIR}/tls.crt:{TLS_DIR}/tls.crt:ro",
                f"--volume {TLS_RUNTIME_DIR}:{TLS_RUNTIME_DIR}:ro",
                *publish,
                *proxy.docker_options(),
                *self._health(REDIRECT_CONTAINER_PORT, "/healthz"),
            ],
            ["-e stderr", f"-c {TLS_DIR}/nginx.conf"],
        )
        # The key stays root-only at rest; the container's uid reads a copy on tmpfs.
        pre = [
            f"/usr/bin/install -d -m 0700 -o {CONTAINER_UID} -g {CONTAINER_UID} {TLS_RUNTIME_DIR}",
            f"/usr/bin/install -m 0400 -o {CONTAINER_UID} -g {CONTAINER_UID} {TLS_DIR}/tls.key {TLS_RUNTIME_DIR}/tls.key",
        ]
        return self._unit_file(
            "tls", f"{self.app_name} TLS proxy (Nginx) in a container", run, [self.unit("frontend")], pre
        )

    def nginx_config(self) -> str:
        """The TLS proxy: 443 (TLS) to the frontend and /readyz to the backend; 80 redirects only."""
        forwarded = (
            "            proxy_http_version 1.1;\n"
            '            proxy_set_header Connection "";\n'
            "            proxy_set_header Host $host;\n"
            "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "            proxy_set_header X-Forwarded-Proto https;\n"
        )
        return (
            "# TLS in front of the chat app on the DLVM (components/dlvm.py). Runs as uid 10001 on a\n"
            "# read-only root file system: pid and temp files in /tmp (tmpfs).\n"
            "daemon off;\n"
            "worker_processes 1;\n"
            "pid /tmp/nginx.pid;\n"
            "error_log stderr warn;\n"
            "events {\n    worker_connections 1024;\n}\n"
            "http {\n"
            "    access_log off;\n"
            "    server_tokens off;\n"
            "    client_body_temp_path /tmp/nginx-client-body;\n"
            "    proxy_temp_path /tmp/nginx-proxy;\n"
            "    fastcgi_temp_path /tmp/nginx-fastcgi;\n"
            "    uwsgi_temp_path /tmp/nginx-uwsgi;\n"
            "    scgi_temp_path /tmp/nginx-scgi;\n"
            "    server {\n"
            f"        listen {REDIRECT_CONTAINER_PORT};\n"
            "        location = /healthz {\n"
            "            default_type text/plain;\n"
            '            return 200 "ok\\n";\n'
            "        }\n"
            "        location / {\n"
            "            return 301 https://$host$request_uri;\n"
            "        }\n"
            "    }\n"
            "    server {\n"
            f"        listen {TLS_CONTAINER_PORT} ssl;\n"
            f"        ssl_certificate {TLS_DIR}/tls.crt;\n"
            f"        ssl_certificate_key {TLS_RUNTIME_DIR}/tls.key;\n"
            "        ssl_protocols TLSv1.2 TLSv1.3;\n"
            "        ssl_session_cache shared:tls:1m;\n"
            "        client_max_body_size 64k;\n"
            '        add_header Strict-Transport-Security "max-age=31536000" always;\n'
            "        location = /readyz {\n"
            f"            proxy_pass {self.backend_url}{self.backend_health_path};\n"
            f"{forwarded}"
            "        }\n"
            "        location / {\n"
            f"            proxy_pass {self.frontend_url};\n"
            f"{forwarded}"
            "            proxy_read_timeout 180s;\n"
            "        }\n"
            "    }\n"
            "}\n"
        )

    def workload(
        self, secret_name: str, secret_keys: list[str], tls_source: str, tls_secret: str | None = None
    ) -> dict[str, Any]:
        """The workload's shape for the policy pack (WORKLOAD_ANNOTATION): no values. `tls_source`
        is "given", "self-signed" or "secret" (then `tls_secret` names the Secret)."""
        containers = [
            {
                "name": self.container("backend"),
                "image": self.backend_image,
                "resources": self.backend_resources.to_spec(),
                "healthCheck": {"port": self.backend_port, "path": self.backend_health_path},
                "envFrom": [APP_ENV_PATH, SECRETS_ENV_PATH],
            },
            {
                "name": self.container("frontend"),
                "image": self.frontend_image,
                "resources": self.frontend_resources.to_spec(),
                "healthCheck": {"port": self.frontend_port, "path": self.frontend_health_path},
                "env": {"BACKEND_URL": self.backend_url, "LISTEN_PORT": str(self.frontend_port)},
            },
            {
                "name": self.container("tls"),
                "image": self.frontend_image,
                "resources": Resources(**PROXY_RESOURCES).to_spec(),
                "healthCheck": {"port": REDIRECT_CONTAINER_PORT, "path": "/healthz"},
            },
        ]
        published = [
            {"port": self.https_port, "protocol": "https", "container": self.container("tls")},
        ]
        if self.http_redirect_port is not None:
            published.append(
                {"port": self.http_redirect_port, "protocol": "http-redirect", "container": self.container("tls")}
            )
        tls: dict[str, Any] = {"port": self.https_port, "certificate": tls_source, "protocols": ["TLSv1.2", "TLSv1.3"]}
        if tls_secret is not None:
            tls["secret"] = f"Secret/{tls_secret}"
        return {
            "containers": containers,
            "published": published,
            "tls": tls,
            "secrets": {"from": f"Secret/{secret_name}", "keys": sorted(secret_keys)},
        }


HEALTH_CHECK_SCRIPT = """#!/bin/bash
# http-check PORT PATH: exit 0 when 127.0.0.1:PORT answers GET PATH with HTTP 200.
# Docker's health check for the app containers (their images have bash, not curl).
set -u
exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
printf 'GET %s HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' "$2" >&3
read -r -t 8 _ status _ <&3 || exit 1
[ "$status" = 200 ]
"""


def health_watch_script(plan: ContainerPlan) -> str:
    """Restarts the unit of a container docker reports unhealthy (docker itself only reports),
    then publishes the VM's readiness for VM Service's probe: `guestinfo.paif.ready` is `true`
    while https://<hostname>/readyz on the VM (the TLS proxy, verified against the certificate
    it serves, in front of the backend's readiness) answers 200, else `false`."""
    pairs = " ".join(f"{plan.container(t)}={plan.unit(t)}" for t in ("backend", "frontend", "tls"))
    authority = f"{plan.hostname}:{plan.https_port}"
    url = f"https://{authority}/readyz"
    key = f"guestinfo.{READINESS_KEY}"
    return (
        "#!/bin/sh\n"
        "# Run by paif-health-watch.timer: restart the systemd unit of an unhealthy container, then\n"
        f"# publish readiness to VM Service (the VM's readiness probe reads {key}).\n"
        "set -u\n"
        f"for pair in {pairs}; do\n"
        '    container=${pair%%=*} unit=${pair#*=}\n'
        f"    status=$({DOCKER} inspect --format '{{{{.State.Health.Status}}}}' \"$container\" 2>/dev/null || true)\n"
        '    if [ "$status" = unhealthy ]; then\n'
        '        echo "paif-health-watch: $container is unhealthy, restarting $unit"\n'
        '        systemctl restart "$unit"\n'
        "    fi\n"
        "done\n"
        "ready=false\n"
        "if command -v curl >/dev/null 2>&1; then\n"
        # The host name resolved to this VM, the certificate verified against the one it serves.
        f"    code=$(curl --silent --output /dev/null --write-out '%{{http_code}}' --max-time 10 \\\n"
        f"        --cacert {TLS_DIR}/tls.crt --resolve {authority}:127.0.0.1 {url} 2>/dev/null)\n"
        "    result=$?\n"
        '    if [ "$code" = 200 ]; then\n'
        "        ready=true\n"
        "    else\n"
        f'        echo "paif-health-watch: {url} answered ${{code:-nothing}} (curl exit $result): not ready"\n'
        "    fi\n"
        "else\n"
        '    echo "paif-health-watch: curl not found: the VM reports not ready"\n'
        "fi\n"
        f"if command -v {RPCTOOL} >/dev/null 2>&1; then\n"
        f'    {RPCTOOL} "info-set {key} $ready" >/dev/null 2>&1 \\\n'
        f'        || echo "paif-health-watch: {RPCTOOL} could not set {key}"\n'
        "else\n"
        f'    echo "paif-health-watch: {RPCTOOL} not found (open-vm-tools): readiness not published to VM Service"\n'
        "fi\n"
        "exit 0\n"
    )


HEALTH_WATCH_SERVICE = f"""[Unit]
Description=Restart app containers docker reports unhealthy; publish readiness to VM Service

[Service]
Type=oneshot
ExecStart={HEALTH_WATCH}
"""
HEALTH_WATCH_TIMER = """[Unit]
Description=Check the app containers' health and the VM's readiness every minute

[Timer]
OnBootSec=2min
OnUnitActiveSec=1min

[Install]
WantedBy=timers.target
"""


def app_cloud_config(
    plan: ContainerPlan,
    settings: Mapping[str, str],
    ca_bundles: Mapping[str, str] | None = None,
    tls_certificate: str = "",
) -> str:
    """The `#cloud-config` part without secrets: env file, CA bundles and the TLS certificate
    (public), the TLS proxy's config, health checks, systemd units, enabling them."""
    env = {**settings, "BACKEND_URL": plan.backend_url}
    units = {
        plan.unit("backend"): plan.backend_unit(),
        plan.unit("frontend"): plan.frontend_unit(),
        plan.unit("tls"): plan.tls_unit(),
    }
    files: list[dict[str, Any]] = [
        {"path": APP_ENV_PATH, "owner": "root:root", "permissions": "0640", "content": env_file(env, "setting")},
    ]
    for file_name, pem in sorted((ca_bundles or {}).items()):
        if plan.ca_dir is None or "/" in file_name:
            raise ValueError(f"CA bundle {file_name!r}: needs the plan's ca_dir and a plain file name")
        files.append({"path": f"{plan.ca_dir}/{file_name}", "owner": "root:root", "permissions": "0644", "content": pem})
    files += [
        {"path": f"{TLS_DIR}/tls.crt", "owner": "root:root", "permissions": "0644", "content": tls_certificate},
        {"path": f"{TLS_DIR}/nginx.conf", "owner": "root:root", "permissions": "0644", "content": plan.nginx_config()},
        {"path": HEALTH_CHECK, "owner": "root:root", "permissions": "0755", "content": HEALTH_CHECK_SCRIPT},
        {"path": HEALTH_WATCH, "owner": "root:root", "permissions": "0755", "content": health_watch_script(plan)},
        {
            "path": "/etc/systemd/system/paif-health-watch.service",
            "owner": "root:root",
            "permissions": "0644",
            "content": HEALTH_WATCH_SERVICE,
        },
        {
            "path": "/etc/systemd/system/paif-health-watch.timer",
            "owner": "root:root",
            "permissions": "0644",
            "content": HEALTH_WATCH_TIMER,
        },
    ]
    files += [
        {"path": f"/etc/systemd/system/{unit}", "owner": "root:root", "permissions": "0644", "content": text}
        for unit, text in units.items()
    ]
    return _cloud_config(
        {
            "write_files": files,
            "runcmd": [
                ["systemctl", "daemon-reload"],
                # --no-block: cloud-init runs inside a systemd job; waiting on another could deadlock.
                ["systemctl", "enable", "--now", "--no-block", *units, "paif-health-watch.timer"],
            ],
        }
    )


def secrets_cloud_config(secrets: Mapping[str, str], registry_auth: str | None, tls_key: str = "") -> str:
    """The `#cloud-config` part with the secret files, merged into `app_cloud_config`'s file list."""
    files: list[dict[str, Any]] = [
        {
            "path": SECRETS_ENV_PATH,
            "owner": "root:root",
            "permissions": "0600",
            "content": env_file(secrets, "secret setting"),
        },
        {"path": f"{TLS_DIR}/tls.key", "owner": "root:root", "permissions": "0600", "content": tls_key},
    ]
    if registry_auth is not None:
        files.append(
            {
                "path": f"{REGISTRY_CONFIG_DIR}/config.json",
                "owner": "root:root",
                "permissions": "0600",
                "content": registry_auth,
            }
        )
    return _cloud_config({"merge_how": APPEND_LISTS, "write_files": files})


def user_data(app_config: str, secrets_config: str) -> str:
    """Both parts as one MIME multi-part user data document (app part first)."""
    message = MIMEMultipart(boundary=MIME_BOUNDARY)
    for filename, text in (("app.cfg", app_config), ("secrets.cfg", secrets_config)):
        part = MIMEText(text, "cloud-config", "utf-8")
        part.add_header("Content-Disposition", "attachment", filename=filename)
        message.attach(part)
    return message.as_string()


def tls_pair(secret_type: str | None, data: Mapping[str, str] | None, where: str) -> tuple[str, str]:
    """The PEM certificate and key of a kubernetes.io/tls Secret's `data` (base64), decoded.

    Errors name the Secret (`where`) and the data key, never a value."""
    if secret_type != TLS_SECRET_TYPE:
        raise ValueError(f"{where}: type {secret_type!r}; must be a {TLS_SECRET_TYPE} Secret (tls.crt, tls.key)")
    texts = []
    for item, marker, what in (
        ("tls.crt", "-----BEGIN CERTIFICATE-----", "a PEM certificate"),
        ("tls.key", "PRIVATE KEY-----", "a PEM private key"),
    ):
        encoded = (data or {}).get(item)
        if not encoded:
            raise ValueError(f"{where}: {item} is missing or empty; it must hold {what}")
        try:
            text = base64.b64decode(encoded, validate=True).decode("utf-8")
        except ValueError:
            raise ValueError(f"{where}: {item} is not base64-encoded text") from None
        if marker not in text:
            raise ValueError(f"{where}: {item} is not {what}")
        texts.append(text)
    return texts[0], texts[1]


def trigger_digest(key: str, document: str) -> str:
    """The replacement trigger: HMAC-SHA256 of the user data under a key only state holds."""
    return TRIGGER_PREFIX + hmac.new(key.encode(), document.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, kw_only=True)
class DlvmWorkstationArgs(AppContainers):
    """The VM (from the `paif:dlvm` config and the GPU class) and the app it runs (`AppContainers`:
    its container ports are not published; the CA bundles are written to `ca_dir` in the app
    part and mounted read-only into the backend)."""

    name: str
    """VirtualMachine name (DNS label); its cloud-init Secret is `<name>-cloud-init`."""
    namespace: pulumi.Input[str]
    """Supervisor namespace of the VM."""
    vm_class: pulumi.Input[str]
    """The vGPU VM class bound to the namespace."""
    image_name: str
    """DLVM image (VirtualMachineImage name in a namespace content library)."""
    storage_class: str
    """Storage class of the VM's disks."""
    app_name: str
    """The app's name (AiApp's), prefix of the systemd units and containers."""
    hostname: str = "dlvm.invalid"
    """Host name users reach the app by (the self-signed certificate's name)."""
    registry_auth: pulumi.Output[str] | None = None
    """Docker config JSON of the Harbor robot (secret); None pulls anonymously."""
    frontend_resources: Resources = DEFAULT_RESOURCES
    """The frontend container's requests and limits (paif:app.frontendResources)."""
    backend_resources: Resources = DEFAULT_RESOURCES
    """The backend container's requests and limits (paif:app.backendResources)."""
    tls_certificate: pulumi.Input[str] | None = None
    """PEM certificate (chain) the VM serves; None: a self-signed one for `hostname`."""
    tls_key: pulumi.Output[str] | None = None
    """Its private key, a Pulumi secret; required with tls_certificate."""
    tls_secret_name: str | None = None
    """An existing kubernetes.io/tls Secret in `namespace` whose tls.crt/tls.key the VM serves
    (read through the component's kubernetes provider); None: tls_certificate, else self-signed."""
    https_port: int = 443
    http_redirect_port: int | None = 80
    """Port answering only with a redirect to https; None: no plain-HTTP port at all."""
    boot_disk_size: str | None = None
    """Boot disk size (Kubernetes quantity); None keeps the image's."""
    await_ready: bool = True
    """Wait until VM Service reports the VM `Ready` (its readiness probe) and its IP; False where
    no VM Service runs (a plain API server)."""
    ready_timeout_seconds: int = 1800
    """How long to wait for both."""


class DlvmWorkstation(pulumi.ComponentResource):
    """The cloud-init Secret and the VirtualMachine that runs the app from it."""

    vm_name: pulumi.Output[str]
    primary_ip: pulumi.Output[str | None]
    """`status.network.primaryIP4`; None until VM Service reports it (unknown in previews)."""
    url: pulumi.Output[str | None]
    """https://<ip>/ once VM Service reports the IP (the certificate names `hostname`)."""
    ready_url: pulumi.Output[str | None]
    """https://<ip>/readyz: 200 once the TLS proxy, the frontend and the backend answer."""
    cloud_config: pulumi.Output[str]
    """The secret-free `#cloud-config` part (what the VM does), for review."""

    def __init__(self, name: str, args: DlvmWorkstationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("paif:platform:DlvmWorkstation", name, None, opts)
        require_dns_label(args.name, "VM name")
        shared = sorted(set(args.config) & set(args.secrets))
        if shared:
            raise ValueError(f"settings {', '.join(shared)}: a key is either a setting or a secret setting, not both")
        if (args.tls_certificate is None) != (args.tls_key is None):
            raise ValueError("tls_certificate and tls_key go together (None for both: a self-signed certificate)")
        if args.tls_secret_name is not None:
            if args.tls_certificate is not None:
                raise ValueError("tls_certificate and tls_secret_name are two sources of the certificate: give one")
            require_dns_label(args.tls_secret_name, "TLS Secret")
        plan = ContainerPlan(
            app_name=args.app_name,
            frontend_image=args.frontend_image,
            backend_image=args.backend_image,
            frontend_port=args.frontend_port,
            backend_port=args.backend_port,
            authenticated_pull=args.registry_auth is not None,
            ca_dir=args.ca_dir if args.ca_bundles else None,
            frontend_resources=args.frontend_resources,
            backend_resources=args.backend_resources,
            https_port=args.https_port,
            http_redirect_port=args.http_redirect_port,
            hostname=args.hostname,
        )
        ca_bundles = dict(args.ca_bundles)
        labels = workload_labels(args.app_name, "dlvm")
        child = pulumi.ResourceOptions(parent=self)

        tls_source = "given"
        certificate: pulumi.Input[str] | None = args.tls_certificate
        key: pulumi.Output[str] | None = args.tls_key
        if args.tls_secret_name is not None:
            tls_source = "secret"
            certificate, key = self._read_tls_secret(name, args.namespace, args.tls_secret_name)
        elif certificate is None or key is None:
            tls_source = "self-signed"
            issued = SelfSignedCertificate(
                f"{name}-tls", SelfSignedCertificateArgs(hostnames=[args.hostname]), child
            )
            certificate, key = issued.cert_pem, issued.key_pem
        tls_key: pulumi.Output[str] = pulumi.Output.secret(key)

        settings = cast(pulumi.Output[dict[str, str]], pulumi.Output.from_input(dict(args.config)))
        secret_settings = cast(pulumi.Output[dict[str, str]], pulumi.Output.from_input(dict(args.secrets)))
        registry_auth = pulumi.Output.from_input(args.registry_auth)
        self.cloud_config = pulumi.Output.all(settings, certificate).apply(
            lambda values: app_cloud_config(plan, values[0], ca_bundles, values[1] or "")
        )
        secret_part = pulumi.Output.all(secret_settings, registry_auth, tls_key).apply(
            lambda values: secrets_cloud_config(values[0], values[1], values[2] or "")
        )
        document: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(self.cloud_config, secret_part).apply(lambda parts: user_data(parts[0], parts[1]))
        )
        secret_name = f"{args.name}-cloud-init"
        bootstrap = kube_secret(
            f"{name}-cloud-init",
            metadata={"name": secret_name, "namespace": args.namespace, "labels": labels},
            string_data=document.apply(lambda text: {USER_DATA_KEY: text}),
            opts=child,
        )
        # The digest reveals nothing without the key, so it is published unsecret: a secret
        # trigger crashes the engine's JSON output (see the module docstring).
        trigger_key = Password(f"{name}-trigger-key", length=64, opts=child)
        trigger = pulumi.Output.unsecret(
            pulumi.Output.all(trigger_key.result, document).apply(lambda v: trigger_digest(v[0], v[1]))
        )

        workload = plan.workload(secret_name, [*args.secrets, "TLS_KEY"] + (
            ["REGISTRY_AUTH"] if args.registry_auth is not None else []
        ), tls_source, args.tls_secret_name)
        # `Ready`: VM Operator's readiness worker sets it from the probe below
        # (vmware-tanzu/vm-operator pkg/prober/worker/readiness_worker.go, READY_CONDITION); the
        # IP as well, so the url outputs are known when `up` returns.
        wait_for = (
            [f"condition={READY_CONDITION}", "jsonpath={.status.network.primaryIP4}"] if args.await_ready else None
        )
        vm = VirtualMachine(
            f"{name}-vm",
            name=args.name,
            namespace=args.namespace,
            spec=VirtualMachineSpec(
                class_name=args.vm_class,
                image_name=args.image_name,
                storage_class=args.storage_class,
                cloud_config=SecretKeyRef(secret_name, USER_DATA_KEY),
                power_state="PoweredOn",
                boot_disk_capacity=args.boot_disk_size,
                readiness_probe=ReadinessProbe((GuestInfoCheck(READINESS_KEY, READY_VALUE),)),
            ),
            labels=labels,
            annotations={
                **await_annotations(wait_for, args.ready_timeout_seconds),
                WORKLOAD_ANNOTATION: json.dumps(workload, sort_keys=True, separators=(",", ":")),
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[bootstrap],
                replacement_trigger=trigger,
                # Same name, new instance: the old VM must go first.
                delete_before_replace=True,
            ),
        )

        self.vm_name = vm.metadata.apply(lambda m: str(m["name"]))
        self.primary_ip = vm.status.apply(primary_ip4)
        port = "" if args.https_port == 443 else f":{args.https_port}"
        self.url = self.primary_ip.apply(lambda ip: f"https://{ip}{port}/" if ip else None)
        self.ready_url = self.primary_ip.apply(lambda ip: f"https://{ip}{port}/readyz" if ip else None)
        self.register_outputs(
            {
                "vmName": self.vm_name,
                "primaryIp": self.primary_ip,
                "url": self.url,
                "readyUrl": self.ready_url,
                "cloudConfig": self.cloud_config,
            }
        )

    def _read_tls_secret(
        self, name: str, namespace: pulumi.Input[str], secret_name: str
    ) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """tls.crt (public: unsecreted) and tls.key (a Pulumi secret) of an existing
        kubernetes.io/tls Secret, read through this component's kubernetes provider."""
        source = k8s.core.v1.Secret.get(
            f"{name}-tls-source",
            pulumi.Output.concat(namespace, "/", secret_name),
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["data", "stringData"]),
        )
        checked: pulumi.Output[tuple[str, str]] = pulumi.Output.all(namespace, source.type, source.data).apply(
            lambda v: tls_pair(v[1], v[2], f"TLS Secret '{v[0]}/{secret_name}'")
        )
        certificate: pulumi.Output[str] = pulumi.Output.unsecret(checked.apply(lambda p: p[0]))
        key: pulumi.Output[str] = pulumi.Output.secret(checked.apply(lambda p: p[1]))
        return certificate, key
