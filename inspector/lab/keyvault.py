"""A loopback HTTPS server speaking the Azure Key Vault REST API (and an Entra token endpoint).

Enough of the real API for metadata reads through the official SDK clients
(``SecretClient``, ``KeyClient``, ``CertificateClient``):

* challenge authentication: a request without a bearer token gets 401 with
  ``WWW-Authenticate: Bearer authorization="<authority>/<tenant>", resource="https://vault.azure.net"``;
* ``GET /secrets|keys|certificates/{name}/versions`` with ``maxresults`` and ``nextLink`` paging;
* ``GET /keys/{name}/{version}`` (public JWK only), ``GET /keys/{name}/rotationpolicy``,
  ``GET /certificates/{name}/{version}``, ``GET /certificates/{name}/policy``,
  ``GET /secrets/{name}/{version}`` (a value read — served, and recorded so tests can prove the
  agent never asks for it);
* faults: 403 per object, 404 for unknown objects, 429 with ``Retry-After``;
* ``POST /{tenant}/oauth2/v2.0/token``: a client-credentials token endpoint accepting a
  federated (jwt-bearer) client assertion, so ``WorkloadIdentityCredential`` runs for real
  with ``AZURE_AUTHORITY_HOST`` pointing here.

Binds 127.0.0.1 on an ephemeral port, TLS from a throw-away lab CA (``ca_file``).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import secrets
import ssl
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from inspector.lab import pki

DEFAULT_TENANT = "00000000-0000-0000-0000-00000000c0de"
RESOURCE = "https://vault.azure.net"
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _epoch(moment: dt.datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None


def new_version_id() -> str:
    return secrets.token_hex(16)


@dataclasses.dataclass
class FakeVersion:
    """One version of a vault object (metadata; value only for secrets, never read by the agent)."""

    version: str = dataclasses.field(default_factory=new_version_id)
    created: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC))
    enabled: bool = True
    expires: dt.datetime | None = None
    not_before: dt.datetime | None = None
    value: str = ""  # secrets only
    content_type: str | None = None
    key: Any = None  # keys: a private key object (only its public half is ever served)
    certificate: pki.Issued | None = None  # certificates


@dataclasses.dataclass
class FakeObject:
    kind: str  # "secrets", "keys", "certificates"
    name: str
    versions: list[FakeVersion]  # oldest first, as created
    key_type: str = ""  # "RSA", "RSA-HSM", "EC", "EC-HSM"
    rotation_policy: dict[str, Any] | None = None
    certificate_policy: dict[str, Any] | None = None
    managed: bool = False


def _attributes(version: FakeVersion, recovery_level: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "enabled": version.enabled,
        "created": _epoch(version.created),
        "updated": _epoch(version.created),
        "recoveryLevel": recovery_level,
        "recoverableDays": 90,
    }
    if version.expires:
        attributes["exp"] = _epoch(version.expires)
    if version.not_before:
        attributes["nbf"] = _epoch(version.not_before)
    return attributes


def _jwk(kid: str, key: Any, key_type: str) -> dict[str, Any]:
    public = key.public_key()
    jwk: dict[str, Any] = {
        "kid": kid,
        "kty": key_type,
        "key_ops": ["sign", "verify", "wrapKey", "unwrapKey"],
    }
    if isinstance(public, rsa.RSAPublicKey):
        rsa_numbers = public.public_numbers()
        jwk.update(n=_b64url(_int_bytes(rsa_numbers.n)), e=_b64url(_int_bytes(rsa_numbers.e)))
    elif isinstance(public, ec.EllipticCurvePublicKey):
        ec_numbers = public.public_numbers()
        size = (public.curve.key_size + 7) // 8
        jwk.update(
            crv=_CURVE_NAMES.get(public.curve.name, public.curve.name),
            x=_b64url(ec_numbers.x.to_bytes(size, "big")),
            y=_b64url(ec_numbers.y.to_bytes(size, "big")),
        )
    return jwk


def default_rotation_policy() -> dict[str, Any]:
    """What a key without a configured policy returns: notify 30 days before expiry, never rotate."""
    return {
        "lifetimeActions": [
            {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}
        ],
        "attributes": {},
    }


def rotate_policy(time_after_create: str = "P90D", expires_in: str = "P1Y") -> dict[str, Any]:
    return {
        "lifetimeActions": [
            {"trigger": {"timeAfterCreate": time_after_create}, "action": {"type": "Rotate"}},
            {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}},
        ],
        "attributes": {"expiryTime": expires_in, "created": 1700000000, "updated": 1700000000},
    }


def certificate_policy(
    key_type: str = "RSA", key_size: int = 2048, auto_renew: bool = True
) -> dict[str, Any]:
    action = "AutoRenew" if auto_renew else "EmailContacts"
    return {
        "key_props": {
            "exportable": True,
            "kty": key_type,
            "key_size": key_size,
            "reuse_key": False,
        },
        "secret_props": {"contentType": "application/x-pem-file"},
        "x509_props": {"subject": "CN=lab", "validity_months": 12},
        "lifetime_actions": [
            {"trigger": {"lifetime_percentage": 80}, "action": {"action_type": action}}
        ],
        "issuer": {"name": "Self"},
        "attributes": {"enabled": True, "created": 1700000000, "updated": 1700000000},
    }


class FakeKeyVault:
    """The vault's state, its faults and its HTTPS server. Use as a context manager."""

    def __init__(
        self,
        *,
        tenant: str = DEFAULT_TENANT,
        page_size: int = 2,
        recovery_level: str = "Recoverable+Purgeable",
        client_id: str = "lab-client-id",
        federated_token: str | None = None,
    ) -> None:
        self.tenant = tenant
        self.page_size = page_size
        self.recovery_level = recovery_level
        self.client_id = client_id
        #: The service-account token a workload presents (AZURE_FEDERATED_TOKEN_FILE content).
        self.federated_token = federated_token or "lab-federated-" + secrets.token_hex(8)
        self.access_token = "lab-access-" + secrets.token_hex(12)
        self.objects: dict[tuple[str, str], FakeObject] = {}
        self.forbidden: set[tuple[str, str]] = set()
        #: Requests answered 429 before serving again (counts down).
        self.throttle_requests = 0
        self.retry_after_s = 7
        #: Seconds every vault request waits before it is answered (a slow or hanging vault).
        self.delay_s = 0.0
        #: (method, path-with-query, status) of every request, in order.
        self.requests: list[tuple[str, str, int]] = []
        self.tokens_issued = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-kv-")
        ca = pki.make_ca("fake key vault CA")
        leaf = pki.make_leaf(
            ca, common_name="127.0.0.1", dns_names=("localhost",), ip_addresses=("127.0.0.1",)
        )
        files = pki.write_pem_files(Path(self._tmp.name), "vault", leaf, (), ca)
        self.ca_file = str(files.ca)
        self._cert_file, self._key_file = str(files.cert), str(files.key)

    # --- state ------------------------------------------------------------------------------

    def add_secret(
        self, name: str, versions: list[FakeVersion], *, managed: bool = False
    ) -> FakeObject:
        obj = FakeObject("secrets", name, versions, managed=managed)
        self.objects[("secrets", name)] = obj
        return obj

    def add_key(
        self,
        name: str,
        versions: list[FakeVersion],
        *,
        key_type: str = "RSA",
        rotation_policy: dict[str, Any] | None = None,
    ) -> FakeObject:
        for version in versions:
            if version.key is None:
                version.key = pki.generate_key(
                    "ec" if key_type.startswith("EC") else "rsa",
                    256 if key_type.startswith("EC") else 2048,
                )
        obj = FakeObject("keys", name, versions, key_type=key_type, rotation_policy=rotation_policy)
        self.objects[("keys", name)] = obj
        return obj

    def add_certificate(
        self, name: str, versions: list[FakeVersion], *, policy: dict[str, Any] | None = None
    ) -> FakeObject:
        """Each version needs ``certificate``; like a real vault, also adds the backing secret and key."""
        obj = FakeObject(
            "certificates", name, versions, certificate_policy=policy or certificate_policy()
        )
        self.objects[("certificates", name)] = obj
        self.objects[("secrets", name)] = FakeObject("secrets", name, versions, managed=True)
        key_type = obj.certificate_policy["key_props"]["kty"] if obj.certificate_policy else "RSA"
        self.objects[("keys", name)] = FakeObject(
            "keys", name, versions, key_type=key_type, managed=True
        )
        for version in versions:
            if version.certificate is not None:
                version.key = version.certificate.key
                version.content_type = version.content_type or "application/x-pem-file"
        return obj

    def forbid(self, kind: str, name: str) -> None:
        self.forbidden.add((kind, name))

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def authority(self) -> str:
        return self.url

    def value_reads(self) -> list[str]:
        """Paths of every request that could return a secret value (``GET /secrets/{name}/{version}``)."""
        reads = []
        for method, path, _ in self.requests:
            parts = urllib.parse.urlparse(path).path.strip("/").split("/")
            if (
                method == "GET"
                and parts[0] == "secrets"
                and len(parts) in (2, 3)
                and parts[-1] != "versions"
            ):
                reads.append(path)
        return reads

    # --- server -----------------------------------------------------------------------------

    def start(self) -> FakeKeyVault:
        handler = _make_handler(self)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self._cert_file, self._key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="fake-key-vault", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._tmp.cleanup()

    def __enter__(self) -> FakeKeyVault:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- request handling (called from the handler) -------------------------------------------

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))

    def _take_throttle(self) -> bool:
        with self._lock:
            if self.throttle_requests > 0:
                self.throttle_requests -= 1
                return True
            return False

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        parsed = urllib.parse.urlparse(raw_path)
        parts = [urllib.parse.unquote(part) for part in parsed.path.strip("/").split("/") if part]
        query = urllib.parse.parse_qs(parsed.query)
        if method == "POST" and len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            return self._token(parts[0], body)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self._take_throttle():
            return (
                429,
                {"Retry-After": str(self.retry_after_s)},
                _error(
                    "Throttled",
                    "Request was not processed because too many requests were received.",
                ),
            )
        authorization = headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            challenge = (
                f'Bearer authorization="{self.authority}/{self.tenant}", resource="{RESOURCE}"'
            )
            return (
                401,
                {"WWW-Authenticate": challenge},
                _error("Unauthorized", "AKV10000: Request is missing a Bearer or PoP token."),
            )
        if authorization.removeprefix("Bearer ") != self.access_token:
            return 401, {}, _error("Unauthorized", "AKV10032: Invalid issuer.")
        if method != "GET" or len(parts) < 2 or parts[0] not in ("secrets", "keys", "certificates"):
            return 400, {}, _error("BadParameter", "unsupported request")
        kind, name, rest = parts[0], parts[1], parts[2:]
        if (kind, name) in self.forbidden:
            return (
                403,
                {},
                _error(
                    "Forbidden",
                    f"The user, group or application does not have {kind} list permission on key vault.",
                ),
            )
        obj = self.objects.get((kind, name))
        not_found = {
            "secrets": "SecretNotFound",
            "keys": "KeyNotFound",
            "certificates": "CertificateNotFound",
        }[kind]
        if obj is None:
            return (
                404,
                {},
                _error(
                    not_found,
                    f"A {kind[:-1]} with (name/id) {name} was not found in this key vault.",
                ),
            )
        if rest == ["versions"]:
            return self._list_versions(obj, query)
        if rest == ["rotationpolicy"] and kind == "keys":
            policy = dict(obj.rotation_policy or default_rotation_policy())
            policy["id"] = f"{self.url}/keys/{name}/rotationpolicy"
            return 200, {}, policy
        if rest == ["policy"] and kind == "certificates":
            policy = dict(obj.certificate_policy or certificate_policy())
            policy["id"] = f"{self.url}/certificates/{name}/policy"
            return 200, {}, policy
        version = self._version(obj, rest[0] if rest else "")
        if version is None:
            return (
                404,
                {},
                _error(not_found, f"{name} version {rest[0] if rest else ''} was not found."),
            )
        return 200, {}, self._bundle(obj, version)

    def _version(self, obj: FakeObject, version_id: str) -> FakeVersion | None:
        if not version_id:
            return max(obj.versions, key=lambda item: item.created) if obj.versions else None
        return next((item for item in obj.versions if item.version == version_id), None)

    def _item(self, obj: FakeObject, version: FakeVersion) -> dict[str, Any]:
        base = f"{self.url}/{obj.kind}/{obj.name}/{version.version}"
        item: dict[str, Any] = {"attributes": _attributes(version, self.recovery_level), "tags": {}}
        if obj.kind == "keys":
            item["kid"] = base
        else:
            item["id"] = base
        if obj.kind == "secrets" and version.content_type:
            item["contentType"] = version.content_type
        if obj.managed:
            item["managed"] = True
        if obj.kind == "certificates" and version.certificate is not None:
            der = version.certificate.certificate.public_bytes(serialization.Encoding.DER)
            item["x5t"] = _b64url(hashlib.sha1(der).digest())  # noqa: S324 - the x5t thumbprint is SHA-1
        return item

    def _bundle(self, obj: FakeObject, version: FakeVersion) -> dict[str, Any]:
        bundle = self._item(obj, version)
        base = f"{self.url}/{obj.kind}/{obj.name}/{version.version}"
        if obj.kind == "secrets":
            bundle["value"] = version.value
            if obj.managed:
                bundle["kid"] = f"{self.url}/keys/{obj.name}/{version.version}"
        elif obj.kind == "keys":
            bundle.pop("kid", None)
            bundle["key"] = _jwk(base, version.key, obj.key_type)
        elif obj.kind == "certificates" and version.certificate is not None:
            der = version.certificate.certificate.public_bytes(serialization.Encoding.DER)
            bundle.update(
                cer=base64.b64encode(der).decode(),
                kid=f"{self.url}/keys/{obj.name}/{version.version}",
                sid=f"{self.url}/secrets/{obj.name}/{version.version}",
                policy={
                    **(obj.certificate_policy or certificate_policy()),
                    "id": f"{self.url}/certificates/{obj.name}/policy",
                },
            )
        return bundle

    def _list_versions(
        self, obj: FakeObject, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], Any]:
        size = min(
            int(query.get("maxresults", [str(self.page_size)])[0] or self.page_size), self.page_size
        )
        start = int(query.get("$skiptoken", ["0"])[0] or 0)
        items = [self._item(obj, version) for version in obj.versions]
        page = items[start : start + size]
        body: dict[str, Any] = {"value": page, "nextLink": None}
        if start + size < len(items):
            api_version = query.get("api-version", ["7.6"])[0]
            body["nextLink"] = (
                f"{self.url}/{obj.kind}/{urllib.parse.quote(obj.name)}/versions?api-version={api_version}"
                f"&$skiptoken={start + size}&maxresults={size}"
            )
        return 200, {}, body

    def _token(self, tenant: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        form = urllib.parse.parse_qs(body.decode())
        assertion_type = form.get("client_assertion_type", [""])[0]
        if (
            tenant != self.tenant
            or form.get("grant_type", [""])[0] != "client_credentials"
            or assertion_type != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            or form.get("client_id", [""])[0] != self.client_id
            or form.get("client_assertion", [""])[0] != self.federated_token
        ):
            return (
                401,
                {},
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS700213: No matching federated identity record found.",
                },
            )
        with self._lock:
            self.tokens_issued += 1
        return (
            200,
            {},
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": self.access_token,
            },
        )


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _make_handler(vault: FakeKeyVault) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
            return

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                status, extra, payload = vault.handle(method, self.path, headers, body)
            except Exception as exc:  # noqa: BLE001 - a broken fixture must answer, not hang the client
                status, extra, payload = 500, {}, _error("InternalError", type(exc).__name__)
            data = json.dumps(payload).encode()
            vault._record(method, self.path, status)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

    return Handler
