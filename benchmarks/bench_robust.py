"""Goodness of fit and sandwich standard errors of trait effects and pooled models.

Data come from benchmarks/reading_sim.py (a simulator independent of spillover's engine):
1,600 agents on a random 8-regular graph, 10 replicates, 40 rounds, 5 seeds by default. The
personas' rates are log-linear in their traits (the trait model's form), under four scenarios:

- ``si2``: the si2 rule within persona (the trait model on the si2 hazard is right);
- ``dose2``: the first informed neighbour has its own rate (si-dose2 within persona);
- ``two-groups``: si2 with a latent group of eager sharers (30 %, hazards x 2.87, others x 0.2);
- ``frailty``: si2 with per-agent gamma rate multipliers of mean 1 and variance 1.

For each data set it takes the verdict on "two rates", fits the trait effects on the base the
analysis would use (si-dose2 under the exposure reading, si2 otherwise) and pooled si2, and
records: how often the goodness-of-fit test rejects (level 0.01), which standard errors are
shown, their ratio sandwich / model, and the coverage of 95 % intervals of the *pooled
truth*, the same fit to all data sets of the scenario together: model intervals (Wald for trait
effects, profile for si2) and sandwich intervals (Wald; with replicate clusters, Student's t
quantile with R - 1 df).

    .venv/bin/python benchmarks/bench_robust.py --trials 40 --workers 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from reading_sim import simulate_exposures
from spillover.fit import SI2Estimator, fit_trait_effects
from spillover.personas import trait_matrix
from spillover.selection import heterogeneity_reasons, robust_errors, two_rates_verdict
from spillover.trajectories import ExposureTable

_X = np.column_stack([np.ones(32), trait_matrix() - 0.5])
_HA = np.exp(_X @ np.array([np.log(0.003), 0.4, 0.0, 0.3, 0.0, -0.3]))
_HB = np.exp(_X @ np.array([np.log(0.05), 0.0, -0.3, 0.5, 0.2, 0.0]))
Rule = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _si2(persona: np.ndarray, group: np.ndarray, m: np.ndarray) -> np.ndarray:
    out: np.ndarray = -np.expm1(-(_HA[persona] + m * _HB[persona]))
    return out


def _dose2(persona: np.ndarray, group: np.ndarray, m: np.ndarray) -> np.ndarray:
    z = _HA[persona] + (m >= 1) * 3.0 * _HB[persona] + np.maximum(m - 1, 0) * 0.2 * _HB[persona]
    out: np.ndarray = -np.expm1(-z)
    return out


def _groups(persona: np.ndarray, group: np.ndarray, m: np.ndarray) -> np.ndarray:
    u = np.where(group == 1, 2.87, 0.2)
    out: np.ndarray = -np.expm1(-u * (_HA[persona] + m * _HB[persona]))
    return out


#: name -> (rule, share of latent group 1, frailty variance)
SCENARIOS: dict[str, tuple[Rule, float, float | None]] = {
    "si2": (_si2, 0.0, None),
    "dose2": (_dose2, 0.0, None),
    "two-groups": (_groups, 0.3, None),
    "frailty": (_si2, 0.0, 1.0),
}


def _one(args: tuple[str, int, int, int]) -> tuple[str, ExposureTable, dict[str, Any]]:
    name, seed, n_nodes, n_reps = args
    rule, share, frailty = SCENARIOS[name]
    rng = np.random.default_rng(seed)
    table = simulate_exposures(
        rule, rng, n_nodes=n_nodes, n_reps=n_reps, share_1=share, frailty=frailty
    )
    verdict = two_rates_verdict(table)
    base = "si-dose2" if verdict.reading == "exposure" else "si2"
    traits = fit_trait_effects(table, base=base, heterogeneity=heterogeneity_reasons(verdict))
    si2 = SI2Estimator().fit(table).result_
    errors = robust_errors(table, [si2], verdict).models["si2"]
    assert traits.gof is not None and traits.stderr_sandwich is not None
    out = {
        "reading": verdict.reading,
        "base": base,
        "traits_fit": traits.gof.fits,
        "traits_kind": traits.se_kind,
        "traits_coef": traits.coef[:, 1:],
        "traits_se": traits.stderr[:, 1:],
        "traits_sw": traits.stderr_sandwich[:, 1:],
        "si2_fit": errors.gof.fits,
        "si2_kind": errors.se_kind,
        "si2": np.array([si2.params["alpha"], si2.params["beta"]]),
        "si2_se": np.array([si2.stderr["alpha"], si2.stderr["beta"]]),
        "si2_sw": np.array([errors.stderr_sandwich["alpha"], errors.stderr_sandwich["beta"]]),
        "si2_ci": np.array(
            [
                [si2.ci_low["alpha"], si2.ci_high["alpha"]],
                [si2.ci_low["beta"], si2.ci_high["beta"]],
            ]
        ),
        "si2_ci_sw": np.array(
            [
                [errors.ci_low_sandwich["alpha"], errors.ci_high_sandwich["alpha"]],
                [errors.ci_low_sandwich["beta"], errors.ci_high_sandwich["beta"]],
            ]
        ),
    }
    return name, table, out


def _pooled(tables: list[ExposureTable]) -> ExposureTable:
    cols = {}
    for c in ("replicate", "round", "persona", "n_exposed", "at_risk", "shared"):
        parts = [
            getattr(t, c) + (1000 * i if c == "replicate" else 0) for i, t in enumerate(tables)
        ]
        cols[c] = np.concatenate(parts)
    return ExposureTable(**cols)


def _coverage(est: np.ndarray, se: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.abs(est - truth) < 1.959963984540054 * se))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n-nodes", type=int, default=1600)
    parser.add_argument("--replicates", type=int, default=10)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    jobs = [
        (name, args.seed * 1_000_003 + i * 7919 + j * 104_729, args.n_nodes, args.replicates)
        for j, name in enumerate(SCENARIOS)
        for i in range(args.trials)
    ]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(_one, jobs, chunksize=2))
    elapsed = time.perf_counter() - start
    print(
        f"{args.trials} data sets per scenario, {args.n_nodes:,} agents, 8-regular, "
        f"{args.replicates} replicates, 40 rounds ({elapsed:.0f} s)"
    )
    head = (
        f"{'scenario':<11} {'base':<9} {'trait GOF rej':>13} {'shown':>9} {'sw/model':>8} "
        f"{'cov model':>9} {'cov sw':>7} | {'si2 GOF rej':>11} {'sw/model a,b':>13} "
        f"{'cov model a,b':>14} {'cov sw a,b':>11}"
    )
    print(head)
    for name in SCENARIOS:
        rows = [r for n, _, r in results if n == name]
        tables = [t for n, t, _ in results if n == name]
        bases = {r["base"] for r in rows}
        base = bases.pop() if len(bases) == 1 else "mixed"
        truth_traits = None
        if base != "mixed":
            truth_traits = fit_trait_effects(_pooled(tables), base=base).coef[:, 1:]
        truth_si2 = SI2Estimator(intervals=False).fit(_pooled(tables)).result_.params
        t2 = np.array([truth_si2["alpha"], truth_si2["beta"]])
        coef = np.stack([r["traits_coef"] for r in rows]) if truth_traits is not None else None
        se = np.stack([r["traits_se"] for r in rows])
        sw = np.stack([r["traits_sw"] for r in rows])
        cov_m = cov_s = float("nan")
        if coef is not None and truth_traits is not None:
            cov_m, cov_s = _coverage(coef, se, truth_traits), _coverage(coef, sw, truth_traits)
        se2 = np.stack([r["si2_se"] for r in rows])
        sw2 = np.stack([r["si2_sw"] for r in rows])
        ci = np.stack([r["si2_ci"] for r in rows])
        ci_sw = np.stack([r["si2_ci_sw"] for r in rows])
        cm = [float(np.mean((ci[:, i, 0] <= t2[i]) & (t2[i] <= ci[:, i, 1]))) for i in range(2)]
        cs = [
            float(np.mean((ci_sw[:, i, 0] <= t2[i]) & (t2[i] <= ci_sw[:, i, 1]))) for i in range(2)
        ]
        ratio2 = np.mean(sw2 / se2, axis=0)
        shown = sum(r["traits_kind"] == "sandwich" for r in rows)
        print(
            f"{name:<11} {base:<9} {np.mean([not r['traits_fit'] for r in rows]):>13.0%} "
            f"{f'{shown}/{len(rows)} sw':>9} {float(np.mean(sw / se)):>8.2f} {cov_m:>9.1%} "
            f"{cov_s:>7.1%} | {np.mean([not r['si2_fit'] for r in rows]):>11.0%} "
            f"{ratio2[0]:>6.2f},{ratio2[1]:>5.2f} {cm[0]:>7.1%},{cm[1]:>6.1%} "
            f"{cs[0]:>5.1%},{cs[1]:>5.1%}"
        )


if __name__ == "__main__":
    main()
