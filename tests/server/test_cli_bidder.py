"""The bidder's and custodian's commands against a node on a real socket, end to end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import sys
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from crypto import EncryptionKey, SigningKey
from server.cli import main
from server.domain.access import Role
from server.keyfiles import write_private_file
from server.protocol.times import format_time
from tests.conftest import Harness, Person, tender_spec

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from server.config import Settings

Capture = pytest.CaptureFixture[str]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The commands sign logins with this machine's clock; the node runs on the test's clock.
    return replace(settings, max_clock_skew_seconds=30 * 86400)


@dataclass
class Cli:
    harness: Harness
    capsys: Capture
    tmp: Path

    async def __call__(self, *argv: str) -> tuple[int, Any, str]:
        """Run `bidroom argv` in a worker thread (it runs its own event loop)."""
        code = await asyncio.to_thread(main, list(argv))
        out, err = self.capsys.readouterr()
        return code, (json.loads(out) if out.strip().startswith(("{", "[")) else out), err

    def node(self, person: Person, files: dict[str, Path]) -> list[str]:
        base = str(self.harness.client.make_url("")).rstrip("/")
        return ["--node", base, "--participant", person.id, "--key", str(files["key"])]


@contextlib.contextmanager
def at_a_terminal(monkeypatch: pytest.MonkeyPatch, typed: str) -> Iterator[None]:
    """Standard input is a real terminal (a pseudo-terminal) where `typed` was typed."""
    leader, follower = pty.openpty()
    try:
        os.write(leader, typed.encode())
        terminal = open(follower, encoding="utf-8", closefd=False)  # noqa: SIM115 - a descriptor
        with terminal, monkeypatch.context() as patch:
            patch.setattr(sys, "stdin", terminal)
            yield
    finally:
        os.close(follower)
        os.close(leader)


def write_keys(tmp: Path, person: Person) -> dict[str, Path]:
    files = {"key": tmp / f"{person.id}.pem", "encryption": tmp / f"{person.id}.x25519.pem"}
    write_private_file(files["key"], person.key.to_pem())
    assert person.encryption is not None
    write_private_file(files["encryption"], person.encryption.to_pem())
    return files


def write_package(tmp: Path, name: str, price: str) -> tuple[Path, Path]:
    package = tmp / f"{name}-package"
    (package / "technical").mkdir(parents=True)
    (package / "technical" / "proposal.txt").write_text(f"{name} 技术标\n" * 100)
    (package / "commercial.txt").write_text(f"{name} 商务标\n")
    sheet = tmp / f"{name}-opening-sheet.json"
    sheet.write_text(
        json.dumps(
            {
                "price": price,
                "duration_days": 120,
                "quality": "合格",
                "project_manager": f"{name} 项目经理",
                "extra": {"warranty_years": "3"},
            },
            ensure_ascii=False,
        )
    )
    return package, sheet


async def test_a_bidder_and_a_custodian_do_everything_from_the_command_line(
    harness: Harness, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = Cli(harness, capsys, tmp_path)
    host = await harness.person(Role.HOST, "主持人 host")
    now = harness.clock.now()
    deadline = now + timedelta(days=1)
    schedule = tender_spec(now)["schedule"] | {"deadline": format_time(deadline)}
    tender = await harness.tender(host, schedule=schedule)
    await harness.post_ok(f"/api/tenders/{tender}/publish", {}, host)
    harness.clock.advance(3600)
    await harness.node.scheduler.tick()

    # A new bidder makes its keys with the command and is enrolled with the public halves.
    key_file, enc_file = tmp_path / "new.pem", tmp_path / "new.x25519.pem"
    _, public, _ = await cli("key", "generate", "--no-passphrase", "--out", str(key_file))
    _, enc_public, _ = await cli(
        "key", "generate", "--kind", "encryption", "--no-passphrase", "--out", str(enc_file)
    )
    assert (public.startswith("ed25519:"), enc_public.startswith("x25519:")) == (True, True)
    bidders: list[tuple[Person, dict[str, Path]]] = []
    for i in range(4):
        person = await harness.person(Role.BIDDER, f"投标人{i + 1}")
        bidders.append((person, await asyncio.to_thread(write_keys, tmp_path, person)))

    sealed: dict[str, Path] = {}
    for i, (person, files) in enumerate(bidders):
        package, sheet = await asyncio.to_thread(write_package, tmp_path, f"b{i}", f"{900 + i}.50")
        out = tmp_path / f"b{i}.sealed"
        code, result, err = await cli(
            "bidder", "seal", *cli.node(person, files), "--tender", tender, "--lot", "L1",
            "--encryption-key", str(files["encryption"]), "--sheet", str(sheet),
            "--package", str(package), "--out", str(out),
        )  # fmt: skip
        assert code == 0, err
        sealed[person.id] = out
        code, result, err = await cli(
            "bidder", "submit", *cli.node(person, files), "--tender", tender, "--lot", "L1",
            "--encryption-key", str(files["encryption"]), str(out),
        )  # fmt: skip
        assert (code, result["receipt"]["bidder"]) == (0, person.id), err
    first, first_files = bidders[0]
    receipt = str(sealed[first.id]) + ".receipt.json"
    code, result, _ = await cli(
        "bidder", "receipt", "verify", *cli.node(first, first_files), receipt
    )
    assert result["sealed_list"].startswith("not sealed yet")

    # A sheet the tender does not accept is caught before sealing, not at the opening.
    package, sheet = await asyncio.to_thread(write_package, tmp_path, "bad", "one million")
    with pytest.raises(SystemExit, match="decimal string"):
        await cli(
            "bidder", "seal", *cli.node(first, first_files), "--tender", tender, "--lot", "L1",
            "--encryption-key", str(first_files["encryption"]), "--sheet", str(sheet),
            "--package", str(package), "--out", str(tmp_path / "bad.sealed"),
        )  # fmt: skip
    withdrawn, withdrawn_files = bidders[3]
    code, _, _ = await cli(
        "bidder", "withdraw", *cli.node(withdrawn, withdrawn_files), "--tender", tender,
        "--lot", "L1",
    )  # fmt: skip
    assert code == 0

    harness.clock.advance((deadline - timedelta(minutes=5) - harness.clock.now()).total_seconds())
    for person, files in bidders[:3]:
        code, result, _ = await cli(
            "bidder", "sign-in", *cli.node(person, files), "--tender", tender
        )
        assert result["signed_in"] is True
    harness.clock.advance(300)
    await harness.login(host)
    await harness.node.scheduler.tick()
    code, result, _ = await cli(
        "bidder", "receipt", "verify", *cli.node(first, first_files), receipt
    )
    assert (code, result["sealed_list"]) == (0, "included")
    assert result["signed_log"].startswith("included in the tree head of")
    await harness.post_ok(f"/api/tenders/{tender}/opening/start", {}, host)

    for person, files in bidders[:2]:
        code, result, err = await cli(
            "bidder", "decrypt", *cli.node(person, files), "--tender", tender, "--lot", "L1",
            "--encryption-key", str(files["encryption"]), str(sealed[person.id]),
        )  # fmt: skip
        assert (code, result["status"]) == (0, "decrypted"), err
    # The third does not decrypt in time; the custodians open its bid after the window.
    harness.clock.advance(31 * 60)
    await harness.login(host)
    await harness.node.scheduler.tick()
    for custodian in harness.custodians:
        custodian_files = await asyncio.to_thread(write_keys, tmp_path, custodian)
        code, result, err = await cli(
            "custodian", "share", *cli.node(custodian, custodian_files), "--tender", tender,
            "--encryption-key", str(custodian_files["encryption"]),
        )  # fmt: skip
        assert code == 0, err
    assert {b["bidder"]: b.get("by") for b in result["bids"]} == {
        bidders[0][0].id: "bidder",
        bidders[1][0].id: "bidder",
        bidders[2][0].id: "custodians",
    }
    await harness.post_ok(f"/api/tenders/{tender}/opening/record", {}, host)
    # Confirming shows the record and its hash, then asks: no terminal and no --yes, no
    # signature; at a terminal, "n" stops and "y" signs.
    confirm = ["bidder", "confirm", *cli.node(first, first_files), "--tender", tender]
    code, _, err = await cli(*confirm)
    assert (code, err.splitlines()[-1]) == (
        2, "bidroom: 签名前需要您确认，但输入不是终端：看过上面显示的内容后，加 --yes 重新运行。"
    )  # fmt: skip
    assert f"将以 {first.id} 的身份签名确认开标记录 {tender}，记录哈希 " in err
    with at_a_terminal(monkeypatch, "n\n"):
        code, _, err = await cli(*confirm)
    assert code == 11  # declined: nothing signed
    assert err.endswith("是否签名（输入 y 签名，其他任何输入取消）：bidroom: 已取消，未签名。\n")
    with at_a_terminal(monkeypatch, "y\n"):
        code, result, err = await cli(*confirm)
    assert code == 0, err
    assert result["responses"] == {first.id: "confirmed"}
    second, second_files = bidders[1]
    code, result, _ = await cli(
        "bidder", "object", *cli.node(second, second_files), "--tender", tender,
        "--text", "工期与投标函不一致",
    )  # fmt: skip
    assert result["objections"][0]["text"] == "工期与投标函不一致"
    code, _, err = await cli(
        "bidder", "confirm", *cli.node(second, second_files), "--tender", tender, "--yes"
    )
    assert (code, "AlreadyResponded" in err) == (1, True)
    # A witness keeps the last tree head it saw and checks each new one extends it.
    state = str(tmp_path / "witness.json")
    watch = ["audit", "witness", *cli.node(first, first_files), "--tender", tender]
    code, seen, _ = await cli(*watch, "--state", state)
    assert (code, seen["seen"]) == (0, "first")
    opening = f"/api/tenders/{tender}/opening"
    await harness.post_ok(f"{opening}/objections/o1/answer", {"answer": "已核实"}, host)
    harness.clock.advance(16 * 60)
    await harness.login(host)
    await harness.post_ok(f"{opening}/close", {}, host)
    code, later, _ = await cli(*watch, "--state", state)
    assert (code, later["seen"]) == (0, f"extends {seen['size']}")
    forged = {tender: {"size": seen["size"], "root": "00" * 32}}
    await asyncio.to_thread((tmp_path / "witness.json").write_text, json.dumps(forged))
    code, alarm, _ = await cli(*watch, "--state", state)
    assert (code, alarm.startswith("ALARM")) == (1, True)


async def test_a_wrong_encryption_key_is_caught_locally(
    harness: Harness, tmp_path: Path, capsys: Capture
) -> None:
    cli = Cli(harness, capsys, tmp_path)
    person = await harness.person(Role.BIDDER)
    files = await asyncio.to_thread(write_keys, tmp_path, person)
    other = tmp_path / "other.x25519.pem"
    await asyncio.to_thread(write_private_file, other, EncryptionKey.generate().to_pem())
    not_sealed = tmp_path / "plain.bin"
    await asyncio.to_thread(not_sealed.write_bytes, b"hello")
    with pytest.raises(SystemExit, match="does not open it"):
        await cli(
            "bidder", "decrypt", *cli.node(person, files), "--tender", "t-20261121-000000000001",
            "--lot", "L1", "--encryption-key", str(other), str(not_sealed),
        )  # fmt: skip
    stranger = tmp_path / "stranger.pem"
    await asyncio.to_thread(write_private_file, stranger, SigningKey.generate().to_pem())
    code, _, err = await cli(
        "bidder", "sign-in", "--node", cli.node(person, files)[1], "--participant", person.id,
        "--key", str(stranger), "--tender", "t-20261121-000000000001",
    )  # fmt: skip
    assert code == 6  # a refused login
    assert err.startswith("bidroom: 节点拒绝登录：")
