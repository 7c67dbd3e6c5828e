"""The Secrets view, the workload's mounted secrets and the overview on real CSI/Key Vault data.

The data comes from the real pipeline: `cryptoscope demo --no-tui` (loopback Kubernetes API,
kubelet CSI tree, loopback Key Vault, one agent cycle) writes the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable

from inspector.cli import main
from inspector.tui.screens.overview import OverviewScreen
from inspector.tui.screens.table import TableScreen
from inspector.tui.screens.workload import WorkloadScreen
from tests.tui.conftest import SIZE, make_app, settle, static_text


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    workdir = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--no-tui", "--workdir", str(workdir)]) == 0
    yield workdir / "cryptoscope.db"


async def test_secrets_view_and_workload_mounts(demo_db: Path) -> None:
    app = make_app(demo_db)
    app._clock = None  # the demo ran just now: real clock
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        overview = app.screen
        assert isinstance(overview, OverviewScreen)
        stale = overview.query_one("#panel-secrets", DataTable)
        reasons = [str(stale.get_row_at(i)[3]) for i in range(stale.row_count)]
        assert any(r.startswith("expired") for r in reasons) and any(
            r.startswith("stale") for r in reasons
        )

        await pilot.press("colon", *"secrets", "enter")
        await settle(app, pilot)
        secrets = app.screen
        assert isinstance(secrets, TableScreen) and secrets.query_spec.name == "secrets"
        rows = {
            secrets.values[k][3]: dict(
                zip((c.key for c in secrets.query_spec.columns), secrets.values[k], strict=True)
            )
            for k in secrets.keys
        }
        assert rows["gateway-signing-key"]["type"] == "key"
        assert rows["grafana-admin"]["identity"] == "vm-managed-identity"
        statuses = {str(secrets.table.get_row_at(i)[11]) for i in range(secrets.table.row_count)}
        assert {"expired", "stale", "ok"} <= statuses

        await pilot.press("slash", *"identity:workload", "enter")
        await settle(app, pilot)
        assert secrets.total == sum(
            1 for r in rows.values() if r["identity"] == "workload-identity"
        )

        await pilot.press("colon", *"ns payments", "enter")
        await settle(app, pilot)
        workloads = app.screen
        assert isinstance(workloads, TableScreen)
        names = [str(workloads.table.get_row_at(i)[2]) for i in range(workloads.table.row_count)]
        await pilot.press(*["down"] * names.index("card-gateway-legacy"), "enter")
        await settle(app, pilot)
        workload = app.screen
        assert isinstance(workload, WorkloadScreen)
        mounted = static_text(workload, "#secrets")
        assert "Mounted secrets (2)" in mounted
        assert "gateway-signing-key" in mounted and "acquirer-api-key" in mounted


async def test_secret_findings_open_the_narrowed_secrets_view(demo_db: Path) -> None:
    app = make_app(demo_db)
    app._clock = None
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("colon", *"findings type=secret_object", "enter")
        await settle(app, pilot)
        findings = app.screen
        assert isinstance(findings, TableScreen) and findings.total > 0
        subject = str(findings.values[findings.keys[0]][4])
        await pilot.press("enter")
        await settle(app, pilot)
        secrets = app.screen
        assert isinstance(secrets, TableScreen) and secrets.query_spec.name == "secrets"
        assert secrets.total == 1 and secrets.filt.text.startswith("subject=")
        assert subject.endswith("/" + str(secrets.values[secrets.keys[0]][3]))
