"""Benchmark: LLM request throughput, and how closely learned surrogates reproduce LLM runs.

What it measures
----------------
1. **Throughput** (the acceptance figure). A stand-in OpenAI-compatible server
   (``spillover.llm._standin``) runs in a separate process on 127.0.0.1 and answers every
   request after ``--latency`` seconds (default 0.05). ``spillover.llm.OpenAIBackend`` with
   ``--concurrency`` requests in flight (default 32) sends ``--requests`` distinct requests
   (default 1,000; archetype-mode requests with log-probabilities and the JSON schema). Wall
   time of ``complete()`` (``time.perf_counter``), client CPU time, median of ``--repeats``
   (default 3); a first small batch warms up (imports, first connections) and is not timed.
   The floor is ``requests / concurrency * latency`` (1.5625 s for the defaults).
2. **Cost does not grow with agents**: requests of archetype mode for 1,000 and 100,000 agents
   (random 8-regular graphs), counted by the stand-in server.
3. **Surrogates** (against the same stand-in server, whose answers follow its documented rule
   ``p = 1 - (1 - alpha_c)(1 - beta_c)^m`` with persona rates from a hash of the persona):
   - archetype mode: the LLM run against its ``TabulatedPolicy`` replayed offline, same graph
     and seed (identical by construction), and on a 10x larger graph (no new request);
   - feed mode: the LLM run against the surrogate learned from its exposure table
     (``TabulatedPolicy.from_exposures``), replayed with other seeds on the same graph;
   reported as the largest gap between mean informed-fraction curves and the difference of
   mean final sizes.

4. **The embedded llama.cpp server** (``--embedded``, instead of the above): the bundled
   SmolLM2-135M-Instruct on one slot (``spillover.llm.LocalServer``).
   - spillover's ``OpenAIBackend`` against a minimal client (plain ``httpx``, one request at a
     time, the same JSON bodies: the run's archetype requests, log-probabilities and schema),
     ``--pairs`` pairs of batches alternating A B, B A, ... on the same server; after a
     warm-up batch every prompt is in the server's prompt cache, so both clients cause the
     same server work. Medians of requests/s and prompt tokens/s, and the median of each
     pair's ratio (goal: spillover at >= 0.9 of the minimal client).
   - prompt order: ``--order-pairs`` pairs of batches, each on a fresh server (an empty prompt
     cache), one example event per pair, in the order a run sends them (persona by persona)
     and shuffled; the prefix-cache
     hit rate ``sum(cache_n) / sum(cache_n + prompt_n)`` from llama.cpp's ``timings``, the
     prompt tokens read anew, and the wall time.

How to run
----------
``.venv/bin/python benchmarks/bench_llm.py`` (about a minute on the 2-core development machine);
``--skip-surrogates`` for the throughput figure only; ``--json FILE`` to keep the numbers;
``--embedded`` for the real server (a few minutes on 2 cores).
Figures and their reading: ``docs/llm.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from spillover.engine import simulate, simulate_feed
from spillover.graphs import random_regular
from spillover.io import example_events
from spillover.llm import LLMRequest, OpenAIBackend, prompt_version
from spillover.personas import PERSONAS
from spillover.policies import LLMPolicy, TabulatedPolicy


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from spillover.llm._standin import main; main()",
            "--latency",
            str(latency),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        raise RuntimeError(f"the stand-in server did not start: {url!r}")
    return proc, url


def stop_server(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    proc.wait(timeout=30)
    proc.stdout.close()


def distinct_requests(n: int, tag: str) -> list[LLMRequest]:
    from spillover.llm import archetype_messages

    event = example_events()[0]
    out = []
    for i in range(n):
        persona = PERSONAS[i % 32]
        messages = archetype_messages(persona, event, 1 + i // 32, None)
        out.append(
            LLMRequest(
                model="standin-1",
                messages=messages,
                prompt_version=prompt_version("archetype"),
                max_tokens=32,
                discriminator=f"{tag}-{i}",
            )
        )
    return out


def throughput(url: str, n: int, concurrency: int, repeats: int) -> dict[str, Any]:
    backend = OpenAIBackend(url, concurrency=concurrency)
    backend.complete(distinct_requests(concurrency, "warm-up"))
    walls, cpus = [], []
    for r in range(repeats):
        reqs = distinct_requests(n, f"repeat-{r}")
        c0, t0 = time.process_time(), time.perf_counter()
        out = backend.complete(reqs)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        if not all(x.valid and x.probability is not None for x in out):
            raise RuntimeError("invalid answers in the throughput run")
        print(
            f"  repeat {r + 1}: {walls[-1]:.3f} s wall, {cpus[-1]:.3f} s client CPU",
            file=sys.stderr,
        )
    return {
        "requests": n,
        "concurrency": concurrency,
        "wall_s": walls,
        "client_cpu_s": cpus,
        "median_wall_s": statistics.median(walls),
        "median_client_cpu_s": statistics.median(cpus),
        "requests_per_s": n / statistics.median(walls),
    }


def gap(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Mean curves of two ensembles: the largest gap and the difference of final sizes."""
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    return {
        "max_abs_gap": float(np.abs(ma - mb).max()),
        "final_a": float(ma[-1]),
        "final_b": float(mb[-1]),
        "final_diff": float(mb[-1] - ma[-1]),
    }


def surrogates(url: str) -> dict[str, Any]:
    event = example_events()[0]
    out: dict[str, Any] = {}

    counts = []
    for n in (1_000, 100_000):
        backend = OpenAIBackend(url, concurrency=32)
        policy = LLMPolicy(backend, model="standin-1")
        simulate(random_regular(n, 8, rng=1), policy, n_rounds=2, n_seeds=5, event=event, rng=1)
        counts.append(backend.accounting.requests)
    out["requests_by_agents"] = {"1000": counts[0], "100000": counts[1]}
    print(
        f"  archetype requests: 1,000 agents {counts[0]}, 100,000 agents {counts[1]}",
        file=sys.stderr,
    )

    graph = random_regular(5_000, 8, rng=2)
    backend = OpenAIBackend(url, concurrency=32)
    llm = LLMPolicy(backend, model="standin-1")
    kw: dict[str, Any] = dict(n_rounds=40, n_reps=10, n_seeds=5, event=event)
    run = simulate(graph, llm, rng=3, **kw)
    table = llm.table(event)
    replay = simulate(graph, table, rng=3, **kw)
    big = random_regular(50_000, 8, rng=2)
    n_before = backend.accounting.requests
    big_llm = simulate(big, llm, rng=4, **kw)
    big_replay = simulate(big, table, rng=4, **kw)
    out["archetype"] = {
        "same_graph_same_seed": gap(run.curves.fraction(), replay.curves.fraction()),
        "identical": bool(np.array_equal(run.curves.informed, replay.curves.informed)),
        "graph_10x_same_seed": gap(big_llm.curves.fraction(), big_replay.curves.fraction()),
        "new_requests_for_10x_graph": backend.accounting.requests - n_before,
    }
    print(f"  archetype surrogate: {out['archetype']}", file=sys.stderr)

    graph = random_regular(1_000, 8, rng=5)
    backend = OpenAIBackend(url, concurrency=32)
    feed_policy = LLMPolicy(backend, model="standin-1", mode="feed", feed_cap=5)
    t0 = time.perf_counter()
    feed = simulate_feed(graph, feed_policy, n_rounds=25, n_reps=4, n_seeds=5, event=event, rng=6)
    feed_s = time.perf_counter() - t0
    learned = TabulatedPolicy.from_exposures(
        feed.result.exposures, buckets=feed_policy.buckets, event_id=event.event_id
    )
    replay = simulate(graph, learned, n_rounds=25, n_reps=40, n_seeds=5, event=event, rng=7)
    out["feed"] = {
        "requests": backend.accounting.requests,
        "wall_s": feed_s,
        "learned_vs_llm": gap(feed.result.curves.fraction(), replay.curves.fraction()),
        "replicates": {"llm": 4, "surrogate": 40},
    }
    print(f"  feed surrogate: {out['feed']}", file=sys.stderr)
    return out


# -- against the embedded llama.cpp server ------------------------------------------------------


def embedded_requests(
    model: str, n_personas: int, buckets: str, event_index: int = 0
) -> list[LLMRequest]:
    """The archetype requests of a run (persona by persona, bucket by bucket), as it sends them."""
    from spillover.llm import FakeBackend

    policy = LLMPolicy(FakeBackend(), model=model, buckets=buckets, probability="logprobs")
    event = example_events()[event_index]
    n_buckets = len(policy.buckets)
    return [policy.key_request(c, b, event) for c in range(n_personas) for b in range(n_buckets)]


def minimal_batch(url: str, reqs: list[LLMRequest]) -> dict[str, Any]:
    """The same requests from a plain ``httpx`` client, one at a time: wall, tokens, timings."""
    import httpx

    from spillover.llm import response_schema

    prompt_tokens = cache_n = prompt_n = 0
    t0 = time.perf_counter()
    with httpx.Client(base_url=url, timeout=600.0) as client:
        for req in reqs:
            body = {
                "model": req.model,
                "messages": [{"role": r, "content": c} for r, c in req.messages],
                "temperature": req.temperature,
                "max_tokens": req.max_tokens,
                "seed": req.seed,
                "logprobs": True,
                "top_logprobs": req.top_logprobs,
                "response_format": response_schema(req.answer_format),
            }
            doc = client.post("/chat/completions", json=body).raise_for_status().json()
            prompt_tokens += int(doc.get("usage", {}).get("prompt_tokens", 0))
            timings = doc.get("timings") or {}
            cache_n += int(timings.get("cache_n", 0))
            prompt_n += int(timings.get("prompt_n", 0))
    wall = time.perf_counter() - t0
    return _batch(wall, prompt_tokens, cache_n, cache_n + prompt_n)


def spillover_batch(backend: OpenAIBackend, reqs: list[LLMRequest]) -> dict[str, Any]:
    """The requests through spillover's backend (what a run's policy calls)."""
    acc = backend.accounting
    before = (acc.prompt_tokens, acc.prompt_tokens_from_cache, acc.prompt_tokens_timed)
    t0 = time.perf_counter()
    out = backend.complete(reqs)
    wall = time.perf_counter() - t0
    if not all(x.valid and x.probability is not None for x in out):
        raise RuntimeError("invalid answers from the embedded server")
    after = (acc.prompt_tokens, acc.prompt_tokens_from_cache, acc.prompt_tokens_timed)
    return _batch(wall, *(a - b for a, b in zip(after, before, strict=True)))


def _batch(wall: float, prompt_tokens: int, from_cache: int, timed: int) -> dict[str, Any]:
    return {
        "wall_s": round(wall, 3),
        "prompt_tokens": prompt_tokens,
        "prompt_tokens_read": timed - from_cache,
        "hit_rate": round(from_cache / timed, 4) if timed else None,
    }


def _summary(runs: list[dict[str, Any]], n: int) -> dict[str, Any]:
    walls = [r["wall_s"] for r in runs]
    rates = [r["hit_rate"] for r in runs if r["hit_rate"] is not None]
    return {
        "wall_s": walls,
        "median_wall_s": statistics.median(walls),
        "median_requests_per_s": statistics.median(n / r["wall_s"] for r in runs),
        "median_prompt_tokens_per_s": statistics.median(
            r["prompt_tokens"] / r["wall_s"] for r in runs
        ),
        "median_hit_rate": statistics.median(rates) if rates else None,
        "median_prompt_tokens_read": statistics.median(r["prompt_tokens_read"] for r in runs),
    }


def _alternate(pairs: int, a: Any, b: Any, label: tuple[str, str]) -> tuple[list[Any], list[Any]]:
    """``pairs`` pairs of ``a(j)`` and ``b(j)``, in the order A B, B A, A B, ..."""
    runs_a: list[Any] = []
    runs_b: list[Any] = []
    for j in range(pairs):
        for which in (0, 1) if j % 2 == 0 else (1, 0):
            run = (a if which == 0 else b)(j)
            (runs_a if which == 0 else runs_b).append(run)
            print(f"  pair {j + 1} {label[which]}: {run}", file=sys.stderr)
    return runs_a, runs_b


def embedded(ns: argparse.Namespace) -> dict[str, Any]:
    """spillover against a minimal client, then prefix-ordered against shuffled prompts.

    Throughput: both clients send the same requests (one event) to the same server (one slot,
    one request in flight), in pairs A B, B A, ...; after a warm-up batch every prompt is in
    the server's prompt cache (llama.cpp keeps earlier prompts in memory, ``cache_ram_mib``),
    so both do the same server work, and the ratio of each pair's times is the client's
    share. Order: a fresh server (an empty prompt cache) for each batch, one new event per
    pair, sent once in the order a run sends (persona by persona) and once shuffled.
    """
    import random

    from spillover.llm import LocalServer

    with LocalServer(threads=ns.threads) as server:
        url = server.base_url
        reqs = embedded_requests(server.alias, ns.personas, ns.buckets)
        backend = OpenAIBackend(
            url, api_key_env=None, concurrency=server.total_slots, timeout_s=600
        )
        print(
            f"embedded server: {server.model.name}, {server.total_slots} slot, "
            f"{server.threads} threads; {len(reqs)} requests a batch",
            file=sys.stderr,
        )
        minimal_batch(url, reqs)  # warm-up, not timed
        ours, plain = _alternate(
            ns.pairs,
            lambda j: spillover_batch(backend, reqs),
            lambda j: minimal_batch(url, reqs),
            ("spillover", "minimal"),
        )

        backend.close()
        described = server.describe()

    def order_batch(j: int, shuffled: bool) -> dict[str, Any]:
        # A fresh server each time (an empty prompt cache), the same new event for both orders.
        batch = embedded_requests(server.alias, ns.order_personas, ns.buckets, 1 + j)
        if shuffled:
            random.Random(j).shuffle(batch)
        with LocalServer(threads=server.threads) as fresh:
            return minimal_batch(fresh.base_url, batch)

    ordered, shuffled = _alternate(
        ns.order_pairs,
        lambda j: order_batch(j, False),
        lambda j: order_batch(j, True),
        ("prefix-ordered", "shuffled"),
    )
    n = len(reqs)
    n_order = ns.order_personas * len(ns.buckets.split(","))
    ratios = [m["wall_s"] / s["wall_s"] for s, m in zip(ours, plain, strict=True)]
    return {
        "server": {k: described[k] for k in ("xllamacpp", "settings")},
        "model": described["model_file"]["name"],
        "throughput": {
            "requests_per_batch": n,
            "personas": ns.personas,
            "buckets": ns.buckets,
            "pairs": ns.pairs,
            "spillover": _summary(ours, n),
            "minimal": _summary(plain, n),
            "pair_ratios": [round(r, 4) for r in ratios],
            "median_ratio": statistics.median(ratios),
        },
        "order": {
            "requests_per_batch": n_order,
            "personas": ns.order_personas,
            "pairs": ns.order_pairs,
            "prefix_ordered": _summary(ordered, n_order),
            "shuffled": _summary(shuffled, n_order),
        },
    }


def _rate(summary: dict[str, Any]) -> str:
    rate = summary["median_hit_rate"]
    return "n/a (no timings)" if rate is None else f"{rate:.3f}"


def print_embedded(e: dict[str, Any]) -> None:
    t = e["throughput"]
    s, m = t["spillover"], t["minimal"]
    print(
        f"embedded {e['model']}, {t['requests_per_batch']} requests a batch, {t['pairs']} pairs: "
        f"spillover {s['median_requests_per_s']:.3f} requests/s, "
        f"{s['median_prompt_tokens_per_s']:.0f} prompt tokens/s; minimal client "
        f"{m['median_requests_per_s']:.3f} requests/s, {m['median_prompt_tokens_per_s']:.0f} "
        f"prompt tokens/s (medians); median of the pairs' ratios {t['median_ratio']:.3f} "
        f"({', '.join(f'{r:.3f}' for r in t['pair_ratios'])}); goal >= 0.9: "
        f"{'met' if t['median_ratio'] >= 0.9 else 'NOT met'}"
    )
    o = e["order"]
    po, sh = o["prefix_ordered"], o["shuffled"]
    print(
        f"prompt order ({o['requests_per_batch']} new prompts a batch, {o['pairs']} pairs): "
        f"prefix-ordered {po['median_wall_s']:.1f} s, hit rate {_rate(po)}, "
        f"{po['median_prompt_tokens_read']:.0f} tokens read; shuffled {sh['median_wall_s']:.1f} s, "
        f"hit rate {_rate(sh)}, {sh['median_prompt_tokens_read']:.0f} tokens read"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-surrogates", action="store_true")
    parser.add_argument("--json", help="write the numbers to this file")
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="against the embedded llama.cpp server instead of the stand-in",
    )
    parser.add_argument("--personas", type=int, default=2, help="--embedded throughput")
    parser.add_argument("--buckets", default="0,1", help="with --embedded")
    parser.add_argument("--pairs", type=int, default=6, help="--embedded throughput")
    parser.add_argument("--order-personas", type=int, default=4, help="--embedded order")
    parser.add_argument("--order-pairs", type=int, default=2, help="--embedded order")
    parser.add_argument("--threads", type=int, help="with --embedded [default: the server's]")
    ns = parser.parse_args(argv)
    if ns.embedded:
        load = os.getloadavg()
        e = embedded(ns)
        e["machine"] = {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_at_start": [round(x, 2) for x in load],
            "load_at_end": [round(x, 2) for x in os.getloadavg()],
        }
        print_embedded(e)
        print(
            f"load average (1, 5, 15 min): start {e['machine']['load_at_start']}, "
            f"end {e['machine']['load_at_end']}"
        )
        if ns.json:
            Path(ns.json).write_text(json.dumps(e, indent=2) + "\n", encoding="utf-8")
        return

    proc, url = start_server(ns.latency)
    try:
        print(
            f"throughput against {url} ({ns.latency * 1000:.0f} ms per request):", file=sys.stderr
        )
        doc: dict[str, Any] = {
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
            },
            "latency_s": ns.latency,
            "throughput": throughput(url, ns.requests, ns.concurrency, ns.repeats),
        }
        if not ns.skip_surrogates:
            doc["surrogates"] = surrogates(url)
    finally:
        stop_server(proc)
    t = doc["throughput"]
    floor = ns.requests / ns.concurrency * ns.latency
    print(
        f"{ns.requests} distinct requests, concurrency {ns.concurrency}, "
        f"{ns.latency * 1000:.0f} ms latency: median {t['median_wall_s']:.3f} s over {ns.repeats} "
        f"({', '.join(f'{w:.3f}' for w in t['wall_s'])}); floor {floor:.3f} s; "
        f"{t['requests_per_s']:.0f} requests/s; client CPU {t['median_client_cpu_s']:.3f} s"
    )
    print(f"target < 2.5 s: {'met' if t['median_wall_s'] < 2.5 else 'NOT met'}")
    if "surrogates" in doc:
        s = doc["surrogates"]
        print(f"archetype requests for 1,000 / 100,000 agents: {s['requests_by_agents']}")
        a = s["archetype"]
        print(
            f"archetype surrogate: identical on the same graph and seed: {a['identical']}; on a "
            f"10x graph max gap {a['graph_10x_same_seed']['max_abs_gap']:.4f} with "
            f"{a['new_requests_for_10x_graph']} new requests"
        )
        f = s["feed"]["learned_vs_llm"]
        print(
            f"feed surrogate ({s['feed']['requests']} LLM requests, {s['feed']['wall_s']:.1f} s): "
            f"max gap of mean curves {f['max_abs_gap']:.4f}, final size {f['final_a']:.4f} (LLM) "
            f"vs {f['final_b']:.4f} (surrogate)"
        )
    if ns.json:
        Path(ns.json).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
