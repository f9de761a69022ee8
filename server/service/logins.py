"""Logging in: check the signed answer, scope an expert's token, and put the outcome on record."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from server.domain.access import Role
from server.domain.logins import ANONYMOUS, LoginFailure, LoginRefused, LoginsThrottled
from server.errors import LoginFailed
from server.protocol import SYSTEM_STREAM
from server.protocol.fields import Reader
from server.protocol.times import format_time
from server.service.auth import LoginAnswer
from server.service.ledger import Ledger, Origin

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from server.domain.events import DomainEvent
    from server.service.auth import Authenticator, Claims
    from server.service.participants import Participants
    from server.service.throttle import Throttle


class Logins:
    """Every login is recorded: a success as `participant.logged_in`, a failure as
    `auth.login_failed` with the id claimed, the address and the reason.

    Failures are throttled per claimed id and per address (service/throttle.py), so a flood,
    even one spraying ids from one address, writes at most the limit and one
    `auth.login_throttled` per minute each; past it the caller gets 429.
    """

    def __init__(
        self,
        auth: Authenticator,
        participants: Participants,
        scopes: Callable[[str], Awaitable[frozenset[str]]],
        ledger: Ledger,
        throttle: Throttle,
    ) -> None:
        self._auth = auth
        self._participants = participants
        self._scopes = scopes
        self._ledger = ledger
        self._throttle = throttle

    def challenge(self, document: object, address: str) -> dict[str, str]:
        """A single-use challenge for `{"participant": ...}` (POST /api/auth/challenge)."""
        return self._auth.challenge(parse_challenge(document), address).to_json()

    async def login_json(self, document: object, address: str) -> dict[str, object]:
        """Log in with a signed answer (POST /api/auth/login): the token and what it grants."""
        return self._answer(await self.login(LoginAnswer.parse(document), address))

    def _answer(self, claims: Claims) -> dict[str, object]:
        return {
            "token": self._auth.issue(claims),
            "participant": claims.participant,
            "role": claims.role.value,
            "scopes": sorted(claims.scopes),
            "expires_at": format_time(claims.expires_at),
        }

    def visit(self) -> dict[str, object]:
        """A visitor's token (POST /api/auth/visitor): the same answer as a login's."""
        return self._answer(self._auth.visitor())

    async def login(self, answer: LoginAnswer, address: str) -> Claims:
        participant = await self._participants.find(answer.participant)
        try:
            claims = self._auth.answer(answer, participant, address)
        except LoginFailed as exc:
            await self._record_failure(answer.participant, address, exc)
            raise
        if claims.role is Role.EXPERT:  # an expert's session covers the tenders it was drawn for
            claims = replace(claims, scopes=await self._scopes(claims.participant))
        await self._participants.record_login(claims.actor(address))
        return claims

    async def _record_failure(self, claimed: str, address: str, failure: LoginFailed) -> None:
        origin = Origin(ANONYMOUS, ANONYMOUS, address)

        async def write(event: DomainEvent) -> None:
            await self._ledger.execute(SYSTEM_STREAM, origin, lambda _: [event])

        seconds = int(self._throttle.window.total_seconds())
        throttled = LoginsThrottled(claimed, address, self._throttle.limit, seconds)
        refused = LoginRefused(claimed, address, LoginFailure(failure.reason))
        keys = (f"participant:{claimed}", f"address:{address}")
        await self._throttle.record(keys, write, refused, throttled, what="failed logins")


def parse_challenge(document: object) -> str:
    """The participant of a challenge request: `{"participant": ...}`."""
    reader = Reader(document)
    participant = reader.text("participant", max_len=40)
    reader.finish()
    return participant
