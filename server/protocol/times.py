"""Timestamps on the wire and in the log: RFC 3339, UTC, always with microseconds."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

# One fixed shape, so that a timestamp has exactly one spelling in canonical JSON.
_CANONICAL: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
# What we accept from clients: RFC 3339 with an explicit offset, fraction optional.
_ACCEPTED: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})"
)


def format_time(moment: datetime) -> str:
    """Canonical form: `2026-11-21T09:48:00.000000Z`."""
    if moment.tzinfo is None:
        raise ValueError("Timestamps must carry a time zone.")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an offset; the result is in UTC."""
    if not _ACCEPTED.fullmatch(text):
        raise ValueError("Use an RFC 3339 timestamp with a time zone, e.g. 2026-11-21T09:30:00Z.")
    head, zone = (text[:-1], "+00:00") if text[-1] in "Zz" else (text[:-6], text[-6:])
    whole, _, fraction = head.partition(".")
    micros = (fraction + "000000")[:6] if fraction else "000000"
    try:
        return datetime.fromisoformat(f"{whole}.{micros}{zone}").astimezone(UTC)
    except OverflowError:
        raise ValueError("The timestamp is outside the range of dates this node handles.") from None


def is_canonical_time(text: str) -> bool:
    return bool(_CANONICAL.fullmatch(text))
