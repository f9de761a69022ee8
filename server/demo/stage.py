"""`bidroom demo --keep-serving`: after the story, the node keeps serving, with a second tender
staged for people in a browser (docs/pages.md), and the key files to sign in as anyone.

The staged tender is published with its opening a few minutes ahead; the five bidders have
sealed and uploaded their bids. The host's part is left to whoever opens the host's console.
Bidder A is left to whoever opens the hall with its key file; bidders B to E are on autopilot:
they sign in, decrypt once the host starts the opening and confirm the record once it is read
out, as their own tools would. The experts of the pool can be drawn for it and sit at the
workstation page with their key files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from evaluator_client import bidding
from evaluator_client.errors import ApiError
from recordings.vocabulary import EventType
from server.demo.opening import BIDDERS, PRICES, Opening
from server.demo.watch import Watcher
from server.keyfiles import write_private_file
from server.protocol.times import format_time

if TYPE_CHECKING:
    from pathlib import Path

    from crypto import SigningKey, VerifyKey
    from server.demo import Demo, Person

logger = logging.getLogger(__name__)

AUTOPILOT: Final = BIDDERS[1:]  # bidder-1 is the browser's
POLL_SECONDS: Final = 2.0  # the autopilot reads the opening view at this pace


@dataclass(frozen=True)
class Identity:
    """Someone the demo enrolled: its name in the demo, participant id, role and keys."""

    name: str
    participant: str
    role: str
    key: SigningKey
    encryption: bytes | None = None  # PKCS#8 PEM of the X25519 key, for bidders and custodians


class StagedOpening(Opening):
    """The story's opening, staged: published with the opening `opening_in` ahead, bids in."""

    def __init__(
        self, demo: Demo, people: dict[str, Person], node_key: VerifyKey, opening_in: timedelta
    ) -> None:
        super().__init__(demo, people, node_key)
        self.opening_in = opening_in
        self.bids_folder = "bidders-staged"
        self.opens_at = ""

    def tender_spec(self) -> dict[str, Any]:
        spec = super().tender_spec()
        now = datetime.now(UTC)
        spec["title"] = "演示：请在浏览器中主持开标 Demo: host this opening in the browser"
        spec["schedule"]["bidding_opens_at"] = format_time(now + timedelta(seconds=1))
        self.opens_at = format_time(now + self.opening_in)
        spec["schedule"]["deadline"] = self.opens_at
        return spec

    async def stage(self) -> None:
        await self.publish()
        host = self.people["host"]
        opened = Watcher("host", host.session, self.tender, self.demo.out, self.demo.started, True)
        watching = asyncio.create_task(opened.watch())
        try:
            await opened.wait_for(EventType.TENDER_BIDDING_OPENED)  # the scheduler opens it
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        self.say("投标 The five bidders seal and upload their bids to the staged tender")
        for name, price in zip(BIDDERS, PRICES, strict=True):
            await self.seal_and_submit(name, price)


def write_key_files(folder: Path, identities: list[Identity]) -> dict[str, Path]:
    """Each identity's key as `bidroom key generate` writes it, `<participant>.pem` in a
    folder named after its role and name (the page reads the id from the file's name)."""
    written = {}
    for identity in identities:
        where = folder / f"{identity.role}-{identity.name}"
        where.mkdir(parents=True, exist_ok=True)
        path = where / f"{identity.participant}.pem"
        # Plain on purpose, as `bidroom key generate --no-passphrase` writes them: the demo's
        # people are made up, and the pages sign in with these files without a passphrase.
        path.unlink(missing_ok=True)
        write_private_file(path, identity.key.to_pem())
        if identity.encryption is not None:
            encryption = where / f"{identity.participant}.encryption.pem"
            encryption.unlink(missing_ok=True)
            write_private_file(encryption, identity.encryption)
        written[identity.name] = path
    return written


async def autopilot(story: StagedOpening, name: str) -> None:
    """A bidder that does what its tool would: sign in, decrypt when the opening starts,
    confirm the record once read out. Errors are logged; the demo goes on."""
    person = story.people[name]
    session = person.session
    path = f"/api/tenders/{story.tender}/opening"
    signed_in = decrypted = confirmed = False
    while not confirmed:
        try:
            view = await session.get(path)
            if not signed_in:
                await bidding.sign_in(session, story.tender)
                signed_in = True
            elif view["phase"] == "decrypting" and not decrypted:
                file_key = await asyncio.to_thread(bidding.unwrap, story.sealed[name], person.key)
                await bidding.decrypt(session, story.tender, "L1", file_key)
                decrypted = True
            elif view["phase"] == "record_published":
                await bidding.confirm(session, story.tender)
                confirmed = True
            elif view["phase"] == "closed":
                return
        except ApiError as exc:
            logger.info("%s on autopilot: %s (%s)", name, exc, exc.rule)
        await asyncio.sleep(POLL_SECONDS)


async def keep_serving(
    story: StagedOpening, identities: list[Identity], base: str, stop: asyncio.Event
) -> None:
    """Stage the tender, print where to go, and serve until `stop` is set."""
    demo = story.demo
    await story.stage()
    files = write_key_files(demo.data_dir / "keys", identities)
    pilots = [asyncio.create_task(autopilot(story, name)) for name in AUTOPILOT]
    tender = story.tender
    demo.say("浏览器 Open the pages in a browser (the node keeps serving; Ctrl+C stops it)")
    for label, url in [
        ("开标大厅 Opening hall (public, bidders)", f"{base}/hall/{tender}"),
        ("已完成的开标 The finished opening", f"{base}/hall/{demo.tender}"),
        ("主持人控制台 Host console", f"{base}/host/{tender}"),
        ("评标工作台 Expert workstation", f"{base}/expert"),
        ("监控窗口 Supervisor console", f"{base}/supervisor"),
        ("管理 Admin", f"{base}/admin"),
        ("首页 Landing page", f"{base}/"),
    ]:
        demo.line(f"{label:<40} {url}")
    demo.say("密钥文件 Key files to sign in with (select one in the page's login panel)")
    for identity in identities:
        demo.line(f"{identity.role:<10} {identity.name:<12} {files[identity.name]}")
    demo.line(f"sealed bid   bidder-1     {story.sealed['bidder-1']} (to decrypt in the hall)")
    demo.line(
        f"the opening of {tender} is at {story.opens_at}; bidders B to E sign in, decrypt "
        "and confirm by themselves, bidder-1 is yours"
    )
    try:
        await stop.wait()
    finally:
        for pilot in pilots:
            pilot.cancel()
        for pilot in pilots:
            with contextlib.suppress(asyncio.CancelledError):
                await pilot
