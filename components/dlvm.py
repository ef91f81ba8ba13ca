"""`DlvmWorkstation`: a Deep Learning VM (VM Service `VirtualMachine` on the vGPU class) that
runs the chat app's frontend and backend containers from Harbor, set up by cloud-init.

Where the secrets go. VM Service's only way into the guest is the cloud-init user data it
reads from one key of one Secret (`spec.bootstrap.cloudInit.rawCloudConfig`) and passes
through guestinfo; it cannot mount other Secrets into a VM, and cloud-init has no
"include from another key". So the user data is a MIME multi-part document (cloud-init's
standard container format) held in a Kubernetes Secret (never a ConfigMap), with two
`text/cloud-config` parts:

- `app.cfg`: everything the VM does, and no secret value: the env file
  /etc/paif/app.env (the keys of AiApp's ConfigMap), the CA bundles under /etc/paif/ca
  (public certificates, as AiApp's `<name>-ca` ConfigMap), the two systemd units and the
  `runcmd` that enables them. Because it is free of secrets it is exposed as the
  `cloud_config` output for review, diffs and tests.
- `secrets.cfg`: data only: `write_files` for /etc/paif/secrets.env (the keys of AiApp's
  Secret) and, with a registry robot, /etc/paif/registry/config.json, both root-owned 0600.
  Its `merge_how` appends its `write_files` to the first part's list (cloud-init's default
  merge would replace the list).

The Secret's whole `stringData` is a Pulumi secret (encrypted in state, masked in previews).
In the guest the values live only in root-only files (the env files and cloud-init's copy
of the user data under /var/lib/cloud); guestinfo itself can be read from inside the guest
and by vSphere administrators, so the DLVM is a single-tenant dev machine. Prod runs on VKS
with Kubernetes Secrets.

How the app runs. Docker (DLVM images ship Docker and the NVIDIA container toolkit) under
systemd units `<app>-backend` and `<app>-frontend`: `docker run` stays in the foreground so
systemd supervises the container and restarts it on failure; its output goes to the journal
(`journalctl -u chat-backend`). The docker log driver is `none`, so lines are neither logged
twice nor kept in unrotated json files. The containers get the pods' hardening (uid 10001,
read-only root file system, all capabilities dropped, no-new-privileges, tmpfs for the
writable paths). The backend reads app.env + secrets.env, the same keys as on Kubernetes;
the frontend gets BACKEND_URL; they share a docker network on which the backend is reached
by its container name, and only the frontend port is published on the VM.

Changes. cloud-init applies user data once per instance, and the VM keeps no state of its
own (chat history is in PostgreSQL), so a change to the user data (an image tag, a setting,
a rotated secret) replaces the VM: the user data is the VM's `replacement_trigger` (kept in
state as a secret, like the Secret itself). The VM's name is fixed, so the old VM goes
first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.crds.custom_resource import await_annotations, require_dns_label
from components.crds.virtual_machine import (
    USER_DATA_KEY,
    SecretKeyRef,
    VirtualMachine,
    VirtualMachineSpec,
    primary_ip4,
)

APP_ENV_PATH = "/etc/paif/app.env"
SECRETS_ENV_PATH = "/etc/paif/secrets.env"
REGISTRY_CONFIG_DIR = "/etc/paif/registry"
DOCKER = "/usr/bin/docker"
CONTAINER_USER = "10001:10001"
FRONTEND_IMAGE_ANNOTATION = "paif.vmware.com/frontend-image"
BACKEND_IMAGE_ANNOTATION = "paif.vmware.com/backend-image"
# Fixed, so the same settings always render the same Secret. The parts are base64-encoded,
# and `-` is not in the base64 alphabet, so no part line can look like the boundary.
MIME_BOUNDARY = "==paif-cloud-init-part-boundary=="
# Appends the part's lists (write_files) to those already read instead of replacing them.
APPEND_LISTS = [{"name": "list", "settings": ["append"]}, {"name": "dict", "settings": ["no_replace", "recurse_list"]}]
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
IMAGE = re.compile(r"^\S+$")


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
class ContainerPlan:
    """How the two containers run on the VM."""

    app_name: str
    """Prefix of units, containers and the docker network (the AiApp name, e.g. chat)."""
    frontend_image: str
    backend_image: str
    frontend_port: int
    """Frontend container port, published on the VM."""
    backend_port: int
    """Backend container port, reachable only on the app's docker network."""
    authenticated_pull: bool
    """Pull with the registry robot's docker config (written by the secrets part)."""
    ca_dir: str | None = None
    """Directory of CA bundle files mounted read-only into the backend at the same path; None for none."""

    def __post_init__(self) -> None:
        require_dns_label(self.app_name, "app name")
        for what, image in (("frontend image", self.frontend_image), ("backend image", self.backend_image)):
            if not IMAGE.match(image):
                raise ValueError(f"{what} {image!r}: must be an image reference without spaces")
        for what, port in (("frontend port", self.frontend_port), ("backend port", self.backend_port)):
            if not 1 <= port <= 65535:
                raise ValueError(f"{what} {port}: must be 1-65535")

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

    def _docker_run(self, tier: str, image: str, options: list[str]) -> str:
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
        ]
        return " \\\n  ".join(args)

    def _unit_file(self, tier: str, description: str, run: str, after: list[str]) -> str:
        container = self.container(tier)
        # Wants, not Requires, for the peer: the frontend keeps serving while the backend restarts.
        wants = " ".join(["network-online.target", *after])
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
        options = ["--tmpfs /tmp", f"--env-file {APP_ENV_PATH}", f"--env-file {SECRETS_ENV_PATH}"]
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
                f"--publish {self.frontend_port}:{self.frontend_port}",
            ],
        )
        return self._unit_file(
            "frontend", f"{self.app_name} frontend (Nginx) in a container", run, [self.unit("backend")]
        )


def app_cloud_config(plan: ContainerPlan, settings: Mapping[str, str], ca_bundles: Mapping[str, str] | None = None) -> str:
    """The `#cloud-config` part without secrets: env file, CA bundles (public certificates),
    systemd units, enabling them."""
    env = {**settings, "BACKEND_URL": plan.backend_url}
    units = {plan.unit("backend"): plan.backend_unit(), plan.unit("frontend"): plan.frontend_unit()}
    files: list[dict[str, Any]] = [
        {"path": APP_ENV_PATH, "owner": "root:root", "permissions": "0640", "content": env_file(env, "setting")},
    ]
    for file_name, pem in sorted((ca_bundles or {}).items()):
        if plan.ca_dir is None or "/" in file_name:
            raise ValueError(f"CA bundle {file_name!r}: needs the plan's ca_dir and a plain file name")
        files.append({"path": f"{plan.ca_dir}/{file_name}", "owner": "root:root", "permissions": "0644", "content": pem})
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
                ["systemctl", "enable", "--now", "--no-block", *units],
            ],
        }
    )


def secrets_cloud_config(secrets: Mapping[str, str], registry_auth: str | None) -> str:
    """The `#cloud-config` part with the secret files, merged into `app_cloud_config`'s file list."""
    files: list[dict[str, Any]] = [
        {
            "path": SECRETS_ENV_PATH,
            "owner": "root:root",
            "permissions": "0600",
            "content": env_file(secrets, "secret setting"),
        }
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


@dataclass(frozen=True)
class DlvmWorkstationArgs:
    """The VM (from the `paif:dlvm` config and the GPU class) and the app it runs."""

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
    frontend_image: str
    """Frontend image from Harbor."""
    backend_image: str
    """Backend image from Harbor."""
    config: Mapping[str, pulumi.Input[str]]
    """Non-secret settings: the keys of AiApp's ConfigMap (from infra.app_settings)."""
    secrets: Mapping[str, pulumi.Output[str]]
    """Secret settings: the keys of AiApp's Secret; values must be Pulumi secrets."""
    registry_auth: pulumi.Output[str] | None = None
    """Docker config JSON of the Harbor robot (secret); None pulls anonymously."""
    ca_bundles: Mapping[str, str] = field(default_factory=dict)
    """PEM CA bundles by file name, written to `ca_dir` (public certificates, in the app part)
    and mounted read-only into the backend, as AiApp's `<name>-ca` ConfigMap is on Kubernetes."""
    ca_dir: str = "/etc/paif/ca"
    """Where the backend finds `ca_bundles` (the settings name the files, e.g. DB_SSLROOTCERT)."""
    frontend_port: int = 8080
    """Frontend container port, published on the VM."""
    backend_port: int = 8000
    """Backend container port (not published)."""
    boot_disk_size: str | None = None
    """Boot disk size (Kubernetes quantity); None keeps the image's."""
    await_ready: bool = True
    """Wait until VM Service reports the VM's IP; False where no VM Service runs (a plain API server)."""
    ready_timeout_seconds: int = 1800
    """How long to wait for the IP."""


class DlvmWorkstation(pulumi.ComponentResource):
    """The cloud-init Secret and the VirtualMachine that runs the app from it."""

    vm_name: pulumi.Output[str]
    primary_ip: pulumi.Output[str | None]
    """`status.network.primaryIP4`; None until VM Service reports it (unknown in previews)."""
    cloud_config: pulumi.Output[str]
    """The secret-free `#cloud-config` part (what the VM does), for review."""

    def __init__(self, name: str, args: DlvmWorkstationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("paif:platform:DlvmWorkstation", name, None, opts)
        require_dns_label(args.name, "VM name")
        shared = sorted(set(args.config) & set(args.secrets))
        if shared:
            raise ValueError(f"settings {', '.join(shared)}: a key is either a setting or a secret setting, not both")
        plan = ContainerPlan(
            app_name=args.app_name,
            frontend_image=args.frontend_image,
            backend_image=args.backend_image,
            frontend_port=args.frontend_port,
            backend_port=args.backend_port,
            authenticated_pull=args.registry_auth is not None,
            ca_dir=args.ca_dir if args.ca_bundles else None,
        )
        ca_bundles = dict(args.ca_bundles)
        labels = {
            "app.kubernetes.io/name": args.app_name,
            "app.kubernetes.io/component": "dlvm",
            "app.kubernetes.io/part-of": "paif",
            "app.kubernetes.io/managed-by": "pulumi",
        }

        settings = cast(pulumi.Output[dict[str, str]], pulumi.Output.from_input(dict(args.config)))
        secret_settings = cast(pulumi.Output[dict[str, str]], pulumi.Output.from_input(dict(args.secrets)))
        registry_auth = pulumi.Output.from_input(args.registry_auth)
        self.cloud_config = settings.apply(lambda values: app_cloud_config(plan, values, ca_bundles))
        secret_part = pulumi.Output.all(secret_settings, registry_auth).apply(
            lambda values: secrets_cloud_config(values[0], values[1])
        )
        document: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(self.cloud_config, secret_part).apply(lambda parts: user_data(parts[0], parts[1]))
        )
        secret_name = f"{args.name}-cloud-init"
        bootstrap = k8s.core.v1.Secret(
            f"{name}-cloud-init",
            metadata={"name": secret_name, "namespace": args.namespace, "labels": labels},
            type="Opaque",
            string_data=document.apply(lambda text: {USER_DATA_KEY: text}),
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["data", "stringData"]),
        )

        wait_for = ["jsonpath={.status.network.primaryIP4}"] if args.await_ready else None
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
            ),
            labels=labels,
            annotations={
                **await_annotations(wait_for, args.ready_timeout_seconds),
                # What runs inside is otherwise only in the (secret) user data: shown for
                # operators and for policies on image provenance.
                FRONTEND_IMAGE_ANNOTATION: args.frontend_image,
                BACKEND_IMAGE_ANNOTATION: args.backend_image,
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[bootstrap],
                replacement_trigger=document,
                # Same name, new instance: the old VM must go first.
                delete_before_replace=True,
            ),
        )

        self.vm_name = vm.metadata.apply(lambda m: str(m["name"]))
        self.primary_ip = vm.status.apply(primary_ip4)
        self.register_outputs(
            {"vmName": self.vm_name, "primaryIp": self.primary_ip, "cloudConfig": self.cloud_config}
        )
