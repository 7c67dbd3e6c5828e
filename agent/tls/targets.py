"""HOST:PORT[/SNI] target strings, IPv6 in brackets: ``[::1]:8443``, ``api.internal:443/api.example``."""

from __future__ import annotations

import ipaddress
import re

from agent.tls.model import Target

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$"
)


class TargetError(ValueError):
    """A target string that cannot be parsed; the message says why."""


def parse_target(text: str, sni: str | None = None) -> Target:
    """Parse ``HOST:PORT`` (``[IPv6]:PORT``), optionally followed by ``/SNI``."""
    raw = text.strip()
    if "/" in raw:
        raw, _, sni_part = raw.partition("/")
        if not sni_part:
            raise TargetError(f"{text!r}: empty SNI after '/'")
        sni = sni or sni_part
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep:
            raise TargetError(f"{text!r}: missing ']' after the IPv6 address")
        try:
            ipaddress.IPv6Address(host.split("%")[0])
        except ValueError as exc:
            raise TargetError(f"{text!r}: {host!r} is not an IPv6 address") from exc
        if not rest.startswith(":"):
            raise TargetError(f"{text!r}: expected [IPv6]:PORT")
        port_text = rest[1:]
    else:
        host, sep, port_text = raw.rpartition(":")
        if not sep or not host:
            raise TargetError(f"{text!r}: expected HOST:PORT")
        if ":" in host:
            raise TargetError(f"{text!r}: put an IPv6 address in brackets, e.g. [::1]:443")
        if not _is_ipv4(host) and not _HOSTNAME.match(host):
            raise TargetError(f"{text!r}: {host!r} is not a host name or IP address")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise TargetError(f"{text!r}: port must be a number from 1 to 65535")
    return Target(host=host, port=int(port_text), sni=sni)


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True
