"""The README cannot drift: its config-key table is the generated one, and its two
commands are the ones CI runs."""

from __future__ import annotations

import re

from infra.config.docs import MARKERS, render
from tests.unit.harness import ROOT

README = (ROOT / "README.md").read_text()


def test_config_key_table_matches_the_models() -> None:
    match = MARKERS.search(README)
    assert match, "README lacks the config-keys markers"
    assert match.group(2) == render(), "README key table is stale: run `make docs`"


def test_every_config_key_is_documented() -> None:
    table = render()
    for key in ("paif:app.replicas", "paif:vsphere.gpuClass", "paif:database.extensions", "paif:vcenterPassword"):
        assert f"`{key}`" in table


def test_ci_runs_exactly_the_readme_commands() -> None:
    commands = re.search(r"## Two commands\n\n```bash\n(.*?)```", README, re.S)
    assert commands
    readme_commands = [line.split("#")[0].strip() for line in commands.group(1).splitlines() if line.strip()]
    ci = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))
    ]
    assert ci == readme_commands == ["make setup", "make test"]


def test_every_document_the_code_points_to_is_in_the_repo() -> None:
    """Comments cite documents by path (docs/REFERENCE-VCF.md, README.md, ...): each exists here."""
    cited: dict[str, list[str]] = {}
    for path in ROOT.rglob("*"):
        if path.suffix not in (".py", ".sh", ".yaml", ".yml", ".md") or not path.is_file():
            continue
        parts = path.relative_to(ROOT).parts
        # docs/ holds the reference documents themselves (they cite upstream files by URL path).
        if parts[0] == "docs" or any(part.startswith(".") for part in parts):
            continue
        for name in re.findall(r"(?<![\w./-])((?:[\w-]+/)*[A-Z][A-Z-]+\.md)\b", path.read_text(errors="replace")):
            cited.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert "docs/REFERENCE-VCF.md" in cited
    missing = {name: files[:3] for name, files in cited.items() if not (ROOT / name).exists()}
    assert missing == {}


def test_no_config_key_has_a_blank_description() -> None:
    blank = [
        row.split("|")[1].strip()
        for row in render().splitlines()
        if row.startswith("| `") and not row.split("|")[-2].strip()
    ]
    assert blank == []
