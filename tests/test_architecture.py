"""The dependency rules of the code base, enforced by import-linter."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    completed = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Contracts: 2 kept, 0 broken" in completed.stdout or "0 broken" in completed.stdout


def test_cli_lists_its_commands() -> None:
    from inspector.cli import build_parser

    help_text = build_parser().format_help()
    assert "cryptoscope" in help_text
