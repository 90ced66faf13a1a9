"""The command line with LLM agents: flags, config sections, manifest, secrets, dry runs, resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from spillover.cli import main
from spillover.config import LLMConfig, SimulationConfig
from spillover.llm import LLMRequest, StandinServer

Start = Callable[..., StandinServer]
SECRET = "sk-test-DO-NOT-LEAK-9f8e7d6c5b4a"
SMALL = ["--n-nodes", "400", "--degree", "6", "--rounds", "10", "--replicates", "2"]
SMALL += ["--seeds", "3", "--seed", "11", "--quiet"]
TABLES = ("curves", "exposures", "adoptions", "agents")


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def llm_flags(server: StandinServer, *extra: str) -> list[str]:
    return ["--llm-base-url", server.url, "--llm-model", "standin-1", *extra]


def test_simulate_with_llm_agents_writes_the_llm_record(
    standin: Start,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MY_KEY", SECRET)
    server = standin()
    out, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    argv = ["simulate", *SMALL, *llm_flags(server), "--llm-api-key-env", "MY_KEY"]
    argv += ["--cache", str(cache), "--llm-price-prompt", "0.000001", "--out", str(out)]
    assert run(argv) == 0
    captured = capsys.readouterr()
    assert "LLM standin-1 at http://127.0.0.1" in captured.out and "160 requests" in captured.out
    manifest = json.loads((out / "manifest.json").read_text())
    llm = manifest["llm"]
    assert manifest["policy"]["kind"] == "llm" and manifest["config"]["policy"] == "llm"
    assert llm["model"] == "standin-1" and llm["base_url"] == server.url
    assert llm["prompt_versions"] == {
        "persona": "persona-v1",
        "archetype": "archetype-v2",
        "feed": "feed-v2",
    }
    acc = llm["accounting"]
    assert acc["requests"] == 160 and acc["cache_misses"] == 160 and acc["retries"] == 0
    assert acc["prompt_tokens"] > 0 and acc["cost_estimate"] > 0
    assert llm["answers"]["invalid_answers_used"] == 0 and llm["api_key_env"] == "MY_KEY"
    assert (out / "llm_table.json").is_file()
    # The key went to the server, and nowhere else.
    assert {r["_auth"] for r in server.chat_requests()} == {f"Bearer {SECRET}"}
    written = b"".join(p.read_bytes() for p in [*out.iterdir(), *tmp_path.glob("cache*")])
    assert SECRET.encode() not in written
    assert SECRET not in captured.out + captured.err


def test_feed_mode_writes_posts(standin: Start, tmp_path: Path) -> None:
    server = standin(hostile_posts=True)
    out = tmp_path / "feed"
    argv = ["simulate", "--n-nodes", "120", "--degree", "4", "--rounds", "4", "--seed", "3"]
    argv += ["--replicates", "2", "--seeds", "3", "-q"]
    argv += llm_flags(server, "--llm-mode", "feed", "--llm-feed-cap", "3")
    assert run([*argv, "--out", str(out)]) == 0
    posts = pq.read_table(out / "posts.parquet")
    assert posts.column_names == [
        "replicate",
        "round",
        "agent",
        "text",
        "post_status",
        "copied",
    ]
    assert set(posts.column("post_status").to_pylist()) == {"ok"}
    rounds, copied = posts.column("round").to_pylist(), posts.column("copied").to_pylist()
    assert all(c == "news" for r, c in zip(rounds, copied, strict=True) if r == 0)
    adoptions = pq.read_table(out / "adoptions.parquet")
    assert posts.num_rows == adoptions.num_rows
    texts = posts.column("text").to_pylist()
    assert any("<script>" in t for t in texts)  # stored as data, verbatim
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["llm"]["mode"] == "feed" and manifest["llm"]["answers"]["feed_decisions_asked"] > 0
    )
    table = json.loads((out / "llm_table.json").read_text())
    assert "feed-mode run" in table["source"]["built_from"]
    # The report shows the first posts by round, with persona and flags, escaped.
    from spillover.personas import PERSONAS
    from spillover.report import build_run_report

    html = build_run_report(out, n_folds=0).read_text()
    section = html.split("<h2>Posts (feed mode)</h2>", 1)[1].split("<h2>", 1)[0]
    assert f"{posts.num_rows:,} posts" in section
    rows = section.count("<tr><td class='num'>")
    assert rows == min(5, sum(r > 0 for r in rounds))
    assert "<script>" not in section and "&lt;script&gt;" in section
    assert any(p.code in section for p in PERSONAS)


def test_dry_run_counts_requests_and_sends_none(
    standin: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = standin()
    out = tmp_path / "never"
    assert run(["simulate", *SMALL, *llm_flags(server), "--dry-run", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "distinct prompts (persona x exposure bucket 0, 1, 2, 3-4, 5-8): 160" in text
    assert "log-probabilities: 160" in text and "at most" in text and "1,600" in text
    assert "no request was sent" in text
    assert server.chat_requests() == [] and not out.exists()
    assert run(["simulate", *SMALL, "--dry-run"]) == 2  # not an LLM run


def test_dry_run_counts_exactly_what_the_run_sends_for_the_personas_present(
    standin: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A persona file holding one persona: the run asks that persona's keys only, and the dry
    # run's count is what the server then receives.
    personas = tmp_path / "one.csv"
    personas.write_text("node,persona\n" + "".join(f"{i},3\n" for i in range(400)))
    server = standin()
    argv = ["simulate", *SMALL, *llm_flags(server), "--personas", str(personas)]
    assert run([*argv, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "distinct prompts (persona x exposure bucket 0, 1, 2, 3-4, 5-8): 5" in text
    assert "log-probabilities: 5" in text
    assert run([*argv, "--out", str(tmp_path / "run")]) == 0
    assert len(server.chat_requests()) == 5
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["llm"]["accounting"]["requests"] == 5


def test_config_file_llm_section(standin: Start, tmp_path: Path) -> None:
    server = standin()
    toml = tmp_path / "run.toml"
    toml.write_text(
        "[simulate]\nn_nodes = 300\ndegree = 4\nn_rounds = 5\nn_reps = 1\nseed = 2\n\n"
        f'[simulate.llm]\nbase_url = "{server.url}"\nmodel = "standin-1"\nconcurrency = 4\n'
        'cache = "cache.sqlite"\nbuckets = [0, 1, 2, 4]\ninvalid = "not_shared"\n'
    )
    from spillover.io import load_config, read_config

    values = read_config(toml)
    assert values["llm_base_url"] == server.url and values["cache"] == str(
        tmp_path / "cache.sqlite"
    )
    assert values["llm_buckets"] == "0,1,2,4"
    cfg = load_config(toml, {"llm_concurrency": 2})
    assert cfg.policy == "llm" and cfg.llm.concurrency == 2 and cfg.llm.invalid == "not_shared"
    assert run(["simulate", "--config", str(toml), "-q", "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "cache.sqlite").is_file()
    yaml = tmp_path / "run.yaml"
    yaml.write_text(f"n_nodes: 300\nllm:\n  base_url: {server.url}\n  model: x\n  mode: feed\n")
    assert load_config(yaml).llm.mode == "feed"
    bad = tmp_path / "bad.toml"
    bad.write_text('[llm]\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "m"\nkey = "sk-123"\n')
    with pytest.raises(Exception, match=r"llm\.key: unknown LLM setting"):
        read_config(bad)


def test_tabulated_replay_of_an_llm_run(standin: Start, tmp_path: Path) -> None:
    server = standin()
    llm_out, replay_out = tmp_path / "llm", tmp_path / "replay"
    assert run(["simulate", *SMALL, *llm_flags(server), "--out", str(llm_out)]) == 0
    n_sent = len(server.chat_requests())
    table = str(llm_out / "llm_table.json")
    assert run(["simulate", *SMALL, "--policy-table", table, "--out", str(replay_out)]) == 0
    assert len(server.chat_requests()) == n_sent  # offline
    for name in ("curves", "exposures", "adoptions"):
        assert pq.read_table(llm_out / f"{name}.parquet").equals(
            pq.read_table(replay_out / f"{name}.parquet")
        )
    assert json.loads((replay_out / "manifest.json").read_text())["policy"]["kind"] == "tabulated"


def test_errors_are_one_line(
    standin: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = standin()
    assert run(["simulate", *SMALL, *llm_flags(server), "--llm-mode", "chat"]) == 2
    assert run(["simulate", *SMALL, "--llm-model", "m", "--out", str(tmp_path / "x")]) == 2
    assert "applies only to policy 'llm'" in capsys.readouterr().err
    server.stop()
    out = tmp_path / "down"
    argv = ["simulate", *SMALL, *llm_flags(server), "--llm-max-retries", "1", "--out", str(out)]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the LLM server at http://127.0.0.1") and "Traceback" not in err
    assert not out.exists()
    assert run(["simulate", *SMALL, "--llm-api-key-env", "sk-live-1234567890"]) == 2
    assert "sk-live-1234567890" not in capsys.readouterr().err


def test_prompts_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["prompts", "show", "--persona", "O+C-E+A-N+", "-m", "6"]) == 0
    text = capsys.readouterr().out
    assert "persona 21 (O+C-E+A-N+)" in text and "Between 5 and 8 of the people" in text
    assert "[Fictional example]" in text  # printed verbatim, not eaten as markup
    assert run(["prompts", "show", "--mode", "feed", "--post", "a <b>", "--json", "-p", "3"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert "a &lt;b&gt;" in body["messages"][1]["content"]
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["share", "post"]
    assert run(["prompts", "show", "--persona", "XYZ"]) == 2


def _count(cache: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _prompts_in_cache(cache: Path) -> set[tuple[str, int]]:
    con = sqlite3.connect(f"file:{cache}?mode=ro", uri=True)
    try:
        rows = [json.loads(r) for (r,) in con.execute("SELECT request FROM answers")]
    finally:
        con.close()
    out = set()
    for d in rows:
        req = LLMRequest(**{**d, "messages": tuple(tuple(m) for m in d["messages"])})
        out.add((json.dumps(d["messages"]), req.seed))
    return out


@pytest.mark.slow
def test_resume_after_sigkill(standin: Start, tmp_path: Path) -> None:
    server = standin(latency_s=0.05, latency_jitter_s=0.02)
    cache = tmp_path / "cache.sqlite"
    out = tmp_path / "run"
    argv = [sys.executable, "-c", "from spillover.cli import main; main()", "simulate"]
    argv += [*SMALL, *llm_flags(server, "--llm-concurrency", "2"), "--cache", str(cache)]
    argv += ["--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while _count(cache) < 40:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the run did not start answering"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL and not out.exists()
    answered = _prompts_in_cache(cache)
    assert 40 <= len(answered) < 160

    server.reset_log()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    asked_again = {
        (json.dumps([[m["role"], m["content"]] for m in r["messages"]]), r["seed"])
        for r in server.chat_requests()
    }
    assert asked_again and not asked_again & answered  # nothing answered before was re-asked
    assert len(asked_again) + len(answered) >= 160
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["llm"]["accounting"]["cache_hits"] >= len(answered)

    # The resumed run equals an uninterrupted one with the same seed (fresh cache).
    fresh = tmp_path / "fresh"
    cfg_argv = ["simulate", *SMALL, *llm_flags(server), "--cache", str(tmp_path / "other.sqlite")]
    assert run([*cfg_argv, "--out", str(fresh)]) == 0
    for name in TABLES:
        assert pq.read_table(out / f"{name}.parquet").equals(
            pq.read_table(fresh / f"{name}.parquet")
        )


def test_config_is_json_clean() -> None:
    llm = LLMConfig(base_url="http://127.0.0.1:1/v1", model="m")
    cfg = SimulationConfig(policy="llm", llm=llm)
    assert json.loads(json.dumps(cfg.to_dict()))["llm_api_key_env"] == "OPENAI_API_KEY"
