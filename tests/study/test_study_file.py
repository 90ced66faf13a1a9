"""Study files: selection of events, validation before anything runs, the sweep underneath."""

from __future__ import annotations

from pathlib import Path

import pytest

from spillover.exceptions import ConfigError
from spillover.io import example_events
from spillover.study import read_study

GOOD = """\
seed = 3
[events]
per_type = 1
types = ["Battles", "Protests"]
[design]
degrees = [4, 8]
n_nodes = 400
n_reps = 2
n_rounds = 10
[policy]
kind = "parametric"
alpha = 0.002
beta = 0.05
[policy.event_types.Protests]
beta = 0.1
"""


def _write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_study_is_a_sweep_over_events_and_degrees(tmp_path: Path) -> None:
    spec = read_study(_write(tmp_path, GOOD))
    assert [e.event_type for e in spec.events] == ["Battles", "Protests"]
    assert spec.n_cells == 4
    sweep = spec.sweep_spec()
    assert sweep.keys == ("event_id", "degree")
    assert sweep.cell_params(1) == {"event_id": spec.events[0].event_id, "degree": 8}
    # Rates by event type reach the cells of that type only; the other keeps the defaults.
    battles = sweep.cell_config(0, seed=3)
    protests = sweep.cell_config(3, seed=3)
    assert (battles.policy, battles.alpha, battles.beta) == ("constant", 0.002, 0.05)
    assert (protests.alpha, protests.beta, protests.degree) == (0.002, 0.1, 8)
    assert sweep.settings.models == ("si", "si2")
    assert sweep.fingerprint()["by_event"][spec.events[1].event_id] == {"alpha": 0.002, "beta": 0.1}


def test_per_type_takes_the_first_events_of_each_acled_type_in_acled_order(
    tmp_path: Path,
) -> None:
    text = GOOD.replace('types = ["Battles", "Protests"]\n', "")
    spec = read_study(_write(tmp_path, text))
    events = example_events()
    expected = []
    for t in dict.fromkeys(
        t
        for t in (
            "Battles",
            "Violence against civilians",
            "Explosions/Remote violence",
            "Riots",
            "Protests",
            "Strategic developments",
        )
    ):
        expected.append(next(e.event_id for e in events if e.event_type == t))
    assert [e.event_id for e in spec.events] == expected


def test_yaml_and_ids(tmp_path: Path) -> None:
    text = """\
events:
  ids: [ARV0003, VEL0001]
design:
  degrees: [6]
  n_nodes: 300
policy:
  kind: persona
analysis:
  models: [si, si2]
  criterion: aic
  folds: 0
"""
    spec = read_study(_write(tmp_path, text, "study.yaml"))
    assert [e.event_id for e in spec.events] == ["ARV0003", "VEL0001"]
    assert spec.sweep_spec().cell_config(0, seed=1).policy == "persona"
    assert (spec.criterion, spec.folds, spec.models) == ("aic", 0, ("si", "si2"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("per_type = 1", "per_type = 99"), "has only"),
        (('per_type = 1\ntypes = ["Battles", "Protests"]', 'ids = ["NOPE1"]'), "is not an event"),
        (("per_type = 1", 'per_type = 1\nids = ["VEL0001"]'), "either ids"),
        (("degrees = [4, 8]", "degrees = [4, 4]"), "distinct"),
        (("degrees = [4, 8]", "degrees = [0]"), ">= 1"),
        (("n_nodes = 400", "n_nodes = 10"), "n_nodes must be an integer >= 32"),
        (("n_reps = 2", "n_repz = 2"), "did you mean 'n_reps'"),
        (('kind = "parametric"', 'kind = "magic"'), "policy.kind must be one of"),
        (("alpha = 0.002\n", ""), "needs alpha and beta"),
        (("beta = 0.1", "beta = 1.5"), "in [0, 1]"),
        (("seed = 3", "seed = 3\nsecret_key = 'sk-123'"), "study.secret_key: unknown setting"),
        (("seed = 3", "seed = 3\n[loop]\neta = 'sk-123'"), "loop.eta must be a number; got str"),
        (('types = ["Battles", "Protests"]', 'types = ["Sports"]'), "no event of type"),
    ],
)
def test_bad_study_files_are_one_clear_error(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigError) as info:
        read_study(_write(tmp_path, GOOD.replace(old, new, 1)))
    assert message in str(info.value)
    assert "sk-123" not in str(info.value)


def test_analysis_and_run_settings_are_checked(tmp_path: Path) -> None:
    for extra, message in (
        ('[analysis]\nmodels = ["si3"]\n', "unknown model"),
        ('[analysis]\ncriterion = "r2"\n', "criterion must be one of"),
        ("[analysis]\nfolds = -1\n", "folds must be an integer >= 0"),
        ('[run]\nexecutor = "threads"\n', "executor must be one of"),
        ("[run]\nworkers = 0\n", "workers must be an integer >= 1"),
    ):
        with pytest.raises(ConfigError) as info:
            read_study(_write(tmp_path, GOOD + extra))
        assert message in str(info.value), (extra, str(info.value))


def test_missing_files_and_sections(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_study(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match=r"\[design\] is missing"):
        read_study(_write(tmp_path, "[events]\nper_type = 1\n[policy]\nkind = 'persona'\n"))
    with pytest.raises(ConfigError, match=r"events\.file"):
        read_study(
            _write(tmp_path, GOOD.replace("per_type = 1", "file = 'nope.csv'\nper_type = 1"))
        )
    table = GOOD[: GOOD.index("[policy]")] + '[policy]\nkind = "table"\n'
    with pytest.raises(ConfigError, match=r"policy\.table: a table policy needs"):
        read_study(_write(tmp_path, table))
    with pytest.raises(ConfigError, match=r"policy\.table: .*missing\.json does not exist"):
        read_study(_write(tmp_path, table + 'table = "missing.json"\n'))
