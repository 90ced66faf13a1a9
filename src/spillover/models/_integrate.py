"""The one integration driver: an ODE model, parameters and a grid in; a Solution with a status out.

The driver runs scipy's ODE solvers (the ``OdeSolver`` classes behind
``scipy.integrate.solve_ivp``, same methods, options and interpolation at ``t_eval``) with the
loop of ``solve_ivp`` written out, so that it can also stop on a non-finite state and after a
step budget, keeping the points already reached. A solver failure is reported in the returned
value's ``status``, never raised; only invalid input raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.integrate import BDF, DOP853, LSODA, RK23, RK45, OdeSolver, Radau

from spillover.exceptions import ConfigError, IntegrationError
from spillover.models._base import OdeModel, ParamsLike

__all__ = ["METHODS", "Solution", "integrate"]

#: The solver methods :func:`integrate` accepts (as ``solve_ivp``).
METHODS: dict[str, type[OdeSolver]] = {
    "RK23": RK23,
    "RK45": RK45,
    "DOP853": DOP853,
    "Radau": Radau,
    "BDF": BDF,
    "LSODA": LSODA,
}


@dataclass(frozen=True)
class Solution:
    """The result of :func:`integrate`.

    Attributes
    ----------
    t : ndarray of float64, shape (n_times,), read-only
        The points of ``t_eval`` reached: all of them when ``status == "success"``, those
        before the failure otherwise (at least the first).
    y : ndarray of float64, shape (n_times, n_states), read-only
        The state at each point of ``t``.
    informed : ndarray of float64, shape (n_times,), read-only
        The informed fraction at each point of ``t``.
    state_names : tuple of str
    status : {"success", "failed"}
    message : str
        The solver's message, or why the driver stopped it.
    n_steps : int
        Solver steps taken.
    n_evaluations : int
        Right-hand side evaluations.
    """

    t: np.ndarray
    y: np.ndarray
    informed: np.ndarray
    state_names: tuple[str, ...]
    status: Literal["success", "failed"]
    message: str
    n_steps: int
    n_evaluations: int

    def __post_init__(self) -> None:
        for name in ("t", "y", "informed"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def success(self) -> bool:
        """``status == "success"``."""
        return self.status == "success"


class _Stop(Exception):
    """Raised inside the right-hand side to stop the solver."""


class _RhsRaised(Exception):
    """Carries an exception raised by a model's right-hand side through the solver."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _check_t_eval(model: str, t_eval: ArrayLike) -> np.ndarray:
    try:
        t = np.array(t_eval, dtype=np.float64)
    except (TypeError, ValueError):
        raise IntegrationError(
            f"{model}: t_eval must be a 1-d array of times; got {t_eval!r}"
        ) from None
    if t.ndim != 1 or t.size < 1 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0.0):
        raise IntegrationError(
            f"{model}: t_eval must be a non-empty 1-d array of finite, strictly increasing "
            f"times (t_eval[0] is the time of y0); got {t_eval!r}"
        )
    return t


def _check_positive(name: str, value: object, *, allow_inf: bool = False) -> float:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    v = float(value) if ok else math.nan  # type: ignore[arg-type]
    if not (v > 0.0 and (allow_inf or math.isfinite(v))):
        raise IntegrationError(f"integrate: {name} must be a positive number; got {value!r}")
    return v


def integrate(
    model: OdeModel,
    params: ParamsLike,
    y0: ArrayLike,
    t_eval: ArrayLike,
    *,
    method: str = "LSODA",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_step: float = math.inf,
    max_steps: int = 10_000,
) -> Solution:
    """Integrate an ODE model from ``y0`` at ``t_eval[0]`` and report the states at ``t_eval``.

    Parameters
    ----------
    model : OdeModel
    params : mapping of str to float or array_like
        The model's parameters: scalars, and 1-d arrays for per-class parameters.
    y0 : array_like, shape (n_states,)
        The state at ``t_eval[0]``, e.g. ``model.initial_state(i0, params)``.
    t_eval : array_like, shape (n_times,)
        Strictly increasing times at which to report the state.
    method : {"LSODA", "RK45", "RK23", "DOP853", "Radau", "BDF"}
        The scipy solver.
    rtol, atol : float
        Relative and absolute tolerances (``rtol >= 1e-13``).
    max_step : float
        Largest step the solver may take.
    max_steps : int
        Step budget: past it the integration stops with status "failed".

    Returns
    -------
    Solution
        ``status`` is ``"failed"`` (and ``t``, ``y`` hold the points reached) when the solver
        fails, the state or its derivative stops being finite, or the step budget runs out.

    Raises
    ------
    ConfigError
        If a parameter breaks its rule (or is not a scalar, per-class ones not 1-d).
    IntegrationError
        If ``y0``, ``t_eval``, ``method`` or an option is invalid.
    """
    if not isinstance(model, OdeModel):
        raise IntegrationError(f"integrate: model must be an OdeModel; got {type(model).__name__}")
    p = model.validate(params)
    for spec in model.parameters:
        ndim = np.ndim(p[spec.name])
        if ndim != (1 if spec.per_class else 0):
            shape = "a 1-d array (one value per class)" if spec.per_class else "a scalar"
            raise ConfigError(
                f"{model.name}: parameter {spec.name!r} must be {shape} for integrate; "
                f"got shape {np.shape(p[spec.name])}"
            )
    t_eval = _check_t_eval(model.name, t_eval)
    n_states = model.n_states(p)
    try:
        y_start = np.array(y0, dtype=np.float64)
    except (TypeError, ValueError):
        raise IntegrationError(
            f"{model.name}: y0 must be an array of numbers; got {y0!r}"
        ) from None
    if y_start.shape != (n_states,) or not np.all(np.isfinite(y_start)):
        raise IntegrationError(
            f"{model.name}: y0 must be a finite array of shape ({n_states},) "
            f"({', '.join(model.state_names)}); got {y0!r}"
        )
    if method not in METHODS:
        raise IntegrationError(
            f"integrate: method must be one of {sorted(METHODS)}; got {method!r}"
        )
    rtol = _check_positive("rtol", rtol)
    if rtol < 1e-13:
        raise IntegrationError(f"integrate: rtol must be >= 1e-13; got {rtol!r}")
    atol = _check_positive("atol", atol)
    max_step = _check_positive("max_step", max_step, allow_inf=True)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or max_steps < 1:
        raise IntegrationError(f"integrate: max_steps must be an integer >= 1; got {max_steps!r}")

    n_eval = 0

    def fun(t: float, y: np.ndarray) -> np.ndarray:
        nonlocal n_eval
        n_eval += 1
        try:
            dy = np.asarray(model.rhs(t, y, p), dtype=np.float64)
        except Exception as error:  # a bug in the model, not a solver failure: re-raised below
            raise _RhsRaised(error) from error
        if not np.all(np.isfinite(dy)):
            raise _Stop(f"the right-hand side is not finite at t = {t:g}")
        return dy

    ts: list[np.ndarray] = [t_eval[:1]]
    ys: list[np.ndarray] = [y_start[None, :]]
    status: Literal["success", "failed"] = "success"
    message = "reached the end of t_eval"
    n_steps = 0
    if t_eval.size > 1:
        next_i = 1
        # Overflow and the like in the model surface as non-finite values, reported as a
        # failure, rather than as floating-point warnings.
        with np.errstate(all="ignore"):
            try:
                solver = METHODS[method](
                    fun, t_eval[0], y_start, t_eval[-1], rtol=rtol, atol=atol, max_step=max_step
                )
                while solver.status == "running":
                    step_message = solver.step()
                    n_steps += 1
                    if solver.status == "failed":
                        status, message = "failed", str(step_message or "the solver failed")
                        break
                    if not np.all(np.isfinite(solver.y)):
                        status = "failed"
                        message = f"the state is not finite at t = {solver.t:g}"
                        break
                    stop_i = int(np.searchsorted(t_eval, solver.t, side="right"))
                    if stop_i > next_i:
                        ts.append(t_eval[next_i:stop_i])
                        ys.append(solver.dense_output()(t_eval[next_i:stop_i]).T)
                        next_i = stop_i
                    if solver.status == "running" and n_steps >= max_steps:
                        status = "failed"
                        message = f"step budget max_steps = {max_steps} used up at t = {solver.t:g}"
                        break
            except _Stop as stop:
                status, message = "failed", str(stop)
            except _RhsRaised as raised:
                raise raised.error from None
            except (ArithmeticError, ValueError, np.linalg.LinAlgError) as error:
                # The solver's own arithmetic broke down (e.g. a Jacobian with infinities).
                status, message = "failed", f"the solver failed: {error}"
    t_out = np.concatenate(ts)
    y_out = np.concatenate(ys, axis=0)
    with np.errstate(all="ignore"):
        informed = np.asarray(model.observe(y_out, p), dtype=np.float64)
    return Solution(
        t=t_out,
        y=y_out,
        informed=informed,
        state_names=model.state_names,
        status=status,
        message=message,
        n_steps=n_steps,
        n_evaluations=n_eval,
    )
