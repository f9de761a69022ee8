"""An edge node's way to its home: commands, logins and subscription checks forwarded over
the link between sites, answered only once the home has committed (docs/sites.md section 5).

`Forwarder` is the `Remote` that server/service/node.py hands every command to on an edge.
A refusal comes back as the home's own status and error body (`Relayed`); an answer that
names the streams it changed waits until this node's replica holds them, so that a client
answered here sees its own event here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from server.errors import HomeUnavailable, Relayed
from server.service.commands import actor_json
from server.sites import wire

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from server.config import Settings
    from server.domain.access import Actor
    from server.service.commands import Command
    from server.sites.channel import CommandClient, Reply
    from server.sites.lease import HomeInfo
    from server.sites.replica import Replicator

logger = logging.getLogger(__name__)


class Forwarder:
    def __init__(
        self,
        settings: Settings,
        client: CommandClient,
        replica: Replicator,
        find_home: Callable[[], Awaitable[HomeInfo | None]],
    ) -> None:
        self._settings = settings
        self._client = client
        self._replica = replica
        self._find_home = find_home
        self._home: HomeInfo | None = None

    async def home(self) -> HomeInfo:
        """The home that holds the lease now (cached until it fails to answer)."""
        if self._home is None:
            self._home = await self._find_home()
        if self._home is None:
            raise HomeUnavailable("No main-venue node holds the tender now; try again in a moment.")
        return self._home

    async def _ask(self, kind: str, payload: dict[str, object]) -> object:
        home = await self.home()
        timeout = self._settings.forward_timeout_seconds
        try:
            reply = await self._client.request(home.node, kind, payload, timeout)
        except HomeUnavailable:
            self._home = None  # the lease may have moved: look again next time
            raise
        if not reply.ok:
            raise _relayed(reply)
        await self._caught_up(reply)
        return reply.payload

    async def _caught_up(self, reply: Reply) -> None:
        try:
            async with asyncio.timeout(self._settings.forward_timeout_seconds):
                for stream, seq in reply.heads.items():
                    await self._replica.reached(stream, seq)
        except TimeoutError:
            # Committed at the home all the same: the answer stands; the live channel
            # brings the events as soon as the replica has them.
            logger.warning("The replica lags behind the home's answer")

    async def submit(self, command: Command) -> Any:
        home = await self.home()
        wire.check_forwardable(command, home.url)
        answer = await self._ask("command", command.to_json())
        return wire.decode(command, answer)

    async def challenge(self, document: object, address: str) -> dict[str, str]:
        answer = await self._ask("challenge", {"document": document, "address": address})
        return _mapping(answer)

    async def login(self, document: object, address: str) -> dict[str, object]:
        answer = await self._ask("login", {"document": document, "address": address})
        return dict(_mapping(answer))

    async def follow(self, actor: Actor, stream: str) -> int:
        payload: dict[str, object] = {"actor": actor_json(actor), "stream": stream}
        answer = await self._ask("follow", payload)
        if not isinstance(answer, int) or isinstance(answer, bool):
            raise HomeUnavailable("The main-venue node gave an answer this node can't read.")
        return answer

    async def left(self, actor: Actor, tender: str, node: str, reason: str) -> None:
        """An expert's live connection here closed: the home records `presence.left`."""
        payload: dict[str, object] = {
            "actor": actor_json(actor), "tender": tender, "node": node, "reason": reason,
        }  # fmt: skip
        await self._ask("left", payload)


def _mapping(answer: object) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise HomeUnavailable("The main-venue node gave an answer this node can't read.")
    return answer


def _relayed(reply: Reply) -> Relayed:
    payload = reply.payload
    if (
        isinstance(payload, dict)
        and isinstance(payload.get("status"), int)
        and isinstance(payload.get("error"), dict)
    ):
        return Relayed(payload["status"], payload["error"])
    return Relayed(500, {"code": "internal", "message": "Internal error at the main venue."})
