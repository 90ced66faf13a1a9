"""The model seam: frozen descriptions of discrete maps and ODEs, and parameter validation.

A model declares its state names, its parameters with bounds, and a pure function: the one-round
map ``step(state, params) -> state`` of a :class:`MapModel`, or the right-hand side
``rhs(t, state, params) -> d state / dt`` of an :class:`OdeModel`. Two more pure functions turn
an initial informed fraction into a state (seeds placed uniformly at random) and a state into
the informed fraction. Drivers (:func:`~spillover.models.iterate`,
:func:`~spillover.models.integrate`) do the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from spillover.exceptions import ConfigError

__all__ = [
    "MapModel",
    "OdeModel",
    "Parameter",
    "Params",
    "ParamsLike",
    "check_i0",
    "check_n_rounds",
]

#: Validated parameters: name -> float64 array (0-d for scalars; last axis = class for
#: per-class parameters).
Params = Mapping[str, np.ndarray]
#: Parameters as a caller gives them.
ParamsLike = Mapping[str, ArrayLike]

StepFn = Callable[[np.ndarray, Params], np.ndarray]
RhsFn = Callable[[float, np.ndarray, Params], np.ndarray]
StartFn = Callable[[np.ndarray, Params], np.ndarray]
ObserveFn = Callable[[np.ndarray, Params], np.ndarray]
CheckFn = Callable[[str, Params], None]


@dataclass(frozen=True)
class Parameter:
    """One parameter of a model: name, closed bounds and meaning.

    Attributes
    ----------
    name : str
    lower, upper : float
        Closed bounds; ``upper`` may be ``inf`` (values must still be finite).
    description : str
        What the parameter means, with its units; quoted in error messages.
    integer : bool
        Whether values must be whole numbers (the degree).
    per_class : bool
        Whether the parameter holds one value per class (last axis).
    per_exposure : bool
        Whether a per-class parameter also holds one value per exposure count m = 1, 2, ...
        on a last axis after the class axis (shape batch + (n_classes, M)).
    """

    name: str
    lower: float
    upper: float
    description: str
    integer: bool = False
    per_class: bool = False
    per_exposure: bool = False

    @property
    def value_axes(self) -> int:
        """Axes of one value that are not batch axes: class and exposure axes."""
        return int(self.per_class) + int(self.per_class and self.per_exposure)

    def check(self, model: str, value: object) -> np.ndarray:
        """Validate one value; return it as a float64 array.

        Raises
        ------
        ConfigError
            Naming the model, the parameter, the rule and the value received.
        """
        where = f"{model}: parameter {self.name!r}"
        rule = f"[{self.lower:g}, {self.upper:g}]" + (", a whole number" if self.integer else "")
        arr = _float_array(value, f"{where} must be a number in {rule}")
        if self.per_class and (arr.ndim < 1 or arr.shape[-1] < 1):
            raise ConfigError(
                f"{where} must hold one value per class (an array with a last axis of length "
                f">= 1); got shape {arr.shape}"
            )
        if self.value_axes == 2 and (arr.ndim < 2 or arr.shape[-2] < 1):
            raise ConfigError(
                f"{where} must hold one value per class and exposure count (an array of shape "
                f"batch + (n_classes, M)); got shape {arr.shape}"
            )
        bad = ~np.isfinite(arr) | (arr < self.lower) | (arr > self.upper)
        if self.integer:
            bad |= np.isfinite(arr) & (arr != np.round(arr))
        if bad.any():
            idx = np.unravel_index(int(np.flatnonzero(bad)[0]), arr.shape)
            at = "" if arr.ndim == 0 else f"[{', '.join(str(int(i)) for i in idx)}]"
            raise ConfigError(
                f"{where}{at} must be finite and in {rule} ({self.description}); "
                f"got {float(arr[idx])!r}"
            )
        arr.flags.writeable = False
        return arr


@dataclass(frozen=True, kw_only=True)
class _ModelBase:
    name: str
    state_names: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    start: StartFn
    observe: ObserveFn
    equations: str
    reference: str
    check: CheckFn | None = None
    per_class_state: bool = False

    @property
    def param_names(self) -> tuple[str, ...]:
        """The parameter names, in declaration order."""
        return tuple(p.name for p in self.parameters)

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        """``{name: (lower, upper)}`` (closed bounds)."""
        return {p.name: (p.lower, p.upper) for p in self.parameters}

    def n_states(self, params: Params) -> int:
        """Number of state components: ``len(state_names)``, or the number of classes."""
        if not self.per_class_state:
            return len(self.state_names)
        first = next(p.name for p in self.parameters if p.per_class)
        return int(np.shape(params[first])[-1])

    def validate(self, params: ParamsLike) -> dict[str, np.ndarray]:
        """Check every parameter against its bounds and the model's cross-parameter rules.

        Parameters
        ----------
        params : mapping of str to float or array_like
            One entry per name in :attr:`param_names`; scalar parameters may be arrays that
            broadcast together (a batch of models), per-class ones have classes on the last axis.

        Returns
        -------
        dict of str to ndarray (read-only, float64)

        Raises
        ------
        ConfigError
            For a missing or unknown name, or a value that breaks its rule.
        """
        if not isinstance(params, Mapping):
            raise ConfigError(
                f"{self.name}: params must be a mapping of {list(self.param_names)}; "
                f"got {type(params).__name__}"
            )
        missing = [n for n in self.param_names if n not in params]
        unknown = sorted(str(n) for n in params if n not in self.param_names)
        if missing or unknown:
            raise ConfigError(
                f"{self.name}: params must have exactly the names {list(self.param_names)}; "
                f"missing {missing}, unknown {unknown}"
            )
        out = {p.name: p.check(self.name, params[p.name]) for p in self.parameters}
        if self.check is not None:
            self.check(self.name, out)
        return out

    def initial_state(self, i0: ArrayLike, params: ParamsLike) -> np.ndarray:
        """The state with a share ``i0`` of agents informed, placed uniformly at random.

        Parameters
        ----------
        i0 : float or array_like
            Initial informed fraction (``n_seeds / n_nodes``), in (0, 1).
        params : mapping
            As for :meth:`validate`.

        Returns
        -------
        ndarray, shape batch + (n_states,)
            ``batch`` is the broadcast shape of ``i0`` and the scalar parameters.
        """
        p = self.validate(params)
        return np.asarray(self.start(check_i0(self.name, i0), p), dtype=np.float64)

    def informed_fraction(self, states: ArrayLike, params: ParamsLike) -> np.ndarray:
        """The informed fraction of states, shape ``states.shape[:-1]``."""
        p = self.validate(params)
        return np.asarray(self.observe(np.asarray(states, dtype=np.float64), p))


@dataclass(frozen=True, kw_only=True)
class MapModel(_ModelBase):
    """A discrete-time model: one synchronous round of the engine per application of ``step``.

    Attributes
    ----------
    name : str
        Model name, as in DESIGN section 2 (``"si"``, ``"si2"``, ``"si-groups2"``,
        ``"si-persona"``, ``"pair"``).
    state_names : tuple of str
        Names of the state components (last axis of a state).
    parameters : tuple of Parameter
        Parameters with bounds (per-round probabilities and the degree).
    step : callable
        ``step(state, params) -> state``: pure, vectorised over leading (batch) axes;
        ``state`` has shape batch + (n_states,).
    start : callable
        ``start(i0, params) -> state``: the state with a share ``i0`` informed at random.
    observe : callable
        ``observe(states, params) -> informed fraction``, shape ``states.shape[:-1]``.
    equations : str
        The map, in plain text.
    reference : str
    check : callable or None
        Cross-parameter rules, ``check(model_name, params)``, raising ConfigError; ``None``
        (the default) when the bounds say all.
    per_class_state : bool
        Whether the state holds one component per class (``state_names`` then names the
        component generically) rather than one per name; ``False`` by default.

    Every field is given by keyword.
    """

    step: StepFn


@dataclass(frozen=True, kw_only=True)
class OdeModel(_ModelBase):
    """A continuous-time model: ``d state / dt = rhs(t, state, params)``.

    Attributes are those of :class:`MapModel`, with ``rhs(t, state, params) -> ndarray`` of
    shape (n_states,) in place of ``step``; rates are hazards (per unit time), where one unit of
    time corresponds to one round of the engine (see
    :func:`~spillover.models.probability_to_hazard`).
    """

    rhs: RhsFn

    @classmethod
    def on_states_of(
        cls,
        model: MapModel,
        *,
        parameters: tuple[Parameter, ...],
        equations: str,
        rhs: RhsFn,
        reference: str | None = None,
        start: StartFn | None = None,
        check: CheckFn | None = None,
    ) -> OdeModel:
        """The ODE on the states of a map: its name, state names, ``observe`` and per-class
        flag are ``model``'s, as are its ``start`` and reference unless given.

        ``check`` is not taken from the map (it reads the map's parameter names); nor is
        ``start`` where it reads them (the per-class models).
        """
        shared = {
            f: getattr(model, f) for f in ("name", "state_names", "observe", "per_class_state")
        }
        return cls(
            **shared,
            parameters=parameters,
            equations=equations,
            rhs=rhs,
            reference=model.reference if reference is None else reference,
            start=model.start if start is None else start,
            check=check,
        )


def _float_array(value: object, must: str) -> np.ndarray:
    """``value`` as a new float64 array; ConfigError ``"{must}; got {value!r}"`` for a bool,
    a string or what numpy cannot read as numbers."""
    if isinstance(value, bool | np.bool_ | str | bytes):
        raise ConfigError(f"{must}; got {value!r}")
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{must}; got {value!r}") from None


def check_i0(where: str, i0: ArrayLike) -> np.ndarray:
    """``i0`` as a float64 array, every value in the open interval (0, 1).

    Raises
    ------
    ConfigError
    """
    rule = "the initial informed fraction n_seeds / n_nodes, in the open interval (0, 1)"
    arr = _float_array(i0, f"{where}: i0 must be {rule}")
    bad = ~((arr > 0.0) & (arr < 1.0))
    if bad.any():
        raise ConfigError(
            f"{where}: i0 must be {rule}; got {float(arr.ravel()[np.argmax(bad.ravel())])!r}"
        )
    return arr


def check_n_rounds(where: str, n_rounds: Any) -> int:
    """``n_rounds`` as an int >= 0.

    Raises
    ------
    ConfigError
    """
    if isinstance(n_rounds, bool | np.bool_) or not isinstance(n_rounds, int | np.integer):
        raise ConfigError(f"{where}: n_rounds must be an integer >= 0; got {n_rounds!r}")
    if n_rounds < 0:
        raise ConfigError(f"{where}: n_rounds must be >= 0; got {n_rounds}")
    return int(n_rounds)
