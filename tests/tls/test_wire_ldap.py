"""LDAP StartTLS wire format (agent.tls.ldap): the request bytes, the response parser, hostile input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.tls import ldap
from agent.tls.dh_groups import identify


def _tlv(tag: int, content: bytes, long_form: bool = False) -> bytes:
    """BER with a definite length; `long_form` uses 0x82 NN NN even for short contents."""
    if long_form or len(content) >= 0x80:
        return bytes([tag, 0x82]) + len(content).to_bytes(2, "big") + content
    return bytes([tag, len(content)]) + content


def _response(
    code: int, diagnostic: bytes = b"", name: bytes | None = None, long_form: bool = False
) -> bytes:
    op = _tlv(0x0A, bytes([code])) + _tlv(0x04, b"") + _tlv(0x04, diagnostic, long_form)
    if name is not None:
        op += _tlv(0x8A, name)
    body = _tlv(0x02, b"\x01") + _tlv(0x78, op, long_form)
    return _tlv(0x30, body, long_form)


def test_starttls_request_is_rfc_4511_bytes() -> None:
    # LDAPMessage SEQUENCE { INTEGER 1, [APPLICATION 23] { [0] "1.3.6.1.4.1.1466.20037" } }
    assert (
        bytes.fromhex("301d020101771880") + bytes([22]) + b"1.3.6.1.4.1.1466.20037"
        == ldap.STARTTLS_REQUEST
    )


@pytest.mark.parametrize("long_form", (False, True))
def test_success_and_refusal(long_form: bool) -> None:
    ok = _response(0, name=ldap.STARTTLS_OID.encode(), long_form=long_form)
    assert ldap.is_complete(ok) and ldap.starttls_accepted(ok)
    assert not ldap.is_complete(ok[:-1])
    refused = _response(52, b"no TLS here", long_form=long_form)
    assert not ldap.starttls_accepted(refused)
    assert ldap.describe(refused) == (
        "LDAP StartTLS answered unavailable (a 11-character diagnostic message, not quoted)"
    )


def test_notice_of_disconnection_is_named() -> None:
    notice = _response(2, b"bad request", name=ldap.NOTICE_OF_DISCONNECTION_OID.encode())
    assert ldap.describe(notice).startswith("LDAP notice of disconnection answered protocolError")


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_ldap_error(data: bytes) -> None:
    assert isinstance(ldap.is_complete(data), bool)
    assert isinstance(ldap.starttls_accepted(data), bool)
    assert isinstance(ldap.describe(data), str)
    with contextlib.suppress(ldap.LDAPError):
        ldap.parse_extended_response(data)


@given(st.integers(0, 127), st.binary(max_size=200), st.booleans())
def test_round_trip(code: int, diagnostic: bytes, long_form: bool) -> None:
    response = ldap.parse_extended_response(_response(code, diagnostic, long_form=long_form))
    assert response.result_code == code and response.message_id == 1
    assert response.diagnostic == diagnostic.decode("utf-8", "replace")


@given(st.integers(min_value=3, max_value=2**1100))
def test_other_numbers_are_custom_groups_named_by_size(prime: int) -> None:
    group = identify(prime)
    assert group.custom and group.name == f"custom-DH-{prime.bit_length()}"
