"""The OpenAPI document (`GET /api/openapi.json`): it describes exactly the app's routes, it is
valid OpenAPI 3.1, its body examples pass the node's own parsers, and a fuzz of the API drawn from
it, by a logged-in participant of each role, never gets a 5xx or an error the schema can't read."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings as hypothesis_settings, strategies as st
from hypothesis.errors import Unsatisfiable
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from schemathesis import GenerationMode
from schemathesis.core import NotSet

from server.app import create_app
from server.config import Settings
from server.domain.access import Role
from server.service.bodies import BODIES
from server.transport.api_operations import OPERATIONS, ZH_SUMMARIES
from server.transport.openapi import PATH, UndescribedRoute, document

if TYPE_CHECKING:
    from pathlib import Path

    from aiohttp import ClientResponse, web
    from schemathesis import Case

    from tests.conftest import Harness, Person
    from tests.server.transport.evaluation_world import Evaluation

JSON = "application/json"
DRAWN = 6  # requests drawn per operation with a body (a quarter for the others), and
# about half as many that break its schemas: the whole fuzz stays under 10 s


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No refusal limit: the fuzz is refused many times on purpose, and must reach the handlers."""
    return Settings(data_dir=tmp_path / "node", port=0, max_refusals_per_minute=1_000_000)


def _router(harness: Harness) -> web.UrlDispatcher:
    router: web.UrlDispatcher = harness.client.app.router
    return router


def _operations(doc: dict[str, Any]) -> set[str]:
    return {f"{method.upper()} {path}" for path, item in doc["paths"].items() for method in item}


async def test_every_route_is_in_the_document_and_nothing_else(harness: Harness) -> None:
    routes = {(r.method, r.resource.canonical) for r in _router(harness).routes() if r.resource}
    gets = {path for method, path in routes if method == "GET"}
    assert {path for method, path in routes if method == "HEAD"} <= gets
    expected = {f"{method} {path}" for method, path in routes if method != "HEAD"}
    doc = document(_router(harness))
    assert _operations(doc) == expected
    assert set(OPERATIONS) == expected  # no description of a route that is gone
    assert set(ZH_SUMMARIES) == expected  # Chinese first, for every route
    assert len(expected) > 60


def test_a_route_without_a_description_fails_the_document(settings: Settings) -> None:
    app = create_app(settings)  # not started: its router still takes routes

    async def handler(request: web.Request) -> web.Response:  # pragma: no cover
        raise NotImplementedError

    document(app.router)
    app.router.add_get("/api/undescribed", handler)
    with pytest.raises(UndescribedRoute, match="GET /api/undescribed"):
        document(app.router)


async def test_the_document_is_valid_openapi_3_1_and_served_publicly(harness: Harness) -> None:
    response = await harness.client.get(PATH)
    assert response.status == 200
    served = await response.json()
    OpenAPIV31SpecValidator(served).validate()
    assert served == json.loads(json.dumps(document(_router(harness))))
    assert served["openapi"] == "3.1.0"
    views = served["components"]["schemas"]
    assert {"TenderView", "OpeningView", "RoomView", "ResultView", "Error"} <= set(views)


async def test_token_routes_are_marked_and_refuse_without_one(harness: Harness) -> None:
    doc = document(_router(harness))
    public = set()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            url = _fill(path, {})
            response = await harness.client.request(method, url)
            if operation.get("security") == []:
                public.add(f"{method.upper()} {path}")
                assert response.status != 401, (method, path)
            else:
                assert response.status == 401, (method, path)
    assert "GET /api/node" in public
    assert "POST /api/auth/login" in public
    assert "POST /api/tenders" not in public
    assert len(public) < 20


@pytest.mark.parametrize("name", sorted(BODIES))
def test_body_examples_match_their_schema_and_pass_their_parser(name: str) -> None:
    body = BODIES[name]
    validator = Draft202012Validator(dict(body.schema))
    Draft202012Validator.check_schema(dict(body.schema))
    assert body.examples
    for example in body.examples:
        validator.validate(example)
        body.parse(example)  # raises InvalidFields if the schema promised too much


def test_a_body_the_schema_refuses_is_refused_by_the_parser_too() -> None:
    """Dropping a required member: both the schema and the parser say no (no silent extra)."""
    for name, body in BODIES.items():
        example = dict(body.examples[0])
        for member in body.schema.get("required", []):
            short = {k: v for k, v in example.items() if k != member}
            assert not Draft202012Validator(dict(body.schema)).is_valid(short), (name, member)
            with pytest.raises(ValueError, match="required"):
                body.parse(short)


def _draw(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """`count` values of `strategy`, the same on every run (derandomized, no database)."""
    drawn: list[Any] = []

    @hypothesis_settings(
        max_examples=count, derandomize=True, database=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck), deadline=None,
    )  # fmt: skip
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn[:count]


def _fill(path: str, values: dict[str, str]) -> str:
    defaults = {"box": "bid-box", "page": "hall", "view": "tender", "name": "L1/a.webm",
                "path": "css/app.css"}  # fmt: skip
    for name in ("tender", "lot", "upload", "bidder", "objection", "clarification", *defaults):
        path = path.replace(f"{{{name}}}", values.get(name, defaults.get(name, "x1")))
    return path


async def test_fuzz_from_the_document_gets_no_5xx(harness: Harness) -> None:
    people = [await harness.person(role, role.value) for role in Role if role is not Role.NODE]
    host = next(p for p in people if p.participant.role is Role.HOST)
    bidder = next(p for p in people if p.participant.role is Role.BIDDER)
    tender = await harness.tender(host)
    await harness.post_ok(f"/api/tenders/{tender}/publish", person=host)
    harness.clock.advance(3601)  # bidding is open: uploads start
    await harness.node.scheduler.tick()
    for person in people:
        await harness.login(person)
    announce = BODIES["Announce"].examples[0]
    upload = await harness.post_ok(f"/api/tenders/{tender}/lots/L1/uploads", announce, bidder)
    values = {"tender": tender, "lot": "L1", "bidder": bidder.id, "upload": upload["upload"]}
    fuzz = Fuzz(harness, people, values)
    await fuzz.run()
    assert fuzz.sent > 600
    assert fuzz.statuses >= {200, 201, 400, 401, 403, 404, 422}


async def test_fuzz_in_the_evaluation_gets_no_5xx(evaluation: Evaluation) -> None:
    """The same, once the opening is closed and the lot's committee is drawn and sitting."""
    harness, world = evaluation.harness, evaluation.world
    await evaluation.draw()
    await evaluation.start()
    member = evaluation.experts[(await evaluation.members())[0]]
    people = [
        await harness.login(person)
        for person in (world.host, evaluation.supervisor, world.bidders[0].person, member)
    ]
    people += [await harness.person(Role.ADMIN, "admin"), harness.custodians[0]]
    values = {"tender": world.tender, "lot": "L1", "bidder": world.bidders[0].id}
    fuzz = Fuzz(harness, people, values, drawn=DRAWN // 2)
    await fuzz.run()
    assert fuzz.statuses >= {200, 400, 403, 404, 409, 422}


class Fuzz:
    """Every operation of the document, by everyone, then with requests schemathesis draws from
    it: valid ones (by a role the operation allows) and ones that break its schemas.

    Each answer must be below 500; an error must match the error schema; a success must be a
    status the operation declares, and a JSON success must match the schema it declares.
    """

    def __init__(
        self, harness: Harness, people: list[Person], values: dict[str, str], *,
        drawn: int = DRAWN,
    ) -> None:  # fmt: skip
        self.harness, self.people, self.values, self.drawn = harness, people, values, drawn
        self.doc = document(_router(harness))
        self.api = schemathesis.openapi.from_dict(self.doc)
        self.sent = 0
        self.statuses: set[int] = set()

    async def run(self) -> None:
        for path, item in sorted(self.doc["paths"].items(), key=_last_the_ends):
            for method, operation in sorted(item.items(), key=_deletes_last):
                if path != "/ws":  # the live channel's upgrade is tested in test_ws.py
                    await self._operation(method, path, operation)

    async def _operation(self, method: str, path: str, operation: dict[str, Any]) -> None:
        first = _first_body(operation)
        allowed = []
        for person in [None, *self.people]:
            url = _fill(path, self.values)
            status = await self._send(operation, method, url, person, first, {})
            if status not in (401, 403):
                allowed.append(person)
        chosen = allowed or self.people
        for i, case in enumerate(self._cases(method, path, operation)):
            params = self.values if i % 4 else {k: str(v) for k, v in case.path_parameters.items()}
            url = _fill(path, {k: quote(v, safe="") for k, v in params.items()})
            body = None if isinstance(case.body, NotSet) else case.body
            body = body.encode() if isinstance(body, str) and case.media_type != JSON else body
            query = dict(case.query or {})
            await self._send(operation, method, url, chosen[i % len(chosen)], body, query)

    def _cases(self, method: str, path: str, operation: dict[str, Any]) -> list[Case[Any]]:
        api = self.api[path][method.upper()]
        count = self.drawn if "requestBody" in operation else max(1, self.drawn // 4)
        cases = _draw(api.as_strategy(), count)
        try:
            cases += _draw(api.as_strategy(GenerationMode.NEGATIVE), count // 2 + 1)
        except Unsatisfiable:  # nothing in the operation's schemas can be broken
            assert "requestBody" not in operation, (method, path)
        return cases

    async def _send(
        self, operation: dict[str, Any], method: str, url: str, person: Person | None,
        body: Any, query: dict[str, Any],
    ) -> int:  # fmt: skip
        response = await _request(self.harness, method, url, person, body, query)
        raw = await response.read()
        status, where = response.status, (method, url, raw[:300])
        self.sent += 1
        self.statuses.add(status)
        assert status < 500, where
        if status >= 400:
            assert response.content_type == "application/json", where
            self._validate(operation["responses"]["default"], json.loads(raw), where)
            return status
        declared = operation["responses"].get(str(status))
        assert declared is not None, where
        if response.content_type == "application/json":
            self._validate(declared, json.loads(raw), where)
        return status

    def _validate(self, declared: dict[str, Any], answer: Any, where: object) -> None:
        schema = declared["content"]["application/json"]["schema"]
        root = {"allOf": [schema], "components": self.doc["components"]}
        errors = [e.message for e in Draft202012Validator(root).iter_errors(answer)]
        assert errors == [], (where, errors[:3])


def _last_the_ends(item: tuple[str, Any]) -> tuple[bool, str]:
    """Cancelling the tender or closing the opening last: the other routes see it open."""
    return item[0].endswith(("/cancel", "/close")), item[0]


def _deletes_last(item: tuple[str, Any]) -> tuple[bool, str]:
    return item[0] == "delete", item[0]


def _first_body(operation: dict[str, Any]) -> Any:
    """The first example of the operation's body (none if it takes none)."""
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return BODIES[content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]].examples[0]
    if "application/octet-stream" in content:
        return b"\x00sealed"
    return None


async def _request(
    harness: Harness, method: str, url: str, person: Person | None, body: Any,
    query: dict[str, Any],
) -> ClientResponse:  # fmt: skip
    headers = person.headers if person else {}
    params = {k: str(v) for k, v in query.items()}
    if isinstance(body, bytes):
        headers = headers | {"Content-Type": "application/octet-stream"}
        params.setdefault("offset", "0")
        return await harness.client.request(method, url, data=body, headers=headers, params=params)
    return await harness.client.request(method, url, json=body, headers=headers, params=params)
