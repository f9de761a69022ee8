"""Views as typed values: their JSON, the schema made from their types, and the `seq` they carry."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, cast

import pytest
from jsonschema import Draft202012Validator

from server.domain.events import CommandRejected
from server.domain.spec import TenderSpec
from server.domain.tender import Tender
from server.service.ledger import Ledger, Origin
from server.service.node import CONSOLE, aggregate_for
from server.service.schema import FLATTEN, OPTIONAL, JsonObject, View, json_schema
from server.service.views import CATALOGUE
from server.storage.memory import MemoryEventStore
from tests.conftest import ManualClock, tender_spec

if TYPE_CHECKING:
    from recordings.audit import AuditRecord


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True, slots=True)
class Inner(View):
    """Counts, spread into the outer view."""

    name: str
    items: int


@dataclass(frozen=True, slots=True)
class Outer(View):
    inner: Inner = field(metadata=FLATTEN)
    items: list[str]  # takes the inner view's key over
    colour: Colour
    pairs: tuple[int, ...]
    kind: Literal["a", "b"]
    table: dict[str, float]
    anything: Any
    nested: Inner | None
    others: list[Inner]
    document: JsonObject
    note: str | None = field(default=None, metadata=OPTIONAL)


def outer(note: str | None) -> Outer:
    return Outer(
        Inner("x", 2), ["a"], Colour.RED, (1, 2), "a", {"k": 1.5}, [None], Inner("y", 3), [],
        MappingProxyType({"read": "only"}), note,
    )  # fmt: skip


def test_to_json_flattens_overrides_and_leaves_out_what_is_optional() -> None:
    assert outer(None).to_json() == {
        "name": "x", "items": ["a"], "colour": "red", "pairs": [1, 2], "kind": "a",
        "table": {"k": 1.5}, "anything": [None], "nested": {"name": "y", "items": 3},
        "others": [], "document": {"read": "only"},
    }  # fmt: skip
    assert outer("n").to_json()["note"] == "n"


def test_the_schema_follows_the_types() -> None:
    schema = json_schema(Outer)
    assert schema["required"] == [
        "name", "items", "colour", "pairs", "kind", "table", "anything", "nested", "others",
        "document",
    ]  # fmt: skip
    properties = schema["properties"]
    assert properties["items"] == {"type": "array", "items": {"type": "string"}}
    assert properties["colour"] == {"enum": ["red", "blue"]}
    assert properties["note"] == {"type": "string"}
    assert properties["anything"] == {}
    assert schema["$defs"]["Inner"]["description"] == "Counts, spread into the outer view."
    validator = Draft202012Validator(schema)
    for note in (None, "n"):
        validator.validate(outer(note).to_json())
    assert not validator.is_valid(outer(None).to_json() | {"items": 2})
    assert not validator.is_valid(outer(None).to_json() | {"extra": 1})


def test_a_type_the_generator_does_not_know_is_refused() -> None:
    @dataclass(frozen=True)
    class Odd(View):
        keys: set[str]

    @dataclass(frozen=True)
    class Deep(View):
        by_name: dict[str, Inner]  # dict values are written as they are: no views in them

    for odd in (Odd, Deep):
        with pytest.raises(TypeError, match="can't be typed"):
            json_schema(odd)


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_every_published_schema_is_a_valid_schema(name: str) -> None:
    Draft202012Validator.check_schema(json_schema(CATALOGUE[name]))


class GatedStore(MemoryEventStore):
    """Reads wait until the gate opens, so a test can line loads up behind each other."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def read(self, stream: str, after_seq: int = 0, limit: int = 1000) -> list[AuditRecord]:
        await self.gate.wait()
        return await super().read(stream, after_seq, limit)


async def test_a_view_reads_state_and_seq_together(clock: ManualClock) -> None:
    store = GatedStore()
    store.gate.set()
    ledger = Ledger(store, clock, aggregate_for)
    await ledger.load("t-1")
    spec = TenderSpec.parse(tender_spec(clock.now()))
    await ledger.emit("t-1", Origin.of(CONSOLE), Tender.create(spec, "p-host"))
    ledger.forget("t-1")
    store.gate.clear()
    note = CommandRejected("test", "Note", "decided while a view loads")
    # A command starts loading the tender; a view waits for that load; then the read goes on.
    # The command decides and emits the moment the load is done, before the view resumes:
    # the view must not take that state with the head of a commit still in flight.
    command = asyncio.create_task(ledger.execute("t-1", Origin.of(CONSOLE), lambda _: [note]))
    view = asyncio.create_task(ledger.settled_at("t-1"))

    async def open_gate() -> None:  # runs once both tasks above wait
        store.gate.set()

    await asyncio.create_task(open_gate())
    await command
    tender, seq = await view
    assert seq == (await store.head("t-1")).seq == 2
    assert cast("Tender", tender).state is not None
