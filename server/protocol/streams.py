"""Stream names: a tender's stream is its id, its bid box a stream apart, and `system` the node's.

The live channel's `tender` field and the HTTP routes name streams this way.
"""

from __future__ import annotations

import re
from typing import Final

MAX_SEQ: Final = 2**53 - 1
# Tender ids and the reserved `system` stream share one shape.
STREAM_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
SYSTEM_STREAM: Final = "system"
# A tender's stream is its id; its bid box (sealed bids before the deadline) is a stream apart.
TENDER_ID_PATTERN: Final = re.compile(r"t-[0-9]{8}-[0-9a-f]{12}")
BOX_SUFFIX: Final = "-box"


def box_stream(tender_id: str) -> str:
    """The stream of a tender's bid box: only supervisors read it (see docs/architecture.md)."""
    return tender_id + BOX_SUFFIX


def box_tender(stream: str) -> str | None:
    """The tender whose bid box `stream` is, or None."""
    tender = stream.removesuffix(BOX_SUFFIX)
    return tender if tender != stream and TENDER_ID_PATTERN.fullmatch(tender) else None


def is_tender_stream(stream: str) -> bool:
    return TENDER_ID_PATTERN.fullmatch(stream) is not None
