"""The node's own keys: signing what the node vouches for, and keeping file keys at rest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from crypto import (
    DecryptionError,
    EncryptionKey,
    EncryptionPublicKey,
    b64url_decode,
    b64url_encode,
    canonical_json,
    digest,
    open_secret,
    seal_box,
    seal_secret,
    sign,
    split_secret,
)
from server.domain.opening_events import KeyShareIssued, OpeningKeyIssued
from server.storage.base import AT_REST_VERSION

if TYPE_CHECKING:
    from crypto import SigningKey, VerifyKey
    from server.domain.participants import Participant


def node_id(public: VerifyKey) -> str:
    """A node's id, `n-` and the first 16 hex digits of its key's fingerprint.

    It is the node's participant id too when another node enrols it (role `node`), so a
    token's issuer and the enrolled key that checks it are found by the same name.
    """
    return "n-" + public.fingerprint()[:16]


AT_REST_LABEL: Final = "bidroom at-rest v1"
# One key per purpose of docs/spec/at-rest.md: a blob of one kind never opens as another.
RECORDS_LABEL: Final = "bidroom at-rest records v1"
UPLOADS_LABEL: Final = "bidroom at-rest uploads v1"
BIDS_LABEL: Final = "bidroom at-rest bids v1"
SHARE_INFO: Final = "bidroom opening-key-share v1"


def share_commitment(tender: str, index: int, value: bytes) -> str:
    """What the key-issued event publishes for each share, so a false share can be named."""
    document = {"tender": tender, "index": index, "value": b64url_encode(value)}
    return digest("opening-key-share", canonical_json(document)).hex()


def share_context(tender: str, custodian: str, index: int) -> dict[str, object]:
    return {"tender": tender, "custodian": custodian, "index": index}


class AtRest:
    """One at-rest key: versioned AES-256-GCM blobs that open only in their place (context)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def seal(self, data: bytes, context: object) -> bytes:
        return AT_REST_VERSION + seal_secret(self._key, data, context=context)

    def open(self, sealed: bytes, context: object) -> bytes:
        if sealed[:1] != AT_REST_VERSION:
            raise DecryptionError("The sealed data is not in at-rest format 1.")
        return open_secret(self._key, sealed[1:], context=context)

    def __repr__(self) -> str:
        return "AtRest(<redacted>)"


class NodeKeys:
    def __init__(self, signing: SigningKey) -> None:
        self.signing = signing
        self._at_rest = signing.derive_key(AT_REST_LABEL)
        self.records = AtRest(signing.derive_key(RECORDS_LABEL))
        self.uploads = AtRest(signing.derive_key(UPLOADS_LABEL))
        self.bids = AtRest(signing.derive_key(BIDS_LABEL))

    def sign(self, label: str, document: object) -> str:
        return b64url_encode(sign(self.signing, label, document))

    def seal(self, secret: bytes, context: object) -> str:
        return b64url_encode(seal_secret(self._at_rest, secret, context=context))

    def open(self, sealed: str, context: object) -> bytes:
        return open_secret(self._at_rest, b64url_decode(sealed), context=context)


def issue_opening_key(
    tender: str, threshold: int, custodians: list[Participant]
) -> tuple[OpeningKeyIssued, list[KeyShareIssued]]:
    """A fresh opening key, split among `custodians`; the private key is dropped on return.

    Each share goes to its custodian sealed to the custodian's encryption key; the public event
    carries only the public key and one commitment per share.
    """
    key = EncryptionKey.generate()
    shares = split_secret(key._raw(), threshold, len(custodians))
    holders, issued = [], []
    for custodian, share in zip(custodians, shares, strict=True):
        if custodian.encryption_key is None:  # pragma: no cover - checked by the caller
            raise ValueError(f"{custodian.id} has no encryption key.")
        recipient = EncryptionPublicKey.from_text(custodian.encryption_key)
        context = share_context(tender, custodian.id, share.index)
        ephemeral, sealed = seal_box(recipient, share.value, info=SHARE_INFO, context=context)
        holders.append(
            (custodian.id, share.index, share_commitment(tender, share.index, share.value))
        )
        issued.append(
            KeyShareIssued(
                custodian.id, share.index, b64url_encode(ephemeral), b64url_encode(sealed)
            )
        )
    event = OpeningKeyIssued(key.public_key.to_text(), threshold, tuple(holders))
    return event, issued
