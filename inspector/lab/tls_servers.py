"""Real TLS servers on loopback for tests, the demo and the scan benchmark.

    with OpenSSLServer(pem, cipher="AES128-SHA", min_version="TLSv1.0") as server:
        scan(server.host, server.port)

- :class:`OpenSSLServer` — the system ``openssl s_server`` (OpenSSL 3.0).
- :class:`PyOpenSSLServer` — pyOpenSSL on the OpenSSL inside ``cryptography``
  (TLS 1.3 with the ML-KEM hybrids); Python only, no binary needed.
- :class:`TlsliteServer` — tlslite-ng, for SSL 3.0 and RC4 / 3DES suites.
- :class:`NginxServer` — nginx with ``ssl_protocols`` / ``ssl_ciphers``.

The foundations and the plaintext shapes live in :mod:`inspector.lab.loopback`
(re-exported here), hostile peers in :mod:`inspector.lab.hostile_peers`,
PostgreSQL in :mod:`inspector.lab.postgres`. Each TLS server's ``expected()`` is
what a correct scan reports (:mod:`inspector.lab.tls_truth`).

Nothing here stores or logs key material: keys live in files the caller wrote.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inspector.lab.loopback import (
    LOOPBACK_V4,
    LOOPBACK_V6,
    START_TIMEOUT_S,
    BannerServer,
    CountingProxy,
    LabServerError,
    LoopbackServer,
    PlainHTTPServer,
    ProcessServer,
    SilentServer,
    ThreadedServer,
    closed_port,
    wait_for_line,
    wait_until_connectable,
)
from inspector.lab.pki import PemFiles
from inspector.lab.tls_truth import (
    OPENSSL_PROTOCOLS,
    ExpectedTLS,
    certificate_auth,
    cipher_usable_at,
    expected_groups,
    openssl_binary,
    openssl_ciphers,
    openssl_expected,
    usable_with_auth,
    versions_between,
)

__all__ = [
    "LOOPBACK_V4",
    "LOOPBACK_V6",
    "START_TIMEOUT_S",
    "BannerServer",
    "CountingProxy",
    "LabServerError",
    "LoopbackServer",
    "NginxServer",
    "OpenSSLServer",
    "PlainHTTPServer",
    "PyOpenSSLServer",
    "SilentServer",
    "TlsliteServer",
    "closed_port",
    "nginx_binary",
    "openssl_binary",
]

#: Version names as used in agent.tls.model.PROTOCOL_NAMES → OpenSSL's SSL_CONF names.
_OPENSSL_PROTOCOL_NAMES = {
    "SSLv3": "SSLv3",
    "TLSv1.0": "TLSv1",
    "TLSv1.1": "TLSv1.1",
    "TLSv1.2": "TLSv1.2",
    "TLSv1.3": "TLSv1.3",
}


# --------------------------------------------------------------------------- openssl s_server


def _pem_blocks(text: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", text, re.S)


class OpenSSLServer(ProcessServer):
    """``openssl s_server -www`` on an ephemeral loopback port.

    `cipher` is the TLS ≤ 1.2 cipher string (``:@SECLEVEL=0`` is appended unless
    the string names a level); `ciphersuites` the TLS 1.3 list (None: OpenSSL's
    default); `min_version` / `max_version` use :data:`agent.tls.model.PROTOCOL_NAMES`
    names. `verify_client` demands a client certificate (mTLS) issued by `pem.ca`.
    """

    def __init__(
        self,
        pem: PemFiles,
        *,
        cipher: str = "DEFAULT",
        ciphersuites: str | None = None,
        min_version: str | None = None,
        max_version: str | None = None,
        server_preference: bool = False,
        groups: str | None = None,
        verify_client: bool = False,
        dhparam: Path | None = None,
        extra_args: Sequence[str] = (),
        host: str = LOOPBACK_V4,
    ) -> None:
        super().__init__()
        self.pem = pem
        self.cipher = cipher if "@SECLEVEL" in cipher else f"{cipher}:@SECLEVEL=0"
        self.ciphersuites = ciphersuites
        self.min_version = min_version
        self.max_version = max_version
        self.server_preference = server_preference
        self.groups = groups
        self.verify_client = verify_client
        self.dhparam = dhparam
        self.extra_args = tuple(extra_args)
        self.host = host
        self._workdir: Path | None = None
        self._chain_file: Path | None = None

    def argv(self) -> list[str]:
        binary = openssl_binary()
        if binary is None:
            raise LabServerError("the openssl command is not installed")
        accept = f"[{self.host}]:0" if ":" in self.host else f"{self.host}:0"
        argv = [binary, "s_server", "-accept", accept, "-www", "-cert", str(self.pem.cert)]
        argv += ["-key", str(self.pem.key), "-cipher", self.cipher]
        if self._chain_file is not None:
            argv += ["-cert_chain", str(self._chain_file)]
        if self.ciphersuites is not None:
            argv += ["-ciphersuites", self.ciphersuites]
        if self.min_version:
            argv += ["-min_protocol", _OPENSSL_PROTOCOL_NAMES[self.min_version]]
        if self.max_version:
            argv += ["-max_protocol", _OPENSSL_PROTOCOL_NAMES[self.max_version]]
        if self.server_preference:
            argv.append("-serverpref")
        if self.groups:
            argv += ["-groups", self.groups]
        if self.verify_client:
            argv += ["-Verify", "1", "-CAfile", str(self.pem.ca)]
        if self.dhparam is not None:
            argv += ["-dhparam", str(self.dhparam)]
        return argv + list(self.extra_args)

    def expected(self) -> ExpectedTLS:
        """Truth from this server's own flags (``openssl ciphers -s -V`` per version)."""
        return openssl_expected(
            self.pem,
            self.cipher,
            versions=versions_between(self.min_version, self.max_version, OPENSSL_PROTOCOLS),
            ciphersuites=self.ciphersuites,
            server_preference=self.server_preference,
            groups=self.groups,
            transport="tls-client-cert-required" if self.verify_client else "tls",
        )

    def start(self) -> None:
        # s_server reads only the first certificate of -cert: the rest go to -cert_chain.
        extra = _pem_blocks(self.pem.cert.read_text())[1:]
        if extra:
            self._workdir = Path(tempfile.mkdtemp(prefix="cryptoscope-s_server-"))
            self._chain_file = self._workdir / "chain.pem"
            self._chain_file.write_text("".join(extra))
        self._spawn(self.argv())
        lines = self._lines()
        port = wait_for_line(
            lines, re.compile(r"^ACCEPT .*:(\d+)$"), self._proc, "openssl s_server"
        )
        if port is None:
            tail = self.output_tail
            self._terminate()
            raise LabServerError(f"openssl s_server did not start:\n{tail}")
        self.port = int(port)
        self._drain_rest(lines)
        wait_until_connectable(self.host, self.port)

    def stop(self) -> None:
        self._terminate()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = self._chain_file = None


# --------------------------------------------------------------------------- pyOpenSSL


#: PROTOCOL_NAMES → pyOpenSSL protocol-version constants (filled lazily: import cost).
def _pyopenssl_version(name: str) -> int:
    from OpenSSL import SSL

    table = {
        "TLSv1.0": SSL.TLS1_VERSION,
        "TLSv1.1": SSL.TLS1_1_VERSION,
        "TLSv1.2": SSL.TLS1_2_VERSION,
        "TLSv1.3": SSL.TLS1_3_VERSION,
    }
    return table[name]


class PyOpenSSLServer(ThreadedServer):
    """A threaded TLS server on pyOpenSSL (the OpenSSL that ``cryptography`` bundles).

    `cipher_list` is the TLS ≤ 1.2 string, `tls13_ciphersuites` the TLS 1.3 list,
    `groups` an OpenSSL group list (e.g. ``"X25519MLKEM768:SecP256r1MLKEM768:X25519"``);
    None keeps the library default for each. `client_ca` demands a client
    certificate issued by that CA (mTLS). After the handshake it answers one
    HTTP request. Needs no ``openssl`` binary.
    """

    name = "pyopenssl"

    def __init__(
        self,
        pem: PemFiles,
        *,
        min_version: str | None = None,
        max_version: str | None = None,
        cipher_list: str | None = None,
        tls13_ciphersuites: str | None = None,
        groups: str | None = None,
        server_preference: bool = False,
        client_ca: Path | None = None,
        host: str = LOOPBACK_V4,
    ) -> None:
        super().__init__(host)
        self.pem = pem
        self.min_version = min_version
        self.max_version = max_version
        self.cipher_list = cipher_list
        self.tls13_ciphersuites = tls13_ciphersuites
        self.groups = groups
        self.server_preference = server_preference
        self.client_ca = client_ca
        self.handshakes = 0
        #: (version, cipher, group) of the last completed handshake.
        self.last_negotiated: tuple[str, str, str | None] | None = None
        self._context: Any = None

    def context(self) -> Any:
        """The ``OpenSSL.SSL.Context`` this server uses (built once)."""
        if self._context is None:
            self._context = self._build_context()
        return self._context

    def _build_context(self) -> Any:
        from OpenSSL import SSL
        from OpenSSL._util import lib

        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        ctx.use_certificate_chain_file(str(self.pem.cert))
        ctx.use_privatekey_file(str(self.pem.key))
        ctx.check_privatekey()
        if self.min_version:
            ctx.set_min_proto_version(_pyopenssl_version(self.min_version))
        if self.max_version:
            ctx.set_max_proto_version(_pyopenssl_version(self.max_version))
        if self.cipher_list is not None:
            ctx.set_cipher_list(self.cipher_list.encode())
        if self.tls13_ciphersuites is not None:
            ctx.set_tls13_ciphersuites(self.tls13_ciphersuites.encode())
        # pyOpenSSL (26.4) has no public API for a group list: Context.set_tmp_ecdh takes one
        # curve, and its binding exposes SSL_CTX_set1_curves_list (OpenSSL's alias of
        # groups_list) but not SSL_CTX_set1_groups_list.
        if (
            self.groups is not None
            and lib.SSL_CTX_set1_curves_list(ctx._context, self.groups.encode()) != 1
        ):
            raise LabServerError(f"OpenSSL refused the group list {self.groups!r}")
        options = SSL.OP_NO_TICKET
        if self.server_preference:
            options |= SSL.OP_CIPHER_SERVER_PREFERENCE
        ctx.set_options(options)
        if self.client_ca is not None:
            ctx.load_verify_locations(str(self.client_ca))
            ctx.set_verify(
                SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
                lambda conn, cert, errno, depth, ok: bool(ok),
            )
        return ctx

    def cipher_names(self) -> list[str]:
        """OpenSSL names of every suite this server's configuration enables (TLS 1.3 first)."""
        from OpenSSL import SSL

        return [str(name) for name in SSL.Connection(self.context(), None).get_cipher_list()]

    def expected(self) -> ExpectedTLS:
        """Truth from this server's own context: its cipher list (pyOpenSSL) and settings.

        An unset `min_version` counts as TLS 1.2 (OpenSSL's default security level
        refuses older versions). Suite ids come from ``openssl ciphers -V``.
        """
        by_name = {
            item.name: item
            for item in openssl_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0", supported_only=False)
        }
        by_name.update({item.name: item for item in openssl_ciphers("ALL", version="TLSv1.3")})
        auth = certificate_auth(self.pem)
        listed = [by_name[name] for name in self.cipher_names() if name in by_name]
        versions = versions_between(
            self.min_version or "TLSv1.2", self.max_version, OPENSSL_PROTOCOLS
        )
        suites: dict[str, tuple[int, ...]] = {}
        for version in versions:
            usable = tuple(
                item.suite_id
                for item in listed
                if usable_with_auth(item, auth) and cipher_usable_at(item, version)
            )
            if usable:
                suites[version] = usable
        ecdhe = any(item.name.startswith("ECDHE-") for item in listed)
        transport = "tls-client-cert-required" if self.client_ca else "tls"
        return ExpectedTLS(
            suites, self.server_preference, expected_groups(self.groups, suites, ecdhe), transport
        )

    def start(self) -> None:
        self.context()
        super().start()

    def handle(self, conn: socket.socket) -> None:
        from OpenSSL import SSL

        conn.settimeout(None)
        # Blocking I/O with a receive timeout at the socket level, so a client that
        # goes quiet releases the thread; stop() shuts the socket down to unblock it.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
        tls = SSL.Connection(self.context(), conn)
        tls.set_accept_state()
        try:
            tls.do_handshake()
        except (SSL.Error, OSError):
            return
        self.handshakes += 1
        group = tls.get_group_name() if hasattr(tls, "get_group_name") else None
        self.last_negotiated = (
            str(tls.get_protocol_version_name()),
            str(tls.get_cipher_name()),
            str(group) if group else None,
        )
        try:
            tls.recv(65536)
            body = b"cryptoscope lab pyOpenSSL\n"
            tls.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            tls.shutdown()
        except (SSL.Error, OSError):
            return


# --------------------------------------------------------------------------- tlslite-ng

_TLSLITE_VERSIONS = {"SSLv3": (3, 0), "TLSv1.0": (3, 1), "TLSv1.1": (3, 2), "TLSv1.2": (3, 3)}


class TlsliteServer(ThreadedServer):
    """A tlslite-ng server: SSL 3.0 … TLS 1.2 with RC4, 3DES and MD5 where asked.

    Needs an RSA certificate. The server imposes its own suite order (tlslite
    picks the first of its list that the client offers).
    """

    name = "tlslite"

    def __init__(
        self,
        pem: PemFiles,
        *,
        min_version: str = "SSLv3",
        max_version: str = "TLSv1.1",
        cipher_names: Sequence[str] = ("aes256", "aes128", "3des", "rc4"),
        mac_names: Sequence[str] = ("sha", "md5"),
        key_exchange_names: Sequence[str] = ("rsa",),
        host: str = LOOPBACK_V4,
    ) -> None:
        super().__init__(host)
        self.pem = pem
        self.min_version = min_version
        self.max_version = max_version
        self.cipher_names = tuple(cipher_names)
        self.mac_names = tuple(mac_names)
        self.key_exchange_names = tuple(key_exchange_names)
        self._settings: Any = None
        self._chain: Any = None
        self._key: Any = None

    def settings(self) -> Any:
        """The validated ``tlslite.HandshakeSettings`` of this server."""
        if self._settings is None:
            from tlslite import HandshakeSettings

            settings = HandshakeSettings()
            settings.minVersion = _TLSLITE_VERSIONS[self.min_version]
            settings.maxVersion = _TLSLITE_VERSIONS[self.max_version]
            settings.cipherNames = list(self.cipher_names)
            settings.macNames = list(self.mac_names)
            settings.keyExchangeNames = list(self.key_exchange_names)
            self._settings = settings.validate()
        return self._settings

    def certificate_chain(self) -> Any:
        if self._chain is None:
            from tlslite import X509CertChain

            chain = X509CertChain()
            chain.parsePemList(self.pem.cert.read_text())
            self._chain = chain
        return self._chain

    def suite_ids(self, version: str) -> list[int]:
        """The suite ids this server accepts at `version`, in its preference order (tlslite's own logic)."""
        from tlslite.constants import CipherSuite

        settings = self.settings()
        wire = _TLSLITE_VERSIONS[version]
        if not settings.minVersion <= wire <= settings.maxVersion:
            return []
        suites = CipherSuite.getCertSuites(settings, wire)
        suites = CipherSuite.filterForVersion(suites, minVersion=wire, maxVersion=wire)
        return list(CipherSuite.filter_for_certificate(suites, self.certificate_chain()))

    def expected(self) -> ExpectedTLS:
        """Truth from tlslite's own suite tables for these settings; tlslite imposes its order."""
        suites = {
            version: tuple(ids) for version in _TLSLITE_VERSIONS if (ids := self.suite_ids(version))
        }
        groups: frozenset[str] | None = (
            None if set(self.key_exchange_names) - {"rsa"} else frozenset()
        )
        return ExpectedTLS(suites, True, groups)

    def start(self) -> None:
        from tlslite import parsePEMKey

        self.settings()
        self.certificate_chain()
        self._key = parsePEMKey(self.pem.key.read_text(), private=True)
        super().start()

    def handle(self, conn: socket.socket) -> None:
        from tlslite import TLSConnection
        from tlslite.errors import TLSError

        conn.settimeout(10)
        tls = TLSConnection(conn)
        try:
            tls.handshakeServer(
                certChain=self._chain, privateKey=self._key, settings=self._settings
            )
            tls.read(max=65536)
            tls.write(
                b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\ncryptoscope lab tlslite\n"
            )
            tls.close()
        except (TLSError, OSError, ValueError, AssertionError):
            return


# --------------------------------------------------------------------------- nginx


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
    )


class NginxServer(ProcessServer):
    """nginx (one process, no daemon) terminating TLS with the given directives."""

    def __init__(
        self,
        pem: PemFiles,
        *,
        ssl_protocols: str = "TLSv1.2 TLSv1.3",
        ssl_ciphers: str = "HIGH:!aNULL",
        prefer_server_ciphers: bool = True,
        ssl_ecdh_curve: str | None = None,
        ssl_dhparam: Path | None = None,
        host: str = LOOPBACK_V4,
    ) -> None:
        super().__init__()
        self.pem = pem
        self.ssl_dhparam = ssl_dhparam
        self.ssl_protocols = ssl_protocols
        self.ssl_ciphers = ssl_ciphers
        self.prefer_server_ciphers = prefer_server_ciphers
        self.ssl_ecdh_curve = ssl_ecdh_curve
        self.host = host
        self._workdir: Path | None = None

    def expected(self) -> ExpectedTLS:
        """Truth from ``ssl_protocols`` / ``ssl_ciphers`` / ``ssl_ecdh_curve`` (system OpenSSL)."""
        names = {
            "TLSv1": "TLSv1.0",
            "TLSv1.1": "TLSv1.1",
            "TLSv1.2": "TLSv1.2",
            "TLSv1.3": "TLSv1.3",
        }
        versions = [names[item] for item in self.ssl_protocols.split() if item in names]
        curve = self.ssl_ecdh_curve if self.ssl_ecdh_curve not in (None, "auto") else None
        return openssl_expected(
            self.pem,
            self.ssl_ciphers,
            versions=versions,
            server_preference=self.prefer_server_ciphers,
            groups=curve,
            # nginx uses no DHE suite without ssl_dhparam (since 1.11.0).
            finite_field_dhe=self.ssl_dhparam is not None,
        )

    def config(self, port: int, workdir: Path) -> str:
        listen = f"[{self.host}]:{port}" if ":" in self.host else f"{self.host}:{port}"
        curve = f"        ssl_ecdh_curve {self.ssl_ecdh_curve};\n" if self.ssl_ecdh_curve else ""
        if self.ssl_dhparam is not None:
            curve += f"        ssl_dhparam {self.ssl_dhparam};\n"
        return (
            "daemon off;\nmaster_process off;\nworker_processes 1;\n"
            f"pid {workdir}/nginx.pid;\nerror_log stderr warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            "    access_log off;\n"
            f"    client_body_temp_path {workdir}/body;\n    proxy_temp_path {workdir}/proxy;\n"
            f"    fastcgi_temp_path {workdir}/fastcgi;\n    uwsgi_temp_path {workdir}/uwsgi;\n"
            f"    scgi_temp_path {workdir}/scgi;\n"
            "    server {\n"
            f"        listen {listen} ssl;\n"
            f"        ssl_certificate {self.pem.cert};\n        ssl_certificate_key {self.pem.key};\n"
            f"        ssl_protocols {self.ssl_protocols};\n        ssl_ciphers '{self.ssl_ciphers}';\n"
            f"        ssl_prefer_server_ciphers {'on' if self.prefer_server_ciphers else 'off'};\n"
            f"{curve}"
            "        location / { return 200 'cryptoscope lab nginx\\n'; }\n"
            "    }\n"
            "}\n"
        )

    def start(self) -> None:
        binary = nginx_binary()
        if binary is None:
            raise LabServerError("nginx is not installed")
        workdir = Path(tempfile.mkdtemp(prefix="cryptoscope-nginx-"))
        self._workdir = workdir
        last_error = ""
        for _attempt in range(5):
            self.port = closed_port(self.host)
            conf = workdir / "nginx.conf"
            conf.write_text(self.config(self.port, workdir))
            self._spawn(
                [binary, "-p", str(workdir), "-c", str(conf), "-e", "stderr"], cwd=str(workdir)
            )
            lines = self._lines()
            self._drain_rest(lines)
            try:
                wait_until_connectable(self.host, self.port, timeout=5)
                return
            except LabServerError:
                self._terminate()
                last_error = self.output_tail
        self.stop()
        raise LabServerError(f"nginx did not start:\n{last_error}")

    def stop(self) -> None:
        self._terminate()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
