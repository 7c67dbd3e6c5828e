"""`cryptoscope keygen`: an Ed25519 key pair for signing evidence snapshots."""

from __future__ import annotations

import argparse
from pathlib import Path

from inspector.cli import UsageError
from inspector.evidence import EvidenceError, generate_key_pair


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "keygen",
        help="make an Ed25519 key pair for `export --sign-key` / `verify --public-key`",
        description="Writes PREFIX.key (private, mode 0600, unencrypted PEM: keep it in a vault) and PREFIX.pub.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("cryptoscope-signing"),
        metavar="PREFIX",
        help="path prefix of the two files (default: ./cryptoscope-signing)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    private = args.out.with_name(args.out.name + ".key")
    public = args.out.with_name(args.out.name + ".pub")
    try:
        fingerprint = generate_key_pair(private, public)
    except EvidenceError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        raise UsageError(f"cannot write the key pair: {exc.strerror}") from exc
    print(f"private key {private} (keep secret)")
    print(f"public key  {public}")
    print(f"fingerprint sha256:{fingerprint}")
    return 0
