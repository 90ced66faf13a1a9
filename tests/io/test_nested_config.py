"""The nested run configuration: vocabularies declared once, nested parameter names in errors,
the command line's one mapping of parameters to flags, flat round trips and the old keywords."""

from __future__ import annotations

import ast
import pickle
import typing
from pathlib import Path

import pytest

import spillover
from spillover import _vocab
from spillover.cli._app import main
from spillover.cli._simulate_options import FLAG_OF, SETTINGS, config_overrides, flags_on_errors
from spillover.config import (
    FLAT_KEYS,
    LLM_FIELDS,
    LLMConfig,
    SimulationConfig,
    flat_types,
    param_name,
)
from spillover.exceptions import ConfigError, GraphError
from spillover.io import load_config, read_config

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "spillover"

#: The manifest's ``config`` document before the settings were nested (a file contract).
MANIFEST_ORDER = (
    *("n_nodes", "degree", "graph", "rewire_prob", "edge_list", "n_rounds", "n_reps"),
    *("n_seeds", "policy", "alpha", "beta", "events", "event_id", "personas", "seed"),
    *("by_persona", "policy_table", "llm_base_url", "llm_local", "llm_gguf", "llm_local_slots"),
    *("llm_local_threads", "llm_model", "llm_mode", "llm_api_key_env", "llm_concurrency"),
    *("llm_timeout_s", "llm_max_retries", "llm_temperature", "llm_max_tokens", "llm_samples"),
    *("llm_probability", "llm_structured", "llm_buckets", "llm_feed_cap", "llm_invalid"),
    *("llm_invalid_retries", "llm_price_prompt", "llm_price_completion", "offline_reach"),
    *("offline_reach_scale", "cache", "cache_mode"),
)


def _llm_config(**llm: object) -> SimulationConfig:
    return SimulationConfig(policy="llm", llm=LLMConfig(local=True, **llm))  # type: ignore[arg-type]


# -- vocabularies -------------------------------------------------------------------------------


def test_every_reader_holds_the_same_vocabulary_tuples() -> None:
    from spillover import config
    from spillover.llm import _cache, _openai, _types
    from spillover.policies import _llm, _tabulated

    assert config.CACHE_MODES is _cache.CACHE_MODES is _vocab.CACHE_MODES
    assert _openai.STRUCTURED_MODES is config.STRUCTURED_MODES is _vocab.STRUCTURED_MODES
    assert _llm.LLM_MODES is _types.ANSWER_FORMATS is config.LLM_MODES is _vocab.LLM_MODES
    assert _llm.PROBABILITY_SOURCES is config.PROBABILITY_METHODS is _vocab.PROBABILITY_SOURCES
    assert _llm.INVALID_RULES is config.INVALID_RULES is _vocab.INVALID_RULES
    assert _tabulated.REACH_SCALES is config.REACH_SCALES is _vocab.REACH_SCALES
    for name, values in _vocab.VOCABULARIES.items():
        assert values == typing.get_args(flat_types()[_flat(name)]), name


def _flat(param: str) -> str:
    return next(k for k in FLAT_KEYS if param_name(k) == param)


def test_the_config_types_are_the_vocabularies() -> None:
    hints = {**typing.get_type_hints(SimulationConfig)}
    llm_hints = typing.get_type_hints(LLMConfig)
    for param, values in _vocab.VOCABULARIES.items():
        hint = llm_hints[param[4:]] if param.startswith("llm.") else hints[param]
        assert typing.get_args(hint) == values, param


def _string_sets(tree: ast.AST) -> list[tuple[int, frozenset[str]]]:
    """Tuples, lists and Literal[...] subscripts of two or more string constants."""
    found = []
    for node in ast.walk(tree):
        items = None
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = node.elts
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
            items = node.slice.elts
        if (
            items
            and len(items) >= 2
            and all(isinstance(x, ast.Constant) and isinstance(x.value, str) for x in items)
        ):
            found.append((node.lineno, frozenset(x.value for x in items)))  # type: ignore[attr-defined]
    return found


def test_no_module_restates_a_vocabulary() -> None:
    vocabularies = {frozenset(v): k for k, v in _vocab.VOCABULARIES.items()}
    restated = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "_vocab.py":
            continue
        for line, values in _string_sets(ast.parse(path.read_text(encoding="utf-8"))):
            if values in vocabularies:
                restated.append(f"{path.relative_to(SRC)}:{line} {vocabularies[values]}")
    assert restated == []


def test_the_command_line_and_the_file_reader_use_the_vocabulary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--llm-local", "--llm-mode", "chat", "--dry-run"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"llm.mode must be one of {', '.join(_vocab.LLM_MODES)}; got 'chat'" in err
    assert err.rstrip().endswith("(--llm-mode)")
    # Dashes are read as the underscores of a vocabulary that has them.
    assert config_overrides({"cache_mode": "read-only", "graph": "erdos-renyi"}) == {
        "cache_mode": "read_only",
        "graph": "erdos-renyi",
    }
    bad = tmp_path / "bad.toml"
    bad.write_text('[llm]\nmode = "chat"\n')
    with pytest.raises(ConfigError) as error:
        read_config(bad)
    assert all(repr(mode) in str(error.value) for mode in _vocab.LLM_MODES)


# -- errors name the nested parameter, the command line adds the flag --------------------------


@pytest.mark.parametrize(
    ("build", "param"),
    [
        (lambda: LLMConfig(concurrency=0), "llm.concurrency"),
        (lambda: LLMConfig(timeout_s=0), "llm.timeout_s"),
        (lambda: LLMConfig(temperature=3.0), "llm.temperature"),
        (lambda: LLMConfig(mode="chat"), "llm.mode"),
        (lambda: LLMConfig(buckets="1,2"), "llm.buckets"),
        (lambda: LLMConfig(api_key_env="sk-abc-123"), "llm.api_key_env"),
        (lambda: LLMConfig(cache_mode="read_only"), "llm.cache_mode"),
        (lambda: LLMConfig(local_slots=0), "llm.local_slots"),
        (lambda: SimulationConfig(policy="llm"), "llm.base_url"),
        (lambda: SimulationConfig(llm=LLMConfig(model="m")), "llm.model"),
        (lambda: _llm_config(base_url="http://localhost:1/v1"), "llm.base_url"),
        (lambda: SimulationConfig(policy="tabulated"), "policy_table"),
        (lambda: SimulationConfig(policy="constant", alpha=0.1), "beta"),
        (lambda: SimulationConfig(alpha=0.1), "alpha"),
        (lambda: SimulationConfig(n_rounds=0), "n_rounds"),
        (
            lambda: SimulationConfig(policy="llm", llm=LLMConfig(base_url="ftp://x", model="m")),
            "llm.base_url",
        ),
    ],
)
def test_library_errors_name_parameters_not_flags(build: object, param: str) -> None:
    with pytest.raises(ConfigError) as exc:
        build()  # type: ignore[operator]
    message = str(exc.value)
    assert "--" not in message
    assert param in message and param == exc.value.params[0]
    assert all(p in FLAG_OF for p in exc.value.params)


def test_the_flag_mapping_covers_every_setting_once() -> None:
    from typer.main import get_command

    from spillover.cli._app import app

    assert sorted(FLAG_OF) == sorted(param_name(k) for k in FLAT_KEYS)
    assert len(set(FLAG_OF.values())) == len(FLAG_OF)
    assert FLAG_OF["n_rounds"] == "--rounds" and FLAG_OF["llm.timeout_s"] == "--llm-timeout"
    assert FLAG_OF["llm.cache"] == "--cache" and FLAG_OF["llm.cache_mode"] == "--cache-mode"
    assert FLAG_OF["llm.concurrency"] == "--llm-concurrency"
    group = get_command(app)
    simulate = group.commands["simulate"]  # type: ignore[attr-defined]
    flags = {opt for p in simulate.params for opt in p.opts}
    assert set(FLAG_OF.values()) <= flags
    assert [s.name for s in SETTINGS] == [p.name for p in simulate.params][1 : len(SETTINGS) + 1]


def test_the_command_line_adds_the_flags_of_the_parameters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--llm-local", "--llm-concurrency", "0", "--dry-run"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: llm.concurrency must be >= 1; got 0 (--llm-concurrency)"
    )
    with pytest.raises(SystemExit):
        main(["simulate", "--llm-local", "--cache-mode", "read_only", "--dry-run"])
    assert capsys.readouterr().err.strip() == (
        "error: llm.cache_mode 'read_only' needs llm.cache, a cache file (--cache-mode, --cache)"
    )
    with pytest.raises(GraphError) as error, flags_on_errors():
        raise GraphError("degree is odd", params=("degree", "n_nodes"))
    assert str(error.value) == "degree is odd (--degree, --n-nodes)"
    assert error.value.params == ("degree", "n_nodes")


def test_params_survive_pickling() -> None:
    error = pickle.loads(pickle.dumps(ConfigError("x", params=("llm.samples",))))
    assert str(error) == "x" and error.params == ("llm.samples",)


# -- flat names: round trip, manifests, sweeps, files ------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        SimulationConfig(),
        SimulationConfig(policy="constant", alpha=0.01, beta=0.1, seed=3, by_persona=True),
        SimulationConfig(policy="tabulated", policy_table="t.json", offline_reach=0.2),
        SimulationConfig(
            policy="llm",
            offline_reach_scale="fatalities",
            llm=LLMConfig(
                base_url="http://localhost:8000/v1",
                model="m",
                mode="feed",
                concurrency=3,
                buckets="0,1,4",
                price_prompt=1e-6,
                cache="c.sqlite",
                cache_mode="refresh",
            ),
        ),
    ],
)
def test_flat_round_trip(config: SimulationConfig) -> None:
    flat = config.to_dict()
    assert SimulationConfig.from_flat(flat) == config
    assert list(flat) == [k for k in MANIFEST_ORDER if k in flat]


def test_flat_keys_are_the_documented_names() -> None:
    assert FLAT_KEYS == MANIFEST_ORDER
    prefixed = [k for k in MANIFEST_ORDER if k.startswith("llm_")]
    assert [*prefixed, "cache", "cache_mode"] == list(LLM_FIELDS)
    llm = _llm_config(concurrency=2, cache="c.sqlite").to_dict()
    assert list(llm) == [k for k in MANIFEST_ORDER if k != "policy_table"]
    assert param_name("cache") == "llm.cache" and param_name("llm_gguf") == "llm.gguf"
    assert param_name("n_nodes") == "n_nodes"


def test_replace_takes_flat_names_and_the_nested_value() -> None:
    base = SimulationConfig()
    flat = base.replace(policy="llm", llm_local=True, llm_samples=3, cache="c.sqlite")
    assert flat == SimulationConfig(
        policy="llm", llm=LLMConfig(local=True, samples=3, cache="c.sqlite")
    )
    assert flat.replace(llm_samples=4).llm.samples == 4
    nested = base.replace(policy="llm", llm=LLMConfig(local=True), llm_samples=5)
    assert nested.llm == LLMConfig(local=True, samples=5)
    with pytest.raises(ConfigError, match="unknown configuration key"):
        base.replace(llm_colour="red")
    with pytest.raises(ConfigError, match=r"llm\.samples must be >= 1"):
        base.replace(llm_samples=0)


def test_flat_keywords_of_the_constructor_name_the_nested_parameter() -> None:
    with pytest.raises(TypeError, match=r"llm_model -> llm\.model.*LLMConfig\(model=") as exc:
        SimulationConfig(policy="llm", llm_model="m")  # type: ignore[call-arg]
    assert "from_flat" in str(exc.value)
    with pytest.raises(TypeError, match=r"cache -> llm\.cache"):
        SimulationConfig(cache="c.sqlite")  # type: ignore[call-arg]
    assert spillover.LLMConfig is LLMConfig


def test_config_files_keep_their_keys(tmp_path: Path) -> None:
    flat = tmp_path / "flat.toml"
    flat.write_text(
        'policy = "llm"\nllm_local = true\nllm_concurrency = 2\ncache = "c.sqlite"\n'
        'cache_mode = "refresh"\n'
    )
    section = tmp_path / "section.yaml"
    section.write_text(
        "simulate:\n  policy: llm\n  llm:\n    local: true\n    concurrency: 2\n"
        "    cache: c.sqlite\n    cache_mode: refresh\n"
    )
    expected = LLMConfig(local=True, concurrency=2, cache=str(tmp_path / "c.sqlite"))
    expected = LLMConfig(**{**expected.__dict__, "cache_mode": "refresh"})
    assert load_config(flat).llm == expected
    assert load_config(section).llm == expected


def test_the_example_config_files_load() -> None:
    from spillover.study import read_study

    cfg = load_config(ROOT / "examples" / "simulate.toml")
    assert (cfg.n_nodes, cfg.policy, cfg.seed, cfg.by_persona) == (10000, "constant", 7, True)
    for name in ("study-quick.toml", "study-paper.toml"):
        study = read_study(ROOT / "examples" / name)
        sweep = study.sweep_spec()
        for cell in range(sweep.n_cells):
            config = sweep.cell_config(cell, seed=0)
            assert config.policy == "llm"
            assert config.llm.uses_local_server or config.llm.model is not None
