"""Scan endpoints: classify, enumerate every version, groups, one full handshake for the chain.

    results = await scan_endpoints([Target("127.0.0.1", 8443)], ScanOptions())

Never raises for a peer's behaviour and never hangs: every endpoint ends as an
:class:`EndpointScan`, with `error` set when something went wrong, within its deadline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from agent.tls import reference
from agent.tls.certificates import certificate_info, validate_chain
from agent.tls.classify import classify
from agent.tls.enumerate import (
    LEGACY_HELLO_GROUPS,
    OLD_VERSIONS,
    DHEGroups,
    VersionOutcome,
    decide_order,
    enumerate_groups_dhe,
    enumerate_groups_legacy,
    enumerate_groups_tls13,
    enumerate_old_versions,
    enumerate_version,
    fallback_scsv,
    first_hello,
    tls12_candidate_groups,
)
from agent.tls.handshake import FullHandshake, full_handshake
from agent.tls.model import (
    PROTOCOL_NAMES,
    EndpointScan,
    OCSPStaple,
    ProtocolResult,
    RevocationCheck,
    ScanOptions,
    Target,
    Transport,
)
from agent.tls.probe import Probe
from agent.tls.revocation import check_chain_revocation_async, judge_staple, load_anchors

log = logging.getLogger(__name__)

LEGACY_VERSIONS = ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2")


@dataclasses.dataclass
class _Progress:
    """What is known so far; survives a deadline so partial results are kept."""

    transport: Transport = Transport.ERROR
    versions: dict[str, VersionOutcome] = dataclasses.field(default_factory=dict)
    groups_by_version: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    dhe: DHEGroups | None = None
    #: Per version, why its group list may be incomplete (undecidable by the probes).
    groups_incomplete: dict[str, str] = dataclasses.field(default_factory=dict)
    handshake: FullHandshake | None = None
    fallback: bool | None = None
    revocation: RevocationCheck | None = None
    chain_revocation: tuple[RevocationCheck, ...] = ()
    ocsp_staple: OCSPStaple | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None


async def scan_endpoint(target: Target, options: ScanOptions | None = None) -> EndpointScan:
    """Everything about one endpoint, within `options.endpoint_deadline`."""
    options = options or ScanOptions()
    started_at = dt.datetime.now(dt.UTC)
    clock = time.monotonic()
    probe = Probe(target, options)
    progress = _Progress()
    try:
        async with asyncio.timeout(options.endpoint_deadline):
            await _scan(probe, progress)
    except TimeoutError:
        progress.error = (
            f"endpoint deadline of {options.endpoint_deadline:g}s exceeded; results are partial"
        )
    except Exception as exc:  # noqa: BLE001 - a bug must not lose the other endpoints' results
        log.exception("probing %s:%s failed", target.host, target.port)
        progress.error = f"internal error: {exc.__class__.__name__}: {exc}"
    return _result(target, options, probe, progress, started_at, time.monotonic() - clock)


async def _scan(probe: Probe, progress: _Progress) -> None:
    options = probe.options
    classification = await classify(probe, first_hello(probe))
    progress.transport = classification.transport
    if not classification.transport.is_tls:
        if classification.transport in (Transport.ERROR, Transport.TIMEOUT, Transport.CLOSED):
            progress.error = classification.reason
        elif classification.reason:
            progress.warnings.append(classification.reason)
        return
    wanted = [name for name in PROTOCOL_NAMES if name in options.protocols]

    async def one_version(version: str) -> None:
        first = classification.first_reply if version == "TLSv1.2" else None
        progress.versions[version] = await enumerate_version(
            probe, version, first, defer_order=version == "TLSv1.3"
        )

    async def old_versions() -> None:
        for outcome in await enumerate_old_versions(probe, wanted):
            progress.versions[outcome.version] = outcome

    await asyncio.gather(
        old_versions(), *(one_version(version) for version in wanted if version not in OLD_VERSIONS)
    )
    await asyncio.gather(
        _groups(probe, progress), _chain(probe, progress), _fallback(probe, progress)
    )
    if progress.handshake is not None and progress.handshake.client_cert_required:
        progress.transport = (
            Transport.TLS_CLIENT_CERT_REQUIRED
            if progress.transport == Transport.TLS
            else progress.transport
        )


async def _groups(probe: Probe, progress: _Progress) -> None:
    """TLS 1.3 groups by HelloRetryRequest; TLS <= 1.2 curves by ServerKeyExchange, then the
    RFC 7919 finite-field groups the same way. Nothing is inferred from one version for another;
    the three enumerations run side by side (within the per-endpoint connection limit)."""
    legacy = [
        progress.versions[v]
        for v in reversed(LEGACY_VERSIONS)
        if v in progress.versions and progress.versions[v].accepted
    ]
    # The newest legacy version is enumerated; older ones keep what their suites showed.
    newest = legacy[:1]
    await asyncio.gather(
        _tls13_groups(probe, progress),
        *(_legacy_curves(probe, progress, outcome) for outcome in newest),
        *(_legacy_dhe(probe, progress, outcome) for outcome in newest),
    )
    for outcome in legacy:
        if outcome.groups_seen:
            known = progress.groups_by_version.setdefault(outcome.version, [])
            known += [g for g in outcome.groups_seen if g not in known]
    _note_tls13_curves(progress)


def _note_tls13_curves(progress: _Progress) -> None:
    """Where TLS 1.2 curves could not all be seen, name the TLS 1.3 groups that are TLS 1.2
    curves too: a hint, said to be one (nothing is added to the TLS 1.2 list)."""
    tls13 = progress.groups_by_version.get("TLSv1.3", [])
    curves = set(tls12_candidate_groups())
    for version, reason in list(progress.groups_incomplete.items()):
        found = progress.groups_by_version.get(version, [])
        also = [g for g in tls13 if g in curves and g not in found]
        if also:
            names = ", ".join(reference.group_name(g) for g in also)
            progress.groups_incomplete[version] = (
                f"{reason}; TLS 1.3 also accepts {names} (not confirmed for {version})"
            )


async def _tls13_groups(probe: Probe, progress: _Progress) -> None:
    tls13 = progress.versions.get("TLSv1.3")
    if tls13 is not None and tls13.accepted:
        # Offered reversed, the first group probe is also the TLS 1.3 preference probe.
        undecided = len(tls13.suites) >= 2 and tls13.server_preference is None
        pick: list[int] = []
        offer = list(reversed(tls13.suites)) if undecided else tls13.suites
        found13, error = await enumerate_groups_tls13(probe, offer, pick)
        if undecided:
            await decide_order(probe, tls13, pick[0] if pick else None)
        progress.groups_by_version["TLSv1.3"] = found13
        if error:
            progress.warnings.append(error)


async def _legacy_curves(probe: Probe, progress: _Progress, outcome: VersionOutcome) -> None:
    """ECDHE curves of `outcome.version`: ECDHE-only offers, the curve read from ServerKeyExchange.

    Suites authenticated by RSA (or anything but ECDSA) are offered when there are any, so the
    curve list is free; with ECDSA suites only, the certificate's curve must stay in every
    offer (RFC 8422 5.1) and goes last.
    """
    ecdhe = [s for s in outcome.suites if _is_ecdhe(s)]
    if not ecdhe:
        return
    free = [s for s in ecdhe if _authentication(s) != "ECDSA"]
    anchor = None if free else _certificate_curve(outcome.certificates)
    # Picked from every curve while enumerating suites, the anchor at its place in the offer
    # (not last): a pick of the anchor is asked again with it last, and tells whose order counts.
    seen_first = outcome.groups_seen[0] if outcome.groups_seen else None
    curves = await enumerate_groups_legacy(
        probe,
        outcome.version,
        (free or ecdhe)[:32],
        known_first=seen_first,
        anchor=anchor,
        known_first_offer=LEGACY_HELLO_GROUPS,
    )
    found = curves.found
    # curves first; RFC 7919 groups (enumerated at the same time) may already be there
    known = progress.groups_by_version.get(outcome.version, [])
    progress.groups_by_version[outcome.version] = found + [g for g in known if g not in found]
    if curves.error:
        progress.warnings.append(curves.error)
    if curves.incomplete:
        progress.groups_incomplete[outcome.version] = curves.incomplete


async def _legacy_dhe(probe: Probe, progress: _Progress, outcome: VersionOutcome) -> None:
    """RFC 7919 groups of `outcome.version` (only when a finite-field DHE suite was accepted)."""
    dhe = [s for s in outcome.suites if _is_dhe(s)]
    if not dhe:
        return
    first = outcome.dh_groups[0] if outcome.dh_groups else None
    progress.dhe = await enumerate_groups_dhe(probe, outcome.version, dhe[:32], first)
    if progress.dhe.negotiated:
        known = progress.groups_by_version.setdefault(outcome.version, [])
        known += [g for g in progress.dhe.negotiated if g not in known]


def _authentication(suite_id: int) -> str | None:
    suite = reference.cipher_suite(suite_id)
    return suite.authentication if suite else None


def _is_dhe(suite_id: int) -> bool:
    suite = reference.cipher_suite(suite_id)
    return suite is not None and suite.key_exchange == "DHE" and suite.authentication != "PSK"


def _certificate_curve(certificates: Sequence[bytes]) -> int | None:
    """The named group of the leaf's EC key (the Certificate message read while enumerating)."""
    if not certificates:
        return None
    try:
        key = x509.load_der_x509_certificate(certificates[0]).public_key()
    except ValueError:
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return None
    item = reference.group(key.curve.name)
    return item.id if item else None


def _is_ecdhe(suite_id: int) -> bool:
    suite = reference.cipher_suite(suite_id)
    return suite is not None and suite.key_exchange == "ECDHE" and suite.authentication != "PSK"


async def _chain(probe: Probe, progress: _Progress) -> None:
    if not probe.options.fetch_certificates:
        return
    options = probe.options
    async with probe.limit:
        probe.connections += 1
        progress.handshake = await asyncio.to_thread(
            full_handshake,
            probe.endpoint.host,
            probe.endpoint.port,
            probe.server_name,
            timeout=options.connect_timeout + options.read_timeout,
            starttls=probe.starttls,
        )
    chain = progress.handshake.certificates
    if chain:  # the staple is judged offline; the whole chain is asked when revocation is on
        anchors = load_anchors(options.ca_file)
        progress.ocsp_staple = judge_staple(progress.handshake.ocsp_staple, chain, anchors=anchors)
    if options.check_revocation and chain:
        progress.chain_revocation = await check_chain_revocation_async(
            chain,
            ca_file=options.ca_file,
            timeout=options.revocation_timeout,
            staple=progress.ocsp_staple,
        )
        progress.revocation = progress.chain_revocation[0]


async def _fallback(probe: Probe, progress: _Progress) -> None:
    """TLS_FALLBACK_SCSV matters (and is probed) only when SSL 3.0, TLS 1.0 or 1.1 is accepted."""
    if not any(progress.versions[v].accepted for v in OLD_VERSIONS if v in progress.versions):
        return
    accepted = [
        v
        for v in PROTOCOL_NAMES
        if v in progress.versions and progress.versions[v].accepted and v != "SSLv2"
    ]
    suites = {v: progress.versions[v].suites for v in accepted}
    progress.fallback = await fallback_scsv(probe, accepted, suites)


def _certificates(progress: _Progress) -> tuple[x509.Certificate, ...]:
    if progress.handshake is not None and progress.handshake.certificates:
        return progress.handshake.certificates
    for outcome in progress.versions.values():
        if (
            outcome.certificates
        ):  # a legacy-only server: the Certificate message read while enumerating
            try:
                return tuple(x509.load_der_x509_certificate(der) for der in outcome.certificates)
            except ValueError:
                continue
    return ()


def _result(
    target: Target,
    options: ScanOptions,
    probe: Probe,
    progress: _Progress,
    started_at: dt.datetime,
    duration: float,
) -> EndpointScan:
    protocols = {
        name: ProtocolResult(
            accepted=outcome.accepted,
            suites=outcome.suite_names,
            server_preference=outcome.server_preference if len(outcome.suites) >= 2 else None,
            error=outcome.error,
        )
        for name, outcome in sorted(
            progress.versions.items(), key=lambda item: PROTOCOL_NAMES.index(item[0])
        )
    }
    groups_by_version = {
        version: tuple(reference.group_name(g) for g in ids)
        for version, ids in sorted(
            progress.groups_by_version.items(), key=lambda item: PROTOCOL_NAMES.index(item[0])
        )
    }
    union: list[str] = []
    for names in groups_by_version.values():
        union += [name for name in names if name not in union]
    certs = _certificates(progress)
    server_name = probe.server_name
    chain = validate_chain(certs, server_name, options.ca_file) if certs else None
    handshake = progress.handshake
    negotiated = None
    if handshake is not None and handshake.version and handshake.cipher:
        negotiated = (handshake.version, handshake.cipher, handshake.group)
    warnings = list(progress.warnings)
    if handshake is not None and handshake.error and not handshake.client_cert_required:
        warnings.append(f"full handshake: {handshake.error}")
    warnings += [outcome.error for outcome in progress.versions.values() if outcome.error]
    warnings += [progress.groups_incomplete[v] for v in sorted(progress.groups_incomplete)]
    dh_bits = [bits for outcome in progress.versions.values() for bits in outcome.dh_bits]
    dh_bits += [seen.bits for seen in progress.dhe.seen] if progress.dhe else []
    dhe_groups: list[str] = []
    for seen in [g for outcome in progress.versions.values() for g in outcome.dh_groups] + (
        progress.dhe.seen if progress.dhe else []
    ):
        if seen.name not in dhe_groups:
            dhe_groups.append(seen.name)
    for group_id in progress.dhe.negotiated if progress.dhe else []:
        name = reference.group_name(group_id)
        if name not in dhe_groups:
            dhe_groups.append(name)
    return EndpointScan(
        host=target.host,
        port=target.port,
        transport=progress.transport,
        sni=target.sni,
        protocols=protocols,
        groups=tuple(union),
        groups_by_version=groups_by_version,
        groups_incomplete=dict(sorted(progress.groups_incomplete.items())),
        certificates=tuple(certificate_info(cert) for cert in certs),
        chain=chain,
        dhe_min_bits=min(dh_bits) if dh_bits else None,
        dhe_groups=tuple(dhe_groups),
        dhe_group_negotiation=progress.dhe.negotiation if progress.dhe else None,
        fallback_scsv=progress.fallback,
        client_cert_required=bool(handshake and handshake.client_cert_required),
        negotiated=negotiated,
        error=progress.error,
        warnings=tuple(warnings),
        started_at=started_at,
        duration_s=round(duration, 3),
        connections=probe.connections,
        revocation=progress.revocation,
        chain_revocation=progress.chain_revocation,
        ocsp_staple=progress.ocsp_staple,
    )


async def scan_endpoints(
    targets: Sequence[Target], options: ScanOptions | None = None
) -> list[EndpointScan]:
    """Scan many endpoints, `options.concurrency` at a time; results in the order of `targets`."""
    options = options or ScanOptions()
    limit = asyncio.Semaphore(max(1, options.concurrency))

    async def bounded(target: Target) -> EndpointScan:
        async with limit:
            return await scan_endpoint(target, options)

    return list(await asyncio.gather(*(bounded(target) for target in targets)))


def scan_sync(targets: Sequence[Target], options: ScanOptions | None = None) -> list[EndpointScan]:
    """:func:`scan_endpoints` for callers without an event loop."""
    return asyncio.run(scan_endpoints(targets, options))
