"""Weak Ed25519 point encodings, refused by comparing bytes with fixed constants.

This is a validation, not a new primitive: no point is decoded and no arithmetic is done. It
reads the y coordinate and the sign bit of a 32-byte encoding (RFC 8032 section 5.1.3) and
compares y with the field prime and with the y coordinates of the eight points of small order.

Why it is needed: OpenSSL (under pyca/cryptography) verifies Ed25519 cofactorless and rejects a
non-canonical R, but accepts a public key or an R of small order. Under the identity point
A = 01 00..00, the signature R = 01 00..00, S = 0 verifies for every message, so a key of small
order proves nothing about who signed. A key that is not in canonical form names a point that
another, canonical encoding also names; refusing it keeps one spelling per key.
"""

from __future__ import annotations

from typing import Final

P: Final = 2**255 - 19
POINT_BYTES: Final = 32
_Y_MASK: Final = (1 << 255) - 1

# The y coordinates of the eight points of order 1, 2, 4 and 8 on edwards25519 (two points share
# each y but 1 and p - 1, whose x is 0): the identity (y = 1), the point of order 2 (y = p - 1),
# the two of order 4 (y = 0) and the four of order 8 (the last two). With the sign bit set, y = 1
# and y = p - 1 are also non-canonical (x = 0 has no negative); they are refused as small order.
# tests/crypto/test_weak_points.py derives every one of them again with plain point arithmetic.
SMALL_ORDER_Y: Final = frozenset(
    {
        1,
        P - 1,
        0,
        0x7A03AC9277FDC74EC6CC392CFA53202A0F67100D760B3CBA4FD84D3D706A17C7,
        0x05FC536D880238B13933C6D305ACDFD5F098EFF289F4C345B027B2C28F95E826,
    }
)

NON_CANONICAL: Final = "is not in canonical form (its y coordinate is not below 2^255 - 19)"
SMALL_ORDER: Final = "is a point of small order, under which signatures prove nothing"


def weakness(encoding: bytes) -> str | None:
    """Why a 32-byte Ed25519 point encoding must be refused, or None if it may be used."""
    y = int.from_bytes(encoding, "little") & _Y_MASK
    if y >= P:
        return NON_CANONICAL
    if y in SMALL_ORDER_Y:
        return SMALL_ORDER
    return None
