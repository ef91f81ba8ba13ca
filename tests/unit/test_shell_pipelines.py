"""No shell pipeline of ours can fail by SIGPIPE.

Under `set -o pipefail` (our scripts, the Makefile's .SHELLFLAGS, GitHub's `shell: bash`), a
reader that stops early (`head`, `grep -q`, `sed ...q`, `awk ... exit`) makes the writer die
of SIGPIPE whenever it is still writing, and the pipeline fails with 141: `etcd --version |
head -n1` failed `make setup` about one run in seven. Read to the end instead (`sed -n 1p`,
`grep -c`, or compare a captured `$(...)`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EARLY_EXIT_READER = re.compile(
    r"\|\s*(?:"
    r"head\b"
    r"|grep\s+(?:-[A-Za-z]*[qlm]|--(?:quiet|silent|max-count|files-with-matches))"
    r"|sed\b[^|]*?(?<![A-Za-z_-])q(?![\w-])"
    r"|awk\b[^|]*?\bexit\b"
    r")"
)
SHELL_SOURCES = (
    "toolchain/**/*.sh",
    "tests/**/*.sh",
    ".ci/*",
    "Makefile",
    ".github/workflows/*.yml",
)


def shell_sources() -> list[Path]:
    return sorted({p for pattern in SHELL_SOURCES for p in ROOT.glob(pattern) if p.is_file()})


def early_exits(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every pipe into a reader that may stop before its input ends;
    comments are not code."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        if EARLY_EXIT_READER.search(code):
            found.append((number, line.strip()))
    return found


@pytest.mark.parametrize(
    "line",
    [
        '"$TOOLS/etcd" --version | head -n1 | sed "s/^/    /"',
        'dpkg-query -W "$p" | grep -q "install ok installed" || missing+=("$p")',
        "kubectl get pods | grep -qE '^web'",
        "go version | sed -n '1p;q'",
        "ls | sed 1q",
        "ps | awk '/etcd/ {print $1; exit}'",
        "grep --quiet x file | cat; cmd | grep -m1 y",
    ],
)
def test_early_exit_readers_are_recognised(line: str) -> None:
    assert early_exits(line), line


@pytest.mark.parametrize(
    "line",
    [
        "\"$TOOLS/etcd\" --version | sed -n '1s/^/    /p'",
        '[ "$(dpkg-query -W -f=\'${Status}\' "$p")" = "install ok installed" ]',
        "sha256sum file | cut -c1-12",
        "grep -q x file",
        "cmd | grep -c pattern",
        "# `etcd --version | head -n1` was the trap",
        "cmd | sed 's/^/    /'",
    ],
)
def test_readers_that_read_to_the_end_pass(line: str) -> None:
    assert not early_exits(line), line


def test_no_shell_source_pipes_into_an_early_exit_reader() -> None:
    sources = shell_sources()
    assert any(p.name == "setup.sh" for p in sources), "the shell sources were not found"
    offending = [
        f"{path.relative_to(ROOT)}:{number}: {line}"
        for path in sources
        for number, line in early_exits(path.read_text(errors="replace"))
    ]
    assert not offending, "pipes that fail with SIGPIPE under pipefail:\n" + "\n".join(offending)
