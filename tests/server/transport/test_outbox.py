"""The slow-client policy, with a transport whose backlog the test controls."""

from __future__ import annotations

import asyncio

from server.transport.outbox import Outbox, TurnBuffer


class Backlogged(asyncio.WriteTransport):
    """A transport that keeps everything written, as a client that never reads would."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = 0
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.buffer += len(data)

    def get_write_buffer_size(self) -> int:
        return self.buffer

    def is_closing(self) -> bool:
        return self.closing


def outbox(transport: Backlogged, grace: float = 0.05) -> tuple[Outbox, asyncio.Future[str]]:
    verdict: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    box = Outbox(transport, soft=100, hard=1000, grace=grace, on_slow=verdict.set_result)
    return box, verdict


async def test_a_backlog_that_persists_makes_the_client_slow() -> None:
    transport = Backlogged()
    box, verdict = outbox(transport)
    box.write(b"x" * 150)
    async with asyncio.timeout(5):
        assert await verdict == "over 100 bytes behind for 0.05 s"
    box.write(b"more")
    assert transport.buffer == 150  # nothing is written after the verdict


async def test_a_burst_drained_within_the_grace_period_is_fine() -> None:
    transport = Backlogged()
    box, verdict = outbox(transport, grace=0.05)
    box.write(b"x" * 150)
    transport.buffer = 0  # the client read it all in time
    checked = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, checked.set)
    async with asyncio.timeout(5):
        await checked.wait()
    assert not verdict.done()
    assert not box.stopped


async def test_a_backlog_over_the_hard_cap_makes_the_client_slow_at_once() -> None:
    transport = Backlogged()
    box, verdict = outbox(transport, grace=3600)
    box.write(b"x" * 1001)
    assert verdict.result() == "send buffer over 1000 bytes"


async def test_a_closing_transport_stops_the_outbox_quietly() -> None:
    transport = Backlogged()
    box, verdict = outbox(transport)
    transport.closing = True
    box.write(b"x")
    assert box.stopped
    assert transport.buffer == 0
    assert not verdict.done()


async def test_stop_cancels_a_pending_check() -> None:
    transport = Backlogged()
    box, verdict = outbox(transport, grace=0.01)
    box.write(b"x" * 150)
    box.stop()
    done = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, done.set)
    await done.wait()
    assert not verdict.done()


async def test_a_client_that_drained_and_took_a_new_burst_gets_a_fresh_grace_period() -> None:
    transport = Backlogged()
    box, verdict = outbox(transport, grace=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    box.write(b"x" * 150)  # behind: the check is due at +0.2 s

    def drained() -> None:
        transport.buffer = 0

    loop.call_later(0.1, drained)
    loop.call_later(0.15, box.write, b"y" * 150)  # a new burst just before the check
    async with asyncio.timeout(5):
        await verdict
    # Slow only once the *new* backlog had lasted the whole grace period.
    assert loop.time() - started >= 0.15 + 0.2 - 0.01


async def test_frames_of_one_turn_go_out_in_one_write_in_order() -> None:
    writes: list[bytes] = []
    turn = TurnBuffer(writes.append)
    turn.add(b"ack")
    turn.add(b"event-1")
    turn.add(b"event-2")
    assert writes == []  # held until the turn ends
    await asyncio.sleep(0)  # the end of this turn
    assert writes == [b"ackevent-1event-2"]
    turn.add(b"next")
    await asyncio.sleep(0)
    assert writes == [b"ackevent-1event-2", b"next"]  # a later turn is a later write


async def test_a_flush_hands_on_what_is_held_at_once_and_only_once() -> None:
    writes: list[bytes] = []
    turn = TurnBuffer(writes.append)
    turn.add(b"error")
    turn.flush()  # before a close frame, say
    assert writes == [b"error"]
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert writes == [b"error"]
