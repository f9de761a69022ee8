"""HTTP routes of the recordings (docs/media.md section 7): supervisors list a tender's
segments and fetch one, whole or by HTTP Range; every fetch is on record before it starts."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from recordings.errors import SegmentNameError
from recordings.segments import segment_path
from server.domain.access import Action
from server.errors import BadRequest, NotFound
from server.transport.app_keys import settings_key
from server.transport.http import _tender_id, authenticated, respond, submit

if TYPE_CHECKING:
    from pathlib import Path

    from server.domain.access import Actor


@authenticated
async def recordings(request: web.Request, actor: Actor) -> web.Response:
    tender = _tender_id(request)
    return respond(await submit(request, actor, Action.READ_RECORDINGS, tender=tender))


@authenticated
async def recording(request: web.Request, actor: Actor) -> web.StreamResponse:
    """One segment's bytes (`Range` honoured), once the read is on record."""
    tender = _tender_id(request)
    name = request.match_info["name"]
    body = {"name": name, "range": request.headers.get("Range", "")}
    found = await submit(
        request, actor, Action.READ_RECORDINGS, tender=tender, step="read", body=body
    )
    if found["expired"]:
        raise NotFound(f"Recording {name} has passed its retention and was removed.")
    root: Path = request.app[settings_key].recordings_dir
    try:
        path = await asyncio.to_thread(segment_path, root, name)
    except SegmentNameError:
        raise BadRequest("That is not the name of a recording segment.") from None
    if not await asyncio.to_thread(path.is_file):
        raise NotFound(f"Recording {name} is not on this node; it was recorded at {found['node']}.")
    kind = "video" if found["track"] == "video" else "audio"
    return web.FileResponse(path, headers={"Content-Type": f"{kind}/webm"})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/tenders/{tender}/recordings", recordings),
        web.get("/api/tenders/{tender}/recordings/{name:.+}", recording),
    ]
