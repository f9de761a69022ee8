"""Request bodies of the opening, validated: every problem reported together."""

from __future__ import annotations

from typing import Final

from crypto import KeyFormatError, b64url_decode
from server.protocol.fields import InvalidFields, Problem, Reader

MAX_TEXT: Final = 2000


def file_key(document: object) -> bytes:
    reader = Reader(document)
    text = reader.text("file_key", max_len=64)
    reader.finish()
    try:
        key = b64url_decode(text)
    except KeyFormatError:
        key = b""
    if len(key) != 32:
        raise InvalidFields([Problem("file_key", "must be 32 bytes in base64url")])
    return key


def share(document: object) -> tuple[int, bytes]:
    reader = Reader(document)
    index = reader.integer("index", low=1, high=255)
    text = reader.text("value", max_len=64)
    reader.finish()
    try:
        return index, b64url_decode(text)
    except KeyFormatError:
        raise InvalidFields([Problem("value", "must be base64url")]) from None


def signature(document: object) -> str:
    reader = Reader(document)
    signature = reader.text("signature", min_len=86, max_len=86)
    reader.finish()
    return signature


def objection(document: object) -> tuple[str, str]:
    reader = Reader(document)
    text = reader.text("text", max_len=MAX_TEXT)
    signature = reader.text("signature", min_len=86, max_len=86)
    reader.finish()
    return text, signature


def text(document: object, name: str) -> str:
    reader = Reader(document)
    text = reader.text(name, max_len=MAX_TEXT)
    reader.finish()
    return text


def message(document: object) -> tuple[str, str | None]:
    """A message of the opening's box: its text, and whom it is for (a bidder id, or none)."""
    reader = Reader(document)
    text = reader.text("text", max_len=MAX_TEXT)
    to = reader.optional_text("to", max_len=64) if "to" in _members(document) else None
    reader.finish()
    if not text.strip():
        raise InvalidFields([Problem("text", "must not be blank")])
    return text, to


def _members(document: object) -> set[str]:
    return set(document) if isinstance(document, dict) else set()
