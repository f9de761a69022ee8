"""HMAC-SHA256 tags over canonical JSON, for tokens only the node itself needs to check."""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from crypto._canonical import canonical_json
from crypto._sign import _label
from crypto.errors import CryptoError, InvalidSignature

# Its own version marker, so a tag can never be taken for a signature or a hash input.
MAC_CONTEXT: Final = b"bidroom-mac-v1"
MAC_BYTES: Final = 32
MAC_KEY_BYTES: Final = 32


def mac(key: bytes, label: str, document: object) -> bytes:
    """HMAC-SHA256 of the canonical JSON of `document` for the purpose `label`; 32 bytes."""
    if len(key) != MAC_KEY_BYTES:
        raise CryptoError(f"A MAC key is {MAC_KEY_BYTES} bytes.")
    message = MAC_CONTEXT + b"\x00" + _label(label) + b"\x00" + canonical_json(document)
    return hmac.new(key, message, hashlib.sha256).digest()


def verify_mac(key: bytes, label: str, document: object, tag: bytes) -> None:
    """Raise InvalidSignature unless `tag` is the MAC of `document` for `label` under `key`."""
    if not hmac.compare_digest(mac(key, label, document), tag):
        raise InvalidSignature("The MAC does not match.")
