"""A real writer process next to readers, and a writer killed with SIGKILL mid-run."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from agent.store import Store

from .conftest import identity, tls_scan

WRITER = Path(__file__).with_name("writer_process.py")


def start_writer(db_path: Path, batches: int, pause: float = 0.0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(db_path), str(batches), str(pause)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_batches(process: subprocess.Popen[str], count: int) -> None:
    assert process.stdout is not None
    for _ in range(count):
        line = process.stdout.readline()
        assert line.startswith("batch"), (line, process.stderr.read() if process.stderr else "")


def test_reader_and_writer_at_once_never_see_locked(db_path: Path) -> None:
    with Store.open(db_path) as store:  # schema exists before both start
        run_id = store.begin_run(agent_id="seed", mode="daemonset")
        store.record_endpoint_scan(run_id, identity(), tls_scan())
        store.finish_run(run_id)
    writer = start_writer(db_path, batches=40, pause=0.02)
    try:
        wait_for_batches(writer, 1)
        seen_counts = set()
        reads = 0
        while writer.poll() is None or reads < 5:
            with Store.open(db_path, readonly=True) as reader:
                seen_counts.add(
                    reader.db.execute("SELECT count(*) FROM current_endpoints").fetchone()[0]
                )
                reader.db.execute(
                    "SELECT protocol, suite, count(*) FROM current_accepted_suites GROUP BY 1, 2"
                ).fetchall()
                list(reader.db.query("SELECT status, count(*) FROM current_findings GROUP BY 1"))
            reads += 1
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        assert "locked" not in err
        assert len(seen_counts) > 1  # the reader really read while the writer wrote
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    with Store.open(db_path, readonly=True) as reader:
        assert (
            reader.db.execute("SELECT count(*) FROM current_endpoints").fetchone()[0] == 1 + 40 * 50
        )


def test_sigkill_mid_run_leaves_earlier_runs_intact(db_path: Path) -> None:
    complete = start_writer(db_path, batches=3)
    out, err = complete.communicate(timeout=120)
    assert complete.returncode == 0, err
    with Store.open(db_path, readonly=True) as before:
        earlier = before.db.execute("SELECT * FROM runs").fetchall()
        earlier_scans = before.db.execute("SELECT count(*) FROM endpoint_scans").fetchone()[0]
        earlier_findings = before.db.execute("SELECT count(*) FROM finding_sightings").fetchone()[0]
    victim = start_writer(db_path, batches=0)
    try:
        wait_for_batches(victim, 3)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    assert victim.returncode == -signal.SIGKILL
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    runs = conn.execute("SELECT * FROM runs ORDER BY id").fetchall()
    assert runs[: len(earlier)] == earlier
    killed_status = conn.execute("SELECT status FROM runs WHERE id = ?", [runs[-1][0]]).fetchone()[
        0
    ]
    assert len(runs) == len(earlier) + 1 and killed_status == "running"  # never finished
    first_run = earlier[0][0]
    assert conn.execute(
        "SELECT count(*) FROM endpoint_scans WHERE run_id = ?", [first_run]
    ).fetchone()[0] == (earlier_scans)
    assert conn.execute(
        "SELECT count(*) FROM finding_sightings WHERE run_id = ?", [first_run]
    ).fetchone()[0] == (earlier_findings)
    conn.close()
    with Store.open(db_path) as store:  # the next agent start marks it and carries on
        assert store.mark_interrupted("writer") == 1
