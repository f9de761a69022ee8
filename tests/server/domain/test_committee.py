"""What a draw is asked for: its shape, and whether it can make the tender's committee."""

from __future__ import annotations

from typing import Any

import pytest

from recordings.draw import DrawRequest, Quota, Site, Workstation
from server.domain.committee import committee_problem, parse_draw_request
from server.domain.spec import TenderSpec
from server.protocol.fields import InvalidFields
from tests.conftest import START, tender_spec


def request(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "quotas": [{"specialty": "建筑工程", "count": 5}],
        "sites": [{"site": "main", "region": "广州",
                   "workstations": [{"id": f"M-0{i}", "address": "10.1.0.1"} for i in range(5)]}],
        "standby": 1,
    }  # fmt: skip
    return document | changes


def test_a_request_reads_back_as_written() -> None:
    parsed = parse_draw_request(request())
    assert parsed == DrawRequest.from_json(parsed.to_json())
    assert (parsed.size, parsed.sites[0].workstations[0].address) == (5, "10.1.0.1")


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"quotas": [{"specialty": "a", "count": 2}, {"specialty": "a", "count": 3}]},
         "one quota per specialty"),
        ({"sites": [request()["sites"][0], request()["sites"][0]]}, "site names must be unique"),
        ({"sites": [request()["sites"][0],
                    {"site": "sub-1", "region": "深圳", "workstations": [{"id": "M-01"}]}]},
         "workstation ids must be unique"),
        ({"sites": [{"site": "main", "region": "广州",
                     "workstations": [{"id": "M-01", "address": "not an address"}]}]},
         "must be an IP address"),
        ({"standby": 99}, "standby"),
    ],
)  # fmt: skip
def test_a_malformed_request_names_its_problem(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidFields) as caught:
        parse_draw_request(request(**changes))
    assert problem in str(caught.value)


def spec(size: int = 5, *, large: bool = False) -> TenderSpec:
    return TenderSpec.parse(tender_spec(START, committee={"size": size, "large": large}))


def sized(count: int, stations: int = 9) -> DrawRequest:
    site = Site("main", "广州", tuple(Workstation(f"M-{i}", None) for i in range(stations)))
    return DrawRequest((Quota("建筑工程", count),), (site,), 0)


@pytest.mark.parametrize(
    ("count", "committee", "large", "stations", "problem"),
    [
        (5, 5, False, 9, None),
        (7, 5, False, 9, "add up to 7"),
        (5, 5, False, 4, "fewer workstations"),
        (7, 7, True, 9, None),
    ],
)
def test_the_committee_rules(
    count: int, committee: int, large: bool, stations: int, problem: str | None
) -> None:
    found = committee_problem(sized(count, stations), spec(committee, large=large))
    assert (found is None) if problem is None else (found is not None and problem in found)
