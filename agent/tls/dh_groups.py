"""Finite-field DH groups: which published group a ServerKeyExchange prime is, or that it is custom.

Most primes are not typed in: they follow from their RFC's own formula,

    RFC 7919 (appendix A):      p = 2^b - 2^{b-64} + {[2^{b-130} e]  + X} * 2^64 - 1
    RFC 2409 (6.1, 6.2) and
    RFC 3526 (sections 2-7):    p = 2^b - 2^{b-64} - 1 + 2^64 * {[2^{b-130} pi] + X}

with e the base of the natural logarithm, pi the circle constant and X a per-group constant,
computed here with exact integer arithmetic. The three RFC 5114 groups (section 2.1-2.3) have
no formula: their primes are the RFC's hexadecimal text. A prime that is none of them is
named ``custom-DH-<bits>``.
"""

from __future__ import annotations

import dataclasses
import functools
import re

#: RFC 7919 appendix A: group name -> (IANA NamedGroup id, bits b, constant X).
_RFC7919: dict[str, tuple[int, int, int]] = {
    "ffdhe2048": (256, 2048, 560316),
    "ffdhe3072": (257, 3072, 2625351),
    "ffdhe4096": (258, 4096, 5736041),
    "ffdhe6144": (259, 6144, 15705020),
    "ffdhe8192": (260, 8192, 10965728),
}

#: The MODP groups built from pi: name -> (defining RFC and section, bits b, constant X).
_MODP: dict[str, tuple[str, int, int]] = {
    "modp768": ("RFC 2409", 768, 149686),  # 6.1, First Oakley Default Group
    "modp1024": ("RFC 2409", 1024, 129093),  # 6.2, Second Oakley Group
    "modp1536": ("RFC 3526", 1536, 741804),  # section 2, group 5
    "modp2048": ("RFC 3526", 2048, 124476),  # section 3, group 14
    "modp3072": ("RFC 3526", 3072, 1690314),  # section 4, group 15
    "modp4096": ("RFC 3526", 4096, 240904),  # section 5, group 16
    "modp6144": ("RFC 3526", 6144, 929484),  # section 6, group 17
    "modp8192": ("RFC 3526", 8192, 4743158),  # section 7, group 18
}

#: RFC 5114 section 2.1-2.3: the primes p as the RFC prints them (subgroup order in the name).
_RFC5114: dict[str, str] = {
    "dh1024_160": """
        B10B8F96 A080E01D DE92DE5E AE5D54EC 52C99FBC FB06A3C6 9A6A9DCA 52D23B61
        6073E286 75A23D18 9838EF1E 2EE652C0 13ECB4AE A9061123 24975C3C D49B83BF
        ACCBDD7D 90C4BD70 98488E9C 219A7372 4EFFD6FA E5644738 FAA31A4F F55BCCC0
        A151AF5F 0DC8B4BD 45BF37DF 365C1A65 E68CFDA7 6D4DA708 DF1FB2BC 2E4A4371""",
    "dh2048_224": """
        AD107E1E 9123A9D0 D660FAA7 9559C51F A20D64E5 683B9FD1 B54B1597 B61D0A75
        E6FA141D F95A56DB AF9A3C40 7BA1DF15 EB3D688A 309C180E 1DE6B85A 1274A0A6
        6D3F8152 AD6AC212 9037C9ED EFDA4DF8 D91E8FEF 55B7394B 7AD5B7D0 B6C12207
        C9F98D11 ED34DBF6 C6BA0B2C 8BBC27BE 6A00E0A0 B9C49708 B3BF8A31 70918836
        81286130 BC8985DB 1602E714 415D9330 278273C7 DE31EFDC 7310F712 1FD5A074
        15987D9A DC0A486D CDF93ACC 44328387 315D75E1 98C641A4 80CD86A1 B9E587E8
        BE60E69C C928B2B9 C52172E4 13042E9B 23F10B0E 16E79763 C9B53DCF 4BA80A29
        E3FB73C1 6B8E75B9 7EF363E2 FFA31F71 CF9DE538 4E71B81C 0AC4DFFE 0C10E64F""",
    "dh2048_256": """
        87A8E61D B4B6663C FFBBD19C 65195999 8CEEF608 660DD0F2 5D2CEED4 435E3B00
        E00DF8F1 D61957D4 FAF7DF45 61B2AA30 16C3D911 34096FAA 3BF4296D 830E9A7C
        209E0C64 97517ABD 5A8A9D30 6BCF67ED 91F9E672 5B4758C0 22E0B1EF 4275BF7B
        6C5BFC11 D45F9088 B941F54E B1E59BB8 BC39A0BF 12307F5C 4FDB70C5 81B23F76
        B63ACAE1 CAA6B790 2D525267 35488A0E F13C6D9A 51BFA4AB 3AD83477 96524D8E
        F6A167B5 A41825D9 67E144E5 14056425 1CCACB83 E6B486F6 B3CA3F79 71506026
        C0B857F6 89962856 DED4010A BD0BE621 C3A3960A 54E710C3 75F26375 D7014103
        A4B54330 C198AF12 6116D227 6E11715F 693877FA D7EF09CA DB094AE9 1E1A1597""",
}

#: Name prefix of a prime that is no published group (its size follows): "custom-DH-1024".
CUSTOM_PREFIX = "custom-DH-"


@dataclasses.dataclass(frozen=True, slots=True)
class DHGroup:
    """A finite-field group as a server showed it: a published group, or a custom prime."""

    name: str  # "ffdhe2048", "modp2048 (RFC 3526)", "dh2048_256 (RFC 5114)" or "custom-DH-1024"
    bits: int
    #: IANA NamedGroup id for RFC 7919 groups (the only ones TLS can negotiate), else None.
    group_id: int | None = None
    #: The RFC that publishes the prime ("RFC 7919", "RFC 3526", ...); None for a custom prime.
    source: str | None = None

    @property
    def custom(self) -> bool:
        return self.source is None


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


def _arctan_inverse(x: int, scale: int) -> int:
    """arctan(1/x) * scale, each term truncated (one unit low at most per term)."""
    total, power, k, sign = 0, scale // x, 1, 1
    while power:
        total += sign * (power // k)
        power //= x * x
        k += 2
        sign = -sign
    return total


def _floor_pi_times_power_of_two(exponent: int) -> int:
    """floor(pi * 2^exponent), exactly: Machin's pi = 16 arctan(1/5) - 4 arctan(1/239), guard bits."""
    guard = 64
    scale = 1 << (exponent + guard)
    return (16 * _arctan_inverse(5, scale) - 4 * _arctan_inverse(239, scale)) >> guard


def rfc7919_prime(bits: int, constant: int) -> int:
    """The RFC 7919 safe prime of `bits` bits with the group's constant X."""
    return (
        2**bits
        - 2 ** (bits - 64)
        + (_floor_e_times_power_of_two(bits - 130) + constant) * 2**64
        - 1
    )


def modp_prime(bits: int, constant: int) -> int:
    """The RFC 2409 / RFC 3526 MODP safe prime of `bits` bits with the group's constant X."""
    return (
        2**bits
        - 2 ** (bits - 64)
        - 1
        + 2**64 * (_floor_pi_times_power_of_two(bits - 130) + constant)
    )


def rfc5114_prime(name: str) -> int:
    """The prime p of an RFC 5114 group ("dh1024_160", "dh2048_224", "dh2048_256")."""
    return int(re.sub(r"\s+", "", _RFC5114[name]), 16)


@functools.cache
def _primes() -> dict[int, DHGroup]:
    table = {
        rfc7919_prime(bits, constant): DHGroup(name, bits, group_id, "RFC 7919")
        for name, (group_id, bits, constant) in _RFC7919.items()
    }
    for name, (rfc, bits, constant) in _MODP.items():
        table[modp_prime(bits, constant)] = DHGroup(f"{name} ({rfc})", bits, None, rfc)
    for name in _RFC5114:
        prime = rfc5114_prime(name)
        table[prime] = DHGroup(f"{name} (RFC 5114)", prime.bit_length(), None, "RFC 5114")
    return table


def rfc7919_group_ids() -> tuple[int, ...]:
    """IANA ids of the RFC 7919 groups, smallest first."""
    return tuple(group_id for group_id, _, _ in _RFC7919.values())


def published_groups() -> tuple[DHGroup, ...]:
    """Every group this module names, RFC 7919 first."""
    return tuple(_primes().values())


def identify(prime: int) -> DHGroup:
    """The group a ServerKeyExchange prime `p` belongs to."""
    known = _primes().get(prime)
    if known is not None:
        return known
    bits = prime.bit_length()
    return DHGroup(f"{CUSTOM_PREFIX}{bits}", bits)


def group_bits(name: str) -> int | None:
    """Size in bits of a group as :func:`identify` names it; None for a name it never gives."""
    if name.startswith(CUSTOM_PREFIX) and name[len(CUSTOM_PREFIX) :].isdigit():
        return int(name[len(CUSTOM_PREFIX) :])
    known = {group.name: group.bits for group in _primes().values()}
    return known.get(name)


def ffdhe_public_value(group_id: int, secret: int) -> bytes:
    """g^secret mod p (g = 2) of an RFC 7919 group, padded to the prime's length (RFC 8446 4.2.8.1)."""
    for _name, (known_id, bits, constant) in _RFC7919.items():
        if known_id == group_id:
            return pow(2, secret, rfc7919_prime(bits, constant)).to_bytes(bits // 8, "big")
    raise ValueError(f"group {group_id} is no RFC 7919 group")
