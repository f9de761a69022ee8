"""The opening (不见面开标) as a use case: sign-in, remote decryption, custodians, the record."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING, Any, TypeVar, cast

from crypto import (
    EncryptionKey,
    Share,
    canonical_json,
    combine_shares,
    digest,
    open_payload,
    read_header,
)
from recordings.documents import (
    CONFIRMATION_LABEL,
    OBJECTION_LABEL,
    RECORD_LABEL,
    confirmation_document,
    objection_document,
)
from server.domain.access import Action, Actor, Role
from server.domain.errors import (
    AlreadyResponded,
    DomainError,
    NotACustodian,
    OpeningNotReady,
    WrongFileKey,
)
from server.domain.opening import MAX_ATTEMPTS, BidState
from server.domain.opening_events import DocumentRead
from server.domain.tender import TenderState
from server.errors import NotFound
from server.protocol import box_stream
from server.service import opening_bodies as bodies
from server.service.commands import Pipeline, Signed, nothing
from server.service.decrypt import Opened, Unopened
from server.service.ledger import Origin
from server.service.node_keys import share_commitment
from server.service.views import OpeningBidView, OpeningView, bid_view, opening_view

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from datetime import datetime

    from server.clock import Clock
    from server.domain.bidbox import BidBox
    from server.domain.events import DomainEvent
    from server.domain.opening import OpeningBid
    from server.domain.spec import TenderSpec
    from server.domain.tender import Tender
    from server.service.decrypt import Source
    from server.service.gate import Gate
    from server.service.home import Homes
    from server.service.ledger import Aggregate, Ledger
    from server.service.node_keys import NodeKeys
    from server.service.participants import Participants
    from server.service.tenders import Tenders
    from server.storage.blobs import BlobStore

logger = logging.getLogger(__name__)

T = TypeVar("T")


class OpeningService:
    def __init__(
        self,
        ledger: Ledger,
        gate: Gate,
        tenders: Tenders,
        participants: Participants,
        clock: Clock,
        keys: NodeKeys,
        files: BlobStore,
        node: Origin,
        pipeline: Pipeline,
        homes: Homes,
    ) -> None:
        self._ledger = ledger
        self._gate = gate
        self._pipeline = pipeline
        self._homes = homes
        self._tenders = tenders
        self._participants = participants
        self._clock = clock
        self._keys = keys
        self._files = files
        self._node = node
        self.decryptions = homes.decryptions

    async def _run(
        self, actor: Actor, action: Action, tender_id: str,
        decide: Callable[[Tender, datetime], list[DomainEvent]],
    ) -> None:  # fmt: skip
        """The command path for a command without a body (see Pipeline.run)."""
        await self._pipeline.run(
            actor, action, tender_id, nothing, lambda t, now, _: decide(t, now)
        )

    async def _decide(
        self, actor: Actor | None, action: Action, tender_id: str,
        decide: Callable[[Tender, datetime], list[DomainEvent]],
    ) -> None:  # fmt: skip
        origin = None if actor is not None else self._node
        await self._pipeline.decide_on_tender(actor, action, tender_id, decide, origin=origin)

    async def _parse(
        self, actor: Actor, tender_id: str, action: Action, parse: Callable[[], T]
    ) -> T:
        return await self._pipeline.parse(actor, tender_id, action, parse)

    # Bidders.

    async def sign_in(self, actor: Actor, tender_id: str) -> None:
        """签到: into the bid box before the deadline (it reveals a bidder), then the tender."""
        action = Action.SIGN_IN
        await self._pipeline.authorize(actor, action, tender_id)
        tender = await self._tenders.visible(actor, tender_id)
        box_id = box_stream(tender_id)
        if not cast("BidBox", await self._ledger.load(box_id)).sealed:
            await self._pipeline.decide(
                actor, action, box_id,
                lambda b: cast("BidBox", b).sign_in(self._clock.now(), tender, actor.id),
            )  # fmt: skip
            return
        await self._run(actor, action, tender_id, lambda t, now: t.sign_in(now, actor.id))

    async def decrypt(
        self, actor: Actor, tender_id: str, lot: str, document: object
    ) -> OpeningBidView:
        """Open the bidder's bid with the file key it unwrapped on its own machine."""
        action, asked_at = Action.DECRYPT_BID, self._clock.now()
        await self._pipeline.authorize(actor, action, tender_id)
        tender = await self._tenders.visible(actor, tender_id)
        file_key = await self._parse(actor, tender_id, action, lambda: bodies.file_key(document))
        try:
            tender.session().decryptable(asked_at, lot, actor.id)
            source, sha256 = self._stored(tender, lot, actor.id)
            outcome = await self.decryptions.run(
                tender_id, lot, actor.id, source, sha256, file_key, None
            )
        except DomainError as exc:
            await self._gate.reject(actor, tender_id, action.value, exc)
            raise
        await self._settle(
            actor, action, tender_id, lot, actor.id, sha256, outcome, by="bidder",
            asked_at=asked_at,
        )  # fmt: skip
        status = await self.bid_status(tender_id, lot, actor.id)
        if isinstance(outcome, Unopened) and outcome.fault == "key":
            left = MAX_ATTEMPTS - status.attempts
            then = f"{left} attempt(s) left." if left else "No attempts left: the bid is revoked."
            raise WrongFileKey(f"{outcome.reason} The attempt is on record; {then}")
        return status

    def _stored(self, tender: Tender, lot: str, bidder: str) -> tuple[Source, str]:
        """How to open the sealed bid of the list as stored, and the SHA-256 its receipt names."""
        sealed = tender.bids.sealed.get(lot)
        receipt = next((r for r in sealed.receipts if r.bidder == bidder), None) if sealed else None
        if receipt is None:  # pragma: no cover - decryptable() found the bid in the opening
            raise OpeningNotReady(f"No sealed bid of {bidder} in lot {lot}.")
        return functools.partial(self._files.open, receipt.sha256), receipt.sha256

    async def _settle(
        self, actor: Actor | None, action: Action, tender_id: str, lot: str, bidder: str,
        sha256: str, outcome: Opened | Unopened, *, by: str, asked_at: datetime | None = None,
    ) -> None:  # fmt: skip
        """Record what decrypting gave: opened, a failed attempt, or a failed bid."""
        if isinstance(outcome, Opened):
            context = _at_rest_context(tender_id, lot, bidder, sha256)
            sealed_key = self._keys.seal(outcome.file_key, context)
            sheet = outcome.sheet

            def decide(t: Tender, now: datetime) -> list[DomainEvent]:
                session, spec = t.session(), _spec(t)
                return session.opened(
                    now, spec, tender_id, lot, bidder, by, sheet, sealed_key, asked_at
                )

        else:
            reason = outcome.reason

            def decide(t: Tender, now: datetime) -> list[DomainEvent]:
                session = t.session()
                if outcome.fault == "key":
                    return session.attempt_failed(now, lot, bidder, reason, asked_at)
                if outcome.fault == "platform":
                    return session.platform_failed(now, lot, bidder, by, reason, asked_at)
                return session.broken(now, lot, bidder, by, reason, asked_at)

        await self._decide(actor, action, tender_id, decide)

    async def confirm(self, actor: Actor, tender_id: str, document: object) -> None:
        def signed(tender: Tender, signature: str) -> Signed:
            document = confirmation_document(tender_id, tender.opening.record_hash or "")
            return Signed(CONFIRMATION_LABEL, document, signature, over="record")

        await self._pipeline.run(
            actor, Action.CONFIRM_RECORD, tender_id, lambda: bodies.signature(document),
            lambda t, now, signature: t.session().confirm(now, actor.id, signature),
            signed=signed,
        )  # fmt: skip

    async def raise_objection(self, actor: Actor, tender_id: str, document: object) -> None:
        def signed(tender: Tender, objection: tuple[str, str]) -> Signed:
            text, signature = objection
            document = objection_document(tender_id, tender.opening.record_hash or "", text)
            return Signed(OBJECTION_LABEL, document, signature, over="record")

        await self._pipeline.run(
            actor, Action.OBJECT_RECORD, tender_id, lambda: bodies.objection(document),
            lambda t, now, objection: t.session().object(now, actor.id, *objection),
            signed=signed,
        )  # fmt: skip

    # The message box: the host and the bidders, on record.

    async def send_message(self, actor: Actor, tender_id: str, document: object) -> dict[str, Any]:
        """A message to the host (a bidder's) or to one or all bidders (the host's)."""
        host = actor.role is Role.HOST
        records, _ = await self._pipeline.run(
            actor, Action.SEND_MESSAGE, tender_id, lambda: bodies.message(document),
            lambda t, now, body: t.message(now, actor.id, host, body[1], body[0]),
        )  # fmt: skip
        record = records[0]
        return {"seq": record.seq, "hash": record.hash, "message": dict(record.payload)}

    # The host.

    async def pause(self, actor: Actor, tender_id: str, document: object) -> None:
        action = Action.PAUSE_OPENING
        await self._pipeline.authorize(actor, action, tender_id)
        reason = await self._parse(
            actor, tender_id, action, lambda: bodies.text(document, "reason")
        )
        async with self.decryptions.in_flight.quiet(tender_id):  # keys already sent count
            await self._run(actor, action, tender_id, lambda t, now: t.session().pause(now, reason))
        self._tenders.on_schedule_change()

    async def resume(self, actor: Actor, tender_id: str) -> None:
        action = Action.RESUME_OPENING
        await self._run(actor, action, tender_id, lambda t, now: t.session().resume(now))
        self._tenders.on_schedule_change()

    async def publish_record(self, actor: Actor, tender_id: str) -> OpeningView:
        """唱标: read out the opening record; bidders then confirm or object."""
        action = Action.PUBLISH_RECORD
        await self._pipeline.authorize(actor, action, tender_id)
        tender = await self._tenders.visible(actor, tender_id)
        await self._tenders.settle_due(tender_id)  # a window that has ended is closed first
        names = await self._names(tender)

        def decide(t: Tender, now: datetime) -> list[DomainEvent]:
            session = t.session()
            record = session.record_document(tender_id, _spec(t), names, now)
            record_hash = digest(RECORD_LABEL, canonical_json(record)).hex()
            return session.publish(now, _spec(t), record, record_hash)

        async with self.decryptions.in_flight.quiet(tender_id):
            await self._decide(actor, action, tender_id, decide)
        return await self.view(actor, tender_id)

    async def answer(self, actor: Actor, tender_id: str, objection: str, document: object) -> None:
        await self._pipeline.run(
            actor, Action.ANSWER_OBJECTION, tender_id, lambda: bodies.text(document, "answer"),
            lambda t, now, text: t.session().answer(now, objection, text), body_first=True,
        )  # fmt: skip

    async def close(self, actor: Actor, tender_id: str) -> OpeningView:
        """Close the opening: the final record, hashed and signed by the node (E-Measures 32)."""

        def decide(t: Tender, now: datetime) -> list[DomainEvent]:
            session = t.session()
            final = session.final_document(now)
            record_hash = digest(RECORD_LABEL, canonical_json(final)).hex()
            signature = self._keys.sign(RECORD_LABEL, final)
            return session.close(now, final, record_hash, signature)

        await self._run(actor, Action.CLOSE_OPENING, tender_id, decide)
        return await self.view(actor, tender_id)

    # A node starting afresh.

    async def ask_to_resend(self) -> list[str]:
        """Record, in every opening under way, what this node's memory lacks that the previous
        node running it held (shares, decryptions cut off), as a request to the people
        concerned to send it again (docs/sites.md section 10). The tenders where it did."""
        asked = []
        for tender in await self._tenders.load_all():
            if tender.state is not TenderState.OPENING:
                continue
            now, held = self._clock.now(), frozenset(self._homes.of(tender.id).shares)

            def decide(
                aggregate: Aggregate, now: datetime = now, held: frozenset[int] = held
            ) -> list[DomainEvent]:
                opening = cast("Tender", aggregate).session()
                return opening.resend_requested(self._node.id, now, held)

            if await self._ledger.execute(tender.id, self._node, decide):
                asked.append(tender.id)
        return asked

    # Custodians.

    async def submit_share(self, actor: Actor, tender_id: str, document: object) -> OpeningView:
        """A custodian's share of the opening key; with a quorum, the remaining bids are opened."""
        action = Action.SUBMIT_SHARE
        await self._pipeline.authorize(actor, action, tender_id)
        tender = await self._tenders.visible(actor, tender_id)
        index, value = await self._parse(actor, tender_id, action, lambda: bodies.share(document))
        key = tender.opening.key
        holder = key.holders.get(actor.id) if key is not None else None
        if key is None or holder != (index, share_commitment(tender_id, index, value)):
            wrong = NotACustodian("That is not a share this custodian holds here.")
            await self._gate.refuse(actor, tender_id, action.value, wrong)
        home = self._homes.of(tender_id)
        if index in home.shares:
            again = AlreadyResponded(f"Share {index} is already in.")
            await self._gate.refuse(actor, tender_id, action.value, again)

        def decide(t: Tender, now: datetime) -> list[DomainEvent]:
            session = t.session()
            # After a restart the log may hold the share while memory lost it: take it again.
            return [] if index in session.shares else session.share(now, _spec(t), actor.id, index)

        await self._decide(actor, action, tender_id, decide)
        held = home.shares
        held[index] = value
        # Only the request that completes the quorum opens the bids (and drops the shares).
        if len(held) >= key.threshold:
            home.shares = {}
            await self._open_with_custodians(tender_id, held, key.public_key)
        return await self.view(actor, tender_id)

    async def _open_with_custodians(
        self, tender_id: str, held: dict[int, bytes], public: str
    ) -> None:
        """Rebuild the opening key in memory, open every pending bid with it, forget it."""
        secret = combine_shares([Share(index, value) for index, value in held.items()])
        held.clear()
        opening_key = EncryptionKey.from_bytes(secret)
        if opening_key.public_key.to_text() != public:  # pragma: no cover - commitments checked
            logger.error("The shares of tender %s do not rebuild its opening key", tender_id)
            return
        tender = cast("Tender", await self._ledger.load(tender_id))
        pending = [b for b in tender.opening.bids.values() if b.state is BidState.PENDING]

        async def open_one(bid: OpeningBid) -> None:
            # Each bid on its own: one that can't be settled does not stop the others.
            source, sha256 = self._stored(tender, bid.lot, bid.bidder)
            try:
                outcome = await self.decryptions.run(
                    tender_id, bid.lot, bid.bidder, source, sha256, None, opening_key
                )
                await self._settle(
                    None, Action.SUBMIT_SHARE, tender_id, bid.lot, bid.bidder, sha256, outcome,
                    by="custodians",
                )  # fmt: skip
            except DomainError as exc:
                logger.warning(
                    "Custodians' opening of a bid in lot %s of %s was refused: %s",
                    bid.lot, tender_id, exc.rule,
                )  # fmt: skip

        await asyncio.gather(*(open_one(bid) for bid in pending))  # the pool bounds the threads

    # Views.

    async def view(self, actor: Actor, tender_id: str) -> OpeningView:
        await self._pipeline.authorize(actor, Action.VIEW_OPENING, tender_id)
        tender = await self._tenders.visible(actor, tender_id, settled=True)
        signed_in: bool | None = None
        if actor.role is Role.BIDDER:
            box = cast("BidBox", await self._ledger.settled(box_stream(tender_id)))
            signed_in = actor.id in box.signed_in
        # Names are looked up first (that awaits); the view is then built in one step.
        names: dict[str, str] = {}
        while True:
            tender, seq = await self._tenders.visible_at(actor, tender_id)
            session = tender.opening
            missing = [b for _, b in session.bids if b not in names]
            if not missing:
                break
            names |= await self._names(tender)
        shown: bool | list[str] | None = None
        if signed_in is not None:
            shown = signed_in or actor.id in session.signed_in
        elif actor.role in (Role.HOST, Role.SUPERVISOR):
            # Carried over from the bid box at the deadline; until then nobody but the box knows.
            shown = sorted(session.signed_in)
        return opening_view(tender, seq, names, self._clock.now(), shown)

    async def bid_status(self, tender_id: str, lot: str, bidder: str) -> OpeningBidView:
        tender = cast("Tender", await self._ledger.settled(tender_id))
        return bid_view(tender.opening.bid(lot, bidder), await self._names(tender))

    async def _names(self, tender: Tender) -> dict[str, str]:
        return {bidder: await self._name(bidder) for _, bidder in tender.opening.bids}

    async def _name(self, participant: str) -> str:
        found = await self._participants.find(participant)
        return found.name if found is not None else participant

    # Decrypted documents, for the committee and supervisors.

    async def document(
        self, actor: Actor, tender_id: str, lot: str, bidder: str
    ) -> AsyncIterator[bytes]:
        """The decrypted bid as a stream of bytes, once the access is on record.

        The file key is opened here and stays in the stream: neither it nor the file's place
        leaves the service.
        """
        await self._pipeline.authorize(actor, Action.READ_BID_DOCUMENT, tender_id)
        tender = await self._tenders.visible(actor, tender_id, settled=True)
        if actor.role is Role.EXPERT:  # members of the lot's committee, once pledged
            try:
                tender.evaluation.check_reader(lot, actor.id)
            except DomainError as exc:
                await self._gate.reject(actor, tender_id, Action.READ_BID_DOCUMENT.value, exc)
                raise
        bid = tender.opening.bids.get((lot, bidder))
        if bid is None or bid.state is not BidState.DECRYPTED or not bid.sealed_key:
            raise NotFound(f"No decrypted bid of {bidder} in lot {lot}.")
        source, sha256 = self._stored(tender, lot, bidder)
        file_key = self._keys.open(bid.sealed_key, _at_rest_context(tender_id, lot, bidder, sha256))
        await self._ledger.execute(
            tender_id, Origin.of(actor), lambda _: [DocumentRead(lot, bidder)]
        )
        return _plaintext(source, file_key)


async def _plaintext(source: Source, file_key: bytes) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(source)
    try:
        header = await asyncio.to_thread(read_header, handle)
        chunks = open_payload(header, handle, file_key, handle.size - header.size)
        while (piece := await asyncio.to_thread(_next_copy, chunks)) is not None:
            yield piece
    finally:
        await asyncio.to_thread(handle.close)


def _next_copy(chunks: Iterator[memoryview]) -> bytes | None:
    view = next(chunks, None)
    return None if view is None else bytes(view)  # the view's buffer is reused by the next chunk


def _at_rest_context(tender: str, lot: str, bidder: str, sha256: str) -> dict[str, str]:
    """What a file key kept at rest is bound to (docs/spec/sealed-bid.md section 6)."""
    return {"tender": tender, "lot": lot, "bidder": bidder, "sealed_sha256": sha256}


def _spec(tender: Tender) -> TenderSpec:
    if tender.spec is None:  # pragma: no cover - only created tenders get here
        raise OpeningNotReady("The tender has no specification.")
    return tender.spec
