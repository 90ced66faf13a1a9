"""Benchmark: the coupled online-offline kernel against the SI engine on the same graph.

On one random ``--degree``-regular graph of ``--n-nodes`` nodes, with the same ``--n-seeds``
seed agents and online rate ``--beta``, times (``time.perf_counter``, median of ``--repeats``,
after a warm-up run of each so that compilation is not timed):

- ``spillover.engine.simulate`` with ``ConstantPolicy(0, beta)`` (SI);
- ``spillover.loop.simulate_coupled`` with ``eta = gamma = 0`` (the same SI spread through the
  coupled kernel: the cost of its extra bookkeeping);
- ``simulate_coupled`` with ``eta = 0.05, gamma = 0.1, delta = 0.2`` (an offline outbreak).

Ratios are of medians measured in the same run, against the SI engine.

    .venv/bin/python benchmarks/bench_loop.py [--n-nodes 200000] [--degree 8]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from spillover.engine import simulate, warm_up
from spillover.graphs import random_regular
from spillover.loop import CoupledRates, simulate_coupled
from spillover.policies import ConstantPolicy


def _median_time(fn: object, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-nodes", type=int, default=200_000)
    ap.add_argument("--degree", type=int, default=8)
    ap.add_argument("--beta", type=float, default=0.05)
    ap.add_argument("--n-seeds", type=int, default=20)
    ap.add_argument("--n-rounds", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    graph = random_regular(a.n_nodes, a.degree, rng=1)
    seeds = np.arange(a.n_seeds)
    warm_up()
    cases = {
        "SI engine": lambda: simulate(
            graph, ConstantPolicy(0.0, a.beta), n_rounds=a.n_rounds, seeds=seeds, rng=2
        ).curves.informed[0, -1],
        "coupled, eta = gamma = 0": lambda: int(
            a.n_nodes
            - simulate_coupled(
                graph,
                CoupledRates(beta=a.beta, eta=0.0, delta=0.2),
                n_rounds=a.n_rounds,
                seeds=seeds,
                rng=2,
            ).counts[0, -1, 0]
        ),
        "coupled, eta 0.05, gamma 0.1": lambda: int(
            a.n_nodes
            - simulate_coupled(
                graph,
                CoupledRates(beta=a.beta, eta=0.05, gamma=0.1, delta=0.2),
                n_rounds=a.n_rounds,
                seeds=seeds,
                rng=2,
            ).counts[0, -1, 0]
        ),
    }
    for fn in cases.values():
        fn()  # compile / load from cache
    base = None
    print(f"{a.n_nodes:,} nodes, degree {a.degree}, beta {a.beta}, {a.n_rounds} rounds")
    for name, fn in cases.items():
        med, informed = _median_time(fn, a.repeats)
        base = med if base is None else base
        print(f"{name:32s} median {med:8.3f} s  ratio {med / base:5.2f}  ever informed {informed}")


if __name__ == "__main__":
    main()
