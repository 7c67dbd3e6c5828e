"""What every cryptoscope screen shares: breadcrumbs, live refresh hook, back, copy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

if TYPE_CHECKING:
    import sqlite3

    from inspector.tui.app import CryptoscopeApp


class CryptoscopeScreen(Screen[None]):
    """Base screen: `crumbs` is the path shown at the top (e.g. Namespaces › payments › api)."""

    #: Shown as the help screen's section title.
    HELP_TITLE: ClassVar[str] = "This screen"
    BINDINGS: ClassVar[list[BindingType]] = []

    def __init__(self, crumbs: tuple[str, ...]) -> None:
        super().__init__()
        self.crumbs = crumbs
        #: The app's data generation this screen last read (a newer one triggers a refresh on resume).
        self.seen_generation = 0

    @property
    def cs_app(self) -> CryptoscopeApp:
        return self.app  # type: ignore[return-value]

    def now(self) -> datetime:
        return self.cs_app.now()

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection for the calling thread (closed afterwards)."""
        with self.cs_app.connect() as conn:
            yield conn

    def crumb_text(self) -> Text:
        """The breadcrumbs as plain text (names and addresses are never read as markup)."""
        return Text(" › ".join(self.crumbs))

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Like Textual's, but plain text by default: messages carry paths, keys and addresses."""
        self.app.notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def refresh_data(self) -> None:
        """Re-read the database in place (called when a new run landed). Subclasses override."""

    def action_back(self) -> None:
        self.cs_app.go_back()

    def copy_text(self, text: str, what: str) -> None:
        self.app.copy_to_clipboard(text)
        shown = text if len(text) <= 60 else text[:57] + "…"
        self.notify(f"Copied {what}: {shown}", timeout=3)

    def on_screen_resume(self) -> None:
        """Back on top after a drill-down: re-read if a new run landed meanwhile."""
        if self.seen_generation != self.cs_app.generation:
            self.seen_generation = self.cs_app.generation
            self.refresh_data()
