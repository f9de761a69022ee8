"""X25519 encryption keys: for wrapping bid file keys and custodians' key shares."""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from crypto._keys import b64url_decode, b64url_encode
from crypto.errors import KeyFormatError

X25519_BYTES: Final = 32
TEXT_PREFIX: Final = "x25519:"


class EncryptionPublicKey:
    """An X25519 public key; written `x25519:<base64url>`."""

    __slots__ = ("_key", "raw")

    def __init__(self, key: X25519PublicKey) -> None:
        self._key = key
        self.raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @classmethod
    def from_bytes(cls, raw: bytes) -> EncryptionPublicKey:
        if len(raw) != X25519_BYTES:
            raise KeyFormatError(f"An X25519 public key is {X25519_BYTES} bytes.")
        return cls(X25519PublicKey.from_public_bytes(raw))

    def check_usable(self) -> None:
        """Raise KeyFormatError for a low-order point: nothing sealed to it would be secret.

        Keys that are kept and sealed to later (enrolment, the opening key) are checked once
        when they are accepted.
        """
        try:
            _PROBE.exchange(self._key)
        except ValueError:
            raise KeyFormatError("This X25519 key is a low-order point; make a new key.") from None

    @classmethod
    def from_text(cls, text: str) -> EncryptionPublicKey:
        if not text.startswith(TEXT_PREFIX):
            raise KeyFormatError(f"An encryption key in text form starts with {TEXT_PREFIX!r}.")
        return cls.from_bytes(b64url_decode(text[len(TEXT_PREFIX) :]))

    def to_text(self) -> str:
        return TEXT_PREFIX + b64url_encode(self.raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EncryptionPublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"EncryptionPublicKey({self.to_text()!r})"


class EncryptionKey:
    """An X25519 private key. It never shows itself in logs or reprs."""

    __slots__ = ("_key",)

    def __init__(self, key: X25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> EncryptionKey:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_bytes(cls, raw: bytes) -> EncryptionKey:
        if len(raw) != X25519_BYTES:
            raise KeyFormatError(f"An X25519 private key is {X25519_BYTES} bytes.")
        return cls(X25519PrivateKey.from_private_bytes(raw))

    @classmethod
    def from_pem(cls, data: bytes, passphrase: bytes | None = None) -> EncryptionKey:
        try:
            key = serialization.load_pem_private_key(data, password=passphrase)
        except TypeError:
            raise KeyFormatError(
                "The key's encryption does not match: a passphrase is missing or not needed."
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            raise KeyFormatError(
                "The data is not a PEM private key, or the passphrase is wrong."
            ) from None
        if not isinstance(key, X25519PrivateKey):
            raise KeyFormatError("The PEM private key is not an X25519 key.")
        return cls(key)

    def to_pem(self, passphrase: bytes | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def _raw(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    @property
    def public_key(self) -> EncryptionPublicKey:
        return EncryptionPublicKey(self._key.public_key())

    def _exchange(self, peer: EncryptionPublicKey) -> bytes:
        return self._key.exchange(peer._key)

    def __repr__(self) -> str:
        return f"EncryptionKey(<redacted>, public={self.public_key.to_text()!r})"


_PROBE: Final = X25519PrivateKey.generate()  # exchanges with a low-order point fail
