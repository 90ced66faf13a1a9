"""Quasi-likelihood criteria of curve fits: QAIC and QBIC with a common dispersion phi.

The curves here do not come from the spillover engine: each replicate's new shares are
beta-binomial draws around the closed-form per-round recursion of the homogeneous two-channel
mean field, with the intra-class correlation set per cell so that the variance is exactly
``phi * S p (1 - p)``. The dispersion is therefore known.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from spillover.cli import main
from spillover.exceptions import ConfigError
from spillover.fit import FitResult, quasi_information_criteria
from spillover.report import render_report
from spillover.selection import (
    Analysis,
    analyse,
    common_dispersion,
    compare,
    criterion_name,
)
from spillover.trajectories import Curves

N_NODES, DEGREE, N_ROUNDS, N_REPS, SEEDS = 20_000, 6, 24, 15, 40
ALPHA, BETA = 0.004, 0.04


def _mean_field(n_rounds: int = N_ROUNDS) -> np.ndarray:
    """Informed fraction of the homogeneous si2 mean field, written out round by round."""
    i = np.empty(n_rounds + 1)
    i[0] = SEEDS / N_NODES
    for t in range(n_rounds):
        i[t + 1] = i[t] + (1 - i[t]) * (1 - (1 - ALPHA) * (1 - BETA * i[t]) ** DEGREE)
    return i


def overdispersed_curves(phi: float, seed: int = 7) -> Curves:
    """Replicates whose new shares are Beta-binomial(S, p_t, rho) with variance phi S p (1-p)."""
    rng = np.random.default_rng(seed)
    i = _mean_field()
    p = (i[1:] - i[:-1]) / (1 - i[:-1])
    informed = np.empty((N_REPS, N_ROUNDS + 1), dtype=np.int64)
    informed[:, 0] = SEEDS
    for t in range(N_ROUNDS):
        s = N_NODES - informed[:, t]
        rho = (phi - 1.0) / (s - 1.0)  # 1 + (S - 1) rho = phi
        size = 1.0 / rho - 1.0
        q = rng.beta(p[t] * size, (1.0 - p[t]) * size)
        informed[:, t + 1] = informed[:, t] + rng.binomial(s, q)
    return Curves(informed[:, :, None], n_nodes=N_NODES)


PHI = 4.0


@pytest.fixture(scope="module")
def curves() -> Curves:
    return overdispersed_curves(PHI)


@pytest.fixture(scope="module")
def analysis(curves: Curves) -> Analysis:
    return analyse(curves=curves, degree=DEGREE, models=["si", "si2", "pair"], n_folds=0)


def test_the_generator_is_overdispersed_as_asked(curves: Curves) -> None:
    informed = curves.informed
    assert informed[:, -1].max() < 0.9 * N_NODES  # no saturated cells
    mean = informed.mean(axis=0) / N_NODES
    assert np.abs(mean - _mean_field()).max() < 0.05


def test_the_common_dispersion_is_the_known_phi(analysis: Analysis) -> None:
    (group,) = analysis.groups
    assert group.data == "curves"
    # si2 and pair both have 2 parameters; si2, the generating map, fits better.
    assert group.dispersion_model == "si2"
    assert group.dispersion is not None
    assert group.dispersion == pytest.approx(PHI, rel=0.15)
    si2 = next(r for r in group.results if r.model == "si2")
    assert group.dispersion == si2.dispersion
    assert group.quasi


def test_qbic_differences_are_raw_differences_over_phi(analysis: Analysis) -> None:
    (group,) = analysis.groups
    phi = group.dispersion
    assert phi is not None
    rows = {row.model: row for row in group.comparison}
    n = {r.model: r.n_obs for r in group.results}
    assert len(set(n.values())) == 1  # the same curves: the same n for every model
    log_n = math.log(n["si2"])
    si2, pair, si = rows["si2"], rows["pair"], rows["si"]
    assert si2.qbic is not None and pair.qbic is not None and si.qbic is not None
    assert si2.qaic is not None and pair.qaic is not None and si.qaic is not None
    # Same number of parameters: the penalties cancel, the whole difference is divided by phi.
    assert pair.qbic - si2.qbic == pytest.approx((pair.bic - si2.bic) / phi, rel=1e-9)
    assert pair.qaic - si2.qaic == pytest.approx((pair.aic - si2.aic) / phi, rel=1e-9)
    # Different numbers of parameters: only the likelihood part is divided by phi.
    dk = si.n_params - si2.n_params
    assert si.qbic - si2.qbic == pytest.approx(
        (si.bic - si2.bic - dk * log_n) / phi + dk * log_n, rel=1e-9
    )
    # The deltas and weights the table shows are those of the quasi criteria.
    best = min(r.qbic for r in rows.values() if r.qbic is not None)
    assert pair.delta_bic == pytest.approx(pair.qbic - best)
    assert sum(r.akaike_weight for r in rows.values()) == pytest.approx(1.0)
    assert group.comparison[0].qbic == best


def test_curve_n_obs_counts_susceptible_agent_rounds(analysis: Analysis, curves: Curves) -> None:
    informed = curves.informed
    susceptible = int((N_NODES - informed[:, :-1]).sum())
    assert {r.n_obs for g in analysis.groups for r in g.results} == {susceptible}


def test_the_json_names_the_criterion_phi_and_n(analysis: Analysis) -> None:
    doc = json.loads(json.dumps(analysis.to_dict()))
    (group,) = doc["groups"]
    assert group["data"] == "curves" and group["ranked_by"] == "QBIC"
    assert group["criteria"] == "quasi-likelihood"
    assert group["dispersion"] == pytest.approx(analysis.groups[0].dispersion)
    assert group["dispersion_model"] == "si2"
    assert "susceptible agent-rounds" in group["n_obs"]
    assert {"qaic", "qbic", "k", "n", "phi"} <= set(doc["criterion_formulas"])
    for model in doc["models"]:
        assert model["ranked_by"] == "QBIC"
        assert model["qbic"] is not None and model["qaic"] is not None
        assert model["qaicc"] is not None
        assert model["dispersion"] > 1.0  # each fit's own phi
    si2 = next(m for m in doc["models"] if m["name"] == "si2")
    assert si2["effective_params"] == ["beta"]
    assert next(m for m in doc["models"] if m["name"] == "pair")["effective_params"] == []


def test_the_report_says_which_criterion_ranks_the_curve_fits(analysis: Analysis) -> None:
    html = render_report(title="t", summary=[], event_post=None, analysis=analysis, figures=[])
    phi = analysis.groups[0].dispersion
    assert phi is not None
    assert f"Ranked by QBIC (phi = {phi:.2f}, from si2)" in html
    assert "<th>ΔQBIC</th>" in html and "<th>QAIC</th>" in html
    assert "beta (effective)" in html


def test_the_cli_table_says_which_criterion_ranks_the_curve_fits(
    tmp_path: Path, curves: Curves, capsys: pytest.CaptureFixture[str]
) -> None:
    informed = curves.informed
    rows = [
        f"{r},{t},{informed[r, t]},{N_NODES}"
        for r in range(informed.shape[0])
        for t in range(informed.shape[1])
    ]
    path = tmp_path / "curves.csv"
    path.write_text("replicate,round,informed,n_nodes\n" + "\n".join(rows) + "\n")
    argv = ["fit", str(path), "--degree", str(DEGREE), "-m", "si2", "-m", "pair", "-m", "si"]
    try:
        main(argv)
    except SystemExit as exc:
        assert not exc.code
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "ΔQBIC" in out and "ΔQAIC" in out
    assert "ranked by QBIC (phi = " in out and "from si2)" in out
    assert "beta (effective)" in out
    assert "best in its group by BIC (its quasi-likelihood form QBIC for curve fits)" in out


def _result(model: str, loglik: float, k: int, phi: float | None, n: int = 1000) -> FitResult:
    return FitResult(
        model=model,
        params={},
        stderr={},
        loglik=loglik,
        n_params=k,
        n_obs=n,
        status="converged",
        dispersion=phi,
    )


def test_a_dispersion_can_reverse_the_raw_ranking() -> None:
    small, large = _result("small", -1000.0, 2, 5.0), _result("large", -985.0, 3, 5.0)
    raw = compare([small, large])
    assert [r.model for r in raw] == ["large", "small"]  # BIC gains 23 for 15 log-lik units
    quasi = compare([small, large], dispersion=5.0)
    assert [r.model for r in quasi] == ["small", "large"]  # 3 quasi units do not pay log n
    assert quasi[1].delta_bic == pytest.approx(math.log(1000) - 30.0 / 5.0)
    assert quasi[0].dispersion == 5.0 and raw[0].dispersion is None


def test_phi_at_most_one_leaves_the_plain_criteria() -> None:
    results = [_result("a", -1000.0, 2, 0.8), _result("b", -990.0, 3, 0.8)]
    rows = compare(results, dispersion=0.8)
    assert all(r.qbic is None and r.dispersion is None for r in rows)
    assert [r.delta_bic for r in rows] == [r.delta_bic for r in compare(results)]
    assert criterion_name("bic", 0.8) == "BIC" and criterion_name("bic", 1.5) == "QBIC"
    assert criterion_name("aicc", 2.0) == "QAICc"
    with pytest.raises(ConfigError, match="dispersion"):
        compare(results, dispersion=math.nan)


def test_the_common_dispersion_comes_from_the_most_general_fit() -> None:
    results = [
        _result("si", -1100.0, 1, 9.0),
        _result("si2", -1000.0, 2, 3.0),
        _result("pair", -1005.0, 2, 3.5),
        _result("groups", -math.inf, 4, 2.0),  # infeasible: not a candidate
    ]
    assert common_dispersion(results) == (3.0, "si2")
    assert common_dispersion([_result("si2", -1.0, 2, None)]) is None


def test_quasi_criteria_formulas() -> None:
    qaic, qaicc, qbic = quasi_information_criteria(-100.0, 2, 50, 4.0)
    assert qaic == pytest.approx(50.0 + 4.0)
    assert qbic == pytest.approx(50.0 + 2 * math.log(50))
    assert qaicc == pytest.approx(qaic + 2 * 2 * 3 / (50 - 3))
    plain = _result("a", -100.0, 2, None, n=50)
    assert quasi_information_criteria(-100.0, 2, 50, 1.0) == pytest.approx(
        (plain.aic, plain.aicc, plain.bic)
    )
