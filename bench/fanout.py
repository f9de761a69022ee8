"""Live fan-out: N WebSocket clients in other processes; append-to-last-client latency and server
CPU per delivery, for bidroom and two baselines measured in the same run:

- a bare aiohttp server looping `await ws.send_str(text)` over its clients;
- a websockets server calling `websockets.broadcast(clients, text)`.

Every server sends byte-identical event messages. bidroom's figures include its whole path per
event: the durable SQLite commit, the audit record, the role filter and the fan-out. Clients
stamp arrivals with CLOCK_MONOTONIC, which is shared by all processes on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import IO, Any

from bench.common import median, percentile, table

CLIENT_PROCESSES = 4
MODES = ("aiohttp", "websockets", "bidroom")
LABELS = {
    "aiohttp": "baseline: aiohttp send_str loop",
    "websockets": "baseline: websockets.broadcast()",
    "bidroom": "bidroom live hub",
}


@dataclass
class Result:
    mode: str
    clients: int
    events: int
    latencies_ms: list[float]
    cpu_seconds: float

    @property
    def deliveries_per_cpu_second(self) -> float:
        return self.clients * self.events / self.cpu_seconds


def _line(stream: IO[str] | None, what: str) -> str:
    assert stream is not None
    line = stream.readline()
    if not line:
        raise RuntimeError(f"{what} ended without answering")
    return line


def measure(mode: str, clients: int, events: int, interval_ms: float) -> Result:
    server = subprocess.Popen(
        [sys.executable, "-m", "bench._fanout_server", mode],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    workers: list[subprocess.Popen[str]] = []
    try:
        info = json.loads(_line(server.stdout, "the server"))
        first, last = info["first_seq"], info["first_seq"] + events - 1
        shares = [
            clients // CLIENT_PROCESSES + (i < clients % CLIENT_PROCESSES)
            for i in range(CLIENT_PROCESSES)
        ]
        for share in shares:
            argv = [str(info["port"]), str(share), str(first), str(last), mode]
            if mode == "bidroom":
                argv += [info["token"], info["tender"]]
            command = [sys.executable, "-m", "bench._fanout_client", *argv]
            workers.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
        for worker in workers:
            if _line(worker.stdout, "a client process").split()[0] != "ready":
                raise RuntimeError("a client process failed to connect")
        assert server.stdin is not None
        server.stdin.write(f"go {events} {interval_ms}\n")
        server.stdin.flush()
        sent = dict(json.loads(_line(server.stdout, "the server"))["sent"])
        arrivals: dict[int, int] = {}
        for worker, share in zip(workers, shares, strict=True):
            report: dict[str, Any] = json.loads(_line(worker.stdout, "a client process"))
            missing = [s for s in range(first, last + 1) if report["seen"].get(str(s)) != share]
            if missing:
                raise RuntimeError(f"{mode}: events lost or repeated: {missing[:5]}")
            for seq, ns in report["latest"].items():
                arrivals[int(seq)] = max(arrivals.get(int(seq), 0), ns)
        server.stdin.write("cpu\n")
        server.stdin.flush()
        cpu = json.loads(_line(server.stdout, "the server"))["cpu"]
        server.stdin.write("quit\n")
        server.stdin.flush()
        latencies = [(arrivals[seq] - sent[seq]) / 1e6 for seq in sent]
        return Result(mode, clients, events, latencies, cpu)
    finally:
        for process in [*workers, server]:
            if process.poll() is None:
                process.kill()
            process.__exit__(None, None, None)  # waits, and closes its pipes


def run(quick: bool = False) -> str:
    out = [__doc__.strip().splitlines()[0] if __doc__ else "Live fan-out"]
    plan = [(1000, 40 if quick else 100, 30.0), (5000, 15 if quick else 40, 150.0)]
    for clients, events, interval in plan:
        results = {mode: measure(mode, clients, events, interval) for mode in MODES}
        ours = results["bidroom"].deliveries_per_cpu_second
        rows = []
        for mode in MODES:
            result = results[mode]
            rate = result.deliveries_per_cpu_second
            rows.append([
                LABELS[mode],
                f"{median(result.latencies_ms):.1f}",
                f"{percentile(result.latencies_ms, 0.99):.1f}",
                f"{1e6 / rate:.1f}",
                f"{rate:,.0f}",
                f"{ours / rate:.2f}x" if mode != "bidroom" else "-",
            ])  # fmt: skip
        pacing = f"{events} events, one every {interval:g} ms"
        out.append(f"\n{clients:,} clients in {CLIENT_PROCESSES} processes, {pacing}")
        header = [
            "server",
            "median ms",
            "p99 ms",
            "CPU us/delivery",
            "deliveries/CPU-s",
            "bidroom is",
        ]
        out.append(table(rows, header))
    return "\n".join(out)


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
