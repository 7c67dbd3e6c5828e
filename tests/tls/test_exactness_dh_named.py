"""TLS 1.2 finite-field DHE with well-known primes that are no RFC 7919 group: named, not "custom".

Truth comes from outside the prober: the RFC 3526 and RFC 5114 primes OpenSSL itself holds
(``openssl genpkey -genparam -pkeyopt group:modp_2048`` …), the RFC 2409 primes as the RFC
prints them (typed below), the prime a server really sends (an ``openssl s_client -msg``
handshake) and the parameter file each server was given.
"""

from __future__ import annotations

import base64
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_parameters

from agent.rules.tls import dh_group_bits
from agent.tls.dh_groups import CUSTOM_PREFIX, group_bits, identify, modp_prime
from agent.tls.model import Target
from inspector.commands.scan import render_endpoint
from inspector.lab.tls_catalogue import LabPems
from inspector.lab.tls_servers import OpenSSLServer
from tests.tls.conftest import scan, started
from tests.tls.test_exactness_dhe import (
    _der,
    _der_integer,
    _openssl,
    _server_key_exchange_prime,
    require_openssl,
)

pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

#: OpenSSL's name of each group -> the name the prober must give it.
OPENSSL_NAMED = {
    "modp_1536": "modp1536 (RFC 3526)",
    "modp_2048": "modp2048 (RFC 3526)",
    "modp_3072": "modp3072 (RFC 3526)",
    "modp_4096": "modp4096 (RFC 3526)",
    "modp_6144": "modp6144 (RFC 3526)",
    "modp_8192": "modp8192 (RFC 3526)",
    "dh_1024_160": "dh1024_160 (RFC 5114)",
    "dh_2048_224": "dh2048_224 (RFC 5114)",
    "dh_2048_256": "dh2048_256 (RFC 5114)",
}

#: RFC 2409 section 6.2, the Second Oakley Group (1024 bits), as the RFC prints it.
RFC2409_1024_HEX = """
    FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1 29024E08 8A67CC74
    020BBEA6 3B139B22 514A0879 8E3404DD EF9519B3 CD3A431B 302B0A6D F25F1437
    4FE1356D 6D51C245 E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED
    EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE65381 FFFFFFFF FFFFFFFF"""


def _openssl_group(name: str) -> tuple[int, int]:
    """(p, g) of a group OpenSSL knows by name."""
    algorithm = "DHX" if name.startswith("dh_") else "DH"
    pem = _openssl("genpkey", "-genparam", "-algorithm", algorithm, "-pkeyopt", f"group:{name}")
    numbers = load_pem_parameters(pem).parameter_numbers()
    return numbers.p, numbers.g


def _probably_prime(n: int, rounds: int = 16) -> bool:
    """Miller-Rabin (independent of the module under test)."""
    if n < 4:
        return n in (2, 3)
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    rng = random.Random(n)
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


@pytest.mark.parametrize("openssl_name", sorted(OPENSSL_NAMED))
def test_published_primes_are_named_like_openssls(openssl_name: str) -> None:
    require_openssl()
    prime, _ = _openssl_group(openssl_name)
    group = identify(prime)
    assert group.name == OPENSSL_NAMED[openssl_name]
    assert group.bits == prime.bit_length()
    assert not group.custom and group.group_id is None
    assert group_bits(group.name) == dh_group_bits(group.name) == prime.bit_length()


def test_rfc2409_primes_follow_the_rfc() -> None:
    printed = int("".join(RFC2409_1024_HEX.split()), 16)
    assert identify(printed).name == "modp1024 (RFC 2409)"
    assert dh_group_bits("modp1024 (RFC 2409)") == 1024  # the weak-DHE rule sizes it
    # The 768-bit group: a safe prime of the RFC's shape (a wrong constant X would not be one).
    p768 = modp_prime(768, 149686)
    assert p768 >> 704 == 2**64 - 1 and p768 % 2**64 == 2**64 - 1
    assert _probably_prime(p768) and _probably_prime((p768 - 1) // 2)
    assert identify(p768).name == "modp768 (RFC 2409)"
    # Both share pi's bits with RFC 3526's 1536-bit group (OpenSSL's copy).
    require_openssl()
    p1536, _ = _openssl_group("modp_1536")
    # (the low 32 bits of each pi part also hold the constant X: left out)
    assert (printed >> 96) % 2**800 == (p1536 >> (96 + 512)) % 2**800


def test_unknown_primes_stay_custom() -> None:
    p2048 = modp_prime(2048, 124476)
    assert identify(p2048 + 2).name == f"{CUSTOM_PREFIX}2048"
    assert identify(p2048 + 2).custom
    assert group_bits("modp2048") is None and group_bits("custom-DH-1024") == 1024


def _dhparam_file(directory: Path, prime: int, generator: int) -> Path:
    """A PKCS #3 "DH PARAMETERS" file (p, g): the form s_server reads."""
    der = _der(0x30, _der_integer(prime) + _der_integer(generator))
    path = directory / f"dh-{prime.bit_length()}-{prime % 9973}.pem"
    body = base64.encodebytes(der).decode()
    path.write_text(f"-----BEGIN DH PARAMETERS-----\n{body}-----END DH PARAMETERS-----\n")
    return path


@pytest.mark.parametrize(
    ("source", "name"),
    (
        ("modp_2048", "modp2048 (RFC 3526)"),
        ("rfc2409-1024", "modp1024 (RFC 2409)"),
        ("dh_2048_256", "dh2048_256 (RFC 5114)"),
    ),
)
def test_server_with_a_published_dh_group(
    lab_pki: LabPems, tmp_path: Path, source: str, name: str
) -> None:
    require_openssl()
    if source == "rfc2409-1024":
        prime, generator = int("".join(RFC2409_1024_HEX.split()), 16), 2
    else:
        prime, generator = _openssl_group(source)
    server = OpenSSLServer(
        lab_pki.rsa,
        cipher="DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256",
        min_version="TLSv1.2",
        max_version="TLSv1.2",
        groups="P-256",
        dhparam=_dhparam_file(tmp_path, prime, generator),
    )
    with started(server):
        assert _server_key_exchange_prime(server.port, "-cipher", "DHE:@SECLEVEL=0") == prime
        result = scan([Target(server.host, server.port)])[(server.host, server.port)].result
    assert result.error is None
    assert result.dhe_groups == (name,)
    assert result.dhe_min_bits == prime.bit_length()
    assert result.dhe_group_negotiation is False  # its own parameters, whatever is offered
    assert result.groups_by_version["TLSv1.2"] == ("secp256r1",)
    report = "\n".join(render_endpoint(result))
    assert f"DHE groups: {name}; smallest {prime.bit_length()} bits" in report
