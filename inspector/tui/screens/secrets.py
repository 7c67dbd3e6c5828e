"""The Secrets view, tolerant of databases written before the CSI/Key Vault tables existed."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from inspector.tui.keys import DETAIL_BINDINGS
from inspector.tui.queries import SECRET_TABLES, secrets_query
from inspector.tui.screens.base import CryptoscopeScreen

NO_CSI_MESSAGE = (
    "No CSI data yet.\n\n"
    "This database has no mounted-secret records yet ({tables} absent or empty).\n"
    "They are written when an agent inspects Secrets Store CSI mounts (Key Vault objects).\n"
    "This screen switches to the Secrets table by itself as soon as they appear."
)


class NoSecretsScreen(CryptoscopeScreen):
    """Shown by `:secrets` while the database has no secret-object table; re-checks on every refresh."""

    HELP_TITLE = "Secrets"
    BINDINGS: ClassVar[list[BindingType]] = list(DETAIL_BINDINGS)
    DEFAULT_CSS = """
    NoSecretsScreen #crumbs { height: 1; background: $panel; text-style: bold; padding: 0 1; }
    NoSecretsScreen Vertical { align: center middle; }
    NoSecretsScreen #no-csi { width: 90; border: round $warning; padding: 1 2; }
    """

    def compose(self) -> ComposeResult:
        yield Static(self.crumb_text(), id="crumbs")
        with Vertical():
            yield Static(Text(NO_CSI_MESSAGE.format(tables=", ".join(SECRET_TABLES))), id="no-csi")
        yield Footer()

    def refresh_data(self) -> None:
        self._check()

    @work(thread=True, exclusive=True, group="secrets-check", exit_on_error=False)
    def _check(self) -> None:
        worker = get_current_worker()
        with self.connection() as conn:
            present = secrets_query(conn) is not None
        if present and not worker.is_cancelled:
            self.app.call_from_thread(self.cs_app.jump, "secrets")

    def action_copy_cell(self) -> None:
        self.notify("Nothing to copy yet.", timeout=2)

    def action_save_view(self) -> None:
        self.notify("Nothing to save yet: no CSI data.", timeout=2)
