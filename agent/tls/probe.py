"""The per-endpoint probing context: one place that opens connections, counts and limits them."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from agent.tls.client_hello import HelloSpec, client_hello, ssl2_client_hello
from agent.tls.connection import Endpoint, HelloReply, exchange_hello, exchange_ssl2_hello
from agent.tls.model import ScanOptions, Target
from agent.tls.starttls import POSTGRES_SSL_REQUEST, StartTLS

__all__ = ["POSTGRES_SSL_REQUEST", "Probe"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Probe:
    """Connections to one endpoint: counted, and never more than `per_endpoint_concurrency` at once."""

    target: Target
    options: ScanOptions
    connections: int = 0
    #: The plaintext dialog before every ClientHello, once the port is known to need one.
    starttls: StartTLS | None = None
    _limit: asyncio.Semaphore = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self._limit = asyncio.Semaphore(max(1, self.options.per_endpoint_concurrency))

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(
            self.target.host.strip("[]"),
            self.target.port,
            connect_timeout=self.options.connect_timeout,
            read_timeout=self.options.read_timeout,
        )

    @property
    def server_name(self) -> str | None:
        return self.target.sni or self.target.host.strip("[]")

    @property
    def limit(self) -> asyncio.Semaphore:
        return self._limit

    async def hello(self, spec: HelloSpec, *, read_key_exchange: bool = False) -> HelloReply:
        data = client_hello(spec)
        async with self._limit:
            self.connections += 1
            return await exchange_hello(
                self.endpoint, data, read_key_exchange=read_key_exchange, starttls=self.starttls
            )

    async def ssl2_hello(self) -> HelloReply:
        async with self._limit:
            self.connections += 1
            return await exchange_ssl2_hello(
                self.endpoint, ssl2_client_hello(), starttls=self.starttls
            )

    async def raw(self, data: bytes, *, timeout: float) -> tuple[str, bytes]:
        """Send `data`, read what comes back within `timeout`: ("ok"|"refused"|"timeout"|"error", bytes)."""
        async with self._limit:
            self.connections += 1
            endpoint = dataclasses.replace(self.endpoint, read_timeout=timeout)
            return await _exchange_raw(endpoint, data)


async def _exchange_raw(endpoint: Endpoint, data: bytes) -> tuple[str, bytes]:
    from agent.tls.connection import close_quietly, open_connection

    try:
        reader, writer = await open_connection(endpoint)
    except ConnectionRefusedError:
        return "refused", b""
    except (OSError, TimeoutError) as exc:
        # the answer slot carries only what the peer sent: an OS error is no answer
        log.debug("raw exchange with %s:%s failed: %s", endpoint.host, endpoint.port, exc)
        return "error", b""
    try:
        async with asyncio.timeout(endpoint.read_timeout):
            writer.write(data)
            await writer.drain()
            answer = await reader.read(256)
            return ("ok" if answer else "closed"), answer
    except TimeoutError:
        return "timeout", b""
    except OSError:
        return "closed", b""
    finally:
        await close_quietly(writer)
