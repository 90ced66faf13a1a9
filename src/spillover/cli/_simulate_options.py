"""The options of ``spillover simulate``, declared once, in :data:`SETTINGS`.

Each row is one flag and the config key it sets. The command's signature is built from the
table (:func:`with_settings`); so are the one mapping of parameters to flags that error lines
use (:data:`FLAG_OF`, :func:`flags_on_errors`) and the mapping of options to config keys
(:func:`config_overrides`). The values a choice takes are those of :mod:`spillover._vocab`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar

import typer

from spillover._vocab import (
    CACHE_MODES,
    GRAPH_KINDS,
    INVALID_RULES,
    POLICY_KINDS,
    PROBABILITY_SOURCES,
    VOCABULARIES,
)
from spillover.config import FLAT_KEYS, param_name
from spillover.exceptions import SpilloverError

__all__ = [
    "FIT_FLAG_OF",
    "FLAG_OF",
    "OUTPUT_FLAG_OF",
    "SETTINGS",
    "SWEEP_FLAG_OF",
    "Setting",
    "config_overrides",
    "flags_on_errors",
    "with_settings",
]

_LLM = "LLM agents"


def _one_of(values: tuple[str, ...]) -> str:
    """``("a", "b", "c")`` -> ``"a, b or c"``."""
    return f"{', '.join(values[:-1])} or {values[-1]}"


@dataclass(frozen=True)
class Setting:
    """One option of ``spillover simulate`` that sets a config key."""

    name: str  #: the command's parameter (and, with dashes, the flag)
    key: str  #: the flat config key it sets
    flag: str  #: its flag, e.g. ``--llm-concurrency``
    annotation: Any  #: ``Annotated[type | None, typer.Option(...)]``

    @property
    def param(self) -> str:
        """The parameter, as library errors name it (``llm.concurrency``)."""
        return param_name(self.key)


def _setting(
    name: str,
    kind: Any,
    help: str,
    *,
    key: str | None = None,
    short: str | None = None,
    negative: bool = False,
    panel: str | None = None,
    metavar: str | None = None,
) -> Setting:
    flag = "--" + name.replace("_", "-")
    decl = f"{flag}/--no-{flag[2:]}" if negative else flag
    decls = (decl, short) if short else (decl,)
    option = typer.Option(*decls, help=help, rich_help_panel=panel, metavar=metavar)
    return Setting(name, key or name, flag, Annotated[kind | None, option])


#: The options that set the run, in the order of ``--help``.
SETTINGS: Final[tuple[Setting, ...]] = (
    _setting("n_nodes", int, "Agents in the network. \\[default: 3200]"),
    _setting(
        "degree",
        int,
        "Degree k (mean degree for erdos-renyi, links x 2 for barabasi-albert). \\[default: 8]",
        short="-k",
    ),
    _setting(
        "graph", str, f"Graph generator: {', '.join(GRAPH_KINDS)}. \\[default: random-regular]"
    ),
    _setting("rewire_prob", float, "Watts-Strogatz rewiring probability. \\[default: 0.1]"),
    _setting("edge_list", str, "Load the graph from a CSV or Parquet edge list (source,target)."),
    _setting("rounds", int, "Last round T. \\[default: 40]", key="n_rounds"),
    _setting("replicates", int, "Independent replicates. \\[default: 10]", key="n_reps"),
    _setting(
        "seeds",
        int,
        "Seed agents per replicate (informed at round 0). \\[default: 5]",
        key="n_seeds",
    ),
    _setting("policy", str, f"Share policy: {', '.join(POLICY_KINDS)}. \\[default: persona]"),
    _setting("alpha", float, "Offline rate per round (with --policy constant)."),
    _setting(
        "beta", float, "Online rate per informed neighbour per round (with --policy constant)."
    ),
    _setting("events", str, "ACLED-format CSV of events. \\[default: bundled fictional examples]"),
    _setting("event_id", str, "event_id_cnty of the event to spread. \\[default: first]"),
    _setting(
        "personas", str, "'balanced' or a CSV/Parquet file of node,persona. \\[default: balanced]"
    ),
    _setting("seed", int, "Root random seed. \\[default: fresh entropy, recorded]"),
    _setting("by_persona", bool, "Write curves per persona.", negative=True),
    _setting(
        "policy_table", str, "JSON table of --policy tabulated (e.g. llm_table.json of an LLM run)."
    ),
    _setting(
        "llm_base_url",
        list[str],
        "OpenAI-compatible API root (implies --policy llm), e.g. http://localhost:11434/v1; "
        "give it again for each replica of the model (requests balanced by load, one cache).",
        panel=_LLM,
        metavar="<str>",
    ),
    _setting(
        "llm_local",
        bool,
        "LLM agents served by the embedded llama.cpp server (127.0.0.1, started and "
        "stopped by the run) with the bundled SmolLM2-135M-Instruct (implies --policy llm).",
        panel=_LLM,
    ),
    _setting(
        "llm_gguf",
        str,
        "A GGUF model file for the embedded server instead of the bundled one "
        "(implies --llm-local).",
        panel=_LLM,
    ),
    _setting(
        "llm_local_slots",
        int,
        "Requests the embedded server works on at once. \\[default: 1]",
        panel=_LLM,
    ),
    _setting(
        "llm_local_threads",
        int,
        "CPU threads of the embedded server. \\[default: the CPUs available, at most 8]",
        panel=_LLM,
    ),
    _setting(
        "llm_model",
        str,
        "Model name on the server. \\[default with --llm-local: the served model's]",
        panel=_LLM,
    ),
    _setting(
        "llm_mode",
        str,
        "archetype (one prompt per persona x exposure bucket) or feed (each agent "
        "reads its neighbours' posts). \\[default: archetype]",
        panel=_LLM,
    ),
    _setting(
        "llm_api_key_env",
        str,
        "Name of the environment variable holding the API key (never the key). "
        "\\[default: OPENAI_API_KEY; local servers need none]",
        panel=_LLM,
    ),
    _setting("llm_concurrency", int, "Requests in flight. \\[default: 8]", panel=_LLM),
    _setting(
        "llm_timeout",
        float,
        "Seconds per request at least (it grows to 10x the median latency of a slower "
        "server). \\[default: 60]",
        key="llm_timeout_s",
        panel=_LLM,
    ),
    _setting(
        "llm_max_retries",
        int,
        "Retries of 429, 5xx, timeouts, connection errors. \\[default: 5]",
        panel=_LLM,
    ),
    _setting("llm_temperature", float, "Sampling temperature. \\[default: 1.0]", panel=_LLM),
    _setting(
        "llm_max_tokens", int, "Longest answer. \\[default: 32 archetype, 256 feed]", panel=_LLM
    ),
    _setting(
        "llm_samples",
        int,
        "Samples per prompt without log-probabilities. \\[default: 10]",
        panel=_LLM,
    ),
    _setting(
        "llm_probability", str, f"{_one_of(PROBABILITY_SOURCES)}. \\[default: auto]", panel=_LLM
    ),
    _setting(
        "llm_structured",
        str,
        "JSON-schema output: auto (where accepted), json_schema, off. \\[default: auto]",
        panel=_LLM,
    ),
    _setting(
        "llm_buckets",
        str,
        "Lower edges of the exposure buckets. \\[default: 0,1,2,3,5,9]",
        panel=_LLM,
    ),
    _setting("llm_feed_cap", int, "Feed mode: most posts per prompt. \\[default: 5]", panel=_LLM),
    _setting(
        "llm_invalid",
        str,
        f"An answer still malformed or refused after retries: {_one_of(INVALID_RULES)}. "
        "\\[default: fail]",
        panel=_LLM,
    ),
    _setting(
        "llm_invalid_retries",
        int,
        "Times a malformed or refused answer is asked again. \\[default: 2]",
        panel=_LLM,
    ),
    _setting(
        "llm_price_prompt", float, "Price per prompt token, for the cost estimate.", panel=_LLM
    ),
    _setting(
        "llm_price_completion",
        float,
        "Price per completion token, for the cost estimate.",
        panel=_LLM,
    ),
    _setting(
        "offline_reach",
        float,
        "Per-round probability that an agent meets the news outside the platform; "
        "alpha = reach x P(share | met offline) (policies llm and tabulated). "
        "\\[default: 0.01; a table's own]",
        panel=_LLM,
    ),
    _setting(
        "offline_reach_scale",
        str,
        "none (the same reach for every event) or fatalities (reach x (1 + ln(1 + "
        "fatalities)), at most 1; policies llm and tabulated). \\[default: none]",
        panel=_LLM,
    ),
    _setting(
        "cache",
        str,
        "SQLite answer cache; a rerun of a killed run resumes from it. \\[default: none]",
        panel=_LLM,
    ),
    _setting("cache_mode", str, f"{', '.join(CACHE_MODES)}. \\[default: read_write]", panel=_LLM),
)

#: Parameter (as library errors name it: ``n_rounds``, ``llm.cache_mode``) -> its flag. The one
#: place where the command line's names meet the library's.
FLAG_OF: Final[dict[str, str]] = {s.param: s.flag for s in SETTINGS}
assert {s.key for s in SETTINGS} == set(FLAT_KEYS), "every config key has one flag"


def _normal(setting: Setting, value: object) -> object:
    """A choice as the vocabulary spells it (``read-only`` -> ``read_only``)."""
    allowed = VOCABULARIES.get(setting.param)
    if isinstance(value, str) and allowed and "_" in "".join(allowed):
        return value.replace("-", "_")
    return value


def config_overrides(options: Mapping[str, object]) -> dict[str, object]:
    """The config keys the flags set (``None``: not given, the file or default decides)."""
    out = {s.key: _normal(s, options[s.name]) for s in SETTINGS if s.name in options}
    if out.get("llm_base_url") == []:  # a repeatable flag not given
        out["llm_base_url"] = None
    return out


#: The output flags of the commands that write a folder, for the parameters the library's
#: output errors name (``spillover.io``, ``spillover.sweeps``: ``out``, ``force``).
OUTPUT_FLAG_OF: Final[dict[str, str]] = {"out": "--out", "force": "--force"}

#: The flags of ``spillover sweep``: its output and the Dask scheduler's address.
SWEEP_FLAG_OF: Final[dict[str, str]] = {**OUTPUT_FLAG_OF, "scheduler": "--scheduler"}

#: The flags of ``spillover fit`` and ``spillover report`` for the parameters their library
#: errors name (``spillover.fit``, ``spillover.selection``; ``out``: the report's page).
FIT_FLAG_OF: Final[dict[str, str]] = {
    "fit_rounds": "--fit-rounds",
    "degree": "--degree",
    "models": "--model",
    "out": "--out",
}


@contextlib.contextmanager
def flags_on_errors(flag_of: Mapping[str, str] | None = None) -> Iterator[None]:
    """An error raised inside (:class:`SpilloverError`) names, after its message, the flags of
    its parameters (:data:`FLAG_OF` and :data:`OUTPUT_FLAG_OF`, ``spillover simulate``'s,
    unless ``flag_of`` is given)."""
    table = {**FLAG_OF, **OUTPUT_FLAG_OF} if flag_of is None else flag_of
    try:
        yield
    except SpilloverError as exc:
        flags = [table[p] for p in exc.params if p in table]
        if not flags:
            raise
        error = type(exc)(f"{exc} ({', '.join(dict.fromkeys(flags))})", params=exc.params)
        raise error from None


F = TypeVar("F", bound=Callable[..., Any])


def with_settings(command: F) -> F:
    """``command(config, **settings, **rest)`` with one typer option per :data:`SETTINGS` row,
    after its first parameter: its ``**settings`` receives them by name."""
    signature = inspect.signature(command, eval_str=True)
    params = list(signature.parameters.values())
    rest = [p for p in params[1:] if p.kind is not inspect.Parameter.VAR_KEYWORD]
    options = [
        inspect.Parameter(
            s.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=s.annotation
        )
        for s in SETTINGS
    ]
    first = params[0].replace(kind=inspect.Parameter.KEYWORD_ONLY)

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        return command(**kwargs)

    new = [first, *options, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in rest)]
    wrapper.__signature__ = signature.replace(parameters=new)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in new}
    return wrapper  # type: ignore[return-value]


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML or YAML config file; flags override its values."),
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
        rich_help_panel=_LLM,
    ),
]

OutOption = Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")]

ForceOption = Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")]

QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
