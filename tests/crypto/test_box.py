"""X25519 keys (RFC 7748 vector) and sealed boxes bound to their context."""

from __future__ import annotations

import pytest

from crypto import (
    DecryptionError,
    EncryptionKey,
    EncryptionPublicKey,
    KeyFormatError,
    SigningKey,
    open_box,
    open_secret,
    seal_box,
    seal_secret,
)


def test_x25519_matches_rfc7748_section_6_1() -> None:
    alice = EncryptionKey.from_bytes(
        bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    )
    bob = EncryptionKey.from_bytes(
        bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    )
    assert alice.public_key.raw.hex() == (
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    )
    assert bob.public_key.raw.hex() == (
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    )
    shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    assert alice._exchange(bob.public_key).hex() == shared
    assert bob._exchange(alice.public_key).hex() == shared


def test_a_box_opens_for_its_recipient_and_context_only() -> None:
    key = EncryptionKey.generate()
    context = {"tender": "t-1", "custodian": "p-1", "index": 2}
    ephemeral, sealed = seal_box(key.public_key, b"share bytes", info="test box", context=context)
    assert open_box(key, ephemeral, sealed, info="test box", context=context) == b"share bytes"
    for other_key, other_info, other_context in (
        (EncryptionKey.generate(), "test box", context),
        (key, "other purpose", context),
        (key, "test box", {**context, "index": 3}),
    ):
        with pytest.raises(DecryptionError):
            open_box(other_key, ephemeral, sealed, info=other_info, context=other_context)


def test_a_box_with_a_degenerate_ephemeral_key_is_refused() -> None:
    key = EncryptionKey.generate()
    with pytest.raises(DecryptionError):
        open_box(key, bytes(32), b"x" * 48, info="test box", context={})
    with pytest.raises(DecryptionError):
        open_box(key, b"short", b"x" * 48, info="test box", context={})


def test_encryption_keys_round_trip() -> None:
    key = EncryptionKey.generate()
    assert EncryptionKey.from_pem(key.to_pem()).public_key == key.public_key
    pem = key.to_pem(passphrase=b"pw")
    assert EncryptionKey.from_pem(pem, passphrase=b"pw").public_key == key.public_key
    with pytest.raises(KeyFormatError):
        EncryptionKey.from_pem(pem, passphrase=b"wrong")
    with pytest.raises(KeyFormatError):
        EncryptionKey.from_pem(pem)
    with pytest.raises(KeyFormatError, match="X25519"):
        EncryptionKey.from_pem(SigningKey.generate().to_pem())
    assert EncryptionPublicKey.from_text(key.public_key.to_text()) == key.public_key
    assert "redacted" in repr(key)
    for bad in ("ed25519:AAAA", "x25519:AAAA"):
        with pytest.raises(KeyFormatError):
            EncryptionPublicKey.from_text(bad)
    with pytest.raises(KeyFormatError):
        EncryptionKey.from_bytes(b"short")


def test_secrets_sealed_at_rest_are_bound_to_their_context() -> None:
    key = SigningKey.generate().derive_key("bidroom at-rest v1")
    sealed = seal_secret(key, b"file key", context={"bid": 1})
    assert open_secret(key, sealed, context={"bid": 1}) == b"file key"
    with pytest.raises(DecryptionError):
        open_secret(key, sealed, context={"bid": 2})
    with pytest.raises(DecryptionError):
        open_secret(key, sealed[:20], context={"bid": 1})


def test_derived_keys_depend_on_key_and_label() -> None:
    node = SigningKey.generate()
    assert node.derive_key("a") != node.derive_key("b")
    assert node.derive_key("a") != SigningKey.generate().derive_key("a")
    assert len(node.derive_key("a")) == 32


def test_a_low_order_point_is_not_a_usable_key() -> None:
    EncryptionKey.generate().public_key.check_usable()
    for raw in (bytes(32), bytes([1]) + bytes(31)):
        with pytest.raises(KeyFormatError, match="low-order"):
            EncryptionPublicKey.from_bytes(raw).check_usable()
