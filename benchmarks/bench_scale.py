"""Benchmark: the engine from 10,000 to 100,000,000 agents (time and memory of each size).

For each ``--sizes`` entry, a fresh process prints the memory estimate of
``spillover.engine.estimate_memory`` up front, refuses (``error: ...``, no run) when the
estimate exceeds the memory available, then builds ``random_regular(n, --degree)`` and runs one
replicate of ``simulate`` with ``ConstantPolicy(alpha=0, --beta)`` from ``--n-seeds`` seeds to
saturation. It records the wall-clock time of the graph build and of the run, and the peak
resident memory of each (``VmHWM``, reset between them) over the process's idle resident
memory after its imports and the engine warm-up. The engine's peak includes holding the graph.

    .venv/bin/python benchmarks/bench_scale.py                          # 10k .. 10M
    .venv/bin/python benchmarks/bench_scale.py --sizes 100000000        # 100M (~12 GB)

Times are medians over ``--repeats`` runs of the engine on the same graph (the graph is built
once per size). Results and their reading: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_engine import _machine, _peak_rss_kib, _reset_peak_rss

DEFAULT_SIZES = (10_000, 100_000, 1_000_000, 10_000_000)


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return _peak_rss_kib()


def _worker(n: int, cfg: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from spillover.engine import check_memory, estimate_memory, simulate, warm_up
    from spillover.exceptions import ConfigError
    from spillover.graphs import random_regular
    from spillover.policies import ConstantPolicy

    estimate = estimate_memory(n, cfg["degree"], n_rounds=cfg["rounds"])
    print(estimate.describe(), file=sys.stderr, flush=True)
    try:
        check_memory(estimate)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return {"n_nodes": n, "error": str(exc), "estimate_gb": estimate.peak / 2**30}
    warm_up()
    simulate(random_regular(10, 2, rng=0), ConstantPolicy(0.0, 0.5), n_rounds=2)
    _reset_peak_rss()
    idle = _rss_kib()
    start = time.perf_counter()
    graph = random_regular(n, cfg["degree"], rng=cfg["seed"])
    graph_s = time.perf_counter() - start
    graph_peak = _peak_rss_kib()
    print(f"graph built in {graph_s:.1f} s", file=sys.stderr, flush=True)
    seeds = np.sort(np.random.default_rng(cfg["seed"]).choice(n, cfg["n_seeds"], replace=False))
    policy = ConstantPolicy(alpha=0.0, beta=cfg["beta"])
    times, finals = [], []
    _reset_peak_rss()
    for rep in range(cfg["repeats"]):
        start = time.perf_counter()
        result = simulate(graph, policy, n_rounds=cfg["rounds"], seeds=seeds, rng=rep)
        times.append(time.perf_counter() - start)
        finals.append(int(result.curves.informed[0, -1]))
        del result
    engine_peak = _peak_rss_kib()
    return {
        "n_nodes": n,
        "estimate_gb": estimate.peak / 2**30,
        "idle_mb": idle / 1024,
        "graph_s": graph_s,
        "graph_mb": (graph_peak - idle) / 1024,
        "engine_s": statistics.median(times),
        "engine_times": times,
        "engine_mb": (engine_peak - idle) / 1024,
        "finals": finals,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="agents per run")
    add("--degree", type=int, default=8)
    add("--beta", type=float, default=0.1)
    add("--n-seeds", type=int, default=10)
    add("--rounds", type=int, default=200)
    add("--repeats", type=int, default=3, help="engine runs per size (median)")
    add("--seed", type=int, default=1)
    add("--json", type=Path, default=None)
    add("--worker", type=int, help=argparse.SUPPRESS)
    add("--config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cfg = {k: getattr(args, k) for k in ("degree", "beta", "n_seeds", "rounds", "repeats", "seed")}
    if args.worker:
        print(json.dumps(_worker(args.worker, json.loads(args.config))))
        return 0
    machine = _machine()
    rows = []
    for n in args.sizes:
        print(f"[bench] {n:,} agents ...", file=sys.stderr, flush=True)
        command = [sys.executable, __file__, "--worker", str(n), "--config", json.dumps(cfg)]
        # The worker's stderr (the estimate first, then its progress) goes straight through.
        done = subprocess.run(
            command, stdout=subprocess.PIPE, text=True, check=False, env=os.environ
        )
        if done.returncode != 0 or not done.stdout.strip():
            rows.append({"n_nodes": n, "error": f"worker exited with code {done.returncode}"})
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    ref = next((r["engine_s"] for r in rows if r["n_nodes"] == 1_000_000 and "engine_s" in r), None)
    print(
        f"machine: {machine['cpu']}; {machine['cpu_count']} CPUs; {machine['memory_gb']} GB; "
        f"load average at start {machine['load_average']}"
    )
    print(
        f"random {args.degree}-regular graphs; beta {args.beta}; {args.n_seeds} seeds; to "
        f"saturation; engine: median of {args.repeats} runs; MB: peak RSS over idle"
    )
    header = (
        f"{'agents':>12} {'estimate GB':>11} {'graph s':>8} {'graph MB':>9} {'engine s':>9} "
        f"{'engine MB':>10} {'x 1M time':>9}  final informed"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if "error" in r:
            print(f"{r['n_nodes']:>12,} error: {r['error']}")
            continue
        ratio = f"{r['engine_s'] / ref:9.2f}" if ref else f"{'-':>9}"
        print(
            f"{r['n_nodes']:>12,} {r['estimate_gb']:>11.2f} {r['graph_s']:>8.2f} "
            f"{r['graph_mb']:>9.0f} {r['engine_s']:>9.3f} {r['engine_mb']:>10.0f} {ratio}  "
            f"{min(r['finals']):,}"
        )
    print(f"load average at end {_machine()['load_average']}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
