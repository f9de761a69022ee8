"""What a draw is asked for, and the context a room decides in (docs/spec/evaluation.md 2)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from recordings.draw import DrawRequest, Quota, Site, Workstation
from server.domain.spec import MIN_COMMITTEE, MIN_LARGE_COMMITTEE
from server.protocol.fields import Reader

if TYPE_CHECKING:
    from collections.abc import Mapping

    from server.domain.scores import Bid
    from server.domain.spec import Lot, TenderSpec

MAX_SITES: Final = 8
MAX_WORKSTATIONS: Final = 64
MAX_STANDBY: Final = 20
_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_ADDRESS: Final = re.compile(r"[0-9A-Fa-f:.]{2,45}")


def parse_draw_request(document: object) -> DrawRequest:
    """A draw request from JSON; InvalidFields lists every problem of its shape."""
    reader = Reader(document)
    quotas = tuple(
        Quota(item.text("specialty", max_len=64), item.integer("count", low=1, high=49))
        for item in reader.items("quotas", min_len=1, max_len=20)
    )
    sites = tuple(
        Site(
            item.text("site", max_len=32, pattern=_ID),
            item.text("region", max_len=64),
            tuple(
                Workstation(
                    station.text("id", max_len=32, pattern=_ID),
                    _address(station),
                )
                for station in item.items("workstations", min_len=1, max_len=MAX_WORKSTATIONS)
            ),
        )
        for item in reader.items("sites", min_len=1, max_len=MAX_SITES)
    )
    request = DrawRequest(quotas, sites, reader.integer("standby", low=0, high=MAX_STANDBY))
    if len({q.specialty for q in quotas}) != len(quotas):
        reader.problem("quotas", "one quota per specialty")
    if len({s.site for s in sites}) != len(sites):
        reader.problem("sites", "site names must be unique")
    stations = [w.id for s in sites for w in s.workstations]
    if len(set(stations)) != len(stations):
        reader.problem("sites", "workstation ids must be unique across sites")
    reader.finish()
    return request


def _address(reader: Reader) -> str | None:
    value = reader.optional_text("address", max_len=45)
    if value and not _ADDRESS.fullmatch(value):
        reader.problem("address", "must be an IP address")
    return value or None


def committee_problem(request: DrawRequest, spec: TenderSpec) -> str | None:
    """Why the request can't make this tender's committee, or None (Law 37, GP87 47)."""
    size = request.size
    if size != spec.committee_size:
        return f"The quotas add up to {size}; the tender's committee has {spec.committee_size}."
    if size < MIN_COMMITTEE or size % 2 == 0:
        return "A committee has an odd number of members, at least 5 (Law 37)."
    if spec.large and size < MIN_LARGE_COMMITTEE:
        return "A large procurement needs at least 7 members (GP87 47)."
    if sum(len(s.workstations) for s in request.sites) < size:
        return "There are fewer workstations than members."
    return None


@dataclass(frozen=True, slots=True)
class Arrival:
    """Where an act came in: the site of the node that received it, and the sites that have
    a node of their own (this node's and those of the nodes enrolled with a `site`).

    A workstation is bound to its site's node, not to a network address (NAT and proxies make
    addresses unreliable): an act for a seat at a site with a node of its own must come in
    through that node. A site without one (a venue whose workstations reach another site's
    node) binds by the workstation and the expert's key only.
    """

    site: str
    served: frozenset[str] = frozenset()

    def through(self, site: str) -> bool:
        """Whether an act for a seat at `site` came in through that site's node."""
        return site not in self.served or self.site == site


@dataclass(frozen=True, slots=True)
class RoomContext:
    """What a room decides with, beyond its own state: the tender's facts and the names."""

    tender: str
    spec: TenderSpec
    lot: Lot
    bids: tuple[Bid, ...]  # the lot's decrypted bids, in the opening's order
    record_hash: str | None  # the closed opening record's hash
    names: Mapping[str, str]  # participant -> name, for the report and the result

    def bid(self, bidder: str) -> Bid | None:
        return next((b for b in self.bids if b.bidder == bidder), None)
