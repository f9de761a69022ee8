"""唱标 by voice: the opening record read out in Mandarin, mixed into the opening's program audio.

When the host publishes the opening record, the node speaks it so that watchers hear what they
read. Three parts:

- `spoken_text`: the words, built only from the record's values, in the record's order, with
  Chinese labels. Amounts and days are written out in Chinese numerals here, because the
  engine reads long digit strings wrongly (1000000 comes out as 一万, 12.34 as 十二三四): the
  text whose hash goes on record is then exactly the text the engine reads.
- `synthesize`: an offline engine from Debian, espeak-ng, run as a bounded subprocess (the text
  goes on stdin, never on a command line or into a log), its WAV converted to the program's
  format: 48 kHz, s16, stereo.
- `ProgramAudio`: the opening's audio track, clocked by itself at 20 ms a frame: the host's
  microphone (an optional upstream track) mixed with the queued speeches.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
import wave
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler
from av.error import FFmpegError

from server.protocol.opening_sheet import PRICE

if TYPE_CHECKING:
    from collections.abc import Mapping

    from numpy.typing import NDArray

logger = logging.getLogger(__name__)

# The program's format: what WebRTC's Opus carries, so aiortc encodes it without resampling.
SAMPLE_RATE: Final = 48000
CHANNELS: Final = 2
SAMPLE_BYTES: Final = 2  # s16
FRAME_SAMPLES: Final = SAMPLE_RATE // 50  # 20 ms, as aiortc packetizes audio
FRAME_BYTES: Final = FRAME_SAMPLES * CHANNELS * SAMPLE_BYTES
TIME_BASE: Final = Fraction(1, SAMPLE_RATE)
SILENCE: Final = bytes(FRAME_BYTES)
# Upstream audio waiting to be mixed, at most; older audio is dropped so the delay stays short.
BUFFERED_FRAMES: Final = 10

# The engine. `cmn` would be the Mandarin voice, but in espeak-ng 1.51 (Debian 12) it reads
# Chinese characters as English words spelling their pinyin ("你好" as "ni three hei three",
# espeak-ng issues 1236 and 1370); `cmn-latn-pinyin` reads them in Mandarin.
ENGINE: Final = "espeak-ng"  # the executable, looked up on PATH
VOICE: Final = "cmn-latn-pinyin"
RATE: Final = 160  # words a minute: 3.5 to 4.5 characters a second, measured
RATES: Final = range(80, 451)  # what espeak-ng accepts
# 5,000 characters are 18 minutes of speech and 210 MB of program audio (a record of five bids
# is 420 characters, 91 s); the engine takes 1.3 s over them, converting them 3.4 s more.
MAX_TEXT: Final = 5000
TIMEOUT_SECONDS: Final = 30.0  # the engine's own time, not the conversion's
VERSION_SECONDS: Final = 5.0

# The words of the 唱标. There is no message catalogue yet: until there is one, the labels of
# the spoken record are kept here, in this one table.
LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "record": "开标记录",
        "title": "项目名称",
        "tenderer": "招标人",
        "lot": "标段",
        "lot_failed": "本标段流标，原因",
        "bidder": "投标人",
        "price": "投标报价",
        "duration": "工期",
        "days": "天",
        "quality": "质量",
        "manager": "项目经理",
        "by_custodians": "由开标密钥保管人解密",
        # E-Measures 31: not decrypted through the bidder's fault, the bid counts as revoked;
        # through anyone else's fault, as withdrawn.
        "revoked": "视为撤销投标文件",
        "withdrawn": "视为撤回投标文件",
        "reason": "原因",
        "end": "开标记录宣读完毕",
        "yuan": "元",
        "jiao": "角",
        "fen": "分",
        "whole": "整",
    }
)


# The words.


def spoken_text(record: Mapping[str, Any], field_labels: Mapping[str, str] | None = None) -> str:
    """The 唱标 of an opening record, as server/domain/opening.py `record_document` makes it.

    Per lot, each bid in the record's order: the bidder, then its opening sheet (price,
    duration, quality, project manager, the tender's own fields: every sheet has them all,
    protocol/opening_sheet.py), or why it failed.
    `field_labels` names the tender's own sheet fields (its spec's `sheet_fields`: name to
    label); a field without one is read by its name. Same record, same text.
    """
    own = field_labels or {}
    sentences = [
        LABELS["record"],
        _said("title", record["title"]),
        _said("tenderer", record["tenderer"]),
    ]
    for lot in record["lots"]:
        sentences.append(_said("lot", lot["name"]))
        if "failed" in lot:
            sentences.append(_said("lot_failed", lot["failed"]))
        for number, bid in enumerate(lot["bids"], start=1):
            sentences.append("，".join([f"第{integer(number)}家", *_bid(bid, own)]))
    sentences.append(LABELS["end"])
    return "".join(s if s.endswith(_STOPS) else f"{s}。" for s in sentences)


_STOPS: Final = (".", "!", "?", "。", "\uff01", "\uff1f")  # a value ending a sentence itself


def _said(label: str, value: object) -> str:
    return f"{LABELS[label]}：{_plain(value)}"


# espeak-ng reads text between [[ and ]] as phonemes, whatever the options: a value of the record
# must not steer the voice, so its square brackets are given as their full-width forms.
_BRACKETS: Final = str.maketrans({"[": "\uff3b", "]": "\uff3d"})


def _plain(value: object) -> str:
    return str(value).translate(_BRACKETS)


def _bid(bid: Mapping[str, Any], own: Mapping[str, str]) -> list[str]:
    parts = [_said("bidder", bid["name"])]
    status = bid["status"]
    if status != "decrypted":
        # Revoked or withdrawn; a status added later is read as it is written.
        parts += [LABELS.get(status, _plain(status)), _said("reason", bid["reason"])]
        return parts
    if bid["by"] == "custodians":
        parts.append(LABELS["by_custodians"])
    sheet: Mapping[str, Any] = bid["sheet"]
    days = sheet["duration_days"]
    spoken_days = integer(days) if type(days) is int and days >= 0 else _plain(days)
    parts += [
        _said("price", amount(sheet["price"])),
        _said("duration", spoken_days + LABELS["days"]),
        _said("quality", sheet["quality"]),
        _said("manager", sheet["project_manager"]),
    ]
    extra: Mapping[str, Any] = sheet["extra"]
    parts.extend(f"{_plain(own.get(name, name))}：{_plain(value)}" for name, value in extra.items())
    return parts


_DIGITS: Final = "零一二三四五六七八九"
_PLACES: Final = ((1000, "千"), (100, "百"), (10, "十"), (1, ""))
_GROUPS: Final = ((10**8, "亿"), (10**4, "万"))


def integer(n: int) -> str:
    """A whole number >= 0 in Chinese numerals, as it is read: 3139000 is 三百一十三万九千."""
    if n < 0:
        raise ValueError("only whole numbers >= 0 are read out")
    if n == 0:
        return _DIGITS[0]
    text = _grouped(n)
    # A leading 一十 is said 十 (15 is 十五, 100000 is 十万), and only at the front.
    return text[1:] if text.startswith("一十") else text


def _grouped(n: int) -> str:
    for size, unit in _GROUPS:
        if n >= size:
            high, low = divmod(n, size)
            text = _grouped(high) + unit
            if low:
                # A gap of zeros before the rest is read as one 零: 100005000 is 一亿零五千.
                text += ("零" if low < size // 10 else "") + _grouped(low)
            return text
    return _below_ten_thousand(n)


def _below_ten_thousand(n: int) -> str:
    parts: list[str] = []
    gap = False
    for place, name in _PLACES:
        digit = n // place % 10
        if digit == 0:
            gap = bool(parts)
            continue
        if gap:
            parts.append(_DIGITS[0])
            gap = False
        parts.append(_DIGITS[digit] + name)
    return "".join(parts)


def amount(price: object) -> str:
    """A price of the opening sheet (a decimal string in yuan) as it is read: 元, 角, 分.

    1000000.00 is 一百万元整, 1234.05 一千二百三十四元零五分. Anything that is not such a
    price (the sheet was checked when opened, so nothing should be) is read as written.
    """
    if not isinstance(price, str) or not PRICE.fullmatch(price):
        return _plain(price)
    whole, _, cents = price.partition(".")
    jiao, fen = (int(digit) for digit in (cents + "00")[:2])
    parts: list[str] = []
    if int(whole) or not (jiao or fen):
        parts.append(integer(int(whole)) + LABELS["yuan"])
    if jiao:
        parts.append(_DIGITS[jiao] + LABELS["jiao"])
    if fen:
        parts.append(("零" if parts and not jiao else "") + _DIGITS[fen] + LABELS["fen"])
    if not (jiao or fen):
        parts.append(LABELS["whole"])
    return "".join(parts)


# The voice.


class SpeechError(Exception):
    """The 唱标 could not be made into speech; the message says why, never the text."""


class SpeechUnavailable(SpeechError):
    """The engine is missing, failed or gave no audio: record that the 唱标 was not spoken."""


class SpeechTimeout(SpeechUnavailable):
    """The engine did not finish in time; it was stopped."""


class TextRefused(SpeechError):
    """The text is empty, longer than the engine is given (`MAX_TEXT`), or holds phonemes."""


@dataclass(frozen=True, slots=True)
class Speech:
    """Speech in the program's format, and what identifies it on record.

    `text_sha256` is the SHA-256 of the text's UTF-8, `audio_sha256` that of `pcm` (s16
    little-endian, interleaved), both lowercase hex.
    """

    pcm: bytes = field(repr=False)
    duration_ms: int
    text_sha256: str
    audio_sha256: str
    engine: str  # "espeak-ng 1.51"
    voice: str
    sample_rate: int = SAMPLE_RATE
    channels: int = CHANNELS

    def facts(self) -> dict[str, str | int]:
        """What goes on record about the speech: everything but the audio itself."""
        return {
            "text_sha256": self.text_sha256, "audio_sha256": self.audio_sha256,
            "engine": self.engine, "voice": self.voice, "duration_ms": self.duration_ms,
            "sample_rate": self.sample_rate, "channels": self.channels,
        }  # fmt: skip


async def synthesize(
    text: str, *, voice: str = VOICE, rate: int = RATE, time_limit: float = TIMEOUT_SECONDS,
    max_chars: int = MAX_TEXT,
) -> Speech:  # fmt: skip
    """`text` spoken by espeak-ng, as 48 kHz s16 stereo.

    Raises TextRefused for an empty or too long text, or one with phoneme input (`[[`);
    SpeechUnavailable (SpeechTimeout after `time_limit` seconds) when the engine can't speak it.
    """
    if not text.strip():
        raise TextRefused("There is nothing to say.")
    if len(text) > max_chars:
        raise TextRefused(f"The text has {len(text)} characters; at most {max_chars} are spoken.")
    if "[[" in text:
        raise TextRefused("The text holds [[, which the engine would read as phonemes.")
    if rate not in RATES:
        raise ValueError(f"espeak-ng speaks at {RATES.start} to {RATES.stop - 1} words a minute")
    found = await engine()
    if voice not in found.voices:
        # Given an unknown voice, espeak-ng reads in its default voice (English) without a word.
        raise SpeechUnavailable(f"{ENGINE} has no voice {voice!r}.")
    # -b 1: the text is UTF-8. No -m: the text is not read as markup.
    arguments = ["-v", voice, "-s", str(rate), "-b", "1", "--stdin", "--stdout"]
    wav = await _run(arguments, text.encode(), time_limit)
    pcm = await asyncio.to_thread(program_pcm, wav)
    samples = len(pcm) // (CHANNELS * SAMPLE_BYTES)
    return Speech(
        pcm=pcm,
        duration_ms=samples * 1000 // SAMPLE_RATE,
        text_sha256=hashlib.sha256(text.encode()).hexdigest(),
        audio_sha256=hashlib.sha256(pcm).hexdigest(),
        engine=found.version,
        voice=voice,
    )


@dataclass(frozen=True, slots=True)
class Engine:
    """The engine on this machine: its name and version ("espeak-ng 1.51"), and its voices."""

    version: str
    voices: frozenset[str]  # by language ("cmn-latn-pinyin") and by file ("sit/cmn")


_ENGINES: dict[str, Engine] = {}
_VERSION: Final = re.compile(r"text-to-speech:\s*(\S+)")


async def engine() -> Engine:
    """The engine, asked once per executable."""
    if ENGINE not in _ENGINES:
        out = (await _run(["--version"], b"", VERSION_SECONDS)).decode(errors="replace")
        found = _VERSION.search(out)
        listed = (await _run(["--voices"], b"", VERSION_SECONDS)).decode(errors="replace")
        # Pty, Language, Age/Gender, VoiceName, File, Other Languages; a header line first.
        rows = [line.split() for line in listed.splitlines()[1:]]
        voices = frozenset(name for row in rows if len(row) >= 5 for name in (row[1], row[4]))
        version = f"{ENGINE} {found.group(1) if found else 'unknown'}"
        _ENGINES[ENGINE] = Engine(version, voices)
    return _ENGINES[ENGINE]


async def _run(arguments: list[str], stdin: bytes, time_limit: float) -> bytes:
    """The engine's stdout; its stderr is dropped (it may quote the text)."""
    try:
        process = await asyncio.create_subprocess_exec(
            ENGINE, *arguments, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    except OSError as exc:
        raise SpeechUnavailable(f"{ENGINE} can't be started: {exc.strerror}.") from None
    try:
        async with asyncio.timeout(time_limit):
            out, _ = await process.communicate(stdin)
    except TimeoutError:
        raise SpeechTimeout(f"{ENGINE} did not finish within {time_limit:g} s.") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise SpeechUnavailable(f"{ENGINE} failed with exit status {process.returncode}.")
    return out


def program_pcm(wav: bytes) -> bytes:
    """A 16-bit mono or stereo WAV as program PCM: 48 kHz, s16, stereo (CPU work: in a thread)."""
    try:
        with wave.open(io.BytesIO(wav)) as reader:
            width, channels = reader.getsampwidth(), reader.getnchannels()
            rate = reader.getframerate()
            # espeak-ng can't seek back on a pipe: its header claims the largest size, and
            # reading that many frames reads to the end.
            data = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise SpeechUnavailable(f"{ENGINE} gave no WAV audio: {exc}") from None
    if width != SAMPLE_BYTES or channels not in (1, 2):
        raise SpeechUnavailable(f"{ENGINE} gave {width * 8}-bit audio on {channels} channels.")
    samples = np.frombuffer(data, dtype="<i2")
    samples = samples[: len(samples) - len(samples) % channels]
    if len(samples) == 0:
        raise SpeechUnavailable(f"{ENGINE} gave no audio.")
    resampler = AudioResampler(format="s16", layout="stereo", rate=SAMPLE_RATE)
    layout = "mono" if channels == 1 else "stereo"
    out: list[bytes] = []
    step = rate * channels  # a second at a time
    for start in range(0, len(samples), step):
        frame = AudioFrame.from_ndarray(
            samples[start : start + step].reshape(1, -1), format="s16", layout=layout
        )
        frame.sample_rate, frame.time_base, frame.pts = rate, Fraction(1, rate), start // channels
        out.extend(_pcm(resampled) for resampled in resampler.resample(frame))
    out.extend(_pcm(resampled) for resampled in resampler.resample(None))
    return b"".join(out)


def _pcm(frame: AudioFrame) -> bytes:
    """A packed s16 frame's samples (its planes may be padded past them)."""
    return frame.to_ndarray().tobytes()


# The program audio.


def mix(*frames: bytes | None) -> bytes:
    """One frame of program PCM: the frames given (None: nothing) summed, clipped to s16."""
    present = [frame for frame in frames if frame is not None]
    if not present:
        return SILENCE
    if len(present) == 1:
        return present[0]
    total = np.zeros(FRAME_SAMPLES * CHANNELS, dtype=np.int32)
    for frame in present:
        total += np.frombuffer(frame, dtype="<i2")
    clipped: NDArray[np.int16] = np.clip(total, -32768, 32767).astype("<i2")
    return clipped.tobytes()


@dataclass(eq=False, slots=True)
class _Queued:
    speech: Speech
    done: asyncio.Future[None]
    offset: int = 0


class _Upstream:
    """An upstream audio track, read by a task into a short buffer of program PCM."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.buffer = bytearray()
        self._resampler: AudioResampler | None = None
        self._source: tuple[str, str, int] | None = None
        self.task = asyncio.get_running_loop().create_task(self._read())

    def frame(self) -> bytes | None:
        """The next 20 ms of upstream audio, if it is there."""
        if len(self.buffer) < FRAME_BYTES:
            return None
        chunk = bytes(self.buffer[:FRAME_BYTES])
        del self.buffer[:FRAME_BYTES]
        return chunk

    async def _read(self) -> None:
        while True:
            try:
                frame = await self.track.recv()
            except MediaStreamError:
                return  # the upstream ended: the program goes on without it
            if isinstance(frame, AudioFrame):
                try:
                    self._take(frame)
                except FFmpegError:
                    logger.warning("An upstream audio frame could not be converted; dropped.")
            # A source that never waits must not starve the loop.
            await asyncio.sleep(0)

    def _take(self, frame: AudioFrame) -> None:
        source = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is None or source != self._source:
            self._resampler = AudioResampler(format="s16", layout="stereo", rate=SAMPLE_RATE)
            self._source = source
        for resampled in self._resampler.resample(frame):
            self.buffer += _pcm(resampled)
        excess = len(self.buffer) - BUFFERED_FRAMES * FRAME_BYTES
        if excess > 0:
            del self.buffer[:excess]  # whole samples: both lengths are multiples of 4 bytes

    def stop(self) -> None:
        self.task.cancel()


class ProgramAudio(MediaStreamTrack):
    """The opening's program audio: the host's microphone mixed with the 唱标.

    Frames of 20 ms, s16 stereo at 48 kHz, paced by the track's own clock as aiortc's
    AudioStreamTrack is (pts in samples, time base 1/48000). The microphone, when attached, is
    read by a background task into a buffer of at most 200 ms; a frame it has not delivered in
    time is silence. Nothing here waits on the upstream.
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._pts = 0
        self._queue: deque[_Queued] = deque()
        self._upstream: _Upstream | None = None

    def attach(self, track: MediaStreamTrack) -> None:
        """Mix `track` (decoded audio frames, any format) in, instead of any track before."""
        if track.kind != "audio":
            raise ValueError(f"only audio is mixed into the program, not {track.kind}")
        if self.readyState != "live":
            raise MediaStreamError
        self.detach()
        self._upstream = _Upstream(track)

    def detach(self) -> None:
        if self._upstream is not None:
            self._upstream.stop()
            self._upstream = None

    @property
    def buffered_ms(self) -> int:
        """Upstream audio waiting to be mixed, in milliseconds (at most 200)."""
        waiting = len(self._upstream.buffer) if self._upstream is not None else 0
        return waiting // (CHANNELS * SAMPLE_BYTES) * 1000 // SAMPLE_RATE

    def say(self, speech: Speech) -> asyncio.Future[None]:
        """Queue `speech`; the future completes once its last sample has gone out in a frame.

        Cancelling the future cuts the speech short.
        """
        if (speech.sample_rate, speech.channels) != (SAMPLE_RATE, CHANNELS):
            raise ValueError("speech must be 48 kHz stereo: make it with synthesize()")
        if self.readyState != "live":
            raise MediaStreamError
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(speech, done))
        return done

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._pts += FRAME_SAMPLES
            wait = self._start + self._pts / SAMPLE_RATE - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.readyState != "live":
                raise MediaStreamError
        upstream = self._upstream.frame() if self._upstream is not None else None
        pcm = mix(upstream, self._speech())
        frame = AudioFrame.from_ndarray(
            np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate, frame.time_base, frame.pts = SAMPLE_RATE, TIME_BASE, self._pts
        return frame

    def _speech(self) -> bytes | None:
        """The next 20 ms of queued speech (one speech running into the next), or None."""
        out = bytearray()
        while self._queue and len(out) < FRAME_BYTES:
            item = self._queue[0]
            if item.done.done():  # cancelled: cut short
                self._queue.popleft()
                continue
            end = item.offset + FRAME_BYTES - len(out)
            out += item.speech.pcm[item.offset : end]
            item.offset = end
            if end >= len(item.speech.pcm):
                self._queue.popleft()
                item.done.set_result(None)
        if not out:
            return None
        return bytes(out) + bytes(FRAME_BYTES - len(out))

    def stop(self) -> None:
        """End the track: the upstream is no longer read and queued speech is cancelled."""
        self.detach()
        while self._queue:
            self._queue.popleft().done.cancel()
        super().stop()
