"""The node's operational face: liveness is /healthz (http.py); here /readyz and /metrics.

/readyz is public, as probes expect: it names its checks (server/readiness.py) and says
nothing secret. /metrics is served when `metrics_enabled` (docs/operations.md says who
should reach it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from server import logs
from server.metrics import CONTENT_TYPE
from server.readiness import readiness
from server.transport.app_keys import metrics_key, node_key
from server.transport.http import respond

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler


def routes(*, metrics: bool) -> list[web.RouteDef]:
    found = [web.get("/readyz", ready)]
    if metrics:
        found.append(web.get("/metrics", scrape))
    return found


async def ready(request: web.Request) -> web.Response:
    """200 {"status":"ready","checks":{...}}, or 503 {"status":"not_ready",...}."""
    checks = await readiness(request.app[node_key])
    ok = all(check["ok"] for check in checks.values())
    return respond({"status": "ready" if ok else "not_ready", "checks": checks}, 200 if ok else 503)


async def scrape(request: web.Request) -> web.Response:
    body = request.app[metrics_key].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


@web.middleware
async def log_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Lines logged while a request about a tender is handled name it (server/logs.py)."""
    logs.bind_tender(request.match_info.get("tender"))
    return await handler(request)
