"""Step 8: what the agent found, per namespace, and where the files are (or the TUI on them)."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections import Counter
from pathlib import Path
from typing import TextIO

from inspector.demo import cluster
from inspector.demo.children import available_commands
from inspector.demo.manifests import pod_name
from inspector.demo.state import DemoState

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info", "waived")


@dataclasses.dataclass
class NamespaceSummary:
    name: str
    scope: str
    endpoints: int = 0
    transports: Counter[str] = dataclasses.field(default_factory=Counter)
    severities: Counter[str] = dataclasses.field(default_factory=Counter)
    #: (severity, rule id, title) -> the subjects (workloads, mounts, vault objects) it fired on.
    findings: dict[tuple[str, str, str], set[str]] = dataclasses.field(default_factory=dict)


def _group_of(subject_key: str) -> tuple[str, str]:
    """(group, short subject) of a non-endpoint finding: its namespace, or the vault for vault objects.

    Subject keys start with the namespace (``ns/pod/volume/...``) when they have
    one; vault-level subjects are ``keyvault:<vault>/<type>/<name>``, the CSI driver's
    ``csi-driver:<namespace>/<DaemonSet>``.
    """
    if subject_key.startswith("keyvault:"):
        vault, _, rest = subject_key.removeprefix("keyvault:").partition("/")
        return f"Key Vault {vault}", rest
    if subject_key.startswith("csi-driver:"):  # csi-driver:<namespace>/<DaemonSet> (rule V6)
        namespace, _, daemonset = subject_key.removeprefix("csi-driver:").partition("/")
        return namespace, f"DaemonSet {daemonset}"
    head, sep, rest = subject_key.partition("/")
    if sep and "@" not in head and ":" not in head:
        return head, rest
    return "", subject_key


def _workload_of_pod(pod: str) -> str:
    for item in cluster.WORKLOADS:
        if pod == pod_name(item):
            return item.name
    return pod


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    return {row[0] for row in rows}


def collect(db: Path) -> dict[str, NamespaceSummary]:
    """Per namespace (and per vault): endpoints by transport, open findings by severity and rule."""
    summaries = {ns.name: NamespaceSummary(ns.name, ns.scope) for ns in cluster.NAMESPACES}
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        tables = _tables(conn)
        for namespace, transport, count in conn.execute(
            "SELECT coalesce(namespace, ''), coalesce(transport, '?'), count(*) "
            "FROM current_endpoints GROUP BY 1, 2"
        ):
            summary = summaries.setdefault(namespace, NamespaceSummary(namespace, ""))
            summary.endpoints += count
            summary.transports[transport] += count
        current = "current_findings" in tables
        status = "f.status IN ('open', 'waived')" if current else "f.resolved_at IS NULL"
        source = "current_findings" if current else "findings"
        waived = "f.status = 'waived'" if current else "0"
        rows = conn.execute(
            "SELECT f.subject_key, e.namespace, e.workload_name, f.rule_id, f.severity, "
            f"coalesce(r.title, f.rule_id), {waived} "
            f"FROM {source} f LEFT JOIN endpoints e ON e.id = f.endpoint_id "
            f"LEFT JOIN rules r ON r.id = f.rule_id WHERE {status}"
        )
        for subject_key, namespace, workload, rule_id, severity, title, is_waived in rows:
            if is_waived:
                severity = "waived"
            if namespace:
                group, subject = namespace, workload or subject_key
            else:
                group, rest = _group_of(subject_key)
                pod, _, tail = rest.partition("/")
                subject = f"{_workload_of_pod(pod)}/{tail}" if tail else rest
            summary = summaries.setdefault(group, NamespaceSummary(group, ""))
            summary.severities[severity] += 1
            summary.findings.setdefault((severity, rule_id, title), set()).add(subject)
    return summaries


def _severity_rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def print_summary(db: Path, state: DemoState, out: TextIO) -> None:
    try:
        summaries = collect(db)
    except sqlite3.Error as exc:
        print(f"cannot read {db}: {exc}", file=out)
        return
    print("", file=out)
    print("What the agent found (open findings, and those a waiver covers)", file=out)
    for summary in summaries.values():
        scope = f" [scope: {summary.scope}]" if summary.scope else ""
        counts = ", ".join(
            f"{summary.severities[level]} {level}"
            for level in SEVERITY_ORDER
            if summary.severities[level]
        )
        print(f"  {summary.name or '(no namespace)'}{scope}", file=out)
        if summary.endpoints:
            transports = ", ".join(
                f"{name} {count}" for name, count in sorted(summary.transports.items())
            )
            print(f"    {summary.endpoints} endpoints: {transports}", file=out)
        print(f"    findings: {counts or 'none'}", file=out)
        ordered = sorted(
            summary.findings.items(), key=lambda entry: (_severity_rank(entry[0][0]), entry[0][1])
        )
        for (severity, rule_id, title), subjects in ordered:
            where = ", ".join(sorted(subjects))
            print(f"      {severity:<8} {rule_id:<4} {title} — {where}", file=out)
    print("", file=out)
    print("The fictional cluster (what to look for)", file=out)
    for item in cluster.WORKLOADS:
        print(f"  {item.namespace}/{item.name}: {item.story}", file=out)


def print_paths(state: DemoState, out: TextIO) -> None:
    print("", file=out)
    print(f"Files (work directory {state.workdir}, kept):", file=out)
    for name, path in state.files.items():
        print(f"  {name:<18} {path}", file=out)
    if state.skipped:
        print("Not shown in this run:", file=out)
        for line in state.skipped:
            print(f"  - {line}", file=out)
    database = state.files.get("database")
    if database and Path(database).exists():
        print(f"Browse it: cryptoscope tui {database}", file=out)


def tui_available() -> bool:
    return "tui" in available_commands()


def open_tui(db: Path, save_dir: Path) -> int:
    """The real ``cryptoscope tui`` on the demo's database; ctrl+s and e save into the work directory."""
    from inspector.cli import main

    return main(["tui", str(db), "--save-dir", str(save_dir)])
