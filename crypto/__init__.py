"""The one package that touches cryptographic primitives; a small API, bytes in and bytes out."""

from crypto._canonical import MAX_SAFE_INTEGER, canonical_json, parse_json
from crypto._keys import (
    PUBLIC_KEY_BYTES,
    SIGNATURE_BYTES,
    SigningKey,
    VerifyKey,
    b64url_decode,
    b64url_encode,
)
from crypto._sign import DIGEST_BYTES, digest, sha256, sign, signing_input, verify
from crypto.errors import (
    CanonicalizationError,
    CryptoError,
    DecryptionError,
    InvalidSignature,
    KeyFormatError,
    MalformedJSON,
)

__all__ = [
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
]
