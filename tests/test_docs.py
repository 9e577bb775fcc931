"""The README and docs/ stay true: every relative link resolves (file, and heading when it names one), and every
`aurora` command in the README's command table exists (`aurora COMMAND [SUBCOMMAND] --help` exits 0)."""

from __future__ import annotations

import contextlib
import io
import re
import tomllib
from pathlib import Path

import pytest

from services.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def links(page: Path) -> list[str]:
    """The relative links of a Markdown page, outside code blocks."""
    text = FENCE.sub("", page.read_text())
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", page.read_text()), re.M):
        base, n = slug(heading), 0
        while (name := base if n == 0 else f"{base}-{n}") in found:
            n += 1
        found.add(name)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no {resolved}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert broken == [], f"{page.name}: " + "; ".join(broken)


def test_the_link_check_finds_a_broken_link_and_a_missing_heading(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n## Soak: `aurora soak`\n[ok](#soak-aurora-soak) [gone](nowhere.md) [bad](#nope)\n")
    assert links(page) == ["#soak-aurora-soak", "nowhere.md", "#nope"]
    assert anchors(page) == {"a-page", "soak-aurora-soak"}


def table_commands() -> list[list[str]]:
    """`aurora` commands of the README's command table, each with its subcommands (`keys server`, `bench canvas`)."""
    section = README.read_text().split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for line in section.splitlines():
        if not line.startswith("aurora "):
            continue
        words = line.split("#", 1)[0].split(None, 2)
        rest = re.split(r"\s*[\[-]", words[2], maxsplit=1)[0] if len(words) > 2 else ""
        subs = [alt.split()[0] for alt in rest.split("|") if alt.split() and alt.split()[0].islower()]
        commands += [[words[1], sub] for sub in subs] or [[words[1]]]
    return commands


def help_exit(argv: list[str]) -> int:
    """What `aurora ARGV --help` exits with (the console script is services.cli:main)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return main([*argv, "--help"])
    except SystemExit as exc:
        return exc.code or 0


def test_the_readme_command_table_is_read_whole():
    commands = table_commands()
    assert len(commands) >= 30
    for expected in (["up"], ["keys", "setup"], ["health", "agent"], ["bench", "gateway"], ["ops", "check"],
                     ["soak"], ["chaos"], ["serve"], ["models"]):
        assert expected in commands


def test_every_command_in_the_readme_exists():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["aurora"] == "services.cli:main"
    missing = [" ".join(argv) for argv in table_commands() if help_exit(argv) != 0]
    assert missing == [], f"not aurora commands: {missing}"


def test_a_command_that_does_not_exist_is_found_out():
    assert help_exit(["nonesuch"]) != 0
    assert help_exit(["bench", "nonesuch"]) != 0
