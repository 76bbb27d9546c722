"""Algorithm 1: the variance-preserving EpBeta law with class-mean shift δ.

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
∈ [-ε, 1/2]: δ = E[Z] = E[Z²] (docs/theory.md#law-free-bound). Weak duality with g(z) = z² - z
and λ = -2/(1+2ε): E[Z] = E[Z - λ g(Z)] ≤ max_{z ∈ [-ε, 1/2]} (z - λ g(z)) = ε/(1 + 2ε) (the
convex h attains its maximum at both ends); the two-point law P(Z = -ε) = 1/(1+2ε)²,
P(Z = 1/2) = 1 - 1/(1+2ε)² attains it. So δ ≤ ε/(1 + 2ε) (``law_free_delta_bound``), and EpBeta
laws reach only part of it.

*Numerics.* u is tabulated once per (ε0, ε1, τ) on a fixed log-spaced grid of x (shared by a
whole batch of δ), and the bracket of the smallest crossing is found by a vectorised search.
Concrete inputs (a script, the command line) are then solved on the host in float64 with
scipy's incomplete beta: safeguarded Illinois (modified regula falsi) steps until u(x) = δ to
the rounding of u's evaluation (~1e-16), so a first call compiles nothing; the law is rounded
to δ's dtype and its own u is checked. Traced inputs (under ``jit``/``vmap``/``grad``) run a
fixed number of Illinois steps in JAX: no data-dependent loop.

Accuracy (absolute): concrete, |u - δ| of a few 1e-15 in float64 and ~1e-7 in float32 (the
rounding of α, β; for δ below ~1e-6 in float32 that is as large as δ itself: use float64);
traced, ≤ 1e-10 in float64 away from the maximum, up to ~4e-7 within ~1e-3 of it (where the
root is ill-conditioned), and ≤ 1e-5 in float32. Both paths promise 1e-6 / 1e-4, which the
tests assert and ``select_epbeta`` checks on concrete inputs. ε0, ε1 ≤ 1e3 (``EPS_MAX``): α, β
grow like ε², and at ε = 1e4 u is off by 1e-6 already. The root is differentiable in δ, ε0, ε1 and τ
by the implicit function theorem: dx = (dδ - ∂u/∂(ε, τ)·d(ε, τ)) / ∂u/∂x (this needs
∂I_t(a, b)/∂(a, b) from ``jaxmix.special``).
"""

from __future__ import annotations

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

__all__ = [
    "clear_caches",
    "law_free_delta_bound",
    "max_attainable_delta",
    "select_epbeta",
    "vp_curve_law",
    "vp_curve_params",
    "vp_curve_shift",
]

Scalar = Float[Array, ""]

EPS_MAX = 1e3  # largest eps0, eps1 accepted: u is accurate to ~1e-8 there, 1e-6 at 1e4
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


def _curve_shift(x, eps0, eps1, tau, xp, inc_beta, log_beta):
    """u(x) of :func:`vp_curve_shift` with the array namespace and special functions given
    (jax.numpy with jaxmix's, or numpy with scipy's for the host-side solve)."""
    s = 1.0 + eps0 + eps1
    a, b = vp_curve_params(x, eps0, eps1)
    t = (tau + eps0) / s
    inc = inc_beta(a, b, t)
    log_d = a * xp.log(t) + b * xp.log1p(-t) - xp.log(a) - log_beta(a, b)
    return x + (1.0 - 2.0 * x) * inc - 2.0 * (1.0 - x + eps0) * xp.exp(log_d)


def vp_curve_shift(x, eps0, eps1, tau):
    """u(x): the class-mean shift of the VP law with E[W] = 1 - x, cut at tau (broadcasts).

    Closed form with one incomplete beta (t = (τ + ε0)/s, I = I_t(α, β)):
        u = x - P(W < τ) + 2 E[W 1{W < τ}]
          = x + (1 - 2x) I - 2 (1 - x + ε0) t^α (1-t)^β / (α B(α, β)),
    using I_t(α + 1, β) = I - t^α (1-t)^β / (α B(α, β)). Equal to ``class_mean_shift`` of
    ``vp_curve_law(x, eps0, eps1)`` (tested); half the incomplete-beta evaluations, which is what
    makes Algorithm 1 fast to run and to compile.
    """
    return _curve_shift(x, eps0, eps1, tau, jnp, betainc, _log_beta)


def beta_law_shift(alpha, beta, eps0, eps1, tau):
    """u = E[1 - V] of one EpBeta(α, β, ε0, ε1) law (ε0 = ε1 = 0: Beta), cut at τ (broadcasts).

    With t = (τ + ε0)/s, s = 1 + ε0 + ε1, m = E[W] and x = 1 - m:
    P(W < τ) = I_t(α, β) and E[W 1{W < τ}] = (m + ε0) I_t(α + 1, β) - ε0 I_t(α, β), so

        u = x - P(W < τ) + 2 E[W 1{W < τ}] = x - (1 + 2ε0) I_t(α, β) + 2 (m + ε0) I_t(α + 1, β).

    Both incomplete betas come from one vectorised ``betainc`` call, so the design solver traces
    and compiles one incomplete beta (and one copy of its derivative rules) for "u" instead of the
    six of the generic ``class_mean_shift``, to which it is equal (tested). t ≤ 0 gives u = x,
    t ≥ 1 gives u = 1 - x.
    """
    return _law_shift(alpha, beta, eps0, eps1, tau, jnp, betainc)


def _law_shift(alpha, beta, eps0, eps1, tau, xp, inc_beta):
    """:func:`beta_law_shift` with the array namespace and incomplete beta given."""
    s = 1.0 + eps0 + eps1
    kappa = alpha + beta
    m, m1 = alpha / kappa, beta / kappa
    mean = m + (m * eps1 - m1 * eps0)
    x = 1.0 - mean
    t = (tau + eps0) / s
    inside = (t > 0) & (t < 1)
    ts = xp.where(inside, t, 0.5)
    a, b, ts = xp.broadcast_arrays(alpha, beta, ts)
    inc = inc_beta(xp.stack([a, a + 1.0]), xp.stack([b, b]), xp.stack([ts, ts]))
    u = x - (1.0 + 2.0 * eps0) * inc[0] + 2.0 * (mean + eps0) * inc[1]
    return xp.where(inside, u, xp.where(t <= 0, x, 1.0 - x))


def _grid(dtype):
    return jnp.asarray(np.geomspace(_GRID_LOWEST, 0.5, _GRID_SIZE), dtype)


def _tabulate(eps0, eps1, tau):
    xs = _grid(jnp.result_type(eps0))
    return xs, jax.vmap(lambda x: vp_curve_shift(x, eps0, eps1, tau))(xs)


def _golden_max(f, xs, us, xp, loop):
    """(x*, u*) maximising u over (0, 1/2]: the grid argmax, then _GOLDEN_STEPS golden-section
    steps on its two neighbours, keeping the best point seen. ``f`` maps a length-2 array of x
    to u; ``xp`` is numpy or jax.numpy and ``loop(n, body, carry)`` a loop over ``range(n)``
    (a ``jax.lax.fori_loop`` on a device, a Python loop on the host).

    On a device both interior points are evaluated in one vectorised call per step (one compiled
    instance of u inside the loop instead of two; the loop is independent of δ, so it runs once
    per batch).
    """
    i = xp.argmax(us)
    n = xs.shape[0]
    g = 0.5 * (np.sqrt(5.0) - 1.0)

    def body(_, carry):
        a, b, best_x, best_u = carry
        c, d = b - g * (b - a), a + g * (b - a)
        fc, fd = f(xp.stack([c, d]))
        left = fc > fd
        new_x, new_u = xp.where(left, c, d), xp.maximum(fc, fd)
        better = new_u > best_u
        return (
            xp.where(left, a, c),
            xp.where(left, d, b),
            xp.where(better, new_x, best_x),
            xp.where(better, new_u, best_u),
        )

    init = (xs[xp.maximum(i - 1, 0)], xs[xp.minimum(i + 1, n - 1)], xs[i], us[i])
    _, _, x_star, u_star = loop(_GOLDEN_STEPS, body, init)
    return x_star, u_star


def _host_loop(n, body, carry):
    for k in range(n):
        carry = body(k, carry)
    return carry


def _device_loop(n, body, carry):
    return jax.lax.fori_loop(0, n, body, carry)


def _grid_bracket(d, xs, us, x_star, u_star, xp):
    """The bracket [a, b] of u(x) = d from the grid, with f = u - d: f(a) < 0 <= f(b).

    u(0) = 0 < d closes it below the grid's first point; a d between the grid maximum and the
    refined one u* is bracketed by [x_{j-1}, x*] (j the grid argmax). ``d`` is a scalar (device)
    or a 1-D array (host, one bracket per entry). Returns (a, fa, b, fb, i, any_above), i the
    first grid point with u >= d.
    """
    above = us >= d[..., None]
    any_above = xp.any(above, axis=-1)
    i = xp.argmax(above, axis=-1)
    j = xp.argmax(us)
    i_lo = xp.where(any_above, i - 1, j - 1)
    a = xp.where(i_lo >= 0, xs[xp.maximum(i_lo, 0)], 0.0)
    fa = xp.where(i_lo >= 0, us[xp.maximum(i_lo, 0)], 0.0) - d
    b = xp.where(any_above, xs[i], x_star)
    fb = xp.where(any_above, us[i], u_star) - d
    return a, fa, b, fb, i, any_above


def _argmax_curve(eps0, eps1, tau, xs, us):
    """(x*, u*) of u over (0, 1/2] on a device (:func:`_golden_max`)."""
    f = jax.vmap(lambda x: vp_curve_shift(x, eps0, eps1, tau))
    return _golden_max(f, xs, us, jnp, _device_loop)


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

    def f(x):
        return vp_curve_shift(x, eps0, eps1, tau) - delta

    a, fa, b, fb, i, any_above = _grid_bracket(delta, xs, us, x_star, u_star, jnp)

    # first trial point: cubic inverse interpolation x(u) through the 4 grid points around the
    # bracket (error ~ h^4); a point outside the bracket falls back to regula falsi.
    n = xs.shape[0]
    idx = jnp.clip(jnp.arange(-2, 2) + i, 0, n - 1)
    xk, uk = xs[idx], us[idx]
    distinct = jnp.all(jnp.diff(uk) > 0)
    weights = jnp.stack(
        [
            jnp.prod(
                jnp.stack(
                    [
                        (delta - uk[m]) / jnp.where(uk[k] != uk[m], uk[k] - uk[m], 1.0)
                        for m in range(4)
                        if m != k
                    ]
                )
            )
            for k in range(4)
        ]
    )
    c_cubic = jnp.sum(weights * xk)
    # where u is not monotone around the bracket (near its maximum): the root of the quadratic
    # through the grid points i-1, i, i+1, i.e. d2 y^2 + (d1 - d2 h) y + (u_{i-1} - delta) = 0,
    # y = x - x_{i-1}
    x0, x1, x2 = a, b, xs[jnp.minimum(i + 1, n - 1)]
    u0, u1, u2 = fa + delta, fb + delta, us[jnp.minimum(i + 1, n - 1)]
    d1 = (u1 - u0) / jnp.where(x1 > x0, x1 - x0, 1.0)
    d12 = (u2 - u1) / jnp.where(x2 > x1, x2 - x1, 1.0)
    d2 = (d12 - d1) / jnp.where(x2 > x0, x2 - x0, 1.0)
    qb = d1 - d2 * (x1 - x0)
    disc = jnp.maximum(qb * qb - 4.0 * d2 * (u0 - delta), 0.0)
    den = qb + jnp.sqrt(disc)
    c_quad2 = x0 - 2.0 * (u0 - delta) / jnp.where(den > 0, den, 1.0)
    c0 = jnp.where(
        distinct & (i >= 2) & (i <= n - 2),
        c_cubic,
        jnp.where((den > 0) & (i < n - 1), c_quad2, -1.0),
    )
    c0 = jnp.where(any_above, c0, -1.0)
    # near the maximum (delta above every grid value) u ≈ u* - q (x - x*)^2: start from that root
    q = (u_star - fa - delta) / jnp.maximum((x_star - a) ** 2, jnp.finfo(xs.dtype).tiny)
    c_quad = x_star - jnp.sqrt(
        jnp.maximum(u_star - delta, 0.0) / jnp.maximum(q, jnp.finfo(xs.dtype).tiny)
    )
    c0 = jnp.where(any_above, c0, c_quad)

    def body(k, carry):
        a, fa, b, fb, side = carry
        denom = fb - fa
        c = jnp.where(
            denom != 0, b - fb * (b - a) / jnp.where(denom != 0, denom, 1.0), 0.5 * (a + b)
        )
        c = jnp.where((k == 0) & (c0 > a) & (c0 < b), c0, c)
        c = jnp.where((c > a) & (c < b), c, 0.5 * (a + b))  # safeguard: stay inside the bracket
        fc = f(c)
        neg = fc < 0
        # Illinois: halve the value kept at the end that stays twice in a row.
        a_new, fa_new = jnp.where(neg, c, a), jnp.where(neg, fc, jnp.where(side == 1, 0.5 * fa, fa))
        b_new, fb_new = (
            jnp.where(neg, b, c),
            jnp.where(neg, jnp.where(side == -1, 0.5 * fb, fb), fc),
        )
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
    u = vp_curve_shift  # u(x, ε0, ε1, τ)
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


# --- the host-side solve for concrete inputs --------------------------------------------------
#
# select_epbeta and max_attainable_delta with concrete inputs (the common case: a script, the
# CLI) solve on the host in float64 with scipy's incomplete beta (Boost's), so that a first call
# compiles nothing: the traced programs above take seconds to compile for a solve that takes
# about a millisecond. Same curve, grid and bracket; the refinement runs to float64 precision
# (|u - δ| ~ 1e-15) instead of a fixed step count, and the result is rounded to the dtype of δ.

_HOST_MAX_STEPS = 100  # Illinois steps (bounded; ~5 reach _HOST_RTOL)
_EPS64 = float(np.finfo(np.float64).eps)
_HOST_RTOL = 16.0 * _EPS64  # |u - δ| / δ at which a lane stops (~ the rounding level of u)


def _host_special():
    from scipy import special  # imported on first use (part of jax's own requirements)

    return special


def _host_shift(x, eps0, eps1, tau):
    """u(x) in float64 numpy; overflow (ε ~ 1e30) gives inf/nan, refused by the checks after."""
    special = _host_special()
    with np.errstate(all="ignore"):
        return _curve_shift(x, eps0, eps1, tau, np, special.betainc, special.betaln)


def host_law_shift(alpha, beta, eps0, eps1, tau):
    """:func:`beta_law_shift` in float64 numpy with scipy's incomplete beta (broadcasts)."""
    a, b, e0, e1, t = (np.asarray(v, np.float64) for v in (alpha, beta, eps0, eps1, tau))
    with np.errstate(all="ignore"):
        return _law_shift(a, b, e0, e1, t, np, _host_special().betainc)


def _host_curve_table(eps0, eps1, tau):
    """(xs, us, x*, u*) in float64, as :func:`_curve_table` computes them on a device."""
    xs = np.geomspace(_GRID_LOWEST, 0.5, _GRID_SIZE)
    us = _host_shift(xs, eps0, eps1, tau)
    x_star, u_star = _golden_max(lambda x: _host_shift(x, eps0, eps1, tau), xs, us, np, _host_loop)
    return xs, us, float(x_star), float(u_star)


def _host_roots(delta, eps0, eps1, tau, table):
    """The smallest x in (0, 1/2] with u(x) = min(δ, u*) for every δ of a 1-D float64 array:
    the grid bracket of :func:`_smallest_root`, then safeguarded Illinois steps on the lanes
    still open until |u - δ| ≤ _HOST_RTOL δ at an end of the bracket or it is a few ulps wide."""
    xs, us, x_star, u_star = table
    d = np.minimum(delta, u_star)
    a, fa, b, fb, _, _ = _grid_bracket(d, xs, us, x_star, u_star, np)
    ga, gb = fa.copy(), fb.copy()  # Illinois-scaled values (fa, fb stay the true ones)
    side = np.zeros(d.shape, np.int8)
    for _ in range(_HOST_MAX_STEPS):
        done = (np.minimum(-fa, fb) <= _HOST_RTOL * d) | (b - a <= 4.0 * _EPS64 * b)
        open_ = np.nonzero(~done)[0]
        if open_.size == 0:
            break
        A, B, GA, GB = a[open_], b[open_], ga[open_], gb[open_]
        # the secant point, measured from the end nearer the root (c = 0 would lose a tiny root)
        step = (B - A) / (GB - GA)
        c = np.where(-GA < GB, A - GA * step, B - GB * step)
        c = np.where((c > A) & (c < B), c, 0.5 * (A + B))
        fc = _host_shift(c, eps0, eps1, tau) - d[open_]
        neg = fc < 0
        s = side[open_]
        a[open_], fa[open_] = np.where(neg, c, A), np.where(neg, fc, fa[open_])
        ga[open_] = np.where(neg, fc, np.where(s == 1, 0.5 * GA, GA))
        b[open_], fb[open_] = np.where(neg, B, c), np.where(neg, fb[open_], fc)
        gb[open_] = np.where(neg, np.where(s == -1, 0.5 * GB, GB), fc)
        side[open_] = np.where(neg, -1, 1)
    return np.where((np.abs(fa) < np.abs(fb)) & (a > 0), a, b)  # x = 0 is not a law


@functools.lru_cache(maxsize=64)
def _cached_curve_table(eps0: float, eps1: float, tau: float):
    """The host curve table for concrete (ε0, ε1, τ): a memo of a pure function keyed by the
    exact values, so repeated calls with the same ε and τ skip the tabulation. ValueError where
    u overflows float64 (ε of order 1e30), rather than a NaN table."""
    table = _host_curve_table(eps0, eps1, tau)
    if not (np.all(np.isfinite(table[1])) and np.isfinite(table[3])):
        raise ValueError(
            f"select_epbeta / max_attainable_delta: eps0 = {eps0:.3g}, eps1 = {eps1:.3g} are too "
            "large to evaluate the variance-preserving curve in float64; use eps of order 1 "
            "(e.g. eps0 = eps1 = 0.3)."
        )
    return table


def _memo_table(eps0, eps1, tau, dtype):
    """(ε0, ε1, τ as floats, the curve table): ε rounded to ``dtype`` first, as a law of that
    dtype holds them, so the table and every residual are those of the law returned."""
    e0, e1, t = float(np.asarray(eps0, dtype)), float(np.asarray(eps1, dtype)), float(tau)
    return e0, e1, t, _cached_curve_table(e0, e1, t)


def _host_select(delta, eps0, eps1, tau, dtype):
    """((α, β) stacked in ``dtype``, |u - min(δ, u*)| of that rounded law in float64, u*) for a
    1-D array δ and concrete scalars."""
    e0, e1, t, table = _memo_table(eps0, eps1, tau, dtype)
    d = np.asarray(delta, np.float64)
    with np.errstate(all="ignore"):
        x = _host_roots(d, e0, e1, t, table)
        ab = np.stack(vp_curve_params(x, e0, e1)).astype(dtype)
    # the promise is about the law returned: u of the rounded (α, β), not of the root
    u = host_law_shift(ab[0], ab[1], e0, e1, t)
    return ab, u - np.minimum(d, table[3]), table[3]


def _check_solution(ab, resid, delta, eps0, eps1, tau):
    """ValueError where a root misses the stated accuracy or the law leaves the float range.

    |u - δ| ≤ 1e-6 (float64) / 1e-4 (float32) of the law returned (α, β rounded to their dtype)
    is the promise; it fails where u varies on scales the fixed grid or the dtype does not
    resolve (τ very near 0 or 1) and where δ is so small that α, β overflow (W is then a point
    mass at 1 to working precision).
    """
    tol = 1e-6 if np.asarray(ab).dtype == np.float64 else 1e-4
    bad_law = ~np.all(np.isfinite(ab) & (ab > 0), axis=0)
    if np.any(bad_law):
        d = float(np.asarray(delta)[np.argmax(bad_law)])
        raise ValueError(
            f"select_epbeta: delta = {d:.3g} with eps0 = {float(eps0):.3g}, "
            f"eps1 = {float(eps1):.3g} gives alpha, beta beyond the {np.asarray(ab).dtype} range "
            "(the law is a point mass to working precision); use a larger delta, moderate eps, "
            "or float64 (jax.enable_x64)."
        )
    worst = np.abs(np.asarray(resid))
    if np.any(~(worst <= tol)):
        i = int(np.argmax(np.where(np.isfinite(worst), worst, np.inf)))
        raise ValueError(
            f"select_epbeta: could not meet |u - delta| <= {tol:g} for delta = "
            f"{float(np.asarray(delta)[i]):.6g}, tau = {float(tau):.6g} "
            f"(off by {float(worst[i]):.2g}): "
            "with tau this close to 0 or 1, u changes on scales below the solver's grid or the "
            f"{np.asarray(ab).dtype} resolution of alpha, beta. Use a tau further from 0 and 1, "
            "or float64 (jax.enable_x64)."
        )


def _select_core(delta, eps0, eps1, tau):
    """((α, β) stacked, each of delta's shape, u_max). Concrete inputs: the host-side solve (no
    compilation). Traced: the JAX solve over the flattened δ (under vmap, per lane)."""
    shape = jnp.shape(delta)
    if all(_checks.is_concrete(v) for v in (delta, eps0, eps1, tau)):
        flat = np.ravel(np.asarray(delta))
        ab, resid, u_star = _host_select(flat, eps0, eps1, tau, flat.dtype)
        _check_solution(ab, resid, flat, eps0, eps1, tau)
        return ab.reshape((2,) + shape), u_star
    flat = jnp.ravel(delta)
    n = flat.shape[0]
    if n == 0:  # u* still comes from a one-element solve
        flat = jnp.full((1,), 1e-3, flat.dtype)
    ab, u_star = _select_flat(flat, eps0, eps1, tau)
    return ab[:, :n].reshape((2,) + shape), u_star


def _max_attainable(eps0, eps1, tau):
    """u*: from the host memo for concrete (ε0, ε1, τ), the one select_epbeta fills and reads;
    traced, the u* output of a small select_epbeta batch's program (its derivative is the
    envelope one)."""
    dtype = jnp.result_type(eps0)
    if all(_checks.is_concrete(v) for v in (eps0, eps1, tau)):
        _, _, _, (_, _, _, u_star) = _memo_table(eps0, eps1, tau, dtype)
        return jax.device_put(np.asarray(u_star, dtype))  # compiles nothing
    return _select_flat(jnp.full((1,), 1e-3, dtype), eps0, eps1, tau)[1]


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
        if max(float(e0), float(e1)) > EPS_MAX:
            raise ValueError(
                f"{owner}: eps0, eps1 must be <= {EPS_MAX:g}, got {float(e0):.6g}, "
                f"{float(e1):.6g}: alpha and beta grow like eps^2 and beyond it u cannot be "
                "evaluated to the promised accuracy; use eps of order 1 (e.g. eps0 = eps1 = 0.3)."
            )
    else:  # traced: the same checks at run time
        e0 = eqx.error_if(
            e0, ~((e0 >= 0) & (e0 <= EPS_MAX)), f"{owner}: eps0 must lie in [0, {EPS_MAX:g}]."
        )
        e1 = eqx.error_if(
            e1, ~((e1 >= 0) & (e1 <= EPS_MAX)), f"{owner}: eps1 must lie in [0, {EPS_MAX:g}]."
        )
        e0 = eqx.error_if(
            e0,
            (e0 == 0) & (e1 == 0),
            f"{owner}: eps0 = eps1 = 0 is a plain Beta law: no variance-preserving law exists.",
        )
    if _checks.is_concrete(t):
        if not (0.0 < float(t) < 1.0):
            raise ValueError(
                f"{owner}: tau must lie in (0, 1), got {float(t)}; the default is 0.5."
            )
    else:
        t = eqx.error_if(t, ~((t > 0) & (t < 1)), f"{owner}: tau must lie in (0, 1).")
    return e0, e1, t


def max_attainable_delta(
    eps0: ArrayLike = 0.3, eps1: ArrayLike = 0.3, tau: ArrayLike = 0.5
) -> Scalar:
    """The largest δ = u reachable by a variance-preserving EpBeta(·, ·; ε0, ε1) with E[W] ≥ 1/2.

    max over 0 < x ≤ 1/2 of u(x) along the VP curve (see the module docstring); always below the
    law-free bound ``law_free_delta_bound(max(eps0, eps1))`` when τ = 1/2.
    """
    e0, e1, t = _check_design_args(eps0, eps1, tau, "max_attainable_delta")
    return _max_attainable(e0, e1, t)


def law_free_delta_bound(eps: ArrayLike) -> Float[Array, " ..."]:
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
    """Algorithm 1 (docs/theory.md#algorithm-1): the EpBeta law with E[W²] = E[W] and u = δ.

    The law is EpBeta(α, β; ε0, ε1) with the given ε0, ε1.

    Args:
        delta: target class-mean shift u = δ > 0, a scalar or an array of any shape.
        eps0, eps1: support extensions (scalars in [0, 1e3], not both 0); the law lives on
            [-ε0, 1 + ε1].
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
                "select_epbeta: delta must be >= 0 (it is the class-mean shift u), "
                f"got {v.tolist()}."
            )
        if np.any(v == 0):
            raise ValueError(
                "select_epbeta: delta = 0 is the resampling limit (W = 1: every synthetic record "
                "copies one parent), which no EpBeta law reaches; pass a small positive delta "
                "(e.g. 1e-3), or use plain resampling."
            )
    else:
        checked: jax.Array = eqx.error_if(
            delta,
            ~(delta > 0),
            "select_epbeta: delta must be finite and > 0 (0 is resampling); got NaN or <= 0.",
        )
        delta = checked
    # δ > 0 from here; δ above the maximum is solved at the maximum, then rejected below.
    if _checks.is_concrete(delta):
        ab, dmax = _select_core(np.asarray(delta), e0, e1, t)
    else:
        ab, dmax = _select_core(jnp.where(delta > 0, delta, 1.0), e0, e1, t)
    # δ within rounding of the maximum is accepted (and solved at the maximum).
    # (4096 eps: the traced maximum may sit a few 1e-15 below the concrete one in float64; a δ
    # accepted this way is solved at the maximum, within the accuracy promise in both dtypes)
    rel = 1.0 + 4096.0 * float(jnp.finfo(delta.dtype).eps)
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
            ab,
            delta > dmax * rel,
            "select_epbeta: delta exceeds max_attainable_delta(eps0, eps1, tau).",
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


def clear_caches() -> None:
    """Forget the memo of curve tables kept for concrete (ε0, ε1, τ) by :func:`select_epbeta`.

    The memo holds up to 64 float64 tables (256 points each) keyed by the exact values;
    clearing it only costs a re-tabulation on the next call. Compiled programs are JAX's
    (``jax.clear_caches()``).
    """
    _cached_curve_table.cache_clear()
