"""Replicas of one model: balanced by load, one cache, results of one server; /props slots."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from spillover.cli import main
from spillover.config import LLMConfig, SimulationConfig
from spillover.exceptions import ConfigError
from spillover.llm import (
    CachedBackend,
    Completion,
    Faults,
    LLMRequest,
    OpenAIBackend,
    SQLiteStore,
    StandinServer,
)
from spillover.llm._openai import props_url
from spillover.llm._replicas import Replicas

Start = Callable[..., StandinServer]
SMALL = ["--n-nodes", "400", "--degree", "6", "--rounds", "10", "--replicates", "2"]
SMALL += ["--seeds", "3", "--seed", "11", "--quiet", "--llm-model", "standin-1"]
TABLES = ("curves", "exposures", "adoptions", "agents")


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def requests(n: int, **kw: Any) -> list[LLMRequest]:
    return [
        LLMRequest(model="standin-1", messages=(("system", "s"), ("user", f"q {i}")), **kw)
        for i in range(n)
    ]


def answers(out: list[Any]) -> list[tuple[Any, ...]]:
    return [(r.share, r.probability, r.text, r.valid) for r in out]


# -- the balancer alone -------------------------------------------------------------------------


class Dummy:
    def __init__(self, name: str) -> None:
        self.base_url = f"http://{name}.test/v1"
        self.identity = self.base_url

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[None]:
        yield None

    async def send(self, connection: Any, request: LLMRequest, *, seed: int) -> Completion:
        raise AssertionError("not sent")

    def describe(self) -> dict[str, Any]:
        return {"kind": "dummy"}


def test_the_least_loaded_replica_is_chosen_and_a_failed_one_set_aside() -> None:
    import asyncio

    now = [0.0]
    reps = Replicas([Dummy("a"), Dummy("b")], 2, clock=lambda: now[0])
    assert reps.identity == "http://a.test/v1" and reps.total == 4
    assert [reps.home(w) for w in range(4)] == [0, 0, 1, 1]

    async def scenario() -> None:
        reps.begin()
        assert [await reps.acquire() for _ in range(4)] == [0, 1, 0, 1]
        reps.release(0, answered=True)
        reps.release(1, failed=True)  # b set aside for 0.5 s
        assert not reps.up_besides(0) and reps.up_besides(1)
        reps.release(1, answered=False)
        assert await reps.acquire() == 0  # b is free but down: a takes it
        now[0] = 1.0  # b is back
        reps.release(0)
        reps.release(0)
        assert await reps.acquire(avoid=0) == 1

    asyncio.run(scenario())
    doc = reps.describe()
    # The scenario's acquires, in order: a, b, a, b, a (b down), b (avoiding a).
    assert doc[0]["http_attempts"] == 3 and doc[1]["http_attempts"] == 3
    assert doc[0]["transient_failures"] == 0 and doc[1]["transient_failures"] == 1


def test_when_every_replica_is_down_the_first_back_is_used() -> None:
    import asyncio

    now = [0.0]
    reps = Replicas([Dummy("a"), Dummy("b")], 1, clock=lambda: now[0])

    async def scenario() -> None:
        reps.begin()
        a, b = await reps.acquire(), await reps.acquire()
        reps.release(a, failed=True)
        now[0] = 0.1
        reps.release(b, failed=True)  # b comes back later than a
        assert await reps.acquire() == a

    asyncio.run(scenario())


# -- two stand-ins as replicas ------------------------------------------------------------------


def test_replicas_share_the_work_and_answer_as_one_server(standin: Start, tmp_path: Path) -> None:
    a, b = standin(latency_s=0.01), standin(latency_s=0.01)
    single = OpenAIBackend(a.url, concurrency=4)
    both = OpenAIBackend([a.url, b.url], concurrency=4)
    assert both.identity == single.identity == a.url  # the first names the server
    reqs = requests(40)
    one = single.complete(reqs)
    a.reset_log()
    two = both.complete(reqs)
    assert answers(one) == answers(two)
    n_a, n_b = len(a.chat_requests()), len(b.chat_requests())
    # The split is not deterministic: each request goes to the replica with the fewest in
    # flight when a worker asks, which depends on when the other answers came back (real
    # sockets and threads). The total is exact; each share only has to be a fair one.
    assert n_a + n_b == 40 and n_a >= 10 and n_b >= 10
    assert a.max_in_flight <= 4 and b.max_in_flight <= 4
    doc = both.describe()
    assert doc["base_url"] == [a.url, b.url] and len(doc["replicas"]) == 2
    assert sum(r["http_attempts"] for r in doc["replicas"]) == 40
    assert "replicas" not in single.describe() and single.describe()["base_url"] == a.url
    # One cache: the keys do not depend on which replica answered.
    store = SQLiteStore(tmp_path / "c.sqlite")
    CachedBackend(both, store).complete(reqs)
    again = CachedBackend(OpenAIBackend(a.url), SQLiteStore(tmp_path / "c.sqlite"))
    assert all(r.cached for r in again.complete(reqs))


def test_a_replica_that_fails_or_dies_is_routed_around(standin: Start) -> None:
    always = Faults(unavailable=1.0, fault_attempts=10**6)
    bad, good = standin(faults=always), standin(latency_s=0.005)
    backend = OpenAIBackend([bad.url, good.url], concurrency=4)
    out = backend.complete(requests(30))
    assert all(r.valid for r in out) and answers(out) == answers(
        OpenAIBackend(good.url).complete(requests(30))
    )
    # The failing replica was set aside after its first failures, not tried for every request.
    assert len(bad.chat_requests()) <= 8 and backend.accounting.failures == 0
    assert backend.accounting.retries == len(bad.chat_requests())

    # A replica that dies in the middle of a batch: its requests go to the other.
    c, d = standin(latency_s=0.02), standin(latency_s=0.02)
    pair = OpenAIBackend([c.url, d.url], concurrency=2)
    seen = []

    def on_response(i: int, _: Any) -> None:
        seen.append(i)
        if len(seen) == 6:
            d.stop()

    out = pair.complete(requests(40), on_response=on_response)
    assert all(r.valid for r in out) and len(out) == 40
    assert answers(out) == answers(OpenAIBackend(c.url).complete(requests(40)))
    assert len(d.chat_requests()) < 20 <= len(c.chat_requests())


def test_a_run_with_replicas_writes_what_one_server_writes(
    standin: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = standin(latency_s=0.002), standin(latency_s=0.002)
    one, two = tmp_path / "one", tmp_path / "two"
    cache_one, cache_two = tmp_path / "one.sqlite", tmp_path / "two.sqlite"
    argv = ["simulate", *SMALL, "--llm-base-url", a.url]
    assert run([*argv, "--cache", str(cache_one), "--out", str(one)]) == 0
    n_single = len(a.chat_requests())
    a.reset_log()
    argv2 = [*argv, "--llm-base-url", b.url, "--cache", str(cache_two), "--out", str(two)]
    assert run(argv2) == 0
    assert f"at {a.url}, {b.url} (2 replicas): " in capsys.readouterr().out
    assert a.chat_requests() and b.chat_requests()
    assert len(a.chat_requests()) + len(b.chat_requests()) == n_single
    for name in TABLES:
        assert pq.read_table(one / f"{name}.parquet").equals(pq.read_table(two / f"{name}.parquet"))
    assert (one / "llm_table.json").read_bytes() == (two / "llm_table.json").read_bytes()
    m1 = json.loads((one / "manifest.json").read_text())
    m2 = json.loads((two / "manifest.json").read_text())
    assert m1["llm"]["base_url"] == a.url and m1["config"]["llm_base_url"] == a.url
    assert m2["llm"]["base_url"] == [a.url, b.url]
    assert m2["config"]["llm_base_url"] == [a.url, b.url]
    assert [r["base_url"] for r in m2["llm"]["backend"]["replicas"]] == [a.url, b.url]
    # One cache file, keyed as the single server's: a run against the first replica alone
    # is answered from it.
    a.reset_log()
    three = tmp_path / "three"
    assert run([*argv, "--cache", str(cache_two), "--out", str(three)]) == 0
    assert a.chat_requests() == []
    assert SimulationConfig.from_flat(m2["config"]).llm.base_url == (a.url, b.url)


# -- the server's slots --------------------------------------------------------------------------


def _props_server(props: Callable[[int], httpx.Response]) -> tuple[OpenAIBackend, list[str]]:
    """A backend on an httpx.MockTransport: ``props(n)`` answers the n-th ``/props``
    question (or raises), chat completions answer yes."""
    paths: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        paths.append(req.url.path)
        if req.url.path.endswith("/props"):
            return props(paths.count(req.url.path))
        doc = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": '{"share": "yes"}'},
                    "logprobs": None,
                }
            ],
        }
        return httpx.Response(200, json=doc)

    backend = OpenAIBackend("http://127.0.0.1:9/v1", transport=httpx.MockTransport(handler))
    return backend, paths


def test_a_server_that_hangs_on_props_is_asked_once_per_run() -> None:
    def hangs(n: int) -> httpx.Response:
        raise httpx.ReadTimeout("no answer")  # what a hang becomes at the 5 s deadline

    backend, paths = _props_server(hangs)
    for batch in range(3):
        assert all(r.valid for r in backend.complete(requests(3, temperature=0.1 * batch)))
    assert paths.count("/props") == 1
    assert "server_slots" not in backend.describe()
    # A server that cannot answer yet (a 503 while it starts) is asked again, at most 3 times,
    # and its answer is kept once it comes.
    starting, paths = _props_server(
        lambda n: httpx.Response(503) if n < 2 else httpx.Response(200, json={"total_slots": 2})
    )
    for batch in range(4):
        starting.complete(requests(3, temperature=0.1 * batch))
    assert paths.count("/props") == 2 and starting.describe()["server_slots"] == 2
    down, paths = _props_server(lambda n: httpx.Response(503))
    for batch in range(5):
        down.complete(requests(2, temperature=0.1 * batch))
    assert paths.count("/props") == 3


def test_concurrency_is_capped_at_the_slots_that_props_reports(standin: Start) -> None:
    assert props_url("http://h:8080/v1") == "http://h:8080/props"
    assert props_url("http://h:8080/api") == "http://h:8080/api/props"
    llama = standin(latency_s=0.02, slots=2)
    backend = OpenAIBackend(llama.url, concurrency=8)
    assert all(r.valid for r in backend.complete(requests(24)))
    assert llama.max_in_flight == 2
    assert backend.describe()["server_slots"] == 2
    assert [r["_path"] for r in llama.log].count("/props") == 1
    backend.complete(requests(4, temperature=0.5))  # learned once, not asked again
    assert [r["_path"] for r in llama.log].count("/props") == 1
    # A server without /props (OpenAI, vLLM) keeps the configured concurrency.
    plain = standin(latency_s=0.02)
    other = OpenAIBackend(plain.url, concurrency=6)
    other.complete(requests(24))
    assert plain.max_in_flight == 6 and "server_slots" not in other.describe()
    # Replicas: each at most its own slots, the configured concurrency for the others.
    small, big = standin(latency_s=0.02, slots=1), standin(latency_s=0.02)
    pair = OpenAIBackend([small.url, big.url], concurrency=3)
    pair.complete(requests(30, temperature=0.7))
    assert small.max_in_flight == 1 and big.max_in_flight == 3
    assert [r["concurrency"] for r in pair.describe()["replicas"]] == [1, 3]


# -- settings -------------------------------------------------------------------------------------


def test_several_urls_in_the_config_and_its_file(tmp_path: Path) -> None:
    from spillover.io import load_config, read_config

    urls = ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]
    one = LLMConfig(base_url=[urls[0]], model="m")  # type: ignore[arg-type]
    assert one.base_url == urls[0]  # one replica is one server
    cfg = SimulationConfig(policy="llm", llm=LLMConfig(base_url=urls, model="m"))  # type: ignore[arg-type]
    assert cfg.llm.base_url == tuple(urls)
    assert SimulationConfig.from_flat(cfg.to_dict()) == cfg
    assert json.loads(json.dumps(cfg.to_dict()))["llm_base_url"] == urls
    toml = tmp_path / "run.toml"
    toml.write_text(f"[llm]\nbase_url = {json.dumps(urls)}\nmodel = 'm'\n")
    assert read_config(toml)["llm_base_url"] == urls
    assert load_config(toml).llm.base_url == tuple(urls)
    yaml = tmp_path / "run.yaml"
    yaml.write_text(f"llm:\n  base_url:\n    - {urls[0]}\n    - {urls[1]}\n  model: m\n")
    assert load_config(yaml).llm.base_url == tuple(urls)
    with pytest.raises(ConfigError, match=r"llm\.base_url \(the 2nd of 2\) must start with http"):
        SimulationConfig(policy="llm", llm=LLMConfig(base_url=(urls[0], "ftp://x"), model="m"))
    with pytest.raises(ConfigError, match="twice"):
        SimulationConfig(policy="llm", llm=LLMConfig(base_url=(urls[0], urls[0] + "/"), model="m"))
    with pytest.raises(ConfigError, match="at least one server"):
        LLMConfig(base_url=[], model="m")  # type: ignore[arg-type]
    bad = tmp_path / "bad.toml"
    bad.write_text("[llm]\nbase_url = [1, 2]\nmodel = 'm'\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: llm\.base_url: Input should be"):
        read_config(bad)


def test_a_bad_second_url_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", *SMALL, "--llm-base-url", "http://127.0.0.1:1/v1"]
    assert run([*argv, "--llm-base-url", "ftp://x", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "llm.base_url (the 2nd of 2) must start with http:// or https://" in err
    assert err.rstrip().endswith("(--llm-base-url)")
    secret = "http://user:sk-live-abcdef123456@127.0.0.1:2/v1"
    assert run([*argv, "--llm-base-url", secret, "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "must not hold credentials" in err and "sk-live-abcdef123456" not in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_dry_run_names_the_replicas(standin: Start, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = standin(), standin()
    argv = ["simulate", *SMALL, "--llm-base-url", a.url, "--llm-base-url", b.url, "--dry-run"]
    assert run(argv) == 0
    out = capsys.readouterr().out
    assert f"{a.url}, {b.url} (2 replicas)" in out and not a.log and not b.log


# -- adaptive concurrency -------------------------------------------------------------------------


def test_the_limit_halves_on_overload_once_per_cut_and_grows_while_latency_holds() -> None:
    from spillover.llm._replicas import Replica

    r = Replica(Dummy("a"), 8)
    assert r.allowed == 8
    r.adapt(1.0, overloaded=True, started=0.0, latency=None)
    assert r.allowed == 4 and r.halvings == 1
    r.adapt(1.1, overloaded=True, started=0.5, latency=None)  # sent before the cut: no cut
    assert r.allowed == 4 and r.halvings == 1
    r.adapt(2.0, overloaded=True, started=1.5, latency=None)
    assert r.allowed == 2
    for _ in range(3):
        r.adapt(3.0, overloaded=False, started=2.5, latency=0.1)
    assert r.allowed == 3  # 2 + 1/2 + 1/2.5 + 1/2.9 > 3
    before = r.limit
    r.adapt(3.0, overloaded=False, started=2.5, latency=0.5)  # slower than 2x the fastest
    assert r.limit == before
    for _ in range(200):
        r.adapt(3.0, overloaded=False, started=2.5, latency=0.1)
    assert r.allowed == 8  # never above the configured concurrency
    known = Replica(Dummy("b"), 8, slots=2)
    known.adapt(1.0, overloaded=True, started=0.0, latency=None)
    assert known.allowed == 2 and known.halvings == 0  # the server said how many


def test_rate_limits_and_timeouts_halve_the_requests_in_flight(standin: Start) -> None:
    reqs = requests(40)
    clean = OpenAIBackend(standin().url).complete(reqs)
    limited = standin(latency_s=0.01, faults=Faults(rate_limit=0.3, retry_after="0"))
    backend = OpenAIBackend(limited.url, concurrency=8)
    out = backend.complete(reqs)
    assert answers(out) == answers(clean)
    doc = backend.describe()
    # Lower bounds only: which requests meet the injected faults, and so how many cuts and
    # retries there are, depends on the order in which concurrent requests reach the server.
    assert doc["concurrency_halvings"] >= 1 and 1 <= doc["concurrency_limit"] <= 8
    # The faults hit fixed requests, once each: every retry is one more request logged.
    assert backend.accounting.retries == len(limited.chat_requests()) - len(reqs) >= 1
    slow = standin(latency_s=0.01, faults=Faults(timeout=0.2, hang_s=0.6))
    backend = OpenAIBackend(slow.url, concurrency=8, timeout_s=0.3)
    out = backend.complete(reqs)
    assert answers(out) == answers(clean) and backend.accounting.retries >= 1
    assert backend.describe()["concurrency_halvings"] >= 1
    # Fault-free runs keep the configured concurrency, and their manifests as they were.
    steady = standin(latency_s=0.02)
    backend = OpenAIBackend(steady.url, concurrency=5)
    backend.complete(reqs)
    assert steady.max_in_flight == 5 and "concurrency_halvings" not in backend.describe()
