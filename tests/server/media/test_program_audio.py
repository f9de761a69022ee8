"""The opening's program audio: its clock, the 唱标 mixed with the host's microphone, and the
program through a real aiortc peer connection."""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, cast

import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import (
    AudioStreamTrack,
    MediaStreamError,
    MediaStreamTrack,
    VideoStreamTrack,
)
from av import AudioFrame, VideoFrame

from server.media.speech import (
    BUFFERED_FRAMES,
    FRAME_SAMPLES,
    SILENCE,
    TIME_BASE,
    ProgramAudio,
    Speech,
    mix,
    synthesize,
)

if TYPE_CHECKING:
    from av.frame import Frame
    from numpy.typing import NDArray

LOUD = 100  # RMS above which a frame is heard (the engine's speech is in the thousands)


class Tone(AudioStreamTrack):
    """A 440 Hz tone at 8 kHz mono, paced in real time as aiortc's own audio track is."""

    AMPLITUDE = 6000

    async def recv(self) -> AudioFrame:
        paced = cast("AudioFrame", await super().recv())
        assert paced.pts is not None
        t = (paced.pts + np.arange(paced.samples)) / paced.sample_rate
        wave = (self.AMPLITUDE * np.sin(2 * math.pi * 440 * t)).astype(np.int16)
        frame = AudioFrame.from_ndarray(wave.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = paced.sample_rate, paced.pts
        frame.time_base = paced.time_base
        return frame


class Torrent(Tone):
    """A tone that never waits: as fast as it is asked."""

    _count = 0

    async def recv(self) -> AudioFrame:
        self._count += 1
        frame = AudioFrame.from_ndarray(
            np.full((1, 160), 3000, dtype=np.int16), format="s16", layout="mono"
        )
        frame.sample_rate, frame.pts = 8000, self._count * 160
        return frame


def samples(frames: list[AudioFrame]) -> NDArray[np.int16]:
    return np.concatenate([frame.to_ndarray().reshape(-1) for frame in frames])


def rms(frame: AudioFrame) -> float:
    return float(np.sqrt(np.mean(frame.to_ndarray().astype(np.float64) ** 2)))


def energy(pcm: NDArray[np.int16]) -> float:
    return float(np.sum(pcm.astype(np.float64) ** 2))


async def until(done: asyncio.Future[None], track: MediaStreamTrack) -> list[AudioFrame]:
    """Frames from `track` until `done` completes."""
    frames: list[AudioFrame] = []
    async with asyncio.timeout(10):
        while not done.done():
            frames.append(cast("AudioFrame", await track.recv()))
    return frames


async def short_speech() -> Speech:
    return await synthesize("三百")


async def test_speech_alone_goes_out_as_it_is_on_the_program_clock() -> None:
    said = await short_speech()
    program = ProgramAudio()
    loop = asyncio.get_running_loop()
    started = loop.time()
    done = program.say(said)
    frames = await until(done, program)
    elapsed = loop.time() - started
    program.stop()
    # The speech, sample for sample, then silence to the end of its last frame.
    out = samples(frames)
    speech = np.frombuffer(said.pcm, dtype="<i2")
    assert np.array_equal(out[: len(speech)], speech)
    assert not out[len(speech) :].any()
    assert np.count_nonzero(out) == np.count_nonzero(speech) > 0
    assert 0 <= len(frames) * 20 - said.duration_ms <= 40
    # Frames of 20 ms, s16 stereo at 48 kHz, with their times; the first goes out at once.
    assert {(f.format.name, f.layout.name, f.sample_rate, f.samples) for f in frames} == {
        ("s16", "stereo", 48000, FRAME_SAMPLES)
    }
    assert [f.pts for f in frames] == [i * FRAME_SAMPLES for i in range(len(frames))]
    assert {f.time_base for f in frames} == {TIME_BASE}
    assert (len(frames) - 1) * 0.020 - 0.005 <= elapsed < (len(frames) - 1) * 0.020 + 0.5


async def test_speeches_follow_one_another_and_a_withdrawn_one_is_skipped() -> None:
    said = await short_speech()
    program = ProgramAudio()
    first, withdrawn, last = program.say(said), program.say(said), program.say(said)
    withdrawn.cancel()
    frames = await until(last, program)
    program.stop()
    assert first.done()
    speech = np.frombuffer(said.pcm, dtype="<i2")
    out = samples(frames)
    # The first speech, then straight on with the last (not from the next frame).
    assert np.array_equal(out[: 2 * len(speech)], np.concatenate([speech, speech]))
    assert len(frames) == math.ceil(2 * len(speech) / (FRAME_SAMPLES * 2))


async def test_a_speech_can_be_cut_short() -> None:
    said = await short_speech()
    program = ProgramAudio()
    cut = program.say(said)
    heard = [await program.recv() for _ in range(10)]
    cut.cancel()
    after = await program.recv()
    program.stop()
    assert np.array_equal(samples(heard), np.frombuffer(said.pcm, "<i2")[: 10 * FRAME_SAMPLES * 2])
    assert rms(after) == 0


async def test_a_late_reader_catches_up_without_skipping_frames() -> None:
    program = ProgramAudio()
    loop = asyncio.get_running_loop()
    await program.recv()
    await asyncio.sleep(0.1)  # the reader is busy elsewhere for five frames' time
    started = loop.time()
    frames = [await program.recv() for _ in range(4)]
    assert loop.time() - started < 0.015
    assert [f.pts for f in frames] == [i * FRAME_SAMPLES for i in range(1, 5)]
    program.stop()


async def test_a_stopped_program_ends_and_cancels_what_is_queued() -> None:
    said = await short_speech()
    program = ProgramAudio()
    queued = program.say(said)
    await program.recv()
    program.stop()
    assert queued.cancelled()
    with pytest.raises(MediaStreamError):
        await program.recv()
    with pytest.raises(MediaStreamError):
        _ = program.say(said)
    with pytest.raises(MediaStreamError):
        program.attach(Tone())


async def test_a_program_stopped_while_waiting_for_its_frame_ends() -> None:
    program = ProgramAudio()
    await program.recv()
    waiting = asyncio.ensure_future(program.recv())
    await asyncio.sleep(0)  # let it start waiting for the frame's time
    program.stop()
    with pytest.raises(MediaStreamError):
        await waiting


async def test_only_program_audio_is_taken() -> None:
    program = ProgramAudio()
    with pytest.raises(ValueError, match="only audio"):
        program.attach(VideoStreamTrack())
    said = await short_speech()
    wrong = Speech(said.pcm, 1, "", "", "", "", sample_rate=22050, channels=1)
    with pytest.raises(ValueError, match="48 kHz stereo"):
        _ = program.say(wrong)
    program.stop()


def test_mixing_sums_and_clips() -> None:
    loud = np.full(FRAME_SAMPLES * 2, 30000, dtype="<i2").tobytes()
    quiet = np.full(FRAME_SAMPLES * 2, -1000, dtype="<i2").tobytes()
    assert np.frombuffer(mix(loud, loud), dtype="<i2").tolist() == [32767] * FRAME_SAMPLES * 2
    negative = np.full(FRAME_SAMPLES * 2, -30000, dtype="<i2").tobytes()
    assert set(np.frombuffer(mix(negative, negative), dtype="<i2")) == {-32768}
    assert set(np.frombuffer(mix(loud, quiet, None), dtype="<i2")) == {29000}
    assert mix(None, None) == SILENCE
    assert mix(quiet, None) == quiet


async def test_the_microphone_and_the_speech_are_mixed() -> None:
    said = await short_speech()
    tone = Tone()
    program = ProgramAudio()
    program.attach(tone)
    async with asyncio.timeout(5):
        while rms(await program.recv()) < LOUD:
            pass  # until the microphone is heard
    done = program.say(said)
    mixed = samples(await until(done, program))
    alone = samples([await program.recv() for _ in range(25)])
    program.stop()
    tone.stop()
    speech = np.frombuffer(said.pcm, dtype="<i2")
    tone_over_speech = energy(alone) / len(alone) * len(mixed)
    assert energy(mixed) > energy(speech) * 1.05
    assert energy(mixed) > tone_over_speech * 1.05
    # The tone came through, 8 kHz mono made 48 kHz stereo: each side 3 dB down (FFmpeg's upmix).
    assert np.abs(alone).max() == pytest.approx(Tone.AMPLITUDE / math.sqrt(2), rel=0.05)


async def test_the_microphone_can_be_detached_or_end() -> None:
    program = ProgramAudio()
    tone = Tone()
    program.attach(tone)
    async with asyncio.timeout(5):
        while rms(await program.recv()) < LOUD:
            pass
    program.detach()
    assert rms(await program.recv()) == 0
    program.attach(tone)
    async with asyncio.timeout(5):
        while rms(await program.recv()) < LOUD:
            pass
    tone.stop()  # the microphone ends: what it had buffered plays out, then silence
    async with asyncio.timeout(5):
        frames = [await program.recv() for _ in range(BUFFERED_FRAMES + 2)]
    assert rms(frames[-1]) == 0
    assert program.readyState == "live"
    program.stop()


class Scripted(MediaStreamTrack):
    """An audio track that gives what a test puts in its queue."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[Frame] = asyncio.Queue()

    async def recv(self) -> Frame:
        return await self.queue.get()


async def test_upstream_frames_that_are_not_audio_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    upstream = Scripted()
    program = ProgramAudio()
    program.attach(upstream)
    no_rate = AudioFrame.from_ndarray(np.full((1, 960), 5000, np.int16), layout="mono")
    good = AudioFrame.from_ndarray(np.full((1, 1920), 5000, np.int16), layout="stereo")
    good.sample_rate = 48000
    for frame in (VideoFrame(width=16, height=16), no_rate, good):
        upstream.queue.put_nowait(frame)
    async with asyncio.timeout(5):
        while not (heard := await program.recv()).to_ndarray().any():
            pass
    program.stop()
    assert set(heard.to_ndarray().reshape(-1)) == {5000}  # the good frame, and only it
    assert "could not be converted" in caplog.text


async def test_a_microphone_too_fast_is_kept_short_and_does_not_starve_the_loop() -> None:
    program = ProgramAudio()
    program.attach(Torrent())
    frames = [await program.recv() for _ in range(5)]
    assert 0 < program.buffered_ms <= BUFFERED_FRAMES * 20
    assert rms(frames[-1]) > LOUD
    program.stop()


async def test_watchers_share_one_program_through_a_relay() -> None:
    """Every recv() moves the program's clock on: many peers take it through aiortc's relay."""
    said = await short_speech()
    program = ProgramAudio()
    relay = MediaRelay()
    watchers = [relay.subscribe(program), relay.subscribe(program)]
    done = program.say(said)
    heard = await asyncio.gather(*(until(done, watcher) for watcher in watchers))
    program.stop()
    speech = np.frombuffer(said.pcm, dtype="<i2")
    for frames in heard:
        # A watcher may join a frame late: it hears the speech from there, none of it twice.
        out = samples(frames)
        assert np.count_nonzero(out) >= np.count_nonzero(speech) - FRAME_SAMPLES * 2
        assert abs(len(frames) * 20 - said.duration_ms) <= 40


async def test_the_program_reaches_a_peer_with_the_speech_in_it() -> None:
    """ProgramAudio sent through a real peer connection (aiortc encodes Opus), decoded at the
    other end: silence before the 唱标, speech while it is said."""
    said = await synthesize("三百一十三万")
    program = ProgramAudio()
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    arrived: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()
    receiver.on("track", arrived.set_result)
    sender.addTrack(program)
    try:
        async with asyncio.timeout(20):
            await sender.setLocalDescription(await sender.createOffer())
            await receiver.setRemoteDescription(sender.localDescription)
            await receiver.setLocalDescription(await receiver.createAnswer())
            await sender.setRemoteDescription(receiver.localDescription)
            track = await arrived
            before = [cast("AudioFrame", await track.recv()) for _ in range(25)]
            done = program.say(said)
            during = await until(done, track)
            during += [cast("AudioFrame", await track.recv()) for _ in range(25)]  # in flight
    finally:
        program.stop()
        await sender.close()
        await receiver.close()
    assert all(rms(frame) < LOUD for frame in before)
    heard = sum(rms(frame) >= LOUD for frame in during) * 20
    spoken = (
        sum(
            rms_of(said.pcm[i : i + FRAME_SAMPLES * 4]) >= LOUD
            for i in range(0, len(said.pcm), FRAME_SAMPLES * 4)
        )
        * 20
    )
    assert spoken > 1000
    assert heard == pytest.approx(spoken, abs=200)


def rms_of(pcm: bytes) -> float:
    return float(np.sqrt(np.mean(np.frombuffer(pcm, dtype="<i2").astype(np.float64) ** 2)))
