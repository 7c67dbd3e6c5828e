"""How values look on screen: Rich ``Text`` per column kind. Never colour alone: a word or symbol too."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rich.text import Text

from inspector.reports.common import days_left
from inspector.tui.queries import parse_time, strength_of_name

#: severity -> (symbol, style)
SEVERITY_STYLE: dict[str, tuple[str, str]] = {
    "critical": ("✖✖", "bold red"),
    "high": ("✖", "red"),
    "medium": ("▲", "yellow"),
    "low": ("•", "cyan"),
    "info": ("i", "dim"),
}
STRENGTH_STYLE: dict[str, tuple[str, str]] = {
    "insecure": ("✖", "bold red"),
    "weak": ("▲", "yellow"),
    "acceptable": ("~", "cyan"),
    "strong": ("✓", "bold green"),
    "unknown": ("?", "dim"),
}
GRADE_STYLE: dict[str, str] = {
    "A": "bold green",
    "B": "green",
    "C": "yellow",
    "D": "red",
    "F": "bold red",
}
STATUS_STYLE: dict[str, str] = {
    "open": "red",
    "waived": "magenta",
    "resolved": "green",
    "ok": "green",
    "partial": "yellow",
    "failed": "red",
    "interrupted": "red",
    "running": "cyan",
    "stale": "yellow",
    "expired": "red",
    "fresh": "green",
}


def human_age(seconds: float) -> str:
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def expiry(value: str | None, now: datetime) -> Text:
    moment = parse_time(value)
    if moment is None:
        return Text("—", style="dim")
    days = days_left(moment, now)  # the reports' rule: the same number everywhere
    date = value[:10] if value else ""
    if days < 0:
        return Text(f"✖ EXPIRED {date}", style="bold red")
    if days < 14:
        return Text(f"✖ {date} ({days}d)", style="red")
    if days < 30:
        return Text(f"▲ {date} ({days}d)", style="yellow")
    return Text(f"{date} ({days}d)", style="green")


def time_ago(value: str | None, now: datetime) -> Text:
    moment = parse_time(value)
    if moment is None:
        return Text("—", style="dim")
    delta = (now - moment).total_seconds()
    suffix = "ago" if delta >= 0 else "ahead"
    return Text(f"{value[:16].replace('T', ' ') if value else ''} ({human_age(delta)} {suffix})")


def severity(value: str | None) -> Text:
    symbol, style = SEVERITY_STYLE.get(str(value), ("?", ""))
    return Text(f"{symbol} {value}", style=style)


def strength(value: str) -> Text:
    symbol, style = STRENGTH_STYLE.get(value, ("?", ""))
    return Text(f"{symbol} {value}", style=style)


def transport(value: str | None) -> Text:
    text = str(value or "—")
    if text.startswith("plaintext"):
        return Text(f"✖ {text}", style="red")
    if text in ("closed", "timeout", "error"):
        return Text(text, style="dim")
    return Text(text, style="green")


def suite(value: str | None) -> Text:
    if not value:
        return Text("—", style="dim")
    return Text(value, style=_suite_style(value))


def _suite_style(name: str) -> str:
    return STRENGTH_STYLE.get(strength_of_name(name) or "unknown", ("", ""))[1]


def cell(kind: str, value: Any, now: datetime) -> Text:
    """Render one table cell."""
    if kind == "expiry":
        return expiry(value, now)
    if kind == "time":
        return time_ago(value, now)
    if kind == "severity":
        return severity(value)
    if kind == "strength":
        return strength(str(value))
    if kind == "suite":
        return suite(value)
    if kind == "transport":
        return transport(value)
    if kind == "grade":
        return Text(str(value), style=GRADE_STYLE.get(str(value), ""))
    if kind == "status":
        return Text(str(value or "—"), style=STATUS_STYLE.get(str(value), ""))
    if kind == "number":
        return Text("—" if value is None else f"{value}", justify="right")
    if value is None or value == "":
        return Text("—", style="dim")
    return Text(str(value))  # never a str: DataTable would parse it as markup ("[::1]:443")


def plain(value: Any) -> str:
    """A value as copied or saved: the stored text, no decoration."""
    return "" if value is None else str(value)


#: How a revocation status shows (symbol, style): a revoked certificate is as loud as an expired one.
REVOCATION_STYLE: dict[str, tuple[str, str]] = {
    "good": ("✓ not revoked", "green"),
    "revoked": ("✖ REVOKED", "bold red"),
    "unknown": ("? unknown", "yellow"),
    "not-published": ("— no OCSP/CRL published", "dim"),
}


def revocation(check: Mapping[str, Any] | None) -> Text:
    """One certificate's revocation check: status, how it was learnt, and why when unknown."""
    if not check:
        return Text("not checked", style="dim")
    status = str(check.get("status") or "")
    label, style = REVOCATION_STYLE.get(status, (status or "?", ""))
    text = Text(label, style=style)
    if status == "revoked":
        text.append(
            f" {str(check.get('revoked_at') or '')[:10]} ({check.get('reason') or 'no reason'})",
            style=style,
        )
    if check.get("method"):
        text.append(f" · {check['method']}", style="dim")
    if status == "unknown" and check.get("detail"):
        text.append(f" · {check['detail']}", style="yellow")
    return text


def staple(facts: Mapping[str, Any] | None) -> Text:
    """The OCSP response a server stapled: status and whether it verifies, or that none came."""
    if facts is None:
        return Text("not asked", style="dim")
    must = bool(facts.get("must_staple"))
    if not facts.get("stapled"):
        if must:
            return Text("✖ none, but the certificate is Must-Staple", style="bold red")
        return Text("none", style="dim")
    status = str(facts.get("status") or "?")
    label, style = REVOCATION_STYLE.get(status, (status, ""))
    text = Text(f"stapled: {label}", style=style)
    verified = facts.get("verified")
    if verified is not None and not verified:
        text.append(" · ✖ does not verify", style="bold red")
        if facts.get("detail"):
            text.append(f" ({facts['detail']})", style="red")
    elif verified:
        text.append(" · verified", style="dim")
    if facts.get("next_update"):
        text.append(
            f" · next update {str(facts['next_update'])[:16].replace('T', ' ')}", style="dim"
        )
    if must:
        text.append(" · Must-Staple", style="dim")
    return text
