"""The tables of a chained run as columns (name -> 1-d array), in a fixed row order.

- offline participation per round (``offline.parquet``): one row per (replicate, cascade,
  round) with the state counts and the round's transitions;
- joining statistics (``joins.parquet``): engaged agents at risk of joining offline and how
  many joined, by participating neighbours (the sufficient statistics of the joining rule);
- engagement statistics (``engagement.parquet``): unaware agents by engaged neighbours, and how
  many engaged (the online rule, as ``exposures.parquet`` is for the SI engine);
- cascades (``cascades.parquet``) and emitted events (``loop_events.parquet``, and
  ``events.csv`` in the ACLED export layout, readable by ``spillover simulate --events``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from spillover.loop._chain import LoopResult
from spillover.loop._kernel import FLOW_NAMES, STATE_NAMES

__all__ = [
    "OFFLINE_COLUMNS",
    "cascade_columns",
    "engagement_columns",
    "event_columns",
    "joins_columns",
    "offline_columns",
]

#: Columns of the offline participation table, in order.
OFFLINE_COLUMNS = (
    "replicate",
    "cascade",
    "generation",
    "round",
    "abs_round",
    *STATE_NAMES,
    *FLOW_NAMES,
    "n_nodes",
)


def offline_columns(result: LoopResult) -> dict[str, np.ndarray]:
    """Offline participation (and online states) per (replicate, cascade, round)."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in OFFLINE_COLUMNS}
    for c in result.cascades:
        t1 = c.arrays.counts.shape[0]
        rounds = np.arange(t1, dtype=np.int64)
        parts["replicate"].append(np.full(t1, c.replicate, dtype=np.int64))
        parts["cascade"].append(np.full(t1, c.cascade, dtype=np.int64))
        parts["generation"].append(np.full(t1, c.generation, dtype=np.int64))
        parts["round"].append(rounds)
        parts["abs_round"].append(rounds + c.start_round)
        for j, name in enumerate(STATE_NAMES):
            parts[name].append(c.arrays.counts[:, j].astype(np.int64))
        for j, name in enumerate(FLOW_NAMES):
            parts[name].append(c.arrays.flows[:, j].astype(np.int64))
        parts["n_nodes"].append(np.full(t1, result.n_nodes, dtype=np.int64))
    return {name: np.concatenate(v) for name, v in parts.items()}


def _by_neighbours(
    result: LoopResult, at_risk_name: str, done_name: str, m_name: str, done_col: str
) -> dict[str, np.ndarray]:
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("replicate", "cascade", "round", m_name, "at_risk", done_col)
    }
    for c in result.cascades:
        at_risk = getattr(c.arrays, at_risk_name)
        done = getattr(c.arrays, done_name)
        t, m = np.nonzero(at_risk)
        cols["replicate"].append(np.full(t.size, c.replicate, dtype=np.int64))
        cols["cascade"].append(np.full(t.size, c.cascade, dtype=np.int64))
        cols["round"].append(t.astype(np.int64))
        cols[m_name].append(m.astype(np.int64))
        cols["at_risk"].append(at_risk[t, m].astype(np.int64))
        cols[done_col].append(done[t, m].astype(np.int64))
    return {k: np.concatenate(v) for k, v in cols.items()}


def joins_columns(result: LoopResult) -> dict[str, np.ndarray]:
    """``replicate, cascade, round, n_participating, at_risk, joined`` (rows with at_risk > 0)."""
    return _by_neighbours(result, "join_at_risk", "join_done", "n_participating", "joined")


def engagement_columns(result: LoopResult) -> dict[str, np.ndarray]:
    """``replicate, cascade, round, n_exposed, at_risk, shared`` (rows with at_risk > 0)."""
    return _by_neighbours(result, "share_at_risk", "share_done", "n_exposed", "shared")


def _int_columns(items: Sequence[Any], *names: str) -> dict[str, np.ndarray]:
    """``{name: int64 column of item.name}`` for each of ``names``, in their order."""
    return {n: np.array([getattr(item, n) for item in items], dtype=np.int64) for n in names}


def cascade_columns(result: LoopResult) -> dict[str, Any]:
    """One row per cascade: lineage, start round, seeds, size."""
    cs = result.cascades
    return {
        **_int_columns(cs, "replicate", "cascade", "generation", "parent"),
        "parent_event_id": [c.parent_event_id for c in cs],
        **_int_columns(cs, "start_round"),
        "n_seeds": np.array([c.seeds.size for c in cs], dtype=np.int64),
        "ever_engaged": np.array(
            [int((c.arrays.engaged_round >= 0).sum()) for c in cs], dtype=np.int64
        ),
        "ever_participated": np.array(
            [int((c.arrays.joined_round >= 0).sum()) for c in cs], dtype=np.int64
        ),
        "peak_participating": np.array([int(c.arrays.counts[:, 2].max()) for c in cs]),
    }


def event_columns(result: LoopResult) -> dict[str, Any]:
    """Emitted events: the ACLED fields of each :class:`Event` plus where it came from."""
    evs = result.events
    return {
        **_int_columns(evs, "replicate", "cascade", "round", "abs_round", "participating"),
        "child_cascade": np.array([e.child for e in evs], dtype=np.int64),
        "event_id_cnty": [e.event.event_id for e in evs],
        "event_date": [e.event.date.isoformat() for e in evs],
        "event_type": [e.event.event_type for e in evs],
        "sub_event_type": [e.event.sub_event_type for e in evs],
        "actor1": [e.event.actors[0] for e in evs],
        "country": [e.event.country for e in evs],
        "admin1": [e.event.admin1 for e in evs],
        "location": [e.event.location for e in evs],
        "fatalities": np.array([e.event.fatalities for e in evs], dtype=np.int64),
        "notes": [e.event.summary for e in evs],
    }
