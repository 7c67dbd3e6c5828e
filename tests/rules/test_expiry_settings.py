"""Certificate expiry thresholds are agent settings: config -> runner -> rule K6, and `scan --db`."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.config import SETTINGS_BY_NAME, SettingsError, load_settings
from agent.rules import RuleSettings
from agent.runner import Agent
from agent.store import Store
from inspector.cli import main
from inspector.lab import pki
from inspector.lab.tls_servers import PyOpenSSLServer, closed_port

pytestmark = pytest.mark.timeout(180)


def test_settings_have_the_reference_defaults_and_names() -> None:
    settings = load_settings({}, environ={})
    assert (settings.cert_expiry_warn_days, settings.cert_expiry_critical_days) == (28, 14)
    assert RuleSettings.from_agent_settings(settings) == RuleSettings()
    assert SETTINGS_BY_NAME["cert_expiry_warn_days"].env == "CRYPTOSCOPE_CERT_EXPIRY_WARN_DAYS"
    assert SETTINGS_BY_NAME["cert_expiry_critical_days"].flag == "--cert-expiry-critical-days"
    chosen = load_settings(
        {"cert_expiry_critical_days": "3"}, environ={"CRYPTOSCOPE_CERT_EXPIRY_WARN_DAYS": "60"}
    )
    assert RuleSettings.from_agent_settings(chosen) == RuleSettings(60, 3)


@pytest.mark.parametrize(
    ("environ", "reason"),
    [
        ({"CRYPTOSCOPE_CERT_EXPIRY_WARN_DAYS": "0"}, "must be > 0"),
        ({"CRYPTOSCOPE_CERT_EXPIRY_WARN_DAYS": "two weeks"}, "CRYPTOSCOPE_CERT_EXPIRY_WARN_DAYS"),
        ({"CRYPTOSCOPE_CERT_EXPIRY_WARN_DAYS": "10"}, "is more than --cert-expiry-warn-days 10"),
    ],
)
def test_bad_thresholds_are_refused_with_the_reason(environ: dict[str, str], reason: str) -> None:
    with pytest.raises(SettingsError, match=reason):
        load_settings({}, environ=environ)


def test_rule_settings_refuse_critical_above_warn() -> None:
    with pytest.raises(ValueError, match="exceed"):
        RuleSettings(expiry_warn_days=7, expiry_critical_days=14)


def _k6(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT severity, message FROM findings WHERE rule_id = 'K6' ORDER BY id"
        ).fetchall()


@pytest.fixture(scope="module")
def expiring_peer(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A real TLS server whose leaf expires in 40 days: outside the default 28, inside 45."""
    tmp = tmp_path_factory.mktemp("expiry")
    root = pki.make_ca()
    leaf = pki.make_leaf(root, not_after=datetime.now(UTC) + timedelta(days=40))
    pem = pki.write_pem_files(tmp, "srv", leaf, (), root)
    with PyOpenSSLServer(pem, min_version="TLSv1.2", max_version="TLSv1.3") as server:
        yield server, pem


def test_the_agent_judges_expiry_with_its_settings(expiring_peer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, pem = expiring_peer
    for name, environ, expected in (
        ("default.db", {}, []),
        ("warn45.db", {"CRYPTOSCOPE_CERT_EXPIRY_WARN_DAYS": "45"}, ["medium"]),
        (
            "critical41.db",
            {
                "CRYPTOSCOPE_CERT_EXPIRY_WARN_DAYS": "45",
                "CRYPTOSCOPE_CERT_EXPIRY_CRITICAL_DAYS": "41",
            },
            ["high"],
        ),
    ):
        settings = load_settings(
            {
                "mode": "cluster",
                "egress_targets": f"127.0.0.1:{server.port}/localhost",
                "ca_file": str(pem.ca),
                "agent_id": "expiry-test",
            },
            environ=environ,
        )
        db = tmp_path / name
        with Store.open(db) as store:
            report = Agent(settings, store=store, reader=None, inspectors=[]).run_cycle()
        assert report.status == "ok"
        found = _k6(db)
        assert [severity for severity, _ in found] == expected, (name, found)
        assert all("days left" in message for _, message in found)


def test_scan_records_with_the_thresholds_given(expiring_peer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, pem = expiring_peer
    db = tmp_path / "scan.db"
    argv = ["scan", f"127.0.0.1:{server.port}", "--ca-file", str(pem.ca), "--db", str(db)]
    assert main([*argv, "--cert-expiry-warn-days", "45"]) == 0
    assert [severity for severity, _ in _k6(db)] == ["medium"]
    with Store.open(db, readonly=True) as store:
        assert store.db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_scan_refuses_bad_thresholds_before_scanning(tmp_path: Path) -> None:
    db = tmp_path / "scan.db"
    port = closed_port()
    code = main(
        [
            "scan",
            f"127.0.0.1:{port}",
            "--db",
            str(db),
            "--cert-expiry-warn-days",
            "5",
            "--cert-expiry-critical-days",
            "9",
        ]
    )
    assert code == 2
    assert not db.exists()
