"""`cryptoscope scan` as a user runs it: a subprocess against an `openssl s_server` on loopback."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from agent.tls.targets import TargetError, parse_target
from inspector.cli import main
from inspector.lab import pki

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(
    OPENSSL is None, reason="needs the openssl CLI (Debian package openssl)"
)

TLS12_CIPHERS = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256"
TLS13_SUITES = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"


def _cryptoscope(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`cryptoscope scan … --no-db`: these tests check the scan, not the recording of runs."""
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args, "--no-db"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> pki.PemFiles:
    root = pki.make_ca("scan cli root")
    leaf = pki.make_leaf(root, common_name="localhost", dns_names=("localhost",))
    return pki.write_pem_files(tmp_path_factory.mktemp("scan-cli"), "server", leaf, (), root)


@pytest.fixture(scope="module")
def s_server(lab: pki.PemFiles) -> Iterator[int]:
    """openssl s_server: TLS 1.2 + 1.3, server preference, a known suite list."""
    assert OPENSSL is not None
    process = subprocess.Popen(
        [OPENSSL, "s_server", "-accept", "127.0.0.1:0", "-www", "-cert", str(lab.cert), "-key", str(lab.key),
         "-cipher", TLS12_CIPHERS, "-ciphersuites", TLS13_SUITES, "-serverpref",
         "-min_protocol", "TLSv1.2", "-groups", "X25519:P-256"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        port = None
        for _ in range(50):
            line = process.stdout.readline()
            match = re.match(r"ACCEPT .*:(\d+)$", line.strip())
            if match:
                port = int(match.group(1))
                break
        assert port, "openssl s_server did not report its port"
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _expected(version_flag: str, cipher_args: list[str]) -> list[str]:
    """The server's own suites, from `openssl ciphers -s` with the same strings (IANA names via -stdname)."""
    assert OPENSSL is not None
    out = subprocess.run(
        [OPENSSL, "ciphers", "-s", "-stdname", version_flag, *cipher_args],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    return [line.split(" - ")[0].strip() for line in out.splitlines() if line.strip()]


@needs_openssl
def test_scan_json_against_s_server(s_server: int, lab: pki.PemFiles) -> None:
    # Given an s_server with a known configuration
    closed = _closed_port()
    # When the user scans it (and a closed port) as JSON, validating with the lab CA
    completed = _cryptoscope(
        "scan", f"127.0.0.1:{s_server}", f"127.0.0.1:{closed}", "--sni", "localhost",
        "--ca-file", str(lab.ca), "--json", "--timeout", "10",
    )  # fmt: skip
    # Then it exits 0 and prints one JSON document with both endpoints, in order
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    first, second = document["endpoints"]
    assert (first["host"], first["port"], first["transport"], first["error"]) == (
        "127.0.0.1",
        s_server,
        "tls",
        None,
    )
    assert set(first["protocols"]) == {"SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"}
    accepted = [name for name, outcome in first["protocols"].items() if outcome["accepted"]]
    assert accepted == ["TLSv1.2", "TLSv1.3"]
    tls12 = first["protocols"]["TLSv1.2"]
    # the exact set and order the server imposes (its cipher string's order; -s drops TLS 1.3 suites)
    want12 = [
        name
        for name in _expected("-tls1_2", [TLS12_CIPHERS])
        if not name.startswith("TLS_AES") and not name.startswith("TLS_CHACHA")
    ]
    assert tls12["suites"] == want12 and tls12["server_preference"] is True
    tls13 = first["protocols"]["TLSv1.3"]
    assert tls13["suites"] == TLS13_SUITES.split(":") and tls13["server_preference"] is True
    for name in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"):
        assert first["protocols"][name] == {
            "accepted": False,
            "suites": [],
            "server_preference": None,
            "error": None,
        }
    assert sorted(first["groups"]) == ["secp256r1", "x25519"]
    (leaf,) = first["certificates"]
    served = x509.load_pem_x509_certificate(lab.cert.read_bytes())
    assert leaf["sha256"] == served.fingerprint(hashes.SHA256()).hex()
    assert (leaf["subject"], leaf["key_type"], leaf["key_bits"]) == (
        "CN=localhost,O=cryptoscope lab",
        "EC",
        256,
    )
    assert leaf["signature_algorithm"] == "ecdsa-with-SHA256" and leaf["not_after"].startswith("20")
    assert first["chain"]["trusted"] is True and first["chain"]["hostname_match"] is True
    assert first["connections"] >= 1
    assert (second["port"], second["transport"]) == (closed, "closed")
    assert second["error"] and second["protocols"] == {} and second["certificates"] == []


@needs_openssl
def test_scan_report_for_humans(s_server: int) -> None:
    completed = _cryptoscope(
        "scan", f"localhost:{s_server}", "--timeout", "10", "--concurrency", "1"
    )
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert f"localhost:{s_server}  tls  " in out
    assert re.search(r"TLSv1\.2 +accepted, 3 suites — server order", out)
    assert re.search(r"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA +acceptable", out)
    assert re.search(r"TLS_CHACHA20_POLY1305_SHA256 +strong", out)
    assert re.search(r"SSLv3 +not accepted", out)
    assert "certificates (as presented, leaf first)" in out
    assert "chain: trusted no (system)" in out  # a lab CA is in no system store


def test_unparseable_target_exits_2_from_the_shell() -> None:
    completed = _cryptoscope("scan", "127.0.0.1:443", "nonsense", timeout=60)
    assert completed.returncode == 2, (completed.stdout, completed.stderr)
    assert "cannot parse target 'nonsense'" in completed.stderr and completed.stdout == ""


@pytest.mark.parametrize(
    "bad", ["host:0", "host:99999", "::1:443", "[::1]443", "[zz]:443", "bad host:443", "h:"]
)
def test_unparseable_targets_exit_2(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", bad]) == 2
    captured = capsys.readouterr()
    assert "cannot parse target" in captured.err and captured.out == ""


def test_bad_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args, message in (
        (("--timeout", "0"), "--timeout must be > 0"),
        (("--concurrency", "0"), "--concurrency must be at least 1"),
        (("--ca-file", str(tmp_path / "none.pem")), "no such file"),
    ):
        assert main(["scan", "127.0.0.1:1", *args]) == 2
        captured = capsys.readouterr()
        assert message in captured.err and captured.out == ""


def test_unreachable_ipv6_still_prints_and_exits_0() -> None:
    completed = _cryptoscope("scan", f"[::1]:{_closed_port()}", "--json", "--timeout", "5")
    assert completed.returncode == 0, completed.stderr
    (endpoint,) = json.loads(completed.stdout)["endpoints"]
    assert endpoint["host"] == "::1" and endpoint["transport"] in ("closed", "error")
    assert endpoint["error"]


def test_parse_target() -> None:
    assert parse_target("example.internal:443") == parse_target("example.internal:443", None)
    target = parse_target("[::1]:8443/api.internal")
    assert (target.host, target.port, target.sni) == ("::1", 8443, "api.internal")
    assert parse_target("10.0.0.1:5432", "db.internal").sni == "db.internal"
    with pytest.raises(TargetError, match="brackets"):
        parse_target("::1:443")
    with pytest.raises(TargetError, match="port"):
        parse_target("h:0")
