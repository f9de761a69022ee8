"""Client addresses behind reverse proxies (docs/sites.md 9): headers believed only from
trusted proxies, the rightmost untrusted hop is the client, unreadable headers ignored."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import pytest

from server.app import create_app
from server.domain.access import Role
from server.protocol import answer_challenge
from server.protocol.times import format_time
from server.transport.forwarded import (
    MAX_HOPS,
    Malformed,
    TrustedProxies,
    forwarded_chain,
    forwarded_for_chain,
)
from tests.conftest import Harness

if TYPE_CHECKING:
    from server.config import Settings
    from tests.conftest import AiohttpClient, ManualClock

PROXIES = TrustedProxies.parse(["10.0.0.0/8", "2001:db8:1::/48"])


def client(peer: str | None, forwarded: list[str] = [], xff: list[str] = []) -> str:  # noqa: B006
    return PROXIES.client(peer, forwarded, xff)


def test_headers_from_an_untrusted_peer_are_ignored() -> None:
    assert client("198.51.100.7", ["for=203.0.113.9"], ["203.0.113.9"]) == "198.51.100.7"


def test_no_peer_is_unknown() -> None:
    assert client(None, ["for=203.0.113.9"]) == "unknown"


def test_a_trusted_peer_without_headers_is_the_client() -> None:
    assert client("10.1.2.3") == "10.1.2.3"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        (["for=203.0.113.9"], "203.0.113.9"),
        (['for="203.0.113.9:4711";proto=https;by=10.0.0.1'], "203.0.113.9"),
        (['For="[2001:db8:cafe::17]:4711"'], "2001:db8:cafe::17"),
        (['for="[2001:db8:cafe::17]"'], "2001:db8:cafe::17"),
        # The client forged a hop on the left; the proxies after it are trusted.
        (["for=192.0.2.66, for=203.0.113.9, for=10.0.0.2"], "203.0.113.9"),
        (["for=192.0.2.66", "for=203.0.113.9,for=10.0.0.2"], "203.0.113.9"),
        # Only trusted proxies: the leftmost is the client (an office behind the proxy).
        (["for=10.9.9.9, for=10.0.0.2"], "10.9.9.9"),
    ],
)
def test_forwarded_names_the_rightmost_untrusted_hop(forwarded: list[str], expected: str) -> None:
    assert client("10.0.0.1", forwarded, ["192.0.2.1"]) == expected


@pytest.mark.parametrize(
    ("xff", "expected"),
    [
        (["203.0.113.9"], "203.0.113.9"),
        (["192.0.2.66, 203.0.113.9, 10.0.0.2"], "203.0.113.9"),
        (["192.0.2.66", "203.0.113.9"], "203.0.113.9"),
        (["2001:db8:cafe::17"], "2001:db8:cafe::17"),
        (["[2001:db8:cafe::17]:4711"], "2001:db8:cafe::17"),
        (["203.0.113.9:4711"], "203.0.113.9"),
        (["::ffff:203.0.113.9"], "203.0.113.9"),
    ],
)
def test_x_forwarded_for_names_the_rightmost_untrusted_hop(xff: list[str], expected: str) -> None:
    assert client("10.0.0.1", [], xff) == expected


def test_a_trusted_ipv6_peer_and_a_mapped_ipv4_peer() -> None:
    assert client("2001:db8:1::5", [], ["203.0.113.9"]) == "203.0.113.9"
    assert client("::ffff:10.0.0.1", [], ["203.0.113.9"]) == "203.0.113.9"


@pytest.mark.parametrize(
    "forwarded",
    [
        "for=unknown",
        "for=_hidden",
        "proto=https",
        "for=203.0.113.9;for=192.0.2.1",
        "for=2001:db8::1",  # IPv6 must be quoted and bracketed
        'for="203.0.113.9',
        "for=203.0.113.9 junk",
        "",
        ",".join(["for=203.0.113.9"] * (MAX_HOPS + 1)),
    ],
)
def test_an_unreadable_forwarded_header_leaves_the_peer(
    forwarded: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="server.transport.forwarded"):
        assert client("10.0.0.1", [forwarded], ["203.0.113.9"]) == "10.0.0.1"
    assert "Ignored an unreadable Forwarded header from proxy 10.0.0.1" in caplog.text
    assert "203.0.113.9" not in caplog.text  # nothing of the header's content


@pytest.mark.parametrize(
    "xff", ["unknown", "203.0.113.9, ", "203.0.113.300", ",".join(["192.0.2.1"] * (MAX_HOPS + 1))]
)
def test_an_unreadable_x_forwarded_for_leaves_the_peer(xff: str) -> None:
    assert client("10.0.0.1", [], [xff]) == "10.0.0.1"


def test_the_chains_read_in_order() -> None:
    assert [str(a) for a in forwarded_chain(['for=192.0.2.1;by="x", FOR=192.0.2.2'])] == [
        "192.0.2.1",
        "192.0.2.2",
    ]
    assert [str(a) for a in forwarded_for_chain(["192.0.2.1 , 192.0.2.2"])] == [
        "192.0.2.1",
        "192.0.2.2",
    ]
    assert str(forwarded_chain(['for="\\1\\9\\2.0.2.1"'])[0]) == "192.0.2.1"  # quoted-pairs
    with pytest.raises(Malformed):
        forwarded_chain(["for=192.0.2.1;"])


async def proxied_harness(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock, proxies: tuple[str, ...]
) -> Harness:
    settings = dataclasses.replace(settings, trusted_proxies=proxies)
    return Harness(await aiohttp_client(create_app(settings, clock=clock, schedule=False)), clock)


async def login_address(harness: Harness, headers: dict[str, str]) -> str:
    """The address the node records for a login sent with `headers`."""
    bidder = await harness.enroll(Role.BIDDER)
    response = await harness.client.post(
        "/api/auth/challenge", json={"participant": bidder.id}, headers=headers
    )
    assert response.status == 200
    body = answer_challenge(await response.json(), bidder.key, format_time(harness.clock.now()))
    response = await harness.client.post("/api/auth/login", json=body, headers=headers)
    assert response.status == 200, await response.text()
    records = await harness.node.store.read("system")
    login = [r for r in records if r.type == "participant.logged_in"][-1]
    return login.address


async def test_a_request_through_a_trusted_proxy_is_recorded_with_the_clients_address(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    harness = await proxied_harness(aiohttp_client, settings, clock, ("127.0.0.0/8",))
    headers = {"X-Forwarded-For": "192.0.2.66, 203.0.113.9"}
    assert await login_address(harness, headers) == "203.0.113.9"
    headers = {"Forwarded": 'for="[2001:db8::9]:4711"', "X-Forwarded-For": "192.0.2.66"}
    assert await login_address(harness, headers) == "2001:db8::9"


async def test_forwarding_headers_are_ignored_without_trusted_proxies(harness: Harness) -> None:
    headers = {"X-Forwarded-For": "203.0.113.9", "Forwarded": "for=203.0.113.9"}
    assert await login_address(harness, headers) == "127.0.0.1"


async def test_forwarding_headers_are_ignored_from_a_peer_not_trusted(
    aiohttp_client: AiohttpClient, settings: Settings, clock: ManualClock
) -> None:
    harness = await proxied_harness(aiohttp_client, settings, clock, ("10.0.0.0/8",))
    assert await login_address(harness, {"X-Forwarded-For": "203.0.113.9"}) == "127.0.0.1"
