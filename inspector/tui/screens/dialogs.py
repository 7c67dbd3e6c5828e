"""Small modal screens: the `:`/`/` prompt, the save dialog, the keys help, the database problem screen."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Label, Static

from inspector.tui.keys import APP_BINDINGS, BUILTIN_KEYS

#: Names `:` accepts, with aliases (k9s style); the app maps them to screens.
VIEW_NAMES: dict[str, tuple[str, ...]] = {
    "overview": ("overview", "ov", "home"),
    "namespaces": ("namespaces", "namespace", "ns"),
    "workloads": ("workloads", "workload", "wl"),
    "endpoints": ("endpoints", "endpoint", "ep"),
    "secrets": ("secrets", "secret", "sec"),
    "findings": ("findings", "finding", "fi"),
    "runs": ("runs", "run"),
    "quit": ("quit", "q", "q!"),
}

FILTER_HELP = """\
/text            rows where any text column contains text (case-insensitive, * wildcard)
/col:value       that column contains value; col=value is exact; col!=value differs
/col>N  /col<N   compare numbers or ISO dates (port>1024, expiry<2027-01-01)
/a b             both terms must match
/!terms          invert: rows that do NOT match
esc              clears the filter (a second esc goes back)"""

JUMP_HELP = """\
:overview  :namespaces [ns]  :workloads [ns]  :endpoints [filter]  :secrets  :findings [filter]  :runs  :q"""


class PromptScreen(ModalScreen[str | None]):
    """A one-line prompt at the top (k9s `:` and `/`); returns the text, or None on escape."""

    DEFAULT_CSS = """
    PromptScreen { align: center top; background: $background 0%; }
    PromptScreen > Vertical { width: 100%; height: auto; background: $panel; border: tall $accent; padding: 0 1; }
    PromptScreen Label { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt-cancel")]

    def __init__(self, prefix: str, value: str = "", hint: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.prefix = prefix
        self.initial = value
        self.hint = hint
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Input(value=self.initial, placeholder=self.placeholder, id="prompt-input")
            if self.hint:
                yield Label(Text(self.hint), id="prompt-hint")

    def on_mount(self) -> None:
        prompt = self.query_one(Input)
        prompt.border_title = self.prefix
        prompt.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SaveScreen(ModalScreen[str | None]):
    """Ask where to save the view; the extension (.csv or .json) picks the format."""

    DEFAULT_CSS = """
    SaveScreen { align: center middle; }
    SaveScreen > Vertical { width: 90; height: auto; background: $panel; border: tall $accent; padding: 1 2; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="save-cancel"),
        Binding("ctrl+j", "as_json", "As JSON", id="save-as-json"),
        Binding("ctrl+k", "as_csv", "As CSV", id="save-as-csv"),
    ]

    def __init__(self, default_path: str, what: str) -> None:
        super().__init__()
        self.default_path = default_path
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                Text(
                    f"Save {self.what}. The extension picks the format: .csv or .json "
                    "(ctrl+j JSON, ctrl+k CSV)."
                )
            )
            yield Input(value=self.default_path, id="save-path")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _swap(self, suffix: str) -> None:
        field = self.query_one(Input)
        stem = (
            field.value.rsplit(".", 1)[0] if "." in field.value.rsplit("/", 1)[-1] else field.value
        )
        field.value = stem + suffix

    def action_as_json(self) -> None:
        self._swap(".json")

    def action_as_csv(self) -> None:
        self._swap(".csv")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def keys_table(title: str, bindings: Sequence[Binding]) -> Table:
    table = Table(
        title=title, title_justify="left", show_header=False, box=None, pad_edge=False, expand=True
    )
    table.add_column("key", style="bold", width=22)
    table.add_column("what")
    seen: set[str] = set()
    for binding in bindings:
        key = binding.key_display or binding.key
        if key in seen:
            continue
        seen.add(key)
        table.add_row(key, binding.tooltip or binding.description)
    return table


class HelpScreen(ModalScreen[None]):
    """Every key of the screen it was opened from, the app's keys, the filter language and the views."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 96; height: 90%; background: $panel; border: tall $accent; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close", id="help-close"),
    ]

    def __init__(self, screen_title: str, screen_bindings: Sequence[Binding]) -> None:
        super().__init__()
        self.screen_title = screen_title
        self.screen_bindings = list(screen_bindings)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(Text("Keys — press esc or ? to close", style="bold"))
            if self.screen_bindings:
                yield Static(keys_table(f"\n{self.screen_title}", self.screen_bindings))
            yield Static(keys_table("\nEverywhere", APP_BINDINGS))
            builtin = Table(
                title="\nBuilt in", title_justify="left", show_header=False, box=None, expand=True
            )
            builtin.add_column("key", style="bold", width=22)
            builtin.add_column("what")
            for key, what in BUILTIN_KEYS:
                builtin.add_row(key, what)
            yield Static(builtin)
            yield Static(Text("\nFilter (/) — pushed into SQL", style="bold"))
            yield Static(Text(FILTER_HELP))
            yield Static(Text("\nJump (:)", style="bold"))
            yield Static(Text(JUMP_HELP))

    def action_close(self) -> None:
        self.dismiss(None)


class ProblemScreen(Screen[None]):
    """The database cannot be shown (missing, empty, locked, newer schema...): say why, keep polling."""

    DEFAULT_CSS = """
    ProblemScreen { align: center middle; }
    ProblemScreen > Vertical { width: 90; height: auto; border: heavy $warning; padding: 1 2; }
    ProblemScreen #problem-title { text-style: bold; color: $warning; }
    """
    BINDINGS = [
        Binding("q", "app.quit", "Quit", id="quit"),
        Binding("ctrl+r", "app.refresh_now", "Retry", id="refresh"),
    ]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.problem_title = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.problem_title), id="problem-title")
            yield Static(Text(self.message), id="problem-message")
            yield Static(
                Text(
                    "cryptoscope re-checks the file every few seconds; ctrl+r retries now, q quits.",
                    style="dim",
                )
            )
        yield Footer()

    def update_problem(self, title: str, message: str) -> None:
        self.problem_title, self.message = title, message
        self.query_one("#problem-title", Label).update(Text(title))
        self.query_one("#problem-message", Static).update(Text(message))
