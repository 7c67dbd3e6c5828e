"""The fictional cluster the demo starts: namespaces, workloads, their ports and their mounts.

Everything here is data. :mod:`inspector.demo.manifests` turns it into the
Kubernetes objects the test API server serves, :mod:`inspector.demo.backends`
starts a real loopback server behind every port, and :mod:`inspector.demo.vault`
fills the loopback Key Vault and the kubelet mount trees.

Pod IPs are loopback addresses (127.0.0.0/8: Linux routes all of it to ``lo``),
so each pod can be told apart while nothing leaves the machine.
"""

from __future__ import annotations

import dataclasses
import enum

#: Node every demo pod runs on (the agent runs in DaemonSet mode for this node).
NODE_NAME = "aks-nodepool1-demo-0"
#: Name of the loopback Key Vault every SecretProviderClass points at.
VAULT_NAME = "demo-payments-kv"
#: Tenant and client ids are fictional GUID-shaped strings.
TENANT_ID = "00000000-0000-4000-8000-00000000d3e0"
WORKLOAD_CLIENT_ID = "00000000-0000-4000-8000-0000000c11e7"
NODE_IDENTITY_CLIENT_ID = "00000000-0000-4000-8000-00000000a0de"
#: Where the demo CA's OCSP responder listens (every demo leaf names it in its AIA extension).
OCSP_RESPONDER_IP = "127.0.0.5"


class Backend(enum.StrEnum):
    """What serves a port. Each kind maps to one real loopback server."""

    MODERN_TLS13 = "modern-tls13"  # TLS 1.3 only, classic key exchange (no post-quantum group)
    PQ_HYBRID = "pq-hybrid"  # TLS 1.2 + 1.3, X25519MLKEM768 preferred
    LEGACY_TLS10 = "legacy-tls10"  # TLS 1.0 with static-RSA CBC suites
    MTLS = "mtls"  # TLS 1.3, a client certificate required
    EXPIRING = "expiring-cert"  # TLS 1.2 + 1.3, leaf expires in a few days
    PLAINTEXT_HTTP = "plaintext-http"
    POSTGRES = "postgres-starttls"  # PostgreSQL with ssl = on, when installed
    SNI_GATEWAY = (
        "sni-gateway"  # a Gateway's data plane: one certificate per route hostname, by SNI
    )


class Revocation(enum.StrEnum):
    """What the demo CA's OCSP responder says about a server's leaf, and whether it is stapled."""

    GOOD = "good"  # the leaf's AIA names the responder, which answers "good"
    STAPLED = "stapled"  # as GOOD, and the server staples that answer (status_request)
    REVOKED = "revoked"  # the CA revoked the leaf (key compromise); the responder says so


class Identity(enum.StrEnum):
    """How a SecretProviderClass reaches Key Vault."""

    WORKLOAD = "workload-identity"  # clientID (recommended)
    SERVICE_PRINCIPAL = (
        "service-principal"  # nodePublishSecretRef: clientid/clientsecret in a Secret
    )
    NODE_MANAGED = "node-managed-identity"  # useVMManagedIdentity: the node's identity
    POD_IDENTITY = "pod-identity"  # usePodIdentity (deprecated)


class VaultState(enum.StrEnum):
    """What the vault says about the object the pod mounts."""

    CURRENT = "current"  # mounted version is the latest, enabled, expiry set
    STALE = "stale"  # a newer version exists than the one mounted (pinned)
    EXPIRED = "expired"  # the mounted (latest) version's expiry has passed
    NO_EXPIRY = "no-expiry"  # latest, but no expiry date set


@dataclasses.dataclass(frozen=True, slots=True)
class Port:
    name: str
    container_port: int  # what the manifest declares; the real listener is ephemeral
    backend: Backend
    app_protocol: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class VaultObject:
    """One Key Vault object a pod mounts through the CSI driver."""

    name: str
    object_type: str  # "secret", "cert" or "key"
    #: What the file holds: "cert-with-key", "cert", "public-key", "opaque".
    content: str
    state: VaultState = VaultState.CURRENT
    alias: str | None = None
    #: ``filePermission`` of the mounted file (the provider's default is 0644, world-readable).
    file_permission: str = "0440"
    #: Synced into a Kubernetes Secret of this type (secretObjects).
    sync_secret_type: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Mount:
    """A Secrets Store CSI volume of a pod, backed by one SecretProviderClass."""

    volume: str
    spc_name: str
    identity: Identity
    objects: tuple[VaultObject, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Workload:
    namespace: str
    name: str
    kind: str  # Deployment, StatefulSet, DaemonSet, CronJob
    pod_ip: str
    ports: tuple[Port, ...]
    purpose: str
    mounts: tuple[Mount, ...] = ()
    #: What a newcomer should notice about this workload (printed by the demo).
    story: str = ""
    #: The OCSP answer for the leaf of its TLS servers (and whether they staple it).
    revocation: Revocation = Revocation.GOOD
    #: Labels the pod and Service carry besides the demo's own (e.g. a Gateway's data plane).
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def service_name(self) -> str:
        return self.name

    @property
    def dns_name(self) -> str:
        return f"{self.name}.{self.namespace}.svc.cluster.local"


@dataclasses.dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    #: ``cryptoscope.io/scope`` value: "cde" marks PCI scope (cardholder data environment).
    scope: str


NAMESPACES: tuple[Namespace, ...] = (
    Namespace("payments", "cde"),
    Namespace("web", "connected"),
    Namespace("ops", "out-of-scope"),
)

WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "payments",
        "checkout-api",
        "Deployment",
        "127.0.0.11",
        (Port("https", 8443, Backend.MODERN_TLS13, "https"),),
        purpose="card authorisation API (PAN in transit)",
        mounts=(
            Mount(
                "checkout-tls",
                "checkout-kv",
                Identity.WORKLOAD,
                (VaultObject("checkout-tls", "secret", "cert-with-key", alias="tls.pem"),),
            ),
        ),
        story=(
            "modern TLS 1.3, no post-quantum key exchange yet; staples a good OCSP response; "
            "its mounted Key Vault certificate is the current version"
        ),
        revocation=Revocation.STAPLED,
    ),
    Workload(
        "payments",
        "refund-api",
        "Deployment",
        "127.0.0.15",
        (Port("https", 8443, Backend.MODERN_TLS13, "https"),),
        purpose="card refunds API (PAN in transit)",
        story="still serves a certificate the CA has revoked (key compromise); the OCSP responder says so",
        revocation=Revocation.REVOKED,
    ),
    Workload(
        "payments",
        "card-gateway-legacy",
        "Deployment",
        "127.0.0.12",
        (Port("https", 8443, Backend.LEGACY_TLS10, "https"),),
        purpose="link to the legacy acquirer",
        mounts=(
            Mount(
                "gateway-secrets",
                "gateway-kv",
                Identity.WORKLOAD,
                (
                    VaultObject("acquirer-api-key", "secret", "opaque", state=VaultState.STALE),
                    VaultObject(
                        "gateway-signing-key", "key", "public-key", state=VaultState.EXPIRED
                    ),
                ),
            ),
        ),
        story="TLS 1.0 with static-RSA CBC suites; mounted API key is a stale version, signing key expired",
    ),
    Workload(
        "payments",
        "tokenizer",
        "StatefulSet",
        "127.0.0.13",
        (Port("grpc-tls", 9443, Backend.MTLS, "grpc"),),
        purpose="PAN tokenisation (mTLS only)",
        mounts=(
            Mount(
                "tokenizer-tls",
                "tokenizer-kv",
                Identity.WORKLOAD,
                (
                    VaultObject(
                        "tokenizer-tls",
                        "secret",
                        "cert-with-key",
                        state=VaultState.NO_EXPIRY,
                        sync_secret_type="kubernetes.io/tls",
                    ),
                ),
            ),
        ),
        story="mTLS only; its private key is also synced into a Kubernetes Secret",
    ),
    Workload(
        "payments",
        "ledger-db",
        "StatefulSet",
        "127.0.0.14",
        (Port("postgres", 5432, Backend.POSTGRES, "postgresql"),),
        purpose="ledger database",
        story="PostgreSQL with STARTTLS (ssl = on)",
    ),
    Workload(
        "web",
        "storefront",
        "Deployment",
        "127.0.0.21",
        (
            Port("https", 8443, Backend.PQ_HYBRID, "https"),
            Port("metrics", 9090, Backend.PLAINTEXT_HTTP, "http"),
        ),
        purpose="public storefront",
        story="post-quantum hybrid key exchange (X25519MLKEM768); metrics on plaintext HTTP",
    ),
    Workload(
        "web",
        "public-gateway-istio",
        "Deployment",
        "127.0.0.24",
        (Port("https", 443, Backend.SNI_GATEWAY, "https"),),
        purpose="Gateway API data plane (Istio) of the public-gateway",
        story=(
            "data plane of Gateway `public-gateway`: its HTTPRoutes' hostnames "
            "(www. and api.storefront.example) each get their own certificate, chosen by SNI"
        ),
        labels=(("gateway.networking.k8s.io/gateway-name", "public-gateway"),),
    ),
    Workload(
        "web",
        "promo-banner",
        "Deployment",
        "127.0.0.22",
        (Port("https", 8443, Backend.EXPIRING, "https"),),
        purpose="marketing banners",
        story="certificate expires in a few days",
    ),
    Workload(
        "ops",
        "backup-runner",
        "Deployment",
        "127.0.0.31",
        (Port("http", 8080, Backend.PLAINTEXT_HTTP, "http"),),
        purpose="nightly database backups",
        mounts=(
            Mount(
                "backup-creds",
                "backup-kv",
                Identity.SERVICE_PRINCIPAL,
                (VaultObject("storage-account-key", "secret", "opaque"),),
            ),
        ),
        story="reads Key Vault with service-principal credentials kept in a Kubernetes Secret",
    ),
    Workload(
        "ops",
        "grafana",
        "Deployment",
        "127.0.0.32",
        (Port("https", 3000, Backend.PQ_HYBRID, "https"),),
        purpose="dashboards",
        mounts=(
            Mount(
                "grafana-tls",
                "grafana-kv",
                Identity.NODE_MANAGED,
                (
                    VaultObject("grafana-cert", "cert", "cert"),
                    VaultObject("grafana-admin", "secret", "opaque", file_permission="0644"),
                ),
            ),
        ),
        story="uses the node-wide managed identity; admin password mounted world-readable",
    ),
)


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """An HTTPRoute attached to a Gateway's HTTPS listener."""

    name: str
    hostnames: tuple[str, ...]
    purpose: str
    #: The Service (in the route's namespace) and port it forwards to.
    backend: str
    backend_port: int


@dataclasses.dataclass(frozen=True, slots=True)
class Gateway:
    """A Gateway API Gateway (gateway.networking.k8s.io/v1) with one HTTPS listener."""

    namespace: str
    name: str
    gateway_class: str
    controller: str
    listener_port: int
    listener_hostname: str
    #: The workload (same namespace) whose pods are this gateway's data plane.
    data_plane: str
    routes: tuple[Route, ...]

    @property
    def hostnames(self) -> tuple[str, ...]:
        return tuple(name for route in self.routes for name in route.hostnames)


GATEWAYS: tuple[Gateway, ...] = (
    Gateway(
        "web",
        "public-gateway",
        gateway_class="istio",
        controller="istio.io/gateway-controller",
        listener_port=443,
        listener_hostname="*.storefront.example",
        data_plane="public-gateway-istio",
        routes=(
            Route("storefront-www", ("www.storefront.example",), "public shop", "storefront", 8443),
            Route("storefront-api", ("api.storefront.example",), "shop API", "storefront", 8443),
        ),
    ),
)

#: The Secrets Store CSI driver as the AKS add-on deploys it (kube-system). Its driver
#: container's arguments leave --enable-secret-rotation out: rotation is off (rule V6).
CSI_DRIVER_NAMESPACE = "kube-system"
CSI_DRIVER_DAEMONSET = "aks-secrets-store-csi-driver"
CSI_DRIVER_CONTAINER = "secrets-store"
CSI_DRIVER_IMAGE = "mcr.microsoft.com/oss/v2/kubernetes-csi/secrets-store/driver:v1.5.3"
CSI_DRIVER_ARGS: tuple[str, ...] = (
    "--endpoint=$(CSI_ENDPOINT)",
    "--nodeid=$(KUBE_NODE_NAME)",
    "--provider-volume=/var/run/secrets-store-csi-providers",
    "--additional-provider-volume-paths=/etc/kubernetes/secrets-store-csi-providers",
    "--metrics-addr=:8095",
    "--provider-health-check=false",
    "--provider-health-check-interval=2m",
)


def gateway_served_by(item: Workload) -> Gateway | None:
    """The Gateway whose data plane `item` is, if any."""
    for gateway in GATEWAYS:
        if gateway.namespace == item.namespace and gateway.data_plane == item.name:
            return gateway
    return None


def workload(namespace: str, name: str) -> Workload:
    for item in WORKLOADS:
        if item.namespace == namespace and item.name == name:
            return item
    raise KeyError(f"{namespace}/{name}")
