"""Benchmark: coverage of the 95 % intervals of alpha and beta with LLM answer noise.

What it measures
----------------
A known true table (per-round probabilities on a 4-regular graph, one bucket per exposure
count): ``p[c, m] = 1 - (1 - alpha)(1 - beta)^m`` for every persona, alpha 0.02, beta 0.08
(``--alpha``, ``--beta`` for another truth). Each repetition plays an LLM that answers by
sampling: every cell of the table is replaced by the share of "yes" among ``--samples`` (10)
draws of the true probability (most offline cells come out 0/10), the run is simulated with
that table on its own seed, written as a run folder whose ``llm_table.json`` records the cells
as sampled, and ``si2`` is fitted twice: with the engine's intervals only (``--llm-noise 0``)
and with ``--llm-noise B`` (``spillover.pipeline.llm_noise_fit``, the code behind the flag: by
default the shrunk redraw and the effective-count intervals around the denoised estimate;
``--redraw jeffreys`` and ``--mle`` give the earlier per-cell redraw and intervals around the
maximum-likelihood estimate). The coverage is the share of repetitions whose 95 % interval
holds the true alpha (beta); a Wilson interval gives its own uncertainty. The share whose
interval holds the mean over the repetitions of the estimate the intervals are around
(denoised, or the maximum-likelihood one with ``--mle``) is reported too: it checks the width
of the intervals apart from that estimate's bias.

How to run
----------
``.venv/bin/python benchmarks/bench_llm_noise.py`` (defaults: 150 repetitions, B = 25, 2,000
agents, 2 replicates, 15 rounds, answers seed 2024, run seeds 1000 + r; 6 to 9 minutes on the
loaded 2-core development machine); ``--seed`` and ``--run-seed`` draw other data sets,
``--json FILE`` keeps the numbers. Figures and their reading: ``docs/fitting.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from spillover.config import SimulationConfig
from spillover.io import write_run_dir
from spillover.personas import N_PERSONAS
from spillover.pipeline import llm_noise_fit, run
from spillover.policies import TabulatedPolicy
from spillover.selection import analyse

ALPHA, BETA, DEGREE = 0.02, 0.08, 4


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval of k successes in n trials."""
    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repetitions", type=int, default=150)
    ap.add_argument("--tables", type=int, default=25, help="B of --llm-noise")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--alpha", type=float, default=ALPHA, help="the true offline rate")
    ap.add_argument("--beta", type=float, default=BETA, help="the true online rate")
    ap.add_argument("--n-nodes", type=int, default=2000)
    ap.add_argument("--replicates", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--redraw", choices=("shrunk", "jeffreys"), default="shrunk")
    ap.add_argument(
        "--mle",
        action="store_true",
        help="intervals around the maximum-likelihood estimate (no denoised estimate)",
    )
    ap.add_argument("--seed", type=int, default=2024, help="seed of the answers' draws")
    ap.add_argument(
        "--run-seed", type=int, default=1000, help="repetition r's run is simulated on this + r"
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    m = np.arange(DEGREE + 2)
    truth = np.tile(1 - (1 - args.alpha) * (1 - args.beta) ** m, (N_PERSONAS, 1))
    rng = np.random.default_rng(args.seed)
    hits = {"engine": {"alpha": 0, "beta": 0}, "total": {"alpha": 0, "beta": 0}}
    shares: dict[str, list[float]] = {"alpha": [], "beta": []}
    ratio: dict[str, list[float]] = {"alpha": [], "beta": []}
    estimates: dict[str, list[float]] = {"alpha": [], "beta": []}
    denoised: dict[str, list[float]] = {"alpha": [], "beta": []}
    se_total: dict[str, list[float]] = {"alpha": [], "beta": []}
    effective: dict[str, list[float]] = {"alpha": [], "beta": []}
    intervals: dict[str, dict[str, list[tuple[float, float]]]] = {
        kind: {"alpha": [], "beta": []} for kind in ("engine", "total")
    }
    zero_alpha = degenerate = 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repetitions):
            answers = rng.binomial(args.samples, truth) / args.samples
            table = TabulatedPolicy(
                {"*": answers},
                range(DEGREE + 2),
                {"built_from": "benchmark: sampled answers of a known table"},
                None,
                answer_samples={"*": np.full(truth.shape, args.samples)},
            )
            path = table.save(Path(tmp) / f"table{r}.json")
            config = SimulationConfig(
                n_nodes=args.n_nodes,
                degree=DEGREE,
                n_rounds=args.rounds,
                n_reps=args.replicates,
                n_seeds=5,
                policy="tabulated",
                policy_table=str(path),
                seed=args.run_seed + r,
            )
            out = run(config)
            run_dir = write_run_dir(out, Path(tmp) / f"run{r}")
            table.save(run_dir / "llm_table.json")
            base = analyse(
                exposures=out.result.exposures, agents=out.agents, models=["si2"], n_folds=0
            )
            noisy = llm_noise_fit(
                run_dir,
                base,
                n_tables=args.tables,
                redraw=args.redraw,
                denoised=not args.mle,
            )
            assert noisy.llm_noise is not None
            degenerate += len(noisy.llm_noise.degenerate_cells)
            for kind, analysis in (("engine", base), ("total", noisy)):
                (fit,) = analysis.groups[0].results
                for name, true in (("alpha", args.alpha), ("beta", args.beta)):
                    lo, hi = fit.ci_low[name], fit.ci_high[name]
                    assert isinstance(lo, float) and isinstance(hi, float)
                    hits[kind][name] += int(lo <= true <= hi)
                    intervals[kind][name].append((lo, hi))
            (fit,) = base.groups[0].results
            zero_alpha += int(fit.params["alpha"] == 0.0)
            per = noisy.llm_noise.params["si2"]
            for name in ("alpha", "beta"):
                shares[name].append(float(per[name]["llm_share"]))
                ratio[name].append(float(per[name]["se"]) / float(per[name]["se_engine"]))
                value = fit.params[name]
                assert isinstance(value, float)
                estimates[name].append(value)
                denoised[name].append(float(per[name].get("denoised", value)))
                se_total[name].append(float(per[name]["se"]))
                n_eff = per[name].get("effective_answers")
                effective[name].append(math.inf if n_eff is None else float(n_eff))
            print(f"repetition {r + 1}/{args.repetitions} ({time.perf_counter() - t0:.0f} s)")
    n = args.repetitions
    doc: dict[str, object] = {
        "settings": vars(args) | {"json": None, "degree": DEGREE},
        "seconds": round(time.perf_counter() - t0, 1),
        "degenerate_cells_per_table": degenerate / n,
        "alpha_estimated_0": zero_alpha,
    }
    for name in ("alpha", "beta"):
        spread = float(np.std(estimates[name], ddof=1))
        # The mean over the answer draws of the estimate the intervals are around (the
        # denoised one; the maximum-likelihood one with --mle): covering it checks the width
        # of the intervals apart from that estimate's bias (the maximum-likelihood one is
        # biased low: pooling personas whose sampled rates differ, the faster ones leave the
        # risk set first).
        centre = float(np.mean(denoised[name]))
        around = {
            kind: sum(lo <= centre <= hi for lo, hi in intervals[kind][name]) / n
            for kind in intervals
        }
        doc[name] = {
            "coverage_of_mean_estimate_engine_only": around["engine"],
            "coverage_of_mean_estimate_with_llm_noise": around["total"],
            "coverage_engine_only": hits["engine"][name] / n,
            "coverage_with_llm_noise": hits["total"][name] / n,
            "coverage_with_llm_noise_wilson95": wilson(hits["total"][name], n),
            "median_llm_share_of_variance": float(np.median(shares[name])),
            "median_se_total_over_se_engine": float(np.median(ratio[name])),
            "sd_of_estimates_across_tables": spread,
            "mean_estimate": float(np.mean(estimates[name])),
            "mean_denoised_estimate": float(np.mean(denoised[name])),
            "sd_of_denoised_estimates": float(np.std(denoised[name], ddof=1)),
            "median_se_total": float(np.median(se_total[name])),
            "rms_se_total": float(np.sqrt(np.mean(np.square(se_total[name])))),
            # The effective number of answers behind the interval (None with --mle).
            "median_effective_answers": (
                float(np.median(effective[name])) if effective[name] and not args.mle else None
            ),
        }
    print(json.dumps(doc, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
