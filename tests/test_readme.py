"""The README documents the product as it is: every command and option, the current rule table, real files."""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from inspector.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _tables_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "readme_tables", ROOT / "scripts" / "readme_tables.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("readme_tables", module)
    spec.loader.exec_module(module)
    return module


def _commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    return [
        (words, parser) for words, parser in _tables_script().walk_commands(build_parser()) if words
    ]


def _option_strings() -> list[tuple[str, str]]:
    found = []
    for words, parser in _tables_script().walk_commands(build_parser()):  # the root's options too
        for action in parser._actions:  # noqa: SLF001
            if isinstance(action, argparse._HelpAction):  # noqa: SLF001
                continue
            for option in action.option_strings:
                found.append((" ".join(words), option))
    return found


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text()


def test_the_cli_has_subcommands_to_document() -> None:
    names = {words[0] for words, _ in _commands()}
    assert "demo" in names  # the walk sees the discovered subcommands


@pytest.mark.parametrize("words", [" ".join(words) for words, _ in _commands()])
def test_every_subcommand_is_named_in_the_readme(readme: str, words: str) -> None:
    assert f"cryptoscope {words}" in readme, f"README.md never names `cryptoscope {words}`"


@pytest.mark.parametrize(("command", "option"), _option_strings())
def test_every_option_is_named_in_the_readme(readme: str, command: str, option: str) -> None:
    # Named literally, as a whole word (``--db`` must not be satisfied by ``--dbx``).
    pattern = re.compile(re.escape(option) + r"(?![\w-])")
    assert pattern.search(readme), f"README.md never names {option} of `cryptoscope {command}`"


def test_generated_sections_are_current(readme: str) -> None:
    stale = _tables_script().stale_sections(readme)
    assert not stale, (
        f"README.md is out of date ({', '.join(stale)}): run python scripts/readme_tables.py"
    )


def test_the_rules_table_lists_every_rule_with_its_requirement(readme: str) -> None:
    from agent.rules import RULES

    table = _tables_script().current(readme, "rules-table")
    for rule in RULES.values():
        row = next(
            (line for line in table.splitlines() if line.startswith(f"| `{rule.id}` |")), None
        )
        assert row is not None, f"rule {rule.id} missing from the README's PCI DSS table"
        for requirement in rule.requirements:
            assert requirement in row


def test_local_links_and_pictures_exist(readme: str) -> None:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [
        target for target in targets if "://" not in target and not target.startswith("mailto:")
    ]
    assert local, "the README links no local file (docs, the TUI picture)"
    missing = [target for target in local if not (ROOT / target).exists()]
    assert not missing, f"README.md links files that do not exist: {missing}"


def test_no_placeholders_left(readme: str) -> None:
    leftovers = re.findall(r"\b[A-Z][A-Z_]{6,}_(?:SECTION|TABLE|PATH)\b", readme)
    assert not leftovers, f"unfinished README sections: {leftovers}"
