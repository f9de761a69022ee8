"""RFC 6455 server frames, built once and written as the same bytes to every client.

Frames from a server are never masked (RFC 6455 section 5.1), so one encoded event frame
is valid for every connection that negotiated no extension. The node never negotiates
permessage-deflate on the live channel, for exactly this reason.
"""

from __future__ import annotations

import struct
from typing import Final

_FIN_TEXT: Final = 0x81


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame carrying `payload` (UTF-8)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", _FIN_TEXT, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, size)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, size)
    return header + payload
