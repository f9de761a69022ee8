"""The one package that touches cryptographic primitives; a small API, bytes in and bytes out."""

from crypto._box import open_box, seal_box
from crypto._canonical import MAX_SAFE_INTEGER, canonical_json, parse_json
from crypto._keys import (
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    SigningKey,
    VerifyKey,
    b64url_decode,
    b64url_encode,
)
from crypto._merkle import leaf_hash, merkle_root, node_hash
from crypto._sealed import (
    DEFAULT_CHUNK,
    FILE_KEY_BYTES,
    MAX_CHUNK,
    MIN_CHUNK,
    PackageSource,
    SealedBidHeader,
    SheetReader,
    Stanza,
    check_file_key,
    open_payload,
    read_header,
    seal_bid,
    unwrap_file_key,
)
from crypto._secrets import open_secret, seal_secret
from crypto._shamir import Share, combine_shares, split_secret
from crypto._sign import DIGEST_BYTES, digest, sha256, sign, signing_input, verify
from crypto._x25519 import EncryptionKey, EncryptionPublicKey
from crypto.errors import (
    CanonicalizationError,
    CryptoError,
    DecryptionError,
    InvalidSignature,
    KeyFormatError,
    MalformedJSON,
    SealedBidFormatError,
)

__all__ = [
    "DEFAULT_CHUNK",
    "DIGEST_BYTES",
    "FILE_KEY_BYTES",
    "MAX_CHUNK",
    "MAX_SAFE_INTEGER",
    "MIN_CHUNK",
    "PUBLIC_KEY_BYTES",
    "SIGNATURE_BYTES",
    "CanonicalizationError",
    "CryptoError",
    "DecryptionError",
    "EncryptionKey",
    "EncryptionPublicKey",
    "InvalidSignature",
    "KeyFormatError",
    "MalformedJSON",
    "PackageSource",
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
]
