"""Writing and reading the run directory of a chained (coupled online-offline) run."""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spillover._redact import redact_tree
from spillover.exceptions import RunDirError
from spillover.io._rundir import (
    MANIFEST,
    dependency_versions,
    run_dir_writer,
    write_json,
    write_table,
)

if TYPE_CHECKING:
    from spillover.graphs import Graph
    from spillover.loop import LoopResult

__all__ = ["LOOP_TABLES", "is_loop_run", "read_loop_tables", "write_loop_dir"]

#: The tables of a chained run directory, by file name.
LOOP_TABLES = (
    "offline.parquet",
    "joins.parquet",
    "engagement.parquet",
    "cascades.parquet",
    "loop_events.parquet",
)


def _table(columns: dict[str, Any]) -> Any:
    import pyarrow as pa

    return pa.table({name: pa.array(values) for name, values in columns.items()})


def _acled_csv(result: LoopResult) -> str:
    from spillover.events import ACLED_COLUMNS

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(ACLED_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for e in result.events:
        ev = e.event
        writer.writerow(
            {
                "event_id_cnty": ev.event_id,
                "event_date": ev.date.isoformat(),
                "year": ev.date.year,
                "time_precision": 1,
                "disorder_type": "Demonstrations",
                "event_type": ev.event_type,
                "sub_event_type": ev.sub_event_type,
                "actor1": ev.actors[0],
                "country": ev.country,
                "admin1": ev.admin1,
                "location": ev.location,
                "source": "spillover loop (simulated)",
                "notes": ev.summary,
                "fatalities": ev.fatalities,
            }
        )
    return buf.getvalue()


def write_loop_dir(
    result: LoopResult,
    graph: Graph,
    out: str | os.PathLike[str],
    *,
    config: dict[str, Any],
    timings: dict[str, float],
    force: bool = False,
    extra: dict[str, Any] | None = None,
    attach: Callable[[Path], None] | None = None,
) -> Path:
    """Write a chained run atomically: the tables of :mod:`spillover.loop`, ``events.csv``
    (ACLED layout) and, last, ``manifest.json``; return the folder.

    ``attach(staging)`` may add files once the tables are written (a sweep cell's
    ``fits.json``); ``extra`` entries are added to the manifest (a sweep cell's ``sweep`` and
    ``command``), after ``attach`` so that timings it records are kept."""
    from spillover.loop import (
        cascade_columns,
        engagement_columns,
        event_columns,
        joins_columns,
        offline_columns,
    )

    builders = (offline_columns, joins_columns, engagement_columns, cascade_columns, event_columns)
    with run_dir_writer(out, force=force) as staging:
        for name, build in zip(LOOP_TABLES, builders, strict=True):
            write_table(_table(build(result)), staging / name)
        (staging / "events.csv").write_text(_acled_csv(result), encoding="utf-8")
        if attach is not None:
            attach(staging)
        doc = {
            "status": "complete",
            "kind": "loop",
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "config": config,
            "rates": result.rates.to_dict(),
            "loop": result.settings.to_dict(),
            "versions": dependency_versions(),
            "seed": result.seed_record.to_dict(),
            "graph": graph.summary(),
            "event": result.root_event.to_dict(),
            "summary": {
                "n_cascades": len(result.cascades),
                "n_events": len(result.events),
                "generations": max(c.generation for c in result.cascades),
            },
            "timings": {k: round(v, 6) for k, v in timings.items()},
            **(extra or {}),
        }
        # No credential reaches a manifest (the command line may hold anything).
        write_json(redact_tree(doc), staging / MANIFEST)
    return Path(out)


def is_loop_run(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a run directory written by :func:`write_loop_dir`."""
    p = Path(path)
    return p.is_dir() and (p / "offline.parquet").is_file() and (p / MANIFEST).is_file()


def read_loop_tables(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The tables of a chained run directory as ``{file stem: {column: ndarray}}``."""
    import pyarrow.parquet as pq

    p = Path(path)
    out: dict[str, Any] = {}
    for name in LOOP_TABLES:
        f = p / name
        if not f.is_file():
            raise RunDirError(f"{p} is not a complete loop run: {name} is missing")
        table = pq.read_table(f)
        out[name.removesuffix(".parquet")] = {
            col: table.column(col).to_numpy(zero_copy_only=False) for col in table.column_names
        }
    return out
