"""The command path: what a client asks for, the one pipeline it passes, and its handlers.

A `Command` is a typed, serialisable value: the action (server/domain/access.py), the actor
(with the address it came from), the tender, the step of the action when it has several
(an upload's pieces, the draw's commit and reveal, a log's pages and proofs), the path
arguments (`Target`), the JSON body and the time it arrived. A transport builds one and hands
it to `Commands.submit`, the one entry; another node could receive it as JSON (`to_json`) and
submit it there unchanged.

`HANDLERS` is the one registry, keyed by action: every action of the role table, reads
included, has its handler(s) here. A handler turns a command into a use case's call and its
answer into a JSON-ready value; it never touches the wire.

`Pipeline` is the chain every use case runs, written once: authorize (the role x action table,
the refusal on record), parse the body (an invalid body refused on record), verify a signature
(the one signature check), decide (`Ledger.execute`) and, on a refusal, record it and raise it
again. `Pipeline.run` is that chain for a command on a tender; the few use cases that do more
between the steps (files, keys, work in flight) call the same steps in the same order.

How to add a command: add the action to `Action` and `PERMISSIONS` (domain/access.py), write
the use case with the pipeline's steps, register a handler under the action in `HANDLERS`, and
let the transport build the command (see docs/architecture.md, "The command path").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from crypto import InvalidSignature, KeyFormatError, VerifyKey, b64url_decode, verify
from server.domain.access import Action, Actor, Role
from server.domain.errors import DomainError, SignatureRejected
from server.errors import BadRequest, NotFound
from server.protocol import MAX_SEQ, SYSTEM_STREAM, box_stream
from server.protocol.times import format_time, parse_time
from server.service.bundles import collect_bundle
from server.service.ledger import Origin
from server.service.tenders import summary

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
    from concurrent.futures import Executor
    from datetime import datetime

    from recordings.audit import AuditRecord
    from server.clock import Clock
    from server.domain.events import DomainEvent
    from server.domain.tender import Tender
    from server.service.gate import Gate
    from server.service.ledger import Aggregate, Ledger
    from server.service.node import Node
    from server.service.participants import Participants
    from server.storage.blobs import UploadSession


@dataclass(frozen=True, slots=True)
class Target:
    """The path arguments of a command: what in the tender it is about."""

    lot: str = ""
    bidder: str = ""
    upload: str = ""
    objection: str = ""
    clarification: str = ""

    def to_json(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    @classmethod
    def from_json(cls, document: object) -> Target:
        if not isinstance(document, dict) or not all(
            isinstance(value, str) for value in document.values()
        ):
            raise ValueError("A command's target is an object of strings.")
        names = {f.name for f in fields(cls)}
        if unknown := set(document) - names:
            raise ValueError(f"Unknown target fields: {sorted(unknown)}")
        return cls(**document)


NO_TARGET: Final = Target()


@dataclass(frozen=True, slots=True)
class Command:
    """One request of one actor, as any node could receive it.

    `data` carries the bytes of a request that streams them (an upload's pieces); they travel
    beside the command, not in its JSON.
    """

    action: Action
    actor: Actor
    arrived: datetime
    tender: str | None = None
    step: str = ""
    target: Target = NO_TARGET
    body: object = None
    data: AsyncIterator[bytes] | None = field(default=None, compare=False, repr=False)

    @property
    def address(self) -> str:
        return self.actor.address

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "actor": actor_json(self.actor),
            "arrived": format_time(self.arrived),
            "tender": self.tender,
            "step": self.step,
            "target": self.target.to_json(),
            "body": self.body,
        }

    @classmethod
    def from_json(cls, document: object) -> Command:
        """The command `to_json` wrote; ValueError if the document is not one."""
        try:
            if not isinstance(document, dict):
                raise TypeError
            tender = document["tender"]
            if not isinstance(tender, str | None) or not isinstance(document["step"], str):
                raise TypeError
            return cls(
                action=Action(document["action"]),
                actor=actor_from_json(document["actor"]),
                arrived=parse_time(document["arrived"]),
                tender=tender,
                step=document["step"],
                target=Target.from_json(document["target"]),
                body=document["body"],
            )
        except (KeyError, TypeError) as exc:
            raise ValueError("Not a command document.") from exc

    # Path arguments, each required by the handlers that read it.

    @property
    def tender_id(self) -> str:
        if self.tender is None:
            raise BadRequest(f"{self.action.value} is about a tender; name it.")
        return self.tender

    def number(self, name: str) -> int:
        """An integer argument of a read (the transport has checked its range)."""
        value = self.body.get(name) if isinstance(self.body, dict) else None
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadRequest(f"{self.action.value} needs the integer {name}.")
        return value


def actor_json(actor: Actor) -> dict[str, Any]:
    """An actor as a forwarded command carries it (docs/sites.md section 5)."""
    return {
        "id": actor.id,
        "role": actor.role.value,
        "address": actor.address,
        "scopes": sorted(actor.scopes),
        "site": actor.site,
    }


def actor_from_json(document: object) -> Actor:
    """The actor `actor_json` wrote; ValueError if the document is not one."""
    try:
        if not isinstance(document, dict) or not isinstance(document["scopes"], list):
            raise TypeError
        return Actor(
            str(document["id"]),
            Role(document["role"]),
            str(document["address"]),
            frozenset(str(scope) for scope in document["scopes"]),
            str(document.get("site", "")),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError("Not an actor document.") from exc


T = TypeVar("T")
P = TypeVar("P")
# Parsed verify keys kept (one per participant who signs); past this the cache starts over.
MAX_KEYS_KEPT: Final = 10_000


@dataclass(frozen=True, slots=True)
class Signed:
    """What a command's signature must verify over: the label, the document, the signature."""

    label: str
    document: object
    signature: str
    over: str = "document"  # what the refusal calls it


class Pipeline:
    """The steps every use case runs, each written once, and `run`, the chain of them.

    Most use cases are `run` whole; the few that do more between the steps (files, keys,
    work in flight) call the same steps in the same order themselves.
    """

    def __init__(
        self, ledger: Ledger, gate: Gate, clock: Clock, participants: Participants,
        checks: Executor | None = None,
    ) -> None:  # fmt: skip
        self._ledger = ledger
        # Where signatures are checked: Ed25519 verification releases the GIL, so in worker
        # threads it runs beside the event loop instead of inside it (None: on the loop).
        self._checks = checks
        self._gate = gate
        self._clock = clock
        self._participants = participants
        # Enrolled keys, parsed once: a participant's key never changes.
        self._keys: dict[str, VerifyKey] = {}
        # The tender as `actor` may see it, or NotFound (Tenders.visible, set by the node).
        self.visible: Callable[[Actor, str], Awaitable[Tender]] = _no_tenders

    async def run(
        self, actor: Actor, action: Action, tender_id: str, parse: Callable[[], P],
        decide: Callable[[Tender, datetime, P], Sequence[DomainEvent]], *,
        signed: Callable[[Tender, P], Signed] | None = None, body_first: bool = False,
    ) -> tuple[list[AuditRecord], P]:  # fmt: skip
        """The command path on a tender: authorize, find the tender, parse the body, verify
        its signature, decide and record; every refusal on the way is recorded, then raised.

        `body_first` parses the body before looking the tender up (so an invalid body is
        refused on record even for a tender the actor can't see). Returns the records and
        the parsed body.
        """
        await self.authorize(actor, action, tender_id)
        if body_first:
            value = await self.parse(actor, tender_id, action, parse)
            tender = await self.visible(actor, tender_id)
        else:
            tender = await self.visible(actor, tender_id)
            value = await self.parse(actor, tender_id, action, parse)
        if signed is not None:
            try:
                what = signed(tender, value)
            except DomainError as exc:
                await self._gate.refuse(actor, tender_id, action.value, exc)
            await self.verify(
                actor, tender_id, action, what.label, what.document, what.signature,
                over=what.over,
            )  # fmt: skip
        records = await self.decide_on_tender(
            actor, action, tender_id, lambda t, now: decide(t, now, value)
        )
        return records, value

    async def authorize(self, actor: Actor, action: Action, tender_id: str | None = None) -> None:
        """The role x action table and the token's scope; a refusal is recorded, then raised."""
        await self._gate.check(actor, action, tender_id)

    async def parse(
        self, actor: Actor, stream: str | None, action: Action, parse: Callable[[], T]
    ) -> T:
        """The body, parsed by `parse`; an invalid body is recorded as refused, then raised."""
        return await self._gate.parse(actor, stream, action.value, parse)

    async def verify(
        self, actor: Actor, stream: str, action: Action, label: str, signed: object,
        signature: str, *, over: str = "document",
    ) -> None:  # fmt: skip
        """The one signature check: `signature` over `signed` under `label`, by the actor's
        enrolled key; otherwise SignatureRejected, on record."""
        participant = await self._participants.find(actor.id)
        try:
            if participant is None:
                raise KeyFormatError("unknown participant")
            key = self._key(participant.public_key)
            raw = b64url_decode(signature)
            if self._checks is None:
                verify(key, label, signed, raw)
            else:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._checks, verify, key, label, signed, raw)
        except (KeyFormatError, InvalidSignature, ValueError):
            error = SignatureRejected(f"The signature does not verify as yours over this {over}.")
            await self._gate.refuse(actor, stream, action.value, error)

    def _key(self, text: str) -> VerifyKey:
        key = self._keys.get(text)
        if key is None:
            key = VerifyKey.from_text(text)
            if len(self._keys) >= MAX_KEYS_KEPT:
                self._keys.clear()
            self._keys[text] = key
        return key

    async def decide(
        self, actor: Actor | None, action: Action, stream: str,
        decide: Callable[[Aggregate], Sequence[DomainEvent]], *, origin: Origin | None = None,
    ) -> list[AuditRecord]:  # fmt: skip
        """Record what `decide` decides on `stream`; a refusal is recorded there, then raised.

        With no actor the node decides on its own behalf (`origin`), and nobody is refused.
        """
        if origin is None:
            if actor is None:  # pragma: no cover - callers name one or the other
                raise ValueError("A decision needs an actor or an origin.")
            origin = Origin.of(actor)
        try:
            return await self._ledger.execute(stream, origin, decide)
        except DomainError as exc:
            if actor is not None:
                await self._gate.reject(actor, stream, action.value, exc)
            raise

    async def decide_on_tender(
        self, actor: Actor | None, action: Action, tender_id: str,
        decide: Callable[[Tender, datetime], Sequence[DomainEvent]], *,
        origin: Origin | None = None,
    ) -> list[AuditRecord]:  # fmt: skip
        """`decide` on the tender at the time it is decided (see `decide`)."""
        now = self._clock.now
        return await self.decide(
            actor, action, tender_id, lambda t: decide(cast("Tender", t), now()), origin=origin
        )


async def _no_tenders(actor: Actor, tender_id: str) -> Tender:  # pragma: no cover - wired
    raise NotFound(f"There is no tender {tender_id}.")


def nothing() -> None:
    """The body of a command that has none."""


Handler = Callable[["Node", Command], "Awaitable[Any]"]


class Commands:
    """The one entry: a command goes to its handler; refusals come back as exceptions."""

    def __init__(self, node: Node) -> None:
        self._node = node

    async def submit(self, command: Command) -> Any:
        steps = HANDLERS[command.action]
        handler = steps.get(command.step)
        if handler is None:
            raise NotFound(f"{command.action.value} has no step {command.step!r}.")
        return await handler(self._node, command)


# Handlers, by area. Each returns what the transport sends back (or a value it renders).


def _log_stream(command: Command) -> str:
    if command.action is Action.READ_SYSTEM_LOG:
        return SYSTEM_STREAM
    if command.action is Action.READ_BID_BOX:
        return box_stream(command.tender_id)
    return command.tender_id


async def _events(node: Node, c: Command) -> Any:
    stream = _log_stream(c)
    return await node.tenders.read_log(c.actor, stream, c.number("after_seq"), c.number("limit"))


async def _streams(node: Node, c: Command) -> Any:
    return {"streams": await node.tenders.streams(c.actor)}


async def _tree_head(node: Node, c: Command) -> Any:
    stream = _log_stream(c)
    await node.tenders.authorize_read(c.actor, stream)
    record = await node.tree_heads.latest(stream)
    return {"seq": record.seq, "hash": record.hash, **record.payload}


async def _inclusion(node: Node, c: Command) -> Any:
    stream = _log_stream(c)
    await node.tenders.authorize_read(c.actor, stream)
    seq, size = _proof_number(c, "seq"), _proof_number(c, "size")
    return await node.tree_heads.inclusion(c.actor, stream, seq, size)


async def _consistency(node: Node, c: Command) -> Any:
    stream = _log_stream(c)
    await node.tenders.authorize_read(c.actor, stream)
    old, new = _proof_number(c, "from"), _proof_number(c, "to")
    return await node.tree_heads.consistency(stream, old, new)


def _proof_number(c: Command, name: str) -> int:
    """A proof's position, as the query gave it (checked once the read is allowed)."""
    raw = c.body.get(name) if isinstance(c.body, dict) else None
    if raw is None:
        raise BadRequest(f"Say which proof: the query needs {name}.")
    if (
        not isinstance(raw, str)
        or not raw.isdecimal()
        or len(raw) > 16
        or not (1 <= int(raw) <= MAX_SEQ)
    ):
        raise BadRequest(f"Query parameter {name} must be an integer from 1 to {MAX_SEQ}.")
    return int(raw)


_LOG_READS: Final[Mapping[str, Handler]] = {
    "": _events,
    "tree-head": _tree_head,
    "inclusion": _inclusion,
    "consistency": _consistency,
}


async def _enroll(node: Node, c: Command) -> Any:
    return (await node.participants.enroll(c.actor, c.body)).to_json()


async def _participants(node: Node, c: Command) -> Any:
    return {"participants": [p.to_json() for p in await node.participants.list_all(c.actor)]}


async def _verify_audit(node: Node, c: Command) -> Any:
    await node.pipeline.authorize(c.actor, c.action, c.tender)
    raise NotFound("Audit bundles are verified offline: `bidroom audit verify`.")


async def _export_bundle(node: Node, c: Command) -> Any:
    """The tender's audit bundle, as JSON Lines. It holds the bid box and the system log, so
    only who may read those gets it: supervisors (the admin may verify, not read tenders)."""
    await node.pipeline.authorize(c.actor, c.action, c.tender_id)
    await node.tenders.authorize_read(c.actor, box_stream(c.tender_id))
    lines, _ = await collect_bundle(
        node.store, node.ledger, node=node.id, node_key=node.key.verify_key.to_text(),
        tender=c.tender_id, now=c.arrived,
    )  # fmt: skip
    return lines


# Tenders.


async def _create(node: Node, c: Command) -> Any:
    return summary(await node.tenders.create(c.actor, c.body))


async def _list(node: Node, c: Command) -> Any:
    return {"tenders": await node.tenders.summaries(c.actor)}


async def _view(node: Node, c: Command) -> Any:
    return await node.tenders.view(c.actor, c.tender_id)


async def _publish(node: Node, c: Command) -> Any:
    return summary(await node.tenders.publish(c.actor, c.tender_id))


async def _cancel(node: Node, c: Command) -> Any:
    return summary(await node.tenders.cancel(c.actor, c.tender_id, c.body))


async def _start_opening(node: Node, c: Command) -> Any:
    return summary(await node.tenders.start_opening(c.actor, c.tender_id))


# Bids: the upload's steps, the receipt, withdrawal, the lists.


def _upload_json(session: UploadSession, received: int) -> dict[str, Any]:
    return {
        "upload": session.id,
        "tender": session.tender,
        "lot": session.lot,
        "size": session.size,
        "sha256": session.sha256,
        "received": received,
    }


async def _start_upload(node: Node, c: Command) -> Any:
    session = await node.uploads.start(c.actor, c.tender_id, c.target.lot, c.body)
    return _upload_json(session, 0)


async def _upload_status(node: Node, c: Command) -> Any:
    session, received = await node.uploads.status(c.actor, c.target.upload)
    return _upload_json(session, received)


async def _upload_write(node: Node, c: Command) -> Any:
    if c.data is None:
        raise BadRequest("Send the upload's bytes.")
    length = c.body.get("length") if isinstance(c.body, dict) else None
    received = await node.uploads.write(
        c.actor, c.target.upload, c.number("offset"), c.data,
        length if isinstance(length, int) else None,
    )  # fmt: skip
    return {"upload": c.target.upload, "received": received}


async def _upload_abandon(node: Node, c: Command) -> Any:
    await node.uploads.abandon(c.actor, c.target.upload)
    return {"upload": c.target.upload, "abandoned": True}


async def _complete(node: Node, c: Command) -> Any:
    receipt, signature = await node.submissions.complete(c.actor, c.target.upload)
    return {"receipt": receipt.to_json(), "signature": signature}


async def _own_bids(node: Node, c: Command) -> Any:
    return {"bids": await node.submissions.own_bids(c.actor, c.tender_id)}


async def _withdraw(node: Node, c: Command) -> Any:
    await node.submissions.withdraw(c.actor, c.tender_id, c.target.lot)
    return {"withdrawn": True}


async def _sealed_list(node: Node, c: Command) -> Any:
    sealed, signature = await node.submissions.sealed_list(c.actor, c.tender_id, c.target.lot)
    return {"list": sealed.to_json(), "signature": signature}


# The opening.


async def _opening(node: Node, c: Command) -> Any:
    return await node.opening.view(c.actor, c.tender_id)


def _then_opening(use: Callable[[Node, Command], Awaitable[None]]) -> Handler:
    """A command on the opening, answered with the opening as the actor now sees it."""

    async def handle(node: Node, c: Command) -> Any:
        await use(node, c)
        return await node.opening.view(c.actor, c.tender_id)

    return handle


async def _sign_in(node: Node, c: Command) -> None:
    await node.opening.sign_in(c.actor, c.tender_id)


async def _decrypt(node: Node, c: Command) -> Any:
    return await node.opening.decrypt(c.actor, c.tender_id, c.target.lot, c.body)


async def _pause(node: Node, c: Command) -> None:
    await node.opening.pause(c.actor, c.tender_id, c.body)


async def _resume(node: Node, c: Command) -> None:
    await node.opening.resume(c.actor, c.tender_id)


async def _share(node: Node, c: Command) -> Any:
    return await node.opening.submit_share(c.actor, c.tender_id, c.body)


async def _publish_record(node: Node, c: Command) -> Any:
    return await node.opening.publish_record(c.actor, c.tender_id)


async def _confirm(node: Node, c: Command) -> None:
    await node.opening.confirm(c.actor, c.tender_id, c.body)


async def _object(node: Node, c: Command) -> None:
    await node.opening.raise_objection(c.actor, c.tender_id, c.body)


async def _answer_objection(node: Node, c: Command) -> None:
    await node.opening.answer(c.actor, c.tender_id, c.target.objection, c.body)


async def _message(node: Node, c: Command) -> Any:
    return await node.opening.send_message(c.actor, c.tender_id, c.body)


async def _close(node: Node, c: Command) -> Any:
    return await node.opening.close(c.actor, c.tender_id)


async def _document(node: Node, c: Command) -> Any:
    """The decrypted bid as a stream of bytes; the access is on record before it starts."""
    return await node.opening.document(c.actor, c.tender_id, c.target.lot, c.target.bidder)


# The evaluation.


def _then_progress(use: Callable[[Node, Command], Awaitable[None]]) -> Handler:
    """A host's command on the evaluation, answered with the progress it now shows."""

    async def handle(node: Node, c: Command) -> Any:
        await use(node, c)
        return await node.rooms.progress(c.actor, c.tender_id)

    return handle


async def _start_evaluation(node: Node, c: Command) -> None:
    await node.evaluation.start(c.actor, c.tender_id)


async def _draw(node: Node, c: Command) -> None:
    await node.evaluation.draw(c.actor, c.tender_id, c.target.lot, c.body)


async def _pool(node: Node, c: Command) -> Any:
    return await node.evaluation.pool(c.actor)


async def _reveal(node: Node, c: Command) -> None:
    await node.evaluation.reveal(c.actor, c.tender_id, c.target.lot)


async def _replace(node: Node, c: Command) -> None:
    await node.evaluation.replace(c.actor, c.tender_id, c.target.lot, c.body)


async def _progress(node: Node, c: Command) -> Any:
    return await node.rooms.progress(c.actor, c.tender_id)


async def _overview(node: Node, c: Command) -> Any:
    return await node.rooms.overview(c.actor)


async def _presence(node: Node, c: Command) -> Any:
    return await node.attendance.view(c.actor)


async def _room(node: Node, c: Command) -> Any:
    return await node.rooms.room(c.actor, c.tender_id, c.target.lot)


async def _seats(node: Node, c: Command) -> Any:
    return {"seats": await node.rooms.seats(c.actor)}


async def _act(node: Node, c: Command) -> Any:
    """An expert's signed act; the answer is its `Ack` (the live channel sends it as such)."""
    return await node.evaluation.act(c.actor, c.tender_id, c.body, c.target.lot or None)


async def _clarifications(node: Node, c: Command) -> Any:
    return {"clarifications": await node.rooms.clarifications(c.actor, c.tender_id)}


async def _answer_clarification(node: Node, c: Command) -> Any:
    await node.evaluation.answer(c.actor, c.tender_id, c.target.lot, c.target.clarification, c.body)
    return await _clarifications(node, c)


async def _result(node: Node, c: Command) -> Any:
    return await node.rooms.result(c.actor, c.tender_id, c.target.lot)


async def _report(node: Node, c: Command) -> Any:
    return await node.rooms.report(c.actor, c.tender_id, c.target.lot)


# Live media (docs/media.md).


async def _media_grant(node: Node, c: Command) -> Any:
    return (await node.media.grant(c.actor, c.action, c.tender_id, c.body)).to_json()


async def _media_record(node: Node, c: Command) -> Any:
    return await node.media.record(c.actor, c.tender_id, c.body)


async def _recordings(node: Node, c: Command) -> Any:
    listed = await node.media.recordings(c.actor, c.tender_id)
    return {"recordings": [recording.to_json() for recording in listed]}


async def _recording_read(node: Node, c: Command) -> Any:
    body = c.body if isinstance(c.body, dict) else {}
    name, span = body.get("name"), body.get("range", "")
    if not isinstance(name, str) or not isinstance(span, str):
        raise BadRequest("Name the recording segment.")
    return (await node.media.read(c.actor, c.tender_id, name, span)).to_json()


# The registry: every action, its steps ("" is the action itself).
HANDLERS: Final[Mapping[Action, Mapping[str, Handler]]] = {
    Action.ENROLL_PARTICIPANT: {"": _enroll},
    Action.LIST_PARTICIPANTS: {"": _participants},
    Action.READ_SYSTEM_LOG: _LOG_READS,
    Action.CREATE_TENDER: {"": _create},
    Action.PUBLISH_TENDER: {"": _publish},
    Action.CANCEL_TENDER: {"": _cancel},
    Action.START_OPENING: {"": _start_opening},
    Action.LIST_TENDERS: {"": _list},
    Action.VIEW_TENDER: {"": _view},
    Action.READ_TENDER_LOG: _LOG_READS,
    Action.VERIFY_AUDIT: {"": _verify_audit, "export": _export_bundle},
    Action.SUBMIT_BID: {
        "": _complete,
        "upload": _start_upload,
        "upload.status": _upload_status,
        "upload.write": _upload_write,
        "upload.abandon": _upload_abandon,
        "mine": _own_bids,
    },
    Action.WITHDRAW_BID: {"": _withdraw},
    Action.VIEW_SEALED_LIST: {"": _sealed_list},
    Action.READ_BID_BOX: _LOG_READS,
    Action.READ_BID_DOCUMENT: {"": _document},
    Action.VIEW_OPENING: {"": _opening},
    Action.SIGN_IN: {"": _then_opening(_sign_in)},
    Action.DECRYPT_BID: {"": _decrypt},
    Action.SUBMIT_SHARE: {"": _share},
    Action.PAUSE_OPENING: {"": _then_opening(_pause)},
    Action.RESUME_OPENING: {"": _then_opening(_resume)},
    Action.PUBLISH_RECORD: {"": _publish_record},
    Action.CONFIRM_RECORD: {"": _then_opening(_confirm)},
    Action.OBJECT_RECORD: {"": _then_opening(_object)},
    Action.ANSWER_OBJECTION: {"": _then_opening(_answer_objection)},
    Action.SEND_MESSAGE: {"": _message},
    Action.CLOSE_OPENING: {"": _close},
    Action.START_EVALUATION: {"": _then_progress(_start_evaluation)},
    Action.DRAW_EXPERTS: {
        "": _then_progress(_draw),
        "reveal": _then_progress(_reveal),
        "pool": _pool,
    },
    Action.REPLACE_MEMBER: {"": _then_progress(_replace)},
    Action.VIEW_PROGRESS: {"": _progress, "overview": _overview},
    Action.ACT_IN_ROOM: {"": _act},
    Action.VIEW_ROOM: {"": _room, "seats": _seats},
    Action.ANSWER_CLARIFICATION: {"": _answer_clarification, "list": _clarifications},
    Action.VIEW_RESULT: {"": _result, "report": _report},
    Action.LIST_STREAMS: {"": _streams},
    Action.VIEW_PRESENCE: {"": _presence},
    Action.PUBLISH_MEDIA: {"": _media_grant},
    Action.WATCH_MEDIA: {"": _media_grant},
    Action.READ_RECORDINGS: {"": _recordings, "read": _recording_read},
    Action.RECORD_MEDIA: {"": _media_record},
}
