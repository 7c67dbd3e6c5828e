"""Values files the chart is rendered with: each mode, and every option turned on."""

from __future__ import annotations

from typing import Any

from inspector.lab.pki import make_ca

EVIDENCE_GROUP = "6f1c2a9e-0000-4000-8000-00000000abcd"
CLIENT_ID = "2b7d5f0e-1111-4222-8333-444455556666"
TENANT_ID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f00112233"


def _ca_pem() -> str:
    return make_ca("cryptoscope chart test CA").cert_pem.decode()


def everything(mode: str) -> dict[str, Any]:
    """Every optional part of the chart switched on."""
    return {
        "mode": mode,
        "image": {"registry": "registry.example.test", "digest": "sha256:" + "ab" * 32},
        "imagePullSecrets": [{"name": "registry-pull"}],
        "serviceAccount": {"workloadIdentity": {"clientId": CLIENT_ID, "tenantId": TENANT_ID}},
        "caBundle": {"pem": _ca_pem()},
        "tls": {"existingSecret": "cryptoscope-endpoint-tls"},
        "storage": {"type": "hostPath"},
        "priorityClass": {"create": True},
        "serviceMonitor": {"enabled": True, "caSecret": {"name": "cryptoscope-endpoint-ca"}},
        "evidenceReaders": {
            "subjects": [
                {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": EVIDENCE_GROUP}
            ]
        },
        "agent": {
            "egressTargets": ["payments.example.test:443", "10.20.0.5:5432/db.example.test"],
            "sidecarExcludePorts": [15090, 15021],
            "ingressService": "ingress-nginx/ingress-nginx-controller",
        },
        "networkPolicy": {
            "ingress": {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                        }
                    }
                ]
            },
            "egress": {
                "apiServer": {"cidrs": ["20.30.40.50/32"]},
                "pods": {"nodeCidrs": ["10.224.0.0/16"]},
                "keyVault": {"cidrs": ["10.240.8.0/24"]},
                "egressTargets": {"cidrs": ["203.0.113.0/24"], "ports": [443, 5432]},
            },
        },
        "sidecar": {"serviceAccounts": [{"namespace": "payments", "name": "checkout"}]},
        "podAnnotations": {"example.test/owner": "platform"},
    }


#: name -> values. The first four are "each mode"; the rest switch everything on.
SCENARIOS: dict[str, dict[str, Any]] = {
    "default": {},
    "daemonset": {"mode": "daemonset"},
    "cluster": {"mode": "cluster"},
    "sidecar": {
        "mode": "sidecar",
        "sidecar": {"serviceAccounts": [{"namespace": "payments", "name": "checkout"}]},
    },
    "daemonset-everything": everything("daemonset"),
    "cluster-everything": everything("cluster"),
    "sidecar-everything": {k: v for k, v in everything("sidecar").items() if k != "priorityClass"},
}
