"""Enumeration: accepted suites per version, the server's order, and key-exchange groups.

Offer a list, record the server's choice, remove it, repeat: one connection per accepted suite
plus one rejection per chunk. Lists are chunked so every ClientHello stays small.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from agent.tls import dh_groups, reference
from agent.tls.client_hello import DEFAULT_GROUPS, HelloSpec
from agent.tls.connection import HelloReply, ReplyKind
from agent.tls.probe import Probe
from agent.tls.wire import SSL2_CIPHERS, VERSION_NAMES, VERSIONS

#: Largest number of suites in one ClientHello, and the size we aim the whole record below.
MAX_SUITES_PER_HELLO = 150
HELLO_BYTE_BUDGET = 512
#: Rough size of everything in a TLS <= 1.2 ClientHello record except the suites list.
_HELLO_OVERHEAD = 200

ALERT_PROTOCOL_VERSION = 70
ALERT_INAPPROPRIATE_FALLBACK = 86


@dataclasses.dataclass
class VersionOutcome:
    version: str
    accepted: bool = False
    suites: list[int] = dataclasses.field(default_factory=list)
    server_preference: bool | None = None
    error: str | None = None
    #: Groups the server picked in ServerKeyExchange messages (TLS <= 1.2) while enumerating.
    groups_seen: list[int] = dataclasses.field(default_factory=list)
    dh_bits: list[int] = dataclasses.field(default_factory=list)
    #: Finite-field groups seen in DHE ServerKeyExchange messages (named or custom), first seen first.
    dh_groups: list[dh_groups.DHGroup] = dataclasses.field(default_factory=list)
    certificates: tuple[bytes, ...] = ()
    certificate_request: bool = False
    #: Chunks that contributed accepted suites (more than one: order needs a merge).
    chunks_with_hits: set[int] = dataclasses.field(default_factory=set)
    #: Position of each accepted suite in our offer order, in the order the server chose them.
    offer_positions: list[int] = dataclasses.field(default_factory=list)

    @property
    def proven_server_order(self) -> bool:
        """A client-order server always picks the first suite it supports among those offered, so
        its picks rise through our offer order; any pick that falls back proves a server order."""
        positions = self.offer_positions
        return any(
            later < earlier for earlier, later in zip(positions, positions[1:], strict=False)
        )

    @property
    def suite_names(self) -> tuple[str, ...]:
        if self.version == "SSLv2":
            return tuple(SSL2_CIPHERS.get(kind, f"SSL_CK_0x{kind:06X}") for kind in self.suites)
        return tuple(reference.suite_name(suite) for suite in self.suites)


def _offer_rank(suite: reference.CipherSuite) -> int:
    """Commonly deployed suites first, so a server's suites usually share the first chunk."""
    if suite.openssl_name_source != "openssl":
        return 2  # beyond what current OpenSSL builds (and most servers) know
    if suite.authentication in ("PSK", "SRP"):
        return 1
    return 0


def candidate_suites(version: str) -> list[int]:
    """Suites to offer for `version`: mainstream ones first, then PSK/SRP, then the rest."""
    suites = reference.suites_for_version(version)
    return [suite.id for suite in sorted(suites, key=_offer_rank)]


def chunked(items: Sequence[int], limit: int = MAX_SUITES_PER_HELLO) -> list[list[int]]:
    """Split into the fewest chunks under the limit, balanced in size."""
    if not items:
        return []
    limit = max(1, min(limit, (HELLO_BYTE_BUDGET - _HELLO_OVERHEAD) // 2))
    count = -(-len(items) // limit)
    size = -(-len(items) // count)
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _spec(probe: Probe, version: str, suites: Sequence[int], **extra: object) -> HelloSpec:
    if version == "TLSv1.3":
        extra.setdefault("key_share_groups", (29,))
    else:  # every curve, so that a server with an unusual one still accepts its ECDHE suites
        extra.setdefault("groups", LEGACY_HELLO_GROUPS)
    return HelloSpec(version, tuple(suites), probe.server_name, **extra)  # type: ignore[arg-type]


def first_hello(probe: Probe) -> HelloSpec:
    """The first probe of an endpoint: TLS 1.2, first chunk (also classifies the port)."""
    return _spec(probe, "TLSv1.2", chunked(candidate_suites("TLSv1.2"))[0])


def _chosen(reply: HelloReply, version: str) -> tuple[str, int | None]:
    """("accept", suite) | ("wrong-version", None) | ("version", None) | ("rejected", None) | ("error", None)."""
    if (
        reply.kind in (ReplyKind.SERVER_HELLO, ReplyKind.HELLO_RETRY)
        and reply.server_hello is not None
    ):
        if reply.server_hello.version != VERSIONS[version]:
            return "wrong-version", None
        return "accept", reply.server_hello.cipher_suite
    if reply.kind == ReplyKind.ALERT:
        if reply.alert is not None and reply.alert.description == ALERT_PROTOCOL_VERSION:
            return "version", None
        return "rejected", None
    if reply.kind == ReplyKind.CLOSED:
        return "rejected", None
    return "error", None


def _describe(reply: HelloReply) -> str:
    if reply.alert is not None:
        return f"alert {reply.alert.name}"
    return reply.reason or reply.kind.value


async def enumerate_version(
    probe: Probe, version: str, first_reply: HelloReply | None = None, *, defer_order: bool = False
) -> VersionOutcome:
    """Accepted suites of `version` and whether the server imposes its order.

    With `defer_order`, an order that needs a probe is left to the caller (see :func:`decide_order`).
    """
    outcome = VersionOutcome(version)
    if version == "SSLv2":
        return await _enumerate_ssl2(probe, outcome)
    candidates = candidate_suites(version)
    position = {suite: index for index, suite in enumerate(candidates)}
    chunks = chunked(candidates)
    pending_first = first_reply
    for index, chunk in enumerate(chunks):
        remaining = list(chunk)
        while remaining:
            if pending_first is not None and index == 0 and remaining == chunk:
                reply, pending_first = pending_first, None
            else:
                reply = await probe.hello(
                    _spec(probe, version, remaining), read_key_exchange=version != "TLSv1.3"
                )
            verdict, suite = _chosen(reply, version)
            if verdict == "accept":
                if suite not in remaining:
                    outcome.error = f"server chose suite 0x{suite or 0:04X} that was not offered"
                    return _finish(outcome)
                remaining.remove(suite)
                outcome.suites.append(suite)
                outcome.chunks_with_hits.add(index)
                outcome.offer_positions.append(position[suite])
                _note_flight(outcome, reply)
                continue
            if verdict in ("version", "wrong-version"):
                return _finish(outcome)  # the server does not speak this version
            if verdict == "error":
                outcome.error = f"{version}: {_describe(reply)}"
                return _finish(outcome)
            break  # rejected: nothing left in this chunk
    outcome = _finish(outcome)
    if len(outcome.suites) >= 2 and not (defer_order and not outcome.proven_server_order):
        await _order(probe, outcome)
    return outcome


def _finish(outcome: VersionOutcome) -> VersionOutcome:
    outcome.accepted = bool(outcome.suites)
    return outcome


def _note_flight(outcome: VersionOutcome, reply: HelloReply) -> None:
    params = reply.key_exchange
    if (
        params is not None
        and params.named_group is not None
        and params.named_group not in outcome.groups_seen
    ):
        outcome.groups_seen.append(params.named_group)
    if params is not None and params.dh_bits:
        outcome.dh_bits.append(params.dh_bits)
    if params is not None and params.dh_prime:
        seen = dh_groups.identify(params.dh_prime)
        if seen not in outcome.dh_groups:
            outcome.dh_groups.append(seen)
    if reply.certificates and not outcome.certificates:
        outcome.certificates = reply.certificates
    outcome.certificate_request = outcome.certificate_request or reply.certificate_request


async def _order(probe: Probe, outcome: VersionOutcome) -> None:
    """Re-offer the accepted suites reversed: the server's pick tells whose order counts."""
    if outcome.proven_server_order:
        outcome.server_preference = True
        if len(outcome.chunks_with_hits) > 1:
            await _rank(probe, outcome, [])
        return
    reply = await probe.hello(_spec(probe, outcome.version, list(reversed(outcome.suites))))
    verdict, suite = _chosen(reply, outcome.version)
    await decide_order(probe, outcome, suite if verdict == "accept" else None)


async def decide_order(probe: Probe, outcome: VersionOutcome, suite: int | None) -> None:
    """Given the server's pick from the accepted suites offered in reverse, set the order."""
    reversed_offer = list(reversed(outcome.suites))
    if suite is None or suite not in outcome.suites:
        outcome.server_preference = None
        return
    if suite == reversed_offer[0]:
        outcome.server_preference = False  # follows the client's order
        return
    outcome.server_preference = True
    if len(outcome.chunks_with_hits) > 1:
        await _rank(probe, outcome, [suite])


async def _rank(probe: Probe, outcome: VersionOutcome, ranked: list[int]) -> None:
    """Choices were made chunk by chunk: rank all accepted suites together (offer, pick, remove)."""
    remaining = [s for s in outcome.suites if s not in ranked]
    while len(remaining) > 1:
        reply = await probe.hello(_spec(probe, outcome.version, remaining))
        verdict, choice = _chosen(reply, outcome.version)
        if verdict != "accept" or choice not in remaining:
            break
        ranked.append(choice)
        remaining.remove(choice)
    outcome.suites = ranked + remaining


OLD_VERSIONS = ("TLSv1.1", "TLSv1.0", "SSLv3")


async def enumerate_old_versions(probe: Probe, wanted: Sequence[str]) -> list[VersionOutcome]:
    """TLS 1.1, 1.0 and SSL 3.0 with one probe when the server speaks none of them.

    The first probe is a TLS 1.1 hello that also lists 1.0 and 3.0 in supported_versions:
    a server answers with the highest of them it speaks (or refuses all), and a server that
    ignores the extension negotiates down from 1.1 itself. Versions above the answer are not
    spoken; the answer's version and those below are enumerated one by one.
    """
    versions = [v for v in OLD_VERSIONS if v in wanted]
    if not versions:
        return []
    top = versions[0]
    chunk = chunked(candidate_suites(top))[0]
    spec = _spec(probe, top, chunk, supported_versions=tuple(versions))
    reply = await probe.hello(spec, read_key_exchange=True)
    outcomes: list[VersionOutcome] = []
    spoken = None
    if reply.kind == ReplyKind.SERVER_HELLO and reply.server_hello is not None:
        spoken = VERSION_NAMES.get(reply.server_hello.version)
    elif reply.kind in (ReplyKind.ALERT, ReplyKind.CLOSED):
        return [VersionOutcome(v) for v in versions]  # none of them
    for version in versions:
        if spoken in versions and versions.index(version) < versions.index(spoken):
            outcomes.append(VersionOutcome(version))  # above what the server answered with
        elif version == spoken and chunked(candidate_suites(version))[0] == chunk:
            outcomes.append(await enumerate_version(probe, version, reply))
        else:
            outcomes.append(await enumerate_version(probe, version))
    return outcomes


async def _enumerate_ssl2(probe: Probe, outcome: VersionOutcome) -> VersionOutcome:
    reply = await probe.ssl2_hello()
    if reply.kind == ReplyKind.SERVER_HELLO and reply.ssl2 is not None and reply.ssl2.cipher_kinds:
        outcome.suites = list(reply.ssl2.cipher_kinds)
        outcome.accepted = True
    elif reply.kind in (ReplyKind.TIMEOUT, ReplyKind.ERROR):
        outcome.error = f"SSLv2: {reply.reason}"
    return outcome


# --- groups ----------------------------------------------------------------------------------------


def tls13_candidate_groups() -> list[int]:
    return [g.id for g in reference.named_groups() if g.kind != "explicit"]


def tls12_candidate_groups() -> list[int]:
    """Groups that name an elliptic curve for TLS <= 1.2 ECDHE (RFC 8422)."""
    return [
        g.id
        for g in reference.named_groups()
        if g.kind in ("ecdhe", "gost", "sm2") and not g.name.endswith("tls13")
    ]


#: Key shares sent, tier by tier, to a server that refuses an empty key_share: the widely
#: deployed groups first (about 2.8 kB of shares), then the rarer TLS 1.3 groups, then FFDHE.
#: Groups outside the tiers (legacy curves, GOST, drafts) are listed but never shared.
SHARE_TIERS: tuple[tuple[int, ...], ...] = (
    (29, 23, 4588, 24, 30, 25, 4587),
    (4589, 4590, 513, 514, 31, 32, 33, 41),
    (256, 257, 258, 259, 260),
)


async def enumerate_groups_tls13(
    probe: Probe, suites: Sequence[int], first_pick: list[int] | None = None
) -> tuple[list[int], str | None]:
    """Offer every group with no key share: the HelloRetryRequest names the server's pick; remove, repeat.

    The suite the server picks in the first answer is appended to `first_pick` (when given), so
    offering the accepted suites reversed doubles as the preference probe.

    A server that refuses an empty key_share (no HelloRetryRequest) is asked again with key
    shares for one tier of groups (:data:`SHARE_TIERS`): it picks one of them (its preference
    among those it supports), which is removed in turn; when it refuses a tier, the next tier
    is tried. The cost is one connection per group plus one per tier.
    """
    remaining = tls13_candidate_groups()
    found: list[int] = []
    tier: int | None = None  # None: empty key_share (the normal case)
    while remaining:
        shares: tuple[int, ...] = ()
        if tier is not None:
            while tier < len(SHARE_TIERS) and not (
                shares := tuple(g for g in SHARE_TIERS[tier] if g in remaining)
            ):
                tier += 1
            if not shares:
                return found, None
        spec = HelloSpec(
            "TLSv1.3",
            tuple(suites),
            probe.server_name,
            groups=tuple(remaining),
            key_share_groups=shares,
        )
        reply = await probe.hello(spec)
        group = reply.server_hello.key_share_group if reply.server_hello is not None else None
        if first_pick is not None and not first_pick and reply.server_hello is not None:
            first_pick.append(reply.server_hello.cipher_suite)
        if reply.kind in (ReplyKind.SERVER_HELLO, ReplyKind.HELLO_RETRY) and group in remaining:
            found.append(group)
            remaining.remove(group)
            continue
        if reply.kind in (ReplyKind.ALERT, ReplyKind.CLOSED):
            if tier is None and found:
                return found, None  # HelloRetryRequests named every group there is
            tier = 0 if tier is None else tier + 1  # refuses an empty key_share / this tier
            continue
        return found, f"TLSv1.3 groups: {_describe(reply)}"
    return found, None


@dataclasses.dataclass
class LegacyCurves:
    """TLS <= 1.2 ECDHE curves found, in the server's order where it imposes one."""

    found: list[int] = dataclasses.field(default_factory=list)
    error: str | None = None
    #: Why curves beyond `found` cannot be seen (a case the probes cannot decide); None when
    #: the list is complete.
    incomplete: str | None = None


async def enumerate_groups_legacy(
    probe: Probe,
    version: str,
    ecdhe_suites: Sequence[int],
    candidates: Sequence[int] | None = None,
    known_first: int | None = None,
    anchor: int | None = None,
    known_first_offer: Sequence[int] = (),
) -> LegacyCurves:
    """Offer the accepted ECDHE suites with the remaining curves; the ServerKeyExchange names the pick.

    `known_first` is the curve the server already picked from `known_first_offer` (every
    candidate, seen while enumerating suites): it saves the first probe. `anchor` is a curve
    that must stay in every offer (an ECDSA certificate's curve, RFC 8422 5.1): it goes last.
    A server that follows the client's order picks it only when no other curve offered is
    supported: the list is complete. A server that imposes its order picks it whenever it ranks
    it above the curves left, and those can then never be seen: :func:`_anchor_verdict` tells
    the two apart where it can, and the result says which (`incomplete`).
    """
    remaining = list(tls12_candidate_groups() if candidates is None else candidates)
    result = LegacyCurves()
    if known_first is not None and known_first in remaining and known_first != anchor:
        result.found.append(known_first)
        remaining.remove(known_first)
    while remaining:
        offer = [g for g in remaining if g != anchor] + ([anchor] if anchor in remaining else [])
        spec = HelloSpec(version, tuple(ecdhe_suites), probe.server_name, groups=tuple(offer))
        reply = await probe.hello(spec, read_key_exchange=True)
        params = reply.key_exchange
        if (
            reply.kind == ReplyKind.SERVER_HELLO
            and params is not None
            and params.named_group in offer
        ):
            pick = params.named_group
            result.found.append(pick)
            remaining.remove(pick)
            if pick == anchor:
                if len(offer) > 1:  # picked over the curves left: every later offer needs it too
                    first = (known_first, known_first_offer) if known_first is not None else None
                    result.incomplete = await _anchor_verdict(
                        probe, version, ecdhe_suites, result.found, anchor, first
                    )
                return result
            continue
        if reply.kind in (ReplyKind.ALERT, ReplyKind.CLOSED, ReplyKind.SERVER_HELLO):
            # refused (nothing left it supports), or picked a curve we did not offer / sent no
            # ServerKeyExchange: stop here
            return result
        result.error = f"{version} groups: {_describe(reply)}"
        return result
    return result


async def _anchor_verdict(
    probe: Probe,
    version: str,
    ecdhe_suites: Sequence[int],
    found: list[int],
    anchor: int,
    first: tuple[int, Sequence[int]] | None = None,
) -> str | None:
    """The server picked the certificate's curve (offered last) over every curve left.

    Following the client's order, it would have picked any other curve it supports: the list is
    complete (None). Imposing its own order, it ranks the certificate's curve above whatever is
    left, which TLS 1.2 cannot see past (returns why).

    `first` is the server's pick from an offer of every curve in some order (the suite probes):
    a server imposing its order picks its favourite there, which ranks above the certificate's
    curve once another curve was found; so picking the certificate's curve proves the client's
    order, and picking a curve listed after the certificate's proves the server's. Otherwise one
    probe decides: offer the certificate's curve first and another curve found second.
    """
    name = reference.group_name(anchor)
    others = [g for g in found if g != anchor]
    if not others:
        return (
            f"{version} curves: the server picks its certificate's curve {name} over every other "
            "curve offered; it supports no other, or ranks all others below it (an ECDSA-only "
            "server imposing its order): undecidable in TLS 1.2, where that curve must be offered"
        )
    hidden = (
        f"{version} curves ranked below {name}, the certificate's curve, cannot be seen: the "
        "ECDSA-only server imposes its curve order and that curve must be in every offer"
    )
    if first is not None and anchor in first[1] and first[0] in first[1]:
        first_pick, offer = first
        if first_pick == anchor:
            return None  # follows the client's order: nothing else was left
        if first_pick in others and offer.index(anchor) < offer.index(first_pick):
            return hidden
    spec = HelloSpec(version, tuple(ecdhe_suites), probe.server_name, groups=(anchor, others[0]))
    reply = await probe.hello(spec, read_key_exchange=True)
    params = reply.key_exchange
    probed = params.named_group if reply.kind == ReplyKind.SERVER_HELLO and params else None
    if probed == anchor:
        return None  # follows the client's order: nothing else was left
    if probed == others[0]:
        return hidden
    return (
        f"{version} curves ranked below {name}, the certificate's curve, may be hidden: an "
        "ECDSA-only server imposing its curve order would hide them (the order probe got no answer)"
    )


@dataclasses.dataclass
class DHEGroups:
    """TLS <= 1.2 finite-field groups: those negotiated by RFC 7919, and the groups seen at all."""

    #: RFC 7919 groups the server selects from the client's supported_groups, server's pick first.
    negotiated: list[int] = dataclasses.field(default_factory=list)
    #: Every group seen in a ServerKeyExchange (named or custom), first seen first.
    seen: list[dh_groups.DHGroup] = dataclasses.field(default_factory=list)
    #: True: the server negotiates RFC 7919 groups; False: it uses its own parameters whatever
    #: the client offers; None: not known (no DHE suite, or no answer).
    negotiation: bool | None = None


async def enumerate_groups_dhe(
    probe: Probe,
    version: str,
    dhe_suites: Sequence[int],
    known_first: dh_groups.DHGroup | None = None,
) -> DHEGroups:
    """RFC 7919: offer the accepted DHE suites with the remaining ffdhe groups; the prime names the pick.

    A server that negotiates (RFC 7919 4) picks one of the groups offered or refuses the DHE
    suites; a server that does not negotiates nothing and sends its own prime again, whatever
    is offered, which is where the enumeration stops (one probe past the first pick).
    `known_first` is the group seen while enumerating suites (every ffdhe group was offered).
    """
    result = DHEGroups()
    remaining = list(dh_groups.rfc7919_group_ids())
    pick = known_first
    while True:
        if pick is None:
            if not remaining:
                break
            spec = HelloSpec(version, tuple(dhe_suites), probe.server_name, groups=tuple(remaining))
            reply = await probe.hello(spec, read_key_exchange=True)
            params = reply.key_exchange
            if reply.kind != ReplyKind.SERVER_HELLO or params is None or not params.dh_prime:
                if result.negotiated and reply.kind in (ReplyKind.ALERT, ReplyKind.CLOSED):
                    result.negotiation = True  # refused once none of its groups was left
                break
            pick = dh_groups.identify(params.dh_prime)
        if pick not in result.seen:
            result.seen.append(pick)
        if pick.group_id is None or pick.group_id not in remaining:
            # A custom prime, or a named group that was not offered: the server's own parameters.
            result.negotiation = False
            result.negotiated = []
            break
        result.negotiated.append(pick.group_id)
        remaining.remove(pick.group_id)
        pick = None
    if result.negotiated and not remaining:
        result.negotiation = True
    return result


async def fallback_scsv(
    probe: Probe, accepted_versions: Sequence[str], suites_by_version: dict[str, list[int]]
) -> bool | None:
    """Offer a lower accepted version with TLS_FALLBACK_SCSV: inappropriate_fallback means honoured."""
    legacy = [v for v in accepted_versions if v in ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2")]
    if len(accepted_versions) < 2 or not legacy or legacy[0] == accepted_versions[-1]:
        return None
    version = legacy[0]
    spec = HelloSpec(
        version, tuple(suites_by_version[version][:32]), probe.server_name, fallback_scsv=True
    )
    reply = await probe.hello(spec)
    if reply.kind == ReplyKind.ALERT and reply.alert is not None:
        return reply.alert.description == ALERT_INAPPROPRIATE_FALLBACK
    if reply.kind == ReplyKind.SERVER_HELLO:
        return False
    return None


DEFAULT_TLS13_GROUPS = DEFAULT_GROUPS
#: supported_groups of TLS <= 1.2 suite probes: every ECDHE curve, then the RFC 7919 FFDHE groups.
LEGACY_HELLO_GROUPS = tuple(tls12_candidate_groups()) + (256, 257, 258, 259, 260)
