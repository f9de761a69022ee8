"""Nodes of several sites as real processes (`python -m server serve ...`), for the tests that
kill and restart them.

A node is ready when it prints its listening line; its role shows in its log lines. Tests
wait on those lines (each wait bounded), never on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from server.service.node import load_node_key
from tests.conftest import free_port

if TYPE_CHECKING:
    from pathlib import Path

    from crypto import SigningKey

READY: Final = re.compile(r"======== Running on ")
START_SECONDS: Final = 30.0
# The node's own settings for these tests: a short lease so that a failover is quick.
ENVIRONMENT: Final = {
    "BIDROOM_LEASE_TTL_SECONDS": "2",
    "BIDROOM_FORWARD_TIMEOUT_SECONDS": "5",
    "BIDROOM_REDIS_TIMEOUT_SECONDS": "2",
    "BIDROOM_LOG_LEVEL": "INFO",
}


@dataclass
class NodeProcess:
    name: str
    data_dir: Path
    options: list[str]
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    lines: list[str] = field(default_factory=list)
    _seen: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def key(self) -> SigningKey:
        """The node's key, made now if it has none yet (so it can be enrolled first)."""
        return await asyncio.to_thread(load_node_key, self.data_dir / "keys" / "node.pem", None)

    async def start(self, *, ready: bool = True) -> None:
        environment = {**os.environ, **ENVIRONMENT}
        self.lines.clear()  # a restarted node is waited on for what it says this time
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server", "serve", "--data-dir", str(self.data_dir),
            "--port", str(self.port), "--public-url", self.url, *self.options,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=environment,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read(), name=f"read-{self.name}")
        if ready:
            await self.wait_for(READY, START_SECONDS)

    async def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            async with self._seen:
                self.lines.append(raw.decode(errors="replace").rstrip())
                self._seen.notify_all()
        async with self._seen:
            self._seen.notify_all()

    async def wait_for(self, pattern: re.Pattern[str] | str, seconds: float = START_SECONDS) -> str:
        """The first line (from the start) matching `pattern`; fails after `seconds`."""
        wanted = re.compile(pattern) if isinstance(pattern, str) else pattern
        start = 0
        try:
            async with asyncio.timeout(seconds), self._seen:
                while True:
                    for line in self.lines[start:]:
                        if wanted.search(line):
                            return line
                    start = len(self.lines)
                    if self.process is not None and self.process.returncode is not None:
                        break
                    await self._seen.wait()
        except TimeoutError:
            pass
        tail = "\n".join(self.lines[-30:])
        raise AssertionError(f"{self.name} never said {wanted.pattern!r}; its last lines:\n{tail}")

    async def kill(self) -> None:
        """SIGKILL, as a crash or a power cut would."""
        await self._end(signal.SIGKILL)

    async def stop(self) -> None:
        await self._end(signal.SIGTERM)

    async def _end(self, how: signal.Signals) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.send_signal(how)
        await asyncio.wait_for(self.process.wait(), START_SECONDS)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.process = None


async def enrol_offline(
    data_dir: Path, role: str, name: str, key: SigningKey, *, site: str = "", database: str = ""
) -> str:
    """Enrol a participant (or a node) at a stopped node's console; its id."""
    arguments = ["admin", "enroll", "--data-dir", str(data_dir), "--role", role,
                 "--name", name, "--pubkey", key.verify_key.to_text()]  # fmt: skip
    if site:
        arguments += ["--attr", f"site={site}"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", *arguments,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **({"BIDROOM_DATABASE_URL": database} if database else {})},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), START_SECONDS)
    if process.returncode != 0:
        raise AssertionError(f"enrolment failed: {err.decode(errors='replace')}")
    return str(json.loads(out)["id"])
