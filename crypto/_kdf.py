"""HKDF-SHA256 with a purpose label: every derived key names what it is for."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32


def derive(ikm: bytes, *, info: str, salt: bytes = b"") -> bytes:
    """32 bytes of HKDF-SHA256 output; `info` is an ASCII purpose label."""
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt or None, info=info.encode("ascii")
    ).derive(ikm)
