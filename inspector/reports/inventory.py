"""The 12.3.3 inventory (protocols and cipher suites in use, where, for what) and the
4.2.1.1 inventory of trusted keys and certificates, from each endpoint's latest scan.

Each section's columns are defined once (a tuple of :class:`Column`); the SQL select
list, the headers and the rows all come from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.rules.suites import suite_rule_ids
from agent.store import Store, parse_utc_text, utc_text
from inspector.reports.common import days_left, source_facts, where_used_by_certificate
from inspector.reports.model import Column, Report, Section, select_list, shape

PROTOCOL_COLUMNS = (
    Column("protocol", "p.protocol"),
    Column("endpoints", "count(*)"),
    Column(
        "workloads",
        "count(DISTINCT e.namespace || '/' || e.workload_kind || '/' || e.workload_name)",
    ),
    Column("namespaces", "count(DISTINCT e.namespace)"),
)


def _ports(row: Any) -> str:
    return ", ".join(sorted(set((row["ports"] or "").split(",")), key=lambda p: (len(p), p)))


#: One row per (protocol, suite, workload); the suite summary is summed from these rows.
SUITE_USE_COLUMNS = (
    Column("protocol", "a.protocol"),
    Column("suite", "a.suite"),
    Column("namespace", "e.namespace"),
    Column("workload_kind", "e.workload_kind"),
    Column("workload_name", "e.workload_name"),
    Column("service", "e.service"),
    Column("ports", "group_concat(DISTINCT e.port)", _ports),
    Column("endpoints", "count(*)"),
    Column("purpose", "e.purpose"),
    Column("scope", "e.scope"),
    Column("first_seen", "min(e.first_seen)"),
    Column("last_seen", "max(e.last_seen)"),
)


def _iana(field: str) -> Column:
    return Column(field, value=lambda source: source["iana"].get(field))


def _forward_secrecy(source: Any) -> bool | None:
    fs = source["iana"].get("forward_secrecy")
    return None if fs is None else bool(fs)


#: Source row: the first use row of the suite plus ``iana`` (its IANA properties); counts are summed after.
SUITE_COLUMNS = (
    Column("protocol"),
    Column("suite"),
    _iana("key_exchange"),
    _iana("authentication"),
    _iana("cipher"),
    _iana("mode"),
    Column("forward_secrecy", value=_forward_secrecy),
    _iana("strength"),
    Column("flagged_by", value=lambda s: ", ".join(suite_rule_ids(s["suite"], s["protocol"]))),
    Column("endpoints", value=lambda s: 0),
    Column("workloads", value=lambda s: 0),
    Column("purposes", value=lambda s: ""),
)

GROUP_COLUMNS = (
    Column("group_name", "g.group_name"),
    Column("kind", "i.kind"),
    Column(
        "post_quantum",
        "i.post_quantum",
        lambda row: None if row["post_quantum"] is None else bool(row["post_quantum"]),
    ),
    Column("endpoints", "count(DISTINCT g.endpoint_id)"),
)


def _role(row: Any) -> str:
    return "leaf" if row["position"] == 0 else ("root" if row["self_signed"] else "intermediate")


def _key(row: Any) -> str:
    return f"{row['key_type']} {row['key_bits']}" + (f" ({row['curve']})" if row["curve"] else "")


#: Source row: the certificate (``c.*``), its first chain position and endpoint count, plus
#: ``days_left``, ``workloads`` and ``where_used`` added by the builder.
CERTIFICATE_COLUMNS = (
    Column("role", value=_role),
    Column("subject"),
    Column("issuer"),
    Column("serial"),
    Column("key", value=_key),
    Column("signature_algorithm"),
    Column("not_before"),
    Column("not_after"),
    Column("days_left"),
    Column("sha256"),
    Column("endpoints"),
    Column("workloads"),
    Column("where_used"),
)


def _protocols(store: Store) -> Section:
    rows = [
        shape(PROTOCOL_COLUMNS, row)
        for row in store.db.query(
            f"SELECT {select_list(PROTOCOL_COLUMNS)}"
            " FROM current_accepted_protocols p JOIN endpoints e ON e.id = p.endpoint_id"
            " GROUP BY p.protocol ORDER BY p.protocol"
        )
    ]
    return Section.of(
        "protocols",
        "Protocol versions in use (12.3.3)",
        PROTOCOL_COLUMNS,
        rows,
        "Every protocol version some endpoint accepted in its latest scan.",
    )


def _suites(store: Store) -> tuple[Section, Section]:
    """One pass over each endpoint's latest suites, grouped by workload; the summary is summed from it."""
    iana = {row["name"]: row for row in store.db.query("SELECT * FROM iana_cipher_suites")}
    detail = [
        shape(SUITE_USE_COLUMNS, row)
        for row in store.db.query(
            f"SELECT {select_list(SUITE_USE_COLUMNS)}"
            " FROM endpoints e JOIN accepted_suites a ON a.endpoint_scan_id = e.latest_scan_id"
            " GROUP BY a.protocol, a.suite, e.namespace, e.workload_kind, e.workload_name"
            " ORDER BY a.protocol, a.suite, e.namespace, e.workload_kind, e.workload_name"
        )
    ]
    summary: dict[tuple[str, str], dict[str, Any]] = {}
    purposes: dict[tuple[str, str], set[str]] = {}
    for row in detail:
        key = (row["protocol"], row["suite"])
        if key not in summary:
            summary[key] = shape(SUITE_COLUMNS, {**row, "iana": iana.get(row["suite"], {})})
            purposes[key] = set()
        summary[key]["endpoints"] += row["endpoints"]
        summary[key]["workloads"] += 1 if row["workload_name"] is not None else 0
        if row["purpose"]:
            purposes[key].add(row["purpose"])
    for key, entry in summary.items():
        entry["purposes"] = ", ".join(sorted(purposes[key]))
    return (
        Section.of(
            "cipher_suites",
            "Cipher suites in use (12.3.3)",
            SUITE_COLUMNS,
            list(summary.values()),
            "Each accepted suite per protocol version, its IANA properties, the rules that flag it, and its users.",
        ),
        Section.of(
            "cipher_suites_where_used",
            "Where each cipher suite is used (12.3.3)",
            SUITE_USE_COLUMNS,
            detail,
        ),
    )


def _groups(store: Store) -> Section:
    rows = [
        shape(GROUP_COLUMNS, row)
        for row in store.db.query(
            f"SELECT {select_list(GROUP_COLUMNS)}"
            " FROM current_accepted_groups g LEFT JOIN iana_groups i ON i.name = g.group_name"
            " GROUP BY g.group_name ORDER BY g.group_name"
        )
    ]
    return Section.of(
        "key_exchange_groups", "Key-exchange groups in use (12.3.3)", GROUP_COLUMNS, rows
    )


def _certificates(store: Store, as_of: datetime) -> Section:
    where_used = where_used_by_certificate(store)
    rows: list[dict[str, Any]] = []
    for row in store.db.query(
        "SELECT c.*, min(p.position) AS position, count(DISTINCT e.id) AS endpoints"
        " FROM endpoints e JOIN chain_positions p ON p.endpoint_scan_id = e.latest_scan_id"
        " JOIN certificates c ON c.sha256 = p.certificate_sha256"
        " GROUP BY c.sha256 ORDER BY c.not_after, c.sha256"
    ):
        row["workloads"], row["where_used"] = where_used.get(row["sha256"], (0, ""))
        row["days_left"] = days_left(parse_utc_text(row["not_after"]), as_of)
        rows.append(shape(CERTIFICATE_COLUMNS, row))
    return Section.of(
        "certificates",
        "Trusted keys and certificates in use (4.2.1.1)",
        CERTIFICATE_COLUMNS,
        rows,
        "Every certificate presented in a chain, with its key, signature, validity and the workloads using it.",
    )


def build_inventory(store: Store, *, as_of: datetime) -> Report:
    suites, where = _suites(store)
    return Report(
        "Cryptographic inventory (PCI DSS 4.0.1 12.3.3 and 4.2.1.1)",
        {**source_facts(store), "as_of": utc_text(as_of)},
        (_protocols(store), suites, where, _groups(store), _certificates(store, as_of)),
    )
