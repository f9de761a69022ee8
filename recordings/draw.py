"""The expert draw (docs/spec/evaluation.md section 2): pure, so that anyone can re-run it.

The node commits to `seed_hash(seed)` and `snapshot_hash(snapshot)` before it draws, then
reveals the seed; `draw` and `replacement` give the same committee to whoever runs them on the
same seed, pool snapshot, request and avoid list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Self

from crypto import canonical_json, digest, sha256

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

DRAW_SEED_LABEL: Final = "draw-seed"
DRAW_POOL_LABEL: Final = "draw-pool"
SEED_BYTES: Final = 32
_BLOCK_PREFIX: Final = b"bidroom draw v1\x00"
_WORD: Final = 8
_SPAN: Final = 2**64


class DrawShortfall(ValueError):
    """The pool has too few eligible experts for a quota, or no standby fits a replacement."""

    def __init__(self, specialty: str, message: str) -> None:
        super().__init__(message)
        self.specialty = specialty


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """An expert as the draw sees it: no name, only what decides eligibility."""

    expert: str
    specialty: str
    region: str
    employer: str
    relations: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "expert": self.expert,
            "specialty": self.specialty,
            "region": self.region,
            "employer": self.employer,
            "relations": list(self.relations),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        return cls(
            str(document["expert"]), str(document["specialty"]), str(document["region"]),
            str(document["employer"]), tuple(str(r) for r in document["relations"]),
        )  # fmt: skip

    @classmethod
    def of(cls, expert: str, attributes: Mapping[str, str]) -> Self:
        """The entry of an enrolled expert, from its attributes (`relations` split on `;`)."""
        relations = {r.strip() for r in attributes.get("relations", "").split(";")} - {""}
        return cls(
            expert, attributes.get("specialty", ""), attributes.get("region", ""),
            attributes.get("employer", ""), tuple(sorted(relations)),
        )  # fmt: skip

    def ties(self) -> frozenset[str]:
        return frozenset({self.employer, *self.relations}) - {""}


@dataclass(frozen=True, slots=True)
class Workstation:
    id: str
    address: str | None  # the network address its requests must come from, if fixed


@dataclass(frozen=True, slots=True)
class Site:
    site: str  # "main" or a secondary venue
    region: str
    workstations: tuple[Workstation, ...]


@dataclass(frozen=True, slots=True)
class Quota:
    specialty: str
    count: int


@dataclass(frozen=True, slots=True)
class DrawRequest:
    quotas: tuple[Quota, ...]
    sites: tuple[Site, ...]
    standby: int

    @property
    def size(self) -> int:
        return sum(q.count for q in self.quotas)

    def to_json(self) -> dict[str, Any]:
        return {
            "quotas": [{"specialty": q.specialty, "count": q.count} for q in self.quotas],
            "sites": [
                {
                    "site": s.site,
                    "region": s.region,
                    "workstations": [{"id": w.id, "address": w.address} for w in s.workstations],
                }
                for s in self.sites
            ],
            "standby": self.standby,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        sites = tuple(
            Site(
                str(s["site"]), str(s["region"]),
                tuple(Workstation(str(w["id"]), w["address"]) for w in s["workstations"]),
            )
            for s in document["sites"]
        )  # fmt: skip
        quotas = tuple(Quota(str(q["specialty"]), int(q["count"])) for q in document["quotas"])
        return cls(quotas, sites, int(document["standby"]))


@dataclass(frozen=True, slots=True)
class Seat:
    """A drawn member bound to a site and a workstation."""

    expert: str
    specialty: str
    site: str
    workstation: str
    address: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "expert": self.expert,
            "specialty": self.specialty,
            "site": self.site,
            "workstation": self.workstation,
            "address": self.address,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Self:
        return cls(
            str(document["expert"]), str(document["specialty"]), str(document["site"]),
            str(document["workstation"]), document["address"],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Committee:
    members: tuple[Seat, ...]
    standby: tuple[str, ...]


def seed_hash(seed: bytes) -> str:
    return digest(DRAW_SEED_LABEL, seed).hex()


def snapshot_hash(snapshot: Iterable[PoolEntry]) -> str:
    return digest(DRAW_POOL_LABEL, canonical_json([e.to_json() for e in snapshot])).hex()


def snapshot_of(entries: Iterable[PoolEntry]) -> tuple[PoolEntry, ...]:
    """The pool snapshot: entries sorted by expert id."""
    return tuple(sorted(entries, key=lambda e: e.expert))


class DrawStream:
    """The random stream of a seed: SHA-256 blocks over a counter, read 8 bytes at a time."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0
        self._buffer = b""

    def _word(self) -> int:
        if len(self._buffer) < _WORD:
            block = _BLOCK_PREFIX + self._seed + self._counter.to_bytes(8, "big")
            self._buffer += sha256(block)
            self._counter += 1
        word, self._buffer = self._buffer[:_WORD], self._buffer[_WORD:]
        return int.from_bytes(word, "big")

    def below(self, n: int) -> int:
        """A uniform integer in [0, n): words past the largest multiple of n are thrown away."""
        if n <= 0:
            raise ValueError("below() needs a positive bound")
        limit = _SPAN - _SPAN % n
        while (word := self._word()) >= limit:
            pass
        return word % n


class _Seating:
    """The sites' workstations, taken in request order."""

    def __init__(self, request: DrawRequest, taken: Iterable[str] = ()) -> None:
        busy = set(taken)
        self._free = {
            site.site: [w for w in site.workstations if w.id not in busy] for site in request.sites
        }
        self._sites = request.sites

    def site_of(self, entry: PoolEntry) -> Site | None:
        return next(
            (s for s in self._sites if s.region == entry.region and self._free[s.site]), None
        )

    def bind(self, entry: PoolEntry) -> Seat:
        site = self.site_of(entry)
        if site is None:  # pragma: no cover - callers pick only entries with a site
            raise ValueError(f"no free workstation for {entry.expert}")
        workstation = self._free[site.site].pop(0)
        return Seat(entry.expert, entry.specialty, site.site, workstation.id, workstation.address)


def eligible(entry: PoolEntry, avoid: frozenset[str], request: DrawRequest) -> bool:
    """No tie with anyone to avoid (Eval Rules 12), and from a region the draw covers."""
    regions = {site.region for site in request.sites}
    return entry.region in regions and not entry.ties() & avoid


def draw(
    seed: bytes, snapshot: Sequence[PoolEntry], request: DrawRequest, avoid: Iterable[str]
) -> Committee:
    """The committee and the standby list; DrawShortfall if a quota can't be filled."""
    stream, seating = DrawStream(seed), _Seating(request)
    shunned = frozenset(avoid)
    pool = [e for e in snapshot if eligible(e, shunned, request)]
    drawn: set[str] = set()
    members: list[Seat] = []
    for quota in request.quotas:
        for _ in range(quota.count):
            candidates = [
                e for e in pool
                if e.specialty == quota.specialty and e.expert not in drawn
                and seating.site_of(e) is not None
            ]  # fmt: skip
            if not candidates:
                raise DrawShortfall(
                    quota.specialty,
                    f"Too few eligible experts of {quota.specialty} with a free workstation.",
                )
            chosen = candidates[stream.below(len(candidates))]
            drawn.add(chosen.expert)
            members.append(seating.bind(chosen))
    specialties = {q.specialty for q in request.quotas}
    standby: list[str] = []
    for _ in range(request.standby):
        candidates = [e for e in pool if e.specialty in specialties and e.expert not in drawn]
        if not candidates:
            break
        chosen = candidates[stream.below(len(candidates))]
        drawn.add(chosen.expert)
        standby.append(chosen.expert)
    return Committee(tuple(members), tuple(standby))


def replacement(
    snapshot: Sequence[PoolEntry], request: DrawRequest, members: Sequence[Seat],
    standby: Sequence[str], leaving: str,
) -> Seat:  # fmt: skip
    """Who takes the seat of `leaving`: the first standby of its specialty that has a site."""
    seat = next((s for s in members if s.expert == leaving), None)
    if seat is None:
        raise ValueError(f"{leaving} is not a member")
    seating = _Seating(request, taken=(s.workstation for s in members if s.expert != leaving))
    entries = {e.expert: e for e in snapshot}
    for expert in standby:
        entry = entries.get(expert)
        if entry is not None and entry.specialty == seat.specialty and seating.site_of(entry):
            return seating.bind(entry)
    raise DrawShortfall(seat.specialty, f"No standby expert of {seat.specialty} is left.")
