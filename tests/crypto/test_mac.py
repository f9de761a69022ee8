"""HMAC-SHA256 tags: labelled, versioned, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from crypto import MAC_BYTES, CryptoError, InvalidSignature, canonical_json, mac, verify_mac

KEY = bytes(range(32))


def test_a_tag_is_hmac_sha256_over_context_label_and_canonical_json() -> None:
    document = {"b": 1, "a": "x"}
    message = b"bidroom-mac-v1\x00challenge\x00" + canonical_json(document)
    expected = hmac.new(KEY, message, hashlib.sha256).digest()
    assert mac(KEY, "challenge", document) == expected
    assert len(expected) == MAC_BYTES


def test_a_tag_verifies_for_its_key_label_and_document() -> None:
    verify_mac(KEY, "challenge", {"n": 1}, mac(KEY, "challenge", {"n": 1}))


@pytest.mark.parametrize(
    ("key", "label", "document"),
    [(bytes(32), "challenge", {"n": 1}), (KEY, "token", {"n": 1}), (KEY, "challenge", {"n": 2})],
)
def test_any_change_makes_the_tag_fail(key: bytes, label: str, document: object) -> None:
    tag = mac(KEY, "challenge", {"n": 1})
    with pytest.raises(InvalidSignature):
        verify_mac(key, label, document, tag)


def test_a_truncated_tag_fails() -> None:
    with pytest.raises(InvalidSignature):
        verify_mac(KEY, "challenge", {}, mac(KEY, "challenge", {})[:16])


def test_keys_of_the_wrong_length_and_bad_labels_are_refused() -> None:
    with pytest.raises(CryptoError, match="32 bytes"):
        mac(b"short", "challenge", {})
    with pytest.raises(CryptoError, match="label"):
        mac(KEY, "Not A Label", {})
