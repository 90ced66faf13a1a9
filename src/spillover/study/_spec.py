"""Study files: the paper's experiment (events x degrees x replicates, one policy) as one value.

A study file (TOML or YAML) names the events, the degrees, the size of each run, the policy
and the analysis; :func:`read_study` validates all of it (and every cell's configuration)
before anything runs, and :meth:`StudySpec.sweep_spec` turns it into the sweep it runs as::

    seed = 20261201

    [events]                 # the bundled examples unless `file` is given
    per_type = 1             # the first N events of each ACLED type (or: ids = [...])

    [design]
    degrees = [4, 8]
    n_nodes = 2000
    n_reps = 4
    n_rounds = 30
    n_seeds = 5

    [policy]
    kind = "parametric"      # embedded | server | table | parametric | persona
    alpha = 0.002
    beta = 0.05

    [analysis]
    models = ["si", "si2", "si-groups2", "si-persona"]
    criterion = "bic"
    folds = 5

Cells are (event, degree) in that order: the events vary slowest. See ``docs/study.md``.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from spillover._files import existing_file
from spillover.events import EVENT_TYPES, Event
from spillover.exceptions import ConfigError
from spillover.study._loop_spec import (
    loop_analysis_settings,
    loop_study_design,
    loop_sweep_spec,
    n_swept,
    read_loop_section,
)
from spillover.sweeps import SweepSettings, SweepSpec

__all__ = [
    "POLICY_KINDS",
    "StudySpec",
    "StudySweepSpec",
    "read_study",
]

#: What a study's ``[policy]`` may be.
POLICY_KINDS: Final[tuple[str, ...]] = ("embedded", "server", "table", "parametric", "persona")

_TOP: Final = ("seed", "out", "events", "design", "policy", "analysis", "run", "loop")
_EVENTS: Final = ("file", "ids", "per_type", "types")
_DESIGN: Final = ("degrees", "n_nodes", "n_reps", "n_rounds", "n_seeds", "graph")
_ANALYSIS: Final = ("models", "criterion", "folds", "cell_reports")
_RUN: Final = ("executor", "workers", "scheduler", "llm_concurrency")
#: LLM settings a server or embedded policy takes (SimulationConfig's ``llm_*`` fields without
#: the prefix, and the cache).
_LLM: Final = (
    "mode",
    "api_key_env",
    "concurrency",
    "timeout_s",
    "max_retries",
    "temperature",
    "max_tokens",
    "samples",
    "probability",
    "structured",
    "buckets",
    "feed_cap",
    "invalid",
    "invalid_retries",
    "price_prompt",
    "price_completion",
)
_POLICY: Final[dict[str, tuple[str, ...]]] = {
    "parametric": ("alpha", "beta", "event_types"),
    "persona": (),
    "table": ("table",),
    "server": ("base_url", "model", "cache", *_LLM),
    "embedded": ("gguf", "slots", "threads", "cache", *_LLM),
}
DEFAULT_MODELS: Final = ("si", "si2", "si-groups2", "si-persona")
#: Models the sweep's workers fit per cell (its ``fits`` view); the study's analysis fits its
#: own models (with agent histories, held-out folds and pools) in ``pooled_fits``.
SWEEP_MODELS: Final = ("si", "si2")


def _unknown(where: str, given: Mapping[str, Any], known: tuple[str, ...]) -> None:
    extra = [k for k in given if k not in known]
    if extra:
        close = difflib.get_close_matches(str(extra[0]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
        # The value is never echoed: a key pasted into the wrong place must not reach a log.
        raise ConfigError(f"{where}.{extra[0]}: unknown setting; {hint}")


def _table(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"[{where}] must be a table of settings")
    return dict(raw)


def _int(where: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where} must be an integer >= {minimum}; got {value!r}")
    return value


def _rate(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"{where} must be a number in [0, 1]; got {value!r}")
    return float(value)


def _strings(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a non-empty list of strings; got {value!r}")
    if len(set(value)) != len(value):
        dup = next(v for v in value if value.count(v) > 1)
        raise ConfigError(f"{where}: {dup!r} is given twice")
    return tuple(value)


def _path(value: Any, where: str, folder: Path) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} must be a file path; got {value!r}")
    p = Path(value)
    return str((p if p.is_absolute() else folder / p).absolute())


def select_study_events(
    events: tuple[Event, ...],
    *,
    ids: tuple[str, ...] | None,
    per_type: int | None,
    types: tuple[str, ...] | None,
    source: str,
) -> tuple[Event, ...]:
    """The events of a study: the given ids in order, or the first ``per_type`` of each type.

    Types come in ACLED's order (:data:`spillover.events.EVENT_TYPES`, then other labels in
    order of first appearance), or in the order of ``types`` when given.
    """
    by_id = {e.event_id: e for e in events}
    if ids is not None:
        missing = [i for i in ids if i not in by_id]
        if missing:
            close = difflib.get_close_matches(missing[0], list(by_id), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"events.ids: {missing[0]!r} is not an event of {source}{hint}")
        return tuple(by_id[i] for i in ids)
    assert per_type is not None
    present = list(dict.fromkeys(e.event_type for e in events))
    if types is None:
        order = [t for t in EVENT_TYPES if t in present] + [
            t for t in present if t not in EVENT_TYPES
        ]
    else:
        absent = [t for t in types if t not in present]
        if absent:
            raise ConfigError(
                f"events.types: no event of type {absent[0]!r} in {source}; types there: "
                f"{', '.join(present)}"
            )
        order = list(types)
    chosen: list[Event] = []
    for event_type in order:
        of_type = [e for e in events if e.event_type == event_type]
        if len(of_type) < per_type:
            raise ConfigError(
                f"events.per_type = {per_type}, but {source} has only {len(of_type)} event(s) "
                f"of type {event_type!r}"
            )
        chosen.extend(of_type[:per_type])
    return tuple(chosen)


@dataclass(frozen=True)
class StudySweepSpec(SweepSpec):
    """A sweep over (event_id, degree) whose cells may add values that depend on their event.

    ``by_event`` maps an event id to SimulationConfig values that its cells get on top of
    ``base`` (the rates of a parametric policy that differ by event type). It is part of the
    fingerprint, so a resumed study must have the same rates.
    """

    by_event: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def cell_values(self, cell: int, *, seed: int) -> dict[str, Any]:
        values = super().cell_values(cell, seed=seed)
        values.update(self.by_event.get(str(values.get("event_id")), {}))
        return values

    def fingerprint(self) -> dict[str, Any]:
        doc = super().fingerprint()
        if self.by_event:
            doc["by_event"] = {k: dict(v) for k, v in sorted(self.by_event.items())}
        return doc


@dataclass(frozen=True)
class StudySpec:
    """A validated study.

    Attributes
    ----------
    events : tuple of Event
        The selected events, in cell order.
    events_file : str or None
        The events CSV (absolute), or None for the bundled examples.
    degrees : tuple of int
    n_nodes, n_reps, n_rounds, n_seeds : int
    graph : str
    seed : int or None
        Root seed of the sweep (None: fresh entropy, recorded in ``sweep.json``).
    policy : mapping
        ``kind`` and its settings (paths absolute).
    models : tuple of str
    criterion : str
    folds : int
        Held-out folds (replicates); 0 or 1: none.
    cell_reports : bool
        Write each cell's ``report.html`` (linked from the study report).
    settings : SweepSettings
        How the sweep runs (executor, workers, scheduler, LLM concurrency, out).
    source : str or None
    loop : mapping or None
        A loop study's fixed ``[loop]`` values (docs/study.md, "Loop studies"): then every
        cell is a chained coupled run and ``models`` names coupled models.
    loop_grid : tuple of (key, tuple of values)
        The ``[loop]`` keys a loop study sweeps (given as lists), in file order.
    """

    events: tuple[Event, ...]
    degrees: tuple[int, ...]
    policy: Mapping[str, Any]
    events_file: str | None = None
    n_nodes: int = 2000
    n_reps: int = 10
    n_rounds: int = 40
    n_seeds: int = 5
    graph: str = "random-regular"
    seed: int | None = None
    models: tuple[str, ...] = DEFAULT_MODELS
    criterion: str = "bic"
    folds: int = 5
    cell_reports: bool = True
    settings: SweepSettings = field(default_factory=SweepSettings)
    source: str | None = None
    loop: Mapping[str, Any] | None = None
    loop_grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "policy", MappingProxyType(dict(self.policy)))
        self.sweep_spec()  # validates every cell's configuration

    @property
    def event_types(self) -> tuple[str, ...]:
        """The event types of the study, in order of first appearance."""
        return tuple(dict.fromkeys(e.event_type for e in self.events))

    @property
    def is_loop(self) -> bool:
        """Whether the cells are chained coupled runs (a study with ``[loop]``)."""
        return self.loop is not None

    @property
    def n_cells(self) -> int:
        return len(self.events) * len(self.degrees) * n_swept(self.loop_grid)

    @property
    def is_llm(self) -> bool:
        return bool(self.policy["kind"] in ("server", "embedded"))

    def sizes(
        self, keys: tuple[str, ...] = ("n_nodes", "n_reps", "n_rounds", "n_seeds")
    ) -> dict[str, int]:
        """The design's sizes (agents, replicates, rounds, seed agents) by name, in the
        order of ``keys``."""
        return {k: getattr(self, k) for k in keys}

    def base_values(self) -> dict[str, Any]:
        """SimulationConfig values shared by every cell."""
        base: dict[str, Any] = {**self.sizes(), "graph": self.graph}
        if self.events_file is not None:
            base["events"] = self.events_file
        p = dict(self.policy)
        kind = p.pop("kind")
        if kind == "parametric":
            base["policy"] = "constant"
        elif kind == "persona":
            base["policy"] = "persona"
        elif kind == "table":
            base.update(policy="tabulated", policy_table=p["table"])
        else:
            base.update(_llm_values(kind, p))
        return base

    def by_event(self) -> dict[str, dict[str, float]]:
        """Per-event values: the rates of a parametric policy, by event id."""
        if self.policy["kind"] != "parametric":
            return {}
        rates = self.policy.get("event_types", {})
        out = {}
        for event in self.events:
            r = rates.get(event.event_type, {})
            out[event.event_id] = {
                "alpha": float(r.get("alpha", self.policy["alpha"])),
                "beta": float(r.get("beta", self.policy["beta"])),
            }
        return out

    def sweep_spec(self, *, check_memory: bool = True) -> StudySweepSpec:
        """The sweep the study runs as: grid ``event_id`` x ``degree``, events slowest (and,
        for a loop study, the swept ``[loop]`` keys after them). ``check_memory=False``: a
        loop study's cells are not checked against the memory available (its analysis)."""
        if self.loop is not None:
            return loop_sweep_spec(self, check_memory=check_memory)
        try:
            return StudySweepSpec(
                base=self.base_values(),
                grid=(
                    ("event_id", tuple(e.event_id for e in self.events)),
                    ("degree", self.degrees),
                ),
                seed=self.seed,
                settings=dataclasses.replace(self.settings, models=SWEEP_MODELS),
                source=self.source,
                folder=None,
                by_event=self.by_event(),
            )
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("base.", "design/policy: ")) from None

    def cell_event(self, cell: int) -> Event:
        return self.events[cell // (len(self.degrees) * n_swept(self.loop_grid))]

    def cell_degree(self, cell: int) -> int:
        return self.degrees[(cell // n_swept(self.loop_grid)) % len(self.degrees)]

    def cell_loop_params(self, cell: int) -> dict[str, Any]:
        """The swept ``[loop]`` values of one cell of a loop study (empty otherwise)."""
        params: dict[str, Any] = {}
        rest = cell
        for key, values in reversed(self.loop_grid):
            rest, i = divmod(rest, len(values))
            params[key] = values[i]
        return {k: params[k] for k, _ in self.loop_grid}

    def design(self) -> dict[str, Any]:
        """The design as plain data (``study.json``)."""
        policy = {k: v for k, v in self.policy.items() if k != "event_types"}
        if "event_types" in self.policy:
            policy["event_types"] = {k: dict(v) for k, v in self.policy["event_types"].items()}
        doc: dict[str, Any] = {
            "source": self.source,
            "events_file": self.events_file,
            "events": [
                {"event_id": e.event_id, "event_type": e.event_type, "country": e.country}
                for e in self.events
            ],
            "event_types": list(self.event_types),
            "degrees": list(self.degrees),
            "n_nodes": self.n_nodes,
            "n_reps": self.n_reps,
            "n_rounds": self.n_rounds,
            "n_seeds": self.n_seeds,
            "graph": self.graph,
            "seed": self.seed,
            "policy": policy,
            "analysis": {
                "models": list(self.models),
                "criterion": self.criterion,
                "folds": self.folds,
                "cell_reports": self.cell_reports,
            },
            "n_cells": self.n_cells,
            "cell_order": "events vary slowest, degrees fastest",
        }
        if self.loop is not None:
            doc["analysis"] = {"models": list(self.models), "cell_reports": self.cell_reports}
            doc.update(loop_study_design(self))
        return doc


def _llm_values(kind: str, p: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {"policy": "llm"}
    if kind == "server":
        values["llm_base_url"] = p.pop("base_url", None)
        values["llm_model"] = p.pop("model", None)
    else:
        from spillover.sweeps import simulation_keys

        if "llm_local" not in simulation_keys():
            raise ConfigError(
                "policy.kind 'embedded' needs the embedded model server (llm_local), which "
                "this installation of spillover does not have"
            )
        values["llm_local"] = True
        for key, field_name in (("gguf", "llm_gguf"), ("slots", "llm_local_slots")):
            if key in p:
                values[field_name] = p.pop(key)
        if "threads" in p:
            values["llm_local_threads"] = p.pop("threads")
    if "cache" in p:
        values["cache"] = p.pop("cache")
    for key, value in p.items():
        values[f"llm_{key}"] = value
    return values


def _policy(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    kind = raw.get("kind")
    if kind not in POLICY_KINDS:
        raise ConfigError(f"policy.kind must be one of {', '.join(POLICY_KINDS)}; got {kind!r}")
    rest = {k: v for k, v in raw.items() if k != "kind"}
    _unknown(f"policy ({kind})", rest, _POLICY[kind])
    out: dict[str, Any] = {"kind": kind, **rest}
    if kind == "parametric":
        for name in ("alpha", "beta"):
            if name not in rest:
                raise ConfigError(f"policy.{name}: a parametric policy needs alpha and beta")
            out[name] = _rate(f"policy.{name}", rest[name])
        types = _table(rest.get("event_types"), "policy.event_types")
        checked: dict[str, dict[str, float]] = {}
        for event_type, rates in types.items():
            where = f"policy.event_types.{event_type}"
            rates = _table(rates, where)
            _unknown(where, rates, ("alpha", "beta"))
            checked[str(event_type)] = {k: _rate(f"{where}.{k}", v) for k, v in rates.items()}
        if checked:
            out["event_types"] = checked
    elif kind == "table":
        if "table" not in rest:
            raise ConfigError("policy.table: a table policy needs the JSON table's path")
        out["table"] = _path(rest["table"], "policy.table", folder)
        existing_file(out["table"], "policy.table:", "a JSON policy table")
    elif kind in ("server", "embedded"):
        if kind == "server":
            for name in ("base_url", "model"):
                if not isinstance(rest.get(name), str):
                    raise ConfigError(f"policy.{name}: a server policy needs {name} (a string)")
        for name in ("cache", "gguf"):
            if name in rest:
                out[name] = _path(rest[name], f"policy.{name}", folder)
    return out


def _analysis(raw: dict[str, Any]) -> dict[str, Any]:
    from spillover.selection import CRITERIA
    from spillover.sweeps import check_models

    _unknown("analysis", raw, _ANALYSIS)
    out: dict[str, Any] = {}
    if "models" in raw:
        out["models"] = check_models(_strings("analysis.models", raw["models"]))
    if "criterion" in raw:
        if raw["criterion"] not in CRITERIA:
            raise ConfigError(
                f"analysis.criterion must be one of {', '.join(CRITERIA)}; got {raw['criterion']!r}"
            )
        out["criterion"] = raw["criterion"]
    if "folds" in raw:
        out["folds"] = _int("analysis.folds", raw["folds"], 0)
    if "cell_reports" in raw:
        if not isinstance(raw["cell_reports"], bool):
            raise ConfigError(f"analysis.cell_reports must be true or false; got {raw!r}")
        out["cell_reports"] = raw["cell_reports"]
    return out


def _events(raw: dict[str, Any], folder: Path) -> tuple[tuple[Event, ...], str | None]:
    from spillover.io import example_events, read_events

    _unknown("events", raw, _EVENTS)
    file = _path(raw["file"], "events.file", folder) if "file" in raw else None
    if file is not None:
        existing_file(file, "events.file:", "an ACLED CSV file")
    events = read_events(file) if file is not None else example_events()
    source = file or "the bundled example events"
    ids = _strings("events.ids", raw["ids"]) if "ids" in raw else None
    per_type = _int("events.per_type", raw["per_type"], 1) if "per_type" in raw else None
    types = _strings("events.types", raw["types"]) if "types" in raw else None
    if (ids is None) == (per_type is None):
        raise ConfigError("events: give either ids = [...] or per_type = N (not both)")
    if ids is not None and types is not None:
        raise ConfigError("events.types selects with per_type; with ids, list the ids you want")
    return select_study_events(events, ids=ids, per_type=per_type, types=types, source=source), file


def _design(raw: dict[str, Any]) -> dict[str, Any]:
    _unknown("design", raw, _DESIGN)
    if "degrees" not in raw:
        raise ConfigError("design.degrees: give the degrees, e.g. degrees = [4, 8, 16]")
    degrees = raw["degrees"]
    if not isinstance(degrees, list) or not degrees:
        raise ConfigError(f"design.degrees must be a non-empty list of integers; got {degrees!r}")
    checked = tuple(_int("design.degrees[]", d, 1) for d in degrees)
    if len(set(checked)) != len(checked):
        raise ConfigError(f"design.degrees must be distinct; got {degrees!r}")
    out: dict[str, Any] = {"degrees": checked}
    for name, minimum in (("n_nodes", 32), ("n_reps", 1), ("n_rounds", 1), ("n_seeds", 1)):
        if name in raw:
            out[name] = _int(f"design.{name}", raw[name], minimum)
    if "graph" in raw:
        if raw["graph"] != "random-regular":
            raise ConfigError(
                "design.graph: a study runs on random k-regular graphs (the mean-field and pair "
                f"comparisons assume them); got {raw['graph']!r}"
            )
        out["graph"] = raw["graph"]
    return out


def _run_settings(raw: dict[str, Any], out: Any, folder: Path) -> SweepSettings:
    _unknown("run", raw, _RUN)
    values = dict(raw)
    for key in ("executor", "scheduler"):
        if key in values and not isinstance(values[key], str):
            raise ConfigError(f"run.{key} must be a string; got {values[key]!r}")
    if out is not None:
        if not isinstance(out, str) or not out:
            raise ConfigError(f"out must be a folder path; got {out!r}")
        values["out"] = str(Path(out) if Path(out).is_absolute() else folder / out)
    try:
        return SweepSettings(**values)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("sweep.", "run.")) from None


def read_study(path: str | os.PathLike[str]) -> StudySpec:
    """Read and validate a study file (TOML or YAML); ConfigError names the first problem."""
    from spillover.io import read_settings_file

    p = Path(path)
    raw = read_settings_file(p, "study")
    folder = p.parent.absolute()
    try:
        if not isinstance(raw, dict):
            raise ConfigError("expected a table with [events], [design] and [policy]")
        _unknown("study", raw, _TOP)
        for name in ("events", "design", "policy"):
            if name not in raw:
                raise ConfigError(f"[{name}] is missing")
        events, events_file = _events(_table(raw["events"], "events"), folder)
        seed = raw.get("seed")
        if seed is not None:
            _int("seed", seed, 0)
        analysis = _table(raw.get("analysis"), "analysis")
        loop: dict[str, Any] = {}
        if "loop" in raw:
            fixed, grid = read_loop_section(raw["loop"])
            loop = {"loop": fixed, "loop_grid": grid, **loop_analysis_settings(analysis)}
        spec = StudySpec(
            events=events,
            events_file=events_file,
            policy=_policy(_table(raw["policy"], "policy"), folder),
            seed=seed,
            settings=_run_settings(_table(raw.get("run"), "run"), raw.get("out"), folder),
            source=str(p),
            **_design(_table(raw["design"], "design")),
            **(loop or _analysis(analysis)),
        )
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    return spec
