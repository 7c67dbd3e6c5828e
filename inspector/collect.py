"""`cryptoscope collect`: every agent's /snapshot, merged into one local database with provenance.

1. Find the agent pods (label selector) with the operator's kubeconfig.
2. Reach each one through the API server with ``pods/portforward`` (the
   official client's websocket port-forward), speak TLS to the agent inside the
   tunnel and ``GET /snapshot`` with the operator's bearer token — the agent
   checks it with a TokenReview and a SubjectAccessReview.
3. Merge each snapshot into the local database in one transaction: rows are
   copied table by table following the schema's foreign keys, ids remapped,
   subjects (endpoints, findings, certificates) matched on their unique keys
   (newest sighting wins, first sighting kept). Runs already merged are
   skipped, so collecting twice changes nothing. Provenance (agent, node, pod,
   snapshot time, SHA-256 of the snapshot) goes to ``collected_snapshots`` and
   ``collected_runs``.
4. Once new runs have arrived, rule V12 (the same key in a production and a
   non-production cluster, PCI DSS 3.6.1.1) is judged over every cluster in
   the database (:mod:`inspector.reuse`); each run keeps its ``environment``.

An agent that cannot be reached or whose snapshot cannot be merged is
reported; the others still merge.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import http.client
import json
import logging
import shutil
import socket
import sqlite3
import ssl
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import kubernetes.client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward
from kubernetes.stream.ws_client import PortForward

from agent.server import HEADER_AGENT, HEADER_NODE, HEADER_SNAPSHOT_TIME
from agent.store import Store, StoreError
from inspector.reuse import evaluate_key_reuse

log = logging.getLogger(__name__)

DEFAULT_SELECTOR = "app.kubernetes.io/name=cryptoscope,app.kubernetes.io/component=agent"
DEFAULT_PORT_NAME = "https"
DEFAULT_PORT = 9443
#: Largest snapshot accepted from one agent.
MAX_SNAPSHOT_BYTES = 2 * 1024**3
#: Seconds to wait for the port-forward's proxy thread to end once our side of the tunnel is closed
#: (it waits up to 3 s for the API server's websocket close frame).
PROXY_EXIT_TIMEOUT = 10.0

#: Tables never copied from a snapshot: bookkeeping, operator-owned waivers, our own provenance
#: (``collected_snapshots`` and ``collected_runs``, schema migration ``m0006_collect_provenance``).
SKIPPED_TABLES = frozenset(
    {"_sqlite_migrations", "waivers", "collected_snapshots", "collected_runs"}
)


class CollectError(Exception):
    """One agent could not be collected; the message says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class AgentPod:
    namespace: str
    name: str
    node: str
    port: int
    phase: str


@dataclasses.dataclass(frozen=True, slots=True)
class Provenance:
    agent_id: str
    node: str = ""
    pod: str = ""
    namespace: str = ""
    snapshot_time: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class MergeResult:
    agent_id: str
    runs_merged: int
    runs_present: int
    runs_unfinished: int
    unchanged: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class AgentOutcome:
    pod: str
    node: str
    merged: MergeResult | None = None
    error: str | None = None


# --------------------------------------------------------------------------- finding and fetching


def _copy_bounded(source: Any, destination: Any, limit: int, chunk: int = 256 * 1024) -> None:
    """Copy a stream, refusing one that grows past `limit` (a missing Content-Length bounds nothing)."""
    copied = 0
    while block := source.read(chunk):
        copied += len(block)
        if copied > limit:
            raise CollectError(f"snapshot too large: more than {limit} bytes")
        destination.write(block)


def find_agents(
    core: kubernetes.client.CoreV1Api,
    namespace: str,
    selector: str,
    *,
    port: int | None = None,
    timeout: float = 30.0,
) -> list[AgentPod]:
    """Agent pods matching `selector` (in `namespace`, or everywhere when empty), sorted by name."""
    response: Any
    if namespace:
        response = core.list_namespaced_pod(
            namespace, label_selector=selector, _preload_content=False, _request_timeout=timeout
        )
    else:
        response = core.list_pod_for_all_namespaces(
            label_selector=selector, _preload_content=False, _request_timeout=timeout
        )
    pods: list[AgentPod] = []
    for pod in json.loads(response.data).get("items") or []:
        metadata = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        agent_port = port
        if agent_port is None:
            named = [
                int(p["containerPort"])
                for container in spec.get("containers") or []
                for p in container.get("ports") or []
                if p.get("name") == DEFAULT_PORT_NAME and p.get("containerPort")
            ]
            agent_port = named[0] if named else DEFAULT_PORT
        pods.append(
            AgentPod(
                namespace=str(metadata.get("namespace", "")),
                name=str(metadata.get("name", "")),
                node=str(spec.get("nodeName", "")),
                port=agent_port,
                phase=str((pod.get("status") or {}).get("phase", "")),
            )
        )
    return sorted(pods, key=lambda p: (p.namespace, p.name))


def bearer_token(api: kubernetes.client.ApiClient) -> str:
    """The operator's token from the kubeconfig (static token or exec plugin), if any."""
    for setting in api.configuration.auth_settings().values():
        if str(setting.get("key", "")).lower() == "authorization":
            value = str(setting.get("value") or "")
            if value.lower().startswith("bearer "):
                return value[7:].strip()
    return ""


def agent_tls_context(ca_file: str | None) -> ssl.SSLContext:
    """TLS 1.2+ towards the agent. Without a CA file the agent's (self-signed) certificate is not verified:
    the tunnel itself is the API server's authenticated connection to that very pod."""
    context = (
        ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not ca_file:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def fetch_snapshot(
    api: kubernetes.client.ApiClient,
    pod: AgentPod,
    token: str,
    destination: Path,
    *,
    tls: ssl.SSLContext,
    timeout: float = 120.0,
) -> dict[str, str]:
    """Port-forward to the agent, GET /snapshot into `destination`; returns the provenance headers."""
    core = kubernetes.client.CoreV1Api(api)
    try:
        forward = portforward(
            core.connect_get_namespaced_pod_portforward,
            pod.name,
            pod.namespace,
            ports=str(pod.port),
        )
    except ApiException as exc:
        raise CollectError(f"port-forward refused: {exc.reason or exc.status}") from exc
    proxy = _proxy_thread(forward)
    try:
        return _fetch_through(forward, pod, token, destination, tls=tls, timeout=timeout)
    finally:
        close_port_forward(forward, proxy)


def _proxy_thread(forward: PortForward) -> threading.Thread | None:
    """The thread relaying `forward`'s local socket to its websocket (the client keeps no handle on it);
    None once it has already ended."""
    for thread in threading.enumerate():
        target = getattr(thread, "_target", None)
        if getattr(target, "__self__", None) is forward:
            return thread
    return None


def close_port_forward(
    forward: PortForward, proxy: threading.Thread | None, *, wait: float = PROXY_EXIT_TIMEOUT
) -> None:
    """Close a port-forward for good: its local socket, its proxy thread and its websocket's TCP socket.

    ``PortForward.close()`` only closes the local end; the proxy thread then calls
    ``websocket.close()``, which does nothing when the API server closed the websocket first
    (websocket-client marks it disconnected on the server's close frame but keeps the socket), so
    the TCP connection to the API server stayed open until garbage collection, one per agent. Once
    the proxy has ended, the websocket is shut down here. A proxy that does not end on its own is
    woken by shutting the connection down under it."""
    forward.close()
    if proxy is not None:
        proxy.join(wait)
        if proxy.is_alive():
            connection = forward.websocket.sock
            if connection is not None:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            proxy.join(wait)
        if proxy.is_alive():  # never closes the socket from under a live thread
            log.warning("port-forward proxy thread did not end; its connection is left to it")
            return
    forward.websocket.shutdown()


def _fetch_through(
    forward: PortForward,
    pod: AgentPod,
    token: str,
    destination: Path,
    *,
    tls: ssl.SSLContext,
    timeout: float,
) -> dict[str, str]:
    raw = forward.socket(pod.port)
    raw.settimeout(timeout)
    try:
        try:
            stream = tls.wrap_socket(raw._socket, server_hostname="localhost")
        except (ssl.SSLError, OSError) as exc:
            reason = forward.error(pod.port) or f"{type(exc).__name__}: {exc}"
            raise CollectError(
                f"cannot reach the agent on port {pod.port}: {reason.strip()}"
            ) from exc
        request = (
            f"GET /snapshot HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n"
            "Accept: application/vnd.sqlite3\r\nConnection: close\r\n\r\n"
        )
        try:
            stream.sendall(request.encode())
            response = http.client.HTTPResponse(stream)
            response.begin()
            if response.status != 200:
                body = response.read(2000).decode(errors="replace").strip()
                raise CollectError(f"/snapshot answered {response.status}: {body}")
            length = int(response.getheader("Content-Length") or 0)
            if length > MAX_SNAPSHOT_BYTES:
                raise CollectError(f"snapshot too large: {length} bytes")
            with destination.open("wb") as handle:
                _copy_bounded(response, handle, MAX_SNAPSHOT_BYTES)
            if length and destination.stat().st_size != length:
                raise CollectError(
                    f"snapshot truncated: {destination.stat().st_size} of {length} bytes"
                )
            return {
                "agent_id": response.getheader(HEADER_AGENT) or pod.name,
                "node": response.getheader(HEADER_NODE) or pod.node,
                "snapshot_time": response.getheader(HEADER_SNAPSHOT_TIME) or "",
            }
        except (OSError, http.client.HTTPException) as exc:
            raise CollectError(f"/snapshot failed: {type(exc).__name__}: {exc}") from exc
        finally:
            stream.close()
    finally:
        raw.close()


# --------------------------------------------------------------------------- merging


@dataclasses.dataclass
class _Table:
    name: str
    columns: list[str]
    pk: list[str]
    integer_pk: bool
    #: column -> referenced table (foreign keys)
    references: dict[str, str]
    uniques: list[tuple[str, ...]]
    #: NOT NULL columns
    required: set[str]


def _tables(conn: sqlite3.Connection, schema: str) -> dict[str, _Table]:
    names = [
        row[0]
        for row in conn.execute(
            f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        if row[0] not in SKIPPED_TABLES
    ]
    tables: dict[str, _Table] = {}
    for name in names:
        info = conn.execute(f'PRAGMA {schema}.table_info("{name}")').fetchall()
        columns = [row[1] for row in info]
        pk = [row[1] for row in sorted((row for row in info if row[5]), key=lambda row: row[5])]
        without_rowid = (
            "WITHOUT ROWID"
            in (
                conn.execute(
                    f"SELECT sql FROM {schema}.sqlite_master WHERE name = ?", (name,)
                ).fetchone()[0]
                or ""
            ).upper()
        )
        integer_pk = (
            len(pk) == 1
            and not without_rowid
            and str(next(r[2] for r in info if r[1] == pk[0])).upper() == "INTEGER"
        )
        references = {
            row[3]: row[2] for row in conn.execute(f'PRAGMA {schema}.foreign_key_list("{name}")')
        }
        uniques = []
        for index in conn.execute(f'PRAGMA {schema}.index_list("{name}")'):
            if index[2] and index[3] == "u":
                uniques.append(
                    tuple(
                        row[2] for row in conn.execute(f'PRAGMA {schema}.index_info("{index[1]}")')
                    )
                )
        required = {row[1] for row in info if row[3]}
        tables[name] = _Table(name, columns, pk, integer_pk, references, uniques, required)
    return tables


def _order(tables: Mapping[str, _Table]) -> list[str]:
    """Parents before children along NOT NULL foreign keys; nullable ones may point forward
    (e.g. endpoints.latest_scan_id) and are filled in once their parent is merged."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered or name in visiting:
            return
        visiting.add(name)
        table = tables[name]
        for column, parent in table.references.items():
            if column in table.required and parent in tables and parent != name:
                visit(parent)
        visiting.discard(name)
        ordered.append(name)

    for name in sorted(tables):
        visit(name)
    return ordered


class _Merger:
    def __init__(self, conn: sqlite3.Connection, snapshot_id: int) -> None:
        self.conn = conn
        self.snapshot_id = snapshot_id
        self.source = _tables(conn, "snap")
        self.local = _tables(conn, "main")
        self.ids: dict[str, dict[Any, Any]] = {}
        self.skipped: dict[str, set[Any]] = {}
        self.deferred: list[
            tuple[str, str, Any, str, Any]
        ] = []  # table, column, local id, parent, source value
        self.done: set[str] = set()
        #: forward references of the row being written: (column, parent table, source value)
        self._pending: list[tuple[str, str, Any]] = []
        self.runs_merged = self.runs_present = self.runs_unfinished = 0

    def merge(self) -> None:
        for name in _order(self.source):
            if name in self.local:
                self._merge_table(self.source[name], self.local[name])
            self.done.add(name)
        for table, column, ident, parent, value in self.deferred:
            mapped = self.ids.get(parent, {}).get(value)
            if mapped is not None:
                where = self._where(self.local[table])
                self.conn.execute(
                    f'UPDATE main."{table}" SET "{column}" = ? WHERE {where}', (mapped, *ident)
                )

    def _merge_runs(self, table: _Table, row: dict[str, Any]) -> bool:
        """Runs: unfinished ones wait for a later snapshot; merged ones are never merged twice."""
        source_id = row["id"]
        if row.get("status") == "running":
            self.runs_unfinished += 1
            self.skipped.setdefault("runs", set()).add(source_id)
            return False
        known = self.conn.execute(
            "SELECT local_run_id FROM collected_runs WHERE source_agent = ? AND source_run_id = ? AND source_started_at = ?",
            (row["agent_id"], source_id, row["started_at"]),
        ).fetchone()
        if known:
            self.runs_present += 1
            self.ids.setdefault("runs", {})[source_id] = known[0]
            self.skipped.setdefault("runs", set()).add(
                source_id
            )  # its per-run rows are already here
            return False
        return True

    def _merge_table(self, source: _Table, local: _Table) -> None:
        columns = [column for column in source.columns if column in local.columns]
        names = ", ".join(f'"{column}"' for column in columns)
        rows = self.conn.execute(f'SELECT {names} FROM snap."{source.name}"')
        id_map = self.ids.setdefault(source.name, {})
        skipped = self.skipped.setdefault(source.name, set())
        for values in rows.fetchall():
            row = dict(zip(columns, values, strict=True))
            source_key = row[source.pk[0]] if source.integer_pk else None
            if source.name == "runs" and not self._merge_runs(source, row):
                continue
            if not self._remap(source, row):
                if source_key is not None:
                    skipped.add(source_key)
                continue
            local_id = self._write(local, row, columns)
            if source.integer_pk and local_id is not None:
                id_map[source_key] = local_id
                if source.name == "runs":
                    self.runs_merged += 1
                    self.conn.execute(
                        "INSERT INTO collected_runs VALUES (?, ?, ?, ?, ?)",
                        (
                            row["agent_id"],
                            source_key,
                            row["started_at"],
                            local_id,
                            self.snapshot_id,
                        ),
                    )

    def _remap(self, table: _Table, row: dict[str, Any]) -> bool:
        """Foreign keys (and *run_id columns) to local ids; False when the row belongs to a skipped parent."""
        self._pending = []
        for column in list(row):
            parent = table.references.get(column)
            if parent is None and column.endswith("run_id") and column != "id":
                parent = "runs"
            if parent in SKIPPED_TABLES and column not in table.required:
                row[column] = None  # e.g. an agent's waiver: the operator's own waivers apply here
                continue
            if (
                parent is None
                or row[column] is None
                or parent not in self.source
                or not self.source[parent].integer_pk
            ):
                continue
            value = row[column]
            if value in self.skipped.get(parent, set()) and parent in self.done:
                if parent == "runs" and column in table.references:
                    return False  # a per-run row of a run already merged (or unfinished)
                row[column] = self.ids.get(parent, {}).get(value)
                if row[column] is None and column in table.references:
                    return False
                continue
            mapped = self.ids.get(parent, {}).get(value)
            if mapped is None and parent not in self.done:
                row[column] = None
                self._pending.append((column, parent, value))
            elif mapped is None:
                if column in table.references:
                    return False  # dangling reference in the snapshot
                row[column] = None
            else:
                row[column] = mapped
        return True

    @staticmethod
    def _key(table: _Table) -> list[str]:
        return table.pk or ["rowid"]

    def _select_key(
        self, table: _Table, columns: Sequence[str], values: Sequence[Any]
    ) -> tuple[Any, ...] | None:
        """The local row's key (its primary key values) where `columns` equal `values`, if there is one."""
        key = ", ".join(f'"{c}"' if c != "rowid" else c for c in self._key(table))
        found = self.conn.execute(
            f'SELECT {key} FROM main."{table.name}" WHERE '
            + " AND ".join(f'"{c}" IS ?' for c in columns),
            list(values),
        ).fetchone()
        return tuple(found) if found else None

    def _where(self, table: _Table) -> str:
        return " AND ".join(f'"{c}" = ?' if c != "rowid" else "rowid = ?" for c in self._key(table))

    def _existing(self, table: _Table, row: Mapping[str, Any]) -> tuple[Any, ...] | None:
        for unique in table.uniques:
            if all(column in row for column in unique):
                found = self._select_key(table, unique, [row[column] for column in unique])
                if found:
                    return found
        return None

    def _write(self, table: _Table, row: dict[str, Any], columns: Sequence[str]) -> Any:
        """Insert the row, or find the local row it is (and maybe update it); returns the local id."""
        data = {
            column: row[column]
            for column in columns
            if not (table.integer_pk and column in table.pk)
        }
        existing = self._existing(table, data) if table.integer_pk else None
        if existing is None and not table.integer_pk and table.pk:
            existing = self._select_key(table, table.pk, [row[c] for c in table.pk])
        if (
            existing is None
            and table.integer_pk
            and not table.uniques
            and not any(parent == "runs" for parent in table.references.values())
        ):
            # no natural key and not per-run: the same row already here is the same fact
            existing = self._select_key(table, list(data), list(data.values()))
        if existing is not None:
            self._maybe_update(table, existing, data)
            return existing[0] if table.integer_pk else None
        names = ", ".join(f'"{c}"' for c in data)
        placeholders = ", ".join("?" for _ in data)
        cursor = self.conn.execute(
            f'INSERT INTO main."{table.name}" ({names}) VALUES ({placeholders})',
            list(data.values()),
        )
        ident = (
            (cursor.lastrowid,)
            if table.integer_pk or not table.pk
            else tuple(row[c] for c in table.pk)
        )
        for column, parent, value in self._pending:
            self.deferred.append((table.name, column, ident, parent, value))
        return cursor.lastrowid if table.integer_pk else None

    def _maybe_update(self, table: _Table, ident: tuple[Any, ...], data: Mapping[str, Any]) -> None:
        """A subject seen again: the newer sighting's attributes win; the first sighting is kept."""
        if "last_seen" not in data:
            return
        first = '"first_seen"' if "first_seen" in data else "NULL"
        current = self.conn.execute(
            f'SELECT last_seen, {first} FROM main."{table.name}" WHERE {self._where(table)}',
            list(ident),
        ).fetchone()
        keys = set(table.pk) | {column for unique in table.uniques for column in unique}
        pending = {column for column, _, _ in self._pending}
        if data["last_seen"] and (current[0] is None or data["last_seen"] > current[0]):
            changes = {
                c: v
                for c, v in data.items()
                if c not in keys and c not in pending and not c.startswith("first_")
            }
            if changes:
                self.conn.execute(
                    f'UPDATE main."{table.name}" SET '
                    + ", ".join(f'"{c}" = ?' for c in changes)
                    + f" WHERE {self._where(table)}",
                    [*changes.values(), *ident],
                )
            for column, parent, value in self._pending:
                self.deferred.append((table.name, column, ident, parent, value))
        if (
            "first_seen" in data
            and data["first_seen"]
            and current[1]
            and data["first_seen"] < current[1]
        ):
            firsts = {
                c: v
                for c, v in data.items()
                if c.startswith("first_") and c not in keys and c not in pending
            }
            self.conn.execute(
                f'UPDATE main."{table.name}" SET '
                + ", ".join(f'"{c}" = ?' for c in firsts)
                + f" WHERE {self._where(table)}",
                [*firsts.values(), *ident],
            )


def _prepare_snapshot(snapshot: Path, workdir: Path) -> Path:
    """A copy of the snapshot upgraded to this version's schema (older snapshots are migrated)."""
    copy = workdir / f"{snapshot.stem}-upgraded.db"
    shutil.copyfile(snapshot, copy)
    try:
        Store.open(copy, create=False).close()
    except StoreError as exc:
        raise CollectError(f"not a usable snapshot: {exc}") from exc
    return copy


def merge_snapshot(local_db: Path, snapshot: Path, provenance: Provenance) -> MergeResult:
    """Merge one agent snapshot into `local_db` (created when missing) in one transaction; idempotent."""
    digest = hashlib.sha256(snapshot.read_bytes()).hexdigest()
    with tempfile.TemporaryDirectory(prefix="cryptoscope-merge-") as directory:
        upgraded = _prepare_snapshot(snapshot, Path(directory))
        Store.open(local_db).close()  # create or upgrade the local schema (provenance tables too)
        conn = sqlite3.connect(local_db, timeout=30, isolation_level=None)
        try:
            conn.execute("ATTACH DATABASE ? AS snap", (f"{upgraded.resolve().as_uri()}?mode=ro",))
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute(
                    "SELECT 1 FROM collected_snapshots WHERE agent_id = ? AND sha256 = ?",
                    (provenance.agent_id, digest),
                ).fetchone():
                    conn.execute("ROLLBACK")
                    return MergeResult(provenance.agent_id, 0, 0, 0, unchanged=True)
                snapshot_id = conn.execute(
                    "INSERT INTO collected_snapshots (agent_id, node, pod, namespace, snapshot_time, collected_at, sha256)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        provenance.agent_id,
                        provenance.node,
                        provenance.pod,
                        provenance.namespace,
                        provenance.snapshot_time,
                        dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        digest,
                    ),
                ).lastrowid
                merger = _Merger(conn, int(snapshot_id or 0))
                merger.merge()
                conn.execute(
                    "UPDATE endpoints SET latest_scan_id = (SELECT s.id FROM endpoint_scans s WHERE s.endpoint_id = endpoints.id"
                    " ORDER BY s.started_at DESC, s.id DESC LIMIT 1)"
                )
                conn.execute(
                    "UPDATE collected_snapshots SET runs_merged = ?, runs_present = ?, runs_unfinished = ? WHERE id = ?",
                    (merger.runs_merged, merger.runs_present, merger.runs_unfinished, snapshot_id),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise CollectError(f"merge failed: {exc}") from exc
        finally:
            conn.close()
    with Store.open(local_db) as store:
        store.refresh_waivers()  # the operator's waivers, over the merged findings
    return MergeResult(
        provenance.agent_id, merger.runs_merged, merger.runs_present, merger.runs_unfinished
    )


# --------------------------------------------------------------------------- the whole collect


def collect(
    api: kubernetes.client.ApiClient,
    local_db: Path,
    *,
    namespace: str,
    selector: str = DEFAULT_SELECTOR,
    token: str,
    port: int | None = None,
    ca_file: str | None = None,
    timeout: float = 120.0,
) -> list[AgentOutcome]:
    """Collect every agent found; one outcome per agent pod (merged, or the reason it was not)."""
    core = kubernetes.client.CoreV1Api(api)
    try:
        pods = find_agents(core, namespace, selector, port=port, timeout=min(timeout, 60))
    except ApiException as exc:
        raise CollectError(f"cannot list agent pods: HTTP {exc.status} {exc.reason}") from exc
    tls = agent_tls_context(ca_file)
    outcomes: list[AgentOutcome] = []
    with tempfile.TemporaryDirectory(prefix="cryptoscope-collect-") as directory:
        for pod in pods:
            if pod.phase and pod.phase != "Running":
                outcomes.append(AgentOutcome(pod.name, pod.node, error=f"pod is {pod.phase}"))
                continue
            destination = Path(directory) / f"{pod.namespace}-{pod.name}.db"
            try:
                headers = fetch_snapshot(api, pod, token, destination, tls=tls, timeout=timeout)
                result = merge_snapshot(
                    local_db,
                    destination,
                    Provenance(
                        headers["agent_id"],
                        headers["node"],
                        pod.name,
                        pod.namespace,
                        headers["snapshot_time"],
                    ),
                )
                outcomes.append(AgentOutcome(pod.name, pod.node, merged=result))
            except CollectError as exc:
                log.warning("agent %s/%s: %s", pod.namespace, pod.name, exc)
                outcomes.append(AgentOutcome(pod.name, pod.node, error=str(exc)))
            finally:
                destination.unlink(missing_ok=True)
    if any(outcome.merged is not None and outcome.merged.runs_merged for outcome in outcomes):
        judge_key_reuse(local_db)
    return outcomes


def judge_key_reuse(local_db: Path) -> None:
    """Rule V12 over every cluster now in `local_db` (:mod:`inspector.reuse`); a failure is logged,
    the merged evidence stays."""
    try:
        result = evaluate_key_reuse(local_db)
    except (StoreError, sqlite3.Error) as exc:
        log.warning("rule V12 (same key in production and test) not evaluated: %s", exc)
        return
    if result.run_id is not None:
        log.info(
            "rule V12: %d key(s) in production and non-production clusters, %d resolved",
            len(result.findings),
            result.resolved,
        )


def summary_lines(outcomes: Iterable[AgentOutcome]) -> list[str]:
    lines = []
    for outcome in outcomes:
        where = f"{outcome.pod} ({outcome.node or 'no node'})"
        if outcome.merged is None:
            lines.append(f"{where}: NOT collected: {outcome.error}")
        elif outcome.merged.unchanged:
            lines.append(f"{where}: unchanged since the last collect")
        else:
            merged = outcome.merged
            lines.append(
                f"{where}: merged {merged.runs_merged} runs"
                + (f", {merged.runs_present} already present" if merged.runs_present else "")
                + (
                    f", {merged.runs_unfinished} unfinished skipped"
                    if merged.runs_unfinished
                    else ""
                )
            )
    return lines
