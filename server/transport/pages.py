"""The browser workplaces: the pages the node serves, their static files, and the headers that
keep them safe (docs/pages.md).

The pages are plain HTML, CSS and ES modules shipped in the package (server/web): nothing is
built at install time and nothing is fetched from elsewhere. Every page and file is sent with a
strict Content-Security-Policy (no inline script or style, nothing from another origin, never
framed), so text a user typed can't become script even if a page slipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from aiohttp import web

from server.errors import NotFound
from server.protocol import TENDER_ID_PATTERN

WEB_ROOT: Final = Path(__file__).resolve().parent.parent / "web"

CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "frame-src 'self' blob:",
        "object-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=()",
}

# What may be served from server/web, by suffix; anything else is 404.
_TYPES: Final = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

PAGES: Final = ("index", "hall", "host", "expert", "supervisor", "admin")


def _index(root: Path) -> dict[str, Path]:
    """Every file that may be served, by its path under `root`: known kinds only, no hidden
    files. Read once when the app is built, so a request is a lookup, never a walk of the disk
    (and a path of `..` or a link out of the root can't name anything)."""
    return {
        path.relative_to(root).as_posix(): path
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and path.suffix in _TYPES
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    }


class _Files:
    def __init__(self, root: Path) -> None:
        self._files = _index(root)

    def get(self, relative: str) -> Path:
        path = self._files.get(relative)
        if path is None:
            raise NotFound("There is no such file.")
        return path


def _send(path: Path) -> web.FileResponse:
    response = web.FileResponse(path, headers={"Content-Type": _TYPES[path.suffix]})
    response.headers.update(SECURITY_HEADERS)
    # Pages and modules change with the node's version; revalidate rather than guess.
    response.headers["Cache-Control"] = "no-cache"
    return response


# Indexed when the module is imported, before any event loop runs.
_FILES: Final = _Files(WEB_ROOT)


def routes(files: _Files = _FILES) -> list[web.RouteDef]:
    """The pages (`/` the landing page, `/<name>` the others, `/<name>/<tender>` those opened
    on one tender: the page reads the id from its URL) and `/static/<path>`."""

    def page(name: str) -> web.RouteDef:
        async def handler(request: web.Request) -> web.StreamResponse:
            return _send(files.get(f"{name}.html"))

        return web.get("/" if name == "index" else f"/{name}", handler)

    async def tender_page(request: web.Request) -> web.StreamResponse:
        tender = request.match_info["tender"]
        if not TENDER_ID_PATTERN.fullmatch(tender):
            raise NotFound(f"There is no tender {tender[:64]!r}.")
        return _send(files.get(f"{request.match_info['page']}.html"))

    async def static(request: web.Request) -> web.StreamResponse:
        return _send(files.get(request.match_info["path"]))

    return [
        *(page(name) for name in PAGES),
        web.get("/{page:hall|host|supervisor}/{tender}", tender_page),
        web.get("/static/{path:.+}", static),
    ]
