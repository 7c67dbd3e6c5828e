"""Every key binding of the TUI, as data: the screens, the help screen and the docs read this.

Each binding has an ``id`` so a user keymap (``App.set_keymap``) can remap it.
"""

from __future__ import annotations

from textual.binding import Binding

#: Keys that work everywhere.
APP_BINDINGS: list[Binding] = [
    Binding(
        "colon",
        "command_prompt",
        "Jump",
        key_display=":",
        id="jump",
        tooltip="Jump to a view (:endpoints, :secrets ...)",
    ),
    Binding(
        "question_mark",
        "show_keys",
        "Keys",
        key_display="?",
        id="keys",
        tooltip="Every key of this screen",
    ),
    Binding(
        "e",
        "export_evidence",
        "Evidence",
        id="export-evidence",
        tooltip="Export an evidence snapshot (database copy + manifest.json)",
    ),
    Binding(
        "ctrl+r",
        "refresh_now",
        "Refresh",
        id="refresh",
        show=False,
        tooltip="Re-read the database now",
    ),
    Binding("q", "quit", "Quit", id="quit", tooltip="Leave cryptoscope"),
]

#: Keys of every table view (namespaces, workloads, endpoints, secrets, findings, runs).
TABLE_BINDINGS: list[Binding] = [
    Binding(
        "slash",
        "filter_prompt",
        "Filter",
        key_display="/",
        id="filter",
        tooltip="Filter rows (SQL; ! inverts)",
    ),
    Binding("enter", "drill", "Open", id="drill", show=True, tooltip="Drill into the selected row"),
    Binding(
        "escape",
        "back",
        "Back",
        key_display="esc",
        id="back",
        tooltip="Clear the filter, else go back",
    ),
    Binding(
        "ctrl+s",
        "save_view",
        "Save",
        id="save-view",
        tooltip="Save this view (every matching row) as CSV or JSON",
    ),
    Binding("c", "copy_cell", "Copy", id="copy-cell", tooltip="Copy the selected value"),
    Binding(
        "C",
        "copy_row",
        "Copy row",
        id="copy-row",
        show=False,
        tooltip="Copy the selected row as TSV",
    ),
    Binding(
        "S",
        "sort_column",
        "Sort",
        id="sort-column",
        tooltip="Sort by the selected column (again: reverse)",
    ),
    Binding(
        "N",
        "sort_name",
        "Sort name",
        id="sort-name",
        show=False,
        tooltip="Sort by the first column",
    ),
    Binding(
        "G",
        "go_bottom",
        "Bottom",
        id="go-bottom",
        show=False,
        tooltip="Last loaded row (fetches the next page)",
    ),
    Binding("g", "go_top", "Top", id="go-top", show=False, tooltip="First row"),
]

#: Extra keys of the Runs view.
RUNS_BINDINGS: list[Binding] = [
    Binding("space", "mark_run", "Mark", id="mark-run", tooltip="Mark a run to diff against"),
    Binding(
        "d",
        "diff_runs",
        "Diff",
        id="diff-runs",
        tooltip="Diff the marked run (or the previous one) with this one",
    ),
]

#: Keys of the detail screens (endpoint, workload, run diff, overview).
DETAIL_BINDINGS: list[Binding] = [
    Binding("escape", "back", "Back", key_display="esc", id="back", tooltip="Go back"),
    Binding("c", "copy_cell", "Copy", id="copy-cell", tooltip="Copy the selected value"),
    Binding(
        "ctrl+s",
        "save_view",
        "Save",
        id="save-view",
        tooltip="Save this screen's facts as CSV or JSON",
    ),
]

#: Keys Textual provides that we keep (listed in help and docs).
BUILTIN_KEYS: list[tuple[str, str]] = [
    ("ctrl+p", "Command palette: views, themes, save, export, quit"),
    ("ctrl+q", "Quit"),
    ("tab / shift+tab", "Move focus between panes"),
    (
        "arrows, pgup/pgdn",
        "Move the cursor; nearing the last loaded row fetches the next page from SQL",
    ),
    ("home/end, ctrl+home/ctrl+end", "First/last column, first/last loaded row"),
    (
        "mouse",
        "Click a row to select, double-click or enter to open, click a header to sort, wheel scrolls",
    ),
]
