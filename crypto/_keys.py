"""Ed25519 identity keys: generation, PEM storage with an optional passphrase, a text form."""

from __future__ import annotations

import base64
import hashlib
from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from crypto._ed25519_checks import weakness
from crypto._kdf import derive
from crypto.errors import KeyFormatError

PUBLIC_KEY_BYTES: Final = 32
SIGNATURE_BYTES: Final = 64
# The text form names its algorithm so that a later key type can't be mistaken for this one.
TEXT_PREFIX: Final = "ed25519:"


class VerifyKey:
    """An Ed25519 public key; weak keys (small order, non-canonical) are refused on the way in."""

    __slots__ = ("_key", "_raw")

    def __init__(self, key: Ed25519PublicKey) -> None:
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        # Every way in (bytes, text, PEM, a private key's public half) comes through here.
        reason = weakness(raw)
        if reason is not None:
            raise KeyFormatError(f"The Ed25519 public key is refused as a weak key: it {reason}.")
        self._key = key
        self._raw = raw

    @classmethod
    def from_bytes(cls, raw: bytes) -> VerifyKey:
        if len(raw) != PUBLIC_KEY_BYTES:
            raise KeyFormatError(f"An Ed25519 public key is {PUBLIC_KEY_BYTES} bytes.")
        return cls(Ed25519PublicKey.from_public_bytes(raw))

    @classmethod
    def from_text(cls, text: str) -> VerifyKey:
        """Decode the `ed25519:<base64url>` form produced by `to_text`."""
        if not text.startswith(TEXT_PREFIX):
            raise KeyFormatError(f"A public key in text form starts with {TEXT_PREFIX!r}.")
        return cls.from_bytes(b64url_decode(text[len(TEXT_PREFIX) :]))

    @classmethod
    def from_pem(cls, data: bytes) -> VerifyKey:
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm):
            raise KeyFormatError("The data is not a PEM public key.") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFormatError("The PEM public key is not an Ed25519 key.")
        return cls(key)

    @property
    def raw(self) -> bytes:
        return self._raw

    def to_text(self) -> str:
        return TEXT_PREFIX + b64url_encode(self._raw)

    def to_pem(self) -> bytes:
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def fingerprint(self) -> str:
        """Hex SHA-256 of the raw key: a stable, public name for it."""
        return hashlib.sha256(self._raw).hexdigest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"VerifyKey({self.to_text()!r})"


class SigningKey:
    """An Ed25519 private key. It never shows itself in logs or reprs."""

    __slots__ = ("_key",)

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """Build a key from its 32-byte RFC 8032 seed (for test vectors and key import)."""
        if len(seed) != PUBLIC_KEY_BYTES:
            raise KeyFormatError(f"An Ed25519 seed is {PUBLIC_KEY_BYTES} bytes.")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_pem(cls, data: bytes, passphrase: bytes | None = None) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(data, password=passphrase)
        except TypeError:
            # pyca raises TypeError when a passphrase is missing or given for a plain key.
            raise KeyFormatError(
                "The key's encryption does not match: a passphrase is missing or not needed."
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            raise KeyFormatError(
                "The data is not a PEM private key, or the passphrase is wrong."
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFormatError("The PEM private key is not an Ed25519 key.")
        return cls(key)

    def to_pem(self, passphrase: bytes | None = None) -> bytes:
        """PKCS#8 PEM, encrypted with the best available scheme when a passphrase is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    @property
    def verify_key(self) -> VerifyKey:
        return VerifyKey(self._key.public_key())

    def _sign_raw(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def derive_key(self, label: str) -> bytes:
        """A 32-byte symmetric key derived from this key's seed for the purpose `label`."""
        seed = self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return derive(seed, info=label)

    def __repr__(self) -> str:
        return f"SigningKey(<redacted>, public={self.verify_key.to_text()!r})"


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 4648 section 5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of `b64url_encode`: no padding, only the url-safe alphabet."""
    if "=" in text or not text.isascii():
        raise KeyFormatError("Base64url text must be ASCII without padding.")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except ValueError:
        raise KeyFormatError("The text is not valid base64url.") from None
    if b64url_encode(data) != text:
        raise KeyFormatError("The base64url text is not in its canonical form.")
    return data
