"""The coupled models in the registry: entries of kind ``coupled`` that ``get_model`` finds,
that no consumer of SI runs sees, fitted by ``fit_coupling`` on a loop run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spillover.cli import main
from spillover.exceptions import ConfigError
from spillover.fit import (
    COUPLED_MODELS,
    CURVE_ESTIMATORS,
    ESTIMATORS,
    MODELS,
    ModelSpec,
    get_model,
    sweep_models,
)
from spillover.loop import fit_coupling
from spillover.models import (
    LOOP_MF_MAP,
    LOOP_MF_ODE,
    LOOP_PAIR_MAP,
    LOOP_PAIR_ODE,
    coupled_map,
)

RATES = {"alpha": 0.0, "beta": 0.1, "gamma": 0.1, "eta": 0.12, "kappa": 0.02, "delta": 0.2}


def _run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_the_coupled_models_are_registry_entries_of_their_own_kind() -> None:
    mf, pair = get_model("loop-mf"), get_model("loop-pair")
    assert (mf.kind, pair.kind) == ("coupled", "coupled")
    assert (mf.map, mf.ode, pair.map, pair.ode) == (
        LOOP_MF_MAP,
        LOOP_MF_ODE,
        LOOP_PAIR_MAP,
        LOOP_PAIR_ODE,
    )
    assert mf.params == ("alpha", "beta", "gamma", "eta", "kappa", "delta")
    assert pair.needs_regular and not mf.needs_regular
    assert list(COUPLED_MODELS) == ["loop-mf", "loop-pair"]
    # Every consumer that applies models to SI runs reads views without them.
    for view in (MODELS, ESTIMATORS, CURVE_ESTIMATORS):
        assert not any(name.startswith("loop-") for name in view)
    assert all(spec.kind == "spread" for spec in MODELS.values())
    assert "loop-mf" not in sweep_models()
    assert get_model("si2").kind == "spread"


@pytest.mark.parametrize("name", ["loop-mf", "loop-pair"])
def test_predictions_are_the_coupled_maps(name: str) -> None:
    spec = get_model(name)
    curves = spec.predict_curves(RATES, degree=6, i0=0.002, n_rounds=40)
    direct = coupled_map(name, degree=6, i0=0.002, n_rounds=40, **RATES)
    for field in ("unaware", "engaged", "participating", "ever_participated"):
        np.testing.assert_array_equal(getattr(curves, field), getattr(direct, field))
    aware = spec.predict(RATES, degree=6, i0=0.002, n_rounds=40)
    np.testing.assert_allclose(aware, 1.0 - direct.unaware, rtol=0, atol=1e-15)
    # The ODE takes the hazards of the fitted probabilities.
    hazards = spec.ode_params(RATES, degree=6)
    assert set(hazards) == {"a", "b", "g", "e", "c", "d", "degree"}
    assert hazards["e"] == pytest.approx(-np.log(1 - RATES["eta"]))


@pytest.mark.parametrize(("coupled", "spread"), [("loop-mf", "si2"), ("loop-pair", "pair")])
def test_without_the_offline_layer_the_coupled_entries_predict_their_spread_models(
    coupled: str, spread: str
) -> None:
    rates = {**RATES, "alpha": 0.01, "gamma": 0.0, "eta": 0.0, "kappa": 0.0}
    got = get_model(coupled).predict(rates, degree=5, i0=0.01, n_rounds=30)
    want = get_model(spread).predict(
        {"alpha": 0.01, "beta": rates["beta"]}, degree=5, i0=0.01, n_rounds=30
    )
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_kind_rules_and_the_methods_of_each_kind() -> None:
    si2 = get_model("si2")
    with pytest.raises(ConfigError, match="kind must be one of spread, coupled"):
        ModelSpec(
            name="x",
            description="",
            map=LOOP_MF_MAP,
            ode=None,
            params=get_model("loop-mf").params,
            kind="other",  # type: ignore[arg-type]
        )
    with pytest.raises(ConfigError, match="estimator, sweep_default apply to spread models"):
        ModelSpec(
            name="x",
            description="",
            map=si2.map,
            ode=None,
            params=si2.params,
            estimator=si2.estimator,
            sweep_default=True,
            kind="coupled",
        )
    with pytest.raises(ConfigError, match="spread model"):
        si2.fit_coupled({"offline": {}})
    with pytest.raises(ConfigError, match="spread model"):
        si2.predict_curves({"alpha": 0.0, "beta": 0.1}, degree=4, i0=0.01, n_rounds=3)
    with pytest.raises(ConfigError, match="a coupled model: fit it on a loop run"):
        get_model("loop-mf").make_estimator()


def test_a_forecast_of_an_si_curve_refuses_a_coupled_model() -> None:
    from spillover.fit import forecast_curve
    from spillover.trajectories import Curves

    curves = Curves(informed_by_persona=np.array([[[2], [4], [8], [12]]]), n_nodes=100)
    with pytest.raises(ConfigError, match="coupled model"):
        forecast_curve("loop-mf", RATES, curves, fit_rounds=2, degree=4)


@pytest.fixture(scope="module")
def loop_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loop") / "run"
    argv = ["loop", "--n-nodes", "400", "--degree", "6", "--rounds", "30", "--replicates", "2"]
    assert _run([*argv, "--loop", "1", "--seed", "3", "--out", str(out)]) == 0
    return out


def test_a_loop_runs_fit_names_the_registry_entries(
    loop_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spillover.io import read_loop_tables

    capsys.readouterr()
    assert _run(["fit", str(loop_run), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "loop" and doc["models"] == ["loop-mf", "loop-pair"]
    tables = read_loop_tables(loop_run)
    fit = get_model("loop-pair").fit_coupled(tables)
    direct = fit_coupling(tables["offline"], tables["joins"], tables["engagement"])
    assert fit == direct
    assert doc["rates"]["eta"]["estimate"] == pytest.approx(direct.rates["eta"].estimate)


def test_an_si_runs_fit_is_the_same_with_or_without_the_coupled_entries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from spillover.fit import _registry

    run = tmp_path / "si"
    argv = ["simulate", "--n-nodes", "300", "--degree", "6", "--rounds", "10", "--replicates"]
    argv += ["2", "--seeds", "3", "--policy", "constant", "--alpha", "0.01", "--beta", "0.1"]
    assert _run([*argv, "--seed", "5", "--out", str(run)]) == 0
    capsys.readouterr()
    assert _run(["fit", str(run), "--json"]) == 0
    with_coupled = capsys.readouterr().out
    spread_only = {n: s for n, s in _registry._SPECS.items() if s.kind == "spread"}
    monkeypatch.setattr(_registry, "_SPECS", spread_only)
    assert _run(["fit", str(run), "--json"]) == 0
    assert capsys.readouterr().out == with_coupled
    names = [m["name"] for m in json.loads(with_coupled)["models"]]
    assert not any(n.startswith("loop-") for n in names) and "si2" in names
