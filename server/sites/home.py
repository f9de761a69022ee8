"""The home node's side of forwarded commands (docs/sites.md section 5).

Each request from an edge runs exactly as if the home's own transport had received it: the
actor and the client's address are the ones the edge authenticated. The answer carries the
heads of the streams the command concerns, read after it committed, so that the edge can
wait for its replica to hold the client's own event before it answers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from crypto import MalformedJSON
from server.domain.errors import DomainError
from server.errors import BadRequest, ServerError
from server.protocol import SYSTEM_STREAM, box_stream
from server.protocol.fields import InvalidFields
from server.service.commands import Command, actor_from_json
from server.sites import wire
from server.sites.channel import Reply
from server.transport.errors import describe

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from server.service.node import Node

logger = logging.getLogger(__name__)

INTERNAL: Final = {"code": "internal", "message": "Internal error."}


class HomeDesk:
    """Answers the requests edges forward to this node while it holds the home lease."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._kinds: Mapping[str, Callable[[Any], Awaitable[Reply]]] = {
            "command": self._command,
            "challenge": self._challenge,
            "login": self._login,
            "follow": self._follow,
            "left": self._left,
        }

    async def answer(self, kind: str, payload: object) -> Reply:
        handler = self._kinds.get(kind)
        try:
            if handler is None:
                raise BadRequest(f"No request of kind {kind[:32]!r}.")
            return await handler(payload)
        except (DomainError, ServerError, InvalidFields, MalformedJSON) as exc:
            described = describe(exc)
            if described is None:  # pragma: no cover - every class above is described
                return Reply(ok=False, payload={"status": 500, "error": INTERNAL}, heads={})
            status, body = described
            return Reply(ok=False, payload={"status": status, "error": body}, heads={})
        except Exception:
            logger.exception("A forwarded %s failed", kind)
            return Reply(ok=False, payload={"status": 500, "error": INTERNAL}, heads={})

    async def _command(self, payload: object) -> Reply:
        try:
            command = Command.from_json(payload)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        result = await self._node.submit(command)
        return Reply(ok=True, payload=wire.encode(result), heads=await self._heads(command))

    async def _heads(self, command: Command) -> dict[str, int]:
        streams = (
            [command.tender, box_stream(command.tender)]
            if command.tender is not None
            else [SYSTEM_STREAM]
        )
        store = self._node.store
        return {stream: (await store.head(stream)).seq for stream in streams}

    async def _challenge(self, payload: object) -> Reply:
        document, address = _login_request(payload)
        answer = await self._node.challenge(document, address)
        return Reply(ok=True, payload=answer, heads={})

    async def _login(self, payload: object) -> Reply:
        document, address = _login_request(payload)
        answer = await self._node.login(document, address)
        return Reply(ok=True, payload=wire.encode(answer), heads={})

    async def _follow(self, payload: object) -> Reply:
        if not isinstance(payload, dict) or not isinstance(payload.get("stream"), str):
            raise BadRequest("A follow request names an actor and a stream.")
        try:
            actor = actor_from_json(payload.get("actor"))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        seq = await self._node.follow(actor, payload["stream"])
        return Reply(ok=True, payload=seq, heads={})

    async def _left(self, payload: object) -> Reply:
        if not isinstance(payload, dict) or not all(
            isinstance(payload.get(name), str) for name in ("tender", "node", "reason")
        ):
            raise BadRequest("A left request names an actor, a tender, a node and a reason.")
        try:
            actor = actor_from_json(payload.get("actor"))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        tender = payload["tender"]
        await self._node.left(actor, tender, payload["node"], payload["reason"])
        head = await self._node.store.head(tender)
        return Reply(ok=True, payload=None, heads={tender: head.seq})


def _login_request(payload: object) -> tuple[object, str]:
    if not isinstance(payload, dict) or not isinstance(payload.get("address"), str):
        raise BadRequest("A login request carries a document and the client's address.")
    return payload.get("document"), payload["address"]
