"""Compare what a pod has mounted with what Key Vault says is current.

Inputs are facts only: the SPCPS version the driver mounted, the mounted leaf
certificate's SHA-1 (when the file holds one) and the vault's version metadata.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from agent.secrets.model import ObjectType, VaultObjectFacts, VersionFacts

#: Default cryptoperiods in days. PCI DSS sets none (3.7.4: "defined by the key owner");
#: these follow NIST SP 800-57 Pt 1 guidance of 1-2 years and the CA/B 398-day cap. Configurable.
DEFAULT_CRYPTOPERIOD_DAYS: Mapping[ObjectType, int] = {
    ObjectType.SECRET: 365,
    ObjectType.KEY: 365,
    ObjectType.CERT: 398,
}


@dataclasses.dataclass(frozen=True, slots=True)
class CompareSettings:
    cryptoperiod_days: Mapping[ObjectType, int] = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_CRYPTOPERIOD_DAYS)
    )
    #: A newer version younger than this is "rotation pending", not stale (driver poll interval x N).
    stale_grace: dt.timedelta = dt.timedelta(minutes=10)

    def cryptoperiod_for(self, object_type: ObjectType) -> int:
        return self.cryptoperiod_days.get(object_type, DEFAULT_CRYPTOPERIOD_DAYS[object_type])


def parse_cryptoperiods(text: str) -> dict[ObjectType, int]:
    """``"secret=365,key=180,cert=90"`` → mapping; unknown types or non-positive days are errors."""
    periods = dict(DEFAULT_CRYPTOPERIOD_DAYS)
    for part in filter(None, (item.strip() for item in text.split(","))):
        name, _, days = part.partition("=")
        try:
            object_type = ObjectType(name.strip().lower())
            value = int(days)
        except ValueError as exc:
            raise ValueError(f"not TYPE=DAYS with TYPE secret, key or cert: {part!r}") from exc
        if value <= 0:
            raise ValueError(f"cryptoperiod must be > 0 days: {part!r}")
        periods[object_type] = value
    return periods


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectComparison:
    """The verdict inputs for one mounted object against its vault metadata."""

    mounted_version: str | None
    latest_version: str | None
    pinned: bool
    #: None when either side is unknown.
    is_latest: bool | None
    #: Versions created after the mounted one.
    newer_versions: int
    #: Latest differs and has been out longer than the grace period.
    stale: bool
    mounted_enabled: bool | None
    mounted_expires_on: dt.datetime | None
    mounted_expired: bool | None
    mounted_not_yet_valid: bool | None
    mounted_has_expiry: bool | None
    #: Age of the version in use (mounted, else latest) since it was created.
    age_days: float | None
    cryptoperiod_days: int
    cryptoperiod_exceeded: bool | None
    #: SHA-1 of the mounted leaf == the vault version's x5t; None when not comparable.
    thumbprint_match: bool | None


def _age_days(created: dt.datetime | None, now: dt.datetime) -> float | None:
    return (now - created).total_seconds() / 86400 if created else None


def compare(
    facts: VaultObjectFacts,
    mounted_version: str | None,
    *,
    pinned: bool = False,
    mounted_leaf_sha1: str | None = None,
    now: dt.datetime | None = None,
    settings: CompareSettings | None = None,
) -> ObjectComparison:
    settings = settings or CompareSettings()
    now = now or dt.datetime.now(dt.UTC)
    latest = facts.latest
    mounted: VersionFacts | None = facts.version(mounted_version) if mounted_version else None
    in_use = mounted or (latest if not mounted_version else None)
    is_latest = (
        None if (latest is None or not mounted_version) else latest.version == mounted_version
    )
    newer = 0
    if mounted is not None and mounted.created_on is not None:
        newer = sum(
            1 for item in facts.versions if item.created_on and item.created_on > mounted.created_on
        )
    elif is_latest is False:
        newer = 1
    stale = bool(
        is_latest is False
        and latest is not None
        and latest.created_on is not None
        and now - latest.created_on > settings.stale_grace
    )
    expires = in_use.expires_on if in_use else None
    period = settings.cryptoperiod_for(facts.object_type)
    age = _age_days(in_use.created_on, now) if in_use else None
    thumbprint_match: bool | None = None
    if mounted_leaf_sha1 and in_use is not None and in_use.x509_thumbprint:
        thumbprint_match = in_use.x509_thumbprint.lower() == mounted_leaf_sha1.lower()
    return ObjectComparison(
        mounted_version=mounted_version,
        latest_version=latest.version if latest else None,
        pinned=pinned,
        is_latest=is_latest,
        newer_versions=newer,
        stale=stale,
        mounted_enabled=in_use.enabled if in_use else None,
        mounted_expires_on=expires,
        mounted_expired=(expires < now) if (in_use and expires) else (False if in_use else None),
        mounted_not_yet_valid=(in_use.not_before > now)
        if (in_use and in_use.not_before)
        else (False if in_use else None),
        mounted_has_expiry=(expires is not None) if in_use else None,
        age_days=age,
        cryptoperiod_days=period,
        cryptoperiod_exceeded=(age > period) if age is not None else None,
        thumbprint_match=thumbprint_match,
    )


_DURATION_UNITS_DAYS = {"Y": 365.0, "M": 30.0, "W": 7.0, "D": 1.0}


def iso_duration_days(text: str | None) -> float | None:
    """``P1Y``, ``P90D``, ``P2M``, ``P1Y6M`` → days (years 365, months 30); None when absent or odd."""
    if not text or not text.upper().startswith("P"):
        return None
    body = text.upper()[1:].split("T", 1)[0]
    total, number = 0.0, ""
    for char in body:
        if char.isdigit() or char == ".":
            number += char
        elif char in _DURATION_UNITS_DAYS and number:
            total += float(number) * _DURATION_UNITS_DAYS[char]
            number = ""
        else:
            return None
    return total if not number else None
