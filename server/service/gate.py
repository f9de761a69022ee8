"""The one door every command passes: the role x action table, and refusals on record."""

from __future__ import annotations

from server.domain.access import Action, Actor, authorize
from server.domain.errors import AccessDenied, DomainError, OutOfScope
from server.domain.events import AccessRefused, CommandRejected, DomainEvent
from server.protocol import SYSTEM_STREAM
from server.service.ledger import Ledger, Origin


class Gate:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    async def check(self, actor: Actor, action: Action, tender_id: str | None = None) -> None:
        """Raise AccessDenied/OutOfScope (after recording the refusal) unless allowed."""
        try:
            authorize(actor, action, tender_id)
        except (AccessDenied, OutOfScope) as exc:
            await self.record(actor, tender_id, AccessRefused(action.value, exc.rule, str(exc)))
            raise

    async def reject(
        self, actor: Actor, stream: str | None, command: str, error: DomainError
    ) -> None:
        """Record that a rule refused `command`; the caller then re-raises the error."""
        await self.record(actor, stream, CommandRejected(command, error.rule, str(error)))

    async def record(self, actor: Actor, stream: str | None, event: DomainEvent) -> None:
        """Append a refusal to the stream concerned, or to the system log if there is none."""
        target = stream if stream is not None and await self._exists(stream) else SYSTEM_STREAM
        await self._ledger.execute(target, Origin.of(actor), lambda _: [event])

    async def _exists(self, stream: str) -> bool:
        return stream == SYSTEM_STREAM or (await self._ledger.head(stream)).seq > 0
