"""Every SQL query the TUI runs: paging, filtering and sorting happen in SQLite.

No Textual here. Each function takes an open (read-only) connection and returns
plain frozen dataclasses or tuples, so the TUI's thread workers can call them and
the benchmark and tests can time and check them directly.

A table view is a :class:`ListQuery`: a ``FROM`` source, the columns it shows
(each an SQL expression the ``/`` filter and the sort keys may use), and a
stable row key. :func:`fetch_page` adds the scope (from a drill-down), the
filter, ``ORDER BY`` and ``LIMIT/OFFSET``; only one page ever leaves SQLite.
"""

from __future__ import annotations

import dataclasses
import functools
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from inspector.tui.filtering import NO_FILTER, CompiledFilter, Filterable

#: Rows fetched per page (a DataTable stays fast far below this).
PAGE_SIZE = 100

# --------------------------------------------------------------------------- strength

#: Suite strength labels of :mod:`agent.tls.reference`, weakest first; the rank is the index.
STRENGTHS: tuple[str, ...] = ("insecure", "weak", "acceptable", "strong")

#: The SQL function every TUI connection gets (see :func:`register_functions`).
STRENGTH_FUNCTION = "cs_strength_rank"


@functools.lru_cache(maxsize=4096)
def strength_of_name(name: str) -> str:
    """The strength label the prober's reference data gives a suite (IANA name); "" when unknown."""
    from agent.tls import reference

    suite = reference.cipher_suite(name)
    if suite is None:
        return ""
    label, _reason = reference.strength(suite)
    return str(label)


def strength_rank(name: str | None) -> int | None:
    label = strength_of_name(name) if name else ""
    return STRENGTHS.index(label) if label in STRENGTHS else None


def register_functions(conn: sqlite3.Connection) -> None:
    """Give `conn` the SQL functions the queries use (a Python function keeps one source of truth)."""
    conn.create_function(STRENGTH_FUNCTION, 1, strength_rank, deterministic=True)


def strength_rank_sql(name: str) -> str:
    """An SQL expression: 0 insecure, 1 weak, 2 acceptable, 3 strong, NULL unknown, for the suite `name`."""
    return f"{STRENGTH_FUNCTION}({name})"


def strength_of(rank: int | None) -> str:
    if rank is None:
        return "unknown"
    return STRENGTHS[max(0, min(rank, len(STRENGTHS) - 1))]


#: Severities, worst first; grade letters follow the worst open, unwaived finding.
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "info")
_SEVERITY_RANK_SQL = (
    "(CASE {col} WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 "
    "WHEN 'low' THEN 3 WHEN 'info' THEN 4 ELSE 5 END)"
)
#: Grade by worst open finding: none A, info/low B, medium C, high D, critical F.
GRADES: tuple[tuple[str, str], ...] = (
    ("A", "no open finding"),
    ("B", "low or informational findings only"),
    ("C", "medium findings"),
    ("D", "high findings"),
    ("F", "critical findings"),
)


def severity_rank_sql(column: str) -> str:
    return _SEVERITY_RANK_SQL.format(col=column)


def _grade_sql(endpoint_id: str) -> str:
    worst = (
        f"(SELECT min({severity_rank_sql('f.severity')}) FROM findings f "
        f"WHERE f.endpoint_id = {endpoint_id} AND f.resolved_at IS NULL AND f.waived = 0)"
    )
    return f"(CASE {worst} WHEN 0 THEN 'F' WHEN 1 THEN 'D' WHEN 2 THEN 'C' WHEN 3 THEN 'B' WHEN 4 THEN 'B' ELSE 'A' END)"


#: Severities behind each grade letter, and the worse ones an endpoint of that grade has none of.
_GRADE_SEVERITIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "F": (("critical",), ()),
    "D": (("high",), ("critical",)),
    "C": (("medium",), ("critical", "high")),
    "B": (("low", "info"), ("critical", "high", "medium")),
    "A": ((), SEVERITIES),
}


def _endpoints_with_open(severities: Sequence[str]) -> str:
    listed = ", ".join(f"'{severity}'" for severity in severities)
    return (
        "SELECT f.endpoint_id FROM findings f WHERE f.resolved_at IS NULL AND f.severity IN "
        f"({listed}) AND f.waived = 0 AND f.endpoint_id IS NOT NULL"
    )


def _grade_equals(endpoint_id: str) -> tuple[tuple[str, str], ...]:
    """``grade=X`` as indexed subqueries (findings by resolved_at, severity): 10 ms instead of
    evaluating the grade of all 100,000 endpoints (0.2 s). Same letters as :func:`_grade_sql`."""
    clauses = []
    for letter, (has, worse) in _GRADE_SEVERITIES.items():
        parts = [f"{endpoint_id} IN ({_endpoints_with_open(has)})"] if has else []
        if worse:
            parts.append(f"{endpoint_id} NOT IN ({_endpoints_with_open(worse)})")
        clauses.append((letter.lower(), " AND ".join(parts)))
    return tuple(clauses)


# --------------------------------------------------------------------------- list queries


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    """One column of a table view.

    Attributes:
        key: result column name (and the name the filter uses unless `filter_name`).
        label: header text.
        sql: SQL expression, evaluated in the scope of the view's `source`.
        kind: how the TUI renders it ("text", "number", "expiry", "severity", "strength", "grade", "time", "status").
        numeric: compare as a number in the filter.
        searchable: searched by a bare filter word (keep expensive subqueries out).
        sortable: offered to the sort keys.
    """

    key: str
    label: str
    sql: str
    kind: str = "text"
    numeric: bool = False
    searchable: bool = True
    sortable: bool = True
    filter_name: str | None = None
    #: See :attr:`Filterable.equals`.
    equals: tuple[tuple[str, str], ...] = ()

    def filterable(self) -> Filterable:
        return Filterable(
            self.filter_name or self.key,
            self.sql,
            numeric=self.numeric,
            searchable=self.searchable,
            equals=self.equals,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """A drill-down restriction, e.g. one namespace; shown as a breadcrumb."""

    label: str
    where: str
    params: tuple[object, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class ListQuery:
    """A table view as SQL."""

    name: str
    title: str
    #: ``FROM`` clause body (a table, a view, joins, or a parenthesised sub-select with an alias).
    source: str
    #: Stable row identity (survives refreshes so the cursor can stay put).
    key_sql: str
    columns: tuple[Column, ...]
    default_sort: str
    default_descending: bool = False
    #: Extra filter names (not shown as columns), e.g. ``severity`` on endpoints.
    extra_filters: tuple[Filterable, ...] = ()
    #: Fetch the page's keys first (only WHERE and ORDER BY evaluated over all rows), then the
    #: columns for those keys only. Right for plain-table sources with per-row subqueries.
    two_phase: bool = False
    #: Order applied after the chosen sort column and before the key (e.g. severity within a requirement).
    secondary_order: str = ""

    def column(self, key: str) -> Column:
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)

    def filterables(self) -> list[Filterable]:
        names = [column.filterable() for column in self.columns]
        return names + list(self.extra_filters)


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    """Rows ``offset .. offset+len(rows)`` of ``total`` matching rows."""

    columns: tuple[Column, ...]
    keys: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    total: int
    offset: int
    #: False when `total` is only a lower bound (the count was deferred, see ``fetch_page(count=False)``).
    total_exact: bool = True

    def summary(self, shown: int | None = None) -> str:
        count = self.offset + len(self.rows) if shown is None else shown
        return f"Showing {count:,} of {self.total:,}"


def _where(scope: Sequence[Scope], filt: CompiledFilter) -> tuple[str, list[object]]:
    clauses = [f"({s.where})" for s in scope if s.where]
    params: list[object] = [p for s in scope for p in s.params]
    if filt.active:
        clauses.append(f"({filt.where})")
        params.extend(filt.params)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _order(
    query: ListQuery, sort: str | None, descending: bool | None, filt: CompiledFilter = NO_FILTER
) -> str:
    key = sort or query.default_sort
    desc = query.default_descending if descending is None else descending
    column = query.column(key)
    direction = "DESC" if desc else "ASC"
    nulls = "NULLS LAST" if not desc else "NULLS FIRST"
    secondary = f"{query.secondary_order}, " if query.secondary_order else ""
    # A searched word usually matches a small part of the rows, scattered in sort order: walking
    # the sort index then reads most rows one by one (0.1 s at 100,000 endpoints). Unary ``+``
    # keeps SQLite off that index, so it scans once and keeps the top rows (3x faster).
    sort_sql = f"+({column.sql})" if filt.searches_text and not filt.inverted else column.sql
    return f" ORDER BY {sort_sql} {direction} {nulls}, {secondary}{query.key_sql} {direction}"


def select_sql(
    query: ListQuery,
    scope: Sequence[Scope],
    filt: CompiledFilter,
    sort: str | None,
    descending: bool | None,
) -> tuple[str, list[object]]:
    cols = ", ".join(f'{c.sql} AS "{c.key}"' for c in query.columns)
    where, params = _where(scope, filt)
    sql = f"SELECT {query.key_sql} AS __key, {cols} FROM {query.source}{where}{_order(query, sort, descending, filt)}"
    return sql, params


def count_rows(
    conn: sqlite3.Connection,
    query: ListQuery,
    scope: Sequence[Scope] = (),
    filt: CompiledFilter = NO_FILTER,
) -> int:
    where, params = _where(scope, filt)
    return int(conn.execute(f"SELECT count(*) FROM {query.source}{where}", params).fetchone()[0])


def fetch_page(
    conn: sqlite3.Connection,
    query: ListQuery,
    *,
    scope: Sequence[Scope] = (),
    filt: CompiledFilter = NO_FILTER,
    sort: str | None = None,
    descending: bool | None = None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
    total: int | None = None,
    count: bool = True,
) -> Page:
    """One page of a view; `total` may be passed in to skip the count (loading more rows).

    With ``count=False`` a full page does not count the matching rows: ``total`` is then the
    lower bound ``offset + len(rows)`` and ``total_exact`` False (the caller counts later with
    :func:`count_rows`, so the rows can be shown first). A short page is always exact.
    """
    if query.two_phase:
        rows = _fetch_two_phase(conn, query, scope, filt, sort, descending, offset, limit)
    else:
        sql, params = select_sql(query, scope, filt, sort, descending)
        rows = [tuple(r) for r in conn.execute(sql + " LIMIT ? OFFSET ?", [*params, limit, offset])]
    exact = True
    if total is None:
        if count and (offset or len(rows) >= limit):
            total = count_rows(conn, query, scope, filt)
        else:
            total = offset + len(rows)
            exact = len(rows) < limit and (bool(rows) or offset == 0)
    return Page(
        columns=query.columns,
        keys=tuple(str(row[0]) for row in rows),
        rows=tuple(tuple(row[1:]) for row in rows),
        total=total,
        offset=offset,
        total_exact=exact,
    )


def _fetch_two_phase(
    conn: sqlite3.Connection,
    query: ListQuery,
    scope: Sequence[Scope],
    filt: CompiledFilter,
    sort: str | None,
    descending: bool | None,
    offset: int,
    limit: int,
) -> list[tuple[Any, ...]]:
    where, params = _where(scope, filt)
    order = _order(query, sort, descending, filt)
    keys = [
        r[0]
        for r in conn.execute(
            f"SELECT {query.key_sql} FROM {query.source}{where}{order} LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
    ]
    if not keys:
        return []
    cols = ", ".join(f'{c.sql} AS "{c.key}"' for c in query.columns)
    marks = ", ".join("?" for _ in keys)
    by_key = {
        r[0]: tuple(r)
        for r in conn.execute(
            f"SELECT {query.key_sql} AS __key, {cols} FROM {query.source} WHERE {query.key_sql} IN ({marks})",
            keys,
        )
    }
    return [by_key[k] for k in keys if k in by_key]


def iter_rows(
    conn: sqlite3.Connection,
    query: ListQuery,
    *,
    scope: Sequence[Scope] = (),
    filt: CompiledFilter = NO_FILTER,
    sort: str | None = None,
    descending: bool | None = None,
) -> Iterator[dict[str, Any]]:
    """Every matching row (for saving the view), streamed."""
    sql, params = select_sql(query, scope, filt, sort, descending)
    keys = [c.key for c in query.columns]
    for row in conn.execute(sql, params):
        yield dict(zip(keys, tuple(row)[1:], strict=True))


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = ? AND type IN ('table','view')", (name,)
        ).fetchone()
        is not None
    )


def table_columns(conn: sqlite3.Connection, name: str) -> list[str]:
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')]


# --------------------------------------------------------------------------- the views

_WORKLOAD = "COALESCE(e.workload_kind || '/' || e.workload_name, e.workload_name, e.pod, '')"
_VERSIONS = (
    "(SELECT group_concat(replace(protocol, 'TLSv', ''), ' ') FROM "
    "(SELECT protocol FROM accepted_protocols WHERE endpoint_scan_id = e.latest_scan_id ORDER BY protocol))"
)
_WEAKEST = (
    "(SELECT a.suite FROM accepted_suites a WHERE a.endpoint_scan_id = e.latest_scan_id "
    f"ORDER BY COALESCE({strength_rank_sql('a.suite')}, 2), a.protocol, a.preference_rank LIMIT 1)"
)
_WEAKEST_RANK = f"(SELECT min({strength_rank_sql('a.suite')}) FROM accepted_suites a WHERE a.endpoint_scan_id = e.latest_scan_id)"
_LEAF_EXPIRY = (
    "(SELECT c.not_after FROM endpoint_scans s JOIN certificates c ON c.sha256 = s.leaf_sha256 "
    "WHERE s.id = e.latest_scan_id)"
)
_OPEN_FINDINGS = (
    "(SELECT count(*) FROM findings f WHERE f.endpoint_id = e.id AND f.resolved_at IS NULL)"
)

ENDPOINTS = ListQuery(
    name="endpoints",
    title="Endpoints",
    source="endpoints e",
    key_sql="e.id",
    columns=(
        Column("namespace", "NAMESPACE", "e.namespace", filter_name="ns"),
        Column("workload", "WORKLOAD", _WORKLOAD, searchable=False),
        Column("pod", "POD", "e.pod"),
        Column("address", "ADDRESS", "e.ip"),
        Column("port", "PORT", "e.port", kind="number", numeric=True, searchable=False),
        Column("transport", "TRANSPORT", "e.transport", kind="transport", searchable=False),
        Column("versions", "VERSIONS", _VERSIONS, searchable=False, sortable=False),
        Column(
            "weakest", "WEAKEST SUITE", _WEAKEST, kind="suite", searchable=False, sortable=False
        ),
        Column("expiry", "CERT EXPIRES", _LEAF_EXPIRY, kind="expiry", searchable=False),
        Column(
            "findings", "FINDINGS", _OPEN_FINDINGS, kind="number", numeric=True, searchable=False
        ),
        Column(
            "grade",
            "GRADE",
            _grade_sql("e.id"),
            kind="grade",
            searchable=False,
            equals=_grade_equals("e.id"),
        ),
    ),
    default_sort="namespace",
    two_phase=True,
    extra_filters=(
        Filterable("name", "e.workload_name"),
        Filterable("sni", "e.sni", searchable=False),
        Filterable("node", "e.node", searchable=False),
        Filterable("service", "e.service", searchable=False),
        Filterable("purpose", "e.purpose", searchable=False),
        Filterable("strength", _WEAKEST_RANK, numeric=True, searchable=False),
    ),
)

NAMESPACES = ListQuery(
    name="namespaces",
    title="Namespaces",
    source=(
        "(SELECT COALESCE(e.namespace, '') AS namespace, "
        "count(DISTINCT COALESCE(e.workload_kind, '') || '/' || COALESCE(e.workload_name, e.pod, '')) AS workloads, "
        "count(*) AS endpoints, "
        "sum(e.transport IN ('tls','tls-client-cert-required') OR e.transport LIKE 'starttls%') AS tls, "
        "sum(e.transport LIKE 'plaintext%') AS plaintext, "
        "max(e.last_seen) AS last_seen "
        "FROM endpoints e GROUP BY COALESCE(e.namespace, '')) n "
        "LEFT JOIN (SELECT COALESCE(e.namespace, '') AS namespace, count(*) AS open_findings "
        "FROM findings f NOT INDEXED JOIN endpoints e ON e.id = f.endpoint_id "
        "WHERE f.resolved_at IS NULL GROUP BY 1) nf ON nf.namespace = n.namespace"
    ),
    key_sql="n.namespace",
    columns=(
        Column("namespace", "NAMESPACE", "n.namespace", filter_name="ns"),
        Column(
            "workloads", "WORKLOADS", "n.workloads", kind="number", numeric=True, searchable=False
        ),
        Column(
            "endpoints", "ENDPOINTS", "n.endpoints", kind="number", numeric=True, searchable=False
        ),
        Column("tls", "TLS", "n.tls", kind="number", numeric=True, searchable=False),
        Column(
            "plaintext", "PLAINTEXT", "n.plaintext", kind="number", numeric=True, searchable=False
        ),
        Column(
            "findings",
            "OPEN FINDINGS",
            "COALESCE(nf.open_findings, 0)",
            kind="number",
            numeric=True,
            searchable=False,
        ),
        Column("last_seen", "LAST SEEN", "n.last_seen", kind="time", searchable=False),
    ),
    default_sort="namespace",
)

WORKLOADS = ListQuery(
    name="workloads",
    title="Workloads",
    source=(
        "(SELECT COALESCE(e.namespace, '') AS namespace, COALESCE(e.workload_kind, '') AS kind, "
        "COALESCE(e.workload_name, e.pod, '') AS name, count(*) AS endpoints, "
        "count(DISTINCT e.pod) AS pods, "
        "sum(e.transport LIKE 'plaintext%') AS plaintext, min(c.not_after) AS expiry, "
        "sum(COALESCE(fc.n, 0)) AS findings "
        "FROM endpoints e LEFT JOIN endpoint_scans s ON s.id = e.latest_scan_id "
        "LEFT JOIN certificates c ON c.sha256 = s.leaf_sha256 "
        "LEFT JOIN (SELECT endpoint_id, count(*) AS n FROM findings NOT INDEXED "
        "WHERE resolved_at IS NULL GROUP BY endpoint_id) fc ON fc.endpoint_id = e.id "
        "GROUP BY 1, 2, 3) w"
    ),
    key_sql="(w.namespace || '|' || w.kind || '|' || w.name)",
    columns=(
        Column("namespace", "NAMESPACE", "w.namespace", filter_name="ns"),
        Column("kind", "KIND", "w.kind"),
        Column("name", "WORKLOAD", "w.name"),
        Column("pods", "PODS", "w.pods", kind="number", numeric=True, searchable=False),
        Column(
            "endpoints", "ENDPOINTS", "w.endpoints", kind="number", numeric=True, searchable=False
        ),
        Column(
            "plaintext", "PLAINTEXT", "w.plaintext", kind="number", numeric=True, searchable=False
        ),
        Column("expiry", "FIRST CERT EXPIRY", "w.expiry", kind="expiry", searchable=False),
        Column(
            "findings", "OPEN FINDINGS", "w.findings", kind="number", numeric=True, searchable=False
        ),
    ),
    default_sort="namespace",
)

_FINDING_STATUS = (
    "(CASE WHEN f.resolved_at IS NOT NULL THEN 'resolved' "
    "WHEN f.waived = 1 OR f.waiver_id IS NOT NULL THEN 'waived' ELSE 'open' END)"
)

FINDINGS = ListQuery(
    name="findings",
    title="Findings",
    source="findings f NOT INDEXED LEFT JOIN waivers w ON w.id = f.waiver_id",
    key_sql="f.id",
    columns=(
        Column("requirement", "REQUIREMENT", "f.requirements", filter_name="req"),
        Column("severity", "SEVERITY", "f.severity", kind="severity", filter_name="sev"),
        Column("status", "STATUS", _FINDING_STATUS, kind="status"),
        Column("rule", "RULE", "f.rule_id"),
        Column("subject", "SUBJECT", "f.subject_key"),
        Column("message", "MESSAGE", "f.message"),
        Column(
            "waiver",
            "WAIVER",
            "CASE WHEN w.id IS NOT NULL THEN w.reason || ' (' || w.approver || ', until ' || w.expires_at || ')' END",
            searchable=False,
            sortable=False,
        ),
        Column("last_seen", "LAST SEEN", "f.last_seen", kind="time", searchable=False),
    ),
    default_sort="requirement",
    two_phase=True,
    secondary_order=severity_rank_sql("f.severity"),
    extra_filters=(
        Filterable("remediation", "f.remediation", searchable=False),
        Filterable("type", "f.subject_type", searchable=False),
        Filterable("waiver_reason", "w.reason", searchable=False),
    ),
)

#: Findings still open or waived (the default scope of the Findings view; `:findings all` adds resolved ones).
OPEN_OR_WAIVED = Scope("open + waived", "f.resolved_at IS NULL")

RUNS = ListQuery(
    name="runs",
    title="Runs",
    source="runs r",
    key_sql="r.id",
    columns=(
        Column("id", "RUN", "r.id", kind="number", numeric=True, searchable=False),
        Column("agent", "AGENT", "r.agent_id"),
        Column("node", "NODE", "r.node"),
        Column("mode", "MODE", "r.mode"),
        Column("status", "STATUS", "r.status", kind="status"),
        Column("started", "STARTED", "r.started_at", kind="time"),
        Column("finished", "FINISHED", "r.finished_at", kind="time"),
        Column(
            "endpoints",
            "ENDPOINTS",
            "r.endpoint_count",
            kind="number",
            numeric=True,
            searchable=False,
        ),
        Column("errors", "ERRORS", "r.error_count", kind="number", numeric=True, searchable=False),
        Column(
            "findings", "FINDINGS", "r.finding_count", kind="number", numeric=True, searchable=False
        ),
        Column("version", "VERSION", "r.tool_version", searchable=False),
    ),
    default_sort="id",
    default_descending=True,
    two_phase=True,
)

# --------------------------------------------------------------------------- secrets (optional tables)

#: The table the Secrets view reads (migration ``m0003_secrets_and_key_vault``); older databases lack it.
SECRET_TABLE = "current_secret_objects"
#: Kept for messages: every table the view may need.
SECRET_TABLES: tuple[str, ...] = (SECRET_TABLE, "secret_mount_observations")

_SECRET_FRESHNESS = (
    "(CASE WHEN s.stale = 1 THEN 'stale' || COALESCE(' (' || s.newer_versions || ' newer)', '') "
    "WHEN s.is_latest = 1 THEN 'latest' WHEN s.pinned = 1 THEN 'pinned' ELSE 'unknown' END)"
)
_SECRET_STATUS = (
    "(CASE WHEN s.expired = 1 THEN 'expired' WHEN s.enabled = 0 THEN 'disabled' "
    "WHEN s.stale = 1 THEN 'stale' WHEN s.cryptoperiod_exceeded = 1 THEN 'cryptoperiod exceeded' "
    "WHEN s.has_expiry = 0 THEN 'no expiry' ELSE 'ok' END)"
)

SECRETS = ListQuery(
    name="secrets",
    title="Secrets",
    source=f"{SECRET_TABLE} s",
    key_sql="s.id",
    columns=(
        Column("namespace", "NAMESPACE", "s.namespace", filter_name="ns"),
        Column("pod", "POD", "s.pod"),
        Column("vault", "VAULT", "s.keyvault_name"),
        Column("object", "OBJECT", "s.object_name"),
        Column("type", "TYPE", "s.object_type"),
        Column("mounted", "MOUNTED", "s.mounted_version", searchable=False),
        Column("latest", "LATEST", "s.latest_version", searchable=False),
        Column("freshness", "FRESHNESS", _SECRET_FRESHNESS, kind="status", searchable=False),
        Column(
            "written",
            "WRITTEN",
            "(SELECT o.written_at FROM secret_mount_observations o WHERE o.id = s.mount_observation_id)",
            kind="time",
            searchable=False,
        ),
        Column("expires", "EXPIRES", "s.expires_on", kind="expiry", searchable=False),
        Column("identity", "IDENTITY", "s.identity_mode"),
        Column("status", "STATUS", _SECRET_STATUS, kind="status", searchable=False),
    ),
    default_sort="namespace",
    two_phase=True,
    extra_filters=(
        Filterable("alias", "s.object_alias", searchable=False),
        Filterable("principal", "s.identity_principal", searchable=False),
        Filterable("spc", "s.secret_provider_class", searchable=False),
        Filterable("node", "s.node", searchable=False),
        Filterable("subject", "s.subject_key", searchable=False),
        Filterable("mount", "s.mount_key", searchable=False),
        Filterable("vault_object", "s.vault_object_key", searchable=False),
    ),
)

#: Mounted objects that need attention (overview panel): stale, expired or disabled.
_SECRET_ATTENTION = "s.stale = 1 OR s.expired = 1 OR s.enabled = 0"


def secrets_query(conn: sqlite3.Connection) -> ListQuery | None:
    """The Secrets view, or None when this database has no CSI data yet (no table, or no rows)."""
    if not has_table(conn, SECRET_TABLE):
        return None
    if conn.execute(f"SELECT 1 FROM {SECRET_TABLE} LIMIT 1").fetchone() is None:
        return None
    return SECRETS


# --------------------------------------------------------------------------- overview


@dataclasses.dataclass(frozen=True, slots=True)
class Overview:
    endpoints_total: int
    by_transport: tuple[tuple[str, int], ...]
    by_grade: tuple[tuple[str, int], ...]
    findings_by_requirement: tuple[tuple[str, str, int], ...]  # requirement, severity, count
    expiring: tuple[tuple[str, str, str, int], ...]  # not_after, subject, sha256, endpoints
    stale_secrets: tuple[tuple[str, ...], ...] | None  # None: no CSI data yet
    last_runs: tuple[
        tuple[str, str, str, str, int], ...
    ]  # agent, node, finished, status, endpoints
    latest_run_at: str | None
    fresh: bool
    age_seconds: float | None
    #: The Secrets Store CSI driver's rotation, as the agents last saw it (rule V6): one line per
    #: distinct observation, e.g. "on, every 2m0s (aks-secrets-store-csi-driver)"; empty: none.
    csi_rotation: tuple[tuple[str, str], ...] = ()


def split_requirements(text: str | None) -> list[str]:
    """ "3.6.1, 4.2.1" or '["3.6.1"]' -> ["3.6.1", "4.2.1"]."""
    cleaned = str(text or "").strip("[]").replace('"', "")
    return [part.strip() for part in cleaned.split(",") if part.strip()]


def requirement_sort_key(requirement: str) -> tuple[tuple[int, int, str], ...]:
    """Sort 4.2.1 before 12.3.3 (numeric parts), text parts after numbers."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in requirement.split(".")
    )


def _severity_index(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def overview(
    conn: sqlite3.Connection,
    now: datetime,
    *,
    expiring_days: int = 30,
    stale_after: timedelta = timedelta(hours=1),
) -> Overview:
    """Every overview panel (the TUI loads :func:`overview_basics` first, then the findings part)."""
    basics = overview_basics(conn, now, expiring_days=expiring_days, stale_after=stale_after)
    by_grade, by_requirement = overview_findings(conn, basics.endpoints_total)
    return dataclasses.replace(basics, by_grade=by_grade, findings_by_requirement=by_requirement)


def overview_findings(
    conn: sqlite3.Connection, endpoints_total: int
) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, str, int], ...]]:
    """(endpoints by grade, open findings by requirement and severity): the slow part at scale."""
    worst = {
        int(r[0]): int(r[1])
        for r in conn.execute(
            f"SELECT w, count(*) FROM (SELECT min({severity_rank_sql('severity')}) AS w FROM findings NOT INDEXED "
            "WHERE resolved_at IS NULL AND waived = 0 AND endpoint_id IS NOT NULL GROUP BY endpoint_id) GROUP BY w"
        )
    }
    grade_counts = {
        "F": worst.get(0, 0),
        "D": worst.get(1, 0),
        "C": worst.get(2, 0),
        "B": worst.get(3, 0) + worst.get(4, 0),
    }
    grade_counts["A"] = max(0, endpoints_total - sum(grade_counts.values()) - worst.get(5, 0))
    by_grade = tuple((grade, grade_counts.get(grade, 0)) for grade, _ in GRADES)
    per_requirement: dict[tuple[str, str], int] = {}
    for requirements, severity, count in conn.execute(
        "SELECT requirements, severity, count(*) FROM findings NOT INDEXED "
        "WHERE resolved_at IS NULL GROUP BY 1, 2"
    ):
        for requirement in split_requirements(requirements):
            key = (requirement, severity)
            per_requirement[key] = per_requirement.get(key, 0) + int(count)
    by_requirement = tuple(
        (requirement, severity, count)
        for (requirement, severity), count in sorted(
            per_requirement.items(),
            key=lambda item: (requirement_sort_key(item[0][0]), _severity_index(item[0][1])),
        )
    )
    return by_grade, by_requirement


def overview_basics(
    conn: sqlite3.Connection,
    now: datetime,
    *,
    expiring_days: int = 30,
    stale_after: timedelta = timedelta(hours=1),
) -> Overview:
    """The cheap panels (transport, expiring certificates, secrets, runs, freshness); findings empty."""
    total = int(conn.execute("SELECT count(*) FROM endpoints").fetchone()[0])
    by_transport = tuple(
        (str(r[0] or "unknown"), int(r[1]))
        for r in conn.execute(
            "SELECT transport, count(*) FROM endpoints GROUP BY transport ORDER BY 2 DESC"
        )
    )
    horizon = _iso(now + timedelta(days=expiring_days))
    expiring = tuple(
        (str(r[0]), str(r[1]), str(r[2]), int(r[3]))
        for r in conn.execute(
            "SELECT c.not_after, c.subject, c.sha256, (SELECT count(*) FROM endpoint_scans s "
            "JOIN endpoints e ON e.latest_scan_id = s.id WHERE s.leaf_sha256 = c.sha256) AS n "
            "FROM certificates c WHERE c.not_after <= ? AND EXISTS (SELECT 1 FROM endpoint_scans s "
            "JOIN endpoints e ON e.latest_scan_id = s.id WHERE s.leaf_sha256 = c.sha256) "
            "ORDER BY c.not_after, c.sha256 LIMIT 12",
            (horizon,),
        )
    )
    stale = _stale_secrets(conn, now)
    last_runs = tuple(
        (str(r[0]), str(r[1] or ""), str(r[2] or r[3] or ""), str(r[4]), int(r[5] or 0))
        for r in conn.execute(
            "SELECT r.agent_id, r.node, r.finished_at, r.started_at, r.status, r.endpoint_count FROM runs r "
            "JOIN (SELECT agent_id, max(id) AS id FROM runs GROUP BY agent_id) l ON l.id = r.id "
            "ORDER BY r.agent_id LIMIT 50"
        )
    )
    latest = conn.execute("SELECT max(COALESCE(finished_at, started_at)) FROM runs").fetchone()[0]
    latest_at = parse_time(latest)
    age = (now - latest_at).total_seconds() if latest_at else None
    return Overview(
        endpoints_total=total,
        by_transport=by_transport,
        by_grade=(),
        findings_by_requirement=(),
        expiring=expiring,
        stale_secrets=stale,
        last_runs=last_runs,
        latest_run_at=latest,
        fresh=age is not None and age <= stale_after.total_seconds(),
        age_seconds=age,
        csi_rotation=_csi_rotation(conn),
    )


def _csi_rotation(conn: sqlite3.Connection) -> tuple[tuple[str, str], ...]:
    """(state, text) of the CSI driver's rotation per distinct latest observation of the agents:
    state "on", "off" or "unknown"; the text says where and why."""
    if not has_table(conn, "csi_driver_observations"):
        return ()
    seen: dict[tuple[str, str], None] = {}
    for r in conn.execute(
        "SELECT status, daemonset, rotation_enabled, poll_interval, reason FROM current_csi_driver "
        "ORDER BY agent_id, daemonset"
    ):
        status, daemonset, enabled, interval, reason = r
        if status == "found" and enabled is not None:
            state = "on" if enabled else "off"
            text = f"{state}{f', every {interval}' if enabled and interval else ''} ({daemonset})"
        elif status == "not-found":
            state, text = "unknown", "no driver DaemonSet found"
        else:
            state, text = "unknown", f"unknown: {reason or 'no reason recorded'}"
        seen[(state, text)] = None
    return tuple(seen)


def _stale_secrets(conn: sqlite3.Connection, now: datetime) -> tuple[tuple[str, ...], ...] | None:
    """Stale, expired or disabled mounted objects (12 at most); None when there is no CSI data."""
    if secrets_query(conn) is None:
        return None
    rows = conn.execute(
        "SELECT s.namespace, s.pod, s.keyvault_name || '/' || s.object_name, "
        "CASE WHEN s.expired = 1 THEN 'expired ' || COALESCE(substr(s.expires_on, 1, 10), '') "
        "WHEN s.enabled = 0 THEN 'disabled in the vault' "
        "ELSE 'stale: mounted ' || COALESCE(substr(s.mounted_version, 1, 8), '?') || ', latest ' "
        "|| COALESCE(substr(s.latest_version, 1, 8), '?') END "
        f"FROM {SECRET_TABLE} s WHERE {_SECRET_ATTENTION} "
        "ORDER BY s.expired DESC, s.expires_on, s.namespace, s.pod LIMIT 12"
    )
    return tuple(tuple("" if v is None else str(v) for v in row) for row in rows)


# --------------------------------------------------------------------------- workload


def workload_scope(namespace: str, kind: str, name: str) -> Scope:
    label = f"{namespace}/{kind + '/' if kind else ''}{name}"
    return Scope(
        label,
        "COALESCE(e.namespace, '') = ? AND COALESCE(e.workload_kind, '') = ? AND COALESCE(e.workload_name, e.pod, '') = ?",
        (namespace, kind, name),
    )


def namespace_scope(namespace: str, alias: str = "e") -> Scope:
    return Scope(
        f"ns {namespace or '(none)'}", f"COALESCE({alias}.namespace, '') = ?", (namespace,)
    )


def workload_secrets(
    conn: sqlite3.Connection, namespace: str, pods: Sequence[str]
) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]] | None:
    """Mounted secret objects of a workload's pods: (headers, rows); None when no CSI data exists."""
    if secrets_query(conn) is None:
        return None
    shown = [c for c in SECRETS.columns if c.key not in ("namespace",)]
    if not pods:
        return tuple(c.label for c in shown), ()
    marks = ", ".join("?" for _ in pods)
    cols = ", ".join(c.sql for c in shown)
    rows = conn.execute(
        f"SELECT {cols} FROM {SECRETS.source} WHERE s.namespace = ? AND s.pod IN ({marks}) "
        "ORDER BY s.pod, s.object_name LIMIT 500",
        [namespace, *pods],
    )
    return tuple(c.label for c in shown), tuple(
        tuple("" if v is None else str(v) for v in r) for r in rows
    )


def workload_pods(conn: sqlite3.Connection, scope: Scope) -> list[str]:
    return [
        str(r[0])
        for r in conn.execute(
            f"SELECT DISTINCT e.pod FROM endpoints e WHERE {scope.where} AND e.pod IS NOT NULL",
            scope.params,
        )
    ]


# --------------------------------------------------------------------------- endpoint detail


@dataclasses.dataclass(frozen=True, slots=True)
class SuiteRow:
    protocol: str
    rank: int
    suite: str
    strength: str
    key_exchange: str
    cipher: str
    mac: str
    bits: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class GroupRow:
    protocol: str
    rank: int
    name: str
    post_quantum: bool
    kind: str


@dataclasses.dataclass(frozen=True, slots=True)
class ChainCert:
    position: int
    facts: Mapping[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class FindingRow:
    rule_id: str
    severity: str
    requirements: str
    status: str
    message: str
    remediation: str
    first_seen: str
    last_seen: str
    waiver: str


@dataclasses.dataclass(frozen=True, slots=True)
class EndpointDetail:
    endpoint: Mapping[str, Any]
    scan: Mapping[str, Any] | None
    run: Mapping[str, Any] | None
    protocols: Mapping[
        str, bool | None
    ]  # every known version: accepted / rejected / not tested (None)
    server_preference: Mapping[str, bool | None]
    suites: tuple[SuiteRow, ...]
    groups: tuple[GroupRow, ...]
    chain: tuple[ChainCert, ...]
    findings: tuple[FindingRow, ...]
    errors: tuple[str, ...]
    #: Revocation of each checked certificate by chain position (leaf at 0; none for a root).
    revocation: Mapping[int, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    #: The OCSP response the server stapled (or that it stapled none), when the scan asked.
    staple: Mapping[str, Any] | None = None


#: Protocol versions in matrix order (oldest first).
PROTOCOLS: tuple[str, ...] = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")

#: Group names that are post-quantum hybrids or pure PQ KEMs even if the IANA table is absent.
_PQ_MARKERS: tuple[str, ...] = ("MLKEM", "KYBER", "ML-KEM")


def endpoint_detail(conn: sqlite3.Connection, endpoint_id: int) -> EndpointDetail | None:
    row = conn.execute("SELECT * FROM endpoints WHERE id = ?", (endpoint_id,)).fetchone()
    if row is None:
        return None
    endpoint = dict(row)
    scan_id = endpoint.get("latest_scan_id")
    scan = (
        conn.execute("SELECT * FROM endpoint_scans WHERE id = ?", (scan_id,)).fetchone()
        if scan_id
        else None
    )
    run = (
        conn.execute("SELECT * FROM runs WHERE id = ?", (scan["run_id"],)).fetchone()
        if scan
        else None
    )
    accepted: dict[str, bool | None] = dict.fromkeys(PROTOCOLS)
    preference: dict[str, bool | None] = {}
    suites: list[SuiteRow] = []
    groups: list[GroupRow] = []
    chain: list[ChainCert] = []
    if scan is not None:
        tested = _tested_protocols(conn, int(scan["id"]))
        is_tls = str(scan["transport"]).startswith(("tls", "starttls"))
        for name in PROTOCOLS:
            accepted[name] = False if is_tls and (tested is None or name in tested) else None
        for r in conn.execute(
            "SELECT protocol, server_preference FROM accepted_protocols WHERE endpoint_scan_id = ?",
            (scan_id,),
        ):
            accepted[r[0]] = True
            preference[r[0]] = None if r[1] is None else bool(r[1])
        iana = has_table(conn, "iana_cipher_suites")
        join = "LEFT JOIN iana_cipher_suites i ON i.name = a.suite" if iana else ""
        extra = (
            "i.key_exchange, i.cipher, i.mac, i.strength_bits" if iana else "NULL, NULL, NULL, NULL"
        )
        for r in conn.execute(
            f"SELECT a.protocol, a.preference_rank, a.suite, {strength_rank_sql('a.suite')}, {extra} "
            f"FROM accepted_suites a {join} WHERE a.endpoint_scan_id = ? "
            "ORDER BY a.protocol DESC, a.preference_rank",
            (scan_id,),
        ):
            suites.append(
                SuiteRow(
                    r[0],
                    int(r[1]),
                    r[2],
                    strength_of(r[3]),
                    r[4] or "",
                    r[5] or "",
                    r[6] or "",
                    r[7],
                )
            )
        gjoin = (
            "LEFT JOIN iana_groups i ON i.name = g.group_name"
            if has_table(conn, "iana_groups")
            else ""
        )
        gextra = "i.post_quantum, i.kind" if gjoin else "NULL, NULL"
        for r in conn.execute(
            f"SELECT g.protocol, g.preference_rank, g.group_name, {gextra} FROM accepted_groups g {gjoin} "
            "WHERE g.endpoint_scan_id = ? ORDER BY g.protocol DESC, g.preference_rank",
            (scan_id,),
        ):
            pq = bool(r[3]) or any(marker in r[2].upper() for marker in _PQ_MARKERS)
            groups.append(GroupRow(r[0] or "", int(r[1]), r[2], pq, r[4] or ""))
        for r in conn.execute(
            "SELECT p.position, c.* FROM chain_positions p JOIN certificates c ON c.sha256 = p.certificate_sha256 "
            "WHERE p.endpoint_scan_id = ? ORDER BY p.position",
            (scan_id,),
        ):
            facts = dict(r)
            position = int(facts.pop("position"))
            chain.append(ChainCert(position, facts))
    findings = tuple(
        FindingRow(
            rule_id=r["rule_id"],
            severity=r["severity"],
            requirements=str(r["requirements"]).strip("[]").replace('"', ""),
            status=r["status"],
            message=r["message"],
            remediation=r["remediation"] or "",
            first_seen=r["first_seen"] or "",
            last_seen=r["last_seen"] or "",
            waiver=r["waiver"] or "",
        )
        for r in conn.execute(
            "SELECT f.*, CASE WHEN f.resolved_at IS NOT NULL THEN 'resolved' "
            "WHEN f.waived = 1 OR f.waiver_id IS NOT NULL THEN 'waived' ELSE 'open' END AS status, "
            "CASE WHEN w.id IS NOT NULL THEN w.reason || ' (' || w.approver || ', until ' || w.expires_at || ')' END AS waiver "
            "FROM findings f LEFT JOIN waivers w ON w.id = f.waiver_id "
            f"WHERE f.endpoint_id = ? OR f.subject_key = ? ORDER BY f.resolved_at IS NOT NULL, {severity_rank_sql('f.severity')}, f.rule_id",
            (endpoint_id, endpoint.get("subject_key")),
        )
    )
    errors = (
        tuple(
            f"{r[0]}: {r[1]}"
            for r in conn.execute(
                "SELECT stage, message FROM errors WHERE endpoint_scan_id = ? ORDER BY id",
                (scan_id,),
            )
        )
        if scan_id
        else ()
    )
    revocation, staple = _revocation(conn, scan) if scan is not None else ({}, None)
    return EndpointDetail(
        endpoint=endpoint,
        scan=dict(scan) if scan else None,
        run=dict(run) if run else None,
        protocols=accepted,
        server_preference=preference,
        suites=tuple(suites),
        groups=tuple(groups),
        chain=tuple(chain),
        findings=findings,
        errors=errors,
        revocation=revocation,
        staple=staple,
    )


def _revocation(
    conn: sqlite3.Connection, scan: sqlite3.Row
) -> tuple[dict[int, dict[str, Any]], dict[str, Any] | None]:
    """Per chain position, the revocation check of a scan; and its OCSP staple (older databases:
    the leaf's check from the scan's own columns, no staple)."""
    scan_id = int(scan["id"])
    by_position: dict[int, dict[str, Any]] = {}
    if has_table(conn, "chain_revocation"):
        for r in conn.execute(
            "SELECT * FROM chain_revocation WHERE endpoint_scan_id = ? ORDER BY position",
            (scan_id,),
        ):
            by_position[int(r["position"])] = dict(r)
    keys = scan.keys()
    if 0 not in by_position and "revocation_status" in keys and scan["revocation_status"]:
        by_position[0] = {
            "status": scan["revocation_status"],
            "method": scan["revocation_method"],
            "url": scan["revocation_url"],
            "detail": scan["revocation_detail"],
            "revoked_at": scan["revoked_at"],
            "reason": scan["revocation_reason"],
            "checked_at": scan["revocation_checked_at"],
        }
    staple = None
    if has_table(conn, "ocsp_staples"):
        row = conn.execute(
            "SELECT * FROM ocsp_staples WHERE endpoint_scan_id = ?", (scan_id,)
        ).fetchone()
        staple = dict(row) if row is not None else None
    return by_position, staple


def _tested_protocols(conn: sqlite3.Connection, scan_id: int) -> set[str] | None:
    """Versions the probe tested, when the store records it; None means "assume all were"."""
    if "tested_protocols" in table_columns(conn, "endpoint_scans"):
        value = conn.execute(
            "SELECT tested_protocols FROM endpoint_scans WHERE id = ?", (scan_id,)
        ).fetchone()[0]
        if value:
            return {
                p.strip()
                for p in str(value).replace("[", "").replace("]", "").replace('"', "").split(",")
                if p.strip()
            }
    return None


# --------------------------------------------------------------------------- run diff


@dataclasses.dataclass(frozen=True, slots=True)
class RunDiff:
    older: Mapping[str, Any]
    newer: Mapping[str, Any]
    #: (change, subject, what): change is "+" appeared, "-" gone, "~" changed.
    endpoint_changes: tuple[tuple[str, str, str], ...]
    #: (change, rule, severity, subject, message): "+" new in newer, "-" gone (resolved) since older.
    finding_changes: tuple[tuple[str, str, str, str, str], ...]


def previous_run(conn: sqlite3.Connection, run_id: int) -> int | None:
    row = conn.execute(
        "SELECT id FROM runs WHERE id < ? AND agent_id = (SELECT agent_id FROM runs WHERE id = ?) ORDER BY id DESC LIMIT 1",
        (run_id, run_id),
    ).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT id FROM runs WHERE id < ? ORDER BY id DESC LIMIT 1", (run_id,)
        ).fetchone()
    return int(row[0]) if row else None


def run_diff(
    conn: sqlite3.Connection, run_a: int, run_b: int, *, limit: int = 2000
) -> RunDiff | None:
    """What changed from run `run_a` to run `run_b` (ordered so the older comes first)."""
    older_id, newer_id = sorted((run_a, run_b))
    older = conn.execute("SELECT * FROM runs WHERE id = ?", (older_id,)).fetchone()
    newer = conn.execute("SELECT * FROM runs WHERE id = ?", (newer_id,)).fetchone()
    if older is None or newer is None:
        return None
    changes: list[tuple[str, str, str]] = []
    per_run = (
        "SELECT e.subject_key AS subject, s.transport AS transport, "
        "(SELECT group_concat(protocol, ' ') FROM (SELECT protocol FROM accepted_protocols p WHERE p.endpoint_scan_id = s.id ORDER BY protocol)) AS versions, "
        "(SELECT count(*) FROM accepted_suites a WHERE a.endpoint_scan_id = s.id) AS suites, "
        "s.leaf_sha256 AS leaf FROM endpoint_scans s JOIN endpoints e ON e.id = s.endpoint_id WHERE s.run_id = ?"
    )
    before = {r["subject"]: dict(r) for r in conn.execute(per_run, (older_id,))}
    after = {r["subject"]: dict(r) for r in conn.execute(per_run, (newer_id,))}
    for subject in sorted(set(before) | set(after)):
        a, b = before.get(subject), after.get(subject)
        if a is None and b is not None:
            changes.append(("+", subject, f"{b['transport']} {b['versions'] or ''}".strip()))
        elif b is None and a is not None:
            changes.append(("-", subject, f"{a['transport']} {a['versions'] or ''}".strip()))
        elif a is not None and b is not None:
            what = [
                f"{label}: {a[field] or '-'} → {b[field] or '-'}"
                for field, label in (
                    ("transport", "transport"),
                    ("versions", "versions"),
                    ("suites", "suites"),
                    ("leaf", "leaf cert"),
                )
                if a[field] != b[field]
            ]
            if what:
                changes.append(("~", subject, "; ".join(what)))
        if len(changes) >= limit:
            break
    seen = (
        "SELECT f.id, f.rule_id, f.severity, f.subject_key, f.message FROM finding_sightings fs "
        "JOIN findings f ON f.id = fs.finding_id WHERE fs.run_id = ?"
    )
    fa = {r[0]: tuple(r[1:]) for r in conn.execute(seen, (older_id,))}
    fb = {r[0]: tuple(r[1:]) for r in conn.execute(seen, (newer_id,))}
    finding_changes = [("+", *fb[i]) for i in sorted(set(fb) - set(fa))] + [
        ("-", *fa[i]) for i in sorted(set(fa) - set(fb))
    ]
    return RunDiff(
        older=dict(older),
        newer=dict(newer),
        endpoint_changes=tuple(changes),
        finding_changes=tuple(finding_changes[:limit]),
    )


#: Every table view by the name `:` accepts (secrets is resolved per database).
LIST_QUERIES: dict[str, ListQuery] = {
    q.name: q for q in (NAMESPACES, WORKLOADS, ENDPOINTS, FINDINGS, RUNS)
}
