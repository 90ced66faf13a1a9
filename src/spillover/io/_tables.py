"""Reading the inputs of ``spillover fit``: run directories, exposure and curve tables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spillover.exceptions import ConfigError
from spillover.trajectories import AgentHistories, Curves, ExposureTable

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["FitInput", "read_fit_input", "read_table"]

EXPOSURE_COLUMNS = ("replicate", "round", "persona", "n_exposed", "at_risk", "shared")
CURVE_COLUMNS = ("replicate", "round", "informed", "n_nodes")
AGENT_COLUMNS = (
    "replicate",
    "agent",
    "persona",
    "rounds_at_risk",
    "exposure_rounds",
    "exposed_at_share",
    "shared",
)


@dataclass(frozen=True)
class FitInput:
    """What a fit input holds: any of exposures, curves and agent histories, plus context."""

    source: str
    exposures: ExposureTable | None = None
    curves: Curves | None = None
    agents: AgentHistories | None = None
    degree: int | None = None
    manifest: dict[str, Any] | None = None

    @property
    def graph(self) -> dict[str, Any] | None:
        """The run's graph summary (``manifest.json``'s ``graph``: degrees, ``is_regular``);
        None for a table, whose graph is unknown."""
        if self.manifest is None:
            return None
        graph = self.manifest.get("graph")
        return graph if isinstance(graph, dict) else None

    @property
    def persona_shares(self) -> np.ndarray | None:
        """The share of agents of each persona (catalog order), from the run's manifest;
        None for a table, which does not record them."""
        counts = (self.manifest or {}).get("personas", {}).get("count_by_persona")
        if not counts:
            return None
        arr = np.asarray(counts, dtype=np.float64)
        return arr / arr.sum() if arr.sum() > 0 else None

    @property
    def forecast_seed(self) -> np.random.SeedSequence | int:
        """The seed of forecast bands: the ``forecast`` stream of the run's seed record
        (``manifest.json``'s ``seed``), so that a run's forecast repeats; 0 for a table or a
        manifest without one."""
        from spillover._rng import SeedRecord

        doc = (self.manifest or {}).get("seed")
        if not isinstance(doc, dict):
            return 0
        try:
            return SeedRecord.from_dict(doc).stream("forecast")
        except ConfigError:
            return 0


def read_table(path: str | os.PathLike[str]) -> pa.Table:
    """A Parquet or CSV file as an Arrow table; ConfigError naming the file when unreadable."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, not a table file")
    if not p.is_file():
        raise ConfigError(f"{p}: no such file")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pq.read_table(p)
        if suffix == ".csv":
            return pacsv.read_csv(p)
    except (pa.ArrowInvalid, OSError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{p}: cannot be read as {suffix[1:]}: {detail}") from None
    raise ConfigError(f"{p}: tables must be .parquet or .csv")


def _columns(table: pa.Table, names: tuple[str, ...], source: str) -> dict[str, np.ndarray]:
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise ConfigError(
            f"{source}: missing column(s) {', '.join(missing)}; "
            f"has {', '.join(table.column_names) or 'none'}"
        )
    out = {}
    for name in names:
        col = table.column(name)
        if col.null_count:
            raise ConfigError(f"{source}: column {name!r} has {col.null_count} empty value(s)")
        values = col.to_numpy()
        if not np.issubdtype(values.dtype, np.number):
            raise ConfigError(f"{source}: column {name!r} must be numeric; got {col.type}")
        out[name] = values
    return out


def exposures_from_table(table: pa.Table, source: str) -> ExposureTable:
    if table.num_rows == 0:
        raise ConfigError(f"{source}: the exposure table is empty")
    columns = _columns(table, EXPOSURE_COLUMNS, source)
    try:
        return ExposureTable(**columns)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def curves_from_table(table: pa.Table, source: str) -> Curves:
    """Cumulative counts ``replicate, round, informed, n_nodes`` (``persona`` optional)."""
    if table.num_rows == 0:
        raise ConfigError(f"{source}: the curves table is empty")
    cols = _columns(table, CURVE_COLUMNS, source)
    n_nodes = np.unique(cols["n_nodes"])
    if n_nodes.size != 1 or n_nodes[0] < 1:
        raise ConfigError(f"{source}: n_nodes must be one positive value; got {n_nodes[:5]}")
    informed = cols["informed"]
    if (informed < 0).any() or (informed > n_nodes[0]).any():
        raise ConfigError(f"{source}: informed must be between 0 and n_nodes ({n_nodes[0]})")
    if "persona" in table.column_names:
        persona = table.column("persona").to_numpy()
    else:
        persona = np.zeros(table.num_rows, dtype=np.int64)
    reps, rep_idx = np.unique(cols["replicate"], return_inverse=True)
    rounds = np.unique(cols["round"])
    if rounds[0] != 0 or not np.array_equal(rounds, np.arange(rounds.size)):
        raise ConfigError(f"{source}: rounds must run 0, 1, 2, ... without gaps")
    classes, cls_idx = np.unique(persona, return_inverse=True)
    grid = np.full((reps.size, rounds.size, classes.size), -1, dtype=np.int64)
    grid[rep_idx, cols["round"].astype(np.int64), cls_idx] = informed
    if (grid < 0).any():
        raise ConfigError(f"{source}: every replicate needs a row for every round")
    total = grid.sum(axis=2)
    if (np.diff(total, axis=1) < 0).any():
        raise ConfigError(f"{source}: informed must be cumulative (never decrease)")
    return Curves(grid, n_nodes=int(n_nodes[0]))


def _table_kind(table: pa.Table) -> str:
    names = set(table.column_names)
    if {"at_risk", "shared", "n_exposed"} <= names:
        return "exposures"
    if {"informed", "n_nodes"} <= names:
        return "curves"
    if {"rounds_at_risk", "exposure_rounds"} <= names:
        return "agents"
    raise ConfigError(
        "cannot tell what the table holds: expected exposure columns "
        f"({', '.join(EXPOSURE_COLUMNS)}) or curve columns ({', '.join(CURVE_COLUMNS)}); "
        f"got {', '.join(table.column_names)}"
    )


def read_fit_input(path: str | os.PathLike[str]) -> FitInput:
    """A run directory, or an exposures / curves table (.parquet or .csv).

    A run directory gives its exposures, curves, agent histories (when present) and the
    degree of its graph when the graph is regular.
    """
    from spillover.io._rundir import read_manifest

    p = Path(path)
    if p.is_dir():
        manifest = read_manifest(p)
        exposures = exposures_from_table(read_table(p / "exposures.parquet"), str(p))
        curves = curves_from_table(read_table(p / "curves.parquet"), str(p))
        agents = None
        if (p / "agents.parquet").is_file():
            agents = AgentHistories(
                **_columns(read_table(p / "agents.parquet"), AGENT_COLUMNS, str(p))
            )
        graph = manifest.get("graph", {})
        degree = int(graph["max_degree"]) if graph.get("is_regular") else None
        return FitInput(str(p), exposures, curves, agents, degree, manifest)
    if not p.exists():
        raise ConfigError(f"{p}: no such file or run directory")
    table = read_table(p)
    kind = _table_kind(table)
    if kind == "exposures":
        return FitInput(str(p), exposures=exposures_from_table(table, str(p)))
    if kind == "curves":
        return FitInput(str(p), curves=curves_from_table(table, str(p)))
    raise ConfigError(
        f"{p}: an agent-histories table alone cannot be fitted; pass the run directory that "
        "holds it (with exposures.parquet)"
    )
