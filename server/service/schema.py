"""Typed views as JSON: the `View` base, its encoding, and a JSON Schema made from its type hints.

A view is a frozen dataclass whose fields are JSON values, enums (written as their values),
other views, lists of all these, string-keyed dicts of JSON values, or `JsonObject` (a document
whose shape a spec in docs/spec/ fixes: a tender spec, a report). `to_json()` writes the fields
in their declared order. Two markers, given as a field's metadata, cover the wire formats the
node already had before views were typed:

- `OPTIONAL`: the key is left out when the value is None (rather than written as null);
- `FLATTEN`: a nested view's keys are written into this one, before this view's own fields,
  and a field of this view with the same name takes the key over (the room view spreads the
  room's progress and then lists its members where the progress counts them).

Why not a library: pydantic or msgspec would bring a second model layer, and a runtime
dependency, for one job that about a hundred lines do from `typing.get_type_hints`. The
generator covers exactly the types that views use and refuses any other, so a view can't
publish a schema that says less than its type.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any, Final, Union

JsonObject = Mapping[str, Any]

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
_OPTIONAL: Final = "view.optional"
_FLATTEN: Final = "view.flatten"
# `field(default=None, metadata=OPTIONAL)`, `field(metadata=FLATTEN)`
OPTIONAL: Final[Mapping[str, bool]] = {_OPTIONAL: True}
FLATTEN: Final[Mapping[str, bool]] = {_FLATTEN: True}
_SCALARS: Final[Mapping[object, str]] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


class View:
    """A value a client reads; subclasses are frozen dataclasses."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        return _fields(self)


def _encode(value: object) -> object:
    """Views and enums become JSON; documents (mappings) are passed on as they are, unwalked:
    they are the bulk of a view (an opening record lists every bid) and are JSON already."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, Mapping) and not isinstance(value, dict):
        return dict(value)
    return value


def _fields(value: Any) -> dict[str, object]:
    out: dict[str, object] = {}
    for field in dataclasses.fields(value):
        item = getattr(value, field.name)
        if field.metadata.get(_FLATTEN):
            out.update(_fields(item))
        elif item is not None or not field.metadata.get(_OPTIONAL):
            out[field.name] = _encode(item)
    return out


def json_schema(view: type[View]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of `view`'s `to_json()`, nested views under `$defs`."""
    defs: dict[str, Any] = {}
    root = _object(view, defs)
    return {"$schema": DIALECT, "title": view.__name__, **root, "$defs": defs}


def _object(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if field.metadata.get(_FLATTEN):
            nested = _object(hint, defs)
            properties.update(nested["properties"])
            required.extend(nested["required"])
            continue
        if field.metadata.get(_OPTIONAL):
            properties[field.name] = _type(_without_none(hint), defs)
            continue
        properties[field.name] = _type(hint, defs)
        if field.name not in required:
            required.append(field.name)
    doc = (cls.__doc__ or "").strip()
    described = {"description": doc} if doc and not doc.startswith(f"{cls.__name__}(") else {}
    return {
        "type": "object",
        **described,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _without_none(hint: Any) -> Any:
    """`X` of an optional field typed `X | None` (the key is absent rather than null)."""
    arguments = tuple(a for a in typing.get_args(hint) if a is not type(None))
    return arguments[0] if len(arguments) == 1 else Union[arguments]  # noqa: UP007


def _plain(hint: Any) -> bool:
    """A mapping's values are written as they are: JSON values, not views or enums."""
    return hint is Any or hint in _SCALARS


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType)


def _type(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if hint is Any:
        return {}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if hint.__name__ not in defs:
            defs[hint.__name__] = {}  # reserve the name: views may refer to each other
            defs[hint.__name__] = _object(hint, defs)
        return {"$ref": f"#/$defs/{hint.__name__}"}
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if _is_union(hint):
        return {"anyOf": [_type(argument, defs) for argument in arguments]}
    if origin in (list, tuple) and (origin is list or arguments[-1:] == (Ellipsis,)):
        return {"type": "array", "items": _type(arguments[0], defs)}
    if origin in (dict, Mapping) and arguments[0] is str and _plain(arguments[1]):
        values = _type(arguments[1], defs)
        return {"type": "object", "additionalProperties": values} if values else {"type": "object"}
    if origin is typing.Literal:
        return {"enum": list(arguments)}
    raise TypeError(f"A view field can't be typed {hint!r}")
