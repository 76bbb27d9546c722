"""Special functions (floor 1): the regularized incomplete beta function and its inverse.

``betainc(a, b, x)`` = I_x(a, b) = B(x; a, b) / B(a, b) with
B(x; a, b) = int_0^x t^(a-1) (1-t)^(b-1) dt, and ``betaincinv(a, b, q)``, the x with
I_x(a, b) = q (the Beta(a, b) quantile). Both are differentiable in all three arguments
through ``jax.custom_jvp``, broadcast over their arguments, work in float32
and float64 and under ``jit``/``vmap``/``grad``.

How the value is computed
-------------------------
For x <= (a+1)/(a+b+2) (else through I_x(a, b) = 1 - I_{1-x}(b, a)),

    I_x(a, b) = x^a (1-x)^b / (a B(a, b)) * 1/(1+ d1/(1+ d2/(1+ ...)))        (continued fraction)
    d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)),   d_{2m} = m(b-m) x / ((a+2m-1)(a+2m)),

evaluated with the modified Lentz algorithm. In that region the fraction converges for every
a, b > 0; the number of terms grows like sqrt(max(a, b)) (about 50 for a = b = 1e3 at the mean).
The loop is a ``lax.while_loop`` that stops when every element has converged to machine precision
(at most ``_MAX_ITER`` steps, which covers max(a, b) up to ~1e5). A vectorised loop runs until
its slowest element converges, so inputs of more than ``_INC_BLOCK`` elements (also under ``vmap``)
are evaluated block by block (``lax.map``), each block stopping at its own slowest element.
Each trip of the loop takes ``_UNROLL`` steps and tests for convergence once (an element that
has stopped keeps its value through the extra steps), which cuts the passes over the arrays
and the tests by that factor. The prefactor x^a (1-x)^b / (a B(a, b)) is computed in log
space with its own log B: when a, b >= 10 in the Stirling form

    a log(x/x0) + b log(y/y0) + log(b/(2 pi a (a+b)))/2 - D(a) - D(b) + D(a+b),   x0 = a/(a+b),

(D the Stirling remainder of log Gamma), which avoids the cancellation of three large log Gamma
values; ``jax.scipy.special.betaln`` is not used because it is only ~1e-7 accurate in float64
for some moderate arguments (e.g. a=10, b=0.5). (``jax.scipy.special.betainc`` itself is accurate
to ~5e-11 in float64 on the test grid, but has no derivative in a or b.)

How the derivatives are computed
--------------------------------
- d/dx is the density x^(a-1) (1-x)^(b-1) / B(a, b).
- d/da and d/db: forward-mode differentiation of the same finite continued-fraction recursion
  (and of the log prefactor, which brings log x, log(1-x) and digamma terms), i.e. the approach
  of Boik & Robison-Cox (1998) with JAX doing the bookkeeping. The derivative of the truncated
  fraction converges to the derivative of I at the same geometric rate as the value, so the
  stopping rule adds a few safety steps. Unlike a series in x, this keeps full relative accuracy
  for whole-number a or b (no special cases, no cancelling digamma poles) and for tiny or large
  a, b; unlike quadrature of int t^(a-1) (1-t)^(b-1) log t dt it needs no a-dependent substitution.
  The derivatives of the symmetric branch are those of 1 - I_{1-x}(b, a), so a tail near 1 keeps
  relative accuracy in its (tiny) parameter derivatives.

Accuracy (checked in ``tests/test_special.py`` against Boost's data and mpmath)
-----------------------------------------------------------------------------
float64, value: within 1e-12 relative on every point of Boost's ibeta, ibeta_int, ibeta_small
and ibeta_large test sets (as shipped inside scipy; a up to ~1e5, b down to ~1e-5); off those
sets the deep lower tails of large a lose a little more (against mpmath, 1.3e-11 at a = 992,
b = 103, I = 1.4e-160; 1.4e-12 at a = 99, b = 14, I = 5e-17). Derivatives:
within 1e-9 relative of mpmath for a, b in [1e-3, 1e3], x in [1e-6, 1 - 1e-6]; quantities below
1e-290 are compared absolutely (they sit at the float64 underflow limit). float32, a + b <= 200,
against float64 at the float32-rounded inputs where the value exceeds 1e-30: within 1e-5
relative on ibeta, ibeta_int and ibeta_small, and off those sets (a, b log-uniform in
[0.1, 100], a + b <= 200, x uniform; worst 8.8e-6 on 957 000 points) and for b in [0.03, 1]
with x near 1, I in [1e-4, 0.3] (worst 8.4e-6 on 200 000 points). Partials within 1e-4
relative for a, b >= 0.1. Four float32-only forms serve this:

- the log prefactor's large terms (a log x + b log(1-x), or a log(x/x0) + b log(y/y0) when
  a, b >= 10; they reach 100 in size, and a few float32 ulp of them made 2.6e-5 of I at
  I = 1e-30) are summed in float32 pairs (``_stirling_core_float32``: products split by bit
  masks, logarithms to ~1.5e-9), and the leading part is exponentiated apart from the rest;
- log Gamma below 10.5 by its series around 1 (with the recurrence; float32 ``gammaln`` is
  ~1e-6 off in absolute terms near 1 and 2);
- for b <= 1, a >= 3 and x near 1 (1 - x <= 0.3, -(a + (b-1)/2) log x >= 1), DiDonato and
  Morris's asymptotic expansion in incomplete gamma functions (``_large_a_small_b_log``; there
  the continued fraction, whose value reaches e^4, loses ~1.5e-5);
- elsewhere for b <= 1 and x near 1 (past the mean, or a (1 - x) <= 1.5), 1 - I_{1-x}(b, a)
  as -expm1 of log I_{1-x}(b, a) summed from its power series, whose terms are all of order b
  (the continued fraction's value and its log prefactor, each of order 1, cancel there).

``betaincinv``, float64: within 2e-11 relative of Boost's ibeta_inv set (roots down to 1e-300,
a, b up to ~4e5; observed 1.1e-11) and, for q down to 1e-300 and 1 - q down to 2^-52, the root
bracketed to 1e-12 by mpmath; float32: within 1e-4 min(x, 1 - x) plus 2 ulp of x
(a, b in [0.1, 100]). A subnormal q is read from its bits (its root can be a normal float).

Where the value is not computed or not representable: NaN where the continued fraction has not
converged in ``_MAX_ITER`` steps (max(a, b) beyond ~1e5 near the mean, or a + 1 rounding to a,
e.g. float32 a = b = 1e8) -- never a truncated value; ``betaincinv`` returns 0 (or 1) where
x (or 1 - x) lies below the smallest normal float, and 1 where 1 - x is below half an ulp of 1.

For b < 0.05 and x < 0.999 past the mean, I_x(a, b) is evaluated directly (its fraction then
converges in about 8/sqrt(1-x) steps) instead of as 1 - I_{1-x}(b, a), which would cancel.

Subnormal x (below 1.2e-38 in float32, 2.2e-308 in float64) is read from its bits, as
x^a / (a B(a, b)) (relative error O(x)): XLA's CPU arithmetic would read it as 0, which for
a < 1 is far off (I = 1.3e-4 at a = 0.1, b = 0.5, x = 3.7e-39). This holds for an x passed in;
an x computed in the same compiled program (e.g. after a clip) may already be flushed to 0.

Edge cases: x = 0 gives 0 and x = 1 gives 1, with zero a- and b-derivatives there. The
x-derivative at an end point is the density's limit; where that limit is infinite (a < 1 at 0,
b < 1 at 1) the largest finite float is returned instead, so that a zero tangent (e.g. through a
clip) gives 0 rather than NaN. x outside [0, 1], a <= 0 or b <= 0 (or NaN) give NaN values and
derivatives; these functions do not raise, because they run inside traced code: the public
law methods validate or clip before calling them.

Second-order derivatives are not supported as such: the JVP rule returns first partials
computed by forward-mode differentiation, and differentiating that rule again (e.g.
``jax.jvp(jax.grad(f))``) runs without error but gives second derivatives of the truncated
recursion without the accuracy guarantees above.
"""

from __future__ import annotations

import math
from typing import Literal, overload

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

__all__ = ["betainc", "betaincinv"]

_BIG = 10.0  # a, b >= _BIG use the Stirling form of log B
_SMALL_B = 0.05  # b below this: no swap to the complement while x < _DIRECT_X
_DIRECT_X = 0.999
_MAX_ITER = 2000  # continued-fraction steps; enough for max(a, b) up to ~1e5
_EXTRA_ITER = 4  # safety steps after the value has converged (derivatives lag slightly)
_UNROLL = 4  # continued-fraction steps per loop trip (the stopping test runs once per trip)
_INV_MAX_ITER = 100  # cap on safeguarded Halley steps in betaincinv (bisection alone needs < 70)
_INV_SPLITS = (3, 5, 7)  # betaincinv: after these steps, the running elements are gathered
_BLOCK = 1024  # elements per block of betaincinv's loops (see ``_in_phases``)
_INC_BLOCK = 256  # elements per block of betainc's loops (see ``_blocked``)
# float32, b <= _SERIES_B and 1 - x <= _SERIES_Y past the mean: log I_{1-x}(b, a) by its power
# series (``_complement_series``) instead of the continued fraction; _SERIES_TERMS terms
_SERIES_B = 1.0
_SERIES_Y = 0.3
_SERIES_AY = 1.5  # ... and also before the mean while a (1 - x) <= _SERIES_AY
_SERIES_TERMS = 24
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Stirling series of log Gamma: D(x) = sum_k c_k / x^(2k-1); 7 terms give < 1e-17 for x >= 10.
# log Gamma(1 + x) = -gamma x + sum_{k>=2} (-1)^k zeta(k) x^k / k, used for 0 < x < 0.2
_EULER = 0.57721566490153286061
_ZETA = (
    1.6449340668482264365,
    1.2020569031595942854,
    1.0823232337111381915,
    1.0369277551433699263,
    1.0173430619844491397,
    1.0083492773819228268,
    1.0040773561979443394,
    1.0020083928260822144,
    1.0009945751278180853,
    1.0004941886041194646,
    1.0002460865533080483,
    1.0001227133475784891,
    1.0000612481350587048,
    1.0000305882363070205,
    1.0000152822594086519,
    1.0000076371976378998,
    1.0000038172932649998,
    1.0000019082127165539,
    1.0000009539620338728,
    1.0000004769329867878,
    1.0000002384505027277,
    1.0000001192199259653,
    1.0000000596081890513,
    1.0000000298035035147,
)
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)


# --- helpers ----------------------------------------------------------------------------------


def _dtype_of(*args):
    dt = jnp.result_type(*args)
    if not jnp.issubdtype(dt, jnp.floating):
        dt = jnp.result_type(float)
    return dt


def _stirling_remainder(x):
    """D(x) = log Gamma(x) - [(x - 1/2) log x - x + log(2 pi)/2], valid for x >= 10."""
    z = 1.0 / (x * x)
    s = _STIRLING[-1]
    for c in _STIRLING[-2::-1]:
        s = s * z + c
    return s / x


def _stirling_remainder_grad(x):
    """D'(x) = digamma(x) - log x + 1/(2x), for x >= 10."""
    z = 1.0 / (x * x)
    s = -(2 * len(_STIRLING) - 1) * _STIRLING[-1]
    for k in range(len(_STIRLING) - 2, -1, -1):
        s = s * z - (2 * k + 1) * _STIRLING[k]
    return s * z


def _log1pmx(t, log1p_t=None):
    """log(1 + t) - t for t > -1: its series -t^2/2 + t^3/3 - ... for |t| < 0.1, else directly.

    ``log1p_t``: log1p(t), if the caller has it (it is then not evaluated again).
    """
    small = jnp.abs(t) < 0.1
    ts = jnp.where(small, t, 0.0)
    s = jnp.zeros_like(ts)
    for k in range(17, 1, -1):  # |t|^16/17 < 1e-17
        s = (s + (-1.0) ** (k + 1) / k) * ts
    series = s * ts
    if log1p_t is None:
        tl = jnp.where(small, 0.5, t)
        log1p_t = jnp.log1p(tl)
    return jnp.where(small, series, log1p_t - t)


def _lgamma1p_series(x):
    """log Gamma(1 + x) by its series: float64 for 0 <= x < 0.2, float32 for |x| <= 1/2.

    Full relative accuracy as x -> 0; the last term kept is zeta(25) x^25 / 25.
    """
    s = jnp.zeros_like(x)
    for k in range(len(_ZETA) + 1, 1, -1):  # Horner in x over k = 25 .. 2
        s = (s + (-1.0) ** k * _ZETA[k - 2] / k) * x
    return (s - _EULER) * x


def _lgamma_float32(z):
    """log Gamma(z) for 1/2 <= z < 10.5 (float32) to ~2e-7 absolute (gammaln: ~1e-6 near 1, 2).

    log Gamma(z) = log Gamma(z0) + log[(z - 1)(z - 2) ... (z - k)], z0 = z - k in [1/2, 3/2),
    with log Gamma(z0) by the series of log Gamma(1 + (z0 - 1)); each z - j is exact.
    """
    k = jnp.clip(jnp.floor(z - 0.5), 0.0, 10.0)
    prod = jnp.ones_like(z)
    for j in range(1, 11):
        prod = jnp.where(j <= k, prod * (z - j), prod)
    # z - k - 1 lies in [-1/2, 1/2) on the domain; no clip (its gradient is halved at the ends)
    return _lgamma1p_series(z - k - 1.0) + jnp.log(prod)


def _log_a_beta(a, b):
    """log(a B(a, b)) for a, b > 0 with at most one of them >= _BIG, to rounding in absolute terms.

    With lo <= hi: log(a B) = [log a + lgamma(lo)] + [lgamma(hi) - lgamma(lo + hi)]. The first
    bracket is log Gamma(1 + lo) (series) when a = lo. The second is shifted up to hi + n >= _BIG,
    lgamma(hi) - lgamma(lo + hi) = sum_{k<n} log1p(lo/(hi + k)) + [Stirling form at hi + n], so
    that it stays accurate relative to its size lo*psi(hi) when lo is tiny (where
    1 - I = -expm1(log I) needs the log to absolute rounding).
    """
    # where, not minimum/maximum: at a == b those split the derivative between the two roles
    # (half to each), and autodiff through this form would be wrong there
    a_lo = a <= b
    lo, hi = jnp.where(a_lo, a, b), jnp.where(a_lo, b, a)
    n = jnp.ceil(jnp.maximum(_BIG - hi, 0.0))
    # sum_{k<n} log1p(lo/(hi + k)) = log1p(s), s = prod_k (hi + k + lo)/(hi + k) - 1 = num/den,
    # num = prod (hi + k + lo) - prod (hi + k) by its recursion num' = num (hi + k) + lo prod
    # (hi + j + lo): positive terms only, so s keeps its relative accuracy as lo -> 0 (one
    # log1p and one division instead of n)
    num, den, up = jnp.zeros_like(lo), jnp.ones_like(lo), jnp.ones_like(lo)
    for k in range(int(_BIG)):
        use = k < n
        hk = hi + k
        num = jnp.where(use, num * hk + lo * up, num)
        up = jnp.where(use, up * (hk + lo), up)
        den = jnp.where(use, den * hk, den)
    shift = jnp.log1p(num / den)
    g = hi + n
    cm = lo + g
    bracket = (
        lo
        - lo * jnp.log(g)
        - (cm - 0.5) * jnp.log1p(lo / g)
        + _stirling_remainder(g)
        - _stirling_remainder(cm)
    ) + shift
    # log a + lgamma(lo): log Gamma(1 + lo) by its series where a = lo < 0.2, else directly;
    # in float32 (whose gammaln is ~1e-6 off in absolute terms near 1 and 2) by the series for
    # lo < 1/2 (log Gamma(1 + lo) - log lo = lgamma(lo)) and ``_lgamma_float32`` above
    if lo.dtype == jnp.float32:
        small = lo < 0.5
        lg1p = _lgamma1p_series(jnp.where(small, lo, 0.0))
        first = jnp.where(
            small,
            jnp.where(a_lo, lg1p, lg1p + jnp.log(a) - jnp.log(lo)),
            _lgamma_float32(jnp.where(small, 0.5, lo)) + jnp.log(a),
        )
        return first + bracket
    series = a_lo & (lo < 0.2)
    first = jnp.where(
        series, _lgamma1p_series(jnp.where(series, lo, 0.1)), jsp.gammaln(lo) + jnp.log(a)
    )
    return first + bracket


def _log_beta_small(a, b, grad=False):
    """log B(a, b) when at most one of a, b is >= _BIG (a, b > 0); with grad, also d/da, d/db.

    With lo <= hi: log B = lgamma(lo) + [lgamma(hi) - lgamma(lo + hi)], the bracket by Stirling
    when hi >= _BIG (it would cancel otherwise). Derivatives by hand: digamma differences.
    """
    # where, not minimum/maximum: at a == b those split the derivative between the two roles
    # (half to each), and autodiff through this form would be wrong there
    a_lo = a <= b
    lo, hi = jnp.where(a_lo, a, b), jnp.where(a_lo, b, a)
    mixed = hi >= _BIG
    hp = jnp.where(mixed, 1.0, hi)  # plain-branch copies, kept finite in the other branch
    cp = lo + hp
    g = jnp.where(mixed, hi, _BIG)  # mixed-branch copies
    cm = lo + g
    bracket_mixed = (
        lo
        - lo * jnp.log(g)
        - (cm - 0.5) * jnp.log1p(lo / g)
        + _stirling_remainder(g)
        - _stirling_remainder(cm)
    )
    bracket_plain = jsp.gammaln(hp) - jsp.gammaln(cp)
    lb = jsp.gammaln(lo) + jnp.where(mixed, bracket_mixed, bracket_plain)
    if not grad:
        return lb
    dcm = _stirling_remainder_grad(cm)
    psi_c = jsp.digamma(cp)
    d_lo = jsp.digamma(lo) + jnp.where(mixed, 0.5 / cm - jnp.log(cm) - dcm, -psi_c)
    d_hi = jnp.where(
        mixed,
        -jnp.log1p(lo / g) - 0.5 * lo / (g * cm) + _stirling_remainder_grad(g) - dcm,
        jsp.digamma(hp) - psi_c,
    )
    a_lo = a <= b
    return lb, jnp.stack([jnp.where(a_lo, d_lo, d_hi), jnp.where(a_lo, d_hi, d_lo)])


def _two_sum(a, b):
    """(s, e) with s + e = a + b exactly (Knuth); neither operand a compile-time constant (XLA
    folds (c + f) - c to f when c is one)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _two_prod_float32(a, b):
    """(p, e) with p + e = a b exactly (float32): each factor split by a bit mask into 12 + 12
    significand bits (no arithmetic a fused multiply-add could change), so the partial products
    are exact."""

    def split(v):
        bits = lax.bitcast_convert_type(v, jnp.uint32) & jnp.uint32(0xFFFFF000)
        hi = lax.bitcast_convert_type(bits, jnp.float32)
        return hi, v - hi

    p = a * b
    ah, al = split(a)
    bh, bl = split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


_LN2_HI = 0.693145751953125  # 16 significand bits: k * _LN2_HI is exact for |k| < 256
_LN2_LO = 1.4286068203094173e-06


def _log_float32_pair(v):
    """log v as hi + lo for normal float32 v > 0, to ~1.5e-9 absolute (float32 log: ~4e-6).

    v = m 2^k with m in [1/sqrt 2, sqrt 2), log m = 2 atanh(s), s = (m - 1)/(m + 1) carried as
    s + s_lo (the division's residual from exact products), the odd series
    2 s^3/3 + ... + 2 s^15/15 in float32 (it is below 3.5e-3), and k log 2 in two parts.
    """
    m, k = jnp.frexp(v)
    low = m < 0.7071067811865476
    m = jnp.where(low, 2.0 * m, m)
    k = (k - low.astype(k.dtype)).astype(v.dtype)
    f = m - 1.0  # exact
    two = lax.optimization_barrier(jnp.full_like(f, 2.0))  # see _two_sum
    t_hi, t_lo = _two_sum(two, f)
    s = f / t_hi
    p, pe = _two_prod_float32(s, t_hi)
    s_lo = ((f - p) - pe - s * t_lo) / t_hi
    s2 = s * s
    r = jnp.zeros_like(s)
    for n in range(15, 1, -2):
        r = (r + 2.0 / n) * s2
    hi, lo = _two_sum(k * _LN2_HI, 2.0 * s)
    return _two_sum(hi, lo + (k * _LN2_LO + 2.0 * s_lo + r * s))


def _stirling_core_float32(a, b, x):
    """a log(x/x0) + b log(y/y0) and a log x + b log y (x0 = a/(a+b), y = 1 - x, y0 = 1 - x0),
    each as a float32 pair (hi, lo): (big_hi, big_lo, small_hi, small_lo).

    The float32 forms of ``_log_prefactor`` leave a few ulp of terms such as a log(x/x0) that
    reach 100 in size (2.6e-5 relative in I at I = 1e-30); carried as pairs, the logarithms
    (``_log_float32_pair``), the ratios a/(a+b), b/(a+b) and 1 - x keep ~1e-9 absolute, and
    the sums are never rounded to one float32 (``_core_head`` and ``_log_prefactor`` keep the
    parts). x in (0, 1) normal, a, b > 0 (one shape).
    """

    def log_ratio(num, den_hi, den_lo):  # log(num / den) for a pair den
        q = num / den_hi
        p, pe = _two_prod_float32(q, den_hi)
        q_lo = ((num - p) - pe - q * den_lo) / den_hi
        l_hi, l_lo = _log_float32_pair(q)
        return l_hi, l_lo + q_lo / q

    one = lax.optimization_barrier(jnp.ones_like(x))  # see _two_sum
    y_hi, y_lo = _two_sum(one, -x)
    c_hi, c_lo = _two_sum(a, b)
    lx_hi, lx_lo = _log_float32_pair(x)
    ly_hi, ly_lo = _log_float32_pair(y_hi)
    ly_lo = ly_lo + y_lo / y_hi
    qa_hi, qa_lo = log_ratio(a, c_hi, c_lo)
    qb_hi, qb_lo = log_ratio(b, c_hi, c_lo)

    def times(coef, u_hi, u_lo, v_hi, v_lo):  # coef (u - v) as a pair
        d_hi, d_lo = _two_sum(u_hi, -v_hi)
        d_lo = d_lo + (u_lo - v_lo)
        p, pe = _two_prod_float32(coef, d_hi)
        return p, pe + coef * d_lo

    ta_hi, ta_lo = times(a, lx_hi, lx_lo, qa_hi, qa_lo)
    tb_hi, tb_lo = times(b, ly_hi, ly_lo, qb_hi, qb_lo)
    s_hi, s_lo = _two_sum(ta_hi, tb_hi)
    # a log x + b log y for the other branch of _log_prefactor, from the same pairs
    pa, pa_lo = _two_prod_float32(a, lx_hi)
    pb, pb_lo = _two_prod_float32(b, ly_hi)
    u_hi, u_lo = _two_sum(pa, pb)
    return s_hi, s_lo + ta_lo + tb_lo, u_hi, u_lo + pa_lo + pb_lo + a * lx_lo + b * ly_lo


def _core_head(a, b, core):
    """The leading part of ``_stirling_core_float32`` that ``_log_prefactor`` leaves out."""
    return jnp.where((a >= _BIG) & (b >= _BIG), core[0], core[2])


@overload
def _log_prefactor(
    a, b, x, lx, ly, grad: Literal[False] = False, log_ab: Array | None = None, core=None
) -> Array: ...
@overload
def _log_prefactor(
    a, b, x, lx, ly, grad: Literal[True], log_ab: Array | None = None, core=None
) -> tuple[Array, Array]: ...
def _log_prefactor(
    a, b, x, lx, ly, grad: bool = False, log_ab: Array | None = None, core=None
) -> Array | tuple[Array, Array]:
    """log[x^a (1-x)^b / (a B(a, b))] given lx = log x, ly = log(1-x); a, b > 0, 0 < x < 1.

    ``log_ab``, if given, is ``_log_a_beta`` at (a, b) with both replaced by 1 where a, b >= _BIG
    (computed once by a caller that evaluates many x at the same a, b); value only.

    With grad, also its derivatives in (a, b), stacked on a leading axis of 2.

    ``core``, if given, is ``_stirling_core_float32`` at the unswapped (a, b, x) (both of its
    sums are symmetric in the swap), used in place of the float32 sums below; the result then
    leaves out their leading parts, ``_core_head(a, b, core)``, which the caller adds (so that
    a log prefactor of -68 is not rounded to float32 before its exponential).
    """
    big = (a >= _BIG) & (b >= _BIG)
    # Stirling form around the mean x0 = a/c, written so that nothing large cancels.
    ab = jnp.where(big, a, _BIG)
    bb = jnp.where(big, b, _BIG)
    cb = ab + bb
    e = x * cb - ab  # c (x - x0)
    tx, ty = e / ab, -e / bb  # x/x0 - 1 and y/y0 - 1
    okx, oky = tx > -0.5, ty > -0.5
    txs, tys = jnp.where(okx, tx, 0.0), jnp.where(oky, ty, 0.0)
    l1x, l1y = jnp.log1p(txs), jnp.log1p(tys)  # shared with log1p(t) - t below
    termx = jnp.where(okx, l1x, lx - jnp.log(ab / cb))  # log(x/x0)
    termy = jnp.where(oky, l1y, ly - jnp.log(bb / cb))  # log(y/y0)
    # a log(x/x0) + b log(y/y0) with the linear parts a tx + b ty = e - e = 0 taken out exactly
    # (log1p(t) - t by its series), so nothing of size |e| cancels
    lin = jnp.where(okx, e, ab * termx) + jnp.where(oky, -e, bb * termy)
    quad = jnp.where(okx, ab * _log1pmx(txs, l1x), 0.0) + jnp.where(
        oky, bb * _log1pmx(tys, l1y), 0.0
    )
    main = quad + lin if core is None else core[1]
    # the small terms first: each addition to main (up to ~100) rounds at its size
    l_big = main + (
        0.5 * jnp.log(bb / (ab * cb))
        - _HALF_LOG_2PI
        - _stirling_remainder(ab)
        - _stirling_remainder(bb)
        + _stirling_remainder(cb)
    )
    as_ = jnp.where(big, 1.0, a)
    bs = jnp.where(big, 1.0, b)
    powers = as_ * lx + bs * ly if core is None else core[3]
    if not grad:
        l_small = powers - (_log_a_beta(as_, bs) if log_ab is None else log_ab)
        return jnp.where(big, l_big, l_small)
    _, dlb = _log_beta_small(as_, bs, grad=True)
    l_small = powers - _log_a_beta(as_, bs)
    # d/da of the Stirling form: the a, b factors of log x0, log y0 cancel (a/c - 1 + b/c = 0)
    dcb = _stirling_remainder_grad(cb)
    g_big = jnp.stack(
        [
            termx - 0.5 / ab - 0.5 / cb - _stirling_remainder_grad(ab) + dcb,
            termy + 0.5 / bb - 0.5 / cb - _stirling_remainder_grad(bb) + dcb,
        ]
    )
    g_small = jnp.stack([lx - 1.0 / as_ - dlb[0], ly - dlb[1]])
    return jnp.where(big, l_big, l_small), jnp.where(big, g_big, g_small)


def _first_denominator(a, b, x):
    """1 - (a + b) x / (a + 1), the fraction's first denominator, as (a (1 - x) + 1 - b x)/(a + 1).

    Near the mean, (a + b) x / (a + 1) is close to (a + b)/(a + b + 2), and the difference from
    1 keeps only 2/(a + b + 2) of the rounding's relative size (100 float32 ulp at a + b = 200);
    the form used here adds two positive terms when b x < 1.
    """
    return (a * (1.0 - x) + (1.0 - b * x)) / (a + 1.0)


def _cf_setup(a, b, x):
    dt = x.dtype
    tiny = jnp.asarray(1e-300 if dt == jnp.float64 else 1e-30, dt)
    tol = 4.0 * jnp.finfo(dt).eps

    def guard(v):
        return jnp.where(jnp.abs(v) < tiny, tiny, v)

    def step(m, a, b, c, d):
        """One full step (two partial numerators) of modified Lentz: new c, d and the factor."""
        mf = m.astype(dt)
        m2 = 2.0 * mf
        aa = mf * (b - mf) * x / ((a - 1.0 + m2) * (a + m2))
        d = 1.0 / guard(1.0 + aa * d)
        c = guard(1.0 + aa / c)
        delta = d * c
        aa = -(a + mf) * (a + b + mf) * x / ((a + m2) * (a + 1.0 + m2))
        d = 1.0 / guard(1.0 + aa * d)
        c = guard(1.0 + aa / c)
        return c, d, delta * d * c

    def start(a, b):
        d = 1.0 / guard(_first_denominator(a, b, x))
        return jnp.ones_like(x), d

    return step, start, tol


def _continued_fraction(a, b, x):
    """1/(1+ d1/(1+ d2/(1+ ...))) of the incomplete beta, by modified Lentz (see module doc).

    Each element stops (its h is frozen) _EXTRA_ITER steps after its factor first reached
    rounding level; the loop ends when every element has stopped (or after _MAX_ITER steps).
    """
    step, start, tol = _cf_setup(a, b, x)
    c, d = start(a, b)

    def body(carry):
        m, since, c, d, h = carry
        # _UNROLL steps per trip: one fused pass over the arrays and one convergence test
        # instead of _UNROLL (a step on an element that has stopped leaves its h unchanged)
        for j in range(_UNROLL):
            c, d, delta = step(m + j, a, b, c, d)
            h = jnp.where(since >= _EXTRA_ITER, h, h * delta)
            since = jnp.where((since > 0) | (jnp.abs(delta - 1.0) <= tol), since + 1, 0)
        return m + _UNROLL, since, c, d, h

    def cond(carry):
        return (carry[0] <= _MAX_ITER) & jnp.any(carry[1] < _EXTRA_ITER)

    init = (jnp.asarray(1, jnp.int32), jnp.zeros(x.shape, jnp.int32), c, d, d)
    out = lax.while_loop(cond, body, init)
    # an element that has not converged within _MAX_ITER steps gives NaN, not a truncated value
    return jnp.where(out[1] > 0, out[-1], jnp.nan)


def _continued_fraction_jvp(a, b, x, g):
    """The continued fraction h and its log-derivatives (dh/da, dh/db)/h (leading axis 2).

    Forward-mode derivatives of the Lentz recursion written out by hand (Boik & Robison-Cox
    1998) in relative form: with rd = d'/d, rc = c'/c, each partial numerator t adds
    rC - rD to h'/h, where D = 1 + t d, C = 1 + t/c, D' = d (t' + t rd), C' = (t' - t rc)/c.
    The stopping rule looks at both: a whole number b ends the fraction in value (a zero
    partial numerator) but not in derivative. ``g`` (leading axis 2) holds d log(prefactor) /
    d(a, b); an element stops once its factor is 1 and the increments of h'/h are negligible
    against d log I / d(a, b) = g + h'/h, to rounding level.
    """
    dt = x.dtype
    tiny = jnp.asarray(1e-300 if dt == jnp.float64 else 1e-30, dt)
    tol = 4.0 * jnp.finfo(dt).eps

    def half(t, dt_, d, rd, c, rc):
        """One partial numerator t (tangents dt_, axis 0 = direction) applied to (d, c)."""
        big_d = 1.0 + t * d
        rbig_d = d * (dt_ + t * rd) / big_d
        small_d = jnp.abs(big_d) < tiny
        big_d = jnp.where(small_d, tiny, big_d)
        rbig_d = jnp.where(small_d, 0.0, rbig_d)
        big_c = 1.0 + t / c
        rbig_c = (dt_ - t * rc) / (c * big_c)
        small_c = jnp.abs(big_c) < tiny
        big_c = jnp.where(small_c, tiny, big_c)
        rbig_c = jnp.where(small_c, 0.0, rbig_c)
        return 1.0 / big_d, -rbig_d, big_c, rbig_c, big_c / big_d, rbig_c - rbig_d

    # h = d = 1/D0 with D0 = 1 - (a+b) x/(a+1); relative derivative of d is -D0'/D0
    big_d0 = _first_denominator(a, b, x)
    dbig_d0 = jnp.stack([-x * (1.0 - b) / (a + 1.0) ** 2, -x / (a + 1.0)])
    small0 = jnp.abs(big_d0) < tiny
    d = 1.0 / jnp.where(small0, tiny, big_d0)
    rd = jnp.where(small0, 0.0, -dbig_d0 / big_d0)

    def one_step(m, since, d, rd, c, rc, h, lh):
        mf = m.astype(dt)
        m2 = 2.0 * mf
        p, q = a - 1.0 + m2, a + m2
        t1 = mf * (b - mf) * x / (p * q)
        dt1 = jnp.stack([-t1 * (1.0 / p + 1.0 / q), mf * x / (p * q)])
        d, rd, c, rc, f1, rf1 = half(t1, dt1, d, rd, c, rc)
        r, s_ = a + 1.0 + m2, a + b + mf
        t2 = -(a + mf) * s_ * x / (q * r)
        dt2 = jnp.stack([t2 * (1.0 / (a + mf) + 1.0 / s_ - 1.0 / q - 1.0 / r), t2 / s_])
        d, rd, c, rc, f2, rf2 = half(t2, dt2, d, rd, c, rc)
        delta, rdelta = f1 * f2, rf1 + rf2
        frozen = since >= _EXTRA_ITER
        h = jnp.where(frozen, h, h * delta)
        lh = jnp.where(frozen, lh, lh + rdelta)
        small = (jnp.abs(delta - 1.0) <= tol) & jnp.all(
            jnp.abs(rdelta) <= tol * jnp.abs(g + lh), axis=0
        )
        since = jnp.where((since > 0) | small, since + 1, 0)
        return since, d, rd, c, rc, h, lh

    def body(carry):
        m, *state = carry
        for j in range(_UNROLL):
            state = one_step(m + j, *state)
        return (m + _UNROLL, *state)

    def cond(carry):
        return (carry[0] <= _MAX_ITER) & jnp.any(carry[1] < _EXTRA_ITER)

    c = jnp.ones_like(x)
    rc = jnp.zeros_like(rd)
    init = (jnp.asarray(1, jnp.int32), jnp.zeros(x.shape, jnp.int32), d, rd, c, rc, d, rd)
    out = lax.while_loop(cond, body, init)
    unconverged = out[1] == 0
    return jnp.where(unconverged, jnp.nan, out[6]), out[7]


def _swap(a, b, x):
    """Convergent side: (a, b, x, log x, log(1-x)), or the arguments of 1 - I_{1-x}(b, a)."""
    # past the mean the fraction of I_{1-x}(b, a) converges faster, but for a small b the result
    # 1 - I_{1-x}(b, a) would cancel (I is of order b): there the fraction of I_x(a, b) itself
    # is used while it converges in a few hundred steps (about 8/sqrt(1-x))
    direct = (b < _SMALL_B) & (x < _DIRECT_X)
    swap = (x > (a + 1.0) / (a + b + 2.0)) & ~direct
    lx, ly = jnp.log(x), jnp.log1p(-x)
    return (
        swap,
        jnp.where(swap, b, a),
        jnp.where(swap, a, b),
        jnp.where(swap, 1.0 - x, x),
        jnp.where(swap, ly, lx),
        jnp.where(swap, lx, ly),
    )


def _betainc_interior(a, b, x, with_density=False):
    """I_x(a, b) for a, b > 0 and 0 < x < 1 (arrays of one common shape); optionally the density."""
    _, _, log_dens, value = _betainc_logs(a, b, x)
    if not with_density:
        return value
    return value, jnp.exp(log_dens)


def _log1mexp(l):
    """log(1 - exp(l)) for l <= 0, accurate on both sides of -log 2."""
    return jnp.where(l < -0.6931471805599453, jnp.log1p(-jnp.exp(l)), jnp.log(-jnp.expm1(l)))


def _log_a_beta_pair(a, b):
    """``log_ab`` of ``_log_prefactor`` at (a, b) and at (b, a), for ``_betainc_logs``."""
    big = (a >= _BIG) & (b >= _BIG)
    as_, bs = jnp.where(big, 1.0, a), jnp.where(big, 1.0, b)
    return _log_a_beta(as_, bs), _log_a_beta(bs, as_)


def _complement_series(a, b, y, ly, log_ba=None):
    """log I_y(b, a) (= log(1 - I_{1-y}(a, b))) by the power series, for small b and y.

        I_y(b, a) = y^b / (b B(b, a)) * [1 + b T],   T = sum_{j>=1} c_j y^j / (b + j),
        c_j = prod_{k<=j} (k - a)/k,

    so log I_y(b, a) = b log y - log(b B(b, a)) + log1p(b T): every term is of order b, and
    1 - I_{1-y}(a, b) = -expm1 of it keeps its relative accuracy where I_{1-y}(a, b) is small
    (b small, y = 1 - x small), instead of the few float32 ulp that the continued fraction's
    value and its log prefactor (each of order 1, cancelling) leave. Used where b <= _SERIES_B,
    y <= _SERIES_Y and x is past the mean (y < (b + 1)/(a + b + 2)) or a y <= _SERIES_AY, and
    the large-a expansion does not apply; so a y < 2: the term ratio |j + 1 - a| y/(j + 1) is
    below max(2/(j + 1), _SERIES_Y), and _SERIES_TERMS terms leave less than 1e-9 of T.
    ``ly`` = log y; ``log_ba``, if given, is ``_log_a_beta(b, a)``.
    """
    c = jnp.ones_like(y)
    t = jnp.zeros_like(y)
    for j in range(1, _SERIES_TERMS + 1):
        c = c * ((j - a) / j) * y
        t = t + c / (b + j)
    lab = _log_a_beta(b, a) if log_ba is None else log_ba
    return b * ly - lab + jnp.log1p(b * t)


_GAMMA_CF_STEPS = 20
_LARGE_A = 3.0  # float32, b <= 1, a >= _LARGE_A, 1 - x <= _LARGE_A_Y, z >= _LARGE_A_Z: BGRAT
_LARGE_A_Y = 0.3
_LARGE_A_Z = 1.0


def _upper_gamma_log_h(s, z):
    """log h with Gamma(s, z) = e^{-z} z^s h: Legendre's continued fraction, _GAMMA_CF_STEPS steps.

    h = 1/(z + 1 - s - 1 (1 - s)/(z + 3 - s - 2 (2 - s)/(z + 5 - s - ...))), by modified Lentz;
    for 0 < s <= 1 and z >= _LARGE_A_Z the steps leave less than 2e-6 of log h in float32.
    """
    tiny = 1e-30
    den = z + 1.0 - s
    c = jnp.full_like(z, 1.0 / tiny)
    d = 1.0 / den
    h = d
    for i in range(1, _GAMMA_CF_STEPS + 1):
        num = -i * (i - s)
        den = den + 2.0
        d = num * d + den
        d = 1.0 / jnp.where(jnp.abs(d) < tiny, tiny, d)
        c = den + num / c
        c = jnp.where(jnp.abs(c) < tiny, tiny, c)
        h = h * d * c
    return jnp.log(h)


def _large_a_small_b_log(a, b, y, log_ba=None):
    """log I_x(a, b) for large a and b <= 1 near x = 1 (DiDonato & Morris's BGRAT, float32).

    With t = -log(1 - s) in B(a, b) I_x(a, b) = int_y^1 s^(b-1) (1-s)^(a-1) ds and
    (1 - e^-t)^(b-1) = t^(b-1) e^{-(b-1) t/2} [sinh(t/2)/(t/2)]^(b-1) = t^(b-1) e^{-(b-1)t/2}
    sum_n d_n t^(2n),

        I_x(a, b) = Gamma(a + b)/(Gamma(a) Gamma(b)) sum_n d_n nu^(-b-2n) Gamma(b + 2n, z),

    nu = a + (b - 1)/2, z = -nu log x; d_1 = beta/24, d_2 = beta^2/1152 - beta/2880,
    d_3 = beta^3/82944 - beta^2/69120 + beta/181440 (beta = b - 1). Gamma(b + m, z) follows
    from Gamma(b, z) = e^{-z} z^b h by Gamma(s + 1, z) = s Gamma(s, z) + z^s e^{-z}. Every
    factor is computed with its relative accuracy (log(Gamma(a+b)/Gamma(a)) - log Gamma(b) =
    log b - log(b B(b, a)), all of order b or log b), where the continued fraction of
    I_x(a, b) near the mean (its value e^4 for a = 195, b = 0.12) loses ~1.5e-5 in float32 and
    the series of the complement cancels (I ~ b E1(a (1 - x)) is small against its terms).
    ``y`` = 1 - x; ``log_ba``, if given, is ``_log_a_beta(b, a)``.
    """
    nu = a + 0.5 * (b - 1.0)
    z = nu * -jnp.log1p(-y)  # y = 1 - x
    lh = _upper_gamma_log_h(b, z)
    inv_h = jnp.exp(-lh)
    beta = b - 1.0
    d = (
        beta / 24.0,
        beta * beta / 1152.0 - beta / 2880.0,
        beta**3 / 82944.0 - beta * beta / 69120.0 + beta / 181440.0,
    )
    # ratios Gamma(b + m, z)/Gamma(b, z): r_{m+1} = (b + m) r_m + z^m / h
    r, zm, corr, nu2 = jnp.ones_like(z), jnp.ones_like(z), jnp.zeros_like(z), 1.0 / (nu * nu)
    scale = jnp.ones_like(z)
    for m in range(6):
        r = (b + m) * r + zm * inv_h
        zm = zm * z
        if m % 2 == 1:
            scale = scale * nu2
            corr = corr + d[m // 2] * scale * r
    lab = _log_a_beta(b, a) if log_ba is None else log_ba
    return (jnp.log(b) - lab - b * jnp.log(nu) - z + b * jnp.log(z) + lh) + jnp.log1p(corr)


def _float32_regions(a, b, x):
    """(series, large_a): where ``_complement_series`` and ``_large_a_small_b_log`` replace the
    continued fraction (float32 only; disjoint, the large-a form first)."""
    if x.dtype != jnp.float32:
        none = jnp.zeros(x.shape, bool)
        return none, none
    y = 1.0 - x
    z = (a + 0.5 * (b - 1.0)) * -jnp.log1p(-y)
    large_a = (b <= 1.0) & (a >= _LARGE_A) & (y <= _LARGE_A_Y) & (z >= _LARGE_A_Z)
    past_mean = x > (a + 1.0) / (a + b + 2.0)
    series = (b <= _SERIES_B) & (y <= _SERIES_Y) & (past_mean | (a * y <= _SERIES_AY))
    return series & ~large_a, large_a


def _log_and_value(head, tail):
    """(log r, r) for log r = head + tail (at most 0), r = e^head e^tail: a head such as -68 is
    not rounded with the tail (half a float32 ulp of 68 is 3.8e-6 of r). head None: 0."""
    if head is None:
        lr = jnp.minimum(tail, 0.0)
        return lr, jnp.exp(lr)
    lr = jnp.minimum(head + tail, 0.0)
    r = jnp.where(head > -80.0, jnp.exp(head) * jnp.exp(tail), jnp.exp(lr))
    return lr, jnp.minimum(r, 1.0)


def _betainc_logs(a, b, x, log_ab=None):
    """(log I_x(a, b), log(1 - I_x(a, b)), log density, I_x(a, b)) for a, b > 0, 0 < x < 1.

    The convergent side r (I itself, or 1 - I = I_{1-x}(b, a) past the mean) is computed as
    log r = log(prefactor) + log(fraction); the other side is log(1 - exp(log r)), so neither
    tail underflows before its logarithm does and 1 - r keeps full relative accuracy.
    ``log_ab``: optionally ``_log_a_beta_pair(a, b)``, computed once for many x.
    """
    swap, aa, bb, xx, lxx, lyy = _swap(a, b, x)
    lab = None if log_ab is None else jnp.where(swap, log_ab[1], log_ab[0])
    core = _stirling_core_float32(a, b, x) if x.dtype == jnp.float32 else None
    tail = _log_prefactor(aa, bb, xx, lxx, lyy, log_ab=lab, core=core)
    head = None if core is None else _core_head(a, b, core)
    lp = tail if head is None else head + tail
    series, large_a = _float32_regions(a, b, x)
    # r is the complement there (also where b < _SMALL_B), and I itself in the large-a region
    swap = (swap | series) & ~large_a
    # the fraction is not needed there: a point that ends it at once keeps the loop short
    tail = tail + jnp.log(_continued_fraction(aa, bb, jnp.where(series | large_a, 0.0, xx)))
    if x.dtype == jnp.float32:
        # (b <= 1 in both regions, so log_ab[1] is log(b B(b, a)) itself; computed once here
        # for both otherwise, with b = 1 where neither region applies)
        if log_ab is None:
            log_ba = _log_a_beta(jnp.where(series | large_a, b, 1.0), a)
        else:
            log_ba = log_ab[1]
        y = 1.0 - x
        tail = jnp.where(series, _complement_series(a, b, y, jnp.log1p(-x), log_ba), tail)
        tail = jnp.where(large_a, _large_a_small_b_log(a, b, y, log_ba), tail)
        if head is not None:  # float32: always
            head = jnp.where(series | large_a, 0.0, head)
    lr, r = _log_and_value(head, tail)
    lo = _log1mexp(lr)
    ldens = lp + jnp.log(aa) - lxx - lyy  # the density is symmetric under the swap
    value = jnp.where(swap, -jnp.expm1(lr), r)
    return jnp.where(swap, lo, lr), jnp.where(swap, lr, lo), ldens, value


def _betainc_interior_partials(a, b, x):
    """(I, dI/da, dI/db, dI/dx) for a, b > 0 and 0 < x < 1 (arrays of one common shape)."""
    swap, aa, bb, xx, lxx, lyy = _swap(a, b, x)
    core = _stirling_core_float32(a, b, x) if x.dtype == jnp.float32 else None
    tail, g = _log_prefactor(aa, bb, xx, lxx, lyy, grad=True, core=core)
    head = None if core is None else _core_head(a, b, core)
    lp = tail if head is None else head + tail
    series, large_a = _float32_regions(a, b, x)
    swap = (swap | series) & ~large_a
    h, lh = _continued_fraction_jvp(aa, bb, jnp.where(series | large_a, 0.0, xx), g)
    tail = tail + jnp.log(h)
    dlr = g + lh  # d log r / d(aa, bb)
    if x.dtype == jnp.float32:
        y, ly = 1.0 - x, jnp.log1p(-x)
        one, zero = jnp.ones_like(a), jnp.zeros_like(a)

        def with_partials(log_fn):
            value, d_a = jax.jvp(log_fn, (a, b), (one, zero))
            _, d_b = jax.jvp(log_fn, (a, b), (zero, one))
            return value, d_a, d_b

        # series: r is the complement (swap is True: (aa, bb) = (b, a)); large a: r is I
        ls, ls_a, ls_b = with_partials(lambda a_, b_: _complement_series(a_, b_, y, ly))
        lg, lg_a, lg_b = with_partials(lambda a_, b_: _large_a_small_b_log(a_, b_, y))
        tail = jnp.where(series, ls, jnp.where(large_a, lg, tail))
        if head is not None:  # float32: always
            head = jnp.where(series | large_a, 0.0, head)
        dlr = jnp.where(
            series, jnp.stack([ls_b, ls_a]), jnp.where(large_a, jnp.stack([lg_a, lg_b]), dlr)
        )
    lr, r = _log_and_value(head, tail)
    dr = r * dlr  # d r / d(aa, bb)
    value = jnp.where(swap, -jnp.expm1(lr), r)
    da = jnp.where(swap, -dr[1], dr[0])
    db = jnp.where(swap, -dr[0], dr[1])
    # the density x^(a-1) (1-x)^(b-1) / B(a, b) is symmetric under the swap
    dens = jnp.exp(lp + jnp.log(aa) - lxx - lyy)
    return value, da, db, dens


def _prepare(a, b, x):
    """Broadcast to one float dtype and shape; masks of valid and interior points; safe copies."""
    dt = _dtype_of(a, b, x)
    a, b, x = jnp.broadcast_arrays(*(jnp.asarray(v, dt) for v in (a, b, x)))
    valid = (a > 0) & (b > 0) & (x >= 0) & (x <= 1) & jnp.isfinite(a) & jnp.isfinite(b)
    interior = valid & (x > 0) & (x < 1)
    a_s = jnp.where(valid, a, 1.0)
    b_s = jnp.where(valid, b, 1.0)
    x_s = jnp.where(interior, x, 0.5)
    return a, b, x, valid, interior, a_s, b_s, x_s


def _subnormal_log(x):
    """(mask, log x) for positive subnormal x, read from the bits.

    XLA's CPU arithmetic flushes subnormal inputs to 0, so x = 3.7e-39 in float32 compares
    equal to 0 and log x is -inf; its bits still hold x = m 2^(emin - p + 1).
    """
    if x.dtype == jnp.float32:
        itype, mbits, low = jnp.int32, 23, -149
    else:
        itype, mbits, low = jnp.int64, 52, -1074
    bits = lax.bitcast_convert_type(x, itype)
    mant = bits & ((1 << mbits) - 1)
    sub = (bits > 0) & (bits == mant)  # sign and exponent bits zero, mantissa not
    lx = jnp.log(jnp.where(sub, mant, 1).astype(x.dtype)) + low * math.log(2.0)
    return sub, lx


def _subnormal_value(a, b, lx):
    """I_x(a, b) = x^a / (a B(a, b)) (1 + O(x)) at a subnormal x with log x = lx (a, b > 0);
    0 where a and b are both >= _BIG (x^a < 1e-380 underflows)."""
    big = (a >= _BIG) & (b >= _BIG)
    a_s, b_s = jnp.where(big, 1.0, a), jnp.where(big, 1.0, b)
    return jnp.exp(jnp.where(big, -jnp.inf, a_s * lx - _log_a_beta(a_s, b_s)))


def _subnormal_partials(a, b, lx):
    """(I, dI/da, dI/db, density) at a subnormal x with log x = lx (a, b > 0).

    I_x(a, b) = x^a / (a B(a, b)) (1 + O(x)); the density is x^(a-1) (1-x)^(b-1) / B(a, b).
    Where a and b are both >= _BIG the value underflows (x^a < 1e-380), and is 0.
    """
    big = (a >= _BIG) & (b >= _BIG)
    a_s, b_s = jnp.where(big, 1.0, a), jnp.where(big, 1.0, b)

    def log_value(a_, b_):
        return a_ * lx - _log_a_beta(a_, b_)

    one, zero = jnp.ones_like(a), jnp.zeros_like(a)
    lv, d_a = jax.jvp(log_value, (a_s, b_s), (one, zero))
    _, d_b = jax.jvp(log_value, (a_s, b_s), (zero, one))
    lv = jnp.where(big, -jnp.inf, lv)
    value = jnp.exp(lv)
    dens = jnp.exp(jnp.where(big, -jnp.inf, lv - lx + jnp.log(a_s)))
    return value, value * d_a, value * d_b, dens


def _finish(value, x, valid, interior):
    value = jnp.where(interior, value, jnp.where(x >= 1, 1.0, 0.0).astype(value.dtype))
    return jnp.where(valid, value, jnp.nan)


def _blocked(kernel, args, fill):
    """kernel(*args) evaluated over blocks of _INC_BLOCK elements, one block after another.

    A vectorised ``lax.while_loop`` runs until its slowest element is done, so one hard element
    sets the cost of all; over blocks, each block's loops stop at that block's own slowest
    element. The kernel works elementwise (every element's result depends on that element
    alone), so the values are the same as those of one call on all elements. The last block is
    padded with the benign point ``fill``.
    """
    shape = args[0].shape
    n = math.prod(shape)
    if n <= _INC_BLOCK:
        return kernel(*args)
    n_blocks = -(-n // _INC_BLOCK)
    pad = n_blocks * _INC_BLOCK - n
    flat = [v.reshape(-1) for v in args]
    blocks = tuple(
        jnp.concatenate([v, jnp.full((pad,), f, v.dtype)]).reshape(n_blocks, _INC_BLOCK)
        for v, f in zip(flat, fill, strict=True)
    )
    outs = lax.map(lambda xs: kernel(*xs), blocks)
    return tuple(o.reshape(-1)[:n].reshape(shape) for o in outs)


def _elementwise(kernel, fill=None):
    """Wrap an elementwise kernel (arrays of one shape -> tuple of such arrays) to run in blocks.

    Under ``vmap`` (e.g. ``vmap(grad(betainc))``) the batched arrays are passed to the blocked
    kernel whole, instead of batching the loops across all elements.
    """

    @jax.custom_batching.custom_vmap
    def run(*args):
        return kernel(*args) if fill is None else _blocked(kernel, args, fill)

    @run.def_vmap
    def _rule(axis_size, in_batched, *args):
        args = tuple(
            v if batched else jnp.broadcast_to(v, (axis_size, *v.shape))
            for v, batched in zip(args, in_batched, strict=True)
        )
        out = run(*args)
        return out, tuple(True for _ in out)

    return run


# --- betainc with its JVP -----------------------------------------------------------------------


_betainc_kernel = _elementwise(lambda a, b, x: (_betainc_interior(a, b, x),), (1.0, 1.0, 0.5))
_betainc_partials_kernel = _elementwise(_betainc_interior_partials, (1.0, 1.0, 0.5))


@jax.custom_jvp
def _betainc(a, b, x):
    a, b, x, valid, interior, a_s, b_s, x_s = _prepare(a, b, x)
    (value,) = _betainc_kernel(a_s, b_s, x_s)
    sub, lx = _subnormal_log(x)
    # a branch, so that inputs without a subnormal x (nearly all) skip its log Beta
    value = lax.cond(
        jnp.any(sub),
        lambda v: jnp.where(sub, _subnormal_value(a_s, b_s, lx), v),
        lambda v: v,
        value,
    )
    return _finish(value, x, valid, interior | sub)


def _betainc_partials(a, b, x):
    """(I, dI/da, dI/db, dI/dx), all of the broadcast shape."""
    a, b, x, valid, interior, a_s, b_s, x_s = _prepare(a, b, x)

    value, da, db, dens = _betainc_partials_kernel(a_s, b_s, x_s)
    sub, lx = _subnormal_log(x)

    def with_subnormal(parts):
        at_sub = _subnormal_partials(a_s, b_s, lx)
        return tuple(jnp.where(sub, s_, v) for s_, v in zip(at_sub, parts, strict=True))

    value, da, db, dens = lax.cond(
        jnp.any(sub), with_subnormal, lambda parts: parts, (value, da, db, dens)
    )
    interior = interior | sub
    value = _finish(value, x, valid, interior)
    nan = jnp.asarray(jnp.nan, a.dtype)
    da = jnp.where(valid, jnp.where(interior, da, 0.0), nan)
    db = jnp.where(valid, jnp.where(interior, db, 0.0), nan)
    # d/dx: the density; at the end points its limit (largest float where that limit is infinite)
    big = jnp.finfo(a.dtype).max
    at0 = jnp.where(a_s > 1, 0.0, jnp.where(a_s == 1, b_s, big))
    at1 = jnp.where(b_s > 1, 0.0, jnp.where(b_s == 1, a_s, big))
    dx = jnp.where(interior, dens, jnp.where(x >= 1, at1, at0))
    dx = jnp.where(valid, dx, nan)
    return value, da, db, dx


@_betainc.defjvp
def _betainc_jvp(primals, tangents):
    a, b, x = primals
    ta, tb, tx = tangents
    value, da, db, dx = _betainc_partials(a, b, x)
    tangent = da * ta + db * tb + dx * tx
    return value, tangent


@jax.jit
def betainc(a: ArrayLike, b: ArrayLike, x: ArrayLike) -> Float[Array, " ..."]:
    """Regularized incomplete beta I_x(a, b), differentiable in a, b and x.

    Args:
        a, b: shape parameters (> 0); x: the upper limit in [0, 1]. Any broadcastable shapes;
            the result has the broadcast shape and the common floating dtype (float32 unless
            x64 is enabled or float64 arrays are passed).

    Returns:
        I_x(a, b) = int_0^x t^(a-1) (1-t)^(b-1) dt / B(a, b). NaN (no error) for a <= 0, b <= 0
        or x outside [0, 1]; validate at the public boundary.

    Derivatives: d/dx is the Beta(a, b) density; d/da and d/db are exact derivatives of the
    continued fraction (see the module docstring for method and accuracy). First order only.
    """
    return _betainc(a, b, x)


# --- betaincinv ---------------------------------------------------------------------------------


def _initial_quantile(a, b, log_p, log_pc):
    """Starting point for I_x(a, b) = p, given log p and log(1 - p) (both to full accuracy).

    a, b >= 1: the normal approximation of Abramowitz-Stegun 26.5.22 (as in Numerical Recipes
    6.4); otherwise the power-law tails x^a/(a B) and 1 - (1-x)^b/(b B), solved in log space.
    """
    lmin = jnp.minimum(log_p, log_pc)
    t = jnp.sqrt(-2.0 * lmin)
    z = (2.30753 + t * 0.27061) / (1.0 + t * (0.99229 + t * 0.04481)) - t
    z = jnp.where(log_p < log_pc, -z, z)  # z > 0 in the lower tail: x = a/(a + b e^(2w))
    al = (z * z - 3.0) / 6.0
    a1, b1 = jnp.maximum(a, 1.0), jnp.maximum(b, 1.0)
    h = 2.0 / (1.0 / (2.0 * a1 - 1.0) + 1.0 / (2.0 * b1 - 1.0))
    w = z * jnp.sqrt(al + h) / h - (1.0 / (2.0 * b1 - 1.0) - 1.0 / (2.0 * a1 - 1.0)) * (
        al + 5.0 / 6.0 - 2.0 / (3.0 * h)
    )
    x_normal = a1 / (a1 + b1 * jnp.exp(2.0 * w))
    lna = jnp.log(a / (a + b))
    lnb = jnp.log(b / (a + b))
    log_tt = a * lna - jnp.log(a)
    log_u = b * lnb - jnp.log(b)
    log_ww = jnp.logaddexp(log_tt, log_u)
    x_lo = jnp.exp((jnp.log(a) + log_ww + log_p) / a)
    x_hi = -jnp.expm1((jnp.log(b) + log_ww + log_pc) / b)
    x_power = jnp.where(log_p < log_tt - log_ww, x_lo, x_hi)
    x0 = jnp.where((a >= 1) & (b >= 1), x_normal, x_power)
    return jnp.nan_to_num(x0, nan=0.5)


def _betaincinv_start(a, b, log_p, log_pc):
    """The loop state (done, t, lo, hi, last step, below) of ``_betaincinv_small`` at its start."""
    tiny = jnp.asarray(jnp.finfo(log_p.dtype).tiny, log_p.dtype)
    t0 = jnp.clip(_initial_quantile(a, b, log_p, log_pc), tiny, 0.5)
    return (
        jnp.zeros(log_p.shape, bool),
        t0,
        jnp.zeros_like(log_p),  # lo = 0: F at the smallest normal not yet seen
        jnp.ones_like(log_p),
        jnp.full_like(log_p, jnp.inf),
        jnp.zeros(log_p.shape, bool),
    )


def _betaincinv_small(a, b, log_p, log_pc, log_ab, state, it_from=0, it_to=_INV_MAX_ITER):
    """t in (0, 1) with I_t(a, b) = p (arrays of one shape); the caller arranges t <~ 1/2.

    Halley steps on u = log t for F(u) = log I_t - log p while p < 1/2, and for
    F(u) = log(1 - p) - log(1 - I_t) above (both increasing in u, close to linear in the
    power-law tails); F, F' and F'' come from log I, log(1 - I) and the log density (F''/F' =
    1 + t f'(t)/f(t) -+ F' needs no further evaluation), so nothing underflows where t is a
    normal float. The step is Newton's, du = -F/F', divided by 1 - F F''/(2 F'^2) where that
    factor lies in [1/2, 2] (Halley's method, cubic convergence), and Newton's elsewhere.
    Every evaluation tightens a bracket [lo, hi] (lo: F < 0 seen, hi: F > 0 seen; start [0, 1],
    read as [smallest normal, 1]: before stopping next to the smallest normal, F is evaluated
    there, so a root below it is reported as ``below``, never as a nearby normal t); a step that
    leaves the bracket, or does not at least halve the previous step, is replaced by a bisection
    of the bracket (geometric while it spans more than a factor 4), so the iterate is never
    thrown away and the bracket survives rounding.
    An element stops after a Halley step below eps^(1/3)/100 or a Newton step below
    sqrt(eps)/100 (the error left is of the order of its cube or square), when its bracket is
    within 4 ulp of t, or at F = 0; the loop ends when all have stopped (at most
    ``_INV_MAX_ITER`` steps).

    ``log_ab`` is ``_log_a_beta_pair(a, b)`` (computed once per inverse, not at every step).
    ``state`` is the loop state from ``_betaincinv_start`` (or from an earlier call); this call
    runs the loop's steps it_from .. it_to - 1 and returns the state after them. Its t and below:
    ``below`` marks elements whose root lies below the smallest normal float (F > 0 there); t is
    then the smallest normal float.
    """
    dt = log_p.dtype
    tiny = jnp.asarray(jnp.finfo(dt).tiny, dt)
    eps = jnp.finfo(dt).eps
    tol = 4.0 * eps
    # Newton converges quadratically: after an accepted step |du| the error is ~ |du|^2, so
    # a step below sqrt(eps)/100 is the last one needed (and rounding noise in F, ~eps |log p|,
    # would keep a test at 4 ulp from ever passing)
    newton_tol = 0.01 * math.sqrt(eps)
    # Halley converges cubically: after a step |du| the error is ~ |du|^3
    halley_tol = 0.01 * eps ** (1.0 / 3.0)
    upper_eq = log_pc < log_p  # p > 1/2: solve on log(1 - I)

    def evaluate(t):
        log_i, log_c, log_dens, _ = _betainc_logs(a, b, t, log_ab)
        f = jnp.where(upper_eq, log_pc - log_c, log_i - log_p)
        # dF/du = g = t f(t) / I or t f(t) / (1 - I)
        fprime = jnp.exp(jnp.log(t) + log_dens - jnp.where(upper_eq, log_c, log_i))
        # F''/F' = d log g / du = 1 + t f'(t)/f(t) -+ g, t f'/f = (a - 1) - (b - 1) t/(1 - t)
        curv = a - (b - 1.0) * (t / (1.0 - t)) + jnp.where(upper_eq, fprime, -fprime)
        return f, fprime, curv

    def body(carry):
        it, done, t, lo, hi, step_prev, below = carry
        f, fprime, curv = evaluate(t)
        lo_n = jnp.where(f < 0, t, lo)
        hi_n = jnp.where(f > 0, t, hi)
        below_n = (f > 0) & (t <= tiny)
        lo_eff = jnp.maximum(lo_n, tiny)  # no normal t lies below the smallest normal
        du = -f / fprime
        # Halley's correction of the Newton step where it is moderate (else Newton's step)
        denom = 1.0 + 0.5 * du * curv
        halley = (denom >= 0.5) & (denom <= 2.0)
        du = jnp.where(halley, du / jnp.where(halley, denom, 1.0), du)
        t_newton = t * jnp.exp(du)
        # a last (tiny) step is kept even where rounding puts it on the bracket's edge
        last = jnp.isfinite(du) & (jnp.abs(du) <= jnp.where(halley, halley_tol, newton_tol))
        under = t_newton < tiny
        t_newton = jnp.where(last, jnp.clip(t_newton, lo_eff, hi_n), t_newton)
        ok = last | (
            jnp.isfinite(t_newton)
            & (t_newton > lo_n)
            & (t_newton < hi_n)
            & (jnp.abs(du) <= 0.5 * step_prev)
        )
        geometric = hi_n > 4.0 * lo_eff
        t_bisect = jnp.where(geometric, jnp.sqrt(lo_eff) * jnp.sqrt(hi_n), 0.5 * (lo_eff + hi_n))
        t_new = jnp.where(ok, t_newton, t_bisect)
        step = jnp.where(ok, jnp.abs(du), jnp.abs(jnp.log(t_new) - jnp.log(t)))
        failed = ~jnp.isfinite(f)  # I not computable here (see betainc): the result is NaN
        # hi - lo <= tol hi, as a ratio: next to the smallest normal the difference and
        # tol hi are subnormal, which XLA's CPU arithmetic flushes to 0 (0 <= 0 would stop)
        ratio = hi_n / lo_eff
        narrow = ratio - 1.0 <= tol * ratio
        # about to stop next to the smallest normal, which was never evaluated: evaluate it
        # first (F > 0 there means the root is below it: ``below``, not a wrong normal t)
        floor_check = (lo_n == 0) & (t > tiny) & (narrow | (last & under)) & ~failed
        stop = ((f == 0) | below_n | failed | last | narrow) & ~floor_check
        t_new = jnp.where(stop & ~ok, t, t_new)  # a bisection is not taken once stopped
        t_new = jnp.where(floor_check, tiny, t_new)
        t_new = jnp.where(failed, jnp.nan, t_new)
        keep = done
        return (
            it + 1,
            done | stop,
            jnp.where(keep, t, t_new),
            jnp.where(keep, lo, lo_n),
            jnp.where(keep, hi, hi_n),
            jnp.where(keep, step_prev, step),
            jnp.where(keep, below, below_n),
        )

    def cond(carry):
        return (carry[0] < it_to) & ~jnp.all(carry[1])

    out = lax.while_loop(cond, body, (jnp.asarray(it_from, jnp.int32), *state))
    return out[1:]


def _betaincinv_setup(a, b, log_q, log_qc):
    """Which side to solve for, and the loop's inputs (see ``_betaincinv_interior``);
    log_q, log_qc = log q, log(1 - q)."""
    # solve for whichever of x, 1 - x the starting guess puts at or below 1/2 (so that it is
    # represented to full relative precision): for a guess above 1/2, x = 1 - y with
    # I_y(b, a) = 1 - q. In the tails the guess is on the right side; near 1/2 either side is
    # well conditioned, and the loop's bracket spans (0, 1), so a root on the other side of 1/2
    # is still found (as y > 1/2, x = 1 - y exactly).
    upper = _initial_quantile(a, b, log_q, log_qc) > 0.5
    lab = _log_a_beta_pair(a, b)  # once per inverse: the loop's evaluations reuse it
    return (
        jnp.where(upper, b, a),
        jnp.where(upper, a, b),
        jnp.where(upper, log_qc, log_q),
        jnp.where(upper, log_q, log_qc),
        jnp.where(upper, lab[1], lab[0]),
        jnp.where(upper, lab[0], lab[1]),
        upper,
    )


def _map_blocks(fn, args, fill):
    """fn(*args) over 1-d arrays, in blocks of _BLOCK elements (see ``_blocked``); flat results."""
    n = args[0].shape[0]
    if n <= _BLOCK:
        return fn(*args)
    n_blocks = -(-n // _BLOCK)
    pad = n_blocks * _BLOCK - n
    blocks = tuple(
        jnp.concatenate([v, jnp.full((pad,), f, v.dtype)]).reshape(n_blocks, _BLOCK)
        for v, f in zip(args, fill, strict=True)
    )
    outs = lax.map(lambda xs: fn(*xs), blocks)
    return tuple(o.reshape(-1)[:n] for o in outs)


def _running_first(running):
    """The stable order that puts the elements where ``running`` (1-d) first: new = old[order].

    A partition by one prefix sum (``associative_scan``, which XLA runs faster than ``cumsum``
    on CPU) and one scatter, O(n); an argsort of the mask does the same at O(n log n) and
    costs an order of magnitude more at 10^6 elements.
    """
    n = running.shape[0]
    index = jnp.arange(n, dtype=jnp.int32)
    at_run = lax.associative_scan(jnp.add, running.astype(jnp.int32)) - 1
    at_done = at_run[-1] + index - at_run  # n_running + (number of stopped ones up to here) - 1
    dest = jnp.where(running, at_run, at_done)
    return jnp.zeros(n, jnp.int32).at[dest].set(index, unique_indices=True)


def _in_phases(fn, args, state, fill, bounds, running):
    """Run a resumable elementwise loop over 1-d arrays in blocks, in phases; its final state.

    ``fn(lo, hi, *args, *state)`` continues the loop from ``state`` over its steps lo .. hi - 1
    (or until all its elements stop) and returns the new state. Phase k runs steps
    bounds[k] .. bounds[k + 1] - 1 over blocks of _BLOCK elements (``_map_blocks``, with the
    padding ``fill`` for args then state, which must be an element that has stopped); before
    each phase after the first, the elements still ``running(state)`` are gathered into the
    first blocks (``_running_first``), so that blocks of stopped elements cost one test. The
    phases run as one ``fori_loop``, so the loop body is compiled once. Every element takes the
    same steps as in a single loop over all of them; the result is in the original order.
    """
    n = args[0].shape[0]
    if n <= _BLOCK:
        return fn(bounds[0], bounds[-1], *args, *state)
    edges = jnp.asarray(bounds, jnp.int32)
    index = jnp.arange(n, dtype=jnp.int32)

    def gather(perm, args, state):
        order = _running_first(running(state))
        return perm[order], tuple(v[order] for v in args), tuple(v[order] for v in state)

    def one_phase(k, carry):
        perm, args, state = lax.cond(k > 0, gather, lambda *c: c, *carry)

        def block(*xs):
            return fn(edges[k], edges[k + 1], *xs)

        return perm, args, _map_blocks(block, (*args, *state), fill)

    perm, _, state = lax.fori_loop(0, len(bounds) - 1, one_phase, (index, args, tuple(state)))
    back = jnp.zeros(n, jnp.int32).at[perm].set(index, unique_indices=True)
    return tuple(v[back] for v in state)


def _betaincinv_interior(a_s, b_s, lq_s, lqc_s):
    """(x,) with I_x(a, b) = q for a, b > 0 and 0 < q < 1 given log q and log(1 - q) (arrays of
    one common shape; the logs, so that a subnormal q, read from its bits, keeps its value).

    The safeguarded Halley loop runs over blocks in phases (``_in_phases``): the steps up to
    the first of ``_INV_SPLITS`` for every element; at each split the elements that have not
    stopped are gathered into the first blocks, so that the few slow elements no longer hold
    every block in the loop. Each element takes the same steps as in one loop over all.
    """
    shape = lq_s.shape
    a, b, log_q, log_qc = (v.reshape(-1) for v in (a_s, b_s, lq_s, lqc_s))
    aa, bb, log_p, log_pc, lab0, lab1, upper = _betaincinv_setup(a, b, log_q, log_qc)
    state = _betaincinv_start(aa, bb, log_p, log_pc)
    stopped = (True, 0.25, 0.25, 0.25, 0.25, False)  # padding: an element that has stopped
    fill = (1.0, 1.0, math.log(0.25), math.log(0.75), 0.0, 0.0, *stopped)  # log(1 B(1, 1)) = 0

    def phase(it_from, it_to, a, b, log_p, log_pc, lab0, lab1, *state):
        return _betaincinv_small(a, b, log_p, log_pc, (lab0, lab1), state, it_from, it_to)

    bounds = (0, *_INV_SPLITS, _INV_MAX_ITER)
    args = (aa, bb, log_p, log_pc, lab0, lab1)
    state = _in_phases(phase, args, state, fill, bounds, lambda st: ~st[0])
    _, y, _, _, _, below = state
    y = jnp.where(below, 0.0, y)
    # where a + 1 or b + 1 rounds to itself the fraction's terms are rounding noise (see the
    # module docstring): no value, even where an evaluation happened to return a number
    y = jnp.where((aa + 1.0 == aa) | (bb + 1.0 == bb), jnp.nan, y)
    return (jnp.where(upper, 1.0 - y, y).reshape(shape),)


_betaincinv_kernel = _elementwise(_betaincinv_interior)


@jax.custom_jvp
def _betaincinv(a, b, q):
    a, b, q, valid, interior, a_s, b_s, q_s = _prepare(a, b, q)  # q plays the role of x
    dt = q.dtype
    # a subnormal q (XLA's CPU arithmetic reads it as 0) is read from its bits: its root can be
    # a normal float (q = 2e-42 at a = 1.15, b = 18.1 has x = 2.35e-38)
    sub, log_sub = _subnormal_log(q)
    interior = interior | sub
    log_q = jnp.where(sub, log_sub, jnp.log(q_s))
    log_qc = jnp.where(sub, 0.0, jnp.log1p(-q_s))
    (x,) = _betaincinv_kernel(a_s, b_s, log_q, log_qc)
    x = jnp.where(interior, x, jnp.where(q >= 1, 1.0, 0.0).astype(dt))
    return jnp.where(valid, x, jnp.nan)


@_betaincinv.defjvp
def _betaincinv_jvp(primals, tangents):
    a, b, q = primals
    ta, tb, tq = tangents
    x = _betaincinv(a, b, q)
    interior = (x > 0) & (x < 1)
    xs = jnp.where(interior, x, 0.5)
    _, ia, ib, dens = _betainc_partials(a, b, xs)
    # implicit function theorem on I(a, b, x) = q
    inv = jnp.where(interior, 1.0 / dens, 0.0)
    da = jnp.where(interior, -ia * inv, 0.0)
    db = jnp.where(interior, -ib * inv, 0.0)
    nan_mask = jnp.isnan(x)
    da, db, inv = (jnp.where(nan_mask, jnp.nan, v) for v in (da, db, inv))
    return x, da * ta + db * tb + inv * tq


@jax.jit
def betaincinv(a: ArrayLike, b: ArrayLike, q: ArrayLike) -> Float[Array, " ..."]:
    """Inverse of :func:`betainc` in x: the Beta(a, b) quantile, differentiable in a, b and q.

    Args:
        a, b: shape parameters (> 0); q: probability in [0, 1]; broadcastable shapes.

    Returns:
        x in [0, 1] with I_x(a, b) = q (q = 0 gives 0, q = 1 gives 1); NaN for invalid input.

    Method: a normal / power-tail starting guess, then safeguarded Halley steps on log x
    against log I (or log(1 - I) for the upper tail of the equation), until the step or the
    bracket is within 4 ulp (see ``_betaincinv_small``; over blocks, with the elements still
    running gathered between phases, see ``_betaincinv_interior``); solved for 1 - x by
    symmetry when the starting guess lies above 1/2, so that the smaller of x, 1 - x is found to
    full relative precision.

    Where the answer is not representable it is clamped, as follows: a root below the
    smallest normal float (x or 1 - x < ``finfo.tiny``) is returned as 0 (or 1); a root within
    half an ulp of 1 rounds to 1.

    Derivatives by the implicit function theorem: dx/dq = 1/f(x), dx/da = -(dI/da)/f(x),
    dx/db = -(dI/db)/f(x), f the Beta(a, b) density. At q = 0 or 1 all three are reported as 0
    (the true derivative in q there is 0 or infinite). First order only.
    """
    return _betaincinv(a, b, q)
