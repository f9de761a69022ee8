"""The host console in a real Chromium: a tender created from the form (a refused field shown
in Chinese next to it; times typed in Beijing time reach the node in UTC), published, its
opening run (start refused before the deadline, then started, messages with a bidder, pause
with a reason, resume, the record read out, an objection answered, closed), then the evaluation
started, a lot's expert draw refused (a field), failed (too few experts) and then revealed, the
room followed by its stage and counts as the committee sits, a member replaced, and never a
name on the page, in Chinese, in English or on a phone. A second tender is cancelled with a
reason.

Bidders and experts act through the API with the existing test helpers (opening_world,
evaluation_world); the node's clock is the harness's ManualClock, moved to the sign-in and the
deadline (the page renews its own session). Text a user typed (the title, the objection, the
messages, the reason) carries markup that must stay inert.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from playwright.async_api import expect

from crypto import EncryptionPublicKey
from evaluator_client import bidding
from server.domain.access import Role
from server.domain.opening import BidState, Phase
from server.domain.room import Stage
from server.domain.tender import TenderState
from server.protocol.times import format_time, parse_time
from server.transport.pages import WEB_ROOT as WEB
from tests.server.transport.evaluation_world import POOL, Evaluation
from tests.server.transport.opening_world import Bidder, World

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.async_api import Locator, Page

    from tests.conftest import Harness, Person
    from tests.pages.conftest import Web

TITLE = '<img src=x data-x="1">照明改造 <b>bold</b>'
OBJECTION = "<script>window.hacked = 1</script>报价有误 <i>please</i>"
ANSWER = "已核实，报价无误。"
QUESTION = "<b>请问</b>解密失败怎么办"
REPLY = "请重新选择密钥文件<script>window.hacked = 2</script>"
RULES = json.loads((WEB / "i18n" / "common.json").read_text(encoding="utf-8"))["zh-CN"]
WAIT = 15_000  # ms: the longest a page condition may take


async def local_input(page: Page, instant: str) -> str:
    """The datetime-local value the browser shows for an RFC 3339 instant."""
    value: str = await page.evaluate(
        """(iso) => {
            const d = new Date(iso);
            return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
        }""",
        instant,
    )
    return value


async def fill(page: Page, path: str, value: str) -> None:
    await page.locator(f'#app [data-path="{path}"]').fill(value)


async def add_row(page: Page, scope: str, path: str) -> None:
    await page.locator(f'{scope} .row-list[data-field="{path}"] > .add-row').click()


async def ready(page: Page) -> None:
    await expect(page.locator("#app")).to_have_attribute("data-ready", "true", timeout=WAIT)


async def fill_form(page: Page, harness: Harness, custodians: list[Person]) -> dict[str, str]:
    now = harness.clock.now().replace(second=0, microsecond=0)
    times = {
        "bidding_opens_at": format_time(now + timedelta(hours=1)),
        "deadline": format_time(now + timedelta(days=1)),
    }
    await fill(page, "title", TITLE)
    await fill(page, "tenderer", "示范市城市管理局")
    await fill(page, "lots[0].name", "一标段")
    for name, instant in times.items():
        await fill(page, f"schedule.{name}", await local_input(page, instant))
    await fill(page, "schedule.sign_in_lead_minutes", "30")
    await fill(page, "committee.size", "6")  # refused: the committee must be odd
    await fill(page, "scoring.compliance[0].name", "投标函签字盖章")
    await fill(page, "scoring.criteria[0].name", "施工组织设计")
    for i, custodian in enumerate(custodians):
        await fill(page, f"opening.custodians[{i}]", custodian.id)
    await add_row(page, "form.tender-form", "opening.sheet_fields")
    await fill(page, "opening.sheet_fields[0].name", "warranty_years")
    await fill(page, "opening.sheet_fields[0].label", "质保期(年)")
    return times


async def create_tender(web: Web, page: Page, host: Person, custodians: list[Person]) -> str:
    """The form, refused once (committee size), then accepted; returns the tender id."""
    await page.get_by_role("button", name="新建招标项目").click()
    times = await fill_form(page, web.harness, custodians)
    await expect(page.get_by_test_id("score-total")).to_contain_text("= 100")
    await page.get_by_role("button", name="创建项目").click()
    problem = page.locator('[data-field="committee.size"] .problem')
    await expect(problem).to_contain_text("奇数", timeout=WAIT)
    await web.screenshot(page, "01-form-refused")
    await fill(page, "committee.size", "5")
    await page.get_by_role("button", name="创建项目").click()
    await page.wait_for_url(re.compile(r"/host/t-"), timeout=WAIT)
    tender = page.url.rsplit("/", 1)[1]
    status, view = await web.harness.call("GET", f"/api/tenders/{tender}", host)
    assert status == 200, view
    spec = view["spec"]
    assert (spec["title"], spec["tenderer"], spec["lots"]) == (
        TITLE, "示范市城市管理局", [{"id": "L1", "name": "一标段"}],
    )  # fmt: skip
    for name, instant in times.items():
        assert spec["schedule"][name] == format_time(parse_time(instant)), name
    assert spec["committee"] == {"size": 5, "large": False}
    assert spec["opening"]["custodians"] == [c.id for c in custodians]
    assert spec["opening"]["sheet_fields"] == [{"name": "warranty_years", "label": "质保期(年)"}]
    assert spec["scoring"]["criteria"][0] == {
        "id": "T1", "name": "施工组织设计", "kind": "subjective", "max": "70", "step": "0.5",
    }  # fmt: skip
    return tender


async def bidding_world(web: Web, host: Person, tender: str, tmp: Path) -> World:
    """Bidding opens; three bidders seal and submit with the opening-test helpers."""
    harness = web.harness
    harness.clock.advance(3600)
    await harness.login(host)
    await harness.node.scheduler.tick()
    _, opening = await harness.call("GET", f"/api/tenders/{tender}/opening", host)
    _, view = await harness.call("GET", f"/api/tenders/{tender}", host)
    deadline = parse_time(view["spec"]["schedule"]["deadline"])
    key = EncryptionPublicKey.from_text(opening["opening_key"])
    world = World(harness, host, tender, [], key, tmp, deadline)
    for i in range(3):
        person = await harness.person(Role.BIDDER, f"投标人{i + 1} Bidder {i + 1}")
        session = await world.login(person)
        sealed = await world.seal(person, f"bidder{i + 1}", price=f"{1_000_000 + i * 12_345}.00")
        bidder = Bidder(person, session, sealed)
        await world.submit(bidder, sealed)
        world.bidders.append(bidder)
    return world


async def run_opening(web: Web, page: Page, world: World) -> None:
    tender, phase = world.tender, page.get_by_test_id("phase")
    await world.advance_to_sign_in()
    for bidder in world.bidders:
        await bidding.sign_in(bidder.session, tender)
    await world.advance_to_deadline()
    await expect(page.get_by_test_id("sign-ins")).to_contain_text("已签到 3 / 3", timeout=WAIT)
    await web.screenshot(page, "04-signed-in")
    await page.get_by_role("button", name="开始开标").click()
    await expect(phase).to_have_text("解密中", timeout=WAIT)
    await exchange_messages(web, page, world)
    first, *others = world.bidders
    await bidding.decrypt(first.session, tender, "L1", await world.file_key(first))
    decrypted = page.locator(f'[data-testid="bids"] tr[data-bidder="{first.id}"]')
    await expect(decrypted).to_have_attribute("data-status", "decrypted", timeout=WAIT)
    await page.get_by_test_id("pause-reason").fill("网络故障，暂停十分钟")
    await page.get_by_role("button", name="暂停解密").click()
    await expect(phase).to_have_text("已暂停", timeout=WAIT)
    paused = page.locator('[data-testid="feed"] li[data-type="opening.decryption_paused"]')
    await expect(paused).to_contain_text("网络故障，暂停十分钟", timeout=WAIT)
    await web.screenshot(page, "05-paused")
    assert await paused_reason(world) == "网络故障，暂停十分钟"
    await page.get_by_role("button", name="恢复解密").click()
    await expect(phase).to_have_text("解密中", timeout=WAIT)
    for bidder in others:
        await bidding.decrypt(bidder.session, tender, "L1", await world.file_key(bidder))
    await expect(page.locator('[data-testid="bids"] tr[data-status="decrypted"]')).to_have_count(3)
    await page.get_by_role("button", name="唱标（宣读开标记录）").click()
    record = page.get_by_test_id("record")
    await expect(record).to_contain_text("1012345.00", timeout=WAIT)
    await expect(record).to_contain_text("质保期(年)")
    await web.screenshot(page, "06-record")
    await answer_objection(web, page, world)


async def exchange_messages(web: Web, page: Page, world: World) -> None:
    """A bidder writes to the host (through the API); the host answers it alone, in the page."""
    first = world.bidders[0]
    await first.session.post(f"/api/tenders/{world.tender}/opening/messages", {"text": QUESTION})
    box = page.get_by_test_id("messages")
    await expect(box.locator(".theirs .message-body")).to_have_text([QUESTION], timeout=WAIT)
    await page.get_by_test_id("message-to").select_option(first.id)
    await page.get_by_test_id("message-text").fill(REPLY)
    await box.get_by_role("button", name="发送").click()
    await expect(box.locator(".mine .message-body")).to_have_text([REPLY], timeout=WAIT)
    await web.screenshot(page, "04b-messages")
    records = await world.harness.node.store.read(world.tender, 0, 10_000)
    sent = [r.payload for r in records if r.type == "opening.message_sent"]
    assert [(m["sender"], m["to"], m["text"]) for m in sent] == [
        (first.id, [], QUESTION),  # a bidder writes to the host
        (world.host.id, [first.id], REPLY),
    ]


async def paused_reason(world: World) -> str:
    records = await world.harness.node.store.read(world.tender, 0, 10_000)
    paused = [r for r in records if r.type == "opening.decryption_paused"]
    return str(paused[-1].payload["reason"])


async def answer_objection(web: Web, page: Page, world: World) -> None:
    first, second, third = world.bidders
    await bidding.object_to(first.session, world.tender, OBJECTION)
    await bidding.confirm(second.session, world.tender)
    objection = page.locator(".objection")
    await expect(objection.locator(".objection-text")).to_have_text(OBJECTION, timeout=WAIT)
    await web.screenshot(page, "07-objection")
    # The host types; a confirmation arrives mid-sentence and the console is drawn again.
    answer = objection.locator("textarea")
    await answer.click()
    await page.keyboard.type(ANSWER[:4])
    await bidding.confirm(third.session, world.tender)
    confirmed = page.locator(f'[data-testid="record"] tr[data-bidder="{third.id}"] .confirmed')
    await expect(confirmed).to_be_visible(timeout=WAIT)
    await page.keyboard.type(ANSWER[4:])
    await expect(answer).to_have_value(ANSWER)
    await objection.get_by_role("button", name="答复").click()
    await expect(objection.locator(".answer")).to_contain_text(ANSWER, timeout=WAIT)
    await page.get_by_role("button", name="结束开标").click()
    await expect(page.get_by_test_id("phase")).to_have_text("开标已结束", timeout=WAIT)
    _, view = await world.harness.call("GET", f"/api/tenders/{world.tender}/opening", world.host)
    assert [o["answer"] for o in view["objections"]] == [ANSWER]
    await web.screenshot(page, "08-closed")


async def enrol_experts(ev: Evaluation) -> list[str]:
    """The evaluation tests' pool (two regions, two specialties); returns the names."""
    for i, (specialty, region, employer) in enumerate(POOL, start=1):
        employer = employer or f"设计院{i}"
        attributes = {"specialty": specialty, "region": region, "employer": employer}
        person = await ev.harness.enroll(Role.EXPERT, f"专家{i} Expert {i}", attributes)
        ev.experts[person.id] = person
    return [person.participant.name for person in ev.experts.values()]


async def draw_experts(web: Web, page: Page, ev: Evaluation) -> None:
    world = ev.world
    names = await enrol_experts(ev)
    await page.get_by_role("button", name="开始评标").click()
    form = 'form.draw-form[data-lot="L1"]'
    await page.locator(form).wait_for(timeout=WAIT)
    # What the pool can give, by specialty and region, to plan the quotas: counts, no names.
    pool = page.locator('.pool[data-lot="L1"] [data-count=pool]')
    await expect(pool).to_have_count(len({(s, r) for s, r, _ in POOL}), timeout=WAIT)
    assert sum(int(count) for count in await pool.all_inner_texts()) == len(POOL)
    values: dict[str, str] = {
        "quotas[0].specialty": "建筑工程", "quotas[0].count": "3",
        "quotas[1].specialty": "工程造价", "quotas[1].count": "2",
        "sites[0].site": "main", "sites[0].region": "广州",
        "sites[0].workstations": "\n".join(f"M-0{i} 10.1.0.1{i}" for i in range(1, 6)),
        "sites[1].site": "sub-1", "sites[1].region": "深圳",
        "sites[1].workstations": "\n".join(f"S-0{i}" for i in range(1, 6)),
    }  # fmt: skip
    await add_row(page, form, "quotas")
    await add_row(page, form, "sites")
    # First a quota of none (refused as a field), then four building experts of 广州 alone,
    # where there are three (the draw fails at its reveal), then the request that can be met.
    wrong = {"quotas[0].count": "4", "quotas[1].count": "0", "sites[1].region": "北京"}
    await fill_draw(page, form, values | wrong)
    commit = page.locator(form).get_by_role("button", name="提交专家抽取")
    await commit.click()
    problem = page.locator(f'{form} [data-field="quotas[1].count"] .problem')
    await expect(problem).to_have_text("须在 1 至 49 之间。", timeout=WAIT)
    await fill_draw(page, form, {"quotas[1].count": "1"})
    stage = page.get_by_test_id("stage-L1")
    await reveal_draw(page, commit)
    await expect(page.locator('.room[data-lot="L1"] .error')).to_contain_text("上次抽取失败")
    await web.screenshot(page, "09-draw-failed")
    await fill_draw(page, form, {k: values[k] for k in wrong})  # the request is still there
    await reveal_draw(page, commit)
    await expect(page.locator('.room[data-lot="L1"] [data-count="members"]')).to_have_text("5")
    await web.screenshot(page, "10-drawn")
    await ev.seated()  # the members check in and pledge at their workstations: the room moves on
    await expect(stage).to_have_text("推选组长", timeout=WAIT)
    await expect(page.locator('.room[data-lot="L1"] [data-count="pledged"]')).to_have_text("5")
    await web.screenshot(page, "10b-election")
    await replace_a_member(web, page, ev)
    drawn = await committee_of(world)
    await page.locator("#lang-switch").click()  # English: drawn again from the same views
    await expect(page.get_by_test_id("phase")).to_have_text("closed")
    await expect(stage).to_have_text("leader election")
    await web.screenshot(page, "11-english")
    for shown in (page, await on_a_phone(web, world)):
        text = await shown.locator("body").inner_text()
        assert [name for name in names if name in text] == []
        assert [expert for expert in drawn if expert in text] == []


async def on_a_phone(web: Web, world: World) -> Page:
    """The same console on a phone's screen."""
    phone = await web.page(phone=True)
    await phone.goto(web.url(f"/host/{world.tender}"))
    await web.login(phone, world.host)
    await ready(phone)
    await expect(phone.get_by_test_id("stage-L1")).to_be_visible()
    # A fresh page reads the message box from the log.
    bodies = phone.locator('[data-testid="messages"] .message-body')
    await expect(bodies).to_have_text([QUESTION, REPLY])
    await web.screenshot(phone, "12-phone")
    fits = "document.documentElement.scrollWidth <= window.innerWidth"
    assert await phone.evaluate(fits)
    await phone.get_by_role("link", name="← 返回项目列表").click()
    await phone.get_by_role("button", name="新建招标项目").click()
    await expect(phone.get_by_test_id("score-total")).to_be_visible()
    assert await phone.evaluate(fits)
    await web.screenshot(phone, "13-phone-form")
    await phone.get_by_role("link", name=TITLE).click()  # and back to the tender
    await expect(phone.get_by_test_id("stage-L1")).to_be_visible()
    return phone


async def fill_draw(page: Page, form: str, values: dict[str, str]) -> None:
    for path, value in values.items():
        await page.locator(f'{form} [data-path="{path}"]').fill(value)


async def reveal_draw(page: Page, commit: Locator) -> None:
    """Commit the draw request, then reveal it."""
    await commit.click()
    stage = page.get_by_test_id("stage-L1")
    await expect(stage).to_have_text("已提交抽取承诺，待揭示", timeout=WAIT)
    reveal = page.get_by_role("button", name="揭示抽取结果")
    await reveal.click()
    await expect(reveal).to_have_count(0, timeout=WAIT)


async def replace_a_member(web: Web, page: Page, ev: Evaluation) -> None:
    """The host replaces a member by workstation (one a standby expert can succeed)."""
    view = await ev.view()
    specialty = ev.experts[view["standby"][0]].participant.attributes["specialty"]
    seat = next(m for m in view["members"] if m["specialty"] == specialty)
    box = page.locator('details.replace[data-lot="L1"]')
    await box.locator("summary").click()
    await box.locator(".replace-workstation").fill(seat["workstation"])
    await box.locator(".replace-reason").fill("身体不适")
    await box.get_by_role("button", name="确认更换").click()
    count = page.locator('.room[data-lot="L1"] [data-count="replacements"]')
    await expect(count).to_have_text("1", timeout=WAIT)
    await web.screenshot(page, "10c-replaced")
    after = await ev.view()
    replaced = [(r["leaving"], r["by"], r["reason"]) for r in after["replaced"]]
    assert replaced == [(seat["expert"], "host", "身体不适")]


async def committee_of(world: World) -> list[str]:
    records = await world.harness.node.store.read(world.tender, 0, 10_000)
    drawn = [r for r in records if r.type == "evaluation.committee_drawn"]
    assert len(drawn) == 1
    members: list[dict[str, Any]] = drawn[0].payload["members"]
    return [m["expert"] for m in members]


async def test_host_creates_and_runs_a_tender(web: Web, tmp_path: Path) -> None:
    harness = web.harness
    host = await harness.person(Role.HOST, "主持人 Host")
    custodians = [await harness.person(Role.CUSTODIAN, f"保管人{i}") for i in (1, 2)]
    page = await web.page()
    # The host's browser keeps Beijing time: what it types is local, what it sends is UTC.
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Shanghai"})
    await page.goto(web.url("/host"))
    await web.login(page, host)
    await ready(page)
    assert await page.evaluate("new Date().getTimezoneOffset()") == -480
    await web.screenshot(page, "00-list")
    tender = await create_tender(web, page, host, custodians)
    await ready(page)
    title = page.get_by_test_id("tender-title")
    await expect(title).to_have_text(TITLE)
    assert await page.locator("#app img, #app b, #app script").count() == 0
    await web.screenshot(page, "02-created")
    await through_the_list(web, page, tender)
    assert await page.get_by_role("button", name="开始开标").count() == 0
    await page.get_by_role("button", name="发布项目").click()
    await expect(page.get_by_test_id("summary")).to_have_attribute("data-state", "published")
    world = await bidding_world(web, host, tender, tmp_path)
    await refused_before_time(web, page)
    supervisor = await harness.person(Role.SUPERVISOR, "监督员 Supervisor")
    ev = Evaluation(world, {}, supervisor)
    try:
        await run_opening(web, page, world)
        await draw_experts(web, page, ev)
    finally:
        await ev.close()
    assert await page.evaluate("window.hacked === undefined")


async def through_the_list(web: Web, page: Page, tender: str) -> None:
    """Back to the list (drafts included), and to the tender again, without leaving the page."""
    await page.get_by_role("link", name="← 返回项目列表").click()
    row = page.locator(f'.tender-list tr[data-tender="{tender}"]')
    await expect(row.locator("a")).to_have_text(TITLE)
    await expect(row.locator(".state")).to_have_text("草稿")
    await web.screenshot(page, "02b-list")
    await row.locator("a").click()
    await expect(page.get_by_test_id("tender-title")).to_have_text(TITLE)
    assert page.url.endswith(f"/host/{tender}")
    await page.go_back()  # the browser's own buttons too, still logged in
    await expect(row).to_be_visible()
    await page.go_forward()
    await expect(page.get_by_test_id("tender-title")).to_have_text(TITLE)
    await expect(page.locator("#login")).to_have_count(0)


async def refused_before_time(web: Web, page: Page) -> None:
    """Starting the opening before the deadline: the node refuses, the page says it in Chinese."""
    await expect(page.get_by_test_id("summary")).to_have_attribute("data-state", "bidding")
    await page.get_by_role("button", name="开始开标").click()
    refusal = page.get_by_test_id("opening-refusal")
    await expect(refusal).to_contain_text(RULES["rule.OpeningTimeNotReached"], timeout=WAIT)
    await expect(page.get_by_test_id("sign-ins")).to_contain_text("保密")
    await web.screenshot(page, "03-bidding-refused")


def test_the_console_words_every_state_phase_bid_status_and_stage() -> None:
    """The console names these by catalogue keys it builds (host.state.<state>...): a value the
    node may send without its words would show as a missing message."""
    catalogue = json.loads((WEB / "i18n" / "host.json").read_text(encoding="utf-8"))["zh-CN"]
    families = {
        "host.state": set(TenderState),
        "host.phase": {*Phase, "not_started"},
        "host.bid": set(BidState),
        "host.stage": set(Stage),
    }
    missing = [f"{prefix}.{value}" for prefix, values in families.items() for value in values]
    assert [key for key in missing if key not in catalogue] == []


async def test_host_cancels_a_tender_with_a_reason(web: Web) -> None:
    harness = web.harness
    host = await harness.person(Role.HOST, "主持人 Host")
    tender = await harness.tender(host)
    await harness.post_ok(f"/api/tenders/{tender}/publish", {}, host)
    page = await web.page()
    await page.goto(web.url(f"/host/{tender}"))
    await web.login(page, host)
    await ready(page)
    cancel = page.get_by_test_id("cancel")
    await cancel.locator("summary").click()
    await cancel.get_by_role("button", name="确认终止").click()  # no reason: not even sent
    await expect(cancel.locator(".error")).to_have_text("请填写终止原因。")
    reason = "<i>招标文件有误</i>，重新招标"
    await page.get_by_test_id("cancel-reason").fill(reason)
    await cancel.get_by_role("button", name="确认终止").click()
    summary = page.get_by_test_id("summary")
    await expect(summary).to_have_attribute("data-state", "cancelled")
    await expect(page.get_by_test_id("ended-reason")).to_have_text(reason)
    assert await page.locator("#app i").count() == 0
    await expect(page.get_by_test_id("cancel")).to_have_count(0)
    await web.screenshot(page, "cancelled")
    _, view = await harness.call("GET", f"/api/tenders/{tender}", host)
    assert (view["state"], view["ended_reason"]) == ("cancelled", reason)
