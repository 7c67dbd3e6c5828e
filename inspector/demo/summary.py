"""Step 8: what the agent found, per namespace, and where the files are (or the TUI on them)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path
from typing import TextIO

from inspector.demo import cluster
from inspector.demo.children import available_commands
from inspector.demo.state import DemoState

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")


@dataclasses.dataclass
class NamespaceSummary:
    name: str
    scope: str
    endpoints: int = 0
    transports: Counter[str] = dataclasses.field(default_factory=Counter)
    severities: Counter[str] = dataclasses.field(default_factory=Counter)
    rules: Counter[str] = dataclasses.field(default_factory=Counter)
    secret_objects: int = 0


def _namespace_of(subject_key: str) -> str:
    """Subject keys start with the namespace (``ns/Kind/name/pod@ip:port``) when they have one."""
    head, sep, _ = subject_key.partition("/")
    return head if sep and "@" not in head and ":" not in head else ""


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    return {row[0] for row in rows}


def collect(db: Path) -> dict[str, NamespaceSummary]:
    """Per namespace: endpoints by transport, open findings by severity and rule."""
    summaries = {ns.name: NamespaceSummary(ns.name, ns.scope) for ns in cluster.NAMESPACES}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = _tables(conn)
        for namespace, transport, count in conn.execute(
            "SELECT coalesce(namespace, ''), coalesce(transport, '?'), count(*) "
            "FROM current_endpoints GROUP BY 1, 2"
        ):
            summary = summaries.setdefault(namespace, NamespaceSummary(namespace, ""))
            summary.endpoints += count
            summary.transports[transport] += count
        query = (
            "SELECT f.subject_key, e.namespace, f.rule_id, f.severity FROM current_findings f "
            "LEFT JOIN endpoints e ON e.id = f.endpoint_id WHERE f.status = 'open'"
            if "current_findings" in tables
            else "SELECT f.subject_key, e.namespace, f.rule_id, f.severity FROM findings f "
            "LEFT JOIN endpoints e ON e.id = f.endpoint_id WHERE f.resolved_at IS NULL"
        )
        for subject_key, namespace, rule_id, severity in conn.execute(query):
            name = namespace or _namespace_of(subject_key)
            summary = summaries.setdefault(name, NamespaceSummary(name, ""))
            summary.severities[severity] += 1
            summary.rules[rule_id] += 1
        if "secret_objects" in tables:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(secret_objects)")}
            if "namespace" in columns:
                for namespace, count in conn.execute(
                    "SELECT namespace, count(DISTINCT id) FROM secret_objects GROUP BY 1"
                ):
                    summary = summaries.setdefault(namespace, NamespaceSummary(namespace, ""))
                    summary.secret_objects = count
    return summaries


def print_summary(db: Path, state: DemoState, out: TextIO) -> None:
    try:
        summaries = collect(db)
    except sqlite3.Error as exc:
        print(f"cannot read {db}: {exc}", file=out)
        return
    print("", file=out)
    print(
        "What the agent found (open findings by severity: critical/high/medium/low/info)", file=out
    )
    for summary in summaries.values():
        label = summary.name or "(cluster-wide)"
        severity = "/".join(str(summary.severities[level]) for level in SEVERITY_ORDER)
        transports = ", ".join(
            f"{name} {count}" for name, count in sorted(summary.transports.items())
        )
        scope = f" [{summary.scope}]" if summary.scope else ""
        print(f"  {label}{scope}", file=out)
        print(f"    endpoints: {summary.endpoints} ({transports or 'none'})", file=out)
        if summary.secret_objects:
            print(f"    mounted Key Vault objects: {summary.secret_objects}", file=out)
        print(f"    findings: {severity}", file=out)
        for rule_id, count in sorted(summary.rules.items()):
            print(f"      {rule_id}" + (f" x{count}" if count > 1 else ""), file=out)
    stories = defaultdict(list)
    for item in cluster.WORKLOADS:
        stories[item.namespace].append(f"{item.name}: {item.story}")
    print("", file=out)
    print("The fictional cluster (what to look for)", file=out)
    for namespace, lines in stories.items():
        for line in lines:
            print(f"  {namespace}/{line}", file=out)


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
