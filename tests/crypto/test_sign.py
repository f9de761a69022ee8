"""Ed25519 against RFC 8032, and our labelled, versioned signing over canonical JSON."""

from __future__ import annotations

import hashlib

import pytest

from crypto import (
    CryptoError,
    InvalidSignature,
    SigningKey,
    canonical_json,
    digest,
    sign,
    signing_input,
    verify,
    verify_raw,
)

# RFC 8032 section 7.1: secret key (seed), public key, message, signature.
RFC8032_VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        hashlib.sha512(b"abc").hexdigest(),
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
]


@pytest.mark.parametrize(("seed", "public", "message", "signature"), RFC8032_VECTORS)
def test_ed25519_matches_rfc8032(seed: str, public: str, message: str, signature: str) -> None:
    key = SigningKey.from_seed(bytes.fromhex(seed))
    assert key.verify_key.raw.hex() == public
    assert key._sign_raw(bytes.fromhex(message)).hex() == signature
    verify_raw(key.verify_key, bytes.fromhex(message), bytes.fromhex(signature))


def test_sign_then_verify() -> None:
    key = SigningKey.generate()
    document = {"tender": "t-1", "round": 2, "price": 1250000.5}
    signature = sign(key, "score-sheet", document)
    verify(key.verify_key, "score-sheet", document, signature)


def test_signing_input_is_versioned_labelled_canonical_json() -> None:
    document = {"b": 1, "a": [True, None]}
    expected = b"bidroom-sig-v1\x00receipt\x00" + canonical_json(document)
    assert signing_input("receipt", document) == expected


def test_verify_ignores_key_order_of_the_document() -> None:
    key = SigningKey.generate()
    signature = sign(key, "login", {"a": 1, "b": 2})
    verify(key.verify_key, "login", {"b": 2, "a": 1}, signature)


def test_verify_raises_for_another_label() -> None:
    key = SigningKey.generate()
    signature = sign(key, "receipt", {"x": 1})
    with pytest.raises(InvalidSignature):
        verify(key.verify_key, "confirmation", {"x": 1}, signature)


def test_verify_raises_for_a_changed_document() -> None:
    key = SigningKey.generate()
    signature = sign(key, "receipt", {"price": 100})
    with pytest.raises(InvalidSignature):
        verify(key.verify_key, "receipt", {"price": 101}, signature)


def test_verify_raises_for_another_key() -> None:
    signature = sign(SigningKey.generate(), "receipt", {"x": 1})
    with pytest.raises(InvalidSignature):
        verify(SigningKey.generate().verify_key, "receipt", {"x": 1}, signature)


@pytest.mark.parametrize("length", [0, 63, 65])
def test_verify_raises_for_a_signature_of_the_wrong_length(length: int) -> None:
    key = SigningKey.generate()
    with pytest.raises(InvalidSignature, match="64 bytes"):
        verify(key.verify_key, "receipt", {}, b"\x00" * length)


@pytest.mark.parametrize("label", ["", "Upper", "with space", "nul\x00", "x" * 65, "-lead"])
def test_labels_are_short_lowercase_words(label: str) -> None:
    with pytest.raises(CryptoError, match="label"):
        sign(SigningKey.generate(), label, {})


def test_digest_is_domain_separated() -> None:
    data = b"same bytes"
    assert digest("audit-event", data) != digest("receipt", data)
    assert (
        digest("audit-event", data)
        == hashlib.sha256(b"bidroom-hash-v1\x00audit-event\x00" + data).digest()
    )


def test_raw_verification_refuses_a_changed_message() -> None:
    key = SigningKey.generate()
    signature = key._sign_raw(b"message")
    verify_raw(key.verify_key, b"message", signature)
    with pytest.raises(InvalidSignature):
        verify_raw(key.verify_key, b"messagE", signature)
