"""An LLM study against the loopback stand-in server: the dry run's count of requests is what
the run sends, and a rerun (or a second dry run) finds every answer in the study's cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spillover.llm._standin import StandinServer
from spillover.study import plan_study, read_study, run_study
from spillover.sweeps import SerialExecutor

pytestmark = pytest.mark.slow


@pytest.fixture
def server() -> Any:
    with StandinServer(latency_s=0.0, max_lifetime_s=500) as s:
        yield s


def _study(tmp_path: Path, server: StandinServer) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(
        f"""\
seed: 5
events:
  per_type: 1
  types: [Riots]
design:
  degrees: [4, 6]
  n_nodes: 200
  n_reps: 2
  n_rounds: 5
  n_seeds: 2
policy:
  kind: server
  base_url: {server.url}
  model: standin-1
  buckets: "0,1,3"
  samples: 2
  price_prompt: 0.000001
  price_completion: 0.000002
analysis:
  models: [si, si2]
  folds: 0
  cell_reports: false
""",
        encoding="utf-8",
    )
    return path


def test_the_dry_run_counts_exactly_what_the_run_sends(
    tmp_path: Path, server: StandinServer
) -> None:
    spec = read_study(_study(tmp_path, server))
    out = tmp_path / "out"
    plan = plan_study(spec, out)
    llm = plan["llm"]
    assert not out.exists()  # a dry run writes nothing
    assert server.chat_requests() == []  # and sends nothing
    # 32 personas x the buckets both degrees reach (0, 1-2, 3+): the two cells share their
    # prompts, so the second adds none.
    assert llm["distinct_requests"] == 32 * 3
    assert llm["worst_case"] == 32 * 3 * 2  # two samples per prompt without log-probabilities
    assert llm["cached"] == 0 and llm["to_send"] == llm["distinct_requests"]
    assert llm["prompt_tokens_estimate"] > 0
    assert llm["cost_estimate"] == pytest.approx(
        llm["prompt_tokens_estimate"] * 1e-6 + llm["completion_tokens_max"] * 2e-6
    )
    summary = run_study(spec, out, executor=SerialExecutor())
    assert summary.ok
    assert len(server.chat_requests()) == llm["to_send"]
    again = plan_study(spec, out)["llm"]
    assert again["cached"] == again["distinct_requests"] == llm["distinct_requests"]
    assert again["to_send"] == 0
    rerun = run_study(spec, out, executor=SerialExecutor(), force=True)
    assert rerun.ok and rerun.sweep.ran == 2
    assert len(server.chat_requests()) == llm["to_send"]  # all from the cache
    assert rerun.document["rates_by_event_type"] == summary.document["rates_by_event_type"]
