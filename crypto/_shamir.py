"""Shamir's secret sharing over GF(256): the one scheme we write ourselves; small, tested hard.

Each byte of the secret is the constant term of its own random polynomial of degree
threshold - 1 over GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1. Share x (1..255)
holds the polynomials' values at x. Any `threshold` shares give the secret back by Lagrange
interpolation at 0; fewer reveal nothing about it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

MAX_SHARES: Final = 255


def _tables() -> tuple[list[int], list[int]]:
    exp, log = [0] * 510, [0] * 256
    value = 1
    for power in range(255):
        exp[power] = exp[power + 255] = value
        log[value] = power
        value ^= (value << 1) ^ (0x11B if value & 0x80 else 0)  # multiply by the generator 3
        value &= 0xFF
    return exp, log


_EXP, _LOG = _tables()


def _mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(256)")
    return 0 if a == 0 else _EXP[_LOG[a] + 255 - _LOG[b]]


@dataclass(frozen=True, slots=True)
class Share:
    index: int  # the x coordinate, 1..255
    value: bytes

    def __repr__(self) -> str:
        return f"Share(index={self.index}, value=<redacted>)"


def split_secret(secret: bytes, threshold: int, count: int) -> list[Share]:
    """`count` shares of `secret`, any `threshold` of which recover it."""
    _check(threshold, count)
    coefficients = secrets.token_bytes(len(secret) * (threshold - 1))
    return _split_with(secret, threshold, count, coefficients)


def _check(threshold: int, count: int) -> None:
    if not 1 <= threshold <= count <= MAX_SHARES:
        raise ValueError(f"Need 1 <= threshold <= count <= {MAX_SHARES}.")


def _split_with(secret: bytes, threshold: int, count: int, coefficients: bytes) -> list[Share]:
    """`split_secret` with the random coefficients given: the seam for known-answer tests."""
    _check(threshold, count)
    if not secret or len(coefficients) != len(secret) * (threshold - 1):
        raise ValueError("The secret is empty or the coefficients do not fit it.")
    degree = threshold - 1
    shares = []
    for x in range(1, count + 1):
        values = bytearray()
        for position, byte in enumerate(secret):
            terms = coefficients[position * degree : (position + 1) * degree]
            y = 0
            for coefficient in reversed(terms):  # Horner: ((a_d x + a_{d-1}) x + ...) x + a_0
                y = _mul(y ^ coefficient, x)
            values.append(y ^ byte)
        shares.append(Share(x, bytes(values)))
    return shares


def combine_shares(shares: Sequence[Share]) -> bytes:
    """The secret from `threshold` (or more) distinct shares, by interpolation at x = 0."""
    if not shares:
        raise ValueError("No shares.")
    indexes = [share.index for share in shares]
    if len(set(indexes)) != len(indexes) or not all(1 <= x <= MAX_SHARES for x in indexes):
        raise ValueError("Share indexes must be distinct, from 1 to 255.")
    length = len(shares[0].value)
    if any(len(share.value) != length for share in shares):
        raise ValueError("Shares of one secret have one length.")
    weights = []
    for j, xj in enumerate(indexes):
        weight = 1
        for m, xm in enumerate(indexes):
            if m != j:
                weight = _mul(weight, _div(xm, xm ^ xj))  # x_m / (x_m - x_j) at x = 0
        weights.append(weight)
    secret = bytearray(length)
    for weight, share in zip(weights, shares, strict=True):
        for position, byte in enumerate(share.value):
            secret[position] ^= _mul(weight, byte)
    return bytes(secret)
