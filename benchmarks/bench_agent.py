"""Agent benchmarks: discovery at cluster scale, and one cycle over thousands of loopback endpoints.

    python benchmarks/bench_agent.py discovery [--pods 5000 --services 2000 --nodes 50]
    python benchmarks/bench_agent.py cycle [--endpoints 2000 --concurrency 64]

`discovery` loads a synthetic cluster into the lab API server and measures the
real client reading it (paged) plus target planning, in cluster mode and in
DaemonSet mode for one node. `cycle` starts one TLS server process holding N
listeners spread over 127.0.0.2..127.0.0.9, declares one pod per listener, and
runs `cryptoscope agent --once --mode cluster` as a child: wall time, the
child's peak RSS, and connections per endpoint (the prober's count from the
store, and the servers' own accept count). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import kubernetes.client

from agent.discovery import DiscoveryScope, KubeReader, plan_targets
from inspector.lab import pki
from inspector.lab.kube_api import KubeAPIServer

LOOPBACK_HOSTS = [f"127.0.0.{index}" for index in range(2, 10)]


def synthetic_cluster(pods: int, services: int, nodes: int) -> list[dict[str, Any]]:
    """Deployments → ReplicaSets → pods, services with EndpointSlices over them, all plausible JSON."""
    objects: list[dict[str, Any]] = []
    per_service = max(1, pods // services)
    for index in range(pods):
        service = index // per_service if index // per_service < services else index % services
        namespace = f"team-{service % 40}"
        deployment = f"app-{service}"
        replica_set = f"{deployment}-7c9f8"
        ip = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{replica_set}-{index:05d}",
                    "namespace": namespace,
                    "labels": {"app": deployment},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "ReplicaSet",
                            "name": replica_set,
                            "uid": f"rs-{service}",
                            "controller": True,
                        }
                    ],
                },
                "spec": {
                    "nodeName": f"node-{index % nodes}",
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example/app:1",
                            "ports": [
                                {"name": "https", "containerPort": 8443},
                                {"name": "metrics", "containerPort": 9090},
                            ],
                        }
                    ],
                },
                "status": {"phase": "Running", "podIP": ip},
            }
        )
    for service in range(services):
        namespace = f"team-{service % 40}"
        deployment = f"app-{service}"
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": deployment, "namespace": namespace},
                "spec": {},
            }
        )
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{deployment}-7c9f8",
                    "namespace": namespace,
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": deployment,
                            "uid": f"d-{service}",
                            "controller": True,
                        }
                    ],
                },
            }
        )
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": deployment, "namespace": namespace},
                "spec": {
                    "ports": [
                        {"name": "https", "port": 443, "targetPort": 8443, "appProtocol": "https"}
                    ]
                },
            }
        )
    # EndpointSlices: each service's pods
    pods_by_app: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for obj in objects:
        if obj["kind"] == "Pod":
            key = (obj["metadata"]["namespace"], obj["metadata"]["labels"]["app"])
            pods_by_app.setdefault(key, []).append(obj)
    for (namespace, app), members in pods_by_app.items():
        objects.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{app}-abcde",
                    "namespace": namespace,
                    "labels": {"kubernetes.io/service-name": app},
                },
                "addressType": "IPv4",
                "ports": [
                    {"name": "https", "port": 8443, "protocol": "TCP", "appProtocol": "https"}
                ],
                "endpoints": [
                    {
                        "addresses": [pod["status"]["podIP"]],
                        "nodeName": pod["spec"]["nodeName"],
                        "targetRef": {"kind": "Pod", "name": pod["metadata"]["name"]},
                    }
                    for pod in members
                ],
            }
        )
    return objects


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serve_cluster(pods: int, services: int, nodes: int) -> None:
    """Child process: the lab API server with the synthetic cluster, until stdin closes."""
    objects = synthetic_cluster(pods, services, nodes)
    with KubeAPIServer(max_watch_seconds=5) as api:
        started = time.perf_counter()
        for obj in objects:
            api.apply(obj)
        print(
            json.dumps(
                {"url": api.url, "objects": len(objects), "load_s": time.perf_counter() - started}
            ),
            flush=True,
        )
        sys.stdin.read()


def bench_discovery(args: argparse.Namespace) -> None:
    """The API server runs in a child process: what is measured here is the agent side only."""
    baseline = peak_rss_mb()
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "serve-cluster",
            str(args.pods),
            str(args.services),
            str(args.nodes),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None
    try:
        info = json.loads(server.stdout.readline())
        print(
            f"lab API server (child process): {info['objects']} objects loaded in {info['load_s']:.1f}s"
        )
        configuration = kubernetes.client.Configuration()
        configuration.host = info["url"]
        client = kubernetes.client.ApiClient(configuration)
        reader = KubeReader(client, page_size=500)
        for label, scope in (
            ("cluster mode", DiscoveryScope(mode="cluster")),
            ("daemonset mode, one node", DiscoveryScope(mode="daemonset", node_name="node-0")),
        ):
            if args.trace_heap:
                tracemalloc.start()
            started = time.perf_counter()
            cpu_started = time.process_time()
            state = reader.read_state(scope)
            read_s = time.perf_counter() - started
            started = time.perf_counter()
            targets = plan_targets(state, scope)
            plan_s = time.perf_counter() - started
            cpu_s = time.process_time() - cpu_started
            heap = ""
            if args.trace_heap:
                heap = f"; python heap peak {tracemalloc.get_traced_memory()[1] / 2**20:.0f} MB (tracemalloc)"
                tracemalloc.stop()
            print(
                f"discovery, {label}: {len(state.pods)} pods, {len(state.services)} services, "
                f"{len(state.endpoint_slices)} slices, {len(state.replica_sets)} replicasets read in {read_s:.2f}s "
                f"(paged by 500); {len(targets)} targets planned in {plan_s * 1000:.0f} ms; "
                f"agent CPU {cpu_s:.2f}s{heap}"
            )
            del state, targets
        client.close()
    finally:
        server.stdin.close()
        server.wait(timeout=60)
    print(
        f"agent-side peak RSS: {peak_rss_mb():.0f} MB (after imports, before reading: {baseline:.0f} MB"
        + ("; tracemalloc adds its own overhead)" if args.trace_heap else ")")
    )


# --------------------------------------------------------------------------- the TLS listeners (child process)


class _TLSPeer(asyncio.Protocol):
    """TLS over a memory BIO: every TCP connection is counted, handshakes or not."""

    accepted = 0

    def __init__(self, context: ssl.SSLContext) -> None:
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _TLSPeer.accepted += 1
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        asyncio.get_running_loop().call_later(10, transport.close)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.incoming.write(data)
        try:
            self.tls.do_handshake()
            self.tls.read(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except (ssl.SSLError, ssl.SSLEOFError, OSError):
            self._flush()
            self.transport.close()
            return
        self._flush()

    def _flush(self) -> None:
        pending = self.outgoing.read()
        if pending and self.transport is not None:
            self.transport.write(pending)


async def serve_listeners(count: int, cert: str, key: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    loop = asyncio.get_running_loop()
    addresses = []
    servers = []
    for index in range(count):
        host = LOOPBACK_HOSTS[index % len(LOOPBACK_HOSTS)]
        server = await loop.create_server(lambda: _TLSPeer(context), host, 0, backlog=256)
        servers.append(server)
        addresses.append([host, server.sockets[0].getsockname()[1]])
    print(json.dumps(addresses), flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    print(json.dumps({"accepted": _TLSPeer.accepted}), flush=True)


def bench_cycle(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the listeners' child inherits it
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as directory:
        tmp = Path(directory)
        root = pki.make_ca()
        leaf = pki.make_leaf(root, ip_addresses=tuple(LOOPBACK_HOSTS))
        pem = pki.write_pem_files(tmp, "bench", leaf, (), root)
        servers = subprocess.Popen(
            [sys.executable, __file__, "serve", str(args.endpoints), str(pem.cert), str(pem.key)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert servers.stdout is not None and servers.stdin is not None
        addresses = json.loads(servers.stdout.readline())
        with KubeAPIServer() as api:
            for index, (host, port) in enumerate(addresses):
                api.apply(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {
                            "name": f"bench-{index:05d}",
                            "namespace": f"team-{index % 20}",
                        },
                        "spec": {
                            "nodeName": "node-0",
                            "containers": [
                                {"name": "app", "image": "x", "ports": [{"containerPort": port}]}
                            ],
                        },
                        "status": {"phase": "Running", "podIP": host},
                    }
                )
            kubeconfig = api.write_kubeconfig(tmp / "kubeconfig")
            db = tmp / "agent.db"
            flags = {
                "once": "true",
                "mode": "cluster",
                "kubeconfig": str(kubeconfig),
                "db": str(db),
                "concurrency": str(args.concurrency),
                "cycle_deadline": "7200",
                "watch": "false",
                "ingress": "false",
            }
            # the agent itself (agent.runner.serve), as `cryptoscope agent --once` runs it
            command = [
                sys.executable,
                "-c",
                "import json, sys; from agent.config import load_settings; from agent.runner import serve; "
                "sys.exit(serve(load_settings(json.loads(sys.argv[1]), {})))",
                json.dumps(flags),
            ]
            env = {k: v for k, v in os.environ.items() if not k.startswith("CRYPTOSCOPE_")}
            started = time.perf_counter()
            agent = subprocess.run(command, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - started
            child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        servers.stdin.close()
        accepted = json.loads(servers.stdout.readline())["accepted"]
        servers.wait(timeout=60)
        if agent.returncode != 0:
            print(agent.stderr[-2000:])
            return
        with sqlite3.connect(db) as conn:
            status, endpoints = conn.execute("SELECT status, endpoint_count FROM runs").fetchone()
            transports = dict(
                conn.execute("SELECT transport, count(*) FROM endpoint_scans GROUP BY transport")
            )
            avg_connections, max_connections, avg_duration = conn.execute(
                "SELECT avg(connections), max(connections), avg(duration_s) FROM endpoint_scans"
            ).fetchone()
        print(
            f"cycle over {len(addresses)} loopback TLS endpoints (concurrency {args.concurrency}): run {status}, "
            f"{endpoints} endpoints {transports}\n"
            f"  wall time {wall:.1f}s ({len(addresses) / wall:.1f} endpoints/s), agent peak RSS {child_rss:.0f} MB\n"
            f"  connections per endpoint: prober says avg {avg_connections:.1f} (max {max_connections}), "
            f"servers accepted {accepted} = {accepted / len(addresses):.1f} per endpoint; "
            f"avg endpoint scan {avg_duration:.2f}s"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-cluster":
        serve_cluster(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        asyncio.run(serve_listeners(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    discovery = sub.add_parser("discovery")
    discovery.add_argument("--pods", type=int, default=5000)
    discovery.add_argument("--services", type=int, default=2000)
    discovery.add_argument("--nodes", type=int, default=50)
    discovery.add_argument(
        "--trace-heap", action="store_true", help="also report the Python heap peak"
    )
    cycle = sub.add_parser("cycle")
    cycle.add_argument("--endpoints", type=int, default=2000)
    cycle.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    if args.what == "discovery":
        bench_discovery(args)
    else:
        bench_cycle(args)


if __name__ == "__main__":
    main()
