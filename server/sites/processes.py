"""Nodes of several sites, and the Redis joining them, as real processes on this machine:
`bidroom demo --sites N` runs them, and so do the tests that kill and restart nodes.

A node is started as `python -m server serve ...` and is ready when it prints its listening
line; a Redis is ready when it says it accepts connections. Every wait is on such a line and
bounded in time, never on a guess of how long a start takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from server.service.node import load_node_key

if TYPE_CHECKING:
    from pathlib import Path

    from crypto import SigningKey

READY: Final = re.compile(r"======== Running on ")
REDIS_READY: Final = re.compile(r"Ready to accept connections")
START_SECONDS: Final = 30.0


class ProcessFailed(RuntimeError):
    """A node or Redis did not start, stop or answer as expected; the message says what it
    printed last."""


class RedisMissing(ProcessFailed):
    """There is no `redis-server` on PATH."""


def free_port() -> int:
    """A TCP port nothing listens on right now (on 127.0.0.1)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Printing:
    """A process whose output is read line by line, so one can wait for a line."""

    name: str
    process: asyncio.subprocess.Process | None = field(default=None, kw_only=True)
    lines: list[str] = field(default_factory=list, kw_only=True)
    _seen: asyncio.Condition = field(default_factory=asyncio.Condition, kw_only=True)
    _reader: asyncio.Task[None] | None = field(default=None, kw_only=True)

    def _follow(self, process: asyncio.subprocess.Process) -> None:
        self.lines.clear()  # a restarted process is waited on for what it says this time
        self.process = process
        self._reader = asyncio.create_task(self._read(process), name=f"read-{self.name}")

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        if process.stdout is None:  # pragma: no cover - every process here has a pipe
            return
        async for raw in process.stdout:
            async with self._seen:
                self.lines.append(raw.decode(errors="replace").rstrip())
                self._seen.notify_all()
        async with self._seen:
            self._seen.notify_all()

    async def wait_for(self, pattern: re.Pattern[str] | str, seconds: float = START_SECONDS) -> str:
        """The first line (from the start) matching `pattern`; ProcessFailed after `seconds`
        or once the process has ended without printing it."""
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
                    if self._reader is not None and self._reader.done():
                        break
                    await self._seen.wait()
        except TimeoutError:
            pass
        tail = "\n".join(self.lines[-30:])
        raise ProcessFailed(f"{self.name} never said {wanted.pattern!r}; its last lines:\n{tail}")

    async def kill(self) -> None:
        """SIGKILL, as a crash or a power cut would."""
        await self._end(signal.SIGKILL)

    async def stop(self) -> None:
        """SIGTERM, and wait until it has exited (bounded)."""
        await self._end(signal.SIGTERM)

    async def _end(self, how: signal.Signals) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.returncode is None:
            process.send_signal(how)
        try:
            await asyncio.wait_for(process.wait(), START_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


@dataclass
class NodeProcess(Printing):
    """A node: `python -m server serve` on its own data directory and a free port."""

    data_dir: Path
    options: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def key(self) -> SigningKey:
        """The node's key, made now if it has none yet (so it can be enrolled first)."""
        return await asyncio.to_thread(load_node_key, self.data_dir / "keys" / "node.pem", None)

    async def start(self, *, ready: bool = True) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server", "serve", "--data-dir", str(self.data_dir),
            "--port", str(self.port), "--public-url", self.url, *self.options,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **self.environment},
        )  # fmt: skip
        self._follow(process)
        if ready:
            await self.wait_for(READY, START_SECONDS)


@dataclass
class RedisProcess(Printing):
    """A throwaway `redis-server`: a free port, its own directory, no persistence."""

    directory: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisMissing(
                "找不到 redis-server: 请安装 Redis, 或用 --redis URL 指定一个. "
                "redis-server is not on PATH: install Redis, or give one with --redis URL."
            )
        options = {"--port": str(self.port), "--bind": "127.0.0.1", "--save": "",
                   "--appendonly": "no", "--dir": str(self.directory), "--daemonize": "no",
                   "--loglevel": "notice"}  # fmt: skip
        arguments = [part for pair in options.items() for part in pair]
        process = await asyncio.create_subprocess_exec(
            binary, *arguments, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        self._follow(process)
        await self.wait_for(REDIS_READY, START_SECONDS)


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
        raise ProcessFailed(f"enrolment failed: {err.decode(errors='replace')}")
    return str(json.loads(out)["id"])
