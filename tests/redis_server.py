"""A throwaway `redis-server` per test session: a free port, a temporary directory, no
persistence, stopped at the end. Tests never use a Redis that was already running.

`RedisServer.stop()` and `start()` let a test take Redis away and bring it back (an empty
one: it keeps nothing on disk) on the same port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from redis.asyncio import Redis

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

STARTUP_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RedisServer:
    directory: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not on PATH: run scripts/setup --dev")
        options = {"--port": str(self.port), "--bind": "127.0.0.1", "--save": "",
                   "--appendonly": "no", "--dir": str(self.directory), "--daemonize": "no",
                   "--loglevel": "warning"}  # fmt: skip
        arguments = [binary, *(part for pair in options.items() for part in pair)]
        self.process = subprocess.Popen(  # noqa: S603 - our own fixed arguments
            arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        # Another process: its readiness is observable only by asking it (bounded).
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"redis-server exited with {self.process.returncode}")
            time.sleep(0.02)
        pytest.fail(f"redis-server did not answer within {STARTUP_SECONDS} s")

    def stop(self) -> None:
        """Kill it (SIGKILL: as a crash would), and wait until it is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=STARTUP_SECONDS)
            self.process = None

    def flush(self) -> None:
        """Forget everything, as a restarted Redis without persistence would."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            sock.recv(16)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of this test's Redis, for looking at what the code under test wrote."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    if redis_server.process is None:
        redis_server.start()
    redis_server.flush()
    return redis_server.url
