"""The `tui` subcommand's options and errors, and docs/tui.md covering every key, view and option."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from inspector.cli import build_parser, main
from inspector.tui.keys import APP_BINDINGS, DETAIL_BINDINGS, RUNS_BINDINGS, TABLE_BINDINGS
from inspector.tui.screens.dialogs import VIEW_NAMES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tui.md"


def tui_options() -> list[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    tui = subparsers.choices["tui"]  # type: ignore[index]
    return [
        option
        for action in tui._actions
        for option in action.option_strings
        if option.startswith("--")
    ]


def test_every_option_is_documented() -> None:
    text = DOCS.read_text()
    for option in tui_options():
        if option == "--help":
            continue
        assert f"`{option}" in text, option


def test_every_key_and_view_is_documented() -> None:
    text = DOCS.read_text()
    for binding in [*APP_BINDINGS, *TABLE_BINDINGS, *RUNS_BINDINGS, *DETAIL_BINDINGS]:
        shown = binding.key_display or binding.key
        assert re.search(rf"`{re.escape(shown)}`", text), shown
    for view in VIEW_NAMES:
        if view != "quit":
            assert f":{view}" in text, view


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--save-dir", "/nonexistent/dir"], "is not a directory"),
        (["--refresh", "-1"], "--refresh must be >= 0"),
        (["--theme", "no-such-theme"], "unknown theme"),
        (["--stale-after", "0"], "--stale-after must be > 0"),
    ],
)
def test_bad_options_exit_2_with_a_reason(
    tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tui", str(tmp_path / "x.db"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_help_names_the_views() -> None:
    help_text = build_parser().format_help()
    assert "tui" in help_text
