"""Errors raised by the crypto package.

CryptoError
├── CanonicalizationError   a value has no RFC 8785 canonical form
├── MalformedJSON           text is not I-JSON (syntax, duplicate names, NaN, overflow)
├── KeyFormatError          a key could not be decoded (bad PEM, wrong type, wrong passphrase),
│                           or is weak (small order, non-canonical)
├── InvalidSignature        a signature does not verify
├── SealedBidFormatError    a file is not a well-formed sealed bid (checked without any key)
└── DecryptionError         a ciphertext could not be opened (one opaque error, on purpose)
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base class of every error raised by the crypto package."""


class CanonicalizationError(CryptoError, ValueError):
    """The value can't be written as RFC 8785 canonical JSON."""


class MalformedJSON(CryptoError, ValueError):
    """The text is not I-JSON: bad syntax, a duplicate member name, NaN or an overflow."""


class KeyFormatError(CryptoError, ValueError):
    """The bytes are not a key of the expected kind, the key is weak, or the passphrase is wrong."""


class InvalidSignature(CryptoError):
    """The signature does not verify for this key, label and document."""


class SealedBidFormatError(CryptoError, ValueError):
    """The file is not a well-formed sealed bid (v1); the message says what is wrong."""


class DecryptionError(CryptoError):
    """The ciphertext could not be opened; the reason is withheld on purpose."""


class ProofError(CryptoError):
    """A Merkle inclusion or consistency proof does not verify."""
