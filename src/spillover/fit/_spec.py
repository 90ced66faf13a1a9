"""``ModelSpec``: everything spillover knows about one model name, in one value.

A spec binds the discrete map (and its ODE counterpart), the fitted parameters in the one
vocabulary shared by :class:`FitResult`, the maps and ``spillover fit --json`` (per-round
probabilities, DESIGN section 2), the agent-level estimator and the data it takes, the starting
values of a curve fit, and the report's overlays. ODE hazards are derived, never fitted: the
symbol table :data:`HAZARD_SYMBOLS` maps each probability to its hazard
(``a = -log(1 - alpha)``). The registry of specs is :mod:`spillover.fit._registry`.

A model whose parameter names come from the data it is fitted to (``si-dose-persona``: one
rate per persona and exposure level, the levels those of the run) declares them with
:class:`DataParams`: how a fit names them, how to recognise them in a fitted mapping, and how
they become the map's fixed parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from spillover.exceptions import ConfigError
from spillover.fit._base import AgentData, ExposureEstimator
from spillover.models import MapModel, OdeModel, map_curve, probability_to_hazard
from spillover.trajectories import AgentHistories, ExposureTable

__all__ = [
    "HAZARD_SYMBOLS",
    "MODEL_KINDS",
    "DataKind",
    "DataParams",
    "ModelKind",
    "ModelSpec",
    "Overlay",
    "spread_starts",
]

#: What an agent-level estimator is fitted to: agent histories (``agents.parquet``) or the
#: exposure table (``exposures.parquet``).
DataKind = Literal["agents", "exposures"]

#: Per-round probability (fitted, reported) -> hazard per round (ODE parameter).
#: ``h = -log(1 - p)``; names not listed (``share_1``, ``degree``, ``weight_by_class``) are the
#: same in the maps and the ODEs.
HAZARD_SYMBOLS: Mapping[str, str] = {
    "alpha": "a",
    "beta": "b",
    "beta_1": "b_1",
    "beta_2": "b_2",
    "alpha_c": "a_c",
    "beta_c": "b_c",
    "beta_first": "b_first",
    "beta_further": "b_further",
    "online_m": "g_m",
    "online_m_c": "g_m_c",
    "gamma": "g",
    "eta": "e",
    "kappa": "c",
    "delta": "d",
}

#: What a model describes: ``spread`` models an SI run (its exposure table or informed
#: curve); ``coupled`` models the online-offline loop of a ``spillover loop`` run
#: (docs/loop.md), fitted by :func:`spillover.loop.fit_coupling` on that run's tables.
ModelKind = Literal["spread", "coupled"]
MODEL_KINDS: tuple[str, ...] = ("spread", "coupled")

_WEIGHTS = "weight_by_class"
#: Map parameters that are inputs, not fitted: the degree and the class weights.
_NOT_FITTED = ("degree", _WEIGHTS)


@dataclass(frozen=True)
class Overlay:
    """A curve the report draws for an agent-level fit: ``model``'s map at the fitted rates.

    Attributes
    ----------
    label : str
        Legend text.
    model : str
        The registered model whose map draws the curve (its parameters must be among the
        fitted ones), e.g. the pair map at the rates of an ``si2`` fit.
    """

    label: str
    model: str


@dataclass(frozen=True)
class DataParams:
    """Parameters named from the data: how a model whose fitted names depend on the run
    names them, finds them and turns them into its map's parameters.

    Attributes
    ----------
    names : callable
        ``names(data, **options) -> tuple of str``: the names a fit of the estimator made with
        ``options`` (``make_estimator(**options)``) reports on ``data``, in order.
    own : callable
        ``own(params) -> tuple of str``: the model's own names among the keys of ``params``
        (a ``FitResult.params``, perhaps with other models' names), in order; raises
        :class:`ConfigError` when they are not a complete set.
    to_map : callable
        ``to_map(params, weights) -> dict``: the map's rate parameters (the spec's
        :attr:`ModelSpec.params`) from exactly the model's own fitted parameters; ``weights``
        are the class shares (or None), so that classes without agents can be left out.
    """

    names: Callable[..., tuple[str, ...]]
    own: Callable[[Mapping[str, Any]], tuple[str, ...]]
    to_map: Callable[[Mapping[str, Any], np.ndarray | None], dict[str, Any]]


def spread_starts(
    base: Mapping[str, float], *, shares: Sequence[str] = ()
) -> tuple[Mapping[str, float], ...]:
    """Three starting points around ``base``: as given, smaller, larger.

    Rates are multiplied by 0.3 and by 3 (at most 0.6); the names in ``shares`` (shares of
    agents, not rates) take 0.6 times their value and 0.3.
    """
    low = {n: v * (0.6 if n in shares else 0.3) for n, v in base.items()}
    high = {n: 0.3 if n in shares else min(v * 3, 0.6) for n, v in base.items()}
    return (dict(base), low, high)


@dataclass(frozen=True)
class ModelSpec:
    """One model: its map and ODE, its parameters, how it is fitted and what it predicts.

    Attributes
    ----------
    name : str
        The model name (``spillover fit --model NAME``, ``FitResult.model``).
    description : str
        One line for listings.
    map : MapModel
        The discrete map; its parameters are :attr:`params` plus ``degree`` (and
        ``weight_by_class`` for per-class models).
    ode : OdeModel or None
        The continuous-time counterpart, in hazards (see :data:`HAZARD_SYMBOLS`).
    params : tuple of str
        The fitted parameters, as in ``FitResult.params`` and ``fit --json``, which are the
        map's rate parameters. With :attr:`data_params`, the map's rate parameters only: the
        fitted names come from the data (:meth:`params_for`).
    estimator : type or None
        The agent-level estimator class (scikit-learn style), or None for a model fitted to
        curves only.
    data : tuple of {"agents", "exposures"}
        What the estimator takes, preferred first; the first one the input has is used.
    curve_fit : bool
        Whether the model can be fitted to informed counts alone (through its map).
    starts : tuple of mapping
        Starting points of a curve fit (per-round probabilities), tried in order.
    overlays : tuple of Overlay
        Curves the report draws for an agent-level fit of this model.
    trait_effects : bool
        Whether fitting this model also fits the trait effects (per-persona models).
    sweep_default : bool
        Whether sweeps fit this model on every cell when their file names no models.
    needs_regular : bool
        Whether the map holds on k-regular graphs only (the pair approximation): a curve fit of
        it is refused for a run whose manifest says its graph is not regular.
    effective_curve_rates : tuple of str
        Parameters that a curve fit estimates as *effective* rates rather than per-contact
        ones: a homogeneous mean field's online rates absorb the neighbour correlations its map
        leaves out (docs/models.md), so fitted to curves they are not the per-neighbour beta.
    data_params : DataParams or None
        For a model whose fitted parameter names depend on the data (``si-dose-persona``):
        how they are named, recognised and mapped to :attr:`params`. None (the default): the
        fitted names are :attr:`params`.
    fit_default : bool
        Whether ``spillover fit``, :func:`spillover.selection.analyse` and
        :func:`spillover.fit.fit_exposures` fit the model when no models are named (true by
        default); a model that is not is fitted when named.
    kind : {"spread", "coupled"}
        ``spread`` (the default): an SI model, applied by every consumer of the registry to SI
        runs. ``coupled``: a model of the online-offline loop (``loop-mf``, ``loop-pair``),
        listed in :data:`COUPLED_MODELS` and not in :data:`MODELS`; it has no estimator, no
        curve fit and is never a sweep default; :meth:`fit_coupled` fits it on a loop run's
        tables and :meth:`predict_curves` gives its four curves.
    """

    name: str
    description: str
    map: MapModel
    ode: OdeModel | None
    params: tuple[str, ...]
    estimator: type[ExposureEstimator] | None = None
    data: tuple[DataKind, ...] = ("exposures",)
    curve_fit: bool = False
    starts: tuple[Mapping[str, float], ...] = ()
    overlays: tuple[Overlay, ...] = ()
    trait_effects: bool = False
    sweep_default: bool = False
    needs_regular: bool = False
    effective_curve_rates: tuple[str, ...] = ()
    data_params: DataParams | None = None
    fit_default: bool = True
    kind: ModelKind = "spread"
    _map_extra: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = self.map.param_names
        missing = [p for p in self.params if p not in names]
        if missing:
            raise ConfigError(
                f"model {self.name!r}: parameters {missing} are not parameters of its map "
                f"{self.map.name!r} ({list(names)})"
            )
        extra = tuple(n for n in names if n not in self.params)
        allowed = set(_NOT_FITTED)
        if set(extra) - allowed:
            raise ConfigError(
                f"model {self.name!r}: its map also needs {sorted(set(extra) - allowed)}; "
                "list them in params"
            )
        if self.data_params is not None and (self.curve_fit or self.kind == "coupled"):
            raise ConfigError(
                f"model {self.name!r}: parameters named from the data (data_params) need an "
                "agent-level spread model (a curve fit, or a coupled model, has fixed names)"
            )
        if self.curve_fit and not self.starts:
            raise ConfigError(f"model {self.name!r}: a curve fit needs starting values")
        for start in self.starts:
            if set(start) != set(self.params):
                raise ConfigError(
                    f"model {self.name!r}: every start must give exactly {list(self.params)}; "
                    f"got {sorted(start)}"
                )
        stray = [p for p in self.effective_curve_rates if p not in self.params]
        if stray:
            raise ConfigError(
                f"model {self.name!r}: effective_curve_rates {stray} are not among its params "
                f"{list(self.params)}"
            )
        if self.kind not in MODEL_KINDS:
            raise ConfigError(
                f"model {self.name!r}: kind must be one of {', '.join(MODEL_KINDS)}; "
                f"got {self.kind!r}"
            )
        if self.kind == "coupled":
            spread_only = [
                name
                for name, on in (
                    ("estimator", self.estimator is not None),
                    ("curve_fit", self.curve_fit),
                    ("overlays", bool(self.overlays)),
                    ("sweep_default", self.sweep_default),
                    ("trait_effects", self.trait_effects),
                )
                if on
            ]
            if spread_only:
                raise ConfigError(
                    f"model {self.name!r}: a coupled model is fitted by fit_coupling on a loop "
                    f"run; {', '.join(spread_only)} apply to spread models only"
                )
        elif self.estimator is None and not self.curve_fit:
            raise ConfigError(f"model {self.name!r} has neither an estimator nor a curve fit")
        object.__setattr__(self, "_map_extra", extra)

    @classmethod
    def of(cls, map: MapModel, ode: OdeModel | None, description: str, **options: Any) -> ModelSpec:
        """The spec of ``map``'s model: named after the map, fitting every parameter of the map
        but ``degree`` (and ``weight_by_class``), in the map's order; ``options`` are the other
        fields (``estimator=``, ``curve_fit=``, ...).

        Raises
        ------
        ConfigError
            As the constructor.
        """
        params = tuple(n for n in map.param_names if n not in _NOT_FITTED)
        return cls(map.name, description, map, ode, params, **options)

    # --- the parameter vocabulary ---------------------------------------------------------

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        """``{param: (lower, upper)}`` of the fitted parameters (closed bounds)."""
        all_bounds = self.map.bounds
        return {p: all_bounds[p] for p in self.params}

    @property
    def per_class(self) -> bool:
        """Whether the model has one value per class (persona) of some parameter."""
        return _WEIGHTS in self._map_extra

    @property
    def hazard_names(self) -> dict[str, str]:
        """``{param: ODE parameter}``: the symbol table restricted to this model."""
        return {p: HAZARD_SYMBOLS.get(p, p) for p in self.params}

    def params_for(self, data: Any = None, **options: Any) -> tuple[str, ...]:
        """The parameter names a fit of this model reports (``FitResult.params``).

        :attr:`params` for most models. For a model with :attr:`data_params` the names come
        from ``data`` (the exposure table it is fitted to) and the estimator's ``options``
        (as given to :meth:`make_estimator`), e.g. ``alpha_c``, ``online_1_c``, ...

        Raises
        ------
        ConfigError
            When the names depend on the data and none is given.
        """
        if self.data_params is None:
            return self.params
        if data is None:
            raise ConfigError(
                f"model {self.name!r} names its parameters from the data it is fitted to: "
                "give the exposure table"
            )
        return self.data_params.names(data, **options)

    def own_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The model's own fitted parameters in ``params``, which may also hold other names
        (another model's with the same rates).

        Raises
        ------
        ConfigError
            Naming the parameters that are missing.
        """
        names = self.params if self.data_params is None else self.data_params.own(params)
        missing = [p for p in names if p not in params]
        if missing:
            raise ConfigError(
                f"{self.name}: params lack {missing} (the model's parameters are {list(names)})"
            )
        return {p: params[p] for p in names}

    def map_rates(
        self, params: Mapping[str, Any], weights: ArrayLike | None = None
    ) -> dict[str, Any]:
        """The map's rate parameters (:attr:`params`) from exactly the fitted ones.

        The fitted values themselves, unless the names come from the data
        (:attr:`data_params`), whose ``to_map`` arranges them.

        Raises
        ------
        ConfigError
            For a missing or unknown parameter name.
        """
        own = self.params if self.data_params is None else self.data_params.own(params)
        given, names = set(params), set(own)
        if given != names:
            raise ConfigError(
                f"{self.name}: params must have exactly the names {list(own)}; "
                f"missing {sorted(names - given)}, unknown {sorted(given - names)}"
            )
        if self.data_params is None:
            return {p: params[p] for p in self.params}
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        return self.data_params.to_map(params, w)

    def map_params(
        self, params: Mapping[str, Any], *, degree: ArrayLike, weights: ArrayLike | None = None
    ) -> dict[str, Any]:
        """The map's parameters: the fitted ``params`` plus the degree (and class weights).

        Parameters
        ----------
        params : mapping
            Exactly the fitted parameters (a ``FitResult.params``, say: :attr:`params`, or
            :meth:`params_for` the data); per-class values as sequences. A class whose weight
            is 0 may have NaN rates (no agent of it was ever at risk): they cannot matter and
            are set to 0.
        degree : int
        weights : array_like, optional
            Shares (or counts) of the classes, required by per-class models.

        Raises
        ------
        ConfigError
            For a missing or unknown parameter name, or missing weights.
        """
        out: dict[str, Any] = self.map_rates(params, weights)
        out["degree"] = degree
        if self.per_class:
            if weights is None:
                raise ConfigError(
                    f"{self.name}: predictions need the share of agents in each class (weights)"
                )
            w = np.asarray(weights, dtype=np.float64)
            out[_WEIGHTS] = w
            for p in self.params:
                if self.map.parameters[self.map.param_names.index(p)].per_class:
                    value = np.asarray(out[p], dtype=np.float64)
                    if value.shape == w.shape:
                        value = np.where(np.isnan(value) & (w == 0), 0.0, value)
                    out[p] = value
        return out

    def ode_params(
        self, params: Mapping[str, Any], *, degree: ArrayLike, weights: ArrayLike | None = None
    ) -> dict[str, Any]:
        """The ODE's parameters: hazards derived from the fitted probabilities.

        Raises
        ------
        ConfigError
            When the model has no ODE, or as :meth:`map_params`.
        """
        if self.ode is None:
            raise ConfigError(f"model {self.name!r} has no ODE counterpart")
        mapped = self.map_params(params, degree=degree, weights=weights)
        return {
            HAZARD_SYMBOLS.get(n, n): (probability_to_hazard(v) if n in HAZARD_SYMBOLS else v)
            for n, v in mapped.items()
        }

    # --- prediction and fitting --------------------------------------------------------------

    def predict(
        self,
        params: Mapping[str, Any],
        *,
        degree: ArrayLike,
        i0: ArrayLike,
        n_rounds: int,
        weights: ArrayLike | None = None,
    ) -> np.ndarray:
        """Expected informed fraction after rounds 0..n_rounds, from the model's map (for a
        coupled model: the aware fraction ``1 - S``, agents that ever engaged online).

        Parameters
        ----------
        params : mapping
            The fitted parameters (:attr:`params`), e.g. ``fit.params``.
        degree : int
            k of the k-regular graph.
        i0 : float
            Initial informed fraction ``n_seeds / n_nodes``, in (0, 1).
        n_rounds : int
        weights : array_like, optional
            Class shares, for per-class models.

        Returns
        -------
        ndarray of float64, shape (n_rounds + 1,), read-only

        Raises
        ------
        ConfigError
        """
        return map_curve(
            self.map, self.map_params(params, degree=degree, weights=weights), i0, n_rounds
        )

    def predict_curves(
        self, params: Mapping[str, Any], *, degree: ArrayLike, i0: ArrayLike, n_rounds: int
    ) -> Any:
        """A coupled model's expected unaware, engaged, participating and ever-participated
        fractions after rounds 0..n_rounds (:class:`spillover.models.CoupledCurves`), from an
        engaged share ``i0`` of seeds; ``params`` as for :meth:`predict`.

        Raises
        ------
        ConfigError
            For a spread model, or as :meth:`map_params`.
        """
        from spillover.models import coupled_map

        if self.kind != "coupled":
            raise ConfigError(f"model {self.name!r} is a spread model: use predict")
        mapped = self.map_params(params, degree=degree)
        return coupled_map(self.name, i0=i0, n_rounds=n_rounds, **mapped)

    def fit_coupled(self, tables: Mapping[str, Any], *, level: float = 0.95) -> Any:
        """Fit a coupled model's rates on a loop run's tables (``offline``, and ``joins`` and
        ``engagement`` when present, as :func:`spillover.io.read_loop_tables` returns them):
        :func:`spillover.loop.fit_coupling`, a :class:`spillover.loop.CouplingFit`.

        Both coupled models share the rates, so they share the fit: the rates are per-round
        probabilities of the agents' own transitions, fitted from the counts, not through
        either closure.

        Raises
        ------
        ConfigError
            For a spread model.
        """
        from spillover.loop import fit_coupling

        if self.kind != "coupled":
            raise ConfigError(
                f"model {self.name!r} is a spread model: fit it on an SI run (make_estimator)"
            )
        return fit_coupling(
            tables["offline"], tables.get("joins"), tables.get("engagement"), level=level
        )

    def make_estimator(self, **kwargs: Any) -> ExposureEstimator:
        """A new, unfitted agent-level estimator (``kwargs`` go to its ``__init__``).

        Raises
        ------
        ConfigError
            When the model has no agent-level estimator.
        """
        if self.kind == "coupled":
            raise ConfigError(
                f"model {self.name!r} is a coupled model: fit it on a loop run (fit_coupled)"
            )
        if self.estimator is None:
            raise ConfigError(
                f"model {self.name!r} is fitted to curves only (it has no agent-level estimator)"
            )
        return self.estimator(**kwargs)

    def agent_data(
        self, exposures: ExposureTable, agents: AgentHistories | None = None
    ) -> AgentData:
        """The input the estimator takes: agent histories when it prefers them and they exist."""
        for kind in self.data:
            if kind == "agents" and agents is not None and len(agents):
                return agents
            if kind == "exposures":
                return exposures
        raise ConfigError(f"model {self.name!r} needs agent histories; the input has none")
