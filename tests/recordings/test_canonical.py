"""The fast canonical-JSON test never says yes where the exact way says no."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from crypto import CryptoError, canonical_json, parse_json
from recordings.canonical import MAX_DEPTH, parse_canonical

# Keys and strings from the whole of Unicode (escapes, controls, the BMP's top, astral).
TEXT = st.text(st.characters(codec="utf-8"), max_size=6) | st.sampled_from(
    ["", "a", "b", "é", '"', "\\", "\n", "\x1f", "\x7f", "\u2028", "\uff61", "\U0001f600"]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def exactly_canonical(text: str) -> bool:
    """The exact way: the text is the canonical JSON of what it parses to."""
    try:
        return canonical_json(parse_json(text)) == text.encode("utf-8")
    except (CryptoError, UnicodeEncodeError):
        return False


def written_some_way(value: object, options: dict[str, Any]) -> str:
    return json.dumps(value, **options)


OPTIONS = st.fixed_dictionaries(
    {
        "ensure_ascii": st.booleans(),
        "sort_keys": st.booleans(),
        "separators": st.sampled_from([(",", ":"), (", ", ": "), (",", ": ")]),
        "indent": st.sampled_from([None, None, 0, 1]),
    }
)


@settings(max_examples=400)
@given(value=VALUES)
def test_canonical_texts_are_read_as_parse_json_reads_them(value: object) -> None:
    try:
        text = canonical_json(value).decode("utf-8")
    except CryptoError:
        return  # integers a double can't hold are not JSON values here
    found = parse_canonical(text)
    if found is not None:
        assert found == parse_json(text)
        assert canonical_json(found) == text.encode("utf-8")


@settings(max_examples=400)
@given(value=VALUES, options=OPTIONS)
def test_a_yes_is_always_right(value: object, options: dict[str, Any]) -> None:
    text = written_some_way(value, options)
    if parse_canonical(text) is not None:
        assert exactly_canonical(text)


@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(st.characters(max_codepoint=0xD7FF), max_size=4), inner)
        ),
        max_leaves=10,
    )
)
def test_plain_canonical_texts_take_the_fast_way(value: object) -> None:
    text = canonical_json(value).decode("utf-8")
    if text.count("{") + text.count("[") <= MAX_DEPTH and max(text, default="") < "\U00010000":
        assert parse_canonical(text) == value


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1,"a":1}',  # a member twice
        '{"b":1,"a":2}',  # out of order
        '{"a": 1}',
        ' {"a":1}',
        '{"a":1} ',
        '{"a":1}x',
        "\ufeff{}",
        '{"a":1.0}',
        '{"a":1e2}',
        '{"a":-0}',
        '{"a":9007199254740993}',
        '{"a":NaN}',
        '{"a":"\\u00e9"}',  # escaped where RFC 8785 writes the character
        '{"a":"\\/"}',
        '{"a":"\\u001F"}',  # upper-case hex
        '{"a":"\\ud83d\\ude00"}',
        '{"a":"\ud83d"}',  # a lone surrogate in the text itself
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        '{"\uff61":2,"\U0001f600":1}',  # code point order, not UTF-16 order
        "",
        "not json",
    ],
)
def test_what_is_left_to_the_exact_way(text: str) -> None:
    assert parse_canonical(text) is None


@pytest.mark.parametrize(
    "text",
    [
        '{"\U0001f600":1,"\uff61":2}',  # UTF-16 order (a surrogate sorts below U+FF61)
        '{"a":1.5}',
        '{"a":9007199254740992}',
    ],
)
def test_some_canonical_texts_are_left_to_the_exact_way(text: str) -> None:
    assert exactly_canonical(text)
    assert parse_canonical(text) is None


def test_nesting_is_decided_up_to_what_canonical_json_writes() -> None:
    deepest = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert exactly_canonical(deepest)
    assert parse_canonical(deepest) is not None
    assert exactly_canonical(f"[{deepest}]")  # (nothing at depth 65: the exact way says so)
    assert parse_canonical(f"[{deepest}]") is None
    too_deep = f"[[{deepest}]]"
    assert not exactly_canonical(too_deep)  # canonical_json refuses to write it
    assert parse_canonical(too_deep) is None


def test_the_common_case_is_decided_here() -> None:
    text = '{"a":[1,-2,true,false,null,"x\\"\\\\\\n\\u001f\u2028é开"],"b":{}}'
    assert exactly_canonical(text)
    assert parse_canonical(text) == parse_json(text)
