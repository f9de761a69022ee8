"""Identity keys: PEM with and without passphrase, text form, redaction."""

from __future__ import annotations

import pytest

from crypto import KeyFormatError, SigningKey, VerifyKey, b64url_decode, b64url_encode


def test_private_key_round_trips_through_plain_pem() -> None:
    key = SigningKey.generate()
    loaded = SigningKey.from_pem(key.to_pem())
    assert loaded.verify_key == key.verify_key


def test_private_key_round_trips_through_encrypted_pem() -> None:
    key = SigningKey.generate()
    pem = key.to_pem(passphrase=b"correct horse")
    assert b"ENCRYPTED" in pem
    assert SigningKey.from_pem(pem, passphrase=b"correct horse").verify_key == key.verify_key


def test_wrong_passphrase_is_a_key_format_error() -> None:
    pem = SigningKey.generate().to_pem(passphrase=b"right")
    with pytest.raises(KeyFormatError, match="passphrase"):
        SigningKey.from_pem(pem, passphrase=b"wrong")


def test_missing_passphrase_is_a_key_format_error() -> None:
    pem = SigningKey.generate().to_pem(passphrase=b"right")
    with pytest.raises(KeyFormatError, match="passphrase"):
        SigningKey.from_pem(pem)


def test_garbage_pem_is_a_key_format_error() -> None:
    with pytest.raises(KeyFormatError):
        SigningKey.from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyFormatError):
        VerifyKey.from_pem(b"not a key")


def test_public_key_round_trips_through_pem_and_text() -> None:
    public = SigningKey.generate().verify_key
    assert VerifyKey.from_pem(public.to_pem()) == public
    text = public.to_text()
    assert text.startswith("ed25519:")
    assert VerifyKey.from_text(text) == public
    assert len(public.fingerprint()) == 64


@pytest.mark.parametrize(
    "text",
    ["rsa:AAAA", "ed25519:", "ed25519:AAAA", "ed25519:" + "A" * 43 + "=", "ed25519:" + "*" * 43],
)
def test_bad_public_key_text_is_refused(text: str) -> None:
    with pytest.raises(KeyFormatError):
        VerifyKey.from_text(text)


def test_keys_of_another_algorithm_are_refused() -> None:
    rsa_like = (
        b"-----BEGIN PUBLIC KEY-----\n"
        b"MCowBQYDK2VuAyEAhSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\n"
        b"-----END PUBLIC KEY-----\n"
    )  # an X25519 key (RFC 8410 section 10.1), not a signing key
    with pytest.raises(KeyFormatError, match="Ed25519"):
        VerifyKey.from_pem(rsa_like)


def test_private_key_repr_redacts_the_secret() -> None:
    key = SigningKey.generate()
    text = repr(key)
    assert "redacted" in text
    assert key.to_pem().decode() not in text


def test_seed_must_be_32_bytes() -> None:
    with pytest.raises(KeyFormatError):
        SigningKey.from_seed(b"short")


def test_b64url_is_strict() -> None:
    assert b64url_decode(b64url_encode(b"\xff\xfe")) == b"\xff\xfe"
    for bad in ["//8", "__8=", "_-8\n", "é"]:
        with pytest.raises(KeyFormatError):
            b64url_decode(bad)
