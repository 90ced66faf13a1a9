"""What a study would do, without doing it: cells, LLM requests, cached answers, tokens, cost.

Archetype prompts depend on (persona, event, exposure bucket) only, so the requests of a study
are known before it runs: for each cell, the 32 personas (a balanced placement of at least 32
agents holds every persona) times the buckets its degree can reach, for its event. Cells of
one event share their prompts, and the sweep's shared cache answers each distinct request once,
so the plan counts distinct requests (by cache key) over the whole study, and looks them up in
the study's cache (opened read-only; nothing is written).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from spillover._resources import MAX_LLM_REQUESTS, check_count
from spillover.exceptions import ConfigError
from spillover.study._spec import StudySpec

__all__ = ["CHARS_PER_TOKEN", "plan_study"]

#: Prompt characters per token assumed by the token estimate (English text, BPE tokenizers).
CHARS_PER_TOKEN = 4.0


def _cell_requests(
    config: Any, agent_rounds: int
) -> tuple[list[Any], list[Any], str, int, str, str, int | None]:
    """(first-pass requests, worst-case requests, server identity, max tokens, model, server
    as shown, decision requests at most, given ``agent_rounds`` susceptible agent-rounds) of
    one cell."""
    from spillover.llm import shown_urls
    from spillover.pipeline import build_policy, local_server

    # The embedded server is described, not started: its identity and model name key the
    # requests, as in a run.
    local = local_server(config) if config.uses_local_server else None
    policy: Any = build_policy(config.replace(cache=None, cache_mode="off"), local=local)
    try:
        degree = config.degree
        event = _event(config)
        buckets = policy.key_buckets(degree)
        # Bounded before the loop below: a run's own bound, for this cell's requests.
        check_count(
            "requests of a cell at most (32 personas x buckets x samples)",
            "policy.samples",
            32 * len(buckets) * int(policy.samples),
            MAX_LLM_REQUESTS,
        )
        first, worst = [], []
        for persona in range(32):
            for bucket in buckets:
                for sample in range(policy.samples):
                    request = policy.key_request(persona, bucket, event, sample)
                    if policy.probability == "logprobs" and sample > 0:
                        continue
                    worst.append(request)
                    if policy.probability == "samples" or sample == 0:
                        first.append(request)
        identity = str(policy.backend.identity)
        max_tokens = first[0].max_tokens if first else 0
        where = (
            shown_urls(config.llm.base_url or "")
            if local is None
            else f"the embedded server ({local.model.name})"
        )
        model = str(policy.model)
        decisions = policy.decision_requests(agent_rounds)
    finally:
        policy.close()
    return first, worst, identity, max_tokens, model, where, decisions


def _event(config: Any) -> Any:
    from spillover.pipeline import resolve_event

    return resolve_event(config)


def _cached(keys: list[str], cache: Path | None) -> set[str]:
    from spillover.llm import SQLiteStore

    if cache is None or not cache.is_file() or not keys:
        return set()
    store = SQLiteStore(cache, read_only=True)
    try:
        return set(store.get_many(keys))
    finally:
        store.close()


def plan_study(spec: StudySpec, out: str | os.PathLike[str]) -> dict[str, Any]:
    """The plan of a study run into ``out``: its cells and, for an LLM policy, its requests.

    Returns
    -------
    dict
        ``cells`` (cell, event_id, event_type, degree; in a loop study also ``params``, the
        swept ``[loop]`` values), ``n_cells``, ``n_runs`` (cells x replicates), and for an
        LLM policy ``llm``: ``model``, ``base_url``, ``mode``,
        ``distinct_requests`` (first pass: one request per prompt when the server returns
        log-probabilities, or ``samples`` per prompt), ``worst_case`` (every prompt sampled),
        ``cached`` (of the first pass, already in the cache), ``to_send`` (first pass minus
        cached: what the run sends when every answer is valid), ``prompt_chars`` and
        ``prompt_tokens_estimate`` of those, ``completion_tokens_max``, ``cost_estimate``
        (None without prices). Feed mode adds ``feed_decisions_max``.
    """
    from spillover.sweeps import with_shared_cache

    root = Path(out).absolute()
    sweep = spec.sweep_spec()
    cells: list[dict[str, Any]] = [
        {
            "cell": cell,
            "event_id": spec.cell_event(cell).event_id,
            "event_type": spec.cell_event(cell).event_type,
            "degree": spec.cell_degree(cell),
        }
        for cell in range(spec.n_cells)
    ]
    if spec.is_loop:  # the swept [loop] values; a loop study calls no model
        for c in cells:
            c["params"] = spec.cell_loop_params(c["cell"])
    plan: dict[str, Any] = {
        "cells": cells,
        "n_cells": spec.n_cells,
        "n_runs": spec.n_cells * spec.n_reps,
        "llm": None,
    }
    if not spec.is_llm:
        return plan
    first: dict[str, Any] = {}
    worst: set[str] = set()
    cache: Path | None = None
    config = None
    max_tokens = 0
    model = where = ""
    decisions: int | None = None
    agent_rounds = spec.n_reps * spec.n_rounds * (spec.n_nodes - spec.n_seeds)
    for cell in range(spec.n_cells):
        values = with_shared_cache(sweep.cell_values(cell, seed=0), root)
        config = sweep.cell_config(cell, seed=0).replace(**values)
        if config.llm.cache is not None and config.llm.cache_mode in ("read_write", "read_only"):
            cache = Path(config.llm.cache)
        f, w, identity, max_tokens, model, where, cell_decisions = _cell_requests(
            config, agent_rounds
        )
        if cell_decisions is not None:
            decisions = (decisions or 0) + cell_decisions
        first.update({r.cache_key(identity): r for r in f})
        worst.update(r.cache_key(identity) for r in w)
        if len(worst) > MAX_LLM_REQUESTS:
            raise ConfigError(
                f"the study would plan more than {MAX_LLM_REQUESTS:,} distinct requests "
                f"({len(worst):,} after {cell + 1:,} of {spec.n_cells:,} cells); use fewer "
                "events, degrees or samples",
                params=("policy.samples",),
            )
    assert config is not None
    cached = _cached(sorted(first), cache)
    to_send = [r for k, r in first.items() if k not in cached]
    chars = sum(len(content) for r in to_send for _, content in r.messages)
    tokens = math.ceil(chars / CHARS_PER_TOKEN)
    completion = len(to_send) * max_tokens
    prices = (config.llm.price_prompt, config.llm.price_completion)
    cost = None
    if prices != (None, None):
        cost = tokens * (prices[0] or 0.0) + completion * (prices[1] or 0.0)
    llm: dict[str, Any] = {
        "model": model,
        "base_url": where,
        "mode": config.llm.mode,
        "probability": config.llm.probability,
        "cache": None if cache is None else str(cache),
        "distinct_requests": len(first),
        "worst_case": len(worst),
        "cached": len(cached),
        "to_send": len(to_send),
        "prompt_chars": chars,
        "prompt_tokens_estimate": tokens,
        "completion_tokens_max": completion,
        "cost_estimate": cost,
    }
    if decisions is not None:
        llm["feed_decisions_max"] = decisions
    plan["llm"] = llm
    return plan
