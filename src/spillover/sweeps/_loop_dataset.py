"""The dataset tables of a loop sweep (cells that are chained coupled runs).

Three tables, one partition per complete cell, each with one column per swept key:

- ``coupling``: one row per fitted rate (``rate, estimate, low, high, n_trials, n_events``),
  the cell's ``fits.json`` (what ``spillover fit CELL --json`` prints);
- ``outbreaks``: one row per loop replicate: ``replicate, n_nodes, n_cascades, n_events,
  offline_size`` (share of agents that took part offline in the root cascade),
  ``peak_share`` (its peak participating share) and ``total_participated`` (participations
  over every cascade of the loop, as a share of the agents);
- ``cascades``: the cell's ``cascades.parquet``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from spillover.exceptions import RunDirError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["LOOP_DATASET_TABLES", "loop_cell_table", "loop_empty_schema"]

#: The tables of a loop sweep's dataset, and its views in ``spillover query``.
LOOP_DATASET_TABLES: Final[tuple[str, ...]] = ("coupling", "outbreaks", "cascades")


def _read(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path} cannot be read: {exc}") from None


def _fits(run_dir: Path) -> dict[str, Any]:
    """The cell's ``fits.json``, or the coupling fit again from its tables."""
    from spillover.io import read_loop_tables
    from spillover.sweeps._run import loop_fits_document

    path = run_dir / "fits.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "loop" and isinstance(doc.get("rates"), dict):
        return doc
    return loop_fits_document(read_loop_tables(run_dir))


def _coupling(run_dir: Path) -> pa.Table:
    import pyarrow as pa

    rates = _fits(run_dir)["rates"]
    names = sorted(rates)
    return pa.table(
        {
            "rate": pa.array(names, pa.string()),
            **{
                col: pa.array([rates[n].get(col) for n in names], pa.float64())
                for col in ("estimate", "low", "high")
            },
            **{
                col: pa.array([rates[n].get(col) for n in names], pa.int64())
                for col in ("n_trials", "n_events")
            },
        },
        schema=loop_empty_schema("coupling", {}).remove(0),
    )


def _outbreaks(run_dir: Path) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    from spillover.io import read_manifest

    n_nodes = int(read_manifest(run_dir)["graph"]["n_nodes"])
    cascades = _read(run_dir / "cascades.parquet")
    events = _read(run_dir / "loop_events.parquet")
    rep = cascades.column("replicate").to_numpy()
    root = cascades.column("cascade").to_numpy() == 0
    ever = cascades.column("ever_participated").to_numpy()
    peak = cascades.column("peak_participating").to_numpy()
    ev_rep = events.column("replicate").to_numpy()
    reps = np.unique(rep)
    return pa.table(
        {
            "replicate": pa.array(reps, pa.int64()),
            "n_nodes": pa.array([n_nodes] * reps.size, pa.int64()),
            "n_cascades": pa.array([int((rep == r).sum()) for r in reps], pa.int64()),
            "n_events": pa.array([int((ev_rep == r).sum()) for r in reps], pa.int64()),
            "offline_size": pa.array(
                [float(ever[root & (rep == r)].sum()) / n_nodes for r in reps], pa.float64()
            ),
            "peak_share": pa.array(
                [float(peak[root & (rep == r)].max()) / n_nodes for r in reps], pa.float64()
            ),
            "total_participated": pa.array(
                [float(ever[rep == r].sum()) / n_nodes for r in reps], pa.float64()
            ),
        }
    )


def loop_cell_table(run_dir: Path, table: str) -> pa.Table:
    """One dataset table of a complete loop cell, from its run directory."""
    if table == "coupling":
        return _coupling(run_dir)
    if table == "outbreaks":
        return _outbreaks(run_dir)
    return _read(run_dir / "cascades.parquet")


def loop_empty_schema(table: str, params: dict[str, pa.DataType]) -> pa.Schema:
    """The schema of a loop table with no partition yet (``cell``, its columns, the keys)."""
    import pyarrow as pa

    i64, f64 = pa.int64(), pa.float64()
    fields: list[tuple[str, pa.DataType]]
    if table == "coupling":
        fields = [("rate", pa.string()), ("estimate", f64), ("low", f64), ("high", f64)]
        fields += [("n_trials", i64), ("n_events", i64)]
    elif table == "outbreaks":
        fields = [("replicate", i64), ("n_nodes", i64), ("n_cascades", i64), ("n_events", i64)]
        fields += [("offline_size", f64), ("peak_share", f64), ("total_participated", f64)]
    else:
        fields = [("replicate", i64), ("cascade", i64), ("generation", i64), ("parent", i64)]
        fields += [("parent_event_id", pa.string()), ("start_round", i64), ("n_seeds", i64)]
        fields += [("ever_engaged", i64), ("ever_participated", i64)]
        fields += [("peak_participating", i64)]
    names = {n for n, _ in fields}
    fields += [(k, t) for k, t in params.items() if k not in names]
    return pa.schema([("cell", pa.int32()), *fields])
