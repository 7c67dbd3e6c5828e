"""Waiver files: documented exceptions as YAML, validated as a whole before anything is stored.

waivers:
  - rule: C6                      # a rule id, or "*" for every rule
    subject: "ledger/*"           # SQLite GLOB over the finding's subject key
    reason: settlement HSM client needs static RSA until Q3
    approver: ciso@example.com
    expires: 2026-09-30           # date (end of that day, UTC) or ISO 8601 time
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml

#: Longest a waiver may run (a waiver is reviewed at least yearly, like 12.3.3's review).
MAX_WAIVER_DAYS = 366


class WaiverFileError(ValueError):
    """The waiver file cannot be used; the message names the file, the entry and the problem."""


@dataclasses.dataclass(frozen=True, slots=True)
class WaiverSpec:
    rule_id: str
    subject_pattern: str
    reason: str
    approver: str
    expires_at: datetime


def parse_expiry(value: Any) -> datetime:
    """A date (valid through that day, UTC) or an ISO 8601 time (UTC when no zone is given)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC) + timedelta(days=1)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC) + timedelta(
                    days=1
                )
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"not a date or ISO 8601 time: {value!r}") from exc
    else:
        raise ValueError(f"not a date: {value!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def validate(
    rule_id: Any,
    subject: Any,
    reason: Any,
    approver: Any,
    expires: Any,
    *,
    known_rules: Iterable[str],
    now: datetime,
) -> WaiverSpec:
    problems = []
    known = set(known_rules)
    for label, value in (
        ("rule", rule_id),
        ("subject", subject),
        ("reason", reason),
        ("approver", approver),
    ):
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{label} must be a non-empty string")
    if isinstance(rule_id, str) and rule_id.strip() and rule_id != "*" and rule_id not in known:
        problems.append(f"unknown rule {rule_id!r}")
    expires_at = None
    try:
        expires_at = parse_expiry(expires)
        if expires_at <= now:
            problems.append(f"expires {expires_at:%Y-%m-%d %H:%M} UTC, which is not in the future")
        elif expires_at - now > timedelta(days=MAX_WAIVER_DAYS):
            problems.append(
                f"expires more than {MAX_WAIVER_DAYS} days ahead; waivers must be reviewed yearly"
            )
    except ValueError as exc:
        problems.append(f"expires: {exc}")
    if problems or expires_at is None:
        raise ValueError("; ".join(problems))
    return WaiverSpec(
        rule_id.strip(), subject.strip(), reason.strip(), approver.strip(), expires_at
    )


def load_waiver_file(path: Path, *, known_rules: Iterable[str], now: datetime) -> list[WaiverSpec]:
    """Every waiver in ``path``, or :class:`WaiverFileError` naming each bad entry (then none is used)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WaiverFileError(f"cannot read {path}: {exc.strerror}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise WaiverFileError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("waivers"), list):
        raise WaiverFileError(f"{path}: expected a mapping with a 'waivers' list")
    known = list(known_rules)
    specs: list[WaiverSpec] = []
    problems: list[str] = []
    allowed = {"rule", "subject", "reason", "approver", "expires"}
    for index, entry in enumerate(document["waivers"], start=1):
        if not isinstance(entry, dict):
            problems.append(f"entry {index}: expected a mapping")
            continue
        extra = set(entry) - allowed
        if extra:
            problems.append(f"entry {index}: unknown keys {', '.join(sorted(map(str, extra)))}")
            continue
        try:
            specs.append(
                validate(
                    entry.get("rule"),
                    entry.get("subject"),
                    entry.get("reason"),
                    entry.get("approver"),
                    entry.get("expires"),
                    known_rules=known,
                    now=now,
                )
            )
        except ValueError as exc:
            problems.append(f"entry {index}: {exc}")
    if problems:
        raise WaiverFileError(f"{path}: " + "; ".join(problems))
    return specs
