"""What the specs now spell out, checked byte for byte against the code with raw primitives:
the additional data of a stanza (sealed-bid.md section 2), of a file key at rest (section 6)
and of a custodian's key share (section 8), and the weak-point constants of protocol.md 1.2.
Each test reads the document too, so the text and the code can't drift apart.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crypto import EncryptionKey, SigningKey, read_header, unwrap_file_key
from crypto._ed25519_checks import SMALL_ORDER_Y
from evaluator_client.bidding import seal_to_file
from server.domain.access import Role
from server.domain.participants import Participant
from server.service.node_keys import NodeKeys, issue_opening_key, share_commitment
from server.service.opening import _at_rest_context

DOCS: Final = Path(__file__).parents[2] / "docs"
TENDER: Final = "t-20261121-0000000000aa"
SPEC_AAD: Final = b'{"custodian":"p-cust1","index":2,"tender":"t-20261121-0000000000aa"}'


def b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def custodian(name: str, raw: bytes) -> Participant:
    public = EncryptionKey.from_bytes(raw).public_key.to_text()
    return Participant(name, Role.CUSTODIAN, name, "ed25519:unused", {}, public)


def test_a_key_share_opens_with_the_aad_bytes_the_spec_writes() -> None:
    text = (DOCS / "spec" / "sealed-bid.md").read_text(encoding="utf-8")
    assert SPEC_AAD.decode() in text
    assert f"it is the {len(SPEC_AAD)}" in text
    raws = [os.urandom(32), os.urandom(32)]
    issued, shares = issue_opening_key(
        TENDER, 2, [custodian("p-cust0", raws[0]), custodian("p-cust1", raws[1])]
    )
    share = next(s for s in shares if s.custodian == "p-cust1")
    assert share.index == 2
    private = X25519PrivateKey.from_private_bytes(raws[1])
    mine = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ephemeral, sealed = b64(share.ephemeral), b64(share.sealed)
    assert (len(ephemeral), len(sealed)) == (32, 48)
    shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    key = HKDF(SHA256(), 32, salt=ephemeral + mine, info=b"bidroom opening-key-share v1").derive(
        shared
    )
    value = AESGCM(key).decrypt(bytes(12), sealed, SPEC_AAD)
    assert len(value) == 32
    holders = {index: commitment for _, index, commitment in issued.holders}
    assert holders[2] == share_commitment(TENDER, 2, value)


def test_the_small_order_constants_are_the_ones_protocol_md_writes() -> None:
    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    written = {int(h, 16) for h in re.findall(r"0x[0-9a-f]{64}", text)}
    p = 2**255 - 19
    assert "0, 1, 2^255 - 20 (that is p - 1)," in text
    assert {0, 1, p - 1} | written == SMALL_ORDER_Y


BINDING: Final = b'{"bidder":"p-bidder01","lot":"L1","tender":"t-20261121-0000000000aa","v":1}'


def unwrap_by_hand(private: bytes, recipient: bytes, ephemeral: bytes, wrapped: bytes) -> bytes:
    mine = X25519PrivateKey.from_private_bytes(private)
    shared = mine.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    info = b"bidroom sealed-bid v1 wrap"
    key = HKDF(SHA256(), 32, salt=ephemeral + recipient, info=info).derive(shared)
    return AESGCM(key).decrypt(bytes(12), wrapped, BINDING)


def test_a_stanza_unwraps_with_the_binding_bytes_the_spec_writes(tmp_path: Path) -> None:
    text = (DOCS / "spec" / "sealed-bid.md").read_text(encoding="utf-8")
    assert BINDING.decode() in text
    assert f"it is the {len(BINDING)} bytes" in text
    raw = os.urandom(32)
    own = EncryptionKey.from_bytes(raw)
    archive = tmp_path / "bid.zip"
    archive.write_bytes(b"PK\x05\x06" + bytes(18))
    out = tmp_path / "bid.sealed"
    seal_to_file(
        tender=TENDER, lot="L1", bidder="p-bidder01",
        sheet={"price": "1.00", "duration_days": 1, "quality": "q", "project_manager": "m"},
        archive=archive, own_key=own.public_key, opening_key=None, out=out,
    )  # fmt: skip
    with out.open("rb") as source:
        header = read_header(source)
    (stanza,) = header.recipients
    assert len(stanza.wrapped) == 48
    file_key = unwrap_by_hand(raw, stanza.key.raw, stanza.ephemeral, stanza.wrapped)
    assert file_key == unwrap_file_key(header, own, "bidder")


def test_a_file_key_at_rest_opens_with_the_key_and_aad_the_spec_writes() -> None:
    seed, file_key, sha = os.urandom(32), os.urandom(32), "ab" * 32
    context = _at_rest_context(TENDER, "L1", "p-bidder01", sha)
    sealed = b64(NodeKeys(SigningKey.from_seed(seed)).seal(file_key, context))
    assert len(sealed) == 60
    key = HKDF(SHA256(), 32, salt=None, info=b"bidroom at-rest v1").derive(seed)
    aad = (
        b'{"bidder":"p-bidder01","lot":"L1","sealed_sha256":"' + sha.encode()
        + b'","tender":"t-20261121-0000000000aa"}'
    )  # fmt: skip
    assert AESGCM(key).decrypt(sealed[:12], sealed[12:], aad) == file_key
