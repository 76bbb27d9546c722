"""Constrained design of weight laws: targets, objectives, the multi-start solver, its report.

Problem (docs/theory.md#design-beyond-algorithm-1): choose the free parameters θ of a template
(a law, or a Scheme of laws) to

    minimise f(θ)   subject to   c_i(θ) = v_i (Equal),
                                 q_j(θ) <= v_j (AtMost),
                                 q_k(θ) >= v_k (AtLeast).

*Coordinates.* The solver works in z ∈ R^n: a positive parameter (α, β, ε0, ε1) is softplus(z),
any other (Uniform's low/high) is z itself.

*Method.* Augmented Lagrangian (Powell-Hestenes-Rockafellar): the inner problems are minimised by
L-BFGS (memory 6) with a backtracking Armijo line search, the outer loop updates the multipliers
and the penalty ρ. One ``lax.while_loop`` runs the whole solve as a state machine that evaluates
the augmented Lagrangian and its gradient at exactly one point per iteration (the next iterate, a
line-search trial, or a probe point): the quantity functions appear once in the compiled program,
which keeps the first call's compile time low.

*Many starts.* The loop is ``vmap``-ed over a batch of starts: the template's own coordinates
(start 0) and ``starts - 1`` points of a Halton sequence over a box in z (positive parameters
log-spread over [0.2, 20], others over [-1, 2]). Every start runs to its own end (the loop
stops when all have finished, never because one converged first); a start whose violation is
above √tol and has not fallen by a tenth in 3 rounds (ρ growing tenfold each) stops at that local
minimum of the violation. The winner is chosen as below.

*Honest status.* A start *converged* when (1) every residual is within ``tol`` (AtMost/AtLeast:
violations only), (2) with an objective, the gradient of the Lagrangian is at most √tol in
max-norm (KKT stationarity; the multipliers are the solver's), and (3) the point is a real law:
parameters finite, positive ones within [1e-8, 1e8] (float64) or [1e-6, 1e6] (float32) and at
least √tol (see ``_bounds``: below that a slope towards p = 0 is too flat in z to be told from an
optimum, and a residual that vanishes with p is inside tol), a Uniform with both ends free at
least √tol wide (relative to max(1, |low|, |high|)), and the KKT Newton step from the point is
short. (3) is what
separates an optimum from a point where the gradient has merely become small because the
objective flattens towards an unattained supremum (W → a point mass as α, β → ∞, say): there the
objective behaves like c·p^(-k) in the diverging parameter p, and the Newton step in log p is
1/k however small the gradient, while at an attained optimum it shrinks with the gradient. The
step is the solution of the KKT system [[H, Aᵀ], [A, 0]] [dz; dν] = -[∇L; c_active], with the
Hessian H of the Lagrangian and the Jacobian A of the active constraints taken by forward
differences of the (one) evaluation at n probe points; it is measured in log p for positive
parameters, relative for others, and a point whose largest entry exceeds 0.25 is not converged:
the report names that parameter and its direction (→ ∞ or → 0). The winner is the converged
start with the best objective (without an objective, the converged point nearest the template in
z, so a template on one side of a mirror-symmetric problem gets the answer on its side); if a
start that is feasible but not converged reaches a better objective than every converged one (by
more than 10 √tol (1 + |f|)), the optimum is not established and the report says so. With no
feasible start, the report gives the smallest violation found and its start; "infeasible" is
said only when that smallest violation exceeds √tol.

*Derivatives.* The returned parameters are differentiable in the target values, the template's
fixed parameters, τ and the summary by the implicit function theorem on the KKT system
F(z, λ, μ; p) = 0 of the winning start, dz = -(∂F)^+ ∂_p F dp (dense; the pseudo-inverse gives
the minimum-norm derivative where it is not unique). Only F at the solution is differentiated,
never the solver's loop: ∂F/∂(z, λ, μ) takes the Hessian of the Lagrangian and the constraints'
Jacobian by central differences of first-order gradients (step ε^(1/3), error about ε^(2/3)),
and ∂_p F dp is one forward-mode pass over the parameters that carry a tangent. Under a
top-level grad/jvp the derivative rule sees concrete primal values and calls the solver's one
compiled program.

*Compilation.* One solver program per problem *structure*: the template's tree structure and which
leaves are free, the constraint kinds and quantities, the objective, ``starts``, ``max_outer``,
``max_inner``, ``tol`` and the dtype. Target values, fixed parameters, τ and the summary's
arrays are inputs: changing them does not recompile. A callable quantity is part of the
structure: a *plain Python function* is keyed by its code object and the non-numeric values it
closes over, and the floats and arrays it closes over are inputs; so a lambda re-created from
the same source line (in a loop, or inside a function called again) with new floats in its
closure does not recompile. The ints (and strings) it closes over are part of the key, by
value, as they may set a structure (a moment's order, ``range(k)``, a column index): a new int
recompiles. A lambda written elsewhere, one closing over different other objects, or any other
callable (a ``functools.partial``, a bound method, an object with ``__call__``) is keyed by
identity and recompiles when it is a new object.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import importlib
import types
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from jaxmix import _checks, compile_cache
from jaxmix.epbeta_select import beta_law_shift
from jaxmix.higher import QUANTITIES as _HIGHER_QUANTITIES
from jaxmix.laws import AbstractLaw, Beta, EpBeta
from jaxmix.moments import Summary, covariance_factor, predict
from jaxmix.moments import class_mean_shift as _u
from jaxmix.schemes import Scheme

__all__ = [
    "QUANTITIES",
    "AbstractObjective",
    "AbstractTarget",
    "AtLeast",
    "AtMost",
    "DesignReport",
    "Equal",
    "Maximize",
    "Minimize",
    "design_weights",
]

Quantity = str | Callable
_POSITIVE = ("alpha", "beta", "eps0", "eps1")
_START_FLOOR = 1e-2  # a free positive parameter at 0 in the template starts here
_EDGE_AT_ZERO = ("eps0", "eps1")  # 0 is a valid value (EpBeta with eps = 0), not a limit
_MEMORY = 6  # L-BFGS pairs
_NEWTON_LIMIT = 0.25  # largest KKT Newton step (in log p) of a converged point
_ARMIJO = 1e-4
_RHO0 = 1e4  # first penalty
_STALL = 3  # rounds without progress on the violation after which an infeasible lane stops


# --- quantities ------------------------------------------------------------------------------


def _laws_of(weights):
    return weights.laws if isinstance(weights, Scheme) else (weights,)


def _per_law(weights, fn):
    vals = [fn(law) for law in _laws_of(weights)]
    return vals[0] if len(vals) == 1 else jnp.stack(jnp.broadcast_arrays(*vals))


def _q_class_var_error(weights, tau, summary):
    if summary is None:
        raise ValueError(
            'the quantity "class_var_error" needs data: pass summary=jaxmix.summarize(x, labels) '
            "to design_weights."
        )
    pred = predict(summary, weights, tau=tau)
    return (pred.class_variances - summary.class_variances) / summary.variance


def _q_u(weights, tau):
    # one law of the Beta family: the one-incomplete-beta closed form (what keeps the solver's
    # compiled program small); anything else: the generic class_mean_shift
    if isinstance(weights, EpBeta):
        return beta_law_shift(weights.alpha, weights.beta, weights.eps0, weights.eps1, tau)
    if isinstance(weights, Beta):
        zero = jnp.zeros_like(weights.alpha)
        return beta_law_shift(weights.alpha, weights.beta, zero, zero, tau)
    return _u(weights, tau=tau)


def _q_cov_gap(weights, tau, summary):
    k = covariance_factor(weights)  # K = 1 + 2 (E[W^k W^m] - (E W^k + E W^m)/2)
    gap = 0.5 * (k - 1.0)
    if jnp.ndim(gap) == 2:
        rows, cols = np.triu_indices(gap.shape[0])
        return gap[rows, cols]
    return gap


QUANTITIES: dict[str, Callable] = {
    "mean": lambda w, tau, s: _per_law(w, lambda l: l.moment(1)),
    "variance": lambda w, tau, s: _per_law(w, lambda l: l.variance()),
    "variance_gap": lambda w, tau, s: _per_law(w, lambda l: l.moment(2) - l.moment(1)),
    "covariance_gap": _q_cov_gap,
    "u": lambda w, tau, s: _q_u(w, tau),
    "class_var_error": _q_class_var_error,
    "p_below_0": lambda w, tau, s: _per_law(w, lambda l: l.cdf(jnp.zeros((), l.moment(1).dtype))),
    "p_above_1": lambda w, tau, s: _per_law(
        w, lambda l: 1.0 - l.cdf(jnp.ones((), l.moment(1).dtype))
    ),
}
"""Named quantities (per law of a Scheme where marked): mean E[W]; variance Var[W];
variance_gap E[W²] - E[W] (0: variance kept); covariance_gap E[W^k W^m] - (E W^k + E W^m)/2 for
column pairs k <= m (0: covariance kept; Theorem 2); u the class-mean shift (per column);
class_var_error (Var[x~ | L~=l] - σ_l²)/s² per class and column (needs ``summary``); p_below_0
P(W < 0); p_above_1 P(W > 1). A callable ``quantity(weights) -> array`` may be used instead."""
QUANTITIES.update(_HIGHER_QUANTITIES)  # tail_factor, third_moment_factor, kurtosis_growth


def _evaluate(quantity, weights, tau, summary):
    if isinstance(quantity, str):
        return jnp.ravel(QUANTITIES[quantity](weights, tau, summary))
    return jnp.ravel(quantity(weights))


def _check_quantity(quantity, owner):
    if isinstance(quantity, str):
        if quantity not in QUANTITIES:
            raise ValueError(
                f"{owner}: unknown quantity {quantity!r}; use one of {sorted(QUANTITIES)} or a "
                "callable weights -> array."
            )
    elif not callable(quantity):
        raise TypeError(
            f"{owner}: quantity must be a name or a callable, got {type(quantity).__name__}."
        )


class AbstractTarget(eqx.Module):
    """A condition on a quantity of the weights (the base of Equal, AtMost, AtLeast)."""

    quantity: eqx.AbstractVar[Quantity]
    value: eqx.AbstractVar[Array]

    def __check_init__(self):
        _check_quantity(self.quantity, type(self).__name__)

    @abc.abstractmethod
    def residual(self, weights, tau, summary):
        """Signed residual r with the condition equivalent to r = 0 (Equal) or r <= 0."""


def _target_value(v):
    return _checks.to_float(v, "value")


class _ValueSizeError(ValueError):
    """A target value whose size fits neither one value nor one per entry of the quantity."""


def _minus(q, value):
    """q - value, value a scalar (every entry) or one value per entry of the quantity q."""
    q, v = jnp.ravel(q), jnp.ravel(value)
    if v.shape[0] not in (1, q.shape[0]):
        raise _ValueSizeError(
            f"has {v.shape[0]} values but the quantity has {q.shape[0]} "
            f"entr{'y' if q.shape[0] == 1 else 'ies'} (one per law, column, class or column "
            "pair); give one value for all of them or one per entry."
        )
    return q - v


class Equal(AbstractTarget):
    """quantity(weights) = value (elementwise for array quantities)."""

    quantity: Quantity = eqx.field(static=True)
    value: Array = eqx.field(converter=_target_value)

    def residual(self, weights, tau, summary):
        return _minus(_evaluate(self.quantity, weights, tau, summary), self.value)


class AtMost(AbstractTarget):
    """quantity(weights) <= value."""

    quantity: Quantity = eqx.field(static=True)
    value: Array = eqx.field(converter=_target_value)

    def residual(self, weights, tau, summary):
        return _minus(_evaluate(self.quantity, weights, tau, summary), self.value)


class AtLeast(AbstractTarget):
    """quantity(weights) >= value."""

    quantity: Quantity = eqx.field(static=True)
    value: Array = eqx.field(converter=_target_value)

    def residual(self, weights, tau, summary):
        return -_minus(_evaluate(self.quantity, weights, tau, summary), self.value)


class AbstractObjective(eqx.Module):
    """What the solver optimises (the base of Maximize, Minimize)."""

    quantity: eqx.AbstractVar[Quantity]

    def __check_init__(self):
        _check_quantity(self.quantity, type(self).__name__)

    @abc.abstractmethod
    def loss(self, weights, tau, summary):
        """The scalar the solver minimises."""


class Maximize(AbstractObjective):
    """Objective: maximise the sum of quantity(weights) (e.g. "variance": the most spread law)."""

    quantity: Quantity = eqx.field(static=True)

    def loss(self, weights, tau, summary):
        return -jnp.sum(_evaluate(self.quantity, weights, tau, summary))


class Minimize(AbstractObjective):
    """Objective: minimise the sum of quantity(weights)."""

    quantity: Quantity = eqx.field(static=True)

    def loss(self, weights, tau, summary):
        return jnp.sum(_evaluate(self.quantity, weights, tau, summary))


# --- callables as compile keys ---------------------------------------------------------------


def _is_number(v) -> bool:
    """A closure value passed to the program as an input: floats and arrays. Python and numpy
    ints are not: they often set a structure (a moment's order, a column index, ``range(k)``),
    which a traced value cannot; they are part of the compile key instead (by value)."""
    return isinstance(v, (float, np.floating, np.complexfloating, np.ndarray, jax.Array))


def _by_value(v) -> bool:
    """Closure values keyed by their value (immutable and cheap to compare), not their id."""
    return isinstance(v, (int, np.integer, str, bytes, type(None)))


class _FnKey:
    """Hashable key of a plain function: its code, globals, defaults and non-numeric closure."""

    def __init__(self, fn, static_cells):
        self.code, self.globals, self.defaults = fn.__code__, fn.__globals__, fn.__defaults__
        self.name, self.static_cells = fn.__name__, static_cells

    def _key(self):
        return (
            self.code,
            id(self.globals),
            self.defaults,
            tuple((i, (type(v), v) if _by_value(v) else id(v)) for i, v in self.static_cells),
        )

    def __hash__(self):
        return hash(self._key())

    def __eq__(self, other):
        return isinstance(other, _FnKey) and self._key() == other._key()

    def rebuild(self, numbers):
        """The function again, its numeric closure cells holding ``numbers`` (maybe tracers)."""
        static = dict(self.static_cells)
        size = len(static) + len(numbers)
        it = iter(numbers)
        cells = tuple(types.CellType(static[i] if i in static else next(it)) for i in range(size))
        return types.FunctionType(self.code, self.globals, self.name, self.defaults, cells)


def _split_callable(q):
    """(key, numbers): key is static (hashable); numbers are the closure's numeric values."""
    if not isinstance(q, types.FunctionType) or q.__closure__ is None:
        return q, ()
    static, numbers = [], []
    for i, cell in enumerate(q.__closure__):
        try:
            v = cell.cell_contents
        except ValueError:  # empty cell: keep the function as it is
            return q, ()
        if _is_number(v) and not (isinstance(v, jax.Array) and not _checks.is_concrete(v)):
            numbers.append(jnp.asarray(v))
        else:
            static.append((i, v))
    if not numbers and not any(_by_value(v) for _, v in static):
        return q, ()
    return _FnKey(q, tuple(static)), tuple(numbers)


def _rebuild_quantity(key, numbers):
    return key.rebuild(numbers) if isinstance(key, _FnKey) else key


# --- the report ------------------------------------------------------------------------------

# status codes of DesignReport.status
CONVERGED, NOT_ATTAINED, NOT_STATIONARY, INFEASIBLE, NOT_FEASIBLE, BETTER_UNCONVERGED = range(6)


class DesignReport(eqx.Module):
    """How the solver ended, and which start won.

    Attributes:
        converged: True only for a point feasible to ``tol``, KKT-stationary (with an objective)
            and a real law (see the module docstring).
        status: 0 converged, 1 the optimum is not attained (a parameter runs off to 0 or ∞),
            2 feasible but not stationary, 3 infeasible (no start came within √tol), 4 not
            feasible to ``tol`` (closest start within √tol), 5 a feasible start that did not
            converge has a better objective than every converged one.
        residuals: ``residuals[i]`` belongs to ``constraints[i]``: q - value for Equal,
            max(0, q - value) for AtMost, max(0, value - q) for AtLeast (0: satisfied).
        max_violation, stationarity, objective: at the returned point (objective in the user's
            sense: the quantity's sum, maximised or minimised).
        newton_step: largest entry of the KKT Newton step from the returned point (log p for
            positive parameters); above 0.25 the point is not an optimum but a slope towards a
            limit law.
            A positive parameter outside the range the solver can certify (above 1e8, float32
            1e6; below the larger of √tol and 1e-8, float32 1e-6) counts as a step
            of ∞ towards that side.
        values: the free parameters at the returned point (order of ``parameters``).
        diverging: index into ``parameters`` of that entry; direction: +1 (→ ∞) or -1 (→ 0 for
            a positive parameter, → -∞ for Uniform's low or high; a Uniform's high with -1 and
            a width high - low below √tol (relative) is running down to its low: a point mass).
        start: index of the returned start (0: the template), num_starts: how many ran.
        start_violation, start_objective, start_converged: per start, shape (num_starts,).
        iterations, outer_iterations, penalty: of the returned start.
        parameters: names of the free parameters ("alpha", or "laws[1].alpha" for a Scheme).
    """

    converged: Array
    status: Array
    residuals: tuple[Array, ...]
    max_violation: Array
    stationarity: Array
    objective: Array
    newton_step: Array
    values: Array
    diverging: Array
    direction: Array
    start: Array
    start_violation: Array
    start_objective: Array
    start_converged: Array
    iterations: Array
    outer_iterations: Array
    penalty: Array
    parameters: tuple[str, ...] = eqx.field(static=True, default=())
    tol: float = eqx.field(static=True, default=0.0)
    has_objective: bool = eqx.field(static=True, default=False)
    maximize: bool = eqx.field(static=True, default=False)

    @property
    def num_starts(self) -> int:
        return int(np.shape(self.start_violation)[-1]) if np.ndim(self.start_violation) else 1

    def _param_name(self) -> str:
        i = int(self.diverging)
        return self.parameters[i] if 0 <= i < len(self.parameters) else f"parameter {i}"

    @property
    def message(self) -> str:
        """One readable paragraph: the outcome, its reason, the figures behind it."""
        status, start, n = int(self.status), int(self.start), self.num_starts
        where = f"start {start} of {n} ({'the template' if start == 0 else 'a spread start'})"
        viol, stat = float(self.max_violation), float(self.stationarity)
        steps = f"{int(self.iterations)} evaluations in {int(self.outer_iterations)} rounds"
        if status == CONVERGED:
            return (
                f"converged from {where}: max constraint violation {viol:.2e}, stationarity "
                f"{stat:.2e}, objective {float(self.objective):.6g}, {steps}; "
                f"{int(np.sum(np.asarray(self.start_converged)))} of {n} starts converged."
            )
        if status == NOT_ATTAINED:
            name = self._param_name()
            short = name.split(".")[-1]
            if short in _POSITIVE:
                arrow = "∞" if int(self.direction) > 0 else "0"
            else:
                arrow = "+∞" if int(self.direction) > 0 else "-∞"
            thin = self._thin_uniform()
            if thin is not None:
                name, arrow = f"the width {thin}", "0"
                evidence = (
                    f"{name} is below √tol = {np.sqrt(self.tol):.1e} (relative): a point mass "
                    "in the limit"
                )
            elif np.isfinite(float(self.newton_step)):
                where_ = f"log {name}" if short in _POSITIVE else f"{name} (relative)"
                evidence = f"Newton step {float(self.newton_step):.2g} in {where_}"
            else:
                lo, hi = _bounds(np.asarray(self.values).dtype, self.tol)
                evidence = (
                    f"{name} = {self._value():.3g}, outside [{lo:.1e}, {hi:.1e}], the range "
                    "where the solver can tell an optimum from a slope towards the boundary"
                )
            if short in _EDGE_AT_ZERO and int(self.direction) < 0:
                # ε0 = 0 (or ε1 = 0) is a law of the family, at the edge of the solver's range
                why, fix = (
                    f"the edge of its range; the law with {short} = 0 is in the family, but the "
                    "solver works with positive values only",
                    f"To solve at that edge, fix {name} = 0 in the template and leave {short} "
                    "out of free; or bound it with a constraint.",
                )
            elif self.has_objective:
                bound = "supremum" if self.maximize else "infimum"
                why, fix = (
                    f"the {bound} is a limit law, not a law of this family",
                    "Bound the parameter or the quantity with a constraint.",
                )
            else:
                return (
                    f"NOT converged: the targets are met only in a limit: {name} runs off to "
                    f"{arrow} (a limit law, not a law of this family). Closest point from "
                    f"{where}: max constraint violation {viol:.2e}, {evidence}. No law of this "
                    "family meets the targets to tol: change the targets or the template (free "
                    "more parameters; EpBeta for weights beyond [0, 1])."
                )
            return (
                f"NOT converged: the optimum is not attained: {name} runs off to {arrow} "
                f"({why}). Best point from {where}: objective {float(self.objective):.6g}, max "
                f"constraint violation {viol:.2e}, {evidence}. {fix}"
            )
        if status == NOT_STATIONARY:
            return (
                f"NOT converged: feasible (violation {viol:.2e}) but not stationary "
                f"(stationarity {stat:.2e} > {np.sqrt(self.tol):.1e}) at {where} after "
                f"{steps}; raise max_inner/max_outer or loosen tol."
            )
        if status == BETTER_UNCONVERGED:
            return (
                f"NOT converged: a feasible start that did not converge reaches a better "
                f"objective ({float(self.objective):.6g}, {where}) than every converged start; "
                f"the optimum is not established (raise max_inner/max_outer)."
            )
        worst = self._worst()
        if status == INFEASIBLE:
            return (
                f"NOT converged: the targets look infeasible for the free parameters: no "
                f"start of {n} came within {np.sqrt(self.tol):.1e}; the smallest violation "
                f"found is {viol:.3e} (constraint {worst}, {where}). E.g. a target outside what "
                "the family can reach (for variance-preserving EpBeta with fixed eps, a "
                "class-mean shift above max_attainable_delta(eps0, eps1)), or contradictory "
                "bounds."
            )
        off = self._off_range()
        if off is not None:
            name, value, arrow = off
            return (
                f"NOT converged: the closest start came within {viol:.3e} of the targets "
                f"(constraint {worst}, {where}) but not within tol = {self.tol:.1e}, and only "
                f"as {name} runs off to {arrow} ({name} = {value:.3g}): the violation probably "
                "vanishes only in a limit law, not a law of this family (raising max_inner, "
                "max_outer or tol will not change that): change the targets or the template."
            )
        return (
            f"NOT converged: the closest start came within {viol:.3e} of the targets "
            f"(constraint {worst}, {where}) but not within tol = {self.tol:.1e}; raise "
            f"max_inner/max_outer or loosen tol."
        )

    def _thin_uniform(self) -> str | None:
        """ "high - low" (with its law's prefix) when the diverging entry is a Uniform's high
        running down to its low (a width below √tol)."""
        name = self._param_name()
        if not name.endswith("high") or int(self.direction) > 0:
            return None
        low = name[: -len("high")] + "low"
        if low not in self.parameters:
            return None
        values = np.ravel(np.asarray(self.values))
        v_lo, v_hi = values[self.parameters.index(low)], values[int(self.diverging)]
        return f"{name} - {low}" if bool(_thin(v_lo, v_hi, self.tol)) else None

    def _off_range(self) -> tuple[str, float, str] | None:
        """(name, value, "0" or "∞") of a positive free parameter outside :func:`_bounds`."""
        values = np.ravel(np.asarray(self.values))
        if values.shape[0] != len(self.parameters):
            return None
        lo, hi = _bounds(values.dtype, self.tol)
        for name, v in zip(self.parameters, values, strict=True):
            if name.split(".")[-1] in _POSITIVE and not lo <= v <= hi:
                return name, float(v), "0" if v < lo else "∞"
        return None

    def _value(self) -> float:
        i = int(self.diverging)
        vals = np.ravel(np.asarray(self.values))
        return float(vals[i]) if 0 <= i < vals.shape[0] else float("nan")

    def _worst(self) -> int:
        if not self.residuals:
            return -1
        return int(np.argmax([float(np.max(np.abs(np.asarray(r)))) for r in self.residuals]))

    def __repr__(self) -> str:
        if not _checks.is_concrete(self.converged) or np.ndim(self.converged) != 0:
            return super().__repr__()
        lines = [
            f"DesignReport(converged={bool(self.converged)}, "
            f"start={int(self.start)} of {self.num_starts})",
            f"  {self.message}",
        ]
        values = np.ravel(np.asarray(self.values))
        if values.shape[0] == len(self.parameters):
            lines.append(
                "  "
                + ", ".join(
                    f"{name} = {float(v):.6g}"
                    for name, v in zip(self.parameters, values, strict=True)
                )
            )
        for i, r in enumerate(self.residuals):
            vals = np.array2string(np.asarray(r), precision=3, floatmode="maxprec")
            lines.append(f"  residual[{i}] = {vals}")
        lines.append(
            "  per start: violation "
            + np.array2string(
                np.asarray(self.start_violation),
                max_line_width=200,
                formatter={"float_kind": lambda v: f"{v:.2e}"},
            )
        )
        return "\n".join(lines)

    __str__ = __repr__


# --- the problem -------------------------------------------------------------------------------


def _free_spec(template, free):
    """Boolean pytree: True on the leaves to optimise (fields named in ``free`` of every law)."""
    free = tuple(free)
    for name in free:
        if not any(hasattr(law, name) for law in _laws_of(template)):
            raise ValueError(f"design_weights: no law of the template has a parameter {name!r}.")
    spec = jax.tree_util.tree_map(lambda _: False, template)
    for name in free:
        spec = eqx.tree_at(
            lambda t, name=name: [getattr(l, name) for l in _laws_of(t) if hasattr(l, name)],
            spec,
            replace_fn=lambda _: True,
        )
    return spec


def _names_spec(template):
    """Pytree of names per leaf ("alpha", or "laws[g].alpha" for a Scheme)."""
    laws = _laws_of(template)
    spec = jax.tree_util.tree_map(lambda _: "", template)
    for g, law in enumerate(laws):
        for name in ("alpha", "beta", "eps0", "eps1", "low", "high"):
            if hasattr(law, name):
                label = (
                    name
                    if len(laws) == 1 and isinstance(template, AbstractLaw)
                    else f"laws[{g}].{name}"
                )
                spec = eqx.tree_at(
                    lambda t, g=g, name=name: getattr(_laws_of(t)[g], name),
                    spec,
                    replace_fn=lambda _, label=label: label,
                )
    return spec


def _width_pairs(free_names):
    """(i_low, i_high): positions of a Uniform's low and high when both are free."""
    pairs = []
    for i, name in enumerate(free_names):
        if name.split(".")[-1] == "low":
            high = name[: -len("low")] + "high"
            if high in free_names:
                pairs.append((i, free_names.index(high)))
    return tuple(pairs)


def _thin(low, high, tol):
    """A Uniform whose width is below √tol (relative): a point mass in the limit, not a law."""
    xp = jnp if isinstance(low, jax.Array) else np
    scale = xp.maximum(1.0, xp.maximum(xp.abs(low), xp.abs(high)))
    return high - low < float(np.sqrt(tol)) * scale


def _softplus_inv(y):
    return y + jnp.log(-jnp.expm1(-y))


def _softplus_inv_host(y):
    """:func:`_softplus_inv` in numpy (host arithmetic: nothing to compile)."""
    return y + np.log(-np.expm1(-y))


class _Problem(eqx.Module):
    """Static description of a design problem (hashable: it is the compile key)."""

    treedef: object = eqx.field(static=True)
    free_mask: tuple = eqx.field(static=True)
    positive_mask: tuple = eqx.field(static=True)  # per free coordinate
    kinds: tuple = eqx.field(static=True)  # "eq" / "ineq" per constraint
    constraint_defs: tuple = eqx.field(static=True)  # (class, quantity key) per constraint
    objective_def: object = eqx.field(static=True)  # (class, quantity key) or None
    max_outer: int = eqx.field(static=True)
    max_inner: int = eqx.field(static=True)
    tol: float = eqx.field(static=True)
    width_pairs: tuple = eqx.field(static=True, default=())  # (i_low, i_high) per Uniform

    def weights(self, z, fixed):
        """Rebuild the weights from the free coordinates z (vector) and the fixed leaves."""
        leaves, k, j = [], 0, 0
        for is_free in self.free_mask:
            if is_free:
                v = z[k]
                leaves.append(jax.nn.softplus(v) if self.positive_mask[k] else v)
                k += 1
            else:
                leaves.append(fixed[j])
                j += 1
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    def residuals(self, z, params):
        values, fixed, tau, summary, numbers = params
        w = self.weights(z, fixed)
        out = []
        for i, ((cls, key), v, nums) in enumerate(
            zip(self.constraint_defs, values, numbers[0], strict=True)
        ):
            try:
                out.append(cls(_rebuild_quantity(key, nums), v).residual(w, tau, summary))
            except _ValueSizeError as e:  # found while tracing: name the constraint
                what = repr(key) if isinstance(key, str) else "a callable"
                raise ValueError(
                    f"design_weights: constraints[{i}] ({cls.__name__} on {what}) {e}"
                ) from None
        return out

    def split(self, res, dtype):
        eq = [r for r, k in zip(res, self.kinds, strict=True) if k == "eq"]
        ineq = [r for r, k in zip(res, self.kinds, strict=True) if k == "ineq"]

        def cat(rs):
            return jnp.concatenate(rs).astype(dtype) if rs else jnp.zeros((0,), dtype)

        return cat(eq), cat(ineq)

    def loss(self, z, params):
        if self.objective_def is None:
            return jnp.zeros((), z.dtype)
        values, fixed, tau, summary, numbers = params
        cls, key = self.objective_def  # pyright: ignore
        objective = cls(_rebuild_quantity(key, numbers[1]))
        return objective.loss(self.weights(z, fixed), tau, summary).astype(z.dtype)

    def lagrangian(self, z, lam, mu, params):
        c, g = self.split(self.residuals(z, params), z.dtype)
        return self.loss(z, params) + jnp.dot(lam, c) + jnp.dot(mu, g)


def _bounds(dtype, tol):
    """(lo, hi): the range of a positive free parameter at a point the solver can certify.

    hi: 1e8 (float64) or 1e6 (float32). lo: the larger of 1e-8 (1e-6) and √tol, because the
    gradient in the solver's coordinate z = softplus⁻¹(p) is ∂L/∂p · sigmoid(z) ≈ p ∂L/∂p for
    small p: below p = √tol a slope of order one towards p = 0 passes the stationarity test
    |∇L| <= √tol, and the Newton-step test drowns in rounding (in float32 the Hessian entry
    p ∂L/∂p falls below the rounding noise of its difference quotient near p = 1e-5). The same
    holds without an objective: a target met only in the limit p -> 0 has a residual that
    vanishes with p (Beta keeping the variance, E[W²] = E[W], as β -> 0: the residual is about
    β/(α+1), inside tol = 1e-5 once β < 1e-4, while in float32 its slope rounds to 0). A point
    with p < lo is reported as a parameter running off to 0, never as converged.
    """
    lo, hi = (1e-8, 1e8) if dtype == jnp.float64 else (1e-6, 1e6)
    return max(lo, float(np.sqrt(tol))), hi


def _lbfgs_direction(g, S, Y, count):
    """-H g by the two-loop recursion over the stored pairs (newest last; ``count`` valid)."""
    m = S.shape[0]
    q = g
    alphas = []
    for i in reversed(range(m)):
        valid = i >= m - count
        sy = jnp.dot(S[i], Y[i])
        r = jnp.where(valid, 1.0 / jnp.where(valid & (sy != 0), sy, 1.0), 0.0)
        a = r * jnp.dot(S[i], q)
        q = q - a * Y[i]
        alphas.append((a, r))
    sy, yy = jnp.dot(S[-1], Y[-1]), jnp.dot(Y[-1], Y[-1])
    gamma = jnp.where((count > 0) & (yy > 0), sy / jnp.where(yy > 0, yy, 1.0), 1.0)
    h = gamma * q
    for i, (a, r) in zip(range(m), reversed(alphas), strict=True):
        b = r * jnp.dot(Y[i], h)
        h = h + (a - b) * S[i]
    return -h


def _lane(problem: _Problem, z0, params):
    """One start: the augmented-Lagrangian state machine, then the probe for the Newton step.

    Phases: 0 evaluate at z (the augmented function changed), 1 line-search trial at z + t d,
    2 probe point z + h e_i (i = probe - 1; probe 0 is z itself), 3 done.
    Returns (init, active, body, finalize) for one lane; ``z0`` only gives the shape and dtype.
    """
    dtype = z0.dtype
    n = z0.shape[0]
    tol = problem.tol
    stat_tol = float(np.sqrt(tol))
    eps = float(jnp.finfo(dtype).eps)
    h_probe = float(np.sqrt(eps)) * 4.0
    has_obj = problem.objective_def is not None
    # shapes only: a traced evaluation here would be one more copy of the quantities to compile
    c0, g0 = jax.eval_shape(lambda z: problem.split(problem.residuals(z, params), dtype), z0)
    m_eq, m_in = c0.shape[0], g0.shape[0]
    c0, g0 = jnp.zeros(c0.shape, dtype), jnp.zeros(g0.shape, dtype)
    max_iter = problem.max_outer * (2 * problem.max_inner + 2) + n + 2
    positive = jnp.asarray(problem.positive_mask)

    def evaluate(z, lam, mu, rho, weight):
        def aug(z):
            c, g = problem.split(problem.residuals(z, params), dtype)
            f = problem.loss(z, params)
            val = (
                weight * f
                + jnp.dot(lam, c)
                + 0.5 * rho * jnp.dot(c, c)
                + (0.5 / rho) * jnp.sum(jnp.maximum(0.0, mu + rho * g) ** 2 - mu**2)
            )
            return val, (c, g, f)

        (val, (c, g, f)), grad = jax.value_and_grad(aug, has_aux=True)(z)
        return val, grad, c, g, f

    def violation(c, g):
        return jnp.maximum(
            jnp.max(jnp.abs(c), initial=0.0), jnp.max(jnp.maximum(g, 0.0), initial=0.0)
        )

    zeros_n = jnp.zeros((n,), dtype)

    def init(z0):
        return dict(
            phase=jnp.asarray(0),
            z=z0,
            f=jnp.asarray(jnp.inf, dtype),
            g=zeros_n,
            c=c0,
            gi=g0,
            loss=jnp.zeros((), dtype),
            lam=jnp.zeros((m_eq,), dtype),
            mu=jnp.zeros((m_in,), dtype),
            rho=jnp.asarray(_RHO0, dtype),
            S=jnp.zeros((_MEMORY, n), dtype),
            Y=jnp.zeros((_MEMORY, n), dtype),
            count=jnp.asarray(0),
            d=zeros_n,
            t=jnp.ones((), dtype),
            k_inner=jnp.asarray(0),
            outer=jnp.asarray(0),
            total=jnp.asarray(0),
            viol_prev=jnp.asarray(jnp.inf, dtype),
            stall=jnp.asarray(0),
            probe=jnp.asarray(0),
            H=jnp.zeros((n, n), dtype),
            J=jnp.zeros((m_eq + m_in, n), dtype),
            gz=zeros_n,
            cz=jnp.zeros((m_eq + m_in,), dtype),
            lam_k=jnp.zeros((m_eq,), dtype),
            mu_k=jnp.zeros((m_in,), dtype),
            stat=jnp.asarray(jnp.inf, dtype),
            viol=jnp.asarray(jnp.inf, dtype),
        )

    def sel(cond, a, b):
        return jax.tree_util.tree_map(lambda x, y: jnp.where(cond, x, y), a, b)

    def new_direction(s):
        d = _lbfgs_direction(s["g"], s["S"], s["Y"], s["count"])
        descent = jnp.dot(d, s["g"]) < 0
        d = jnp.where(descent, d, -s["g"])
        count = jnp.where(descent, s["count"], 0)
        dmax = jnp.max(jnp.abs(d))
        t = jnp.minimum(1.0, 5.0 / jnp.maximum(dmax, jnp.finfo(dtype).tiny))
        return {**s, "d": d, "t": t.astype(dtype), "count": count, "phase": jnp.asarray(1)}

    def outer_step(s):
        """The inner solve ended at z: stop (probe) or update the multipliers and go on."""
        viol = violation(s["c"], s["gi"])
        stat = jnp.max(jnp.abs(s["g"]), initial=0.0)  # = |∇L(z; λ+, μ+)|
        ok = viol <= tol
        if has_obj:
            ok = ok & (stat <= stat_tol) & (s["outer"] >= 1)
        lam_new = s["lam"] + s["rho"] * s["c"]
        mu_new = jnp.maximum(0.0, s["mu"] + s["rho"] * s["gi"])
        # a lane far from feasible (violation above √tol) whose violation has not fallen by a
        # tenth in _STALL rounds while ρ grew tenfold each round sits at a local minimum of the
        # violation: it stops there (closer to feasible, slow progress goes on)
        stall = jnp.where(
            (viol > stat_tol) & (viol > 0.9 * s["viol_prev"]) & (s["outer"] >= 1),
            s["stall"] + 1,
            0,
        )
        stop = (
            ok | (s["outer"] + 1 >= problem.max_outer) | ~jnp.isfinite(s["f"]) | (stall >= _STALL)
        )
        grow = (viol > 0.25 * s["viol_prev"]) & (s["outer"] >= 1)
        rho = jnp.where(grow, jnp.minimum(s["rho"] * 10.0, 1e10), s["rho"])
        go_on = {
            **s,
            "lam": lam_new,
            "mu": mu_new,
            "rho": rho.astype(dtype),
            "viol_prev": viol,
            "stall": stall,
            "outer": s["outer"] + 1,
            "k_inner": jnp.asarray(0),
            "count": jnp.asarray(0),
            "phase": jnp.asarray(0),
        }
        # probe with the KKT multipliers and ρ → 0: the evaluation is then the Lagrangian
        finish = {
            **s,
            "lam_k": lam_new,
            "mu_k": mu_new,
            "stat": stat,
            "viol": viol,
            "phase": jnp.asarray(2),
            "probe": jnp.asarray(0),
        }
        return sel(stop, finish, go_on)

    def inner_next(s):
        """At an accepted point: continue the inner solve or end it."""
        gmax = jnp.max(jnp.abs(s["g"]), initial=0.0)
        done = (gmax <= 0.1 * stat_tol) | (s["k_inner"] >= problem.max_inner)
        return sel(done, outer_step(s), new_direction(s))

    def cond(s):
        return (s["phase"] != 3) & (s["total"] < max_iter)

    def body(s):
        phase = s["phase"]
        i = jnp.maximum(s["probe"] - 1, 0)
        e_i = (jnp.arange(n) == i).astype(dtype)
        h_i = h_probe * jnp.maximum(1.0, jnp.abs(s["z"][i]))
        probing = phase == 2
        point = jnp.where(
            phase == 1,
            s["z"] + s["t"] * s["d"],
            jnp.where(probing & (s["probe"] > 0), s["z"] + h_i * e_i, s["z"]),
        )
        lam = jnp.where(probing, s["lam_k"], s["lam"])
        mu = jnp.where(probing, s["mu_k"], s["mu"])
        rho = jnp.where(probing, jnp.asarray(1e-30, dtype), s["rho"])
        # round 0 restores feasibility from the start (objective off), later rounds optimise
        weight = jnp.where(probing | (s["outer"] > 0), 1.0, 0.0).astype(dtype)
        val, grad, c, gi, f = evaluate(point, lam, mu, rho, weight)
        finite = jnp.isfinite(val) & jnp.all(jnp.isfinite(grad))
        s = {**s, "total": s["total"] + 1}

        # phase 0: the value at z of the new augmented function
        s0 = {**s, "f": val, "g": grad, "c": c, "gi": gi, "loss": f}
        s0 = sel(finite, inner_next(s0), outer_step({**s0, "f": jnp.asarray(jnp.inf, dtype)}))

        # phase 1: a line-search trial
        gd = jnp.dot(s["g"], s["d"])
        accept = finite & (val <= s["f"] + _ARMIJO * s["t"] * gd)
        sv, yv = point - s["z"], grad - s["g"]
        good_pair = jnp.dot(sv, yv) > 1e-10 * jnp.linalg.norm(sv) * jnp.linalg.norm(yv)
        S = jnp.where(good_pair, jnp.roll(s["S"], -1, axis=0).at[-1].set(sv), s["S"])
        Y = jnp.where(good_pair, jnp.roll(s["Y"], -1, axis=0).at[-1].set(yv), s["Y"])
        count = jnp.where(good_pair, jnp.minimum(s["count"] + 1, _MEMORY), s["count"])
        s_acc = {
            **s,
            "z": point,
            "f": val,
            "g": grad,
            "c": c,
            "gi": gi,
            "loss": f,
            "S": S,
            "Y": Y,
            "count": count,
            "k_inner": s["k_inner"] + 1,
        }
        s_acc = inner_next(s_acc)
        # reject: quadratic interpolation of the step, kept in [0.1 t, 0.5 t]
        denom = 2.0 * (jnp.where(finite, val, s["f"] + 1e30) - s["f"] - gd * s["t"])
        t_q = jnp.where(
            denom > 0, -gd * s["t"] ** 2 / jnp.where(denom > 0, denom, 1.0), 0.5 * s["t"]
        )
        t_new = jnp.clip(t_q, 0.1 * s["t"], 0.5 * s["t"])
        s_rej = {**s, "t": t_new.astype(dtype)}
        stalled = t_new * jnp.max(jnp.abs(s["d"])) < 10 * eps * (1.0 + jnp.max(jnp.abs(s["z"])))
        s_rej = sel(stalled, outer_step(s_rej), s_rej)
        s1 = sel(accept, s_acc, s_rej)

        # phase 2: probes for the Hessian of the Lagrangian and the Jacobian of the constraints
        res = jnp.concatenate([c, gi])
        at_z = s["probe"] == 0
        col_h = jnp.where(finite, (grad - s["gz"]) / h_i, 0.0)
        col_j = jnp.where(jnp.all(jnp.isfinite(res)), (res - s["cz"]) / h_i, 0.0)
        H = jnp.where(at_z, s["H"], s["H"].at[:, i].set(col_h))
        J = jnp.where(at_z, s["J"], s["J"].at[:, i].set(col_j))
        s2 = {
            **s,
            "H": H,
            "J": J,
            "probe": s["probe"] + 1,
            "gz": jnp.where(at_z, jnp.where(finite, grad, jnp.nan), s["gz"]),
            "cz": jnp.where(at_z, res, s["cz"]),
            "phase": jnp.where(s["probe"] >= n, 3, 2),
        }

        out = sel(phase == 0, s0, sel(phase == 1, s1, s2))
        return out

    def finalize(s):
        return _finalize_lane(
            s,
            problem=problem,
            dtype=dtype,
            n=n,
            m_eq=m_eq,
            m_in=m_in,
            tol=tol,
            stat_tol=stat_tol,
            has_obj=has_obj,
            positive=positive,
            violation=violation,
        )

    return init, cond, body, finalize


def _finalize_lane(
    s, *, problem, dtype, n, m_eq, m_in, tol, stat_tol, has_obj, positive, violation
):
    """Per-lane figures from the loop's state: the KKT Newton step and the verdicts."""
    # KKT Newton step from z: [[H, Aᵀ], [A, 0]] [dz; dν] = -[∇L; r_active]
    H = 0.5 * (s["H"] + s["H"].T)
    res = s["cz"]
    active = jnp.concatenate([jnp.ones((m_eq,), bool), (s["mu_k"] > 0) | (res[m_eq:] > -stat_tol)])
    A = jnp.where(active[:, None], s["J"], 0.0)
    m = m_eq + m_in
    kkt = jnp.block([[H, A.T], [A, jnp.diag(jnp.where(active, 0.0, 1.0))]]) if m else H
    rhs = -jnp.concatenate([s["gz"], jnp.where(active, res, 0.0)]) if m else -s["gz"]
    step = (jnp.linalg.pinv(kkt) @ rhs)[:n]
    zf = s["z"]
    p = jnp.where(positive, jax.nn.softplus(zf), zf)
    log_step = jnp.where(
        positive,
        step * jax.nn.sigmoid(zf) / jnp.maximum(p, jnp.finfo(dtype).tiny),
        step / jnp.maximum(1.0, jnp.abs(zf)),
    )
    log_step = jnp.where(jnp.isfinite(log_step), log_step, jnp.inf)
    lo, hi = _bounds(dtype, tol)
    out_of_box = positive & ((p < lo) | (p > hi))
    # a Uniform as thin as √tol is a point mass in the limit: its high runs off to its low
    thin = jnp.zeros_like(out_of_box)
    for i_lo, i_hi in problem.width_pairs:
        thin = thin.at[i_hi].set(_thin(zf[i_lo], zf[i_hi], tol))
    out_of_box = out_of_box | thin
    # a parameter outside the box counts as diverging in its direction
    size = jnp.where(out_of_box, jnp.inf, jnp.abs(log_step))
    k = jnp.argmax(size)
    # an unbounded parameter runs off on its own side (a Newton step with negative curvature
    # points back, so its sign is no direction); a positive one as its step in log p says
    direction = jnp.where(
        out_of_box[k],
        jnp.where(thin[k] | (p[k] < lo), -1, 1),
        jnp.where(jnp.asarray(positive)[k], jnp.sign(log_step[k]), jnp.sign(zf[k])),
    ).astype(jnp.int32)
    direction = jnp.where(direction == 0, 1, direction)
    newton = jnp.max(size) if n else jnp.zeros((), dtype)
    finished = s["phase"] == 3  # else the iteration budget ran out mid-solve
    viol = jnp.where(finished, s["viol"], violation(s["c"], s["gi"]))
    stat = jnp.where(finished, s["stat"], jnp.max(jnp.abs(s["g"]), initial=0.0))
    finite_z = jnp.all(jnp.isfinite(zf)) & jnp.isfinite(s["loss"])
    real = finite_z & finished & (newton <= _NEWTON_LIMIT)
    feasible = finite_z & (viol <= tol)
    stationary = (stat <= stat_tol) if has_obj else jnp.asarray(True)
    return dict(
        z=zf,
        lam=s["lam_k"],
        mu=s["mu_k"],
        viol=jnp.where(finite_z, viol, jnp.inf),
        stat=stat,
        loss=s["loss"],
        newton=jnp.where(finished, newton, jnp.inf),
        diverging=k,
        direction=direction,
        feasible=feasible,
        converged=feasible & stationary & real,
        rho=s["rho"],
        outer=s["outer"],
        total=s["total"],
        res=jnp.where(finished, s["cz"], jnp.concatenate([s["c"], s["gi"]])),
    )


def _pick(problem, lanes, z0):
    """The winning start and the status code (module docstring)."""
    conv, feas = lanes["converged"], lanes["feasible"]
    loss = jnp.where(jnp.isfinite(lanes["loss"]), lanes["loss"], jnp.inf)
    # without an objective: the converged point nearest the template (in the solver's coordinates)
    idx = jnp.sum((lanes["z"] - z0) ** 2, axis=-1)
    # finite for every lane, so that a converged lane always beats one that did not converge
    # (with every distance infinite, argmin over [inf, ..., inf] would return lane 0 whatever it is)
    idx = jnp.where(jnp.isfinite(idx), idx, jnp.finfo(idx.dtype).max)
    has_obj = problem.objective_def is not None
    stat_tol = float(np.sqrt(problem.tol))
    if has_obj:
        best_conv = jnp.argmin(jnp.where(conv, loss, jnp.inf))
        best_feas = jnp.argmin(jnp.where(feas, loss, jnp.inf))
    else:
        best_conv = jnp.argmin(jnp.where(conv, idx, jnp.inf))
        best_feas = jnp.argmin(jnp.where(feas, idx, jnp.inf))
    closest = jnp.argmin(jnp.where(jnp.isfinite(lanes["viol"]), lanes["viol"], jnp.inf))
    any_conv, any_feas = jnp.any(conv), jnp.any(feas)
    margin = 10.0 * stat_tol * (1.0 + jnp.abs(loss[best_conv]))
    better = (
        any_conv & any_feas & (loss[best_feas] < loss[best_conv] - margin) if has_obj else False
    )
    feas_diverges = lanes["newton"][best_feas] > _NEWTON_LIMIT
    win = jnp.where(any_conv, best_conv, jnp.where(any_feas, best_feas, closest))
    win = jnp.where(better, best_feas, win)
    status = jnp.where(
        any_conv & ~better,
        CONVERGED,
        jnp.where(
            any_feas | better,
            jnp.where(
                feas_diverges, NOT_ATTAINED, jnp.where(better, BETTER_UNCONVERGED, NOT_STATIONARY)
            ),
            jnp.where(lanes["viol"][closest] > stat_tol, INFEASIBLE, NOT_FEASIBLE),
        ),
    )
    return win, status


def _solve_all(problem, params, z0s):
    """All starts in one loop (each step advances every active lane by one evaluation).

    The loop ends when every lane has finished (converged, stopped, or out of its budget): no
    lane is cut short because another converged first, so ``start_converged`` says which starts
    reach a solution, and the winner is chosen by the rule in the module docstring, not by which
    lane got there first.
    """
    init, active, body, finalize = _lane(problem, z0s[0], params)

    def cond(S):
        return jnp.any(jax.vmap(active)(S))

    def step(S):
        act = jax.vmap(active)(S)
        new = jax.vmap(body)(S)
        return jax.tree_util.tree_map(
            lambda a, b: jnp.where(jnp.reshape(act, act.shape + (1,) * (a.ndim - 1)), a, b), new, S
        )

    S = jax.lax.while_loop(cond, step, jax.vmap(init)(z0s))
    lanes = jax.vmap(finalize)(S)
    win, status = _pick(problem, lanes, z0s[0])
    return lanes, win, status


def _kkt(problem, z, lam, mu, params, active):
    """F(z, λ, μ; p) whose zero is the KKT point (inactive inequalities: μ_j = 0)."""
    grad = jax.grad(problem.lagrangian)(z, lam, mu, params)
    c, g = problem.split(problem.residuals(z, params), z.dtype)
    return jnp.concatenate([grad, c, jnp.where(active, g, mu)])


_eval_context = getattr(importlib.import_module("jax.core"), "eval_context", contextlib.nullcontext)


class _FastJit:
    """``jax.jit`` of ``fn`` with ``compile_cache.fast_compile_options()`` (XLA's fast-compile
    options on CPU) on concrete arguments: the solver's arrays are tiny, so compile time is most
    of a first call and the run time hardly changes (benchmarks/README.md). On tracers (an outer
    jit, vmap, or a tangent) it is the plain jit, traced inline: JAX accepts no compiler options
    on a jit nested in an outer jit or staged by a transformation."""

    def __init__(self, fn, static_argnums):
        functools.update_wrapper(self, fn)
        self._fn, self._static = fn, static_argnums
        self.plain = jax.jit(fn, static_argnums=static_argnums)

    @functools.cached_property
    def fast(self):
        """The jit with the options (built on first use, when they are probed)."""
        options = compile_cache.fast_compile_options() or None
        return jax.jit(self._fn, static_argnums=self._static, compiler_options=options)

    def __call__(self, *args):
        if not all(_checks.is_concrete(v) for v in jax.tree_util.tree_leaves(args)):
            return self.plain(*args)
        try:
            # concrete arguments: run as at top level, also from a derivative rule under a
            # top-level grad (there JAX refuses compiler options, and the fallback below would
            # compile the program a second time, without them)
            with _eval_context():
                return self.fast(*args)
        except ValueError as err:  # concrete values inside an outer jit
            if "compiler_options" not in str(err):
                raise
            return self.plain(*args)


def _solve(problem, params, z0s):
    """((z, λ, μ) of the winning start, info): info holds every lane's figures, the winner and
    the status, all cast to the float dtype (their tangents are zero)."""
    lanes, win, status = _solve_all(problem, params, z0s)
    dtype = z0s.dtype
    info = {k: v.astype(dtype) for k, v in lanes.items() if k not in ("z", "lam", "mu")}
    info["win"], info["status"] = win.astype(dtype), status.astype(dtype)
    return (lanes["z"][win], lanes["lam"][win], lanes["mu"][win]), info


# The solver: one program per problem structure (``problem`` is the static key), compiled with
# XLA's fast-compile options (_FastJit). On concrete inputs
# (also from the derivative rule under a top-level grad/jvp: the rule sees concrete primals) it
# is this one compiled program, so the solver is neither traced again nor differentiated; on
# tracers (an outer jit or vmap) it is traced inline.
_solve_any = _FastJit(_solve, 0)


@eqx.filter_custom_jvp
def _design_core(params, z0s, *, problem):
    """(z, λ, μ), info of :func:`_solve`, differentiable by the implicit function theorem."""
    return _solve_any(problem, params, z0s)


def _kkt_matrix(problem, z, lam, mu, params, active):
    """∂F/∂(z, λ, μ) at a point: [[H, A_eqᵀ, A_inᵀ], [A_eq, 0, 0], [a A_in, 0, diag(1 - a)]].

    H, the Hessian of the Lagrangian in z, and A, the Jacobian of the constraints, are central
    differences of the (first-order, exact) gradient and of the residuals, both from one
    evaluation at each of the 2n points z ± h_i e_i with h_i = ε^(1/3) max(1, |z_i|): error
    O(h²) + O(ε/h), about ε^(2/3) relative (4e-11 in float64, 2e-5 in float32). No second
    derivative of a quantity is traced (the incomplete beta's derivative rules are first order),
    and the quantities' gradient appears once in the compiled program.
    """
    n = z.shape[0]
    dtype = z.dtype
    h = float(jnp.finfo(dtype).eps) ** (1.0 / 3.0) * jnp.maximum(1.0, jnp.abs(z))

    def lag(zz):
        c, g = problem.split(problem.residuals(zz, params), dtype)
        return problem.loss(zz, params) + jnp.dot(lam, c) + jnp.dot(mu, g), (c, g)

    steps = jnp.diag(h)
    grad, (c, g) = jax.vmap(jax.grad(lag, has_aux=True))(jnp.concatenate([z + steps, z - steps]))

    def central(v):
        return ((v[:n] - v[n:]) / (2.0 * h[:, None])).T

    H = central(grad)
    H = 0.5 * (H + H.T)
    A_eq, A_in = central(c), central(g)
    m_eq, m_in = A_eq.shape[0], A_in.shape[0]
    top = jnp.concatenate([H, A_eq.T, A_in.T], axis=1)
    mid = jnp.concatenate([A_eq, jnp.zeros((m_eq, m_eq + m_in), dtype)], axis=1)
    bot = jnp.concatenate(
        [
            jnp.where(active[:, None], A_in, 0.0),
            jnp.zeros((m_in, m_eq), dtype),
            jnp.diag(jnp.where(active, 0.0, 1.0).astype(dtype)),
        ],
        axis=1,
    )
    return jnp.concatenate([top, mid, bot], axis=0)


def _kkt_inverse_impl(problem, z, lam, mu, params):
    """(active inequalities, (∂F/∂(z, λ, μ))⁺) at the solution (primal values only)."""
    _, g = problem.split(problem.residuals(z, params), z.dtype)
    active = (mu > 0) | (g > -float(np.sqrt(problem.tol)))
    return active, jnp.linalg.pinv(_kkt_matrix(problem, z, lam, mu, params, active))


def _kkt_tangent_impl(problem, p_def, moving, sub, tsub, p_leaves, z, lam, mu, active):
    """(∂F/∂p) dp for the parameter leaves at positions ``moving`` (values ``sub``, tangents
    ``tsub``); only the tangent is returned, so the primal F is not part of the program."""

    def F_of(sub):
        leaves = list(p_leaves)
        for i, v in zip(moving, sub, strict=True):
            leaves[i] = v
        return _kkt(problem, z, lam, mu, jax.tree_util.tree_unflatten(p_def, leaves), active)

    return jax.jvp(F_of, (sub,), (tsub,))[1]


_kkt_inverse = _FastJit(_kkt_inverse_impl, 0)
_kkt_tangent = _FastJit(_kkt_tangent_impl, (0, 1, 2))


@_design_core.def_jvp
def _design_core_jvp(primals, tangents, *, problem):
    """Implicit function theorem at the winner: dvec = -(∂F/∂vec)⁺ (∂F/∂p) dp.

    Only the KKT residual at the solution is differentiated, never the solver's loop; ∂F/∂p dp
    is one forward-mode pass over the parameters that carry a tangent (the others are closed
    over as constants, so a derivative in the target values alone traces no derivative of the
    quantities' gradients).
    """
    params, z0s = primals
    t_params, _ = tangents
    out, info = _solve_any(problem, params, z0s)
    z, lam, mu = out
    n, m_eq = z.shape[0], lam.shape[0]
    active, pinv = _kkt_inverse(problem, z, lam, mu, params)
    p_leaves, p_def = jax.tree_util.tree_flatten(params, is_leaf=lambda x: x is None)
    t_leaves = (
        [None] * len(p_leaves)
        if t_params is None
        else jax.tree_util.tree_flatten(t_params, is_leaf=lambda x: x is None)[0]
    )
    moving = [
        i
        for i, (p, t) in enumerate(zip(p_leaves, t_leaves, strict=True))
        if p is not None and t is not None
    ]

    moving = tuple(moving)
    if moving:
        dF = _kkt_tangent(
            problem,
            p_def,
            moving,
            [p_leaves[i] for i in moving],
            [t_leaves[i] for i in moving],
            p_leaves,
            z,
            lam,
            mu,
            active,
        )
        dvec = -pinv @ dF
    else:
        dvec = jnp.zeros((pinv.shape[0],), z.dtype)
    t_out = (dvec[:n], dvec[n : n + m_eq], dvec[n + m_eq :])
    return (out, info), (t_out, jax.tree_util.tree_map(jnp.zeros_like, info))


def _design_impl(problem, params, z0s):
    (z, lam, mu), lanes = _design_core(params, z0s, problem=problem)
    return _assemble(problem, params, z, lanes)


def _assemble_impl(problem, params, z, lanes):
    """The designed weights and the report's fields from the winner's z and every lane's info."""
    lanes = dict(lanes)
    win, status = lanes["win"].astype(jnp.int32), lanes["status"].astype(jnp.int32)
    for name in ("diverging", "direction", "outer", "total"):
        lanes[name] = lanes[name].astype(jnp.int32)
    lanes["converged"] = lanes["converged"] > 0
    values, fixed, tau, summary, numbers = params
    weights = problem.weights(z, fixed)
    # the winner's residuals and objective as the solver last evaluated them at z (no new
    # evaluation of the quantities: each one is more program to compile)
    sizes = [r.shape[0] for r in jax.eval_shape(lambda z: problem.residuals(z, params), z)]
    flat = lanes["res"][win]
    m_eq = sum(n for n, k in zip(sizes, problem.kinds, strict=True) if k == "eq")
    shown, at_eq, at_in = [], 0, m_eq
    for size, kind in zip(sizes, problem.kinds, strict=True):
        if kind == "eq":
            shown.append(flat[at_eq : at_eq + size])
            at_eq += size
        else:
            shown.append(jnp.maximum(flat[at_in : at_in + size], 0.0))
            at_in += size
    sign = (
        -1.0
        if problem.objective_def is not None and issubclass(problem.objective_def[0], Maximize)
        else 1.0
    )
    objective = sign * lanes["loss"][win]
    fields = dict(
        converged=status == CONVERGED,
        status=status,
        residuals=tuple(shown),
        max_violation=lanes["viol"][win],
        stationarity=lanes["stat"][win],
        objective=objective,
        newton_step=lanes["newton"][win],
        values=jnp.where(jnp.asarray(problem.positive_mask), jax.nn.softplus(z), z),
        diverging=lanes["diverging"][win],
        direction=lanes["direction"][win],
        start=win,
        start_violation=lanes["viol"],
        start_objective=sign * lanes["loss"],
        start_converged=lanes["converged"],
        iterations=lanes["total"][win],
        outer_iterations=lanes["outer"][win],
        penalty=lanes["rho"][win],
    )
    return weights, fields


_assemble = _FastJit(_assemble_impl, 0)


def _halton(num, dim):
    """The first ``num`` points (from index 1) of the Halton sequence in [0, 1)^dim."""
    primes, k = [], 2
    while len(primes) < dim:
        if all(k % p for p in primes):
            primes.append(k)
        k += 1
    out = np.zeros((num, dim))
    for j, base in enumerate(primes):
        for i in range(num):
            f, r, x = 1.0, 0.0, i + 1
            while x > 0:
                f /= base
                r += f * (x % base)
                x //= base
            out[i, j] = r
    return out


def _starts(z0, positive, num, dtype):
    """The template's coordinates, then ``num - 1`` Halton points over the start box (in z)."""
    n = z0.shape[0]
    if num <= 1:
        return jnp.asarray(z0[None], dtype)
    q = _halton(num - 1, n)
    pos = np.asarray(positive)
    log_p = np.log(0.2) + q * (np.log(20.0) - np.log(0.2))
    p = np.exp(log_p)
    z_pos = _softplus_inv_host(p)
    z_other = -1.0 + 3.0 * q
    spread = np.where(pos[None, :], z_pos, z_other)
    if isinstance(z0, np.ndarray):
        return jnp.asarray(np.concatenate([z0[None], spread]), dtype)
    return jnp.concatenate([z0[None], jnp.asarray(spread, dtype)])


def design_weights(
    template,
    constraints,
    *,
    free=("alpha", "beta"),
    tau: ArrayLike = 0.5,
    objective: Maximize | Minimize | None = None,
    summary: Summary | None = None,
    tol: float | None = None,
    starts: int = 16,
    max_outer: int = 15,
    max_inner: int = 60,
    warn: bool = True,
):
    """Choose the free parameters of a weight law or scheme to meet targets.

    The problem and the solver are in docs/theory.md#design-beyond-algorithm-1.

    Args:
        template: a law (e.g. ``EpBeta(2.0, 0.5, 0.3, 0.3)``) or a :class:`Scheme`; its values
            are the first start and supply every parameter not in ``free``. Its parameters must
            be scalars (a batch of templates: ``jax.vmap`` over this function).
        constraints: a sequence of ``Equal(q, v)``, ``AtMost(q, v)``, ``AtLeast(q, v)``, q a name
            from ``QUANTITIES`` ("mean", "variance", "variance_gap", "covariance_gap", "u",
            "class_var_error", "p_below_0", "p_above_1") or a callable weights -> array.
        free: names of the parameters to optimise in every law that has them (any subset of
            "alpha", "beta", "eps0", "eps1"; "low", "high" for Uniform), or one name.
        tau: label cut point used by "u" and "class_var_error".
        objective: optional ``Maximize(q)`` / ``Minimize(q)``; without one, of the converged
            starts the one nearest the template (in the solver's coordinates) is returned.
        summary: data moments, needed by "class_var_error".
        tol: feasibility tolerance (default 1e-10 in float64, 1e-5 in float32); stationarity
            is asked to √tol.
        starts: number of starts solved at once (``vmap``): the template and ``starts - 1``
            spread points. 1 solves from the template only.
        max_outer, max_inner: multiplier updates, and L-BFGS steps per update.
    Returns:
        (weights, report): the designed law/scheme (same type as the template) and a
        :class:`DesignReport` (``print(report)`` reads). When ``report.converged`` is False the
        weights are the best point found (see ``report.message`` for why it is not a solution)
        and a ``RuntimeWarning`` with that message is emitted (``warn=False`` silences it);
        under ``jax.jit`` or ``jax.vmap`` the report is not concrete and no warning is emitted:
        check ``report.converged`` (an array there) yourself.

    Differentiable: the returned parameters are differentiable with respect to the target values,
    the template's fixed parameters and tau (implicit function theorem on the KKT system).
    New target values, fixed parameters or tau reuse the compiled program (module docstring).
    """
    if isinstance(template, AbstractLaw):
        pass
    elif isinstance(template, Scheme):
        pass
    else:
        raise TypeError(f"template must be a jaxmix law or Scheme, got {type(template).__name__}.")
    constraints = tuple(constraints)
    for c in constraints:
        if not isinstance(c, AbstractTarget):
            raise TypeError(f"constraints must be Equal/AtMost/AtLeast, got {type(c).__name__}.")
    if objective is not None and not isinstance(objective, AbstractObjective):
        raise TypeError(
            f"objective must be Maximize(...) or Minimize(...), got {type(objective).__name__}."
        )
    if not constraints and objective is None:
        raise ValueError("design_weights needs at least one constraint or an objective.")
    if summary is not None and not isinstance(summary, Summary):
        raise TypeError("summary must be a jaxmix.Summary (from jaxmix.summarize).")
    for name, n in (("starts", starts), ("max_outer", max_outer), ("max_inner", max_inner)):
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ValueError(f"design_weights: {name} must be an int >= 1, got {n!r}.")
    if isinstance(free, str):
        free = (free,)
    dtype = _checks.float_dtype()
    tau = _checks.to_float(tau, "tau")
    if _checks.is_concrete(tau) and not np.all(np.isfinite(np.asarray(tau))):
        raise ValueError(f"design_weights: tau must be finite, got {np.asarray(tau)}.")
    for i, c in enumerate(constraints):
        if _checks.is_concrete(c.value) and not np.all(np.isfinite(np.asarray(c.value))):
            raise ValueError(
                f"design_weights: constraints[{i}] ({type(c).__name__}) needs a finite target "
                f"value, got {np.asarray(c.value)}."
            )
    if tol is None:
        tol = 1e-10 if dtype == jnp.float64 else 1e-5
    if not (isinstance(tol, (int, float, np.floating)) and 0.0 < float(tol) < 1.0):
        raise ValueError(
            f"design_weights: tol must be a number in (0, 1) (a feasibility tolerance; default "
            f"1e-10 in float64, 1e-5 in float32), got {tol!r}."
        )
    free_spec = _free_spec(template, free)
    leaves, treedef = jax.tree_util.tree_flatten(template)
    free_mask = tuple(bool(b) for b in jax.tree_util.tree_leaves(free_spec))
    names = jax.tree_util.tree_leaves(_names_spec(template))
    for leaf, f in zip(leaves, free_mask, strict=True):
        if f and jnp.ndim(leaf) != 0:
            raise ValueError(
                "design_weights: the template's free parameters must be scalars (one law per "
                "entry); for a batch of templates use jax.vmap over design_weights."
            )
    if not any(free_mask):
        raise ValueError(
            f"design_weights: nothing to optimise: free={tuple(free)} matched no parameter."
        )
    free_names = tuple(nm for nm, f in zip(names, free_mask, strict=True) if f)
    pos_mask = tuple(nm.split(".")[-1] in _POSITIVE for nm in free_names)
    free_leaves = [l for l, f in zip(leaves, free_mask, strict=True) if f]
    # a positive parameter at 0 in the template (EpBeta's eps0 = 0 is a law) starts from
    # _START_FLOOR: softplus⁻¹(0) = -∞ is no start
    if all(_checks.is_concrete(l) for l in free_leaves):
        # host arithmetic: no small eager programs to compile on a first call
        v = np.array([float(l) for l in free_leaves])
        with np.errstate(divide="ignore", invalid="ignore"):
            z0 = np.where(np.asarray(pos_mask), _softplus_inv_host(np.maximum(v, _START_FLOOR)), v)
    else:
        z0 = jnp.stack(
            [
                (
                    _softplus_inv(jnp.maximum(jnp.asarray(l, dtype), _START_FLOOR))
                    if p
                    else jnp.asarray(l, dtype)
                )
                for l, p in zip(free_leaves, pos_mask, strict=True)
            ]
        )
    fixed = [jnp.asarray(l, dtype) for l, f in zip(leaves, free_mask, strict=True) if not f]
    kinds = tuple("eq" if isinstance(c, Equal) else "ineq" for c in constraints)
    keys = [_split_callable(c.quantity) for c in constraints]
    obj_key, obj_numbers = (
        _split_callable(objective.quantity) if objective is not None else (None, ())
    )
    problem = _Problem(
        treedef=treedef,
        free_mask=free_mask,
        positive_mask=pos_mask,
        kinds=kinds,
        constraint_defs=tuple((type(c), k) for c, (k, _) in zip(constraints, keys, strict=True)),
        objective_def=None if objective is None else (type(objective), obj_key),
        max_outer=int(max_outer),
        max_inner=int(max_inner),
        tol=float(tol),
        width_pairs=_width_pairs(free_names),
    )
    values = tuple(jnp.asarray(c.value, dtype) for c in constraints)
    numbers = (tuple(nums for _, nums in keys), obj_numbers)
    z0s = _starts(z0, pos_mask, starts, dtype)
    params = (values, fixed, tau, summary, numbers)
    weights, fields = _design_impl(problem, params, z0s)
    report = DesignReport(
        **fields,
        parameters=free_names,
        tol=float(tol),
        has_objective=objective is not None,
        maximize=isinstance(objective, Maximize),
    )
    if warn and _checks.is_concrete(report.converged) and not bool(report.converged):
        import warnings

        warnings.warn(f"design_weights: {report.message}", RuntimeWarning, stacklevel=2)
    return weights, report
