"""The findings report: by PCI DSS 4.0.1 requirement, with waivers, as of a moment."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from agent.rules import Severity
from agent.store import Store, utc_text
from inspector.reports.common import source_facts
from inspector.reports.model import Column, Report, Section, select_list, shape

#: The findings section; ``f`` is the finding, ``w`` the waiver covering it at :as_of (if any).
FINDING_COLUMNS = (
    Column("severity", "f.severity"),
    Column("rule_id", "f.rule_id"),
    Column("requirements", "f.requirements"),
    Column(
        "status",
        "CASE WHEN f.resolved_at IS NOT NULL THEN 'resolved'"
        " WHEN w.id IS NOT NULL THEN 'waived' ELSE 'open' END",
    ),
    Column("subject_key", "f.subject_key"),
    Column("message", "f.message"),
    Column("first_seen", "f.first_seen"),
    Column("last_seen", "f.last_seen"),
    Column("resolved_at", "f.resolved_at"),
    Column("waiver_reason", "w.reason"),
    Column("waiver_approver", "w.approver"),
    Column("waiver_expires_at", "w.expires_at"),
    Column("remediation", "f.remediation"),
)

#: Status of a finding at :as_of, computed from the waivers table (an expired waiver no longer counts).
#: Besides the section's columns: what sorting, the summary and the waivers section need.
_FINDINGS_SQL = f"""
SELECT {select_list(FINDING_COLUMNS)},
       f.id, r.title, f.subject_type, w.id AS waiver_id
FROM findings f
LEFT JOIN rules r ON r.id = f.rule_id
LEFT JOIN waivers w ON w.id = (
    SELECT w2.id FROM waivers w2
    WHERE (w2.removed_at IS NULL OR w2.removed_at > :as_of) AND w2.created_at <= :as_of
      AND w2.expires_at > :as_of
      AND (w2.rule_id = f.rule_id OR w2.rule_id = '*') AND f.subject_key GLOB w2.subject_pattern
    ORDER BY w2.expires_at DESC LIMIT 1)
WHERE f.first_seen <= :as_of AND (:include_resolved OR f.resolved_at IS NULL)
"""

#: Source row: a finding row plus the ``requirement`` it is counted under; counts are added after.
BY_REQUIREMENT_COLUMNS = (
    Column("requirement"),
    Column("rule_id"),
    Column("title"),
    Column("severity"),
    Column("open", value=lambda row: 0),
    Column("waived", value=lambda row: 0),
    Column("resolved", value=lambda row: 0),
)

#: Source row: the waiver, plus ``status`` and ``findings_covered`` added by the builder.
WAIVER_COLUMNS = (
    Column("id", "id"),
    Column("rule_id", "rule_id"),
    Column("subject_pattern", "subject_pattern"),
    Column("status"),
    Column("reason", "reason"),
    Column("approver", "approver"),
    Column("created_at", "created_at"),
    Column("expires_at", "expires_at"),
    Column("removed_at", "removed_at"),
    Column("source", "source"),
    Column("findings_covered"),
)

SEVERITY_ORDER = {str(severity): severity.rank for severity in Severity}


def _sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (SEVERITY_ORDER.get(row["severity"], 9), row["rule_id"], row["subject_key"], row["id"])


def _rule_order(rule_id: str) -> tuple[str, int]:
    letters = rule_id.rstrip("0123456789")
    digits = rule_id[len(letters) :]
    return letters, int(digits) if digits else 0


def _requirement_order(requirement: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in requirement.split("."))


def _by_requirement(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (requirement, rule): counts by status and the worst severity seen."""
    summary: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        for requirement in row["requirements"].split(", "):
            key = (requirement, row["rule_id"])
            if key not in summary:
                summary[key] = shape(BY_REQUIREMENT_COLUMNS, {**row, "requirement": requirement})
            entry = summary[key]
            entry[row["status"]] += 1
            if SEVERITY_ORDER[row["severity"]] < SEVERITY_ORDER[entry["severity"]]:
                entry["severity"] = row["severity"]
    return sorted(
        summary.values(),
        key=lambda e: (_requirement_order(e["requirement"]), _rule_order(e["rule_id"])),
    )


def _waivers(store: Store, rows: list[dict[str, Any]], stamp: str) -> list[dict[str, Any]]:
    """Every waiver with its state at `stamp` and how many of the reported findings it covers."""
    waivers = []
    for waiver in store.db.query(f"SELECT {select_list(WAIVER_COLUMNS)} FROM waivers ORDER BY id"):
        if waiver["removed_at"] and waiver["removed_at"] <= stamp:
            state = "removed"
        elif waiver["expires_at"] <= stamp:
            state = "expired"
        else:
            state = "active"
        waiver["status"] = state
        waiver["findings_covered"] = sum(1 for row in rows if row["waiver_id"] == waiver["id"])
        waivers.append(shape(WAIVER_COLUMNS, waiver))
    return waivers


def build_findings(
    store: Store,
    *,
    as_of: datetime,
    include_resolved: bool = False,
    min_severity: str | None = None,
    rule_ids: tuple[str, ...] = (),
) -> Report:
    stamp = utc_text(as_of)
    rows = [
        row
        for row in store.db.query(
            _FINDINGS_SQL, {"as_of": stamp, "include_resolved": int(include_resolved)}
        )
        if (min_severity is None or SEVERITY_ORDER[row["severity"]] <= SEVERITY_ORDER[min_severity])
        and (not rule_ids or row["rule_id"] in rule_ids)
    ]
    rows.sort(key=_sort_key)
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[row["status"]] += 1
    facts = {
        **source_facts(store),
        "as_of": stamp,
        "findings_open": totals["open"],
        "findings_waived": totals["waived"],
    }
    if include_resolved:
        facts["findings_resolved"] = totals["resolved"]
    return Report(
        "Findings by PCI DSS 4.0.1 requirement",
        facts,
        (
            Section.of(
                "by_requirement",
                "Summary by requirement",
                BY_REQUIREMENT_COLUMNS,
                _by_requirement(rows),
                "A finding that evidences several requirements is counted under each.",
            ),
            Section.of("findings", "Findings", FINDING_COLUMNS, rows),
            Section.of(
                "waivers",
                "Waivers (documented exceptions)",
                WAIVER_COLUMNS,
                _waivers(store, rows, stamp),
                "Every waiver ever recorded, with its state at the as-of time; removed and expired ones stay as evidence.",
            ),
        ),
    )
