"""What changed between two runs: endpoints, protocol versions, suites, certificates, findings."""

from __future__ import annotations

from typing import Any

from agent.store import Store
from inspector.reports.common import source_facts
from inspector.reports.model import Column, Report, Section, column_names

SUMMARY_COLUMNS = (Column("change"), Column("count"))
CHANGE_COLUMNS = (Column("change"), Column("subject_key"), Column("detail"))


class UnknownRunError(LookupError):
    pass


def _change(change: str, subject_key: str, detail: str) -> dict[str, Any]:
    """One row of the changes section, in the order of :data:`CHANGE_COLUMNS`."""
    return dict(zip(column_names(CHANGE_COLUMNS), (change, subject_key, detail), strict=True))


def _run(store: Store, run_id: int) -> dict[str, Any]:
    rows = list(store.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
    if not rows:
        known = ", ".join(
            str(r[0]) for r in store.db.execute("SELECT id FROM runs ORDER BY id DESC LIMIT 10")
        )
        raise UnknownRunError(f"no run {run_id} (latest runs: {known or 'none'})")
    return rows[0]


#: Endpoints scanned in both runs: (subject_key, scan id in A, scan id in B).
_PAIRS = """
WITH pairs AS (
    SELECT e.subject_key, a.id AS a_id, b.id AS b_id, a.leaf_sha256 AS a_leaf, b.leaf_sha256 AS b_leaf
    FROM endpoint_scans a JOIN endpoint_scans b ON b.endpoint_id = a.endpoint_id AND b.run_id = :b
    JOIN endpoints e ON e.id = a.endpoint_id
    WHERE a.run_id = :a
)
"""

#: kind -> (table, item expression, key columns compared). Index lookups, no big sets in Python.
_FACTS = {
    "protocol": ("accepted_protocols", "x.protocol", ("protocol",)),
    "suite": ("accepted_suites", "x.protocol || ' ' || x.suite", ("protocol", "suite")),
    "group": ("accepted_groups", "x.group_name", ("protocol", "group_name")),
}


def _fact_changes(
    store: Store, run_a: int, run_b: int, kind: str, *, added: bool
) -> list[dict[str, Any]]:
    table, item, columns = _FACTS[kind]
    present, absent = ("b_id", "a_id") if added else ("a_id", "b_id")
    match = " AND ".join(f"y.{column} = x.{column}" for column in columns)
    sql = (
        _PAIRS
        + f"SELECT DISTINCT p.subject_key, {item} AS detail FROM pairs p JOIN {table} x ON x.endpoint_scan_id = p.{present}"
        f" WHERE NOT EXISTS (SELECT 1 FROM {table} y WHERE y.endpoint_scan_id = p.{absent} AND {match})"
        " ORDER BY 1, 2"
    )
    label = f"{kind} {'added' if added else 'removed'}"
    return [
        _change(label, key, detail)
        for key, detail in store.db.execute(sql, {"a": run_a, "b": run_b})
    ]


def _endpoint_changes(store: Store, run_a: int, run_b: int, *, added: bool) -> list[dict[str, Any]]:
    present, absent = (run_b, run_a) if added else (run_a, run_b)
    rows = store.db.execute(
        "SELECT e.subject_key FROM endpoint_scans s JOIN endpoints e ON e.id = s.endpoint_id"
        " WHERE s.run_id = ? AND NOT EXISTS"
        " (SELECT 1 FROM endpoint_scans o WHERE o.run_id = ? AND o.endpoint_id = s.endpoint_id) ORDER BY 1",
        [present, absent],
    )
    label = "endpoint added" if added else "endpoint removed"
    return [_change(label, key, "") for (key,) in rows]


def _finding_changes(store: Store, run_a: int, run_b: int, *, opened: bool) -> list[dict[str, Any]]:
    """Findings (by subject and rule) seen in one run and not the other, on subjects the other run looked at."""
    present, absent = (run_b, run_a) if opened else (run_a, run_b)
    rows = store.db.execute(
        "SELECT f.subject_key, f.rule_id || ' ' || f.message FROM finding_sightings fs"
        " JOIN findings f ON f.id = fs.finding_id WHERE fs.run_id = :present"
        " AND NOT EXISTS (SELECT 1 FROM findings g JOIN finding_sightings gs ON gs.finding_id = g.id"
        "     AND gs.run_id = :absent WHERE g.subject_key = f.subject_key AND g.rule_id = f.rule_id)"
        " AND (f.subject_type != 'endpoint' OR EXISTS (SELECT 1 FROM endpoint_scans o"
        "     WHERE o.run_id = :absent AND o.endpoint_id = f.endpoint_id))"
        " ORDER BY 1, 2",
        {"present": present, "absent": absent},
    )
    label = "finding opened" if opened else "finding closed"
    return [_change(label, key, detail) for key, detail in rows]


def build_diff(store: Store, run_a: int, run_b: int) -> Report:
    first, second = _run(store, run_a), _run(store, run_b)
    changes = _endpoint_changes(store, run_a, run_b, added=True) + _endpoint_changes(
        store, run_a, run_b, added=False
    )
    for kind in _FACTS:
        changes += _fact_changes(store, run_a, run_b, kind, added=True)
        changes += _fact_changes(store, run_a, run_b, kind, added=False)
    both = 0
    for key, a_leaf, b_leaf in store.db.execute(
        _PAIRS + "SELECT subject_key, a_leaf, b_leaf FROM pairs ORDER BY 1",
        {"a": run_a, "b": run_b},
    ):
        both += 1
        if a_leaf != b_leaf:
            changes.append(
                _change(
                    "certificate rotated",
                    key,
                    f"{(a_leaf or 'none')[:16]} -> {(b_leaf or 'none')[:16]}",
                )
            )
    changes += _finding_changes(store, run_a, run_b, opened=True)
    changes += _finding_changes(store, run_a, run_b, opened=False)
    counts: dict[str, int] = {}
    for change in changes:
        counts[change["change"]] = counts.get(change["change"], 0) + 1
    summary = [
        dict(zip(column_names(SUMMARY_COLUMNS), item, strict=True))
        for item in sorted(counts.items())
    ]
    facts = {
        **source_facts(store),
        "run_a": f"{run_a} ({first['agent_id']}, {first['started_at']}, {first['status']})",
        "run_b": f"{run_b} ({second['agent_id']}, {second['started_at']}, {second['status']})",
        "endpoints_in_both": both,
    }
    return Report(
        f"Changes from run {run_a} to run {run_b}",
        facts,
        (
            Section.of("summary", "Summary", SUMMARY_COLUMNS, summary),
            Section.of(
                "changes",
                "Changes",
                CHANGE_COLUMNS,
                changes,
                "Facts compared for endpoints scanned in both runs; findings opened or closed on subjects the other run saw.",
            ),
        ),
    )
