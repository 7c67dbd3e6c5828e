"""`cryptoscope waiver`: add, list, remove, import (YAML), and a malformed file changes nothing."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from agent.store import Store
from inspector.cli import main


@pytest.fixture
def db(fixture_db: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.db"
    shutil.copy(fixture_db, copy)
    return copy


def waived_count(db: Path, rule_id: str = "Q1") -> int:
    with Store.open(db, readonly=True) as store:
        sql = "SELECT count(*) FROM findings WHERE waived = 1 AND rule_id = ?"
        return int(store.db.execute(sql, [rule_id]).fetchone()[0])


def add_waiver(
    db: Path,
    *,
    expires: str,
    rule: str = "Q1",
    subject: str = "payments/*",
    reason: str = "PQ rollout planned for 2027",
    approver: str = "ciso@example.com",
) -> int:
    """`cryptoscope waiver add` with these fields; its exit code."""
    return main(
        [
            *("waiver", "add", "--db", str(db), "--rule", rule, "--subject", subject),
            *("--reason", reason, "--approver", approver, "--expires", expires),
        ]
    )


def test_add_list_remove(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = waived_count(db)
    assert add_waiver(db, expires="2099-01-01") == 2  # more than a year ahead
    assert "reviewed yearly" in capsys.readouterr().err
    from datetime import UTC, datetime, timedelta

    expires = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    assert add_waiver(db, expires=expires) == 0
    added = capsys.readouterr().out
    assert before == 0
    assert added.startswith("waiver ") and waived_count(db) > 0
    waiver_id = added.split()[1]
    assert main(["waiver", "list", "--db", str(db)]) == 0
    assert "payments/*" in capsys.readouterr().out
    assert main(["waiver", "remove", "--db", str(db), waiver_id]) == 0
    capsys.readouterr()
    assert waived_count(db) == 0
    assert main(["waiver", "list", "--db", str(db), "--all"]) == 0
    assert "removed" in capsys.readouterr().out


def test_unknown_rule_is_refused(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        add_waiver(db, rule="Z9", subject="*", reason="r", approver="a", expires="2099-12-31") == 2
    )
    assert "unknown rule" in capsys.readouterr().err


def test_import_yaml(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime, timedelta

    expires = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    path = tmp_path / "waivers.yaml"
    path.write_text(
        "waivers:\n"
        f"  - {{rule: C6, subject: 'ledger/*', reason: HSM client, approver: ciso@example.com, expires: {expires}}}\n"
        f"  - {{rule: P7, subject: '*@*:9090', reason: metrics only, approver: qsa@example.com, expires: {expires}}}\n"
    )
    assert main(["waiver", "import", "--db", str(db), str(path)]) == 0
    assert "2 waiver(s) added" in capsys.readouterr().out
    assert main(["waiver", "import", "--db", str(db), str(path)]) == 0
    assert "0 waiver(s) added, 2 already present" in capsys.readouterr().out
    with Store.open(db, readonly=True) as store:
        sources = {row["source"] for row in store.waivers()}
    assert "file:waivers.yaml" in sources


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("waivers: [oops", "not valid YAML"),
        ("- just a list\n", "expected a mapping"),
        (
            "waivers:\n  - {rule: C6, subject: '*', reason: r, approver: a, expires: 2020-01-01}\n",
            "not in the future",
        ),
        (
            "waivers:\n  - {rule: C6, subject: '*', reason: '', approver: a, expires: 2099-12-31}\n",
            "reason",
        ),
        (
            "waivers:\n  - {rule: C6, subjekt: '*', reason: r, approver: a, expires: 2099-12-31}\n",
            "unknown keys",
        ),
        (
            "waivers:\n  - {rule: C6, subject: '*', reason: r, approver: a, expires: soon}\n",
            "expires",
        ),
    ],
)
def test_malformed_file_changes_nothing(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    from datetime import UTC, datetime, timedelta

    good = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
    path = tmp_path / "waivers.yaml"
    # a valid entry first: it must not be stored either
    if content.startswith("waivers:\n"):
        content = content.replace(
            "waivers:\n",
            f"waivers:\n  - {{rule: P7, subject: '*', reason: ok, approver: a, expires: {good}}}\n",
        )
    path.write_text(content)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    assert main(["waiver", "import", "--db", str(db), str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "waivers.yaml" in err
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
