"""The options of ``spillover simulate``, one type alias each (the command reads them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spillover.config import (
    CACHE_MODES,
    GRAPH_KINDS,
    INVALID_RULES,
    LLM_MODES,
    POLICY_KINDS,
    PROBABILITY_METHODS,
    STRUCTURED_MODES,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML or YAML config file; flags override its values."),
]

NNodesOption = Annotated[
    int | None, typer.Option("--n-nodes", help="Agents in the network. \\[default: 3200]")
]

DegreeOption = Annotated[
    int | None,
    typer.Option(
        "--degree",
        "-k",
        help="Degree k (mean degree for erdos-renyi, links x 2 for barabasi-albert). "
        "\\[default: 8]",
    ),
]

GraphOption = Annotated[
    str | None,
    typer.Option(
        "--graph", help=f"Graph generator: {', '.join(GRAPH_KINDS)}. \\[default: random-regular]"
    ),
]

RewireProbOption = Annotated[
    float | None,
    typer.Option("--rewire-prob", help="Watts-Strogatz rewiring probability. \\[default: 0.1]"),
]

EdgeListOption = Annotated[
    str | None,
    typer.Option(
        "--edge-list", help="Load the graph from a CSV or Parquet edge list (source,target)."
    ),
]

RoundsOption = Annotated[int | None, typer.Option("--rounds", help="Last round T. \\[default: 40]")]

ReplicatesOption = Annotated[
    int | None, typer.Option("--replicates", help="Independent replicates. \\[default: 10]")
]

SeedsOption = Annotated[
    int | None,
    typer.Option("--seeds", help="Seed agents per replicate (informed at round 0). \\[default: 5]"),
]

PolicyOption = Annotated[
    str | None,
    typer.Option("--policy", help=f"Share policy: {', '.join(POLICY_KINDS)}. \\[default: persona]"),
]

AlphaOption = Annotated[
    float | None,
    typer.Option("--alpha", help="Offline rate per round (with --policy constant)."),
]

BetaOption = Annotated[
    float | None,
    typer.Option(
        "--beta", help="Online rate per informed neighbour per round (with --policy constant)."
    ),
]

EventsOption = Annotated[
    str | None,
    typer.Option(
        "--events", help="ACLED-format CSV of events. \\[default: bundled fictional examples]"
    ),
]

EventIdOption = Annotated[
    str | None,
    typer.Option("--event-id", help="event_id_cnty of the event to spread. \\[default: first]"),
]

PersonasOption = Annotated[
    str | None,
    typer.Option(
        "--personas",
        help="'balanced' or a CSV/Parquet file of node,persona. \\[default: balanced]",
    ),
]

SeedOption = Annotated[
    int | None,
    typer.Option("--seed", help="Root random seed. \\[default: fresh entropy, recorded]"),
]

ByPersonaOption = Annotated[
    bool | None, typer.Option("--by-persona/--no-by-persona", help="Write curves per persona.")
]

PolicyTableOption = Annotated[
    str | None,
    typer.Option(
        "--policy-table",
        help="JSON table of --policy tabulated (e.g. llm_table.json of an LLM run).",
    ),
]

LlmBaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--llm-base-url",
        help="OpenAI-compatible API root (implies --policy llm), e.g. http://localhost:11434/v1.",
        rich_help_panel="LLM agents",
    ),
]

LlmLocalOption = Annotated[
    bool | None,
    typer.Option(
        "--llm-local",
        help="LLM agents served by the embedded llama.cpp server (127.0.0.1, started and "
        "stopped by the run) with the bundled SmolLM2-135M-Instruct (implies --policy llm).",
        rich_help_panel="LLM agents",
    ),
]

LlmGgufOption = Annotated[
    str | None,
    typer.Option(
        "--llm-gguf",
        help="A GGUF model file for the embedded server instead of the bundled one "
        "(implies --llm-local).",
        rich_help_panel="LLM agents",
    ),
]

LlmLocalSlotsOption = Annotated[
    int | None,
    typer.Option(
        "--llm-local-slots",
        help="Requests the embedded server works on at once. \\[default: 1]",
        rich_help_panel="LLM agents",
    ),
]

LlmLocalThreadsOption = Annotated[
    int | None,
    typer.Option(
        "--llm-local-threads",
        help="CPU threads of the embedded server. \\[default: the CPUs available, at most 8]",
        rich_help_panel="LLM agents",
    ),
]

LlmModelOption = Annotated[
    str | None,
    typer.Option(
        "--llm-model",
        help="Model name on the server. \\[default with --llm-local: the served model's]",
        rich_help_panel="LLM agents",
    ),
]

LlmModeOption = Annotated[
    str | None,
    typer.Option(
        "--llm-mode",
        help="archetype (one prompt per persona x exposure bucket) or feed (each agent "
        "reads its neighbours' posts). \\[default: archetype]",
        rich_help_panel="LLM agents",
    ),
]

LlmApiKeyEnvOption = Annotated[
    str | None,
    typer.Option(
        "--llm-api-key-env",
        help="Name of the environment variable holding the API key (never the key). "
        "\\[default: OPENAI_API_KEY; local servers need none]",
        rich_help_panel="LLM agents",
    ),
]

LlmConcurrencyOption = Annotated[
    int | None,
    typer.Option(
        "--llm-concurrency",
        help="Requests in flight. \\[default: 8]",
        rich_help_panel="LLM agents",
    ),
]

LlmTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--llm-timeout", help="Seconds per request. \\[default: 60]", rich_help_panel="LLM agents"
    ),
]

LlmMaxRetriesOption = Annotated[
    int | None,
    typer.Option(
        "--llm-max-retries",
        help="Retries of 429, 5xx, timeouts, connection errors. \\[default: 5]",
        rich_help_panel="LLM agents",
    ),
]

LlmTemperatureOption = Annotated[
    float | None,
    typer.Option(
        "--llm-temperature",
        help="Sampling temperature. \\[default: 1.0]",
        rich_help_panel="LLM agents",
    ),
]

LlmMaxTokensOption = Annotated[
    int | None,
    typer.Option(
        "--llm-max-tokens",
        help="Longest answer. \\[default: 32 archetype, 256 feed]",
        rich_help_panel="LLM agents",
    ),
]

LlmSamplesOption = Annotated[
    int | None,
    typer.Option(
        "--llm-samples",
        help="Samples per prompt without log-probabilities. \\[default: 10]",
        rich_help_panel="LLM agents",
    ),
]

LlmProbabilityOption = Annotated[
    str | None,
    typer.Option(
        "--llm-probability",
        help="auto, logprobs or samples. \\[default: auto]",
        rich_help_panel="LLM agents",
    ),
]

LlmStructuredOption = Annotated[
    str | None,
    typer.Option(
        "--llm-structured",
        help="JSON-schema output: auto (where accepted), json_schema, off. \\[default: auto]",
        rich_help_panel="LLM agents",
    ),
]

LlmBucketsOption = Annotated[
    str | None,
    typer.Option(
        "--llm-buckets",
        help="Lower edges of the exposure buckets. \\[default: 0,1,2,3,5,9]",
        rich_help_panel="LLM agents",
    ),
]

LlmFeedCapOption = Annotated[
    int | None,
    typer.Option(
        "--llm-feed-cap",
        help="Feed mode: most posts per prompt. \\[default: 5]",
        rich_help_panel="LLM agents",
    ),
]

LlmInvalidOption = Annotated[
    str | None,
    typer.Option(
        "--llm-invalid",
        help="An answer still malformed or refused after retries: fail or not_shared. "
        "\\[default: fail]",
        rich_help_panel="LLM agents",
    ),
]

LlmInvalidRetriesOption = Annotated[
    int | None,
    typer.Option(
        "--llm-invalid-retries",
        help="Times a malformed or refused answer is asked again. \\[default: 2]",
        rich_help_panel="LLM agents",
    ),
]

LlmPricePromptOption = Annotated[
    float | None,
    typer.Option(
        "--llm-price-prompt",
        help="Price per prompt token, for the cost estimate.",
        rich_help_panel="LLM agents",
    ),
]

LlmPriceCompletionOption = Annotated[
    float | None,
    typer.Option(
        "--llm-price-completion",
        help="Price per completion token, for the cost estimate.",
        rich_help_panel="LLM agents",
    ),
]

OfflineReachScaleOption = Annotated[
    str | None,
    typer.Option(
        "--offline-reach-scale",
        help="none (the same reach for every event) or fatalities (reach x (1 + ln(1 + "
        "fatalities)), at most 1; policies llm and tabulated). \\[default: none]",
        rich_help_panel="LLM agents",
    ),
]

OfflineReachOption = Annotated[
    float | None,
    typer.Option(
        "--offline-reach",
        help="Per-round probability that an agent meets the news outside the platform; "
        "alpha = reach x P(share | met offline) (policies llm and tabulated). "
        "\\[default: 0.01; a table's own]",
        rich_help_panel="LLM agents",
    ),
]

CacheOption = Annotated[
    str | None,
    typer.Option(
        "--cache",
        help="SQLite answer cache; a rerun of a killed run resumes from it. \\[default: none]",
        rich_help_panel="LLM agents",
    ),
]

CacheModeOption = Annotated[
    str | None,
    typer.Option(
        "--cache-mode",
        help=f"{', '.join(CACHE_MODES)}. \\[default: read_write]",
        rich_help_panel="LLM agents",
    ),
]

LoopOption = Annotated[
    int | None,
    typer.Option(
        "--loop",
        help="Run the coupled online-offline model instead, chaining N generations of "
        "cascades seeded by its offline events (as spillover loop; rates and emission from "
        "the config's \\[loop] section, docs/loop.md).",
    ),
]

DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Print how many LLM requests the run would make, send none, write nothing.",
        rich_help_panel="LLM agents",
    ),
]

OutOption = Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")]

ForceOption = Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")]

QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


#: Options whose value is one of a vocabulary (declared once, in spillover.config).
CHOICES: dict[str, tuple[str, ...]] = {
    "graph": GRAPH_KINDS,
    "policy": POLICY_KINDS,
    "llm_mode": LLM_MODES,
    "llm_probability": PROBABILITY_METHODS,
    "llm_structured": STRUCTURED_MODES,
    "llm_invalid": INVALID_RULES,
    "cache_mode": CACHE_MODES,
}

#: Option name -> SimulationConfig field, where the two differ (the flag reads better).
_FIELD_OF: dict[str, str] = {
    "rounds": "n_rounds",
    "replicates": "n_reps",
    "seeds": "n_seeds",
    "llm_timeout": "llm_timeout_s",
}
#: Options that steer the command rather than set the run.
_COMMAND_ONLY: frozenset[str] = frozenset({"config", "loop", "dry_run", "out", "force", "quiet"})


def config_overrides(options: dict[str, object]) -> dict[str, object]:
    """The config fields the flags set (``None``: not given, the file or default decides)."""
    return {_FIELD_OF.get(k, k): v for k, v in options.items() if k not in _COMMAND_ONLY}
