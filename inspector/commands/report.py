"""`cryptoscope report inventory|findings`: the 12.3.3 / 4.2.1.1 inventories and the findings by requirement."""

from __future__ import annotations

import argparse

from agent.rules import Severity
from inspector.reports.cli_support import (
    add_as_of_argument,
    add_output_arguments,
    as_of,
    emit,
    reading,
)
from inspector.reports.findings import build_findings
from inspector.reports.inventory import build_inventory
from inspector.reports.keys import register_keys

INVENTORY_SECTIONS = (
    "protocols",
    "cipher_suites",
    "cipher_suites_where_used",
    "key_exchange_groups",
    "certificates",
)
FINDINGS_SECTIONS = ("by_requirement", "findings", "waivers")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="inventories (12.3.3, 4.2.1.1) and findings by PCI DSS requirement",
        description="Reports over the database: Markdown, CSV or JSON.",
    )
    kinds = parser.add_subparsers(dest="report", metavar="REPORT", required=True)
    inventory = kinds.add_parser(
        "inventory",
        help="protocols, cipher suites, groups (12.3.3) and certificates (4.2.1.1) in use, and where",
    )
    add_output_arguments(inventory, sections=INVENTORY_SECTIONS)
    add_as_of_argument(inventory)
    inventory.set_defaults(func=run)
    findings = kinds.add_parser("findings", help="findings by requirement, with waivers")
    add_output_arguments(findings, sections=FINDINGS_SECTIONS)
    add_as_of_argument(findings)
    findings.add_argument(
        "--include-resolved", action="store_true", help="also list resolved findings"
    )
    findings.add_argument(
        "--min-severity",
        choices=[str(s) for s in Severity],
        help="only findings at least this severe",
    )
    findings.add_argument(
        "--rule", action="append", default=[], metavar="ID", help="only this rule (repeatable)"
    )
    findings.set_defaults(func=run)
    register_keys(kinds)  # `report keys`: Key Vault / CSI key-management evidence


def run(args: argparse.Namespace) -> int:
    moment = as_of(args)
    with reading(args) as store:
        if args.report == "inventory":
            report = build_inventory(store, as_of=moment)
        else:
            report = build_findings(
                store,
                as_of=moment,
                include_resolved=args.include_resolved,
                min_severity=args.min_severity,
                rule_ids=tuple(args.rule),
            )
    return emit(report, args)
