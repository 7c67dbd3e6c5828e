"""What changed between two runs: endpoints, protocol versions, suites, certificates, findings."""

from __future__ import annotations

from typing import Any

from agent.store import Store
from inspector.reports.common import source_facts
from inspector.reports.model import Report, Section


class UnknownRunError(LookupError):
    pass


def _run(store: Store, run_id: int) -> dict[str, Any]:
    rows = list(store.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
    if not rows:
        known = ", ".join(
            str(r[0]) for r in store.db.execute("SELECT id FROM runs ORDER BY id DESC LIMIT 10")
        )
        raise UnknownRunError(f"no run {run_id} (latest runs: {known or 'none'})")
    return rows[0]


_FACTS = {
    "protocol": "SELECT e.subject_key, p.protocol AS item FROM endpoint_scans s JOIN endpoints e ON e.id = s.endpoint_id"
    " JOIN accepted_protocols p ON p.endpoint_scan_id = s.id WHERE s.run_id = ?",
    "suite": "SELECT e.subject_key, a.protocol || ' ' || a.suite AS item FROM endpoint_scans s"
    " JOIN endpoints e ON e.id = s.endpoint_id JOIN accepted_suites a ON a.endpoint_scan_id = s.id WHERE s.run_id = ?",
    "group": "SELECT e.subject_key, g.group_name AS item FROM endpoint_scans s JOIN endpoints e ON e.id = s.endpoint_id"
    " JOIN accepted_groups g ON g.endpoint_scan_id = s.id WHERE s.run_id = ?",
}


def _set(store: Store, sql: str, run_id: int) -> set[tuple[str, str]]:
    return {(row[0], row[1]) for row in store.db.execute(sql, [run_id])}


def build_diff(store: Store, run_a: int, run_b: int) -> Report:
    first, second = _run(store, run_a), _run(store, run_b)
    endpoints_a = dict(
        store.db.execute(
            "SELECT e.subject_key, s.leaf_sha256 FROM endpoint_scans s JOIN endpoints e ON e.id = s.endpoint_id"
            " WHERE s.run_id = ?",
            [run_a],
        ).fetchall()
    )
    endpoints_b = dict(
        store.db.execute(
            "SELECT e.subject_key, s.leaf_sha256 FROM endpoint_scans s JOIN endpoints e ON e.id = s.endpoint_id"
            " WHERE s.run_id = ?",
            [run_b],
        ).fetchall()
    )
    both = endpoints_a.keys() & endpoints_b.keys()
    changes: list[dict[str, Any]] = []
    for key in sorted(endpoints_b.keys() - endpoints_a.keys()):
        changes.append({"change": "endpoint added", "subject_key": key, "detail": ""})
    for key in sorted(endpoints_a.keys() - endpoints_b.keys()):
        changes.append({"change": "endpoint removed", "subject_key": key, "detail": ""})
    for kind, sql in _FACTS.items():
        facts_a = {fact for fact in _set(store, sql, run_a) if fact[0] in both}
        facts_b = {fact for fact in _set(store, sql, run_b) if fact[0] in both}
        for key, item in sorted(facts_b - facts_a):
            changes.append({"change": f"{kind} added", "subject_key": key, "detail": item})
        for key, item in sorted(facts_a - facts_b):
            changes.append({"change": f"{kind} removed", "subject_key": key, "detail": item})
    for key in sorted(both):
        if endpoints_a[key] != endpoints_b[key]:
            changes.append(
                {
                    "change": "certificate rotated",
                    "subject_key": key,
                    "detail": f"{(endpoints_a[key] or 'none')[:16]} -> {(endpoints_b[key] or 'none')[:16]}",
                }
            )
    findings_sql = (
        "SELECT f.subject_key, f.rule_id || ' ' || f.message FROM finding_sightings fs"
        " JOIN findings f ON f.id = fs.finding_id WHERE fs.run_id = ?"
    )
    findings_a = _set(store, findings_sql, run_a)
    findings_b = _set(store, findings_sql, run_b)
    rules_a = {(key, text.split(" ", 1)[0]) for key, text in findings_a}
    rules_b = {(key, text.split(" ", 1)[0]) for key, text in findings_b}
    for key, text in sorted(findings_b):
        if (key, text.split(" ", 1)[0]) not in rules_a and key in endpoints_a:
            changes.append({"change": "finding opened", "subject_key": key, "detail": text})
    for key, text in sorted(findings_a):
        if (key, text.split(" ", 1)[0]) not in rules_b and key in endpoints_b:
            changes.append({"change": "finding closed", "subject_key": key, "detail": text})
    counts: dict[str, int] = {}
    for change in changes:
        counts[change["change"]] = counts.get(change["change"], 0) + 1
    summary = [{"change": name, "count": count} for name, count in sorted(counts.items())]
    facts = {
        **source_facts(store),
        "run_a": f"{run_a} ({first['agent_id']}, {first['started_at']}, {first['status']})",
        "run_b": f"{run_b} ({second['agent_id']}, {second['started_at']}, {second['status']})",
        "endpoints_in_both": len(both),
    }
    return Report(
        f"Changes from run {run_a} to run {run_b}",
        facts,
        (
            Section("summary", "Summary", ("change", "count"), summary),
            Section(
                "changes",
                "Changes",
                ("change", "subject_key", "detail"),
                changes,
                "Facts compared for endpoints scanned in both runs; findings opened or closed on subjects the other run saw.",
            ),
        ),
    )
