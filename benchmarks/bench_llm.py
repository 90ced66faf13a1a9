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

How to run
----------
``.venv/bin/python benchmarks/bench_llm.py`` (about a minute on the 2-core development machine);
``--skip-surrogates`` for the throughput figure only; ``--json FILE`` to keep the numbers.
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-surrogates", action="store_true")
    parser.add_argument("--json", help="write the numbers to this file")
    ns = parser.parse_args(argv)

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
