"""Where the inspector finds the database, and opening it for reading with clear errors."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from agent.store import SchemaTooOldError, Store, StoreError

DB_ENV = "CRYPTOSCOPE_DB"


def default_db_path() -> Path:
    """``$CRYPTOSCOPE_DB``, else ``$XDG_DATA_HOME/cryptoscope/cryptoscope.db`` (``~/.local/share/...``)."""
    explicit = os.environ.get(DB_ENV)
    if explicit:
        return Path(explicit)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "cryptoscope" / "cryptoscope.db"


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"SQLite database (default: ${DB_ENV} or ~/.local/share/cryptoscope/cryptoscope.db)",
    )


def db_path_from(args: argparse.Namespace) -> Path:
    return args.db if getattr(args, "db", None) else default_db_path()


def open_for_reading(path: Path) -> Store:
    """Open read-only; raise :class:`StoreError` with the reason when it cannot be read.

    A database of an older schema is upgraded first (forward-only migrations)
    when the file is writable.
    """
    try:
        return Store.open(path, readonly=True)
    except SchemaTooOldError:
        if not os.access(path, os.W_OK):
            raise
        Store.open(path, create=False).close()
        return Store.open(path, readonly=True)


__all__ = [
    "DB_ENV",
    "StoreError",
    "add_db_argument",
    "db_path_from",
    "default_db_path",
    "open_for_reading",
]
