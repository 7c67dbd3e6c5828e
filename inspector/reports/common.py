"""Facts shared by every report: the runs it covers and the schema it was read from."""

from __future__ import annotations

from typing import Any

from agent import __version__
from agent.store import Store

#: Workloads listed by name in a "where used" cell before "+N more".
WHERE_USED_LIMIT = 5


def source_facts(store: Store) -> dict[str, Any]:
    window = store.db.execute(
        "SELECT count(*), min(started_at), max(coalesce(finished_at, started_at)) FROM runs"
    ).fetchone()
    latest = store.db.execute(
        "SELECT group_concat(id, ', ') FROM (SELECT max(id) AS id FROM runs GROUP BY agent_id ORDER BY id)"
    ).fetchone()[0]
    return {
        "tool": f"cryptoscope {__version__}",
        "schema_version": store.schema_version,
        "runs": window[0],
        "runs_from": window[1],
        "runs_to": window[2],
        "latest_run_per_agent": latest,
        "endpoints_current": store.db.execute("SELECT count(*) FROM current_endpoints").fetchone()[
            0
        ],
    }


def where_used(store: Store, sha256: str) -> str:
    names = [
        row[0]
        for row in store.db.execute(
            "SELECT DISTINCT coalesce(e.namespace || '/' || e.workload_name, e.ip || ':' || e.port)"
            " FROM current_chain_positions p JOIN endpoints e ON e.id = p.endpoint_id"
            " WHERE p.certificate_sha256 = ? ORDER BY 1",
            [sha256],
        )
    ]
    shown = ", ".join(names[:WHERE_USED_LIMIT])
    return shown + (
        f" (+{len(names) - WHERE_USED_LIMIT} more)" if len(names) > WHERE_USED_LIMIT else ""
    )
