"""A throwaway PostgreSQL cluster per test session: `initdb` and `pg_ctl` in a temporary
directory, on a free port, trust authentication, stopped and deleted at the end. Tests never
use a PostgreSQL that was already running (nor the one on 5432).

PostgreSQL refuses to run as root. When the tests run as root (containers, CI), the cluster is
initialised and run as the `postgres` user (`runuser`), in a directory that user owns; clients
connect over TCP to 127.0.0.1, so they may be anyone. `PostgresCluster` is used by the
benchmarks too (bench/store.py), with fsync on.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from blockbuster import BlockBuster

STARTUP_SECONDS = 30
USER = "postgres"  # the cluster's superuser, and the system user it runs as under root


class ClusterError(RuntimeError):
    """The throwaway cluster could not be made or started here."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def binary(name: str) -> str:
    """A PostgreSQL program from PATH, else from Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found is not None:
        return found
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if not versions:
        raise ClusterError(f"{name} is neither on PATH nor in /usr/lib/postgresql/*/bin")
    return str(versions[-1])


def _as_server_user() -> list[str]:
    """The prefix that runs a server program as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(USER)
    except KeyError:
        raise ClusterError(f"running as root, and there is no {USER!r} user to run as") from None
    return ["runuser", "-u", USER, "--"]


@dataclass
class PostgresCluster:
    """A cluster of our own; `fsync` off makes tests faster (its crash loses nothing we keep)."""

    fsync: bool = False
    port: int = field(default_factory=_free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bidroom-pg-")))
    running: bool = False
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _server(self, *arguments: str) -> None:
        command = [*_as_server_user(), *arguments]
        done = subprocess.run(  # noqa: S603 - our own fixed arguments
            command, capture_output=True, text=True, timeout=STARTUP_SECONDS, check=False
        )
        if done.returncode != 0:
            raise ClusterError(f"{Path(arguments[0]).name} failed: {done.stderr or done.stdout}")

    def _client(self, *arguments: str) -> None:
        program, *rest = arguments
        common = ["-h", "127.0.0.1", "-p", str(self.port), "-U", USER]
        done = subprocess.run(  # noqa: S603 - our own fixed arguments
            [binary(program), *common, *rest],
            capture_output=True, text=True, timeout=STARTUP_SECONDS, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise ClusterError(f"{program} failed: {done.stderr or done.stdout}")

    def create(self) -> None:
        """initdb, and the settings of a private cluster: loopback only, sockets in our dir."""
        if os.geteuid() == 0:
            shutil.chown(self.directory, USER)
        self._server(binary("initdb"), "-D", str(self.data), "-U", USER, "--auth=trust",
                     "--encoding=UTF8", "--locale=C", "--no-sync")  # fmt: skip
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.directory}'",
            "max_connections": "200",
            "fsync": "on" if self.fsync else "off",
            "synchronous_commit": "on" if self.fsync else "off",
            "full_page_writes": "on" if self.fsync else "off",
        }
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    def start(self) -> None:
        """pg_ctl start, waiting (pg_ctl -w) until the server accepts connections."""
        log = self.directory / "server.log"
        self._server(binary("pg_ctl"), "-D", str(self.data), "-l", str(log), "-w",
                     "-t", str(STARTUP_SECONDS), "start")  # fmt: skip
        self.running = True

    def stop(self) -> None:
        """pg_ctl stop -m immediate: as a crash would, and fast."""
        if self.running:
            self._server(binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.running = False

    def destroy(self) -> None:
        with contextlib.suppress(ClusterError):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def new_database(self) -> str:
        """A fresh empty database; its URL."""
        name = f"t{next(self._names)}"
        self._client("createdb", "--template=template0", name)
        return name

    def drop_database(self, name: str) -> None:
        self._client("dropdb", "--force", name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.create()
        cluster.start()
    except (ClusterError, OSError, subprocess.TimeoutExpired) as exc:
        cluster.destroy()
        pytest.fail(f"no throwaway PostgreSQL (run scripts/setup --dev): {exc}")
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def postgres_url(postgres_server: PostgresCluster, blockbuster: BlockBuster) -> Iterator[str]:
    """A database of its own for this test, on the session's cluster, dropped afterwards.

    asyncpg looks for ~/.pgpass and ~/.postgresql/ (stats, reads if they exist) when it
    parses its connection settings, at a store's start or reconnection: allowed there, as the
    node's reading of its settings is.
    """
    for function in blockbuster.functions.values():
        function.can_block_in("asyncpg/connect_utils.py", "_parse_connect_dsn_and_args")
    name = postgres_server.new_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)
