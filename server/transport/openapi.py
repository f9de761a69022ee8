"""The OpenAPI 3.1 document of the HTTP API, made from the app itself (`GET /api/openapi.json`).

Nothing in it is written twice: the paths and methods come from walking the app's router; which
routes need a token from whether their handler is wrapped by `http.authenticated`; the answers'
schemas from the views' types (service/schema.py, the same schemas `GET /api/schema/{view}`
serves); request bodies from service/bodies.py, where each schema sits beside its parser; the error
object from docs/protocol.md 2.1, as transport/errors.py writes it. What a route does is the one
thing said in words, in api_operations.py, and a route missing there fails the generation.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from server.protocol import TENDER_ID_PATTERN
from server.service.bodies import BODIES
from server.transport import api_operations
from server.transport.http import authenticated, respond
from server.transport.view_routes import schema_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    from server.domain.access import Actor
    from server.transport.api_operations import Operation

PATH: Final = "/api/openapi.json"
VERSION: Final = version("bidroom")  # read once, at import: it reads the installed metadata
ERROR: Final = "Error"
_DEFAULT_PARAMETER: Final = "[^{}/]+"  # aiohttp's pattern of a `{name}` without its own
_GROUP: Final = re.compile(r"\(\?P<(\w+)>((?:[^()]|\([^()]*\))*)\)")
_PARAMETERS: Final = {"tender": TENDER_ID_PATTERN.pattern}  # the ids the handlers accept


_ERROR_HEADERS: Final = {
    "WWW-Authenticate": {
        "description": 'With 401: `Bearer realm="bidroom"`.',
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "With 429 and 503: the seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    },
}


class UndescribedRoute(LookupError):
    """A route of the app has no entry in api_operations.OPERATIONS."""


async def _noop(request: web.Request, actor: Actor) -> web.Response:  # pragma: no cover
    raise NotImplementedError


_AUTHENTICATED: Final = authenticated(_noop).__code__  # every wrapped handler runs this code


def error_schema() -> dict[str, Any]:
    """The error body of docs/protocol.md 2.1, as transport/errors.py writes it."""
    text = {"type": "string"}
    problem = {
        "type": "object",
        "properties": {"path": text, "message": text},
        "required": ["path", "message"],
        "additionalProperties": False,
    }
    error = {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^[a-z][a-z_-]*$"},
            "message": text,
            "rule": text,
            "cite": text,
            "problems": {"type": "array", "items": problem},
        },
        "required": ["code", "message"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "description": "Every error (docs/protocol.md 2.1).",
        "properties": {"error": error},
        "required": ["error"],
        "additionalProperties": False,
    }


def document(router: web.UrlDispatcher) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route of `router` (HEAD answers as GET does)."""
    schemas: dict[str, Any] = {ERROR: error_schema()}
    views: dict[str, str] = {}
    for described in api_operations.OPERATIONS.values():
        name = described.answer.view
        if name is not None and name not in views:
            views[name] = _add_view(name, schemas)
    for name, body in BODIES.items():
        _add(schemas, name, dict(body.schema))
    paths: dict[str, dict[str, Any]] = {}
    for route in router.routes():
        if route.method == "HEAD":
            continue
        path, parameters = _path(route.resource)
        key = f"{route.method} {path}"
        operation = api_operations.OPERATIONS.get(key)
        if operation is None:
            raise UndescribedRoute(f"{key}: describe it in server/transport/api_operations.py")
        public = getattr(route.handler, "__code__", None) is not _AUTHENTICATED
        paths.setdefault(path, {})[route.method.lower()] = _operation(
            key, operation, parameters, views, public=public
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bidroom",
            "version": VERSION,
            "description": "The node's HTTP API (docs/protocol.md 2), generated from the node.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _add(schemas: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    if name in schemas:
        raise ValueError(f"Two schemas are named {name}")
    schemas[name] = schema


def _add_view(name: str, schemas: dict[str, Any]) -> str:
    """The view's schema, and its nested views, as components; returns the component's name."""
    published = _rebase(schema_of(name))
    for nested, schema in published.pop("$defs").items():
        if nested not in schemas:
            schemas[nested] = schema
    title = str(published["title"])
    published.pop("$schema")
    published.pop("$id")
    _add(schemas, title, published)
    return title


def _rebase(value: Any) -> Any:
    """`#/$defs/X` of a view's own schema becomes `#/components/schemas/X`."""
    if isinstance(value, dict):
        return {
            k: v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else _rebase(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rebase(item) for item in value]
    return value


def _path(resource: web.AbstractResource | None) -> tuple[str, list[tuple[str, str]]]:
    """The route's path as OpenAPI writes it, and its parameters with their patterns."""
    if resource is None:  # pragma: no cover - every route of the app has a resource
        raise UndescribedRoute("a route without a resource")
    info = resource.get_info()
    if "path" in info:
        return str(info["path"]), []
    parameters = list(_parameters(info["pattern"].pattern))
    return str(info["formatter"]), parameters


def _parameters(pattern: str) -> Iterator[tuple[str, str]]:
    for match in _GROUP.finditer(pattern):
        yield match[1], match[2]


def _operation(
    key: str, operation: Operation, parameters: list[tuple[str, str]], views: dict[str, str],
    *, public: bool,
) -> dict[str, Any]:  # fmt: skip
    answer = operation.answer
    success: dict[str, Any] = {"description": answer.description}
    schema = (
        {"$ref": f"#/components/schemas/{views[answer.view]}"} if answer.view else answer.schema
    )
    if answer.media:
        success["content"] = {answer.media: {"schema": schema or {}}}
    out: dict[str, Any] = {
        "summary": api_operations.ZH_SUMMARIES[key],
        "description": operation.summary,
        "operationId": _operation_id(key),
        "responses": {
            str(answer.status): success,
            "default": {
                "description": "An error (docs/protocol.md 2.1).",
                "headers": _ERROR_HEADERS,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR}"}}
                },
            },
        },
    }
    listed = [_path_parameter(name, regex) for name, regex in parameters]
    listed += [
        {"name": name, "in": "query", "required": False, "schema": dict(schema)}
        for name, schema in operation.query.items()
    ]
    if listed:
        out["parameters"] = listed
    if operation.body is not None:
        body = BODIES[operation.body]
        examples = {f"example{i}": {"value": v} for i, v in enumerate(body.examples, 1)}
        content = {
            "schema": {"$ref": f"#/components/schemas/{operation.body}"},
            "examples": examples,
        }
        out["requestBody"] = {"required": True, "content": {"application/json": content}}
    if operation.octets:
        octets = {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}
        out["requestBody"] = {"required": True, "content": {"application/octet-stream": octets}}
    if public:
        out["security"] = []
    return out


def _path_parameter(name: str, regex: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    own = _PARAMETERS.get(name, regex if regex != _DEFAULT_PARAMETER else None)
    if own is not None:
        schema["pattern"] = f"^(?:{own})$"
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _operation_id(key: str) -> str:
    """`GET /api/tenders/{tender}` -> `get_api_tenders_tender`: unique, as the routes are."""
    return "_".join(re.findall(r"[a-z0-9]+", key.lower()))


def routes() -> list[web.RouteDef]:
    """`GET /api/openapi.json`, public like `GET /api/schema`. The routes don't change once the
    app runs, so each app's document is made on the first request and then kept."""
    made: list[str] = []

    async def openapi(request: web.Request) -> web.Response:
        if not made:
            made.append(str(respond(document(request.app.router)).text))
        return web.Response(text=made[0], content_type="application/json")

    return [web.get(PATH, openapi)]
