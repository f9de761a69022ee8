"""The expert workstation (评标工作台) in a real headless Chromium, against a real node.

One committee, drawn from a closed opening of three bids (one bidder's name and one of its file
names carry markup). In the page one expert checks in, is refused a conflict the standby can't
cover (in Chinese), pledges, reads a bid's documents inline (an image, a PDF, text), votes,
fills the compliance and score forms (a score above the maximum is caught in the page), sees
the node's flag on its sheet and revises it, and signs the report; the other four members act
through the Python client. The node's log holds every act of the page, signed by the expert.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import expect

from crypto import b64url_decode, verify
from evaluator_client import bidding
from server.domain.access import Role
from server.domain.scores import value_problem
from server.domain.spec import Criterion, CriterionKind
from server.transport.app_keys import connections_key
from server.transport.ws import Connection
from tests.pages.conftest import FLAGS
from tests.server.transport.evaluation_world import build_evaluation, draw_request
from tests.server.transport.opening_world import Bidder, build_world

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.async_api import Page

    from evaluator_client.room import RoomClient
    from tests.conftest import Person
    from tests.pages.conftest import Web
    from tests.server.transport.evaluation_world import Evaluation

TIMEOUT_MS = 15_000
MARKUP = '<img src=x data-xss="name">'
BIDDER_NAME = f"{MARKUP}投标人X"
FILE_NAME = '图纸/<b data-xss="file">plan</b>.txt'
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def chromium_flags() -> list[str]:
    """A camera and a microphone that Chromium makes up, granted without asking."""
    return [*FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def png() -> bytes:
    """A 2x2 red PNG, made here."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def pdf() -> bytes:
    """A one-page PDF with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


async def committee(web: Web, tmp: Path, standby: int = 0) -> tuple[Evaluation, Bidder]:
    """Two ordinary bids and one with markup in its bidder's and a file's name; opened, drawn
    (by default with no standby: a declared conflict can't be covered), evaluation started."""
    harness = web.harness
    world = await build_world(harness, tmp, count=2)
    person = await harness.person(Role.BIDDER, BIDDER_NAME)
    files = {"资格文件/营业执照.png": png(), "技术标.pdf": pdf(), FILE_NAME: b"plan <b>text</b>\n"}
    sealed = await world.seal(person, "bidder-x", price="990000.00", files=files)
    marked = Bidder(person, await world.login(person), sealed)
    await world.submit(marked, sealed)
    world.bidders.append(marked)
    evaluation = await build_evaluation(harness, tmp, world)
    await evaluation.draw(draw_request(standby=standby))
    await evaluation.start()
    return evaluation, marked


async def records(ev: Evaluation, kind: str) -> list[dict[str, Any]]:
    return [dict(r.payload) for r in await ev.harness.node.store.read(ev.tender) if r.type == kind]


async def workstation(web: Web, expert: Person, *, phone: bool = False) -> Page:
    """The expert signs in at /expert; with one seat, its room opens by itself, at check-in."""
    page = await web.page(phone=phone)
    await page.goto(web.url("/expert"))
    await web.login(page, expert)
    await expect(page.locator("[data-fact=stage]")).to_have_text("签到与承诺", timeout=TIMEOUT_MS)
    return page


async def seated(ev: Evaluation, members: list[str]) -> list[RoomClient]:
    """Those members join through the Python client, check in and pledge."""
    rooms = []
    for member in members:
        room = await ev.join(member)
        await room.check_in()
        await room.pledge()
        rooms.append(room)
    return rooms


async def test_an_expert_evaluates_and_signs_in_the_page(web: Web, tmp_path: Path) -> None:
    ev, marked = await committee(web, tmp_path)
    try:
        await evaluate(web, ev, marked)
    finally:
        await ev.close()


async def evaluate(web: Web, ev: Evaluation, marked: Bidder) -> None:
    members = await ev.members()
    expert: Person = ev.experts[members[0]]
    page = await workstation(web, expert)
    await expect(page.locator("[data-fact=time_left]")).to_have_text(
        re.compile(r"^0?(3:5\d:\d\d|4:00:00)$")
    )
    await page.locator("[data-form=check-in] button").click()
    await expect(page.locator("[data-form=pledge]")).to_be_visible(timeout=TIMEOUT_MS)
    await web.screenshot(page, "01-pledge")

    # A conflict the standby can't cover is refused by the node, in Chinese; then the pledge.
    await page.locator("[data-role=add-conflict]").click()
    await page.locator("[data-role=organisation]").fill("投标人1 Bidder 1")
    await page.locator("[data-role=reason]").fill("近三年曾在该单位任职")
    await page.locator("[data-form=pledge] button.primary").click()
    alert = page.locator("[data-role=act-status].error")
    await expect(alert).to_be_visible(timeout=TIMEOUT_MS)
    assert HAN.search(await alert.inner_text()), await alert.inner_text()
    beside = page.locator("[data-form=pledge] [data-role=act-note].error")  # and by the button
    await expect(beside).to_have_text(await alert.inner_text())
    await web.screenshot(page, "02-conflict-refused")
    await page.locator(".conflict-row button.link").click()
    await page.locator("[data-form=pledge] button.primary").click()
    await expect(page.locator("[data-role=waiting]")).to_be_visible(timeout=TIMEOUT_MS)

    # The bid documents, unpacked in the page: the image and the PDF inline, names as text.
    row = page.locator(f"[data-role=bids] tr[data-bidder='{marked.id}']")
    await expect(row.locator("[data-role=bid-name]")).to_have_text(BIDDER_NAME)
    await page.locator("[data-panel=record] summary").click()  # the opening record, read here
    await expect(page.locator("[data-panel=record] tbody tr")).to_have_count(3)
    await expect(page.locator("[data-panel=record] tbody")).to_contain_text(BIDDER_NAME)
    await row.locator("[data-role=read-bid]").click()
    files = page.locator(".doc-files li")
    await expect(files).to_have_count(4, timeout=TIMEOUT_MS)
    await page.locator("li[data-file='资格文件/营业执照.png'] button").first.click()
    image = page.locator("[data-role=doc-image]")
    await expect(image).to_be_visible(timeout=TIMEOUT_MS)
    await page.wait_for_function(
        "() => document.querySelector('[data-role=doc-image]').naturalWidth === 2",
        timeout=TIMEOUT_MS,
    )
    await page.locator("li[data-file='技术标.pdf'] button").first.click()
    frame = page.locator("[data-role=doc-pdf]")
    await expect(frame).to_have_attribute("src", re.compile(r"^blob:"), timeout=TIMEOUT_MS)
    await page.locator(f"li[data-file='{FILE_NAME}'] button").first.click()
    await expect(page.locator("[data-role=doc-text]")).to_have_text("plan <b>text</b>\n")
    await expect(page.locator(".doc-files")).to_contain_text(FILE_NAME)
    assert await page.locator("[data-xss]").count() == 0  # markup stayed text
    await web.screenshot(page, "03-documents")

    # The others check in and pledge through the Python client; everyone votes for the page.
    others = await seated(ev, members[1:])
    await expect(page.locator("[data-form=vote]")).to_be_visible(timeout=TIMEOUT_MS)
    await page.locator(f"[data-form=vote] input[value='{expert.id}']").check()
    await page.locator("[data-form=vote] button").click()
    await expect(page.locator("[data-role=waiting]")).to_be_visible(timeout=TIMEOUT_MS)
    # The page's connection drops while the others vote: it comes back and catches up.
    assert await drop(web, expert) == 1
    for room in others:
        await room.vote(expert.id)
    await expect(page.locator("#live-status")).to_have_text("实时", timeout=TIMEOUT_MS)
    await expect(page.locator("[data-form=compliance]")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(page.locator("[data-fact=leader]")).to_contain_text("专家")

    # The leader asks a clarification; the compliance form, every bid passing.
    question = "请说明 <i>工期</i> 安排"
    await page.locator("[data-role=clarify-question]").fill(question)
    await page.locator("[data-form=clarify] button").click()
    await expect(page.locator("[data-role=clarifications]")).to_contain_text(question)
    (sent,) = await records(ev, "evaluation.clarification_sent")
    asked = next(b for b in ev.world.bidders if b.id == sent["bidder"])
    answer = "工期 <b>180</b> 天"
    await bidding.answer_clarification(asked.session, ev.tender, "L1", "c1", answer)
    await expect(page.locator("[data-role=clarifications]")).to_contain_text(answer)
    bidders = [b.id for b in ev.world.bidders]
    await page.locator("[data-form=compliance] button.primary").click()
    await expect(page.locator("[data-role=waiting]")).to_be_visible(timeout=TIMEOUT_MS)
    passing = {b: {"C1": (True, ""), "C2": (True, "")} for b in bidders}
    for room in others:
        await room.compliance(passing)
    await expect(page.locator("[data-form=scoring]")).to_be_visible(timeout=TIMEOUT_MS)
    await web.screenshot(page, "04-scoring")

    # Score forms: above the maximum is caught in the page; the page's T3 differs from the
    # others' on one bid, so the node flags it and the expert revises it.
    cards = page.locator(".score-card")
    await expect(cards).to_have_count(3)
    first = cards.first
    await first.locator("[data-criterion=T1]").fill("35")
    await first.locator("button.primary").click()
    await expect(page.locator("[data-role=act-status].warn")).to_contain_text("满分")
    assert await records(ev, "evaluation.sheet_submitted") == []
    for i, bidder in enumerate(bidders):
        card = page.locator(f".score-card[data-bidder='{bidder}']")
        await card.locator("[data-criterion=T1]").fill("24")
        await card.locator("[data-criterion=T2]").fill("15.5")
        await card.locator("[data-criterion=T3]").fill("10" if i == 0 else "16")
        await card.locator("[data-role=comment]").fill("施工组织合理")
        await card.locator("button.primary").click()
        await expect(card.locator("[data-role=sheet-summary]")).to_be_visible(timeout=TIMEOUT_MS)
    for i, room in enumerate(others):
        for bidder in bidders:
            await room.score(bidder, {"T1": str(23 + i), "T2": "15", "T3": "16"})
    flagged = page.locator(f".score-card[data-bidder='{bidders[0]}']")
    await expect(flagged.locator("[data-role=flag]")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(page.locator("[data-fact=round]")).to_have_text("2")
    await web.screenshot(page, "05-flagged")
    await flagged.locator("[data-criterion=T3]").fill("16")
    await flagged.locator("button.primary").click()

    # The report: read, signed in the page; the others sign; the result is published.
    await expect(page.locator("[data-role=sign-report]")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(page.locator("[data-role=ranking] tbody tr")).to_have_count(3)
    check = page.locator("[data-role=report-check]")
    await expect(check).to_have_attribute("data-state", "same")  # the hash, recomputed here
    await web.screenshot(page, "06-report")
    await page.locator("[data-role=sign-report]").click()
    await expect(page.locator("[data-role=responded]")).to_be_visible(timeout=TIMEOUT_MS)
    signed = page.locator(f"li[data-expert='{expert.id}'][data-response=signed]")
    await expect(signed).to_have_count(1)
    for room in others:
        await room.wait_stage("report")
        await room.sign_report()
    await expect(page.locator("[data-role=result]")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(page.locator("[data-fact=stage]")).to_have_text("评标结束，结果已公布")
    assert await page.locator("[data-xss]").count() == 0
    await web.screenshot(page, "07-result")

    # The node's HTML rendering, fetched with the session's token and saved; English; a phone.
    report_hash = await page.locator("[data-role=report-hash]").inner_text()
    async with page.expect_download() as started:
        await page.locator("[data-role=report-html]").click()
    saved = await (await started.value).path()
    assert report_hash in saved.read_text(encoding="utf-8")
    await page.locator("#lang-switch").click()
    await expect(page.locator("[data-fact=stage]")).to_have_text("Done, result published")
    closed = "The room has concluded; the intercom is closed."
    await expect(page.locator("[data-role=intercom-status]")).to_have_text(closed)
    await page.set_viewport_size({"width": 390, "height": 844})
    await web.screenshot(page, "08-result-en-phone")

    # Every act of the page is on record under the expert's name, with its valid signature.
    await assert_signed(ev, expert)

    # The host's console now shows the lot's result and its report (public with the result).
    host = await web.page()
    await host.goto(web.url(f"/host/{ev.tender}"))
    await web.login(host, ev.world.host)
    result = host.locator('.result[data-lot="L1"]')
    status, found = await ev.harness.call(
        "GET", f"/api/tenders/{ev.tender}/lots/L1/result", ev.world.host
    )
    assert status == 200
    candidates = "、".join(c["name"] for c in found["candidates"])
    await expect(result.locator("[data-role=candidates]")).to_have_text(f"中标候选人：{candidates}")
    rows = result.locator("tbody tr")
    await expect(rows).to_have_count(len(found["report"]["ranking"]))
    await web.screenshot(host, "09-host-sees-the-result")
    async with host.expect_download() as report:
        await result.get_by_role("button", name="下载评标报告").click()
    assert report_hash in (await (await report.value).path()).read_text(encoding="utf-8")


async def drop(web: Web, person: Person) -> int:
    """The node drops the person's live connections (as when it restarts: 1001)."""
    dropped = 0
    for connection in list(web.harness.client.app[connections_key]):
        assert isinstance(connection, Connection)
        if connection.actor is not None and connection.actor.id == person.id:
            await connection.shutdown()
            dropped += 1
    return dropped


async def signed_by(ev: Evaluation, expert: Person, kind: str) -> list[dict[str, Any]]:
    """The expert's acts of that kind on record, each checked against its signature."""
    mine = [p for p in await records(ev, kind) if p["document"]["expert"] == expert.id]
    for payload in mine:
        document = payload["document"]
        verify(
            expert.key.verify_key, document["type"], document, b64url_decode(payload["signature"])
        )
    return [p["document"] for p in mine]


async def assert_signed(ev: Evaluation, expert: Person) -> None:
    expected = {
        "evaluation.checked_in": 1,
        "evaluation.pledged": 1,
        "evaluation.vote_cast": 1,
        "evaluation.clarification_requested": 1,
        "evaluation.compliance_submitted": 1,
        "evaluation.sheet_submitted": 4,
        "evaluation.report_signed": 1,
    }
    for kind, count in expected.items():
        assert len(await signed_by(ev, expert, kind)) == count, kind
    versions = [
        p["document"]["version"]
        for p in await records(ev, "evaluation.sheet_submitted")
        if p["document"]["expert"] == expert.id
    ]
    assert sorted(versions) == [1, 1, 1, 2]
    refused = [p for p in await records(ev, "command.rejected") if p.get("rule") == "NoStandbyLeft"]
    assert len(refused) == 1, refused


async def test_a_conflict_hands_the_seat_on_and_the_successor_dissents(
    web: Web, tmp_path: Path
) -> None:
    ev, _ = await committee(web, tmp_path, standby=2)
    try:
        await hand_on(web, ev)
    finally:
        await ev.close()


async def hand_on(web: Web, ev: Evaluation) -> None:
    drawn = await ev.members()
    leaving = ev.experts[drawn[0]]
    page = await workstation(web, leaving)
    await page.locator("[data-form=check-in] button").click()
    await page.locator("[data-role=add-conflict]").click()
    await page.locator("[data-role=organisation]").fill("投标人2 Bidder 2")
    await page.locator("[data-role=reason]").fill("配偶在该单位任职")
    await page.locator("[data-form=pledge] button.primary").click()
    await expect(page.locator("[data-role=not-member]")).to_be_visible(timeout=TIMEOUT_MS)
    await web.screenshot(page, "01-replaced")
    members = await ev.members()
    assert leaving.id not in members
    successor = ev.experts[next(m for m in members if m not in drawn)]

    # The successor signs in once seated (on a phone's screen), checks in, pledges and asks
    # for more time.
    page = await workstation(web, successor, phone=True)
    await page.locator("[data-form=check-in] button").click()
    await page.locator("[data-form=pledge] button.primary").click()
    await page.locator("[data-role=time-reason]").fill("投标文件篇幅较大")
    await page.locator("[data-panel=time] button").click()
    await expect(page.locator("[data-panel=time] .ok")).to_be_visible(timeout=TIMEOUT_MS)
    others = await seated(ev, [m for m in members if m != successor.id])
    leader = others[0].session.participant
    await page.locator(f"[data-form=vote] input[value='{leader}']").check()
    await page.locator("[data-form=vote] button").click()
    for room in others:
        await room.vote(leader)

    # Compliance: a fail needs its reason (caught in the page); one bid fails C1 here only.
    await expect(page.locator("[data-form=compliance]")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(page.locator("[data-form=clarify]")).to_have_count(0)  # the leader's alone
    bidders = [b.id for b in ev.world.bidders]
    row = page.locator(f"tr[data-bidder='{bidders[0]}'][data-criterion=C1]")
    await row.locator("[data-role=fail]").check()
    await page.locator("[data-form=compliance] button.primary").click()
    await expect(page.locator("[data-role=act-status].warn")).to_contain_text("理由")
    await row.locator("[data-role=reason]").fill("投标函未盖章")
    await web.screenshot(page, "02-compliance-phone")
    await page.locator("[data-form=compliance] button.primary").click()
    passing = {b: {"C1": (True, ""), "C2": (True, "")} for b in bidders}
    for room in others:
        await room.compliance(passing)

    # Scoring: the successor's subjective scores for one bid are far below the others': the
    # node flags them abnormal, and the successor confirms them with a reason.
    await expect(page.locator("[data-form=scoring]")).to_be_visible(timeout=TIMEOUT_MS)
    reader = page.locator("[data-role=documents]")  # a bid's documents, opened from its card
    await page.locator(f".score-card[data-bidder='{bidders[1]}'] [data-role=read-bid]").click()
    await expect(reader.locator("h3")).to_contain_text("投标人2 Bidder 2", timeout=TIMEOUT_MS)
    await expect(reader.locator(".doc-files li")).to_have_count(1)
    await reader.locator("[data-role=close-documents]").click()
    await expect(reader).to_be_hidden()
    for i, bidder in enumerate(bidders):
        card = page.locator(f".score-card[data-bidder='{bidder}']")
        await card.locator("[data-criterion=T1]").fill("5" if i == 0 else "24")
        await card.locator("[data-criterion=T2]").fill("5" if i == 0 else "15")
        await card.locator("[data-criterion=T3]").fill("16")
        await card.locator("button.primary").click()
        await expect(card.locator("[data-role=sheet-summary]")).to_be_visible(timeout=TIMEOUT_MS)
    for i, room in enumerate(others):
        for bidder in bidders:
            await room.score(bidder, {"T1": str(23 + i), "T2": "15", "T3": "16"})
    flagged = page.locator(f".score-card[data-bidder='{bidders[0]}']")
    await expect(flagged.locator("[data-role=confirm-form]")).to_be_visible(timeout=TIMEOUT_MS)
    await flagged.locator("[data-role=confirm-reason]").fill("技术方案存在重大缺陷")
    await flagged.locator("[data-role=confirm-form] button").click()

    # The report: the successor dissents with its reasons; the others sign.
    await expect(page.locator("[data-role=dissent-report]")).to_be_visible(timeout=TIMEOUT_MS)
    await page.locator("[data-role=dissent-reasons]").fill("对第一名的技术评分有不同意见")
    await page.locator("[data-role=dissent-report]").click()
    await expect(page.locator("[data-role=responded]")).to_have_text(
        "您已提出不同意见，已记录。", timeout=TIMEOUT_MS
    )
    await web.screenshot(page, "03-dissented-phone")
    for room in others:
        await room.wait_stage("report")
        await room.sign_report()
    await expect(page.locator("[data-role=result]")).to_be_visible(timeout=TIMEOUT_MS)

    (pledge,) = await signed_by(ev, leaving, "evaluation.pledged")
    assert pledge["conflicts"] == [
        {"organisation": "投标人2 Bidder 2", "reason": "配偶在该单位任职"}
    ]
    (replaced,) = await records(ev, "evaluation.member_replaced")
    assert (replaced["leaving"], replaced["by"]) == (leaving.id, "declaration")
    (sheet,) = await signed_by(ev, successor, "evaluation.compliance_submitted")
    assert sheet["results"][bidders[0]]["C1"] == {"pass": False, "reason": "投标函未盖章"}
    (asked,) = await signed_by(ev, successor, "evaluation.time_requested")
    assert asked["reason"] == "投标文件篇幅较大"
    (confirmed,) = await signed_by(ev, successor, "evaluation.flag_confirmed")
    assert (confirmed["bidder"], confirmed["round"]) == (bidders[0], 2)
    (dissent,) = await signed_by(ev, successor, "evaluation.report_dissented")
    assert dissent["reasons"] == "对第一名的技术评分有不同意见"


async def test_the_intercom_shows_one_member_to_another(web: Web, tmp_path: Path) -> None:
    ev, _ = await committee(web, tmp_path)
    try:
        await intercom(web, ev)
    finally:
        await ev.close()


async def intercom(web: Web, ev: Evaluation) -> None:
    view = await ev.view()
    seats = {m["expert"]: m["workstation"] for m in view["members"]}
    first, second = (ev.experts[m["expert"]] for m in view["members"][:2])
    desk = seats[first.id]
    speaker = await workstation(web, first)
    listener = await workstation(web, second)
    tile = listener.locator(f".intercom-tile[data-workstation='{desk}']")

    # Nobody publishes at that desk yet: the node refuses, the page says so in Chinese.
    await tile.locator("[data-role=intercom-watch]").click()
    await expect(tile.locator(".error[data-role=intercom-note]")).to_have_text(
        "该音视频尚未开始。", timeout=TIMEOUT_MS
    )
    await speaker.locator("[data-role=intercom-publish]").click()
    await expect(speaker.locator("[data-role=intercom-live]")).to_be_visible(timeout=TIMEOUT_MS)
    await tile.locator("[data-role=intercom-watch]").click()
    await listener.wait_for_function(
        "(desk) => { const v = document.querySelector("
        "`.intercom-tile[data-workstation='${desk}'] video`); return v && v.videoWidth > 0; }",
        arg=desk,
        timeout=20_000,
    )
    await web.screenshot(speaker, "01-speaking")
    await web.screenshot(listener, "02-watching")

    # The speaker turns it off: the listener's session ends with the source.
    await speaker.locator("[data-role=intercom-stop]").click()
    await expect(tile.locator("[data-role=intercom-note]")).to_have_text(
        "对方已关闭或连接中断。", timeout=TIMEOUT_MS
    )
    started = {
        (s["direction"], s["participant"], s["source"])
        for s in await records(ev, "media.session_started")
    }
    assert started == {("publish", first.id, desk), ("watch", second.id, desk)}


SCORES = ["0", "30", "29.5", "30.5", "29.25", "01", "0.0", "1e1", "", " 3", "-1", "3.00001",
          "999999", "1000000", "0.5", "7.", ".5", "٣"]  # fmt: skip
CRITERIA = [("30", "0.5"), ("20", "1"), ("0.75", "0.25"), ("100", "0.01")]


async def test_the_page_checks_a_score_as_the_node_does(web: Web) -> None:
    """The score form's check (decimal.js) and the node's (value_problem) agree on every
    sample: what the page lets through the node takes, what it stops the node refuses."""
    page = await web.page()
    await page.goto(web.url("/expert"))
    criteria = [{"max": m, "step": s} for m, s in CRITERIA]
    found = await page.evaluate(
        """async ({criteria, scores}) => {
             const {scoreProblem} = await import("/static/js/expert/decimal.js");
             return criteria.map((c) => scores.map((s) => scoreProblem(c, s)));
           }""",
        {"criteria": criteria, "scores": SCORES},
    )
    rules = {
        None: None,
        "expert.score.not_decimal": "ScoreOutOfRange",
        "expert.score.above_max": "ScoreOutOfRange",
        "expert.score.off_step": "ScoreOffStep",
    }
    for (top, step), answers in zip(CRITERIA, found, strict=True):
        criterion = Criterion("T1", "t", CriterionKind.SUBJECTIVE, Decimal(top), Decimal(step))
        for score, answer in zip(SCORES, answers, strict=True):
            problem = value_problem(criterion, score)
            assert rules[answer] == (problem and problem[0]), (top, step, score, answer)


async def test_a_package_that_is_not_one_is_named_not_shown(web: Web) -> None:
    """The bid reader refuses what is not a bid package or holds a broken archive, by name."""
    page = await web.page()
    await page.goto(web.url("/expert"))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("a.txt", "a" * 100, compress_type=zipfile.ZIP_DEFLATED)
    sheet = b'{"v":1}'
    good = b"BIDROOM-BID-PACKAGE/1\n" + struct.pack(">I", len(sheet)) + sheet + archive.getvalue()
    broken = bytearray(good)
    broken[-30] ^= 0xFF  # inside the end of the central directory
    found = await page.evaluate(
        """async (samples) => {
             const p = await import("/static/js/expert/package.js");
             const out = [];
             for (const sample of samples) {
               try {
                 const {sheet, archive} = p.splitPackage(new Uint8Array(sample));
                 const entries = p.listArchive(archive);
                 const text = new TextDecoder().decode(await p.readEntry(archive, entries[0]));
                 out.push([sheet.v, entries.map((e) => e.name), text.length]);
               } catch (err) {
                 out.push(err.key ?? String(err));
               }
             }
             return out;
           }""",
        [list(good), list(b"PK\x03\x04 not a package"), list(broken)],
    )
    assert found == [
        [1, ["a.txt"], 100],
        "expert.package.not_package",
        "expert.package.bad_archive",
    ]
