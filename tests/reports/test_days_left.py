"""Days left until an expiry: one rule (floor of the remaining UTC time) in every report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.secrets.inspector import SecretsCycleResult
from agent.secrets.model import ObjectType, VaultObjectFacts, VersionFacts
from agent.secrets.records import record_secrets
from agent.store import EndpointIdentity, Store, utc_text
from agent.tls.model import CertificateInfo, EndpointScan, ProtocolResult, Transport
from inspector.cli import main
from inspector.reports.common import days_left

EXPIRY = datetime(2026, 6, 30, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        (EXPIRY - 30 * DAY, 30),
        (EXPIRY - DAY - SECOND, 1),
        (EXPIRY - DAY, 1),
        (EXPIRY - DAY + SECOND, 0),
        (EXPIRY - SECOND, 0),  # 1 s before expiry: the expiry day, still valid
        (EXPIRY, 0),  # exactly at notAfter: still valid (validity includes it)
        (EXPIRY + SECOND, -1),  # 1 s after: expired
        (EXPIRY + DAY, -1),
        (EXPIRY + DAY + SECOND, -2),
        (EXPIRY + 10 * DAY, -10),
    ],
)
def test_boundaries(as_of: datetime, expected: int) -> None:
    assert days_left(EXPIRY, as_of) == expected


def test_elapsed_time_not_calendar_dates() -> None:
    """An hour across UTC midnight is 0 days; 23:59:59 across is still 0; whole days count from the moment."""
    midnight = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    assert days_left(midnight + timedelta(minutes=30), midnight - timedelta(minutes=30)) == 0
    assert days_left(midnight + timedelta(hours=23, minutes=59, seconds=59), midnight) == 0
    assert days_left(midnight + DAY, midnight) == 1
    assert days_left(midnight - timedelta(minutes=30), midnight + timedelta(minutes=30)) == -1


@pytest.mark.parametrize(
    "start",
    # last Sundays of March and October: European clocks change, UTC does not
    [datetime(2026, 3, 28, 12, tzinfo=UTC), datetime(2026, 10, 24, 12, tzinfo=UTC)],
)
def test_no_short_or_long_days_around_dst_changes(start: datetime) -> None:
    for hours in range(0, 24 * 4):
        moment = start + timedelta(hours=hours)
        assert days_left(start + 3 * DAY, moment) == (72 - hours) // 24


def test_an_aware_time_in_another_zone_counts_the_same() -> None:
    from zoneinfo import ZoneInfo

    local = (EXPIRY + SECOND).astimezone(ZoneInfo("Europe/Berlin"))
    assert days_left(EXPIRY, local) == -1


def _certificate(not_after: datetime) -> CertificateInfo:
    return CertificateInfo(
        sha256="ab" * 32,
        sha1="cd" * 20,
        subject="CN=pay.example",
        issuer="CN=pay.example",
        serial="01",
        not_before=not_after - 90 * DAY,
        not_after=not_after,
        key_type="RSA",
        key_bits=2048,
        signature_algorithm="sha256WithRSAEncryption",
        signature_hash="sha256",
        self_signed=True,
    )


def _database(path: Path, expiry: datetime, seen: datetime) -> None:
    """One endpoint presenting a certificate and one Key Vault certificate, both expiring at `expiry`."""
    with Store.open(path) as store:
        run_id = store.begin_run(agent_id="a", mode="daemonset", started_at=seen)
        store.record_endpoint_scan(
            run_id,
            EndpointIdentity(ip="10.0.0.7", port=443, namespace="shop", workload_name="pay"),
            EndpointScan(
                "10.0.0.7",
                443,
                Transport.TLS,
                protocols={"TLSv1.3": ProtocolResult(True, ("TLS_AES_128_GCM_SHA256",))},
                certificates=(_certificate(expiry),),
                started_at=seen,
            ),
        )
        vault_object = VaultObjectFacts(
            vault_name="kv-shop",
            vault_url="https://kv-shop.vault.azure.net",
            object_type=ObjectType.CERT,
            object_name="pay-tls",
            versions=(VersionFacts("v1", True, created_on=expiry - 90 * DAY, expires_on=expiry),),
            fetched_at=seen,
        )
        record_secrets(store, run_id, SecretsCycleResult(seen, vault_objects=(vault_object,)))
        store.finish_run(run_id, finished_at=seen)


def _report(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(list(argv)) == 0
    document = json.loads(capsys.readouterr().out)
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(-DAY - SECOND, 1), (-SECOND, 0), (timedelta(0), 0), (SECOND, -1), (DAY + SECOND, -2)],
)
def test_inventory_and_keys_agree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], offset: timedelta, expected: int
) -> None:
    """The same expiry shows the same days left in `report inventory` and `report keys`."""
    db = tmp_path / "evidence.db"
    _database(db, EXPIRY, EXPIRY - 200 * DAY)
    as_of = utc_text(EXPIRY + offset)
    common = ("--db", str(db), "--as-of", as_of, "--format", "json")
    inventory = _report(capsys, "report", "inventory", *common, "--section", "certificates")
    keys = _report(capsys, "report", "keys", *common, "--section", "vault_objects")
    [certificate] = inventory["sections"]["certificates"]["rows"]  # type: ignore[index]
    [vault_object] = keys["sections"]["vault_objects"]["rows"]  # type: ignore[index]
    assert certificate["not_after"] == vault_object["latest_expires"] == utc_text(EXPIRY)
    assert certificate["days_left"] == vault_object["days_to_expiry"] == expected
