"""HTTP routes of the evaluation: the draw, the rooms, experts' acts, clarifications, results.

Experts usually act over the live channel (`act` messages, acked there); the same signed acts
may be posted here. Refusals are typed and mapped to responses in errors.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from server.domain.access import Action
from server.service.commands import Target
from server.transport.http import _tender_id, authenticated, read_body, respond, submit
from server.transport.report_page import render_report

if TYPE_CHECKING:
    from server.domain.access import Actor
    from server.service.evaluation import Ack


def _lot(request: web.Request) -> Target:
    return Target(lot=request.match_info["lot"])


@authenticated
async def start(request: web.Request, actor: Actor) -> web.Response:
    tender = _tender_id(request)
    return respond(await submit(request, actor, Action.START_EVALUATION, tender=tender))


@authenticated
async def progress(request: web.Request, actor: Actor) -> web.Response:
    tender = _tender_id(request)
    return respond(await submit(request, actor, Action.VIEW_PROGRESS, tender=tender))


@authenticated
async def draw(request: web.Request, actor: Actor) -> web.Response:
    tender, target, body = _tender_id(request), _lot(request), await read_body(request)
    drawn = await submit(
        request, actor, Action.DRAW_EXPERTS, tender=tender, target=target, body=body
    )
    return respond(drawn, status=201)


@authenticated
async def reveal(request: web.Request, actor: Actor) -> web.Response:
    tender, target = _tender_id(request), _lot(request)
    return respond(
        await submit(
            request, actor, Action.DRAW_EXPERTS, tender=tender, step="reveal", target=target
        )
    )


@authenticated
async def replace(request: web.Request, actor: Actor) -> web.Response:
    tender, target, body = _tender_id(request), _lot(request), await read_body(request)
    return respond(
        await submit(request, actor, Action.REPLACE_MEMBER, tender=tender, target=target, body=body)
    )


@authenticated
async def room(request: web.Request, actor: Actor) -> web.Response:
    tender, target = _tender_id(request), _lot(request)
    return respond(await submit(request, actor, Action.VIEW_ROOM, tender=tender, target=target))


@authenticated
async def act(request: web.Request, actor: Actor) -> web.Response:
    body = await read_body(request)
    tender, target = _tender_id(request), _lot(request)
    ack: Ack = await submit(
        request, actor, Action.ACT_IN_ROOM, tender=tender, target=target, body=body
    )
    return respond(ack.to_json(), status=201)


@authenticated
async def clarifications(request: web.Request, actor: Actor) -> web.Response:
    tender = _tender_id(request)
    return respond(
        await submit(request, actor, Action.ANSWER_CLARIFICATION, tender=tender, step="list")
    )


@authenticated
async def answer(request: web.Request, actor: Actor) -> web.Response:
    tender = _tender_id(request)
    target = Target(
        lot=request.match_info["lot"], clarification=request.match_info["clarification"]
    )
    body = await read_body(request)
    return respond(
        await submit(
            request, actor, Action.ANSWER_CLARIFICATION, tender=tender, target=target, body=body
        )
    )


@authenticated
async def result(request: web.Request, actor: Actor) -> web.Response:
    tender, target = _tender_id(request), _lot(request)
    return respond(await submit(request, actor, Action.VIEW_RESULT, tender=tender, target=target))


@authenticated
async def report_page(request: web.Request, actor: Actor) -> web.Response:
    """The report as a page (zh-CN first; `?lang=en` for English)."""
    tender, target = _tender_id(request), _lot(request)
    found = await submit(
        request, actor, Action.VIEW_RESULT, tender=tender, step="report", target=target
    )
    english = request.query.get("lang") == "en"
    return web.Response(
        text=render_report(found, english=english),
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Language": "en" if english else "zh-CN"},
    )


@authenticated
async def pool(request: web.Request, actor: Actor) -> web.Response:
    return respond(await submit(request, actor, Action.DRAW_EXPERTS, step="pool"))


@authenticated
async def seats(request: web.Request, actor: Actor) -> web.Response:
    return respond(await submit(request, actor, Action.VIEW_ROOM, step="seats"))


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
        web.get("/api/evaluation/pool", pool),
    ]
