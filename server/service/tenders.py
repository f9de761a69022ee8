"""Tender use cases: create, publish, cancel, open; views and event reads filtered by role."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, cast

from crypto import CryptoError, canonical_json, merkle_root
from recordings.documents import SEALED_LIST_LABEL
from server.domain.access import Action, Actor, Role
from server.domain.errors import NotACustodian
from server.domain.events import DomainEvent
from server.domain.sealed_bids import SealedList
from server.domain.spec import TenderSpec
from server.domain.tender import MAX_REASON, Due, Tender
from server.errors import NotFound
from server.protocol import SYSTEM_STREAM, box_stream, box_tender, is_tender_stream
from server.protocol.fields import Reader
from server.service.ledger import Aggregate, Ledger, Origin
from server.service.node_keys import NodeKeys, issue_opening_key
from server.service.views import TenderView, tender_view

if TYPE_CHECKING:
    from recordings.audit import AuditRecord
    from server.clock import Clock
    from server.domain.bidbox import BidBox
    from server.service.commands import Pipeline
    from server.service.gate import Gate
    from server.service.inflight import InFlight
    from server.service.participants import Participants
    from server.storage.base import EventStore

# A tender is internal to the trading centre until it is published, and stays so if it never is.
# Another node of the deployment reads drafts too: its replica holds every stream.
DRAFT_READERS: Final = frozenset({Role.HOST, Role.SUPERVISOR, Role.NODE})

Decision = Callable[[Tender, datetime], list[DomainEvent]]


class Tenders:
    def __init__(
        self,
        ledger: Ledger,
        gate: Gate,
        store: EventStore,
        clock: Clock,
        node: Origin,
        keys: NodeKeys,
        participants: Participants,
        pipeline: Pipeline,
    ) -> None:
        self._pipeline = pipeline
        self._keys = keys
        self._participants = participants
        self._ledger = ledger
        self._gate = gate
        self._store = store
        self._clock = clock
        self._node = node
        self.on_schedule_change: Callable[[], None] = lambda: None
        # The work each scheduled step waits for first (submissions, decryptions in flight).
        self.quiet_before: dict[Due, InFlight] = {}
        # Steps another service takes when they fall due (the end of a report's signing time).
        self.on_due: dict[Due, Callable[[str], Awaitable[int]]] = {}

    async def load_all(self, *, settled: bool = False) -> list[Tender]:
        """Load every tender, so that the schedule covers them after a restart."""
        streams = [s for s in await self._store.streams() if is_tender_stream(s)]
        return [await self._tender(stream, settled=settled) for stream in streams]

    async def _tender(self, tender_id: str, *, settled: bool = False) -> Tender:
        """The tender; with `settled`, as committed (views), otherwise as decided (commands)."""
        ledger = self._ledger
        tender = await (ledger.settled(tender_id) if settled else ledger.load(tender_id))
        if not isinstance(tender, Tender):
            raise NotFound(f"There is no tender {tender_id}.")
        if tender.state is None:
            self._ledger.forget(tender_id)
            raise NotFound(f"There is no tender {tender_id}.")
        return tender

    async def visible(self, actor: Actor, tender_id: str, *, settled: bool = False) -> Tender:
        tender = await self._tender(tender_id, settled=settled)
        if not tender.published and actor.role not in DRAFT_READERS:
            raise NotFound(f"There is no tender {tender_id}.")
        return tender

    async def visible_at(self, actor: Actor, tender_id: str) -> tuple[Tender, int]:
        """The tender as committed, with the sequence number it reflects (for a view).

        Build the view before the next await: the tender object moves on with its log.
        """
        await self.visible(actor, tender_id, settled=True)
        tender, seq = await self._ledger.settled_at(tender_id)
        return cast("Tender", tender), seq

    async def create(self, actor: Actor, document: object) -> Tender:
        action = Action.CREATE_TENDER
        await self._pipeline.authorize(actor, action)
        spec = await self._pipeline.parse(actor, None, action, lambda: TenderSpec.parse(document))
        tender_id = f"t-{self._clock.now():%Y%m%d}-{secrets.token_hex(6)}"
        await self._ledger.execute(
            tender_id, Origin.of(actor), lambda _: Tender.create(spec, actor.id)
        )
        self.on_schedule_change()
        return await self._tender(tender_id)

    async def publish(self, actor: Actor, tender_id: str) -> Tender:
        """Publish, generating the opening key and sealing one share to each custodian."""
        action = Action.PUBLISH_TENDER
        await self._pipeline.authorize(actor, action, tender_id)
        tender = await self.visible(actor, tender_id)
        spec = tender.spec
        if spec is None:  # pragma: no cover - visible() returns created tenders only
            raise NotFound(f"There is no tender {tender_id}.")
        custodians = []
        for custodian in spec.opening.custodians:
            found = await self._participants.find(custodian)
            if found is None or found.role is not Role.CUSTODIAN or found.encryption_key is None:
                error = NotACustodian(
                    f"{custodian} is not an enrolled custodian with an encryption key."
                )
                await self._gate.refuse(actor, tender_id, action.value, error)
            custodians.append(found)
        try:
            key, shares = issue_opening_key(tender_id, spec.opening.threshold, custodians)
        except CryptoError:  # a custodian key enrolled before keys were checked
            error = NotACustodian("A custodian's encryption key is unusable; enrol a new one.")
            await self._gate.refuse(actor, tender_id, action.value, error)
        return await self._decide(
            actor, action, tender_id, lambda t, now: t.publish(now, key, shares)
        )

    async def start_opening(self, actor: Actor, tender_id: str) -> Tender:
        await self._pipeline.authorize(actor, Action.START_OPENING, tender_id)
        await self.settle_due(tender_id)  # seal the lots first if the time has come
        return await self._command(actor, Action.START_OPENING, tender_id, Tender.start_opening)

    async def cancel(self, actor: Actor, tender_id: str, document: object) -> Tender:
        """Cancel with `{"reason": ...}`; the role is checked before the body."""
        await self._pipeline.run(
            actor, Action.CANCEL_TENDER, tender_id, lambda: _reason_of(document),
            lambda t, now, reason: t.cancel(now, reason), body_first=True,
        )  # fmt: skip
        self.on_schedule_change()
        return await self._tender(tender_id)

    async def _command(
        self, actor: Actor, action: Action, tender_id: str, decide: Decision
    ) -> Tender:
        """The command path for a command without a body (see Pipeline.run)."""
        await self._pipeline.run(
            actor, action, tender_id, _no_body, lambda t, now, _: decide(t, now)
        )
        self.on_schedule_change()
        return await self._tender(tender_id)

    async def _decide(
        self, actor: Actor, action: Action, tender_id: str, decide: Decision
    ) -> Tender:
        """Record what `decide` decides; a refusal is recorded too, then raised."""
        await self._pipeline.decide_on_tender(actor, action, tender_id, decide)
        self.on_schedule_change()
        return await self._tender(tender_id)

    async def settle_due(self, tender_id: str) -> int:
        """Record what is due on one tender now (before a command that depends on it)."""
        return await self._run_due(tender_id, self._clock.now())

    async def run_due(self, now: datetime) -> int:
        """Record what the schedule makes happen by `now`; returns the number of events."""
        count = 0
        for stream in await self._store.streams():
            if is_tender_stream(stream):
                count += await self._run_due(stream, now)
        return count

    async def _run_due(self, stream: str, now: datetime) -> int:
        tender = await self._ledger.load(stream)  # cached; reloaded if it was dropped
        if not isinstance(tender, Tender) or (due := tender.due(now)) is None:
            return 0
        hook = self.on_due.get(due)
        if hook is not None:
            return await hook(stream)
        waits_for = self.quiet_before.get(due)
        if waits_for is None:
            return await self._record_due(stream, due, now)
        async with waits_for.quiet(stream):  # what arrived in time is not thrown away
            return await self._record_due(stream, due, now)

    async def _record_due(self, stream: str, step: Due, now: datetime) -> int:
        box: BidBox | None = None
        if step is Due.CLOSE_BIDDING:
            # Seal the box first: from then on no bid gets in, so the lists below are final.
            box_id = box_stream(stream)
            await self._ledger.execute(box_id, self._node, lambda b: cast("BidBox", b).seal(now))
            box = cast("BidBox", await self._ledger.load(box_id))

        def decide(aggregate: Aggregate) -> list[DomainEvent]:
            tender = cast("Tender", aggregate)
            due = tender.due(now)
            if due is Due.OPEN_BIDDING:
                return tender.open_bidding(now)
            if due is Due.CLOSE_BIDDING and box is not None:
                sealed = self._seal_lots(tender, box, now)
                return tender.close_bidding(now, sealed, box.signed_in)
            if due is Due.CLOSE_DECRYPTION:
                return tender.close_decryption(now)
            return []

        return len(await self._ledger.execute(stream, self._node, decide))

    def _seal_lots(
        self, tender: Tender, box: BidBox, now: datetime
    ) -> list[tuple[SealedList, str]]:
        """Each lot's current bids at the deadline, in a list with its Merkle root, node-signed."""
        sealed = []
        for lot in tender.spec.lots if tender.spec else ():
            receipts = tuple(box.of_lot(lot.id))
            root = merkle_root([canonical_json(r.to_json()) for r in receipts]).hex()
            listing = SealedList(tender.id, lot.id, now, receipts, root)
            sealed.append((listing, self._keys.sign(SEALED_LIST_LABEL, listing.to_json())))
        return sealed

    async def next_due(self) -> datetime | None:
        times = []
        for stream in await self._store.streams():
            if not is_tender_stream(stream):
                continue
            tender = await self._ledger.load(stream)
            if isinstance(tender, Tender) and (due := tender.next_due()) is not None:
                times.append(due)
        return min(times, default=None)

    async def summaries(self, actor: Actor) -> list[TenderView]:
        """The tenders `actor` may see (the items of `TenderList`, which transport wraps)."""
        await self._pipeline.authorize(actor, Action.LIST_TENDERS)
        return [
            tender_view(tender, seq)
            for tender, seq in await self.all_at()
            if actor.covers(tender.id) and (tender.published or actor.role in DRAFT_READERS)
        ]

    async def all_at(self) -> list[tuple[Tender, int]]:
        """Every tender as committed, each with the sequence number it reflects."""
        streams = [s for s in await self._store.streams() if is_tender_stream(s)]
        found = []
        for stream in streams:
            await self._tender(stream, settled=True)  # one that was never created is no tender
            tender, seq = await self._ledger.settled_at(stream)
            found.append((cast("Tender", tender), seq))
        return found

    async def view(self, actor: Actor, tender_id: str) -> TenderView:
        await self._pipeline.authorize(actor, Action.VIEW_TENDER, tender_id)
        tender, seq = await self.visible_at(actor, tender_id)
        return tender_view(tender, seq, head=True)

    async def read_log(self, actor: Actor, stream: str, after_seq: int, limit: int) -> Page:
        """Events of a tender (or the system log) that `actor` may see, after `after_seq`.

        At most `limit` events are read; those the actor may not see are left out, so the
        page says how far it read: ask again from `next_after_seq` while `more` is true.
        """
        await self.authorize_read(actor, stream)
        audiences = actor.audiences()
        records = await self._store.read(stream, after_seq, limit)
        return Page(
            [record for record in records if record.visibility & audiences],
            next_after_seq=records[-1].seq if records else after_seq,
            more=len(records) == limit,
        )

    async def streams(self, actor: Actor) -> list[str]:
        """Every stream the node holds, the system log and bid boxes included (nodes only)."""
        await self._pipeline.authorize(actor, Action.LIST_STREAMS)
        return sorted(await self._store.streams())

    async def refusal_stream(self, actor: Actor, stream: str) -> str:
        """Where to record a refusal: a bidder's, before the deadline, goes to the bid box."""
        if actor.role is not Role.BIDDER or not is_tender_stream(stream):
            return stream
        tender = await self._ledger.load(stream)
        if isinstance(tender, Tender) and tender.state is not None and not tender.bids_closed:
            return box_stream(stream)
        return stream

    async def authorize_read(self, actor: Actor, stream: str) -> None:
        if stream == SYSTEM_STREAM:
            await self._pipeline.authorize(actor, Action.READ_SYSTEM_LOG)
        elif (tender_id := box_tender(stream)) is not None:
            await self._pipeline.authorize(actor, Action.READ_BID_BOX, tender_id)
            await self.visible(actor, tender_id, settled=True)
        else:
            await self._pipeline.authorize(actor, Action.READ_TENDER_LOG, stream)
            await self.visible(actor, stream, settled=True)


@dataclass(frozen=True, slots=True)
class Page:
    records: list[AuditRecord]
    next_after_seq: int
    more: bool


def summary(tender: Tender) -> TenderView:
    """The tender as a command leaves it (the answer to a command carries no `seq`)."""
    return tender_view(tender)


def _no_body() -> None:
    """The body of a command that has none (commands in `_command`)."""


def _reason_of(document: object) -> str:
    reader = Reader(document)
    reason = reader.text("reason", max_len=MAX_REASON, min_len=0)
    reader.finish()
    return reason
