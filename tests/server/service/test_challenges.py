"""Stateless login challenges: no flood evicts a real user's, and none is good twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from crypto import SigningKey, b64url_decode, b64url_encode
from server.config import Settings
from server.domain.access import Role
from server.domain.logins import LoginFailure
from server.domain.participants import Participant
from server.errors import ClockSkew, LoginFailed, TooManyRequests, Unavailable
from server.protocol import answer_challenge
from server.protocol.times import format_time
from server.service.auth import Authenticator, Challenge, Claims, LoginAnswer
from tests.conftest import ManualClock

NODE_KEY = SigningKey.generate()
USER_KEY = SigningKey.generate()
USER = Participant("p-0123456789ab", Role.BIDDER, "Bidder", USER_KEY.verify_key.to_text())
HOME = "203.0.113.7"


def authenticator(clock: ManualClock, **settings: Any) -> Authenticator:
    return Authenticator(Settings(**settings), clock, NODE_KEY, "n-test")


def signed(clock: ManualClock, challenge: Challenge, key: SigningKey = USER_KEY) -> LoginAnswer:
    return LoginAnswer.parse(answer_challenge(challenge.to_json(), key, format_time(clock.now())))


def refused(auth: Authenticator, answer: LoginAnswer, address: str = HOME) -> str:
    with pytest.raises(LoginFailed) as caught:
        auth.answer(answer, USER, address)
    assert (
        str(caught.value) == "Login failed: the challenge, participant or signature is not valid."
    )
    return caught.value.reason


def test_a_challenge_answered_in_time_from_its_address_logs_in() -> None:
    clock = ManualClock()
    auth = authenticator(clock)
    claims = auth.answer(signed(clock, auth.challenge(USER.id, HOME)), USER, HOME)
    assert isinstance(claims, Claims)
    assert (claims.participant, claims.role) == (USER.id, Role.BIDDER)


def test_a_flood_from_10500_addresses_does_not_evict_a_real_users_challenge() -> None:
    clock = ManualClock()
    auth = authenticator(clock)
    mine = auth.challenge(USER.id, HOME)
    for i in range(10_500):
        auth.challenge(f"p-{i:012x}", f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}")
    assert auth.answer(signed(clock, mine), USER, HOME).participant == USER.id


def test_the_node_keeps_bounded_counters_not_challenges_under_a_flood() -> None:
    clock = ManualClock()
    auth = authenticator(clock, max_tracked_callers=100)
    for i in range(1_000):
        auth.challenge(USER.id, f"10.0.{i >> 8}.{i & 255}")
    assert len(auth._slots._pending) == 100


def test_a_used_challenge_is_refused() -> None:
    clock = ManualClock()
    auth = authenticator(clock)
    answer = signed(clock, auth.challenge(USER.id, HOME))
    auth.answer(answer, USER, HOME)
    assert refused(auth, answer) == LoginFailure.USED_CHALLENGE


def test_an_expired_challenge_is_refused() -> None:
    clock = ManualClock()
    auth = authenticator(clock)
    challenge = auth.challenge(USER.id, HOME)
    clock.advance(60)
    assert refused(auth, signed(clock, challenge)) == LoginFailure.EXPIRED_CHALLENGE


def test_a_challenge_answered_from_another_address_is_refused() -> None:
    clock = ManualClock()
    auth = authenticator(clock)
    answer = signed(clock, auth.challenge(USER.id, HOME))
    assert refused(auth, answer, "198.51.100.1") == LoginFailure.BAD_CHALLENGE
    assert auth.answer(answer, USER, HOME).participant == USER.id  # still good at home


def test_a_challenge_for_another_participant_is_refused() -> None:
    clock = ManualClock()
    auth = authenticator(clock)
    theirs = auth.challenge("p-someoneelse1", HOME)
    answer = signed(clock, replace(theirs, participant=USER.id))
    assert refused(auth, answer) == LoginFailure.BAD_CHALLENGE


def forged(token: str, position: int) -> str:
    raw = bytearray(b64url_decode(token))
    raw[position] ^= 1
    return b64url_encode(bytes(raw))


@pytest.mark.parametrize(
    "position", [0, 1, 8, 9, 24, 25, 56], ids=["version", "expiry", "expiry-low", "nonce",
                                               "nonce-end", "mac", "mac-end"]
)  # fmt: skip
def test_a_forged_token_is_refused(position: int) -> None:
    clock = ManualClock()
    auth = authenticator(clock)
    challenge = auth.challenge(USER.id, HOME)
    answer = signed(clock, replace(challenge, id=forged(challenge.id, position)))
    assert refused(auth, answer) == LoginFailure.BAD_CHALLENGE


def test_a_token_minted_under_another_node_key_is_refused() -> None:
    clock = ManualClock()
    auth = authenticator(clock)
    other = Authenticator(Settings(), clock, SigningKey.generate(), "n-test")
    assert refused(auth, signed(clock, other.challenge(USER.id, HOME))) == (
        LoginFailure.BAD_CHALLENGE
    )


@pytest.mark.parametrize("token", ["AAAA", "not base64!", "A" * 76, "A" * 74])
def test_malformed_tokens_are_refused(token: str) -> None:
    clock = ManualClock()
    auth = authenticator(clock)
    answer = signed(clock, replace(auth.challenge(USER.id, HOME), id=token))
    assert refused(auth, answer) == LoginFailure.BAD_CHALLENGE


def test_each_failure_names_its_reason() -> None:
    clock = ManualClock()
    auth = authenticator(clock)
    answer = signed(clock, auth.challenge(USER.id, HOME), SigningKey.generate())
    assert refused(auth, answer) == LoginFailure.BAD_SIGNATURE
    with pytest.raises(LoginFailed) as caught:
        auth.answer(answer, None, HOME)
    assert caught.value.reason == LoginFailure.UNKNOWN_PARTICIPANT
    weak = replace(USER, public_key="ed25519:AAAA")
    with pytest.raises(LoginFailed) as caught:
        auth.answer(signed(clock, auth.challenge(USER.id, HOME)), weak, HOME)
    assert caught.value.reason == LoginFailure.UNUSABLE_KEY


def test_a_bad_or_skewed_time_is_refused_and_spends_the_challenge() -> None:
    clock = ManualClock()
    auth = authenticator(clock)
    challenge = auth.challenge(USER.id, HOME)
    document = answer_challenge(challenge.to_json(), USER_KEY, "yesterday")
    assert refused(auth, LoginAnswer.parse(document)) == LoginFailure.BAD_TIME
    late = format_time(clock.now() - timedelta(seconds=31))
    skewed = answer_challenge(auth.challenge(USER.id, HOME).to_json(), USER_KEY, late)
    with pytest.raises(ClockSkew) as caught:
        auth.answer(LoginAnswer.parse(skewed), USER, HOME)
    assert caught.value.reason == LoginFailure.CLOCK_SKEW
    assert refused(auth, LoginAnswer.parse(document)) == LoginFailure.USED_CHALLENGE


def test_past_its_cap_an_address_is_refused_and_an_answer_gives_a_slot_back() -> None:
    clock = ManualClock()
    auth = authenticator(clock, max_challenges_per_address=2)
    first = auth.challenge(USER.id, HOME)
    auth.challenge(USER.id, HOME)
    clock.advance(20)
    with pytest.raises(TooManyRequests) as caught:
        auth.challenge(USER.id, HOME)
    assert caught.value.retry_after == 40
    auth.challenge(USER.id, "198.51.100.1")  # other addresses are not concerned
    auth.answer(signed(clock, first), USER, HOME)
    auth.challenge(USER.id, HOME)
    with pytest.raises(TooManyRequests):
        auth.challenge(USER.id, HOME)
    clock.advance(40)  # the second has expired
    auth.challenge(USER.id, HOME)


def test_a_full_replay_set_refuses_logins_until_the_oldest_expire() -> None:
    clock = ManualClock()
    auth = authenticator(clock, max_answered_challenges=2)
    for _ in range(2):
        auth.answer(signed(clock, auth.challenge(USER.id, HOME)), USER, HOME)
        clock.advance(10)
    late = signed(clock, auth.challenge(USER.id, HOME))
    with pytest.raises(Unavailable) as caught:
        auth.answer(late, USER, HOME)
    assert caught.value.retry_after == 40
    clock.advance(40)
    auth.answer(signed(clock, auth.challenge(USER.id, HOME)), USER, HOME)
    clock.advance(20)
    assert refused(auth, late) == LoginFailure.EXPIRED_CHALLENGE
