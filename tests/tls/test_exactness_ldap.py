"""LDAP StartTLS: the extended request, the server's ExtendedResponse, then TLS on the same socket.

The peer is a minimal LDAP front on loopback: it checks the StartTLS ExtendedRequest byte for
byte (RFC 4511 4.14.1), answers with a real ExtendedResponse, then hands the socket to a real
pyOpenSSL TLS server. Like slapd, it closes on anything that is not an LDAP message.
"""

from __future__ import annotations

import contextlib
import socket

from agent.tls.model import Target
from inspector.lab.tls_catalogue import LabPems
from inspector.lab.tls_servers import PyOpenSSLServer
from tests.tls.conftest import protocol_problems, scan, started

#: LDAPMessage { messageID 1, extendedReq { requestName "1.3.6.1.4.1.1466.20037" } } (RFC 4511).
STARTTLS_REQUEST = bytes.fromhex("301d02010177188016") + b"1.3.6.1.4.1.1466.20037"


def extended_response(
    result_code: int, message: bytes = b"", message_id: int = 1, name: bytes = b""
) -> bytes:
    """LDAPMessage { messageID, extendedResp { resultCode, matchedDN "", diagnosticMessage,
    responseName [10] (when given) } }."""
    op = bytes([0x0A, 1, result_code, 0x04, 0, 0x04, len(message)]) + message
    if name:
        op += bytes([0x8A, len(name)]) + name
    body = bytes([0x02, 1, message_id, 0x78, len(op)]) + op
    return bytes([0x30, len(body)]) + body


#: RFC 4511 4.4.1: unsolicited notification (messageID 0) that the server closes, protocolError.
NOTICE_OF_DISCONNECTION = extended_response(2, b"bad request", 0, b"1.3.6.1.4.1.1466.20036")


class LdapStartTLSServer(PyOpenSSLServer):
    """LDAP StartTLS in front of a pyOpenSSL server; `result_code` 0 agrees to start TLS."""

    name = "ldap-starttls"

    def __init__(
        self, *args: object, result_code: int = 0, notice: bool = False, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.result_code = result_code
        #: Answer a message that is not LDAP with a notice of disconnection (as Active Directory
        #: does), instead of just closing (as slapd does).
        self.notice = notice
        self.requests = 0

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        request = b""
        try:
            while len(request) < len(STARTTLS_REQUEST):
                data = conn.recv(len(STARTTLS_REQUEST) - len(request))
                if not data:
                    return
                if not STARTTLS_REQUEST.startswith(request + data):
                    if self.notice:
                        self._disconnect(conn)
                    return  # not our LDAP request: close
                request += data
            self.requests += 1
            message = b"" if self.result_code == 0 else b"StartTLS not configured"
            conn.sendall(extended_response(self.result_code, message))
        except OSError:
            return
        if self.result_code == 0:
            super().handle(conn)

    @staticmethod
    def _disconnect(conn: socket.socket) -> None:
        """Send the notice, then read what the client sent before closing (no reset)."""
        conn.sendall(NOTICE_OF_DISCONNECTION)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(2)
        with contextlib.suppress(OSError):
            while conn.recv(4096):
                pass


def _server(pems: LabPems, result_code: int = 0, notice: bool = False) -> LdapStartTLSServer:
    return LdapStartTLSServer(
        pems.rsa,
        min_version="TLSv1.2",
        cipher_list="ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA",
        tls13_ciphersuites="TLS_AES_256_GCM_SHA384",
        groups="X25519:P-256",
        server_preference=True,
        result_code=result_code,
        notice=notice,
    )


def test_ldap_starttls_is_classified_and_enumerated(
    lab_pki: LabPems, iana_suites: dict[int, str]
) -> None:
    server = _server(lab_pki)
    with started(server):
        expected = server.expected()
        result = scan([Target(server.host, server.port)])[(server.host, server.port)].result
        handshakes = server.handshakes
    assert str(result.transport) == "starttls-ldap", (result.error, result.warnings)
    assert result.error is None
    assert not protocol_problems(result, expected, iana_suites)
    assert set(result.groups_by_version["TLSv1.3"]) == {"x25519", "secp256r1"}
    assert set(result.groups_by_version["TLSv1.2"]) == {"x25519", "secp256r1"}
    # the chain came through the full handshake, also after StartTLS
    assert handshakes >= 1 and result.certificates
    assert server.requests >= result.connections - 3  # every TLS probe went through StartTLS


def test_ldap_starttls_hint_skips_the_detection(lab_pki: LabPems) -> None:
    server = _server(lab_pki)
    with started(server):
        hinted = scan([Target(server.host, server.port, protocol_hint="ldap")])
        plain = scan([Target(server.host, server.port)])
    key = (server.host, server.port)
    assert str(hinted[key].result.transport) == "starttls-ldap"
    assert hinted[key].result.connections < plain[key].result.connections


def test_ldap_refusing_starttls_is_plaintext_with_the_reason(lab_pki: LabPems) -> None:
    server = _server(lab_pki, result_code=52)  # unavailable
    with started(server):
        result = scan([Target(server.host, server.port, protocol_hint="ldap")])[
            (server.host, server.port)
        ].result
    assert str(result.transport) == "plaintext"
    assert not result.protocols
    assert any("unavailable" in warning for warning in result.warnings), result.warnings


def test_notice_of_disconnection_leads_straight_to_starttls(lab_pki: LabPems) -> None:
    closing, noticing = _server(lab_pki), _server(lab_pki, notice=True)
    with started(closing), started(noticing):
        results = scan([Target(s.host, s.port) for s in (closing, noticing)])
    quiet = results[(closing.host, closing.port)].result
    loud = results[(noticing.host, noticing.port)].result
    assert str(loud.transport) == str(quiet.transport) == "starttls-ldap"
    assert loud.protocols == quiet.protocols
    # no PostgreSQL SSLRequest needed when the server said it speaks LDAP
    assert loud.connections == quiet.connections - 1
