"""The public surface of crypto/ is pinned: widening it is a reviewed decision."""

from __future__ import annotations

import crypto


def test_public_api_is_pinned() -> None:
    assert set(crypto.__all__) == {
        "CanonicalizationError",
        "CryptoError",
        "DEFAULT_CHUNK",
        "DIGEST_BYTES",
        "DecryptionError",
        "EncryptionKey",
        "EncryptionPublicKey",
        "FILE_KEY_BYTES",
        "InvalidSignature",
        "KeyFormatError",
        "MAX_CHUNK",
        "MAX_SAFE_INTEGER",
        "MIN_CHUNK",
        "MalformedJSON",
        "PUBLIC_KEY_BYTES",
        "PackageSource",
        "SIGNATURE_BYTES",
        "SealedBidFormatError",
        "SealedBidHeader",
        "Share",
        "SheetReader",
        "SigningKey",
        "Stanza",
        "VerifyKey",
        "b64url_decode",
        "b64url_encode",
        "canonical_json",
        "check_file_key",
        "combine_shares",
        "digest",
        "leaf_hash",
        "merkle_root",
        "node_hash",
        "open_box",
        "open_payload",
        "open_secret",
        "parse_json",
        "read_header",
        "seal_bid",
        "seal_box",
        "seal_secret",
        "sha256",
        "sign",
        "signing_input",
        "split_secret",
        "unwrap_file_key",
        "verify",
    }
    assert all(hasattr(crypto, name) for name in crypto.__all__)
