"""Errors raised by the client library.

ClientError
├── ApiError         the node refused an HTTP request (status, code, rule, message)
├── FeedClosed       the live feed ended for good (close code and reason)
├── MediaError       the node refused a media session (code, rule, message)
└── SealedFileRefused  a sealed bid checked on the bidder's machine would be refused (kind)
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base class of the client library's errors."""


class ApiError(ClientError):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.code = str(body.get("code", "error"))
        self.rule = body.get("rule")
        self.problems = body.get("problems", [])
        self.message = str(body.get("message", ""))
        self.cite = body.get("cite")
        super().__init__(f"{status} {self.code}: {body.get('message', '')}")


class FeedClosed(ClientError):
    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"The live feed closed ({code}): {reason}")


class MediaError(ClientError):
    """The node refused a media request on the live channel (docs/media.md section 3)."""

    def __init__(self, code: str, message: str, rule: str | None = None) -> None:
        self.code = code
        self.rule = rule
        super().__init__(f"{code}: {message}")


class SealedFileRefused(ClientError):
    """A sealed bid that fails the local check before submission (bidding.check_sealed).

    `kind` is one of NOT_SEALED, ELSEWHERE, NOT_YOURS, NO_OPENING_KEY, CORRUPT; `reason` says
    what failed.
    """

    NOT_SEALED = "not_sealed"  # no sealed-bid header: the node would refuse it
    ELSEWHERE = "elsewhere"  # sealed for another tender, lot or bidder
    NOT_YOURS = "not_yours"  # the bidder's own key does not unwrap the file key
    NO_OPENING_KEY = "no_opening_key"  # not sealed to the opening key the tender requires
    CORRUPT = "corrupt"  # the header MAC, a chunk or the sheet inside does not verify

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"{kind}: {reason}")
