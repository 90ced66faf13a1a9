"""How often the verdict on "two rates" names the reading that generated the data.

Data come from benchmarks/reading_sim.py, a small simulator independent of spillover's engine,
at the demo's size by default (3,200 agents on a random 8-regular graph, 10 replicates,
40 rounds, 5 seeds). For each scenario (each reading, and mixtures of them) it simulates
``--trials`` data sets and runs ``spillover.selection.two_rates_verdict`` on each exposure
table; it prints the share of verdicts that are right, with a 95 % Wilson interval, and what
the others said.

    .venv/bin/python benchmarks/bench_verdict.py --trials 100 --workers 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

sys.path.insert(0, str(Path(__file__).parent))

from reading_sim import SCENARIOS, simulate_exposures
from spillover.selection import two_rates_verdict


def _one(args: tuple[str, int, int, int]) -> tuple[str, str]:
    name, seed, n_nodes, n_reps = args
    scenario = SCENARIOS[name]
    rng = np.random.default_rng(seed)
    table = simulate_exposures(scenario.rule, rng, n_nodes=n_nodes, n_reps=n_reps,
                               share_1=scenario.share_1)  # fmt: skip
    return name, two_rates_verdict(table).reading


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval of k successes in n trials."""
    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n-nodes", type=int, default=3200)
    parser.add_argument("--replicates", type=int, default=10)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    names = args.scenario or list(SCENARIOS)
    jobs = [
        (name, args.seed * 1_000_003 + i * 7919 + j, args.n_nodes, args.replicates)
        for j, name in enumerate(names)
        for i in range(args.trials)
    ]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(_one, jobs, chunksize=4))
    elapsed = time.perf_counter() - start
    said: dict[str, Counter[str]] = {name: Counter() for name in names}
    for name, reading in results:
        said[name][reading] += 1
    print(
        f"verdict accuracy: {args.trials} data sets per scenario, {args.n_nodes:,} agents, "
        f"8-regular, {args.replicates} replicates, 40 rounds ({elapsed:.0f} s)"
    )
    print(f"{'scenario':<16} {'expected':<15} {'right':>7} {'95% CI':>15}  other verdicts")
    for name in names:
        sc = SCENARIOS[name]
        k = said[name][sc.expected]
        lo, hi = wilson(k, args.trials)
        others = ", ".join(f"{r} {c}" for r, c in said[name].most_common() if r != sc.expected)
        print(
            f"{name:<16} {sc.expected:<15} {k / args.trials:>7.1%} "
            f"[{lo:.3f}, {hi:.3f}]  {others or '-'}"
        )
        print(f"{'':<16} {sc.description}")


if __name__ == "__main__":
    main()
