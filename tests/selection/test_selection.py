"""Information criteria, Akaike weights, held-out scoring, the analysis document."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spillover.engine import agent_histories, simulate
from spillover.exceptions import ConfigError
from spillover.fit import FitResult
from spillover.graphs import barabasi_albert, random_regular
from spillover.policies import ConstantPolicy
from spillover.selection import akaike_weights, analyse, available_models, compare, held_out_loglik


def _result(model: str, loglik: float, k: int, n: int = 1000) -> FitResult:
    return FitResult(
        model=model, params={}, stderr={}, loglik=loglik, n_params=k, n_obs=n, status="converged"
    )


def test_akaike_weights() -> None:
    w = akaike_weights([100.0, 102.0, math.inf])
    assert w[2] == 0.0
    assert w[0] / w[1] == pytest.approx(math.e)
    assert w.sum() == pytest.approx(1.0)
    assert akaike_weights([math.inf]).tolist() == [0.0]


def test_compare_orders_by_aic_and_reports_deltas() -> None:
    rows = compare([_result("a", -60.0, 1), _result("b", -50.0, 3), _result("c", -math.inf, 1)])
    assert [r.model for r in rows] == ["b", "a", "c"]
    assert rows[0].delta_aic == 0.0 and rows[1].delta_aic == pytest.approx(16.0)
    assert rows[0].aicc == pytest.approx(106 + 2 * 3 * 4 / (1000 - 4))


@pytest.fixture(scope="module")
def run() -> tuple[object, object]:
    graph = random_regular(2000, 8, rng=1)
    result = simulate(graph, ConstantPolicy(0.005, 0.08), n_rounds=40, n_reps=4, n_seeds=4, rng=1)
    return result, agent_histories(graph, result)


def test_held_out_prefers_the_true_model_over_the_wrong_one(run: tuple) -> None:  # type: ignore[type-arg]
    result, agents = run
    scores = held_out_loglik(result.exposures, ["si", "si2"], n_folds=4, agents=agents)
    assert scores["si"] == -math.inf  # offline shares are impossible without alpha
    assert math.isfinite(scores["si2"])


def test_held_out_needs_two_replicates() -> None:
    graph = random_regular(200, 4, rng=1)
    result = simulate(graph, ConstantPolicy(0.01, 0.1), n_rounds=5, rng=1)
    with pytest.raises(ConfigError, match="at least 2 replicates"):
        held_out_loglik(result.exposures, ["si2"])


def test_analysis_document(run: tuple) -> None:  # type: ignore[type-arg]
    result, agents = run
    analysis = analyse(
        exposures=result.exposures, agents=agents, curves=result.curves, degree=8, n_folds=2
    )
    doc = analysis.to_dict()
    names = [m["name"] for m in doc["models"]]
    agent_level = ["si", "si2", "si-groups2", "si-persona", "si-dose2", "si-dose"]
    assert names == [*agent_level, "pair"]
    # The two kinds of data are never ranked together: each group has its own comparison.
    exposures, curves = doc["groups"]
    assert exposures["data"] == "exposures" and exposures["models"] == agent_level
    assert curves["data"] == "curves" and curves["models"] == ["pair"]
    assert doc["best"] == exposures["best"] and curves["best"] == "pair"
    assert exposures["ranked_by"] == "BIC" and exposures["criteria"] == "likelihood"
    assert exposures["dispersion"] is None and "agent-rounds at risk" in exposures["n_obs"]
    assert curves["dispersion_model"] == "pair"
    assert curves["ranked_by"] == ("QBIC" if curves["dispersion"] > 1 else "BIC")
    at_risk = int(result.exposures.at_risk.sum())
    for m in doc["models"]:
        if m["data"] == "exposures":
            assert m["n_obs"] == at_risk and m["qbic"] is None and m["ranked_by"] == "BIC"
            assert m["effective_params"] == []
    for m in doc["models"]:
        assert {
            "params",
            "stderr",
            "loglik",
            "n_params",
            "n_obs",
            "aic",
            "bic",
            "status",
            "data",
            "akaike_weight",
        } <= set(m)
    persona = next(m for m in doc["models"] if m["name"] == "si-persona")
    assert len(persona["params"]["alpha_c"]) == 32
    assert {r["trait"] for r in doc["trait_effects"]} == {
        "openness",
        "conscientiousness",
        "extraversion",
        "agreeableness",
        "neuroticism",
    }
    for data in ("exposures", "curves"):
        weights = [m["akaike_weight"] for m in doc["models"] if m["data"] == data]
        assert np.isclose(sum(weights), 1.0)


def test_analysis_errors(run: tuple) -> None:  # type: ignore[type-arg]
    result, _ = run
    with pytest.raises(ConfigError, match="unknown model"):
        analyse(exposures=result.exposures, models=["sir"])
    with pytest.raises(ConfigError, match="nothing to fit"):
        analyse()
    with pytest.raises(ConfigError, match="need the graph's degree"):
        analyse(curves=result.curves, models=["pair"])


@pytest.fixture(scope="module")
def scale_free() -> tuple[dict[str, object], object]:
    graph = barabasi_albert(600, 2, rng=3)
    result = simulate(graph, ConstantPolicy(0.01, 0.1), n_rounds=10, n_reps=2, n_seeds=3, rng=3)
    return graph.summary(), result


def test_pair_is_skipped_with_a_note_on_a_graph_that_is_not_regular(
    scale_free: tuple,  # type: ignore[type-arg]
) -> None:
    graph, result = scale_free
    assert graph["is_regular"] is False
    degrees = f"not regular (degrees {graph['min_degree']}-{graph['max_degree']})"
    agent_level = ["si", "si2", "si-groups2", "si-persona", "si-dose2", "si-dose"]
    assert available_models(result.exposures, result.curves, 4, graph) == (agent_level, [])
    assert available_models(result.exposures, result.curves, 4) == (agent_level, ["pair"])
    for degree in (4, None):  # a degree given by hand does not make the graph regular
        analysis = analyse(
            exposures=result.exposures, curves=result.curves, degree=degree, graph=graph, n_folds=0
        )
        assert [g.data for g in analysis.groups] == ["exposures"]
        (note,) = [n for n in analysis.notes if n.startswith("pair skipped: ")]
        assert "needs a k-regular graph" in note and degrees in note


def test_pair_asked_for_on_a_graph_that_is_not_regular_is_refused(
    scale_free: tuple,  # type: ignore[type-arg]
) -> None:
    graph, result = scale_free
    pattern = r"'pair' needs a k-regular graph.*is not regular \(degrees \d+-\d+\): fit the"
    for kwargs in (
        {"curves": result.curves, "degree": 4},
        {"curves": result.curves},  # no degree: the graph is the problem, not the degree
        {"exposures": result.exposures, "curves": result.curves, "degree": 4},
    ):
        with pytest.raises(ConfigError, match=pattern):
            analyse(**kwargs, models=["si2", "pair"], graph=graph, n_folds=0)  # type: ignore[arg-type]
    # The homogeneous maps make no claim about the graph: fitted to the curves, their online
    # rates are effective ones.
    analysis = analyse(curves=result.curves, degree=4, models=["si2"], graph=graph)
    (group,) = analysis.groups
    assert [r.model for r in group.results] == ["si2"]
    assert group.effective_params("si2") == ("beta",)
    # A regular graph's summary lets the pair fit through.
    regular = {**graph, "is_regular": True}
    fitted = analyse(curves=result.curves, degree=4, models=["pair"], graph=regular)
    assert [r.model for r in fitted.groups[0].results] == ["pair"]
