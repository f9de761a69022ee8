"""One load-generating process: COUNT live connections; reports when each event arrived.

Usage: python -m bench._fanout_client PORT COUNT FIRST LAST MODE [TOKEN TENDER]
Prints `ready REFUSALS` once every connection is live, then one JSON line {"latest": {seq:
latest arrival (ns)}, "seen": {seq: count}} once every connection has every event FIRST..LAST.
A subscription the node refuses (an edge that could not ask its home in time) is sent again
after a moment, and counted in REFUSALS (bench/sites.py reports them).
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import sys
import time

from bench._wsclient import LoadClient, client_frame

_SEQ = re.compile(rb'"seq":(\d+)')
CONNECT_AT_ONCE = 100
RETRY_SECONDS = 0.1  # before subscribing again after a refusal


async def main(argv: list[str]) -> None:
    port, count, first, last = (int(a) for a in argv[:4])
    mode = argv[4]
    opening: list[bytes] = []
    subscribe = b""
    if mode == "bidroom":
        token, tender = argv[5], argv[6]
        subscribe = json.dumps({"v": 1, "type": "subscribe", "tender": tender}).encode()
        opening = [json.dumps({"v": 1, "type": "auth", "token": token}).encode(), subscribe]
    loop = asyncio.get_running_loop()
    latest: dict[int, int] = {}
    seen: dict[int, int] = {}
    done = loop.create_future()
    live = refusals = 0
    all_live = loop.create_future()

    def resubscribe(client: LoadClient) -> None:
        if client.transport is not None and not client.transport.is_closing():
            client.transport.write(client_frame(subscribe))

    def watcher() -> LoadClient:
        def arrived(payload: bytes) -> None:
            nonlocal live, refusals
            now = time.monotonic_ns()
            if b'"type":"event"' in payload:
                match = _SEQ.search(payload)
                if match is None or int(match.group(1)) < first:
                    return  # replayed history, not part of the measurement
                seq = int(match.group(1))
                latest[seq] = now  # arrivals only grow, so the last write is the latest
                seen[seq] = seen.get(seq, 0) + 1
                if seq == last and seen[seq] == count and not done.done():
                    done.set_result(None)
            elif b'"type":"caught_up"' in payload:
                live += 1
                if live == count and not all_live.done():
                    all_live.set_result(None)
            elif b'"type":"error"' in payload:
                refusals += 1
                loop.call_later(RETRY_SECONDS, resubscribe, client)

        client = LoadClient("127.0.0.1", port, opening, arrived)
        return client

    limit = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def open_one() -> LoadClient:
        async with limit:
            _, client = await loop.create_connection(watcher, "127.0.0.1", port)
            await client.upgraded
            return client

    clients = await asyncio.gather(*(open_one() for _ in range(count)))
    if mode != "bidroom":
        all_live.set_result(None)
    await all_live
    print(f"ready {refusals}", flush=True)
    await done
    arrivals = {str(k): v for k, v in latest.items()}
    print(
        json.dumps({"latest": arrivals, "seen": {str(k): v for k, v in seen.items()}}), flush=True
    )
    for client in clients:
        if client.transport is not None:
            client.transport.close()


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(sys.argv[1:]))
