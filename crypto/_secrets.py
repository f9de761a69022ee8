"""Small secrets (file keys) sealed at rest under a symmetric key, bound to a context."""

from __future__ import annotations

import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto._canonical import canonical_json
from crypto.errors import DecryptionError

NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16


def seal_secret(key: bytes, secret: bytes, *, context: object) -> bytes:
    """nonce || AES-256-GCM(key, nonce, secret, aad = JCS(context)); the nonce is random."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, secret, canonical_json(context))


def open_secret(key: bytes, sealed: bytes, *, context: object) -> bytes:
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("The sealed secret is too short.")
    try:
        return AESGCM(key).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], canonical_json(context)
        )
    except InvalidTag:
        raise DecryptionError("The sealed secret can't be opened.") from None
