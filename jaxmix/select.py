"""Design of weight laws (floor 5): Algorithm 1 and the general constrained solver.

Algorithm 1 (docs/theory.md#algorithm-1), :func:`select_epbeta`
------------------------------------------------------------
Given δ > 0, (ε0, ε1) and a cut point τ, find W ~ EpBeta(α, β; ε0, ε1) with

    E[W²] = E[W]      (variances and covariances kept, Theorem 2)
    u     = δ         (class means off by δ (μ_l - x̄), class variances by O(δ), Theorems 10-11)

where u = E[1 - V] is the class-mean shift of Theorem 4 (``jaxmix.class_mean_shift``).

*The variance-preserving (VP) curve.* Write x = 1 - E[W] and s = 1 + ε0 + ε1. For fixed (ε0, ε1),
E[W²] = E[W] ⇔ Var[W] = E[W](1 - E[W]), which with m = α/κ = (1 - x + ε0)/s and κ = α + β gives

    κ(x) = (x (ε0 - ε1) + ε1 (1 + ε0)) / (x (1 - x)),
    α = (1 - x + ε0) κ / s,   β = (x + ε1) κ / s.

The numerator equals s² m(1-m) - E[W](1-E[W]) and is > 0 for every x ∈ (0, 1) as soon as
(ε0, ε1) ≠ (0, 0), so κ > 0 holds on the whole curve 0 < E[W] < 1; at ε0 = ε1 = 0 (a plain Beta)
the curve is empty (Corollary 9). As x → 0 (or 1), κ → ∞ and W → 1 (or 0): plain copying of one
parent, u → 0. Along the curve u is one function of x, u(x), rising from 0 to a maximum and back.

*Which root.* Roots of u(x) = δ come in mirror pairs for ε0 = ε1 and τ = 1/2 (swap α and β).
We report the root with E[W] ≥ 1/2 (x ≤ 1/2: the kept parent carries most weight). On that side
u need not be monotone (for ε0 = ε1 = 0.3, τ = 1/2 its maximum sits near E[W] ≈ 0.75, not at 1/2),
so two roots can exist there; we return the one with the larger E[W] (smaller x), the law closest
to resampling among those with u = δ. Equivalently: the smallest x ∈ (0, 1/2] with u(x) = δ.

*Attainable δ.* ``max_attainable_delta(eps0, eps1, tau)`` is max_{0 < x ≤ 1/2} u(x). Larger δ
raise ``ValueError`` (choose a larger ε). δ = 0 is the resampling limit W ≡ 1 (κ = ∞), which is
not an EpBeta law, so δ = 0 raises ``ValueError`` too; any δ > 0 is attainable from below.

*Law-free bound.* For any law on [-ε, 1 + ε] with E[W²] = E[W] and τ = 1/2, with Z = min(W, 1-W)
∈ [-ε, 1/2]: δ = E[Z] = E[Z²] (docs/theory.md#law-free-bound). Weak duality with g(z) = z² - z and λ = -2/(1+2ε):
E[Z] = E[Z - λ g(Z)] ≤ max_{z ∈ [-ε, 1/2]} (z - λ g(z)) = ε/(1 + 2ε) (the convex h attains its
maximum at both ends); the two-point law P(Z = -ε) = 1/(1+2ε)², P(Z = 1/2) = 1 - 1/(1+2ε)²
attains it. So δ ≤ ε/(1 + 2ε) (``law_free_delta_bound``), and EpBeta laws reach only part of it.

*Numerics.* u is tabulated once per (ε0, ε1, τ) on a fixed log-spaced grid of x (shared by a
whole batch of δ), the bracket of the smallest crossing is found by a vectorised search, then a
fixed number of safeguarded Illinois (modified regula falsi) steps refine it: jit/vmap friendly,
no data-dependent loop. Accuracy: |u - δ| ≤ 1e-10 in float64 (≤ 3e-7 within 1e-5 of the maximum, where the root is ill-conditioned), ≤ 1e-5 in float32 (tests assert
1e-6 / 1e-4). The root is differentiable in δ, ε0, ε1 and τ by the implicit function theorem:
dx = (dδ - ∂u/∂(ε, τ)·d(ε, τ)) / ∂u/∂x (this needs ∂I_t(a, b)/∂(a, b) from ``jaxmix.special``).
"""

from __future__ import annotations

import abc
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from jaxmix import _checks
from jaxmix.laws import EpBeta
from jaxmix.special import betainc

Scalar = Float[Array, ""]

_GRID_SIZE = 256  # tabulation of u(x) per (eps0, eps1, tau)
_GRID_LOWEST = 1e-4  # smallest tabulated x = 1 - E[W]; below it u(x) ≈ x and [0, x_0] brackets
_ILLINOIS_STEPS = 2  # 3 steps: same bulk error (~6e-11 in float64), 25% slower
_GOLDEN_STEPS = 48


# --- the variance-preserving curve ---------------------------------------------------------


def vp_curve_params(x, eps0, eps1):
    """(alpha, beta) of the variance-preserving EpBeta law with E[W] = 1 - x (broadcasts).

    κ = (x (ε0 - ε1) + ε1 (1 + ε0)) / (x (1 - x)),  α = (1 - x + ε0) κ / s,  β = (x + ε1) κ / s.
    Valid for 0 < x < 1 and (ε0, ε1) ≠ (0, 0).
    """
    s = 1.0 + eps0 + eps1
    kappa = (x * (eps0 - eps1) + eps1 * (1.0 + eps0)) / (x * (1.0 - x))
    return (1.0 - x + eps0) * kappa / s, (x + eps1) * kappa / s


def vp_curve_law(x, eps0, eps1) -> EpBeta:
    """The variance-preserving EpBeta law with E[W] = 1 - x."""
    alpha, beta = vp_curve_params(x, eps0, eps1)
    return EpBeta(alpha, beta, eps0 + jnp.zeros_like(alpha), eps1 + jnp.zeros_like(alpha))


def _log_beta(a, b):
    """log B(a, b) from log-gamma values (``jax.scipy.special.betaln`` is only ~1e-7 accurate)."""
    return jsp.gammaln(a) + jsp.gammaln(b) - jsp.gammaln(a + b)


def vp_curve_shift(x, eps0, eps1, tau):
    """u(x): the class-mean shift of the VP law with E[W] = 1 - x, cut at tau (broadcasts).

    Closed form with one incomplete beta (t = (τ + ε0)/s, I = I_t(α, β)):
        u = x - P(W < τ) + 2 E[W 1{W < τ}] = x + (1 - 2x) I - 2 (1 - x + ε0) t^α (1-t)^β / (α B(α, β)),
    using I_t(α + 1, β) = I - t^α (1-t)^β / (α B(α, β)). Equal to ``class_mean_shift`` of
    ``vp_curve_law(x, eps0, eps1)`` (tested); half the incomplete-beta evaluations, which is what
    makes Algorithm 1 fast to run and to compile.
    """
    s = 1.0 + eps0 + eps1
    a, b = vp_curve_params(x, eps0, eps1)
    t = (tau + eps0) / s
    inc = betainc(a, b, t)
    log_d = a * jnp.log(t) + b * jnp.log1p(-t) - jnp.log(a) - _log_beta(a, b)
    return x + (1.0 - 2.0 * x) * inc - 2.0 * (1.0 - x + eps0) * jnp.exp(log_d)


def _grid(dtype):
    return jnp.asarray(np.geomspace(_GRID_LOWEST, 0.5, _GRID_SIZE), dtype)


def _tabulate(eps0, eps1, tau):
    xs = _grid(jnp.result_type(eps0))
    return xs, jax.vmap(lambda x: vp_curve_shift(x, eps0, eps1, tau))(xs)


def _argmax_curve(eps0, eps1, tau, xs, us):
    """(x*, u*) maximising u over (0, 1/2]: grid argmax, then golden-section refinement.

    Both interior points are evaluated in one vectorised call per step (one compiled instance
    of u inside the loop instead of two; the loop is independent of δ, so it runs once per batch).
    """
    i = jnp.argmax(us)
    lo = xs[jnp.maximum(i - 1, 0)]
    hi = xs[jnp.minimum(i + 1, xs.shape[0] - 1)]
    f = jax.vmap(lambda x: vp_curve_shift(x, eps0, eps1, tau))
    g = 0.5 * (np.sqrt(5.0) - 1.0)

    def body(_, carry):
        a, b, best_x, best_u = carry
        c, d = b - g * (b - a), a + g * (b - a)
        fc, fd = f(jnp.stack([c, d]))
        left = fc > fd
        new_x, new_u = jnp.where(left, c, d), jnp.maximum(fc, fd)
        better = new_u > best_u
        return (
            jnp.where(left, a, c),
            jnp.where(left, d, b),
            jnp.where(better, new_x, best_x),
            jnp.where(better, new_u, best_u),
        )

    _, _, x_star, u_star = jax.lax.fori_loop(0, _GOLDEN_STEPS, body, (lo, hi, xs[i], us[i]))
    return x_star, u_star


def _curve_table(eps0, eps1, tau):
    """(xs, us, x*, u*): u tabulated on the grid and its refined maximum; independent of δ."""
    xs, us = _tabulate(eps0, eps1, tau)
    x_star, u_star = _argmax_curve(eps0, eps1, tau, xs, us)
    return xs, us, x_star, u_star


def _smallest_root(delta, eps0, eps1, tau, table=None):
    """(x, u_max, x*): the smallest x in (0, 1/2] with u(x) = min(delta, u_max), u_max, argmax.

    Assumes delta > 0. The grid and the maximum do not depend on delta (computed once per batch,
    or passed in as ``table`` from :func:`_curve_table`).
    """
    xs, us, x_star, u_star = _curve_table(eps0, eps1, tau) if table is None else table
    delta = jnp.minimum(delta, u_star)
    f = lambda x: vp_curve_shift(x, eps0, eps1, tau) - delta

    above = us >= delta
    any_above = jnp.any(above)
    i = jnp.argmax(above)  # first grid point with u >= delta
    zero = jnp.zeros((), xs.dtype)
    # bracket [a, b] with f(a) < 0 <= f(b); u(0) = 0 < delta closes the bracket below x_0.
    a = jnp.where(i > 0, xs[jnp.maximum(i - 1, 0)], zero)
    fa = jnp.where(i > 0, us[jnp.maximum(i - 1, 0)], zero) - delta
    b, fb = xs[i], us[i] - delta
    # delta between the grid maximum and the refined maximum: close the bracket at x*.
    j = jnp.argmax(us)
    a = jnp.where(any_above, a, jnp.where(j > 0, xs[jnp.maximum(j - 1, 0)], zero))
    fa = jnp.where(any_above, fa, jnp.where(j > 0, us[jnp.maximum(j - 1, 0)], zero) - delta)
    b = jnp.where(any_above, b, x_star)
    fb = jnp.where(any_above, fb, u_star - delta)

    # first trial point: cubic inverse interpolation x(u) through the 4 grid points around the
    # bracket (error ~ h^4); a point outside the bracket falls back to regula falsi.
    n = xs.shape[0]
    idx = jnp.clip(jnp.arange(-2, 2) + i, 0, n - 1)
    xk, uk = xs[idx], us[idx]
    distinct = jnp.all(jnp.diff(uk) > 0)
    weights = jnp.stack([
        jnp.prod(jnp.stack([(delta - uk[m]) / jnp.where(uk[k] != uk[m], uk[k] - uk[m], 1.0)
                            for m in range(4) if m != k]))
        for k in range(4)
    ])
    c_cubic = jnp.sum(weights * xk)
    # where u is not monotone around the bracket (near its maximum): the root of the quadratic
    # through the grid points i-1, i, i+1, i.e. d2 y^2 + (d1 - d2 h) y + (u_{i-1} - delta) = 0, y = x - x_{i-1}
    x0, x1, x2 = a, b, xs[jnp.minimum(i + 1, n - 1)]
    u0, u1, u2 = fa + delta, fb + delta, us[jnp.minimum(i + 1, n - 1)]
    d1 = (u1 - u0) / jnp.where(x1 > x0, x1 - x0, 1.0)
    d12 = (u2 - u1) / jnp.where(x2 > x1, x2 - x1, 1.0)
    d2 = (d12 - d1) / jnp.where(x2 > x0, x2 - x0, 1.0)
    qb = d1 - d2 * (x1 - x0)
    disc = jnp.maximum(qb * qb - 4.0 * d2 * (u0 - delta), 0.0)
    den = qb + jnp.sqrt(disc)
    c_quad2 = x0 - 2.0 * (u0 - delta) / jnp.where(den > 0, den, 1.0)
    c0 = jnp.where(distinct & (i >= 2) & (i <= n - 2), c_cubic, jnp.where((den > 0) & (i < n - 1), c_quad2, -1.0))
    c0 = jnp.where(any_above, c0, -1.0)
    # near the maximum (delta above every grid value) u ≈ u* - q (x - x*)^2: start from that root
    q = (u_star - fa - delta) / jnp.maximum((x_star - a) ** 2, jnp.finfo(xs.dtype).tiny)
    c_quad = x_star - jnp.sqrt(jnp.maximum(u_star - delta, 0.0) / jnp.maximum(q, jnp.finfo(xs.dtype).tiny))
    c0 = jnp.where(any_above, c0, c_quad)

    def body(k, carry):
        a, fa, b, fb, side = carry
        denom = fb - fa
        c = jnp.where(denom != 0, b - fb * (b - a) / jnp.where(denom != 0, denom, 1.0), 0.5 * (a + b))
        c = jnp.where((k == 0) & (c0 > a) & (c0 < b), c0, c)
        c = jnp.where((c > a) & (c < b), c, 0.5 * (a + b))  # safeguard: stay inside the bracket
        fc = f(c)
        neg = fc < 0
        # Illinois: halve the value kept at the end that stays twice in a row.
        a_new, fa_new = jnp.where(neg, c, a), jnp.where(neg, fc, jnp.where(side == 1, 0.5 * fa, fa))
        b_new, fb_new = jnp.where(neg, b, c), jnp.where(neg, jnp.where(side == -1, 0.5 * fb, fb), fc)
        exact = fc == 0
        a_new, b_new = jnp.where(exact, c, a_new), jnp.where(exact, c, b_new)
        fa_new, fb_new = jnp.where(exact, fc, fa_new), jnp.where(exact, fc, fb_new)
        return a_new, fa_new, b_new, fb_new, jnp.where(neg, -1, 1)

    a, fa, b, fb, _ = jax.lax.fori_loop(0, _ILLINOIS_STEPS, body, (a, fa, b, fb, jnp.asarray(0)))
    denom = fb - fa
    x = jnp.where(denom != 0, b - fb * (b - a) / jnp.where(denom != 0, denom, 1.0), b)
    return jnp.clip(x, a, b), u_star, x_star


@jax.custom_jvp
def _root(delta, eps0, eps1, tau):
    """(x(δ), u_max) with u(x(δ)) = δ; derivatives by the implicit function theorem."""
    x, u_star, _ = _smallest_root(delta, eps0, eps1, tau)
    return x, u_star + jnp.zeros_like(delta)  # same batching as x under vmap


@_root.defjvp
def _root_jvp(primals, tangents):
    delta, eps0, eps1, tau = primals
    d_delta, d_eps0, d_eps1, d_tau = tangents
    x, u_star, x_star = _smallest_root(delta, eps0, eps1, tau)
    u = lambda x, e0, e1, t: vp_curve_shift(x, e0, e1, t)
    one, zero = jnp.ones_like(x), jnp.zeros_like(x)
    rest = (jnp.asarray(d_eps0), jnp.asarray(d_eps1), jnp.asarray(d_tau))
    # ∂u/∂x at the root; ∂u/∂(ε, τ)·d(ε, τ) at the root and at the maximiser (envelope theorem)
    _, du_dx = jax.jvp(u, (x, eps0, eps1, tau), (one, zero, zero, zero))
    _, du_rest = jax.jvp(u, (x, eps0, eps1, tau), (zero,) + rest)
    _, du_star = jax.jvp(u, (x_star, eps0, eps1, tau), (jnp.zeros_like(x_star),) + rest)
    zeros = jnp.zeros_like(delta)
    return (x, u_star + zeros), ((d_delta - du_rest) / du_dx, du_star + zeros)


@jax.jit
def _select_flat(delta, eps0, eps1, tau):
    x, u_star = jax.vmap(_root, in_axes=(0, None, None, None))(delta, eps0, eps1, tau)
    alpha, beta = vp_curve_params(x, eps0, eps1)
    return jnp.stack([alpha, beta]), u_star[0]


@jax.jit
def _select_flat_given_table(delta, eps0, eps1, tau, table):
    """(α, β) stacked for concrete δ, from a cached curve table (values only: no custom JVP)."""
    x = jax.vmap(lambda d: _smallest_root(d, eps0, eps1, tau, table)[0])(delta)
    return jnp.stack(vp_curve_params(x, eps0, eps1))


_curve_table_jit = jax.jit(_curve_table)


@functools.lru_cache(maxsize=64)
def _cached_curve_table(eps0: float, eps1: float, tau: float, dtype: str):
    """The curve table for concrete (ε0, ε1, τ) and its maximum u* as a Python float.

    A memo of a pure function (keyed by the exact values and the dtype): repeated calls of
    ``select_epbeta`` with the same ε and τ skip the tabulation (~0.26 ms of ~1.6 ms for 1000 δ
    on the 2-core CPU) and the device-to-host read of u*.
    """
    table = _curve_table_jit(*(np.asarray(v, dtype) for v in (eps0, eps1, tau)))
    return table, float(table[3])


def _memo_table(eps0, eps1, tau, dtype):
    """:func:`_cached_curve_table` for concrete scalars of any array type."""
    return _cached_curve_table(float(eps0), float(eps1), float(tau), np.dtype(dtype).name)


_MIN_BUCKET = 64


def _select_core(delta, eps0, eps1, tau):
    """((α, β) stacked, each of delta's shape, u_max). δ is flattened and padded to a bucket of
    size max(64, 2^k), so every batch of up to 64 values shares one compiled program (compiling
    the incomplete beta dominates the cost of a first call). Concrete δ is padded and sliced in
    numpy (no per-shape compilation of small ops)."""
    concrete = all(_checks.is_concrete(v) for v in (delta, eps0, eps1, tau))
    xp = np if concrete else jnp
    shape = jnp.shape(delta)
    flat = xp.ravel(xp.asarray(delta))
    n = flat.shape[0]
    size = max(_MIN_BUCKET, 1 << max(n - 1, 0).bit_length())
    padded = xp.concatenate([flat, xp.full((size - n,), 1e-3, flat.dtype)])
    if concrete:  # values only: the curve table comes from the memo, u* as a Python float
        table, u_star = _memo_table(eps0, eps1, tau, flat.dtype)
        ab = np.asarray(_select_flat_given_table(padded, eps0, eps1, tau, table))
    else:
        ab, u_star = _select_flat(padded, eps0, eps1, tau)
    return ab[:, :n].reshape((2,) + shape), u_star


def _max_attainable(eps0, eps1, tau):
    """u*: from the memo for concrete (ε0, ε1, τ), the one select_epbeta fills and reads; traced,
    the u* output of a small select_epbeta batch's program (its derivative is the envelope one)."""
    if all(_checks.is_concrete(v) for v in (eps0, eps1, tau)):
        return _memo_table(eps0, eps1, tau, jnp.result_type(eps0))[0][3]
    return _select_flat(jnp.full((_MIN_BUCKET,), 1e-3, jnp.result_type(eps0)), eps0, eps1, tau)[1]


# --- public functions ----------------------------------------------------------------------


def _check_design_args(eps0, eps1, tau, owner):
    out = []
    for name, v in (("eps0", eps0), ("eps1", eps1), ("tau", tau)):
        arr = _checks.to_float(v, name, host=True)
        if jnp.ndim(arr) != 0:
            raise ValueError(
                f"{owner}: {name} must be a scalar, got shape {jnp.shape(arr)}; "
                f"call it once per {name} (or jax.vmap over it)."
            )
        out.append(arr)  # to_float gives the default float dtype
    e0, e1, t = out
    if _checks.is_concrete(e0) and _checks.is_concrete(e1):
        _checks.check_nonnegative(e0, "eps0", owner)
        _checks.check_nonnegative(e1, "eps1", owner)
        if float(e0) == 0.0 and float(e1) == 0.0:
            raise ValueError(
                f"{owner}: eps0 = eps1 = 0 is a plain Beta law, which always shrinks the variance "
                "(Corollary 9), so no variance-preserving law exists; pass eps0 > 0 or eps1 > 0 "
                "(e.g. eps0 = eps1 = 0.3)."
            )
    if _checks.is_concrete(t):
        if not (0.0 < float(t) < 1.0):
            raise ValueError(f"{owner}: tau must lie in (0, 1), got {float(t)}; the default is 0.5.")
    return e0, e1, t


def max_attainable_delta(eps0: ArrayLike = 0.3, eps1: ArrayLike = 0.3, tau: ArrayLike = 0.5) -> Scalar:
    """The largest δ = u reachable by a variance-preserving EpBeta(·, ·; ε0, ε1) with E[W] ≥ 1/2.

    max over 0 < x ≤ 1/2 of u(x) along the VP curve (see the module docstring); always below the
    law-free bound ``law_free_delta_bound(max(eps0, eps1))`` when τ = 1/2.
    """
    e0, e1, t = _check_design_args(eps0, eps1, tau, "max_attainable_delta")
    return _max_attainable(e0, e1, t)


def law_free_delta_bound(eps: ArrayLike) -> Float[Array, "..."]:
    """ε / (1 + 2ε): the largest δ of ANY variance-preserving law on [-ε, 1 + ε] at τ = 1/2."""
    eps = _checks.to_float(eps, "eps")
    _checks.check_nonnegative(eps, "eps", "law_free_delta_bound")
    return eps / (1.0 + 2.0 * eps)


def select_epbeta(
    delta: Float[ArrayLike, "*batch"],
    *,
    eps0: ArrayLike = 0.3,
    eps1: ArrayLike = 0.3,
    tau: ArrayLike = 0.5,
) -> EpBeta:
    """Algorithm 1: the EpBeta(α, β; ε0, ε1) law with E[W²] = E[W] and u = δ (docs/theory.md#algorithm-1).

    Args:
        delta: target class-mean shift u = δ > 0, a scalar or an array of any shape.
        eps0, eps1: support extensions (scalars; not both 0); the law lives on [-ε0, 1 + ε1].
        tau: label cut point in (0, 1).
    Returns:
        An :class:`EpBeta` whose leaves have delta's shape (a batched law for an array delta).
        Among the laws with u = δ on the variance-preserving curve it is the one with E[W] ≥ 1/2
        and, where two exist on that side, the larger E[W] (module docstring).
    Raises:
        ValueError: δ < 0, δ = 0 (the resampling limit, not an EpBeta law), δ above
            ``max_attainable_delta(eps0, eps1, tau)``, or bad ε/τ. Under an outer ``jit``/``vmap``
            the δ checks run through ``eqx.error_if`` (a runtime error with the same message).

    α and β are differentiable in δ, ε0, ε1 and τ (implicit function theorem).
    Accuracy: |u - δ| and |E[W²] - E[W]| ≤ 1e-6 in float64, 1e-4 in float32.
    """
    e0, e1, t = _check_design_args(eps0, eps1, tau, "select_epbeta")
    delta = _checks.to_float(delta, "delta", host=True)  # a numpy δ stays on the host
    if _checks.is_concrete(delta):
        v = np.asarray(delta)
        if not np.all(np.isfinite(v)):
            raise ValueError(f"select_epbeta: delta must be finite, got {v.tolist()}.")
        if np.any(v < 0):
            raise ValueError(
                f"select_epbeta: delta must be >= 0 (it is the class-mean shift u), got {v.tolist()}."
            )
        if np.any(v == 0):
            raise ValueError(
                "select_epbeta: delta = 0 is the resampling limit (W = 1: every synthetic record "
                "copies one parent), which no EpBeta law reaches; pass a small positive delta "
                "(e.g. 1e-3), or use plain resampling."
            )
    else:
        delta = eqx.error_if(delta, delta <= 0, "select_epbeta: delta must be > 0 (0 is resampling).")
    # δ > 0 from here; δ above the maximum is solved at the maximum, then rejected below.
    if _checks.is_concrete(delta):
        ab, dmax = _select_core(np.asarray(delta), e0, e1, t)
    else:
        ab, dmax = _select_core(jnp.where(delta > 0, delta, 1.0), e0, e1, t)
    # δ within rounding of the maximum is accepted (and solved at the maximum).
    rel = 1.0 + 64.0 * float(jnp.finfo(delta.dtype).eps)
    if _checks.is_concrete(delta) and _checks.is_concrete(dmax):
        v = np.asarray(delta)
        if np.any(v > float(dmax) * rel):
            raise ValueError(
                f"select_epbeta: delta = {float(np.max(v)):.6g} is not attainable with eps0 = "
                f"{float(e0):.6g}, eps1 = {float(e1):.6g}, tau = {float(t):.6g}: the largest "
                f"attainable delta is {float(dmax):.6g}. Use a larger eps (the law-free bound "
                f"is eps/(1+2 eps) at tau = 1/2) or a smaller delta."
            )
    else:
        ab = eqx.error_if(
            ab, delta > dmax * rel, "select_epbeta: delta exceeds max_attainable_delta(eps0, eps1, tau)."
        )
    if isinstance(ab, np.ndarray):
        # (α, β) > 0 and finite by construction, and ε was checked above: skip EpBeta's
        # converters and checks, which would cost more than the solve for a few δ.
        leaves = (ab[0], ab[1], np.full_like(ab[0], e0), np.full_like(ab[0], e1))
        return jax.tree_util.tree_unflatten(_epbeta_treedef(), jax.device_put(list(leaves)))
    return EpBeta(ab[0], ab[1], jnp.full_like(ab[0], e0), jnp.full_like(ab[0], e1))


@functools.cache
def _epbeta_treedef():
    return jax.tree_util.tree_structure(EpBeta(1.0, 1.0, 0.0, 0.0))


# =============================================================================================
# The generalisation: constrained design of weight laws (docs/theory.md#design-beyond-algorithm-1)
# =============================================================================================
#
# Problem: choose the free parameters θ of a template (a law, or a Scheme of laws) to
#     minimise f(θ)   subject to   c_i(θ) = v_i (Equal),  q_j(θ) <= v_j (AtMost),  q_k(θ) >= v_k (AtLeast).
# Method: augmented Lagrangian (Powell-Hestenes-Rockafellar) in unconstrained coordinates
# (softplus for α, β, ε0, ε1, the identity otherwise); each inner problem is minimised by optax's
# L-BFGS (zoom line search) in a ``lax.while_loop``; the outer loop updates the multipliers and the
# penalty. Everything is one ``eqx.filter_jit`` program whose array inputs are the target values,
# the template's fixed parameters and τ, so new targets do not recompile.
# Derivatives of the solution with respect to the targets (and the fixed parameters, τ) come
# from the implicit function theorem on the KKT system F(z, p) = 0, z = (θ, λ, μ):
#     F = [∇θ L;  c(θ) - v;  g_j(θ) if active else μ_j],   dz = -(∂z F)^+ ∂p F dp,
# solved densely (the systems are tiny; a pseudo-inverse covers non-unique solutions, whose
# derivative is then the minimum-norm one). For a square system (as many active constraints as
# free parameters) the answer does not involve second derivatives; otherwise it uses the Hessian
# of the Lagrangian, whose incomplete-beta part is the derivative of the truncated recursion.

import optax  # noqa: E402
from typing import Callable, Union  # noqa: E402

from jaxmix.laws import AbstractLaw  # noqa: E402
from jaxmix.moments import Summary, class_mean_shift as _u, covariance_factor, predict  # noqa: E402
from jaxmix.schemes import Scheme  # noqa: E402

Quantity = Union[str, Callable]
_POSITIVE = ("alpha", "beta", "eps0", "eps1")


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
    "u": lambda w, tau, s: _u(w, tau=tau),
    "class_var_error": _q_class_var_error,
    "p_below_0": lambda w, tau, s: _per_law(w, lambda l: l.cdf(jnp.zeros((), l.moment(1).dtype))),
    "p_above_1": lambda w, tau, s: _per_law(w, lambda l: 1.0 - l.cdf(jnp.ones((), l.moment(1).dtype))),
}
"""Named quantities (per law of a Scheme where marked): mean E[W]; variance Var[W];
variance_gap E[W²] - E[W] (0: variance kept); covariance_gap E[W^k W^m] - (E W^k + E W^m)/2 for
column pairs k <= m (0: covariance kept; Theorem 2); u the class-mean shift (per column);
class_var_error (Var[x~ | L~=l] - σ_l²)/s² per class and column (needs ``summary``); p_below_0
P(W < 0); p_above_1 P(W > 1). A callable ``quantity(weights) -> array`` may be used instead."""


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
        raise TypeError(f"{owner}: quantity must be a name or a callable, got {type(quantity).__name__}.")


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


class Equal(AbstractTarget):
    """quantity(weights) = value (elementwise for array quantities)."""

    quantity: Quantity = eqx.field(static=True)
    value: Array = eqx.field(converter=_target_value)

    def residual(self, weights, tau, summary):
        return _evaluate(self.quantity, weights, tau, summary) - jnp.ravel(self.value)


class AtMost(AbstractTarget):
    """quantity(weights) <= value."""

    quantity: Quantity = eqx.field(static=True)
    value: Array = eqx.field(converter=_target_value)

    def residual(self, weights, tau, summary):
        return _evaluate(self.quantity, weights, tau, summary) - jnp.ravel(self.value)


class AtLeast(AbstractTarget):
    """quantity(weights) >= value."""

    quantity: Quantity = eqx.field(static=True)
    value: Array = eqx.field(converter=_target_value)

    def residual(self, weights, tau, summary):
        return jnp.ravel(self.value) - _evaluate(self.quantity, weights, tau, summary)


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


class DesignReport(eqx.Module):
    """How the solver ended. ``residuals[i]`` belongs to ``constraints[i]``: q - value for Equal,
    max(0, q - value) for AtMost, max(0, value - q) for AtLeast (so 0 means satisfied).

    converged: every residual within ``tol`` and (with an objective) the Lagrangian stationary.
    """

    converged: Array
    residuals: tuple[Array, ...]
    max_violation: Array
    stationarity: Array
    objective: Array
    iterations: Array
    outer_iterations: Array
    penalty: Array

    @property
    def message(self) -> str:
        if bool(self.converged):
            return (
                f"converged: max constraint violation {float(self.max_violation):.2e}, "
                f"{int(self.iterations)} L-BFGS steps in {int(self.outer_iterations)} rounds."
            )
        worst = int(np.argmax([float(jnp.max(jnp.abs(r))) for r in self.residuals])) if self.residuals else -1
        return (
            f"NOT converged: max constraint violation {float(self.max_violation):.3e} (worst: "
            f"constraint {worst}), stationarity {float(self.stationarity):.2e} after "
            f"{int(self.iterations)} L-BFGS steps; the targets are probably infeasible for the free "
            f"parameters (e.g. delta above max_attainable_delta), or need more steps or another start."
        )


def _free_spec(template, free):
    """Boolean pytree: True on the leaves to optimise (fields named in ``free`` of every law)."""
    free = tuple(free)
    for name in free:
        if not any(hasattr(law, name) for law in _laws_of(template)):
            raise ValueError(f"design_weights: no law of the template has a parameter {name!r}.")

    def mark(law):
        return jax.tree_util.tree_map(lambda _: False, law)

    spec = jax.tree_util.tree_map(lambda _: False, template)
    for name in free:
        spec = eqx.tree_at(
            lambda t: [getattr(l, name) for l in _laws_of(t) if hasattr(l, name)],
            spec,
            replace_fn=lambda _: True,
        )
    return spec


def _names_spec(template):
    """Pytree of bools: True where the leaf is a positive parameter (softplus coordinates)."""
    spec = jax.tree_util.tree_map(lambda _: False, template)
    names = [n for n in _POSITIVE if any(hasattr(l, n) for l in _laws_of(template))]
    for name in names:
        spec = eqx.tree_at(
            lambda t: [getattr(l, name) for l in _laws_of(t) if hasattr(l, name)],
            spec,
            replace_fn=lambda _: True,
        )
    return spec


def _softplus_inv(y):
    return y + jnp.log(-jnp.expm1(-y))


class _Problem(eqx.Module):
    """Static description of a design problem (hashable: it is a jit cache key)."""

    treedef: object = eqx.field(static=True)
    free_mask: tuple = eqx.field(static=True)
    positive_mask: tuple = eqx.field(static=True)
    kinds: tuple = eqx.field(static=True)  # "eq" / "ineq" per constraint
    constraint_defs: tuple = eqx.field(static=True)  # (class, quantity) per constraint
    objective: object = eqx.field(static=True)
    max_outer: int = eqx.field(static=True)
    max_inner: int = eqx.field(static=True)

    def weights(self, z, fixed):
        """Rebuild the weights from the free coordinates z (vector) and the fixed leaves."""
        leaves, k, j = [], 0, 0
        for is_free, positive in zip(self.free_mask, self.positive_mask):
            if is_free:
                v = z[k]
                k += 1
                leaves.append(jax.nn.softplus(v) if positive else v)
            else:
                leaves.append(fixed[j])
                j += 1
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    def targets(self, values):
        return [cls(q, v) for (cls, q), v in zip(self.constraint_defs, values)]

    def residuals(self, z, params):
        values, fixed, tau, summary = params
        w = self.weights(z, fixed)
        return [t.residual(w, tau, summary) for t in self.targets(values)]

    def split(self, res):
        eq = [r for r, k in zip(res, self.kinds) if k == "eq"]
        ineq = [r for r, k in zip(res, self.kinds) if k == "ineq"]
        cat = lambda rs, dt: jnp.concatenate(rs) if rs else jnp.zeros((0,), dt)
        return cat(eq, res[0].dtype if res else jnp.float32), cat(ineq, res[0].dtype if res else jnp.float32)

    def loss(self, z, params):
        if self.objective is None:
            return jnp.zeros((), z.dtype)
        values, fixed, tau, summary = params
        return self.objective.loss(self.weights(z, fixed), tau, summary)

    def lagrangian(self, z, lam, mu, params):
        c, g = self.split(self.residuals(z, params))
        return self.loss(z, params) + jnp.dot(lam, c) + jnp.dot(mu, g)


def _al_solve(problem: _Problem, z0, params, tol):
    """Augmented-Lagrangian outer loop with optax L-BFGS inner solves (all in while loops)."""
    dtype = z0.dtype
    c0, g0 = problem.split(problem.residuals(z0, params))
    lam0, mu0 = jnp.zeros_like(c0), jnp.zeros_like(g0)
    opt = optax.lbfgs()

    def aug(z, lam, mu, rho):
        c, g = problem.split(problem.residuals(z, params))
        return (
            problem.loss(z, params) + jnp.dot(lam, c) + 0.5 * rho * jnp.dot(c, c)
            + (0.5 / rho) * jnp.sum(jnp.maximum(0.0, mu + rho * g) ** 2 - mu**2)
        )

    def inner(z, lam, mu, rho):
        fun = lambda z: aug(z, lam, mu, rho)
        value_and_grad = optax.value_and_grad_from_state(fun)

        def cond(carry):
            _, _, _, k, gnorm, broke = carry
            return (k < problem.max_inner) & (gnorm > tol * 1e-2) & ~broke

        def body(carry):
            z, z_prev, state, k, _, _ = carry
            value, grad = value_and_grad(z, state=state)
            # A step into a degenerate law (e.g. alpha, beta -> 0 when the optimum is not
            # attained) gives a non-finite value: stop at the last finite iterate instead of
            # returning NaN parameters; the outer loop then reports "NOT converged".
            broke = ~(jnp.isfinite(value) & jnp.all(jnp.isfinite(grad)))
            updates, state = opt.update(grad, state, z, value=value, grad=grad, value_fn=fun)
            z_new = optax.apply_updates(z, updates)
            step_bad = ~jnp.all(jnp.isfinite(z_new))
            # keep z when only the step is bad; fall back to z_prev when z itself is
            z_out = jnp.where(broke, z_prev, jnp.where(step_bad, z, z_new))
            z_keep = jnp.where(broke, z_prev, z)
            return z_out, z_keep, state, k + 1, jnp.max(jnp.abs(grad)), broke | step_bad

        init = (z, z, opt.init(z), jnp.asarray(0), jnp.asarray(jnp.inf, dtype), jnp.asarray(False))
        z, _, _, k, _, broke = jax.lax.while_loop(cond, body, init)
        return z, k, broke

    def violation(z):
        c, g = problem.split(problem.residuals(z, params))
        return jnp.maximum(jnp.max(jnp.abs(c), initial=0.0), jnp.max(jnp.maximum(g, 0.0), initial=0.0))

    def stationarity(z, lam, mu):
        grad = jax.grad(problem.lagrangian)(z, lam, mu, params)
        return jnp.max(jnp.abs(grad), initial=0.0)

    def done(z, lam, mu):
        ok = violation(z) <= tol
        if problem.objective is not None:
            ok = ok & (stationarity(z, lam, mu) <= jnp.sqrt(tol))
        return ok

    def outer_cond(carry):
        z, lam, mu, rho, j, total, viol, broke = carry
        return (j < problem.max_outer) & ~done(z, lam, mu) & ~broke

    def outer_body(carry):
        z, lam, mu, rho, j, total, viol_prev, _ = carry
        z, k, broke = inner(z, lam, mu, rho)
        c, g = problem.split(problem.residuals(z, params))
        lam = jnp.where(broke, lam, lam + rho * c)
        mu = jnp.where(broke, mu, jnp.maximum(0.0, mu + rho * g))
        viol = violation(z)
        rho = jnp.where(viol > 0.25 * viol_prev, jnp.minimum(rho * 10.0, 1e10), rho)
        return z, lam, mu, rho, j + 1, total + k, viol, broke

    init = (z0, lam0, mu0, jnp.asarray(10.0, dtype), jnp.asarray(0), jnp.asarray(0),
            jnp.asarray(jnp.inf, dtype), jnp.asarray(False))
    z, lam, mu, rho, j, total, _, _ = jax.lax.while_loop(outer_cond, outer_body, init)
    return z, lam, mu, rho, j, total


def _kkt(problem, z, lam, mu, params, active):
    """F(z, λ, μ; p) whose zero is the KKT point (inactive inequalities: μ_j = 0)."""
    grad = jax.grad(problem.lagrangian)(z, lam, mu, params)
    c, g = problem.split(problem.residuals(z, params))
    return jnp.concatenate([grad, c, jnp.where(active, g, mu)])


@eqx.filter_custom_jvp
def _design_core(params, z0, *, problem, tol):
    z, lam, mu, rho, j, total = _al_solve(problem, z0, params, tol)
    return z, lam, mu, jnp.stack([rho, j.astype(z.dtype), total.astype(z.dtype)])


@_design_core.def_jvp
def _design_core_jvp(primals, tangents, *, problem, tol):
    params, z0 = primals
    t_params, _ = tangents
    out = _design_core(params, z0, problem=problem, tol=tol)
    z, lam, mu = out[:3]
    _, g = problem.split(problem.residuals(z, params))
    active = (mu > 0) | (g > -jnp.sqrt(tol))
    n, m_eq = z.shape[0], lam.shape[0]

    def F(vec, p):
        return _kkt(problem, vec[:n], vec[n:n + m_eq], vec[n + m_eq:], p, active)

    vec = jnp.concatenate([z, lam, mu])
    jac = jax.jacfwd(F)(vec, params)
    p_leaves, p_def = jax.tree_util.tree_flatten(params, is_leaf=lambda x: x is None)
    t_leaves = (
        [None] * len(p_leaves) if t_params is None
        else jax.tree_util.tree_flatten(t_params, is_leaf=lambda x: x is None)[0]
    )
    t_params = jax.tree_util.tree_unflatten(p_def, [
        None if p is None else (jnp.zeros_like(p) if t is None else t)
        for p, t in zip(p_leaves, t_leaves)
    ])
    _, dF = jax.jvp(lambda p: F(vec, p), (params,), (t_params,))
    dvec = -jnp.linalg.pinv(jac) @ dF
    t_out = (dvec[:n], dvec[n:n + m_eq], dvec[n + m_eq:], jnp.zeros_like(out[3]))
    return out, t_out


@eqx.filter_jit
def _design_jit(problem, params, z0, tol):
    z, lam, mu, info = _design_core(params, z0, problem=problem, tol=tol)
    values, fixed, tau, summary = params
    weights = problem.weights(z, fixed)
    res = problem.residuals(z, params)
    shown = [r if k == "eq" else jnp.maximum(r, 0.0) for r, k in zip(res, problem.kinds)]
    c, g = problem.split(res)
    viol = jnp.maximum(jnp.max(jnp.abs(c), initial=0.0), jnp.max(jnp.maximum(g, 0.0), initial=0.0))
    stat = jnp.max(jnp.abs(jax.grad(problem.lagrangian)(z, lam, mu, params)), initial=0.0)
    ok = viol <= tol
    if problem.objective is not None:
        ok = ok & (stat <= jnp.sqrt(tol))
    objective = problem.loss(z, params)
    if isinstance(problem.objective, Maximize):
        objective = -objective
    report = DesignReport(
        converged=ok, residuals=tuple(shown), max_violation=viol, stationarity=stat,
        objective=objective, iterations=info[2].astype(jnp.int32),
        outer_iterations=info[1].astype(jnp.int32), penalty=info[0],
    )
    return weights, report


def design_weights(
    template,
    constraints,
    *,
    free=("alpha", "beta"),
    tau: ArrayLike = 0.5,
    objective: Maximize | Minimize | None = None,
    summary: Summary | None = None,
    tol: float | None = None,
    max_outer: int = 30,
    max_inner: int = 200,
    warn: bool = True,
):
    """Choose the free parameters of a weight law or scheme to meet targets (docs/theory.md#design-beyond-algorithm-1).

    Args:
        template: a law (e.g. ``EpBeta(2.0, 0.5, 0.3, 0.3)``) or a :class:`Scheme`; its values
            are the starting point and supply every parameter not in ``free``.
        constraints: a sequence of ``Equal(q, v)``, ``AtMost(q, v)``, ``AtLeast(q, v)``, q a name
            from ``QUANTITIES`` ("mean", "variance", "variance_gap", "covariance_gap", "u",
            "class_var_error", "p_below_0", "p_above_1") or a callable weights -> array.
        free: names of the parameters to optimise in every law that has them (any subset of
            "alpha", "beta", "eps0", "eps1"; "low", "high" for Uniform).
        tau: label cut point used by "u" and "class_var_error".
        objective: optional ``Maximize(q)`` / ``Minimize(q)``; without one any feasible point is
            returned (the one the solver reaches from the template).
        summary: data moments, needed by "class_var_error".
        tol: feasibility tolerance (default 1e-10 in float64, 1e-5 in float32).
    Returns:
        (weights, report): the designed law/scheme (same type as the template) and a
        :class:`DesignReport`. When ``report.converged`` is False (e.g. infeasible targets), the
        weights are the last iterate, the residuals show what is violated, and a warning with
        ``report.message`` is emitted (``warn=False`` silences it).

    Differentiable: the returned parameters are differentiable with respect to the target values,
    the template's fixed parameters and tau (implicit function theorem on the KKT system).
    A second call with new target values (same structure) reuses the compiled program.
    """
    if isinstance(template, AbstractLaw):
        laws = (template,)
    elif isinstance(template, Scheme):
        laws = template.laws
    else:
        raise TypeError(
            f"template must be a jaxmix law or Scheme, got {type(template).__name__}."
        )
    constraints = tuple(constraints)
    for c in constraints:
        if not isinstance(c, AbstractTarget):
            raise TypeError(f"constraints must be Equal/AtMost/AtLeast, got {type(c).__name__}.")
    if objective is not None and not isinstance(objective, (Maximize, Minimize)):
        raise TypeError(f"objective must be Maximize(...) or Minimize(...), got {type(objective).__name__}.")
    if not constraints and objective is None:
        raise ValueError("design_weights needs at least one constraint or an objective.")
    if summary is not None and not isinstance(summary, Summary):
        raise TypeError("summary must be a jaxmix.Summary (from jaxmix.summarize).")
    dtype = _checks.float_dtype()
    tau = _checks.to_float(tau, "tau")
    if tol is None:
        tol = 1e-10 if dtype == jnp.float64 else 1e-5
    free_spec = _free_spec(template, free)
    pos_spec = _names_spec(template)
    leaves, treedef = jax.tree_util.tree_flatten(template)
    free_mask = tuple(bool(b) for b in jax.tree_util.tree_leaves(free_spec))
    pos_mask = tuple(bool(b) for b in jax.tree_util.tree_leaves(pos_spec))
    for leaf, f in zip(leaves, free_mask):
        if f and jnp.ndim(leaf) != 0:
            raise ValueError("design_weights: free parameters must be scalars (one law per entry).")
    if not any(free_mask):
        raise ValueError(f"design_weights: nothing to optimise: free={tuple(free)} matched no parameter.")
    z0 = jnp.stack([
        (_softplus_inv(jnp.asarray(l, dtype)) if p else jnp.asarray(l, dtype))
        for l, f, p in zip(leaves, free_mask, pos_mask) if f
    ])
    fixed = [jnp.asarray(l, dtype) for l, f in zip(leaves, free_mask) if not f]
    kinds = tuple("eq" if isinstance(c, Equal) else "ineq" for c in constraints)
    problem = _Problem(
        treedef=treedef, free_mask=free_mask, positive_mask=pos_mask, kinds=kinds,
        constraint_defs=tuple((type(c), c.quantity) for c in constraints),
        objective=objective, max_outer=int(max_outer), max_inner=int(max_inner),
    )
    values = tuple(jnp.asarray(c.value, dtype) for c in constraints)
    weights, report = _design_jit(problem, (values, fixed, tau, summary), z0, float(tol))
    if warn and _checks.is_concrete(report.converged) and not bool(report.converged):
        import warnings

        warnings.warn(f"design_weights: {report.message}", RuntimeWarning, stacklevel=2)
    return weights, report
