"""The public surface of crypto/ is pinned: widening it is a reviewed decision."""

from __future__ import annotations

import crypto


def test_public_api_is_pinned() -> None:
    assert set(crypto.__all__) == {
        "DIGEST_BYTES",
        "MAX_SAFE_INTEGER",
        "PUBLIC_KEY_BYTES",
        "SIGNATURE_BYTES",
        "CanonicalizationError",
        "CryptoError",
        "DecryptionError",
        "InvalidSignature",
        "KeyFormatError",
        "MalformedJSON",
        "SigningKey",
        "VerifyKey",
        "b64url_decode",
        "b64url_encode",
        "canonical_json",
        "digest",
        "parse_json",
        "sha256",
        "sign",
        "signing_input",
        "verify",
    }
    assert all(hasattr(crypto, name) for name in crypto.__all__)
