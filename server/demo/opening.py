"""The demo's story: a tender from publication to the signed opening record (不见面开标)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import unicodedata
import zipfile
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from crypto import (
    EncryptionPublicKey,
    VerifyKey,
    b64url_decode,
    canonical_json,
    digest,
    verify,
)
from evaluator_client import bidding
from evaluator_client.errors import ApiError
from evaluator_client.witness import Witness, latest_tree_head
from recordings.vocabulary import EventType
from server.demo.media import HEIGHT, RATE, WIDTH
from server.demo.scoring import sample_scoring
from server.protocol import box_stream
from server.protocol.times import format_time

if TYPE_CHECKING:
    from pathlib import Path

    from evaluator_client.session import Session
    from server.demo import Demo, Person
    from server.demo.watch import Watcher

BIDDING_OPENS_IN: Final = timedelta(seconds=1)
DEADLINE_IN: Final = timedelta(seconds=5)
BIDDERS: Final = ("bidder-1", "bidder-2", "bidder-3", "bidder-4", "bidder-5")
PRICES: Final = ("3286500.00", "3150000.00", "3412800.50", "3098760.00", "3555000.00")
PACKAGE_MAGIC_LENGTH: Final = len(b"BIDROOM-BID-PACKAGE/1\n")


class Opening:
    def __init__(self, demo: Demo, people: dict[str, Person], node_key: VerifyKey) -> None:
        self.demo = demo
        self.people = people
        self.node_key = node_key
        self.host = people["host"].session
        self.tender = ""
        self.opening_key = EncryptionPublicKey.from_bytes(bytes(32))  # until published
        self.sealed: dict[str, Path] = {}
        self.receipts: dict[str, dict[str, Any]] = {}
        self.record_hash = ""
        self.witnessed = Witness(demo.data_dir / "supervisor-witness.json")
        self.bids_folder = "bidders"  # under the data directory: each bidder's own machine

    def say(self, text: str) -> None:
        self.demo.say(text)

    def line(self, text: str) -> None:
        self.demo.line(text)

    async def run(self) -> None:
        supervisor = self.people["supervisor"].session
        await self.publish()
        self.say("Bidder A, a visitor and the supervisor follow the tender live")
        bidder_view = self.demo.watch("bidder-1", self.people["bidder-1"].session, self.tender)
        visitor = self.demo.watch("visitor", self.people["visitor"].session, self.tender)
        watch_all = self.demo.watch("supervisor", supervisor, self.tender, quiet=True)
        box = self.demo.watch("supervisor", supervisor, box_stream(self.tender))
        await bidder_view.wait_for(EventType.TENDER_BIDDING_OPENED)
        await self.submit_bids(box)
        await self.refusals(box)
        self.say(
            "Bidder A loses its connection; its feed reconnects and resumes by sequence number"
        )
        await bidder_view.drop_and_resume()
        await self.sign_in(box)
        await self.on_camera()
        await bidder_view.wait_for(EventType.LOT_SEALED)
        await self.check_inclusion()
        await self.open_bids(watch_all)
        await self.read_out(watch_all)
        await self.respond_and_close(watch_all)
        await self.off_camera()
        await self.read_a_document()
        await self.witness(supervisor)
        self.report(bidder_view, visitor, watch_all, box)

    async def witness(self, supervisor: Session) -> None:
        """The supervisor's witness saw the log at publication; it checks the log now extends it."""
        self.say("见证 The supervisor's witness checks the signed log was only ever extended")
        now = await latest_tree_head(supervisor, self.tender, self.node_key)
        seen = await self.witnessed.observe(supervisor, now)
        self.line(f"tree head of {now.size} events, root {now.root.hex()[:16]}…: {seen}")

    async def publish(self) -> None:
        self.say("招标 The host creates and publishes a tender; the opening key is split 2-of-2")
        created = await self.host.post("/api/tenders", self.tender_spec())
        self.tender = str(created["id"])
        await self.host.post(f"/api/tenders/{self.tender}/publish")
        opening = await self.host.get(f"/api/tenders/{self.tender}/opening")
        self.line(f"tender {self.tender}, opening key {opening['opening_key'][:24]}…")
        self.opening_key = EncryptionPublicKey.from_text(opening["opening_key"])
        supervisor = self.people["supervisor"].session
        first = await latest_tree_head(supervisor, self.tender, self.node_key)
        await self.witnessed.observe(supervisor, first)
        self.line(f"signed tree head of {first.size} events seen by the supervisor's witness")

    def tender_spec(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        custodians = [self.people[f"custodian-{i}"].session.participant for i in (1, 2)]
        return {
            "title": "市政道路照明改造工程 Street lighting renovation",
            "tenderer": "示范市城市管理局 Demo City Urban Management Bureau",
            "lots": [{"id": "L1", "name": "一标段 Lot 1"}],
            "schedule": {
                "bidding_opens_at": format_time(now + BIDDING_OPENS_IN),
                "deadline": format_time(now + DEADLINE_IN),
                "sign_in_lead_minutes": 30,
                "decryption_window_minutes": 30,
            },
            "committee": {"size": 5, "large": False},
            "min_bids": 3,
            "scoring": sample_scoring(),
            "opening": {
                "custodians": custodians,
                "threshold": 2,
                "wrap_bids": True,
                "confirmation_window_minutes": 15,
                "sheet_fields": [{"name": "warranty_years", "label": "质保期(年) warranty"}],
            },
        }

    async def submit_bids(self, box: Watcher) -> None:
        self.say("投标 Five bidders seal their bids on their own machines and upload them")
        await self.demo.show_uploads_at_home(self.people, self.tender)
        await asyncio.gather(
            *(
                self.seal_and_submit(name, price)
                for name, price in zip(BIDDERS, PRICES, strict=True)
            )
        )
        await box.wait_for(EventType.BID_SUBMITTED, len(BIDDERS))
        self.line("Bidder B revises its price before the deadline: a new receipt, both kept")
        await self.seal_and_submit("bidder-2", "3139000.00", revision=True)

    async def seal_and_submit(self, name: str, price: str, *, revision: bool = False) -> None:
        person = self.people[name]
        folder = self.demo.data_dir / self.bids_folder / name
        sealed = folder / f"bid-{'2' if revision else '1'}.sealed"
        sheet = {
            "price": price, "duration_days": 150, "quality": "合格 pass",
            "project_manager": f"{person.display.split()[0][:2]}项目经理",
            "extra": {"warranty_years": "3"},
        }  # fmt: skip
        await asyncio.to_thread(_seal, folder, sealed, self.tender, person, sheet, self.opening_key)
        answer = await bidding.submit(person.uploads, self.tender, "L1", sealed)
        receipt = answer["receipt"]
        bidding.check_receipt(receipt, answer["signature"], self.node_key)
        self.sealed[name], self.receipts[name] = sealed, receipt
        self.line(
            f"{name:<9} receipt #{receipt['seq']} for {receipt['size']:,} bytes, "
            f"sha256 {receipt['sha256'][:12]}…, node signature verified"
        )

    async def refusals(self, box: Watcher) -> None:
        self.say("Bad input is refused, saying why, and put on record (a bidder's in the box)")
        bidder = self.people["bidder-3"].uploads
        data = b"PK\x03\x04 an unencrypted zip"
        path = f"/api/tenders/{self.tender}/lots/L1/uploads"
        upload = await bidder.post(path, {"size": len(data), "sha256": _sha256(data)})
        await bidder.put_bytes(f"/api/uploads/{upload['upload']}?offset=0", data)
        await self.expect_refusal(bidder, f"/api/uploads/{upload['upload']}/complete", {})
        cancel = f"/api/tenders/{self.tender}/cancel"
        await self.expect_refusal(self.people["bidder-3"].session, cancel, {"reason": "x"})
        await box.wait_for(EventType.ACCESS_DENIED)
        await self.expect_refusal(self.host, f"/api/tenders/{self.tender}/opening/start", {})

    async def expect_refusal(self, session: Session, path: str, body: dict[str, Any]) -> None:
        try:
            await session.post(path, body)
        except ApiError as exc:
            self.line(f"refused: {exc} (rule {exc.rule})")
            return
        raise RuntimeError(f"{path} should have been refused")

    async def sign_in(self, box: Watcher) -> None:
        self.say("签到 Bidders sign in; before the deadline only the bid box knows who")
        for name in BIDDERS:
            await bidding.sign_in(self.people[name].session, self.tender)
        await box.wait_for(EventType.OPENING_SIGNED_IN, len(BIDDERS))
        host_view = await self.host.get(f"/api/tenders/{self.tender}/opening")
        self.line(
            f"the host sees {len(host_view['signed_in'])} signed in, {len(host_view['bids'])} bids"
        )

    async def check_inclusion(self) -> None:
        self.say(
            "截止 The deadline passes: the box is sealed into a signed list with a Merkle root"
        )
        roots = set()
        for name in BIDDERS:
            session = self.people[name].session
            sealed = await session.get(f"/api/tenders/{self.tender}/lots/L1/sealed-list")
            bidding.check_inclusion(
                self.receipts[name], sealed["list"], sealed["signature"], self.node_key
            )
            roots.add(sealed["list"]["root"])
        self.line(f"every bidder found its receipt under the one root {min(roots)[:16]}…")

    async def on_camera(self) -> None:
        """The host's desk goes live in the opening room; someone of the public watches."""
        self.say("直播 The host's desk goes live at the opening; the public watches it")
        media = self.demo.media
        desk = await media.publish("opening", self.host, self.tender, "opening")
        self.line(
            f"host publishes {desk.room}/{desk.source}: a test picture {WIDTH}x{HEIGHT} at "
            f"{RATE} fps and a tone, connected"
        )
        name = self.demo.opening_viewer()
        seen = await media.watch(
            "opening", name, self.people[name].session, self.tender, "opening", desk.source
        )
        width, height = seen.size
        self.line(
            f"{name} watches {seen.room}/{seen.source}: first picture {width}x{height} decoded"
        )

    async def off_camera(self) -> None:
        await self.demo.media.end("opening")
        for seen in self.demo.media.decoded:
            if seen.room != "opening":
                continue
            self.line(
                f"the opening's media closes; {seen.name} decoded {seen.video} pictures and "
                f"{seen.audio} audio frames"
            )

    async def open_bids(self, watch_all: Watcher) -> None:
        self.say("开标 The host starts the opening; bidders decrypt remotely")
        await self.host.post(f"/api/tenders/{self.tender}/opening/start")
        for name in BIDDERS[:4]:
            person = self.people[name]
            file_key = await asyncio.to_thread(bidding.unwrap, self.sealed[name], person.key)
            status = await bidding.decrypt(person.session, self.tender, "L1", file_key)
            self.line(f"{name:<9} sends only its file key: {status['status']}")
        last = self.people["bidder-5"].session
        for _ in range(3):
            try:
                await bidding.decrypt(last, self.tender, "L1", bytes(32))
            except ApiError as exc:
                self.line(f"bidder-5  sends a wrong key: {exc.rule}: {exc}")
        await watch_all.wait_for(EventType.BID_DECRYPTION_FAILED)

    async def read_out(self, watch_all: Watcher) -> None:
        self.say("唱标 The opening record is read out to everyone")
        view = await self.host.post(f"/api/tenders/{self.tender}/opening/record")
        await watch_all.wait_for(EventType.OPENING_RECORD_PUBLISHED)
        self.record_hash = str(view["record_hash"])
        header = f"{_pad('投标人 Bidder', 28)}{_pad('状态 Status', 12)}{'报价 Price':>14}"
        self.line(f"{header}  工期  质保  项目经理 / 原因")
        for bid in view["record"]["lots"][0]["bids"]:
            sheet = bid.get("sheet") or {}
            price = sheet.get("price", "—")
            days = sheet.get("duration_days", "—")
            warranty = (sheet.get("extra") or {}).get("warranty_years", "—")
            manager = sheet.get("project_manager", bid.get("reason", ""))
            columns = f"{_pad(bid['name'], 28)}{_pad(bid['status'], 12)}{price:>14}"
            self.line(f"{columns}  {days!s:>4}  {warranty!s:>4}  {manager}")
        self.line(f"record hash {self.record_hash[:16]}…")
        spoken = (await watch_all.wait_for(EventType.OPENING_RECORD_SPOKEN)).record["payload"]
        if spoken["spoken"]:
            self.line(
                f"the node reads the record out in Mandarin ({spoken['engine']}, "
                f"{spoken['voice']}): {spoken['duration_ms'] / 1000:.1f}s, "
                f"text sha256 {spoken['text_sha256'][:16]}…"
            )
        else:
            self.line(f"the record could not be spoken: {spoken['reason']}")

    async def respond_and_close(self, watch_all: Watcher) -> None:
        self.say("确认 Bidders confirm with their signature, or object; the host answers on record")
        for name in ("bidder-1", "bidder-3", "bidder-4", "bidder-5"):
            await bidding.confirm(self.people[name].session, self.tender)
            self.line(f"{name:<9} confirmed the record, signed")
        objection = "我方报价应为修改后的报价, 请核实"
        await bidding.object_to(self.people["bidder-2"].session, self.tender, objection)
        self.line(f"bidder-2  objects: {objection}")
        answer = "已核实: 开标记录中为贵方截止前最后一次递交的报价 3139000.00 元"
        await self.host.post(
            f"/api/tenders/{self.tender}/opening/objections/o1/answer", {"answer": answer}
        )
        self.line(f"host answers o1: {answer}")
        closed = await self.host.post(f"/api/tenders/{self.tender}/opening/close")
        final = await watch_all.wait_for(EventType.OPENING_CLOSED)
        payload = final.record["payload"]
        verify(
            self.node_key, "opening-record", payload["record"], b64url_decode(payload["signature"])
        )
        check = digest("opening-record", canonical_json(payload["record"])).hex()
        self.line(f"opening {closed['phase']}: the final record is signed by the node: verified")
        same = "matches" if check == payload["record_hash"] else "MISMATCH"
        self.line(f"final record hash {check[:16]}… ({same})")

    async def read_a_document(self) -> None:
        self.say("监督 A supervisor reads a decrypted bid; the access itself is on record")
        supervisor = self.people["supervisor"].uploads
        bidder = self.people["bidder-1"].session.participant
        package = await supervisor.get_bytes(
            f"/api/tenders/{self.tender}/lots/L1/bids/{bidder}/document"
        )
        sheet_length = int.from_bytes(
            package[PACKAGE_MAGIC_LENGTH : PACKAGE_MAGIC_LENGTH + 4], "big"
        )
        start = PACKAGE_MAGIC_LENGTH + 4 + sheet_length
        with zipfile.ZipFile(io.BytesIO(package[start:])) as archive:
            names = archive.namelist()
        self.line(f"bidder-1's package: {len(package):,} bytes, documents {names}")

    def report(self, *watchers: Watcher) -> None:
        self.say("What each watcher received live")
        for watcher in watchers:
            bids = sum(1 for t in watcher.types() if t == EventType.BID_SUBMITTED)
            note = (
                f", reconnected {watcher.feed.reconnects}x"
                if watcher.feed and watcher.feed.reconnects
                else ""
            )
            where = "bid box" if watcher.stream.endswith("-box") else "tender"
            seen = f"{len(watcher.seen):>3} events, {bids} bid receipts"
            self.line(f"{watcher.name:<12} {where:<7} {seen}{note}")


def _seal(
    folder: Path, sealed: Path, tender: str, person: Person, sheet: dict[str, Any],
    opening_key: EncryptionPublicKey,
) -> None:  # fmt: skip
    documents = folder / "documents"
    (documents / "技术标").mkdir(parents=True, exist_ok=True)
    (documents / "技术标" / "施工组织设计.txt").write_text(f"{person.display} 施工组织设计\n" * 200)
    (documents / "商务标.txt").write_text(f"{person.display} 投标函 报价 {sheet['price']} 元\n")
    archive = folder / f"{sealed.stem}.zip"
    bidding.archive_directory(documents, archive)
    bidding.seal_to_file(
        tender=tender, lot="L1", bidder=person.session.participant, sheet=sheet, archive=archive,
        own_key=person.key.public_key, opening_key=opening_key, out=sealed,
    )  # fmt: skip
    archive.unlink()


def _pad(text: str, width: int) -> str:
    """Left-align `text` in `width` terminal columns (CJK characters take two)."""
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(1, width - used)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
