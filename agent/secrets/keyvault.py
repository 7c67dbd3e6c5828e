"""Key Vault metadata through the official SDK clients — never a secret value.

Calls made (all metadata; the role "Key Vault Reader" is enough):

* secrets: ``list_properties_of_secret_versions`` (never ``get_secret``: that returns the value);
* keys: ``list_properties_of_key_versions``, ``get_key`` of the latest version (public JWK:
  type, size, curve) and ``get_key_rotation_policy``;
* certificates: ``list_properties_of_certificate_versions`` (x5t thumbprints) and
  ``get_certificate_policy`` (key type for HSM backing, auto-renew lifetime actions).

Credentials come the AKS way: ``DefaultAzureCredential`` picks up workload identity from
``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``/``AZURE_FEDERATED_TOKEN_FILE``/``AZURE_AUTHORITY_HOST``.
Every failure (401, 403, 404, 429 with ``Retry-After``, unreachable vault, no credential)
becomes a :class:`VaultError` on the result; nothing raises into the agent's cycle, and
a throttled vault is not asked again until its ``Retry-After`` has passed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from agent.secrets.model import (
    ObjectType,
    RotationPolicyFacts,
    VaultError,
    VaultObjectFacts,
    VersionFacts,
)

log = logging.getLogger(__name__)

#: Key Vault DNS suffix per the provider's ``cloudName`` (lower-cased).
CLOUD_VAULT_SUFFIXES: Mapping[str, str] = {
    "": "vault.azure.net",
    "azurepubliccloud": "vault.azure.net",
    "azureusgovernmentcloud": "vault.usgovcloudapi.net",
    "azurechinacloud": "vault.azure.cn",
    "azuregermancloud": "vault.microsoftazure.de",
}
MANAGED_HSM_MARKER = ".managedhsm."
HSM_KEY_TYPES = frozenset({"RSA-HSM", "EC-HSM", "oct-HSM"})
_MESSAGE_LIMIT = 300


@dataclasses.dataclass(frozen=True, slots=True)
class VaultSettings:
    #: Vault name → base URL, for private endpoints, sovereign clouds and tests.
    url_overrides: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Versions read per object at most (newest are kept; the listing is oldest-first paging).
    max_versions: int = 200
    connection_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    #: The SDK's check that the challenge resource matches the vault's domain; off only for loopback fakes.
    verify_challenge_resource: bool = True
    #: CA bundle path for the vault's TLS (None = system trust).
    ca_file: str | None = None
    #: SDK retries per request. 0: a 429 is recorded at once and the vault is skipped until Retry-After.
    retry_total: int = 0
    #: Pause after a 429 without Retry-After.
    default_retry_after_s: float = 60.0


def vault_url(name: str, cloud_name: str = "", overrides: Mapping[str, str] | None = None) -> str:
    if overrides and name in overrides:
        return overrides[name].rstrip("/")
    suffix = CLOUD_VAULT_SUFFIXES.get(cloud_name.strip().lower(), CLOUD_VAULT_SUFFIXES[""])
    return f"https://{name}.{suffix}"


def is_managed_hsm(url: str) -> bool:
    return MANAGED_HSM_MARKER in (urlparse(url).hostname or "")


def hsm_backed(key_type: str | None, url: str) -> bool | None:
    if is_managed_hsm(url):
        return True
    if not key_type:
        return None
    return key_type in HSM_KEY_TYPES


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _short(message: str) -> str:
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    return first_line[:_MESSAGE_LIMIT]


def vault_error(exc: BaseException, vault_base: str = "") -> VaultError:
    """Classify an SDK or transport exception as a recorded fact."""
    if isinstance(exc, HttpResponseError) and exc.response is not None:
        status = exc.status_code
        request_url = str(getattr(getattr(exc.response, "request", None), "url", "") or "")
        message = _short(str(getattr(exc, "message", "") or exc))
        token_request = "/oauth2/" in request_url or (
            bool(vault_base) and bool(request_url) and not request_url.startswith(vault_base)
        )
        if token_request:
            return VaultError("credential", f"token request failed: {message}", status)
        if status == 429:
            headers = getattr(exc.response, "headers", None) or {}
            header = headers.get("Retry-After")
            retry_after = float(header) if header and header.strip().isdigit() else None
            return VaultError("throttled", message or "too many requests", 429, retry_after)
        kind = {401: "unauthorized", 403: "forbidden", 404: "not-found"}.get(status or 0, "error")
        return VaultError(kind, message, status)
    if isinstance(exc, ClientAuthenticationError):
        return VaultError("credential", _short(str(exc)))
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return VaultError("unreachable", _short(str(exc)))
    # azure-identity's CredentialUnavailableError and anything else unexpected
    return VaultError(
        "credential" if "Credential" in type(exc).__name__ else "error",
        f"{type(exc).__name__}: {_short(str(exc))}",
    )


def _lifetime_actions(policy: Any) -> tuple[tuple[str, Any], ...]:
    """(action name as the service spells it, action) of a key rotation or certificate policy."""
    return tuple((_text(action.action) or "", action) for action in policy.lifetime_actions or ())


def _first_action(actions: tuple[tuple[str, Any], ...], name: str) -> Any | None:
    """The first lifetime action called `name` (any case), if any."""
    return next((action for text, action in actions if text.lower() == name), None)


def _version_facts(properties: Any, **extra: Any) -> VersionFacts:
    return VersionFacts(
        version=str(properties.version or ""),
        enabled=properties.enabled,
        created_on=properties.created_on,
        updated_on=properties.updated_on,
        not_before=properties.not_before,
        expires_on=properties.expires_on,
        recovery_level=_text(getattr(properties, "recovery_level", None)),
        managed=getattr(properties, "managed", None),
        **extra,
    )


def _newest_first(versions: Iterable[VersionFacts]) -> tuple[VersionFacts, ...]:
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return tuple(sorted(versions, key=lambda item: item.created_on or epoch, reverse=True))


def _jwk_facts(jwk: Any) -> tuple[str | None, int | None, str | None]:
    key_type = _text(getattr(jwk, "kty", None))
    modulus = getattr(jwk, "n", None)
    curve = _text(getattr(jwk, "crv", None))
    bits: int | None = None
    if modulus:
        bits = int.from_bytes(modulus, "big").bit_length()
    elif curve:
        bits = {"P-256": 256, "P-256K": 256, "P-384": 384, "P-521": 521}.get(curve)
    return key_type, bits, curve


CredentialFactory = Callable[[], TokenCredential]


#: What the workload-identity webhook injects into a pod that uses it.
WORKLOAD_IDENTITY_ENV = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE")


def default_credential() -> TokenCredential:
    """Workload identity when the webhook set it up, else ``DefaultAzureCredential``.

    A pod given workload identity uses that identity only: were its token exchange to fail,
    ``DefaultAzureCredential`` would go on to the node's managed identity (IMDS), a wider
    identity than the one the operator granted.
    """
    from azure.identity import DefaultAzureCredential, WorkloadIdentityCredential

    if all(os.environ.get(name) for name in WORKLOAD_IDENTITY_ENV):
        return WorkloadIdentityCredential()
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


class VaultReader:
    """Reads Key Vault metadata for (vault, type, name); one instance per agent, clients cached per vault."""

    def __init__(
        self,
        credential: TokenCredential,
        settings: VaultSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.credential = credential
        self.settings = settings or VaultSettings()
        self._clients: dict[tuple[str, str], Any] = {}
        self._throttled_until: dict[str, float] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "verify_challenge_resource": self.settings.verify_challenge_resource,
            "connection_timeout": self.settings.connection_timeout_s,
            "read_timeout": self.settings.read_timeout_s,
            "retry_total": self.settings.retry_total,
        }
        if self.settings.ca_file:
            kwargs["connection_verify"] = self.settings.ca_file
        return kwargs

    def _client(self, kind: str, url: str) -> Any:
        with self._lock:
            client = self._clients.get((kind, url))
            if client is None:
                if kind == "secret":
                    from azure.keyvault.secrets import SecretClient as client_class
                elif kind == "key":
                    from azure.keyvault.keys import KeyClient as client_class  # type: ignore[assignment]
                else:
                    from azure.keyvault.certificates import CertificateClient as client_class  # type: ignore[assignment]
                client = client_class(url, self.credential, **self._client_kwargs())
                self._clients[(kind, url)] = client
            return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                log.debug("closing a Key Vault client failed", exc_info=True)

    def read(
        self, vault_name: str, object_type: ObjectType, object_name: str, cloud_name: str = ""
    ) -> VaultObjectFacts:
        """Metadata of one object; errors are recorded on the result, never raised."""
        url = vault_url(vault_name, cloud_name, self.settings.url_overrides)
        base = VaultObjectFacts(
            vault_name=vault_name,
            vault_url=url,
            object_type=object_type,
            object_name=object_name,
            fetched_at=dt.datetime.now(dt.UTC),
        )
        remaining = self._throttled_until.get(url, 0.0) - self._clock()
        if remaining > 0:
            return dataclasses.replace(
                base,
                error=VaultError(
                    "throttled",
                    f"vault throttled: not asked again for {remaining:.0f} s",
                    429,
                    remaining,
                ),
            )
        try:
            if object_type is ObjectType.SECRET:
                return self._read_secret(base)
            if object_type is ObjectType.KEY:
                return self._read_key(base)
            return self._read_certificate(base)
        except Exception as exc:  # noqa: BLE001 - every failure is a fact on the result
            error = vault_error(exc, url)
            if error.kind == "throttled":
                pause = (
                    error.retry_after_s
                    if error.retry_after_s is not None
                    else self.settings.default_retry_after_s
                )
                self._throttled_until[url] = self._clock() + pause
            log.info(
                "Key Vault %s %s/%s: %s (%s)",
                url,
                object_type.value,
                object_name,
                error.kind,
                error.status,
            )
            return dataclasses.replace(base, error=error)

    def _listed(
        self, pages: Iterable[Any], build: Callable[[Any], VersionFacts]
    ) -> tuple[tuple[VersionFacts, ...], bool]:
        versions: list[VersionFacts] = []
        truncated = False
        for properties in pages:
            versions.append(build(properties))
            if len(versions) > self.settings.max_versions:
                truncated = True
        ordered = _newest_first(versions)
        return ordered[: self.settings.max_versions], truncated

    def _read_secret(self, base: VaultObjectFacts) -> VaultObjectFacts:
        client = self._client("secret", base.vault_url)
        versions, truncated = self._listed(
            client.list_properties_of_secret_versions(base.object_name, max_page_size=25),
            lambda props: _version_facts(props, content_type=props.content_type),
        )
        return dataclasses.replace(
            base,
            versions=versions,
            truncated=truncated,
            hsm_backed=hsm_backed(None, base.vault_url),
        )

    def _read_key(self, base: VaultObjectFacts) -> VaultObjectFacts:
        client = self._client("key", base.vault_url)
        versions, truncated = self._listed(
            client.list_properties_of_key_versions(base.object_name, max_page_size=25),
            _version_facts,
        )
        if versions:
            latest = client.get_key(base.object_name, versions[0].version)
            key_type, bits, curve = _jwk_facts(latest.key)
            versions = (
                dataclasses.replace(versions[0], key_type=key_type, key_bits=bits, curve=curve),
                *versions[1:],
            )
        policy = client.get_key_rotation_policy(base.object_name)
        actions = _lifetime_actions(policy)
        rotate = _first_action(actions, "rotate")
        notify = _first_action(actions, "notify")
        rotation = RotationPolicyFacts(
            rotates=rotate is not None,
            time_after_create=(rotate.time_after_create if rotate else None),
            time_before_expiry=(
                rotate.time_before_expiry
                if rotate
                else (notify.time_before_expiry if notify else None)
            ),
            expires_in=policy.expires_in,
            actions=tuple(name for name, _ in actions),
        )
        key_type = versions[0].key_type if versions else None
        return dataclasses.replace(
            base,
            versions=versions,
            truncated=truncated,
            rotation_policy=rotation,
            hsm_backed=hsm_backed(key_type, base.vault_url),
        )

    def _read_certificate(self, base: VaultObjectFacts) -> VaultObjectFacts:
        client = self._client("cert", base.vault_url)
        versions, truncated = self._listed(
            client.list_properties_of_certificate_versions(base.object_name, max_page_size=25),
            lambda props: _version_facts(
                props,
                x509_thumbprint=props.x509_thumbprint.hex() if props.x509_thumbprint else None,
            ),
        )
        policy = client.get_certificate_policy(base.object_name)
        key_type = _text(policy.key_type)
        versions = tuple(
            dataclasses.replace(
                item,
                key_type=key_type,
                key_bits=policy.key_size,
                curve=_text(policy.key_curve_name),
            )
            for item in versions
        )
        actions = _lifetime_actions(policy)
        renew = _first_action(actions, "autorenew")
        rotation = RotationPolicyFacts(
            rotates=renew is not None,
            lifetime_percentage=renew.lifetime_percentage if renew else None,
            days_before_expiry=renew.days_before_expiry if renew else None,
            actions=tuple(name for name, _ in actions),
        )
        return dataclasses.replace(
            base,
            versions=versions,
            truncated=truncated,
            rotation_policy=rotation,
            hsm_backed=hsm_backed(key_type, base.vault_url),
        )


def parse_vault_urls(text: str) -> dict[str, str]:
    """``"kv-a=https://kv-a.privatelink.vaultcore.azure.net,kv-b=https://127.0.0.1:8443"`` → mapping.

    Raises ValueError naming the bad item (not NAME=https://HOST[:PORT]).
    """
    urls: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, url = item.partition("=")
        parsed = urlparse(url.strip())
        if not name.strip() or parsed.scheme != "https" or not parsed.hostname:
            raise ValueError(f"not VAULT=https://HOST[:PORT]: {item!r}")
        urls[name.strip()] = url.strip().rstrip("/")
    return urls
