"""Sealed files arriving: resumable uploads, one writer each, hashed as the bytes come in.

What a bidder may do with an upload is checked on every request, and every refusal is on
record (routed to the bid box before the deadline, like every other trace of a bidder).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final, NoReturn

from crypto import CryptoError, read_header
from server.domain.access import Action, Actor
from server.domain.errors import (
    ChecksumMismatch,
    DomainError,
    NotASealedBid,
    TooManyUploads,
    UploadBusy,
    UploadIncomplete,
)
from server.domain.sealed_bids import MAX_BID_BYTES
from server.errors import NotFound
from server.protocol import box_stream
from server.protocol.fields import Reader
from server.protocol.times import format_time
from server.service.home import RunningDigest
from server.service.observer import NO_OBSERVER, Observer
from server.storage.blobs import UploadSession

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from datetime import datetime

    from server.clock import Clock
    from server.domain.tender import Tender
    from server.service.commands import Pipeline
    from server.service.gate import Gate
    from server.service.home import Homes
    from server.service.tenders import Tenders
    from server.storage.blobs import BlobStore, BlobWriter

MAX_UPLOADS_PER_BIDDER: Final = 4
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_SUBMIT: Final = Action.SUBMIT_BID


class Uploads:
    def __init__(
        self, gate: Gate, tenders: Tenders, clock: Clock, files: BlobStore, pipeline: Pipeline,
        homes: Homes,
    ) -> None:  # fmt: skip
        self._gate = gate
        self._pipeline = pipeline
        self._homes = homes  # each tender's running digests of its uploads
        self._tenders = tenders
        self._clock = clock
        self._files = files
        self._busy_uploads: set[str] = set()  # uploads a request is working on right now
        self._starting: dict[str, asyncio.Lock] = {}  # per bidder: count, then create
        self.observer: Observer = NO_OBSERVER  # bytes received, for the node's metrics

    async def start(
        self, actor: Actor, tender_id: str, lot: str, document: object
    ) -> UploadSession:
        """Announce a sealed file (size and SHA-256) before sending it in pieces."""
        await self._pipeline.authorize(actor, _SUBMIT, tender_id)
        tender = await self._tenders.visible(actor, tender_id)
        size, sha256 = await self._pipeline.parse(
            actor, box_stream(tender_id), _SUBMIT, lambda: _announced(document)
        )
        lock = self._starting.setdefault(actor.id, asyncio.Lock())
        async with lock:  # two announcements at once must not both slip under the limit
            await self._refusing(
                actor, tender_id, lambda: tender.check_submission(self._now(), lot)
            )
            if len(await asyncio.to_thread(self._files.sessions_of, actor.id)) >= (
                MAX_UPLOADS_PER_BIDDER
            ):
                await self._refuse(actor, tender_id, TooManyUploads(
                    f"Finish or abandon an upload first (at most {MAX_UPLOADS_PER_BIDDER})."
                ))  # fmt: skip
            session = UploadSession(
                secrets.token_urlsafe(24), tender_id, lot, actor.id, size, sha256,
                format_time(self._now()),
            )  # fmt: skip
            await asyncio.to_thread(self._files.create, session)
        return session

    async def status(self, actor: Actor, upload_id: str) -> tuple[UploadSession, int]:
        session = await self.own(actor, upload_id)
        return session, await asyncio.to_thread(self._files.received, upload_id)

    async def write(
        self, actor: Actor, upload_id: str, offset: int, chunks: AsyncIterator[bytes],
        length: int | None = None,
    ) -> int:  # fmt: skip
        """Append the bytes at `offset` (where the upload stands); returns how far it now is."""
        session = await self.own(actor, upload_id)
        tender = await self._tenders.visible(actor, session.tender)
        await self._refusing(
            actor, session.tender, lambda: tender.check_submission(self._now(), session.lot)
        )
        async with self.busy(actor, session):
            received = await asyncio.to_thread(self._files.received, upload_id)
            if offset != received:
                error: DomainError = UploadBusy(
                    f"The upload stands at byte {received}; send from there."
                )
                await self._refuse(actor, session.tender, error)
            if length is not None and offset + length > session.size:
                error = UploadIncomplete(
                    f"The upload is announced as {session.size} bytes; these would be more."
                )
                await self._refuse(actor, session.tender, error)
            # The SHA-256 is computed as bytes arrive, so completing need not read them again;
            # after a failed write (or a restart) completing hashes the file instead.
            digests = self._homes.of(session.tender).digests
            digest = digests.pop(upload_id, None)
            if digest is None and received == 0:
                digest = RunningDigest()
            elif digest is not None and digest.covered != received:
                digest = None
            handle = await asyncio.to_thread(self._files.open_append, upload_id, received)
            try:
                async for chunk in chunks:
                    if received + len(chunk) > session.size:
                        error = UploadIncomplete(
                            f"The upload is announced as {session.size} bytes; this is more."
                        )
                        digest = None  # part of this request may be written: hash it anew
                        await self._refuse(actor, session.tender, error)
                    await asyncio.to_thread(_append, handle, chunk, digest)
                    received += len(chunk)
                    self.observer.uploaded(len(chunk))
            finally:
                await asyncio.to_thread(handle.close)
            if digest is not None:
                digests[upload_id] = digest
            return received

    async def abandon(self, actor: Actor, upload_id: str) -> None:
        """Drop an unfinished upload (and free its place)."""
        session = await self.own(actor, upload_id)
        async with self.busy(actor, session):
            self._homes.of(session.tender).digests.pop(upload_id, None)
            await asyncio.to_thread(self._files.discard, upload_id)

    async def checked(self, actor: Actor, session: UploadSession, tender: Tender) -> None:
        """Check the whole file without any key; a file that is no sealed bid is dropped.

        The caller holds the upload (`busy`).
        """
        digests = self._homes.of(session.tender).digests
        digest = digests.pop(session.id, None)
        try:
            await asyncio.to_thread(self._check_file, session, tender, digest)
        except DomainError as exc:
            if isinstance(exc, NotASealedBid | ChecksumMismatch):
                await asyncio.to_thread(self._files.discard, session.id)
            elif digest is not None:
                digests[session.id] = digest  # the upload goes on: keep its digest
            await self._refuse(actor, session.tender, exc)

    def _check_file(
        self, session: UploadSession, tender: Tender, digest: RunningDigest | None
    ) -> None:
        received = self._files.received(session.id)
        if received != session.size:
            raise UploadIncomplete(
                f"{received} of {session.size} bytes have arrived; send the rest."
            )
        whole = digest.hexdigest() if digest and digest.covered == received else None
        if (whole or self._files.digest(session.id)) != session.sha256:
            raise ChecksumMismatch("The file that arrived does not have the announced SHA-256.")
        with self._files.open_upload(session.id) as handle:
            try:
                header = read_header(handle)
                header.check_payload(received - header.size)
            except CryptoError as exc:
                raise NotASealedBid(str(exc)) from None
        if (header.tender, header.lot, header.bidder) != (
            session.tender, session.lot, session.bidder,
        ):  # fmt: skip
            raise NotASealedBid(
                "The sealed bid names another tender, lot or bidder than this upload."
            )
        key, spec = tender.opening.key, tender.spec
        if spec is not None and spec.opening.wrap_bids and key is not None:
            stanza = header.recipient("opening")
            if stanza is None or stanza.key.to_text() != key.public_key:
                raise NotASealedBid(
                    "This tender requires bids sealed also to its opening key; seal it again with"
                    " the key the tender published."
                )

    async def own(self, actor: Actor, upload_id: str) -> UploadSession:
        """The actor's own upload; anyone else's does not exist for it."""
        await self._pipeline.authorize(actor, _SUBMIT)
        session = await asyncio.to_thread(self._files.session, upload_id)
        if session.bidder != actor.id:
            raise NotFound("There is no such upload.")
        await self._pipeline.authorize(actor, _SUBMIT, session.tender)  # the token's tender scope
        return session

    @asynccontextmanager
    async def busy(self, actor: Actor, session: UploadSession) -> AsyncIterator[None]:
        """One request at a time per upload: a second writer would interleave bytes."""
        if session.id in self._busy_uploads:
            error = UploadBusy("Another request is working on this upload; wait for it.")
            await self._refuse(actor, session.tender, error)
        self._busy_uploads.add(session.id)
        try:
            yield
        finally:
            self._busy_uploads.discard(session.id)

    async def _refusing(self, actor: Actor, tender_id: str, check: Callable[[], None]) -> None:
        try:
            check()
        except DomainError as exc:
            await self._refuse(actor, tender_id, exc)

    async def _refuse(self, actor: Actor, tender_id: str, error: DomainError) -> NoReturn:
        """Record the refusal in the tender's bid box (where bids are), then raise it."""
        await self._gate.refuse(actor, box_stream(tender_id), _SUBMIT.value, error)

    def _now(self) -> datetime:
        return self._clock.now()


def _append(handle: BlobWriter, data: bytes, digest: RunningDigest | None) -> None:
    """Write `data` (in a worker thread), then count it in the running digest."""
    handle.write(data)
    if digest is not None:
        digest.update(data)


def _announced(document: object) -> tuple[int, str]:
    reader = Reader(document)
    size = reader.integer("size", low=1, high=MAX_BID_BYTES)
    sha256 = reader.text("sha256", min_len=64, max_len=64, pattern=_SHA256)
    reader.finish()
    return size, sha256
