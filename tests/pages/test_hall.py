"""The opening hall (不见面开标大厅) in a real Chromium: bidders sign in, check their receipts
against the node-signed sealed lists, decrypt in the page, follow every bid's decryption,
watch the record read out row by row, confirm and object (signed in the page), see the host's
answer and write to the host; a visitor sees the same hall with no action; what people typed
stays text.

Two tests share one scenario: a bidder up to its decryption and its messages, then the record,
confirmations, an objection and its answer, the close and a visitor (the second brings the
opening to its decrypted state with the command-line client). Each step saves a screenshot
under .screenshots/<test>/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from playwright.async_api import Page, expect

from crypto import (
    SigningKey,
    b64url_decode,
    b64url_encode,
    canonical_json,
    merkle_root,
    sign,
    verify,
)
from evaluator_client import bidding
from recordings.documents import CONFIRMATION_LABEL, confirmation_document
from server.domain.access import Role
from tests.server.transport.opening_world import Bidder, World, build_world

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from tests.conftest import Person
    from tests.pages.conftest import Web

# Markup where people type: it must show as text and run nothing.
XSS_NAME = '<img src=x onerror="window.pwned=1">投标人X'
XSS_MESSAGE = '<img src=x onerror="window.pwned=2">解密按钮没有反应'
XSS_OBJECTION = "<script>window.pwned=3</script>报价大写与小写不一致"
ANSWER = "以大写为准 <b>answered</b>"
PASSPHRASE = "开标 passphrase"
ROW_TIMEOUT_MS = 15_000  # the record is read out one row at a time


async def add_bidder(world: World, name: str, price: str) -> Bidder:
    """One more bidder, sealed and submitted by the Python sealer like the world's own."""
    person = await world.harness.person(Role.BIDDER, name)
    session = await world.login(person)
    sealed = await world.seal(person, "extra", price=price)
    bidder = Bidder(person, session, sealed)
    await world.submit(bidder, sealed)
    world.bidders.append(bidder)
    return bidder


def encryption_key_file(web: Web, person: Person) -> Path:
    """The bidder's X25519 key as `bidroom key generate` writes it (PKCS#8 PEM, protected)."""
    assert person.encryption is not None
    path = web.keys / f"{person.id}-encryption.pem"
    path.write_bytes(person.encryption.to_pem(PASSPHRASE.encode()))
    return path


async def open_hall(web: Web, world: World, person: Person | None) -> Page:
    """The tender's hall, logged in as `person`, or as a visitor."""
    page = await web.page()
    await page.goto(web.url(f"/hall/{world.tender}"))
    if person is None:
        await page.locator("#visit").click()
        await expect(page.locator("#login")).to_have_count(0)
    else:
        await web.login(page, person)
    await expect(page.locator("#tender-title")).to_have_text("Street lighting renovation")
    return page


async def assert_inert(page: Page) -> None:
    """No markup anyone typed became an element, and none of its script ran."""
    assert await page.evaluate("window.pwned === undefined")
    await expect(page.locator("main img")).to_have_count(0)
    await expect(page.locator("main script, main b")).to_have_count(0)


@pytest.fixture
async def world(web: Web, tmp_path: Path) -> AsyncIterator[World]:
    """Three bidders sealed and submitted by the Python sealer, and one whose name is markup."""
    (tmp_path / "bids").mkdir()
    built = await build_world(web.harness, tmp_path / "bids", count=3)
    try:
        await add_bidder(built, XSS_NAME, "990000.00")
        yield built
    finally:
        await built.close()


async def test_a_bidder_signs_in_checks_its_receipt_and_decrypts_in_the_page(
    web: Web, world: World
) -> None:
    harness, tender, host = web.harness, world.tender, world.host
    first, other = world.bidders[0], world.bidders[-1]

    # Before the sign-in window: the countdown, the receipt, and a refusal shown in Chinese.
    page = await open_hall(web, world, first.person)
    await expect(page.locator("#countdown-label")).to_have_text("距投标截止（开标）还有")
    await expect(page.locator("#countdown-value")).to_contain_text(":")
    await expect(page.locator("#tender-state")).to_have_text("投标中")
    await expect(page.locator("#lots")).to_contain_text("Lot 1")
    receipt = page.locator("#receipt-L1")
    await expect(receipt).to_contain_text(first.receipt["sha256"][:8])
    await expect(page.locator("#inclusion-L1")).to_contain_text("投标截止后")
    await expect(page.locator("#progress-empty")).to_contain_text("保密")
    await expect(page.locator("#message-note")).to_contain_text("投标截止后方可留言")
    await expect(page.locator("#message-send")).to_be_disabled()
    await page.locator("#sign-in").click()
    await expect(page.locator("#sign-in-error")).to_have_text("签到尚未开放或已结束。")
    await web.screenshot(page, "01-bidder-too-early-to-sign-in")

    # 签到 in the window; the others sign in with the command-line client.
    await world.advance_to_sign_in()
    await page.locator("#sign-in").click()
    await expect(page.locator("#sign-in-status")).to_have_text("已签到")
    await expect(page.locator("#sign-in")).to_be_hidden()
    for bidder in world.bidders[1:]:
        await bidding.sign_in(bidder.session, tender)
    await web.screenshot(page, "02-bidder-signed-in")

    # The deadline: the page checks its receipt in the node-signed sealed list itself.
    await world.advance_to_deadline()
    await expect(page.locator("#inclusion-L1")).to_contain_text("已核对", timeout=15_000)
    await expect(page.locator("#inclusion-L1")).to_contain_text("共 4 份")
    await expect(page.locator("#countdown-label")).to_have_text("投标已截止，等待主持人开标")
    await web.screenshot(page, "03-receipt-checked-in-the-sealed-list")
    await the_page_s_check_refuses_what_is_wrong(page, world)

    # The opening: every bid pending, then decrypted, live; this bidder decrypts in the page.
    await harness.post_ok(f"/api/tenders/{tender}/opening/start", {}, host)
    table = page.locator("#progress-table")
    await expect(table.locator("tbody tr")).to_have_count(4)
    await expect(table.locator(f'tr[data-bidder="{first.id}"] .bid-status')).to_have_text("待解密")
    await expect(table.locator(f'tr[data-bidder="{other.id}"] .bidder-name')).to_have_text(XSS_NAME)
    await expect(page.locator("#countdown-label")).to_have_text("解密剩余时间")
    await expect(page.locator("#decrypt-cli")).to_contain_text("bidroom bidder decrypt")
    await web.screenshot(page, "04-decryption-window-open")
    await page.locator("#decrypt-sealed").set_input_files(first.sealed)
    await page.locator("#decrypt-key").set_input_files(web.key_file(first.person))
    await page.locator("#decrypt-submit").click()  # the identity key is no encryption key
    await expect(page.locator("#decrypt-error")).to_contain_text("这不是加密密钥（X25519）")
    # A passphrase-protected key file, as `bidroom key generate --passphrase-env` writes it.
    await page.locator("#decrypt-key").set_input_files(encryption_key_file(web, first.person))
    await page.locator("#decrypt-submit").click()
    await expect(page.locator("#decrypt-error")).to_have_text(
        "该密钥文件有口令保护，请填写密钥口令。"
    )
    await page.locator("#decrypt-passphrase").fill(PASSPHRASE)
    await page.locator("#decrypt-sealed").set_input_files(world.bidders[1].sealed)
    await page.locator("#decrypt-submit").click()  # another bidder's file: refused in the page
    await expect(page.locator("#decrypt-error")).to_have_text(
        "该文件不是您在本项目此标段的投标文件。"
    )
    await page.locator("#decrypt-sealed").set_input_files(first.sealed)
    await page.locator("#decrypt-passphrase").fill(PASSPHRASE)
    await page.locator("#decrypt-submit").click()
    await expect(table.locator(f'tr[data-bidder="{first.id}"] .bid-status')).to_have_text(
        "解密成功"
    )
    await expect(page.locator("#decrypt")).to_be_hidden()
    for bidder in world.bidders[1:]:
        await bidding.decrypt(bidder.session, tender, "L1", await world.file_key(bidder))
    await expect(page.locator("#progress-count")).to_contain_text("已处理 4 / 4 份")
    await web.screenshot(page, "05-every-bid-decrypted")
    # A pause keeps the time left, and the page says so.
    await harness.post_ok(f"/api/tenders/{tender}/opening/pause", {"reason": "网络故障"}, host)
    await expect(page.locator("#countdown-label")).to_have_text("解密已暂停，剩余时间")
    await expect(page.locator("#opening-phase")).to_have_text("解密暂停")
    await expect(page.locator("#pause-reason")).to_have_text("暂停原因：网络故障")
    await harness.post_ok(f"/api/tenders/{tender}/opening/resume", {}, host)
    await expect(page.locator("#countdown-label")).to_have_text("解密剩余时间")

    # The message box: the bidder writes to the host, the host answers it alone.
    await page.locator("#message-text").fill(XSS_MESSAGE)
    await page.locator("#message-send").click()
    messages = page.locator("#message-list .message")
    await expect(messages.first.locator(".message-text")).to_have_text(XSS_MESSAGE)
    path = f"/api/tenders/{tender}/opening/messages"
    await harness.login(host)
    await harness.post_ok(path, {"text": "请稍候，马上唱标", "to": first.id}, host)
    await expect(messages).to_have_count(2)
    await expect(messages.nth(1)).to_contain_text("主持人")
    await expect(messages.nth(1).locator(".message-text")).to_have_text("请稍候，马上唱标")
    await harness.post_ok(path, {"text": "五分钟后唱标"}, host)  # to every signed-in bidder
    await expect(messages.nth(2)).to_contain_text("致全体投标人")
    await assert_inert(page)
    await web.screenshot(page, "06-messages-with-the-host")


async def decrypted_by_their_tools(world: World) -> None:
    """Every bidder signs in and decrypts with the command-line client: the window is open."""
    await world.advance_to_sign_in()
    for bidder in world.bidders:
        await bidding.sign_in(bidder.session, world.tender)
    await world.advance_to_deadline()
    await world.harness.post_ok(f"/api/tenders/{world.tender}/opening/start", {}, world.host)
    for bidder in world.bidders:
        await bidding.decrypt(bidder.session, world.tender, "L1", await world.file_key(bidder))


async def test_the_record_is_read_out_confirmed_objected_answered_and_closed(
    web: Web, world: World
) -> None:
    harness, tender, host = web.harness, world.tender, world.host
    first, other = world.bidders[0], world.bidders[-1]
    await decrypted_by_their_tools(world)
    page = await open_hall(web, world, first.person)
    await expect(page.locator("#progress-count")).to_contain_text("已处理 4 / 4 份")
    await harness.post_ok(
        f"/api/tenders/{tender}/opening/messages", {"text": "五分钟后唱标"}, host
    )  # to every signed-in bidder
    await expect(page.locator("#message-list .message-text")).to_have_text("五分钟后唱标")

    # 唱标: the record appears row by row; the page checks its hash before anyone signs.
    await harness.post_ok(f"/api/tenders/{tender}/opening/record", {}, host)
    rows = page.locator("#record .record-row")
    await expect(page.locator("#record-reading")).to_be_visible()  # row by row, as read out
    await expect(rows).to_have_count(4, timeout=ROW_TIMEOUT_MS)
    await expect(page.locator("#record-reading")).to_have_count(0)
    await expect(page.locator("#record-hash")).to_contain_text("本页已核对开标记录哈希")
    price = page.locator(f'#record .record-row[data-bidder="{first.id}"] .sheet-price')
    await expect(price).to_have_text("1,000,000.00")
    await web.screenshot(page, "07-record-read-out")

    # The first bidder confirms, signed in the page with its key.
    await page.locator("#confirm").click()
    await expect(page.locator("#respond-status")).to_have_text("您已确认开标记录。")
    await expect(page.locator("#respond-actions")).to_be_hidden()
    confirmed = await harness.node.store.read(tender, 0, 10_000)
    signature = next(r for r in confirmed if r.type == "opening.confirmed").payload["signature"]
    record_hash = next(r for r in confirmed if r.type == "opening.record_published").payload
    document = confirmation_document(tender, record_hash["record_hash"])
    verify(first.person.key.verify_key, CONFIRMATION_LABEL, document, b64url_decode(signature))
    await web.screenshot(page, "08-record-confirmed")

    # The other bidder objects in its own page; the host answers; both pages show it.
    objecting = await open_hall(web, world, other.person)
    await expect(objecting.locator("#record .record-row")).to_have_count(4)
    await objecting.locator("#objection-text").fill(XSS_OBJECTION)
    await objecting.locator("#object").click()
    await expect(objecting.locator("#respond-status")).to_have_text(
        "您已提出异议，请等待主持人答复。"
    )
    objection = objecting.locator('#objection-list [data-objection="o1"]')
    await expect(objection.locator(".objection-text")).to_have_text(XSS_OBJECTION)
    await expect(objection.locator(".objection-pending")).to_be_visible()
    await web.screenshot(objecting, "09-objection-raised")
    await harness.post_ok(
        f"/api/tenders/{tender}/opening/objections/o1/answer", {"answer": ANSWER}, host
    )
    for seen in (objecting, page):
        answered = seen.locator('#objection-list [data-objection="o1"] .answer-text')
        await expect(answered).to_have_text(ANSWER)
        await assert_inert(seen)
    # A message of one bidder is never another's; a message to all is everyone's.
    await expect(objecting.locator("#message-list .message")).to_have_count(1)
    await expect(objecting.locator("#message-list .message-text")).to_have_text("五分钟后唱标")
    await web.screenshot(objecting, "10-objection-answered")
    await web.screenshot(page, "11-answer-seen-by-the-other-bidder")

    # The others confirm with the command-line client; the host closes; the page checks the
    # node's signature over the final record.
    for bidder in world.bidders[1:-1]:
        await bidding.confirm(bidder.session, tender)
    await harness.post_ok(f"/api/tenders/{tender}/opening/close", {}, host)
    final = page.locator("#record-final")
    await expect(final).to_contain_text("最终开标记录（确认 3 家，视为认可 0 家，异议 1 项）")
    await expect(final).to_contain_text("节点签名已在本页核对")
    await expect(page.locator("#countdown-label")).to_have_text("开标已结束")
    await expect(page.locator("#message-send")).to_be_disabled()
    await web.screenshot(page, "12-opening-closed-final-record-checked")
    await page.locator("#lang-switch").click()  # what the page drew from data, in English too
    await expect(page.locator("#record-final")).to_contain_text("The opening is closed.")
    await expect(page.locator("#respond-status")).to_have_text("You confirmed the record.")
    await expect(page.locator("#countdown-label")).to_have_text("The opening is over")
    await expect(page.locator("#progress-count")).to_contain_text("4 of 4 bids settled")
    await web.screenshot(page, "12b-closed-in-english")

    # A visitor: the same hall, the record and the answer, and no action at all.
    visitor = await open_hall(web, world, None)
    await expect(visitor.locator("#record .record-row")).to_have_count(4)
    answered = visitor.locator('#objection-list [data-objection="o1"] .answer-text')
    await expect(answered).to_have_text(ANSWER)
    await expect(visitor.locator("#visitor-note")).to_be_visible()
    await expect(visitor.locator("#record-final")).to_contain_text("节点签名已在本页核对")
    for action in ("#bidder-panel", "#sign-in", "#confirm", "#object", "#messages", "#decrypt"):
        await expect(visitor.locator(action)).to_have_count(0)
    await assert_inert(visitor)
    await web.screenshot(visitor, "13-visitor-sees-the-hall-without-actions")


# What the page's own check of a sealed list refuses (hall/verify.js), run in the page: a list
# the node did not sign, a list signed over a root that is not its receipts', a receipt not in it.
CHECK = """
async ({cases, nodeKey, forger}) => {
  const verify = await import("/static/js/hall/verify.js");
  const keys = {
    node: await verify.importNodeKey(nodeKey),
    forger: await verify.importNodeKey(forger),
  };
  const found = {};
  for (const [name, c] of Object.entries(cases)) {
    try {
      found[name] = await verify.checkInclusion(keys[c.key], c.list, c.signature, c.receipt);
    } catch (error) {
      found[name] = error.key;
    }
  }
  return found;
}
"""


async def the_page_s_check_refuses_what_is_wrong(page: Page, world: World) -> None:
    first = world.bidders[0]
    sealed = await first.session.get(f"/api/tenders/{world.tender}/lots/L1/sealed-list")
    genuine, receipt = sealed["list"], first.receipt
    node = (await world.harness.call("GET", "/api/node"))[1]
    forger = SigningKey.generate()  # signs whatever it likes: only the root check is left

    def forged(changes: dict[str, Any]) -> dict[str, Any]:
        document = genuine | changes
        return {"list": document, "receipt": receipt, "key": "forger",
                "signature": b64url_encode(sign(forger, "sealed-list", document))}  # fmt: skip

    cases = {
        "genuine": {"list": genuine, "signature": sealed["signature"], "receipt": receipt,
                    "key": "node"},
        "tampered": {"list": genuine | {"root": "00" * 32}, "signature": sealed["signature"],
                     "receipt": receipt, "key": "node"},
        "bad_root": forged({"root": "00" * 32}),
        "dropped": forged({"receipts": genuine["receipts"][1:]}),
        "stranger": {"list": genuine, "signature": sealed["signature"], "key": "node",
                     "receipt": receipt | {"sha256": "ab" * 32}},
    }  # fmt: skip
    keys = {"nodeKey": node["public_key"], "forger": forger.verify_key.to_text()}
    found = await page.evaluate(CHECK, {"cases": cases, **keys})
    leaves = [canonical_json(r) for r in genuine["receipts"]]
    assert found == {
        "genuine": merkle_root(leaves).hex(),  # the root the node's own code computes
        "tampered": "verify.bad_signature",
        "bad_root": "verify.bad_root",
        "dropped": "verify.bad_root",
        "stranger": "verify.not_listed",
    }
