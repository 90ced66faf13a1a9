"""The verdict on "two rates", on data from a simulator other than the engine."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from spillover.exceptions import ConfigError
from spillover.selection import READINGS, heterogeneity_test, two_rates_verdict


def _reading_sim() -> ModuleType:
    path = Path(__file__).parents[2] / "benchmarks" / "reading_sim.py"
    spec = importlib.util.spec_from_file_location("reading_sim", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["reading_sim"] = module
    spec.loader.exec_module(module)
    return module


SIM = _reading_sim()


def _verdict(name: str, seed: int, **kwargs: int) -> str:
    scenario = SIM.SCENARIOS[name]
    table = SIM.simulate_exposures(
        scenario.rule, np.random.default_rng(seed), share_1=scenario.share_1, **kwargs
    )
    return str(two_rates_verdict(table).reading)


@pytest.mark.parametrize(
    "name", ["si2", "two-groups", "saturating", "threshold", "dose2", "llm-buckets"]
)
def test_each_reading_at_the_demo_size(name: str) -> None:
    assert _verdict(name, 11) == SIM.SCENARIOS[name].expected


def test_document_has_reading_and_tests() -> None:
    scenario = SIM.SCENARIOS["threshold"]
    table = SIM.simulate_exposures(scenario.rule, np.random.default_rng(2), n_nodes=1600)
    verdict = two_rates_verdict(table, held_out={"si2": -10.0, "si-dose": -5.0})
    doc = json.loads(json.dumps(verdict.to_dict()))
    assert doc["reading"] in READINGS and doc["reading"] == "exposure"
    assert doc["model"] == "si-dose"  # a threshold is not of the si-dose2 form
    tests = {e["test"]: e for e in doc["evidence"]}
    assert tests["si2-shape"]["reject"] and tests["si2-shape"]["p_value"] < 1e-6
    assert tests["si-dose2-shape"]["reject"]
    assert not tests["heterogeneity"]["reject"]
    assert doc["best_held_out"] == "si-dose"


def test_heterogeneity_test_sees_latent_groups_only() -> None:
    rng = np.random.default_rng(5)
    groups = SIM.SCENARIOS["two-groups"]
    z, p = heterogeneity_test(SIM.simulate_exposures(groups.rule, rng, share_1=0.5))
    assert z < -4 and p < 1e-4
    dose = SIM.SCENARIOS["saturating"]
    z, p = heterogeneity_test(SIM.simulate_exposures(dose.rule, rng))
    assert abs(z) < 4


def test_bad_level_is_a_config_error() -> None:
    table = SIM.simulate_exposures(SIM.SCENARIOS["si2"].rule, np.random.default_rng(1), n_nodes=320)
    with pytest.raises(ConfigError, match="level"):
        two_rates_verdict(table, level=0.7)


@pytest.mark.slow
def test_verdict_accuracy_per_reading() -> None:
    """10 data sets per reading at the demo's size: at least 9 right; dose never two-groups.

    (benchmarks/bench_verdict.py measures the accuracy on 100 per scenario.)
    """
    for name in ("si2", "two-groups", "saturating", "mix-si2-dose"):
        said = [_verdict(name, 1000 + i) for i in range(10)]
        right = sum(r == SIM.SCENARIOS[name].expected for r in said)
        assert right >= 9, (name, said)
        if SIM.SCENARIOS[name].expected == "exposure":
            assert "two-groups" not in said, (name, said)


@pytest.mark.slow
def test_heterogeneity_test_is_calibrated_under_the_null() -> None:
    """p-values of the heterogeneity test on si2 data: not too many small ones.

    Under the null the statistic leans slightly positive (agents who share leave the later,
    high-exposure rows of their cell), so the one-sided test is conservative: p-values lean
    towards 1, never towards 0.
    """
    rule = SIM.SCENARIOS["si2"].rule
    rng = np.random.default_rng(77)
    p = np.array(
        [heterogeneity_test(SIM.simulate_exposures(rule, rng, n_nodes=1600))[1] for _ in range(60)]
    )
    assert (p < 0.05).sum() <= 8  # expected 3; 8 or more has probability < 0.01
    assert (p < 0.5).sum() >= 8  # not stuck at 1 (observed about 16 of 60)


def test_analysis_carries_the_verdict_into_fit_json_and_the_report() -> None:
    from spillover.report._html import _verdict_section
    from spillover.selection import analyse

    scenario = SIM.SCENARIOS["threshold"]
    table = SIM.simulate_exposures(scenario.rule, np.random.default_rng(2), n_nodes=1600)
    analysis = analyse(exposures=table, models=("si", "si2"), n_folds=0)
    assert analysis.two_rates is not None
    doc = json.loads(json.dumps(analysis.to_dict()))
    assert doc["two_rates"]["reading"] == "exposure"
    assert {e["test"] for e in doc["two_rates"]["evidence"]} >= {"si2-shape", "heterogeneity"}
    html = _verdict_section(analysis)
    assert "Which two rates?" in html and "exposure" in html
