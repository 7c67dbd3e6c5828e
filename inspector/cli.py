"""The `cryptoscope` command line.

Each subcommand lives in its own module under :mod:`inspector.commands` and
exposes two functions::

    def register(subparsers: argparse._SubParsersAction) -> None: ...
    # the parser it adds sets `func=run` with set_defaults
    def run(args: argparse.Namespace) -> int: ...

Modules are discovered, so adding a command never touches this file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

import inspector.commands as commands_package
from agent import __version__

#: Exit code for bad usage or input that cannot be parsed (argparse uses 2 too).
EXIT_USAGE = 2


class UsageError(Exception):
    """Raised by a command for input the user must fix; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cryptoscope",
        description="What cryptography every workload really uses, and the evidence for PCI DSS 4.0.1.",
    )
    parser.add_argument("--version", action="version", version=f"cryptoscope {__version__}")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging threshold for messages on stderr (default: WARNING)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(commands_package.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands_package.__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"cryptoscope {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
