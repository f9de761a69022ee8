"""The one place where errors become HTTP statuses, WebSocket error messages or close codes."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Final

from aiohttp import web

from crypto import MalformedJSON
from server.domain import errors as domain
from server.errors import (
    BadRequest,
    ConflictError,
    HomeOnly,
    NotFound,
    PayloadTooLarge,
    Relayed,
    RequestTimeout,
    ServerError,
    StorageError,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from server.protocol.fields import InvalidFields
from server.transport.app_keys import settings_key

logger = logging.getLogger(__name__)

# Looked up along the exception's MRO: the most specific entry wins.
STATUS: Final[Mapping[type[Exception], int]] = MappingProxyType(
    {
        InvalidFields: 400,
        MalformedJSON: 400,
        BadRequest: 400,
        Unauthorized: 401,
        domain.AccessDenied: 403,
        domain.OutOfScope: 403,
        NotFound: 404,
        domain.InvalidTransition: 409,
        domain.RegistryError: 409,
        ConflictError: 409,
        PayloadTooLarge: 413,
        HomeOnly: 421,
        RequestTimeout: 408,
        TooManyRequests: 429,
        domain.DomainError: 422,
        StorageError: 500,
        Unavailable: 503,
    }
)

_CODES: Final[Mapping[type[Exception], str]] = MappingProxyType(
    {
        InvalidFields: "invalid_request",
        MalformedJSON: "malformed_json",
        domain.AccessDenied: "forbidden",
        domain.OutOfScope: "forbidden",
        domain.InvalidTransition: "invalid_transition",
        domain.RegistryError: "conflict",
        domain.RuleViolation: "rule_violation",
        domain.DomainError: "refused",
    }
)


def describe(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    """Status and error body for a known error; None for an unexpected one."""
    if isinstance(exc, Relayed):
        return exc.status, dict(exc.body)
    status = _by_mro(STATUS, exc)
    if status is None:
        return None
    body: dict[str, Any] = {"code": _code(exc), "message": str(exc)}
    if isinstance(exc, domain.DomainError):
        body["rule"] = exc.rule
        if exc.cite:
            body["cite"] = exc.cite
    if isinstance(exc, InvalidFields):
        body["problems"] = [problem.to_json() for problem in exc.problems]
    return status, body


def _code(exc: Exception) -> str:
    if isinstance(exc, ServerError):
        return exc.code
    return _by_mro(_CODES, exc) or "error"


def _by_mro(table: Mapping[type[Exception], Any], exc: Exception) -> Any:
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return None


def error_response(
    status: int, body: Mapping[str, Any], *, retry_after: int | None = None
) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="bidroom"'} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    response = web.Response(
        status=status,
        text=json.dumps({"error": body}, ensure_ascii=False),
        content_type="application/json",
        headers=headers,
    )
    if status == 408:
        # The rest of the body may still trickle in; it can't be told from a next request.
        response.force_close()
    return response


def unparsed_request_response(status: int) -> web.Response:
    """The answer to a request aiohttp could not parse (or a failure outside the middleware).

    The client's bytes are not echoed back: only the status, as the middleware words it.
    """
    if status >= 500:
        body = {"code": "internal", "message": "Internal error."}
    else:
        phrase = HTTPStatus(status).phrase
        body = {
            "code": phrase.lower().replace(" ", "_"),
            "message": f"{phrase}: the request is not valid HTTP/1.1.",
        }
    response = error_response(status, body)
    response.force_close()
    return response


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            return error_response(
                413, {"code": "payload_too_large", "message": _too_large(request)}
            )
        code = exc.reason.lower().replace(" ", "_")
        return error_response(exc.status, {"code": code, "message": f"{exc.reason}."})
    except Exception as exc:
        described = describe(exc)
        if described is None:
            logger.exception("Unexpected error in %s %s", request.method, request.path)
            return error_response(500, {"code": "internal", "message": "Internal error."})
        retry_after = exc.retry_after if isinstance(exc, ServerError) else None
        return error_response(*described, retry_after=retry_after)


def _too_large(request: web.Request) -> str:
    limit = request.app[settings_key].max_http_body_bytes
    return f"The request body is larger than the limit of {limit} bytes."
