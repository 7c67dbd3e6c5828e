"""TLS and SSLv2 wire format: records, handshake messages, ServerHello, HelloRetryRequest, Alert.

Strict and bounded: every length is checked against what is left, oversized records and
messages are refused, and anything malformed raises :class:`ParseError` with the reason.
Nothing here does I/O; :mod:`agent.tls.connection` feeds bytes in.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator

# --- constants -----------------------------------------------------------------------------------

#: Protocol name -> wire version.
VERSIONS: dict[str, int] = {
    "SSLv2": 0x0002,
    "SSLv3": 0x0300,
    "TLSv1.0": 0x0301,
    "TLSv1.1": 0x0302,
    "TLSv1.2": 0x0303,
    "TLSv1.3": 0x0304,
}
VERSION_NAMES: dict[int, str] = {code: name for name, code in VERSIONS.items()}

#: RFC 8446 4.1.3: the ServerHello.random that marks a HelloRetryRequest (SHA-256 of "HelloRetryRequest").
HELLO_RETRY_REQUEST_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)

#: RFC 8446 5.1/5.2: plaintext fragments are at most 2^14 bytes; protected ones 2^14 + 256
#: (TLS 1.3) or + 2048 (TLS 1.2). Anything larger is refused.
MAX_RECORD_LENGTH = 2**14 + 2048
#: A handshake message we are willing to reassemble (certificate chains included).
MAX_HANDSHAKE_LENGTH = 2**18


class ContentType(enum.IntEnum):
    CHANGE_CIPHER_SPEC = 20
    ALERT = 21
    HANDSHAKE = 22
    APPLICATION_DATA = 23
    HEARTBEAT = 24


class HandshakeType(enum.IntEnum):
    HELLO_REQUEST = 0
    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    NEW_SESSION_TICKET = 4
    ENCRYPTED_EXTENSIONS = 8
    CERTIFICATE = 11
    SERVER_KEY_EXCHANGE = 12
    CERTIFICATE_REQUEST = 13
    SERVER_HELLO_DONE = 14


class ExtensionType(enum.IntEnum):
    SERVER_NAME = 0
    SUPPORTED_GROUPS = 10
    EC_POINT_FORMATS = 11
    SIGNATURE_ALGORITHMS = 13
    EXTENDED_MASTER_SECRET = 23
    SESSION_TICKET = 35
    SUPPORTED_VERSIONS = 43
    PSK_KEY_EXCHANGE_MODES = 45
    KEY_SHARE = 51
    RENEGOTIATION_INFO = 0xFF01


#: RFC 8446 6 / RFC 5246 7.2 alert descriptions.
ALERT_NAMES: dict[int, str] = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    21: "decryption_failed",
    22: "record_overflow",
    30: "decompression_failure",
    40: "handshake_failure",
    41: "no_certificate",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    60: "export_restriction",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    100: "no_renegotiation",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
    113: "bad_certificate_status_response",
    115: "unknown_psk_identity",
    116: "certificate_required",
    120: "no_application_protocol",
}


class ParseError(ValueError):
    """Bytes that are not what the protocol allows; the message says what and where."""


# --- a bounds-checked reader -----------------------------------------------------------------------


class Reader:
    """Consumes a bytes buffer; every read checks the remaining length."""

    __slots__ = ("_data", "_pos", "_what")

    def __init__(self, data: bytes, what: str = "message") -> None:
        self._data = data
        self._pos = 0
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def take(self, count: int, field: str) -> bytes:
        if count < 0 or count > self.remaining:
            raise ParseError(f"{self._what}: {field} needs {count} bytes, {self.remaining} left")
        chunk = self._data[self._pos : self._pos + count]
        self._pos += count
        return chunk

    def uint(self, size: int, field: str) -> int:
        return int.from_bytes(self.take(size, field), "big")

    def vector(
        self, length_size: int, field: str, *, minimum: int = 0, maximum: int | None = None
    ) -> bytes:
        length = self.uint(length_size, f"{field} length")
        if length < minimum or (maximum is not None and length > maximum):
            raise ParseError(
                f"{self._what}: {field} length {length} outside [{minimum}, {maximum}]"
            )
        return self.take(length, field)

    def done(self, field: str = "trailing data") -> None:
        if self.remaining:
            raise ParseError(f"{self._what}: {self.remaining} unexpected bytes of {field}")


# --- records ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    content_type: int
    version: int
    fragment: bytes


def encode_record(content_type: int, version: int, fragment: bytes) -> bytes:
    if len(fragment) > 2**14:
        raise ValueError("a plaintext record fragment is at most 2^14 bytes")
    return (
        bytes([content_type])
        + version.to_bytes(2, "big")
        + len(fragment).to_bytes(2, "big")
        + fragment
    )


def parse_record(buffer: bytes) -> tuple[Record, int] | None:
    """The first complete record in `buffer` and its size, None when more bytes are needed."""
    if len(buffer) < 5:
        return None
    content_type = buffer[0]
    if content_type not in ContentType._value2member_map_:
        raise ParseError(f"record: unknown content type {content_type} (not TLS)")
    version = int.from_bytes(buffer[1:3], "big")
    if buffer[1] not in (0x03,) or buffer[2] > 0x04:
        raise ParseError(f"record: version 0x{version:04x} is not SSL 3.0 to TLS 1.3")
    length = int.from_bytes(buffer[3:5], "big")
    if length > MAX_RECORD_LENGTH:
        raise ParseError(f"record: length {length} exceeds {MAX_RECORD_LENGTH}")
    if length == 0 and content_type != ContentType.APPLICATION_DATA:
        raise ParseError(f"record: empty {ContentType(content_type).name} record")
    if len(buffer) < 5 + length:
        return None
    return Record(content_type, version, bytes(buffer[5 : 5 + length])), 5 + length


def iter_records(data: bytes) -> Iterator[Record]:
    """Every complete record of `data`; trailing partial bytes are an error."""
    offset = 0
    while offset < len(data):
        parsed = parse_record(data[offset:])
        if parsed is None:
            raise ParseError(f"record: truncated after {len(data) - offset} bytes")
        record, size = parsed
        yield record
        offset += size


@dataclasses.dataclass(frozen=True, slots=True)
class HandshakeMessage:
    msg_type: int
    body: bytes


class HandshakeBuffer:
    """Reassembles handshake messages that span records (and records holding several messages)."""

    def __init__(self, max_length: int = MAX_HANDSHAKE_LENGTH) -> None:
        self._pending = bytearray()
        self._max = max_length

    def feed(self, fragment: bytes) -> list[HandshakeMessage]:
        self._pending += fragment
        messages = []
        while len(self._pending) >= 4:
            length = int.from_bytes(self._pending[1:4], "big")
            if length > self._max:
                raise ParseError(f"handshake: message length {length} exceeds {self._max}")
            if len(self._pending) < 4 + length:
                break
            messages.append(
                HandshakeMessage(self._pending[0], bytes(self._pending[4 : 4 + length]))
            )
            del self._pending[: 4 + length]
        return messages

    @property
    def pending(self) -> int:
        return len(self._pending)


def encode_handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


# --- alerts ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Alert:
    level: int  # 1 warning, 2 fatal
    description: int

    @property
    def name(self) -> str:
        return ALERT_NAMES.get(self.description, f"alert_{self.description}")

    @property
    def fatal(self) -> bool:
        return self.level == 2


def parse_alert(fragment: bytes) -> Alert:
    if len(fragment) != 2:
        raise ParseError(f"alert: {len(fragment)} bytes, expected 2")
    if fragment[0] not in (1, 2):
        raise ParseError(f"alert: level {fragment[0]} is neither warning (1) nor fatal (2)")
    return Alert(fragment[0], fragment[1])


# --- ServerHello / HelloRetryRequest -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ServerHello:
    #: legacy_version field (0x0303 for TLS 1.3).
    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression: int
    #: Extension type -> raw data, in the order received.
    extensions: tuple[tuple[int, bytes], ...] = ()
    #: From supported_versions when present (TLS 1.3), else None.
    selected_version: int | None = None
    #: key_share: the server's share group (ServerHello) or selected_group (HelloRetryRequest).
    key_share_group: int | None = None

    @property
    def is_hello_retry_request(self) -> bool:
        return self.random == HELLO_RETRY_REQUEST_RANDOM

    @property
    def version(self) -> int:
        return self.selected_version or self.legacy_version

    @property
    def version_name(self) -> str:
        return VERSION_NAMES.get(self.version, f"0x{self.version:04x}")

    def extension(self, ext_type: int) -> bytes | None:
        return next((data for kind, data in self.extensions if kind == ext_type), None)


def _parse_extensions(reader: Reader, what: str) -> tuple[tuple[int, bytes], ...]:
    if reader.remaining == 0:
        return ()
    block = Reader(reader.vector(2, "extensions"), what)
    extensions: list[tuple[int, bytes]] = []
    seen: set[int] = set()
    while block.remaining:
        ext_type = block.uint(2, "extension type")
        data = block.vector(2, f"extension {ext_type}")
        if ext_type in seen:
            raise ParseError(f"{what}: extension {ext_type} appears twice")
        seen.add(ext_type)
        extensions.append((ext_type, data))
    reader.done("data after extensions")
    return tuple(extensions)


def parse_server_hello(body: bytes) -> ServerHello:
    """A ServerHello or HelloRetryRequest handshake body (without the 4-byte handshake header)."""
    reader = Reader(body, "ServerHello")
    legacy_version = reader.uint(2, "version")
    if legacy_version >> 8 != 0x03 or legacy_version & 0xFF > 0x04:
        raise ParseError(f"ServerHello: version 0x{legacy_version:04x} is not SSL 3.0 to TLS 1.3")
    random = reader.take(32, "random")
    session_id = reader.vector(1, "session id", maximum=32)
    cipher_suite = reader.uint(2, "cipher suite")
    compression = reader.uint(1, "compression method")
    extensions = _parse_extensions(reader, "ServerHello")
    is_hrr = random == HELLO_RETRY_REQUEST_RANDOM
    selected_version = None
    key_share_group = None
    for ext_type, data in extensions:
        if ext_type == ExtensionType.SUPPORTED_VERSIONS:
            if len(data) != 2:
                raise ParseError(
                    f"ServerHello: supported_versions is {len(data)} bytes, expected 2"
                )
            selected_version = int.from_bytes(data, "big")
        elif ext_type == ExtensionType.KEY_SHARE:
            ext = Reader(data, "ServerHello key_share")
            key_share_group = ext.uint(2, "group")
            if is_hrr:
                ext.done()
            else:
                ext.vector(2, "key_exchange", minimum=1)
                ext.done()
    return ServerHello(
        legacy_version=legacy_version,
        random=random,
        session_id=session_id,
        cipher_suite=cipher_suite,
        compression=compression,
        extensions=extensions,
        selected_version=selected_version,
        key_share_group=key_share_group,
    )


# --- ServerKeyExchange -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class KeyExchangeParams:
    #: Named group for ECDHE (RFC 8422 named_curve), None for finite-field DHE.
    named_group: int | None = None
    #: Size of the DH prime p in bits, for DHE.
    dh_bits: int | None = None
    #: The DH prime p itself (public), for DHE: names the group (see :mod:`agent.tls.dh_groups`).
    dh_prime: int | None = None


def parse_server_key_exchange(body: bytes, key_exchange: str) -> KeyExchangeParams:
    """The group of a ServerKeyExchange; `key_exchange` is the suite's ("ECDHE", "DHE", "DH", ...)."""
    reader = Reader(body, "ServerKeyExchange")
    if key_exchange.startswith("ECDH"):
        curve_type = reader.uint(1, "curve type")
        if curve_type != 3:
            raise ParseError(f"ServerKeyExchange: curve type {curve_type} is not named_curve (3)")
        return KeyExchangeParams(named_group=reader.uint(2, "named curve"))
    if key_exchange.startswith("DH"):
        prime = int.from_bytes(reader.vector(2, "dh_p", minimum=1), "big")
        return KeyExchangeParams(dh_bits=prime.bit_length(), dh_prime=prime or None)
    raise ParseError(f"ServerKeyExchange: key exchange {key_exchange!r} has no parameters to read")


def parse_certificate_message(body: bytes) -> tuple[bytes, ...]:
    """DER certificates of a TLS <= 1.2 Certificate message (RFC 5246 7.4.2), leaf first."""
    reader = Reader(body, "Certificate")
    chain = Reader(reader.vector(3, "certificate_list"), "Certificate")
    reader.done()
    certificates = []
    while chain.remaining:
        certificates.append(chain.vector(3, "certificate", minimum=1))
    return tuple(certificates)


# --- SSLv2 -----------------------------------------------------------------------------------------

#: SSL 2.0 cipher kinds (3 bytes) -> names.
SSL2_CIPHERS: dict[int, str] = {
    0x010080: "SSL_CK_RC4_128_WITH_MD5",
    0x020080: "SSL_CK_RC4_128_EXPORT40_WITH_MD5",
    0x030080: "SSL_CK_RC2_128_CBC_WITH_MD5",
    0x040080: "SSL_CK_RC2_128_CBC_EXPORT40_WITH_MD5",
    0x050080: "SSL_CK_IDEA_128_CBC_WITH_MD5",
    0x060040: "SSL_CK_DES_64_CBC_WITH_MD5",
    0x0700C0: "SSL_CK_DES_192_EDE3_CBC_WITH_MD5",
}


@dataclasses.dataclass(frozen=True, slots=True)
class SSL2ServerHello:
    version: int
    cipher_kinds: tuple[int, ...]
    certificate_length: int


def parse_ssl2_record(buffer: bytes) -> tuple[bytes, int] | None:
    """(message, size) of a 2-byte-header SSLv2 record, None when more bytes are needed."""
    if len(buffer) < 2:
        return None
    if not buffer[0] & 0x80:
        raise ParseError(
            "SSLv2: record header without the high bit (3-byte headers are not expected)"
        )
    length = ((buffer[0] & 0x7F) << 8) | buffer[1]
    if length == 0:
        raise ParseError("SSLv2: empty record")
    if len(buffer) < 2 + length:
        return None
    return bytes(buffer[2 : 2 + length]), 2 + length


def parse_ssl2_server_hello(message: bytes) -> SSL2ServerHello:
    reader = Reader(message, "SSLv2 ServerHello")
    msg_type = reader.uint(1, "message type")
    if msg_type != 4:
        raise ParseError(f"SSLv2 ServerHello: message type {msg_type}, expected 4 (SERVER-HELLO)")
    reader.uint(1, "session id hit")
    reader.uint(1, "certificate type")
    version = reader.uint(2, "version")
    cert_length = reader.uint(2, "certificate length")
    specs_length = reader.uint(2, "cipher specs length")
    conn_id_length = reader.uint(2, "connection id length")
    if specs_length % 3:
        raise ParseError(
            f"SSLv2 ServerHello: cipher specs length {specs_length} is not a multiple of 3"
        )
    if not 16 <= conn_id_length <= 32:
        raise ParseError(
            f"SSLv2 ServerHello: connection id length {conn_id_length} outside [16, 32]"
        )
    reader.take(cert_length, "certificate")
    specs = reader.take(specs_length, "cipher specs")
    reader.take(conn_id_length, "connection id")
    reader.done()
    kinds = tuple(int.from_bytes(specs[i : i + 3], "big") for i in range(0, len(specs), 3))
    return SSL2ServerHello(version=version, cipher_kinds=kinds, certificate_length=cert_length)
