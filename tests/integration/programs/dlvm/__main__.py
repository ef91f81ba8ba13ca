"""DlvmWorkstation against a kube-apiserver given in config (tests/integration/test_dlvm_replace.py,
test_dlvm_tls_secret.py).

Config (project namespace): kubeconfig (secret), logLevel (a setting in the user data),
dbPassword (secret, a secret setting), namespace (an existing one; unset: the program creates
`dlvm`), tlsSecretName (an existing kubernetes.io/tls Secret the VM serves; unset: self-signed).
No VM Service runs: the VM is not awaited."""

import pulumi
import pulumi_kubernetes as k8s

from components.dlvm import DlvmWorkstation, DlvmWorkstationArgs

config = pulumi.Config()
provider = k8s.Provider("supervisor", kubeconfig=config.require_secret("kubeconfig"))
namespace = config.get("namespace") or k8s.core.v1.Namespace(
    "ns", metadata={"name": "dlvm"}, opts=pulumi.ResourceOptions(provider=provider)
).metadata["name"]
dlvm = DlvmWorkstation(
    "dlvm",
    DlvmWorkstationArgs(
        name="chat-dlvm",
        namespace=namespace,
        vm_class="paif-gpu-a100-40c",
        image_name="vmi-dlvm",
        storage_class="vsan-default",
        app_name="chat",
        hostname="chat.dev.paif.example.internal",
        frontend_image="harbor.paif.example.internal/paif-chat-dev/chat-frontend:1.4.2",
        backend_image="harbor.paif.example.internal/paif-chat-dev/chat-backend:1.4.2",
        config={"LOG_LEVEL": config.get("logLevel") or "info"},
        secrets={"DB_PASSWORD": config.require_secret("dbPassword")},
        tls_secret_name=config.get("tlsSecretName"),
        await_ready=False,
    ),
    opts=pulumi.ResourceOptions(providers={"kubernetes": provider}),
)
pulumi.export("vmName", dlvm.vm_name)
pulumi.export("cloudConfig", dlvm.cloud_config)
