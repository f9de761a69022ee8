"""`bidroom demo`: a node and its people running a real opening and evaluation over real sockets.

The node runs on the embedded defaults (SQLite, in-process bus) on a free local port, with
the real clock and scheduler. Every participant is a client with its own keys, talking
HTTP and WebSocket to the node like any other; the story is in `opening.py`, then
`evaluation.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal as signal_module
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TextIO

from aiohttp import web

from crypto import EncryptionKey, SigningKey, VerifyKey
from evaluator_client.session import Session
from recordings.audit import verify_chain
from recordings.errors import ChainBroken
from recordings.verify_bundle import verify_bundle
from server.app import create_app
from server.audit_export import export_bundle
from server.backends import stored_log
from server.config import Settings
from server.demo.evaluation import REQUEST, Evaluation
from server.demo.media import LiveMedia, recorded, summary
from server.demo.opening import Opening
from server.demo.stage import Identity, StagedOpening, keep_serving
from server.demo.watch import Watcher
from server.service.node import CONSOLE, load_node_key
from server.service.node_keys import NodeKeys
from server.transport.app_keys import node_key
from server.transport.serving import NodeRunner

if TYPE_CHECKING:
    from pathlib import Path

    from server.backends import StoredLog

_ANY_ADDRESS: Final = frozenset({"0.0.0.0", "::"})  # noqa: S104 - recognised, not bound

# Short recording segments, so that several close while the demo runs (docs/media.md 6).
SEGMENT_SECONDS: Final = 2.0

# name: (role, display name). Bidders and custodians also get an X25519 encryption key.
PEOPLE: Final = {
    "admin": ("admin", "平台管理员 Admin"),
    "host": ("host", "交易中心主持人 Host"),
    "supervisor": ("supervisor", "监督员 Supervisor"),
    "custodian-1": ("custodian", "密钥保管人甲 Custodian 1"),
    "custodian-2": ("custodian", "密钥保管人乙 Custodian 2"),
    "bidder-1": ("bidder", "甲建设有限公司 Bidder A"),
    "bidder-2": ("bidder", "乙工程有限公司 Bidder B"),
    "bidder-3": ("bidder", "丙照明科技有限公司 Bidder C"),
    "bidder-4": ("bidder", "丁电气安装有限公司 Bidder D"),
    "bidder-5": ("bidder", "戊市政工程有限公司 Bidder E"),
    "visitor": ("public", "公众 Visitor"),
}


@dataclass
class Person:
    name: str
    display: str
    session: Session  # at the node of the person's site
    key: EncryptionKey  # bidders and custodians enrol its public half
    at_home: Session | None = None  # a second session at the home, when its site is an edge

    @property
    def uploads(self) -> Session:
        """The session that streams files: an edge sends those to the home (421 home_only)."""
        return self.at_home or self.session


class Demo:
    def __init__(self, data_dir: Path, out: TextIO, *, serve: Serving | None = None) -> None:
        self.data_dir = data_dir
        self.out = out
        self.serve = serve
        self.identities: list[Identity] = []
        self.started = time.monotonic()
        self.sessions: list[Session] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.node_id = ""
        self.tender = ""
        self.node_key = ""
        self.bases: dict[str, str] = {}  # site -> the URL of its node
        self.logins: list[tuple[str, str, str]] = []  # (site, name, id): who logged in where
        self.media = LiveMedia()

    def say(self, text: str) -> None:
        self.out.write(f"\n== {text}\n")

    def line(self, text: str) -> None:
        self.out.write(f"  {text}\n")

    async def run(self) -> int:
        settings = Settings(
            data_dir=self.data_dir, port=0, recording_segment_seconds=SEGMENT_SECONDS
        )
        runner = NodeRunner(create_app(settings), settings)  # as `bidroom serve` runs it
        await runner.setup()
        host, port = (self.serve.host, self.serve.port) if self.serve else ("127.0.0.1", 0)
        site = web.TCPSite(runner, host, port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        shown = "127.0.0.1" if host in _ANY_ADDRESS else host  # a URL a browser here can open
        base = f"http://{shown}:{port}"
        self.node_id = runner.app[node_key].id
        self.say(f"Node {self.node_id} listening on {base}; data in {self.data_dir}")
        self.bases = {"main": base}
        try:
            self.say(
                "登记 Enrolment: the first admin at the node's console, the rest via the admin API"
            )
            admin_key = SigningKey.generate()
            role, display = PEOPLE["admin"]
            first = {"role": role, "name": display, "public_key": admin_key.verify_key.to_text()}
            admin = await runner.app[node_key].participants.enroll(CONSOLE, first)
            people = await self.enroll_everyone(admin.id, admin_key)
            await self.story(people, runner.app[node_key].key.verify_key)
            if self.serve is not None:
                story = StagedOpening(
                    self, people, runner.app[node_key].key.verify_key, self.serve.opening_in
                )
                await keep_serving(story, self.identities, base, self.serve.stop)
        finally:
            await self.close()
            await runner.cleanup()
        return await asyncio.to_thread(self.verify, settings)

    async def story(self, people: dict[str, Person], key: VerifyKey) -> None:
        """The opening, then the evaluation, told by `people` to the node(s) signing with `key`."""
        self.node_key = key.to_text()
        story = Opening(self, people, key)
        await story.run()
        self.tender = story.tender
        evaluation = Evaluation(self, people, story.tender)
        await evaluation.run()
        for participant, name in evaluation.ids.items():
            self.identities.append(Identity(name, participant, "expert", evaluation.keys[name]))

    async def close(self) -> None:
        await self.media.close()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for session in self.sessions:
            await session.close()

    def site_of(self, name: str) -> str:
        """Where a person (or an expert) sits: one node has the one site."""
        del name
        return "main"

    async def enroll_everyone(self, admin_id: str, admin_key: SigningKey) -> dict[str, Person]:
        """The first admin is enrolled already (`admin_id`); it enrols the rest, who log in at
        their sites' nodes."""
        keys = {name: SigningKey.generate() for name in PEOPLE}
        keys["admin"] = admin_key
        encryption = {name: EncryptionKey.generate() for name in PEOPLE}
        _, display = PEOPLE["admin"]
        admin = await self.login("admin", admin_id, admin_key)
        people = {"admin": await self.person("admin", display, admin, keys, encryption)}
        for name, (role, display) in PEOPLE.items():
            if name == "admin":
                continue
            body = {"role": role, "name": display, "public_key": keys[name].verify_key.to_text()}
            if role in ("bidder", "custodian"):
                body["encryption_key"] = encryption[name].public_key.to_text()
            enrolled = await admin.post("/api/admin/participants", body)
            self.line(
                f"enrolled {name:<12} {enrolled['id']}{self.where(name)}  ({role}, {display})"
            )
            session = await self.login(name, str(enrolled["id"]), keys[name])
            people[name] = await self.person(name, display, session, keys, encryption)
            sealing = encryption[name].to_pem() if role in ("bidder", "custodian") else None
            self.identities.append(Identity(name, str(enrolled["id"]), role, keys[name], sealing))
        self.identities.insert(0, Identity("admin", admin_id, "admin", admin_key))
        return people

    def media_here(self, site: str) -> bool:
        """Whether people at `site` publish and watch media: one node serves all."""
        del site
        return True

    def opening_viewer(self) -> str:
        """Who watches the opening live: the public visitor, when its node serves media."""
        return "visitor" if self.media_here(self.site_of("visitor")) else "bidder-3"

    def where(self, name: str) -> str:
        """What the enrolment line says of a person's site: nothing, with one node."""
        del name
        return ""

    async def person(
        self, name: str, display: str, session: Session,
        keys: dict[str, SigningKey], encryption: dict[str, EncryptionKey],
    ) -> Person:  # fmt: skip
        """`name`, logged in with its key from `keys`."""
        del keys
        return Person(name, display, session, encryption[name])

    async def login(
        self, name: str, participant: str, key: SigningKey, *, site: str | None = None
    ) -> Session:
        """`name` logs in at the node of `site` (by default its own site's); a site without a
        node of its own reaches the main venue's."""
        where = site or self.site_of(name)
        session = await Session.login(self.bases.get(where, self.bases["main"]), participant, key)
        self.sessions.append(session)
        self.logins.append((where, name, participant))
        return session

    async def show_uploads_at_home(self, people: dict[str, Person], tender: str) -> None:
        """With several sites, show where the files go; one node takes them itself."""

    def draw_sites(self) -> list[dict[str, Any]]:
        """The sites and workstations the committee is drawn for."""
        return list(REQUEST["sites"])

    def watch(self, name: str, session: Session, stream: str, *, quiet: bool = False) -> Watcher:
        watcher = Watcher(name, session, stream, self.out, self.started, quiet)
        self.tasks.append(asyncio.create_task(watcher.watch(), name=f"watch-{name}-{stream}"))
        return watcher

    def verify(self, settings: Settings) -> int:
        self.say("审计日志校验 Audit log verification")
        failures = 0
        keys = NodeKeys(load_node_key(settings.node_key_path, settings.node_key_passphrase))
        log = stored_log(settings, keys.records)
        for stream in log.streams():
            try:
                head = verify_chain(stream, log.rows(stream))
                self.line(f"OK      {stream}: {head.seq} events, head {head.hash[:16]}…")
            except ChainBroken as exc:
                failures += 1
                self.line(f"BROKEN  {exc}")
        failures += self.verify_bundle(settings)
        if self.tender:
            failures += self.verify_media(settings, log)
        elapsed = time.monotonic() - self.started
        verdict = "verified" if not failures else "FAILED"
        self.say(f"Demo finished in {elapsed:.1f}s; audit log {verdict}")
        return 1 if failures else 0

    def verify_media(self, settings: Settings, log: StoredLog) -> int:
        """The tender's live media as its log tells it, and its recordings checked against the
        log's hashes, as `bidroom recordings verify` does."""
        self.say("媒体 Live media: who published and watched, the 唱标, the recordings verified")
        bodies = (body for _seq, body, _hash in log.rows(self.tender))
        found = recorded(settings.recordings_dir, self.tender, bodies)
        return summary(found, self.media.decoded, self.line)

    def verify_bundle(self, settings: Settings) -> int:
        """Export the tender's audit bundle and check it as a third party would: no server."""
        self.say("审计包 The tender's audit bundle, exported and verified offline")
        out = self.data_dir / f"audit-{self.tender}.jsonl"
        counts = export_bundle(settings, self.tender, out, datetime.now(UTC))
        self.line(f"wrote {out.name}: {counts['events']} events, {counts['participants']} keys")
        witnessed = json.loads((self.data_dir / "supervisor-witness.json").read_text())
        anchors = {s: (h["size"], bytes.fromhex(h["root"])) for s, h in witnessed.items()}
        with out.open(encoding="utf-8") as lines:
            # Checked against the node key known from the node itself, and what was witnessed.
            report = verify_bundle(lines, node_key=self.node_key, anchors=anchors)
        for what, count in sorted(report.checked.items()):
            self.line(f"OK      {count:>4} {what}")
        for failure in report.failures:
            self.line(f"FAILED  {failure}")
        return len(report.failures)


@dataclass
class Serving:
    """What `--keep-serving` asks: where to listen, when the staged tender opens, and the
    event that stops the node (Ctrl+C)."""

    host: str
    port: int
    opening_in: timedelta
    stop: asyncio.Event


def run(data_dir: Path, out: TextIO = sys.stdout) -> int:
    return asyncio.run(Demo(data_dir, out).run())


def run_serving(
    data_dir: Path, host: str, port: int, opening_in: timedelta, out: TextIO = sys.stdout
) -> int:
    """The demo, then the node keeps serving with a staged tender until SIGINT or SIGTERM."""

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal in (signal_module.SIGINT, signal_module.SIGTERM):
            loop.add_signal_handler(signal, stop.set)
        return await Demo(data_dir, out, serve=Serving(host, port, opening_in, stop)).run()

    return asyncio.run(main())
