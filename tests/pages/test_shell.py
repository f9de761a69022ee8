"""What every page stands on, in a real Chromium: the pages and files the node serves and
their headers, the catalogue, canonical JSON and signatures made in the page, login with a key
file, the visitor, and the live channel that resumes after a drop without a gap or a repeat."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import Page, expect

from crypto import SigningKey, b64url_decode, canonical_json, verify
from server.domain import errors as domain_errors
from server.domain.access import Role
from server.errors import ServerError
from server.transport import pages
from server.transport.app_keys import connections_key
from server.transport.ws import Connection
from tests.crypto.test_canonical import NUMBER_SAMPLES

if TYPE_CHECKING:
    from tests.conftest import Harness
    from tests.pages.conftest import Web

WEB = pages.WEB_ROOT
TENDER = "t-20261121-0123456789ab"

# A page of the tests' own, served at the node's origin under the node's policy, that builds
# the shared frame and exposes the shared modules to the test.
SHELL_HTML = """<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/css/app.css">
<script type="module" src="/__shell__.js"></script></head><body><main></main></body></html>"""
SHELL_JS = """
import { startPage, setLiveStatus } from "/static/js/lib/shell.js";
import { Live } from "/static/js/lib/live.js";
import * as session from "/static/js/lib/session.js";
import { canonicalize } from "/static/js/lib/jcs.js";
window.statuses = [];
window.received = [];
window.lib = { session, canonicalize };
document.body.dataset.ready = "frame";
window.session = await startPage({ page: null, titleKey: "nav.home",
                                   roles: ["host", "supervisor", "public"] });
window.live = new Live({ onStatus: (s) => { window.statuses.push(s); setLiveStatus(s); } });
document.body.dataset.ready = "session";
"""


@pytest.fixture
def chromium_flags() -> list[str]:
    """The shell page is fulfilled by the test, not fetched: Chromium can't tell its address
    space, takes it for a public one, and would refuse it the node's loopback socket (Local
    Network Access). Pages the node serves itself are its own origin and need no such flag."""
    return ["--disable-features=WebRtcHideLocalIpsWithMdns,LocalNetworkAccessChecks"]


async def open_shell(web: Web) -> Page:
    page = await web.page()
    headers = {"Content-Security-Policy": pages.CONTENT_SECURITY_POLICY}
    await page.route(
        web.url("/__shell__"),
        lambda route: route.fulfill(body=SHELL_HTML, content_type="text/html", headers=headers),
    )
    await page.route(
        web.url("/__shell__.js"),
        lambda route: route.fulfill(body=SHELL_JS, content_type="text/javascript"),
    )
    await page.goto(web.url("/__shell__"))
    await expect(page.locator("body")).to_have_attribute("data-ready", "frame")
    return page


# Served pages and files.


@pytest.mark.parametrize(
    "path", ["/", "/hall/" + TENDER, "/host", "/host/" + TENDER, "/expert", "/supervisor",
             "/supervisor/" + TENDER, "/admin"],
)  # fmt: skip
async def test_every_page_is_served_under_a_strict_policy(harness: Harness, path: str) -> None:
    response = await harness.client.get(path)
    assert response.status == 200
    assert response.content_type == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    text = await response.text()
    assert "<script>" not in text  # no inline script: every script is a file
    assert " style=" not in text


async def test_static_files_are_typed_and_nothing_else_is_served(harness: Harness) -> None:
    module = await harness.client.get("/static/js/lib/jcs.js")
    assert module.status == 200
    assert module.content_type == "text/javascript"
    assert "Content-Security-Policy" in module.headers
    for path in [
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/js/lib/missing.js",
        "/static/.hidden.js",
        "/static/index.py",
        "/hall/not-a-tender",
        "/static/js//lib/jcs.js",
    ]:
        response = await harness.client.get(path)
        assert response.status == 404, path
        assert (await response.json())["error"]["code"] == "not_found"


# The catalogue: one per page, both languages, every key the pages use.


def catalogues() -> dict[str, dict[str, dict[str, str]]]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((WEB / "i18n").glob("*.json"))
    }


def test_every_catalogue_has_chinese_and_english_for_every_key() -> None:
    found = catalogues()
    assert "common" in found
    for name, catalogue in found.items():
        assert set(catalogue) == {"zh-CN", "en"}, name
        assert set(catalogue["zh-CN"]) == set(catalogue["en"]), name
        for key, text in catalogue["zh-CN"].items():
            assert text.strip(), (name, key)
            assert catalogue["en"][key].strip(), (name, key)


def test_every_refusal_the_node_can_give_reads_in_chinese() -> None:
    common = catalogues()["common"]["zh-CN"]
    rules = {
        cls.__name__
        for cls in vars(domain_errors).values()
        if isinstance(cls, type) and issubclass(cls, domain_errors.DomainError)
    } - {"DomainError"}
    assert {r for r in rules if f"rule.{r}" not in common} == set()
    protocol = Path("docs/protocol.md").read_text("utf-8")
    # The HTTP errors' table (2.1), and the live channel's codes (3.2).
    codes = set(re.findall(r"^\| \d{3} \| `([a-z_]+)`(?: / `([a-z_]+)`)?", protocol, re.M))
    flat = {code for pair in codes for code in pair if code}
    channel = protocol[protocol.index("Error codes on the channel") :].split("\n\n")[0]
    flat |= set(re.findall(r"`([a-z_]+)`", channel)) - {"code", "rule", "cite", "problems"}
    flat |= {subclass.code for subclass in _subclasses(ServerError)}
    assert {c for c in flat if f"code.{c}" not in common} == set()
    for text in common.values():
        assert re.search(r"[\u4e00-\u9fff]|^[\s\w{}()（）:：.-]*$", text), text


def test_every_message_a_page_names_is_in_the_catalogue() -> None:
    keys = set().union(*(set(c["zh-CN"]) for c in catalogues().values()))
    used: set[str] = set()
    for path in WEB.rglob("*"):
        if path.suffix in (".html", ".js"):
            text = path.read_text(encoding="utf-8")
            used |= set(re.findall(r'data-i18n(?:-[a-z-]+)?="([a-z0-9_.-]+)"', text))
            used |= set(re.findall(r'"data-i18n(?:-[a-z-]+)?": "([a-z0-9_.-]+)"', text))
            used |= set(re.findall(r'\bt\("([a-z0-9_.-]+)"', text))
    assert used, "the pages name no message at all"
    assert sorted(used - keys) == []


def test_no_page_writes_markup_from_strings() -> None:
    for path in WEB.rglob("*.js"):
        text = path.read_text(encoding="utf-8")
        found = re.findall(
            r"\.(?:innerHTML|outerHTML|insertAdjacentHTML|write|writeln)\b|\beval\(|\bFunction\(",
            text,
        )
        assert found == [], f"{path.name} writes markup or code from strings: {found}"


def _subclasses(cls: type[ServerError]) -> set[type[ServerError]]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


# Canonical JSON and signatures in the page.


async def test_canonical_json_in_the_page_is_the_node_s(web: Web) -> None:
    page = await open_shell(web)
    values: list[Any] = [
        {"b": 1, "a": [True, None, "x"], "\u20ac": "euro", "\r": 1, "1": 2, "\U0001f600": 3},
        {"text": 'quote " backslash \\ tab \t control \u0001 line\n', "z": -0.0},
        [1e21, 1e-7, 1.2345678901234568e20, 0.1, -5e-324, 2**53 - 1],
        {"数字": "中文", "nested": {"z": {}, "a": []}},
    ]
    values += [struct.unpack(">d", bytes.fromhex(bits))[0] for bits, _ in NUMBER_SAMPLES]
    got = await page.evaluate("(vs) => vs.map((v) => window.lib.canonicalize(v))", values)
    assert got == [canonical_json(v).decode() for v in values]


async def test_a_participant_logs_in_with_a_key_file_and_signs_in_the_page(web: Web) -> None:
    host = await web.harness.enroll(Role.HOST, "主持人 <b>Host</b>")
    page = await open_shell(web)
    await web.screenshot(page, "login-panel")
    await web.login(page, host)
    await expect(page.locator("body")).to_have_attribute("data-ready", "session")
    await expect(page.locator("#who")).to_contain_text(host.id)
    await expect(page.locator("#live-status")).to_have_text("实时")
    await web.screenshot(page, "signed-in")

    document = {"type": "opening-confirmation", "tender": TENDER, "record_hash": "ab" * 32}
    signature = await page.evaluate(
        "(d) => window.lib.session.sign('opening-confirmation', d)", document
    )
    verify(host.key.verify_key, "opening-confirmation", document, b64url_decode(signature))
    # Nothing of the session outlives the page: no cookie, nothing stored but the language.
    stored = await page.evaluate(
        "() => ({cookie: document.cookie, keys: Object.keys(localStorage)})"
    )
    assert stored["cookie"] == ""
    assert set(stored["keys"]) <= {"bidroom.lang"}
    logins = [
        r for r in await web.harness.node.store.read("system", 0, 1000)
        if r.type == "participant.logged_in"
    ]  # fmt: skip
    assert [r.payload["participant"] for r in logins] == [host.id]


async def test_a_key_protected_by_a_passphrase_opens_in_the_page_with_it(web: Web) -> None:
    host = await web.harness.enroll(Role.HOST, "host")
    protected = web.keys / f"{host.id}.pem"
    protected.write_bytes(host.key.to_pem("口令 passphrase".encode()))
    page = await open_shell(web)
    await page.locator("#login-key").set_input_files(protected)
    await expect(page.locator("#login-passphrase")).to_be_visible()
    await page.locator("#login-passphrase").fill("wrong")
    await page.locator("#login-submit").click()
    await expect(page.locator("#login-error")).to_have_text("口令不正确。")
    await page.locator("#login-passphrase").fill("口令 passphrase")
    await page.locator("#login-submit").click()
    await expect(page.locator("#login")).to_have_count(0)
    await expect(page.locator("#who")).to_contain_text(host.id)


async def test_a_key_the_page_can_t_use_is_refused_in_chinese_and_english(
    web: Web, tmp_path: Path
) -> None:
    page = await open_shell(web)
    public = tmp_path / "p-public0001.pem"
    public.write_bytes(SigningKey.generate().verify_key.to_pem())
    await page.locator("#login-key").set_input_files(public)
    await expect(page.locator("#login-error")).to_contain_text("无法读取密钥文件")
    await page.locator("#lang-switch").click()
    await expect(page.locator("#login-submit")).to_have_text("Sign in")
    # A key the node does not know: the node's one generic refusal, in the page's words.
    stranger = tmp_path / "p-stranger01.pem"
    stranger.write_bytes(SigningKey.generate().to_pem())
    await page.locator("#login-key").set_input_files(stranger)
    await page.locator("#login-submit").click()
    await expect(page.locator("#login-error")).to_have_text(
        "Sign-in failed or expired; sign in again."
    )
    await web.screenshot(page, "refused-in-english")


async def test_a_visitor_gets_a_read_only_session_of_its_own(web: Web) -> None:
    page = await open_shell(web)
    await page.locator("#visit").click()
    await expect(page.locator("body")).to_have_attribute("data-ready", "session")
    session = await page.evaluate("() => window.session")
    assert session["role"] == "public"
    assert re.fullmatch(r"v-[0-9a-f]{16}", session["participant"])
    await expect(page.locator("#who")).to_contain_text("访客")
    # It reads what the public may read and nothing else.
    status, document = await page.evaluate(
        """async () => { const r = await fetch('/api/admin/participants',
             {headers: {Authorization: 'Bearer ' + window.lib.session.token()}});
             return [r.status, await r.json()]; }"""
    )
    assert status == 403
    assert document["error"]["rule"] == "AccessDenied"


# The live channel.


async def test_the_live_channel_resumes_after_a_drop_without_gap_or_repeat(web: Web) -> None:
    harness = web.harness
    host = await harness.person(Role.HOST, "host")
    tender = await harness.tender(host)

    async def refusals(count: int) -> None:
        for _ in range(count):  # each refusal is an event of the tender's log
            await harness.refused("POST", f"/api/tenders/{tender}/opening/start", host)

    supervisor = await harness.person(Role.SUPERVISOR, "supervisor")
    await refusals(3)
    page = await open_shell(web)
    await web.login(page, supervisor)
    await expect(page.locator("#live-status")).to_have_text("实时")
    await page.evaluate(
        """(t) => new Promise((ok) => window.live.follow(t, 0,
             (e) => window.received.push(e.seq), {onCaughtUp: ok}))""",
        tender,
    )
    for connection in list(harness.client.app[connections_key]):
        assert isinstance(connection, Connection)
        await connection.shutdown()  # the node drops the page's connection (1001)
    await refusals(4)  # while the page is away
    await expect(page.locator("#live-status")).to_have_text("实时")
    await refusals(2)
    status, log = await harness.call("GET", f"/api/tenders/{tender}/events", supervisor)
    assert status == 200
    visible = [item["event"]["seq"] for item in log["events"]]
    assert len(visible) >= 10
    await page.wait_for_function(
        "(n) => window.received.length && window.received.at(-1) === n", arg=visible[-1]
    )
    assert await page.evaluate("() => window.received") == visible
    statuses = await page.evaluate("() => window.statuses")
    assert statuses[:3] == ["live", "reconnecting", "live"]
