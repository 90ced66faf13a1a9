"""Running a study: its sweep, then the pooled analysis into ``study.json`` and query tables.

The study folder is the sweep folder (``sweep.json``, ``cells/``, ``dataset/``), plus
``study.json`` and ``tables/*.parquet`` (views of ``spillover query``); the report layer adds
``study.html``. Both study files are written atomically after the analysis, and removed when
a run starts, so a study folder never shows results that belong to another run.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spillover._redact import redact_tree
from spillover.study._spec import StudySpec

__all__ = ["STUDY_JSON", "StudySummary", "analyse_study", "run_study", "write_study_tables"]

STUDY_JSON = "study.json"
#: Files of the study folder that the study writes (besides the sweep's own).
STUDY_FILES = (STUDY_JSON, "study.html")


@dataclass(frozen=True)
class StudySummary:
    """What :func:`run_study` did: the sweep's summary, the analysis time, the document."""

    path: Path
    sweep: Any
    analysis_s: float
    document: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.sweep.ok)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def document_head(
    spec: StudySpec,
    sweep: Any,
    n_complete: int,
    *,
    created_utc: str | None,
    study_kind: str | None = None,
) -> dict[str, Any]:
    """The first keys of ``study.json``, in order: format, kind (and ``study_kind``), when,
    status, design, root seed, cell counts and the sweep's failed cells."""
    head: dict[str, Any] = {"format": 1, "kind": "spillover-study"}
    if study_kind is not None:
        head["study_kind"] = study_kind
    failed = [
        {"cell": c.cell, "params": dict(c.params), "error": c.error} for c in sweep.failed_cells()
    ]
    return {
        **head,
        "created_utc": created_utc,
        "status": "complete" if n_complete == spec.n_cells else "incomplete",
        "design": redact_tree(spec.design()),  # a server's URL may carry a key
        "root_seed": sweep.seed,
        "n_cells": spec.n_cells,
        "n_complete": n_complete,
        "failed_cells": failed,
    }


def analyse_study(
    spec: StudySpec, root: str | os.PathLike[str], *, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """The ``study.json`` document of a study folder whose sweep has run (complete cells only).

    Returns
    -------
    dict
        ``design``, ``status`` (``complete``, or ``incomplete`` with the failed cells),
        ``cells``, ``pooled``, ``best_counts``, ``verdict``, ``rates_by_event_type``,
        ``effects``, ``mean_field``; see docs/study.md.
    """
    from spillover.study._analysis import (
        analyse_cells,
        effects_summary,
        mean_field_errors,
        rates_by_event_type,
    )
    from spillover.study._pool import load_cells
    from spillover.sweeps import load_sweep

    t0 = time.perf_counter()
    sweep = load_sweep(root)
    cells = load_cells(Path(root), sweep.complete_cells())
    fitted = analyse_cells(spec, cells, progress=progress)
    analyses = fitted.pop("_analyses")
    if progress is not None:
        progress("event-type and trait effects")
    effects = effects_summary(spec, cells)
    by_type = fitted["pooled"]["by_event_type"]
    readings = {t: (d.get("verdict") or {}).get("reading") for t, d in by_type.items()}
    best = {t: d.get("best") for t, d in by_type.items()}
    available = any(r is not None for r in readings.values())
    return {
        **document_head(spec, sweep, len(cells), created_utc=_now()),
        "cells": fitted["cells"],
        "pooled": fitted["pooled"],
        "best_counts": fitted["best_counts"],
        "verdict": {
            "available": available,
            "overall": _agreed(readings.values()) if available else None,
            "by_event_type": readings if available else None,
            "cells_supporting": fitted["verdict_counts"],
            "all_cells": (fitted["pooled"].get("all", {}).get("verdict") or {}).get("reading"),
            "best_overall": _agreed(best.values()),
            "best_by_event_type": best,
            "best_all_cells": fitted["pooled"].get("all", {}).get("best"),
        },
        "rates_by_event_type": rates_by_event_type(spec, analyses),
        "effects": effects,
        "mean_field": mean_field_errors(cells, analyses),
        "analysis_s": round(time.perf_counter() - t0, 3),
    }


def _agreed(values: Any) -> str | None:
    """The one value all pools agree on, ``"mixed"`` when they differ, None without any."""
    distinct = {v for v in values if v is not None}
    if not distinct:
        return None
    return distinct.pop() if len(distinct) == 1 else "mixed"


def _fit_rows(group: str, key: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for m in doc.get("models", []):
        for param, value in m.get("params", {}).items():
            values = value if isinstance(value, list) else [value]
            for i, v in enumerate(values):
                se = m.get("stderr", {}).get(param)
                se = se[i] if isinstance(se, list) else se
                rows.append(
                    {
                        "group": group,
                        "key": key,
                        "model": m["name"],
                        "param": param,
                        "index": i if isinstance(value, list) else None,
                        "value": v,
                        "stderr": se,
                        "loglik": m.get("loglik"),
                        "bic": m.get("bic"),
                        "aic": m.get("aic"),
                        "delta_bic": m.get("delta_bic"),
                        "held_out_loglik": m.get("held_out_loglik"),
                        "status": m.get("status"),
                        "best": m["name"] == doc.get("best"),
                    }
                )
    return rows


def _write_parquet(rows: Sequence[dict[str, Any]], path: Path, schema: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(list(rows), schema=schema)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        pq.write_table(table, tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_study_tables(document: dict[str, Any], root: Path) -> list[Path]:
    """The study's results as Parquet tables in ``root/tables`` (views of ``spillover query``):
    ``study_cells``, ``pooled_fits``, ``rates``, ``effects``, ``mean_field``."""
    import pyarrow as pa

    from spillover.io import new_staging, publish

    folder = new_staging(root / "tables")
    f64: pa.DataType = pa.float64()
    s: pa.DataType = pa.string()
    i64: pa.DataType = pa.int64()
    cells = [
        {
            "cell": d["cell"],
            "event_id": d["event_id"],
            "event_type": d["event_type"],
            "degree": d["degree"],
            "best": d["best"],
            "reading": (d.get("verdict") or {}).get("reading"),
            "final_informed_mean": d["final_informed_mean"],
        }
        for d in document["cells"]
    ]
    fits: list[dict[str, Any]] = []
    for d in document["cells"]:
        fits += _fit_rows("cell", str(d["cell"]), d)
    pooled = document["pooled"]
    if "all" in pooled:
        fits += _fit_rows("all", "all", pooled["all"])
    for t, d in pooled["by_event_type"].items():
        fits += _fit_rows("event_type", t, d)
    for k, d in pooled["by_degree"].items():
        fits += _fit_rows("degree", k, d)
    effects = [
        {**r, "kind": "trait", "event_type": None} for r in document["effects"]["traits"]
    ] + [{**r, "kind": "event_type"} for r in document["effects"]["event_types"]]
    tables = {
        "study_cells": (
            cells,
            pa.schema(
                [
                    ("cell", i64),
                    ("event_id", s),
                    ("event_type", s),
                    ("degree", i64),
                    ("best", s),
                    ("reading", s),
                    ("final_informed_mean", f64),
                ]
            ),
        ),
        "pooled_fits": (
            fits,
            pa.schema(
                [("group", s), ("key", s), ("model", s), ("param", s), ("index", i64)]
                + [(n, f64) for n in ("value", "stderr", "loglik", "bic", "aic", "delta_bic")]
                + [("held_out_loglik", f64), ("status", s), ("best", pa.bool_())]
            ),
        ),
        "rates": (
            document["rates_by_event_type"],
            pa.schema(
                [("event_type", s), ("model", s), ("param", s)]
                + [(n, f64) for n in ("estimate", "stderr", "ci_low", "ci_high", "truth")]
            ),
        ),
        "effects": (
            effects,
            pa.schema(
                [("kind", s), ("channel", s), ("term", s), ("event_type", s)]
                + [
                    (n, f64)
                    for n in (
                        "log_hazard_ratio",
                        "stderr",
                        "ci_low",
                        "ci_high",
                        "hazard_ratio",
                        "z",
                        "p_value",
                        "truth",
                    )
                ]
            ),
        ),
        "mean_field": (
            document["mean_field"]["cells"],
            pa.schema(
                [("cell", i64), ("degree", i64), ("event_type", s)]
                + [(n, f64) for n in ("mean_field_max", "mean_field_mean", "pair_max", "pair_mean")]
            ),
        ),
    }
    names = []
    try:
        for name, (rows, schema) in tables.items():
            plain = [{k: _finite(r.get(k)) for k in schema.names} for r in rows]
            _write_parquet(plain, folder / f"{name}.parquet", schema)
            names.append(f"{name}.parquet")
        publish(folder, root / "tables", "tables")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return [root / "tables" / n for n in names]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    return value


def _remove_study_files(root: Path) -> None:
    """Remove the study files of an earlier run (never a file spillover did not write), once
    the sweep has accepted the folder: a study refused at the start leaves them."""
    from spillover.io import owns_file

    for name in STUDY_FILES:
        if owns_file(root / name):
            (root / name).unlink(missing_ok=True)


def run_study(
    spec: StudySpec,
    out: str | os.PathLike[str],
    *,
    executor: Any = None,
    force: bool = False,
    progress: Any = None,
    analysis_progress: Callable[[str], None] | None = None,
    command: Sequence[str] | None = None,
) -> StudySummary:
    """Run (or resume) a study's sweep into ``out``, then analyse it into ``study.json``.

    The sweep is :func:`spillover.sweeps.run_sweep` (same executors, resume, cache and
    seeding); failed cells are recorded and left out of the analysis (``status:
    incomplete``).
    """
    from spillover.io import dumps_json, write_owned_text
    from spillover.sweeps import run_sweep, sweep_lock

    root = Path(out).absolute()
    argv = list(command) if command is not None else ["spillover", *sys.argv[1:]]
    summary = run_sweep(
        spec.sweep_spec(),
        root,
        executor=executor,
        force=force,
        progress=progress,
        command=argv,
        on_start=_remove_study_files,
    )
    t0 = time.perf_counter()
    with sweep_lock(root):
        if spec.is_loop:
            from spillover.study._loop import analyse_loop_study, write_loop_study_tables

            document = analyse_loop_study(
                spec, root, progress=analysis_progress, created_utc=_now()
            )
            write_loop_study_tables(document, root)
        else:
            document = analyse_study(spec, root, progress=analysis_progress)
            write_study_tables(document, root)
        document["command"] = redact_tree(argv)
        write_owned_text(root / STUDY_JSON, dumps_json(document, indent=2) + "\n")
    return StudySummary(
        path=root, sweep=summary, analysis_s=time.perf_counter() - t0, document=document
    )
