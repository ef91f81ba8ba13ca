"""Deploy one stack: what the deploy workflow's job runs on the environment's self-hosted runner.

    python -m ops.deploy prod --supervisor-server https://10.0.0.10 --supervisor-ca supervisor-ca.crt \\
        --supervisor-namespace paif-prod

1. The stack's credentials come from the job's environment (GitHub environment secrets)
   and go into the stack config as Pulumi secrets through stdin (`Project.set_secret`),
   never a command line: VCENTER_PASSWORD, HARBOR_PASSWORD, PAIS_CLIENT_SECRET,
   DB_ADMIN_PASSWORD, DB_APP_PASSWORD, WORKLOAD_KUBECONFIG (each only when set).
2. With `--supervisor-server`, a login at apply time (`ops.supervisor_login`: the SSO user
   VCENTER_USERNAME/VCENTER_PASSWORD gets a Supervisor token that expires by itself) gives
   `paif:supervisorKubeconfig`; no kubeconfig is stored anywhere.
3. `pulumi up` with the policy pack and `policy/config/<stack>.json` through `ops.automation`
   (its state in PULUMI_BACKEND_URL, the shared PostgreSQL backend); the change summary goes
   to stdout (JSON), `--summary` and the job summary. Exit 0 on success, 1 when the update
   failed, 2 when it could not start, 3 when another update holds the stack's lock.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ops import supervisor_login
from ops.automation import ROOT, AutomationError, PolicyPack, Project, Settings, StackLocked, format_changes

SECRETS_FROM_ENV = {
    "VCENTER_PASSWORD": "paif:vcenterPassword",
    "HARBOR_PASSWORD": "paif:harborPassword",
    "PAIS_CLIENT_SECRET": "paif:paisClientSecret",
    "DB_ADMIN_PASSWORD": "paif:dbAdminPassword",
    "DB_APP_PASSWORD": "paif:dbAppPassword",
    "WORKLOAD_KUBECONFIG": "paif:workloadKubeconfig",
}


def set_credentials(
    project: Project,
    stack: str,
    env: Mapping[str, str],
    *,
    config_file: Path | None = None,
    login: argparse.Namespace | None = None,
) -> None:
    """The credentials set in `env` as stack secrets (stdin), and a Supervisor kubeconfig from
    a login now when `login` is given."""
    for variable, key in SECRETS_FROM_ENV.items():
        if env.get(variable):
            project.set_secret(stack, key, env[variable], config_file=config_file)
    if login is not None:
        session = supervisor_login.from_env(env, login)
        kubeconfig = supervisor_login.kubeconfig(session, login.namespace)
        project.set_secret(stack, "paif:supervisorKubeconfig", kubeconfig, config_file=config_file)


def login_args(server: str | None, ca: Path | None, namespace: str | None) -> argparse.Namespace | None:
    """What `ops.supervisor_login` needs, None without a server."""
    if not server:
        return None
    if ca is None:
        raise supervisor_login.LoginError("--supervisor-server needs --supervisor-ca")
    return argparse.Namespace(server=server, ca_file=ca, namespace=namespace, guest_cluster=None)


def add_login_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--supervisor-server", help="log in to this Supervisor at apply time (see ops.supervisor_login)")
    parser.add_argument("--supervisor-ca", type=Path, help="the CA of the Supervisor's certificate")
    parser.add_argument("--supervisor-namespace", help="the Supervisor namespace")


def deploy(
    stack_name: str,
    env: Mapping[str, str],
    *,
    config_file: Path | None = None,
    login: argparse.Namespace | None = None,
    root: Path = ROOT,
) -> dict[str, object]:
    project = Project(root, Settings.from_env(env))
    stack = project.stack(stack_name)
    set_credentials(project, stack_name, env, config_file=config_file, login=login)
    outcome = project.run(stack, "up", policy=PolicyPack.for_stack(stack_name, root), config_file=config_file)
    summary = outcome.summary()
    print(f"deploy {stack_name}: {'succeeded' if outcome.ok else 'FAILED'} ({format_changes(outcome.changed)})")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.deploy", description="pulumi up of one stack, with the policy pack.")
    parser.add_argument("stack")
    parser.add_argument("--config-file", type=Path, help="a stack config file other than stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--summary", type=Path, help="write the JSON change summary here")
    add_login_arguments(parser)
    args = parser.parse_args(argv)
    try:
        login = login_args(args.supervisor_server, args.supervisor_ca, args.supervisor_namespace)
        summary = deploy(args.stack, os.environ, config_file=args.config_file, login=login)
    except StackLocked as exc:
        print(f"ops.deploy: {exc}", file=sys.stderr)
        return 3
    except (AutomationError, supervisor_login.LoginError) as exc:
        print(f"ops.deploy: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(summary, indent=2)
    if args.summary:
        args.summary.write_text(text + "\n")
    if path := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"## Deploy {args.stack}\n\n```json\n{text}\n```\n")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
