"""Run configuration: a frozen, validated value (files are parsed in :mod:`spillover.io`)."""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Final, Literal, get_args

from spillover._redact import shown
from spillover.exceptions import ConfigError

__all__ = [
    "CACHE_MODES",
    "DEFAULT_OFFLINE_REACH",
    "GRAPH_KINDS",
    "LLM_FIELDS",
    "LLM_MODES",
    "POLICY_KINDS",
    "SimulationConfig",
]

GraphKind = Literal["random-regular", "erdos-renyi", "watts-strogatz", "barabasi-albert"]
PolicyKind = Literal["persona", "constant", "llm", "tabulated"]
LLMModeKind = Literal["archetype", "feed"]
ProbabilityKind = Literal["auto", "logprobs", "samples"]
StructuredKind = Literal["auto", "json_schema", "off"]
InvalidKind = Literal["fail", "not_shared"]
CacheModeKind = Literal["read_write", "read_only", "refresh", "off"]
ReachScaleKind = Literal["none", "fatalities"]
GRAPH_KINDS: Final[tuple[str, ...]] = (
    "random-regular",
    "erdos-renyi",
    "watts-strogatz",
    "barabasi-albert",
)
POLICY_KINDS: Final[tuple[str, ...]] = ("persona", "constant", "llm", "tabulated")
LLM_MODES: Final[tuple[str, ...]] = ("archetype", "feed")
CACHE_MODES: Final[tuple[str, ...]] = ("read_write", "read_only", "refresh", "off")
PROBABILITY_METHODS: Final[tuple[str, ...]] = get_args(ProbabilityKind)
STRUCTURED_MODES: Final[tuple[str, ...]] = get_args(StructuredKind)
INVALID_RULES: Final[tuple[str, ...]] = get_args(InvalidKind)
#: How the offline reach depends on the event (``spillover.policies.salience``).
REACH_SCALES: Final[tuple[str, ...]] = get_args(ReachScaleKind)
_CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "llm_mode": LLM_MODES,
    "llm_probability": PROBABILITY_METHODS,
    "llm_structured": STRUCTURED_MODES,
    "llm_invalid": INVALID_RULES,
    "cache_mode": CACHE_MODES,
    "offline_reach_scale": REACH_SCALES,
}
#: Per-round probability of meeting the news outside the platform (LLM agents, by default).
DEFAULT_OFFLINE_REACH: Final[float] = 0.01
#: The settings of LLM agents (the ``[llm]`` section of a config file, without the prefix).
LLM_FIELDS: Final[tuple[str, ...]] = (
    "llm_base_url",
    "llm_local",
    "llm_gguf",
    "llm_local_slots",
    "llm_local_threads",
    "llm_model",
    "llm_mode",
    "llm_api_key_env",
    "llm_concurrency",
    "llm_timeout_s",
    "llm_max_retries",
    "llm_temperature",
    "llm_max_tokens",
    "llm_samples",
    "llm_probability",
    "llm_structured",
    "llm_buckets",
    "llm_feed_cap",
    "llm_invalid",
    "llm_invalid_retries",
    "llm_price_prompt",
    "llm_price_completion",
    "cache",
    "cache_mode",
)


def _int_at_least(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer >= {minimum}; got {shown(value)}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}; got {shown(value)}")


def _number(
    name: str, value: object, low: float, high: float = math.inf, *, open_low: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError(f"{name} must be a number; got {shown(value)}")
    if value < low or value > high or (open_low and value == low):
        rule = f"> {low}" if open_low else f">= {low}"
        if high != math.inf:
            rule = f"in [{low}, {high}]"
        raise ConfigError(f"{name} must be {rule}; got {shown(value)}")


def _check_url(value: object) -> None:
    from urllib.parse import urlsplit

    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"llm_base_url must be a URL such as http://localhost:11434/v1; got {shown(value)}"
        )
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"llm_base_url must start with http:// or https:// and name a host; got {shown(value)}"
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            "llm_base_url must not hold credentials (user:password@); put the API key in the "
            "environment variable named by llm_api_key_env"
        )


def _check_llm(config: SimulationConfig) -> None:
    for name, allowed in _CHOICES.items():
        value = getattr(config, name)
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {shown(value)}")
    _int_at_least("llm_concurrency", config.llm_concurrency, 1)
    _int_at_least("llm_max_retries", config.llm_max_retries, 0)
    _int_at_least("llm_samples", config.llm_samples, 1)
    _int_at_least("llm_feed_cap", config.llm_feed_cap, 1)
    _int_at_least("llm_invalid_retries", config.llm_invalid_retries, 0)
    if config.llm_max_tokens is not None:
        _int_at_least("llm_max_tokens", config.llm_max_tokens, 1)
    _number("llm_timeout_s", config.llm_timeout_s, 0.0, open_low=True)
    _number("llm_temperature", config.llm_temperature, 0.0, 2.0)
    for name in ("llm_price_prompt", "llm_price_completion"):
        if getattr(config, name) is not None:
            _number(name, getattr(config, name), 0.0)
    env = config.llm_api_key_env
    if not isinstance(env, str) or not env or not all(ch.isalnum() or ch == "_" for ch in env):
        # The value is not echoed: a key pasted here by mistake must not reach a terminal log.
        raise ConfigError(
            "llm_api_key_env must be the name of an environment variable (letters, digits and "
            "_ only, e.g. OPENAI_API_KEY); the value given is not (it is not shown, in case it "
            "is a key: give the variable's name, never the key itself)"
        )
    buckets = config.llm_buckets
    if not isinstance(buckets, str):
        raise ConfigError(
            f"llm_buckets must be a string such as '0,1,2,3,5,9'; got {shown(buckets)}"
        )
    try:
        edges = [int(x) for x in buckets.replace(" ", "").split(",") if x]
    except ValueError:
        raise ConfigError(
            "llm_buckets must be comma-separated integers such as '0,1,2,3,5,9'; "
            f"got {shown(buckets)}"
        ) from None
    if not edges or edges[0] != 0 or any(b <= a for a, b in itertools.pairwise(edges)):
        raise ConfigError(
            "llm_buckets must be strictly increasing lower edges starting at 0; "
            f"got {shown(buckets)}"
        )
    if config.cache is None and config.cache_mode in ("read_only", "refresh"):
        raise ConfigError(
            f"cache_mode {shown(config.cache_mode)} needs a cache file (--cache PATH)"
        )
    _check_local(config)
    if config.policy == "llm":
        if config.uses_local_server:
            if config.llm_base_url is not None:
                raise ConfigError(
                    "give either llm_base_url (--llm-base-url, a server of your own) or the "
                    "embedded server (--llm-local / --llm-gguf), not both"
                )
        else:
            for name in ("llm_base_url", "llm_model"):
                if getattr(config, name) is None:
                    flag = name.replace("_", "-")
                    raise ConfigError(
                        f"policy 'llm' needs {name} (--{flag}), or --llm-local for the "
                        "embedded server with the bundled model"
                    )
            _check_url(config.llm_base_url)
        if config.llm_model is not None and (
            not isinstance(config.llm_model, str) or not config.llm_model.strip()
        ):
            raise ConfigError(f"llm_model must name a model; got {shown(config.llm_model)}")
    else:
        given = [n for n in ("llm_base_url", "llm_model") if getattr(config, n) is not None]
        if config.uses_local_server:
            given.append("llm_local" if config.llm_gguf is None else "llm_gguf")
        if given:
            raise ConfigError(
                f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} only to "
                f"policy 'llm'; got policy "
                f"{shown(config.policy)} (use --policy llm, implied by --llm-base-url)"
            )
    if config.policy == "tabulated":
        if not config.policy_table:
            raise ConfigError("policy 'tabulated' needs policy_table (--policy-table FILE)")
    elif config.policy_table is not None:
        raise ConfigError(
            f"policy_table applies only to policy 'tabulated'; got policy {shown(config.policy)}"
        )


def _check_local(config: SimulationConfig) -> None:
    if not isinstance(config.llm_local, bool):
        raise ConfigError(f"llm_local must be true or false; got {config.llm_local!r}")
    if config.llm_gguf is not None and (
        not isinstance(config.llm_gguf, str) or not config.llm_gguf.strip()
    ):
        raise ConfigError(
            f"llm_gguf must be the path of a GGUF model file; got {config.llm_gguf!r}"
        )
    _int_at_least("llm_local_slots", config.llm_local_slots, 1)
    if config.llm_local_threads is not None:
        _int_at_least("llm_local_threads", config.llm_local_threads, 1)


def _rate(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number in [0, 1]; got {shown(value)}")
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be in [0, 1]; got {shown(value)}")


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines a run; the defaults are those of ``spillover demo``.

    Attributes
    ----------
    n_nodes, degree : int
        Agents, and the degree of the graph (k of a k-regular graph; the mean degree of an
        Erdős–Rényi graph; the ring degree of Watts–Strogatz; twice the links per new node of
        Barabási–Albert).
    graph : {"random-regular", "erdos-renyi", "watts-strogatz", "barabasi-albert"}
    rewire_prob : float
        Watts–Strogatz rewiring probability.
    edge_list : str or None
        A CSV or Parquet edge list to load instead of generating a graph.
    n_rounds, n_reps, n_seeds : int
        Last round, replicates, seed agents per replicate.
    policy : {"persona", "constant", "llm", "tabulated"}
        The default persona policy; the same ``alpha`` and ``beta`` for everyone; LLM agents
        (needs ``llm_base_url`` and ``llm_model``); or a table replayed offline
        (``policy_table``).
    alpha, beta : float or None
        Rates of the constant policy (required with it, rejected without it).
    events : str or None
        ACLED-format CSV; the bundled fictional examples when None.
    event_id : str or None
        The event to spread (``event_id_cnty``); the first in the file when None.
    personas : str
        ``"balanced"``, or a CSV/Parquet persona assignment file.
    seed : int or None
        Root seed; fresh entropy (recorded in the manifest) when None.
    by_persona : bool
        Write curves per persona.
    policy_table : str or None
        The JSON table of policy ``tabulated`` (written by an LLM run as ``llm_table.json``).
    llm_base_url : str or None
        OpenAI-compatible API root, e.g. ``http://localhost:11434/v1``.
    llm_local : bool
        Serve the model with the embedded llama.cpp server (on 127.0.0.1, started and stopped
        by the run) instead of ``llm_base_url``.
    llm_gguf : str or None
        The GGUF model file of the embedded server (implies ``llm_local``); the bundled
        SmolLM2-135M-Instruct when None.
    llm_local_slots : int
        Requests the embedded server works on at once.
    llm_local_threads : int or None
        CPU threads of the embedded server (the CPUs available, at most 8, when None).
    llm_model : str or None
        Model name on that server (the embedded server's model name when None).
    llm_mode : {"archetype", "feed"}
        Fidelity mode (docs/llm.md).
    llm_api_key_env : str
        Name of the environment variable holding the API key (read at run time, never stored).
    llm_concurrency : int
        Most requests in flight.
    llm_timeout_s : float
        Timeout of one request.
    llm_max_retries : int
        Retries of a transient failure (429, 5xx, timeout, connection).
    llm_temperature : float
        Sampling temperature.
    llm_max_tokens : int or None
        Longest answer (None: 32 in archetype mode, 256 in feed mode).
    llm_samples : int
        Samples per key when log-probabilities are not available.
    llm_probability : {"auto", "logprobs", "samples"}
        Where probabilities come from.
    llm_structured : {"auto", "json_schema", "off"}
        JSON-schema structured output: where accepted, required, or never.
    llm_buckets : str
        Lower edges of the exposure buckets of archetype mode, e.g. ``"0,1,2,3,5,9"``.
    llm_feed_cap : int
        Feed mode: most neighbours' posts in one prompt.
    llm_invalid : {"fail", "not_shared"}
        What an answer still malformed or refused after retries counts as.
    llm_invalid_retries : int
        Times a malformed or refused answer is asked again.
    llm_price_prompt, llm_price_completion : float or None
        Price per prompt and completion token, for the cost estimate.
    offline_reach : float or None
        LLM agents and tables of LLM answers: per-round probability that an agent meets the
        news outside the platform; ``alpha = offline_reach x P(share | met offline)``. None:
        :data:`DEFAULT_OFFLINE_REACH` for policy ``llm``, the table's own for ``tabulated``.
    offline_reach_scale : {"none", "fatalities"}
        ``"fatalities"``: each event's reach is ``offline_reach x (1 + ln(1 + fatalities))``,
        at most 1 (``spillover.policies.salience``); ``"none"``: the same for every event.
    cache : str or None
        SQLite file of the answer cache (None: no cache).
    cache_mode : {"read_write", "read_only", "refresh", "off"}
    """

    n_nodes: int = 3200
    degree: int = 8
    graph: GraphKind = "random-regular"
    rewire_prob: float = 0.1
    edge_list: str | None = None
    n_rounds: int = 40
    n_reps: int = 10
    n_seeds: int = 5
    policy: PolicyKind = "persona"
    alpha: float | None = None
    beta: float | None = None
    events: str | None = None
    event_id: str | None = None
    personas: str = "balanced"
    seed: int | None = None
    by_persona: bool = False
    policy_table: str | None = None
    llm_base_url: str | None = None
    llm_local: bool = False
    llm_gguf: str | None = None
    llm_local_slots: int = 1
    llm_local_threads: int | None = None
    llm_model: str | None = None
    llm_mode: LLMModeKind = "archetype"
    llm_api_key_env: str = "OPENAI_API_KEY"
    llm_concurrency: int = 8
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 5
    llm_temperature: float = 1.0
    llm_max_tokens: int | None = None
    llm_samples: int = 10
    llm_probability: ProbabilityKind = "auto"
    llm_structured: StructuredKind = "auto"
    llm_buckets: str = "0,1,2,3,5,9"
    llm_feed_cap: int = 5
    llm_invalid: InvalidKind = "fail"
    llm_invalid_retries: int = 2
    llm_price_prompt: float | None = None
    llm_price_completion: float | None = None
    offline_reach: float | None = None
    offline_reach_scale: ReachScaleKind = "none"
    cache: str | None = None
    cache_mode: CacheModeKind = "read_write"

    def __post_init__(self) -> None:
        _int_at_least("n_nodes", self.n_nodes, 1)
        _int_at_least("degree", self.degree, 0)
        _int_at_least("n_rounds", self.n_rounds, 1)
        _int_at_least("n_reps", self.n_reps, 1)
        _int_at_least("n_seeds", self.n_seeds, 1)
        if self.edge_list is None and self.n_seeds > self.n_nodes:
            raise ConfigError(f"n_seeds must be <= n_nodes ({self.n_nodes}); got {self.n_seeds}")
        if self.graph not in GRAPH_KINDS:
            raise ConfigError(
                f"graph must be one of {', '.join(GRAPH_KINDS)}; got {shown(self.graph)}"
            )
        if (
            self.graph == "barabasi-albert"
            and self.edge_list is None
            and (self.degree < 2 or self.degree % 2)
        ):
            # Each new node brings degree / 2 links: an odd degree would silently become
            # another graph (3 gives 1 link per node, mean degree 2).
            raise ConfigError(
                "degree must be an even number >= 2 with graph 'barabasi-albert' (each new "
                f"node brings degree / 2 links); got {self.degree}"
            )
        _rate("rewire_prob", self.rewire_prob)
        if self.policy not in POLICY_KINDS:
            raise ConfigError(
                f"policy must be one of {', '.join(POLICY_KINDS)}; got {shown(self.policy)}"
            )
        if self.policy == "constant":
            for name in ("alpha", "beta"):
                value = getattr(self, name)
                if value is None:
                    raise ConfigError(f"policy 'constant' needs {name} (--{name})")
                _rate(name, value)
        else:
            given = [n for n in ("alpha", "beta") if getattr(self, n) is not None]
            if given:
                raise ConfigError(
                    f"{' and '.join(given)} apply only to policy 'constant'; "
                    f"got policy {shown(self.policy)} (use --policy constant)"
                )
        if self.seed is not None:
            _int_at_least("seed", self.seed, 0)
        if not self.personas:
            raise ConfigError("personas must be 'balanced' or the path of an assignment file")
        _check_llm(self)
        if self.offline_reach is not None:
            _rate("offline_reach", self.offline_reach)
            if self.policy not in ("llm", "tabulated"):
                raise ConfigError(
                    "offline_reach applies to policies 'llm' and 'tabulated' (the persona and "
                    f"constant policies set alpha themselves); got policy {self.policy!r}"
                )
        if self.offline_reach_scale != "none" and self.policy not in ("llm", "tabulated"):
            raise ConfigError(
                "offline_reach_scale applies to policies 'llm' and 'tabulated'; got policy "
                f"{self.policy!r}"
            )

    @property
    def uses_local_server(self) -> bool:
        """LLM agents served by the embedded server (``llm_local`` or ``llm_gguf``)."""
        return self.llm_local is True or self.llm_gguf is not None

    def replace(self, **changes: Any) -> SimulationConfig:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigError(f"unknown configuration key(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict; LLM settings only for policy ``llm``, and
        ``policy_table`` only for policy ``tabulated`` (the others keep their defaults, so
        ``SimulationConfig().replace(**d)`` gives the same config back)."""
        d = asdict(self)
        if self.policy != "llm":
            for name in LLM_FIELDS:
                d.pop(name)
        if self.policy != "tabulated":
            d.pop("policy_table")
        if self.policy not in ("llm", "tabulated"):
            d.pop("offline_reach")
            d.pop("offline_reach_scale")
        return d
