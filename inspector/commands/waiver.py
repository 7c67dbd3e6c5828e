"""`cryptoscope waiver add|list|remove|import`: documented exceptions, kept as evidence."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from agent.rules import RULES
from agent.rules.waivers import WaiverFileError, load_waiver_file, validate
from agent.store import StoreError
from inspector.cli import UsageError
from inspector.reports.cli_support import writing
from inspector.reports.database import add_db_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "waiver",
        help="add, list, remove or import waivers (documented exceptions to a rule)",
        description="A waived finding stays visible as 'waived'; an expired or removed waiver reopens it. "
        "Removed waivers stay in the database as evidence.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add one waiver")
    add_db_argument(add)
    add.add_argument(
        "--rule", required=True, metavar="ID", help="rule id (e.g. C6), or '*' for every rule"
    )
    add.add_argument(
        "--subject",
        required=True,
        metavar="PATTERN",
        help="GLOB over subject keys, e.g. 'ledger/*' or '*@*:9090'",
    )
    add.add_argument("--reason", required=True)
    add.add_argument("--approver", required=True)
    add.add_argument(
        "--expires",
        required=True,
        metavar="DATE",
        help="YYYY-MM-DD (through that day, UTC) or ISO time",
    )
    listing = actions.add_parser("list", help="list active waivers")
    add_db_argument(listing)
    listing.add_argument("--all", action="store_true", help="include expired and removed waivers")
    remove = actions.add_parser("remove", help="withdraw a waiver (kept as evidence)")
    add_db_argument(remove)
    remove.add_argument("waiver_id", type=int, metavar="ID")
    load = actions.add_parser("import", help="add the waivers of a YAML file (all or none)")
    add_db_argument(load)
    load.add_argument("file", type=Path, metavar="FILE")
    for sub in (add, listing, remove, load):
        sub.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    if args.action == "add":
        try:
            spec = validate(
                args.rule,
                args.subject,
                args.reason,
                args.approver,
                args.expires,
                known_rules=RULES,
                now=now,
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        with writing(args) as store:
            ids = store.add_waivers([spec], source="cli")
        print(f"waiver {ids[0]} added" if ids else "an identical waiver is already active")
        return 0
    if args.action == "import":
        try:
            specs = load_waiver_file(args.file, known_rules=RULES, now=now)
        except WaiverFileError as exc:
            raise UsageError(str(exc)) from exc
        with writing(args) as store:
            ids = store.add_waivers(specs, source=f"file:{args.file.name}")
        print(f"{len(ids)} waiver(s) added, {len(specs) - len(ids)} already present")
        return 0
    if args.action == "remove":
        with writing(args) as store:
            try:
                store.remove_waiver(args.waiver_id)
            except StoreError as exc:
                raise UsageError(str(exc)) from exc
        print(f"waiver {args.waiver_id} removed")
        return 0
    with writing(args) as store:
        rows = store.waivers(include_inactive=args.all)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for row in rows:
        state = (
            "removed"
            if row["removed_at"]
            else ("expired" if row["expires_at"] <= stamp else "active")
        )
        print(
            f"{row['id']:>4}  {state:8} {row['rule_id']:5} {row['subject_pattern']}  expires {row['expires_at']}"
            f"  approver {row['approver']}  reason: {row['reason']}  ({row['source']})"
        )
    if not rows:
        print("no waivers")
    return 0
