"""The local environment runner (`make up` / `make down`): real targets on 127.0.0.1.

Starts vcsim, PostgreSQL and a Kubernetes API server (etcd + kube-apiserver with the CRDs
the stack declares) on free loopback ports, writes their endpoints and generated
credentials into a generated copy of the `local` stack's config, and runs the real Pulumi
engine against them. Tests drive the same steps:

    services = start_services()          # or reuse the running set
    write_stack_config(services)         # .localenv/Pulumi.local.yaml
    pulumi_up()                          # pulumi up --stack local (+ policy pack)
    down()                               # pulumi destroy, then stop everything
"""

from localenv.layout import Layout
from localenv.runner import down, status, up
from localenv.services import LocalEnvError, Services, start_services, stop_services
from localenv.stack import local_config, pulumi_destroy, pulumi_up, stack_outputs, write_stack_config

__all__ = [
    "Layout",
    "LocalEnvError",
    "Services",
    "down",
    "local_config",
    "pulumi_destroy",
    "pulumi_up",
    "stack_outputs",
    "start_services",
    "status",
    "stop_services",
    "up",
    "write_stack_config",
]
