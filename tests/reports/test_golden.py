"""Reports on a generated fixture database match the reviewed golden files.

Regenerate after an intended change with ``CRYPTOSCOPE_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest

from inspector.cli import main

from .conftest import AS_OF

GOLDEN = Path(__file__).with_name("golden")


def normalise(text: str) -> str:
    """Versions change with every release and migration; the facts around them must not."""
    text = re.sub(r"cryptoscope \d+\.\d+\.\d+[\w.+-]*", "cryptoscope VERSION", text)
    return re.sub(r"(schema_version\W+)\d+", r"\g<1>N", text)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    text = normalise(text)
    if os.environ.get("CRYPTOSCOPE_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with CRYPTOSCOPE_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "argv"),
    [
        ("inventory.md", ["report", "inventory"]),
        ("inventory.json", ["report", "inventory", "--format", "json"]),
        ("findings.md", ["report", "findings"]),
        (
            "findings-resolved.json",
            ["report", "findings", "--include-resolved", "--format", "json"],
        ),
        (
            "findings-high.md",
            ["report", "findings", "--min-severity", "high", "--section", "by_requirement"],
        ),
        ("diff.md", ["diff", "1", "2"]),
    ],
)
def test_report_matches_golden(
    fixture_db: Path, capsys: pytest.CaptureFixture[str], name: str, argv: list[str]
) -> None:
    extra = ["--as-of", AS_OF] if argv[0] == "report" else []
    check_golden(name, run_cli(capsys, *argv, "--db", str(fixture_db), *extra))


def test_reports_are_deterministic(fixture_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["report", "findings", "--db", str(fixture_db), "--as-of", AS_OF, "--format", "json"]
    assert run_cli(capsys, *argv) == run_cli(capsys, *argv)


def test_csv_writes_one_file_per_section(
    fixture_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "csv"
    assert (
        main(
            [
                "report",
                "inventory",
                "--db",
                str(fixture_db),
                "--as-of",
                AS_OF,
                "--format",
                "csv",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    files = sorted(path.name for path in out.iterdir())
    assert files == sorted(
        f"{name}.csv"
        for name in (
            "protocols",
            "cipher_suites",
            "cipher_suites_where_used",
            "key_exchange_groups",
            "certificates",
        )
    )
    document = json.loads(
        run_cli(
            capsys,
            "report",
            "inventory",
            "--db",
            str(fixture_db),
            "--as-of",
            AS_OF,
            "--format",
            "json",
        )
    )
    with (out / "certificates.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(document["sections"]["certificates"]["rows"]) > 0
    assert {row["role"] for row in rows} >= {"leaf", "intermediate", "root"}


def test_inventory_agrees_with_the_raw_tables(
    fixture_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 12.3.3 suite counts equal an independent count over the evidence tables."""
    import sqlite3

    document = json.loads(
        run_cli(
            capsys,
            "report",
            "inventory",
            "--db",
            str(fixture_db),
            "--as-of",
            AS_OF,
            "--format",
            "json",
        )
    )
    conn = sqlite3.connect(fixture_db)
    expected = {
        (protocol, suite): count
        for protocol, suite, count in conn.execute(
            "SELECT a.protocol, a.suite, count(*) FROM endpoints e JOIN accepted_suites a"
            " ON a.endpoint_scan_id = (SELECT max(s.id) FROM endpoint_scans s WHERE s.endpoint_id = e.id)"
            " GROUP BY 1, 2"
        )
    }
    conn.close()
    got = {
        (row["protocol"], row["suite"]): row["endpoints"]
        for row in document["sections"]["cipher_suites"]["rows"]
    }
    assert got == expected
