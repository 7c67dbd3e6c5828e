"""`cryptoscope agent`: the in-cluster loop (discover → probe → rules → store) and its HTTPS endpoint.

Every flag comes from the settings table in :mod:`agent.config` (each has an
environment variable too); values are validated before anything starts.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from agent.config import SETTINGS, SettingsError, load_settings, parse_bool
from inspector.cli import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "agent",
        help="run the in-cluster agent (DaemonSet, sidecar or cluster mode)",
        description="Discover → probe → rules → store every interval; serve /healthz, /readyz, /metrics "
        "and /snapshot over HTTPS. Each flag also reads the environment variable shown.",
    )
    for setting in SETTINGS:
        is_bool = setting.parse is parse_bool
        parser.add_argument(
            setting.flag,
            dest=setting.name,
            default=None,
            metavar="BOOL" if is_bool else setting.name.upper(),
            nargs="?" if is_bool else None,
            const="true" if is_bool else None,
            help=f"{setting.help} (env {setting.env}; default: {setting.default!r})",
        )
    parser.set_defaults(func=run)


def validate(settings: Any) -> None:
    """Cross-setting checks; raises UsageError with the flag and variable to fix."""
    problems: list[str] = []
    if settings.mode == "daemonset" and not settings.node_name:
        problems.append(
            "daemonset mode needs the node name: --node-name or NODE_NAME (downward API spec.nodeName)"
        )
    if settings.mode == "sidecar" and not (settings.pod_name and settings.pod_namespace):
        problems.append("sidecar mode needs --pod-name/POD_NAME and --pod-namespace/POD_NAMESPACE")
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        problems.append("--tls-cert-file and --tls-key-file go together")
    for path_setting in ("tls_cert_file", "tls_key_file", "ca_file", "kubeconfig"):
        path = getattr(settings, path_setting)
        if path and not os.path.isfile(path):
            problems.append(f"--{path_setting.replace('_', '-')}: no such file: {path}")
    host, sep, port = settings.listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        problems.append(f"--listen needs HOST:PORT: {settings.listen!r}")
    if settings.profile not in ("pci", "nist"):
        problems.append(f"--profile must be pci or nist: {settings.profile!r}")
    if not 0 <= settings.jitter <= 1:
        problems.append(f"--jitter must be between 0 and 1: {settings.jitter!r}")
    if problems:
        raise UsageError("; ".join(problems))


def run(args: argparse.Namespace) -> int:
    from agent.discovery import KubeConfigError
    from agent.runner import serve
    from agent.store import StoreError

    flags = {setting.name: getattr(args, setting.name, None) for setting in SETTINGS}
    try:
        settings = load_settings(flags)
    except SettingsError as exc:
        raise UsageError(str(exc)) from exc
    validate(settings)
    try:
        return serve(settings)
    except KubeConfigError as exc:
        raise UsageError(str(exc)) from exc
    except StoreError as exc:
        raise UsageError(f"database {settings.db}: {exc}") from exc
