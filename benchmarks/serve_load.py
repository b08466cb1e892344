"""Benchmark: `genrec serve` under load on loopback, with and without micro-batching.

Starts the service over a finished run (a subprocess per configuration), then N closed-loop
clients POST /v1/recommend for T seconds with real test histories of the run's dataset (item
ids, the 20 most recent), top-k at the run's beams. Reports throughput (answered requests/s),
p50/p99 latency, errors (anything but 200, and connection failures) and the mean batch size
the server decoded (from /metrics). Target on 2 CPU cores: >= 500 requests/s for top-10 at 20
beams with p99 <= 150 ms and 0 errors.

The clients are raw asyncio streams on keep-alive HTTP/1.1 connections with pre-encoded bodies
(no HTTP library per request), so the load generator takes as little as possible of the cores
it shares with the server. ``--client wrk`` measures the same phases with wrk instead (an
independent client written in C, one thread; benchmarks/serve_wrk.lua sends the same bodies).
Loopback only; every phase is bounded in time.

    python benchmarks/serve_load.py runs/decoder-only-office-serve --clients 16 32 --seconds 20
    python benchmarks/serve_load.py RUN --clients 4 --seconds 3 --configs batched   # smoke test
    python benchmarks/serve_load.py RUN --clients 16 --configs batched --client wrk
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from genrec.config import load_config
from genrec.data.prepare import load_dataset, make_split
from genrec.data.windows import PAD
from genrec.recipes.recipe import Recipe

#: (max_batch, max_wait_ms) per configuration; "unbatched" decodes every request alone.
CONFIGS = {"batched": (64, 2.0), "unbatched": (1, 0.0)}
MAX_SECONDS = 300  # a load phase never runs longer than this
MAX_CLIENTS = 1024  # nor with more connections
TARGET_RPS, TARGET_P99_MS = 500.0, 150.0


@dataclass
class Outcome:
    config: str
    clients: int
    seconds: float
    requests: int
    errors: int
    throughput: float  # answered (200) requests per second
    p50_ms: float
    p99_ms: float
    mean_batch: float
    load_before: float  # 1-minute load average as the phase started
    load_after: float


def bodies(run: Path, k: int, n: int, seed: int) -> list[bytes]:
    """``n`` request bodies from the run's test histories (item ids), JSON-encoded once."""
    recipe = load_config(Recipe, run / "config.yaml")
    dataset = load_dataset(recipe.data)
    split = make_split(dataset, recipe.data)
    ids = dataset.items["item_id"].to_list()
    histories = [[ids[i] for i in row[row != PAD]] for row in split.test.histories]
    histories = [h for h in histories if h]
    rng = random.Random(seed)
    chosen = [histories[rng.randrange(len(histories))] for _ in range(n)]
    return [json.dumps({"history": h, "k": k}).encode() for h in chosen]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: list[str], port: int, config: str, threads: int) -> subprocess.Popen:
    max_batch, max_wait = CONFIGS[config]
    command = [sys.executable, "-m", "genrec.cli.main", "--threads", str(threads), "serve",
               *runs, "--port", str(port), "--max-batch", str(max_batch),
               "--max-wait-ms", str(max_wait), "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with code {server.returncode} at start-up")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/info", timeout=1) as info:
                print(f"{config}: serving {info.read().decode()}", flush=True)
                return server
        except OSError:
            time.sleep(0.25)
    server.kill()
    raise SystemExit("the server was not ready within 180 s")


async def client(port: int, payloads: list[bytes], until: float, out: list) -> None:
    """One keep-alive connection sending requests back to back until ``until``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = b"POST /v1/recommend HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    loop = asyncio.get_running_loop()
    position = random.randrange(len(payloads))
    try:
        while loop.time() < until:
            body = payloads[position % len(payloads)]
            position += 1
            start = time.perf_counter()
            writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            status = int(status_line.split()[1]) if status_line else 0
            out.append((time.perf_counter() - start, status))
            if not status_line:
                break
    except (OSError, asyncio.IncompleteReadError):
        out.append((0.0, 0))  # a broken connection counts as an error
    finally:
        writer.close()


async def load(port: int, payloads: list[bytes], clients: int, seconds: float) -> list:
    out: list[tuple[float, int]] = []
    until = asyncio.get_running_loop().time() + seconds
    await asyncio.gather(*(client(port, payloads, until, out) for _ in range(clients)))
    return out


def mean_batch(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    values = {
        line.split()[0]: float(line.split()[1])
        for line in lines
        if line.startswith(("genrec_batch_size_sum", "genrec_batch_size_count"))
    }
    return values["genrec_batch_size_sum"] / max(values["genrec_batch_size_count"], 1)


def measure(args: argparse.Namespace, config: str, clients: int, payloads: list[bytes]) -> Outcome:
    port = free_port()
    server = start_server(args.runs, port, config, args.threads)
    try:
        asyncio.run(load(port, payloads, clients, min(2.0, args.seconds)))  # warm-up
        load_before = os.getloadavg()[0]
        if args.client == "wrk":
            outcome = wrk(port, payloads, clients, args.seconds)
        else:
            started = time.perf_counter()
            results = asyncio.run(load(port, payloads, clients, args.seconds))
            outcome = summary(results, time.perf_counter() - started)
        load_after = os.getloadavg()[0]
        batch = mean_batch(port)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    return Outcome(
        config=config,
        clients=clients,
        **outcome,
        mean_batch=round(batch, 1),
        load_before=load_before,
        load_after=load_after,
    )


def summary(results: list[tuple[float, int]], elapsed: float) -> dict:
    """Throughput and latency quantiles of the answered (200) requests."""
    ok = sorted(seconds for seconds, status in results if status == 200)
    quantiles = statistics.quantiles(ok, n=100) if len(ok) > 1 else [float("nan")] * 99
    return {
        "seconds": round(elapsed, 1),
        "requests": len(results),
        "errors": len(results) - len(ok),
        "throughput": round(len(ok) / elapsed, 1),
        "p50_ms": round(quantiles[49] * 1000, 1),
        "p99_ms": round(quantiles[98] * 1000, 1),
    }


def wrk(port: int, payloads: list[bytes], clients: int, seconds: float) -> dict:
    """The same phase measured by wrk (one thread, ``clients`` connections)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl") as bodies:
        bodies.write(b"\n".join(payloads) + b"\n")
        bodies.flush()
        script = str(Path(__file__).with_name("serve_wrk.lua"))
        command = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency",
                   "-s", script, f"http://127.0.0.1:{port}"]  # fmt: skip
        out = subprocess.run(
            command, env={**os.environ, "BODIES": bodies.name}, capture_output=True, text=True,
            check=True, timeout=seconds + 60,
        ).stdout  # fmt: skip
    done = re.search(r"(\d+) requests in ([\d.]+(?:us|ms|s))", out)
    requests, elapsed = int(done.group(1)), _wrk_ms(done.group(2)) / 1000
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, failed.groups())) if failed else 0)
    return {
        "seconds": round(elapsed, 1),
        "requests": requests,
        "errors": errors,
        "throughput": round((requests - errors) / elapsed, 1),
        "p50_ms": _wrk_ms(re.search(r"50%\s+(\S+)", out).group(1)),
        "p99_ms": _wrk_ms(re.search(r"99%\s+(\S+)", out).group(1)),
    }


def _wrk_ms(text: str) -> float:
    """wrk's latency ("812.00us", "41.52ms", "1.20s") in milliseconds."""
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directory (or runs to ensemble)")
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[32], help="concurrent connections (a sweep)"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="the server's torch threads")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--out", type=Path, help="also write the outcomes as JSON here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--client", choices=["asyncio", "wrk"], default="asyncio", help="the load generator"
    )
    args = parser.parse_args()
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS}]")
    if not all(0 < n <= MAX_CLIENTS for n in args.clients):
        parser.error(f"--clients must be in (0, {MAX_CLIENTS}]")
    random.seed(args.seed)
    payloads = bodies(Path(args.runs[0]), args.k, 2000, args.seed)
    outcomes = [
        measure(args, config, clients, payloads)
        for config in args.configs
        for clients in args.clients
    ]
    print("| config | clients | req/s | p50 ms | p99 ms | errors | mean batch | load avg |")
    print("|---|---|---|---|---|---|---|---|")
    for o in outcomes:
        met = o.throughput >= TARGET_RPS and o.p99_ms <= TARGET_P99_MS and o.errors == 0
        print(
            f"| {o.config} | {o.clients} | {o.throughput:,.0f} | {o.p50_ms} | {o.p99_ms} | "
            f"{o.errors} | {o.mean_batch} | {o.load_before:.1f} -> {o.load_after:.1f} |"
            f" target {'met' if met else 'NOT met'}"
        )
    if args.out:
        args.out.write_text(json.dumps([asdict(o) for o in outcomes], indent=2))


if __name__ == "__main__":
    main()
