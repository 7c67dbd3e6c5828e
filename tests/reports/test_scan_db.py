"""`cryptoscope scan --db` records the scan as a run that the reports read back (real peer on loopback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.store import Store
from inspector.cli import main
from inspector.lab import pki
from inspector.lab.tls_servers import PlainHTTPServer, PyOpenSSLServer

pytestmark = pytest.mark.timeout(120)


def test_scan_records_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = pki.make_ca()
    pem = pki.write_pem_files(
        tmp_path / "pki", "srv", pki.make_leaf(root, common_name="localhost"), (), root
    )
    db = tmp_path / "scans.db"
    with (
        PyOpenSSLServer(pem, min_version="TLSv1.2", max_version="TLSv1.2") as tls,
        PlainHTTPServer() as http,
    ):
        argv = [
            "scan",
            f"127.0.0.1:{tls.port}",
            f"127.0.0.1:{http.port}",
            "--ca-file",
            str(pem.ca),
            "--json",
        ]
        assert main([*argv, "--db", str(db)]) == 0
        scanned = json.loads(capsys.readouterr().out)["endpoints"]
        assert main([*argv, "--no-db", "--db", str(tmp_path / "unused.db")]) == 0
    assert not (tmp_path / "unused.db").exists()
    with Store.open(db, readonly=True) as store:
        run = next(store.db.query("SELECT * FROM runs"))
        assert (run["agent_id"], run["mode"], run["status"], run["endpoint_count"]) == (
            "cli",
            "local",
            "ok",
            2,
        )
        suites = {r["suite"] for r in store.db.query("SELECT suite FROM current_accepted_suites")}
        assert suites == set(scanned[0]["protocols"]["TLSv1.2"]["suites"]) and suites
        rules = {r["rule_id"] for r in store.db.query("SELECT rule_id FROM current_findings")}
    assert {"P5", "P7"} <= rules  # no TLS 1.3 on the TLS peer; plaintext HTTP on the other
    assert (
        main(
            ["report", "inventory", "--db", str(db), "--section", "certificates", "--format", "csv"]
        )
        == 0
    )
    assert "CN=localhost" in capsys.readouterr().out


def test_unwritable_database_explicit_fails_default_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = tmp_path / "notes.db"
    foreign.write_text("not a database\n" * 100)
    with PlainHTTPServer() as http:
        target = f"127.0.0.1:{http.port}"
        assert main(["scan", target, "--json", "--db", str(foreign)]) == 2
        captured = capsys.readouterr()
        assert json.loads(captured.out)["endpoints"]  # the scan itself was printed
        assert "not recorded" in captured.err and "not a SQLite database" in captured.err
        monkeypatch.setenv("CRYPTOSCOPE_DB", str(foreign))  # the default location
        assert main(["scan", target, "--json"]) == 0
        assert "warning: scan done, but not recorded" in capsys.readouterr().err
    assert foreign.read_text() == "not a database\n" * 100
