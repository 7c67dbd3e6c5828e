"""One endpoint: protocol matrix, suites per version in server order, groups, the chain as a tree, findings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static, Tree
from textual.widgets.tree import TreeNode
from textual.worker import get_current_worker

from inspector.tui import render
from inspector.tui.keys import DETAIL_BINDINGS
from inspector.tui.queries import PROTOCOLS, EndpointDetail, endpoint_detail, parse_time
from inspector.tui.saving import SaveError, save_rows
from inspector.tui.screens.base import CryptoscopeScreen
from inspector.tui.screens.dialogs import SaveScreen

#: Versions whose acceptance is itself a finding (shown red when accepted).
LEGACY_PROTOCOLS = frozenset({"SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"})

#: Certificate facts in the order the tree shows them: (column, label).
CERT_FACTS: tuple[tuple[str, str], ...] = (
    ("subject", "Subject"),
    ("issuer", "Issuer"),
    ("serial", "Serial"),
    ("not_before", "Not before"),
    ("not_after", "Not after"),
    ("key_type", "Key type"),
    ("key_bits", "Key bits"),
    ("curve", "Curve"),
    ("signature_algorithm", "Signature"),
    ("signature_hash", "Signature hash"),
    ("san_dns", "SAN DNS"),
    ("san_ip", "SAN IP"),
    ("is_ca", "CA"),
    ("self_signed", "Self-signed"),
    ("sha256", "SHA-256"),
    ("sha1", "SHA-1 (x5t)"),
    ("spki_sha256", "SPKI SHA-256"),
    ("first_seen", "First seen"),
    ("last_seen", "Last seen"),
)


def _yes_no(value: Any) -> str:
    if value is None:
        return "unknown"
    return "yes" if value else "no"


class EndpointScreen(CryptoscopeScreen):
    HELP_TITLE = "Endpoint"
    BINDINGS: ClassVar[list[BindingType]] = list(DETAIL_BINDINGS)
    DEFAULT_CSS = """
    EndpointScreen #crumbs { height: 1; background: $panel; text-style: bold; padding: 0 1; }
    EndpointScreen .section { padding: 0 1; margin-bottom: 1; }
    EndpointScreen Tree { height: auto; max-height: 40; padding: 0 1; margin-bottom: 1; }
    """

    def __init__(self, endpoint_id: int, crumbs: tuple[str, ...]) -> None:
        super().__init__(crumbs)
        self.endpoint_id = endpoint_id
        self.detail: EndpointDetail | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.crumb_text(), id="crumbs")
        with VerticalScroll(id="endpoint-body"):
            yield Static("loading…", id="identity", classes="section")
            yield Static(id="protocols", classes="section")
            yield Static(id="suites", classes="section")
            yield Static(id="groups", classes="section")
            tree: Tree[str] = Tree("Certificate chain", id="chain")
            tree.show_root = True
            yield tree
            yield Static(id="findings", classes="section")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="endpoint-load", exit_on_error=False)
    def _load(self) -> None:
        worker = get_current_worker()
        try:
            with self.connection() as conn:
                detail = endpoint_detail(conn, self.endpoint_id)
        except Exception as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(
                    self.query_one("#identity", Static).update, f"cannot read the database: {exc}"
                )
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show, detail)

    # ------------------------------------------------------------------ rendering

    def _show(self, detail: EndpointDetail | None) -> None:
        self.detail = detail
        if detail is None:
            self.query_one("#identity", Static).update(
                Text("This endpoint is no longer in the database (pruned).", style="yellow")
            )
            return
        self.query_one("#identity", Static).update(self._identity(detail))
        self.query_one("#protocols", Static).update(self._protocols(detail))
        self.query_one("#suites", Static).update(self._suites(detail))
        self.query_one("#groups", Static).update(self._groups(detail))
        self._chain(detail)
        self.query_one("#findings", Static).update(self._findings(detail))

    def _identity(self, detail: EndpointDetail) -> Table:
        e, s, r = detail.endpoint, detail.scan or {}, detail.run or {}
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        workload = "/".join(
            str(x)
            for x in (e.get("namespace"), e.get("workload_kind"), e.get("workload_name"))
            if x
        )
        rows: list[tuple[str, Text | str]] = [
            (
                "Endpoint",
                f"{e.get('ip')}:{e.get('port')}" + (f"  SNI {e['sni']}" if e.get("sni") else ""),
            ),
            (
                "Workload",
                f"{workload or '—'}  pod {e.get('pod') or '—'}  node {e.get('node') or '—'}  service {e.get('service') or '—'}",
            ),
            ("Transport", render.transport(s.get("transport") or e.get("transport"))),
            (
                "Negotiated",
                " / ".join(
                    str(x)
                    for x in (
                        s.get("negotiated_protocol"),
                        s.get("negotiated_suite"),
                        s.get("negotiated_group"),
                    )
                    if x
                )
                or "—",
            ),
            (
                "Chain",
                f"trusted {_yes_no(s.get('chain_trusted'))} · hostname match {_yes_no(s.get('hostname_match'))} · "
                f"ordered {_yes_no(s.get('chain_ordered'))} · complete {_yes_no(s.get('chain_complete'))}"
                + (f" · {s['chain_error']}" if s.get("chain_error") else ""),
            ),
            ("Revocation", self._revocation_summary(detail)),
            ("OCSP staple", render.staple(detail.staple)),
            (
                "Handshake",
                f"client cert required {_yes_no(s.get('client_cert_required'))} · fallback SCSV {_yes_no(s.get('fallback_scsv'))}"
                + (f" · smallest DHE {s['dhe_min_bits']} bits" if s.get("dhe_min_bits") else ""),
            ),
            (
                "Scanned",
                f"{render.time_ago(s.get('started_at'), self.now())} · run {r.get('id', '—')} by {r.get('agent_id', '—')} ({r.get('status', '—')})",
            ),
            ("Purpose / scope", f"{e.get('purpose') or '—'} / {e.get('scope') or '—'}"),
        ]
        if s.get("error"):
            rows.append(("Error", Text(str(s["error"]), style="red")))
        for error in detail.errors:
            rows.append(("Probe note", Text(error, style="yellow")))
        for label, value in rows:
            table.add_row(label, value if isinstance(value, Text) else Text(value))
        return table

    def _revocation_summary(self, detail: EndpointDetail) -> Text:
        summary = Text("leaf ")
        summary.append_text(render.revocation(detail.revocation.get(0)))
        for position, check in sorted(detail.revocation.items()):
            if position > 0:
                summary.append(f" · chain[{position}] ")
                summary.append_text(render.revocation(check))
        return summary

    def _protocols(self, detail: EndpointDetail) -> Table:
        table = Table(
            title="Protocols (accepted ✓ / refused ✗ / not tested —)",
            title_justify="left",
            expand=False,
        )
        table.add_column("")
        for name in PROTOCOLS:
            table.add_column(name, justify="center")
        cells: list[Text] = []
        order: list[Text] = []
        for name in PROTOCOLS:
            state = detail.protocols.get(name)
            if state is True:
                cells.append(
                    Text("✓ yes", style="bold red" if name in LEGACY_PROTOCOLS else "bold green")
                )
            elif state is False:
                cells.append(Text("✗ no", style="dim" if name in LEGACY_PROTOCOLS else "yellow"))
            else:
                cells.append(Text("—", style="dim"))
            preference = detail.server_preference.get(name)
            order.append(
                Text(
                    "server" if preference else "client" if preference is False else "—",
                    style="dim",
                )
            )
        table.add_row("accepted", *cells)
        table.add_row("suite order", *order)
        return table

    def _suites(self, detail: EndpointDetail) -> Table | Text:
        if not detail.suites:
            return Text("Cipher suites: none accepted (or not a TLS endpoint).", style="dim")
        table = Table(
            title="Cipher suites per version, in server preference order", title_justify="left"
        )
        for label in ("Version", "#", "Suite", "Strength", "Kex", "Cipher", "MAC"):
            table.add_column(label)
        for row in detail.suites:
            style = render.STRENGTH_STYLE.get(row.strength, ("", ""))[1]
            table.add_row(
                Text(row.protocol),
                Text(str(row.rank)),
                Text(row.suite, style=style),
                render.strength(row.strength),
                Text(row.key_exchange or "—"),
                Text(row.cipher or "—"),
                Text(row.mac or "—"),
            )
        return table

    def _groups(self, detail: EndpointDetail) -> Table | Text:
        if not detail.groups:
            return Text("Key-exchange groups: none recorded.", style="dim")
        table = Table(
            title="Key-exchange groups (★ PQ = post-quantum hybrid)", title_justify="left"
        )
        for label in ("Version", "#", "Group", "Post-quantum"):
            table.add_column(label)
        for group in detail.groups:
            pq = (
                Text("★ PQ hybrid", style="bold green")
                if group.post_quantum
                else Text("no", style="dim")
            )
            table.add_row(
                Text(group.protocol or "any"), Text(str(group.rank)), Text(group.name), pq
            )
        return table

    def _chain(self, detail: EndpointDetail) -> None:
        tree = self.query_one("#chain", Tree)
        tree.clear()
        s = detail.scan or {}
        tree.root.set_label(
            Text(
                f"Certificate chain ({len(detail.chain)} presented, trusted {_yes_no(s.get('chain_trusted'))})",
                style="bold",
            )
        )
        now = self.now()
        for cert in detail.chain:
            facts = cert.facts
            role = (
                "leaf"
                if cert.position == 0
                else ("root" if facts.get("self_signed") else "intermediate")
            )
            check = detail.revocation.get(cert.position)
            label = Text.assemble(
                (f"[{cert.position}] {role} ", "bold"),
                str(facts.get("subject", "")),
                "  ",
                render.expiry(facts.get("not_after"), now),
            )
            if check:
                label.append("  ")
                label.append_text(render.revocation(check))
            node: TreeNode[str] = tree.root.add(
                label, data=str(facts.get("sha256", "")), expand=True
            )
            if check:
                node.add_leaf(
                    Text.assemble(("revocation: ", "bold"), render.revocation(check)),
                    data=str(check.get("url") or check.get("status") or ""),
                )
            if cert.position == 0 and detail.staple is not None:
                node.add_leaf(
                    Text.assemble(("OCSP staple: ", "bold"), render.staple(detail.staple)),
                    data=str(detail.staple.get("status") or ""),
                )
            for column, name in CERT_FACTS:
                value = facts.get(column)
                shown = self._fact_text(column, value)
                node.add_leaf(Text.assemble((f"{name}: ", "bold"), shown), data=render.plain(value))
        tree.root.expand()

    def _fact_text(self, column: str, value: Any) -> Text | str:
        if column == "not_after":
            return render.expiry(value, self.now())
        if column in ("is_ca", "self_signed"):
            return _yes_no(value)
        if column in ("san_dns", "san_ip") and isinstance(value, str) and value.startswith("["):
            return ", ".join(json.loads(value)) or "—"
        if column == "signature_hash" and value in ("sha1", "md5"):
            return Text(f"✖ {value}", style="bold red")
        if (
            column == "key_bits"
            and isinstance(value, int)
            and value < 2048
            and value not in (256, 384, 521, 255, 448)
        ):
            return Text(f"✖ {value}", style="bold red")
        if column in ("first_seen", "last_seen", "not_before") and parse_time(value):
            return str(value)
        return render.plain(value) or "—"

    def _findings(self, detail: EndpointDetail) -> Group | Text:
        if not detail.findings:
            return Text("Findings: none.", style="green")
        table = Table(title="Findings", title_justify="left", expand=True)
        for label in ("Severity", "Rule", "Req.", "Status", "Finding and remediation"):
            table.add_column(label)
        for f in detail.findings:
            status = render.cell("status", f.status, self.now())
            what = Text.assemble(f.message, "\n", ("→ " + f.remediation, "italic"))
            if f.waiver:
                what.append(f"\nwaived: {f.waiver}", style="magenta")
            table.add_row(
                render.severity(f.severity), Text(f.rule_id), Text(f.requirements), status, what
            )
        return Group(table)

    # ------------------------------------------------------------------ actions

    def action_copy_cell(self) -> None:
        tree = self.query_one("#chain", Tree)
        if tree.has_focus and tree.cursor_node is not None and tree.cursor_node.data:
            self.copy_text(str(tree.cursor_node.data), "certificate fact")
            return
        if self.detail is not None:
            self.copy_text(str(self.detail.endpoint.get("subject_key", "")), "endpoint")

    def action_save_view(self) -> None:
        stamp = self.now().strftime("%Y%m%d-%H%M%S")
        default = str(
            Path(self.cs_app.save_dir) / f"cryptoscope-endpoint-{self.endpoint_id}-{stamp}.json"
        )
        self.app.push_screen(
            SaveScreen(default, "this endpoint (.json: every fact; .csv: its suites)"),
            self._save_to,
        )

    def _save_to(self, path: str | None) -> None:
        if not path or self.detail is None:
            return
        target = Path(path).expanduser()
        detail = self.detail
        try:
            if target.suffix.lower() == ".csv":
                rows = [dataclasses.asdict(s) for s in detail.suites]
                count = save_rows(
                    target,
                    [
                        "protocol",
                        "rank",
                        "suite",
                        "strength",
                        "key_exchange",
                        "cipher",
                        "mac",
                        "bits",
                    ],
                    rows,
                    meta={},
                )
            else:
                payload = dataclasses.asdict(detail)
                count = save_rows(
                    target,
                    ["detail"],
                    [{"detail": payload}],
                    meta={"view": "endpoint", "endpoint_id": self.endpoint_id},
                )
        except SaveError as exc:
            self.notify(str(exc), title="Save", severity="error")
            return
        self.notify(f"Saved {count} row(s) to {target}", title="Save")
        self.cs_app.record_saved(target)
