"""Sealed boxes: a secret encrypted to an X25519 public key, bound to a context.

Used to wrap bid file keys (section 2 of docs/spec/sealed-bid.md) and to deliver key shares to
custodians. The box is (ephemeral public key, AES-256-GCM ciphertext); the context is canonical
JSON passed as associated data, so a box can't be moved to another bid, tender or holder.
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto._canonical import canonical_json
from crypto._kdf import derive
from crypto._x25519 import EncryptionKey, EncryptionPublicKey
from crypto.errors import DecryptionError

ZERO_NONCE: Final = bytes(12)
TAG_BYTES: Final = 16


def seal_box(
    recipient: EncryptionPublicKey, secret: bytes, *, info: str, context: object
) -> tuple[bytes, bytes]:
    """(ephemeral public key, ciphertext) of `secret` for `recipient`."""
    ephemeral = EncryptionKey.generate()
    return _seal_with(ephemeral, recipient, secret, info=info, context=context)


def _seal_with(
    ephemeral: EncryptionKey,
    recipient: EncryptionPublicKey,
    secret: bytes,
    *,
    info: str,
    context: object,
) -> tuple[bytes, bytes]:
    """`seal_box` with a given ephemeral key: the seam for known-answer tests."""
    key = _wrap_key(ephemeral._exchange(recipient), ephemeral.public_key.raw, recipient.raw, info)
    return ephemeral.public_key.raw, AESGCM(key).encrypt(
        ZERO_NONCE, secret, canonical_json(context)
    )


def open_box(
    key: EncryptionKey, ephemeral: bytes, ciphertext: bytes, *, info: str, context: object
) -> bytes:
    """The secret in a box; DecryptionError if it is not for this key and context."""
    try:
        peer = EncryptionPublicKey.from_bytes(ephemeral)
        shared = key._exchange(peer)
    except ValueError:
        raise DecryptionError("The box can't be opened.") from None
    wrap = _wrap_key(shared, ephemeral, key.public_key.raw, info)
    try:
        return AESGCM(wrap).decrypt(ZERO_NONCE, ciphertext, canonical_json(context))
    except InvalidTag:
        raise DecryptionError("The box can't be opened.") from None


def _wrap_key(shared: bytes, ephemeral: bytes, recipient: bytes, info: str) -> bytes:
    if shared == bytes(len(shared)):
        raise DecryptionError("The key exchange produced a degenerate secret.")
    return derive(shared, salt=ephemeral + recipient, info=info)
