"""RFC 8785 canonical JSON against the RFC's own examples, plus properties."""

from __future__ import annotations

import json
import math
import struct

import pytest
from hypothesis import given, strategies as st

from crypto import CanonicalizationError, MalformedJSON, canonical_json, parse_json
from crypto._canonical import format_number

# RFC 8785 Appendix B: IEEE 754 bit patterns and their required serialization.
NUMBER_SAMPLES = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), NUMBER_SAMPLES)
def test_numbers_serialize_as_rfc8785_appendix_b(bits: str, expected: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    assert format_number(value) == expected


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinity_are_refused(bits: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    with pytest.raises(CanonicalizationError):
        canonical_json([value])


def test_rfc8785_section_3_2_2_example() -> None:
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode()


def test_rfc8785_section_3_2_3_sorts_keys_by_utf16_code_units() -> None:
    source = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_json(source)))
    # U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB33 in UTF-16.
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_controls_use_short_escapes_and_lowercase_hex() -> None:
    assert canonical_json("\b\t\n\f\r\x00\x1f\x7f/") == b'"\\b\\t\\n\\f\\r\\u0000\\u001f\x7f/"'


def test_integers_are_numbers_that_a_double_holds_exactly() -> None:
    assert canonical_json(2**53 - 1) == b"9007199254740991"
    assert canonical_json(2**53) == b"9007199254740992"
    assert canonical_json(10**21) == b"1e+21"
    for lossy in (2**53 + 1, -(2**53) - 1, 10**400):
        with pytest.raises(CanonicalizationError, match="exactly"):
            canonical_json(lossy)


@pytest.mark.parametrize(
    "value",
    [b"bytes", {1: "x"}, {"a": object()}, "\ud800", {"set": {1, 2}}],
)
def test_non_json_values_are_refused(value: object) -> None:
    with pytest.raises(CanonicalizationError):
        canonical_json(value)


def test_deep_nesting_is_refused() -> None:
    value: object = "leaf"
    for _ in range(100):
        value = [value]
    with pytest.raises(CanonicalizationError, match="Nesting"):
        canonical_json(value)


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_json_values)
def test_canonical_json_parses_back_to_the_same_value(value: object) -> None:
    assert parse_json(canonical_json(value)) == value


@given(_json_values)
def test_canonical_json_is_a_fixed_point(value: object) -> None:
    once = canonical_json(value)
    assert canonical_json(parse_json(once)) == once


def test_parse_json_reads_large_integer_literals_as_doubles() -> None:
    assert parse_json("53140307355533430") == 5.314030735553343e16
    assert parse_json("9007199254740991") == 9007199254740991
    assert isinstance(parse_json("9007199254740991"), int)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": 1, "a": 2}', "twice"),
        ("[NaN]", "NaN"),
        ("[-Infinity]", "Infinity"),
        ("[1e400]", "too large"),
        ("[12345678901234567890" + "0" * 400 + "]", "too large"),
        ('{"a": ', "not valid JSON"),
        (b"\xff", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "deeply"),
    ],
)
def test_parse_json_refuses_what_is_not_ijson(text: str | bytes, reason: str) -> None:
    with pytest.raises(MalformedJSON, match=reason):
        parse_json(text)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_round_trip_exactly(value: float) -> None:
    parsed = float(format_number(value))
    assert parsed == value or (value == 0 and parsed == 0)
    assert math.copysign(1, parsed) == 1 or value < 0


def _rfc8785_string(text: str) -> str:
    """RFC 8785 3.2.2.2, written out from the text of the RFC, one character at a time."""
    short = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}
    out = []
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif code in short:
            out.append(short[code])
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def test_strings_escape_exactly_as_rfc8785_for_every_bmp_code_point() -> None:
    points = [*range(0xD800), *range(0xE000, 0x10000), 0x1F600, 0x10FFFF]
    text = "".join(chr(code) for code in points)
    assert canonical_json(text) == _rfc8785_string(text).encode("utf-8")
