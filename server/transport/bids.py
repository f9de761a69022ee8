"""HTTP routes of sealed bids and the opening: uploads, receipts, decryption, the record."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from crypto import open_payload, read_header
from server.errors import BadRequest
from server.protocol import MAX_SEQ, box_stream
from server.transport.http import (
    _events,
    _node,
    _query_int,
    _tender_id,
    authenticated,
    read_body,
    respond,
    timed_pieces,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable

    from server.domain.access import Actor
    from server.service.decrypt import Source
    from server.service.opening import OpeningService
    from server.storage.blobs import UploadSession

UPLOAD_PIECE: Final = 1024 * 1024


def _opening(request: web.Request) -> OpeningService:
    return _node(request).opening


def _lot(request: web.Request) -> str:
    return request.match_info["lot"]


def _upload_json(session: UploadSession, received: int) -> dict[str, Any]:
    return {
        "upload": session.id,
        "tender": session.tender,
        "lot": session.lot,
        "size": session.size,
        "sha256": session.sha256,
        "received": received,
    }


@authenticated
async def start_upload(request: web.Request, actor: Actor) -> web.Response:
    body = await read_body(request)
    uploads = _node(request).uploads
    session = await uploads.start(actor, _tender_id(request), _lot(request), body)
    return respond(_upload_json(session, 0), status=201)


@authenticated
async def upload_status(request: web.Request, actor: Actor) -> web.Response:
    session, received = await _node(request).uploads.status(actor, request.match_info["upload"])
    return respond(_upload_json(session, received))


@authenticated
async def upload_piece(request: web.Request, actor: Actor) -> web.Response:
    """Bytes of an upload from `offset`; a dropped connection resumes from where it stood."""
    if request.content_type != "application/octet-stream":
        raise BadRequest("Send upload bytes as application/octet-stream.")
    offset = _query_int(request, "offset", 0, MAX_SEQ, default=-1)
    if offset < 0:
        raise BadRequest("Say where these bytes go: ?offset=<bytes already received>.")
    pieces: AsyncIterator[bytes] = timed_pieces(request, UPLOAD_PIECE)
    received = await _node(request).uploads.write(
        actor, request.match_info["upload"], offset, pieces, request.content_length
    )
    return respond({"upload": request.match_info["upload"], "received": received})


@authenticated
async def abandon_upload(request: web.Request, actor: Actor) -> web.Response:
    await _node(request).uploads.abandon(actor, request.match_info["upload"])
    return respond({"upload": request.match_info["upload"], "abandoned": True})


@authenticated
async def complete_upload(request: web.Request, actor: Actor) -> web.Response:
    receipt, signature = await _node(request).bids.complete(actor, request.match_info["upload"])
    return respond({"receipt": receipt.to_json(), "signature": signature}, status=201)


@authenticated
async def withdraw(request: web.Request, actor: Actor) -> web.Response:
    await _node(request).bids.withdraw(actor, _tender_id(request), _lot(request))
    return respond({"withdrawn": True})


@authenticated
async def sealed_list(request: web.Request, actor: Actor) -> web.Response:
    sealed, signature = await _node(request).bids.sealed_list(
        actor, _tender_id(request), _lot(request)
    )
    return respond({"list": sealed.to_json(), "signature": signature})


@authenticated
async def own_bids(request: web.Request, actor: Actor) -> web.Response:
    bids = await _node(request).bids.own_bids(actor, _tender_id(request))
    return respond({"bids": bids})


@authenticated
async def box_events(request: web.Request, actor: Actor) -> web.Response:
    """The bid box's log, for supervisors: who bid stays secret until the deadline."""
    return await _events(request, actor, box_stream(_tender_id(request)))


@authenticated
async def opening_view(request: web.Request, actor: Actor) -> web.Response:
    return respond(await _node(request).opening.view(actor, _tender_id(request)))


async def _then_view(
    request: web.Request, actor: Actor, done: Awaitable[None], status: int = 200
) -> web.Response:
    """Answer a command on the opening with the opening as the actor now sees it."""
    await done
    return respond(await _node(request).opening.view(actor, _tender_id(request)), status=status)


@authenticated
async def sign_in(request: web.Request, actor: Actor) -> web.Response:
    return await _then_view(
        request, actor, _node(request).opening.sign_in(actor, _tender_id(request))
    )


@authenticated
async def decrypt(request: web.Request, actor: Actor) -> web.Response:
    body = await read_body(request)
    opening = _node(request).opening
    return respond(await opening.decrypt(actor, _tender_id(request), _lot(request), body))


@authenticated
async def pause(request: web.Request, actor: Actor) -> web.Response:
    body = await read_body(request)
    return await _then_view(
        request, actor, _opening(request).pause(actor, _tender_id(request), body)
    )


@authenticated
async def resume(request: web.Request, actor: Actor) -> web.Response:
    return await _then_view(request, actor, _opening(request).resume(actor, _tender_id(request)))


@authenticated
async def share(request: web.Request, actor: Actor) -> web.Response:
    body = await read_body(request)
    return respond(await _node(request).opening.submit_share(actor, _tender_id(request), body))


@authenticated
async def publish_record(request: web.Request, actor: Actor) -> web.Response:
    return respond(await _node(request).opening.publish_record(actor, _tender_id(request)))


@authenticated
async def confirm(request: web.Request, actor: Actor) -> web.Response:
    body = await read_body(request)
    confirmed = _opening(request).confirm(actor, _tender_id(request), body)
    return await _then_view(request, actor, confirmed)


@authenticated
async def objection(request: web.Request, actor: Actor) -> web.Response:
    body = await read_body(request)
    raised = _opening(request).raise_objection(actor, _tender_id(request), body)
    return await _then_view(request, actor, raised, status=201)


@authenticated
async def answer(request: web.Request, actor: Actor) -> web.Response:
    body, objection_id = await read_body(request), request.match_info["objection"]
    answered = _opening(request).answer(actor, _tender_id(request), objection_id, body)
    return await _then_view(request, actor, answered)


@authenticated
async def close(request: web.Request, actor: Actor) -> web.Response:
    return respond(await _node(request).opening.close(actor, _tender_id(request)))


@authenticated
async def document(request: web.Request, actor: Actor) -> web.StreamResponse:
    """The decrypted bid package, streamed; the access is on record before a byte goes out."""
    bidder = request.match_info["bidder"]
    opening = _node(request).opening
    source, file_key = await opening.document(actor, _tender_id(request), _lot(request), bidder)
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    await response.prepare(request)
    async for piece in _plaintext(source, file_key):
        await response.write(piece)
    await response.write_eof()
    return response


async def _plaintext(source: Source, file_key: bytes) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(source)
    try:
        header = await asyncio.to_thread(read_header, handle)
        chunks = open_payload(header, handle, file_key, handle.size - header.size)
        while (piece := await asyncio.to_thread(_next_copy, chunks)) is not None:
            yield piece
    finally:
        await asyncio.to_thread(handle.close)


def _next_copy(chunks: Any) -> bytes | None:
    view = next(chunks, None)
    return None if view is None else bytes(view)  # the view's buffer is reused by the next chunk


def routes() -> list[web.RouteDef]:
    tender = "/api/tenders/{tender}"
    return [
        web.post(f"{tender}/lots/{{lot}}/uploads", start_upload),
        web.get("/api/uploads/{upload}", upload_status),
        web.put("/api/uploads/{upload}", upload_piece),
        web.delete("/api/uploads/{upload}", abandon_upload),
        web.post("/api/uploads/{upload}/complete", complete_upload),
        web.post(f"{tender}/lots/{{lot}}/withdraw", withdraw),
        web.get(f"{tender}/lots/{{lot}}/sealed-list", sealed_list),
        web.get(f"{tender}/bids/mine", own_bids),
        web.get(f"{tender}/bid-box/events", box_events),
        web.post(f"{tender}/lots/{{lot}}/decrypt", decrypt),
        web.get(f"{tender}/lots/{{lot}}/bids/{{bidder}}/document", document),
        web.get(f"{tender}/opening", opening_view),
        web.post(f"{tender}/opening/sign-in", sign_in),
        web.post(f"{tender}/opening/pause", pause),
        web.post(f"{tender}/opening/resume", resume),
        web.post(f"{tender}/opening/shares", share),
        web.post(f"{tender}/opening/record", publish_record),
        web.post(f"{tender}/opening/confirm", confirm),
        web.post(f"{tender}/opening/objections", objection),
        web.post(f"{tender}/opening/objections/{{objection}}/answer", answer),
        web.post(f"{tender}/opening/close", close),
    ]
