"""The watchers of the sites benchmark: bench/_fanout_client.py's load clients, with one
difference: a watcher whose subscription is refused (an edge answers `link_down` when it
can't ask the home in time) subscribes again, and the refusals are counted and reported.

Usage: python -m bench._sites_client PORT COUNT FIRST LAST TOKEN STREAM
Prints `ready REFUSALS` once every connection is live, then one JSON line {"latest": {seq:
latest arrival (ns)}, "seen": {seq: count}} once every connection has every event FIRST..LAST.
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
    token, stream = argv[4], argv[5]
    subscribe = json.dumps({"v": 1, "type": "subscribe", "tender": stream}).encode()
    opening = [json.dumps({"v": 1, "type": "auth", "token": token}).encode(), subscribe]
    loop = asyncio.get_running_loop()
    latest: dict[int, int] = {}
    seen: dict[int, int] = {}
    done = loop.create_future()
    all_live = loop.create_future()
    live = refusals = 0

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
    await all_live
    print(f"ready {refusals}", flush=True)
    await done
    report = {
        "latest": {str(k): v for k, v in latest.items()},
        "seen": {str(k): v for k, v in seen.items()},
    }
    print(json.dumps(report), flush=True)
    for client in clients:
        if client.transport is not None:
            client.transport.close()


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(sys.argv[1:]))
