"""HTTP routes of the views' schemas and of the supervisor's overview (docs/protocol.md 2.11).

The other views are served where they always were (the tender, the opening, the room...); this
module adds what views brought: each one's JSON Schema, made from its type, the overview, and
who is online (presence).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from aiohttp import web

from server.domain.access import Action
from server.errors import NotFound
from server.service.schema import json_schema
from server.service.views import CATALOGUE
from server.transport.http import authenticated, respond, submit

if TYPE_CHECKING:
    from server.domain.access import Actor

SCHEMA_PATH = "/api/schema"


@functools.cache
def schema_of(name: str) -> dict[str, Any]:
    """The published schema of the view `name` (the types don't change while the node runs)."""
    view = CATALOGUE.get(name)
    if view is None:
        raise NotFound(f"There is no view {name!r}; GET {SCHEMA_PATH} lists them.")
    return {"$id": f"{SCHEMA_PATH}/{name}"} | json_schema(view)


async def schema_index(_: web.Request) -> web.Response:
    """Public, like `GET /api/node`: the views a client can read, and where their schemas are."""
    return respond({"views": {name: f"{SCHEMA_PATH}/{name}" for name in CATALOGUE}})


async def schema(request: web.Request) -> web.Response:
    return respond(schema_of(request.match_info["view"]))


@authenticated
async def overview(request: web.Request, actor: Actor) -> web.Response:
    return respond(await submit(request, actor, Action.VIEW_PROGRESS, step="overview"))


@authenticated
async def presence(request: web.Request, actor: Actor) -> web.Response:
    """Who is online at which site (docs/sites.md section 8): supervisors and the admin."""
    return respond(await submit(request, actor, Action.VIEW_PRESENCE))


def routes() -> list[web.RouteDef]:
    return [
        web.get(SCHEMA_PATH, schema_index),
        web.get(f"{SCHEMA_PATH}/{{view}}", schema),
        web.get("/api/overview", overview),
        web.get("/api/presence", presence),
    ]
