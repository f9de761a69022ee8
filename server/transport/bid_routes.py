"""HTTP routes of sealed bids and the opening: uploads, receipts, decryption, the record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiohttp import web

from server.domain.access import Action
from server.errors import BadRequest
from server.protocol import MAX_SEQ
from server.service.commands import Target
from server.transport.http import (
    _events,
    _query_int,
    _tender_id,
    authenticated,
    read_body,
    respond,
    submit,
    timed_pieces,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from server.domain.access import Actor

UPLOAD_PIECE: Final = 1024 * 1024


def _lot(request: web.Request) -> Target:
    return Target(lot=request.match_info["lot"])


def _upload(request: web.Request) -> Target:
    return Target(upload=request.match_info["upload"])


@authenticated
async def start_upload(request: web.Request, actor: Actor) -> web.Response:
    body = await read_body(request)
    started = await submit(
        request, actor, Action.SUBMIT_BID, tender=_tender_id(request), step="upload",
        target=_lot(request), body=body,
    )  # fmt: skip
    return respond(started, status=201)


@authenticated
async def upload_status(request: web.Request, actor: Actor) -> web.Response:
    target = _upload(request)
    return respond(
        await submit(request, actor, Action.SUBMIT_BID, step="upload.status", target=target)
    )


@authenticated
async def upload_piece(request: web.Request, actor: Actor) -> web.Response:
    """Bytes of an upload from `offset`; a dropped connection resumes from where it stood."""
    if request.content_type != "application/octet-stream":
        raise BadRequest("Send upload bytes as application/octet-stream.")
    offset = _query_int(request, "offset", 0, MAX_SEQ, default=-1)
    if offset < 0:
        raise BadRequest("Say where these bytes go: ?offset=<bytes already received>.")
    pieces: AsyncIterator[bytes] = timed_pieces(request, UPLOAD_PIECE)
    body = {"offset": offset, "length": request.content_length}
    written = await submit(
        request, actor, Action.SUBMIT_BID, step="upload.write", target=_upload(request),
        body=body, data=pieces,
    )  # fmt: skip
    return respond(written)


@authenticated
async def abandon_upload(request: web.Request, actor: Actor) -> web.Response:
    target = _upload(request)
    return respond(
        await submit(request, actor, Action.SUBMIT_BID, step="upload.abandon", target=target)
    )


@authenticated
async def complete_upload(request: web.Request, actor: Actor) -> web.Response:
    receipt = await submit(request, actor, Action.SUBMIT_BID, target=_upload(request))
    return respond(receipt, status=201)


@authenticated
async def withdraw(request: web.Request, actor: Actor) -> web.Response:
    tender, target = _tender_id(request), _lot(request)
    return respond(await submit(request, actor, Action.WITHDRAW_BID, tender=tender, target=target))


@authenticated
async def sealed_list(request: web.Request, actor: Actor) -> web.Response:
    tender, target = _tender_id(request), _lot(request)
    return respond(
        await submit(request, actor, Action.VIEW_SEALED_LIST, tender=tender, target=target)
    )


@authenticated
async def own_bids(request: web.Request, actor: Actor) -> web.Response:
    tender = _tender_id(request)
    return respond(await submit(request, actor, Action.SUBMIT_BID, tender=tender, step="mine"))


@authenticated
async def box_events(request: web.Request, actor: Actor) -> web.Response:
    """The bid box's log, for supervisors: who bid stays secret until the deadline."""
    return await _events(request, actor, Action.READ_BID_BOX, _tender_id(request))


async def _opening(
    request: web.Request, actor: Actor, action: Action, *, target: Target | None = None,
    body: bool = False, status: int = 200,
) -> web.Response:  # fmt: skip
    """A command or a read on the opening; the answer is what its handler gives back."""
    document = await read_body(request) if body else None
    tender = _tender_id(request)
    answer = await submit(
        request, actor, action, tender=tender, target=target or Target(), body=document
    )
    return respond(answer, status=status)


@authenticated
async def opening_view(request: web.Request, actor: Actor) -> web.Response:
    return await _opening(request, actor, Action.VIEW_OPENING)


@authenticated
async def sign_in(request: web.Request, actor: Actor) -> web.Response:
    return await _opening(request, actor, Action.SIGN_IN)


@authenticated
async def decrypt(request: web.Request, actor: Actor) -> web.Response:
    return await _opening(request, actor, Action.DECRYPT_BID, target=_lot(request), body=True)


@authenticated
async def pause(request: web.Request, actor: Actor) -> web.Response:
    return await _opening(request, actor, Action.PAUSE_OPENING, body=True)


@authenticated
async def resume(request: web.Request, actor: Actor) -> web.Response:
    return await _opening(request, actor, Action.RESUME_OPENING)


@authenticated
async def share(request: web.Request, actor: Actor) -> web.Response:
    return await _opening(request, actor, Action.SUBMIT_SHARE, body=True)


@authenticated
async def publish_record(request: web.Request, actor: Actor) -> web.Response:
    return await _opening(request, actor, Action.PUBLISH_RECORD)


@authenticated
async def confirm(request: web.Request, actor: Actor) -> web.Response:
    return await _opening(request, actor, Action.CONFIRM_RECORD, body=True)


@authenticated
async def objection(request: web.Request, actor: Actor) -> web.Response:
    return await _opening(request, actor, Action.OBJECT_RECORD, body=True, status=201)


@authenticated
async def answer(request: web.Request, actor: Actor) -> web.Response:
    target = Target(objection=request.match_info["objection"])
    return await _opening(request, actor, Action.ANSWER_OBJECTION, target=target, body=True)


@authenticated
async def message(request: web.Request, actor: Actor) -> web.Response:
    return await _opening(request, actor, Action.SEND_MESSAGE, body=True, status=201)


@authenticated
async def close(request: web.Request, actor: Actor) -> web.Response:
    return await _opening(request, actor, Action.CLOSE_OPENING)


@authenticated
async def document(request: web.Request, actor: Actor) -> web.StreamResponse:
    """The decrypted bid package, streamed; the access is on record before a byte goes out."""
    target = Target(lot=request.match_info["lot"], bidder=request.match_info["bidder"])
    plaintext: AsyncIterator[bytes] = await submit(
        request, actor, Action.READ_BID_DOCUMENT, tender=_tender_id(request), target=target
    )
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    await response.prepare(request)
    async for piece in plaintext:
        await response.write(piece)
    await response.write_eof()
    return response


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
        web.post(f"{tender}/opening/messages", message),
        web.post(f"{tender}/opening/close", close),
    ]
