"""Offline outbreak size against the online-to-offline rate: engine band vs mean-field and
pair-closure curves for three degrees (the figure and numbers of docs/loop.md).

    .venv/bin/python examples/loop_critical_range.py [OUT.png]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from spillover.loop import EmissionRule, critical_eta, critical_range, outbreak_sweep
from spillover.report import plot_outbreak_sweeps, save_figure

N_NODES, N_REPS, N_SEEDS, N_ROUNDS = 5000, 20, 10, 150
GAMMA, DELTA = 0.1, 0.2
RULE = EmissionRule(threshold=0.05)


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "docs/figures/loop_critical.png"
    sweeps = []
    t0 = time.perf_counter()
    for k in (3, 6, 12):
        # beta chosen so that the pair closure puts the critical rate at eta = 0.3 for every k.
        beta = 0.37 / (k - 1 - 0.63)
        etas = np.linspace(0.01, 0.6, 16)
        sw = outbreak_sweep(
            degree=k,
            beta=beta,
            gamma=GAMMA,
            delta=DELTA,
            etas=etas,
            n_nodes=N_NODES,
            n_reps=N_REPS,
            n_seeds=N_SEEDS,
            n_rounds=N_ROUNDS,
            rng=2025,
        )
        sweeps.append(sw)
        med = np.median(sw.sim_final, axis=1)
        pair = np.interp(etas, sw.grid, sw.pair_final)
        mf = np.interp(etas, sw.grid, sw.mf_final)
        print(f"k={k} beta={beta:.4f}")
        for closure in ("loop-mf", "loop-pair"):
            crit = critical_range(
                beta=beta,
                gamma=GAMMA,
                delta=DELTA,
                degree=k,
                i0=N_SEEDS / N_NODES,
                n_rounds=N_ROUNDS,
                rule=RULE,
                n_nodes=N_NODES,
                closure=closure,
            )
            print(
                f"  {closure}: eta_c (R=1) {critical_eta(beta, GAMMA, k, closure):.3f}, "
                f"outburst range (peak >= {RULE.threshold}) [{crit.low:.3f}, {crit.high:.3f}]"
            )
        inside = np.percentile(sw.sim_peak, 50, axis=1) >= RULE.threshold
        print(f"  engine: etas with median peak >= threshold: {etas[inside].round(3).tolist()}")
        print(
            f"  max |engine median - pair| {np.max(np.abs(med - pair)):.3f}, "
            f"max |engine median - mean field| {np.max(np.abs(med - mf)):.3f}"
        )
    save_figure(plot_outbreak_sweeps(sweeps, threshold=RULE.threshold), out)
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
