"""Store benchmark: write and read back N endpoints with realistic suites and chains.

    python benchmarks/bench_store.py [--endpoints 100000] [--runs 2] [--dir DIR] [--vault-objects 10000]

Prints: endpoint scans written per second (store only, and with rule
evaluation), findings per second, database size, and the time of every
report query the inspector runs; then ``report keys`` over ``--vault-objects``
Key Vault objects (two observations, three versions each, written with the
secrets writer): its time and statement count, next to the former
one-lookup-per-object way of reading each latest version. Figures only;
nothing is asserted.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.rules import evaluate_endpoint  # noqa: E402
from agent.secrets.inspector import SecretsCycleResult  # noqa: E402
from agent.secrets.model import ObjectType, VaultObjectFacts, VersionFacts  # noqa: E402
from agent.secrets.records import record_secrets  # noqa: E402
from agent.store import Store  # noqa: E402
from inspector.evidence import export_snapshot, verify_snapshot  # noqa: E402
from inspector.lab import synthetic  # noqa: E402
from inspector.reports.diff import build_diff  # noqa: E402
from inspector.reports.findings import build_findings  # noqa: E402
from inspector.reports.inventory import build_inventory  # noqa: E402
from inspector.reports.keys import build_keys_report  # noqa: E402
from inspector.reports.render import to_json, to_markdown  # noqa: E402


def timed(label: str, action: Callable[[], Any]) -> Any:
    began = time.perf_counter()
    result = action()
    print(f"  {label:<48} {time.perf_counter() - began:8.2f} s")
    return result


def _vault_objects(count: int, now: datetime) -> list[VaultObjectFacts]:
    kinds = (ObjectType.SECRET, ObjectType.KEY, ObjectType.CERT)
    return [
        VaultObjectFacts(
            f"kv-{index % 4}",
            f"https://kv-{index % 4}.vault.azure.net",
            kinds[index % 3],
            f"object-{index:05d}",
            versions=tuple(
                VersionFacts(
                    f"v{index}-{number}",
                    True,
                    created_on=now - timedelta(days=100 * (number + 1)),
                    expires_on=now + timedelta(days=(index % 400) - 40 - 100 * number),
                    key_type="RSA" if index % 3 else None,
                    key_bits=2048 if index % 3 else None,
                )
                for number in range(3)
            ),
            fetched_at=now,
        )
        for index in range(count)
    ]


def _latest_versions_one_by_one(store: Store) -> int:
    """The former way: one lookup of the latest version per current object (kept as the reference figure)."""
    found = 0
    for subject_key, latest in store.db.execute(
        "SELECT subject_key, latest_version FROM current_vault_objects"
        " ORDER BY vault_name, object_type, object_name"
    ).fetchall():
        found += (
            store.db.execute(
                "SELECT enabled, created_on, expires_on, key_type, key_bits FROM current_vault_object_versions"
                " WHERE subject_key = ? AND version = ?",
                [subject_key, latest],
            ).fetchone()
            is not None
        )
    return found


def bench_keys_report(path: Path, objects: int, now: datetime) -> None:
    facts = tuple(_vault_objects(objects, now))
    began = time.perf_counter()
    with Store.open(path) as store:
        for cycle in range(2):
            seen = now - timedelta(hours=1 - cycle)
            run_id = store.begin_run(agent_id="bench-keys", mode="daemonset", started_at=seen)
            record_secrets(store, run_id, SecretsCycleResult(seen, vault_objects=facts))
            store.finish_run(run_id, finished_at=seen)
    print(
        f"report keys ({objects} Key Vault objects x 3 versions x 2 observations,"
        f" written in {time.perf_counter() - began:.1f} s)"
    )
    with Store.open(path, readonly=True) as store:
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        report = build_keys_report(store, as_of=now)
        store.db.conn.set_trace_callback(None)
        print(
            f"  statements per report keys                       {len(statements):10d}"
            f"  ({len(report.section('vault_objects').rows)} object rows)"
        )
        best = min(_timed_quietly(lambda: build_keys_report(store, as_of=now)) for _ in range(3))
        print(f"  report keys (all sections), best of 3            {best:10.3f} s")
        one_by_one = min(
            _timed_quietly(lambda: _latest_versions_one_by_one(store)) for _ in range(3)
        )
        print(
            f"  former per-object latest-version lookups alone   {one_by_one:10.3f} s"
            f"  ({objects + 1} statements)"
        )


def _timed_quietly(action: Callable[[], Any]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--endpoints", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument(
        "--vault-objects",
        type=int,
        default=10_000,
        help="Key Vault objects for report keys (0: skip)",
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to put the database (default: a temp dir)"
    )
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="bench-store-"))
    path = workdir / "bench.db"
    path.unlink(missing_ok=True)
    now = synthetic.DEFAULT_NOW
    import random

    rng = random.Random(7)
    pki = synthetic._Pki(rng, now)
    population = synthetic._endpoints(args.endpoints, rng)
    print(f"{len(population)} endpoints x {args.runs} runs -> {path}")
    write_s = rules_s = findings_s = 0.0
    scans_written = findings_written = 0
    with Store.open(path) as store:
        run_ids = []
        for run_index in range(args.runs):
            started = now - timedelta(days=args.runs - 1 - run_index)
            run_id = store.begin_run(agent_id="bench", mode="cluster", started_at=started)
            for start in range(0, len(population), args.batch):
                batch = population[start : start + args.batch]
                items = [
                    (
                        e.identity,
                        synthetic._scan(
                            e, pki, run_index if start % 7 == 0 else 0, started, run_index
                        ),
                    )
                    for e in batch
                ]
                t0 = time.perf_counter()
                store.record_endpoint_scans(run_id, items)
                t1 = time.perf_counter()
                findings = [
                    f
                    for ident, scan in items
                    for f in evaluate_endpoint(scan, ident.subject_key, now=started)
                ]
                t2 = time.perf_counter()
                findings_written += store.record_findings(run_id, findings, seen_at=started)
                t3 = time.perf_counter()
                write_s += t1 - t0
                rules_s += t2 - t1
                findings_s += t3 - t2
                scans_written += len(items)
            t0 = time.perf_counter()
            store.finish_run(run_id, finished_at=started + timedelta(minutes=5))
            findings_s += time.perf_counter() - t0
            run_ids.append(run_id)
        t0 = time.perf_counter()
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        checkpoint_s = time.perf_counter() - t0
    size = path.stat().st_size
    print("write")
    print(f"  endpoint scans written                           {scans_written}")
    print(
        f"  store: endpoint scans/s                          {scans_written / write_s:10.0f}  ({write_s:.1f} s)"
    )
    print(
        f"  rules: endpoint scans evaluated/s                {scans_written / rules_s:10.0f}  ({rules_s:.1f} s)"
    )
    print(
        f"  store: findings/s (incl. finish_run)             {findings_written / findings_s:10.0f}  "
        f"({findings_written} findings, {findings_s:.1f} s)"
    )
    print(
        f"  end to end: endpoint scans/s                     "
        f"{scans_written / (write_s + rules_s + findings_s):10.0f}"
    )
    print(f"  WAL checkpoint                                   {checkpoint_s:10.2f} s")
    print(
        f"  database size                                    {size / 1e6:10.1f} MB "
        f"({size / scans_written:.0f} bytes per endpoint scan)"
    )
    counts = (
        sqlite3.connect(path)
        .execute(
            "SELECT (SELECT count(*) FROM accepted_suites), (SELECT count(*) FROM chain_positions),"
            " (SELECT count(*) FROM certificates), (SELECT count(*) FROM findings)"
        )
        .fetchone()
    )
    print(
        f"  rows: accepted_suites {counts[0]}, chain_positions {counts[1]}, certificates {counts[2]}, "
        f"findings {counts[3]}"
    )
    print("read (report queries, latest run per endpoint)")
    with Store.open(path, readonly=True) as store:
        rows = timed(
            "read back every current endpoint",
            lambda: store.db.execute("SELECT * FROM current_endpoints").fetchall(),
        )
        print(f"    ({len(rows)} rows)")
        timed(
            "current endpoints of one namespace",
            lambda: store.db.execute(
                "SELECT * FROM current_endpoints WHERE namespace = 'payments'"
            ).fetchall(),
        )
        timed(
            "suites of one endpoint (drill-down)",
            lambda: store.db.execute(
                "SELECT * FROM current_accepted_suites WHERE endpoint_id = 4242"
            ).fetchall(),
        )
        timed(
            "open findings by severity",
            lambda: store.db.execute(
                "SELECT severity, count(*) FROM findings WHERE resolved_at IS NULL GROUP BY 1"
            ).fetchall(),
        )
        inventory = timed(
            "report inventory (all sections)", lambda: build_inventory(store, as_of=now)
        )
        timed("  render inventory as Markdown", lambda: to_markdown(inventory))
        findings = timed("report findings", lambda: build_findings(store, as_of=now))
        timed("  render findings as JSON", lambda: to_json(findings))
        if len(run_ids) > 1:
            timed(
                f"diff run {run_ids[-2]} -> {run_ids[-1]}",
                lambda: build_diff(store, run_ids[-2], run_ids[-1]),
            )
    snapshot = workdir / "snapshot"
    timed("export (VACUUM INTO + manifest)", lambda: export_snapshot(path, snapshot))
    checks = timed("verify (hash, integrity_check, counts)", lambda: verify_snapshot(snapshot))
    print(f"    verify: {', '.join(f'{c.name}={c.outcome}' for c in checks)}")
    if args.vault_objects:
        keys_path = workdir / "bench-keys.db"
        keys_path.unlink(missing_ok=True)
        bench_keys_report(keys_path, args.vault_objects, now)
    return 0


if __name__ == "__main__":
    sys.exit(main())
