"""Opening the store read-only, and telling the user plainly when it cannot be read.

No Textual here. Every connection the TUI makes comes from :func:`connect_readonly`
(``file:...?mode=ro``): the TUI never writes. Each thread opens its own connection.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import sqlite3
import urllib.parse
from pathlib import Path

#: How long a reader waits for a writer's lock before the state becomes LOCKED.
BUSY_TIMEOUT_MS = 2000


class DatabaseState(enum.StrEnum):
    READY = "ready"
    MISSING = "missing"
    NOT_A_DATABASE = "not-a-database"
    EMPTY = "empty"
    LOCKED = "locked"
    NEWER_SCHEMA = "newer-schema"
    UNREADABLE = "unreadable"


@dataclasses.dataclass(frozen=True, slots=True)
class DatabaseStatus:
    """What :func:`probe` found, with a sentence for the user."""

    state: DatabaseState
    path: str
    message: str
    schema_version: int | None = None

    @property
    def ready(self) -> bool:
        return self.state is DatabaseState.READY


def readonly_uri(path: str | os.PathLike[str]) -> str:
    absolute = Path(path).expanduser().resolve()
    return "file:" + urllib.parse.quote(str(absolute)) + "?mode=ro"


def connect_readonly(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A read-only connection usable from the thread that opened it (or serially from others)."""
    conn = sqlite3.connect(
        readonly_uri(path), uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA query_only = 1")
    from inspector.tui.queries import register_functions

    register_functions(conn)
    return conn


def supported_schema_version() -> int:
    """The newest schema this build reads: the number of migrations it knows."""
    from agent.store import schema_version

    return int(schema_version())


def read_schema_version(conn: sqlite3.Connection) -> tuple[int, list[str]]:
    """The database's schema version and the migrations in it this build does not know."""
    from agent.store.store import known_migration_names

    has_records = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlite_migrations'"
    ).fetchone()
    if not has_records:
        return int(conn.execute("PRAGMA user_version").fetchone()[0]), []
    names = [
        str(row[0]) for row in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY rowid")
    ]
    known = set(known_migration_names())
    return len(names), [name for name in names if name not in known]


def probe(path: str | os.PathLike[str]) -> DatabaseStatus:
    """Classify the database at `path` without changing it."""
    shown = str(path)
    target = Path(path).expanduser()
    if not target.exists():
        return DatabaseStatus(
            DatabaseState.MISSING,
            shown,
            f"No database at {shown}.\nRun `cryptoscope scan --db {shown} HOST:PORT`, "
            "`cryptoscope collect`, or point the TUI at an exported snapshot.",
        )
    if target.is_dir():
        return DatabaseStatus(
            DatabaseState.NOT_A_DATABASE, shown, f"{shown} is a directory, not a database file."
        )
    try:
        conn = connect_readonly(target)
    except sqlite3.Error as exc:
        return DatabaseStatus(DatabaseState.UNREADABLE, shown, f"Cannot open {shown}: {exc}.")
    try:
        return _probe_open(conn, shown)
    finally:
        conn.close()


def _probe_open(conn: sqlite3.Connection, shown: str) -> DatabaseStatus:
    try:
        tables = {
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")
        }
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return DatabaseStatus(
                DatabaseState.LOCKED,
                shown,
                f"{shown} is locked by another process ({exc}). Retrying every few seconds.",
            )
        return DatabaseStatus(DatabaseState.UNREADABLE, shown, f"Cannot read {shown}: {exc}.")
    except sqlite3.DatabaseError as exc:
        return DatabaseStatus(
            DatabaseState.NOT_A_DATABASE, shown, f"{shown} is not a cryptoscope database ({exc})."
        )
    if not tables:
        return DatabaseStatus(
            DatabaseState.EMPTY,
            shown,
            f"{shown} is empty: no schema yet. It fills when an agent or `cryptoscope scan --db` writes to it.",
        )
    try:
        version, unknown = read_schema_version(conn)
    except (sqlite3.Error, LookupError, ValueError) as exc:
        return DatabaseStatus(
            DatabaseState.NOT_A_DATABASE, shown, f"{shown} is not a cryptoscope database ({exc})."
        )
    supported = supported_schema_version()
    if unknown or version > supported:
        return DatabaseStatus(
            DatabaseState.NEWER_SCHEMA,
            shown,
            f"{shown} has schema version {version}; this cryptoscope reads up to {supported}.\n"
            "Upgrade cryptoscope to browse it (nothing was changed).",
            schema_version=version,
        )
    if "runs" not in tables:
        return DatabaseStatus(
            DatabaseState.NOT_A_DATABASE, shown, f"{shown} has no runs table.", version
        )
    try:
        runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError as exc:
        return DatabaseStatus(
            DatabaseState.LOCKED, shown, f"{shown} is locked ({exc}). Retrying.", version
        )
    if not runs:
        return DatabaseStatus(
            DatabaseState.EMPTY,
            shown,
            f"{shown} has the schema but no runs yet. This screen refreshes when the first run lands.",
            version,
        )
    return DatabaseStatus(DatabaseState.READY, shown, "", version)


def change_token(conn: sqlite3.Connection, path: str | os.PathLike[str]) -> tuple[int, ...]:
    """Something that differs after any other connection commits, or the file is replaced.

    ``PRAGMA data_version`` changes on this connection when another connection
    commits; the file identity catches a snapshot copied over the path.
    """
    data_version = int(conn.execute("PRAGMA data_version").fetchone()[0])
    stats: list[int] = []
    for suffix in ("", "-wal"):
        try:
            st = os.stat(str(path) + suffix)
            stats.extend((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            stats.extend((0, 0, 0))
    return (data_version, *stats)
