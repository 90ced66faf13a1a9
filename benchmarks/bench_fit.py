"""Benchmark: fitting the per-persona model on a large run's exposure table.

Simulates one run of 100,000 agents on a random 8-regular graph with the default persona
policy and 20 replicates (the sizes of the goal), then times, over ``--repeats`` repeats:

- ``si-persona`` (64 parameters, with profile-likelihood intervals for each),
- ``si2`` (2 parameters, profile intervals),
- the trait-effect model (12 parameters),
- ``si-groups2`` on the agent histories (4 parameters, exact mixture likelihood).

Prints the table size, medians, min and max. Run: ``.venv/bin/python benchmarks/bench_fit.py``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from spillover.engine import agent_histories, simulate, warm_up
from spillover.fit import SI2Estimator, SIGroups2Estimator, SIPersonaEstimator, fit_trait_effects
from spillover.graphs import random_regular
from spillover.policies import default_persona_policy


def _time(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-nodes", type=int, default=100_000)
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    print(
        f"machine: {platform.platform()}, {platform.processor() or 'cpu'}, "
        f"python {platform.python_version()}, numpy {np.__version__}",
        file=sys.stderr,
    )
    warm_up()
    graph = random_regular(args.n_nodes, 8, rng=args.seed)
    t0 = time.perf_counter()
    result = simulate(
        graph,
        default_persona_policy(),
        n_rounds=args.rounds,
        n_reps=args.replicates,
        n_seeds=20,
        rng=args.seed,
    )
    sim_s = time.perf_counter() - t0
    histories = agent_histories(graph, result)
    ex = result.exposures
    print(
        f"run: {args.n_nodes:,} agents x {args.replicates} replicates, {args.rounds} rounds "
        f"(simulated in {sim_s:.2f} s); exposure table {len(ex):,} rows, "
        f"{int(ex.at_risk.sum()):,} agent-rounds; {len(histories):,} agent histories"
    )
    cases: list[tuple[str, Callable[[], object]]] = [
        ("si-persona (64 params + profile CIs)", lambda: SIPersonaEstimator().fit(ex)),
        ("si2 (2 params + profile CIs)", lambda: SI2Estimator().fit(ex)),
        ("trait effects (12 params)", lambda: fit_trait_effects(ex)),
        ("si-groups2 on agent histories", lambda: SIGroups2Estimator().fit(histories)),
    ]
    print(f"{'fit':40s} {'median s':>9s} {'min s':>8s} {'max s':>8s}")
    for name, fn in cases:
        times = _time(fn, args.repeats)
        print(f"{name:40s} {statistics.median(times):9.3f} {min(times):8.3f} {max(times):8.3f}")


if __name__ == "__main__":
    main()
