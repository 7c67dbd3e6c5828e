"""TLS 1.2 finite-field DHE: RFC 7919 named groups negotiated, custom primes named by size.

Truth comes from outside the prober: the primes of the RFC 7919 groups from ``openssl genpkey``,
the size of a custom group from ``openssl dhparam -text``, what a server sends from an
``openssl s_client -msg`` handshake, and the group list each server was configured with.
"""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_parameters

from agent.tls.dh_groups import identify, rfc7919_prime
from agent.tls.model import Target
from inspector.commands.scan import render_endpoint
from inspector.lab.tls_catalogue import LabPems
from inspector.lab.tls_servers import OpenSSLServer, PyOpenSSLServer
from inspector.lab.tls_truth import openssl_binary
from tests.tls.conftest import REAL_PEER_OPTIONS, scan, started

pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")


def require_openssl() -> None:
    if openssl_binary() is None:
        pytest.skip("the openssl command is not installed (Debian package openssl)")


FFDHE_BITS = (2048, 3072, 4096, 6144, 8192)
_RFC7919_X = {2048: 560316, 3072: 2625351, 4096: 5736041, 6144: 15705020, 8192: 10965728}


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    binary = openssl_binary()
    assert binary is not None
    return subprocess.run(
        [binary, *args], input=stdin, capture_output=True, check=True, timeout=120
    ).stdout


def _named_prime(bits: int, prefix: str = "ffdhe") -> int:
    """The prime OpenSSL itself holds for ffdhe<bits> (or modp_<bits>)."""
    pem = _openssl("genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", f"group:{prefix}{bits}")
    return load_pem_parameters(pem).parameter_numbers().p


@pytest.mark.parametrize("bits", FFDHE_BITS)
def test_rfc7919_primes_match_openssls(bits: int) -> None:
    require_openssl()
    prime = _named_prime(bits)
    assert rfc7919_prime(bits, _RFC7919_X[bits]) == prime
    assert identify(prime).name == f"ffdhe{bits}"
    assert identify(prime).group_id == 256 + FFDHE_BITS.index(bits)


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + content


def _der_integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _custom_dhparam(directory: Path, bits: int) -> tuple[Path, int, int]:
    """A fresh DH group (DSA-style generation: fast) and its size as `openssl dhparam` reads it."""
    x942 = _openssl("dhparam", "-dsaparam", str(bits))  # a safe prime of 2048 bits takes minutes
    numbers = load_pem_parameters(x942).parameter_numbers()
    path = directory / f"dh{bits}.pem"  # PKCS #3 "DH PARAMETERS" (p, g), the form s_server reads
    der = _der(0x30, _der_integer(numbers.p) + _der_integer(numbers.g))
    body = base64.encodebytes(der).decode()
    path.write_text(f"-----BEGIN DH PARAMETERS-----\n{body}-----END DH PARAMETERS-----\n")
    text = _openssl("dhparam", "-in", str(path), "-text", "-noout").decode()
    match = re.search(r"\((\d+) bit\)", text)
    assert match, text
    return path, int(match.group(1)), numbers.p


def _server_key_exchange_prime(port: int, *args: str) -> int:
    """The DH prime in the ServerKeyExchange an ``openssl s_client`` handshake receives."""
    binary = openssl_binary()
    assert binary is not None
    out = subprocess.run(
        [binary, "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2", "-msg", *args],
        input=b"",
        capture_output=True,
        timeout=60,
    ).stdout.decode(errors="replace")
    block = out.split("ServerKeyExchange", 1)[1].split("<<<", 1)[0].split(">>>", 1)[0]
    data = bytes.fromhex("".join(re.findall(r"\b[0-9a-f]{2}\b", block)))
    length = int.from_bytes(data[4:6], "big")  # handshake header, then dh_p<1..2^16-1>
    return int.from_bytes(data[6 : 6 + length], "big")


@pytest.mark.parametrize("bits", (1024, 2048))
def test_custom_dh_group_is_named_by_its_size(lab_pki: LabPems, tmp_path: Path, bits: int) -> None:
    require_openssl()
    dhparam, truth_bits, prime = _custom_dhparam(tmp_path, bits)
    assert all(prime != _named_prime(size) for size in FFDHE_BITS)  # truly custom
    server = OpenSSLServer(
        lab_pki.rsa,
        cipher="DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA:ECDHE-RSA-AES128-GCM-SHA256",
        min_version="TLSv1.2",
        max_version="TLSv1.2",
        groups="P-256",
        dhparam=dhparam,
    )
    with started(server):
        assert _server_key_exchange_prime(server.port, "-cipher", "DHE:@SECLEVEL=0") == prime
        result = scan([Target(server.host, server.port)])[(server.host, server.port)].result
    assert result.error is None
    assert result.dhe_min_bits == truth_bits
    assert result.dhe_groups == (f"custom-DH-{truth_bits}",)
    assert result.dhe_group_negotiation is False
    assert result.groups_by_version["TLSv1.2"] == ("secp256r1",)
    report = "\n".join(render_endpoint(result))
    assert f"DHE groups: custom-DH-{truth_bits}; smallest {truth_bits} bits" in report


def test_openssl_3_0_groups_ffdhe2048_uses_fixed_parameters(lab_pki: LabPems) -> None:
    """OpenSSL 3.0's s_server does not negotiate RFC 7919 groups in TLS 1.2: it always sends its
    own (automatic) parameters, whatever the client lists."""
    require_openssl()
    server = OpenSSLServer(
        lab_pki.rsa,
        cipher="DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
        min_version="TLSv1.2",
        max_version="TLSv1.2",
        groups="ffdhe2048:P-256",
    )
    with started(server):
        sent = _server_key_exchange_prime(
            server.port, "-cipher", "DHE:@SECLEVEL=0", "-groups", "ffdhe4096"
        )
        result = scan([Target(server.host, server.port)])[(server.host, server.port)].result
    truth = identify(sent)  # the prime named against OpenSSL's own group primes
    # OpenSSL 3.0's automatic parameters are RFC 3526's MODP group of the key's strength
    openssl_groups = {_named_prime(size) for size in FFDHE_BITS}
    openssl_groups |= {_named_prime(size, "modp_") for size in (1536, 2048, 3072, 4096)}
    assert sent in openssl_groups or truth.custom
    assert result.dhe_groups == (truth.name,)
    assert result.dhe_min_bits == sent.bit_length()
    # asked for ffdhe4096 only and still sent its own group: no negotiation
    assert result.dhe_group_negotiation is False
    assert "ffdhe2048" not in result.groups_by_version["TLSv1.2"]


@pytest.mark.parametrize(
    ("groups", "server_preference"),
    (("ffdhe3072:ffdhe2048:X25519", False), ("ffdhe4096:P-256:ffdhe2048", True)),
)
def test_negotiated_ffdhe_groups_are_enumerated(
    lab_pki: LabPems, groups: str, server_preference: bool
) -> None:
    """OpenSSL 4 (inside `cryptography`) negotiates RFC 7919 groups in TLS 1.2."""
    server = PyOpenSSLServer(
        lab_pki.rsa,
        min_version="TLSv1.2",
        max_version="TLSv1.2",
        cipher_list="DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
        groups=groups,
        server_preference=server_preference,
    )
    configured = {_iana(name) for name in groups.split(":")}
    ffdhe = [_iana(name) for name in groups.split(":") if name.startswith("ffdhe")]
    with started(server):
        scanned = scan([Target(server.host, server.port)], REAL_PEER_OPTIONS)
    result = scanned[(server.host, server.port)].result
    assert result.error is None
    assert set(result.groups_by_version["TLSv1.2"]) == configured
    assert sorted(result.dhe_groups) == sorted(ffdhe)
    assert result.dhe_group_negotiation is True
    assert result.dhe_min_bits == min(int(name[5:]) for name in ffdhe)
    if server_preference:  # the server's order, DHE groups among themselves
        found = [g for g in result.groups_by_version["TLSv1.2"] if g.startswith("ffdhe")]
        assert found == ffdhe


def _iana(openssl_name: str) -> str:
    return {"X25519": "x25519", "P-256": "secp256r1", "P-384": "secp384r1"}.get(
        openssl_name, openssl_name
    )
