"""A bidder's and a custodian's tools: seal offline, submit, check receipts, decrypt, respond.

Private keys stay in the caller's process: sealing and unwrapping happen here, and only the
file key of the caller's own bid is ever sent (at the opening).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import zipfile
from typing import TYPE_CHECKING, Any, BinaryIO, Final

from crypto import (
    DEFAULT_CHUNK,
    CryptoError,
    EncryptionKey,
    EncryptionPublicKey,
    PackageSource,
    SealedBidHeader,
    SheetReader,
    VerifyKey,
    b64url_decode,
    b64url_encode,
    canonical_json,
    digest,
    merkle_root,
    open_box,
    open_payload,
    read_header,
    seal_bid,
    unwrap_file_key,
    verify,
)
from evaluator_client.errors import ClientError, SealedFileRefused
from recordings.documents import (
    CLARIFICATION_ANSWER_LABEL,
    CONFIRMATION_LABEL,
    OBJECTION_LABEL,
    RECEIPT_LABEL,
    RECORD_LABEL,
    SEALED_LIST_LABEL,
    clarification_answer_document,
    confirmation_document,
    objection_document,
)
from recordings.vocabulary import EventType

if TYPE_CHECKING:
    import io
    from collections.abc import Callable
    from pathlib import Path

    from evaluator_client.session import Session

UPLOAD_PIECE: Final = 8 * 1024 * 1024
SHARE_INFO: Final = "bidroom opening-key-share v1"


def archive_directory(directory: Path, out: Path) -> None:
    """A ZIP of a bid's documents, in a stable order, written to `out` (never held in memory)."""
    with zipfile.ZipFile(out, "x", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(directory).as_posix())


def seal_to_file(
    *,
    tender: str,
    lot: str,
    bidder: str,
    sheet: dict[str, Any],
    archive: Path,
    own_key: EncryptionPublicKey,
    opening_key: EncryptionPublicKey | None,
    out: Path,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Seal the package (sheet + archive) into `out`; returns the sealed file's SHA-256."""
    full_sheet = {"v": 1, "tender": tender, "lot": lot, "bidder": bidder, "extra": {}} | sheet
    recipients = [("bidder", own_key)] + ([("opening", opening_key)] if opening_key else [])
    with archive.open("rb") as source, out.open("xb") as sink:
        counted = _Counted(source, os.fstat(source.fileno()).st_size, progress)
        seal_bid(
            PackageSource(full_sheet, counted), sink, tender=tender, lot=lot, bidder=bidder,
            recipients=recipients, chunk_size=chunk_size,
        )  # fmt: skip
    return file_sha256(out)


class _Counted:
    """A file read through, reporting the bytes read so far to `progress`."""

    def __init__(
        self, source: BinaryIO, total: int, progress: Callable[[int, int], None] | None
    ) -> None:
        self._source, self._total, self._progress, self._done = source, total, progress, 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._done += len(data)
        if self._progress is not None:
            self._progress(self._done, self._total)
        return data


def file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            hasher.update(block)
    return hasher.hexdigest()


async def submit(
    session: Session,
    tender: str,
    lot: str,
    sealed: Path,
    *,
    upload: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    sha256: str | None = None,
) -> dict[str, Any]:
    """Upload a sealed bid in pieces (resuming `upload` if given); returns the signed receipt."""
    size = (await asyncio.to_thread(sealed.stat)).st_size
    if upload is None:
        sha256 = sha256 or await asyncio.to_thread(file_sha256, sealed)
        started = await session.post(
            f"/api/tenders/{tender}/lots/{lot}/uploads", {"size": size, "sha256": sha256}
        )
        upload, received = str(started["upload"]), 0
    else:
        received = int((await session.get(f"/api/uploads/{upload}"))["received"])
    handle = await asyncio.to_thread(sealed.open, "rb")
    try:
        while received < size:
            await asyncio.to_thread(handle.seek, received)
            piece = await asyncio.to_thread(handle.read, UPLOAD_PIECE)
            answer = await session.put_bytes(f"/api/uploads/{upload}?offset={received}", piece)
            received = int(answer["received"])
            if progress is not None:
                progress(received, size)
    finally:
        await asyncio.to_thread(handle.close)
    return await session.post(f"/api/uploads/{upload}/complete")


def check_receipt(receipt: dict[str, Any], signature: str, node_key: VerifyKey) -> None:
    """Raise unless the node signed this receipt (InvalidSignature)."""
    verify(node_key, RECEIPT_LABEL, receipt, b64url_decode(signature))


def check_inclusion(
    receipt: dict[str, Any], sealed: dict[str, Any], signature: str, node_key: VerifyKey
) -> None:
    """Raise unless the node's signed sealed list holds this very receipt under its root."""
    verify(node_key, SEALED_LIST_LABEL, sealed, b64url_decode(signature))
    root = merkle_root([canonical_json(r) for r in sealed["receipts"]]).hex()
    if root != sealed["root"]:
        raise ClientError("The sealed list's root does not match its receipts.")
    if canonical_json(receipt) not in {canonical_json(r) for r in sealed["receipts"]}:
        raise ClientError("Your receipt is not in the sealed list.")


def check_sealed(
    sealed: Path,
    own_key: EncryptionKey,
    *,
    tender: str,
    lot: str,
    bidder: str,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[SealedBidHeader, str]:
    """Open a sealed bid as the node will and further: SealedFileRefused unless it is whole.

    The node checks the header and the payload's length; the bidder, who holds a key to it,
    also unwraps its own stanza, checks the header MAC and authenticates every chunk and the
    sheet inside, so a damaged or truncated file never gets a receipt. Memory: one chunk.
    Returns the header and the SHA-256 of the very bytes checked.
    """
    with sealed.open("rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        handle = _Hashing(raw)
        try:
            header = read_header(handle)
        except CryptoError as exc:
            raise SealedFileRefused(SealedFileRefused.NOT_SEALED, str(exc)) from None
        if (header.tender, header.lot, header.bidder) != (tender, lot, bidder):
            names = f"{header.tender}/{header.lot}/{header.bidder}"
            raise SealedFileRefused(SealedFileRefused.ELSEWHERE, names)
        try:
            file_key = unwrap_file_key(header, own_key, "bidder")
        except CryptoError as exc:
            raise SealedFileRefused(SealedFileRefused.NOT_YOURS, str(exc)) from None
        try:
            sheet, done = SheetReader(), header.size
            for chunk in open_payload(header, handle, file_key, size - header.size):
                sheet.feed(chunk)
                done = handle.tell()
                if progress is not None:
                    progress(done, size)
            sheet.result()
        except CryptoError as exc:
            raise SealedFileRefused(SealedFileRefused.CORRUPT, str(exc)) from None
        return header, handle.hexdigest()


def check_opening_key(
    header: SealedBidHeader, tender: dict[str, Any], opening: dict[str, Any]
) -> None:
    """SealedFileRefused if the tender wants bids sealed to its opening key and this is not."""
    if not tender["spec"]["opening"].get("wrap_bids"):
        return
    stanza, wanted = header.recipient("opening"), opening.get("opening_key")
    if wanted and (stanza is None or stanza.key.to_text() != wanted):
        raise SealedFileRefused(SealedFileRefused.NO_OPENING_KEY, str(wanted))


class _Hashing:
    """A file read through once, hashed as it goes (so the hash is of the bytes checked)."""

    def __init__(self, source: io.BufferedReader) -> None:
        self._source = source
        self._hash = hashlib.sha256()

    def read(self, size: int = -1, /) -> bytes:
        data = self._source.read(size)
        self._hash.update(data)
        return data

    def readinto(self, buffer: memoryview, /) -> int:
        count = self._source.readinto(buffer)
        if count:
            self._hash.update(buffer[:count])
        return count

    def tell(self) -> int:
        return self._source.tell()

    def hexdigest(self) -> str:
        rest = self._source.read()  # nothing, once the payload is read to its end
        self._hash.update(rest)
        return self._hash.hexdigest()


async def already_received(
    session: Session, tender: str, lot: str, sha256: str
) -> dict[str, Any] | None:
    """The current receipt of the lot if it is for this very file (the node would refuse it)."""
    mine = await session.get(f"/api/tenders/{tender}/bids/mine")
    for bid in mine["bids"]:
        current = bid.get("current")
        if bid["lot"] == lot and current is not None and current["sha256"] == sha256:
            return dict(current)
    return None


def unwrap(sealed: Path, own_key: EncryptionKey) -> bytes:
    """The file key of a sealed bid, unwrapped locally with the bidder's own key."""
    with sealed.open("rb") as handle:
        return unwrap_file_key(read_header(handle), own_key, "bidder")


async def sign_in(session: Session, tender: str) -> dict[str, Any]:
    """签到 for the opening: from the sign-in time until the record is read out."""
    return await session.post(f"/api/tenders/{tender}/opening/sign-in")


async def withdraw(session: Session, tender: str, lot: str) -> dict[str, Any]:
    """Withdraw this bidder's bid for the lot before the deadline (recorded, not deleted)."""
    return await session.post(f"/api/tenders/{tender}/lots/{lot}/withdraw")


async def decrypt(session: Session, tender: str, lot: str, file_key: bytes) -> dict[str, Any]:
    """Send the file key (and nothing else) so the node opens the bid at the opening."""
    path = f"/api/tenders/{tender}/lots/{lot}/decrypt"
    return await session.post(path, {"file_key": b64url_encode(file_key)})


async def read_record(session: Session, tender: str) -> tuple[dict[str, Any], str]:
    """The opening record as read out, and its hash recomputed here (never taken on trust)."""
    view = await session.get(f"/api/tenders/{tender}/opening")
    record = view.get("record")
    if not isinstance(record, dict):
        raise ClientError("The opening record has not been read out yet.")
    record_hash = digest(RECORD_LABEL, canonical_json(record)).hex()
    if record_hash != view.get("record_hash"):
        raise ClientError("The node's record hash does not match the record it shows.")
    return record, record_hash


async def confirm(session: Session, tender: str) -> dict[str, Any]:
    """Confirm the opening record with this participant's signature over its hash."""
    _, record_hash = await read_record(session, tender)
    signature = session.sign(CONFIRMATION_LABEL, confirmation_document(tender, record_hash))
    return await session.post(f"/api/tenders/{tender}/opening/confirm", {"signature": signature})


async def object_to(session: Session, tender: str, text: str) -> dict[str, Any]:
    """Object to the opening record, in writing, signed."""
    _, record_hash = await read_record(session, tender)
    document = objection_document(tender, record_hash, text)
    signature = session.sign(OBJECTION_LABEL, document)
    body = {"text": text, "signature": signature}
    return await session.post(f"/api/tenders/{tender}/opening/objections", body)


async def clarifications(session: Session, tender: str) -> list[dict[str, Any]]:
    """The committee's written questions to this bidder (澄清), and its answers so far."""
    return list((await session.get(f"/api/tenders/{tender}/clarifications"))["clarifications"])


async def answer_clarification(
    session: Session, tender: str, lot: str, clarification: str, text: str
) -> dict[str, Any]:
    """Answer the committee in writing, signed (Regs 52)."""
    document = clarification_answer_document(tender, lot, clarification, session.participant, text)
    body = {"answer": text, "signature": session.sign(CLARIFICATION_ANSWER_LABEL, document)}
    path = f"/api/tenders/{tender}/lots/{lot}/clarifications/{clarification}/answer"
    return await session.post(path, body)


async def submit_share(session: Session, tender: str, own_key: EncryptionKey) -> dict[str, Any]:
    """Open this custodian's sealed share of the opening key locally and hand it in."""
    page = await session.get(f"/api/tenders/{tender}/events")
    mine = [
        e["event"]["payload"]
        for e in page["events"]
        if e["event"]["type"] == EventType.OPENING_KEY_SHARE_ISSUED
        and e["event"]["payload"]["custodian"] == session.participant
    ]
    if not mine:
        raise ClientError("This tender issued no key share to you.")
    share = mine[-1]
    context = {"tender": tender, "custodian": session.participant, "index": share["index"]}
    value = open_box(
        own_key, b64url_decode(share["ephemeral"]), b64url_decode(share["sealed"]),
        info=SHARE_INFO, context=context,
    )  # fmt: skip
    body = {"index": share["index"], "value": b64url_encode(value)}
    return await session.post(f"/api/tenders/{tender}/opening/shares", body)
