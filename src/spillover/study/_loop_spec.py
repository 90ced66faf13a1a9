"""The ``[loop]`` section of a study file: a study whose cells are chained coupled runs.

With ``[loop]``, every (event, degree) cell of a study is the run of ``spillover loop`` (a
loop sweep cell, docs/loop.md): the cell's event is the root event, its degree the graph's,
``[design]`` gives the size of the runs, a parametric ``[policy]`` the online rates ``alpha``
and ``beta`` (by event type where given) and ``[loop]`` the coupling and the chaining::

    [loop]
    gamma = 0.1
    eta = [0.05, 0.1, 0.2]   # a list: swept, one more axis of the cells (after the degree)
    delta = 0.2
    emission = "threshold"
    generations = 2

A list value sweeps that key: cells are (event, degree, swept keys in file order), the last
key varying fastest. Settings that another section holds (``n_nodes``, ``degree``, ``alpha``,
``events``, ...) are an error naming that section.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Final

from spillover.exceptions import ConfigError

if TYPE_CHECKING:
    from spillover.study._spec import StudySpec, StudySweepSpec

__all__ = [
    "LOOP_STUDY_KEYS",
    "LOOP_STUDY_MODELS",
    "loop_analysis_settings",
    "loop_study_design",
    "loop_sweep_spec",
    "n_swept",
    "read_loop_section",
]

#: Keys a study's ``[loop]`` section may set (each a value, or a list of values to sweep).
LOOP_STUDY_KEYS: Final[tuple[str, ...]] = (
    "gamma",
    "eta",
    "kappa",
    "delta",
    "emission",
    "threshold",
    "event_rate",
    "riot_level",
    "generations",
    "max_cascades",
)
#: The coupled models a loop study compares with its cells by default.
LOOP_STUDY_MODELS: Final[tuple[str, ...]] = ("loop-mf", "loop-pair")

#: ``spillover loop`` keys that a study states in another section.
_ELSEWHERE: Final[dict[str, str]] = {
    "n_nodes": "[design] n_nodes",
    "degree": "[design] degrees",
    "n_rounds": "[design] n_rounds",
    "n_reps": "[design] n_reps",
    "n_seeds": "[design] n_seeds",
    "alpha": "[policy] alpha (a parametric policy)",
    "beta": "[policy] beta (a parametric policy)",
    "events": "[events] file",
    "event_id": "[events]",
    "seed": "the top level (seed = N)",
}


def read_loop_section(
    raw: Any,
) -> tuple[dict[str, Any], tuple[tuple[str, tuple[Any, ...]], ...]]:
    """The fixed values and the swept keys (``(key, values)`` in file order) of ``[loop]``.

    Types are checked here (messages name the key and the type found, never the value); the
    rates and the emission rule of every cell are checked when the study's sweep is built.
    """
    from spillover.loop import check_loop_value

    if not isinstance(raw, dict):
        raise ConfigError("[loop] must be a table of loop settings")
    fixed: dict[str, Any] = {}
    swept: list[tuple[str, tuple[Any, ...]]] = []
    for key, value in raw.items():
        key = str(key)
        if key in _ELSEWHERE:
            raise ConfigError(f"loop.{key}: a study gives this in {_ELSEWHERE[key]}")
        if key not in LOOP_STUDY_KEYS:
            import difflib

            close = difflib.get_close_matches(key, LOOP_STUDY_KEYS, n=1)
            hint = (
                f"did you mean {close[0]!r}?" if close else f"known: {', '.join(LOOP_STUDY_KEYS)}"
            )
            raise ConfigError(f"loop.{key}: unknown setting; {hint}")
        if isinstance(value, list):
            if not value:
                raise ConfigError(f"loop.{key}: a list sweeps the key and needs a value")
            checked = tuple(check_loop_value(key, v, "loop") for v in value)
            plain = [json.dumps(v) for v in checked]
            if len(set(plain)) < len(plain):
                raise ConfigError(
                    f"loop.{key}: swept values must be distinct (use n_reps for replicates)"
                )
            swept.append((key, checked))
        else:
            fixed[key] = check_loop_value(key, value, "loop")
    return fixed, tuple(swept)


def loop_analysis_settings(raw: dict[str, Any]) -> dict[str, Any]:
    """``[analysis]`` of a loop study: ``models`` (coupled models) and ``cell_reports``."""
    from spillover.fit import COUPLED_MODELS, MODELS

    out: dict[str, Any] = {"models": LOOP_STUDY_MODELS}
    for key in raw:
        if key in ("criterion", "folds"):
            raise ConfigError(
                f"analysis.{key} does not apply to a loop study: its cells fit the coupling "
                "rates, and models names the closures compared with them"
            )
        if key not in ("models", "cell_reports"):
            raise ConfigError(f"analysis.{key}: unknown setting; known: models, cell_reports")
    if "models" in raw:
        models = raw["models"]
        if (
            not isinstance(models, list)
            or not models
            or not all(isinstance(m, str) for m in models)
        ):
            raise ConfigError("analysis.models must be a non-empty list of model names")
        for name in models:
            if name in MODELS:
                raise ConfigError(
                    f"analysis.models: {name!r} is a spread model of SI runs; a loop study "
                    f"compares the coupled models {', '.join(COUPLED_MODELS)}"
                )
            if name not in COUPLED_MODELS:
                raise ConfigError(
                    f"analysis.models: unknown coupled model {name!r}; known: "
                    f"{', '.join(COUPLED_MODELS)}"
                )
        out["models"] = tuple(dict.fromkeys(models))
    if "cell_reports" in raw:
        if not isinstance(raw["cell_reports"], bool):
            raise ConfigError("analysis.cell_reports must be true or false")
        out["cell_reports"] = raw["cell_reports"]
    return out


def _check_graphs(spec: StudySpec) -> None:
    for k in spec.degrees:
        if k >= spec.n_nodes or (spec.n_nodes * k) % 2:
            raise ConfigError(
                f"design: no random {k}-regular graph on {spec.n_nodes} agents (the degree must "
                "be below n_nodes, and n_nodes x degree even)"
            )


def loop_sweep_spec(spec: StudySpec, *, check_memory: bool = True) -> StudySweepSpec:
    """The loop sweep a loop study runs as: grid ``event_id`` x ``degree`` x swept ``[loop]``
    keys; ``[loop]`` values are the design's sizes and the study's ``[loop]``; the policy's
    rates by event are added per cell."""
    from spillover.study._spec import StudySweepSpec

    if spec.policy["kind"] != "parametric":
        raise ConfigError(
            "policy.kind: a loop study runs the coupled engine, which takes parametric rates "
            f"(kind = 'parametric'); got {spec.policy['kind']!r}"
        )
    _check_graphs(spec)
    sizes = spec.sizes(("n_nodes", "n_rounds", "n_reps", "n_seeds"))  # sweep.json's order
    loop: dict[str, Any] = {**sizes, **dict(spec.loop or {})}
    if spec.events_file is not None:
        loop["events"] = spec.events_file
    return StudySweepSpec(
        base={},
        grid=(
            ("event_id", tuple(e.event_id for e in spec.events)),
            ("degree", spec.degrees),
            *spec.loop_grid,
        ),
        seed=spec.seed,
        settings=spec.settings,
        source=spec.source,
        folder=None,
        loop=loop,
        check_memory=check_memory,
        by_event=spec.by_event(),
    )


def n_swept(grid: tuple[tuple[str, tuple[Any, ...]], ...]) -> int:
    """Cells per (event, degree): the product of the swept ``[loop]`` keys' lengths."""
    return math.prod(len(v) for _, v in grid)


def loop_study_design(spec: StudySpec) -> dict[str, Any]:
    """What a loop study adds to its design (``study.json``)."""
    return {
        "kind": "loop",
        "loop": dict(spec.loop or {}),
        "loop_grid": [[k, list(v)] for k, v in spec.loop_grid],
        "cell_order": "events slowest, then degrees, then the swept [loop] keys in order",
    }
