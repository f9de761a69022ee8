"""Signatures and hashes over canonical JSON, separated by purpose labels and versioned."""

from __future__ import annotations

import hashlib
import re
from typing import Final

from cryptography.exceptions import InvalidSignature as _PycaInvalidSignature

from crypto._canonical import canonical_json
from crypto._ed25519_checks import POINT_BYTES, weakness
from crypto._keys import SIGNATURE_BYTES, SigningKey, VerifyKey
from crypto.errors import CryptoError, InvalidSignature

# Version markers: a later format changes these, so old and new signatures can never collide.
SIGNATURE_CONTEXT: Final = b"bidroom-sig-v1"
HASH_CONTEXT: Final = b"bidroom-hash-v1"
DIGEST_BYTES: Final = 32

# Labels name the purpose of a signature or hash ("receipt", "login", "audit-event", ...).
# They are short ASCII words, so that the NUL separators below are unambiguous.
_LABEL: Final = re.compile(r"[a-z0-9][a-z0-9./-]{0,63}")


def signing_input(label: str, document: object) -> bytes:
    """The exact bytes that `sign` signs: context, label and canonical JSON, NUL-separated."""
    return SIGNATURE_CONTEXT + b"\x00" + _label(label) + b"\x00" + canonical_json(document)


def sign(key: SigningKey, label: str, document: object) -> bytes:
    """Sign the canonical JSON of `document` for the purpose `label`; 64 raw bytes."""
    return key._sign_raw(signing_input(label, document))


def verify(key: VerifyKey, label: str, document: object, signature: bytes) -> None:
    """Raise InvalidSignature unless `signature` is `key`'s signature of `document` for `label`."""
    _verify(key, signing_input(label, document), signature)


def verify_raw(key: VerifyKey, message: bytes, signature: bytes) -> None:
    """Plain Ed25519 over bytes, with no label or context: for test vectors and for benchmark
    baselines only. Everything the system signs goes through `sign` and `verify`."""
    _verify(key, message, signature)


def _verify(key: VerifyKey, message: bytes, signature: bytes) -> None:
    if len(signature) != SIGNATURE_BYTES:
        raise InvalidSignature(f"An Ed25519 signature is {SIGNATURE_BYTES} bytes.")
    # OpenSSL accepts an R of small order (with an A of small order, that forges any message),
    # so R is checked here. It refuses an S >= L itself: Wycheproof's vectors pin that.
    reason = weakness(signature[:POINT_BYTES])
    if reason is not None:
        raise InvalidSignature(f"The signature's R {reason}.")
    try:
        key._key.verify(signature, message)
    except _PycaInvalidSignature:
        raise InvalidSignature("The signature does not verify.") from None


def digest(label: str, data: bytes) -> bytes:
    """SHA-256 of `data`, domain-separated by `label` so hashes of different kinds never meet."""
    return hashlib.sha256(HASH_CONTEXT + b"\x00" + _label(label) + b"\x00" + data).digest()


def sha256(data: bytes) -> bytes:
    """Plain SHA-256, for content hashes that outside tools must be able to reproduce."""
    return hashlib.sha256(data).digest()


def _label(label: str) -> bytes:
    if not _LABEL.fullmatch(label):
        raise CryptoError(f"Invalid purpose label {label!r}.")
    return label.encode("ascii")
