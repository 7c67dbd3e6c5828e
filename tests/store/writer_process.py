"""A real agent-like writer for the concurrency and crash tests (run as a subprocess).

    python tests/store/writer_process.py DB_PATH BATCHES [PAUSE_S]

Records BATCHES batches of 50 endpoints in one run (forever if BATCHES is 0),
printing "batch N" after each commit and pausing PAUSE_S seconds (default 0)
like an agent between probes, then finishes the run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.rules import evaluate_endpoint  # noqa: E402
from agent.store import Store  # noqa: E402
from tests.store.conftest import T0, identity, tls_scan  # noqa: E402


def main() -> None:
    path, batches = sys.argv[1], int(sys.argv[2])
    pause = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    store = Store.open(path)
    run_id = store.begin_run(agent_id="writer", node="node-w", mode="daemonset")
    batch = 0
    while batches == 0 or batch < batches:
        items = [
            (
                identity(pod=f"w-{batch}-{i}", ip=f"10.9.{batch % 250}.{i}"),
                tls_scan(f"10.9.{batch % 250}.{i}"),
            )
            for i in range(50)
        ]
        store.record_endpoint_scans(run_id, items)
        findings = [
            f for ident, scan in items for f in evaluate_endpoint(scan, ident.subject_key, now=T0)
        ]
        store.record_findings(run_id, findings)
        batch += 1
        print(f"batch {batch}", flush=True)
        time.sleep(pause)
    store.finish_run(run_id)
    store.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
