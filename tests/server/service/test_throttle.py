"""The throttle refusals and failed logins share: per key, per window, bounded memory."""

from __future__ import annotations

from server.service.throttle import Throttle, Verdict
from tests.conftest import ManualClock

RECORD, THROTTLED, DROPPED = Verdict.RECORD, Verdict.THROTTLED, Verdict.DROPPED


def test_past_the_limit_one_throttled_then_nothing() -> None:
    throttle = Throttle(ManualClock(), limit=3, max_keys=10)
    verdicts = [throttle.admit(["a"]) for _ in range(6)]
    assert verdicts == [RECORD] * 3 + [THROTTLED, DROPPED, DROPPED]
    assert throttle.admit(["b"]) is RECORD  # keys are counted apart


def test_a_caller_that_keeps_trying_stays_throttled_until_a_quiet_window() -> None:
    clock = ManualClock()
    throttle = Throttle(clock, limit=1, max_keys=10)
    assert [throttle.admit(["a"]) for _ in range(2)] == [RECORD, THROTTLED]
    clock.advance(59)
    assert throttle.admit(["a"]) is DROPPED
    clock.advance(59)  # 118 s after the first try, but only 59 s after the last
    assert throttle.admit(["a"]) is DROPPED
    clock.advance(60)
    assert throttle.admit(["a"]) is RECORD


def test_an_attempt_is_recorded_only_if_every_key_allows_it() -> None:
    throttle = Throttle(ManualClock(), limit=2, max_keys=10)
    keys = [["address", f"id-{i}"] for i in range(5)]
    assert [throttle.admit(k) for k in keys] == [RECORD, RECORD, THROTTLED, DROPPED, DROPPED]


def test_at_most_max_keys_are_tracked_and_forgetting_one_only_loosens() -> None:
    throttle = Throttle(ManualClock(), limit=1, max_keys=2)
    assert [throttle.admit(["a"]) for _ in range(2)] == [RECORD, THROTTLED]
    throttle.admit(["b"])
    throttle.admit(["c"])  # "a" is the least recently seen: forgotten
    assert len(throttle._windows) == 2
    assert throttle.admit(["a"]) is RECORD
