"""The browser pages in a real headless Chromium (Debian's, driven by Playwright; no browser is
ever downloaded) against a node on a real socket (tests/conftest.py's Harness).

Every page a test opens is watched: a script error, a Content-Security-Policy violation or a
message missing from the catalogue fails the test when it ends. Responses the node refuses
(401, 422...) are not errors of the page: pages show them, and tests assert what they show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from tests.conftest import Harness, Person

CHROMIUM = Path("/usr/bin/chromium")
# Chromium hides its host addresses behind mDNS names unless told not to; the node's aiortc
# can't resolve those (tests/e2e/test_browser_media.py).
FLAGS = ["--disable-features=WebRtcHideLocalIpsWithMdns"]
SHOTS = Path(__file__).resolve().parents[2] / ".screenshots"
TIMEOUT_MS = 10_000
_NOT_PAGE_ERRORS = re.compile(r"^Failed to load resource: the server responded with a status")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason=f"no Chromium at {CHROMIUM} (scripts/setup --dev installs it)"
)


@dataclass
class Web:
    """A browser on the harness's node, and what its pages said on their consoles."""

    harness: Harness
    browser: Browser
    shots: Path
    keys: Path
    errors: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return str(self.harness.client.make_url(path))

    async def page(self, *, phone: bool = False) -> Page:
        """A fresh page in a context of its own (its own memory: nothing shared between
        participants), a laptop's screen or a phone's."""
        size = (
            ViewportSize(width=390, height=844) if phone else ViewportSize(width=1280, height=860)
        )
        context = await self.browser.new_context(viewport=size, locale="zh-CN")
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", lambda m: self._console(m.type, m.text))
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        return page

    def _console(self, kind: str, text: str) -> None:
        if kind == "error" and not _NOT_PAGE_ERRORS.match(text):
            self.errors.append(text)

    def key_file(self, person: Person) -> Path:
        """The person's identity key as `bidroom key generate` writes it, named `<id>.pem`."""
        path = self.keys / f"{person.id}.pem"
        path.write_bytes(person.key.to_pem())
        return path

    async def login(self, page: Page, person: Person) -> None:
        """Sign in through the page's login panel with the person's key file."""
        await page.locator("#login-key").set_input_files(self.key_file(person))
        await expect(page.locator("#login-participant")).to_have_value(person.id)
        await page.locator("#login-submit").click()
        await expect(page.locator("#login")).to_have_count(0)

    async def screenshot(self, page: Page, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await page.screenshot(path=path, full_page=True)
        return path


@pytest.fixture
def chromium_flags() -> list[str]:
    """The browser's command line; a test module may override it."""
    return FLAGS


@pytest.fixture
async def web(
    harness: Harness, tmp_path: Path, request: pytest.FixtureRequest, chromium_flags: list[str]
) -> AsyncIterator[Web]:
    shots = SHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shots.mkdir(parents=True, exist_ok=True)
    keys = tmp_path / "keys"
    keys.mkdir()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=chromium_flags
        )
        found = Web(harness, browser, shots, keys)
        try:
            yield found
        finally:
            await browser.close()
    assert not found.errors, f"the pages reported errors: {found.errors}"
