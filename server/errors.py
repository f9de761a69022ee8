"""Errors raised by the node outside the pure domain (which has server/domain/errors.py).

ServerError
├── BadRequest            the request can't be read: malformed JSON, wrong content type (400)
│   └── MediaRefused      a media offer or session request can't be served (`code` says how)
├── Unauthorized          no valid token, or a failed login (401)
│   └── LoginFailed       a failed login: one message for the caller, a reason for the log
│       └── ClockSkew     the signed login time is too far from the node's clock
├── NotFound              no such tender, participant or route (404)
├── PayloadTooLarge       over the size limit (413)
├── RequestTimeout        the promised request body did not arrive in time (408)
├── TooManyRequests       too many refusals, failed logins or challenges from one caller (429)
│   └── TooManyConnections  too many live connections from one address
├── Unavailable           the node is shutting down or overloaded (503)
│   ├── NodeFull          the node holds as many live connections as it takes
│   ├── LinkDown          an edge can't reach Redis: it takes no commands until it can
│   └── HomeUnavailable   no home node answers for the tender; nothing was acknowledged
├── StorageError          the event store failed; nothing was acknowledged (500)
│   ├── ConflictError     another writer appended first; retry against the new head (409)
│   └── FencedOut         this node lost the home lease: a newer home appends now (503)
├── HomeOnly              an edge can't forward a request that streams a file: use the home (421)
├── Refused               a domain rule refused what the node's own console asked (CLI only)
└── Relayed               the home node's answer to a forwarded command, passed on as it is

Transport code maps these, the domain refusals and protocol.fields.InvalidFields to
responses in one place: server/transport/errors.py.
"""

from __future__ import annotations


class ServerError(Exception):
    """Base class of the node's own errors; the message is a full sentence for the user."""

    code = "server_error"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, sent as Retry-After when known


class BadRequest(ServerError):
    code = "bad_request"


class MediaRefused(BadRequest):
    """A media request can't be served as asked (docs/media.md section 3): a bad or
    unsupported offer, too many sessions, no such session. `code` is the channel's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Unauthorized(ServerError):
    code = "unauthorized"


LOGIN_FAILED = "Login failed: the challenge, participant or signature is not valid."


class LoginFailed(Unauthorized):
    """A login failed; `reason` is a short code for the log, never shown to the caller."""

    def __init__(self, reason: str, message: str = LOGIN_FAILED) -> None:
        super().__init__(message)
        self.reason = reason


class ClockSkew(LoginFailed):
    code = "clock_skew"

    def __init__(self, message: str) -> None:
        super().__init__("clock_skew", message)


class NotFound(ServerError):
    code = "not_found"


class PayloadTooLarge(ServerError):
    code = "payload_too_large"


class RequestTimeout(ServerError):
    code = "request_timeout"


class TooManyRequests(ServerError):
    code = "too_many_requests"


class TooManyConnections(TooManyRequests):
    code = "too_many_connections"


class Unavailable(ServerError):
    code = "unavailable"


class NodeFull(Unavailable):
    code = "node_full"


class LinkDown(Unavailable):
    """An edge node can't reach the link between sites (Redis); it takes no commands."""

    code = "link_down"


class HomeUnavailable(Unavailable):
    """No home node answered for the tender in time; the command was not acknowledged."""

    code = "home_unavailable"


class StorageError(ServerError):
    code = "storage_error"


class ConflictError(StorageError):
    code = "conflict"


class FencedOut(StorageError):
    """The store has seen a newer home's fencing token: this node may no longer append."""

    code = "fenced_out"


class HomeOnly(ServerError):
    """A request that streams a file (an upload's bytes, a bid document) reached an edge node;
    it goes to the home node's own address (docs/sites.md section 5)."""

    code = "home_only"


class Refused(ServerError):
    """A rule of the domain refused what the node's own console asked (server/console.py).

    The console runs commands in this process, so the CLI sees the refusal directly, with the
    rule that refused it, without reaching into the domain's error types.
    """

    code = "refused"

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class Relayed(ServerError):
    """The refusal the home node gave a command an edge forwarded: its status and error body,
    passed on to the client unchanged (docs/sites.md)."""

    code = "relayed"

    def __init__(self, status: int, body: dict[str, object]) -> None:
        super().__init__(str(body.get("message", "")))
        self.status = status
        self.body = body
