"""Goodness of fit, sandwich standard errors and the base of the trait effects.

The data come from a small numpy simulator written here (not the engine): synchronous rounds
on a graph of k/2 random cycles; an uninformed agent of persona c with m informed neighbours
shares with probability ``1 - exp(-u z(c, m))``, ``z`` the hazard of the generating model and
``u`` the agent's own multiplier (1 for homogeneous data; a latent group, or a gamma frailty of
mean 1, for heterogeneous data).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import t as t_dist

from spillover.cli import main
from spillover.exceptions import ConfigError
from spillover.fit import (
    SI2Estimator,
    cluster_sandwich,
    fit_trait_effects,
    goodness_of_fit,
)
from spillover.personas import trait_matrix
from spillover.selection import analyse, robust_errors
from spillover.trajectories import ExposureTable

Hazard = Callable[[np.ndarray, np.ndarray], np.ndarray]

_X = np.column_stack([np.ones(32), trait_matrix() - 0.5])
#: Generating trait effects (log hazard ratios, high vs low) on each channel.
_A = np.array([np.log(0.004), 0.4, 0.0, 0.3, 0.0, -0.3])
_B = np.array([np.log(0.06), 0.0, -0.3, 0.5, 0.2, 0.0])


def _si2_traits(persona: np.ndarray, m: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.exp(_X @ _A)[persona] + m * np.exp(_X @ _B)[persona]
    return out


def _dose2_traits(persona: np.ndarray, m: np.ndarray) -> np.ndarray:
    first = np.exp(_X @ (_B + np.array([1.2, 0, 0, 0, 0, 0])))[persona]
    further = 0.2 * np.exp(_X @ _B)[persona]
    out: np.ndarray = np.exp(_X @ _A)[persona] + (m >= 1) * first + np.maximum(m - 1, 0) * further
    return out


def _flat(persona: np.ndarray, m: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.004 + 0.06 * m
    return out


def simulate(
    rng: np.random.Generator,
    hazard: Hazard,
    *,
    n: int = 800,
    k: int = 6,
    reps: int = 6,
    rounds: int = 30,
    seeds: int = 4,
    groups: tuple[float, float, float] | None = None,
    frailty: float | None = None,
) -> ExposureTable:
    """The exposure table of ``reps`` replicates on one graph (module docstring).

    ``groups = (share, low, high)``: a share of agents with multiplier ``high``, the others
    ``low``; ``frailty``: gamma multipliers of mean 1 and this variance.
    """
    nb = np.empty((n, k), dtype=np.int64)
    for j in range(k // 2):
        perm = rng.permutation(n)
        nb[perm, 2 * j] = np.roll(perm, 1)
        nb[perm, 2 * j + 1] = np.roll(perm, -1)
    persona = rng.permutation(np.arange(n) % 32)
    width = k + 1
    names = ("replicate", "round", "persona", "n_exposed", "at_risk", "shared")
    cols: dict[str, list[np.ndarray]] = {c: [] for c in names}
    for rep in range(reps):
        u = np.ones(n)
        if groups is not None:
            share, low, high = groups
            u = np.where(rng.random(n) < share, high, low)
        if frailty is not None:
            u = rng.gamma(1.0 / frailty, frailty, n)
        informed = np.zeros(n, dtype=bool)
        informed[rng.choice(n, seeds, replace=False)] = True
        for t in range(1, rounds + 1):
            m = informed[nb].sum(axis=1)
            who = np.flatnonzero(~informed)
            if who.size == 0:
                break
            z = u[who] * hazard(persona[who], m[who])
            new = who[rng.random(who.size) < -np.expm1(-z)]
            count = np.bincount(persona[who] * width + m[who], minlength=32 * width)
            shared = np.bincount(persona[new] * width + m[new], minlength=32 * width)
            keep = np.flatnonzero(count)
            values = (rep, t, keep // width, keep % width, count[keep], shared[keep])
            for name, v in zip(names, values, strict=True):
                cols[name].append(np.broadcast_to(v, keep.shape))
            informed[new] = True
    return ExposureTable(**{c: np.concatenate(v) for c, v in cols.items()})


# --- the pieces, against hand computations ---------------------------------------------------


def test_goodness_of_fit_matches_the_formulas() -> None:
    n = np.array([10.0, 20.0, 30.0, 0.0])
    s = np.array([2.0, 5.0, 3.0, 0.0])
    p = np.array([0.25, 0.25, 0.2, 0.5])
    gof = goodness_of_fit(n, s, p, 1, model="m")
    keep = slice(0, 3)
    nk, sk, pk = n[keep], s[keep], p[keep]
    dev = 2 * np.sum(sk * np.log(sk / (nk * pk)) + (nk - sk) * np.log((nk - sk) / (nk * (1 - pk))))
    pearson = np.sum((sk - nk * pk) ** 2 / (nk * pk * (1 - pk)))
    assert gof.n_cells == 3 and gof.df == 2
    assert gof.statistic == pytest.approx(dev) and gof.pearson == pytest.approx(pearson)
    # the saturated fit itself: deviance 0, fits
    exact = goodness_of_fit(nk, sk, sk / nk, 0, model="m")
    assert exact.statistic == pytest.approx(0.0, abs=1e-9) and exact.fits
    doc = json.loads(json.dumps(gof.to_dict()))
    assert doc["df"] == 2 and "fits" in doc["summary"]
    # A cell the model puts at probability 0 where nobody shared (an m = 0 cell without an
    # offline channel) carries no information: it is not a degree of freedom.
    with_zero = goodness_of_fit(
        np.append(nk, 50.0), np.append(sk, 0.0), np.append(pk, 0.0), 1, model="m"
    )
    assert with_zero.df == 2 and with_zero.n_cells == 3
    assert with_zero.statistic == pytest.approx(dev)
    # ... but somebody sharing there is a misfit no model with p = 0 survives.
    misfit = goodness_of_fit(
        np.append(nk, 50.0), np.append(sk, 1.0), np.append(pk, 0.0), 1, model="m"
    )
    assert misfit.df == 3 and not misfit.fits


def test_cluster_sandwich_matches_a_hand_computation() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(12, 2))
    rep = np.repeat([0, 1, 2], 4)
    per = np.tile([0, 0, 1, 1], 3)
    info = np.array([[2.0, 0.3], [0.3, 1.0]])
    bread = np.linalg.inv(info)
    # replicate clusters: the cluster sums, centred (factor R / (R - 1))
    sums = np.array([scores[rep == r].sum(axis=0) for r in range(3)])
    centred = sums - sums.mean(axis=0)
    want = bread @ (centred.T @ centred * 3 / 2) @ bread
    got = cluster_sandwich(scores, rep, per, info, by="replicate")
    assert np.allclose(got.covariance, want) and got.n_clusters == 3
    # (replicate, persona) clusters, centred within persona
    meat = np.zeros((2, 2))
    for c in (0, 1):
        g = np.array([scores[(rep == r) & (per == c)].sum(axis=0) for r in range(3)])
        g -= g.mean(axis=0)
        meat += g.T @ g * 3 / 2
    got = cluster_sandwich(scores, rep, per, info)
    assert np.allclose(got.covariance, bread @ meat @ bread) and got.n_clusters == 6
    assert got.stratified
    with pytest.raises(ConfigError, match="clustering"):
        cluster_sandwich(scores, rep, per, info, by="agent")


def test_a_persona_in_one_replicate_only_enters_the_sandwich_uncentred() -> None:
    # Persona 1 has rows in replicate 0 only: centred on itself its score would be 0 and add
    # nothing; it enters as it is (as with one replicate), and is counted.
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(10, 2))
    rep = np.array([0, 0, 1, 1, 2, 2, 0, 0, 0, 0])
    per = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    info = np.array([[2.0, 0.3], [0.3, 1.0]])
    bread = np.linalg.inv(info)
    g = np.array([scores[(rep == r) & (per == 0)].sum(axis=0) for r in range(3)])
    g -= g.mean(axis=0)
    alone = scores[per == 1].sum(axis=0)
    meat = g.T @ g * 3 / 2 + np.outer(alone, alone)
    got = cluster_sandwich(scores, rep, per, info)
    assert np.allclose(got.covariance, bread @ meat @ bread)
    assert got.uncentred == 1 and got.n_clusters == 4
    # Degrees of freedom: R_c - 1 per persona seen in R_c replicates, 1 for one seen once.
    assert got.df == 2 + 1
    assert got.critical() == pytest.approx(float(t_dist.ppf(0.975, 3)))
    full = cluster_sandwich(scores, rep, per, info, by="replicate")
    assert full.df == 2 and full.uncentred == 0


def test_pooled_errors_note_personas_seen_in_one_replicate() -> None:
    table = simulate(np.random.default_rng(6), _flat, reps=3, rounds=12)
    keep = (table.persona != 5) | (table.replicate == 0)
    cut = ExposureTable(**{n: v[keep] for n, v in table.columns().items()})
    errors = robust_errors(cut, [SI2Estimator(intervals=False).fit(cut).result_])
    e = errors.models["si2"]
    assert e.uncentred == 1 and e.sandwich_df == 31 * 2 + 1
    assert any("1 persona(s) seen in one replicate only" in n for n in errors.notes)
    assert e.fields()["sandwich_df"] == e.sandwich_df


def test_trait_sandwich_intervals_take_the_t_quantile_on_the_cluster_df() -> None:
    # Two replicates: 32 persona strata of 2 clusters each, 32 degrees of freedom; the
    # sandwich intervals are b +- t(0.975, 32) se, as every sandwich interval is.
    table = simulate(np.random.default_rng(3), _si2_traits, reps=2, groups=(0.3, 0.2, 2.87))
    traits = fit_trait_effects(table)
    assert traits.se_kind == "sandwich" and traits.sandwich_df == 32
    crit = float(t_dist.ppf(0.975, 32))
    assert traits.shown_critical() == pytest.approx(crit)
    for r in traits.rows():
        b, se = r["log_hazard_ratio"], r["stderr_sandwich"]
        assert r["ci_high_sandwich"] - b == pytest.approx(crit * se)
        assert b - r["ci_low_sandwich"] == pytest.approx(crit * se)
    assert traits.summary()["sandwich_df"] == 32
    # The pooled models' sandwich intervals on the same table take the same rule.
    errors = robust_errors(table, [SI2Estimator(intervals=False).fit(table).result_])
    assert errors.models["si2"].sandwich_df == 32


def test_unknown_base_is_a_config_error() -> None:
    table = simulate(np.random.default_rng(1), _si2_traits, reps=2)
    with pytest.raises(ConfigError, match="base"):
        fit_trait_effects(table, base="si-groups2")


# --- homogeneous and heterogeneous data --------------------------------------------------------


def test_homogeneous_data_fit_and_keep_model_errors() -> None:
    rejections, ratios = 0, []
    for seed in range(5):
        table = simulate(np.random.default_rng(10 + seed), _si2_traits)
        traits = fit_trait_effects(table)
        assert traits.base == "si2" and traits.gof is not None
        rejections += not traits.gof.fits
        ratios.append(traits.stderr_sandwich[:, 1:] / traits.stderr[:, 1:])  # type: ignore[operator]
        if traits.gof.fits:
            assert traits.se_kind == "model" and not traits.heterogeneity
        # the generating effects, within 3.5 (model) standard errors
        z = (traits.coef[:, 1:] - np.stack([_A, _B])[:, 1:]) / traits.stderr[:, 1:]
        assert np.all(np.abs(z) < 3.5), np.round(z, 2)
    # level 0.01: 5 data sets reject none (one at most, by chance)
    assert rejections <= 1
    ratio = float(np.mean(ratios))
    assert 0.85 < ratio < 1.15, ratio


@pytest.mark.parametrize(
    "kind", [{"groups": (0.3, 0.2, 2.87)}, {"frailty": 1.0}], ids=["two-groups", "frailty"]
)
def test_heterogeneous_data_do_not_fit_and_show_sandwich_errors(kind: dict[str, object]) -> None:
    table = simulate(np.random.default_rng(3), _si2_traits, **kind)  # type: ignore[arg-type]
    traits = fit_trait_effects(table)
    assert traits.gof is not None and not traits.gof.fits and traits.gof.p_value < 1e-6
    assert traits.se_kind == "sandwich" and "does not fit" in traits.heterogeneity[0]
    assert "does not fit" in traits.flag() and "read them with care" in traits.flag()
    rows = traits.rows()
    assert all(r["se_kind"] == "sandwich" and r["fits"] is False for r in rows)
    # the model errors stay in stderr; the shown ones are the sandwich errors
    assert rows[0]["stderr"] == pytest.approx(float(traits.stderr[0, 1]))
    assert np.array_equal(traits.shown_stderr(), traits.stderr_sandwich)  # type: ignore[arg-type]
    assert traits.dispersion > 1.0


def test_pooled_si2_sandwich_errors_on_homogeneous_data_are_the_model_ones() -> None:
    table = simulate(np.random.default_rng(4), _flat, reps=12)
    result = SI2Estimator(intervals=False).fit(table).result_
    errors = robust_errors(table, [result])
    e = errors.models["si2"]
    assert errors.by == "replicate" and errors.n_clusters == 12
    assert e.gof.fits and e.se_kind == "model"
    for name in ("alpha", "beta"):
        assert e.stderr_sandwich[name] / result.stderr[name] == pytest.approx(1.0, abs=0.35)
    # fewer replicates: (replicate, persona) clusters, and a note that says so
    few = simulate(np.random.default_rng(4), _flat, reps=3)
    errors = robust_errors(few, [SI2Estimator(intervals=False).fit(few).result_])
    assert errors.by == "replicate-persona" and errors.n_clusters == 96
    assert any("fewer than 10" in note for note in errors.notes)


@pytest.mark.slow
def test_sandwich_intervals_cover_the_pooled_truth_under_heterogeneity() -> None:
    """Per-agent gamma rates: the pooled si2 rates' model intervals cover the pooled truth
    (the pooled fit to all the data sets together) too rarely; the sandwich ones closer to
    95 %. Homogeneous data: both near 95 %."""
    coverage = {}
    for label, frailty in (("homogeneous", None), ("frailty", 2.0)):
        tables, fits = [], []
        for seed in range(120):
            table = simulate(
                np.random.default_rng(500 + seed), _flat, n=400, reps=12, rounds=25,
                frailty=frailty,
            )  # fmt: skip
            result = SI2Estimator(intervals=False).fit(table).result_
            tables.append(table)
            fits.append((result, robust_errors(table, [result]).models["si2"]))
        pooled = {
            c: np.concatenate(
                [getattr(t, c) + (100 * i if c == "replicate" else 0) for i, t in enumerate(tables)]
            )
            for c in ("replicate", "round", "persona", "n_exposed", "at_risk", "shared")
        }
        truth = SI2Estimator(intervals=False).fit(ExposureTable(**pooled)).result_.params
        for name in ("alpha", "beta"):
            t = float(truth[name])  # type: ignore[arg-type]
            model = np.mean([abs(r.params[name] - t) < 1.96 * r.stderr[name] for r, _ in fits])  # type: ignore[operator]
            robust = np.mean(
                [abs(r.params[name] - t) < 1.96 * e.stderr_sandwich[name] for r, e in fits]  # type: ignore[operator]
            )
            coverage[label, name] = (float(model), float(robust))
    for name in ("alpha", "beta"):
        model, robust = coverage["homogeneous", name]
        assert model >= 0.89 and robust >= 0.87, coverage
        model, robust = coverage["frailty", name]
        assert model < 0.9, coverage  # model errors too small
        assert abs(robust - 0.95) < abs(model - 0.95), coverage
        assert robust >= 0.85, coverage


# --- the base of the trait effects -------------------------------------------------------------


def test_dose_response_data_get_trait_effects_on_the_dose_aware_base() -> None:
    table = simulate(np.random.default_rng(7), _dose2_traits, reps=10)
    analysis = analyse(exposures=table, models=["si2", "si-dose2", "si-persona"], n_folds=0)
    assert analysis.two_rates is not None and analysis.two_rates.reading == "exposure"
    traits = analysis.trait_effects
    assert traits is not None and traits.base == "si-dose2"
    assert traits.channels == ("alpha", "beta_first", "beta_further")
    assert traits.gof is not None and traits.gof.fits
    # the generating effects on each channel, within 3.5 standard errors
    truth = np.stack([_A, _B, _B])[:, 1:]
    z = (traits.coef[:, 1:] - truth) / traits.shown_stderr()[:, 1:]
    assert np.all(np.abs(z) < 3.5), np.round(z, 2)
    # on the si2 base the same data do not fit
    assert fit_trait_effects(table).gof.fits is False  # type: ignore[union-attr]
    doc = json.loads(json.dumps(analysis.to_dict(), default=str))
    assert doc["trait_effects_fit"]["base"] == "si-dose2"
    assert doc["trait_effects_fit"]["fits"] is True
    assert {r["base"] for r in doc["trait_effects"]} == {"si-dose2"}
    models = {m["name"]: m for m in doc["models"]}
    # pooled models ignore the personas and do not fit; si2 (no dose-response) the worst
    assert models["si2"]["se_kind"] == "sandwich" and models["si2"]["gof"]["fits"] is False
    assert models["si-dose2"]["gof"]["statistic"] < models["si2"]["gof"]["statistic"]
    assert models["si-persona"]["se_kind"] == "model" and "gof" not in models["si-persona"]
    assert doc["standard_errors"]["se_kind"]["si2"] == "sandwich"
    # additive: the model errors keep their key and value
    si2 = next(r for r in analysis.groups[0].results if r.model == "si2")
    assert models["si2"]["stderr"]["alpha"] == pytest.approx(si2.stderr["alpha"])


def test_si2_data_get_trait_effects_on_the_si2_base() -> None:
    table = simulate(np.random.default_rng(8), _si2_traits, reps=10)
    analysis = analyse(exposures=table, models=["si2", "si-persona"], n_folds=0)
    assert analysis.two_rates is not None and analysis.two_rates.reading == "offline-online"
    traits = analysis.trait_effects
    assert traits is not None and traits.base == "si2" and traits.se_kind == "model"
    assert "computed on the si2 hazard" in traits.flag()


def test_a_channel_at_zero_for_some_personas_is_left_out() -> None:
    def further_for_half(persona: np.ndarray, m: np.ndarray) -> np.ndarray:
        further = np.where(persona < 16, 0.05, 0.0)
        out: np.ndarray = 0.004 + 0.1 * (m >= 1) + further * np.maximum(m - 1, 0)
        return out

    table = simulate(np.random.default_rng(9), further_for_half, reps=6)
    traits = fit_trait_effects(table, base="si-dose2")
    assert "beta_further" in traits.dropped and "beta_further" not in traits.channels
    assert np.all(np.isfinite(traits.stderr))
    assert "left out" in traits.flag()


def test_fit_command_says_which_errors_it_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = simulate(np.random.default_rng(5), _si2_traits, reps=10, frailty=1.0)
    path = tmp_path / "exposures.parquet"
    pq.write_table(pa.table(table.columns()), path)
    argv = ["fit", str(path), "--model", "si2", "--model", "si-persona", "--folds", "0"]
    assert main_exit([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    si2 = next(m for m in doc["models"] if m["name"] == "si2")
    assert si2["se_kind"] == "sandwich" and si2["gof"]["fits"] is False
    assert set(si2["stderr_sandwich"]) == {"alpha", "beta"}
    assert doc["trait_effects_fit"]["se_kind"] == "sandwich"
    assert doc["standard_errors"]["clustering"] == "replicate"
    assert main_exit(argv) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(sandwich se; does not fit its cells)" in text
    assert "sandwich standard errors" in text and "on the si2 hazard" in text


def main_exit(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
