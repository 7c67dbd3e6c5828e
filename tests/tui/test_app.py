"""Pilot tests: every view and key path of `cryptoscope tui`, on a database written through the store's API."""

from __future__ import annotations

import csv
import gc
import json
from datetime import timedelta
from pathlib import Path

from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable, Tree

from agent.discovery.csi_driver import CsiDriverFacts, Status
from agent.discovery.csi_records import record_csi_drivers
from agent.store import EndpointIdentity, Store
from inspector.tui.app import GC_FULL_PASS_EVERY, CryptoscopeApp
from inspector.tui.screens.dialogs import HelpScreen, PromptScreen, SaveScreen
from inspector.tui.screens.endpoint import EndpointScreen
from inspector.tui.screens.overview import OverviewScreen
from inspector.tui.screens.runs import RunDiffScreen, RunsScreen
from inspector.tui.screens.secrets import NoSecretsScreen
from inspector.tui.screens.table import PREFETCH_MARGIN, TableScreen
from inspector.tui.screens.workload import WorkloadScreen
from tests.tui.conftest import SIZE, make_app, settle, static_text
from tests.tui.factory import NOW, plain_scan


def cells(table: DataTable[object], column: int) -> list[str]:
    return [
        str(getattr(v, "plain", v))
        for v in (table.get_row_at(i)[column] for i in range(table.row_count))
    ]


async def jump(app: CryptoscopeApp, pilot: object, command: str) -> None:
    await pilot.press("colon")  # type: ignore[attr-defined]
    await settle(app, pilot)
    assert isinstance(app.screen, PromptScreen)
    await pilot.press(*command)  # type: ignore[attr-defined]
    await pilot.press("enter")  # type: ignore[attr-defined]
    await settle(app, pilot)


async def test_overview_shows_the_posture(cluster_db: Path) -> None:
    app = make_app(cluster_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        transport = screen.query_one("#panel-transport", DataTable)
        assert dict(zip(cells(transport, 0), cells(transport, 1), strict=True)) == {
            "tls": "6",
            "✖ plaintext-http": "3",
        }
        grades = screen.query_one("#panel-grade", DataTable)
        assert dict(zip(cells(grades, 0), cells(grades, 1), strict=True)) == {
            "A": "5",
            "B": "0",
            "C": "1",
            "D": "1",
            "F": "2",
        }
        requirements = screen.query_one("#panel-requirements", DataTable)
        assert ("4.2.1", "✖✖ critical", "2") in list(
            zip(cells(requirements, 0), cells(requirements, 1), cells(requirements, 2), strict=True)
        )
        expiring = screen.query_one("#panel-expiring", DataTable)
        assert cells(expiring, 1) == [
            "CN=legacy-gw.payments.svc",
            "CN=ledger-db.payments.svc",
            "CN=web.shop.svc",
        ]
        assert cells(expiring, 0)[0].startswith("✖ EXPIRED")
        runs = screen.query_one("#panel-runs", DataTable)
        assert cells(runs, 0) == ["node-a", "node-b"]
        secrets = screen.query_one("#panel-secrets", DataTable)
        assert secrets.border_subtitle == "no CSI data yet"
        assert "fresh" in static_text(screen, "#freshness")


async def test_overview_rows_drill_into_filtered_views(cluster_db: Path) -> None:
    app = make_app(cluster_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("down", "enter")  # "plaintext-http" in the transport panel
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TableScreen) and screen.query_spec.name == "endpoints"
        assert screen.filt.text == "transport=plaintext-http"
        assert screen.total == 3
        await pilot.press("escape", "escape")
        await settle(app, pilot)
        assert isinstance(app.screen, OverviewScreen)
        app.screen.query_one("#panel-grade", DataTable).focus()
        await pilot.press("down", "down", "down", "down", "enter")  # grade F
        await settle(app, pilot)
        assert isinstance(app.screen, TableScreen) and app.screen.total == 2


async def test_jump_reaches_every_view(cluster_db: Path) -> None:
    app = make_app(cluster_db)
    expected = {"namespaces": 4, "workloads": 7, "endpoints": 9, "findings": 7, "runs": 3}
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for view, rows in expected.items():
            await jump(app, pilot, view)
            screen = app.screen
            assert isinstance(screen, TableScreen), view
            assert screen.query_spec.name == view
            assert (screen.total, screen.table.row_count) == (rows, rows), view
            assert len(app.screen_stack) == 3  # default, overview, this view: jumps do not stack
        await jump(app, pilot, "secrets")
        assert isinstance(app.screen, NoSecretsScreen)
        assert "No CSI data yet" in static_text(app.screen, "#no-csi")
        await jump(app, pilot, "ns payments")
        assert isinstance(app.screen, TableScreen) and app.screen.total == 3
        await jump(app, pilot, "overview")
        assert isinstance(app.screen, OverviewScreen)
        await jump(app, pilot, "nonsense")
        assert isinstance(app.screen, OverviewScreen)
        assert any("Unknown view" in str(n.message) for n in app._notifications)


async def test_drill_from_namespaces_to_an_endpoint_and_back(cluster_db: Path) -> None:
    app = make_app(cluster_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await jump(app, pilot, "namespaces")
        namespaces = app.screen
        assert isinstance(namespaces, TableScreen)
        assert cells(namespaces.table, 0) == ["cache", "monitoring", "payments", "shop"]
        await pilot.press("down", "down", "enter")  # payments
        await settle(app, pilot)
        workloads = app.screen
        assert isinstance(workloads, TableScreen) and workloads.query_spec.name == "workloads"
        assert cells(workloads.table, 2) == ["api", "legacy-gw", "ledger-db"]
        await pilot.press("down", "down", "enter")  # ledger-db
        await settle(app, pilot)
        workload = app.screen
        assert isinstance(workload, WorkloadScreen)
        assert workload.crumbs == ("Namespaces", "payments", "StatefulSet/ledger-db")
        assert workload.total == 1
        assert "no CSI data yet" in static_text(workload, "#secrets")
        await pilot.press("enter")
        await settle(app, pilot)
        endpoint = app.screen
        assert isinstance(endpoint, EndpointScreen)
        detail = endpoint.detail
        assert detail is not None
        assert [s.suite for s in detail.suites if s.protocol == "TLSv1.2"][
            -1
        ] == "TLS_RSA_WITH_RC4_128_SHA"
        assert {s.suite: s.strength for s in detail.suites}[
            "TLS_RSA_WITH_RC4_128_SHA"
        ] == "insecure"
        assert detail.protocols["TLSv1.2"] is True and detail.protocols["TLSv1.0"] is False
        suites_text = static_text(endpoint, "#suites")
        assert "✖ insecure" in suites_text and "✓ strong" in suites_text
        chain = endpoint.query_one("#chain", Tree)
        assert len(chain.root.children) == 2
        leaf_facts = [str(child.label) for child in chain.root.children[0].children]
        assert any(fact.startswith("SHA-1 (x5t):") for fact in leaf_facts)
        assert any("CN=ledger-db.payments.svc" in fact for fact in leaf_facts)
        # revocation of the whole chain, and the leaf's stapled OCSP response
        assert "revocation: ✓ not revoked · ocsp-staple" in leaf_facts
        assert any(
            f.startswith("OCSP staple: stapled: ✓ not revoked · verified") for f in leaf_facts
        )
        intermediate_facts = [str(child.label) for child in chain.root.children[1].children]
        assert "revocation: ✓ not revoked · ocsp" in intermediate_facts
        identity = static_text(endpoint, "#identity")
        assert "leaf ✓ not revoked · ocsp-staple · chain[1] ✓ not revoked · ocsp" in identity
        assert "stapled: ✓ not revoked · verified · next update 2026-12-03 11:55" in identity
        findings_text = static_text(endpoint, "#findings")
        assert "C-EXPIRY" in findings_text and "→ Renew the certificate" in findings_text
        for expected in (WorkloadScreen, TableScreen, TableScreen, OverviewScreen):
            await pilot.press("escape")
            await settle(app, pilot)
            assert isinstance(app.screen, expected)


async def test_post_quantum_groups_are_marked(cluster_db: Path) -> None:
    app = make_app(cluster_db, initial_view="endpoints", initial_filter="port=8443")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, TableScreen) and app.screen.total == 1
        await pilot.press("enter")
        await settle(app, pilot)
        groups = static_text(app.screen, "#groups")
        assert "X25519MLKEM768" in groups and "★ PQ hybrid" in groups


async def test_filter_inversion_errors_and_escape(cluster_db: Path) -> None:
    app = make_app(cluster_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await jump(app, pilot, "endpoints")
        screen = app.screen
        assert isinstance(screen, TableScreen)
        await pilot.press("slash")
        await settle(app, pilot)
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"transport:plaintext", "enter")
        await settle(app, pilot)
        assert screen.total == 3
        assert set(cells(screen.table, 5)) == {"✖ plaintext-http"}
        assert "filter /transport:plaintext" in static_text(screen, "#status")
        await pilot.press("slash")
        await settle(app, pilot)
        field = app.screen.query_one("#prompt-input")
        assert field.value == "transport:plaintext"  # type: ignore[attr-defined]
        await pilot.press("home", "!", "enter")
        await settle(app, pilot)
        assert screen.total == 6 and screen.filt.inverted
        await pilot.press("slash", *"bogus:1", "enter")
        await settle(app, pilot)
        assert "unknown column 'bogus'" in static_text(screen, "#status")
        assert screen.total == 6  # the previous filter still applies
        await pilot.press("escape")  # clears the filter
        await settle(app, pilot)
        assert screen.total == 9 and not screen.filt.active
        await pilot.press("escape")  # goes back
        await settle(app, pilot)
        assert isinstance(app.screen, OverviewScreen)


async def test_sort_keys_and_header_click(cluster_db: Path) -> None:
    app = make_app(cluster_db, initial_view="endpoints")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TableScreen)
        await pilot.press("right", "right", "right", "right")  # PORT column
        await pilot.press("S")
        await settle(app, pilot)
        ports = [int(p) for p in cells(screen.table, 4)]
        assert ports == sorted(ports)
        await pilot.press("S")
        await settle(app, pilot)
        assert [int(p) for p in cells(screen.table, 4)] == sorted(ports, reverse=True)
        await pilot.press("N")
        await settle(app, pilot)
        assert cells(screen.table, 0)[0] == "cache"
        await pilot.click(
            "#rows", offset=(3, 0)
        )  # the NAMESPACE header: same column again -> reversed
        await settle(app, pilot)
        assert cells(screen.table, 0)[0] == "shop"


async def test_copy_cell_and_row(cluster_db: Path) -> None:
    app = make_app(cluster_db, initial_view="endpoints")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("right", "right", "right", "c")
        assert app.clipboard == "10.4.0.7"
        await pilot.press("C")
        assert app.clipboard.split("\t")[:5] == [
            "cache",
            "StatefulSet/redis",
            "redis-0",
            "10.4.0.7",
            "6379",
        ]


async def test_save_view_as_csv_and_json(cluster_db: Path, tmp_path: Path) -> None:
    app = make_app(
        cluster_db, save_dir=tmp_path, initial_view="endpoints", initial_filter="ns:payments"
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, SaveScreen)
        await pilot.press("enter")
        await settle(app, pilot)
        csv_path = app.saved_paths[-1]
        assert csv_path.parent == tmp_path and csv_path.suffix == ".csv"
        with open(csv_path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 4 and {r["namespace"] for r in rows} == {"payments"}
        assert {r["port"] for r in rows} == {"8443", "8080", "5432", "443"}
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        await pilot.press("ctrl+j", "enter")
        await settle(app, pilot)
        json_path = app.saved_paths[-1]
        document = json.loads(json_path.read_text())
        assert json_path.suffix == ".json" and document["filter"] == "ns:payments"
        assert document["row_count"] == 4 and document["rows"][0]["namespace"] == "payments"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        field = app.screen.query_one("#save-path")
        field.value = str(tmp_path / "report.txt")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(app, pilot)
        assert any(".csv or .json" in str(n.message) for n in app._notifications)
        assert not (tmp_path / "report.txt").exists()


async def test_findings_show_waivers_and_open_their_endpoint(cluster_db: Path) -> None:
    app = make_app(cluster_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await jump(app, pilot, "findings")
        screen = app.screen
        assert isinstance(screen, TableScreen)
        statuses = dict(zip(cells(screen.table, 4), cells(screen.table, 2), strict=True))
        waived = [subject for subject, status in statuses.items() if status == "waived"]
        assert waived == ["monitoring/DaemonSet/node-exporter/node-exporter-abc@10.3.0.5:9100"]
        waiver_text = [w for w in cells(screen.table, 6) if w != "—"]
        assert waiver_text == ["node-local metrics (security-team, until 2027-01-29T12:00:00Z)"]
        assert cells(screen.table, 0)[0] == "12.3.3" or cells(screen.table, 0)[0].startswith(
            "4.2.1"
        )
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, EndpointScreen)
        await jump(app, pilot, "findings all")
        assert (
            isinstance(app.screen, TableScreen) and app.screen.total == 8
        )  # with the resolved one


async def test_runs_history_and_diff(cluster_db: Path) -> None:
    app = make_app(cluster_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await jump(app, pilot, "runs")
        runs = app.screen
        assert isinstance(runs, RunsScreen)
        assert cells(runs.table, 0) == ["3", "2", "1"]
        await pilot.press("down", "enter")  # run 2: diff against its predecessor (run 1)
        await settle(app, pilot)
        diff = app.screen
        assert isinstance(diff, RunDiffScreen)
        assert diff.diff is not None
        assert [c[:2] for c in diff.diff.endpoint_changes] == [
            ("+", "shop/Deployment/web/web-6b8-q1w2e@10.2.0.10:443")
        ]
        assert ("-", "P-PLAINTEXT") in [c[:2] for c in diff.diff.finding_changes]
        assert "+ added" in static_text(diff, "#diff-endpoints")
        assert "- resolved" in static_text(diff, "#diff-findings")
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("down", "space")  # mark run 1
        assert runs.marked == 1
        await pilot.press("up", "up", "d")  # diff run 3 (other agent) with run 1
        await settle(app, pilot)
        assert isinstance(app.screen, RunDiffScreen)
        assert (app.screen.run_a, app.screen.run_b) == (1, 3)


async def test_help_lists_every_key_of_the_screen(cluster_db: Path) -> None:
    app = make_app(cluster_db, initial_view="runs")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await settle(app, pilot)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        shown = {(b.key_display or b.key) for b in help_screen.screen_bindings}
        for binding in RunsScreen.BINDINGS:
            assert (binding.key_display or binding.key) in shown  # type: ignore[union-attr]
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, RunsScreen)


async def test_command_palette_jumps_to_a_view(cluster_db: Path) -> None:
    app = make_app(cluster_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await settle(app, pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"View: runs")
        commands = app.screen.query_one(CommandList)
        for _ in range(300):  # the palette searches asynchronously; the machine is shared
            highlighted = commands.highlighted_option
            if highlighted is not None and "View: runs" in str(highlighted.prompt):
                break
            await pilot.pause(0.1)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, RunsScreen)


async def test_mouse_click_selects_then_opens(cluster_db: Path) -> None:
    app = make_app(cluster_db, initial_view="endpoints")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.click("#rows", offset=(3, 3))  # third data row
        await settle(app, pilot)
        assert isinstance(app.screen, TableScreen) and app.screen.table.cursor_row == 2
        await pilot.click("#rows", offset=(3, 3))
        await settle(app, pilot)
        assert isinstance(app.screen, EndpointScreen)


async def test_evidence_export_writes_a_snapshot(cluster_db: Path, tmp_path: Path) -> None:
    app = make_app(cluster_db, save_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        assert app.exported_paths, [str(n.message) for n in app._notifications]
        out = app.exported_paths[0]
        manifest = json.loads((out / "manifest.json").read_text())
        assert (out / "cryptoscope.db").is_file() and manifest["database"]["sha256"]


async def test_live_refresh_updates_rows_in_place_and_keeps_the_cursor(cluster_db: Path) -> None:
    app = make_app(cluster_db, initial_view="endpoints", refresh_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TableScreen)
        await pilot.press("down", "down", "down", "right", "right", "right", "right", "right")
        selected_key = screen.keys[screen.table.cursor_row]
        assert cells(screen.table, 5)[3] == "✖ plaintext-http"  # payments api :8080
        generation = app.generation
        # a new run: the plaintext port of payments/api now speaks TLS
        from tests.tui.factory import tls_scan

        with Store.open(cluster_db) as store:
            run_id = store.begin_run(
                agent_id="node-a", node="aks-node-a", mode="daemonset", started_at=NOW
            )
            identity = EndpointIdentity(
                ip="10.1.0.10",
                port=8080,
                namespace="payments",
                workload_kind="Deployment",
                workload_name="api",
                pod="api-7d9f-abcde",
                node="aks-node-a",
                service="api",
            )
            store.record_endpoint_scans(run_id, [(identity, tls_scan("api.payments.svc"))])
            store.finish_run(run_id, status="ok", finished_at=NOW + timedelta(seconds=5))
        for _ in range(300):  # up to 30 s: the machine is shared
            await pilot.pause(0.1)
            if app.generation > generation and cells(screen.table, 5)[3] == "tls":
                break
        await settle(app, pilot)
        assert cells(screen.table, 5)[3] == "tls"
        assert screen.keys[screen.table.cursor_row] == selected_key
        assert screen.table.cursor_coordinate.column == 5
        assert app.polls >= 2


async def test_paging_loads_more_rows_from_sql(tmp_path: Path) -> None:
    from inspector.lab.synthetic import generate

    db = generate(tmp_path / "synthetic.db", endpoints=250, runs=1).path
    app = make_app(db, initial_view="endpoints")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TableScreen)
        page = screen.page_size()
        assert page == SIZE[1] + PREFETCH_MARGIN  # the terminal's height plus the margin
        assert screen.total >= 250 and screen.table.row_count == page

        async def page_after(key: str) -> None:
            loads = screen.load_count
            await pilot.press(key)
            for _ in range(300):  # pages are appended in chunks, one per refresh
                if screen.load_count > loads:
                    break
                await pilot.pause(0.1)
            await settle(app, pilot)

        await page_after("G")  # last loaded row -> prefetch the next page
        assert screen.table.row_count == 2 * page
        for _ in range(screen.total // page + 1):
            if screen.table.row_count >= screen.total:
                break
            await page_after("ctrl+end")
        assert screen.table.row_count == screen.total
        assert len(set(screen.keys)) == screen.total
        assert "showing" in static_text(screen, "#status")


async def test_plaintext_endpoint_has_no_protocol_matrix(cluster_db: Path) -> None:
    app = make_app(cluster_db, initial_view="endpoints", initial_filter="port=9100")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, EndpointScreen) and screen.detail is not None
        assert set(screen.detail.protocols.values()) == {None}
        assert "none accepted" in static_text(screen, "#suites")
        assert plain_scan(1).transport.value == "plaintext-http"


async def test_refresh_key_top_key_and_theme(cluster_db: Path) -> None:
    app = make_app(cluster_db, initial_view="endpoints", theme="ansi-light")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.theme == "ansi-light"
        screen = app.screen
        assert isinstance(screen, TableScreen)
        loads, generation = screen.load_count, app.generation
        await pilot.press("down", "down", "ctrl+r")
        await settle(app, pilot)
        assert app.generation == generation + 1 and screen.load_count == loads + 1
        assert screen.table.cursor_row == 2  # kept across the re-read
        await pilot.press("g")
        assert screen.table.cursor_row == 0
        await pilot.press("slash", *"quiet", "enter")  # a "q" typed into a prompt does not quit
        await settle(app, pilot)
        assert app.return_code is None and screen.total == 0


async def test_brackets_in_data_and_input_are_shown_literally(tmp_path: Path) -> None:
    """IPv6 subject keys ("[fd00::1]:8443") and typed filters are never read as markup."""
    from agent.rules.model import Finding, Severity
    from tests.tui.factory import tls_scan

    db = tmp_path / "ipv6.db"
    with Store.open(db) as store:
        run_id = store.begin_run(agent_id="laptop", mode="local", started_at=NOW)
        identity = EndpointIdentity(ip="fd00::1", port=8443)
        store.record_endpoint_scans(run_id, [(identity, tls_scan("[bold]odd[/bold]"))])
        store.record_findings(
            run_id,
            [
                Finding(
                    "P-X",
                    Severity.HIGH,
                    ("4.2.1",),
                    "endpoint",
                    identity.subject_key,
                    "[red]not markup[/red]",
                )
            ],
            seen_at=NOW,
        )
        store.finish_run(run_id, finished_at=NOW)
    app = make_app(db, initial_view="findings")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TableScreen)
        assert cells(screen.table, 4) == ["[fd00::1]:8443"]
        assert cells(screen.table, 5) == ["[red]not markup[/red]"]
        await pilot.press("right", "right", "right", "right", "c")
        assert app.clipboard == "[fd00::1]:8443"
        await pilot.press("enter")
        await settle(app, pilot)
        endpoint = app.screen
        assert isinstance(endpoint, EndpointScreen)
        assert "[fd00::1]:8443" in static_text(endpoint, "#crumbs")
        assert "[bold]odd[/bold]" in static_text(endpoint, "#identity")
        assert "[red]not markup[/red]" in static_text(endpoint, "#findings")
        await pilot.press("escape", "slash", *"[unclosed", "enter")
        await settle(app, pilot)
        assert "filter /[unclosed" in static_text(screen, "#status")
        await pilot.press("slash", *"bogus:[x]", "enter")
        await settle(app, pilot)
        assert "unknown column 'bogus'" in static_text(screen, "#status")


async def test_the_heap_is_frozen_while_the_app_runs_and_released_when_it_ends(
    cluster_db: Path,
) -> None:
    """Full GC passes skip what exists once the app is up, and come rarer; all undone after it."""
    thresholds = gc.get_threshold()
    app = make_app(cluster_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert gc.get_freeze_count() > 1000  # modules, CSS and widgets at least
        assert gc.get_threshold() == (*thresholds[:2], GC_FULL_PASS_EVERY)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds


async def test_overview_shows_the_csi_drivers_rotation(cluster_db: Path) -> None:
    """Rule V6's fact, as the agent recorded it: the secrets panel says rotation is off."""
    with Store.open(cluster_db) as store:
        run_id = store.db.execute("SELECT max(id) FROM runs").fetchone()[0]
        record_csi_drivers(
            store,
            run_id,
            [
                CsiDriverFacts(
                    status=Status.FOUND,
                    daemonset="aks-secrets-store-csi-driver",
                    container="secrets-store",
                    rotation_enabled=False,
                    rotation_argument="--enable-secret-rotation=false",
                    poll_interval="2m",
                    poll_interval_seconds=120.0,
                )
            ],
            seen_at=NOW,
        )
    app = make_app(cluster_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        panel = app.screen.query_one("#panel-secrets", DataTable)
        assert "✖ CSI rotation off (aks-secrets-store-csi-driver)" in str(panel.border_subtitle)
