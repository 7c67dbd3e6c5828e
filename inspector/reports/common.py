"""Facts shared by every report: the runs it covers and the schema it was read from."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from agent import __version__
from agent.store import Store

#: Workloads listed by name in a "where used" cell before "+N more".
WHERE_USED_LIMIT = 5


_DAY = timedelta(days=1)


def days_left(not_after: datetime, as_of: datetime) -> int:
    """Whole days from ``as_of`` until ``not_after``, rounded down — the one rule of every report.

    Elapsed UTC time, not calendar dates: from 24 hours before the expiry moment up to that
    moment itself it is 0 (a certificate is valid through its notAfter second), from one
    second after it through one day after it -1, then -2, and so on. Both times must be aware.
    """
    return (not_after - as_of) // _DAY


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


def where_used_by_certificate(store: Store) -> dict[str, tuple[int, str]]:
    """For every certificate in a current chain: how many workloads present it, and which (abridged).

    A workload is ``namespace/name``; endpoints outside Kubernetes count as ``ip:port``.
    """
    names: dict[str, list[str]] = {}
    for sha256, name in store.db.execute(
        "SELECT DISTINCT p.certificate_sha256,"
        " coalesce(e.namespace || '/' || e.workload_name, e.ip || ':' || e.port)"
        " FROM endpoints e JOIN chain_positions p ON p.endpoint_scan_id = e.latest_scan_id ORDER BY 1, 2"
    ):
        names.setdefault(sha256, []).append(name)
    return {sha256: (len(found), _abridged(found)) for sha256, found in names.items()}


def _abridged(names: list[str]) -> str:
    shown = ", ".join(names[:WHERE_USED_LIMIT])
    more = len(names) - WHERE_USED_LIMIT
    return shown + (f" (+{more} more)" if more > 0 else "")
