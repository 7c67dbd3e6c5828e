"""What each lab TLS server must be found to accept, from its own configuration.

The truth comes from tools outside the prober: the ``openssl ciphers`` command
(for servers built on the system OpenSSL), tlslite's own suite tables,
pyOpenSSL's cipher list, real handshakes by an independent client, and the IANA
registry CSVs read directly (never through ``agent.tls.reference``).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import shutil
import socket
import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inspector.lab.pki import PemFiles


class TruthError(RuntimeError):
    """The truth could not be derived (a tool is missing or failed)."""


def openssl_binary() -> str | None:
    """Path of the system ``openssl`` command, or None."""
    return shutil.which("openssl")


#: OpenSSL's group names that differ from IANA's.
OPENSSL_GROUP_ALIASES: dict[str, str] = {
    "P-224": "secp224r1",
    "P-256": "secp256r1",
    "prime256v1": "secp256r1",
    "P-384": "secp384r1",
    "P-521": "secp521r1",
    "X25519": "x25519",
    "X448": "x448",
}

#: Groups that exist only for TLS 1.3 key shares (never in a TLS 1.2 ECDHE exchange).
TLS13_ONLY_GROUP_MARKERS = ("MLKEM", "ffdhe")

_OPENSSL_VERSION_FLAGS = {
    "TLSv1.0": "-tls1",
    "TLSv1.1": "-tls1_1",
    "TLSv1.2": "-tls1_2",
    "TLSv1.3": "-tls1_3",
}
OPENSSL_PROTOCOLS = ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
ALL_PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")


def iana_registry_dir(start: Path | None = None) -> Path | None:
    """The folder of the IANA CSVs (the repository's ``data/iana``), or None.

    ``CRYPTOSCOPE_IANA_DIR`` overrides the search.
    """
    override = os.environ.get("CRYPTOSCOPE_IANA_DIR")
    if override:
        return Path(override) if Path(override, "tls-parameters-4.csv").exists() else None
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        for candidate in (parent / "data" / "iana", parent / "shared" / "data" / "iana"):
            if (candidate / "tls-parameters-4.csv").exists():
                return candidate
    return None


def read_iana_cipher_suites(csv_path: Path) -> dict[int, str]:
    """Suite id → IANA name, for every single-code-point assigned row of tls-parameters-4.csv."""
    table: dict[int, str] = {}
    with csv_path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            value, name = row["Value"], row["Description"].strip()
            match = re.fullmatch(r"0x([0-9A-Fa-f]{2}),0x([0-9A-Fa-f]{2})", value)
            if not match or name in {"Unassigned", "Reserved"} or not name.startswith("TLS_"):
                continue
            table[int(match.group(1) + match.group(2), 16)] = name
    return table


def read_iana_groups(csv_path: Path) -> dict[int, str]:
    """Group id → IANA name, for every single-value assigned row of tls-parameters-8.csv."""
    table: dict[int, str] = {}
    with csv_path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            value, name = row["Value"], row["Description"].strip()
            if value.isdigit() and name not in {"Unassigned", "Reserved"}:
                table[int(value)] = name
    return table


def iana_group_name(openssl_name: str) -> str:
    """IANA spelling of an OpenSSL group name (``P-256`` → ``secp256r1``)."""
    return OPENSSL_GROUP_ALIASES.get(openssl_name, openssl_name)


@dataclasses.dataclass(frozen=True, slots=True)
class OpenSSLCipher:
    """One line of ``openssl ciphers -V``."""

    suite_id: int
    name: str  # OpenSSL's name
    auth: str  # Au= column: RSA, ECDSA, DSS, PSK, None, any, ...
    since: str = ""  # oldest protocol that can use it: SSLv3, TLSv1, TLSv1.2, TLSv1.3
    kx: str = ""  # Kx= column: RSA, DH, ECDH, any, ...


def openssl_ciphers(
    cipher: str,
    *,
    version: str | None = None,
    ciphersuites: str | None = None,
    supported_only: bool = True,
) -> list[OpenSSLCipher]:
    """``openssl ciphers [-s] -V [-<version>] [-ciphersuites X] CIPHER``, parsed, in printed order."""
    binary = openssl_binary()
    if binary is None:
        raise TruthError("the openssl command is not installed")
    argv = [binary, "ciphers"] + (["-s"] if supported_only else []) + ["-V"]
    if version is not None:
        argv.append(_OPENSSL_VERSION_FLAGS[version])
    if ciphersuites is not None:
        argv += ["-ciphersuites", ciphersuites]
    argv.append(cipher)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        # "no cipher match" is an empty list, not an error of ours.
        if "no cipher match" in done.stderr or not done.stderr.strip():
            return []
        raise TruthError(f"openssl ciphers failed: {done.stderr.strip()}")
    found = []
    for line in done.stdout.splitlines():
        match = re.match(
            r"\s*0x([0-9A-F]{2}),0x([0-9A-F]{2}) - (\S+)\s+(\S+)\s+Kx=(\S+)\s+Au=(\S+)", line
        )
        if match:
            suite_id = int(match.group(1) + match.group(2), 16)
            found.append(
                OpenSSLCipher(
                    suite_id, match.group(3), match.group(6), match.group(4), match.group(5)
                )
            )
    return found


def certificate_auth(pem: PemFiles) -> str:
    """The ``Au=`` value of suites a server with this leaf can use (RSA, ECDSA, …)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

    key = x509.load_pem_x509_certificate(pem.cert.read_bytes()).public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ECDSA"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSS"
    return "ECDSA"  # EdDSA leaves sign with the ECDSA suites in TLS 1.2


def usable_with_auth(cipher: OpenSSLCipher, auth: str) -> bool:
    return cipher.auth in {auth, "any", "None"}


@dataclasses.dataclass(frozen=True, slots=True)
class ExpectedTLS:
    """What a correct scan of a TLS server reports, from the server's own configuration."""

    #: Accepted versions only (PROTOCOL_NAMES spelling) → suite ids; in the server's
    #: preference order when `server_preference`, else in no particular order.
    suites: dict[str, tuple[int, ...]]
    server_preference: bool
    #: IANA group names the server accepts (union over versions); None: not derived.
    groups: frozenset[str] | None = None
    #: The Transport value the scan must classify the port as.
    transport: str = "tls"
    #: SHA-256 (hex) of the certificates the server presents, leaf first; () until
    #: measured with :func:`presented_chain` (the server auto-completes chains from its
    #: CA store, so the PEM file alone does not say).
    chain_sha256: tuple[str, ...] = ()

    @property
    def accepted_protocols(self) -> tuple[str, ...]:
        return tuple(name for name in ALL_PROTOCOLS if name in self.suites)

    @property
    def rejected_protocols(self) -> tuple[str, ...]:
        return tuple(name for name in ALL_PROTOCOLS if name not in self.suites)

    def suite_names(self, version: str, iana: dict[int, str]) -> tuple[str, ...]:
        """IANA names of the suites accepted at `version`, in order."""
        return tuple(iana[suite_id] for suite_id in self.suites.get(version, ()))


def versions_between(low: str | None, high: str | None, available: Sequence[str]) -> list[str]:
    names = list(available)
    lo = names.index(low) if low in names else 0
    hi = names.index(high) if high in names else len(names) - 1
    return names[lo : hi + 1]


def _openssl_expected_suites(
    pem: PemFiles,
    cipher: str,
    ciphersuites: str | None,
    versions: Sequence[str],
    finite_field_dhe: bool = True,
) -> dict[str, tuple[int, ...]]:
    auth = certificate_auth(pem)
    suites: dict[str, tuple[int, ...]] = {}
    for version in versions:
        listed = openssl_ciphers(cipher, version=version, ciphersuites=ciphersuites)
        if not finite_field_dhe:
            listed = [item for item in listed if item.kx not in {"DH", "DHEPSK"}]
        ids = tuple(item.suite_id for item in listed if usable_with_auth(item, auth))
        if version == "TLSv1.3":
            ids = tuple(item for item in ids if item >> 8 == 0x13)
        else:
            ids = tuple(item for item in ids if item >> 8 != 0x13)
        if ids:
            suites[version] = ids
    return suites


def expected_groups(
    groups: str | None, suites: dict[str, tuple[int, ...]], ecdhe: bool
) -> frozenset[str] | None:
    if groups is None:
        return None
    names = [iana_group_name(name) for name in re.split(r"[:,\s]+", groups.strip()) if name]
    found: set[str] = set()
    if "TLSv1.3" in suites:
        found.update(names)
    if ecdhe and any(version != "TLSv1.3" for version in suites):
        found.update(
            name for name in names if not any(mark in name for mark in TLS13_ONLY_GROUP_MARKERS)
        )
    return frozenset(found)


def _has_ecdhe(cipher: str, versions: Sequence[str]) -> bool:
    return any(
        item.name.startswith(("ECDHE-", "AECDH-"))
        for version in versions
        if version != "TLSv1.3"
        for item in openssl_ciphers(cipher, version=version)
    )


def openssl_expected(
    pem: PemFiles,
    cipher: str,
    *,
    versions: Sequence[str],
    ciphersuites: str | None = None,
    server_preference: bool,
    groups: str | None = None,
    transport: str = "tls",
    finite_field_dhe: bool = True,
) -> ExpectedTLS:
    """Truth for a server built on the system OpenSSL (s_server, PostgreSQL, nginx).

    `versions` are the protocol versions the server enables; a version with no
    usable suite is one the server rejects. `finite_field_dhe` False: the server has
    no DH parameters, so its DHE suites are configured but never chosen (nginx
    without ``ssl_dhparam``).
    """
    suites = _openssl_expected_suites(pem, cipher, ciphersuites, versions, finite_field_dhe)
    ecdhe = _has_ecdhe(cipher, [version for version in versions if version in suites])
    return ExpectedTLS(suites, server_preference, expected_groups(groups, suites, ecdhe), transport)


_SINCE_ORDER = {"SSLv3": 0, "TLSv1": 1, "TLSv1.0": 1, "TLSv1.1": 2, "TLSv1.2": 3, "TLSv1.3": 4}


def cipher_usable_at(cipher: OpenSSLCipher, version: str) -> bool:
    if version == "TLSv1.3" or cipher.since == "TLSv1.3":
        return version == "TLSv1.3" and cipher.since == "TLSv1.3"
    return _SINCE_ORDER.get(cipher.since, 0) <= _SINCE_ORDER[version]


#: Groups tried when the IANA CSV is not at hand (OpenSSL's spelling).
HANDSHAKE_GROUP_CANDIDATES: tuple[str, ...] = (
    "X25519MLKEM768", "SecP256r1MLKEM768", "SecP384r1MLKEM1024", "curveSM2MLKEM768",
    "MLKEM512", "MLKEM768", "MLKEM1024", "X25519", "X448", "P-256", "P-384", "P-521",
    "curveSM2", "ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192",
    "brainpoolP256r1tls13", "brainpoolP384r1tls13", "brainpoolP512r1tls13",
)  # fmt: skip


def _client_context(client: PemFiles | None = None) -> Any:
    from OpenSSL import SSL

    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_VERSION)
    ctx.set_cipher_list(b"ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    if client is not None:
        ctx.use_certificate_chain_file(str(client.cert))
        ctx.use_privatekey_file(str(client.key))
    return ctx


#: PostgreSQL's SSLRequest: length 8, code 80877103.
POSTGRES_SSL_REQUEST = struct.pack("!II", 8, 80877103)


def _handshake(ctx: Any, host: str, port: int, *, postgres: bool, timeout: float) -> Any:
    """A completed pyOpenSSL client connection, or None when the handshake fails."""
    from OpenSSL import SSL

    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        if postgres:
            raw.sendall(POSTGRES_SSL_REQUEST)
            if raw.recv(1) != b"S":
                raise TruthError(f"{host}:{port} refused the PostgreSQL SSLRequest")
        # pyOpenSSL needs a blocking socket; the receive timeout still bounds each read.
        raw.settimeout(None)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(timeout), 0))
        conn = SSL.Connection(ctx, raw)
        conn.set_connect_state()
        conn.set_tlsext_host_name(b"localhost")
        conn.do_handshake()
        return conn
    except (SSL.Error, OSError):
        return None
    finally:
        raw.close()


def groups_by_handshake(
    host: str,
    port: int,
    candidates: Sequence[str] | None = None,
    *,
    postgres: bool = False,
    timeout: float = 10.0,
) -> frozenset[str]:
    """IANA names of the groups a TLS server accepts, found by real handshakes: an
    independent pyOpenSSL client offers one group at a time (TLS 1.0 … 1.3).

    Candidates default to every group of the IANA registry (the client's OpenSSL
    skips those it does not know), else :data:`HANDSHAKE_GROUP_CANDIDATES`.
    """
    from OpenSSL._util import lib

    if candidates is None:
        directory = iana_registry_dir()
        iana = read_iana_groups(directory / "tls-parameters-8.csv") if directory else {}
        candidates = sorted(set(iana.values()) | set(HANDSHAKE_GROUP_CANDIDATES))
    accepted = set()
    for group in candidates:
        ctx = _client_context()
        if lib.SSL_CTX_set1_curves_list(ctx._context, group.encode()) != 1:
            continue  # this OpenSSL does not know the group
        conn = _handshake(ctx, host, port, postgres=postgres, timeout=timeout)
        negotiated = conn.get_group_name() if conn is not None else None
        if negotiated:
            accepted.add(iana_group_name(str(negotiated)))
    return frozenset(accepted)


def presented_chain(
    host: str,
    port: int,
    *,
    client: PemFiles | None = None,
    postgres: bool = False,
    timeout: float = 10.0,
) -> tuple[str, ...]:
    """SHA-256 (hex) of the certificates a server presents, leaf first, as an independent
    pyOpenSSL client receives them (with `client` as its certificate for mTLS)."""
    from cryptography.hazmat.primitives import hashes

    conn = _handshake(_client_context(client), host, port, postgres=postgres, timeout=timeout)
    if conn is None:
        raise TruthError(f"no handshake with {host}:{port} to read its certificate chain")
    chain = conn.get_peer_cert_chain(as_cryptography=True) or []
    return tuple(cert.fingerprint(hashes.SHA256()).hex() for cert in chain)


def s_client_accepts(host: str, port: int, version: str, suite: str, timeout: float = 20.0) -> bool:
    """Whether the system ``openssl s_client`` completes a handshake at `version` offering
    only `suite` (an OpenSSL name; a ``TLS_*`` name for TLS 1.3). Used to check the truth
    itself against real handshakes."""
    binary = openssl_binary()
    if binary is None:
        raise TruthError("the openssl command is not installed")
    argv = [binary, "s_client", "-connect", f"{host}:{port}", _OPENSSL_VERSION_FLAGS[version]]
    if version == "TLSv1.3":
        argv += ["-ciphersuites", suite]
    else:
        argv += ["-cipher", f"{suite}:@SECLEVEL=0", "-ciphersuites", ""]
    done = subprocess.run(argv, input=b"", capture_output=True, timeout=timeout)
    negotiated = re.search(rb"Cipher is (\S+)", done.stdout)
    return negotiated is not None and negotiated.group(1) != b"(NONE)"
