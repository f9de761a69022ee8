"""Failed-login events read back from the log as they were written."""

from __future__ import annotations

from server.domain.catalogue import decode_event
from server.domain.logins import LoginFailure, LoginRefused, LoginsThrottled


def test_failed_login_events_round_trip_through_their_payload() -> None:
    events = [
        LoginRefused("p-0123456789ab", "192.0.2.1", LoginFailure.USED_CHALLENGE),
        LoginsThrottled("p-0123456789ab", "192.0.2.1", 60, 60),
    ]
    for event in events:
        assert decode_event(event.TYPE, event.payload()) == event
    assert events[0].payload()["reason"] == "used_challenge"
