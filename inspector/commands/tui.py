"""`cryptoscope tui [DB]`: browse the evidence store live (Textual, k9s-style keys)."""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from inspector.cli import UsageError
from inspector.reports.database import default_db_path

VIEWS = ("overview", "namespaces", "workloads", "endpoints", "secrets", "findings", "runs")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tui",
        help="browse endpoints, certificates, secrets, findings and runs (live)",
        description="Browse the evidence store in a terminal UI. Read-only; refreshes when agents write.",
    )
    parser.add_argument(
        "db",
        nargs="?",
        default=None,
        metavar="DB",
        help="SQLite database or exported snapshot (default: $CRYPTOSCOPE_DB or "
        "~/.local/share/cryptoscope/cryptoscope.db)",
    )
    parser.add_argument(
        "--view", choices=VIEWS, default="overview", help="view to open first (default: overview)"
    )
    parser.add_argument(
        "--filter", default="", metavar="TEXT", help="filter applied to --view (the `/` language)"
    )
    parser.add_argument(
        "--theme",
        default=None,
        help="Textual theme; ansi-dark (default) and ansi-light use the terminal's own colours",
    )
    parser.add_argument(
        "--refresh",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how often to look for new data (default 2; 0 turns live refresh off)",
    )
    parser.add_argument(
        "--save-dir",
        default=".",
        metavar="DIR",
        help="where ctrl+s and e write files by default (default: current directory)",
    )
    parser.add_argument(
        "--stale-after",
        type=float,
        default=60.0,
        metavar="MINUTES",
        help="data older than this is flagged stale on the overview (default 60)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inspector.tui.app import DEFAULT_THEME, CryptoscopeApp

    if args.refresh < 0:
        raise UsageError("--refresh must be >= 0")
    if args.stale_after <= 0:
        raise UsageError("--stale-after must be > 0")
    save_dir = Path(args.save_dir).expanduser()
    if not save_dir.is_dir():
        raise UsageError(f"--save-dir {save_dir} is not a directory")
    db = Path(args.db or default_db_path()).expanduser()
    app = CryptoscopeApp(
        db,
        theme=args.theme or DEFAULT_THEME,
        refresh_interval=args.refresh,
        save_dir=save_dir,
        initial_view=args.view,
        initial_filter=args.filter,
        stale_after=timedelta(minutes=args.stale_after),
    )
    if args.theme and args.theme not in app.available_themes:
        raise UsageError(
            f"unknown theme {args.theme!r}; available: {', '.join(sorted(app.available_themes))}"
        )
    result = app.run()
    return int(result or 0)
