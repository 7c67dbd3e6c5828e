"""Shared fixtures for the prober's real-peer tests: lab PKI, the IANA truth tables, scanning.

The expected results never come from the prober: they come from each server's own
configuration (see ``ExpectedTLS`` in inspector.lab.tls_truth) and the IANA CSVs,
read here directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from agent.tls import scan_endpoints
from agent.tls.model import EndpointScan, ScanOptions, Target
from inspector.lab.tls_catalogue import (
    LabPems,
    PeerSpec,
    build_peer,
    cert_file,
    expected_for,
    make_lab_pems,
    missing_requirement,
)
from inspector.lab.tls_servers import LabServerError, LoopbackServer
from inspector.lab.tls_truth import (
    ExpectedTLS,
    iana_registry_dir,
    read_iana_cipher_suites,
    read_iana_groups,
)

#: Generous: the machine has 2 cores shared by many test processes.
REAL_PEER_OPTIONS = ScanOptions(connect_timeout=10.0, read_timeout=10.0, endpoint_deadline=90.0)


# --------------------------------------------------------------------------- scanning


@dataclasses.dataclass(frozen=True)
class Scanned:
    """A scan result with the wall time measured around it (outside the prober)."""

    result: EndpointScan
    wall_s: float


def scan(
    targets: list[Target], options: ScanOptions = REAL_PEER_OPTIONS
) -> dict[tuple[str, int], Scanned]:
    """Scan `targets` in one ``scan_endpoints`` call; results by (host, port).

    The wall time of each result is the whole call's (an upper bound per endpoint).
    """
    started = time.monotonic()
    results = asyncio.run(scan_endpoints(targets, options))
    wall = time.monotonic() - started
    return {(item.host, item.port): Scanned(item, wall) for item in results}


def scan_server(
    server: LoopbackServer, options: ScanOptions = REAL_PEER_OPTIONS, **target: Any
) -> Scanned:
    return scan([Target(server.host, server.port, **target)], options)[(server.host, server.port)]


# --------------------------------------------------------------------------- truth


@pytest.fixture(scope="session")
def iana_suites() -> dict[int, str]:
    """Suite id → IANA name, read from the registry CSV beside the repository."""
    directory = iana_registry_dir(Path(__file__))
    if directory is None:
        pytest.fail("IANA registry CSVs not found (expected data/iana in the repository)")
    return read_iana_cipher_suites(directory / "tls-parameters-4.csv")


@pytest.fixture(scope="session")
def iana_groups() -> dict[int, str]:
    directory = iana_registry_dir(Path(__file__))
    if directory is None:
        pytest.fail("IANA registry CSVs not found (expected data/iana in the repository)")
    return read_iana_groups(directory / "tls-parameters-8.csv")


def describe_mismatch(name: str, expected: Any, got: Any) -> str:
    missing = [item for item in expected if item not in got]
    extra = [item for item in got if item not in expected]
    return f"{name}: expected {list(expected)}\n    got {list(got)}\n    missing {missing}; extra {extra}"


def protocol_problems(
    result: EndpointScan, expected: ExpectedTLS, iana: dict[int, str]
) -> list[str]:
    """Exactly the expected versions accepted, exactly the expected suites per version, the
    exact order where the server imposes one, and the right server_preference flag."""
    problems = []
    got_accepted = tuple(result.accepted_protocols)
    if got_accepted != expected.accepted_protocols:
        problems.append(
            describe_mismatch("accepted versions", expected.accepted_protocols, got_accepted)
        )
    for version in expected.accepted_protocols:
        want = expected.suite_names(version, iana)
        outcome = result.protocols.get(version)
        got = tuple(outcome.suites) if outcome else ()
        if expected.server_preference:
            if got != want:
                problems.append(describe_mismatch(f"{version} suites (server order)", want, got))
        elif sorted(got) != sorted(want) or len(got) != len(want):
            problems.append(describe_mismatch(f"{version} suites (set)", sorted(want), sorted(got)))
        if (
            outcome is not None
            and len(want) >= 2
            and outcome.server_preference is not expected.server_preference
        ):
            problems.append(
                f"{version} server_preference: expected {expected.server_preference}, got {outcome.server_preference}"
            )
    return problems


def group_problems(result: EndpointScan, expected: ExpectedTLS) -> list[str]:
    if expected.groups is None:
        return []
    got, want = sorted(result.groups), sorted(expected.groups)
    return [] if got == want else [describe_mismatch("groups", want, got)]


def certificate_problems(result: EndpointScan, expected: ExpectedTLS, cert_file: Path) -> list[str]:
    """The chain as served (measured by an independent client), leaf first; the leaf's facts
    compared with the PEM file the server was given."""
    chain = x509.load_pem_x509_certificates(cert_file.read_bytes())
    leaf = chain[0]
    if expected.chain_sha256[:1] != (leaf.fingerprint(hashes.SHA256()).hex(),):
        return ["truth: the independent client did not receive the PEM file's leaf"]
    got = [cert.sha256 for cert in result.certificates]
    if got != list(expected.chain_sha256):
        return [
            describe_mismatch("certificate chain (sha256, leaf first)", expected.chain_sha256, got)
        ]
    info = result.certificates[0]
    key: Any = leaf.public_key()
    problems = []
    if info.key_bits != key.key_size:
        problems.append(f"leaf key bits: expected {key.key_size}, got {info.key_bits}")
    if info.not_after != leaf.not_valid_after_utc:
        problems.append(
            f"leaf not_after: expected {leaf.not_valid_after_utc}, got {info.not_after}"
        )
    if int(info.serial, 16) != leaf.serial_number:
        problems.append(f"leaf serial: expected {leaf.serial_number:x}, got {info.serial}")
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    if info.spki_sha256 and info.spki_sha256 != digest.finalize().hex():
        problems.append("leaf SPKI sha256 differs from the PEM's public key")
    return problems


def assert_no_problems(label: str, result: EndpointScan, problems: list[str]) -> None:
    where = f"{label} at {result.host}:{result.port}"
    assert not problems, (
        where
        + " (transport "
        + str(result.transport)
        + ", error "
        + repr(result.error)
        + "):\n  "
        + "\n  ".join(problems)
    )


# --------------------------------------------------------------------------- PKI


@pytest.fixture(scope="session")
def lab_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPems:
    """Throw-away certificates for one test session (one per xdist worker)."""
    return make_lab_pems(tmp_path_factory.mktemp("lab-pki"))


@contextlib.contextmanager
def started(server: LoopbackServer) -> Iterator[LoopbackServer]:
    """Start `server` for a fixture, turning a start failure into a clear error, and stop it after."""
    try:
        server.start()
    except LabServerError as exc:
        pytest.fail(f"{type(server).__name__} did not start: {exc}")
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- catalogue peers


@dataclasses.dataclass(frozen=True)
class ScannedPeer:
    """One catalogue peer, running, with its truth and one scan of it."""

    spec: PeerSpec
    server: LoopbackServer
    expected: ExpectedTLS
    scanned: Scanned
    cert_file: Path

    @property
    def result(self) -> EndpointScan:
        return self.scanned.result


@contextlib.contextmanager
def scanned_peer(spec: PeerSpec, pems: LabPems, **target: Any) -> Iterator[ScannedPeer]:
    """Start the catalogue peer `spec`, derive its truth, scan it once; stop it after."""
    reason = missing_requirement(spec)
    if reason:
        pytest.skip(reason)
    with started(build_peer(spec, pems)) as server:
        expected = expected_for(server, pems)
        yield ScannedPeer(
            spec, server, expected, scan_server(server, **target), cert_file(spec, pems)
        )


def check_versions_suites_and_order(peer: ScannedPeer, iana: dict[int, str]) -> None:
    assert_no_problems(
        peer.spec.name, peer.result, protocol_problems(peer.result, peer.expected, iana)
    )


def check_groups_certificates_and_transport(peer: ScannedPeer) -> None:
    result = peer.result
    problems = group_problems(result, peer.expected)
    problems += certificate_problems(result, peer.expected, peer.cert_file)
    if str(result.transport) != peer.expected.transport:
        problems.append(f"transport: expected {peer.expected.transport}, got {result.transport}")
    if result.error:
        problems.append(f"error: expected none, got {result.error!r}")
    assert_no_problems(peer.spec.name, result, problems)
