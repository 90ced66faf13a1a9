"""``spillover simulate``: one run from flags and/or a config file into a run directory."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spillover.cli._app import app
from spillover.cli._console import bar_progress, err_console, out_console, replicate_progress
from spillover.cli._simulate_options import (
    ConfigOption,
    DryRunOption,
    ForceOption,
    LoopOption,
    OutOption,
    QuietOption,
    config_overrides,
    flags_on_errors,
    with_settings,
)
from spillover.config import SimulationConfig
from spillover.events import EVENT_TYPES

if TYPE_CHECKING:
    from rich.progress import Task
    from rich.text import Text

    from spillover.pipeline import RunOutput

__all__ = [
    "answer_warnings",
    "llm_progress",
    "print_llm_summary",
    "simulate_command",
]


def print_summary(
    out: Path, manifest_timings: dict[str, float], final_fraction: float, n_reps: int
) -> None:
    t = manifest_timings
    out_console.print(
        f"[bold]{out}[/bold]: {n_reps} replicates, mean final informed fraction "
        f"{final_fraction:.3f}; graph {t['graph_s']:.2f} s, engine {t['simulate_s']:.3f} s"
    )


def _rate_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Answers per second (cache hits included), from rich's moving estimate."""

        def render(self, task: Task) -> Text:
            speed = task.speed
            if not task.fields.get("rate") or speed is None:
                return Text("")
            return Text(f"{speed:,.1f} req/s")

    return RateColumn()


@contextlib.contextmanager
def llm_progress(
    enabled: bool, n_reps: int, *, feed: bool
) -> Iterator[tuple[Callable[[int, int], None], Callable[[int, int], None]]]:
    """Two bars on stderr: LLM answers (with the live request rate) and replicates/rounds."""
    if not enabled:
        yield (lambda d, t: None), (lambda d, t: None)
        return
    with bar_progress(_rate_column()) as progress:
        answers = progress.add_task("LLM answers", total=None, rate=True)
        runs = progress.add_task("rounds" if feed else "replicates", total=n_reps)

        def on_answer(done: int, planned: int) -> None:
            progress.update(answers, completed=done, total=planned)

        def on_replicate(done: int, total: int) -> None:
            progress.update(runs, completed=done, total=total)

        yield on_answer, on_replicate


def _print_plan(plan: dict[str, Any], cfg: SimulationConfig) -> None:
    from rich.markup import escape

    out_console.print(
        f"[bold]dry run[/bold]: model {escape(str(plan['model']))} at "
        f"{escape(str(plan['base_url']))}, {plan['mode']} mode, {plan['n_nodes']:,} agents "
        f"(largest degree {plan['max_degree']})"
    )
    out_console.print(
        f"  distinct prompts (persona x exposure bucket {', '.join(plan['buckets'])}): "
        f"{plan['keys']:,}"
    )
    if cfg.llm.probability == "samples":
        out_console.print(
            f"  requests ({cfg.llm.samples} samples per prompt): {plan['first_pass']:,}"
        )
    else:
        out_console.print(
            f"  requests if the server returns log-probabilities: {plan['first_pass']:,}"
        )
        if cfg.llm.probability == "auto":
            out_console.print(
                f"  requests at most (if it does not: {cfg.llm.samples} samples per prompt): "
                f"{plan['worst_case']:,}"
            )
    out_console.print(f"  already in the cache: {plan['cached']:,}")
    if "feed_decisions_max" in plan:
        out_console.print(
            "  feed decisions: at most "
            f"{plan['feed_decisions_max']:,} more requests (per round and replicate, one per "
            "susceptible agent with an informed neighbour, and one re-ask of each answer cut "
            "before its decision or whose post did not fit)"
        )
    out_console.print("no request was sent.")


def print_llm_summary(run: RunOutput) -> None:
    if run.llm is None:
        return
    acc = run.llm["accounting"]
    local = run.llm.get("local_server")
    servers = run.llm["base_url"]
    where = (
        f"the embedded server ({local['model_file']['name']})"
        if local is not None
        else servers
        if isinstance(servers, str)
        else f"{', '.join(servers)} ({len(servers)} replicas)"
    )
    line = (
        f"LLM {run.llm['model']} at {where}: {acc['requests']:,} requests, "
        f"{acc['cache_hits']:,} cache hits, {acc['retries']:,} retries, {acc['failures']:,} "
        f"failed, {run.llm['answers']['invalid_answers_used']:,} invalid answers; tokens "
        f"{acc['prompt_tokens']:,} prompt + {acc['completion_tokens']:,} completion; "
        f"{acc['wall_s']:.1f} s waiting"
    )
    if acc["cost_estimate"] is not None:
        line += f"; estimated cost {acc['cost_estimate']:.4f}"
    out_console.print(line, markup=False, highlight=False)
    for warning in answer_warnings(run):
        err_console.print(f"warning: {warning}", markup=False, soft_wrap=True)


def answer_warnings(run: RunOutput) -> list[str]:
    """Signs that the model's answers are not readable (a base model, a broken template)."""
    import numpy as np

    if run.llm is None:
        return []
    warnings = []
    answers = run.llm["answers"]
    n_invalid = answers["invalid_answers_used"]
    if n_invalid:
        warnings.append(
            f"{n_invalid:,} answer(s) of model {run.llm['model']} were unreadable (malformed or "
            "refused) after retries; see llm_invalid"
        )
    if run.llm_table is not None and run.llm["mode"] == "archetype":
        p = np.concatenate([t.ravel() for t in run.llm_table.probabilities.values()])
        p = p[np.isfinite(p)]
        if p.size >= 4 and (p.min() > 0.9 or p.max() < 0.1):
            warnings.append(
                f"model {run.llm['model']} gave every persona and exposure the same answer "
                f"(P(share) {p.min():.2f}-{p.max():.2f}): a base model without instruction "
                "tuning answers this way; the run says little about persona agents"
            )
    return warnings


@app.command("simulate")
@with_settings
def simulate_command(
    config: ConfigOption = None,
    loop: LoopOption = None,
    dry_run: DryRunOption = False,
    out: OutOption = Path("runs/simulation"),
    force: ForceOption = False,
    quiet: QuietOption = False,
    **settings: Any,
) -> None:
    """Simulate the spread of one event through a network of persona agents.

    Writes a run directory: manifest.json, curves.parquet, exposures.parquet,
    adoptions.parquet and agents.parquet; LLM runs add llm_table.json, feed mode posts.parquet
    (formats: docs/cli.md). With --loop N, or a config file with a \\[loop] section,
    runs the chained online-offline loop instead and writes what spillover loop writes.
    """
    from spillover.cli._loop import has_loop_section, simulate_loop
    from spillover.io import load_config

    with flags_on_errors():
        overrides = config_overrides(settings)
        if loop is not None or has_loop_section(config):
            simulate_loop(config, loop, {**overrides, "dry_run": dry_run or None}, out, force=force)
            return
        cfg = load_config(config, overrides)
        if dry_run:
            _dry_run(cfg)
        else:
            _simulate(cfg, out, force=force, quiet=quiet)


#: Runs whose memory estimate reaches this print it before any work (``memory_line``).
MEMORY_LINE_BYTES = 2**30


def memory_line(cfg: SimulationConfig) -> str | None:
    """The run's memory estimate and the memory available, for a run estimated at 1 GiB or
    more (None for smaller runs and for edge lists, whose size is known only once read)."""
    from spillover._resources import available_memory, estimate_run, format_bytes

    if cfg.edge_list is not None:
        return None
    estimate = estimate_run(cfg)
    if estimate.peak < MEMORY_LINE_BYTES:
        return None
    free = available_memory()
    return estimate.describe() + (
        f"; {format_bytes(free)} available" if free is not None else "; available memory unknown"
    )


def _dry_run(cfg: SimulationConfig) -> None:
    from spillover.exceptions import ConfigError
    from spillover.pipeline import plan_llm_run

    if cfg.policy != "llm":
        raise ConfigError("--dry-run applies to LLM runs (--llm-base-url or --llm-local)")
    _print_plan(plan_llm_run(cfg), cfg)


def _simulate(cfg: SimulationConfig, out: Path, *, force: bool, quiet: bool) -> None:
    import spillover
    from spillover.io import check_output_dir, write_run_dir

    check_output_dir(out, force=force, keep=(cfg.llm.cache,))
    if not quiet:
        line = memory_line(cfg)
        if line is not None:
            err_console.print(line, markup=False, soft_wrap=True)
        err_console.print(f"building a {cfg.graph} graph of {cfg.n_nodes:,} agents ...")
    if cfg.policy == "llm":
        feed = cfg.llm.mode == "feed"
        total = cfg.n_rounds if feed else cfg.n_reps
        with llm_progress(not quiet, total, feed=feed) as (on_answer, on_run):
            run = spillover.run(cfg, rng=cfg.seed, progress=on_run, llm_progress=on_answer)
    else:
        with replicate_progress(cfg.n_reps, enabled=not quiet) as progress:
            run = spillover.run(cfg, rng=cfg.seed, progress=progress)
    path = write_run_dir(run, out, force=force)
    final = float(run.result.curves.fraction()[:, -1].mean())
    print_summary(path, run.timings, final, run.result.n_reps)
    print_llm_summary(run)
    if run.event.event_type not in EVENT_TYPES:
        err_console.print(
            f"warning: event {run.event.event_id!r} has event_type "
            f"{run.event.event_type[:80]!r}, which is not one of ACLED's six "
            f"({', '.join(EVENT_TYPES)}); it was used as given, as a type of its own in "
            "event-type effects",
            markup=False,
            soft_wrap=True,
        )
