"""Finite-field DH groups: which named group a ServerKeyExchange prime is, or that it is custom.

The RFC 7919 primes are not typed in: they follow from the RFC's own formula (section A.1-A.5),

    p = 2^b - 2^{b-64} + {[2^{b-130} e] + X} * 2^64 - 1

with e the base of the natural logarithm and X a per-group constant, computed here with exact
integer arithmetic. A prime that is none of them is named ``custom-DH-<bits>``.
"""

from __future__ import annotations

import dataclasses
import functools

#: RFC 7919 appendix A: group name -> (IANA NamedGroup id, bits b, constant X).
_RFC7919: dict[str, tuple[int, int, int]] = {
    "ffdhe2048": (256, 2048, 560316),
    "ffdhe3072": (257, 3072, 2625351),
    "ffdhe4096": (258, 4096, 5736041),
    "ffdhe6144": (259, 6144, 15705020),
    "ffdhe8192": (260, 8192, 10965728),
}

#: Name prefix of a prime that is no RFC 7919 group (its size follows): "custom-DH-1024".
CUSTOM_PREFIX = "custom-DH-"


@dataclasses.dataclass(frozen=True, slots=True)
class DHGroup:
    """A finite-field group as a server showed it: a named RFC 7919 group, or a custom prime."""

    name: str  # "ffdhe2048" or "custom-DH-1024"
    bits: int
    #: IANA NamedGroup id for RFC 7919 groups, None for a custom prime.
    group_id: int | None = None

    @property
    def custom(self) -> bool:
        return self.group_id is None


def _floor_e_times_power_of_two(exponent: int) -> int:
    """floor(e * 2^exponent), exactly: the series sum of 1/k! with guard bits."""
    guard = 64
    scale = 1 << (exponent + guard)
    total, term, k = 0, scale, 0
    while term:
        total += term
        k += 1
        term //= k
    # Each term is truncated (at most one unit low each, k units in all): far below the guard.
    return total >> guard


def rfc7919_prime(bits: int, constant: int) -> int:
    """The RFC 7919 safe prime of `bits` bits with the group's constant X."""
    return (
        2**bits
        - 2 ** (bits - 64)
        + (_floor_e_times_power_of_two(bits - 130) + constant) * 2**64
        - 1
    )


@functools.cache
def _primes() -> dict[int, DHGroup]:
    return {
        rfc7919_prime(bits, constant): DHGroup(name, bits, group_id)
        for name, (group_id, bits, constant) in _RFC7919.items()
    }


def rfc7919_group_ids() -> tuple[int, ...]:
    """IANA ids of the RFC 7919 groups, smallest first."""
    return tuple(group_id for group_id, _, _ in _RFC7919.values())


def identify(prime: int) -> DHGroup:
    """The group a ServerKeyExchange prime `p` belongs to."""
    known = _primes().get(prime)
    if known is not None:
        return known
    bits = prime.bit_length()
    return DHGroup(f"{CUSTOM_PREFIX}{bits}", bits)
