"""`cryptoscope export --out DIR`: a consistent, optionally signed evidence snapshot."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from agent.store import StoreError
from inspector.cli import UsageError
from inspector.evidence import EvidenceError, export_snapshot
from inspector.reports.database import add_db_argument, db_path_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write a consistent evidence snapshot (database + manifest.json [+ signature])",
        description="Copy the database with VACUUM INTO (consistent while an agent writes), write manifest.json "
        "(tool and schema versions, scope, runs' time window, row counts, SHA-256) and, with --sign-key, "
        "a detached Ed25519 signature of the manifest.",
    )
    add_db_argument(parser)
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="new or empty directory"
    )
    parser.add_argument(
        "--sign-key", type=Path, metavar="KEY", help="Ed25519 private key (PEM) from `keygen`"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        result = export_snapshot(db_path_from(args), args.out, sign_key=args.sign_key)
    except (StoreError, EvidenceError) as exc:
        raise UsageError(str(exc)) from exc
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"export failed: {exc}") from exc
    print(f"snapshot  {result.database}")
    print(f"manifest  {result.manifest}")
    if result.signature:
        print(f"signature {result.signature}")
    print(f"sha256    {result.sha256}")
    return 0
