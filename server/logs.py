"""The node's log lines: plain text for a terminal, or one JSON object per line for a collector.

A JSON line carries `time` (UTC, RFC 3339), `level`, `logger`, `message`, and `connection` and
`tender` when the line was written while a live connection or a request about a tender was
being handled: the transports set them in context variables (`bind_connection`,
`bind_tender`), which asyncio copies into every task they start, so no call site has to pass
them along. The formatter is the
standard library's `logging.Formatter` with `json.dumps`; a dependency would add nothing.
Messages are written as the code words them: they never hold keys, tokens, bid contents or
SDP (docs/operations.md).
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Final

LOG_FORMATS: Final = frozenset({"text", "json"})
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"

connection_id: ContextVar[str | None] = ContextVar("connection_id", default=None)
tender_id: ContextVar[str | None] = ContextVar("tender_id", default=None)


def bind_connection(connection: object) -> None:
    """Name the live connection the current task (and the tasks it starts) works for."""
    connection_id.set(str(connection))


def bind_tender(tender: str | None) -> None:
    """Name the tender the current task works on now (None: no tender, from here on)."""
    tender_id.set(tender)


class JSONFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # A LoggerAdapter's `connection` (server/transport/ws.py) names it even outside its task.
        connection = getattr(record, "connection", None) or connection_id.get()
        if connection is not None:
            line["connection"] = str(connection)
        tender = tender_id.get()
        if tender is not None:
            line["tender"] = tender
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(level: str, log_format: str = "text") -> None:
    """Send the process's logs to stderr, as text or as JSON lines."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(sorted(LOG_FORMATS))}")
    handler = logging.StreamHandler(sys.stderr)
    formatter = JSONFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    logging.basicConfig(level=level, handlers=[handler])
