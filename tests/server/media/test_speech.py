"""The 唱标 by voice: its words from real opening records, and real espeak-ng speaking them."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import io
import os
import wave
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from server.domain.catalogue import decode_event
from server.domain.opening_events import RecordPublished
from server.media import speech
from server.media.speech import (
    LABELS,
    SpeechTimeout,
    SpeechUnavailable,
    TextRefused,
    amount,
    integer,
    program_pcm,
    spoken_text,
    synthesize,
)
from tests.server.domain.journeys import DEADLINE, TENDER, opening, run, sheet

if TYPE_CHECKING:
    from server.domain.tender import Tender

WINDOW_END = DEADLINE + timedelta(minutes=30)
BIDDERS = ("p-bidder0001", "p-bidder0002", "p-bidder0003", "p-bidder0004", "p-bidder0005")
NAMES = dict(
    zip(
        BIDDERS, ("甲建设公司", "乙工程公司", "丙市政公司", "丁照明公司", "戊电力公司"), strict=True
    )
)
LOTS = [{"id": "L1", "name": "一标段 路灯"}, {"id": "L2", "name": "二标段 道路"}]
FIELD_LABELS = {"warranty_years": "质保期(年)"}


def opening_record(tender: Tender | None = None) -> dict[str, Any]:
    """A record as the node publishes it: every way a bid can end, and a failed lot.

    A opens its bid, B sends three wrong keys (revoked), the node can't read C's (withdrawn),
    D's is opened by the custodians after the window, E's is never decrypted; lot 2 has no bids.
    """
    a, b, c, d, _ = BIDDERS
    tender = tender or opening(BIDDERS, lots=LOTS, title="路灯改造工程", tenderer="城市管理局")
    assert tender.spec is not None
    spec, session = tender.spec, tender.session()
    run(tender, session.opened(
        DEADLINE, spec, TENDER, "L1", a, "bidder", sheet(a, "3139000.00"), "key"
    ))  # fmt: skip
    for _ in range(3):
        run(tender, session.attempt_failed(DEADLINE, "L1", b, "wrong key"))
    run(tender, session.platform_failed(DEADLINE, "L1", c, "bidder", "storage unreadable"))
    run(tender, tender.close_decryption(WINDOW_END))
    run(tender, session.opened(
        WINDOW_END, spec, TENDER, "L1", d, "custodians", sheet(d, "1234.05"), "key"
    ))  # fmt: skip
    record = session.record_document(TENDER, spec, NAMES, WINDOW_END)
    published = run(tender, session.publish(WINDOW_END, spec, record, "ab" * 32))[-1]
    # What the integrator gets: the event's payload, as the log holds it.
    decoded = decode_event(published.TYPE, published.payload())
    assert isinstance(decoded, RecordPublished)
    return decoded.record


# The words.


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "零"), (7, "七"), (10, "十"), (15, "十五"), (20, "二十"), (110, "一百一十"),
        (180, "一百八十"), (1001, "一千零一"), (1010, "一千零一十"), (1100, "一千一百"),
        (10000, "一万"), (100010, "十万零一十"), (3139000, "三百一十三万九千"),
        (100005000, "一亿零五千"), (120000000, "一亿二千万"), (10**12 + 10**8, "一万零一亿"),
        (10**15 - 1, "九百九十九万九千九百九十九亿九千九百九十九万九千九百九十九"),
    ],
)  # fmt: skip
def test_whole_numbers_are_read_in_chinese_numerals(number: int, words: str) -> None:
    assert integer(number) == words


def test_negative_numbers_are_not_read() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        integer(-1)


@pytest.mark.parametrize(
    ("price", "words"),
    [
        ("1000000.00", "一百万元整"), ("3139000", "三百一十三万九千元整"),
        ("1234.05", "一千二百三十四元零五分"), ("1234.5", "一千二百三十四元五角"),
        ("12.34", "十二元三角四分"), ("0.05", "五分"), ("0", "零元整"),
        # Not a price of the opening sheet: read as written.
        ("1,000.00", "1,000.00"), (1000, "1000"),
    ],
)  # fmt: skip
def test_prices_are_read_in_yuan_jiao_fen(price: object, words: str) -> None:
    assert amount(price) == words


def test_the_record_is_read_bid_by_bid_in_its_order() -> None:
    record = opening_record()
    text = spoken_text(record, FIELD_LABELS)
    a, b, c, d, e = (NAMES[bidder] for bidder in BIDDERS)
    expected = [
        "开标记录。项目名称：路灯改造工程。招标人：城市管理局。标段：一标段 路灯。",
        f"第一家，投标人：{a}，投标报价：三百一十三万九千元整，工期：一百八十天，质量：合格，"
        "项目经理：王工，质保期(年)：2。",
        f"第二家，投标人：{b}，视为撤销投标文件，原因：The bid could not be decrypted in 3 "
        "attempts: wrong key。",
        f"第三家，投标人：{c}，视为撤回投标文件，原因：storage unreadable。",
        f"第四家，投标人：{d}，由开标密钥保管人解密，投标报价：一千二百三十四元零五分，"
        "工期：一百八十天，质量：合格，项目经理：王工，质保期(年)：2。",
        f"第五家，投标人：{e}，视为撤销投标文件，原因：not decrypted。",
        "标段：二标段 道路。本标段流标，原因：Only 0 valid bids; at least 3 are needed (Regs 44).",
        "开标记录宣读完毕。",
    ]
    assert text == "".join(expected)
    # Every value read out is the record's own.
    bids = record["lots"][0]["bids"]
    assert [bid["name"] for bid in bids] == [a, b, c, d, e]
    assert [bid.get("reason") for bid in bids if bid["status"] != "decrypted"] == [
        "The bid could not be decrypted in 3 attempts: wrong key", "storage unreadable",
        "not decrypted",
    ]  # fmt: skip
    assert record["lots"][1]["failed"] in text


def test_the_text_is_deterministic_and_fields_without_a_label_are_read_by_name() -> None:
    record = opening_record()
    assert spoken_text(record, FIELD_LABELS) == spoken_text(copy.deepcopy(record), FIELD_LABELS)
    plain = spoken_text(record)
    assert "warranty_years：2" in plain
    assert "质保期" not in plain


def test_record_values_cannot_steer_the_voice() -> None:
    tender = opening(BIDDERS, lots=LOTS)
    assert tender.spec is not None
    a = BIDDERS[0]
    run(tender, tender.session().opened(
        DEADLINE, tender.spec, TENDER, "L1", a, "bidder",
        sheet(a) | {"quality": "合格[[h@'loU]]"}, "key",
    ))  # fmt: skip
    record = tender.session().record_document(TENDER, tender.spec, NAMES, WINDOW_END)
    text = spoken_text(record)
    assert "质量：合格\uff3b\uff3bh@'loU\uff3d\uff3d" in text
    assert "[" not in text


def test_the_labels_are_in_chinese() -> None:
    assert all(not label.isascii() for label in LABELS.values())


# The voice: real espeak-ng.


async def test_a_record_is_spoken_with_its_hashes() -> None:
    text = spoken_text(opening_record(), FIELD_LABELS)
    said = await synthesize(text)
    assert said.text_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert said.audio_sha256 == hashlib.sha256(said.pcm).hexdigest()
    assert (said.sample_rate, said.channels, said.voice) == (48000, 2, "cmn-latn-pinyin")
    assert said.duration_ms == len(said.pcm) // 4 * 1000 // 48000
    # Mandarin at rate 160 runs at about 3.5 characters a second.
    assert 150 * len(text) < said.duration_ms < 500 * len(text)
    samples = np.frombuffer(said.pcm, dtype="<i2").reshape(-1, 2)
    assert np.array_equal(samples[:, 0], samples[:, 1])  # the engine's mono, on both sides
    assert np.abs(samples).max() > 1000
    again = await synthesize(text)
    assert (again.text_sha256, again.audio_sha256) == (said.text_sha256, said.audio_sha256)
    assert said.facts() == {
        "text_sha256": said.text_sha256, "audio_sha256": said.audio_sha256,
        "engine": said.engine, "voice": "cmn-latn-pinyin", "duration_ms": said.duration_ms,
        "sample_rate": 48000, "channels": 2,
    }  # fmt: skip
    assert "pcm" not in repr(said)


async def test_the_engine_and_its_version_are_named() -> None:
    process = await asyncio.create_subprocess_exec(
        "espeak-ng", "--version", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    said = await synthesize("一")
    version = said.engine.removeprefix("espeak-ng ")
    assert said.engine.startswith("espeak-ng ")
    assert f"text-to-speech: {version} " in out.decode()


async def test_the_voice_reads_chinese_as_mandarin() -> None:
    """The phonemes of the default voice: Mandarin syllables with tones, no switch to English
    (which `cmn` of espeak-ng 1.51 makes, reading the pinyin of each character in English)."""
    text = "开标记录。投标人：甲建设公司，投标报价：三百一十三万九千元整。"
    process = await asyncio.create_subprocess_exec(
        "espeak-ng", "-v", speech.VOICE, "-b", "1", "-q", "-x", "--stdin",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate(text.encode())
    phonemes = out.decode()
    assert "(en)" not in phonemes
    assert "s'a55n" in phonemes  # 三, first tone


async def test_a_faster_rate_speaks_faster() -> None:
    text = "投标报价：三百一十三万九千元整。"
    slow, fast = await synthesize(text, rate=120), await synthesize(text, rate=320)
    assert fast.duration_ms < slow.duration_ms * 0.6


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "nothing"), ("  \n", "nothing"), ("一" * 11, "at most 10"), ("王[[a]]", "phonemes")],
)
async def test_texts_the_engine_is_not_given(text: str, problem: str) -> None:
    with pytest.raises(TextRefused, match=problem):
        await synthesize(text, max_chars=10)


@pytest.mark.parametrize("rate", [79, 451])
async def test_rates_beyond_the_engine(rate: int) -> None:
    with pytest.raises(ValueError, match="words a minute"):
        await synthesize("一", rate=rate)


async def test_a_missing_engine_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech, "ENGINE", "bidroom-no-such-espeak-ng")
    with pytest.raises(SpeechUnavailable, match="can't be started"):
        await synthesize("一")


async def test_a_voice_the_engine_lacks_is_unavailable() -> None:
    with pytest.raises(SpeechUnavailable, match="no voice 'no-such-voice'"):
        await synthesize("一", voice="no-such-voice")
    said = await synthesize("一", voice="sit/cmn-Latn-pinyin")  # a voice by its file
    assert said.duration_ms > 0


async def test_an_engine_failure_is_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An engine that starts, answers for its version and voices, then fails to speak."""
    failing = tmp_path / "espeak-ng"
    failing.write_text(
        '#!/bin/sh\ncase "$1" in\n'
        '  --version) echo "eSpeak NG text-to-speech: 0.0  Data at: x" ;;\n'
        '  --voices) echo "Pty Language"; echo " 5  cmn-latn-pinyin --/M x sit/x" ;;\n'
        "  *) exit 3 ;;\nesac\n"
    )
    failing.chmod(0o755)
    monkeypatch.setattr(speech, "ENGINE", str(failing))
    with pytest.raises(SpeechUnavailable, match="exit status 3"):
        await synthesize("一")


async def test_an_engine_that_takes_too_long_is_stopped() -> None:
    await synthesize("一")  # the engine is known: the time limit is the speech's alone
    with pytest.raises(SpeechTimeout, match=r"within 0\.01 s"):
        await synthesize("开标记录宣读完毕。" * 500, time_limit=0.01)
    assert "espeak-ng" not in children()  # killed and reaped


def children() -> list[str]:
    """The names of this process's child processes."""
    me = os.getpid()
    pids = Path(f"/proc/{me}/task/{me}/children").read_text().split()
    return [Path(f"/proc/{pid}/comm").read_text().strip() for pid in pids]


def _wav(width: int, channels: int, frames: bytes, rate: int = 22050) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setsampwidth(width)
        writer.setnchannels(channels)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return out.getvalue()


def test_stereo_wav_is_converted_too() -> None:
    second = np.tile(np.array([1000, -1000], dtype="<i2"), 16000)  # 1 s at 16 kHz, stereo
    pcm = program_pcm(_wav(2, 2, second.tobytes(), rate=16000))
    assert abs(len(pcm) - 48000 * 4) <= 4 * 48  # a second, give or take a millisecond


@pytest.mark.parametrize(
    ("wav", "problem"),
    [
        (b"not a wav", "no WAV audio"),
        (_wav(1, 1, bytes(100)), "8-bit audio"),
        (_wav(2, 3, bytes(60)), "on 3 channels"),
        (_wav(2, 1, b""), "no audio"),
    ],
)
def test_engine_output_that_is_not_speech_is_refused(wav: bytes, problem: str) -> None:
    with pytest.raises(SpeechUnavailable, match=problem):
        program_pcm(wav)
