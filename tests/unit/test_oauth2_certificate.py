"""oauth2.certificate_file is checked before MSAL sees it: each fault is one line naming the
file and what is wrong with it, never "tenant not found" and never the key itself."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from mailbridge.ops.oauth2 import OAuth2Error
from mailbridge.ops.oauth2_microsoft import check_certificate

PATH = "/etc/mailbridge/m365.pem"


def _key_pem(key: CertificateIssuerPrivateKeyTypes, password: bytes | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def _cert_pem(key: CertificateIssuerPrivateKeyTypes) -> str:
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "mailbridge")])
    start = datetime.now(UTC) - timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _fails(pem: str) -> str:
    with pytest.raises(OAuth2Error) as caught:
        check_certificate(pem, PATH)
    message = str(caught.value)
    assert message.startswith(f"oauth2.certificate_file {PATH}: "), message
    assert "\n" not in message and "tenant" not in message
    assert "PRIVATE KEY-----" not in message and "CERTIFICATE-----" not in message
    return message


def test_a_key_and_its_certificate_in_either_order_pass(rsa_key: rsa.RSAPrivateKey) -> None:
    check_certificate(_key_pem(rsa_key) + _cert_pem(rsa_key), PATH)
    check_certificate(_cert_pem(rsa_key) + _key_pem(rsa_key), PATH)


def test_a_file_without_both_parts_says_so(rsa_key: rsa.RSAPrivateKey) -> None:
    assert "needs the private key and the certificate" in _fails(_cert_pem(rsa_key))
    assert "needs the private key and the certificate" in _fails(_key_pem(rsa_key))
    assert "needs the private key and the certificate" in _fails("not a PEM file at all\n")


def _damaged(pem: str, marker: str) -> str:
    """``pem`` with the base64 of the block after ``marker`` cut short."""
    start = pem.index(marker)
    body = pem.index("\n", start) + 1
    return pem[:body] + pem[body + 40 :]


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda key, cert: _damaged(key, "BEGIN PRIVATE KEY") + cert,
            "the private key is not a valid PEM key",
        ),
        (
            lambda key, cert: key + _damaged(cert, "BEGIN CERTIFICATE"),
            "the certificate is not a valid PEM certificate",
        ),
    ],
)
def test_a_damaged_key_or_certificate_is_named(
    rsa_key: rsa.RSAPrivateKey, damage: Callable[[str, str], str], expected: str
) -> None:
    assert expected in _fails(damage(_key_pem(rsa_key), _cert_pem(rsa_key)))


def test_an_encrypted_key_asks_for_one_without_a_passphrase(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = _key_pem(rsa_key, password=b"s3cret-passphrase") + _cert_pem(rsa_key)
    message = _fails(pem)
    assert "the private key is encrypted" in message
    assert "s3cret" not in message


def test_a_key_that_is_not_rsa_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert "not RSA" in _fails(_key_pem(key) + _cert_pem(key))


def test_a_certificate_of_another_key_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert "the certificate is not the private key's" in _fails(
        _key_pem(rsa_key) + _cert_pem(other)
    )
