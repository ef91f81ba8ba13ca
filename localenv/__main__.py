"""`python -m localenv up|down|status|clean [--home DIR]` (what `make up` / `make down` / `make clean` run)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from localenv.layout import DEFAULT_HOME, Layout
from localenv.runner import clean, down, status, up
from localenv.services import LocalEnvError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localenv", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "clean"])
    parser.add_argument(
        "--home", type=Path, default=DEFAULT_HOME, help="state directory (default: .localenv in the repository)"
    )
    args = parser.parse_args(argv)
    layout = Layout(args.home.resolve())
    try:
        if args.command == "up":
            up(layout)
        elif args.command == "down":
            down(layout)
        elif args.command == "clean":
            clean(layout)
        else:
            print(json.dumps(status(layout), indent=2, sort_keys=True))
    except LocalEnvError as exc:
        print(f"localenv {args.command} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
