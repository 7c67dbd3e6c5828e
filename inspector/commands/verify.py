"""`cryptoscope verify DIR [--public-key PUB]`: hash, signature, integrity, schema and row counts."""

from __future__ import annotations

import argparse
from pathlib import Path

from inspector.cli import UsageError
from inspector.evidence import EvidenceError, verify_snapshot

#: Exit code when a check failed (usage errors exit 2).
EXIT_FAILED = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check an exported snapshot: hash, signature, integrity_check, schema, row counts",
        description="Exit 0 when every check passed (signature skipped without --public-key), 1 when one "
        "failed; each check is printed with its outcome.",
    )
    parser.add_argument("directory", type=Path, metavar="DIR")
    parser.add_argument(
        "--public-key", type=Path, metavar="PUB", help="Ed25519 public key (PEM) from `keygen`"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.directory.is_dir():
        raise UsageError(f"{args.directory} is not a directory")
    try:
        checks = verify_snapshot(args.directory, public_key=args.public_key)
    except EvidenceError as exc:
        raise UsageError(str(exc)) from exc
    width = max(len(check.name) for check in checks)
    for check in checks:
        print(f"{check.outcome.upper():7} {check.name:{width}}  {check.detail}")
    failed = [check.name for check in checks if check.outcome == "fail"]
    if failed:
        print(f"verify: FAILED ({', '.join(failed)})")
        return EXIT_FAILED
    print("verify: OK")
    return 0
