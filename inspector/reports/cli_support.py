"""Bits the report, diff, export and waiver commands share: --db, --format, --out, --as-of."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from agent.rules.waivers import parse_expiry
from agent.store import Store, StoreError
from inspector.cli import UsageError
from inspector.reports.database import add_db_argument, db_path_from, open_for_reading
from inspector.reports.model import Report
from inspector.reports.render import FORMATS, write_report


def add_output_arguments(parser: argparse.ArgumentParser, *, sections: tuple[str, ...]) -> None:
    add_db_argument(parser)
    parser.add_argument(
        "--format", choices=FORMATS, default="markdown", help="output format (default: markdown)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help="write to this file (markdown, json) or directory (csv: one file per section); default stdout",
    )
    parser.add_argument(
        "--section", choices=sections, help="only this section (needed for csv on stdout)"
    )


def add_as_of_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of",
        metavar="TIME",
        help="judge waivers and expiry at this ISO 8601 time (default: now); makes reports reproducible",
    )


def as_of(args: argparse.Namespace) -> datetime:
    if not getattr(args, "as_of", None):
        return datetime.now(UTC).replace(microsecond=0)
    try:
        return (
            parse_expiry(args.as_of)
            if "T" in args.as_of
            else datetime.fromisoformat(args.as_of).replace(tzinfo=UTC)
        )
    except ValueError as exc:
        raise UsageError(f"--as-of: {exc}") from exc


@contextlib.contextmanager
def reading(args: argparse.Namespace) -> Iterator[Store]:
    path = db_path_from(args)
    try:
        store = open_for_reading(path)
    except StoreError as exc:
        raise UsageError(str(exc)) from exc
    with store:
        yield store


@contextlib.contextmanager
def writing(args: argparse.Namespace) -> Iterator[Store]:
    path = db_path_from(args)
    try:
        store = Store.open(path, create=False)
    except StoreError as exc:
        raise UsageError(str(exc)) from exc
    with store:
        yield store


def emit(report: Report, args: argparse.Namespace) -> int:
    try:
        result = write_report(report, args.format, out=args.out, section=args.section)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror}") from exc
    if isinstance(result, str):
        sys.stdout.write(result)
    else:
        for path, what in result.items():
            print(f"wrote {path} ({what})", file=sys.stderr)
    return 0
