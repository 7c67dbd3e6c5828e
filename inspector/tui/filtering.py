"""The `/` filter language, compiled to a parameterised SQL ``WHERE`` clause.

No Textual here: the TUI, the benchmark and the tests share it.

Grammar (k9s habits, pushed into SQLite)::

    filter   := ["!"] term (whitespace term)*
    term     := word                 any searchable column contains word
              | column ":" value     that column contains value  (alias: column "=" value, exact)
              | column ">" value     greater than  (numbers, dates as ISO text)
              | column "<" value     less than
              | column "!=" value    differs
    value    := text; "*" is a wildcard, quotes allow spaces ("a b")

Terms are ANDed. A leading ``!`` inverts the whole filter (rows that do NOT
match). Matching is case-insensitive. NULL never matches a positive term, so
its inversion keeps rows whose value is NULL.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Mapping, Sequence

_TERM = re.compile(r"^(?P<column>[A-Za-z_][A-Za-z0-9_.-]*)(?P<op>!=|>=|<=|:|=|>|<)(?P<value>.*)$")


class FilterError(ValueError):
    """The filter text cannot be compiled (unknown column, empty value, bad quoting)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Filterable:
    """One column the filter may name.

    Attributes:
        name: what the user types before ``:`` (``ns``, ``port``...).
        sql: the SQL expression it stands for.
        numeric: compare as a number (``port>1024``) instead of text.
        searchable: included when a bare word is searched.
    """

    name: str
    sql: str
    numeric: bool = False
    searchable: bool = True
    #: Cheaper equivalent clauses for ``name=value`` (and ``name:value``), by lower-case value,
    #: e.g. an indexed subquery instead of an expression evaluated on every row.
    equals: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class CompiledFilter:
    """A filter ready for SQL: ``WHERE {where}`` with ``params`` bound."""

    text: str
    where: str
    params: tuple[object, ...]
    inverted: bool
    #: A bare word is searched (``LIKE '%word%'`` over several columns: no index can help).
    searches_text: bool = False

    @property
    def active(self) -> bool:
        return bool(self.where)


NO_FILTER = CompiledFilter(text="", where="", params=(), inverted=False)


def _like_pattern(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if "*" in escaped:
        return escaped.replace("*", "%")
    return f"%{escaped}%"


def _number(value: str, column: str) -> float | int:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError as exc:
            raise FilterError(f"{column} compares numbers, not {value!r}") from exc


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise FilterError(f"bad quoting: {exc}") from exc


def compile_filter(text: str, columns: Sequence[Filterable]) -> CompiledFilter:
    """Compile `text` against the `columns` a view exposes.

    Raises:
        FilterError: with a reason the status line can show as is.
    """
    stripped = text.strip()
    inverted = stripped.startswith("!")
    if inverted:
        stripped = stripped[1:].strip()
    if not stripped:
        return NO_FILTER
    by_name: Mapping[str, Filterable] = {column.name.lower(): column for column in columns}
    searchable = [column for column in columns if column.searchable]
    clauses: list[str] = []
    params: list[object] = []
    searches_text = False
    for term in _split(stripped):
        match = _TERM.match(term)
        if match and match.group("column").lower() in by_name:
            column = by_name[match.group("column").lower()]
            op, value = match.group("op"), match.group("value")
            if value == "":
                raise FilterError(f"{column.name}{op} needs a value")
            clause, clause_params = _column_clause(column, op, value)
        elif (
            match
            and match.group("op") in (":", ">", "<", ">=", "<=")
            and not _looks_like_value(term)
        ):
            known = ", ".join(sorted(by_name))
            raise FilterError(f"unknown column {match.group('column')!r}; columns: {known}")
        else:
            if not searchable:
                raise FilterError("this view has no text to search; name a column (col:value)")
            pattern = _like_pattern(term)
            ors = [f"COALESCE({column.sql}, '') LIKE ? ESCAPE '\\'" for column in searchable]
            clause = "(" + " OR ".join(ors) + ")"
            clause_params = [pattern] * len(searchable)
            searches_text = True
        clauses.append(clause)
        params.extend(clause_params)
    where = " AND ".join(clauses)
    if inverted:
        where = f"NOT COALESCE(({where}), 0)"
    return CompiledFilter(
        text=text.strip(),
        where=where,
        params=tuple(params),
        inverted=inverted,
        searches_text=searches_text,
    )


def _looks_like_value(term: str) -> bool:
    """Bare words that merely contain ':' (a time, an IPv6 address, a URL) are searched as text."""
    return bool(re.match(r"^[0-9a-fA-F]*:[0-9a-fA-F:]*$", term)) or "://" in term


def _column_clause(column: Filterable, op: str, value: str) -> tuple[str, list[object]]:
    shortcut = dict(column.equals).get(value.lower()) if op in (":", "=", "!=") else None
    if shortcut is not None:
        return (f"NOT ({shortcut})" if op == "!=" else f"({shortcut})"), []
    if op == ":":
        if column.numeric:
            return f"{column.sql} = ?", [_number(value, column.name)]
        return f"COALESCE({column.sql}, '') LIKE ? ESCAPE '\\'", [_like_pattern(value)]
    if op == "=":
        if column.numeric:
            return f"{column.sql} = ?", [_number(value, column.name)]
        return f"{column.sql} = ? COLLATE NOCASE", [value]
    if op == "!=":
        bound: object = _number(value, column.name) if column.numeric else value
        collate = "" if column.numeric else " COLLATE NOCASE"
        return f"({column.sql} IS NULL OR {column.sql} != ?{collate})", [bound]
    bound = _number(value, column.name) if column.numeric else value
    return f"{column.sql} {op} ?", [bound]


__all__ = ["NO_FILTER", "CompiledFilter", "FilterError", "Filterable", "compile_filter"]
