"""The 12.3.3 inventory (protocols and cipher suites in use, where, for what) and the
4.2.1.1 inventory of trusted keys and certificates, from each endpoint's latest scan."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.rules.suites import suite_rule_ids
from agent.store import Store, parse_utc_text, utc_text
from inspector.reports.common import source_facts, where_used_by_certificate
from inspector.reports.model import Report, Section


def _protocols(store: Store) -> Section:
    rows = list(
        store.db.query(
            "SELECT p.protocol, count(*) AS endpoints,"
            " count(DISTINCT e.namespace || '/' || e.workload_kind || '/' || e.workload_name) AS workloads,"
            " count(DISTINCT e.namespace) AS namespaces"
            " FROM current_accepted_protocols p JOIN endpoints e ON e.id = p.endpoint_id"
            " GROUP BY p.protocol ORDER BY p.protocol"
        )
    )
    return Section(
        "protocols",
        "Protocol versions in use (12.3.3)",
        ("protocol", "endpoints", "workloads", "namespaces"),
        rows,
        "Every protocol version some endpoint accepted in its latest scan.",
    )


def _suites(store: Store) -> tuple[Section, Section]:
    """One pass over each endpoint's latest suites, grouped by workload; the summary is summed from it."""
    iana = {row["name"]: row for row in store.db.query("SELECT * FROM iana_cipher_suites")}
    detail = list(
        store.db.query(
            "SELECT a.protocol, a.suite, e.namespace, e.workload_kind, e.workload_name, e.service,"
            " group_concat(DISTINCT e.port) AS ports, count(*) AS endpoints, e.purpose, e.scope,"
            " min(e.first_seen) AS first_seen, max(e.last_seen) AS last_seen"
            " FROM endpoints e JOIN accepted_suites a ON a.endpoint_scan_id = e.latest_scan_id"
            " GROUP BY a.protocol, a.suite, e.namespace, e.workload_kind, e.workload_name"
            " ORDER BY a.protocol, a.suite, e.namespace, e.workload_kind, e.workload_name"
        )
    )
    summary: dict[tuple[str, str], dict[str, Any]] = {}
    purposes: dict[tuple[str, str], set[str]] = {}
    for row in detail:
        row["ports"] = ", ".join(
            sorted(set((row["ports"] or "").split(",")), key=lambda p: (len(p), p))
        )
        key = (row["protocol"], row["suite"])
        if key not in summary:
            properties = iana.get(row["suite"], {})
            fs = properties.get("forward_secrecy")
            summary[key] = {
                "protocol": row["protocol"],
                "suite": row["suite"],
                "key_exchange": properties.get("key_exchange"),
                "authentication": properties.get("authentication"),
                "cipher": properties.get("cipher"),
                "mode": properties.get("mode"),
                "forward_secrecy": None if fs is None else bool(fs),
                "strength": properties.get("strength"),
                "flagged_by": ", ".join(suite_rule_ids(row["suite"], row["protocol"])),
                "endpoints": 0,
                "workloads": 0,
            }
            purposes[key] = set()
        summary[key]["endpoints"] += row["endpoints"]
        summary[key]["workloads"] += 1 if row["workload_name"] is not None else 0
        if row["purpose"]:
            purposes[key].add(row["purpose"])
    for key, entry in summary.items():
        entry["purposes"] = ", ".join(sorted(purposes[key]))
    return (
        Section(
            "cipher_suites",
            "Cipher suites in use (12.3.3)",
            (
                "protocol",
                "suite",
                "key_exchange",
                "authentication",
                "cipher",
                "mode",
                "forward_secrecy",
                "strength",
                "flagged_by",
                "endpoints",
                "workloads",
                "purposes",
            ),
            list(summary.values()),
            "Each accepted suite per protocol version, its IANA properties, the rules that flag it, and its users.",
        ),
        Section(
            "cipher_suites_where_used",
            "Where each cipher suite is used (12.3.3)",
            (
                "protocol",
                "suite",
                "namespace",
                "workload_kind",
                "workload_name",
                "service",
                "ports",
                "endpoints",
                "purpose",
                "scope",
                "first_seen",
                "last_seen",
            ),
            detail,
        ),
    )


def _groups(store: Store) -> Section:
    rows = list(
        store.db.query(
            "SELECT g.group_name, i.kind, i.post_quantum, count(DISTINCT g.endpoint_id) AS endpoints"
            " FROM current_accepted_groups g LEFT JOIN iana_groups i ON i.name = g.group_name"
            " GROUP BY g.group_name ORDER BY g.group_name"
        )
    )
    for row in rows:
        row["post_quantum"] = None if row["post_quantum"] is None else bool(row["post_quantum"])
    return Section(
        "key_exchange_groups",
        "Key-exchange groups in use (12.3.3)",
        ("group_name", "kind", "post_quantum", "endpoints"),
        rows,
    )


def _certificates(store: Store, as_of: datetime) -> Section:
    rows: list[dict[str, Any]] = []
    where_used = where_used_by_certificate(store)
    for row in store.db.query(
        "SELECT c.*, min(p.position) AS position, count(DISTINCT e.id) AS endpoints"
        " FROM endpoints e JOIN chain_positions p ON p.endpoint_scan_id = e.latest_scan_id"
        " JOIN certificates c ON c.sha256 = p.certificate_sha256"
        " GROUP BY c.sha256 ORDER BY c.not_after, c.sha256"
    ):
        workloads, where = where_used.get(row["sha256"], (0, ""))
        left = parse_utc_text(row["not_after"]) - as_of
        role = (
            "leaf" if row["position"] == 0 else ("root" if row["self_signed"] else "intermediate")
        )
        key = f"{row['key_type']} {row['key_bits']}" + (
            f" ({row['curve']})" if row["curve"] else ""
        )
        rows.append(
            {
                "role": role,
                "subject": row["subject"],
                "issuer": row["issuer"],
                "serial": row["serial"],
                "key": key,
                "signature_algorithm": row["signature_algorithm"],
                "not_before": row["not_before"],
                "not_after": row["not_after"],
                "days_left": left.days if left.total_seconds() >= 0 else -((-left).days),
                "sha256": row["sha256"],
                "endpoints": row["endpoints"],
                "workloads": workloads,
                "where_used": where,
            }
        )
    return Section(
        "certificates",
        "Trusted keys and certificates in use (4.2.1.1)",
        (
            "role",
            "subject",
            "issuer",
            "serial",
            "key",
            "signature_algorithm",
            "not_before",
            "not_after",
            "days_left",
            "sha256",
            "endpoints",
            "workloads",
            "where_used",
        ),
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
