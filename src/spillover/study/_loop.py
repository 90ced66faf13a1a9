"""The analysis of a loop study: coupling rates per cell and per pool, offline outbreak size
against the closures' predictions, the critical online-to-offline rate of each cell.

A loop study's cells are loop sweep cells, so the sweep's dataset already holds each cell's
coupling fit (``coupling``) and outbreak size per loop replicate (``outbreaks``); this module
adds the generating rates, the pooled fits (the cells of one event type and one value of every
swept ``[loop]`` key share every rate, so their tables are fitted together), the predictions
of the coupled maps named by ``analysis.models`` and the query tables.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spillover.study._spec import StudySpec

__all__ = ["RATE_NAMES", "analyse_loop_study", "write_loop_study_tables"]

#: Rates of the coupled model, in the order they are shown.
RATE_NAMES = ("eta", "kappa", "gamma", "delta", "alpha", "beta")


def _estimate(row: Mapping[str, Any], truth: float | None) -> dict[str, Any]:
    est, lo, hi = row.get("estimate"), row.get("low"), row.get("high")
    covered = None
    if truth is not None and lo is not None and hi is not None:
        covered = bool(lo <= truth <= hi)
    return {
        "estimate": est,
        "low": lo,
        "high": hi,
        "n_trials": row.get("n_trials"),
        "n_events": row.get("n_events"),
        "truth": truth,
        "covered": covered,
    }


def _rates(fitted: Mapping[str, Mapping[str, Any]], values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: _estimate(fitted[name], float(values[name])) for name in RATE_NAMES if name in fitted
    }


def _outbreak(
    sizes: np.ndarray, peaks: np.ndarray, events: np.ndarray, cascades: np.ndarray
) -> dict[str, Any] | None:
    if sizes.size == 0:
        return None
    p5, p50, p95 = np.percentile(sizes, [5, 50, 95])
    return {
        "n_loops": int(sizes.size),
        "offline_size_mean": float(sizes.mean()),
        "offline_size_median": float(p50),
        "offline_size_p5": float(p5),
        "offline_size_p95": float(p95),
        "peak_share_mean": float(peaks.mean()),
        "n_events": int(events.sum()),
        "n_cascades": int(cascades.sum()),
    }


def _predictions(
    models: Sequence[str], values: Mapping[str, Any], median: float | None
) -> dict[str, Any]:
    """Each coupled map at the cell's generating rates: final offline size, peak share, the
    error against the simulated median, and the critical ``eta`` of its closure."""
    from spillover.loop import critical_eta
    from spillover.models import coupled_map

    out = {}
    for name in models:
        curves = coupled_map(
            name,
            beta=values["beta"],
            eta=values["eta"],
            delta=values["delta"],
            degree=values["degree"],
            i0=values["n_seeds"] / values["n_nodes"],
            n_rounds=values["n_rounds"],
            alpha=values["alpha"],
            gamma=values["gamma"],
            kappa=values["kappa"],
        )
        final = float(np.asarray(curves.ever_participated)[..., -1])
        out[name] = {
            "offline_size": final,
            "peak_share": float(np.asarray(curves.participating).max()),
            "error": None if median is None else final - median,
            "critical_eta": critical_eta(
                float(values["beta"]), float(values["gamma"]), int(values["degree"]), name
            ),
        }
    return out


def _pooled_fit(run_dirs: Sequence[Path]) -> dict[str, Any]:
    """The coupling rates fitted to the concatenated tables of cells with the same rates
    (loop replicates renumbered so that each cell's cascades stay apart)."""
    from spillover.fit import get_model
    from spillover.io import read_loop_tables

    parts = [read_loop_tables(d) for d in run_dirs]
    pooled: dict[str, dict[str, Any]] = {}
    offset = 0
    for tables in parts:
        width = int(np.max(tables["offline"]["replicate"], initial=-1)) + 1
        for name in ("offline", "joins", "engagement"):
            table = tables[name]
            into = pooled.setdefault(name, {col: [] for col in table})
            for col, values in table.items():
                into[col].append(values + offset if col == "replicate" else values)
        offset += width
    joined = {
        name: {col: np.concatenate(chunks) for col, chunks in table.items()}
        for name, table in pooled.items()
    }
    fit = get_model("loop-pair").fit_coupled(joined)
    return {name: r.to_dict() for name, r in fit.rates.items()}


def _pools(
    spec: StudySpec, cells: Sequence[dict[str, Any]], values: Mapping[int, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for c in cells:
        key = (c["event_type"], *(c["params"][k] for k, _ in spec.loop_grid))
        groups.setdefault(key, []).append(c)
    out = []
    for key, members in groups.items():
        first = values[members[0]["cell"]]
        rates = _pooled_fit([Path(c["run_dir"]) for c in members])
        out.append(
            {
                "event_type": key[0],
                "params": dict(zip((k for k, _ in spec.loop_grid), key[1:], strict=True)),
                "cells": [c["cell"] for c in members],
                "degrees": sorted({c["degree"] for c in members}),
                "rates": _rates(rates, first),
            }
        )
    return out


def _coverage(cells: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for c in cells:
        for name, r in c["coupling"].items():
            if r["covered"] is None:
                continue
            entry = out.setdefault(name, {"cells": 0, "covered": 0})
            entry["cells"] += 1
            entry["covered"] += int(r["covered"])
    return out


def analyse_loop_study(
    spec: StudySpec,
    root: str | Path,
    *,
    progress: Callable[[str], None] | None = None,
    created_utc: str | None = None,
) -> dict[str, Any]:
    """The ``study.json`` document of a loop study whose sweep has run (complete cells only):
    ``cells`` (coupling rates with the generating values, outbreak size, predictions),
    ``pooled`` (rates per event type and swept values), ``coverage``; see docs/study.md."""
    from spillover.study._run import document_head
    from spillover.sweeps import load_sweep

    t0 = time.perf_counter()
    sweep = load_sweep(root)
    sweep_spec = spec.sweep_spec(check_memory=False)  # the cells have run: nothing allocated
    complete = sweep.complete_cells()
    coupling: dict[int, dict[str, Any]] = {}
    for row in sweep.read_table("coupling").to_pylist():
        coupling.setdefault(int(row["cell"]), {})[row["rate"]] = row
    ob = sweep.read_table("outbreaks").to_pydict()
    ob_cell = np.asarray(ob["cell"], dtype=np.int64)
    columns = ("offline_size", "peak_share", "n_events", "n_cascades")
    ob_cols = {k: np.asarray(ob[k], dtype=np.float64) for k in columns}
    if progress is not None:
        progress(f"coupling rates and predictions of {len(complete)} cells")
    values = {c.cell: sweep_spec.cell_values(c.cell, seed=0) for c in complete}
    cells = []
    for c in complete:
        event = spec.cell_event(c.cell)
        sel = ob_cell == c.cell
        outbreak = _outbreak(*(ob_cols[k][sel] for k in columns))
        median = None if outbreak is None else outbreak["offline_size_median"]
        cells.append(
            {
                "cell": c.cell,
                "event_id": event.event_id,
                "event_type": event.event_type,
                "degree": spec.cell_degree(c.cell),
                "params": spec.cell_loop_params(c.cell),
                "run_dir": str(c.run_dir),
                "rates": {k: float(values[c.cell][k]) for k in RATE_NAMES},
                "coupling": _rates(coupling.get(c.cell, {}), values[c.cell]),
                "outbreak": outbreak,
                "predicted": _predictions(spec.models, values[c.cell], median),
            }
        )
    if progress is not None:
        progress("pooled coupling rates")
    return {
        **document_head(spec, sweep, len(cells), created_utc=created_utc, study_kind="loop"),
        "cells": cells,
        "pooled": _pools(spec, cells, values),
        "coverage": _coverage(cells),
        "analysis_s": round(time.perf_counter() - t0, 3),
    }


def _cell_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    models = document["design"]["analysis"]["models"]
    rows = []
    for c in document["cells"]:
        o = c["outbreak"] or {}
        row: dict[str, Any] = {
            "cell": c["cell"],
            "event_id": c["event_id"],
            "event_type": c["event_type"],
            "degree": c["degree"],
            **c["params"],
            **{f"offline_size_{k}": o.get(f"offline_size_{k}") for k in ("mean", "median")},
            "offline_size_p5": o.get("offline_size_p5"),
            "offline_size_p95": o.get("offline_size_p95"),
            "peak_share_mean": o.get("peak_share_mean"),
            "n_events": o.get("n_events"),
            "n_cascades": o.get("n_cascades"),
        }
        for name in models:
            p = c["predicted"][name]
            tag = name.replace("-", "_")
            row[f"{tag}_offline_size"] = p["offline_size"]
            row[f"{tag}_critical_eta"] = p["critical_eta"]
        rows.append(row)
    return rows


def _rate_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for c in document["cells"]:
        for name, r in c["coupling"].items():
            rows.append(
                {"group": "cell", "key": str(c["cell"]), "event_type": c["event_type"]}
                | {"degree": c["degree"], "rate": name}
                | r
            )
    for p in document["pooled"]:
        key = ", ".join([p["event_type"], *(f"{k}={v}" for k, v in p["params"].items())])
        for name, r in p["rates"].items():
            rows.append(
                {"group": "pool", "key": key, "event_type": p["event_type"], "degree": None}
                | {"rate": name}
                | r
            )
    return rows


def write_loop_study_tables(document: dict[str, Any], root: Path) -> list[Path]:
    """A loop study's results as ``root/tables/study_cells.parquet`` (one row per cell) and
    ``root/tables/coupling_fits.parquet`` (one row per cell or pool and rate)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spillover.io import new_staging, publish

    f64: pa.DataType = pa.float64()
    i64: pa.DataType = pa.int64()
    s: pa.DataType = pa.string()
    rate_schema = pa.schema(
        [("group", s), ("key", s), ("event_type", s), ("degree", i64), ("rate", s)]
        + [(n, f64) for n in ("estimate", "low", "high")]
        + [("n_trials", i64), ("n_events", i64), ("truth", f64), ("covered", pa.bool_())]
    )
    cell_rows = _cell_rows(document)
    # No complete cell: the view keeps its leading columns (the others depend on the cells).
    empty = pa.schema([("cell", i64), ("event_id", s), ("event_type", s), ("degree", i64)])
    tables = {
        "study_cells": pa.Table.from_pylist(cell_rows) if cell_rows else empty.empty_table(),
        "coupling_fits": pa.Table.from_pylist(_rate_rows(document), schema=rate_schema),
    }
    folder = new_staging(root / "tables")
    try:
        for name, table in tables.items():
            pq.write_table(table, folder / f"{name}.parquet")
        publish(folder, root / "tables", "tables")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return [root / "tables" / f"{n}.parquet" for n in tables]
