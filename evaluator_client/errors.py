"""Errors raised by the client library.

ClientError
├── ApiError         the node refused an HTTP request (status, code, rule, message)
├── FeedClosed       the live feed ended for good (close code and reason)
└── MediaError       the node refused a media session (code, rule, message)
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
