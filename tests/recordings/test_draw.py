"""The expert draw (docs/spec/evaluation.md section 2): pool entries, commitments, the random
stream, eligibility, the committee and its replacements.

The stream and the draw are also re-implemented here from the spec's pseudo-code alone
(hashlib, no code of recordings/draw.py), and the two must agree on random pools and seeds.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings, strategies as st

from recordings.draw import (
    Committee,
    DrawRequest,
    DrawShortfall,
    DrawStream,
    PoolEntry,
    Quota,
    Seat,
    Site,
    Workstation,
    draw,
    eligible,
    replacement,
    seed_hash,
    snapshot_hash,
    snapshot_of,
)

SPAN = 2**64
SPECIALTIES = ("建筑工程", "工程造价", "安装工程")
REGIONS = ("广州", "深圳", "佛山")
ORGANISATIONS = ("甲公司", "乙公司", "丙公司", "丁公司")
SEED = bytes(range(32))
# Reproducible property tests: the same examples on every run, no deadline.
PROPERTY = settings(deadline=None, derandomize=True)


def entry(
    expert: str,
    specialty: str = "建筑工程",
    region: str = "广州",
    employer: str = "甲公司",
    relations: tuple[str, ...] = (),
) -> PoolEntry:
    return PoolEntry(expert, specialty, region, employer, relations)


def site(name: str, region: str, *stations: str) -> Site:
    return Site(name, region, tuple(Workstation(s, f"10.0.0.{i}") for i, s in enumerate(stations)))


# The spec's stream and draw, written from section 2.3 alone.


def spec_digest(label: str, data: bytes) -> str:
    return hashlib.sha256(b"bidroom-hash-v1\x00" + label.encode() + b"\x00" + data).hexdigest()


def spec_block(seed: bytes, i: int) -> bytes:
    return hashlib.sha256(b"bidroom draw v1" + b"\x00" + seed + i.to_bytes(8, "big")).digest()


class SpecStream:
    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self.stream = b""
        self.position = 0

    def take(self) -> int:
        while len(self.stream) < self.position + 8:
            self.stream += spec_block(self.seed, len(self.stream) // 32)
        x = int.from_bytes(self.stream[self.position : self.position + 8], "big")
        self.position += 8
        return x

    def below(self, n: int) -> int:
        x = self.take()
        while x >= SPAN - (SPAN % n):
            x = self.take()
        return x % n


SpecSeat = tuple[str, str, str, str, str | None]


def spec_draw(
    seed: bytes, snapshot: tuple[PoolEntry, ...], request: DrawRequest, avoid: frozenset[str]
) -> tuple[list[SpecSeat], list[str]] | str:
    """(members, standby), or the specialty of the quota that can't be filled."""
    stream = SpecStream(seed)
    regions = {s.region for s in request.sites}
    pool = [
        e
        for e in snapshot
        if e.employer not in avoid
        and not any(r in avoid for r in e.relations)
        and e.region in regions
    ]
    free = {s.site: list(s.workstations) for s in request.sites}

    def site_of(e: PoolEntry) -> Site | None:
        return next((s for s in request.sites if s.region == e.region and free[s.site]), None)

    drawn: list[str] = []
    members: list[SpecSeat] = []
    for quota in request.quotas:
        for _ in range(quota.count):
            candidates = [
                e
                for e in pool
                if e.specialty == quota.specialty
                and e.expert not in drawn
                and site_of(e) is not None
            ]
            if not candidates:
                return quota.specialty
            chosen = candidates[stream.below(len(candidates))]
            where = site_of(chosen)
            assert where is not None
            station = free[where.site].pop(0)
            drawn.append(chosen.expert)
            members.append(
                (chosen.expert, chosen.specialty, where.site, station.id, station.address)
            )
    specialties = {q.specialty for q in request.quotas}
    standby: list[str] = []
    for _ in range(request.standby):
        candidates = [e for e in pool if e.specialty in specialties and e.expert not in drawn]
        if not candidates:
            break
        chosen = candidates[stream.below(len(candidates))]
        drawn.append(chosen.expert)
        standby.append(chosen.expert)
    return members, standby


def as_spec(committee: Committee) -> tuple[list[SpecSeat], list[str]]:
    members = [(s.expert, s.specialty, s.site, s.workstation, s.address) for s in committee.members]
    return members, list(committee.standby)


# Random draws.


@dataclass(frozen=True)
class Scenario:
    seed: bytes
    snapshot: tuple[PoolEntry, ...]
    request: DrawRequest
    avoid: frozenset[str]


@st.composite
def scenarios(pick: st.DrawFn) -> Scenario:
    """Mostly drawable: most experts live in a covered region and have no avoided tie."""
    sites = tuple(
        Site(
            "main" if j == 0 else f"sub-{j}",
            pick(st.sampled_from(REGIONS)),
            tuple(
                Workstation(f"W{j}-{k}", pick(st.none() | st.just(f"10.{j}.0.{k}")))
                for k in range(pick(st.integers(min_value=1, max_value=5)))
            ),
        )
        for j in range(pick(st.integers(min_value=1, max_value=3)))
    )
    regions = st.sampled_from([s.region for s in sites]) | st.sampled_from(REGIONS)
    organisations = st.sampled_from((*ORGANISATIONS, "戊公司", "己公司", ""))
    entries = [
        PoolEntry(
            f"e-{i:02d}",
            pick(st.sampled_from(SPECIALTIES)),
            pick(regions),
            pick(organisations),
            tuple(sorted(pick(st.sets(st.sampled_from(ORGANISATIONS), max_size=1)))),
        )
        for i in range(pick(st.integers(min_value=0, max_value=30)))
    ]
    wanted = pick(st.lists(st.sampled_from(SPECIALTIES), min_size=1, max_size=3, unique=True))
    quotas = tuple(Quota(s, pick(st.integers(min_value=1, max_value=2))) for s in wanted)
    request = DrawRequest(quotas, sites, pick(st.integers(min_value=0, max_value=4)))
    avoid = pick(st.frozensets(st.sampled_from(ORGANISATIONS[:2]), max_size=2))
    seed = pick(st.binary(min_size=32, max_size=32))
    shuffled = pick(st.permutations(entries))
    return Scenario(seed, snapshot_of(shuffled), request, avoid)


def try_draw(scenario: Scenario) -> Committee | DrawShortfall:
    try:
        return draw(scenario.seed, scenario.snapshot, scenario.request, scenario.avoid)
    except DrawShortfall as exc:
        return exc


# Pool entries and the snapshot.


def test_an_entry_splits_trims_and_sorts_its_relations() -> None:
    attributes = {
        "specialty": "建筑工程",
        "region": "广州",
        "employer": "甲公司",
        "relations": " 丙公司 ;乙公司;; 丁公司",
    }
    assert PoolEntry.of("e-01", attributes) == PoolEntry(
        "e-01", "建筑工程", "广州", "甲公司", ("丁公司", "丙公司", "乙公司")
    )
    assert list(PoolEntry.of("e-01", attributes).relations) == sorted(
        ["丙公司", "乙公司", "丁公司"]
    )


def test_an_entry_without_attributes_has_empty_fields_and_no_relations() -> None:
    assert PoolEntry.of("e-01", {}) == PoolEntry("e-01", "", "", "", ())
    assert PoolEntry.of("e-01", {"relations": " ; ;"}).relations == ()


def test_a_relation_named_twice_is_kept_once() -> None:
    # The spec says "split on ;, trimmed, sorted"; the code also drops repeats.
    assert PoolEntry.of("e-01", {"relations": "乙公司; 乙公司"}).relations == ("乙公司",)


def test_ties_are_the_employer_and_the_relations_never_the_empty_string() -> None:
    assert entry("e-01", employer="甲公司", relations=("乙公司",)).ties() == {"甲公司", "乙公司"}
    assert entry("e-01", employer="", relations=()).ties() == frozenset()


@settings(PROPERTY, max_examples=50)
@given(relations=st.lists(st.text(alphabet="甲乙丙 ab", max_size=4), max_size=5))
def test_relations_are_always_trimmed_sorted_and_non_empty(relations: list[str]) -> None:
    got = PoolEntry.of("e-01", {"relations": ";".join(relations)}).relations
    assert list(got) == sorted({r.strip() for r in relations} - {""})


def test_entries_requests_and_seats_survive_json() -> None:
    pool_entry = entry("e-01", relations=("乙公司", "丙公司"))
    assert PoolEntry.from_json(pool_entry.to_json()) == pool_entry
    request = DrawRequest(
        (Quota("建筑工程", 3), Quota("工程造价", 2)),
        (site("main", "广州", "M-01"), Site("sub-1", "深圳", (Workstation("S-01", None),))),
        2,
    )
    assert DrawRequest.from_json(request.to_json()) == request
    assert request.size == 5
    seat = Seat("e-01", "建筑工程", "main", "M-01", None)
    assert Seat.from_json(seat.to_json()) == seat


def test_the_snapshot_is_sorted_by_expert_id() -> None:
    entries = [entry("e-03"), entry("e-01"), entry("e-10"), entry("e-02")]
    assert [e.expert for e in snapshot_of(entries)] == ["e-01", "e-02", "e-03", "e-10"]


@settings(PROPERTY, max_examples=50)
@given(ids=st.lists(st.text(min_size=1, max_size=6), unique=True, max_size=10), data=st.data())
def test_the_snapshot_does_not_depend_on_the_enrolment_order(
    ids: list[str], data: st.DataObject
) -> None:
    entries = [entry(i) for i in ids]
    shuffled = data.draw(st.permutations(entries))
    assert snapshot_of(shuffled) == snapshot_of(entries)
    assert [e.expert for e in snapshot_of(entries)] == sorted(ids)
    assert snapshot_hash(snapshot_of(shuffled)) == snapshot_hash(snapshot_of(entries))


# Commitments.


def test_the_seed_hash_is_the_labelled_digest_of_the_seed() -> None:
    assert seed_hash(SEED) == spec_digest("draw-seed", SEED)
    assert seed_hash(SEED) == seed_hash(bytes(range(32)))
    assert seed_hash(SEED) != seed_hash(bytes(32))


def test_the_snapshot_hash_is_the_labelled_digest_of_the_canonical_snapshot() -> None:
    snapshot = (entry("e-01", relations=("乙公司",)), entry("e-02", employer="", region="深圳"))
    jcs = (
        '[{"employer":"甲公司","expert":"e-01","region":"广州","relations":["乙公司"],'
        '"specialty":"建筑工程"},'
        '{"employer":"","expert":"e-02","region":"深圳","relations":[],"specialty":"建筑工程"}]'
    )
    assert snapshot_hash(snapshot) == spec_digest("draw-pool", jcs.encode())
    assert snapshot_hash(list(snapshot)) == snapshot_hash(snapshot)


def test_the_snapshot_hash_changes_with_any_field_or_the_order() -> None:
    base = (entry("e-01"), entry("e-02"))
    changed = [
        (entry("e-01", specialty="工程造价"), entry("e-02")),
        (entry("e-01", region="深圳"), entry("e-02")),
        (entry("e-01", employer="乙公司"), entry("e-02")),
        (entry("e-01", relations=("乙公司",)), entry("e-02")),
        (entry("e-01"), entry("e-03")),
        (entry("e-02"), entry("e-01")),
        (entry("e-01"),),
    ]
    hashes = {snapshot_hash(s) for s in changed}
    assert snapshot_hash(base) not in hashes
    assert len(hashes) == len(changed)


# The random stream.


def test_the_first_word_is_the_start_of_block_zero() -> None:
    # below(2^64) throws nothing away, so it shows the raw stream.
    block0 = hashlib.sha256(b"bidroom draw v1\x00" + SEED + bytes(8)).digest()
    stream = DrawStream(SEED)
    assert [stream.below(SPAN) for _ in range(4)] == [
        int.from_bytes(block0[i : i + 8], "big") for i in range(0, 32, 8)
    ]
    block1 = hashlib.sha256(b"bidroom draw v1\x00" + SEED + (1).to_bytes(8, "big")).digest()
    assert stream.below(SPAN) == int.from_bytes(block1[:8], "big")


def test_a_word_past_the_last_multiple_of_n_is_thrown_away() -> None:
    n = 2**63 + 1  # 2^64 mod n = 2^63 - 1, so the limit is n itself: about half the words fail
    seed = next(s for s in (bytes([k]) * 32 for k in range(256)) if SpecStream(s).take() >= n)
    words = SpecStream(seed)
    first = words.take()
    accepted = words.take()
    while accepted >= n:
        accepted = words.take()
    stream = DrawStream(seed)
    assert stream.below(n) == accepted
    assert accepted != first % n


def test_a_bound_of_one_always_gives_zero() -> None:
    stream = DrawStream(SEED)
    assert [stream.below(1) for _ in range(10)] == [0] * 10


@pytest.mark.parametrize("n", [0, -1])
def test_a_bound_below_one_is_refused(n: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        DrawStream(SEED).below(n)


@settings(PROPERTY, max_examples=100)
@given(
    seed=st.binary(min_size=32, max_size=32),
    bounds=st.lists(
        st.integers(min_value=1, max_value=40)
        | st.integers(min_value=2**63 - 5, max_value=2**63 + 5)
        | st.integers(min_value=1, max_value=SPAN),
        min_size=1,
        max_size=30,
    ),
)
def test_the_stream_matches_the_spec(seed: bytes, bounds: list[int]) -> None:
    stream, spec = DrawStream(seed), SpecStream(seed)
    got = [stream.below(n) for n in bounds]
    assert got == [spec.below(n) for n in bounds]
    assert all(0 <= v < n for v, n in zip(got, bounds, strict=True))


@settings(PROPERTY, max_examples=30)
@given(seed=st.binary(min_size=0, max_size=40), n=st.integers(min_value=1, max_value=1000))
def test_the_same_seed_gives_the_same_sequence(seed: bytes, n: int) -> None:
    first, second = DrawStream(seed), DrawStream(seed)
    assert [first.below(n) for _ in range(20)] == [second.below(n) for _ in range(20)]


@pytest.mark.parametrize("n", [3, 6, 7])
def test_every_value_comes_up_about_equally_often(n: int) -> None:
    # Deterministic: a fixed seed; a fair stream lands well within 10% of the expectation.
    stream = DrawStream(SEED)
    counts = Counter(stream.below(n) for _ in range(1000 * n))
    assert set(counts) == set(range(n))
    assert all(900 <= c <= 1100 for c in counts.values())


# Eligibility.

REQUEST = DrawRequest(
    (Quota("建筑工程", 2),),
    (site("main", "广州", "M-01", "M-02"), site("sub-1", "深圳", "S-01")),
    1,
)


def test_an_expert_employed_by_an_avoided_organisation_is_not_eligible() -> None:
    assert not eligible(entry("e-01", employer="甲公司"), frozenset({"甲公司"}), REQUEST)


def test_an_expert_related_to_an_avoided_organisation_is_not_eligible() -> None:
    tied = entry("e-01", employer="丁公司", relations=("乙公司", "丙公司"))
    assert not eligible(tied, frozenset({"丙公司"}), REQUEST)


def test_an_expert_from_a_region_without_a_site_is_not_eligible() -> None:
    assert not eligible(entry("e-01", region="佛山"), frozenset(), REQUEST)


def test_an_expert_without_ties_from_a_covered_region_is_eligible() -> None:
    free = entry("e-01", region="深圳", employer="丁公司", relations=("丙公司",))
    assert eligible(free, frozenset({"甲公司", "乙公司"}), REQUEST)
    assert eligible(entry("e-02", employer=""), frozenset({"甲公司"}), REQUEST)


# The draw.


def pool(
    count: int, specialty: str = "建筑工程", region: str = "广州", start: int = 0
) -> list[PoolEntry]:
    return [entry(f"e-{i:02d}", specialty, region, f"org-{i}") for i in range(start, start + count)]


def test_the_draw_is_the_same_for_the_same_seed() -> None:
    snapshot = snapshot_of(pool(8) + pool(6, "工程造价", "深圳", start=8))
    request = DrawRequest(
        (Quota("建筑工程", 3), Quota("工程造价", 2)),
        (site("main", "广州", "M-01", "M-02", "M-03"), site("sub-1", "深圳", "S-01", "S-02")),
        2,
    )
    first = draw(SEED, snapshot, request, ["甲公司"])
    assert draw(SEED, snapshot, request, ["甲公司"]) == first
    assert as_spec(first) == spec_draw(SEED, snapshot, request, frozenset({"甲公司"}))
    committees = {draw(bytes([k]) * 32, snapshot, request, []) for k in range(10)}
    assert len(committees) > 1


def test_quotas_are_filled_by_specialty_and_seated_by_region() -> None:
    snapshot = snapshot_of(pool(8) + pool(6, "工程造价", "深圳", start=8))
    request = DrawRequest(
        (Quota("建筑工程", 3), Quota("工程造价", 2)),
        (site("main", "广州", "M-01", "M-02", "M-03"), site("sub-1", "深圳", "S-01", "S-02")),
        2,
    )
    committee = draw(SEED, snapshot, request, [])
    assert [(s.specialty, s.site, s.workstation) for s in committee.members] == [
        ("建筑工程", "main", "M-01"),
        ("建筑工程", "main", "M-02"),
        ("建筑工程", "main", "M-03"),
        ("工程造价", "sub-1", "S-01"),
        ("工程造价", "sub-1", "S-02"),
    ]
    assert committee.members[0].address == "10.0.0.0"
    assert len(committee.standby) == 2


def test_sites_are_filled_in_request_order_within_a_region() -> None:
    request = DrawRequest(
        (Quota("建筑工程", 3),),
        (site("main", "广州", "M-01"), site("sub-1", "广州", "S-01", "S-02")),
        0,
    )
    committee = draw(SEED, snapshot_of(pool(5)), request, [])
    assert [(s.site, s.workstation) for s in committee.members] == [
        ("main", "M-01"),
        ("sub-1", "S-01"),
        ("sub-1", "S-02"),
    ]


def test_a_quota_with_too_few_eligible_experts_is_a_shortfall() -> None:
    snapshot = snapshot_of([*pool(3), entry("e-09", employer="乙公司")])
    request = DrawRequest((Quota("建筑工程", 4),), (site("main", "广州", *"ABCDE"),), 0)
    with pytest.raises(DrawShortfall, match="建筑工程") as caught:
        draw(SEED, snapshot, request, ["乙公司"])
    assert caught.value.specialty == "建筑工程"
    assert isinstance(caught.value, ValueError)


def test_a_quota_without_free_workstations_in_its_regions_is_a_shortfall() -> None:
    snapshot = snapshot_of(pool(3) + pool(3, "工程造价", "深圳", start=3))
    request = DrawRequest(
        (Quota("建筑工程", 1), Quota("工程造价", 2)),
        (site("main", "广州", "M-01", "M-02"), site("sub-1", "深圳", "S-01")),
        0,
    )
    with pytest.raises(DrawShortfall) as caught:
        draw(SEED, snapshot, request, [])
    assert caught.value.specialty == "工程造价"


def test_a_quota_of_a_specialty_nobody_has_is_a_shortfall() -> None:
    request = DrawRequest((Quota("安装工程", 1),), (site("main", "广州", "M-01"),), 0)
    with pytest.raises(DrawShortfall) as caught:
        draw(SEED, snapshot_of(pool(5)), request, [])
    assert caught.value.specialty == "安装工程"


def test_the_standby_list_stops_when_the_pool_runs_out() -> None:
    snapshot = snapshot_of([*pool(4), entry("e-08", specialty="安装工程")])
    request = DrawRequest(
        (Quota("建筑工程", 3),), (site("main", "广州", "M-01", "M-02", "M-03"),), 5
    )
    committee = draw(SEED, snapshot, request, [])
    drawn = {s.expert for s in committee.members}
    assert committee.standby == tuple(e.expert for e in snapshot[:4] if e.expert not in drawn)


def test_standby_experts_need_no_free_workstation() -> None:
    # Everyone in 深圳 is eligible for standby although 深圳's only workstation is taken.
    snapshot = snapshot_of(pool(3, region="深圳"))
    request = DrawRequest((Quota("建筑工程", 1),), (site("sub-1", "深圳", "S-01"),), 2)
    committee = draw(SEED, snapshot, request, [])
    assert len(committee.standby) == 2
    assert {committee.members[0].expert, *committee.standby} == {e.expert for e in snapshot}


@settings(PROPERTY, max_examples=100)
@given(scenario=scenarios())
def test_the_draw_matches_the_spec(scenario: Scenario) -> None:
    got = try_draw(scenario)
    want = spec_draw(scenario.seed, scenario.snapshot, scenario.request, scenario.avoid)
    if isinstance(got, DrawShortfall):
        assert want == got.specialty
    else:
        assert as_spec(got) == want


@settings(PROPERTY, max_examples=100)
@given(scenario=scenarios())
def test_a_drawn_committee_keeps_every_rule(scenario: Scenario) -> None:
    committee = try_draw(scenario)
    request, avoid = scenario.request, scenario.avoid
    entries = {e.expert: e for e in scenario.snapshot}
    covered = {s.region for s in request.sites}
    usable = [e for e in scenario.snapshot if e.region in covered and not e.ties() & avoid]
    if isinstance(committee, DrawShortfall):
        # A shortfall is only ever claimed for one of the quotas.
        assert committee.specialty in {q.specialty for q in request.quotas}
        return
    assert committee == draw(scenario.seed, scenario.snapshot, request, scenario.avoid)
    # Quotas filled by specialty, nobody twice.
    assert Counter(s.specialty for s in committee.members) == Counter(
        {q.specialty: q.count for q in request.quotas}
    )
    members = [s.expert for s in committee.members]
    assert len(set(members)) == len(members) == request.size
    # Seated at a site of the expert's region, each at a workstation of its own.
    sites = {s.site: s for s in request.sites}
    for seat in committee.members:
        pool_entry = entries[seat.expert]
        assert seat.specialty == pool_entry.specialty
        assert sites[seat.site].region == pool_entry.region
        station = next(w for w in sites[seat.site].workstations if w.id == seat.workstation)
        assert seat.address == station.address
    stations = [s.workstation for s in committee.members]
    assert len(set(stations)) == len(stations)
    # Nobody tied to an avoided organisation, nobody from an uncovered region.
    for expert in (*members, *committee.standby):
        assert not entries[expert].ties() & avoid
        assert entries[expert].region in covered
    # Standby: distinct, not members, of the quotas' specialties, as many as the pool allows.
    specialties = {q.specialty for q in request.quotas}
    assert len(set(committee.standby)) == len(committee.standby)
    assert not set(committee.standby) & set(members)
    assert all(entries[e].specialty in specialties for e in committee.standby)
    spare = [e for e in usable if e.specialty in specialties and e.expert not in members]
    assert len(committee.standby) == min(request.standby, len(spare))


@settings(PROPERTY, max_examples=80)
@given(scenario=scenarios())
def test_a_quota_beyond_the_eligible_experts_or_workstations_is_a_shortfall(
    scenario: Scenario,
) -> None:
    request, avoid = scenario.request, scenario.avoid
    covered = {s.region for s in request.sites}
    usable = [e for e in scenario.snapshot if e.region in covered and not e.ties() & avoid]
    short = [q for q in request.quotas if sum(e.specialty == q.specialty for e in usable) < q.count]
    stations = sum(len(s.workstations) for s in request.sites)
    if short or stations < request.size:
        with pytest.raises(DrawShortfall):
            draw(scenario.seed, scenario.snapshot, request, avoid)


# Replacement.

SITES = (site("main", "广州", "M-01", "M-02"), site("sub-1", "深圳", "S-01"))
MEMBERS = (
    Seat("m-1", "建筑工程", "main", "M-01", "10.0.0.0"),
    Seat("m-2", "工程造价", "main", "M-02", "10.0.0.1"),
    Seat("m-3", "建筑工程", "sub-1", "S-01", "10.0.0.0"),
)
SNAPSHOT = snapshot_of(
    [
        entry("m-1"),
        entry("m-2", specialty="工程造价"),
        entry("m-3", region="深圳"),
        entry("s-cost", specialty="工程造价"),
        entry("s-shenzhen", region="深圳"),
        entry("s-guangzhou"),
        entry("s-later"),
    ]
)
SPLIT = DrawRequest((Quota("建筑工程", 2), Quota("工程造价", 1)), SITES, 4)


def test_a_replacement_takes_the_freed_workstation() -> None:
    snapshot = snapshot_of(pool(6))
    request = DrawRequest(
        (Quota("建筑工程", 3),), (site("main", "广州", "M-01", "M-02", "M-03"),), 2
    )
    committee = draw(SEED, snapshot, request, [])
    leaving = committee.members[1]
    seat = replacement(snapshot, request, committee.members, committee.standby, leaving.expert)
    assert seat == Seat(
        committee.standby[0], "建筑工程", "main", leaving.workstation, leaving.address
    )


def test_a_replacement_skips_other_specialties_and_standby_without_a_free_site() -> None:
    standby = ("s-cost", "s-shenzhen", "s-guangzhou", "s-later")
    seat = replacement(SNAPSHOT, SPLIT, MEMBERS, standby, "m-1")
    assert seat == Seat("s-guangzhou", "建筑工程", "main", "M-01", "10.0.0.0")


def test_a_replacement_may_sit_at_another_site_than_the_one_freed() -> None:
    # m-3 leaves 深圳's workstation; the first fitting standby is from 广州, where a spare waits.
    sites = (site("main", "广州", "M-01", "M-02", "M-03"), site("sub-1", "深圳", "S-01"))
    request = DrawRequest(SPLIT.quotas, sites, 4)
    seat = replacement(SNAPSHOT, request, MEMBERS, ("s-guangzhou", "s-shenzhen"), "m-3")
    assert seat == Seat("s-guangzhou", "建筑工程", "main", "M-03", "10.0.0.2")


def test_a_standby_missing_from_the_snapshot_is_skipped() -> None:
    seat = replacement(SNAPSHOT, SPLIT, MEMBERS, ("nobody", "s-guangzhou"), "m-1")
    assert seat.expert == "s-guangzhou"


def test_replacing_someone_who_is_not_a_member_is_refused() -> None:
    with pytest.raises(ValueError, match="not a member") as caught:
        replacement(SNAPSHOT, SPLIT, MEMBERS, ("s-guangzhou",), "s-later")
    assert not isinstance(caught.value, DrawShortfall)


def test_no_fitting_standby_is_a_shortfall() -> None:
    with pytest.raises(DrawShortfall, match="建筑工程") as caught:
        replacement(SNAPSHOT, SPLIT, MEMBERS, ("s-cost", "s-shenzhen"), "m-1")
    assert caught.value.specialty == "建筑工程"
    with pytest.raises(DrawShortfall) as empty:
        replacement(SNAPSHOT, SPLIT, MEMBERS, (), "m-2")
    assert empty.value.specialty == "工程造价"


@settings(PROPERTY, max_examples=80)
@given(scenario=scenarios(), data=st.data())
def test_a_replacement_follows_the_spec(scenario: Scenario, data: st.DataObject) -> None:
    committee = try_draw(scenario)
    if isinstance(committee, DrawShortfall):
        return
    request = scenario.request
    leaving = data.draw(st.sampled_from(committee.members))
    others = [s for s in committee.members if s.expert != leaving.expert]
    taken = {s.workstation for s in others}
    free = {s.site: [w for w in s.workstations if w.id not in taken] for s in request.sites}
    entries = {e.expert: e for e in scenario.snapshot}
    expected: Seat | None = None
    for expert in committee.standby:
        candidate = entries[expert]
        where = next(
            (s for s in request.sites if s.region == candidate.region and free[s.site]), None
        )
        if candidate.specialty == leaving.specialty and where is not None:
            station = free[where.site][0]
            expected = Seat(expert, candidate.specialty, where.site, station.id, station.address)
            break
    args = (scenario.snapshot, request, committee.members, committee.standby, leaving.expert)
    if expected is None:
        with pytest.raises(DrawShortfall) as caught:
            replacement(*args)
        assert caught.value.specialty == leaving.specialty
        return
    seat = replacement(*args)
    assert seat == expected
    assert seat.workstation not in taken
    assert seat.expert not in {s.expert for s in committee.members}
