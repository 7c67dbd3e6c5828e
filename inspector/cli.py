"""The `cryptoscope` command line.

Each subcommand lives in its own module under :mod:`inspector.commands` and
exposes two functions::

    def register(subparsers: argparse._SubParsersAction) -> None: ...
    # the parser it adds sets `func=run` with set_defaults
    def run(args: argparse.Namespace) -> int: ...

Modules are discovered, so adding a command never touches this file. Only the
module of the command being run is imported: `cryptoscope scan` never pays for
Kubernetes or Textual, and a broken module cannot take the other commands down.
The top-level help reads each module's summary from its docstring.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
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


def command_names() -> list[str]:
    """Every subcommand, by module name, without importing any of them."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(commands_package.__path__)
        if not info.name.startswith("_")
    )


def command_summary(name: str) -> str:
    """The first line of a command module's docstring, read from its source (no import)."""
    spec = importlib.util.find_spec(f"{commands_package.__name__}.{name}")
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as source:
        docstring = ast.get_docstring(ast.parse(source.read())) or ""
    first_line = docstring.strip().splitlines()[0] if docstring.strip() else ""
    # "`cryptoscope scan HOST:PORT …`: every protocol …" -> "every protocol …"
    if first_line.startswith("`") and ": " in first_line:
        first_line = first_line.split(": ", 1)[1]
    return first_line.rstrip(".")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with `only`, the other commands are listed but not imported."""
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
    for name in command_names():
        if only is None or name == only:
            module = importlib.import_module(f"{commands_package.__name__}.{name}")
            module.register(subparsers)
        else:
            subparsers.add_parser(name, help=command_summary(name))
    return parser


def _requested_command(argv: Sequence[str] | None) -> str | None:
    """The subcommand named on the command line, if any (global options may precede it)."""
    pre_parser = argparse.ArgumentParser(add_help=False)
    pre_parser.add_argument("--log-level")
    pre_parser.add_argument("command", nargs="?")
    known, _ = pre_parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    return known.command if known.command in command_names() else None


def main(argv: Sequence[str] | None = None) -> int:
    requested = _requested_command(argv)
    parser = build_parser(only=requested or "")
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
