"""The evaluation as a use case: the draw, experts' signed acts, the node's decisions, answers.

Every act arrives as a document the expert signed on its workstation; the node checks the
signature against the expert's enrolled key before the room sees it, records it as signed, and
acknowledges it with the event's sequence number and hash only once it is durable. What the acts
lead to (tallies, checks, the report, the result) the node then records under its own name.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from recordings.documents import CLARIFICATION_ANSWER_LABEL, clarification_answer_document
from recordings.draw import SEED_BYTES, PoolEntry, seed_hash, snapshot_of
from server.domain.access import Action, Actor, Role
from server.domain.acts import MAX_TEXT, Act, parse_act
from server.domain.committee import parse_draw_request
from server.domain.errors import (
    DomainError,
    DrawNotReady,
    NotEnoughExperts,
    SignatureRejected,
)
from server.domain.evaluation_events import DrawFailed
from server.domain.opening import Phase
from server.domain.tender import Tender
from server.protocol import SYSTEM_STREAM, is_tender_stream
from server.protocol.fields import Reader
from server.service.commands import Signed

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from recordings.audit import AuditRecord
    from server.clock import Clock
    from server.domain.events import DomainEvent
    from server.domain.participants import Registry
    from server.service.commands import Pipeline
    from server.service.gate import Gate
    from server.service.ledger import Aggregate, Ledger, Origin
    from server.service.node_keys import NodeKeys
    from server.service.participants import Participants
    from server.service.tenders import Tenders
    from server.storage.base import EventStore

logger = logging.getLogger(__name__)

# The node's steps after one act are few (a tally and the next stage, the checks and the
# ranking, the report); this bounds them should a defect ever make a room loop.
MAX_STEPS: Final = 16
MAX_SIGNATURE: Final = 128


@dataclass(frozen=True, slots=True)
class Ack:
    """What an expert gets back for a signed act: where it sits in the log, once durable."""

    seq: int
    hash: str
    type: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "type": self.type}


class EvaluationService:
    def __init__(
        self, ledger: Ledger, gate: Gate, tenders: Tenders, participants: Participants,
        clock: Clock, keys: NodeKeys, store: EventStore, node: Origin, pipeline: Pipeline,
    ) -> None:  # fmt: skip
        self._ledger = ledger
        self._gate = gate
        self._pipeline = pipeline
        self._tenders = tenders
        self._participants = participants
        self._clock = clock
        self._keys = keys
        self._store = store
        self._node = node
        # Per room: who sat in it when its names were looked up, and those names (`_names`).
        self._room_names: dict[tuple[str, str], tuple[object, dict[str, str]]] = {}
        # The site this node serves (settings.site); with the sites of the nodes enrolled
        # here, the sites whose workstations must act through their own node.
        self.site = ""

    async def _record(
        self, actor: Actor, action: Action, tender_id: str,
        decide: Callable[[Tender, datetime], list[DomainEvent]],
    ) -> list[AuditRecord]:  # fmt: skip
        """Record what `decide` decides as `actor`; a refusal is recorded, then raised."""
        return await self._pipeline.decide_on_tender(actor, action, tender_id, decide)

    # The host.

    async def start(self, actor: Actor, tender_id: str) -> None:
        """评标开始: the opening is closed; rooms already drawn open their check-in."""
        action = Action.START_EVALUATION
        await self._pipeline.authorize(actor, action, tender_id)
        tender = await self._tenders.visible(actor, tender_id)
        await self._record(actor, action, tender_id, lambda t, now: t.start_evaluation(now))
        for lot in sorted(tender.lots_to_evaluate()):
            await self.advance(tender_id, lot)

    async def draw(self, actor: Actor, tender_id: str, lot: str, document: object) -> None:
        """专家抽取, step one: commit to a seed over a snapshot of the pool."""
        action = Action.DRAW_EXPERTS
        await self._pipeline.authorize(actor, action, tender_id)
        tender = await self._tenders.visible(actor, tender_id)
        request = await self._pipeline.parse(
            actor, tender_id, action, lambda: parse_draw_request(document)
        )
        registry = cast("Registry", await self._ledger.refresh(SYSTEM_STREAM))
        snapshot = snapshot_of(
            PoolEntry.of(p.id, p.attributes) for p in registry.all() if p.role is Role.EXPERT
        )
        avoid = _avoid(tender, lot, registry)
        seed = secrets.token_bytes(SEED_BYTES)
        committed = seed_hash(seed)
        sealed = self._keys.seal(seed, _seed_context(tender_id, lot, committed))
        await self._record(
            actor, action, tender_id,
            lambda t, now: t.commit_draw(
                now, t.context(lot, {}), request, snapshot, avoid, committed, sealed
            ),
        )  # fmt: skip

    async def pool(self, actor: Actor) -> dict[str, Any]:
        """What a draw can ask for (GET /api/evaluation/pool): how many experts of the pool
        have each specialty in each region. Counts only, never who: the host must not learn
        who evaluates (Law 37, Eval Rules 8), only whether a quota can be met."""
        await self._pipeline.authorize(actor, Action.DRAW_EXPERTS, None)
        registry = cast("Registry", await self._ledger.refresh(SYSTEM_STREAM))
        counts = Counter(
            (entry.specialty, entry.region)
            for entry in (
                PoolEntry.of(p.id, p.attributes) for p in registry.all() if p.role is Role.EXPERT
            )
        )
        return {
            "pool": [
                {"specialty": specialty, "region": region, "count": count}
                for (specialty, region), count in sorted(counts.items())
            ]
        }

    async def reveal(self, actor: Actor, tender_id: str, lot: str) -> None:
        """专家抽取, step two: reveal the seed; the committee follows from it for all to check."""
        action = Action.DRAW_EXPERTS
        await self._pipeline.authorize(actor, action, tender_id)
        tender = await self._tenders.visible(actor, tender_id)
        room = tender.evaluation.rooms.get(lot)
        commitment = room.commitment if room is not None else None
        if commitment is None:
            await self._gate.refuse(
                actor, tender_id, action.value, DrawNotReady("Commit a draw first.")
            )
        context = _seed_context(tender_id, lot, commitment.seed_hash)
        seed = self._keys.open(commitment.sealed_seed, context)
        records = await self._record(
            actor, action, tender_id, lambda t, now: t.reveal_draw(now, lot, seed)
        )
        if records and records[0].type == DrawFailed.TYPE:
            raise NotEnoughExperts(
                f"{records[0].payload['reason']} The failed draw is on record; commit a new one."
            )
        await self.advance(tender_id, lot)

    async def replace(self, actor: Actor, tender_id: str, lot: str, document: object) -> None:
        """The host replaces the member at a workstation (absent, unfit), with a reason."""
        await self._pipeline.run(
            actor, Action.REPLACE_MEMBER, tender_id, lambda: _replacement(document),
            lambda t, now, replaced: t.replace_member(now, lot, *replaced),
        )  # fmt: skip
        await self.advance(tender_id, lot)

    # Experts.

    async def act(self, actor: Actor, tender_id: str, body: object, lot: str | None = None) -> Ack:
        """An expert's signed act; the ack comes once it is durable (docs/spec/evaluation.md)."""

        def signed(_: Tender, parsed: tuple[Act, str]) -> Signed:
            act, signature = parsed
            if act.expert != actor.id:
                raise SignatureRejected("The document names another expert than the one signed in.")
            return Signed(act.type, act.document, signature)

        arrival = await self._participants.arrival(actor.site, self.site)

        def decide(t: Tender, now: datetime, parsed: tuple[Act, str]) -> list[DomainEvent]:
            act, signature = parsed
            return t.act(now, t.context(lot or act.lot, {}), act, signature, arrival)

        records, (act, _) = await self._pipeline.run(
            actor, Action.ACT_IN_ROOM, tender_id, lambda: _signed_act(body), decide, signed=signed
        )
        await self.advance(tender_id, lot or act.lot)
        first = records[0]
        return Ack(first.seq, first.hash, first.type)

    # Bidders.

    async def answer(
        self, actor: Actor, tender_id: str, lot: str, clarification: str, document: object
    ) -> None:
        """A bidder's signed, written answer to the committee's question (Regs 52)."""

        def signed(_: Tender, answer: tuple[str, str]) -> Signed:
            text, signature = answer
            signed = clarification_answer_document(tender_id, lot, clarification, actor.id, text)
            return Signed(CLARIFICATION_ANSWER_LABEL, signed, signature)

        def decide(t: Tender, now: datetime, answer: tuple[str, str]) -> list[DomainEvent]:
            return t.answer_clarification(now, lot, actor.id, clarification, *answer)

        await self._pipeline.run(
            actor, Action.ANSWER_CLARIFICATION, tender_id, lambda: _answer(document), decide,
            signed=signed,
        )  # fmt: skip
        await self.advance(tender_id, lot)

    # The node's own steps.

    async def advance(self, tender_id: str, lot: str) -> int:
        """Record the node's steps in a room until there are none; returns how many events."""
        count = 0
        # Looked up once: a member, a successor from the standby list or a bidder.
        names = await self._names(cast("Tender", await self._ledger.load(tender_id)), lot)
        for _ in range(MAX_STEPS):
            try:
                records = await self._ledger.execute(
                    tender_id, self._node, _stepper(self._clock.now, lot, names)
                )
            except DomainError:  # the acts are on record; the room waits for the host
                logger.exception("Room %s of %s can't take its next step", lot, tender_id)
                return count
            if not records:
                return count
            count += len(records)
            self._tenders.on_schedule_change()  # a report sets a signing deadline
        logger.error("Room %s of %s kept stepping; left for the next act", lot, tender_id)
        return count

    async def settle(self, tender_id: str) -> int:
        """Every room of a tender, advanced: at a deadline, and after a restart."""
        tender = await self._ledger.load(tender_id)
        if not isinstance(tender, Tender) or tender.spec is None:
            return 0
        count = 0
        for lot in sorted(tender.evaluation.rooms):
            count += await self.advance(tender_id, lot)
        return count

    async def resume(self) -> None:
        """After a restart: steps a crash left undone are taken now."""
        for stream in await self._store.streams():
            if is_tender_stream(stream):
                await self.settle(stream)

    async def _names(self, tender: Tender, lot: str) -> dict[str, str]:
        room = tender.evaluation.rooms.get(lot)
        # Who sits in the room changes only by a draw or a replacement, and names never do:
        # once the opening is closed (its bidders final), the names are kept per room.
        seats = (tuple(room.members), tuple(room.standby), len(room.replaced)) if room else None
        kept = self._room_names.get((tender.id, lot))
        if kept is not None and seats is not None and kept[0] == seats:
            return kept[1]
        people = {b.bidder for b in tender.opening.bids.values() if b.lot == lot}
        if room is not None:
            # Standby too: a replacement during the steps still gets its name.
            people |= set(room.members) | set(room.standby) | {r.leaving for r in room.replaced}
        names = {}
        everyone = True
        for person in sorted(people):
            found = await self._participants.find(person)
            names[person] = found.name if found is not None else person
            everyone = everyone and found is not None
        if everyone and seats is not None and tender.opening.phase is Phase.CLOSED:
            self._room_names[(tender.id, lot)] = (seats, names)
        return names

    async def scopes(self, expert: str) -> frozenset[str]:
        """The tenders an expert sits on a committee of: its token covers these only."""
        tenders = await self._tenders.load_all(settled=True)
        return frozenset(
            t.id for t in tenders if any(expert in r.members for r in t.evaluation.rooms.values())
        )


def _stepper(
    now: Callable[[], datetime], lot: str, names: dict[str, str]
) -> Callable[[Aggregate], list[DomainEvent]]:
    def step(aggregate: Aggregate) -> list[DomainEvent]:
        tender = cast("Tender", aggregate)
        return tender.advance(now(), tender.context(lot, names))

    return step


def _seed_context(tender: str, lot: str, committed: str) -> dict[str, str]:
    return {"purpose": "draw-seed", "tender": tender, "lot": lot, "seed_hash": committed}


def _avoid(tender: Tender, lot: str, registry: Registry) -> tuple[str, ...]:
    """Who experts must have no tie with: the tenderer, the lot's bidders, the supervisors."""
    spec = tender.spec
    organisations = {spec.tenderer} if spec is not None else set()
    sealed = tender.bids.sealed.get(lot)
    people = [r.bidder for r in sealed.receipts] if sealed is not None else []
    people += [p.id for p in registry.all() if p.role is Role.SUPERVISOR]
    for person in people:
        found = registry.get(person)
        if found is not None:
            organisations.add(found.attributes.get("organisation") or found.name)
    return tuple(sorted(organisations - {""}))


def _signed_act(body: object) -> tuple[Act, str]:
    reader = Reader(body)
    document = reader.raw("document", "an object")
    signature = reader.text("signature", max_len=MAX_SIGNATURE)
    if not isinstance(document, dict):
        reader.problem("document", "must be the signed act document (a JSON object)")
    reader.finish()
    return parse_act(document), signature


def _replacement(document: object) -> tuple[str, str]:
    reader = Reader(document)
    workstation = reader.text("workstation", max_len=32)
    reason = reader.text("reason", max_len=MAX_TEXT)
    reader.finish()
    return workstation, reason


def _answer(document: object) -> tuple[str, str]:
    reader = Reader(document)
    text = reader.text("answer", max_len=MAX_TEXT)
    signature = reader.text("signature", max_len=MAX_SIGNATURE)
    reader.finish()
    return text, signature
