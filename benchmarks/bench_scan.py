#!/usr/bin/env python3
"""Scan benchmark: cryptoscope against sslyze, testssl.sh and sslscan on the same loopback peers.

Starts every peer of the lab catalogue (inspector.lab.tls_catalogue) on 127.0.0.1, each
behind a counting TCP proxy, plus a port that accepts and never answers. Then each tool
scans the batch in one process (testssl.sh: one process per endpoint, its only mode),
and the script prints per tool:

- wall time for the batch, and for the never-answering port on its own;
- TCP connections the tool opened, counted at the proxies (outside the tools);
- agreement with each server's truth (from its own configuration, inspector.lab.tls_truth):
  exact suite set per version, exact order where the server imposes one and the tool
  reports one, exact group set;
- ratios against cryptoscope.

It is a script, not a test: it asserts nothing and prints figures.

    python benchmarks/bench_scan.py                      # every tool found
    python benchmarks/bench_scan.py --tools cryptoscope,sslyze --peers tls1.2-1.3-serverpref
    SSLYZE_PYTHON=/path/to/venv/bin/python python benchmarks/bench_scan.py

sslyze conflicts with our `cryptography` pin: install it in its own virtualenv
(default .bench-venv, or $SSLYZE_PYTHON). testssl.sh and sslscan come from
Debian (packages testssl.sh, sslscan). A tool that is absent is skipped with a message.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inspector.lab.tls_catalogue import (  # noqa: E402 - after the path set-up above
    PEERS,
    LabPems,
    PeerSpec,
    build_peer,
    expected_for,
    make_lab_pems,
    missing_requirement,
)
from inspector.lab.tls_servers import (  # noqa: E402
    CountingProxy,
    LabServerError,
    LoopbackServer,
    SilentServer,
)
from inspector.lab.tls_truth import (  # noqa: E402
    ExpectedTLS,
    iana_group_name,
    iana_registry_dir,
    read_iana_cipher_suites,
    read_iana_groups,
)

PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
DEFAULT_SSLYZE_PYTHON = str(Path(__file__).resolve().parents[1] / ".bench-venv" / "bin" / "python")
TOOLS = ("cryptoscope", "cryptoscope-api", "sslyze", "testssl", "sslscan")


# --------------------------------------------------------------------------- what a tool found


@dataclasses.dataclass
class Found:
    """One tool's view of one endpoint, normalised to IANA names."""

    suites: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # accepted versions only
    #: True when the tool's suite lists are in the server's preference order.
    ordered: bool = False
    groups: set[str] | None = None  # None: the tool does not report groups
    error: str | None = None


@dataclasses.dataclass
class ToolRun:
    tool: str
    wall_s: float = 0.0
    found: dict[str, Found] = dataclasses.field(default_factory=dict)  # by peer name
    connections: dict[str, int] = dataclasses.field(default_factory=dict)  # by peer name
    silent_wall_s: float | None = None
    silent_connections: int | None = None
    note: str = ""
    skipped: str | None = None


@dataclasses.dataclass(frozen=True)
class Peer:
    spec: PeerSpec
    server: LoopbackServer
    proxy: CountingProxy
    expected: ExpectedTLS

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.proxy.port}"

    @property
    def postgres(self) -> bool:
        return self.expected.transport == "starttls-postgres"

    def floor(self) -> int:
        """Fewest connections that can establish the truth: one per accepted suite, one per
        version (the refusal that ends its enumeration), one per group, one chain handshake."""
        suites = sum(len(ids) for ids in self.expected.suites.values())
        return suites + len(self.expected.suites) + len(self.expected.groups or ()) + 1


# --------------------------------------------------------------------------- tools


def run(
    argv: Sequence[str], timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=env)


#: The prober through its public API, as `cryptoscope scan --json` calls it (used when the CLI
#: cannot start, e.g. while another subcommand is half-written in a shared tree).
_API_SCAN = """
import json, sys
from agent.tls import ScanOptions, Target, scan_sync, to_json
timeout = float(sys.argv[1])
targets = [Target(*item.rsplit(":", 1)[0:1], int(item.rsplit(":", 1)[1])) for item in sys.argv[2:]]
options = ScanOptions(connect_timeout=timeout, read_timeout=timeout,
                      endpoint_deadline=max(60.0, 20 * timeout), concurrency=16)
print(json.dumps({"endpoints": [to_json(result) for result in scan_sync(targets, options)]}))
"""


def cryptoscope_scan(
    targets: Sequence[str], timeout: float, via: str = "cli"
) -> tuple[dict[str, Found], str]:
    """Scan in one process: `cryptoscope scan --json` (via "cli"; falls back to the API when
    the CLI cannot start), or the `agent.tls` API alone (via "api": no CLI start-up cost)."""
    note = ""
    cli = [sys.executable, "-m", "inspector", "scan", "--json", "--timeout", str(timeout)]
    if via == "api":
        done = run([sys.executable, "-c", _API_SCAN, str(timeout), *targets], 1800)
    else:
        done = run([*cli, "--no-db", *targets], 1800)
        if done.returncode != 0 and "--no-db" in done.stderr:
            done = run([*cli, *targets], 1800)  # a CLI without --no-db
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1:]
            note = f"CLI failed ({last}); used the API in one process"
            done = run([sys.executable, "-c", _API_SCAN, str(timeout), *targets], 1800)
    if done.returncode != 0:
        raise RuntimeError(
            f"cryptoscope scan exited {done.returncode}: {done.stderr.strip()[-500:]}"
        )
    document = json.loads(done.stdout)
    found: dict[str, Found] = {}
    for endpoint in document["endpoints"]:
        key = f"{endpoint['host']}:{endpoint['port']}"
        suites = {
            name: list(result["suites"])
            for name, result in endpoint["protocols"].items()
            if result.get("accepted")
        }
        found[key] = Found(
            suites=suites,
            ordered=True,
            groups=set(endpoint.get("groups") or ()),
            error=endpoint.get("error"),
        )
    return found, note


_SSLYZE_KEYS = {
    "ssl_2_0_cipher_suites": "SSLv2",
    "ssl_3_0_cipher_suites": "SSLv3",
    "tls_1_0_cipher_suites": "TLSv1.0",
    "tls_1_1_cipher_suites": "TLSv1.1",
    "tls_1_2_cipher_suites": "TLSv1.2",
    "tls_1_3_cipher_suites": "TLSv1.3",
}


def sslyze_python() -> str | None:
    candidate = os.environ.get("SSLYZE_PYTHON", DEFAULT_SSLYZE_PYTHON)
    if not (Path(candidate).exists() and os.access(candidate, os.X_OK)):
        return None
    probe = subprocess.run([candidate, "-c", "import sslyze"], capture_output=True, timeout=60)
    return candidate if probe.returncode == 0 else None


def sslyze_scan(targets: Sequence[str], postgres: bool, workdir: Path) -> dict[str, Found]:
    python = sslyze_python()
    assert python is not None
    out = workdir / f"sslyze-{'pg' if postgres else 'tls'}.json"
    commands = [
        "--sslv2",
        "--sslv3",
        "--tlsv1",
        "--tlsv1_1",
        "--tlsv1_2",
        "--tlsv1_3",
        "--elliptic_curves",
        "--certinfo",
    ]
    argv = [python, "-m", "sslyze", "--json_out", str(out), *commands]
    if postgres:
        argv += ["--starttls", "postgres"]
    run([*argv, *targets], 1800)
    found: dict[str, Found] = {}
    if not out.exists():
        return {target: Found(error="sslyze wrote no JSON") for target in targets}
    for item in json.loads(out.read_text())["server_scan_results"]:
        location = item["server_location"]
        key = f"{location['ip_address']}:{location['port']}"
        result = item.get("scan_result") or {}
        if item.get("scan_status") != "COMPLETED":
            found[key] = Found(
                error=f"sslyze: {item.get('connectivity_error_trace') or item.get('scan_status')}"
            )
            continue
        view = Found(ordered=False)
        for field, version in _SSLYZE_KEYS.items():
            attempt = result.get(field) or {}
            data = attempt.get("result") or {}
            accepted = [
                entry["cipher_suite"]["name"] for entry in data.get("accepted_cipher_suites", [])
            ]
            if accepted:
                view.suites[version] = accepted
        curves = ((result.get("elliptic_curves") or {}).get("result") or {}).get(
            "supported_curves"
        ) or []
        view.groups = {iana_group_name(curve["name"]) for curve in curves}
        found[key] = view
    return found


_TESTSSL_PROTOCOLS = {
    "ssl2": "SSLv2",
    "ssl3": "SSLv3",
    "tls1": "TLSv1.0",
    "tls1_1": "TLSv1.1",
    "tls1_2": "TLSv1.2",
    "tls1_3": "TLSv1.3",
}
_TESTSSL_ORDER_KEYS = {
    "cipherorder_SSLv3": "SSLv3",
    "cipherorder_TLSv1": "TLSv1.0",
    "cipherorder_TLSv1_1": "TLSv1.1",
    "cipherorder_TLSv1_2": "TLSv1.2",
    "cipherorder_TLSv1_3": "TLSv1.3",
}


def testssl_binary() -> str | None:
    return shutil.which("testssl") or shutil.which("testssl.sh")


def testssl_scan(
    target: str, postgres: bool, timeout: float, workdir: Path, iana: dict[int, str]
) -> Found:
    binary = testssl_binary()
    assert binary is not None
    out = workdir / f"testssl-{target.replace(':', '_')}.json"
    out.unlink(missing_ok=True)
    argv = [binary, "--quiet", "--color", "0", "--warnings", "off", "--jsonfile", str(out)]
    argv += ["--connect-timeout", str(int(timeout)), "--openssl-timeout", str(int(timeout))]
    argv += ["-p", "-E", "-P", "-f"]
    if postgres:
        argv += ["-t", "postgres"]
    try:
        run([*argv, target], 1800)
    except subprocess.TimeoutExpired:
        return Found(error="testssl.sh did not finish within 1800 s")
    if not out.exists():
        return Found(error="testssl.sh wrote no JSON")
    view = Found(ordered=False, groups=set())
    names_by_version: dict[str, dict[str, str]] = {}
    orders: dict[str, list[str]] = {}
    for entry in json.loads(out.read_text() or "[]"):
        ident, finding = entry.get("id", ""), entry.get("finding", "")
        if ident.startswith("cipher-") and "_x" in ident:
            proto, _, hexid = ident[len("cipher-") :].rpartition("_x")
            version = _TESTSSL_PROTOCOLS.get(proto)
            suite_id = int(hexid, 16)
            if version and suite_id in iana:
                view.suites.setdefault(version, []).append(iana[suite_id])
                parts = finding.split()
                if len(parts) > 3:
                    names_by_version.setdefault(version, {})[parts[3]] = iana[suite_id]
        elif ident in _TESTSSL_ORDER_KEYS:
            orders[_TESTSSL_ORDER_KEYS[ident]] = finding.split()
        elif ident == "cipher_order":
            view.ordered = finding.strip().lower().startswith("server")
        elif ident == "PFS_ECDHE_curves" or ident == "FS_ECDHE_curves":
            assert view.groups is not None
            view.groups.update(iana_group_name(name) for name in finding.split())
        elif ident in {"scanProblem", "scanTime"} and entry.get("severity") in {"FATAL", "WARN"}:
            view.error = finding
    if view.ordered:
        for version, names in orders.items():
            mapping = names_by_version.get(version, {})
            ordered = [mapping.get(name, name) for name in names]
            if sorted(ordered) == sorted(view.suites.get(version, [])):
                view.suites[version] = ordered
    return view


def sslscan_binary() -> str | None:
    return shutil.which("sslscan")


def sslscan_scan(
    targets: Sequence[str],
    postgres: bool,
    timeout: float,
    workdir: Path,
    iana: dict[int, str],
    iana_groups: dict[int, str],
) -> dict[str, Found]:
    binary = sslscan_binary()
    assert binary is not None
    listing = workdir / f"sslscan-targets-{'pg' if postgres else 'tls'}.txt"
    listing.write_text("".join(f"{target}\n" for target in targets))
    out = workdir / f"sslscan-{'pg' if postgres else 'tls'}.xml"
    argv = [
        binary,
        "--no-colour",
        f"--xml={out}",
        f"--targets={listing}",
        f"--timeout={int(timeout)}",
    ]
    if postgres:
        argv.append("--starttls-psql")
    run(argv, 1800)
    found: dict[str, Found] = {}
    if not out.exists():
        return {target: Found(error="sslscan wrote no XML") for target in targets}
    for test in ET.parse(out).getroot().iter("ssltest"):
        key = f"{test.get('host')}:{test.get('port')}"
        view = Found(ordered=True, groups=set())
        for cipher in test.iter("cipher"):
            version = (cipher.get("sslversion") or "").replace("TLSv1.0", "TLSv1.0")
            suite_id = int(cipher.get("id") or "0", 16)
            name = iana.get(suite_id, cipher.get("cipher") or "?")
            view.suites.setdefault(version, []).append(name)
        for group in test.iter("group"):
            group_id = int(group.get("id") or "0", 16)
            assert view.groups is not None
            view.groups.add(iana_groups.get(group_id, group.get("name") or "?"))
        errors = [node.text or "" for node in test.iter("error")]
        view.error = "; ".join(errors) or None
        found[key] = view
    return found


# --------------------------------------------------------------------------- agreement


@dataclasses.dataclass
class Agreement:
    suites_exact: bool
    order_exact: bool | None  # None: not applicable (client order) or not reported by the tool
    groups_exact: bool | None  # None: the tool does not report groups
    detail: list[str]


def agreement(peer: Peer, found: Found | None, iana: dict[int, str]) -> Agreement:
    if found is None:
        return Agreement(False, None, None, ["no result"])
    detail: list[str] = []
    suites_exact, order_exact = (
        True,
        True if peer.expected.server_preference and found.ordered else None,
    )
    for version in PROTOCOLS:
        want = list(peer.expected.suite_names(version, iana))
        got = found.suites.get(version, [])
        if sorted(want) != sorted(got):
            suites_exact = False
            missing = len(set(want) - set(got))
            extra = len(set(got) - set(want))
            detail.append(f"{version}: -{missing}/+{extra}")
        elif order_exact is not None and want != got:
            order_exact = False
            detail.append(f"{version}: order differs")
    groups_exact = None
    if found.groups is not None and peer.expected.groups is not None:
        groups_exact = set(found.groups) == set(peer.expected.groups)
        if not groups_exact:
            lacking = sorted(set(peer.expected.groups) - set(found.groups))
            surplus = sorted(set(found.groups) - set(peer.expected.groups))
            detail.append(f"groups -{lacking} +{surplus}")
    return Agreement(suites_exact, order_exact, groups_exact, detail)


# --------------------------------------------------------------------------- the run


@contextlib.contextmanager
def lab(specs: Sequence[PeerSpec], pems: LabPems) -> Iterator[tuple[list[Peer], CountingProxy]]:
    with contextlib.ExitStack() as stack:
        peers: list[Peer] = []
        for spec in specs:
            reason = missing_requirement(spec)
            if reason:
                print(f"  skip peer {spec.name}: {reason}")
                continue
            server = build_peer(spec, pems)
            try:
                server.start()
            except LabServerError as exc:
                print(f"  skip peer {spec.name}: {exc}")
                continue
            stack.callback(server.stop)
            expected = expected_for(server, pems)
            proxy = CountingProxy(server.host, server.port)
            proxy.start()
            stack.callback(proxy.stop)
            peers.append(Peer(spec, server, proxy, expected))
        silent = SilentServer()
        silent.start()
        stack.callback(silent.stop)
        silent_proxy = CountingProxy(silent.host, silent.port)
        silent_proxy.start()
        stack.callback(silent_proxy.stop)
        yield peers, silent_proxy


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    value = action()
    return value, time.monotonic() - started


def measure(
    tool: str,
    peers: list[Peer],
    silent: CountingProxy,
    args: argparse.Namespace,
    workdir: Path,
    iana: dict[int, str],
    iana_groups: dict[int, str],
    with_silent_port: bool = True,
) -> ToolRun:
    outcome = ToolRun(tool)
    for peer in peers:
        peer.proxy.reset()
    tls = [peer.target for peer in peers if not peer.postgres]
    pg = [peer.target for peer in peers if peer.postgres]
    found: dict[str, Found] = {}
    via = "api" if tool == "cryptoscope-api" else "cli"
    if tool in {"cryptoscope", "cryptoscope-api"}:
        (batch, outcome.note), outcome.wall_s = timed(
            lambda: cryptoscope_scan([*tls, *pg], args.timeout, via)
        )
        found.update(batch)
        if via == "api":
            outcome.note = outcome.note or "the agent.tls API in one process: no CLI start-up"
    elif tool == "sslyze":
        found_tls, wall_tls = timed(lambda: sslyze_scan(tls, False, workdir))
        found_pg, wall_pg = timed(lambda: sslyze_scan(pg, True, workdir)) if pg else ({}, 0.0)
        found.update(found_tls)
        found.update(found_pg)
        outcome.wall_s = wall_tls + wall_pg
        outcome.note = "two processes (--starttls postgres is global)" if pg else ""
    elif tool == "sslscan":
        found_tls, wall_tls = timed(
            lambda: sslscan_scan(tls, False, args.timeout, workdir, iana, iana_groups)
        )
        found_pg, wall_pg = (
            timed(lambda: sslscan_scan(pg, True, args.timeout, workdir, iana, iana_groups))
            if pg
            else ({}, 0.0)
        )
        found.update(found_tls)
        found.update(found_pg)
        outcome.wall_s = wall_tls + wall_pg
        outcome.note = "two processes (--starttls-psql is global)" if pg else ""
    elif tool == "testssl":
        for peer in peers:
            started = time.monotonic()
            found[peer.target] = testssl_scan(
                peer.target, peer.postgres, args.timeout, workdir, iana
            )
            wall = time.monotonic() - started
            outcome.wall_s += wall
            print(f"    testssl.sh {peer.spec.name}: {wall:.1f} s", flush=True)
        outcome.note = "one process per endpoint (its only mode)"
    outcome.found = {
        peer.spec.name: found.get(peer.target, Found(error="not in output")) for peer in peers
    }
    outcome.connections = {peer.spec.name: peer.proxy.accepted for peer in peers}
    if not with_silent_port:
        return outcome
    # The never-answering port, alone: what it costs each tool.
    silent.reset()
    silent_target = f"127.0.0.1:{silent.port}"
    try:
        if tool in {"cryptoscope", "cryptoscope-api"}:
            _, outcome.silent_wall_s = timed(
                lambda: cryptoscope_scan([silent_target], args.timeout, via)
            )
        elif tool == "sslyze":
            _, outcome.silent_wall_s = timed(lambda: sslyze_scan([silent_target], False, workdir))
        elif tool == "sslscan":
            _, outcome.silent_wall_s = timed(
                lambda: sslscan_scan(
                    [silent_target], False, args.timeout, workdir, iana, iana_groups
                )
            )
        elif tool == "testssl":
            _, outcome.silent_wall_s = timed(
                lambda: testssl_scan(silent_target, False, args.timeout, workdir, iana)
            )
    except (subprocess.TimeoutExpired, RuntimeError) as exc:
        outcome.note += f"; silent port: {exc}"
    outcome.silent_connections = silent.accepted
    return outcome


def tool_missing(tool: str) -> str | None:
    if tool == "sslyze" and sslyze_python() is None:
        return (
            f"sslyze not found (set SSLYZE_PYTHON or install it in {DEFAULT_SSLYZE_PYTHON[:-11]})"
        )
    if tool == "testssl" and testssl_binary() is None:
        return "testssl.sh not installed (Debian package testssl.sh)"
    if tool == "sslscan" and sslscan_binary() is None:
        return "sslscan not installed (Debian package sslscan)"
    return None


# --------------------------------------------------------------------------- report


def mark(value: bool | None) -> str:
    return "n/a" if value is None else ("yes" if value else "NO")


def report(
    peers: list[Peer], runs: list[ToolRun], iana: dict[int, str], timeout: float
) -> dict[str, Any]:
    measured = [item for item in runs if item.skipped is None]
    print()
    print(
        "Per endpoint: connections opened (floor = accepted suites + versions + groups + 1 chain handshake)"
    )
    header = f"  {'peer':32} {'floor':>5} " + " ".join(f"{item.tool:>12}" for item in measured)
    print(header)
    for peer in peers:
        cells = " ".join(f"{item.connections.get(peer.spec.name, 0):>12}" for item in measured)
        print(f"  {peer.spec.name:32} {peer.floor():>5} {cells}")
    print()
    print(
        "Per endpoint: agreement with the server's truth (suites exact / order exact / groups exact)"
    )
    print(f"  {'peer':32} " + " ".join(f"{item.tool:>22}" for item in measured))
    summary: dict[str, Any] = {"peers": [peer.spec.name for peer in peers], "tools": {}}
    agreements: dict[str, dict[str, Agreement]] = {
        item.tool: {
            peer.spec.name: agreement(peer, item.found.get(peer.spec.name), iana) for peer in peers
        }
        for item in measured
    }
    for peer in peers:
        marks: list[str] = []
        for item in measured:
            agreed = agreements[item.tool][peer.spec.name]
            verdict = f"{mark(agreed.suites_exact)}/{mark(agreed.order_exact)}/{mark(agreed.groups_exact)}"
            marks.append(verdict.rjust(22))
        print(f"  {peer.spec.name:32} " + " ".join(marks))
    print()
    print("Disagreements:")
    for item in measured:
        for peer in peers:
            agreed = agreements[item.tool][peer.spec.name]
            if agreed.detail:
                error = item.found.get(peer.spec.name)
                suffix = f" (error: {error.error})" if error and error.error else ""
                print(f"  {item.tool:12} {peer.spec.name:32} {'; '.join(agreed.detail)}{suffix}")
    print()
    base = next((item for item in measured if item.tool == "cryptoscope"), None)
    floor = sum(peer.floor() for peer in peers)
    print(
        f"Summary over {len(peers)} endpoints (floor {floor} connections; timeout {timeout:g} s):"
    )
    print(
        f"  {'tool':12} {'wall s':>8} {'x crypto':>8} {'conns':>6} {'x floor':>7} {'x crypto':>8} "
        f"{'suites':>7} {'order':>7} {'groups':>7} {'silent s':>8} {'silent c':>8}"
    )
    for item in measured:
        conns = sum(item.connections.values())
        verdicts = list(agreements[item.tool].values())
        suites_ok = sum(1 for value in verdicts if value.suites_exact)
        order_cases = [
            bool(value.order_exact) for value in verdicts if value.order_exact is not None
        ]
        group_cases = [
            bool(value.groups_exact) for value in verdicts if value.groups_exact is not None
        ]
        time_ratio = item.wall_s / base.wall_s if base and base.wall_s else float("nan")
        conn_ratio = (
            conns / sum(base.connections.values())
            if base and sum(base.connections.values())
            else float("nan")
        )
        silent = f"{item.silent_wall_s:.1f}" if item.silent_wall_s is not None else "-"
        print(
            f"  {item.tool:12} {item.wall_s:8.1f} {time_ratio:8.1f} {conns:6d} {conns / floor:7.2f} {conn_ratio:8.1f} "
            f"{suites_ok:>3}/{len(peers):<3} {sum(order_cases):>3}/{len(order_cases):<3} "
            f"{sum(group_cases):>3}/{len(group_cases):<3} {silent:>8} {item.silent_connections or 0:>8}"
            + (f"   ({item.note.strip('; ')})" if item.note else "")
        )
        summary["tools"][item.tool] = {
            "wall_s": round(item.wall_s, 2),
            "connections": conns,
            "connections_by_peer": item.connections,
            "floor": floor,
            "suites_exact": suites_ok,
            "order_exact": [sum(order_cases), len(order_cases)],
            "groups_exact": [sum(group_cases), len(group_cases)],
            "silent_port_s": round(item.silent_wall_s, 2)
            if item.silent_wall_s is not None
            else None,
            "silent_port_connections": item.silent_connections,
            "note": item.note,
        }
    for item in runs:
        if item.skipped:
            print(f"  {item.tool:12} skipped: {item.skipped}")
            summary["tools"][item.tool] = {"skipped": item.skipped}
    return summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma-separated, from {', '.join(TOOLS)}"
    )
    parser.add_argument(
        "--peers", default="", help="comma-separated catalogue peer names (default: all)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        help="connect/read timeout given to each tool, seconds",
    )
    parser.add_argument(
        "--json", dest="json_out", type=Path, help="also write the figures as JSON here"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each tool (but testssl.sh) this many times and keep the median batch time",
    )
    args = parser.parse_args(argv)
    args.tool_list = [tool.strip() for tool in args.tools.split(",") if tool.strip()]
    unknown = [tool for tool in args.tool_list if tool not in TOOLS]
    if unknown:
        parser.error(f"unknown tool(s): {', '.join(unknown)}")
    names = {spec.name for spec in PEERS}
    args.peer_list = [name.strip() for name in args.peers.split(",") if name.strip()]
    if [name for name in args.peer_list if name not in names]:
        parser.error(f"unknown peer(s); known: {', '.join(sorted(names))}")
    return args


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Stop cleanly (servers, proxies) on SIGTERM as on Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    directory = iana_registry_dir()
    if directory is None:
        print(
            "IANA registry CSVs not found (data/iana in the repository, or $CRYPTOSCOPE_IANA_DIR)"
        )
        return 2
    iana = read_iana_cipher_suites(directory / "tls-parameters-4.csv")
    iana_groups = read_iana_groups(directory / "tls-parameters-8.csv")
    specs = [spec for spec in PEERS if not args.peer_list or spec.name in args.peer_list]
    with tempfile.TemporaryDirectory(prefix="cryptoscope-bench-") as tmp:
        workdir = Path(tmp)
        print(
            f"Starting {len(specs)} loopback peers (each behind a counting proxy) ...", flush=True
        )
        with lab(specs, make_lab_pems(workdir / "pki")) as (peers, silent):
            runs: list[ToolRun] = []
            for tool in args.tool_list:
                reason = tool_missing(tool)
                if reason:
                    print(f"  {tool}: skipped ({reason})")
                    runs.append(ToolRun(tool, skipped=reason))
                    continue
                print(f"  {tool}: scanning {len(peers)} endpoints ...", flush=True)
                repeats = 1 if tool == "testssl" else args.repeat
                tries = [
                    measure(tool, peers, silent, args, workdir, iana, iana_groups, index == 0)
                    for index in range(repeats)
                ]
                # The run with the median batch time (the machine may be shared); the
                # never-answering port is measured in the first run only.
                outcome = sorted(tries, key=lambda item: item.wall_s)[len(tries) // 2]
                outcome.silent_wall_s = tries[0].silent_wall_s
                outcome.silent_connections = tries[0].silent_connections
                if repeats > 1:
                    walls = ", ".join(f"{item.wall_s:.1f}" for item in tries)
                    outcome.note = f"median of {repeats} runs ({walls} s); " + outcome.note
                print(
                    f"  {tool}: {outcome.wall_s:.1f} s, {sum(outcome.connections.values())} connections",
                    flush=True,
                )
                runs.append(outcome)
            summary = report(peers, runs, iana, args.timeout)
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
