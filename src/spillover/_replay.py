"""Replaying a run with other probability tables: the noise of an LLM run's sampled answers.

:func:`llm_noise_fit` re-simulates an LLM run with bootstrap tables of its answers (same
graph, personas, event and seed: common random numbers) and refits its agent-level models to
each replay; :func:`replay_exposures` gives the replays' exposure tables. Both are public as
``spillover.pipeline.llm_noise_fit`` and ``spillover.pipeline.replay_exposures``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from spillover._resources import check_count
from spillover._rng import SeedRecord
from spillover.config import SimulationConfig
from spillover.engine import agent_histories, simulate
from spillover.personas import assign_balanced
from spillover.policies import TabulatedPolicy
from spillover.trajectories import AgentHistories, ExposureTable

if TYPE_CHECKING:
    from spillover.fit import FitResult
    from spillover.selection import Analysis

__all__ = ["MAX_NOISE_TABLES", "llm_noise_fit", "replay_exposures"]


#: The most bootstrap tables :func:`llm_noise_fit` re-simulates (``--llm-noise``).
MAX_NOISE_TABLES = 10_000


def llm_noise_fit(
    run_dir: str | os.PathLike[str],
    analysis: Analysis,
    *,
    n_tables: int,
    fit_rounds: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    redraw: str = "shrunk",
    denoised: bool = True,
) -> Analysis:
    """``analysis`` of an LLM run with the noise of its sampled answers in the intervals.

    Reads the run's ``llm_table.json`` (nothing changes for a run without one) and records
    where its cells came from (:class:`spillover.selection.LLMNoise`: sampled cells, those at
    exactly 0 or 1, the fits at a bound that may rest on them). With ``n_tables`` > 0 and
    sampled cells, it draws ``n_tables`` bootstrap tables
    (:func:`spillover.selection.bootstrap_tables`), re-simulates the run with each on the same
    graph, personas and seed as the original (common random numbers: the run's dynamics are
    replayed, only the table changes), refits the agent-level models of ``analysis`` to each
    run and adds their spread to the standard errors (:func:`spillover.selection.
    with_llm_noise`). Curve models keep their engine-only SEs. ``fit_rounds`` (the
    analysis's ``--fit-rounds``) refits each replay on its rounds 0..R only, as the analysis
    was fitted.

    ``redraw`` is how the sampled cells are redrawn (:func:`spillover.selection.
    redraw_probabilities`: ``"shrunk"``, each cell's empirical Bayes estimate within its
    bucket, or ``"jeffreys"``, each cell's own). With ``denoised`` (the default) the run is
    also replayed with that shrunk table, whose fit (the *denoised* estimate) the intervals
    are around, and each bootstrap replay uses its redrawn table's own shrunk table, so the
    refits are draws of the denoised estimator itself; ``denoised=False`` keeps the
    intervals around the run's maximum-likelihood estimate (a pooled fit of sampled answers
    is biased low: the personas whose sampled rates came out high leave the risk set first).
    """
    from pathlib import Path

    from spillover.events import Event
    from spillover.exceptions import FitError
    from spillover.fit import get_model
    from spillover.io import read_manifest
    from spillover.selection import (
        bootstrap_tables,
        flag_untrusted,
        llm_noise_of,
        offline_answers,
        redraw_centre,
        with_llm_noise,
    )

    # Bounded before the loop: each table is a re-simulated run.
    check_count(
        "bootstrap tables (each a re-simulated run)", "llm_noise", n_tables, MAX_NOISE_TABLES
    )

    path = Path(run_dir) / "llm_table.json"
    if not path.is_file():
        return analysis
    table = TabulatedPolicy.load(path)
    noise = llm_noise_of(table)
    groups = list(analysis.groups)
    at = next((i for i, g in enumerate(groups) if g.data == "exposures"), None)
    results = list(groups[at].results) if at is not None else []
    noise = flag_untrusted(noise, results)
    notes = list(noise.notes)
    if n_tables > 0 and noise.sample_cells == 0:
        notes.append(
            "--llm-noise: no cell of the table came from sampled answers ("
            + (
                "all from log-probabilities, which carry no sampling noise"
                if noise.unknown_cells == 0
                else "the table does not record where its cells came from"
            )
            + "); the standard errors are the engine's"
        )
    if n_tables == 0 or noise.sample_cells == 0 or at is None:
        return replace(analysis, llm_noise=replace(noise, notes=tuple(notes)))
    manifest = read_manifest(run_dir)
    record = SeedRecord.from_dict(manifest["seed"])
    offline = offline_answers(
        table, Event.from_dict(manifest["event"]) if manifest.get("event") else None
    )
    names = [r.model for r in results if r.params]
    specs = {name: get_model(name) for name in names}
    draws = bootstrap_tables(table, n_tables, record.generator("llm_noise"), redraw)
    if denoised:
        draws = [redraw_centre(table, redraw), *(redraw_centre(t, redraw) for t in draws)]
    refits: dict[str, list[FitResult]] = {name: [] for name in names}
    centre: dict[str, FitResult] | None = {} if denoised else None
    for i, (exposures, histories) in enumerate(_replays(run_dir, draws)):
        kept: AgentHistories | None = histories
        if fit_rounds is not None:
            from spillover.selection import fit_window

            window, _ = fit_window(exposures, None, fit_rounds)
            assert window is not None
            exposures = window
            kept = None  # as in the analysis: histories cannot be cut at R
        for name, spec in specs.items():
            try:
                data = spec.agent_data(exposures, kept)
                fitted = spec.make_estimator().fit(data).result_
            except FitError:
                continue
            if centre is not None and i == 0:
                centre[name] = fitted
            else:
                refits[name].append(fitted)
        done = i if centre is not None else i + 1
        if progress is not None and done > 0:
            progress(done, n_tables)
    new_results, noise = with_llm_noise(
        results, refits, replace(noise, notes=(), redraw=redraw), n_tables, centre, offline
    )
    noise = replace(noise, notes=tuple(notes) + noise.notes)
    old = groups[at]
    groups[at] = replace(old, results=tuple(new_results))
    return replace(analysis, groups=tuple(groups), llm_noise=noise)


def _replays(
    run_dir: str | os.PathLike[str], tables: Iterable[TabulatedPolicy]
) -> Iterator[tuple[ExposureTable, AgentHistories]]:
    """The run of ``run_dir`` again with each table: its graph, personas, event and seed."""
    from spillover.events import Event
    from spillover.io import read_manifest, read_persona_assignment
    from spillover.pipeline import build_graph  # the run's own graph builder

    manifest = read_manifest(run_dir)
    keys = (
        *("n_nodes", "degree", "graph", "rewire_prob", "edge_list"),
        *("n_rounds", "n_reps", "n_seeds", "personas"),
    )
    given = manifest.get("config", {})
    config = SimulationConfig().replace(**{k: given[k] for k in keys if k in given})
    record = SeedRecord.from_dict(manifest["seed"])
    event = Event.from_dict(manifest["event"])
    # A sweep cell sharing another cell's graph names that cell's record (``graph_seed``).
    graph = build_graph(config, SeedRecord.from_dict(manifest.get("graph_seed", manifest["seed"])))
    if config.personas == "balanced":
        persona_of_node = assign_balanced(graph.n_nodes, rng=record.generator("personas"))
    else:
        persona_of_node = read_persona_assignment(config.personas, graph.n_nodes)
    for table in tables:
        sim = simulate(
            graph,
            table,
            n_rounds=config.n_rounds,
            n_reps=config.n_reps,
            n_seeds=config.n_seeds,
            event=event,
            persona_of_node=persona_of_node,
            rng=record,
        )
        yield sim.exposures, agent_histories(graph, sim)


def replay_exposures(
    run_dir: str | os.PathLike[str], tables: Iterable[TabulatedPolicy]
) -> Iterator[ExposureTable]:
    """The exposure table of the run of ``run_dir`` replayed with each of ``tables`` (same
    graph, personas, event and seed: common random numbers); with the run's own
    ``llm_table.json`` it is the run's exposure table again."""
    for exposures, _ in _replays(run_dir, tables):
        yield exposures
