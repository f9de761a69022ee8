"""Weak Ed25519 keys and signatures: points of small order, non-canonical encodings, Wycheproof.

The table of small-order points in crypto/_ed25519_checks.py is checked here against plain
Edwards25519 arithmetic written out in this module (RFC 8032 section 5.1), which the crypto
package itself never uses: it only compares bytes with constants.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import given, settings, strategies as st

from crypto import (
    InvalidSignature,
    KeyFormatError,
    SigningKey,
    VerifyKey,
    b64url_encode,
    sign,
    verify,
    verify_raw,
)
from crypto._ed25519_checks import SMALL_ORDER_Y

VECTORS: Final = Path(__file__).parent / "vectors"
P: Final = 2**255 - 19
L: Final = 2**252 + 27742317777372353535851937790883648493
D: Final = -121665 * pow(121666, -1, P) % P
SQRT_M1: Final = pow(2, (P - 1) // 4, P)
IDENTITY: Final = (0, 1)
Point = tuple[int, int]


def add(a: Point, b: Point) -> Point:
    """Affine addition on -x^2 + y^2 = 1 + d x^2 y^2; the formula is complete, no cases."""
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P


def times(k: int, point: Point) -> Point:
    result = IDENTITY
    while k:
        if k & 1:
            result = add(result, point)
        point, k = add(point, point), k >> 1
    return result


def decode(encoding: bytes) -> Point | None:
    """RFC 8032 5.1.3, leniently: y is taken mod p and a sign on x = 0 is ignored, so that a
    non-canonical encoding yields the point it names."""
    y = int.from_bytes(encoding, "little") % 2**255 % P
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    if v * x * x % P != u:
        return None
    return (P - x if x and x % 2 != encoding[31] >> 7 else x), y


def encode(point: Point) -> bytes:
    x, y = point
    return (y | (x & 1) << 255).to_bytes(32, "little")


def order(point: Point) -> int:
    return next(k for k in (1, 2, 4, 8) if times(k, point) == IDENTITY)


def torsion() -> list[Point]:
    """All eight points of order dividing 8: the multiples of L * Q for a Q of full order."""
    y = 2
    while True:
        candidate = decode(y.to_bytes(32, "little"))
        if candidate is not None and order(generator := times(L, candidate)) == 8:
            return [times(k, generator) for k in range(8)]
        y += 1


def small_order_vectors() -> list[dict[str, Any]]:
    document: dict[str, Any] = json.loads((VECTORS / "ed25519-small-order.json").read_text())
    points: list[dict[str, Any]] = document["points"]
    return points


def spki_pem(raw: bytes) -> bytes:
    """A SubjectPublicKeyInfo PEM around 32 raw bytes (RFC 8410), built without any library."""
    der = bytes.fromhex("302a300506032b6570032100") + raw
    return b"-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der) + b"\n-----END PUBLIC KEY-----\n"


WEAK = small_order_vectors()
WEAK_IDS = [f"{v['encoding'][:8]}..{v['encoding'][-4:]}" for v in WEAK]


def test_the_table_holds_exactly_the_y_of_the_eight_small_order_points() -> None:
    points = torsion()
    assert len(set(points)) == 8
    assert {y for _, y in points} == SMALL_ORDER_Y
    canonical = {bytes.fromhex(v["encoding"]) for v in WEAK if v["canonical"]}
    assert {encode(point) for point in points} == canonical


@pytest.mark.parametrize("vector", WEAK, ids=WEAK_IDS)
def test_each_vector_names_a_point_that_eight_times_is_the_identity(
    vector: dict[str, Any],
) -> None:
    encoding = bytes.fromhex(vector["encoding"])
    point = decode(encoding)
    assert point is not None
    assert times(8, point) == IDENTITY
    assert order(point) == vector["order"]
    assert (encode(point) == encoding) is vector["canonical"]


@pytest.mark.parametrize("vector", WEAK, ids=WEAK_IDS)
def test_a_weak_public_key_is_refused_in_every_form(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["encoding"])
    with pytest.raises(KeyFormatError, match="weak key"):
        VerifyKey.from_bytes(raw)
    with pytest.raises(KeyFormatError, match="weak key"):
        VerifyKey.from_text("ed25519:" + b64url_encode(raw))
    with pytest.raises(KeyFormatError, match="weak key"):
        VerifyKey.from_pem(spki_pem(raw))


def test_a_non_canonical_key_of_full_order_is_refused_too() -> None:
    # y = 2^255 - 1 names the same point as y = 18, if that is on the curve; either way it is
    # not the one spelling a key may have.
    with pytest.raises(KeyFormatError, match="not in canonical form"):
        VerifyKey.from_bytes(b"\xff" * 31 + b"\x7f")


@pytest.mark.parametrize("vector", WEAK, ids=WEAK_IDS)
def test_a_signature_whose_r_is_weak_is_refused(vector: dict[str, Any]) -> None:
    key = SigningKey.generate()
    signature = bytes.fromhex(vector["encoding"]) + bytes(32)
    reason = "small order" if vector["canonical"] else "(small order|canonical)"
    with pytest.raises(InvalidSignature, match=f"R .*{reason}"):
        verify(key.verify_key, "login", {"any": "document"}, signature)
    with pytest.raises(InvalidSignature, match=f"R .*{reason}"):
        verify_raw(key.verify_key, b"any message", signature)


def test_the_universal_forgery_under_the_identity_key_is_impossible() -> None:
    identity = (1).to_bytes(32, "little")
    with pytest.raises(KeyFormatError, match="small order"):
        VerifyKey.from_bytes(identity)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_real_keys_are_accepted_and_sign(seed: bytes) -> None:
    key = SigningKey.from_seed(seed)
    public = VerifyKey.from_bytes(key.verify_key.raw)
    verify(public, "login", {"seed": seed.hex()}, sign(key, "login", {"seed": seed.hex()}))


@settings(max_examples=300, deadline=None)
@given(
    st.binary(min_size=32, max_size=32)
    | st.sampled_from([bytes.fromhex(v["encoding"]) for v in WEAK])
)
def test_a_key_is_refused_exactly_when_the_arithmetic_calls_it_weak(raw: bytes) -> None:
    point = decode(raw)
    weak = int.from_bytes(raw, "little") % 2**255 >= P or (
        point is not None and (encode(point) != raw or times(8, point) == IDENTITY)
    )
    if weak:
        with pytest.raises(KeyFormatError, match="weak key"):
            VerifyKey.from_bytes(raw)
    else:
        assert VerifyKey.from_bytes(raw).raw == raw


def wycheproof_cases() -> list[tuple[str, str, dict[str, Any]]]:
    document = json.loads((VECTORS / "wycheproof-ed25519.json").read_text())
    return [
        (f"tc{case['tcId']}", group["publicKey"], case)
        for group in document["testGroups"]
        for case in group["tests"]
    ]


WYCHEPROOF = wycheproof_cases()


@pytest.mark.parametrize(("name", "public", "case"), WYCHEPROOF, ids=[c[0] for c in WYCHEPROOF])
def test_wycheproof_valid_cases_verify_and_invalid_ones_raise(
    name: str, public: str, case: dict[str, Any]
) -> None:
    key = VerifyKey.from_bytes(bytes.fromhex(public))
    message, signature = bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
    if case["result"] == "valid":
        verify_raw(key, message, signature)
    else:
        with pytest.raises(InvalidSignature):
            verify_raw(key, message, signature)


def test_s_at_or_beyond_the_group_order_is_refused_by_the_backend() -> None:
    # OpenSSL checks S < L itself (RFC 8032 5.1.7), so crypto/ adds no check of its own: pinned
    # here with S + kL, the same scalar mod L, and by Wycheproof's malleability cases above.
    key, document = SigningKey.generate(), {"tender": "t-1"}
    signature = sign(key, "receipt", document)
    verify(key.verify_key, "receipt", document, signature)
    s = int.from_bytes(signature[32:], "little")
    for k in (1, 2, 8):
        malleated = signature[:32] + (s + k * L).to_bytes(32, "little")
        with pytest.raises(InvalidSignature, match="does not verify"):
            verify(key.verify_key, "receipt", document, malleated)
    assert sum("SignatureMalleability" in case["flags"] for _, _, case in WYCHEPROOF) == 8
