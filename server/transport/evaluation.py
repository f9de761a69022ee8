"""HTTP routes of the evaluation: the draw, the rooms, experts' acts, clarifications, results.

Experts usually act over the live channel (`act` messages, acked there); the same signed acts
may be posted here. Refusals are typed and mapped to responses in errors.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from server.transport.http import _node, _tender_id, authenticated, read_body, respond
from server.transport.report_page import render_report

if TYPE_CHECKING:
    from server.domain.access import Actor


def _lot(request: web.Request) -> str:
    return request.match_info["lot"]


@authenticated
async def start(request: web.Request, actor: Actor) -> web.Response:
    node = _node(request)
    tender = _tender_id(request)
    await node.evaluation.start(actor, tender)
    return respond(await node.rooms.progress(actor, tender))


@authenticated
async def progress(request: web.Request, actor: Actor) -> web.Response:
    return respond(await _node(request).rooms.progress(actor, _tender_id(request)))


@authenticated
async def draw(request: web.Request, actor: Actor) -> web.Response:
    node, tender, lot = _node(request), _tender_id(request), _lot(request)
    await node.evaluation.draw(actor, tender, lot, await read_body(request))
    return respond(await node.rooms.progress(actor, tender), status=201)


@authenticated
async def reveal(request: web.Request, actor: Actor) -> web.Response:
    node, tender = _node(request), _tender_id(request)
    await node.evaluation.reveal(actor, tender, _lot(request))
    return respond(await node.rooms.progress(actor, tender))


@authenticated
async def replace(request: web.Request, actor: Actor) -> web.Response:
    node, tender, lot = _node(request), _tender_id(request), _lot(request)
    await node.evaluation.replace(actor, tender, lot, await read_body(request))
    return respond(await node.rooms.progress(actor, tender))


@authenticated
async def room(request: web.Request, actor: Actor) -> web.Response:
    return respond(await _node(request).rooms.room(actor, _tender_id(request), _lot(request)))


@authenticated
async def act(request: web.Request, actor: Actor) -> web.Response:
    body = await read_body(request)
    ack = await _node(request).evaluation.act(actor, _tender_id(request), body, _lot(request))
    return respond(ack.to_json(), status=201)


@authenticated
async def clarifications(request: web.Request, actor: Actor) -> web.Response:
    found = await _node(request).rooms.clarifications(actor, _tender_id(request))
    return respond({"clarifications": found})


@authenticated
async def answer(request: web.Request, actor: Actor) -> web.Response:
    node, tender, lot = _node(request), _tender_id(request), _lot(request)
    clarification = request.match_info["clarification"]
    await node.evaluation.answer(actor, tender, lot, clarification, await read_body(request))
    return respond({"clarifications": await node.rooms.clarifications(actor, tender)})


@authenticated
async def result(request: web.Request, actor: Actor) -> web.Response:
    return respond(await _node(request).rooms.result(actor, _tender_id(request), _lot(request)))


@authenticated
async def report_page(request: web.Request, actor: Actor) -> web.Response:
    """The report as a page (zh-CN first; `?lang=en` for English)."""
    found = await _node(request).rooms.report(actor, _tender_id(request), _lot(request))
    english = request.query.get("lang") == "en"
    return web.Response(
        text=render_report(found, english=english),
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Language": "en" if english else "zh-CN"},
    )


@authenticated
async def seats(request: web.Request, actor: Actor) -> web.Response:
    return respond({"seats": await _node(request).rooms.seats(actor)})


def routes() -> list[web.RouteDef]:
    tender = "/api/tenders/{tender}"
    lot = f"{tender}/lots/{{lot}}"
    return [
        web.post(f"{tender}/evaluation/start", start),
        web.get(f"{tender}/evaluation", progress),
        web.post(f"{lot}/draw", draw),
        web.post(f"{lot}/draw/reveal", reveal),
        web.post(f"{lot}/evaluation/replace", replace),
        web.get(f"{lot}/room", room),
        web.post(f"{lot}/room/acts", act),
        web.get(f"{tender}/clarifications", clarifications),
        web.post(f"{lot}/clarifications/{{clarification}}/answer", answer),
        web.get(f"{lot}/result", result),
        web.get(f"{lot}/report.html", report_page),
        web.get("/api/evaluation/seats", seats),
    ]
