"""`cryptoscope demo`: a fictional cluster on loopback, one agent cycle, the TUI on the result.

- :mod:`inspector.demo.cluster` — the cluster as data (namespaces, workloads, ports, mounts);
- :mod:`inspector.demo.manifests` — it as Kubernetes objects for the test API server;
- :mod:`inspector.demo.backends` — the real loopback server behind every port;
- :mod:`inspector.demo.vault` — Key Vault versions and the kubelet CSI mount trees;
- :mod:`inspector.demo.agent_cycle`, :mod:`inspector.demo.evidence`, :mod:`inspector.demo.summary` — the steps;
- :mod:`inspector.demo.run` — orchestration; :mod:`inspector.demo.lifecycle` — signals and progress lines.
"""
