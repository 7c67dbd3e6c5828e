"""Is any certificate of the chain revoked? OCSP (AIA), else the CRL distribution point; and the staple.

    checks = check_chain_revocation(chain, ca_file="cluster-ca.pem", timeout=10.0)
    checks[0].status  # the leaf: "good", "revoked", "unknown" (detail says why), "not-published"
    checks[1].status  # the intermediate, asked of its own responder (its issuer is the next one)
    staple = judge_staple(handshake.ocsp_staple, chain)  # what the server stapled, verified

Every presented certificate except a self-signed root is checked, each against its
issuer (the next certificate of the chain, else one of the CA file). A stapled OCSP
response that verifies answers for the leaf without a network call.

Pure functions build and judge the OCSP request/response and the CRL
(:func:`ocsp_request`, :func:`judge_ocsp_response`, :func:`judge_crl`,
:func:`judge_staple`); one small function fetches over HTTP with the standard
library, bounded in time and size. Answers are believed only when signed by the
certificate's issuer (or, for OCSP, by a responder certificate the issuer delegated
with the OCSP-signing EKU), about that certificate, and current. Never raises for
what a responder or a server sends, never waits past ``timeout``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import functools
import http
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from agent.tls.certificates import issued_by, load_pem_certificates
from agent.tls.model import OCSPStaple, RevocationCheck

#: Largest OCSP response / CRL read (bytes); more is refused as "too large".
MAX_OCSP_BYTES = 256 * 1024
MAX_CRL_BYTES = 16 * 1024 * 1024
#: Clock difference tolerated between us and the responder.
CLOCK_SKEW = dt.timedelta(minutes=5)
_SCHEMES = ("http", "https")
_HTTP_CODES = frozenset(status.value for status in http.HTTPStatus)


class FetchError(Exception):
    """An HTTP request gave no usable body; the message says why (one line)."""


@dataclasses.dataclass(frozen=True, slots=True)
class RevocationSources:
    ocsp: tuple[str, ...] = ()
    crl: tuple[str, ...] = ()


def revocation_sources(cert: x509.Certificate) -> RevocationSources:
    """The OCSP responder URLs (AIA) and CRL distribution points (full names) the certificate names."""
    ocsp_urls: list[str] = []
    crl_urls: list[str] = []
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp_urls = [
            d.access_location.value
            for d in aia
            if d.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)
        ]
    except (x509.ExtensionNotFound, ValueError):
        pass
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        crl_urls = [
            name.value
            for point in points
            for name in point.full_name or ()
            if isinstance(name, x509.UniformResourceIdentifier)
        ]
    except (x509.ExtensionNotFound, ValueError):
        pass
    usable = [u for u in ocsp_urls if urllib.parse.urlsplit(u).scheme in _SCHEMES]
    crls = [u for u in crl_urls if urllib.parse.urlsplit(u).scheme in _SCHEMES]
    return RevocationSources(tuple(usable), tuple(crls))


def find_issuer(
    leaf: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    """The candidate whose key signed ``leaf``."""
    for candidate in candidates:
        if issued_by(leaf, candidate):
            return candidate
    return None


# --------------------------------------------------------------------------- OCSP


def ocsp_request(leaf: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """DER OCSPRequest for ``leaf`` (CertID with SHA-1, what responders universally accept)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1())
    return builder.build().public_bytes(serialization.Encoding.DER)


def _verify(
    key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> bool:
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _ocsp_signer(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> x509.Certificate | None:
    """The certificate whose key must have signed the response: the issuer, or its delegate."""
    issuer_key_hash = x509.SubjectKeyIdentifier.from_public_key(issuer.public_key()).digest
    if response.responder_name == issuer.subject or response.responder_key_hash == issuer_key_hash:
        return issuer
    for candidate in response.certificates:
        if not issued_by(candidate, issuer):
            continue
        try:
            usage = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (x509.ExtensionNotFound, ValueError):
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING in usage:
            return candidate
    return None


def _single_for(
    response: ocsp.OCSPResponse, cert: x509.Certificate
) -> ocsp.OCSPSingleResponse | None:
    return next(
        (one for one in response.responses if one.serial_number == cert.serial_number), None
    )


def _unbelievable(
    response: ocsp.OCSPResponse,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    now: dt.datetime,
) -> str | None:
    """Why a successful OCSP response about ``cert`` cannot be believed; None when it can."""
    signer = _ocsp_signer(response, issuer)
    if signer is None:
        return "OCSP response signed by neither the issuer nor a delegated responder"
    try:
        algorithm = response.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    if not _verify(signer.public_key(), response.signature, response.tbs_response_bytes, algorithm):
        return "OCSP response signature does not verify"
    single = _single_for(response, cert)
    if single is None:
        return "OCSP response is about another certificate"
    if single.this_update_utc > now + CLOCK_SKEW:
        return f"OCSP response dated in the future ({single.this_update_utc:%Y-%m-%d %H:%M}Z)"
    if single.next_update_utc is not None and single.next_update_utc < now - CLOCK_SKEW:
        return f"OCSP response is stale (next update was {single.next_update_utc:%Y-%m-%d %H:%M}Z)"
    return None


_CERT_STATUS = {
    ocsp.OCSPCertStatus.GOOD: "good",
    ocsp.OCSPCertStatus.REVOKED: "revoked",
    ocsp.OCSPCertStatus.UNKNOWN: "unknown",
}


def judge_ocsp_response(
    der: bytes,
    leaf: x509.Certificate,
    issuer: x509.Certificate,
    *,
    url: str | None = None,
    now: dt.datetime | None = None,
    method: str = "ocsp",
) -> RevocationCheck:
    """What a DER OCSPResponse says about ``leaf`` (any certificate issued by ``issuer``);
    "unknown" unless signed, current and about it."""
    now = now or dt.datetime.now(dt.UTC)

    def unknown(why: str) -> RevocationCheck:
        return RevocationCheck("unknown", method, url, why, checked_at=now)

    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        return unknown(f"OCSP responder sent no OCSP response ({exc})")
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return unknown(f"OCSP responder answered {response.response_status.name}")
    why = _unbelievable(response, leaf, issuer, now)
    single = _single_for(response, leaf)
    if why is not None or single is None:
        return unknown(why or "OCSP response is about another certificate")
    status = single.certificate_status
    if status == ocsp.OCSPCertStatus.GOOD:
        return RevocationCheck("good", method, url, "OCSP: good", checked_at=now)
    if status == ocsp.OCSPCertStatus.REVOKED:
        reason = single.revocation_reason.name if single.revocation_reason else None
        return RevocationCheck(
            "revoked",
            method,
            url,
            "OCSP: revoked",
            revoked_at=single.revocation_time_utc,
            reason=_reason_name(reason),
            checked_at=now,
        )
    return unknown("OCSP responder does not know the certificate")


# --------------------------------------------------------------------------- stapling

#: TLS feature status_request (5) in the certificate: OCSP Must-Staple, RFC 7633.
MUST_STAPLE_FEATURE = x509.TLSFeatureType.status_request


def must_staple(cert: x509.Certificate) -> bool:
    """The certificate carries the TLS feature extension (1.3.6.1.5.5.7.1.24) with status_request."""
    try:
        features = cert.extensions.get_extension_for_class(x509.TLSFeature).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    return MUST_STAPLE_FEATURE in features


def judge_staple(
    der: bytes | None,
    chain: Sequence[x509.Certificate],
    *,
    anchors: Sequence[x509.Certificate] = (),
    now: dt.datetime | None = None,
) -> OCSPStaple | None:
    """What the server stapled (``der``: b"" nothing, None not asked) about ``chain[0]``.

    The status, producedAt and nextUpdate are recorded as the response says; ``verified``
    tells whether it is signed by the leaf's issuer (or its delegate), about the leaf and current.
    """
    if der is None or not chain:
        return None
    now = now or dt.datetime.now(dt.UTC)
    leaf = chain[0]
    demanded = must_staple(leaf)
    if not der:
        absent = "no OCSP response stapled"
        return OCSPStaple(
            False,
            demanded,
            detail=absent + (" (the certificate is Must-Staple)" if demanded else ""),
        )
    try:
        response = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        return OCSPStaple(
            True, demanded, verified=False, detail=f"stapled bytes are no OCSP response ({exc})"
        )
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return OCSPStaple(
            True,
            demanded,
            verified=False,
            detail=f"stapled OCSP response says {response.response_status.name}",
        )
    single = _single_for(response, leaf)
    said = OCSPStaple(
        True,
        demanded,
        produced_at=response.produced_at_utc,
        this_update=single.this_update_utc if single else None,
        next_update=single.next_update_utc if single else None,
        status=_CERT_STATUS.get(single.certificate_status) if single else None,
        revoked_at=single.revocation_time_utc if single else None,
        reason=_reason_name(single.revocation_reason.name)
        if single and single.revocation_reason
        else None,
    )
    issuer = find_issuer(leaf, [*chain[1:], *anchors])
    doubt = (
        "the issuer's certificate is neither presented nor in the CA file: cannot verify"
        if issuer is None
        else _unbelievable(response, leaf, issuer, now)
    )
    if doubt is not None:
        return dataclasses.replace(said, verified=False, detail=f"stapled response: {doubt}")
    return dataclasses.replace(said, verified=True, detail=f"stapled OCSP: {said.status}")


def staple_answer(
    staple: OCSPStaple | None, now: dt.datetime | None = None
) -> RevocationCheck | None:
    """The leaf's revocation answer from a verified staple (saves the network call); else None."""
    if staple is None or not staple.verified or staple.status not in ("good", "revoked"):
        return None
    return RevocationCheck(
        staple.status,
        "ocsp-staple",
        None,
        f"stapled OCSP response: {staple.status}",
        revoked_at=staple.revoked_at,
        reason=staple.reason,
        checked_at=now or dt.datetime.now(dt.UTC),
    )


# --------------------------------------------------------------------------- CRL


def judge_crl(
    data: bytes,
    leaf: x509.Certificate,
    issuer: x509.Certificate,
    *,
    url: str | None = None,
    now: dt.datetime | None = None,
) -> RevocationCheck:
    """What a CRL (DER or PEM) says about ``leaf``; "unknown" unless signed by the issuer and current."""
    now = now or dt.datetime.now(dt.UTC)

    def unknown(why: str) -> RevocationCheck:
        return RevocationCheck("unknown", "crl", url, why, checked_at=now)

    try:
        crl = (
            x509.load_pem_x509_crl(data)
            if data.lstrip().startswith(b"-----BEGIN")
            else x509.load_der_x509_crl(data)
        )
    except ValueError as exc:
        return unknown(f"CRL distribution point sent no CRL ({exc})")
    if crl.issuer != issuer.subject:
        return unknown("CRL was issued by another CA")
    try:
        signed = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError, UnsupportedAlgorithm):
        signed = False
    if not signed:
        return unknown("CRL signature does not verify with the issuer's key")
    if crl.last_update_utc > now + CLOCK_SKEW:
        return unknown(f"CRL dated in the future ({crl.last_update_utc:%Y-%m-%d %H:%M}Z)")
    if crl.next_update_utc is not None and crl.next_update_utc < now - CLOCK_SKEW:
        return unknown(f"CRL is stale (next update was {crl.next_update_utc:%Y-%m-%d %H:%M}Z)")
    entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    if entry is None:
        return RevocationCheck("good", "crl", url, "CRL: not listed", checked_at=now)
    reason: str | None = None
    with contextlib.suppress(x509.ExtensionNotFound, ValueError):
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
    return RevocationCheck(
        "revoked",
        "crl",
        url,
        "CRL: listed",
        revoked_at=entry.revocation_date_utc,
        reason=_reason_name(reason),
        checked_at=now,
    )


#: Reasons whose RFC 5280 spelling is not plain camelCase of cryptography's enum name.
_REASON_SPELLING = {"ca_compromise": "cACompromise", "aa_compromise": "aACompromise"}


def _reason_name(name: str | None) -> str | None:
    """``key_compromise`` -> ``keyCompromise`` (RFC 5280 spelling)."""
    if not name:
        return None
    if name in _REASON_SPELLING:
        return _REASON_SPELLING[name]
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


# --------------------------------------------------------------------------- HTTP


def fetch(
    url: str,
    *,
    deadline: float,
    body: bytes | None = None,
    content_type: str | None = None,
    limit: int,
) -> bytes:
    """GET (or POST ``body``) ``url`` and return the body; FetchError past ``deadline`` (monotonic)."""
    if urllib.parse.urlsplit(url).scheme not in _SCHEMES:
        raise FetchError(f"not an http(s) URL: {url}")
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("no time left")
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(
        url, data=body, headers=headers, method="POST" if body else "GET"
    )
    chunks: list[bytes] = []
    size = 0
    try:
        with urllib.request.urlopen(request, timeout=left) as answer:  # noqa: S310 - scheme checked
            while True:
                if time.monotonic() > deadline:
                    raise FetchError("timed out while reading the answer")
                chunk = answer.read1(
                    16384
                )  # returns after one receive: the deadline is checked often
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise FetchError(f"answer larger than {limit} bytes")
                chunks.append(chunk)
    except urllib.error.HTTPError as exc:
        # the standard phrase, not the peer's: a responder's bytes are never quoted
        phrase = http.HTTPStatus(exc.code).phrase if exc.code in _HTTP_CODES else "status"
        raise FetchError(f"HTTP {exc.code} {phrase}") from exc
    except urllib.error.URLError as exc:
        raise FetchError(f"unreachable: {exc.reason}") from exc
    except TimeoutError as exc:
        raise FetchError("timed out") from exc
    except OSError as exc:
        raise FetchError(f"unreachable: {exc}") from exc
    return b"".join(chunks)


# --------------------------------------------------------------------------- the check


def is_self_signed_root(cert: x509.Certificate) -> bool:
    """Names itself as issuer and its own key signed it: a trust anchor, never asked about."""
    return cert.subject == cert.issuer and issued_by(cert, cert)


def checked_positions(chain: Sequence[x509.Certificate]) -> list[int]:
    """Positions of the presented chain that are checked: all but a self-signed root."""
    return [
        position
        for position, cert in enumerate(chain)
        if position == 0 or not is_self_signed_root(cert)
    ]


def load_anchors(ca_file: str | None) -> list[x509.Certificate]:
    """The certificates of ``ca_file`` (PEM); none when unreadable."""
    if not ca_file:
        return []
    try:
        with open(ca_file, "rb") as handle:
            return load_pem_certificates(handle.read())
    except (OSError, ValueError):
        return []


def check_certificate(
    chain: Sequence[x509.Certificate],
    position: int = 0,
    *,
    anchors: Sequence[x509.Certificate] = (),
    timeout: float = 10.0,
    now: dt.datetime | None = None,
) -> RevocationCheck:
    """Revocation status of ``chain[position]``: OCSP first, then CRLs, within ``timeout`` seconds.

    Its issuer is the next certificate of the chain (else any other presented, else an anchor).
    """
    now = now or dt.datetime.now(dt.UTC)
    if not 0 <= position < len(chain):
        return RevocationCheck("unknown", detail="no certificate presented", checked_at=now)
    cert = chain[position]
    answer = _ask(
        cert,
        [*chain[position + 1 :], *chain[:position], *anchors],
        deadline=time.monotonic() + timeout,
        now=now,
    )
    return dataclasses.replace(
        answer, position=position, sha256=cert.fingerprint(hashes.SHA256()).hex()
    )


def _ask(
    cert: x509.Certificate,
    candidates: Sequence[x509.Certificate],
    *,
    deadline: float,
    now: dt.datetime,
) -> RevocationCheck:
    sources = revocation_sources(cert)
    if not sources.ocsp and not sources.crl:
        return RevocationCheck(
            "not-published",
            detail="the certificate names no OCSP responder and no CRL distribution point",
            checked_at=now,
        )
    issuer = find_issuer(cert, [c for c in candidates if c != cert])
    first_url = (sources.ocsp + sources.crl)[0]
    if issuer is None:
        return RevocationCheck(
            "unknown",
            "ocsp" if sources.ocsp else "crl",
            first_url,
            "the issuer's certificate is neither presented nor in the CA file: cannot ask or verify",
            checked_at=now,
        )
    reasons: list[str] = []
    last: RevocationCheck | None = None
    for url in sources.ocsp:
        try:
            der = fetch(
                url,
                deadline=deadline,
                body=ocsp_request(cert, issuer),
                content_type="application/ocsp-request",
                limit=MAX_OCSP_BYTES,
            )
        except FetchError as exc:
            last = RevocationCheck("unknown", "ocsp", url, f"OCSP {url}: {exc}", checked_at=now)
        else:
            last = judge_ocsp_response(der, cert, issuer, url=url, now=now)
            if last.status != "unknown":
                return last
            last = dataclasses.replace(last, detail=f"OCSP {url}: {last.detail}")
        reasons.append(last.detail)
    for url in sources.crl:
        try:
            data = fetch(url, deadline=deadline, limit=MAX_CRL_BYTES)
        except FetchError as exc:
            last = RevocationCheck("unknown", "crl", url, f"CRL {url}: {exc}", checked_at=now)
        else:
            last = judge_crl(data, cert, issuer, url=url, now=now)
            if last.status != "unknown":
                return last
            last = dataclasses.replace(last, detail=f"CRL {url}: {last.detail}")
        reasons.append(last.detail)
    assert last is not None
    return dataclasses.replace(last, detail="; ".join(reasons))


def check_revocation(
    chain: Sequence[x509.Certificate],
    *,
    ca_file: str | None = None,
    timeout: float = 10.0,
    now: dt.datetime | None = None,
) -> RevocationCheck:
    """Revocation status of ``chain[0]`` (the leaf): OCSP first, then CRLs, within ``timeout`` seconds."""
    return check_certificate(chain, 0, anchors=load_anchors(ca_file), timeout=timeout, now=now)


def check_chain_revocation(
    chain: Sequence[x509.Certificate],
    *,
    ca_file: str | None = None,
    timeout: float = 10.0,
    staple: OCSPStaple | None = None,
    cache: RevocationCache | None = None,
    now: dt.datetime | None = None,
) -> tuple[RevocationCheck, ...]:
    """One check per certificate of ``chain`` but a self-signed root, leaf first, asked side by
    side within ``timeout`` seconds. A verified ``staple`` answers for the leaf."""
    if not chain:
        return (check_certificate(chain, 0, now=now),)
    positions = checked_positions(chain)
    stapled = staple_answer(staple, now)
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(positions)) as pool:
        futures = [
            pool.submit(_one, chain, position, ca_file, timeout, stapled, cache, now)
            for position in positions
        ]
        return tuple(future.result() for future in futures)


def _one(
    chain: Sequence[x509.Certificate],
    position: int,
    ca_file: str | None,
    timeout: float,
    stapled: RevocationCheck | None,
    cache: RevocationCache | None,
    now: dt.datetime | None,
) -> RevocationCheck:
    if position == 0 and stapled is not None:
        return dataclasses.replace(
            stapled, position=0, sha256=chain[0].fingerprint(hashes.SHA256()).hex()
        )
    if cache is not None:
        return cache.check_position(chain, position, ca_file=ca_file, timeout=timeout)
    return check_certificate(
        chain, position, anchors=load_anchors(ca_file), timeout=timeout, now=now
    )


class RevocationCache:
    """Answers per leaf for a while, so many endpoints serving one certificate ask once.

    A good answer is kept ``good_ttl`` seconds, a revoked one ``revoked_ttl`` (revocation is
    final), an unknown one ``unknown_ttl`` (a dead responder is not asked again at once).
    Concurrent checks of one leaf wait for the first instead of asking in parallel.
    """

    def __init__(
        self, *, good_ttl: float = 900.0, revoked_ttl: float = 86400.0, unknown_ttl: float = 60.0
    ) -> None:
        self.ttl = {"good": good_ttl, "revoked": revoked_ttl}
        self.unknown_ttl = unknown_ttl
        self._answers: dict[tuple[bytes, str | None], tuple[float, RevocationCheck]] = {}
        self._locks: dict[tuple[bytes, str | None], threading.Lock] = {}
        self._guard = threading.Lock()

    def check(
        self, chain: Sequence[x509.Certificate], *, ca_file: str | None, timeout: float
    ) -> RevocationCheck:
        """The leaf's answer (``chain[0]``)."""
        return self.check_position(chain, 0, ca_file=ca_file, timeout=timeout)

    def check_position(
        self,
        chain: Sequence[x509.Certificate],
        position: int,
        *,
        ca_file: str | None,
        timeout: float,
    ) -> RevocationCheck:
        """``chain[position]``'s answer; one intermediate shared by many chains is asked once."""
        if not 0 <= position < len(chain):
            return check_certificate(chain, position, timeout=timeout)
        key = (chain[position].fingerprint(hashes.SHA256()), ca_file)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            now = time.monotonic()
            cached = self._answers.get(key)
            if cached is not None and cached[0] > now:
                return dataclasses.replace(cached[1], position=position)
            answer = check_certificate(
                chain, position, anchors=load_anchors(ca_file), timeout=timeout
            )
            ttl = self.ttl.get(answer.status, self.unknown_ttl)
            with self._guard:
                self._answers[key] = (time.monotonic() + ttl, answer)
                if len(self._answers) > 100_000:  # bound memory: drop what has expired
                    for stale in [k for k, (until, _) in self._answers.items() if until <= now]:
                        del self._answers[stale]
                        self._locks.pop(stale, None)
            return answer


#: The prober's cache (one per process).
DEFAULT_CACHE = RevocationCache()


async def check_chain_revocation_async(
    chain: Sequence[x509.Certificate],
    *,
    ca_file: str | None = None,
    timeout: float = 10.0,
    staple: OCSPStaple | None = None,
    cache: RevocationCache | None = DEFAULT_CACHE,
) -> tuple[RevocationCheck, ...]:
    """:func:`check_chain_revocation` (through ``cache``) in a thread; each certificate not
    answered shortly after ``timeout`` is "unknown"."""
    positions = checked_positions(chain) if chain else [0]
    stapled = staple_answer(staple)

    async def one(position: int) -> RevocationCheck:
        work = functools.partial(_one, chain, position, ca_file, timeout, stapled, cache, None)
        try:
            return await asyncio.wait_for(asyncio.to_thread(work), timeout + 2.0)
        except TimeoutError:
            return RevocationCheck(
                "unknown",
                detail=f"revocation check took longer than {timeout:g}s",
                checked_at=dt.datetime.now(dt.UTC),
                position=position,
                sha256=chain[position].fingerprint(hashes.SHA256()).hex() if chain else None,
            )

    return tuple(await asyncio.gather(*(one(position) for position in positions)))
