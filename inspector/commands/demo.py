"""``cryptoscope demo``: the whole product on one machine, in one command, on loopback only."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from inspector.cli import UsageError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="start a small fictional cluster on loopback, run one agent cycle, open the TUI",
        description=(
            "Starts, on 127.0.0.0/8 only, a fictional AKS cluster: a test Kubernetes API with "
            "namespaces payments (PCI scope), web and ops; real TLS servers behind the pods; "
            "Key Vault objects mounted through the Secrets Store CSI layout; a loopback Key Vault. "
            "Runs one agent cycle, writes the database, reports and a verified evidence snapshot, "
            "stops everything it started, then opens the TUI on the database."
        ),
    )
    parser.add_argument(
        "--no-tui",
        dest="tui",
        action="store_false",
        help="print a summary and the paths of the database, reports and evidence instead of opening the TUI",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="directory for the database, reports, evidence, manifests and logs "
        "(default: a new temporary directory, kept and printed)",
    )
    parser.add_argument(
        "--agent-timeout",
        type=float,
        default=240.0,
        metavar="SECONDS",
        help="give up on the agent cycle after this long (default: 240)",
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="keep the fictional cluster up after the cycle, so you can scan its servers or run "
        "another agent cycle (agent.env) while the TUI is open; stops when the TUI is left "
        "(or, with --no-tui, on Ctrl-C)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from inspector.demo.run import DemoOptions, run_demo

    workdir: Path | None = args.workdir
    if workdir is not None and workdir.exists() and not workdir.is_dir():
        raise UsageError(f"--workdir {workdir}: exists and is not a directory")
    if workdir is not None and (workdir / "cryptoscope.db").exists():
        raise UsageError(
            f"--workdir {workdir}: already holds a demo database; choose an empty directory"
        )
    if args.agent_timeout <= 0:
        raise UsageError("--agent-timeout must be > 0")
    options = DemoOptions(
        workdir=workdir,
        tui=args.tui,
        agent_timeout=args.agent_timeout,
        keep_running=args.keep_running,
    )
    return run_demo(options)
