"""Shamir's scheme over GF(256): field arithmetic, recovery from any k shares, refusals."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from crypto import Share, combine_shares, split_secret
from crypto._shamir import _div, _mul, _split_with


def test_field_multiplication_matches_fips197() -> None:
    # FIPS-197 section 4.2: {57} x {83} = {c1} and {57} x {13} = {fe}.
    assert _mul(0x57, 0x83) == 0xC1
    assert _mul(0x57, 0x13) == 0xFE
    for a in range(1, 256):
        assert _mul(a, _div(1, a)) == 1
        assert _div(_mul(a, 0x53), 0x53) == a


def test_a_degree_zero_polynomial_repeats_the_secret() -> None:
    shares = _split_with(b"\x2a\x00", 1, 3, b"")
    assert [s.value for s in shares] == [b"\x2a\x00"] * 3


def test_a_known_answer() -> None:
    # Secret 0x11 with f(x) = 0x11 + 0x22 x: f(1) = 0x33, f(2) = 0x11 ^ (0x22 * 2) = 0x55.
    shares = _split_with(b"\x11", 2, 3, b"\x22")
    assert [(s.index, s.value) for s in shares] == [(1, b"\x33"), (2, b"\x55"), (3, b"\x77")]
    assert combine_shares(shares[1:]) == b"\x11"


@settings(max_examples=40)
@given(
    secret=st.binary(min_size=1, max_size=40),
    threshold=st.integers(min_value=1, max_value=5),
    extra=st.integers(min_value=0, max_value=3),
)
def test_any_threshold_shares_recover_the_secret(secret: bytes, threshold: int, extra: int) -> None:
    shares = split_secret(secret, threshold, threshold + extra)
    for subset in itertools.combinations(shares, threshold):
        assert combine_shares(list(subset)) == secret


def test_fewer_shares_do_not_recover_a_random_secret() -> None:
    secret = bytes(range(32))
    shares = split_secret(secret, 3, 5)
    assert combine_shares(shares[:2]) != secret


@pytest.mark.parametrize(("threshold", "count"), [(0, 3), (4, 3), (2, 256)])
def test_bad_parameters_are_refused(threshold: int, count: int) -> None:
    with pytest.raises(ValueError, match="threshold"):
        split_secret(b"secret", threshold, count)


@pytest.mark.parametrize(
    "shares",
    [
        [],
        [Share(1, b"a"), Share(1, b"b")],
        [Share(0, b"a")],
        [Share(1, b"a"), Share(2, b"bb")],
    ],
)
def test_bad_share_sets_are_refused(shares: list[Share]) -> None:
    with pytest.raises(ValueError, match=r"shares|Share"):
        combine_shares(shares)


def test_shares_do_not_show_their_value() -> None:
    assert "redacted" in repr(split_secret(b"top secret", 2, 2)[0])


@pytest.mark.parametrize("secret", [0x00, 0x5A, 0xFF])
def test_one_share_of_two_says_nothing_about_the_secret(secret: int) -> None:
    # Over all 256 random coefficients, each share takes every byte value exactly once,
    # whatever the secret: seeing one share leaves every secret equally likely.
    for x in range(1, 6):
        seen = {_split_with(bytes([secret]), 2, 5, bytes([a]))[x - 1].value for a in range(256)}
        assert len(seen) == 256
