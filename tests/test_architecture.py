"""The dependency rules of the code base, enforced by import-linter."""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports") or str(
        Path(sys.executable).with_name("lint-imports")
    )
    completed = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Contracts: 2 kept, 0 broken" in completed.stdout or "0 broken" in completed.stdout


def test_cli_lists_its_commands() -> None:
    from inspector.cli import build_parser

    help_text = build_parser().format_help()
    assert "cryptoscope" in help_text


def test_a_command_imports_only_its_own_module() -> None:
    """`cryptoscope scan` and `--help` never pay for Kubernetes, Azure or Textual."""
    probe = (
        "import sys\n"
        "from inspector.cli import build_parser\n"
        "build_parser(only='scan')\n"
        "build_parser(only='')\n"
        "print(sorted(m for m in ('kubernetes', 'azure', 'textual', 'inspector.collect') if m in sys.modules))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def test_every_command_module_registers_its_command() -> None:
    from inspector.cli import build_parser, command_names

    subparsers = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    assert sorted(subparsers.choices) == command_names()
