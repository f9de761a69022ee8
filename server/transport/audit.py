"""HTTP routes of the verifiable log: the latest signed tree head, inclusion and consistency
proofs (docs/protocol.md 2.9, docs/spec/audit-bundle.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from server.errors import BadRequest
from server.protocol import MAX_SEQ, box_stream
from server.transport.http import _node, _query_int, _tender_id, authenticated, respond

if TYPE_CHECKING:
    from server.domain.access import Actor


def _stream(request: web.Request) -> str:
    tender = _tender_id(request)
    return box_stream(tender) if request.match_info.get("box") else tender


@authenticated
async def tree_head(request: web.Request, actor: Actor) -> web.Response:
    stream = _stream(request)
    node = _node(request)
    await node.tenders.authorize_read(actor, stream)
    record = await node.tree_heads.latest(stream)
    return respond({"seq": record.seq, "hash": record.hash, **record.payload})


@authenticated
async def inclusion(request: web.Request, actor: Actor) -> web.Response:
    stream = _stream(request)
    node = _node(request)
    await node.tenders.authorize_read(actor, stream)
    seq, size = _required(request, "seq"), _required(request, "size")
    return respond(await node.tree_heads.inclusion(actor, stream, seq, size))


@authenticated
async def consistency(request: web.Request, actor: Actor) -> web.Response:
    stream = _stream(request)
    node = _node(request)
    await node.tenders.authorize_read(actor, stream)
    old, new = _required(request, "from"), _required(request, "to")
    return respond(await node.tree_heads.consistency(stream, old, new))


def _required(request: web.Request, name: str) -> int:
    value = _query_int(request, name, 1, MAX_SEQ, default=0)
    if not value:
        raise BadRequest(f"Say which proof: the query needs {name}.")
    return value


def routes() -> list[web.RouteDef]:
    routes: list[web.RouteDef] = []
    for prefix in ("/api/tenders/{tender}", "/api/tenders/{tender}/{box:bid-box}"):
        routes += [
            web.get(f"{prefix}/tree-head", tree_head),
            web.get(f"{prefix}/proofs/inclusion", inclusion),
            web.get(f"{prefix}/proofs/consistency", consistency),
        ]
    return routes
