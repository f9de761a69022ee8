"""Sealed bids in the bid box: receipts, revisions, withdrawals; the sealed lists after it.

Every trace of a bidder before the deadline is recorded in the tender's bid box, a stream
only supervisors read (docs/architecture.md, "The bid box").
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from recordings.documents import RECEIPT_LABEL
from server.domain.access import Action, Actor
from server.domain.errors import DomainError
from server.domain.sealed_bids import Receipt, SealedList
from server.errors import NotFound
from server.protocol import box_stream

if TYPE_CHECKING:
    from collections.abc import Callable

    from server.clock import Clock
    from server.domain.bidbox import BidBox
    from server.domain.events import DomainEvent
    from server.service.commands import Pipeline
    from server.service.gate import Gate
    from server.service.home import Homes
    from server.service.ledger import Aggregate, Ledger
    from server.service.node_keys import NodeKeys
    from server.service.tenders import Tenders
    from server.service.uploads import Uploads
    from server.storage.blobs import BlobStore


class Submissions:
    def __init__(
        self,
        ledger: Ledger,
        gate: Gate,
        tenders: Tenders,
        clock: Clock,
        keys: NodeKeys,
        files: BlobStore,
        uploads: Uploads,
        pipeline: Pipeline,
        homes: Homes,
    ) -> None:
        self._pipeline = pipeline
        self._ledger = ledger
        self._gate = gate
        self._tenders = tenders
        self._clock = clock
        self._keys = keys
        self._files = files
        self._uploads = uploads
        # Completions that arrived before the deadline: sealing the box waits for them.
        self.completions = homes.completions

    async def complete(self, actor: Actor, upload_id: str) -> tuple[Receipt, str]:
        """Check the whole file, keep it, and answer with the node's signed receipt.

        The time of the receipt is when this request arrived: checking a large file may take
        a while, and a bid whose last byte came in time is in time.
        """
        arrived = self._clock.now()
        session = await self._uploads.own(actor, upload_id)
        tender = await self._tenders.visible(actor, session.tender)
        try:
            self.completions.start(session.tender)
        except DomainError as exc:  # the box is being sealed: this came too late
            await self._gate.reject(actor, box_stream(session.tender), Action.SUBMIT_BID.value, exc)
            raise
        try:
            async with self._uploads.busy(actor, session):
                await self._uploads.checked(actor, session, tender)
                size = await asyncio.to_thread(self._files.adopt, upload_id, session.sha256)
            signed: list[tuple[Receipt, str]] = []
            replaced: list[str] = []

            def decide(aggregate: Aggregate) -> list[DomainEvent]:
                box = cast("BidBox", aggregate)
                receipt = Receipt(
                    session.tender, session.lot, actor.id, size, session.sha256, arrived,
                    box.next_receipt(actor.id),
                )  # fmt: skip
                signature = self._keys.sign(RECEIPT_LABEL, receipt.to_json())
                events = box.submit(arrived, tender, receipt, signature)
                signed.append((receipt, signature))
                previous = box.current.get((session.lot, actor.id))
                replaced[:] = [previous.sha256] if previous is not None else []
                return events

            try:
                await self._in_box(actor, Action.SUBMIT_BID, session.tender, decide)
            except DomainError:
                await self._drop_unreceipted(session.tender, session.sha256)
                raise
        finally:
            self.completions.finish(session.tender)
        # A revision replaces the bid: the file it replaces will never be opened.
        await self._drop_unreceipted(session.tender, *replaced, keep=session.sha256)
        return signed[-1]

    async def withdraw(self, actor: Actor, tender_id: str, lot: str) -> None:
        action = Action.WITHDRAW_BID
        await self._pipeline.authorize(actor, action, tender_id)
        tender = await self._tenders.visible(actor, tender_id)
        withdrawn: list[str] = []

        def decide(aggregate: Aggregate) -> list[DomainEvent]:
            box = cast("BidBox", aggregate)
            events = box.withdraw(self._clock.now(), tender, lot, actor.id)
            withdrawn[:] = [box.current[(lot, actor.id)].sha256]
            return events

        await self._in_box(actor, action, tender_id, decide)
        await self._drop_unreceipted(tender_id, *withdrawn)

    async def _drop_unreceipted(self, tender_id: str, *hashes: str, keep: str = "") -> None:
        """Delete stored files that are no current bid of the box (revised, withdrawn, refused).

        Receipts stay in the log; the files they name are not needed once superseded.
        """
        box = cast("BidBox", await self._ledger.settled(box_stream(tender_id)))
        current = {receipt.sha256 for receipt in box.current.values()}
        for sha256 in set(hashes) - current - {keep}:
            await asyncio.to_thread(self._files.delete, sha256)

    async def _in_box(
        self, actor: Actor, action: Action, tender_id: str,
        decide: Callable[[Aggregate], list[DomainEvent]],
    ) -> None:  # fmt: skip
        """Record in the tender's bid box; a refusal goes there too, where only supervisors look."""
        await self._pipeline.decide(actor, action, box_stream(tender_id), decide)

    async def own_bids(self, actor: Actor, tender_id: str) -> list[dict[str, Any]]:
        """The bidder's current bid per lot with every receipt it was given, from the box."""
        await self._pipeline.authorize(actor, Action.SUBMIT_BID, tender_id)
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
        await self._pipeline.authorize(actor, Action.VIEW_SEALED_LIST, tender_id)
        tender = await self._tenders.visible(actor, tender_id, settled=True)
        sealed = tender.bids.sealed.get(lot)
        if sealed is None:
            raise NotFound(
                f"Lot {lot} is not sealed (the deadline has not passed, or no such lot)."
            )
        return sealed, tender.bids.signatures[lot]


def _json_or_none(receipt: Receipt | None) -> dict[str, Any] | None:
    return receipt.to_json() if receipt is not None else None
