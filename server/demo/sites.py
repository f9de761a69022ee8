"""`bidroom demo --sites N`: the demo's story told over a home and N-1 edges (docs/sites.md).

Each node is a process of its own (`python -m server serve`), joined by a Redis the demo runs
itself unless given one: the home at the main venue (`--site main --home`), an edge at each
secondary venue (`venue-2`, `venue-3`, ...). The first admin and every edge's node key are
enrolled at the home's console before it starts. People log in at the node of their site;
files stream to the home only, so a bidder at an edge uploads over a second session there.
The experts' workstations are spread over the sites, and each expert acts through its site's
node. At the end the demo says who was connected where, and verifies the home's audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
from typing import TYPE_CHECKING, Any, Final, TextIO

from redis.asyncio import Redis

from crypto import SigningKey
from evaluator_client.errors import ApiError
from server.config import Settings
from server.demo import PEOPLE, SEGMENT_SECONDS, Demo, Person
from server.demo.evaluation import EXPERTS, MAIN, SUB
from server.sites.processes import (
    NodeProcess,
    ProcessFailed,
    RedisMissing,
    RedisProcess,
    enrol_offline,
)

if TYPE_CHECKING:
    from pathlib import Path

    from crypto import EncryptionKey
    from evaluator_client.session import Session

HOME: Final = "main"
# Where each person sits, as an index into the sites (main venue first), wrapping around.
SEATS: Final = {
    "admin": 0, "host": 0, "supervisor": 0, "custodian-1": 0, "custodian-2": 1,
    "bidder-1": 1, "bidder-2": 2, "bidder-3": 0, "bidder-4": 1, "bidder-5": 2, "visitor": 2,
}  # fmt: skip
PRESENCE_SCAN: Final = 1000


def site_names(count: int) -> list[str]:
    """The main venue, then the secondary venues: main, venue-2, venue-3, ..."""
    return [HOME, *(f"venue-{n}" for n in range(2, count + 1))]


class SitesDemo(Demo):
    def __init__(self, data_dir: Path, out: TextIO, sites: int, redis_url: str | None) -> None:
        super().__init__(data_dir, out)
        if sites < 2:
            raise ValueError("several sites means at least 2")
        self.names = site_names(sites)
        self.redis_url = redis_url
        # Its own key prefix, so that a demo on a shared Redis meets no other cluster.
        self.cluster = f"demo-{secrets.token_hex(4)}"
        self.redis: RedisProcess | None = None
        self.nodes: list[NodeProcess] = []
        self.admin_key = SigningKey.generate()
        self.admin = ""

    def site_of(self, name: str) -> str:
        return self.names[SEATS.get(name, 0) % len(self.names)]

    def media_here(self, site: str) -> bool:
        """Media is published and watched at the home only, in this demo."""
        return site == HOME

    def where(self, name: str) -> str:
        return f" at {self.site_of(name):<7}"

    async def run(self) -> int:
        try:
            home = await self.start()
            self.say("The admin enrols the rest; everyone logs in at its own site's node")
            people = await self.enroll_everyone(self.admin, self.admin_key)
            key = (await home.key()).verify_key
            await self.story(people, key)
            await self.presence()
        except RedisMissing:
            raise
        except ProcessFailed as exc:
            self.say(f"FAILED: {exc}")
            return 1
        finally:
            await self.close()
            await self.stop()
        settings = Settings(data_dir=self.nodes[0].data_dir)
        return await asyncio.to_thread(self.verify, settings)

    async def start(self) -> NodeProcess:
        """Redis, the home and the edges, each waited on until it listens; the home."""
        url = self.redis_url
        if url is None:
            directory = self.data_dir / "redis"
            await asyncio.to_thread(directory.mkdir, parents=True)
            self.redis = RedisProcess("redis", directory)
            await self.redis.start()
            url = self.redis.url
            self.say(f"Redis for the demo on {url} (no persistence; stopped at the end)")
        else:
            self.say(f"Redis given: {url}; this demo's keys start with {self.cluster}:")
        environment = {
            "BIDROOM_CLUSTER": self.cluster,
            "BIDROOM_RECORDING_SEGMENT_SECONDS": str(SEGMENT_SECONDS),
        }
        for site in self.names:
            options = ["--site", site, "--redis", url, *(["--home"] if site == HOME else [])]
            node = NodeProcess(site, self.data_dir / site, options, environment=environment)
            self.nodes.append(node)
            self.bases[site] = node.url
        home, edges = self.nodes[0], self.nodes[1:]
        self.say("登记 Enrolment: the first admin and each edge's node key at the home's console")
        _, display = PEOPLE["admin"]
        self.admin = await enrol_offline(home.data_dir, "admin", display, self.admin_key)
        self.line(f"enrolled admin        {self.admin} at {HOME:<7}  (admin, {display})")
        for edge in edges:
            enrolled = await enrol_offline(
                home.data_dir, "node", f"node at {edge.name}", await edge.key(), site=edge.name
            )
            self.line(f"enrolled node         {enrolled} for {edge.name} (node, site={edge.name})")
        await home.start()
        await asyncio.gather(*(edge.start() for edge in edges))
        for node in self.nodes:
            role = "home" if node is home else "edge"
            self.line(f"{node.name:<8} {role} node listening on {node.url}, data in {node.name}/")
        return home

    async def person(
        self, name: str, display: str, session: Session,
        keys: dict[str, SigningKey], encryption: dict[str, EncryptionKey],
    ) -> Person:  # fmt: skip
        """A bidder at an edge also logs in at the home, for the files it streams."""
        person = Person(name, display, session, encryption[name])
        if self.site_of(name) != HOME and PEOPLE[name][0] == "bidder":
            participant = session.participant
            person.at_home = await self.login(name, participant, keys[name], site=HOME)
        return person

    async def show_uploads_at_home(self, people: dict[str, Person], tender: str) -> None:
        bidder = next(p for p in people.values() if p.at_home is not None)
        site = self.site_of(bidder.name)
        data = b"a piece of a sealed bid"
        path = f"/api/tenders/{tender}/lots/L1/uploads"
        upload = await bidder.session.post(path, {"size": len(data), "sha256": _sha256(data)})
        try:
            await bidder.session.put_bytes(f"/api/uploads/{upload['upload']}?offset=0", data)
        except ApiError as exc:
            self.line(f"{bidder.name} at {site} sends bytes to its edge: {exc}")
        else:
            raise RuntimeError("an edge took the bytes of an upload")
        finally:
            await bidder.session.delete(f"/api/uploads/{upload['upload']}")
        self.line(
            f"上传 uploads stream bytes: bidders at secondary venues send their files to the home "
            f"at {self.bases[HOME]} over a second session; everything else goes to their edge"
        )

    def draw_sites(self) -> list[dict[str, Any]]:
        """The main venue's region is Guangzhou, the secondary venues' Shenzhen. The first
        secondary venues have one workstation each, the last four: Shenzhen's experts fill
        them in order, so every site gets an expert however the draw falls (at most three of
        Guangzhou's may sit, at least two of Shenzhen's must)."""
        venues = []
        for n, site in enumerate(self.names):
            count = 4 if site in (HOME, self.names[-1]) else 1
            prefix = "M" if site == HOME else f"V{n + 1}"
            venues.append({
                "site": site, "region": MAIN if site == HOME else SUB,
                "workstations": [{"id": f"{prefix}-0{i}", "address": None}
                                 for i in range(1, count + 1)],
            })  # fmt: skip
        return venues

    async def presence(self) -> None:
        """Who was connected where: what the demo knows of its own logins, and what Redis's
        presence entries say of the live connections still open (when the nodes write them)."""
        self.say("在线 Presence: who was connected at which site")
        self.line("from the demo's own record of who logged in where:")
        self._table(
            [(site, self._role(name), self._label(site, name)) for site, name, _ in self.logins]
        )
        entries = await self._presence_entries()
        if not entries:
            self.line(
                f"no {self.cluster}:presence:* entries in Redis: presence is not wired into "
                "the nodes yet"
            )
            return
        self.line(f"from Redis, {self.cluster}:presence:* (live connections still open):")
        names = {participant: name for _, name, participant in self.logins}
        self._table(
            [
                (e["site"], e["role"], self._name(names.get(e["participant"], e["participant"])))
                for e in entries
            ]
        )

    def _table(self, rows: list[tuple[str, str, str]]) -> None:
        for site in self.names:
            here = sorted({row[1:] for row in rows if row[0] == site})
            self.line(f"{site:<8} {len(here):>2} connected")
            for role, display in here:
                self.line(f"         {role:<10} {display}")

    async def _presence_entries(self) -> list[dict[str, Any]]:
        url = self.redis.url if self.redis is not None else str(self.redis_url)
        client = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        try:
            found = []
            async for key in client.scan_iter(f"{self.cluster}:presence:*", count=PRESENCE_SCAN):
                value = await client.get(key)
                if value is not None:
                    with contextlib.suppress(ValueError):
                        found.append(json.loads(value))
            return found
        finally:
            await client.aclose()

    @staticmethod
    def _role(name: str) -> str:
        return PEOPLE[name][0] if name in PEOPLE else "expert"

    def _label(self, site: str, name: str) -> str:
        """A person's name, saying so when this is its second session, for uploads."""
        if name in PEOPLE and site != self.site_of(name):
            return f"{self._name(name)} (上传 uploads)"
        return self._name(name)

    @staticmethod
    def _name(name: str) -> str:
        return PEOPLE[name][1] if name in PEOPLE else EXPERTS.get(name, (name,))[0]

    async def stop(self) -> None:
        """Every node with SIGTERM (edges first), then Redis; whatever happened before."""
        for node in reversed(self.nodes):
            with contextlib.suppress(Exception):
                await node.stop()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.stop()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
