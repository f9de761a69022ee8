"""The host's, admin's and profile commands: a tender run by `bidroom` subprocesses against a
node on a real socket (the test's clock), and the profile file, the catalogue and the tables."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from wcwidth import wcswidth

from crypto import SigningKey
from evaluator_client import bidding
from server.cli import main
from server.cli.host import example_text
from server.cli.jsonc import strip_comments
from server.cli.messages import EXIT_UNSUPPORTED, MESSAGES, table
from server.domain.access import Role
from tests.server.transport.evaluation_world import POOL, draw_request
from tests.server.transport.opening_world import World, build_world

if TYPE_CHECKING:
    import argparse
    from collections.abc import AsyncIterator

    from server.config import Settings
    from tests.conftest import Harness, Person

Capture = pytest.CaptureFixture[str]
BIDROOM = str(Path(sys.executable).with_name("bidroom"))
TENDER_ID = re.compile(r"\bt-[0-9A-Za-z-]+")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The commands sign logins with this machine's clock; the node runs on the test's clock.
    return replace(settings, max_clock_skew_seconds=3650 * 86400)


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config home of the test's own; no profile or language from the machine."""
    for name in ("BIDROOM_PROFILE", "BIDROOM_NODE", "BIDROOM_LANG"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return config


async def bidroom(*argv: str) -> tuple[int, str, str]:
    """Run the installed `bidroom` command as a user would, in its own process."""
    process = await asyncio.create_subprocess_exec(
        BIDROOM, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def key_file(tmp: Path, person: Person) -> Path:
    path = tmp / f"{person.id}.pem"
    path.write_bytes(person.key.to_pem())
    path.chmod(0o600)
    return path


def node_url(harness: Harness) -> str:
    return str(harness.client.make_url("")).rstrip("/")


async def test_a_host_runs_a_tender_from_the_command_line(
    harness: Harness, tmp_path: Path, environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = await harness.person(Role.HOST, "主持人")
    harness.custodians = [await harness.person(Role.CUSTODIAN, f"保管人{i}") for i in (1, 2)]
    key = key_file(tmp_path, host)
    code, out, _ = await bidroom(
        "profile", "add", "centre", "--node", node_url(harness), "--participant", host.id,
        "--key", str(key),
    )  # fmt: skip
    assert code == 0, out
    profile = environment / "bidroom" / "profiles.toml"
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in profile.read_text()

    example = await asyncio.to_thread(example_text)  # what `bidroom host tender example` prints
    spec = tmp_path / "tender.jsonc"
    for placeholder, custodian in zip(
        ("p-custodian01", "p-custodian02"), harness.custodians, strict=True
    ):
        example = example.replace(placeholder, custodian.id)
    spec.write_text(example, encoding="utf-8")
    code, out, err = await bidroom("host", "tender", "create", str(spec))
    assert code == 0, err
    assert out.startswith("已创建招标项目")
    match = TENDER_ID.search(out)
    assert match is not None, out
    tender = match.group()

    code, out, err = await bidroom("host", "tender", "publish", tender)
    assert (code, out.strip()) == (0, f"已发布招标项目 {tender}"), err
    code, out, _ = await bidroom("host", "tender", "list")
    assert code == 0
    header, row = out.splitlines()
    assert row.startswith(tender)
    assert "市政道路照明改造工程" in row
    title = "市政道路照明改造工程"
    assert wcswidth(header[: header.index("名称")]) == wcswidth(row[: row.index(title)])

    # The deadline passes with no bid: starting the opening fails every lot, on record.
    deadline = json.loads(strip_comments(example))["schedule"]["deadline"]
    harness.clock.advance(
        (harness.clock.now().fromisoformat(deadline) - harness.clock.now()).total_seconds() + 60
    )
    await harness.node.scheduler.tick()
    code, out, err = await bidroom("host", "opening", "start", tender, "--json")
    assert code == 0, err
    assert json.loads(out)["state"] == "failed"
    monkeypatch.setenv("BIDROOM_LANG", "en")
    code, out, _ = await bidroom("host", "status", tender)
    assert code == 0
    assert "state" in out
    assert "failed" in out
    assert "(no evaluation rooms yet)" in out


async def test_the_admin_adds_and_lists_participants_and_cannot_revoke(
    harness: Harness, tmp_path: Path, capsys: Capture
) -> None:
    admin = await harness.person(Role.ADMIN, "管理员")
    flags = ["--node", node_url(harness), "--participant", admin.id]
    flags += ["--key", str(key_file(tmp_path, admin))]
    pubkey = SigningKey.generate().verify_key.to_text()

    async def run(*argv: str) -> int:
        return await asyncio.to_thread(main, list(argv))

    added = "admin", "participants", "add", *flags, "--role", "bidder", "--name", "示范建设有限公司"
    assert await run(*added, "--pubkey", pubkey, "--attr", "region=广州") == 0
    out = capsys.readouterr().out
    assert out.startswith("已登记参与者 p-")
    assert "示范建设有限公司" in out
    assert await run("admin", "participants", "list", *flags, "--json") == 0
    names = {p["name"] for p in json.loads(capsys.readouterr().out)}
    assert {"管理员", "示范建设有限公司"} <= names
    assert await run("admin", "participants", "list", *flags) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(names) + 1
    assert await run("admin", "participants", "revoke", *flags, admin.id) == EXIT_UNSUPPORTED
    assert "不支持撤销" in capsys.readouterr().err


async def test_interactive_create_asks_writes_the_spec_and_creates(
    harness: Harness, tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = await harness.person(Role.HOST)
    custodians = [await harness.person(Role.CUSTODIAN) for _ in (1, 2)]
    answers = ["照明工程", "", "一标段,二标段,三标段", "", "", ",".join(c.id for c in custodians)]
    answers += ["two", "2", "", ""]
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return answers[len(prompts) - 1]

    monkeypatch.setattr("builtins.input", answer)
    spec = tmp_path / "spec.json"
    argv = ["host", "tender", "create", "--interactive", str(spec), "--node", node_url(harness)]
    argv += ["--participant", host.id, "--key", str(key_file(tmp_path, host))]
    assert await asyncio.to_thread(main, argv) == 0
    out, err = capsys.readouterr()
    assert "请输入整数" in err
    assert prompts[0] == "项目名称 [市政道路照明改造工程]: "
    written = json.loads(spec.read_text(encoding="utf-8"))
    assert written["title"] == "照明工程"
    assert [lot["id"] for lot in written["lots"]] == ["L1", "L2", "L3"]
    assert "已创建招标项目" in out
    assert "照明工程" in out
    with pytest.raises(SystemExit, match="已存在，不会覆盖"):  # asked before any question
        await asyncio.to_thread(main, argv)
    assert len(prompts) == len(answers)


def test_profiles_fill_in_what_the_flags_leave_out(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch, environment: Path
) -> None:
    key = tmp_path / "k.pem"
    key.write_text("not read here")
    assert main(["profile", "list"]) == 0
    assert "还没有配置" in capsys.readouterr().out
    for name, node in (("gz", "https://gz.example"), ("sz", "https://sz.example/")):
        add = ["profile", "add", name, "--node", node, "--participant", f"p-{name}"]
        assert main([*add, "--key", str(key), "--passphrase-env", f"PASS_{name}"]) == 0
    assert main(["profile", "use", "gz"]) == 0
    seen: list[argparse.Namespace] = []

    def session(args: argparse.Namespace, work: object) -> dict[str, object]:
        seen.append(args)  # where the command would log in, and as whom
        return {}

    monkeypatch.setattr("server.cli.host.with_session", session)
    assert main(["host", "tender", "publish", "t-1", "--json"]) == 0
    assert (seen[-1].node, seen[-1].participant, seen[-1].key) == (
        "https://gz.example",
        "p-gz",
        key,
    )
    monkeypatch.setenv("BIDROOM_PROFILE", "sz")
    monkeypatch.setenv("BIDROOM_NODE", "https://other.example")
    assert main(["host", "tender", "publish", "t-1", "--json", "--participant", "p-me"]) == 0
    assert (seen[-1].node, seen[-1].participant) == ("https://other.example", "p-me")
    assert main(["host", "tender", "publish", "t-1", "--json", "--profile", "gz"]) == 0
    assert (seen[-1].participant, seen[-1].passphrase_env) == ("p-gz", "PASS_gz")
    capsys.readouterr()
    monkeypatch.setenv("BIDROOM_LANG", "en")
    assert main(["profile", "list"]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith("current  profile  node")
    assert "https://sz.example " in listing  # stored without the trailing slash
    assert main(["profile", "remove", "gz"]) == 0
    monkeypatch.delenv("BIDROOM_PROFILE")
    with pytest.raises(SystemExit, match="Missing --participant --key"):
        main(["host", "tender", "list"])
    with pytest.raises(SystemExit, match="no profile nope"):
        main(["host", "tender", "list", "--profile", "nope"])
    capsys.readouterr()
    add = ["profile", "add", "x", "--node", "bidroom.example", "--participant", "p"]
    assert main([*add, "--key", str(key)]) == 2  # a URL without a scheme is bad usage
    assert "must start with https://" in capsys.readouterr().err
    text = (environment / "bidroom" / "profiles.toml").read_text()
    assert "gz" not in text
    assert "not read here" not in text


def test_the_example_strips_to_plain_json_and_strings_keep_their_slashes(
    capsys: Capture,
) -> None:
    assert main(["host", "tender", "example"]) == 0
    assert capsys.readouterr().out == example_text()
    spec = json.loads(strip_comments(example_text()))
    assert spec["opening"]["custodians"] == ["p-custodian01", "p-custodian02"]
    source = '{"a": "https://x//y", /* c\n */ "b": "\\"//"} // end'
    assert json.loads(strip_comments(source)) == {"a": "https://x//y", "b": '"//'}
    assert strip_comments(source).count("\n") == 1


def test_tables_align_chinese_by_display_width() -> None:
    lines = table(["col.lot", "col.name"], [["L1", "一标段"], ["L22", "x"]]).splitlines()
    assert [line.index(value) for line, value in zip(lines[1:], ["一", "x"], strict=True)] == [6, 6]
    assert lines[0].startswith("标段  名称")  # 标段 is four columns wide, then two spaces


@pytest.fixture
async def world(harness: Harness, tmp_path: Path) -> AsyncIterator[World]:
    built = await build_world(harness, tmp_path)
    yield built
    await built.close()


async def test_the_host_runs_the_opening_and_the_draw_by_command(
    harness: Harness, world: World, tmp_path: Path, capsys: Capture
) -> None:
    for i, (specialty, region, employer) in enumerate(POOL, start=1):
        attributes = {"specialty": specialty, "region": region, "employer": employer or f"院{i}"}
        await harness.enroll(Role.EXPERT, f"专家{i}", attributes)
    tender = world.tender
    flags = ["--node", node_url(harness), "--participant", world.host.id]
    flags += ["--key", str(key_file(tmp_path, world.host))]

    async def host(*argv: str) -> str:
        code = await asyncio.to_thread(main, ["host", *argv, *flags])
        out, err = capsys.readouterr()
        assert code == 0, err
        return out.strip()

    await world.advance_to_sign_in()
    for bidder in world.bidders:
        await bidder.session.post(f"/api/tenders/{tender}/opening/sign-in")
    await world.advance_to_deadline()
    assert await host("opening", "start", tender) == "开标：开始 start，阶段 opening"
    assert "paused" in await host("opening", "pause", tender, "--reason", "网络故障")
    assert "decrypting" in await host("opening", "resume", tender)
    for bidder in world.bidders:
        await bidding.decrypt(bidder.session, tender, "L1", await world.file_key(bidder))
    assert "record_published" in await host("opening", "record", tender)
    for bidder in world.bidders[1:]:
        await bidding.confirm(bidder.session, tender)
    await bidding.object_to(world.bidders[0].session, tender, "报价大写与小写不一致")
    refused = await asyncio.to_thread(main, ["host", "opening", "close", tender, *flags])
    err = capsys.readouterr().err
    assert (refused, err.count("\n")) == (1, 1)
    assert err.startswith("bidroom: 节点按规则 OpeningStillOpen 拒绝：")
    assert err.endswith("（依据 Regs 44）\n")  # the rule, the node's words and the article
    await host("opening", "answer", tender, "o1", "--text", "以大写为准")
    harness.clock.advance(16 * 60)
    assert "closed" in await host("opening", "close", tender)
    assert "进入评标" in await host("evaluation", "start", tender)
    request = tmp_path / "draw.jsonc"
    request.write_text("// 抽取申请\n" + json.dumps(draw_request()), encoding="utf-8")
    assert "种子哈希" in await host("draw", "request", tender, "L1", str(request))
    assert "已揭示种子" in await host("draw", "reveal", tender, "L1")
    status = await host("status", tender)
    assert "evaluating" in status
    rooms = status.split("\n\n")[1].splitlines()
    assert rooms[0].split() == ["标段", "评标阶段", "专家", "已签到", "已签字"]
    assert rooms[1].split() == ["L1", "check_in", "5", "0", "0"]


def test_every_message_has_both_languages_with_the_same_blanks() -> None:
    blanks = re.compile(r"\{(\w+)\}")
    for message, (zh, en) in MESSAGES.items():
        assert zh.strip(), message
        assert en.strip(), message
        assert sorted(blanks.findall(zh)) == sorted(blanks.findall(en)), message
