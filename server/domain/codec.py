"""One codec for every event: its payload is derived from its dataclass fields.

Each field becomes the payload member of the same name, in field order, its value written
as the log has always had it:

- `datetime` as `format_time` text (`parse_time` back); `X | None` as `null` when unset;
- `Mapping`/`dict` as a JSON object (a copy), `tuple[X, ...]` as an array of X;
- an enum as its value; a value type with `to_json()` and `from_json()` as its JSON;
- `str`, `int`, `float`, `bool` as themselves.

What deviates from that is said in the field's metadata, not coded by hand:
`field(metadata=key("list"))` names the member differently, `row("lot", "bidder")` writes a
tuple of tuples as objects, `INLINE` merges an object's members into the payload, and
`LOCAL` keeps a field out of it.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Union

from server.protocol.times import format_time, parse_time

if TYPE_CHECKING:
    from collections.abc import Callable

_KEY: Final = "codec.key"
_ROW: Final = "codec.row"
_INLINE: Final = "codec.inline"
_LOCAL: Final = "codec.local"

# Names the event modules import only for type checking, so that their hints resolve here.
_HINT_NAMES: Final = {"datetime": datetime, "Mapping": Mapping, "Any": Any}


def key(name: str) -> Mapping[str, Any]:
    """Field metadata: the field is the payload member `name`."""
    return {_KEY: name}


def row(*names: str) -> Mapping[str, Any]:
    """Field metadata: a tuple of tuples, written as an array of objects with these members."""
    return {_ROW: names}


# Field metadata: an object (a mapping, or a value with `to_json`) whose members are the
# payload's own; reading back, it takes every member that no other field claims.
INLINE: Final[Mapping[str, Any]] = {_INLINE: True}
# Field metadata: the field is not in the payload (it only decides visibility, say).
LOCAL: Final[Mapping[str, Any]] = {_LOCAL: True}


@dataclass(frozen=True, slots=True)
class _Member:
    name: str  # the field
    key: str  # the payload member
    encode: Callable[[Any], Any] | None
    decode: Callable[[Any], Any] | None
    optional: bool
    inline: bool


class Codec:
    """How one event class writes and reads its payload; built once per class."""

    def __init__(self, cls: type[Any]) -> None:
        hints = typing.get_type_hints(cls, localns=_HINT_NAMES)
        self.cls = cls
        self.members = tuple(
            _member(f.name, hints[f.name], f.metadata)
            for f in fields(cls)
            if not f.metadata.get(_LOCAL)
        )
        self._claimed = frozenset(m.key for m in self.members if not m.inline)

    def encode(self, event: object) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        for m in self.members:
            value = getattr(event, m.name)
            if m.encode is not None and not (m.optional and value is None):
                value = m.encode(value)
            if m.inline:
                payload.update(value)
            else:
                payload[m.key] = value
        return payload

    def decode(self, payload: Mapping[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for m in self.members:
            if m.inline:
                value: Any = {k: v for k, v in payload.items() if k not in self._claimed}
            else:
                value = payload.get(m.key) if m.optional else payload[m.key]
            if m.decode is not None and not (m.optional and value is None):
                value = m.decode(value)
            values[m.name] = value
        return self.cls(**values)


def _member(name: str, hint: Any, metadata: Mapping[str, Any]) -> _Member:
    optional = False
    if typing.get_origin(hint) in (Union, types.UnionType):
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        optional = True
    names: tuple[str, ...] | None = metadata.get(_ROW)
    encode: Callable[[Any], Any] | None
    decode: Callable[[Any], Any] | None
    if names is not None:
        encode, decode = _rows(names)
    else:
        encode, decode = _converters(hint)
    return _Member(
        name, metadata.get(_KEY, name), encode, decode, optional, bool(metadata.get(_INLINE))
    )


def _rows(names: tuple[str, ...]) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    def encode(rows: tuple[tuple[Any, ...], ...]) -> list[dict[str, Any]]:
        return [dict(zip(names, r, strict=True)) for r in rows]

    def decode(items: list[Mapping[str, Any]]) -> tuple[tuple[Any, ...], ...]:
        return tuple(tuple(item[n] for n in names) for item in items)

    return encode, decode


def _converters(hint: Any) -> tuple[Callable[[Any], Any] | None, Callable[[Any], Any] | None]:
    """How a value of type `hint` is written to and read from JSON (None: as it is)."""
    origin = typing.get_origin(hint) or hint
    if hint is datetime:
        return format_time, parse_time
    if hint in (str, int):
        return None, None
    if hint in (float, bool):
        return None, hint
    if origin in (Mapping, dict):
        return dict, dict
    if origin is tuple:
        encode, decode = _converters(typing.get_args(hint)[0])
        return (
            list if encode is None else lambda items: [encode(i) for i in items],
            tuple if decode is None else lambda items: tuple(decode(i) for i in items),
        )
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _value, hint
    if isinstance(hint, type) and hasattr(hint, "to_json") and hasattr(hint, "from_json"):
        return _to_json, hint.from_json
    raise TypeError(f"The event codec can't write a field of type {hint!r}.")


def _value(member: enum.Enum) -> Any:
    return member.value


def _to_json(value: Any) -> Any:
    return value.to_json()
