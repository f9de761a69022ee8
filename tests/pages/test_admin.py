"""The admin page in a real Chromium: an expert enrolled from the form with its pool attributes
(the node has them), a node's site and workstations, refusals shown in Chinese next to their
fields, and a name with markup that stays text."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from playwright.async_api import Page, expect

from crypto import EncryptionKey, SigningKey
from server.domain.access import Role

if TYPE_CHECKING:
    from tests.conftest import Person
    from tests.pages.conftest import Web

XSS = '<img src=x id=pwned onerror="document.body.dataset.pwned=1">'


async def admin_page(web: Web, admin: Person, *, phone: bool = False) -> Page:
    page = await web.page(phone=phone)
    await page.goto(web.url("/admin"))
    await web.login(page, admin)
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page


async def test_an_admin_enrols_an_expert_with_its_pool_attributes(web: Web) -> None:
    admin = await web.harness.person(Role.ADMIN, "管理员")
    page = await admin_page(web, admin)
    key, encryption = SigningKey.generate(), EncryptionKey.generate()
    await page.locator("#enrol-role").select_option("expert")
    await page.locator("#enrol-name").fill(f"张专家 {XSS}")
    await page.locator("#enrol-public-key").fill(key.verify_key.to_text())
    await page.locator("#enrol-encryption-key").fill(encryption.public_key.to_text())
    await page.locator("#attr-specialty").fill("市政工程")
    await page.locator("#attr-region").fill("东区")
    await page.locator("#attr-employer").fill("示范设计院")
    await page.locator("#attr-relations").fill("甲建设公司;乙监理公司")
    await web.screenshot(page, "enrol-form")
    await page.locator("#enrol-submit").click()
    done = page.locator("#enrol-done")
    await expect(done).to_have_attribute("data-participant", re.compile(r"^p-[0-9a-f]{12}$"))
    expert_id = await done.get_attribute("data-participant")
    assert expert_id is not None
    enrolled = await web.harness.node.participants.find(expert_id)
    assert enrolled is not None
    assert (enrolled.role, enrolled.name) == (Role.EXPERT, f"张专家 {XSS}")
    assert enrolled.public_key == key.verify_key.to_text()
    assert enrolled.encryption_key == encryption.public_key.to_text()
    assert dict(enrolled.attributes) == {
        "specialty": "市政工程", "region": "东区", "employer": "示范设计院",
        "relations": "甲建设公司;乙监理公司",
    }  # fmt: skip
    # The list, the pool: the name is text, never markup.
    row = page.locator(f'#participant-rows tr[data-participant="{expert_id}"]')
    await expect(row.locator(".name")).to_have_text(f"张专家 {XSS}")
    await expect(row.locator('[data-attribute="specialty"]')).to_have_text("专业: 市政工程")
    await expect(page.locator('#pool-summary [data-specialty="市政工程"]')).to_contain_text("东区")
    await expect(page.locator("#pwned")).to_have_count(0)
    assert await page.evaluate("() => document.body.dataset.pwned") is None
    await page.locator("#list-role").select_option("expert")
    await expect(page.locator("#participant-rows tr")).to_have_count(1)
    await web.screenshot(page, "enrolled")

    # A site's node, with its workstations: listed under its site.
    node_key = SigningKey.generate()
    await page.locator("#enrol-role").select_option("node")
    await expect(page.locator("#expert-attributes")).to_be_hidden()
    await page.locator("#enrol-name").fill("东区副场节点")
    await page.locator("#enrol-public-key").fill(node_key.verify_key.to_text())
    await page.locator("#attr-site").fill("east")
    await page.locator("#attr-workstations").fill("E-01;E-02")
    await page.locator("#enrol-submit").click()
    site = page.locator("#site-list li", has_text="east")
    await expect(site.locator(".tag")).to_have_text(["E-01", "E-02"])
    assert "east" in (await web.harness.node.participants.registry()).node_sites()


async def test_refusals_are_shown_in_chinese_next_to_their_fields(web: Web) -> None:
    admin = await web.harness.person(Role.ADMIN, "管理员")
    page = await admin_page(web, admin, phone=True)
    await page.locator("#enrol-role").select_option("custodian")
    await page.locator("#enrol-public-key").fill("ed25519:not-a-key")
    await page.locator("#enrol-extra").fill("Bad Name=1")
    await page.locator("#enrol-submit").click()
    await expect(page.locator("#error-name")).to_have_text("长度须为 1 至 200 个字符。")
    await expect(page.locator("#error-encryption_key")).to_contain_text("密钥保管人必须提供")
    await expect(page.locator("#error-attributes")).to_contain_text("属性名须以小写字母开头")
    await expect(page.locator("#enrol-name")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#enrol-error")).to_have_text("请按提示修改标出的字段。")
    await web.screenshot(page, "problems-phone")
    # The shape fixed, the node checks the keys.
    await page.locator("#enrol-name").fill("保管人 甲")
    await page.locator("#enrol-extra").fill("")
    await page.locator("#enrol-encryption-key").fill(EncryptionKey.generate().public_key.to_text())
    await page.locator("#enrol-submit").click()
    await expect(page.locator("#error-public_key")).to_have_text(
        "公钥编码无效（应为无填充的 base64url）。"
    )
    await expect(page.locator("#error-name")).to_have_text("")
    names = [p.name for p in (await web.harness.node.participants.registry()).all()]
    assert "保管人 甲" not in names


async def test_the_page_switches_to_english_and_back(web: Web) -> None:
    admin = await web.harness.person(Role.ADMIN, "管理员")
    await web.harness.enroll(Role.EXPERT, "李专家", {"specialty": "电气", "region": "西区"})
    page = await admin_page(web, admin)
    heading = page.locator("#participants h2")
    await expect(heading).to_have_text("已登记参与人")
    await page.locator("#lang-switch").click()
    await expect(heading).to_have_text("Enrolled participants")
    await expect(page.locator('[data-attribute="specialty"]')).to_have_text("specialty: 电气")
    await expect(page.locator("#enrol-submit")).to_have_text("Enrol")
    await web.screenshot(page, "english")
    await page.locator("#lang-switch").click()
    await expect(page.locator('[data-attribute="region"]')).to_have_text("地区: 西区")
