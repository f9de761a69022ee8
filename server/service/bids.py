"""Sealed bids arriving: resumable uploads, format checks, receipts, withdrawals, sealed lists."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, Final, cast

from crypto import SealedBidFormatError, read_header
from server.domain.access import Action, Actor
from server.domain.bids import MAX_BID_BYTES, Receipt, SealedList
from server.domain.errors import (
    ChecksumMismatch,
    DomainError,
    NotASealedBid,
    TooManyUploads,
    UploadIncomplete,
)
from server.errors import ConflictError, NotFound
from server.protocol import box_stream
from server.protocol.fields import Reader
from server.protocol.times import format_time
from server.service.ledger import Origin
from server.storage.files import UploadSession

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from server.clock import Clock
    from server.domain.bidbox import BidBox
    from server.domain.events import DomainEvent
    from server.domain.tender import Tender
    from server.service.gate import Gate
    from server.service.keys import NodeKeys
    from server.service.ledger import Aggregate, Ledger
    from server.service.tenders import Tenders
    from server.storage.files import BidFiles

RECEIPT_LABEL: Final = "receipt"
MAX_UPLOADS_PER_BIDDER: Final = 4
_SHA256: Final = re.compile(r"[0-9a-f]{64}")


class Bids:
    def __init__(
        self,
        ledger: Ledger,
        gate: Gate,
        tenders: Tenders,
        clock: Clock,
        keys: NodeKeys,
        files: BidFiles,
    ) -> None:
        self._ledger = ledger
        self._gate = gate
        self._tenders = tenders
        self._clock = clock
        self._keys = keys
        self._files = files
        self._writing: set[str] = set()  # uploads a request is appending to right now
        self._digests: dict[str, _Digest] = {}  # running SHA-256 of uploads, while in memory

    async def start_upload(
        self, actor: Actor, tender_id: str, lot: str, document: object
    ) -> UploadSession:
        """Announce a sealed file (size and SHA-256) before sending it in pieces."""
        action = Action.SUBMIT_BID
        await self._gate.check(actor, action, tender_id)
        tender = await self._tenders.visible(actor, tender_id)
        box = box_stream(tender_id)
        size, sha256 = await self._gate.parse(
            actor, box, action.value, lambda: _announced(document)
        )
        try:
            tender.check_submission(self._clock.now(), lot)
            if (
                len(await asyncio.to_thread(self._files.sessions_of, actor.id))
                >= MAX_UPLOADS_PER_BIDDER
            ):
                raise TooManyUploads(
                    f"Finish or abandon an upload first (at most {MAX_UPLOADS_PER_BIDDER})."
                )
        except DomainError as exc:
            await self._gate.reject(actor, box, action.value, exc)
            raise
        session = UploadSession(
            secrets.token_urlsafe(24), tender_id, lot, actor.id, size, sha256,
            format_time(self._clock.now()),
        )  # fmt: skip
        await asyncio.to_thread(self._files.create, session)
        return session

    async def status(self, actor: Actor, upload_id: str) -> tuple[UploadSession, int]:
        session = await self._own(actor, upload_id)
        return session, await asyncio.to_thread(self._files.received, upload_id)

    async def write(
        self, actor: Actor, upload_id: str, offset: int, chunks: AsyncIterator[bytes],
        length: int | None = None,
    ) -> int:  # fmt: skip
        """Append the bytes at `offset` (where the upload stands); returns how far it now is."""
        session = await self._own(actor, upload_id)
        with self._busy(upload_id):
            received = await asyncio.to_thread(self._files.received, upload_id)
            if offset != received:
                raise ConflictError(f"The upload stands at byte {received}; send from there.")
            if length is not None and offset + length > session.size:
                raise UploadIncomplete(
                    f"The upload is announced as {session.size} bytes; these would be more."
                )
            # The SHA-256 is computed as bytes arrive, so completing need not read them again;
            # after a failed write (or a restart) completing hashes the file instead.
            digest = self._digests.pop(upload_id, None)
            if digest is None and received == 0:
                digest = _Digest()
            elif digest is not None and digest.covered != received:
                digest = None
            handle = await asyncio.to_thread(self._files.open_append, upload_id, received)
            try:
                async for chunk in chunks:
                    if received + len(chunk) > session.size:
                        raise UploadIncomplete(
                            f"The upload is announced as {session.size} bytes; this is more."
                        )
                    await asyncio.to_thread(_append, handle, chunk, digest)
                    received += len(chunk)
            finally:
                await asyncio.to_thread(handle.close)
            if digest is not None:
                self._digests[upload_id] = digest
            return received

    @contextmanager
    def _busy(self, upload_id: str) -> Iterator[None]:
        """One request at a time per upload: a second writer would interleave bytes."""
        if upload_id in self._writing:
            raise ConflictError("Another request is working on this upload; wait for it.")
        self._writing.add(upload_id)
        try:
            yield
        finally:
            self._writing.discard(upload_id)

    async def complete(self, actor: Actor, upload_id: str) -> tuple[Receipt, str]:
        """Check the whole file, keep it, and answer with the node's signed receipt."""
        session = await self._own(actor, upload_id)
        action, box = Action.SUBMIT_BID, box_stream(session.tender)
        tender = await self._tenders.visible(actor, session.tender)
        with self._busy(upload_id):
            digest = self._digests.pop(upload_id, None)
            try:
                await asyncio.to_thread(self._check_file, session, tender, digest)
            except DomainError as exc:
                await self._gate.reject(actor, box, action.value, exc)
                if isinstance(exc, NotASealedBid | ChecksumMismatch):
                    await asyncio.to_thread(self._files.discard, upload_id)
                elif digest is not None:
                    self._digests[upload_id] = digest  # the upload goes on: keep its digest
                raise
            path = await asyncio.to_thread(self._files.adopt, upload_id, session.sha256)
        size = (await asyncio.to_thread(path.stat)).st_size
        signed: list[tuple[Receipt, str]] = []

        def decide(aggregate: Aggregate) -> list[DomainEvent]:
            bid_box, now = cast("BidBox", aggregate), self._clock.now()
            receipt = Receipt(
                session.tender, session.lot, actor.id, size, session.sha256, now,
                bid_box.next_receipt(actor.id),
            )  # fmt: skip
            signature = self._keys.sign(RECEIPT_LABEL, receipt.to_json())
            signed.append((receipt, signature))
            return bid_box.submit(now, tender, receipt, signature)

        await self._in_box(actor, action, session.tender, decide)
        return signed[-1]

    async def _in_box(
        self, actor: Actor, action: Action, tender_id: str,
        decide: Callable[[Aggregate], list[DomainEvent]],
    ) -> None:  # fmt: skip
        """Record in the tender's bid box; a refusal goes there too, where only supervisors look."""
        box = box_stream(tender_id)
        try:
            await self._ledger.execute(box, Origin.of(actor), decide)
        except DomainError as exc:
            await self._gate.reject(actor, box, action.value, exc)
            raise

    def _check_file(self, session: UploadSession, tender: Tender, digest: _Digest | None) -> None:
        received = self._files.received(session.id)
        if received != session.size:
            raise UploadIncomplete(
                f"{received} of {session.size} bytes have arrived; send the rest."
            )
        whole = digest.hexdigest() if digest and digest.covered == received else None
        if (whole or self._files.digest(session.id)) != session.sha256:
            raise ChecksumMismatch("The file that arrived does not have the announced SHA-256.")
        with self._files.part_path(session.id).open("rb") as handle:
            try:
                header = read_header(handle)
                header.check_payload(received - header.size)
            except SealedBidFormatError as exc:
                raise NotASealedBid(str(exc)) from None
        if (header.tender, header.lot, header.bidder) != (
            session.tender,
            session.lot,
            session.bidder,
        ):
            raise NotASealedBid(
                "The sealed bid names another tender, lot or bidder than this upload."
            )
        key = tender.opening.key
        spec = tender.spec
        if spec is not None and spec.opening.wrap_bids and key is not None:
            stanza = header.recipient("opening")
            if stanza is None or stanza.key.to_text() != key.public_key:
                raise NotASealedBid(
                    "This tender requires bids sealed also to its opening key; seal it again with"
                    " the key the tender published."
                )

    async def withdraw(self, actor: Actor, tender_id: str, lot: str) -> None:
        action = Action.WITHDRAW_BID
        await self._gate.check(actor, action, tender_id)
        tender = await self._tenders.visible(actor, tender_id)
        await self._in_box(
            actor, action, tender_id,
            lambda box: cast("BidBox", box).withdraw(self._clock.now(), tender, lot, actor.id),
        )  # fmt: skip

    async def own_bids(self, actor: Actor, tender_id: str) -> list[dict[str, Any]]:
        """The bidder's current bid per lot with every receipt it was given, from the box."""
        await self._gate.check(actor, Action.SUBMIT_BID, tender_id)
        await self._tenders.visible(actor, tender_id)
        box = cast("BidBox", await self._ledger.settled(box_stream(tender_id)))
        lots = sorted({r.lot for r in box.history if r.bidder == actor.id})
        return [
            {
                "lot": lot,
                "current": _json_or_none(box.current.get((lot, actor.id))),
                "receipts": [
                    r.to_json() for r in box.history if r.bidder == actor.id and r.lot == lot
                ],
            }
            for lot in lots
        ]

    async def sealed_list(self, actor: Actor, tender_id: str, lot: str) -> tuple[SealedList, str]:
        await self._gate.check(actor, Action.VIEW_SEALED_LIST, tender_id)
        tender = await self._tenders.visible(actor, tender_id, settled=True)
        sealed = tender.bids.sealed.get(lot)
        if sealed is None:
            raise NotFound(
                f"Lot {lot} is not sealed (the deadline has not passed, or no such lot)."
            )
        return sealed, tender.bids.signatures[lot]

    async def _own(self, actor: Actor, upload_id: str) -> UploadSession:
        await self._gate.check(actor, Action.SUBMIT_BID)
        session = await asyncio.to_thread(self._files.session, upload_id)
        if session.bidder != actor.id:
            raise NotFound(
                "There is no such upload."
            )  # someone else's upload does not exist for you
        return session


class _Digest:
    """The SHA-256 of an upload's first `covered` bytes."""

    def __init__(self) -> None:
        self.covered = 0
        self._hasher = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._hasher.update(data)
        self.covered += len(data)

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()


def _append(handle: BinaryIO, data: bytes, digest: _Digest | None) -> None:
    """Write `data` (in a worker thread), then count it in the running digest."""
    handle.write(data)
    if digest is not None:
        digest.update(data)


def _json_or_none(receipt: Receipt | None) -> dict[str, Any] | None:
    return receipt.to_json() if receipt is not None else None


def _announced(document: object) -> tuple[int, str]:
    reader = Reader(document)
    size = reader.integer("size", low=1, high=MAX_BID_BYTES)
    sha256 = reader.text("sha256", min_len=64, max_len=64, pattern=_SHA256)
    reader.finish()
    return size, sha256
