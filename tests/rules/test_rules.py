"""Each rule fires on the condition from the reference's tables, and stays quiet on a modern endpoint."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from agent.rules import (
    PROFILES,
    RULES,
    Rule,
    RuleSettings,
    Severity,
    evaluate_endpoint,
    register,
    rules_for_profile,
)
from agent.rules.suites import suite_properties, suite_rule_ids
from agent.tls.certificates import certificate_info
from agent.tls.model import ChainValidation, EndpointScan, ProtocolResult, Transport
from inspector.lab import pki

#: The lab PKI dates its CAs from the real clock, so the rules judge at the real time too.
NOW = datetime.now(UTC).replace(microsecond=0)
MODERN = {
    "TLSv1.2": ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",),
    "TLSv1.3": ("TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"),
}


def real_chain(**leaf_options: object) -> tuple:
    """Certificate facts parsed from certificates the lab PKI really issues."""
    root = pki.make_ca()
    options = {
        "not_before": NOW - timedelta(days=10),
        "not_after": NOW + timedelta(days=200),
        **leaf_options,
    }
    leaf = pki.make_leaf(root, **options)  # type: ignore[arg-type]
    return (certificate_info(leaf.certificate), certificate_info(root.certificate))


def scan(
    versions: dict[str, tuple[str, ...]] | None = None,
    *,
    groups: tuple[str, ...] = ("X25519MLKEM768", "x25519"),
    certificates: tuple = (),
    **fields: object,
) -> EndpointScan:
    versions = MODERN if versions is None else versions
    protocols = {
        name: ProtocolResult(name in versions, versions.get(name, ()))
        for name in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
    }
    base = EndpointScan(
        host="127.0.0.1",
        port=443,
        transport=Transport.TLS,
        sni="localhost",
        protocols=protocols,
        groups=groups,
        certificates=certificates or real_chain(),
        chain=ChainValidation(trusted=True, hostname_match=True, ca_source="ca-file"),
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


def fired(endpoint: EndpointScan, profile: str = "pci", **settings: int) -> dict[str, list]:
    result: dict[str, list] = {}
    for finding in evaluate_endpoint(
        endpoint,
        "ns/Deployment/app/pod@127.0.0.1:443",
        profile=profile,
        settings=RuleSettings(**settings),
        now=NOW + timedelta(minutes=1),
    ):
        result.setdefault(finding.rule_id, []).append(finding)
    return result


def test_modern_endpoint_has_no_findings_in_either_profile() -> None:
    assert fired(scan()) == {}
    assert set(fired(scan(), "nist")) <= {"C11"}  # ChaCha20 is not NIST-approved (informational)


@pytest.mark.parametrize(
    ("versions", "rule", "fields"),
    [
        ({"SSLv3": ("TLS_RSA_WITH_AES_128_CBC_SHA",), **MODERN}, "P1", {}),
        ({"TLSv1.0": ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",), **MODERN}, "P2", {}),
        ({"TLSv1.1": ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",), **MODERN}, "P3", {}),
        ({"TLSv1.2": MODERN["TLSv1.2"]}, "P5", {}),
        (
            {"TLSv1.0": ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",), **MODERN},
            "P6",
            {"fallback_scsv": False},
        ),
        ({"TLSv1.2": ("TLS_RSA_WITH_NULL_SHA256",), "TLSv1.3": MODERN["TLSv1.3"]}, "C1", {}),
        (
            {"TLSv1.2": ("TLS_DH_anon_WITH_AES_128_GCM_SHA256",), "TLSv1.3": MODERN["TLSv1.3"]},
            "C2",
            {},
        ),
        ({"TLSv1.2": ("TLS_RSA_EXPORT_WITH_RC4_40_MD5",), "TLSv1.3": MODERN["TLSv1.3"]}, "C3", {}),
        ({"TLSv1.2": ("TLS_ECDHE_RSA_WITH_RC4_128_SHA",), "TLSv1.3": MODERN["TLSv1.3"]}, "C4", {}),
        ({"TLSv1.2": ("TLS_RSA_WITH_3DES_EDE_CBC_SHA",), "TLSv1.3": MODERN["TLSv1.3"]}, "C5", {}),
        ({"TLSv1.2": ("TLS_RSA_WITH_AES_128_GCM_SHA256",), "TLSv1.3": MODERN["TLSv1.3"]}, "C6", {}),
        (
            {"TLSv1.2": ("TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256",), "TLSv1.3": MODERN["TLSv1.3"]},
            "C7",
            {},
        ),
        (
            {"TLSv1.2": ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",), "TLSv1.3": MODERN["TLSv1.3"]},
            "C8",
            {},
        ),
        ({"TLSv1.2": ("TLS_RSA_WITH_RC4_128_MD5",), "TLSv1.3": MODERN["TLSv1.3"]}, "C9", {}),
        (None, "C12", {"dhe_min_bits": 1024}),
        (None, "C13", {"groups": ("secp192r1", "x25519")}),
        (None, "Q1", {"groups": ("x25519", "secp256r1")}),
        (None, "P7", {"transport": Transport.PLAINTEXT_HTTP, "protocols": {}, "certificates": ()}),
        (
            None,
            "K8",
            {
                "chain": ChainValidation(
                    trusted=False, error="unable to get local issuer certificate"
                )
            },
        ),
        (None, "K8", {"chain": ChainValidation(trusted=True, hostname_match=False)}),
    ],
)
def test_rule_fires(
    versions: dict[str, tuple[str, ...]] | None, rule: str, fields: dict[str, object]
) -> None:
    groups = fields.pop("groups", ("X25519MLKEM768", "x25519"))
    endpoint = scan(versions, groups=groups, **fields)  # type: ignore[arg-type]
    assert rule in fired(endpoint), fired(endpoint)


def test_tls13_suites_are_not_judged_by_the_legacy_suite_rules() -> None:
    assert "C8" not in fired(
        scan({"TLSv1.3": ("TLS_AES_128_CCM_8_SHA256",), "TLSv1.2": MODERN["TLSv1.2"]})
    )


def test_profiles_differ_in_severity_and_membership() -> None:
    static_rsa = scan(
        {"TLSv1.2": ("TLS_RSA_WITH_AES_128_GCM_SHA256",), "TLSv1.3": MODERN["TLSv1.3"]}
    )
    assert fired(static_rsa, "pci")["C6"][0].severity == Severity.MEDIUM
    assert fired(static_rsa, "nist")["C6"][0].severity == Severity.HIGH
    assert "C10" in {rule.id for rule in rules_for_profile("nist")}
    assert "C10" not in {rule.id for rule in rules_for_profile("pci")}
    with pytest.raises(ValueError, match="unknown profile"):
        rules_for_profile("fips")


def test_certificate_rules_on_real_certificates() -> None:
    weak = real_chain(key_kind="rsa", key_bits=1024)
    assert "K1" in fired(scan(certificates=weak))
    expired = real_chain(not_before=NOW - timedelta(days=100), not_after=NOW - timedelta(days=1))
    assert "K5" in fired(scan(certificates=expired))
    soon = real_chain(not_after=NOW + timedelta(days=20))
    assert fired(scan(certificates=soon))["K6"][0].severity == Severity.MEDIUM
    assert (
        fired(scan(certificates=soon), expiry_warn_days=10, expiry_critical_days=5).get("K6")
        is None
    )
    very_soon = real_chain(not_after=NOW + timedelta(days=5))
    assert fired(scan(certificates=very_soon))["K6"][0].severity == Severity.HIGH
    rsa2048 = real_chain(key_kind="rsa", key_bits=2048)
    assert "K3" in fired(scan(certificates=rsa2048))


def test_sha1_signature_fires_k4_but_not_on_a_root() -> None:
    leaf, root = real_chain()
    sha1_leaf = dataclasses.replace(
        leaf, signature_hash="sha1", signature_algorithm="sha1WithRSAEncryption"
    )
    sha1_root = dataclasses.replace(root, signature_hash="sha1", self_signed=True)
    assert "K4" in fired(scan(certificates=(sha1_leaf, root)))
    assert "K4" not in fired(scan(certificates=(leaf, sha1_root)))


def test_findings_carry_rule_data() -> None:
    finding = fired(scan({"TLSv1.0": ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",), **MODERN}))["P2"][0]
    assert finding.requirements == ("4.2.1",)
    assert finding.remediation
    assert "TLSv1.0" in finding.message


def test_every_rule_is_well_formed() -> None:
    for rule in RULES.values():
        assert rule.requirements and all(req[0].isdigit() for req in rule.requirements), rule.id
        assert rule.source and rule.remediation and rule.title, rule.id
        assert rule.profiles <= set(PROFILES), rule.id
    assert not [
        r for r in RULES.values() for req in r.requirements if req in ("3.5", "3.6.4", "4.1")
    ]


def test_another_module_can_register_rules() -> None:
    def check(subject: object, settings: RuleSettings):  # type: ignore[no-untyped-def]
        return []

    rule = Rule(
        "X99", "test", Severity.LOW, ("3.7.4",), "test", "none", check, subject_type="vault_object"
    )
    try:
        register(rule)
        assert rule in rules_for_profile("pci", "vault_object")
        with pytest.raises(ValueError, match="twice"):
            register(dataclasses.replace(rule))
    finally:
        RULES.pop("X99", None)


def test_suite_properties_come_from_names() -> None:
    assert suite_properties("TLS_RSA_WITH_3DES_EDE_CBC_SHA") == {
        "triple_des",
        "static_rsa",
        "cbc",
        "sha1_mac",
    }
    assert suite_rule_ids("TLS_CHACHA20_POLY1305_SHA256", "TLSv1.3") == ("C11",)
    assert suite_rule_ids("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLSv1.2") == ()
