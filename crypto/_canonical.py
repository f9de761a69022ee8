"""RFC 8785 (JCS) canonical JSON: the exact bytes we hash and sign."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring
from typing import Final, cast

from crypto.errors import CanonicalizationError, MalformedJSON

# Up to this bound every integer is an exact double and prints as plain digits (RFC 7493).
MAX_SAFE_INTEGER: Final = 2**53 - 1
# Nesting beyond this is a sign of hostile input, not a real document.
MAX_DEPTH: Final = 64

# RFC 8785 3.2.2.2 escapes exactly what the standard library's JSON string encoder escapes:
# quote, backslash, \b \t \n \f \r, other controls as \u00xx (lowercase); nothing else.
# tests/crypto/test_canonical.py checks this for every code point of the BMP.
_string: Final[Callable[[str], str]] = encode_basestring
# Object names of exactly type str (checked for all names at once, in C).
_STR_ONLY: Final = frozenset({str})


def parse_json(text: str | bytes) -> object:
    """Parse I-JSON (RFC 7493) with the number semantics that RFC 8785 assumes.

    Duplicate member names, NaN, Infinity and numbers that overflow a double are refused with
    MalformedJSON. Integer literals beyond +-2**53 become doubles, as in ECMAScript, so that
    `canonical_json(parse_json(x))` is stable for every canonical `x`.
    """
    try:
        return _DECODER.decode(text.decode("utf-8") if isinstance(text, bytes) else text)
    except RecursionError:
        raise MalformedJSON("The JSON is nested too deeply.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, MalformedJSON):
            raise
        raise MalformedJSON(f"The text is not valid JSON: {exc}.") from None


def _unique_members(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise MalformedJSON(f"The member name {duplicate!r} appears twice in one object.")
    return result


def _parse_int(text: str) -> int | float:
    value = int(text)
    return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else _parse_float(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedJSON(f"The number {text[:40]} is too large for a double.")
    return value


def _refuse_constant(name: str) -> object:
    raise MalformedJSON(f"{name} is not allowed in JSON.")


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_unique_members,
    parse_int=_parse_int,
    parse_float=_parse_float,
    parse_constant=_refuse_constant,
)


def canonical_json(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 encoding of a JSON-compatible value.

    Accepts dict (str keys), list/tuple, str, int (when a double holds it exactly), finite
    float, bool and None. Anything else raises CanonicalizationError.
    """
    parts: list[str] = []
    _write(value, parts, 0)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalizationError("Strings must be valid Unicode (no lone surrogates).") from None


def _write(value: object, out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CanonicalizationError(f"Nesting deeper than {MAX_DEPTH} levels.")
    # Exact types first: they are nearly all of what we write; subclasses take the long way.
    kind = type(value)
    if kind is str:
        out.append(_string(value))  # type: ignore[arg-type]
    elif kind is dict:
        _write_object(value, out, depth)  # type: ignore[arg-type]
    elif kind is int:
        out.append(_integer(value))  # type: ignore[arg-type]
    elif kind is list or kind is tuple:
        _write_array(value, out, depth)  # type: ignore[arg-type]
    else:
        _write_other(value, out, depth)


def _write_other(value: object, out: list[str], depth: int) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(str(value)))
    elif isinstance(value, int):
        out.append(_integer(int(value)))
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, Mapping):
        _write_object(value, out, depth)
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        _write_array(value, out, depth)
    else:
        raise CanonicalizationError(f"{type(value).__name__} is not a JSON value.")


def _write_object(value: Mapping[object, object], out: list[str], depth: int) -> None:
    names = list(value)
    # RFC 8785 3.2.3: sort by UTF-16 code units. For ASCII names that is plain string order;
    # otherwise compare big-endian UTF-16 bytes, which order exactly as code units do.
    if set(map(type, names)) <= _STR_ONLY and "".join(cast("list[str]", names)).isascii():
        names.sort()
    else:
        if not all(isinstance(name, str) for name in names):
            raise CanonicalizationError("Object keys must be strings.")
        names.sort(key=lambda k: str(k).encode("utf-16-be", "surrogatepass"))
    out.append("{")
    separator = ""
    for name in names:
        out.append(separator)
        out.append(_string(str(name)))
        out.append(":")
        _write(value[name], out, depth + 1)
        separator = ","
    out.append("}")


def _write_array(value: Sequence[object], out: list[str], depth: int) -> None:
    out.append("[")
    separator = ""
    for item in value:
        out.append(separator)
        _write(item, out, depth + 1)
        separator = ","
    out.append("]")


def _integer(value: int) -> str:
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return str(value)
    # JCS numbers are IEEE 754 doubles: a larger integer is fine only if a double holds it exactly.
    try:
        as_double = float(value)
    except OverflowError:
        as_double = math.inf
    if as_double != value:
        raise CanonicalizationError(
            f"Integer {value} can't be represented exactly as a JSON number; send it as a string."
        )
    return format_number(as_double)


def format_number(value: float) -> str:
    """Serialize a double as ECMAScript's Number.prototype.toString does (RFC 8785 3.2.2.3)."""
    if not math.isfinite(value):
        raise CanonicalizationError("NaN and Infinity have no JSON representation.")
    if value == 0:
        return "0"  # Also for -0.0.
    # repr() gives the shortest digits that round-trip, which is what ECMAScript requires.
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    all_digits = whole + fraction
    significant = all_digits.lstrip("0")
    # The value is 0.<digits> x 10**point.
    point = len(whole) + int(exponent or "0") - (len(all_digits) - len(significant))
    sign = "-" if value < 0 else ""
    return sign + _place_point(significant.rstrip("0"), point)


def _place_point(digits: str, n: int) -> str:
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    exponent = n - 1
    sign = "+" if exponent >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{sign}{abs(exponent)}"
