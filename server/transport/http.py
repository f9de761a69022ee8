"""HTTP API handlers: read the request, submit its command, serialize the answer.

Routes are listed at the bottom."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from crypto import parse_json
from server.domain.access import Action, Actor
from server.errors import BadRequest, NotFound, PayloadTooLarge, RequestTimeout, Unauthorized
from server.protocol import MAX_SEQ, TENDER_ID_PATTERN
from server.protocol.times import format_time
from server.service.commands import NO_TARGET, Command, Target
from server.service.schema import View
from server.transport.app_keys import node_key, settings_key
from server.transport.forwarded import TrustedProxies

if TYPE_CHECKING:
    from server.service.node import Node
    from server.service.tenders import Page

MAX_EVENTS_PER_PAGE: Final = 1000

AuthedHandler = Callable[[web.Request, Actor], Awaitable[web.StreamResponse]]


def _node(request: web.Request) -> Node:
    return request.app[node_key]


def respond(data: object, status: int = 200) -> web.Response:
    """`data` as JSON; a typed view (server/service/views.py) is written by its `to_json()`."""
    return web.Response(
        status=status,
        text=json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_view_json),
        content_type="application/json",
    )


def _view_json(value: object) -> object:
    if isinstance(value, View):
        return value.to_json()
    raise TypeError(f"{type(value).__name__} is not JSON")


async def read_body(request: web.Request) -> object:
    """The JSON body: only application/json, within the size limit, valid I-JSON."""
    if request.content_type != "application/json":
        raise BadRequest("Send the request body as application/json.")
    settings = request.app[settings_key]
    try:
        async with asyncio.timeout(settings.http_body_timeout_seconds):
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = settings.max_http_body_bytes
        raise PayloadTooLarge(
            f"The request body is larger than the limit of {limit} bytes."
        ) from None
    except TimeoutError:
        raise _body_timeout(request) from None
    return parse_json(raw)


async def timed_pieces(request: web.Request, size: int) -> AsyncIterator[bytes]:
    """A streamed body in pieces of `size` bytes; each must arrive within the body timeout."""
    seconds = request.app[settings_key].http_body_timeout_seconds
    while True:
        try:
            async with asyncio.timeout(seconds):
                piece = await request.content.read(size)
        except TimeoutError:
            raise _body_timeout(request) from None
        if not piece:
            return
        yield piece


def _body_timeout(request: web.Request) -> RequestTimeout:
    seconds = request.app[settings_key].http_body_timeout_seconds
    return RequestTimeout(
        f"The request body did not arrive within {seconds:g} s; the connection is closed."
    )


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send `Authorization: Bearer <token>`; log in to get a token.")
    return token.strip()


def address_of(request: web.Request) -> str:
    """The client's address: the socket peer, or behind a trusted proxy the address it names
    (transport/forwarded.py). Recorded with what the client does; it decides nothing alone."""
    networks = request.app[settings_key].trusted_proxies
    if not networks:
        return request.remote or "unknown"
    return _proxies(networks).client(
        request.remote,
        request.headers.getall("Forwarded", []),
        request.headers.getall("X-Forwarded-For", []),
    )


@functools.cache
def _proxies(networks: tuple[str, ...]) -> TrustedProxies:
    return TrustedProxies.parse(networks)


def authenticated(handler: AuthedHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def wrapper(request: web.Request) -> web.StreamResponse:
        actor = _node(request).authenticate(bearer_token(request), address_of(request))
        return await handler(request, actor)

    return wrapper


def _tender_id(request: web.Request) -> str:
    tender_id = request.match_info["tender"]
    if not TENDER_ID_PATTERN.fullmatch(tender_id):
        raise NotFound(f"There is no tender {tender_id[:64]!r}.")
    return tender_id


async def submit(
    request: web.Request, actor: Actor, action: Action, *, tender: str | None = None,
    step: str = "", target: Target = NO_TARGET, body: object = None,
    data: AsyncIterator[bytes] | None = None,
) -> Any:  # fmt: skip
    """Build the command this request asks for and submit it (service/commands.py)."""
    node = _node(request)
    command = Command(action, actor, node.clock.now(), tender, step, target, body, data)
    return await node.submit(command)


# Public routes.


async def node_info(request: web.Request) -> web.Response:
    node = _node(request)
    return respond(
        {
            "node": node.id,
            "public_key": node.key.verify_key.to_text(),
            "server_time": format_time(node.clock.now()),
            "protocol": 1,
        }
    )


async def health(request: web.Request) -> web.Response:
    return respond({"status": "ok"})


async def challenge(request: web.Request) -> web.Response:
    body = await read_body(request)
    return respond(await _node(request).challenge(body, address_of(request)))


async def login(request: web.Request) -> web.Response:
    body = await read_body(request)
    return respond(await _node(request).login(body, address_of(request)))


async def visit(request: web.Request) -> web.Response:
    """A read-only visitor's token for the public pages (docs/pages.md 3); no body."""
    return respond(_node(request).visit())


# Participants.


@authenticated
async def enroll(request: web.Request, actor: Actor) -> web.Response:
    body = await read_body(request)
    return respond(await submit(request, actor, Action.ENROLL_PARTICIPANT, body=body), status=201)


@authenticated
async def participants(request: web.Request, actor: Actor) -> web.Response:
    return respond(await submit(request, actor, Action.LIST_PARTICIPANTS))


# Tenders.


@authenticated
async def create_tender(request: web.Request, actor: Actor) -> web.Response:
    body = await read_body(request)
    return respond(await submit(request, actor, Action.CREATE_TENDER, body=body), status=201)


@authenticated
async def list_tenders(request: web.Request, actor: Actor) -> web.Response:
    return respond(await submit(request, actor, Action.LIST_TENDERS))


@authenticated
async def view_tender(request: web.Request, actor: Actor) -> web.Response:
    return respond(await submit(request, actor, Action.VIEW_TENDER, tender=_tender_id(request)))


@authenticated
async def publish_tender(request: web.Request, actor: Actor) -> web.Response:
    tender = _tender_id(request)
    return respond(await submit(request, actor, Action.PUBLISH_TENDER, tender=tender))


@authenticated
async def cancel_tender(request: web.Request, actor: Actor) -> web.Response:
    tender, body = _tender_id(request), await read_body(request)
    return respond(await submit(request, actor, Action.CANCEL_TENDER, tender=tender, body=body))


@authenticated
async def start_opening(request: web.Request, actor: Actor) -> web.Response:
    tender = _tender_id(request)
    return respond(await submit(request, actor, Action.START_OPENING, tender=tender))


@authenticated
async def tender_events(request: web.Request, actor: Actor) -> web.Response:
    return await _events(request, actor, Action.READ_TENDER_LOG, _tender_id(request))


@authenticated
async def system_events(request: web.Request, actor: Actor) -> web.Response:
    return await _events(request, actor, Action.READ_SYSTEM_LOG, None)


@authenticated
async def streams(request: web.Request, actor: Actor) -> web.Response:
    """Every stream the node holds, for another node filling its replica (docs/sites.md 7)."""
    return respond(await submit(request, actor, Action.LIST_STREAMS))


async def _events(
    request: web.Request, actor: Actor, action: Action, tender: str | None
) -> web.Response:
    after = _query_int(request, "after_seq", 0, MAX_SEQ, default=0)
    limit = _query_int(request, "limit", 1, MAX_EVENTS_PER_PAGE, default=MAX_EVENTS_PER_PAGE)
    body = {"after_seq": after, "limit": limit}
    page = await submit(request, actor, action, tender=tender, body=body)
    return web.Response(text=events_json(page), content_type="application/json")


def events_json(page: Page) -> str:
    """Event pages embed each record's canonical body as stored, without re-encoding it."""
    items = ",".join(f'{{"hash":"{r.hash}","event":{r.body}}}' for r in page.records)
    more = "true" if page.more else "false"
    return f'{{"events":[{items}],"next_after_seq":{page.next_after_seq},"more":{more}}}'


def _query_int(request: web.Request, name: str, low: int, high: int, *, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdecimal() or len(raw) > 16 or not low <= int(raw) <= high:
        raise BadRequest(f"Query parameter {name} must be an integer from {low} to {high}.")
    return int(raw)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", health),
        web.get("/api/node", node_info),
        web.post("/api/auth/challenge", challenge),
        web.post("/api/auth/login", login),
        web.post("/api/auth/visitor", visit),
        web.post("/api/admin/participants", enroll),
        web.get("/api/admin/participants", participants),
        web.get("/api/system/events", system_events),
        web.get("/api/streams", streams),
        web.post("/api/tenders", create_tender),
        web.get("/api/tenders", list_tenders),
        web.get("/api/tenders/{tender}", view_tender),
        web.post("/api/tenders/{tender}/publish", publish_tender),
        web.post("/api/tenders/{tender}/cancel", cancel_tender),
        web.post("/api/tenders/{tender}/opening/start", start_opening),
        web.get("/api/tenders/{tender}/events", tender_events),
    ]
