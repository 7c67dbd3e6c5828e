"""LDAP StartTLS against OpenLDAP's slapd (Debian package slapd, TLS by GnuTLS).

slapd listens on a Unix socket in a temporary directory (its TCP listener has no ephemeral
port); a TCP relay on 127.0.0.1, port 0, passes the bytes through unchanged. Truth comes
from an independent client (pyOpenSSL with its own StartTLS request; ``openssl s_client
-starttls ldap`` of OpenSSL 3.0 fails GnuTLS's DHE handshakes): every suite the scan reports
completes a handshake, and a handshake offering every other suite OpenSSL knows for that
version fails. The groups come from slapd's own GnuTLS priority string.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from agent.tls.model import EndpointScan, Target
from inspector.lab.tls_catalogue import LabPems
from inspector.lab.tls_servers import CountingProxy
from inspector.lab.tls_truth import openssl_binary, openssl_ciphers
from tests.tls.conftest import scan, started

SLAPD = shutil.which("slapd") or ("/usr/sbin/slapd" if Path("/usr/sbin/slapd").exists() else None)

#: GnuTLS priority: TLS 1.2 and 1.3, DHE and ECDHE with RSA, two curves and two RFC 7919 groups.
PRIORITY = (
    "NORMAL:-VERS-ALL:+VERS-TLS1.2:+VERS-TLS1.3:+DHE-RSA:-GROUP-ALL:"
    "+GROUP-X25519:+GROUP-SECP384R1:+GROUP-FFDHE3072:+GROUP-FFDHE2048"
)
GROUPS = {"x25519", "secp384r1", "ffdhe3072", "ffdhe2048"}
#: What the truth client offers (an RFC 7919 server refuses DHE to a client listing no ffdhe group).
CLIENT_GROUPS = "X25519:P-256:P-384:P-521:X448:ffdhe2048:ffdhe3072:ffdhe4096"


class UnixRelay(CountingProxy):
    """A TCP relay on loopback (port 0) in front of a Unix socket."""

    def __init__(self, path: Path) -> None:
        super().__init__("unix", 0)
        self.path = path

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # the parent's shutdown waits for these
        ends = [writer]
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(str(self.path))
            ends.append(up_writer)
            self._writers.add(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except OSError:
            pass
        finally:
            for end in ends:
                end.close()
                self._writers.discard(end)
            self._tasks.discard(task)


@contextlib.contextmanager
def slapd(pems: LabPems) -> Iterator[Path]:
    """slapd with StartTLS on a Unix socket; yields the socket's path."""
    assert SLAPD is not None
    directory = Path(tempfile.mkdtemp(prefix="cryptoscope-slapd-"))
    socket_path = directory / "ldapi"
    config = directory / "slapd.conf"
    config.write_text(
        "include /etc/ldap/schema/core.schema\n"
        f"pidfile {directory / 'slapd.pid'}\n"
        f"TLSCertificateFile {pems.rsa.cert}\n"
        f"TLSCertificateKeyFile {pems.rsa.key}\n"
        f"TLSCipherSuite {PRIORITY}\n"
    )
    url = "ldapi://" + quote(str(socket_path), safe="")
    process = subprocess.Popen(
        [SLAPD, "-f", str(config), "-h", url, "-d", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers_starttls(socket_path):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                pytest.fail(f"slapd did not start: {error[-2000:]}")
            time.sleep(0.1)
        yield socket_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
        shutil.rmtree(directory, ignore_errors=True)


def _answers_starttls(path: Path) -> bool:
    """slapd is up: a StartTLS extended request on its socket gets a success answer."""
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(5)
            conn.connect(str(path))
            conn.sendall(STARTTLS_REQUEST)
            return _answers_ok(conn.recv(256))
    except OSError:
        return False


STARTTLS_REQUEST = bytes.fromhex("301d02010177188016") + b"1.3.6.1.4.1.1466.20037"


def handshakes(port: int, version: str, suites: list[str]) -> bool:
    """Either independent client completes a handshake offering only `suites` at `version`.

    Two clients, because neither covers GnuTLS alone: OpenSSL 3.0 lists no ffdhe group in a
    TLS 1.2 hello (so an RFC 7919 server refuses it DHE), and OpenSSL 4 refuses RSA key
    exchange even at security level 0."""
    return s_client_handshakes(port, version, suites) or pyopenssl_handshakes(port, version, suites)


def s_client_handshakes(port: int, version: str, suites: list[str]) -> bool:
    """``openssl s_client -starttls ldap`` (the system OpenSSL) offering only `suites`."""
    binary = openssl_binary()
    assert binary is not None
    flag = {"TLSv1.2": "-tls1_2", "TLSv1.3": "-tls1_3"}[version]
    choice = (
        ["-ciphersuites", ":".join(suites)]
        if version == "TLSv1.3"
        else ["-cipher", ":".join(suites) + ":@SECLEVEL=0"]
    )
    argv = [binary, "s_client", "-connect", f"127.0.0.1:{port}", "-starttls", "ldap", flag]
    done = subprocess.run(argv + choice, input=b"", capture_output=True, timeout=60)
    return b"\nNew, " in done.stdout and b"Cipher is (NONE)" not in done.stdout


def pyopenssl_handshakes(port: int, version: str, suites: list[str]) -> bool:
    """A pyOpenSSL client (OpenSSL 4: RFC 7919 in TLS 1.2 too) offering only `suites` at
    `version` after its own StartTLS request: does the handshake complete?"""
    from OpenSSL import SSL
    from OpenSSL._util import lib

    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    wire = {"TLSv1.2": SSL.TLS1_2_VERSION, "TLSv1.3": SSL.TLS1_3_VERSION}[version]
    ctx.set_min_proto_version(wire)
    ctx.set_max_proto_version(wire)
    try:
        if version == "TLSv1.3":
            ctx.set_tls13_ciphersuites(":".join(suites).encode())
        else:
            ctx.set_cipher_list((":".join(suites) + ":@SECLEVEL=0").encode())
    except SSL.Error:
        return False  # none of them known to this OpenSSL
    assert lib.SSL_CTX_set1_curves_list(ctx._context, CLIENT_GROUPS.encode()) == 1
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(STARTTLS_REQUEST)
        if not _answers_ok(sock.recv(256)):
            return False
        sock.settimeout(None)  # pyOpenSSL wants a blocking socket; a receive timeout bounds it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 20, 0))
        tls = SSL.Connection(ctx, sock)
        tls.set_connect_state()
        try:
            tls.do_handshake()
        except (SSL.Error, OSError):
            return False
        return True


def _answers_ok(answer: bytes) -> bool:
    return answer[:2] == b"\x30\x0c" and answer[7:10] == b"\x0a\x01\x00"  # resultCode success


#: Every TLS 1.3 suite OpenSSL implements (its default list leaves out the CCM ones).
TLS13_ALL = (
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
    "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256"
)


def openssl_names(version: str) -> dict[str, str]:
    """IANA-style id -> OpenSSL name of every suite the local OpenSSL knows for `version`."""
    spec = "ALL:COMPLEMENTOFALL:@SECLEVEL=0" if version != "TLSv1.3" else "ALL"
    return {
        f"{item.suite_id:04X}": item.name
        for item in openssl_ciphers(
            spec, version=version, supported_only=False, ciphersuites=TLS13_ALL
        )
        if (item.suite_id >> 8 == 0x13) == (version == "TLSv1.3")
    }


def _suite_id(result: EndpointScan, version: str) -> list[int]:
    from agent.tls import reference

    ids = []
    for name in result.protocols[version].suites:
        suite = reference.cipher_suite(name)
        assert suite is not None, name
        ids.append(suite.id)
    return ids


@pytest.mark.skipif(SLAPD is None, reason="slapd is not installed (Debian package slapd)")
def test_slapd_starttls_suites_and_groups(lab_pki: LabPems) -> None:
    if openssl_binary() is None:
        pytest.skip("the openssl command is not installed (Debian package openssl)")
    with slapd(lab_pki) as socket_path, started(UnixRelay(socket_path)) as relay:
        result = scan([Target(relay.host, relay.port)])[(relay.host, relay.port)].result
        assert str(result.transport) == "starttls-ldap", (result.error, result.warnings)
        assert result.error is None
        assert result.accepted_protocols == ("TLSv1.2", "TLSv1.3")
        for version in result.accepted_protocols:
            known = openssl_names(version)
            ours = [f"{suite:04X}" for suite in _suite_id(result, version)]
            assert all(suite in known for suite in ours), (version, ours)
            for suite in ours:  # every suite reported really completes a handshake
                assert handshakes(relay.port, version, [known[suite]]), (version, suite)
            others = [name for key, name in known.items() if key not in ours]
            # ... and nothing else OpenSSL can offer does
            assert not handshakes(relay.port, version, others), version
        assert set(result.groups_by_version["TLSv1.3"]) == GROUPS
        assert set(result.groups_by_version["TLSv1.2"]) == GROUPS  # GnuTLS negotiates RFC 7919
        assert result.dhe_group_negotiation is True
        assert set(result.dhe_groups) == {"ffdhe2048", "ffdhe3072"}
        assert result.certificates and result.certificates[0].key_type == "RSA"
