"""`cryptoscope scan HOST:PORT …`: every protocol version, suite, group and certificate of endpoints.

    cryptoscope scan 127.0.0.1:8443 [::1]:5432 --sni api.internal --ca-file cluster-ca.pem --json

Other commands reuse the pieces: :func:`add_scan_arguments` (the flags), :func:`run_scan`
(the scan itself, returning the results) and :func:`render_text` / :func:`render_json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from agent import __version__
from agent.tls import (
    PROTOCOL_NAMES,
    EndpointScan,
    ScanOptions,
    Target,
    TargetError,
    parse_target,
    reference,
    scan_sync,
    to_json,
)
from agent.tls.model import OCSPStaple
from inspector.cli import UsageError
from inspector.reports.database import add_db_argument
from inspector.reports.scan_recording import record_for_cli, rule_settings_from_args

DEFAULT_TIMEOUT = 3.0
DEFAULT_CONCURRENCY = 16


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="scan TLS endpoints: versions, cipher suites, groups, certificate chain",
        description="Probe each HOST:PORT with hand-built ClientHellos (every IANA suite, SSLv2 to TLS 1.3, "
        "post-quantum hybrid groups) and one full handshake for the certificate chain.",
    )
    add_scan_arguments(parser)
    add_db_argument(parser)  # records the scan as a run (store and evidence)
    parser.add_argument(
        "--no-db", action="store_true", help="do not record the scan in the database"
    )
    parser.add_argument(
        "--cert-expiry-warn-days",
        type=int,
        default=28,
        metavar="DAYS",
        help="recorded findings: certificates expiring within DAYS are flagged (rule K6; default: 28)",
    )
    parser.add_argument(
        "--cert-expiry-critical-days",
        type=int,
        default=14,
        metavar="DAYS",
        help="recorded findings: within DAYS the K6 finding is high (default: 14)",
    )
    parser.set_defaults(func=run)


def add_scan_arguments(parser: argparse.ArgumentParser) -> None:
    """The scan flags; commands that scan too (or add --db) call this on their own parser."""
    parser.add_argument(
        "targets",
        nargs="+",
        metavar="HOST:PORT",
        help="endpoint to scan; IPv6 as [ADDR]:PORT; append /SNI to set a server name per target",
    )
    parser.add_argument(
        "--sni", metavar="NAME", help="server name to send (default: the host, if it is a name)"
    )
    parser.add_argument(
        "--ca-file",
        metavar="PEM",
        help="CA bundle to validate chains against (e.g. the cluster's internal CA); default: system store",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of the report"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"connect and read timeout per connection, seconds (default: {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--check-revocation",
        action="store_true",
        help="check every served certificate but the root: stapled OCSP, OCSP responder / CRL (rules K7, K11; at most 3 x --timeout, >= 5 s)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"endpoints scanned at once (default: {DEFAULT_CONCURRENCY})",
    )


def targets_from_args(args: argparse.Namespace) -> list[Target]:
    """Parse every target or raise UsageError naming the bad one."""
    targets = []
    for text in args.targets:
        try:
            targets.append(parse_target(text, args.sni))
        except TargetError as exc:
            raise UsageError(f"cannot parse target {exc}") from exc
    return targets


def options_from_args(args: argparse.Namespace) -> ScanOptions:
    if not args.timeout > 0:
        raise UsageError(f"--timeout must be > 0, got {args.timeout:g}")
    if args.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, got {args.concurrency}")
    if args.ca_file and not os.path.isfile(args.ca_file):
        raise UsageError(f"--ca-file: no such file: {args.ca_file}")
    return ScanOptions(
        connect_timeout=args.timeout,
        read_timeout=args.timeout,
        endpoint_deadline=max(60.0, 20 * args.timeout),
        concurrency=args.concurrency,
        ca_file=args.ca_file or None,
        check_revocation=bool(getattr(args, "check_revocation", False)),
        revocation_timeout=max(5.0, 3 * args.timeout),
    )


def run_scan(args: argparse.Namespace) -> list[EndpointScan]:
    """Validate the arguments and scan; results in the order of the targets."""
    targets = targets_from_args(args)
    options = options_from_args(args)
    return scan_sync(targets, options)


def run(args: argparse.Namespace) -> int:
    if not args.no_db:
        rule_settings_from_args(args)  # bad --cert-expiry-* days: exit 2 before scanning
    results = run_scan(args)
    sys.stdout.write(render_json(results) if args.json else render_text(results))
    if not args.no_db:
        record_for_cli(args, results)
    return 0


# --- rendering -----------------------------------------------------------------------------------


def render_json(results: Sequence[EndpointScan]) -> str:
    document: dict[str, Any] = {
        "tool": "cryptoscope",
        "version": __version__,
        "endpoints": [to_json(result) for result in results],
    }
    return json.dumps(document, indent=2) + "\n"


def _strength(name: str) -> str:
    suite = reference.cipher_suite(name)
    return reference.strength(suite)[0] if suite else "unknown"


def _group_label(name: str) -> str:
    item = reference.group(name)
    if item is None:
        return name
    if item.kind == "hybrid-pq":
        return f"{name} (PQ hybrid)"
    if item.post_quantum:
        return f"{name} (PQ)"
    return name


def _staple_text(staple: OCSPStaple) -> str:
    must = " (the certificate is Must-Staple)" if staple.must_staple else ""
    if not staple.stapled:
        return "none" + must
    if not staple.verified:
        return f"not believed — {staple.detail}{must}"
    until = f", next update {staple.next_update:%Y-%m-%d %H:%M}Z" if staple.next_update else ""
    return f"{staple.status}, verified{until}{must}"


def _yes_no(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    return "unknown" if value is None else (yes if value else no)


def render_endpoint(result: EndpointScan) -> list[str]:
    where = f"[{result.host}]" if ":" in result.host else result.host
    head = f"{where}:{result.port}  {result.transport.value}"
    if result.sni:
        head += f"  (SNI {result.sni})"
    lines = [head + f"  — {result.connections} connections, {result.duration_s:.2f} s"]
    if result.error:
        lines.append(f"  error: {result.error}")
    if result.protocols:
        lines.append("  protocols")
    for name in PROTOCOL_NAMES:
        outcome = result.protocols.get(name)
        if outcome is None:
            continue
        if not outcome.accepted:
            lines.append(
                f"    {name:<8} {'error: ' + outcome.error if outcome.error else 'not accepted'}"
            )
            continue
        order = {True: "server order", False: "client order", None: ""}[outcome.server_preference]
        lines.append(
            f"    {name:<8} accepted, {len(outcome.suites)} suites {('— ' + order) if order else ''}".rstrip()
        )
        width = max(len(suite) for suite in outcome.suites)
        for suite in outcome.suites:
            lines.append(f"      {suite:<{width}}  {_strength(suite)}")
    if result.groups:
        lines.append("  groups")
        for version, names in result.groups_by_version.items():
            lines.append(f"    {version:<8} {', '.join(_group_label(name) for name in names)}")
    if result.dhe_min_bits:
        named = f"{', '.join(result.dhe_groups)}; " if result.dhe_groups else ""
        how = {True: ", negotiated (RFC 7919)", False: ", the server's own", None: ""}
        lines.append(
            f"  DHE groups: {named}smallest {result.dhe_min_bits} bits"
            + how[result.dhe_group_negotiation]
        )
    if result.negotiated:
        version, cipher, group = result.negotiated
        lines.append(f"  negotiated: {version} {cipher} {group or ''}".rstrip())
    if result.client_cert_required:
        lines.append("  client certificate: required (mTLS)")
    for check in result.chain_revocation or ((result.revocation,) if result.revocation else ()):
        where = "" if check.position == 0 else f" chain[{check.position}]"
        lines.append(
            f"  revocation{where}: {check.status}" + (f" — {check.detail}" if check.detail else "")
        )
    if result.ocsp_staple is not None:
        lines.append(f"  OCSP staple: {_staple_text(result.ocsp_staple)}")
    if result.fallback_scsv is not None:
        lines.append(f"  TLS_FALLBACK_SCSV: {_yes_no(result.fallback_scsv, 'honoured', 'ignored')}")
    if result.certificates:
        lines.append("  certificates (as presented, leaf first)")
        for index, cert in enumerate(result.certificates):
            key = f"{cert.key_type} {cert.key_bits}" + (f" {cert.curve}" if cert.curve else "")
            lines.append(f"    [{index}] {cert.subject}")
            lines.append(f"        issuer {cert.issuer}")
            lines.append(
                f"        {key}, {cert.signature_algorithm}, not after {cert.not_after:%Y-%m-%d}"
                + (", CA" if cert.is_ca else "")
                + (", self-signed" if cert.self_signed else "")
            )
            if cert.san_dns or cert.san_ip:
                lines.append(f"        SAN {', '.join(cert.san_dns + cert.san_ip)}")
            lines.append(f"        sha256 {cert.sha256}")
    if result.chain is not None:
        chain = result.chain
        lines.append(
            f"  chain: trusted {_yes_no(chain.trusted)} ({chain.ca_source}), host name match "
            f"{_yes_no(chain.hostname_match)}, ordered {_yes_no(chain.ordered)}, complete {_yes_no(chain.complete)}"
        )
        if chain.error:
            lines.append(f"    {chain.error}")
    for warning in result.warnings:
        lines.append(f"  warning: {warning}")
    return lines


def render_text(results: Sequence[EndpointScan]) -> str:
    blocks = ["\n".join(render_endpoint(result)) for result in results]
    return "\n\n".join(blocks) + "\n"
