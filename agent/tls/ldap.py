"""LDAP StartTLS (RFC 4511 4.14): the ExtendedRequest, and the ExtendedResponse read by hand (BER).

Only what StartTLS needs: definite lengths, the LDAPMessage envelope, and the ExtendedResponse's
resultCode, diagnosticMessage and responseName. Anything else is a :class:`LDAPError`.
"""

from __future__ import annotations

import dataclasses

#: RFC 4511 4.14.1: the StartTLS extended operation.
STARTTLS_OID = "1.3.6.1.4.1.1466.20037"
#: RFC 4511 4.4.1: the unsolicited Notice of Disconnection a server sends before closing.
NOTICE_OF_DISCONNECTION_OID = "1.3.6.1.4.1.1466.20036"

_SEQUENCE = 0x30
_INTEGER = 0x02
_ENUMERATED = 0x0A
_OCTET_STRING = 0x04
_EXTENDED_REQUEST = 0x77  # [APPLICATION 23], constructed
_EXTENDED_RESPONSE = 0x78  # [APPLICATION 24], constructed
_REQUEST_NAME = 0x80  # [0], primitive
_RESPONSE_NAME = 0x8A  # [10], primitive

#: RFC 4511 appendix A: result codes worth a name in a reason.
RESULT_NAMES = {
    0: "success",
    1: "operationsError",
    2: "protocolError",
    12: "unavailableCriticalExtension",
    13: "confidentialityRequired",
    52: "unavailable",
    53: "unwillingToPerform",
    80: "other",
}


class LDAPError(ValueError):
    """Bytes that are not the LDAP message expected; the message says what."""


def _encode(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content


def starttls_request(message_id: int = 1) -> bytes:
    """LDAPMessage { messageID, ExtendedRequest { requestName 1.3.6.1.4.1.1466.20037 } }."""
    operation = _encode(_EXTENDED_REQUEST, _encode(_REQUEST_NAME, STARTTLS_OID.encode()))
    return _encode(_SEQUENCE, _encode(_INTEGER, message_id.to_bytes(1, "big")) + operation)


STARTTLS_REQUEST = starttls_request()


def _header(data: bytes, offset: int) -> tuple[int, int, int] | None:
    """(tag, content offset, content length) of the element at `offset`; None when incomplete."""
    if len(data) < offset + 2:
        return None
    tag, first = data[offset], data[offset + 1]
    if first < 0x80:
        return tag, offset + 2, first
    size = first & 0x7F
    if size == 0 or size > 4:
        raise LDAPError(f"BER length form 0x{first:02x} not supported (indefinite or too long)")
    if len(data) < offset + 2 + size:
        return None
    return tag, offset + 2 + size, int.from_bytes(data[offset + 2 : offset + 2 + size], "big")


def message_length(data: bytes) -> int | None:
    """Size of the first complete LDAPMessage in `data`, None when more bytes are needed."""
    header = _header(data, 0)
    if header is None:
        return None
    tag, start, length = header
    if tag != _SEQUENCE:
        raise LDAPError(f"not an LDAPMessage: first byte 0x{tag:02x}, expected SEQUENCE 0x30")
    return start + length if len(data) >= start + length else None


@dataclasses.dataclass(frozen=True, slots=True)
class ExtendedResponse:
    message_id: int
    result_code: int
    diagnostic: str = ""
    response_name: str | None = None

    @property
    def success(self) -> bool:
        return self.result_code == 0

    @property
    def result_name(self) -> str:
        return RESULT_NAMES.get(self.result_code, f"resultCode {self.result_code}")


def _element(data: bytes, offset: int, end: int, what: str) -> tuple[int, bytes, int]:
    header = _header(data, offset)
    if header is None:
        raise LDAPError(f"{what}: truncated")
    tag, start, length = header
    if start + length > end:
        raise LDAPError(f"{what}: length {length} runs past its envelope")
    return tag, data[start : start + length], start + length


def parse_extended_response(data: bytes) -> ExtendedResponse:
    """The ExtendedResponse in the first LDAPMessage of `data`."""
    total = message_length(data)
    if total is None:
        raise LDAPError("LDAPMessage truncated")
    _, body, _ = _element(data, 0, total, "LDAPMessage")
    tag, raw_id, offset = _element(body, 0, len(body), "messageID")
    if tag != _INTEGER or not 1 <= len(raw_id) <= 4:
        raise LDAPError("LDAPMessage: messageID is not a small INTEGER")
    tag, operation, _ = _element(body, offset, len(body), "protocolOp")
    if tag != _EXTENDED_RESPONSE:
        raise LDAPError(f"protocolOp 0x{tag:02x} is not an ExtendedResponse (0x78)")
    tag, code, offset = _element(operation, 0, len(operation), "resultCode")
    if tag != _ENUMERATED or not 1 <= len(code) <= 4:
        raise LDAPError("ExtendedResponse: resultCode is not an ENUMERATED")
    tag, _, offset = _element(operation, offset, len(operation), "matchedDN")
    if tag != _OCTET_STRING:
        raise LDAPError("ExtendedResponse: matchedDN is not an OCTET STRING")
    tag, diagnostic, offset = _element(operation, offset, len(operation), "diagnosticMessage")
    if tag != _OCTET_STRING:
        raise LDAPError("ExtendedResponse: diagnosticMessage is not an OCTET STRING")
    name = None
    while offset < len(operation):  # optional referral [3], responseName [10], responseValue [11]
        tag, value, offset = _element(operation, offset, len(operation), "optional field")
        if tag == _RESPONSE_NAME:
            name = value.decode("ascii", "replace")
    return ExtendedResponse(
        message_id=int.from_bytes(raw_id, "big", signed=True),
        result_code=int.from_bytes(code, "big"),
        diagnostic=diagnostic.decode("utf-8", "replace"),
        response_name=name,
    )


def is_complete(answer: bytes) -> bool:
    """A whole LDAPMessage has arrived (or the bytes are not LDAP: stop reading)."""
    try:
        return message_length(answer) is not None
    except LDAPError:
        return True


def starttls_accepted(answer: bytes) -> bool:
    """The answer is a successful ExtendedResponse to our StartTLS request."""
    try:
        response = parse_extended_response(answer)
    except LDAPError:
        return False
    return response.success and response.message_id == 1


def describe(answer: bytes) -> str:
    """A one-line reason for an LDAP answer that is not a yes.

    The result code is named; the diagnostic message is the peer's own text and is never
    quoted (a peer's words may carry anything, secrets included): only its length is said.
    """
    try:
        response = parse_extended_response(answer)
    except LDAPError as exc:
        return f"not an LDAP answer ({exc})"
    what = (
        "notice of disconnection"
        if response.response_name == NOTICE_OF_DISCONNECTION_OID
        else "StartTLS"
    )
    detail = (
        f" (a {len(response.diagnostic)}-character diagnostic message, not quoted)"
        if response.diagnostic
        else ""
    )
    return f"LDAP {what} answered {response.result_name}{detail}"
