"""HTTP routes of the verifiable log: the latest signed tree head, inclusion and consistency
proofs (docs/protocol.md 2.9, docs/spec/audit-bundle.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from aiohttp import web

from server.domain.access import Action
from server.transport.http import _tender_id, authenticated, respond, submit

if TYPE_CHECKING:
    from server.domain.access import Actor

# Lines per write of a bundle: a few hundred records per piece, not one write per record.
BUNDLE_WRITE_LINES: Final = 256


def _read(request: web.Request) -> tuple[Action, str]:
    """Which log the proof is of: the tender's, or its bid box's."""
    box = request.match_info.get("box")
    return (Action.READ_BID_BOX if box else Action.READ_TENDER_LOG), _tender_id(request)


@authenticated
async def tree_head(request: web.Request, actor: Actor) -> web.Response:
    action, tender = _read(request)
    return respond(await submit(request, actor, action, tender=tender, step="tree-head"))


@authenticated
async def inclusion(request: web.Request, actor: Actor) -> web.Response:
    action, tender = _read(request)
    body = _query(request, "seq", "size")
    return respond(await submit(request, actor, action, tender=tender, step="inclusion", body=body))


@authenticated
async def consistency(request: web.Request, actor: Actor) -> web.Response:
    action, tender = _read(request)
    body = _query(request, "from", "to")
    return respond(
        await submit(request, actor, action, tender=tender, step="consistency", body=body)
    )


@authenticated
async def bundle(request: web.Request, actor: Actor) -> web.StreamResponse:
    """The tender's audit bundle (docs/spec/audit-bundle.md), for supervisors, as a download."""
    tender = _tender_id(request)
    lines: list[str] = await submit(
        request, actor, Action.VERIFY_AUDIT, tender=tender, step="export"
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/jsonl; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{tender}.bundle.jsonl"',
        }
    )
    await response.prepare(request)
    for start in range(0, len(lines), BUNDLE_WRITE_LINES):
        await response.write("".join(lines[start : start + BUNDLE_WRITE_LINES]).encode("utf-8"))
    await response.write_eof()
    return response


def _query(request: web.Request, *names: str) -> dict[str, str | None]:
    """The proof's query parameters as sent: the command checks them once the read is allowed."""
    return {name: request.query.get(name) for name in names}


def routes() -> list[web.RouteDef]:
    routes: list[web.RouteDef] = []
    for prefix in ("/api/tenders/{tender}", "/api/tenders/{tender}/{box:bid-box}"):
        routes += [
            web.get(f"{prefix}/tree-head", tree_head),
            web.get(f"{prefix}/proofs/inclusion", inclusion),
            web.get(f"{prefix}/proofs/consistency", consistency),
        ]
    routes.append(web.get("/api/tenders/{tender}/audit/bundle", bundle))
    return routes
