"""Fits across a sweep: one fit per cell, and event effects pooled over cells.

The figure of fitted rates across the swept parameters is drawn by
:func:`spillover.report.plot_rates_across`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from spillover.exceptions import ConfigError
from spillover.sweeps._dataset import fits_table, param_types, read_exposures, with_params
from spillover.sweeps._store import Sweep, load_sweep

if TYPE_CHECKING:
    import pyarrow as pa

    from spillover.selection import Criterion

__all__ = ["RATE_NEUTRAL_KEYS", "fit_sweep", "fit_sweep_effects"]

#: Settings that change the network or the run's size but not any agent's share probability
#: given its persona, event and exposure: cells that differ only in these (and the event) share
#: one trait-and-event hazard model, so their exposure tables can be pooled.
RATE_NEUTRAL_KEYS = frozenset(
    {
        "event_id",
        "events",
        "n_nodes",
        "degree",
        "graph",
        "rewire_prob",
        "edge_list",
        "n_seeds",
        "n_reps",
        "n_rounds",
        "by_persona",
    }
)


def fit_sweep_effects(path: str | os.PathLike[str] | Sweep) -> Any:
    """Trait and event-type effects from the pooled exposure tables of a sweep over events.

    Returns a :class:`spillover.fit.TraitEffects` with ``event: TYPE`` terms (log hazard
    ratios against the first event type in sorted order), or None when the complete cells
    cover fewer than two event types.

    Raises
    ------
    ConfigError
        When the sweep varies a setting that changes share probabilities (a rate, the policy):
        then the cells do not share one hazard model and pooling them would mislead.
    """
    import json

    import numpy as np

    from spillover.fit import fit_trait_effects
    from spillover.trajectories import ExposureTable

    sweep = path if isinstance(path, Sweep) else load_sweep(path)
    varying = [k for k in sweep.keys if k not in RATE_NEUTRAL_KEYS]
    if varying:
        raise ConfigError(
            f"event effects pool cells that share one hazard model; this sweep varies "
            f"{', '.join(varying)}"
        )
    tables, labels = [], []
    for cell in sweep.complete_cells():
        manifest = json.loads((cell.run_dir / "manifest.json").read_text(encoding="utf-8"))
        table = read_exposures(cell.run_dir)
        tables.append(table)
        labels.append(np.full(len(table), str(manifest["event"]["event_type"]), dtype=object))
    if not tables or len(set(np.concatenate(labels).tolist())) < 2:
        return None
    columns = {
        name: np.concatenate([t.columns()[name] for t in tables]) for name in tables[0].columns()
    }
    return fit_trait_effects(ExposureTable(**columns), event_types=np.concatenate(labels))


def fit_sweep(
    path: str | os.PathLike[str] | Sweep,
    models: Sequence[str] | None = None,
    *,
    criterion: Criterion = "bic",
) -> pa.Table:
    """Fit ``models`` to the exposure table of every complete cell of a sweep.

    Each cell's fits are its ``spillover fit CELL --model M ... --folds 0 --json`` document
    (:func:`spillover.sweeps.fits_document`).

    Parameters
    ----------
    path : path or Sweep
        A sweep folder (or what :func:`load_sweep` returned for it).
    models : sequence of str, optional
        Names known to ``spillover.fit.ESTIMATORS``; by default the registry's sweep models
        (:func:`spillover.fit.sweep_models`).
    criterion : {"bic", "aic", "aicc"}
        The criterion that names each cell's best model.

    Returns
    -------
    pyarrow.Table
        The schema of the ``fits`` view of ``spillover query``: ``cell``, ``model``, ``param``,
        ``index`` (entry of a list-valued parameter, else null), ``value``, ``stderr``,
        ``status``, ``loglik``, ``n_params``, ``n_obs``, ``aic``, ``aicc``, ``bic``, ``best``
        (lowest ``criterion`` in its cell), ``message``, then one column per swept parameter;
        rows in cell order. Cells that are not complete are left out.
    """
    import pyarrow as pa

    from spillover.fit import sweep_models
    from spillover.selection import CRITERIA
    from spillover.sweeps._dataset import fit_cell
    from spillover.sweeps._driver import check_models

    if criterion not in CRITERIA:
        raise ConfigError(f"criterion must be one of {', '.join(CRITERIA)}; got {criterion!r}")
    sweep = path if isinstance(path, Sweep) else load_sweep(path)
    if sweep.is_loop:
        raise ConfigError(
            f"{sweep.path} is a loop sweep: its cells hold no SI exposure tables; its coupling "
            "fits are the dataset's coupling table (Sweep.read_table('coupling'))"
        )
    names = check_models(sweep_models() if models is None else models)
    types = param_types(sweep.grid)
    parts: list[pa.Table] = []
    for cell in sweep.complete_cells():
        doc = fit_cell(cell.run_dir, names, criterion=criterion)
        table = with_params(fits_table(doc), cell.params, types)
        parts.append(
            table.add_column(0, "cell", pa.array([cell.cell] * table.num_rows, pa.int32()))
        )
    if not parts:
        empty = with_params(fits_table({"models": []}), {}, types)
        return empty.add_column(0, "cell", pa.array([], pa.int32()))
    return pa.concat_tables(parts)
