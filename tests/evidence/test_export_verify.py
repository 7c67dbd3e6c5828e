"""export / verify / keygen: signed snapshots, tampering detected, taken while an agent writes."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.evidence import MANIFEST_NAME, SIGNATURE_NAME, SNAPSHOT_NAME
from inspector.lab.synthetic import generate


@pytest.fixture(scope="module")
def source_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("evidence") / "source.db"
    generate(path, endpoints=40, runs=2, seed=5)
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    prefix = tmp_path_factory.mktemp("keys") / "signing"
    assert main(["keygen", "--out", str(prefix)]) == 0
    return prefix.with_suffix(".key"), prefix.with_suffix(".pub")


@pytest.fixture
def snapshot(source_db: Path, keys: tuple[Path, Path], tmp_path: Path) -> Path:
    out = tmp_path / "snapshot"
    assert (
        main(["export", "--db", str(source_db), "--out", str(out), "--sign-key", str(keys[0])]) == 0
    )
    return out


def verify(
    directory: Path, public_key: Path | None, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    argv = ["verify", str(directory)] + (["--public-key", str(public_key)] if public_key else [])
    code = main(argv)
    return code, capsys.readouterr().out


def test_keygen_writes_a_private_key_only_the_owner_can_read(keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes() and b"PUBLIC KEY" in public.read_bytes()
    assert main(["keygen", "--out", str(private.with_suffix(""))]) == 2  # never overwrites


def test_signed_snapshot_verifies(
    snapshot: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code, out = verify(snapshot, keys[1], capsys)
    assert code == 0, out
    for name in ("manifest", "signature", "database hash", "integrity", "schema", "row counts"):
        assert any(line.startswith("PASS") and name in line for line in out.splitlines()), (
            name,
            out,
        )


def test_manifest_describes_the_snapshot(snapshot: Path, source_db: Path) -> None:
    manifest = json.loads((snapshot / MANIFEST_NAME).read_text())
    conn = sqlite3.connect(snapshot / SNAPSHOT_NAME)
    assert (
        manifest["row_counts"]["endpoints"]
        == conn.execute("SELECT count(*) FROM endpoints").fetchone()[0]
        == 40
    )
    assert manifest["runs"] == {
        "count": 2,
        "from": "2026-02-28T08:50:00Z",
        "to": "2026-03-01T08:58:00Z",
    }
    assert manifest["scope"]["agents"][0]["agent_id"] == "synthetic"
    assert manifest["signature"]["algorithm"] == "Ed25519"
    assert manifest["tool"]["name"] == "cryptoscope"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
    assert str(source_db.parent) not in (snapshot / MANIFEST_NAME).read_text()  # no machine paths


def test_snapshot_opens_in_plain_sqlite3_with_readable_names(snapshot: Path) -> None:
    sqlite3_cli = shutil.which("sqlite3")
    if sqlite3_cli is None:
        conn = sqlite3.connect(f"{(snapshot / SNAPSHOT_NAME).as_uri()}?mode=ro", uri=True)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        conn.close()
    else:
        result = subprocess.run(
            [sqlite3_cli, "-readonly", str(snapshot / SNAPSHOT_NAME), ".tables"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        tables = set(result.stdout.split())
    assert {
        "runs",
        "endpoints",
        "accepted_suites",
        "certificates",
        "findings",
        "waivers",
        "current_endpoints",
        "current_findings",
        "iana_cipher_suites",
    } <= tables


@pytest.mark.parametrize("target", [SNAPSHOT_NAME, MANIFEST_NAME])
@pytest.mark.parametrize("where", [0.1, 0.5, 0.97])
def test_one_flipped_byte_fails_verify(
    snapshot: Path,
    keys: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    target: str,
    where: float,
) -> None:
    path = snapshot / target
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0x01
    path.write_bytes(bytes(data))
    code, out = verify(snapshot, keys[1], capsys)
    assert code == 1, out
    assert "verify: FAILED" in out
    expected = "database hash" if target == SNAPSHOT_NAME else "signature"
    assert any(line.startswith("FAIL") and expected in line for line in out.splitlines()), out


def test_wrong_public_key_fails(
    snapshot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--out", str(tmp_path / "other")]) == 0
    capsys.readouterr()
    code, out = verify(snapshot, tmp_path / "other.pub", capsys)
    assert code == 1 and "FAIL    signature" in out


def test_missing_signature_fails_when_a_key_is_given(
    snapshot: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (snapshot / SIGNATURE_NAME).unlink()
    code, out = verify(snapshot, keys[1], capsys)
    assert code == 1 and "missing" in out
    code, out = verify(snapshot, None, capsys)
    assert code == 0 and "SKIPPED signature" in out


def test_export_refuses_to_overwrite_and_bad_keys(
    snapshot: Path, source_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (snapshot / MANIFEST_NAME).read_bytes()
    assert main(["export", "--db", str(source_db), "--out", str(snapshot)]) == 2
    assert "already holds a snapshot" in capsys.readouterr().err
    assert (snapshot / MANIFEST_NAME).read_bytes() == before
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = tmp_path / "ec.key"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    out = tmp_path / "new"
    assert (
        main(["export", "--db", str(source_db), "--out", str(out), "--sign-key", str(ec_key)]) == 2
    )
    assert "Ed25519" in capsys.readouterr().err
    assert not out.exists()


def test_export_while_an_agent_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.store import Store
    from tests.store.conftest import identity, tls_scan

    db = tmp_path / "live.db"
    with Store.open(db) as store:
        run_id = store.begin_run(agent_id="seed", mode="daemonset")
        store.record_endpoint_scan(run_id, identity(), tls_scan())
        store.finish_run(run_id)
    writer_script = Path(__file__).parents[1] / "store" / "writer_process.py"
    writer = subprocess.Popen(
        [sys.executable, str(writer_script), str(db), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        for _ in range(2):
            assert writer.stdout.readline().startswith("batch")
        for index in range(3):
            out = tmp_path / f"snap{index}"
            assert main(["export", "--db", str(db), "--out", str(out)]) == 0
            capsys.readouterr()
            code, text = verify(out, None, capsys)
            assert code == 0, text
            conn = sqlite3.connect(out / SNAPSHOT_NAME)
            # consistent: every recorded scan's findings are there, each finished run's counts add up
            for run_id, count, status in conn.execute(
                "SELECT id, endpoint_count, status FROM runs"
            ):
                actual = conn.execute(
                    "SELECT count(*) FROM endpoint_scans WHERE run_id = ?", [run_id]
                ).fetchone()[0]
                assert status == "running" or actual == count
            assert conn.execute("SELECT count(*) FROM endpoint_scans").fetchone()[0] % 50 == 1
            conn.close()
            # and the reports read the live database at the same time
            assert main(["report", "findings", "--db", str(db), "--section", "by_requirement"]) == 0
            assert "locked" not in capsys.readouterr().err
        assert writer.poll() is None  # still writing the whole time
    finally:
        writer.kill()
        writer.wait(timeout=30)
