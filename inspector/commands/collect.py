"""`cryptoscope collect`: fetch every agent's /snapshot through the API server and merge them locally."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from inspector.cli import UsageError

EXIT_PARTIAL = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    from inspector.collect import DEFAULT_SELECTOR

    parser = subparsers.add_parser(
        "collect",
        help="merge every agent's evidence into one local database",
        description="Find the agent pods, reach each through the API server (port-forward), fetch /snapshot "
        "with your token and merge it into --db with provenance. Idempotent; an unreachable agent is "
        "reported and the others still merge (exit 1 when any agent was not collected).",
    )
    parser.add_argument(
        "--db", default="cryptoscope.db", help="local database to merge into (default: %(default)s)"
    )
    parser.add_argument(
        "--namespace",
        "-n",
        default="cryptoscope",
        help="agents' namespace; '' for all (default: %(default)s)",
    )
    parser.add_argument(
        "--selector",
        "-l",
        default=DEFAULT_SELECTOR,
        help="agent pods' label selector (default: %(default)s)",
    )
    parser.add_argument(
        "--kubeconfig", default="", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    parser.add_argument(
        "--context", default="", help="kubeconfig context (default: the current one)"
    )
    parser.add_argument(
        "--token",
        default=None,
        help="bearer token for /snapshot (default: $CRYPTOSCOPE_TOKEN, else the kubeconfig user's token)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="agent port (default: the container port named https, else 9443)",
    )
    parser.add_argument(
        "--agent-ca-file",
        default=None,
        help="CA that signed the agents' certificates (verify them)",
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per agent (default: %(default)s)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from agent.discovery import KubeConfigError, api_client
    from inspector.collect import CollectError, bearer_token, collect, summary_lines

    if args.agent_ca_file and not os.path.isfile(args.agent_ca_file):
        raise UsageError(f"--agent-ca-file: no such file: {args.agent_ca_file}")
    if args.timeout <= 0:
        raise UsageError("--timeout must be > 0")
    database = Path(args.db)
    if database.is_dir():
        raise UsageError(f"--db {database} is a directory")
    try:
        api = api_client(args.kubeconfig, args.context)
    except KubeConfigError as exc:
        raise UsageError(str(exc)) from exc
    token = args.token or os.environ.get("CRYPTOSCOPE_TOKEN", "") or bearer_token(api)
    if not token:
        raise UsageError(
            "no bearer token: pass --token, set CRYPTOSCOPE_TOKEN, or use a kubeconfig user with a token"
        )
    try:
        outcomes = collect(
            api,
            database,
            namespace=args.namespace,
            selector=args.selector,
            token=token,
            port=args.port,
            ca_file=args.agent_ca_file,
            timeout=args.timeout,
        )
    except CollectError as exc:
        print(f"cryptoscope collect: {exc}", file=sys.stderr)
        return EXIT_PARTIAL
    finally:
        api.close()
    if not outcomes:
        print(
            f"cryptoscope collect: no agent pods match {args.selector!r} in namespace {args.namespace or '(all)'}",
            file=sys.stderr,
        )
        return EXIT_PARTIAL
    for line in summary_lines(outcomes):
        print(line)
    failed = [outcome for outcome in outcomes if outcome.merged is None]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} agents collected into {database}")
    return EXIT_PARTIAL if failed else 0
