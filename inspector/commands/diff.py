"""`cryptoscope diff RUN_A RUN_B`: versions, suites, groups, certificates and findings that changed."""

from __future__ import annotations

import argparse

from inspector.cli import UsageError
from inspector.reports.cli_support import add_output_arguments, emit, reading
from inspector.reports.diff import UnknownRunError, build_diff


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="what changed between two runs",
        description="Endpoints, protocol versions, suites, groups, certificates and findings that changed "
        "from RUN_A to RUN_B (run ids as listed by the TUI or `sqlite3 DB 'select * from runs'`).",
    )
    parser.add_argument("run_a", type=int, metavar="RUN_A")
    parser.add_argument("run_b", type=int, metavar="RUN_B")
    add_output_arguments(parser, sections=("summary", "changes"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with reading(args) as store:
        try:
            report = build_diff(store, args.run_a, args.run_b)
        except UnknownRunError as exc:
            raise UsageError(str(exc)) from exc
    return emit(report, args)
