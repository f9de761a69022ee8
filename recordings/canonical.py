"""A fast, exact test that a text is RFC 8785 canonical JSON, for verifiers of many bodies.

`crypto.canonical_json` writes JSON in Python, a value at a time. A verifier holding a body
only needs to know the body is the canonical form of its own content; for nearly every record
the standard library's C parser and encoder can say so: with string keys, strings, integers
up to 2**53 - 1, booleans, null, lists and objects, they write exactly what RFC 8785 writes
(the same string escaping, members sorted by code point, which within the BMP is UTF-16
order, and no whitespace). Whatever they might write differently, this leaves to the exact way.
"""

from __future__ import annotations

import json
import json.encoder
from typing import TYPE_CHECKING, Final

from crypto import MAX_SAFE_INTEGER

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

# crypto.canonical_json refuses to write deeper nesting than this (crypto/_canonical.py).
MAX_DEPTH: Final = 64


def parse_canonical(text: str) -> object | None:
    """The value of `text` if it is surely canonical JSON; None if not surely.

    A value returned equals `crypto.parse_json(text)`, and `crypto.canonical_json` of it is
    `text` in UTF-8. None is no verdict: the text may be malformed or not canonical, or be
    canonical but hold what is left to the exact way (other numbers than safe integers,
    characters beyond the BMP, nesting deeper than MAX_DEPTH); the caller checks it that way.
    """
    try:
        value, end = _scan(text, 0)
    except (StopIteration, ValueError, RecursionError, _NotPlain):
        return None
    if end != len(text):
        return None
    # Every level of nesting opens a bracket, so this bounds the depth (brackets in strings
    # count too, which only sends a few more texts the exact way).
    if text.count("{") + text.count("[") > MAX_DEPTH:
        return None
    if not text.isascii() and not _within_bmp(text):
        return None
    # A member named twice collapses into one in the dict, so it fails this comparison too.
    return value if _encode(value) == text else None


def _within_bmp(text: str) -> bool:
    """No character beyond the BMP (none takes a surrogate pair in UTF-16), nor a lone surrogate."""
    try:
        return len(text.encode("utf-16-le")) == 2 * len(text)
    except UnicodeEncodeError:
        return False


class _NotPlain(Exception):
    """A signal to leave the text to the exact way, not an error."""


def _safe_int(text: str) -> int:
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    raise _NotPlain


def _not_plain(text: str) -> object:
    raise _NotPlain


_DECODER: Final = json.JSONDecoder(
    parse_int=_safe_int, parse_float=_not_plain, parse_constant=_not_plain
)
_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, check_circular=False, allow_nan=False, sort_keys=True,
    separators=(",", ":"),
)  # fmt: skip


def _unencodable(value: object) -> object:  # pragma: no cover - parsed JSON holds none
    raise TypeError(f"{type(value).__name__} is not a JSON value")


# What _DECODER.decode and _ENCODER.encode run, made once rather than on every call: the C
# scanner, and the C encoder with _ENCODER's settings.
_scan: Final[Callable[[str, int], tuple[object, int]]] = vars(_DECODER)["scan_once"]
_C_ENCODER: Final = getattr(json.encoder, "c_make_encoder", None)
_chunks: Final[Callable[[object, int], Iterable[str]]] = (
    (lambda value, _: _ENCODER.iterencode(value))  # pragma: no cover - no C encoder
    if _C_ENCODER is None
    else _C_ENCODER(
        None, _unencodable, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
)


def _encode(value: object) -> str:
    return "".join(_chunks(value, 0))
