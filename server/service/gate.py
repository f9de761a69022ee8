"""The one door every command passes: the role x action table, and refusals on record."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn, TypeVar

from server.domain.access import Action, Actor, Role, authorize
from server.domain.errors import AccessDenied, DomainError, OutOfScope
from server.domain.events import AccessRefused, AccessThrottled, CommandRejected, DomainEvent
from server.protocol import SYSTEM_STREAM, box_tender
from server.protocol.fields import InvalidFields
from server.service.ledger import Ledger, Origin

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from server.service.throttle import Throttle

T = TypeVar("T")


class Gate:
    """Checks every command against the role x action table and records every refusal.

    Refusals are operations too, so they go into the log with their operator and address.
    So that no participant can bloat a tender's log by repeating refused requests, each
    actor has at most `limit` refusals recorded per minute; past that they get 429 and the
    log gets one `access.throttled` event instead (service/throttle.py, shared with logins).
    """

    def __init__(self, ledger: Ledger, throttle: Throttle) -> None:
        self._ledger = ledger
        self._throttle = throttle
        # Where a refusal of `actor` about `stream` is recorded; the node routes a bidder's
        # refusals before the deadline to the bid box (a gap in the tender would show it).
        self.route: Callable[[Actor, str], Awaitable[str]] = _same_stream

    async def check(self, actor: Actor, action: Action, tender_id: str | None = None) -> None:
        """Raise AccessDenied/OutOfScope (after recording the refusal) unless allowed."""
        try:
            authorize(actor, action, tender_id)
        except (AccessDenied, OutOfScope) as exc:
            await self.record(actor, tender_id, AccessRefused(action.value, exc.rule, str(exc)))
            raise

    async def parse(
        self, actor: Actor, stream: str | None, command: str, parse: Callable[[], T]
    ) -> T:
        """Run `parse`; an invalid body is refused on record like any other rule."""
        try:
            return parse()
        except InvalidFields as exc:
            await self.record(actor, stream, CommandRejected(command, "InvalidFields", str(exc)))
            raise

    async def reject(
        self, actor: Actor, stream: str | None, command: str, error: DomainError
    ) -> None:
        """Record that a rule refused `command`; the caller then re-raises the error."""
        await self.record(actor, stream, CommandRejected(command, error.rule, str(error)))

    async def refuse(
        self, actor: Actor, stream: str | None, command: str, error: DomainError
    ) -> NoReturn:
        """Record that a rule refused `command`, then raise the refusal."""
        await self.reject(actor, stream, command, error)
        raise error from None

    async def record(self, actor: Actor, stream: str | None, event: DomainEvent) -> None:
        """Append a refusal to the stream concerned, or to the system log if there is none."""
        if stream is not None:
            stream = await self.route(actor, stream)
        target = stream if stream is not None and await self._exists(stream) else SYSTEM_STREAM
        seconds = int(self._throttle.window.total_seconds())
        throttled = AccessThrottled(self._throttle.limit, seconds)
        origin = Origin.of(actor)

        async def write(recorded: DomainEvent) -> None:
            await self._ledger.execute(target, origin, lambda _: [recorded])

        await self._throttle.record(_throttle_keys(actor), write, event, throttled)

    async def _exists(self, stream: str) -> bool:
        if stream == SYSTEM_STREAM:
            return True
        tender = box_tender(stream)  # a bid box exists with its tender, even before any bid
        return (await self._ledger.head(tender or stream)).seq > 0


def _throttle_keys(actor: Actor) -> list[str]:
    """Whose refusals count together: the participant's; for the public, whose visitors mint a
    fresh id with every token (docs/pages.md 3), also the address's."""
    if actor.role is Role.PUBLIC:
        return [actor.id, f"public@{actor.address}"]
    return [actor.id]


async def _same_stream(actor: Actor, stream: str) -> str:
    return stream
