"""Benchmark: ``random_regular`` against another version of it, build by build, in fresh processes.

Each build of ``random_regular(--n-nodes, --degree, rng=--seed)`` runs in a fresh process that
imports the package, builds a tiny graph (so compiled code is loaded from numba's cache, not
timed), resets its peak-memory mark and then times one build with ``time.perf_counter``. With
``--baseline-src DIR`` (the ``src`` folder of another checkout, e.g. a git worktree of an
earlier commit) every build of this checkout is followed by one of the baseline, alternately,
so that the ratio of medians compares builds made under the same machine load; the SHA-256 of
the CSR arrays shows whether both versions draw the same graph from the same seed.

    .venv/bin/python benchmarks/bench_regular.py --repeats 7
    git worktree add /tmp/before HEAD~1
    .venv/bin/python benchmarks/bench_regular.py --baseline-src /tmp/before/src

"MB" is the peak RSS of the build over that of the process before it (``VmHWM``, reset after
the warm-up). Results and their reading: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import hashlib
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

SRC = Path(__file__).resolve().parent.parent / "src"


def _worker(n: int, degree: int, seed: int) -> dict[str, Any]:
    from spillover.graphs import random_regular

    random_regular(40, 8, rng=0)  # loads the compiled kernels (repair path included)
    _reset_peak_rss()
    before = _peak_rss_kib()
    start = time.perf_counter()
    graph = random_regular(n, degree, rng=seed)
    seconds = time.perf_counter() - start
    peak = _peak_rss_kib()
    digest = hashlib.sha256(graph.indptr.tobytes() + graph.indices.tobytes()).hexdigest()
    return {"s": seconds, "mb": (peak - before) / 1024, "sha256": digest}


def _build(src: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    config = [str(args.n_nodes), str(args.degree), str(args.seed)]
    command = [sys.executable, __file__, "--worker", *config]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _summary(label: str, runs: list[dict[str, Any]]) -> str:
    times = [r["s"] for r in runs]
    return (
        f"{label:<10} {statistics.median(times):>9.3f} {min(times):>7.3f} {max(times):>7.3f} "
        f"{statistics.median(r['mb'] for r in runs):>8.0f}  {runs[0]['sha256'][:16]}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--n-nodes", type=int, default=1_000_000)
    add("--degree", type=int, default=8)
    add("--seed", type=int, default=1)
    add("--repeats", type=int, default=5, help="builds of each version (median)")
    add("--baseline-src", type=Path, default=None, help="src folder of the version to compare")
    add("--worker", type=int, nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(*args.worker)))
        return 0
    machine = _machine()
    versions = {"this": SRC, **({"baseline": args.baseline_src} if args.baseline_src else {})}
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in versions}
    for rep in range(args.repeats):
        for label, src in versions.items():
            runs[label].append(_build(src, args))
            print(f"[bench] {label} build {rep + 1}: {runs[label][-1]['s']:.3f} s", file=sys.stderr)
    print(f"machine: {machine['cpu']}; {machine['cpu_count']} CPUs; {machine['memory_gb']} GB")
    print(f"load average at start {machine['load_average']}, at end {_machine()['load_average']}")
    print(
        f"random_regular(n_nodes={args.n_nodes:,}, degree={args.degree}, rng={args.seed}); "
        f"{args.repeats} builds each, alternating; one fresh process per build"
    )
    header = f"{'version':<10} {'median s':>9} {'min s':>7} {'max s':>7} {'peak MB':>8}  sha256"
    print(header)
    print("-" * len(header))
    for label, version_runs in runs.items():
        print(_summary(label, version_runs))
    if args.baseline_src:
        this, base = runs["this"], runs["baseline"]
        ratio = statistics.median(b["s"] for b in base) / statistics.median(t["s"] for t in this)
        same = all(r["sha256"] == this[0]["sha256"] for r in this + base)
        print(f"baseline / this (medians): {ratio:.2f}x; same arrays: {'yes' if same else 'NO'}")
        return 0 if same else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
