"""Run configuration: frozen, validated values (files are parsed in :mod:`spillover.io`).

A run is one :class:`SimulationConfig`; the settings of LLM agents, their answer cache
included, are one nested :class:`LLMConfig`::

    SimulationConfig(n_nodes=2000, policy="llm", llm=LLMConfig(local=True, cache="a.sqlite"))

Parameters are named as in config files: ``n_nodes``, and ``llm.concurrency`` or
``llm.cache_mode`` for the keys of the ``[llm]`` section; errors (:class:`ConfigError`, with
``params``) name them so. Config files, sweep files and the manifest's ``config`` document use
the flat names (``llm_concurrency``, ``cache``, ``cache_mode``; :data:`FLAT_KEYS`):
:meth:`SimulationConfig.from_flat` and :meth:`SimulationConfig.replace` read them and
:meth:`SimulationConfig.to_dict` writes them. The option vocabularies are declared once, in
:mod:`spillover._vocab`, and re-exported here.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final

from spillover._redact import shown
from spillover._urls import base_urls, check_urls
from spillover._vocab import (
    CACHE_MODES,
    GRAPH_KINDS,
    INVALID_RULES,
    LLM_MODES,
    POLICY_KINDS,
    PROBABILITY_SOURCES,
    REACH_SCALES,
    STRUCTURED_MODES,
    VOCABULARIES,
    CacheMode,
    GraphKind,
    InvalidRule,
    LLMMode,
    PolicyKind,
    ProbabilitySource,
    ReachScale,
    StructuredMode,
)
from spillover.exceptions import ConfigError

__all__ = [
    "CACHE_MODES",
    "DEFAULT_OFFLINE_REACH",
    "FLAT_KEYS",
    "GRAPH_KINDS",
    "INVALID_RULES",
    "LLM_FIELDS",
    "LLM_MODES",
    "POLICY_KINDS",
    "PROBABILITY_METHODS",
    "REACH_SCALES",
    "STRUCTURED_MODES",
    "LLMConfig",
    "SimulationConfig",
    "flat_types",
    "param_name",
]

#: The sources of share probabilities (:data:`spillover._vocab.PROBABILITY_SOURCES`).
PROBABILITY_METHODS: Final[tuple[str, ...]] = PROBABILITY_SOURCES
#: Per-round probability of meeting the news outside the platform (LLM agents, by default).
DEFAULT_OFFLINE_REACH: Final[float] = 0.01
#: LLMConfig fields whose flat name has no ``llm_`` prefix (the cache's).
_UNPREFIXED: Final[frozenset[str]] = frozenset({"cache", "cache_mode"})


def _int_at_least(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"{name} must be an integer >= {minimum}; got {shown(value)}", params=(name,)
        )
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}; got {shown(value)}", params=(name,))


def _number(
    name: str, value: object, low: float, high: float = math.inf, *, open_low: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError(f"{name} must be a number; got {shown(value)}", params=(name,))
    if value < low or value > high or (open_low and value == low):
        rule = f"> {low}" if open_low else f">= {low}"
        if high != math.inf:
            rule = f"in [{low}, {high}]"
        raise ConfigError(f"{name} must be {rule}; got {shown(value)}", params=(name,))


def _rate(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number in [0, 1]; got {shown(value)}", params=(name,))
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be in [0, 1]; got {shown(value)}", params=(name,))


def _choice(name: str, value: object) -> None:
    allowed = VOCABULARIES[name]
    if value not in allowed:
        raise ConfigError(
            f"{name} must be one of {', '.join(allowed)}; got {shown(value)}", params=(name,)
        )


def _check_buckets(buckets: object) -> None:
    where = ("llm.buckets",)
    if not isinstance(buckets, str):
        raise ConfigError(
            f"llm.buckets must be a string such as '0,1,2,3,5,9'; got {shown(buckets)}",
            params=where,
        )
    try:
        edges = [int(x) for x in buckets.replace(" ", "").split(",") if x]
    except ValueError:
        raise ConfigError(
            "llm.buckets must be comma-separated integers such as '0,1,2,3,5,9'; "
            f"got {shown(buckets)}",
            params=where,
        ) from None
    if not edges or edges[0] != 0 or any(b <= a for a, b in itertools.pairwise(edges)):
        raise ConfigError(
            "llm.buckets must be strictly increasing lower edges starting at 0; "
            f"got {shown(buckets)}",
            params=where,
        )


def _check_llm(llm: LLMConfig) -> None:
    """The rules of the LLM settings taken alone (those that depend on the policy are
    :func:`_check_policy_settings`)."""
    for name in ("mode", "probability", "structured", "invalid", "cache_mode"):
        _choice(f"llm.{name}", getattr(llm, name))
    _int_at_least("llm.concurrency", llm.concurrency, 1)
    _int_at_least("llm.max_retries", llm.max_retries, 0)
    _int_at_least("llm.samples", llm.samples, 1)
    _int_at_least("llm.feed_cap", llm.feed_cap, 1)
    _int_at_least("llm.invalid_retries", llm.invalid_retries, 0)
    if llm.max_tokens is not None:
        _int_at_least("llm.max_tokens", llm.max_tokens, 1)
    _number("llm.timeout_s", llm.timeout_s, 0.0, open_low=True)
    _number("llm.temperature", llm.temperature, 0.0, 2.0)
    for name in ("price_prompt", "price_completion"):
        if getattr(llm, name) is not None:
            _number(f"llm.{name}", getattr(llm, name), 0.0)
    env = llm.api_key_env
    if not isinstance(env, str) or not env or not all(ch.isalnum() or ch == "_" for ch in env):
        # The value is not echoed: a key pasted here by mistake must not reach a terminal log.
        raise ConfigError(
            "llm.api_key_env must be the name of an environment variable (letters, digits and "
            "_ only, e.g. OPENAI_API_KEY); the value given is not (it is not shown, in case it "
            "is a key: give the variable's name, never the key itself)",
            params=("llm.api_key_env",),
        )
    _check_buckets(llm.buckets)
    if llm.cache is None and llm.cache_mode in ("read_only", "refresh"):
        raise ConfigError(
            f"llm.cache_mode {shown(llm.cache_mode)} needs llm.cache, a cache file",
            params=("llm.cache_mode", "llm.cache"),
        )
    if not isinstance(llm.local, bool):
        raise ConfigError(
            f"llm.local must be true or false; got {llm.local!r}", params=("llm.local",)
        )
    if llm.gguf is not None and (not isinstance(llm.gguf, str) or not llm.gguf.strip()):
        raise ConfigError(
            f"llm.gguf must be the path of a GGUF model file; got {llm.gguf!r}",
            params=("llm.gguf",),
        )
    _int_at_least("llm.local_slots", llm.local_slots, 1)
    if llm.local_threads is not None:
        _int_at_least("llm.local_threads", llm.local_threads, 1)


def _check_policy_settings(config: SimulationConfig) -> None:
    """The rules that tie settings to the policy: LLM settings to ``llm``, the table to
    ``tabulated``, the offline reach to both."""
    llm = config.llm
    if config.policy == "llm":
        if llm.uses_local_server:
            if llm.base_url is not None:
                raise ConfigError(
                    "give either llm.base_url (a server of your own) or the embedded server "
                    "(llm.local or llm.gguf), not both",
                    params=("llm.base_url", "llm.local", "llm.gguf"),
                )
        else:
            for name in ("base_url", "model"):
                if getattr(llm, name) is None:
                    raise ConfigError(
                        f"policy 'llm' needs llm.{name}, or llm.local for the embedded server "
                        "with the bundled model",
                        params=(f"llm.{name}", "llm.local"),
                    )
            check_urls(llm.base_url)
        if llm.model is not None and (not isinstance(llm.model, str) or not llm.model.strip()):
            raise ConfigError(
                f"llm.model must name a model; got {shown(llm.model)}", params=("llm.model",)
            )
    else:
        given = [f"llm.{n}" for n in ("base_url", "model") if getattr(llm, n) is not None]
        if llm.uses_local_server:
            given.append("llm.local" if llm.gguf is None else "llm.gguf")
        if given:
            raise ConfigError(
                f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} only to "
                f"policy 'llm'; got policy {shown(config.policy)} (set policy 'llm', implied "
                "by llm.base_url)",
                params=(*given, "policy"),
            )
    if config.policy == "tabulated":
        if not config.policy_table:
            raise ConfigError(
                "policy 'tabulated' needs policy_table (a table file)", params=("policy_table",)
            )
    elif config.policy_table is not None:
        raise ConfigError(
            f"policy_table applies only to policy 'tabulated'; got policy {shown(config.policy)}",
            params=("policy_table", "policy"),
        )
    if config.offline_reach is not None:
        _rate("offline_reach", config.offline_reach)
        if config.policy not in ("llm", "tabulated"):
            raise ConfigError(
                "offline_reach applies to policies 'llm' and 'tabulated' (the persona and "
                f"constant policies set alpha themselves); got policy {config.policy!r}",
                params=("offline_reach", "policy"),
            )
    if config.offline_reach_scale != "none" and config.policy not in ("llm", "tabulated"):
        raise ConfigError(
            "offline_reach_scale applies to policies 'llm' and 'tabulated'; got policy "
            f"{config.policy!r}",
            params=("offline_reach_scale", "policy"),
        )


@dataclass(frozen=True)
class LLMConfig:
    """The settings of LLM agents and of their answer cache: the ``[llm]`` section of a config
    file, key for key (``SimulationConfig.llm``; used by policy ``llm`` only).

    Validated on construction; errors name the parameter as ``llm.NAME``. Their flat names
    (config-file top level, sweeps, manifests) add the prefix ``llm_``, except ``cache`` and
    ``cache_mode``: :data:`LLM_FIELDS`.

    Attributes
    ----------
    base_url : str, tuple of str, or None
        OpenAI-compatible API root, e.g. ``http://localhost:11434/v1``; several (a list or
        tuple): replicas of one model, balanced by load, one cache (the first names the
        server in cache keys). One URL is kept as a string, several as a tuple.
    local : bool
        Serve the model with the embedded llama.cpp server (on 127.0.0.1, started and stopped
        by the run) instead of ``base_url``.
    gguf : str or None
        The GGUF model file of the embedded server (implies ``local``); the bundled
        SmolLM2-135M-Instruct when None.
    local_slots : int
        Requests the embedded server works on at once.
    local_threads : int or None
        CPU threads of the embedded server (the CPUs available, at most 8, when None).
    model : str or None
        Model name on that server (the embedded server's model name when None).
    mode : {"archetype", "feed"}
        Fidelity mode (docs/llm.md).
    api_key_env : str
        Name of the environment variable holding the API key (read at run time, never stored).
    concurrency : int
        Most requests in flight per server (with replicas, per replica), at most the slots a
        llama.cpp server reports (``/props``).
    timeout_s : float
        Timeout of one request.
    max_retries : int
        Retries of a transient failure (429, 5xx, timeout, connection).
    temperature : float
        Sampling temperature.
    max_tokens : int or None
        Longest answer (None: 32 in archetype mode, 256 in feed mode).
    samples : int
        Samples per key when log-probabilities are not available.
    probability : {"auto", "logprobs", "samples"}
        Where probabilities come from.
    structured : {"auto", "json_schema", "off"}
        JSON-schema structured output: where accepted, required, or never.
    buckets : str
        Lower edges of the exposure buckets of archetype mode, e.g. ``"0,1,2,3,5,9"``.
    feed_cap : int
        Feed mode: most neighbours' posts in one prompt.
    invalid : {"fail", "not_shared"}
        What an answer still malformed or refused after retries counts as.
    invalid_retries : int
        Times a malformed or refused answer is asked again.
    price_prompt, price_completion : float or None
        Price per prompt and completion token, for the cost estimate.
    cache : str or None
        SQLite file of the answer cache (None: no cache).
    cache_mode : {"read_write", "read_only", "refresh", "off"}
    """

    base_url: str | tuple[str, ...] | None = None
    local: bool = False
    gguf: str | None = None
    local_slots: int = 1
    local_threads: int | None = None
    model: str | None = None
    mode: LLMMode = "archetype"
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 5
    temperature: float = 1.0
    max_tokens: int | None = None
    samples: int = 10
    probability: ProbabilitySource = "auto"
    structured: StructuredMode = "auto"
    buckets: str = "0,1,2,3,5,9"
    feed_cap: int = 5
    invalid: InvalidRule = "fail"
    invalid_retries: int = 2
    price_prompt: float | None = None
    price_completion: float | None = None
    cache: str | None = None
    cache_mode: CacheMode = "read_write"

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", base_urls(self.base_url))
        _check_llm(self)

    @property
    def uses_local_server(self) -> bool:
        """Served by the embedded server (``local`` or ``gguf``)."""
        return self.local is True or self.gguf is not None


def _flat_name(llm_field: str) -> str:
    return llm_field if llm_field in _UNPREFIXED else f"llm_{llm_field}"


#: The flat names of the LLM settings (the ``[llm]`` keys with the prefix ``llm_``, except
#: ``cache`` and ``cache_mode``), in the order of :class:`LLMConfig`.
LLM_FIELDS: Final[tuple[str, ...]] = tuple(_flat_name(f.name) for f in fields(LLMConfig))
_LLM_FIELD_OF: Final[dict[str, str]] = {_flat_name(f.name): f.name for f in fields(LLMConfig)}


@dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines a run; the defaults are those of ``spillover demo``.

    Validated on construction (:class:`~spillover.exceptions.ConfigError`, whose ``params``
    name the parameters at fault: ``n_seeds``, ``llm.concurrency``, ...).

    The LLM settings are nested: ``SimulationConfig(policy="llm", llm=LLMConfig(local=True))``.
    Their flat names of config files and sweeps are not keywords of the constructor:
    ``SimulationConfig(llm_model="m")`` raises a TypeError that names the nested parameter
    (``llm.model``); use :meth:`from_flat` or :meth:`replace`, which take the flat names.

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
        (needs ``llm.base_url`` and ``llm.model``, or ``llm.local``); or a table replayed
        offline (``policy_table``).
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
    offline_reach : float or None
        LLM agents and tables of LLM answers: per-round probability that an agent meets the
        news outside the platform; ``alpha = offline_reach x P(share | met offline)``. None:
        :data:`DEFAULT_OFFLINE_REACH` for policy ``llm``, the table's own for ``tabulated``.
    offline_reach_scale : {"none", "fatalities"}
        ``"fatalities"``: each event's reach is ``offline_reach x (1 + ln(1 + fatalities))``,
        at most 1 (``spillover.policies.salience``); ``"none"``: the same for every event.
    llm : LLMConfig
        The settings of LLM agents and of their answer cache.
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
    offline_reach: float | None = None
    offline_reach_scale: ReachScale = "none"
    llm: LLMConfig = field(default_factory=LLMConfig)

    def __new__(cls, *args: Any, **kwargs: Any) -> SimulationConfig:
        flat = [k for k in kwargs if k in _LLM_FIELD_OF]
        if flat:
            nested = ", ".join(f"{k} -> {param_name(k)}" for k in flat)
            raise TypeError(
                f"SimulationConfig() takes the LLM settings nested ({nested}): pass "
                f"llm=LLMConfig({_LLM_FIELD_OF[flat[0]]}=...), or give the flat names to "
                "SimulationConfig.from_flat({...}) or to .replace(...)"
            )
        return super().__new__(cls)

    def __post_init__(self) -> None:
        _int_at_least("n_nodes", self.n_nodes, 1)
        _int_at_least("degree", self.degree, 0)
        _int_at_least("n_rounds", self.n_rounds, 1)
        _int_at_least("n_reps", self.n_reps, 1)
        _int_at_least("n_seeds", self.n_seeds, 1)
        if self.edge_list is None and self.n_seeds > self.n_nodes:
            raise ConfigError(
                f"n_seeds must be <= n_nodes ({self.n_nodes}); got {self.n_seeds}",
                params=("n_seeds", "n_nodes"),
            )
        _choice("graph", self.graph)
        if (
            self.graph == "barabasi-albert"
            and self.edge_list is None
            and (self.degree < 2 or self.degree % 2)
        ):
            # Each new node brings degree / 2 links: an odd degree would silently become
            # another graph (3 gives 1 link per node, mean degree 2).
            raise ConfigError(
                "degree must be an even number >= 2 with graph 'barabasi-albert' (each new "
                f"node brings degree / 2 links); got {self.degree}",
                params=("degree",),
            )
        _rate("rewire_prob", self.rewire_prob)
        _choice("policy", self.policy)
        if self.policy == "constant":
            for name in ("alpha", "beta"):
                value = getattr(self, name)
                if value is None:
                    raise ConfigError(f"policy 'constant' needs {name}", params=(name,))
                _rate(name, value)
        else:
            given = [n for n in ("alpha", "beta") if getattr(self, n) is not None]
            if given:
                raise ConfigError(
                    f"{' and '.join(given)} apply only to policy 'constant'; "
                    f"got policy {shown(self.policy)} (set policy 'constant')",
                    params=(*given, "policy"),
                )
        if self.seed is not None:
            _int_at_least("seed", self.seed, 0)
        if not self.personas:
            raise ConfigError(
                "personas must be 'balanced' or the path of an assignment file",
                params=("personas",),
            )
        if not isinstance(self.llm, LLMConfig):
            raise ConfigError(
                f"llm must be an LLMConfig; got {type(self.llm).__name__}", params=("llm",)
            )
        _choice("offline_reach_scale", self.offline_reach_scale)
        _check_policy_settings(self)

    @property
    def uses_local_server(self) -> bool:
        """LLM agents served by the embedded server (``llm.local`` or ``llm.gguf``)."""
        return self.llm.uses_local_server

    @classmethod
    def from_flat(cls, values: Mapping[str, Any]) -> SimulationConfig:
        """The defaults with ``values`` set, by their flat names (:data:`FLAT_KEYS`: those of
        config files, sweeps and :meth:`to_dict`); ``from_flat(c.to_dict()) == c``."""
        return cls().replace(**values)

    def replace(self, **changes: Any) -> SimulationConfig:
        """A copy with some settings changed (validated again): the fields, ``llm`` (an
        :class:`LLMConfig`), and the flat names of the LLM settings (``llm_model``,
        ``cache``, ...), applied on top of ``llm``."""
        top = {f.name for f in fields(self)}
        unknown = set(changes) - top - set(_LLM_FIELD_OF)
        if unknown:
            raise ConfigError(
                f"unknown configuration key(s): {', '.join(sorted(unknown))}",
                params=tuple(sorted(unknown)),
            )
        own = {k: v for k, v in changes.items() if k in top}
        llm = own.pop("llm", self.llm)
        flat = {_LLM_FIELD_OF[k]: v for k, v in changes.items() if k in _LLM_FIELD_OF}
        if flat:
            if not isinstance(llm, LLMConfig):
                raise ConfigError(
                    f"llm must be an LLMConfig; got {type(llm).__name__}", params=("llm",)
                )
            llm = dataclasses.replace(llm, **flat)
        return dataclasses.replace(self, llm=llm, **own)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a flat dict, keyed by :data:`FLAT_KEYS` in their order (the
        manifest's ``config`` document); LLM settings only for policy ``llm``,
        ``policy_table`` only for policy ``tabulated``, and the offline reach only for those
        two (the others keep their defaults, so ``from_flat(d)`` gives the same config
        back)."""
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "llm"}
        llm = {_flat_name(k): v for k, v in asdict(self.llm).items()}
        d = {key: own[key] if key in own else llm[key] for key in FLAT_KEYS}
        if self.policy != "llm":
            for name in LLM_FIELDS:
                d.pop(name)
        if self.policy != "tabulated":
            d.pop("policy_table")
        if self.policy not in ("llm", "tabulated"):
            d.pop("offline_reach")
            d.pop("offline_reach_scale")
        return d


def _flat_keys() -> tuple[str, ...]:
    own = [f.name for f in fields(SimulationConfig) if f.name != "llm"]
    cut = own.index("policy_table") + 1
    # The order of the manifest's config document (a file contract): the LLM settings after
    # policy_table, then the offline reach, then the cache.
    llm = [k for k in LLM_FIELDS if k not in _UNPREFIXED]
    return (*own[:cut], *llm, *own[cut:], "cache", "cache_mode")


#: Every setting by its flat name (config files, sweeps, manifests), in the manifest's order.
FLAT_KEYS: Final[tuple[str, ...]] = _flat_keys()


def param_name(flat: str) -> str:
    """The parameter a flat key sets, as errors name it: ``llm_concurrency`` ->
    ``llm.concurrency``, ``cache`` -> ``llm.cache``, ``n_nodes`` -> ``n_nodes``."""
    return f"llm.{_LLM_FIELD_OF[flat]}" if flat in _LLM_FIELD_OF else flat


def flat_types() -> dict[str, Any]:
    """The declared type of each flat key (the schema of config and sweep files)."""
    own = typing.get_type_hints(SimulationConfig)
    llm = typing.get_type_hints(LLMConfig)
    return {k: llm[_LLM_FIELD_OF[k]] if k in _LLM_FIELD_OF else own[k] for k in FLAT_KEYS}
