"""`python -m app.pais_standin`: the PAIS stand-in on one or more HTTPS listeners.

    python -m app.pais_standin --listen 198.18.0.1:443 --listen 127.0.0.1:8443 \\
        --cert pais.crt --key pais.key --clients-file clients.json

The clients file (JSON, mode 0600, never argv) lists who may get a token:
    {"clients": [{"client_id": "chat-backend-local", "client_secret": "..."}]}
One process serves every listener (uvicorn on pre-bound sockets); SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from app.pais_standin.service import DEFAULT_TOKEN_TTL, TokenStore, create_app


class StandinError(RuntimeError):
    """A command-line or file problem; the message says which."""


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"--listen wants HOST:PORT (got {value!r})")
    return host.strip("[]"), int(port)


def load_clients(path: Path) -> dict[str, str]:
    """client id -> secret from the clients file, which must be private to its owner."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise StandinError(f"clients file {path}: {exc.strerror}") from None
    if stat.S_IMODE(mode) & 0o077:
        raise StandinError(
            f"clients file {path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it"
        )
    try:
        document = json.loads(path.read_text())
        entries = document["clients"]
        clients = {str(entry["client_id"]): str(entry["client_secret"]) for entry in entries}
    except (ValueError, KeyError, TypeError):
        raise StandinError(
            f'clients file {path}: expected {{"clients": [{{"client_id": ..., "client_secret": ...}}]}}'
        ) from None
    if not clients or any(not cid or not secret for cid, secret in clients.items()):
        raise StandinError(f"clients file {path}: every client needs a non-empty client_id and client_secret")
    return clients


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StandinError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app.pais_standin", description=__doc__.split("\n")[0])
    p.add_argument("--listen", action="append", type=parse_listen, required=True, metavar="HOST:PORT")
    p.add_argument(
        "--cert", type=Path, required=True, help="PEM certificate (chain) for pais.local.paif.test"
    )
    p.add_argument("--key", type=Path, required=True, help="PEM private key of --cert")
    p.add_argument("--clients-file", type=Path, required=True, help="JSON clients file, mode 0600")
    p.add_argument("--token-ttl", type=int, default=DEFAULT_TOKEN_TTL, help="token lifetime in seconds")
    p.add_argument(
        "--agent", action="append", dest="agents", help="serve only these agent names (default: any)"
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        clients = load_clients(args.clients_file)
        for path in (args.cert, args.key):
            if not path.is_file():
                raise StandinError(f"no such file: {path}")
        sockets = [bind(host, port) for host, port in args.listen]
    except StandinError as exc:
        print(f"pais-standin: {exc}", file=sys.stderr)
        return 2
    app = create_app(
        clients,
        agents=frozenset(args.agents) if args.agents else None,
        tokens=TokenStore(ttl=args.token_ttl),
    )
    config = uvicorn.Config(
        app,
        ssl_certfile=str(args.cert),
        ssl_keyfile=str(args.key),
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    for host, port in args.listen:
        logging.getLogger("app.pais_standin").info("listening on https://%s:%d", host, port)
    uvicorn.Server(config).run(sockets=sockets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
