"""Loopback stand-ins for a cluster, used by the tests and by `cryptoscope demo`.

Real TLS peers, a Kubernetes API server that speaks real Kubernetes JSON, a
Key Vault that speaks the Key Vault REST API, kubelet CSI mount trees, and the
certificates they need. Everything binds to loopback only.
"""
