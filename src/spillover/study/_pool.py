"""The cells of a finished study, and their tables pooled over groups of cells."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from spillover.trajectories import AgentHistories, Curves, ExposureTable

__all__ = ["StudyCell", "load_cells", "pool_agents", "pool_exposures"]

_T = TypeVar("_T", ExposureTable, AgentHistories)


@dataclass(frozen=True)
class StudyCell:
    """One complete cell: where it sits in the design, and the data it produced."""

    cell: int
    event_id: str
    event_type: str
    degree: int
    run_dir: Path
    exposures: ExposureTable
    agents: AgentHistories | None
    curves: Curves
    manifest: dict[str, Any]


def load_cells(sweep_root: Path, cells: Sequence[Any]) -> list[StudyCell]:
    """Read the run directories of complete sweep cells (``SweepCell`` values)."""
    from spillover.io import read_fit_input

    out = []
    for cell in cells:
        data = read_fit_input(cell.run_dir)
        assert data.exposures is not None and data.curves is not None
        manifest = data.manifest or {}
        event = manifest.get("event", {})
        out.append(
            StudyCell(
                cell=cell.cell,
                event_id=str(event.get("event_id", cell.params.get("event_id"))),
                event_type=str(event.get("event_type", "")),
                degree=int(cell.params["degree"]),
                run_dir=Path(cell.run_dir),
                exposures=data.exposures,
                agents=data.agents,
                curves=data.curves,
                manifest=manifest,
            )
        )
    return out


def _concat(tables: Sequence[_T], offsets: Sequence[int]) -> _T:
    """Tables of several cells as one, replicates renumbered so that each cell's stay apart
    (held-out folds then split whole replicates of whole cells)."""
    kind = type(tables[0])
    columns: dict[str, np.ndarray] = {}
    for name in tables[0].columns():
        parts = [t.columns()[name] for t in tables]
        if name == "replicate":
            parts = [p.astype(np.int64) + off for p, off in zip(parts, offsets, strict=True)]
        columns[name] = np.concatenate(parts)
    return kind(**columns)


def _offsets(cells: Sequence[StudyCell]) -> list[int]:
    offsets, total = [], 0
    for c in cells:
        offsets.append(total)
        total += c.curves.n_reps
    return offsets


def pool_exposures(cells: Sequence[StudyCell]) -> ExposureTable:
    """The exposure tables of ``cells`` as one (a sum of log-likelihoods)."""
    return _concat([c.exposures for c in cells], _offsets(cells))


def pool_agents(cells: Sequence[StudyCell]) -> AgentHistories | None:
    """The agent histories of ``cells`` as one, or None when any cell lacks them."""
    if any(c.agents is None for c in cells):
        return None
    tables = [c.agents for c in cells if c.agents is not None]
    return _concat(tables, _offsets(cells))
