"""Sweep specifications: a base config, a grid of values, a root seed, and sweep settings.

A sweep file (TOML or YAML) looks like::

    seed = 20240305            # root seed of the whole sweep

    [sweep]                    # optional: how to run it
    executor = "process"       # serial | process | dask
    workers = 8                # process executor (default: all cores)
    scheduler = "tcp://10.0.0.5:8786"   # implies executor = "dask"
    models = ["si", "si2"]     # fitted on every cell
    llm_concurrency = 16       # sweep-wide bound on concurrent LLM requests
    out = "runs/degree-sweep"  # sweep folder (relative to this file)
    agent_tables = false       # cells skip adoptions.parquet and agents.parquet
    share_graphs = true        # cells with the same graph settings share one graph

    [base]                     # SimulationConfig keys shared by every cell
    n_nodes = 100000
    n_reps = 10
    policy = "constant"
    alpha = 0.002

    [grid]                     # key -> list of values; cells = cartesian product
    degree = [4, 8, 12, 16]
    beta = [0.02, 0.05]

Cells are numbered in row-major order of the grid as written: the first key varies slowest, the
last key fastest (``itertools.product``). With the grid above, cell 0 is (degree 4, beta 0.02),
cell 1 is (degree 4, beta 0.05), cell 2 is (degree 8, beta 0.02), and so on.

A ``[loop]`` section instead of ``[base]`` (the keys of ``spillover loop --config``) makes a
loop sweep: every cell is a chained coupled run and ``[grid]`` sweeps ``[loop]`` keys
(docs/sweeps.md, "Loop sweeps").
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from spillover._redact import redact, redact_tree
from spillover.config import FLAT_KEYS, SimulationConfig, flat_types
from spillover.exceptions import ConfigError
from spillover.io import read_settings_file, validation_message

__all__ = [
    "EXECUTOR_KINDS",
    "PATH_KEYS",
    "SweepSettings",
    "SweepSpec",
    "default_models",
    "read_sweep_config",
]

ExecutorKind = Literal["serial", "process", "dask"]
EXECUTOR_KINDS: Final[tuple[str, ...]] = ("serial", "process", "dask")

#: SimulationConfig keys holding file paths: relative values are resolved against the sweep
#: file's folder, so that every worker opens the same file (``cache`` is the LLM cache, when the
#: configuration has such a key).
PATH_KEYS: Final[tuple[str, ...]] = ("edge_list", "events", "personas", "policy_table", "cache")

_TOP_KEYS: Final[frozenset[str]] = frozenset({"seed", "base", "grid", "sweep", "loop"})
_SETTING_KEYS: Final[frozenset[str]] = frozenset(
    {
        "executor",
        "workers",
        "scheduler",
        "models",
        "llm_concurrency",
        "out",
        "agent_tables",
        "share_graphs",
    }
)


def simulation_keys() -> tuple[str, ...]:
    """The keys a cell may set: the flat keys of :class:`SimulationConfig` (its fields, and
    ``llm_model``, ``cache``, ... for its LLM settings), read at call time."""
    return FLAT_KEYS


def default_models() -> tuple[str, ...]:
    """Models fitted on every cell when a sweep names none: the registry's sweep models."""
    from spillover.fit import sweep_models

    return sweep_models()


@dataclass(frozen=True)
class SweepSettings:
    """How a sweep runs and what its cells keep; only ``share_graphs`` changes its results
    (it is part of the sweep's fingerprint).

    Attributes
    ----------
    executor : {"serial", "process", "dask"} or None
        None: ``dask`` when a scheduler is given, else ``process``.
    workers : int or None
        Processes of the process executor (None: ``os.cpu_count()``).
    scheduler : str or None
        Address of a Dask scheduler, ``tcp://HOST:PORT``.
    models : tuple of str
        Models fitted on every cell (names of ``spillover.fit.ESTIMATORS``).
    llm_concurrency : int or None
        Most LLM requests in flight at once across the whole sweep (None: no sweep-wide bound).
    out : str or None
        Sweep folder (already resolved against the sweep file's folder).
    agent_tables : bool
        Whether each cell's run directory keeps its per-agent tables (``adoptions.parquet``,
        ``agents.parquet``); without them a cell holds its curves, exposures, fits and
        manifest, which is all the sweep's dataset reads (docs/sweeps.md).
    share_graphs : bool
        Cells whose graph settings are equal (``graph``, ``n_nodes``, ``degree``,
        ``rewire_prob``, ``edge_list``) run on one graph: the one the first of them (lowest
        index) draws from its own graph stream, built once per worker process. Off by default:
        each cell draws its own graph.
    """

    executor: ExecutorKind | None = None
    workers: int | None = None
    scheduler: str | None = None
    models: tuple[str, ...] = field(default_factory=default_models)
    llm_concurrency: int | None = None
    out: str | None = None
    agent_tables: bool = True
    share_graphs: bool = False

    def __post_init__(self) -> None:
        for name in ("agent_tables", "share_graphs"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"sweep.{name} must be true or false; got {getattr(self, name)!r}"
                )
        if self.executor is not None and self.executor not in EXECUTOR_KINDS:
            raise ConfigError(
                f"sweep.executor must be one of {', '.join(EXECUTOR_KINDS)}; got {self.executor!r}"
            )
        for name in ("workers", "llm_concurrency"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigError(f"sweep.{name} must be an integer >= 1; got {value!r}")
        if self.scheduler is not None:
            check_scheduler_address(self.scheduler)
            if self.executor not in (None, "dask"):
                raise ConfigError(
                    f"sweep.scheduler is given, so the executor is dask; got executor "
                    f"{self.executor!r}"
                )
        if not self.models:
            raise ConfigError("sweep.models must name at least one model")

    @property
    def executor_kind(self) -> ExecutorKind:
        if self.executor is not None:
            return self.executor
        return "dask" if self.scheduler is not None else "process"


#: The most cells a sweep may hold (checked before any cell is expanded).
MAX_SWEEP_CELLS: Final[int] = 100_000


def check_scheduler_address(address: str) -> str:
    """Accept ``tcp://HOST:PORT`` (or ``tls://``, ``inproc://``, ``ucx://``) addresses."""
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in ("tcp", "tls", "inproc", "ucx") or not rest:
        raise ConfigError(f"scheduler must be an address like tcp://HOST:PORT; got {address!r}")
    return address


def _cell_schema() -> Any:
    """A strict pydantic model of SimulationConfig values, built from the dataclass itself.

    Built at call time so that keys added to SimulationConfig (LLM settings, ...) are accepted
    by sweeps without a second list to maintain.
    """
    from pydantic import ConfigDict, create_model

    hints = flat_types()
    definitions: dict[str, Any] = {name: (hints[name] | None, None) for name in simulation_keys()}
    return create_model(
        "SweepCellValues",
        __config__=ConfigDict(extra="forbid", strict=True),
        **definitions,
    )


def _check_values(where: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Type-check SimulationConfig values (unknown keys, wrong types); return coerced values."""
    from pydantic import ValidationError

    known = simulation_keys()
    unknown = [k for k in values if k not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
        raise ConfigError(
            f"{where}: unknown simulate parameter(s) {', '.join(map(repr, unknown))}; {hint}"
        )
    try:
        parsed = _cell_schema().model_validate(dict(values))
    except ValidationError as exc:
        raise ConfigError(f"{where}.{validation_message(exc)}") from None
    dumped: dict[str, Any] = parsed.model_dump(exclude_unset=True)
    return {k: dumped[k] for k in values}


def _resolve_paths(values: dict[str, Any], folder: Path | None) -> dict[str, Any]:
    out = dict(values)
    for key in PATH_KEYS:
        value = out.get(key)
        if not isinstance(value, str) or not value or (key == "personas" and value == "balanced"):
            continue
        p = Path(value)
        if not p.is_absolute() and folder is not None:
            p = folder / p
        out[key] = str(p.absolute()) if folder is not None else value
    return out


def _plain(value: Any) -> Any:
    """A JSON-comparable form of a value (tuples as lists)."""
    return json.loads(json.dumps(value))


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: base values, an ordered grid, a root seed and settings.

    Build it with :func:`read_sweep_config` or directly; every cell's
    :class:`SimulationConfig` is validated when the spec is built.

    Attributes
    ----------
    base : mapping
        SimulationConfig values shared by every cell (paths already resolved).
    grid : tuple of (key, tuple of values)
        Swept keys in order, each with its values (at least one).
    seed : int or None
        Root seed. None: fresh entropy is drawn when the sweep starts and recorded in
        ``sweep.json``, and a resumed sweep reuses it.
    settings : SweepSettings
    source : str or None
        The sweep file, when read from one.
    folder : str or None
        Folder against which relative paths (edge lists, events, persona files, the LLM cache)
        are resolved; the sweep file's folder.
    loop : mapping or None
        A loop sweep's ``[loop]`` values (the keys of ``spillover loop --config``): then every
        cell is a chained coupled run, ``base`` is empty and the grid sweeps ``[loop]`` keys.
    check_memory : bool
        Refuse a loop sweep whose cells would not fit in the memory available here (default);
        False for a spec rebuilt to read a finished sweep. Not part of the spec's identity.
    """

    base: Mapping[str, Any]
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    seed: int | None = None
    settings: SweepSettings = field(default_factory=SweepSettings)
    source: str | None = None
    folder: str | None = None
    loop: Mapping[str, Any] | None = None
    check_memory: bool = field(default=True, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.loop is not None:
            _check_loop_spec(self)
            return
        folder = Path(self.folder) if self.folder is not None else None
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0
        ):
            raise ConfigError(f"seed must be an integer >= 0; got {self.seed!r}")
        base = dict(self.base)
        if "seed" in base:
            raise ConfigError(
                "base.seed: the seed of a sweep is its root seed, given at the top level "
                "(`seed = N`); each cell is seeded from it"
            )
        base = _resolve_paths(_check_values("base", base), folder)
        object.__setattr__(self, "base", MappingProxyType(base))
        grid: list[tuple[str, tuple[Any, ...]]] = []
        seen: set[str] = set()
        for key, values in self.grid:
            if key == "seed":
                raise ConfigError(
                    "grid.seed: cells are seeded from the root seed and their index; "
                    "sweep other parameters, and use n_reps for replicates"
                )
            if key in seen:
                raise ConfigError(f"grid.{key}: given twice")
            seen.add(key)
            given: object = values
            if isinstance(given, str | bytes) or not isinstance(given, list | tuple):
                raise ConfigError(f"grid.{key}: expected a list of values; got {values!r}")
            if not values:
                raise ConfigError(f"grid.{key}: needs at least one value")
            checked = tuple(_check_values("grid", {key: v})[key] for v in values)
            plain = [json.dumps(v, sort_keys=True) for v in checked]
            dupes = sorted({p for p in plain if plain.count(p) > 1})
            if dupes:
                raise ConfigError(
                    f"grid.{key}: values must be distinct; {redact(dupes[0])} appears more "
                    "than once (use n_reps for replicates)"
                )
            _check_labels_distinct(key, checked)
            grid.append((key, checked))
        object.__setattr__(self, "grid", tuple(grid))
        object.__setattr__(self, "settings", self.settings)
        if self.n_cells > MAX_SWEEP_CELLS:
            sizes = " x ".join(f"{len(v)} {k}" for k, v in grid)
            raise ConfigError(
                f"grid: {sizes} make {self.n_cells:,} cells, more than the "
                f"{MAX_SWEEP_CELLS:,} a sweep may hold"
            )
        # Validate every cell before anything starts.
        for cell in range(self.n_cells):
            try:
                self.cell_config(cell, seed=0)
            except ConfigError as exc:
                raise ConfigError(f"cell {cell} ({self.describe_cell(cell)}): {exc}") from None

    @property
    def keys(self) -> tuple[str, ...]:
        """The swept keys, in grid order."""
        return tuple(k for k, _ in self.grid)

    @property
    def n_cells(self) -> int:
        return math.prod(len(v) for _, v in self.grid)

    def cell_params(self, cell: int) -> dict[str, Any]:
        """The swept values of one cell (as given, before path resolution)."""
        if not 0 <= cell < self.n_cells:
            raise ConfigError(f"cell must be in 0..{self.n_cells - 1}; got {cell}")
        params: dict[str, Any] = {}
        rest = cell
        for key, values in reversed(self.grid):
            rest, i = divmod(rest, len(values))
            params[key] = values[i]
        return {k: params[k] for k in self.keys}

    def iter_cells(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(cell index, swept values) in cell order."""
        for cell, combo in enumerate(itertools.product(*(v for _, v in self.grid))):
            yield cell, dict(zip(self.keys, combo, strict=True))

    @property
    def is_loop(self) -> bool:
        """Whether the cells are chained coupled runs (a ``[loop]`` sweep)."""
        return self.loop is not None

    def cell_values(self, cell: int, *, seed: int) -> dict[str, Any]:
        """Every SimulationConfig value of one cell (base, then its swept values, then seed);
        for a loop sweep, every ``[loop]`` value (defaults, ``[loop]``, swept values, seed)."""
        folder = Path(self.folder) if self.folder is not None else None
        if self.loop is not None:
            from spillover.loop import LOOP_KEYS

            values = {**LOOP_KEYS, **self.loop, **self.cell_params(cell), "seed": seed}
            if isinstance(values["events"], str) and folder is not None:
                values["events"] = str((folder / values["events"]).absolute())
            return values
        values = dict(self.base)
        values.update(_resolve_paths(self.cell_params(cell), folder))
        values["seed"] = seed
        return values

    def cell_config(self, cell: int, *, seed: int) -> SimulationConfig:
        """The validated configuration of one cell; ``seed`` is the sweep's root seed."""
        return SimulationConfig().replace(**self.cell_values(cell, seed=seed))

    def graph_cells(self) -> tuple[int, ...]:
        """For each cell, the cell whose graph it runs on: with ``share_graphs`` the first cell
        (lowest index) with its graph settings (:func:`spillover.pipeline.graph_settings`),
        else the cell itself."""
        if not self.settings.share_graphs or self.is_loop:
            return tuple(range(self.n_cells))
        from spillover.pipeline import graph_settings

        first: dict[tuple[Any, ...], int] = {}
        return tuple(
            first.setdefault(graph_settings(self.cell_config(cell, seed=0)), cell)
            for cell in range(self.n_cells)
        )

    def describe_cell(self, cell: int) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.cell_params(cell).items()) or "no grid"

    def fingerprint(self) -> dict[str, Any]:
        """What defines the sweep's results (not how it runs): compared when resuming.

        Credentials are masked (:func:`spillover._redact.redact_tree`: a key in a server URL
        does not change the results), so the fingerprint can be written to ``sweep.json``.
        """
        doc: dict[str, Any] = {
            "base": dict(self.base),
            "grid": [[k, list(v)] for k, v in self.grid],
        }
        if self.loop is not None:
            doc["loop"] = dict(self.loop)
        if self.settings.share_graphs:  # cells then run on other cells' graphs
            doc["share_graphs"] = True
        plain: dict[str, Any] = redact_tree(_plain(doc))
        return plain

    def to_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            **self.fingerprint(),
            "seed": self.seed,
            "source": self.source,
            "cell_order": "row-major over grid keys in order: the first key varies slowest",
            "settings": {
                "executor": s.executor_kind,
                "workers": s.workers,
                "scheduler": None if s.scheduler is None else redact(s.scheduler),
                "models": list(s.models),
                "llm_concurrency": s.llm_concurrency,
                "agent_tables": s.agent_tables,
                "share_graphs": s.share_graphs,
            },
        }


def _check_grid_shape(key: str, values: Any) -> None:
    if isinstance(values, str | bytes) or not isinstance(values, list | tuple):
        raise ConfigError(f"grid.{key}: expected a list of values")
    if not values:
        raise ConfigError(f"grid.{key}: needs at least one value")


def _check_labels_distinct(key: str, values: tuple[Any, ...]) -> None:
    """Refuse grid values that differ only where they are masked: cells are labelled by their
    masked values (``sweep.json``, the dataset's key columns), so such cells would share a
    label. The message names the key, never the values."""
    labels = [json.dumps(redact(v) if isinstance(v, str) else v, sort_keys=True) for v in values]
    if len(set(labels)) < len(labels):
        raise ConfigError(
            f"grid.{key}: two values differ only in a credential (masked in the cells' labels), "
            "so their cells could not be told apart; sweep a value that is not a secret"
        )


def _check_loop_spec(spec: SweepSpec) -> None:
    """Validate a loop sweep: ``[loop]`` and grid keys and types, then every cell's rates,
    emission rule and root event, before anything runs. Messages name keys, never values."""
    from spillover.loop import build_loop, check_loop_value, loop_root_event

    if spec.seed is not None and (
        isinstance(spec.seed, bool) or not isinstance(spec.seed, int) or spec.seed < 0
    ):
        raise ConfigError("seed must be an integer >= 0")
    if spec.base:
        raise ConfigError(
            "a loop sweep holds its settings in [loop]; [base] (simulate parameters) does not "
            "apply to the coupled model"
        )
    loop = dict(spec.loop or {})
    if "seed" in loop:
        raise ConfigError(
            "loop.seed: the seed of a sweep is its root seed, given at the top level "
            "(`seed = N`); each cell is seeded from it"
        )
    for key, value in loop.items():
        check_loop_value(key, value, "loop")
    object.__setattr__(spec, "loop", MappingProxyType(loop))
    grid: list[tuple[str, tuple[Any, ...]]] = []
    for key, given in spec.grid:
        if key == "seed":
            raise ConfigError("grid.seed: cells are seeded from the root seed and their index")
        if key in (k for k, _ in grid):
            raise ConfigError(f"grid.{key}: given twice")
        _check_grid_shape(key, given)
        checked = tuple(check_loop_value(key, v, "grid") for v in given)
        plain = [json.dumps(v) for v in checked]
        if len(set(plain)) < len(plain):
            raise ConfigError(f"grid.{key}: values must be distinct (use n_reps for replicates)")
        _check_labels_distinct(key, checked)
        grid.append((key, checked))
    object.__setattr__(spec, "grid", tuple(grid))
    if spec.n_cells > MAX_SWEEP_CELLS:
        raise ConfigError(
            f"grid: {spec.n_cells:,} cells, more than the {MAX_SWEEP_CELLS:,} a sweep may hold"
        )
    roots: set[tuple[Any, Any]] = set()
    for cell in range(spec.n_cells):
        values = spec.cell_values(cell, seed=0)
        try:
            build_loop(values, check_memory=spec.check_memory)
            if (values["events"], values["event_id"]) not in roots:
                loop_root_event(values)
                roots.add((values["events"], values["event_id"]))
        except ConfigError as exc:
            message = str(exc)
            for key in ("emission", "event_id"):  # strings that are not paths: never echoed
                if isinstance(values[key], str) and values[key]:
                    message = message.replace(repr(values[key]), "***")
                    message = message.replace(values[key], "***")
            raise ConfigError(f"cell {cell} ({', '.join(spec.keys)}): {message}") from None


def _settings(raw: Any, where: str, folder: Path) -> SweepSettings:
    if raw is None:
        return SweepSettings()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [sweep] must be a table of settings")
    unknown = sorted(set(raw) - _SETTING_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: sweep: unknown setting(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(_SETTING_KEYS))}"
        )
    values = dict(raw)
    models = values.get("models")
    if models is not None:
        if isinstance(models, str):
            models = [models]
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise ConfigError(f"{where}: sweep.models must be a list of model names")
        values["models"] = tuple(models)
    for key in ("executor", "scheduler", "out"):
        if key in values and not isinstance(values[key], str):
            raise ConfigError(f"{where}: sweep.{key} must be a string; got {values[key]!r}")
    if "out" in values:
        out = Path(values["out"])
        values["out"] = str(out if out.is_absolute() else folder / out)
    return SweepSettings(**values)


def read_sweep_config(path: str | os.PathLike[str], *, check_memory: bool = True) -> SweepSpec:
    """Read and validate a sweep file (TOML or YAML).

    Every cell's configuration is validated before this returns: an unknown key, a value of
    the wrong type, or a cell that breaks a rule of :class:`SimulationConfig` raises one
    :class:`ConfigError` naming it; so does a loop cell too large for the memory available
    here, unless ``check_memory`` is False (see :class:`SweepSpec`).
    """
    p = Path(path)
    raw = read_settings_file(p, "sweep")
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a table with [base], [grid] and seed")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError(
            f"{p}: unknown top-level key(s) {', '.join(map(repr, unknown))}; expected seed, "
            "[base] (simulate parameters) or [loop] (loop settings), [grid] (parameter -> "
            "list of values), [sweep]"
        )
    base = raw.get("base", {})
    grid = raw.get("grid", {})
    if not isinstance(base, dict):
        raise ConfigError(f"{p}: [base] must be a table of simulate parameters")
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(f"{p}: [grid] must map at least one parameter to a list of values")
    seed = raw.get("seed")
    folder = p.parent.absolute()
    loop = raw.get("loop")
    if loop is not None and not isinstance(loop, dict):
        raise ConfigError(f"{p}: [loop] must be a table of loop settings")
    if loop is not None and isinstance(raw.get("sweep"), dict) and "models" in raw["sweep"]:
        raise ConfigError(
            f"{p}: sweep.models does not apply to a loop sweep: its cells fit the coupling "
            "rates (fit_coupling)"
        )
    for name in ("agent_tables", "share_graphs"):
        if loop is not None and isinstance(raw.get("sweep"), dict) and name in raw["sweep"]:
            raise ConfigError(
                f"{p}: sweep.{name} does not apply to a loop sweep: its cells are runs of "
                "spillover loop"
            )
    try:
        return SweepSpec(
            base=base,
            grid=tuple((str(k), v) for k, v in grid.items()),
            seed=seed,
            settings=_settings(raw.get("sweep"), str(p), folder),
            source=str(p),
            folder=str(folder),
            loop=loop,
            check_memory=check_memory,
        )
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
