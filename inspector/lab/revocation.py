"""A loopback OCSP responder and CRL distribution point for a lab CA (real DER over HTTP).

    root = pki.make_ca()
    with RevocationResponder(root) as responder:
        leaf = pki.make_leaf(root, ocsp_url=responder.ocsp_url, crl_url=responder.crl_url)
        responder.revoke(leaf)                 # OCSP answers "revoked", the CRL lists it
        staple = responder.ocsp_response(leaf) # DER to staple (openssl s_server -status_file)

A chain with an intermediate: one responder per CA (the root's answers for the
intermediate, the intermediate's for the leaf); :func:`with_revocation_extensions`
re-signs a certificate with AIA / CRL distribution point / OCSP Must-Staple added.

OCSP requests (POST ``/ocsp``, or GET ``/ocsp/<base64>``) are answered with
``cryptography.x509.ocsp.OCSPResponseBuilder`` signed by the CA's key; ``/crl``
serves a DER CRL signed by the CA. ``behaviour`` makes it misbehave on purpose:
``"silent"`` accepts and never answers, ``"garbage"`` answers bytes that are no
OCSP response nor CRL, ``"wrong-key"`` signs with a key that is not the CA's,
``"http-error"`` answers 503 with the reason phrase :data:`ERROR_PHRASE`.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from inspector.lab.pki import Issued, PrivateKey, generate_key

Behaviour = Literal["normal", "silent", "garbage", "wrong-key", "http-error"]
#: Reason phrase of the "http-error" behaviour: a canary that must never reach the evidence.
ERROR_PHRASE = "canary-7f3a reason phrase"
#: Longest a "silent" request is held open (the server's stop releases it sooner).
SILENT_HOLD_S = 120.0


class RevocationResponder:
    """OCSP and CRL for the certificates ``issuer`` signs, on 127.0.0.1 (ephemeral port)."""

    def __init__(
        self, issuer: Issued, *, behaviour: Behaviour = "normal", host: str = "127.0.0.1"
    ) -> None:
        self.issuer = issuer
        self.behaviour = behaviour
        self.host = host
        #: serial -> (revocation time, reason)
        self.revoked: dict[int, tuple[dt.datetime, x509.ReasonFlags]] = {}
        self.requests: list[str] = []  # "ocsp" / "crl", in arrival order
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._other_key = generate_key() if behaviour == "wrong-key" else None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> RevocationResponder:
        responder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                if path.startswith("/ocsp/"):
                    request = base64.b64decode(urllib.parse.unquote(path[len("/ocsp/") :]))
                    responder._answer(self, "ocsp", request)
                elif path == "/crl":
                    responder._answer(self, "crl", b"")
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 65536))
                if urllib.parse.urlsplit(self.path).path == "/ocsp":
                    responder._answer(self, "ocsp", body)
                else:
                    self.send_error(404)

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="revocation-lab", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> RevocationResponder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the responder first"
        return int(self._server.server_address[1])

    @property
    def ocsp_url(self) -> str:
        return f"http://{self.host}:{self.port}/ocsp"

    @property
    def crl_url(self) -> str:
        return f"http://{self.host}:{self.port}/crl"

    def revoke(
        self,
        certificate: Issued | x509.Certificate,
        *,
        at: dt.datetime | None = None,
        reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise,
    ) -> None:
        cert = certificate.certificate if isinstance(certificate, Issued) else certificate
        when = (at or dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0)
        self.revoked[cert.serial_number] = (when, reason)

    # ------------------------------------------------------------------ answers

    def _signing_key(self):  # type: ignore[no-untyped-def]
        return self._other_key or self.issuer.key

    def _hash(self) -> hashes.SHA256 | None:
        from cryptography.hazmat.primitives.asymmetric import ed25519

        return (
            None if isinstance(self._signing_key(), ed25519.Ed25519PrivateKey) else hashes.SHA256()
        )

    def _answer(self, handler: BaseHTTPRequestHandler, kind: str, request: bytes) -> None:
        self.requests.append(kind)
        if self.behaviour == "silent":
            self._stopping.wait(SILENT_HOLD_S)
            return
        if self.behaviour == "http-error":
            handler.send_response(503, ERROR_PHRASE)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if self.behaviour == "garbage":
            body, content_type = b"<html>not what you asked for</html>", "text/html"
        elif kind == "ocsp":
            body, content_type = self._ocsp(request), "application/ocsp-response"
        else:
            body, content_type = self._crl(), "application/pkix-crl"
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _ocsp(self, der: bytes) -> bytes:
        try:
            request = ocsp.load_der_ocsp_request(der)
        except ValueError:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            ).public_bytes(serialization.Encoding.DER)
        return self._response_for(request.serial_number)

    def ocsp_response(
        self, certificate: Issued | x509.Certificate, *, age: dt.timedelta | None = None
    ) -> bytes:
        """The DER OCSP response this responder gives for ``certificate`` now (what a server
        staples); ``age`` moves it into the past (e.g. 2 days: nextUpdate has gone by)."""
        cert = certificate.certificate if isinstance(certificate, Issued) else certificate
        return self._response_for(cert.serial_number, age=age or dt.timedelta(0))

    def _response_for(self, serial: int, *, age: dt.timedelta = dt.timedelta(0)) -> bytes:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0) - age
        revoked = self.revoked.get(serial)
        # the response names the certificate asked about; the lab only needs its serial and CA
        subject = _placeholder_for(serial, self.issuer)
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=subject,
            issuer=self.issuer.certificate,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
            this_update=now - dt.timedelta(minutes=1),
            next_update=now + dt.timedelta(hours=1),
            revocation_time=revoked[0] if revoked else None,
            revocation_reason=revoked[1] if revoked else None,
        )
        if self._other_key is None:
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self.issuer.certificate)
        else:  # an impostor: the CA's name, another key
            impostor = _self_signed(self.issuer.certificate.subject, self._other_key)
            builder = builder.responder_id(ocsp.OCSPResponderEncoding.NAME, impostor)
        response = builder.sign(self._signing_key(), self._hash())
        return response.public_bytes(serialization.Encoding.DER)

    def _crl(self) -> bytes:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.issuer.certificate.subject)
            .last_update(now - dt.timedelta(minutes=1))
            .next_update(now + dt.timedelta(hours=1))
        )
        for serial, (when, reason) in self.revoked.items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(when)
                .add_extension(x509.CRLReason(reason), critical=False)
                .build()
            )
        return builder.sign(self._signing_key(), self._hash()).public_bytes(
            serialization.Encoding.DER
        )


def _placeholder_for(serial: int, issuer: Issued) -> x509.Certificate:
    """A certificate with ``serial`` under ``issuer``: OCSPResponseBuilder's CertID needs only these."""
    now = dt.datetime.now(dt.UTC)
    key = generate_key()
    return (
        x509.CertificateBuilder()
        .subject_name(issuer.certificate.subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(issuer.key, None if _is_ed(issuer) else hashes.SHA256())
    )


def _is_ed(issuer: Issued) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return isinstance(issuer.key, ed25519.Ed25519PrivateKey)


def _self_signed(name: x509.Name, key: PrivateKey) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def with_revocation_extensions(
    certificate: Issued,
    issuer: Issued,
    *,
    ocsp_url: str | None = None,
    crl_url: str | None = None,
    must_staple: bool = False,
) -> Issued:
    """``certificate`` re-signed by ``issuer`` with an AIA OCSP entry, a CRL distribution point
    and/or the TLS feature status_request (OCSP Must-Staple, RFC 7633) added; same key and serial."""
    cert = certificate.certificate
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(certificate.key.public_key())
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    added = {
        x509.AuthorityInformationAccess.oid: bool(ocsp_url),
        x509.CRLDistributionPoints.oid: bool(crl_url),
        x509.TLSFeature.oid: must_staple,
    }
    for extension in cert.extensions:
        if not added.get(extension.oid):  # replaced, never duplicated
            builder = builder.add_extension(extension.value, extension.critical)
    if ocsp_url:
        access = x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
        )
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    if must_staple:
        builder = builder.add_extension(
            x509.TLSFeature([x509.TLSFeatureType.status_request]), critical=False
        )
    return Issued(
        builder.sign(issuer.key, None if _is_ed(issuer) else hashes.SHA256()), certificate.key
    )
