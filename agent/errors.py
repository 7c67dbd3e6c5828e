"""Error texts the agent stores or logs: the exception's type and a safe reason, never its input.

An exception raised while reading a mounted secret or a manifest can quote
what it read: PyYAML errors print the offending line under a caret, JSON and
``int()``/``ValueError`` messages repeat the value, a library may append the
whole document on the next line. Everything the agent writes to its database
or its log about a failure goes through :func:`describe_error` (for an
exception) or :func:`safe_text` (for a text), which keep

- the exception type, and for parse errors the position (``ScannerError at
  line 3, column 5: could not find expected ':'``);
- the first line of the message only, control characters removed;
- nothing quoted: ``'...'``, ``"..."``, ```...``` and ``b'...'`` runs become
  ``'…'`` (a quote left open drops the rest of the line); quoted runs of one
  or two characters stay (``'\\t'``, ``','``: not a secret, and they say what
  went wrong);
- no long opaque tokens (20+ letters/digits/``+/=_`` with both letters and
  digits: keys, tokens, base64);
- at most :data:`MAX_LENGTH` characters.

What is left says what went wrong, not with what.
"""

from __future__ import annotations

import re

#: Longest text :func:`safe_text` returns.
MAX_LENGTH = 300
#: What a removed quoted run becomes.
ELIDED = "'…'"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s+")
# an opening quote: not inside a word (an apostrophe in "can't" is no quote); b'', r'' prefixes allowed
_QUOTED = re.compile(
    r"""(?<![A-Za-z0-9])[bBrRuUfF]{0,2}(?:'(?P<s>[^']*)'|"(?P<d>[^"]*)"|`(?P<b>[^`]*)`)"""
)
_OPEN_QUOTE = re.compile(r"""(?<![A-Za-z0-9])[bBrRuUfF]{0,2}'|["`]""")
_TOKEN = re.compile(
    r"(?<![A-Za-z0-9+/=_])(?=[A-Za-z0-9+/=_]*\d)(?=[A-Za-z0-9+/=_]*[A-Za-z])[A-Za-z0-9+/=_]{20,}"
)
# private-use characters stand for an elided run and a kept short one while the rest is cleaned
_MARK = "\ue000"
_KEPT = "\ue001"


def safe_text(text: object, *, limit: int = MAX_LENGTH) -> str:
    """``text`` reduced to what may be stored and logged (see the module docstring)."""
    try:
        lines = str(text).strip().splitlines()
    except Exception:  # noqa: BLE001 - a broken __str__ must not turn an error report into a crash
        lines = ["(no text)"]
    line = lines[0] if lines else ""
    line = _CONTROL.sub(" ", line.replace("\t", " ").replace(_MARK, " ").replace(_KEPT, " "))
    kept: list[str] = []

    def elide(match: re.Match[str]) -> str:
        inner = next(group for group in match.group("s", "d", "b") if group is not None)
        if len(inner) <= 2:
            kept.append(match.group(0))
            return _KEPT
        return _MARK

    line = _QUOTED.sub(elide, line)
    opened = _OPEN_QUOTE.search(line)
    if opened:  # an unterminated quote: what follows is input
        line = line[: opened.start()] + _MARK
    line = _TOKEN.sub("…", line)
    pieces = iter(kept)
    line = re.sub(_KEPT, lambda _: next(pieces, ELIDED), line)
    line = _SPACE.sub(" ", line.replace(_MARK, ELIDED)).strip()
    if len(line) > limit:
        line = line[: max(0, limit - 1)].rstrip() + "…"
    return line


def _position(exc: BaseException) -> tuple[int, int, str] | None:
    """(line, column, problem) of a parse error that knows where it failed (PyYAML, json)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None and isinstance(getattr(mark, "line", None), int):
        problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or ""
        return mark.line + 1, int(getattr(mark, "column", 0)) + 1, str(problem)
    lineno, colno, msg = (getattr(exc, name, None) for name in ("lineno", "colno", "msg"))
    if isinstance(lineno, int) and isinstance(colno, int) and isinstance(msg, str):
        return lineno, colno, msg
    return None


def safe_reason(exc: BaseException) -> str:
    """What went wrong, without the input that made it go wrong."""
    position = _position(exc)
    if position is not None:
        line, column, problem = position
        reason = safe_text(problem)
        return f"at line {line}, column {column}" + (f": {reason}" if reason else "")
    if isinstance(exc, OSError) and exc.strerror:
        # the message's own form quotes the path; a path is a fact, its file's content is not in it
        where = f": {safe_text(exc.filename)}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return safe_text(exc)


def describe_error(exc: BaseException, *, limit: int = MAX_LENGTH) -> str:
    """``Type: reason`` (or ``Type at line L, column C: problem``) for storing and logging."""
    name = type(exc).__name__
    try:
        reason = safe_reason(exc)
    except Exception:  # noqa: BLE001 - odd attributes on an exception: the type alone says enough
        reason = ""
    if not reason:
        return name
    text = f"{name} {reason}" if reason.startswith("at line ") else f"{name}: {reason}"
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"
