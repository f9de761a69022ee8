"""Each kind of failure prints one line (what happened, what to do) and its exit code, with no
traceback unless `--debug`: against real sockets (a closed port, a plain node, a TLS port), a
real node refusing, real key files and a real full disk."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from crypto import EncryptionKey, SigningKey
from server.cli import main
from server.cli.failures import (
    EXIT_DISK_FULL,
    EXIT_FORBIDDEN,
    EXIT_KEY_FILE,
    EXIT_LOGIN,
    EXIT_NOT_FOUND,
    EXIT_TLS_MISMATCH,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from server.domain.access import Role
from tests.crypto.certs import self_signed

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from server.config import Settings
    from tests.conftest import Harness, Person

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The commands sign logins with this machine's clock; the node runs on the test's clock.
    return replace(settings, max_clock_skew_seconds=30 * 86400)


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "me.pem"
    write_key(path, SigningKey.generate().to_pem())
    return path


def write_key(path: Path, data: bytes) -> None:
    """A key file as `bidroom key generate` leaves it: only its owner may read it."""
    path.write_bytes(data)
    path.chmod(0o600)


def one_line(capsys: Capture, code: int, expected: int) -> str:
    """The failure's line, once it is checked to be one line, with no traceback."""
    err = capsys.readouterr().err
    assert code == expected, err
    assert err.count("\n") == 1, err
    assert err.startswith("bidroom: ")
    assert "Traceback" not in err
    return err


def sign_in(node: str, participant: str, key: Path, *flags: str) -> list[str]:
    return [*flags, "bidder", "sign-in", "--node", node, "--participant", participant,
            "--key", str(key), "--tender", "t-20261121-000000000001"]  # fmt: skip


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def test_an_unreachable_node_says_so_and_what_to_check(key: Path, capsys: Capture) -> None:
    node = f"http://127.0.0.1:{closed_port()}"
    err = one_line(capsys, main(sign_in(node, "p-1", key)), EXIT_UNREACHABLE)
    assert err.startswith(f"bidroom: 无法连接节点 {node}：")
    assert "节点是否在运行" in err


def test_an_unknown_host_is_named(key: Path, capsys: Capture) -> None:
    node = "https://nowhere.invalid"  # .invalid never resolves (RFC 6761)
    err = one_line(capsys, main(sign_in(node, "p-1", key)), EXIT_UNREACHABLE)
    assert "找不到主机 nowhere.invalid" in err


def test_a_url_without_a_scheme_is_bad_usage(
    key: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIDROOM_LANG", "en")
    err = one_line(capsys, main(sign_in("127.0.0.1:8443", "p-1", key)), EXIT_USAGE)
    assert err == (
        "bidroom: The node's URL must start with https:// or http://: 127.0.0.1:8443 "
        "(e.g. https://127.0.0.1:8443)\n"
    )


def test_debug_shows_the_traceback_then_the_line(key: Path, capsys: Capture) -> None:
    node = f"http://127.0.0.1:{closed_port()}"
    code = main(sign_in(node, "p-1", key, "--debug"))
    err = capsys.readouterr().err
    assert code == EXIT_UNREACHABLE
    assert err.startswith("Traceback (most recent call last):")
    assert "ClientConnectorError" in err
    assert err.splitlines()[-1].startswith(f"bidroom: 无法连接节点 {node}：")


@pytest.mark.parametrize(
    ("content", "flags", "expected"),
    [
        (None, (), "There is no key file at"),
        (b"not a key at all\n", (), "is not a PEM private key"),
        ("encrypted", (), "is encrypted: give its passphrase with --passphrase-env"),
        ("encrypted", ("--passphrase-env", "WRONG"), "The passphrase of"),
        ("plain", ("--passphrase-env", "RIGHT"), "is not encrypted and takes no passphrase"),
        ("x25519", (), "is not an Ed25519 key"),
    ],
    ids=["missing", "not-pem", "needs-passphrase", "wrong-passphrase", "no-passphrase", "x25519"],
)
def test_a_bad_key_file_says_what_is_wrong(
    tmp_path: Path,
    capsys: Capture,
    monkeypatch: pytest.MonkeyPatch,
    content: bytes | str | None,
    flags: tuple[str, ...],
    expected: str,
) -> None:
    monkeypatch.setenv("BIDROOM_LANG", "en")
    monkeypatch.setenv("RIGHT", "s3cret")
    monkeypatch.setenv("WRONG", "guess")
    path = tmp_path / "key.pem"
    if content == "encrypted":
        write_key(path, SigningKey.generate().to_pem(passphrase=b"s3cret"))
    elif content == "plain":
        write_key(path, SigningKey.generate().to_pem())
    elif content == "x25519":
        write_key(path, EncryptionKey.generate().to_pem())
    elif isinstance(content, bytes):
        write_key(path, content)
    err = one_line(capsys, main(["key", "show", "--key", str(path), *flags]), EXIT_KEY_FILE)
    assert str(path) in err  # the file in question is named
    assert expected in err


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real file system with no space left: a small tmpfs, filled up."""
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if os.geteuid() != 0 or mount is None or umount is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    point = tmp_path / "full"
    point.mkdir()
    mounted = subprocess.run(  # noqa: S603 - our own fixed arguments
        [mount, "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"can't mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        filler = (point / "filler").open("wb", buffering=0)
        with filler, contextlib.suppress(OSError):  # written until ENOSPC
            while True:
                filler.write(b"\0" * 4096)
        yield point
    finally:
        subprocess.run([umount, str(point)], check=True)  # noqa: S603 - our own fixed arguments


def test_a_full_disk_says_so(
    full_disk: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = full_disk / "new.pem"
    monkeypatch.setenv("NEW_KEY_PASS", "s3cret")
    generate = ["key", "generate", "--out", str(out), "--passphrase-env", "NEW_KEY_PASS"]
    err = one_line(capsys, main(generate), EXIT_DISK_FULL)
    assert err == "bidroom: 磁盘已满，写入失败。请腾出空间（df -h 查看）后重试。\n"


# Against a node on a real socket.


async def run(*argv: str) -> int:
    """`bidroom argv` in a worker thread (it runs its own event loop beside the node's)."""
    return await asyncio.to_thread(main, list(argv))


def base(harness: Harness) -> str:
    return str(harness.client.make_url("")).rstrip("/")


async def key_of(person: Person, tmp_path: Path) -> Path:
    path = tmp_path / f"{person.id}.pem"
    await asyncio.to_thread(write_key, path, person.key.to_pem())
    return path


async def test_https_to_a_plain_port_says_use_http(
    harness: Harness, key: Path, capsys: Capture
) -> None:
    node = base(harness).replace("http://", "https://")
    err = one_line(capsys, await run(*sign_in(node, "p-1", key)), EXIT_TLS_MISMATCH)
    assert "不使用 TLS：请把 https:// 改为 http://" in err


async def test_http_to_a_tls_port_says_use_https(
    tmp_path: Path, key: Path, capsys: Capture
) -> None:
    cert, private = await asyncio.to_thread(self_signed, tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    await asyncio.to_thread(context.load_cert_chain, cert, private)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()  # a handshake that succeeds is never reached: the client speaks plain

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    async with server:
        node = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        err = one_line(capsys, await run(*sign_in(node, "p-1", key)), EXIT_TLS_MISMATCH)
        assert "请把 http:// 改为 https://" in err
        # https to it: TLS is there, but its certificate is issued by no CA this machine trusts.
        secure = node.replace("http://", "https://")
        err = one_line(capsys, await run(*sign_in(secure, "p-1", key)), EXIT_TLS_MISMATCH)
    assert err.startswith(f"bidroom: 节点 {secure} 的证书无法验证（self-signed certificate）。")


async def test_a_refused_login_says_check_the_participant_and_key(
    harness: Harness, tmp_path: Path, key: Path, capsys: Capture
) -> None:
    bidder = await harness.enroll(Role.BIDDER, "甲公司")
    err = one_line(capsys, await run(*sign_in(base(harness), bidder.id, key)), EXIT_LOGIN)
    assert err.startswith("bidroom: 节点拒绝登录：")
    assert "--participant 与 --key" in err


async def test_forbidden_not_found_and_a_rule_each_have_their_line(
    harness: Harness, tmp_path: Path, capsys: Capture
) -> None:
    host = await harness.person(Role.HOST, "主持人")
    tender = await harness.tender(host)
    bidder = await harness.enroll(Role.BIDDER, "甲公司")
    as_bidder = ["--node", base(harness), "--participant", bidder.id]
    as_host = ["--node", base(harness), "--participant", host.id]
    bidder_key, host_key = await key_of(bidder, tmp_path), await key_of(host, tmp_path)

    code = await run("host", "tender", "publish", tender, *as_bidder, "--key", str(bidder_key))
    assert one_line(capsys, code, EXIT_FORBIDDEN).startswith("bidroom: 无权执行此操作：")

    missing = "t-20990101-000000000001"
    code = await run("host", "status", missing, *as_host, "--key", str(host_key))
    assert one_line(capsys, code, EXIT_NOT_FOUND).startswith("bidroom: 节点上没有找到：")

    code = await run("host", "opening", "close", tender, *as_host, "--key", str(host_key))
    err = one_line(capsys, code, 1)
    assert err.startswith("bidroom: 节点按规则 OpeningNotReady 拒绝：")
    assert f"Tender {tender} is draft, not at its opening." in err  # the node's own words


async def test_an_answer_that_is_not_a_node_s_says_check_the_address(
    key: Path, capsys: Capture
) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        page = b"<html>400 The plain HTTP request was sent to HTTPS port</html>"
        head = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nConnection: close\r\n"
        writer.write(head + b"Content-Length: %d\r\n\r\n%s" % (len(page), page))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)  # a proxy's page, say
    async with server:
        node = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        err = one_line(capsys, await run(*sign_in(node, "p-1", key)), EXIT_UNREACHABLE)
    assert err.startswith("bidroom: 该地址的回答不是 bidroom 节点的回答（HTTP 400）。")
    assert err.endswith("请检查地址、端口和 http/https。\n")


def test_the_installed_command_prints_the_line_and_exits_with_its_code(key: Path) -> None:
    """The same through a real process, as a script would see it: stderr, the exit status."""
    node = f"http://127.0.0.1:{closed_port()}"
    program = "import sys; from server.cli import main; sys.exit(main())"
    done = subprocess.run(  # noqa: S603 - this interpreter, our own arguments
        [sys.executable, "-c", program, *sign_in(node, "p-1", key)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BIDROOM_LANG": "en"},
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (EXIT_UNREACHABLE, "")
    assert done.stderr.startswith(f"bidroom: Can't reach the node {node}: ")
    assert done.stderr.count("\n") == 1
    assert done.stderr.endswith(
        "Check the address and port, the network, and that the node is running.\n"
    )
