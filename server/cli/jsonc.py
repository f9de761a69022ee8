"""JSON with comments, as in the shipped tender example: `//` to the end of a line, `/* */`.

Comments are replaced by spaces (newlines kept), so a JSON error still points at the right line
and column; anything inside a string, `"https://..."` included, is left alone. Nothing else of
JSON5 (trailing commas, single quotes) is accepted: what remains must be plain JSON.
"""

from __future__ import annotations

import json
from typing import Any


def strip_comments(source: str) -> str:
    out: list[str] = []
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        if char == '"':
            end = _string_end(source, i)
            out.append(source[i:end])
            i = end
        elif source.startswith("//", i):
            end = source.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            end = n if end < 0 else end + 2  # an unclosed comment runs to the end; JSON then fails
            out.append("".join(c if c == "\n" else " " for c in source[i:end]))
            i = end
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _string_end(source: str, start: int) -> int:
    """The index just past the string opening at `start` (or the end of an unclosed one)."""
    i = start + 1
    while i < len(source):
        if source[i] == "\\":
            i += 2
        elif source[i] == '"':
            return i + 1
        elif source[i] == "\n":  # JSON strings hold no raw newline: let json report it
            return i
        else:
            i += 1
    return len(source)


def loads(source: str) -> Any:
    return json.loads(strip_comments(source))
