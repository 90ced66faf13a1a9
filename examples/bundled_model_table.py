"""The bundled model's answers, measured: P(share) of SmolLM2-135M-Instruct for every persona,
exposure bucket and event type of the example events (the table and figure of docs/llm.md).

    .venv/bin/python examples/bundled_model_table.py [TABLE.json [FIGURE.png]]

Starts the embedded llama.cpp server on 127.0.0.1, asks one archetype prompt per persona and
bucket for the first example event of each ACLED event type (probabilities from the model's
log-probabilities), and writes the table as a tabulated policy (usable as ``--policy-table``),
its provenance (model sha256, prompt versions, date) in its ``source``. It prints, per event
type and bucket, the mean over personas next to the default persona heuristic's per-round
probability, and how the two order the personas (Spearman correlation).
"""

from __future__ import annotations

import datetime
import sys
import time

import numpy as np
from scipy.stats import spearmanr

from spillover.config import DEFAULT_OFFLINE_REACH, LLMConfig, SimulationConfig
from spillover.events import EVENT_TYPES
from spillover.io import example_events_path, read_events
from spillover.llm import LocalServer, build_backend
from spillover.personas import N_PERSONAS
from spillover.policies import (
    DEFAULT_BUCKETS,
    ExposureBatch,
    LLMPolicy,
    TabulatedPolicy,
    default_persona_policy,
)
from spillover.report import save_figure


def _heuristic(events: list, buckets: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The default persona policy's per-round probability at each bucket's lower count."""
    policy = default_persona_policy()
    persona = np.repeat(np.arange(N_PERSONAS), len(buckets))
    exposed = np.tile(np.asarray(buckets), N_PERSONAS)
    batch = ExposureBatch(persona=persona, n_exposed=exposed)
    return {
        e.event_id: policy.share_probability(batch, e).reshape(N_PERSONAS, len(buckets))
        for e in events
    }


def _figure(table: TabulatedPolicy, events: list, labels: list[str]):  # type: ignore[no-untyped-def]
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.2 * ((len(events) + 2) // 3)), layout="constrained")
    axes = fig.subplots((len(events) + 2) // 3, 3, sharey=True, squeeze=False).ravel()
    for ax, event in zip(axes, events, strict=False):
        values = table.probabilities[event.event_id]
        x = np.arange(values.shape[1])
        for row in values:
            ax.plot(x, row, color="0.7", lw=0.6)
        ax.plot(x, values.mean(axis=0), color="C0", lw=2.0, label="mean over personas")
        ax.set_title(event.event_type, fontsize=9)
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_xlabel("informed neighbours (bucket)", fontsize=8)
    for ax in axes[len(events) :]:
        ax.set_visible(False)
    axes[0].set_ylabel("P(share)")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("SmolLM2-135M-Instruct: P(share) per persona (grey) and bucket", fontsize=10)
    return fig


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else "examples/smollm2_table.json"
    figure = sys.argv[2] if len(sys.argv) > 2 else "docs/figures/smollm2_table.png"
    every = read_events(example_events_path())
    events = [next(e for e in every if e.event_type == kind) for kind in EVENT_TYPES]
    config = SimulationConfig(policy="llm", llm=LLMConfig(local=True))
    t0 = time.perf_counter()
    with LocalServer() as server:
        backend = build_backend(config, local=server)
        with LLMPolicy(
            backend,
            model=server.alias,
            buckets=DEFAULT_BUCKETS,
            offline_reach=DEFAULT_OFFLINE_REACH,
        ) as policy:
            table = policy.tabulate(events)
            sources = dict(policy.stats()["probability_sources"])
        source = {
            **table.source,
            "model_file": server.model.name,
            "model_sha256": server.model.sha256,
            "measured_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "measured_by": "examples/bundled_model_table.py",
            "probability_sources": sources,
        }
    elapsed = time.perf_counter() - t0
    table = TabulatedPolicy(
        table.probabilities,
        table.buckets,
        source,
        table.offline_reach,
        table.offline_reach_scale,
        table.answer_samples,
    )
    table.save(out)
    labels = table.buckets.labels()
    print(f"{out}: {len(events)} events x 32 personas x {len(labels)} buckets in {elapsed:.0f} s")
    print(f"probability sources: {sources}")
    heuristic = _heuristic(events, table.buckets.lower)
    print(f"{'event type':28} {'bucket':>6} {'LLM mean':>9} {'LLM sd':>7} {'heuristic':>9}")
    for event in events:
        llm, prior = table.probabilities[event.event_id], heuristic[event.event_id]
        for b, label in enumerate(labels):
            print(
                f"{event.event_type:28} {label:>6} {llm[:, b].mean():9.3f} "
                f"{llm[:, b].std():7.3f} {prior[:, b].mean():9.4f}"
            )
        rho = spearmanr(llm[:, 1], prior[:, 1]).statistic
        print(f"{'':28} personas ordered alike at bucket 1: Spearman {rho:+.2f}")
    save_figure(_figure(table, events, labels), figure)
    print(f"figure: {figure}")


if __name__ == "__main__":
    main()
