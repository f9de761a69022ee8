"""One node: store, bus, ledger, identities, tenders and schedule, composed and started."""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

from crypto import SigningKey
from server.domain.access import Actor, Role
from server.domain.bidbox import BidBox
from server.domain.errors import DomainError
from server.domain.participants import Registry
from server.domain.tender import Due, Tender
from server.errors import Relayed, ServerError
from server.keyfiles import write_private_file
from server.protocol import SYSTEM_STREAM, box_tender
from server.protocol.fields import InvalidFields
from server.service.auth import Authenticator
from server.service.commands import Command, Commands, Pipeline
from server.service.evaluation import EvaluationService
from server.service.gate import Gate
from server.service.home import Homes
from server.service.key_hygiene import node_key_warnings
from server.service.ledger import Aggregate, Ledger, Origin
from server.service.logins import Logins
from server.service.media import MediaRecords
from server.service.node_keys import NodeKeys, node_id
from server.service.observer import NO_OBSERVER, Observer
from server.service.opening import OpeningService
from server.service.participants import Participants
from server.service.presence import Attendance, LocalPresence
from server.service.rooms import RoomViews
from server.service.scheduler import Scheduler
from server.service.submissions import Submissions
from server.service.tenders import Tenders
from server.service.throttle import Throttle
from server.service.treeheads import TreeHeadPolicy, TreeHeads
from server.service.uploads import Uploads

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from server.clock import Clock
    from server.config import Settings
    from server.service.auth import Claims
    from server.service.presence import PresencePort
    from server.storage.base import Backends

logger = logging.getLogger(__name__)

# The operator at the node's own console (offline CLI): trusted because it holds the data dir.
CONSOLE = Actor("console", Role.ADMIN, "local")


def aggregate_for(stream: str) -> Aggregate:
    if stream == SYSTEM_STREAM:
        return Registry()
    return BidBox(stream) if box_tender(stream) is not None else Tender(stream)


def load_node_key(path: Path, passphrase: str | None) -> SigningKey:
    """Load the node's signing key, creating it (mode 0600) on first start.

    A key file other users may read is loaded with a warning, not refused: a running venue is
    not taken down by an upgrade; `bidroom serve` logs it at every start (docs/operations.md).
    """
    secret = passphrase.encode() if passphrase else None
    if path.exists():
        for warning in node_key_warnings(path):
            logger.warning("!!! %s", warning)
        return SigningKey.from_pem(path.read_bytes(), passphrase=secret)
    key = SigningKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private_file(path, key.to_pem(passphrase=secret))
    return key


def node_id_of(key: SigningKey) -> str:
    return node_id(key.verify_key)


def _reason(exc: ServerError) -> str:
    """A refusal's label: the home's rule or code for a relayed one, else the error's code."""
    if isinstance(exc, Relayed):
        return str(exc.body.get("rule") or exc.body.get("code") or exc.code)
    return exc.code


class Remote(Protocol):
    """The home node, as an edge node reaches it (docs/sites.md section 5; server/sites/).

    An edge node hands every command, login and subscription check to its home: only the
    home decides and records. What comes back is what the home's own node would answer.
    """

    async def submit(self, command: Command) -> Any: ...

    async def challenge(self, document: object, address: str) -> dict[str, str]: ...

    async def login(self, document: object, address: str) -> dict[str, object]: ...

    async def follow(self, actor: Actor, stream: str) -> int: ...

    async def left(self, actor: Actor, tender: str, node: str, reason: str) -> None: ...


class Node:
    def __init__(
        self,
        settings: Settings,
        backends: Backends,
        clock: Clock,
        key: SigningKey,
        *,
        remote: Remote | None = None,
        presence: PresencePort | None = None,
    ) -> None:
        store, bus = backends.store, backends.bus
        # An edge node (docs/sites.md): its store is a replica of the home's, and every
        # command goes to the home; it decides and records nothing itself.
        self.remote = remote
        self.settings = settings
        self.store = store
        self.bus = bus
        self.clock = clock
        self.key = key
        self.id = node_id_of(key)
        self.origin = Origin(self.id, "node", "local")
        self.keys = NodeKeys(key)
        signer = TreeHeadPolicy(self.keys, clock, self.origin, settings.tree_head_every)
        self.ledger = Ledger(store, clock, aggregate_for, signer)
        self.gate = Gate(self.ledger, self._throttle(settings, clock))
        self.participants = Participants(self.ledger, self.gate, clock)
        # Tokens issued by another node are accepted if it is enrolled here (docs/sites.md 7).
        self.auth = Authenticator(settings, clock, key, self.id, self.participants.node_key)
        # Signature checks run in worker threads (see Pipeline); one per core is enough.
        self._checks = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="verify")
        self.pipeline = Pipeline(self.ledger, self.gate, clock, self.participants, self._checks)
        self.homes = Homes()
        self.tenders = Tenders(
            self.ledger, self.gate, store, clock, self.origin, self.keys, self.participants,
            self.pipeline,
        )  # fmt: skip
        self.pipeline.visible = self.tenders.visible
        self.files = backends.blobs
        self.uploads = Uploads(
            self.gate, self.tenders, clock, self.files, self.pipeline, self.homes
        )
        self.submissions = Submissions(
            self.ledger, self.gate, self.tenders, clock, self.keys, self.files, self.uploads,
            self.pipeline, self.homes,
        )  # fmt: skip
        self.opening = OpeningService(
            self.ledger, self.gate, self.tenders, self.participants, clock, self.keys,
            self.files, self.origin, self.pipeline, self.homes,
        )  # fmt: skip
        self.evaluation = EvaluationService(
            self.ledger, self.gate, self.tenders, self.participants, clock, self.keys, store,
            self.origin, self.pipeline,
        )  # fmt: skip
        failures = Throttle(
            clock, settings.max_refusals_per_minute, settings.max_tracked_callers,
            overall=settings.max_failed_logins_per_minute,
        )  # fmt: skip
        self.logins = Logins(
            self.auth, self.participants, self.evaluation.scopes, self.ledger, failures
        )
        self.evaluation.site = settings.site
        self.rooms = RoomViews(self.gate, self.tenders, self.participants)
        self.tree_heads = TreeHeads(store)
        self.gate.route = self.tenders.refusal_stream
        self.tenders.quiet_before = {
            Due.CLOSE_BIDDING: self.homes.completions,
            Due.CLOSE_DECRYPTION: self.homes.decryptions.in_flight,
        }
        self.tenders.on_due = {Due.CLOSE_SIGNING: self.evaluation.settle}
        self.scheduler = Scheduler(self.tenders, clock)
        # Who is online: in Redis in a cluster (server/sites/presence.py), else in memory.
        self.attendance = Attendance(
            presence if presence is not None else LocalPresence(),
            self.ledger, self.gate, clock, self.id, settings.site,
        )  # fmt: skip
        self.media = MediaRecords(self.pipeline, store, clock, self.participants, settings.site)
        self.commands = Commands(self)
        self.observer: Observer = NO_OBSERVER
        self._scheduler_task: asyncio.Task[None] | None = None
        if remote is not None:
            store.add_listener(self.ledger.follow)  # the registry stays current for logins
        store.add_listener(bus.publish)

    def observe(self, observer: Observer) -> None:
        """Report commands, commits, decryptions and uploads to `observer` from now on."""
        self.observer = self.ledger.observer = self.uploads.observer = observer
        self.homes.decryptions.observer = observer

    async def submit(self, command: Command) -> Any:
        """The one entry for commands and queries (service/commands.py)."""
        action = command.action.value
        self.observer.command(action)
        try:
            if self.remote is not None:
                return await self.remote.submit(command)
            return await self.commands.submit(command)
        except DomainError as exc:
            self.observer.refused(action, exc.rule)
            raise
        except ServerError as exc:
            self.observer.refused(action, _reason(exc))
            raise
        except InvalidFields:
            self.observer.refused(action, "invalid_request")
            raise

    # Sessions: the one entry for logging in and for reading a token.

    async def challenge(self, document: object, address: str) -> dict[str, str]:
        if self.remote is not None:
            return await self.remote.challenge(document, address)
        return self.logins.challenge(document, address)

    async def login(self, document: object, address: str) -> dict[str, object]:
        if self.remote is not None:
            return await self.remote.login(document, address)
        return await self.logins.login_json(document, address)

    def visit(self) -> dict[str, object]:
        """A read-only visitor's token, issued by this node (an edge issues its own)."""
        return self.logins.visit()

    def authenticate(self, token: str, address: str) -> Actor:
        """The actor a bearer token speaks for, from `address`; Unauthorized if none."""
        return self.auth.verify(token).actor(address, self.settings.site)

    def session(self, token: str) -> Claims:
        """What a token grants, for a live connection that must also know when it expires."""
        return self.auth.verify(token)

    async def follow(self, actor: Actor, stream: str) -> int:
        """Check that `actor` may read `stream` (refusals on record); its head's sequence number."""
        if self.remote is not None:
            return await self.remote.follow(actor, stream)
        await self.tenders.authorize_read(actor, stream)
        return (await self.store.head(stream)).seq

    # Presence: the live channel's connections (docs/sites.md section 8).

    async def connected(self, actor: Actor) -> None:
        """`actor` has an authenticated live connection to this node."""
        await self.attendance.enter(actor)

    async def following(self, actor: Actor, stream: str) -> None:
        """`actor`'s live connection subscribed to `stream`."""
        await self.attendance.follows(actor, stream)

    async def disconnected(self, actor: Actor, streams: Sequence[str], reason: str) -> None:
        """`actor`'s live connection, subscribed to `streams`, closed. For an expert, each
        tender under evaluation records `presence.left` (at the home). Never raises: a
        departure that can't be recorded is logged."""
        await self.attendance.leave(actor)
        if actor.role is not Role.EXPERT:
            return
        for stream in streams:
            if box_tender(stream) is not None or stream == SYSTEM_STREAM:
                continue
            try:
                await self.left(actor, stream, self.id, reason)
            except Exception:
                logger.warning("Could not record that an expert left %s", stream, exc_info=True)

    async def left(self, actor: Actor, tender: str, node: str, reason: str) -> None:
        """Record that `actor`'s live connection at `node` to `tender` closed."""
        if self.remote is not None:
            await self.remote.left(actor, tender, node, reason)
            return
        await self.attendance.record_left(actor, tender, node, reason)

    @staticmethod
    def _throttle(settings: Settings, clock: Clock) -> Throttle:
        return Throttle(clock, settings.max_refusals_per_minute, settings.max_tracked_callers)

    async def start(self, *, schedule: bool = True) -> None:
        await asyncio.to_thread(self.files.prepare)
        if converted := await asyncio.to_thread(self.files.upgrade):
            logger.info("Sealed %d bid files of the older layout at rest", converted)
        await self.store.start()
        await self.bus.start()
        await self.attendance.port.start()
        await self.participants.registry()
        if self.remote is not None:
            logger.info("Node %s started as an edge", self.id)
            return  # the home keeps the tenders and their schedule
        await self.tenders.load_all()
        await self.evaluation.resume()
        if schedule:
            self._scheduler_task = asyncio.create_task(self.scheduler.run(), name="scheduler")
        logger.info("Node %s started", self.id)

    async def close(self) -> None:
        task, self._scheduler_task = self._scheduler_task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                logger.exception("The scheduler had failed")  # closing goes on regardless
        self.homes.close()
        await self.attendance.port.close()
        self._checks.shutdown(wait=False, cancel_futures=True)
        try:
            await self.bus.close()
        finally:
            await self.store.close()
        logger.info("Node %s stopped", self.id)
