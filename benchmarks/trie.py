"""Benchmark: PrefixTrie build time, memory and batched ``allowed`` latency at catalog scale.

Synthetic catalogs of 10k, 100k and 1M items with TIGER-shaped IDs (3 levels x 256 uniform
random codes + a dedup level). For each: build time, bytes held by the trie's tensors, process
RSS growth, and the time of ``allowed`` for a batch of 4,096 random valid prefixes at every
level (and of ``lookup`` for 4,096 full IDs), with torch's default thread count and with one
thread. Targets: 1M items build < 10 s and < 500 MB; < 1 ms per
1,000 prefixes. Writes the experiment benchmarks/results/trie.md (and trie.json).

    python benchmarks/trie.py                      # 10k, 100k, 1M
    python benchmarks/trie.py --sizes 10000 --repeats 20 --no-write
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from results import Record, machine, write_experiment

from genrec.sid.collisions import add_dedup_level
from genrec.sid.trie import PrefixTrie
from genrec.training.run_dir import source_commit

BATCH = 4096


def rss_mb() -> float:
    """Current resident set size of this process (MB)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) so the next peak is the build's own."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def catalog(n_items: int, seed: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Codes ``[N, 4]``: 3 x 256 uniform random codes plus TIGER's dedup level."""
    codes = add_dedup_level(np.random.default_rng(seed).integers(0, 256, (n_items, 3)))
    return codes, (256, 256, 256, int(codes[:, 3].max()) + 1)


def time_ms(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` in ms (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def query_times(trie: PrefixTrie, codes: torch.Tensor, repeats: int, seed: int) -> list[float]:
    """ms per 1,000 prefixes of ``allowed`` at each level, then of ``lookup``."""
    rows = codes[
        torch.randint(0, len(codes), (BATCH,), generator=torch.Generator().manual_seed(seed))
    ]
    out = [time_ms(lambda t=t: trie.allowed(rows[:, :t]), repeats) for t in range(trie.n_levels)]
    out.append(time_ms(lambda: trie.lookup(rows), repeats))
    return [ms * 1000 / BATCH for ms in out]


def bench(n_items: int, repeats: int, seed: int) -> dict[str, object]:
    codes, sizes = catalog(n_items, seed)
    codes_t = torch.from_numpy(codes)
    reset_peak_rss()
    rss0 = rss_mb()
    start = time.perf_counter()
    trie = PrefixTrie(codes_t, sizes)
    build = time.perf_counter() - start
    rss1, peak1 = rss_mb(), peak_rss_mb()
    builds = [build]
    for _ in range(2):  # two more builds for a stable time (memory from the first one)
        start = time.perf_counter()
        PrefixTrie(codes_t, sizes)
        builds.append(time.perf_counter() - start)
    default_threads = torch.get_num_threads()
    times = {"numpy (CPU default)": query_times(trie, codes_t, repeats, seed)}
    trie.numpy_on_cpu = False  # the torch ops a GPU query runs, here on CPU
    times[f"torch, {default_threads} threads"] = query_times(trie, codes_t, repeats, seed)
    torch.set_num_threads(1)
    times["torch, 1 thread"] = query_times(trie, codes_t, repeats, seed)
    torch.set_num_threads(default_threads)
    return {
        "n": n_items,
        "sizes": sizes,
        "build_s": statistics.median(builds),
        "trie_mb": trie.nbytes / 2**20,
        "rss_mb": rss1 - rss0,
        "peak_mb": peak1 - rss0,
        "times": times,
    }


TITLE = "PrefixTrie: build, memory, batched `allowed` (benchmarks/trie.py)"


def records(rows: list[dict[str, object]]) -> list[Record]:
    """Build time and memory per catalog, and query times per kind of ops; the largest
    catalog's build time and slowest numpy query are the headline."""
    big = max(rows, key=lambda r: r["n"])
    out = []
    for r in rows:
        data, head = f"synthetic, {r['n']:,} items", r is big
        common = {"dataset": data}
        out += [
            Record(
                model="PrefixTrie", metric="build s", value=r["build_s"], headline=head, **common
            ),
            Record(model="PrefixTrie", metric="trie MB", value=r["trie_mb"], **common),
            Record(model="PrefixTrie", metric="peak RSS growth MB", value=r["peak_mb"], **common),
        ]
        for label, times in r["times"].items():
            names = [f"allowed t={t}" for t in range(len(times) - 1)] + ["lookup"]
            out += [
                Record(
                    model=f"PrefixTrie, {label}",
                    metric=f"{name}, ms per 1,000 prefixes",
                    value=ms,
                    **common,
                )
                for name, ms in zip(names, times, strict=True)
            ]
            out.append(
                Record(
                    model=f"PrefixTrie, {label}",
                    metric="allowed, slowest level, ms per 1,000 prefixes",
                    value=max(times[:-1]),
                    headline=head and label.startswith("numpy"),
                    **common,
                )
            )
    return out


def section(rows: list[dict[str, object]], load: tuple[float, float, float], where: str) -> str:
    commit = source_commit()
    levels = [f"t={t}" for t in range(4)]
    header = ["items", "dedup K", "build (s)", "trie MB", "RSS Δ MB", "peak RSS Δ MB"]
    lines = [
        f"### {TITLE}",
        "",
        f"{where}; commit {commit}; load average at start "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (other jobs share these cores).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['sizes'][-1]} | {r['build_s']:.2f} | {r['trie_mb']:.1f} | "
            f"{r['rss_mb']:.1f} | {r['peak_mb']:.1f} |"
        )
    lines += [
        "",
        f"`allowed` for {BATCH:,} random valid prefixes of length t, and `lookup` of "
        f"{BATCH:,} full IDs: ms per 1,000 prefixes (median).",
        "",
    ]
    cols = ["items", "query ops", *levels, "lookup"]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        for label, times in r["times"].items():
            lines.append(
                f"| {r['n']:,} | {label} | " + " | ".join(f"{v:.3f}" for v in times) + " |"
            )
    big = max(rows, key=lambda r: r["n"])
    slowest = {k: max(max(r["times"][k][:-1]) for r in rows) for k in rows[0]["times"]}
    memory = max(big["trie_mb"], big["peak_mb"])
    lines += [
        "",
        f"- targets at {big['n']:,} items: build {big['build_s']:.2f} s (< 10 s: "
        f"{_verdict(big['build_s'] < 10)}); memory {big['trie_mb']:.0f} MB of tensors, "
        f"{big['peak_mb']:.0f} MB peak RSS growth during the build (< 500 MB: "
        f"{_verdict(memory < 500)}).",
        "- `allowed` < 1 ms per 1,000 prefixes, slowest level over all sizes: "
        + "; ".join(f"{k}: {v:.3f} ms ({_verdict(v < 1)})" for k, v in slowest.items())
        + ". torch's thread pool spin-waits for cores busy with other jobs, which is why CPU "
        "queries use numpy (single-threaded).",
    ]
    return "\n".join(lines) + "\n"


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    load = os.getloadavg()
    rows = [bench(n, args.repeats, args.seed) for n in sorted(args.sizes)]
    where = machine()
    body = section(rows, load, where)
    print(body)
    if not args.no_write:
        written = write_experiment(
            "trie",
            body,
            records(rows),
            title=TITLE,
            script="benchmarks/trie.py",
            commit=source_commit(),
            machine=where,
        )
        print(f"wrote {written}")


if __name__ == "__main__":
    main()
