"""File classification by content: every payload the Azure provider writes."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization

from agent.secrets.files import KeyedHasher, classify_content
from agent.secrets.model import ContentKind
from inspector.lab import csi_tree, pki


@pytest.fixture(scope="module")
def material() -> dict[str, pki.Issued]:
    root = pki.make_ca()
    intermediate = pki.make_ca("lab intermediate", issuer=root)
    leaf = pki.make_leaf(intermediate, key_kind="rsa", key_bits=2048)
    return {"root": root, "intermediate": intermediate, "leaf": leaf}


@pytest.fixture(scope="module")
def hasher() -> KeyedHasher:
    return KeyedHasher.ephemeral()


def test_cert_object_is_one_certificate(
    material: dict[str, pki.Issued], hasher: KeyedHasher
) -> None:
    facts = classify_content(
        "cert", csi_tree.cert_object(material["leaf"]), mode=0o644, hasher=hasher
    )
    assert facts.kind is ContentKind.CERTIFICATE
    assert facts.certificates[0].sha256 == material["leaf"].sha256
    assert facts.private_keys == ()


def test_pem_secret_with_key_and_chain(
    material: dict[str, pki.Issued], hasher: KeyedHasher
) -> None:
    data = csi_tree.pem_secret_with_key(material["leaf"], (material["intermediate"],))
    facts = classify_content("tls", data, mode=0o440, hasher=hasher)
    assert facts.kind is ContentKind.CERTIFICATE_WITH_KEY
    assert [info.sha256 for info in facts.certificates] == [
        material["leaf"].sha256,
        material["intermediate"].sha256,
    ]
    (key,) = facts.private_keys
    assert (key.key_type, key.key_bits) == ("RSA", 2048)
    assert key.spki_sha256 == facts.certificates[0].spki_sha256  # the key belongs to the leaf
    assert facts.leaf is not None and facts.leaf.sha256 == material["leaf"].sha256
    assert facts.mode == 0o440 and not facts.world_readable


def test_chain_without_key(material: dict[str, pki.Issued], hasher: KeyedHasher) -> None:
    data = material["leaf"].cert_pem + material["intermediate"].cert_pem
    assert classify_content("c", data, mode=0o644, hasher=hasher).kind is ContentKind.CHAIN


def test_key_object_is_public_key(material: dict[str, pki.Issued], hasher: KeyedHasher) -> None:
    ec_key = pki.generate_key("ec", 384)
    facts = classify_content("k", csi_tree.key_object(ec_key), mode=0o644, hasher=hasher)
    assert facts.kind is ContentKind.PUBLIC_KEY
    assert (facts.public_keys[0].key_type, facts.public_keys[0].key_bits) == ("EC", 384)
    assert facts.public_keys[0].curve == "secp384r1"


@pytest.mark.parametrize("decoded", [False, True])
def test_pfx_base64_text_and_raw(
    material: dict[str, pki.Issued], hasher: KeyedHasher, decoded: bool
) -> None:
    data = csi_tree.pfx_secret(material["leaf"], (material["intermediate"],), decoded=decoded)
    facts = classify_content("p", data, mode=0o644, hasher=hasher)
    assert facts.kind is ContentKind.PFX
    assert facts.pfx_encoding == ("der" if decoded else "base64")
    assert facts.pfx_password_protected is False
    assert facts.certificates[0].sha256 == material["leaf"].sha256
    assert facts.private_keys[0].key_bits == 2048


def test_password_protected_pfx(material: dict[str, pki.Issued], hasher: KeyedHasher) -> None:
    data = csi_tree.pfx_bytes(material["leaf"], password=b"not-empty")
    facts = classify_content("p", data, mode=0o644, hasher=hasher)
    assert facts.kind is ContentKind.PFX and facts.pfx_password_protected is True
    assert facts.certificates == ()


def test_lone_private_key_and_encrypted_key(
    material: dict[str, pki.Issued], hasher: KeyedHasher
) -> None:
    plain = classify_content("k", material["leaf"].key_pem, mode=0o600, hasher=hasher)
    assert plain.kind is ContentKind.PRIVATE_KEY and plain.private_keys[0].key_type == "RSA"
    encrypted_pem = material["leaf"].key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    encrypted = classify_content("k", encrypted_pem, mode=0o600, hasher=hasher)
    assert encrypted.kind is ContentKind.PRIVATE_KEY and encrypted.private_keys[0].encrypted


def test_der_encoded_secret_objects(material: dict[str, pki.Issued], hasher: KeyedHasher) -> None:
    """objectEncoding base64/hex: the provider decodes to raw bytes before writing."""
    der = material["leaf"].certificate.public_bytes(serialization.Encoding.DER)
    assert classify_content("d", der, mode=0o644, hasher=hasher).kind is ContentKind.CERTIFICATE


@pytest.mark.parametrize(
    "value",
    [
        b"hunter2",
        b"Server=db;Password=canary-4711;",
        base64.b64encode(b"\x00" * 40),
        b"\x00\x01\x02\xff",
    ],
)
def test_opaque_values_are_only_hashed(value: bytes, hasher: KeyedHasher) -> None:
    facts = classify_content("o", value, mode=0o644, hasher=hasher)
    assert facts.kind is ContentKind.OPAQUE
    assert facts.size == len(value)
    rendered = repr(facts).encode()
    assert value not in rendered
    assert facts.keyed_hash == hasher.digest(value)


def test_keyed_hash_detects_change_and_depends_on_the_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key_file = tmp_path / "hash.key"
    first = KeyedHasher.load_or_create(key_file)
    again = KeyedHasher.load_or_create(key_file)
    assert (key_file.stat().st_mode & 0o777) == 0o600
    assert first.digest(b"1234") == again.digest(b"1234") != first.digest(b"1235")
    assert KeyedHasher.ephemeral().digest(b"1234") != first.digest(b"1234")
    assert "key hidden" in repr(first)


def test_empty_and_garbage_pem(hasher: KeyedHasher) -> None:
    assert classify_content("e", b"\n", mode=0o644, hasher=hasher).kind is ContentKind.EMPTY
    broken = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    facts = classify_content("b", broken, mode=0o644, hasher=hasher)
    assert facts.kind is ContentKind.CERTIFICATE and facts.error


def test_unchanged_content_is_recalled_not_parsed_again(material: dict[str, pki.Issued]) -> None:
    hasher = KeyedHasher.ephemeral()
    data = csi_tree.pem_secret_with_key(material["leaf"])
    first = classify_content("a", data, mode=0o440, hasher=hasher)
    again = classify_content("b/0", data, mode=0o400, hasher=hasher)
    assert hasher.recall(first.keyed_hash) is not None
    assert (again.path, again.mode) == ("b/0", 0o400)  # this file's own path and mode
    assert again.certificates == first.certificates and again.private_keys == first.private_keys
    other = classify_content("a", b"opaque now", mode=0o440, hasher=hasher)
    assert other.kind is ContentKind.OPAQUE and other.keyed_hash != first.keyed_hash
    tiny = KeyedHasher(b"k" * 16, remembered=1)
    classify_content("x", b"one", mode=0o644, hasher=tiny)
    classify_content("y", b"two", mode=0o644, hasher=tiny)
    assert tiny.recall(tiny.digest(b"one")) is None  # bounded: the oldest is forgotten
