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
from spillover.models._base import OdeModel, Params, ParamsLike

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


def _floats(value: ArrayLike, must: str) -> np.ndarray:
    """``value`` as a new float64 array; IntegrationError ``"{must}; got {value!r}"``."""
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise IntegrationError(f"{must}; got {value!r}") from None


def _check_t_eval(model: str, t_eval: ArrayLike) -> np.ndarray:
    t = _floats(t_eval, f"{model}: t_eval must be a 1-d array of times")
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


def _check_params(model: OdeModel, params: ParamsLike) -> dict[str, np.ndarray]:
    """The model's validated parameters: scalars, per-class ones 1-d arrays (2-d with an
    exposure axis)."""
    p = model.validate(params)
    for spec in model.parameters:
        ndim = np.ndim(p[spec.name])
        if ndim != spec.value_axes:
            shape = {
                0: "a scalar",
                1: "a 1-d array (one value per class)",
                2: "a 2-d array (one value per class and exposure count)",
            }[spec.value_axes]
            raise ConfigError(
                f"{model.name}: parameter {spec.name!r} must be {shape} for integrate; "
                f"got shape {np.shape(p[spec.name])}"
            )
    return p


def _check_y0(model: OdeModel, y0: ArrayLike, n_states: int) -> np.ndarray:
    """``y0`` as a finite float array of the model's ``n_states`` states."""
    y_start = _floats(y0, f"{model.name}: y0 must be an array of numbers")
    if y_start.shape != (n_states,) or not np.all(np.isfinite(y_start)):
        raise IntegrationError(
            f"{model.name}: y0 must be a finite array of shape ({n_states},) "
            f"({', '.join(model.state_names)}); got {y0!r}"
        )
    return y_start


def _check_options(
    method: str, rtol: float, atol: float, max_step: float, max_steps: int
) -> tuple[float, float, float]:
    """Check the solver options; return ``rtol``, ``atol`` and ``max_step`` as floats."""
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
    return rtol, atol, max_step


class _Rhs:
    """The model's right-hand side as the solver calls it, counting its evaluations.

    A non-finite derivative stops the solver (:class:`_Stop`); an exception from the model is
    carried through the solver (:class:`_RhsRaised`).
    """

    def __init__(self, model: OdeModel, p: Params) -> None:
        self.model = model
        self.p = p
        self.n_eval = 0

    def __call__(self, t: float, y: np.ndarray) -> np.ndarray:
        self.n_eval += 1
        try:
            dy = np.asarray(self.model.rhs(t, y, self.p), dtype=np.float64)
        except Exception as error:  # a bug in the model, not a solver failure: re-raised later
            raise _RhsRaised(error) from error
        if not np.all(np.isfinite(dy)):
            raise _Stop(f"the right-hand side is not finite at t = {t:g}")
        return dy


@dataclass
class _Run:
    """What the solver loop reached: the points of ``t_eval`` with their states, and why it
    stopped."""

    ts: list[np.ndarray]
    ys: list[np.ndarray]
    status: Literal["success", "failed"] = "success"
    message: str = "reached the end of t_eval"
    n_steps: int = 0


def _step_until_done(
    run: _Run,
    solver: OdeSolver,
    t_eval: np.ndarray,
    max_steps: int,
) -> None:
    """Step the solver to the end of ``t_eval``, keeping the points it passes; stop with
    status "failed" on a solver failure, a non-finite state or when the step budget is used."""
    next_i = 1
    while solver.status == "running":
        step_message = solver.step()
        run.n_steps += 1
        if solver.status == "failed":
            run.status, run.message = "failed", str(step_message or "the solver failed")
            break
        if not np.all(np.isfinite(solver.y)):
            run.status = "failed"
            run.message = f"the state is not finite at t = {solver.t:g}"
            break
        stop_i = int(np.searchsorted(t_eval, solver.t, side="right"))
        if stop_i > next_i:
            run.ts.append(t_eval[next_i:stop_i])
            run.ys.append(solver.dense_output()(t_eval[next_i:stop_i]).T)
            next_i = stop_i
        if solver.status == "running" and run.n_steps >= max_steps:
            run.status = "failed"
            run.message = f"step budget max_steps = {max_steps} used up at t = {solver.t:g}"
            break


def _solve(
    fun: _Rhs,
    y_start: np.ndarray,
    t_eval: np.ndarray,
    method: str,
    *,
    rtol: float,
    atol: float,
    max_step: float,
    max_steps: int,
) -> _Run:
    """Run the solver from ``y_start`` at ``t_eval[0]``; a failure is reported, not raised
    (an exception from the model's right-hand side is re-raised)."""
    run = _Run(ts=[t_eval[:1]], ys=[y_start[None, :]])
    if t_eval.size <= 1:
        return run
    # Overflow and the like in the model surface as non-finite values, reported as a
    # failure, rather than as floating-point warnings.
    with np.errstate(all="ignore"):
        try:
            solver = METHODS[method](
                fun, t_eval[0], y_start, t_eval[-1], rtol=rtol, atol=atol, max_step=max_step
            )
            _step_until_done(run, solver, t_eval, max_steps)
        except _Stop as stop:
            run.status, run.message = "failed", str(stop)
        except _RhsRaised as raised:
            raise raised.error from None
        except (ArithmeticError, ValueError, np.linalg.LinAlgError) as error:
            # The solver's own arithmetic broke down (e.g. a Jacobian with infinities).
            run.status, run.message = "failed", f"the solver failed: {error}"
    return run


def _solution(model: OdeModel, p: Params, run: _Run, n_evaluations: int) -> Solution:
    """The points the solver reached, with the model's informed fraction at each."""
    t_out = np.concatenate(run.ts)
    y_out = np.concatenate(run.ys, axis=0)
    with np.errstate(all="ignore"):
        informed = np.asarray(model.observe(y_out, p), dtype=np.float64)
    return Solution(
        t=t_out,
        y=y_out,
        informed=informed,
        state_names=model.state_names,
        status=run.status,
        message=run.message,
        n_steps=run.n_steps,
        n_evaluations=n_evaluations,
    )


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
    p = _check_params(model, params)
    t_eval = _check_t_eval(model.name, t_eval)
    y_start = _check_y0(model, y0, model.n_states(p))
    rtol, atol, max_step = _check_options(method, rtol, atol, max_step, max_steps)
    fun = _Rhs(model, p)
    run = _solve(
        fun, y_start, t_eval, method, rtol=rtol, atol=atol, max_step=max_step, max_steps=max_steps
    )
    return _solution(model, p, run, fun.n_eval)
