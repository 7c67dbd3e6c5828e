"""C12 judges the DHE groups the prober named; P6 needs an old version AND an ignored SCSV."""

from __future__ import annotations

import pytest

from agent.rules.tls import dh_group_bits
from tests.rules.test_rules import MODERN, fired, scan

OLD = {**MODERN, "TLSv1.0": ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",)}


@pytest.mark.parametrize(
    ("name", "bits"),
    [("ffdhe2048", 2048), ("ffdhe8192", 8192), ("custom-DH-1024", 1024), ("x25519", None)],
)
def test_group_sizes_come_from_the_names(name: str, bits: int | None) -> None:
    assert dh_group_bits(name) == bits


def test_c12_names_each_weak_group() -> None:
    found = fired(
        scan(
            dhe_groups=("ffdhe2048", "custom-DH-1024", "custom-DH-768"),
            dhe_min_bits=768,
            dhe_group_negotiation=False,
        )
    )["C12"]
    assert len(found) == 1
    assert "custom-DH-1024 (1024 bits), custom-DH-768 (768 bits)" in found[0].message
    assert "ffdhe2048" not in found[0].message
    assert found[0].message.endswith("the server's own parameters")


def test_c12_quiet_on_2048_bit_groups_even_if_negotiated() -> None:
    assert "C12" not in fired(
        scan(dhe_groups=("ffdhe2048", "ffdhe3072"), dhe_min_bits=2048, dhe_group_negotiation=True)
    )


def test_c12_falls_back_to_the_smallest_size_when_no_group_was_named() -> None:
    assert "1024 bits" in fired(scan(dhe_min_bits=1024))["C12"][0].message


@pytest.mark.parametrize(
    ("versions", "scsv", "fires"),
    [
        (OLD, False, True),  # TLS 1.0 and no SCSV: a downgrade is possible
        (OLD, True, False),  # SCSV honoured
        (OLD, None, False),  # not tested: no claim either way
        (MODERN, False, False),  # nothing to fall back to
    ],
)
def test_p6_fallback(versions: dict[str, tuple[str, ...]], scsv: bool | None, fires: bool) -> None:
    found = fired(scan(versions, fallback_scsv=scsv))
    assert ("P6" in found) is fires
    if fires:
        assert found["P6"][0].requirements == ("4.2.1",)
        assert "TLSv1.0" in found["P6"][0].message
