"""jaxmix.special: betainc / betaincinv values and derivatives, and law quantiles.

Reference: mpmath at 30 digits. Partials in a, b by ``mpmath.diff`` of the smaller tail
(``betainc(a, b, 0, x)`` or ``betainc(b, a, 0, 1 - x)``), so that derivatives of a value within
1e-30 of 1 are still resolved; d/dx is the closed-form density.

Tolerances (stated, not tuned):
- float64: value and every partial within 1e-9 relative; where the reference is below 1e-290
  in magnitude (at the float64 underflow limit) within 1e-290 absolute.
- float32: 1e-4 relative against the float64 implementation at the float32-rounded inputs
  (itself checked against mpmath above), where that reference exceeds 1e-30 in magnitude.
- Finite-difference checks (float64, central, h = 1e-6 relative): 1e-6 relative.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix
from jaxmix.special import betainc, betaincinv

mpmath = pytest.importorskip("mpmath")

PARAMS = [1e-3, 0.1, 0.5, 1.0, 1.5, 2.0, 3.0, 10.0, 100.0, 1e3]


def _xs(a, b):
    return [1e-6, 0.01, 0.3, a / (a + b), 0.5, 0.9, 1 - 1e-6]


GRID = np.array([(a, b, x) for a, b in itertools.product(PARAMS, PARAMS) for x in _xs(a, b)])


def _mp_reference(a, b, x):
    a, b, x = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(x)

    def lower(aa, bb):
        return mpmath.betainc(aa, bb, 0, x, regularized=True)

    def upper(aa, bb):  # 1 - I_x(a, b) = I_{1-x}(b, a); 1 - x is exact for a float x
        return mpmath.betainc(bb, aa, 0, 1 - x, regularized=True)

    value = lower(a, b)
    tail, sign = (lower, 1) if value < 0.5 else (upper, -1)
    if sign < 0:
        value = 1 - upper(a, b)
    da = sign * mpmath.diff(lambda t: tail(t, b), a)
    db = sign * mpmath.diff(lambda t: tail(a, t), b)
    dx = mpmath.exp((a - 1) * mpmath.log(x) + (b - 1) * mpmath.log1p(-x) - mpmath.log(mpmath.beta(a, b)))
    return [float(v) for v in (value, da, db, dx)]


@pytest.fixture(scope="module")
def reference():
    """(len(GRID), 4) array of I, dI/da, dI/db, dI/dx from mpmath (about 5 s, computed once)."""
    with mpmath.workdps(30):
        return np.array([_mp_reference(*row) for row in GRID])


# shared jitted transforms (compiled once per dtype and shape, reused across tests)
_VG = jax.jit(jax.vmap(jax.value_and_grad(betainc, argnums=(0, 1, 2))))
_GRAD = jax.jit(jax.grad(betainc, argnums=(0, 1, 2)))
_INV = jax.jit(betaincinv)


def _value_and_partials(a, b, x):
    """Through the public API: jit(vmap(value_and_grad)) in all three arguments."""
    value, (da, db, dx) = _VG(a, b, x)
    return np.stack([np.asarray(v, np.float64) for v in (value, da, db, dx)], axis=1)


def _rel_err(got, ref, atol):
    return np.abs(got - ref) / np.maximum(np.abs(ref), atol)


# --- betainc: accuracy ----------------------------------------------------------------------------


def test_betainc_float64_matches_mpmath(x64, reference):
    a, b, x = (jnp.asarray(GRID[:, i]) for i in range(3))
    got = _value_and_partials(a, b, x)
    err = _rel_err(got, reference, 1e-290)
    worst = err.max(axis=0)
    assert np.all(np.isfinite(got)), GRID[~np.all(np.isfinite(got), axis=1)]
    assert np.all(worst <= 1e-9), (worst, GRID[np.argmax(err, axis=0)])
    # the value-only path (no JVP) agrees with the value from the JVP rule to rounding
    v = np.asarray(jax.jit(betainc)(a, b, x))
    np.testing.assert_allclose(v, got[:, 0], rtol=1e-11, atol=1e-300)


def test_betainc_whole_number_parameters_exact(x64):
    """Closed forms at whole-number parameters (a = b = 1, x = 0.5 is where TFP is 8 % off):
    I_x(a, 1) = x^a gives d/da = x^a log x; I_x(1, b) = 1 - (1-x)^b gives d/db = -(1-x)^b log(1-x)."""
    g = _GRAD(1.0, 1.0, 0.5)
    np.testing.assert_allclose(g[0], 0.5 * np.log(0.5), rtol=1e-13)
    np.testing.assert_allclose(g[1], -0.5 * np.log(0.5), rtol=1e-13)
    np.testing.assert_allclose(g[2], 1.0, rtol=1e-13)
    da = _GRAD(2.0, 1.0, 0.3)[0]
    db = _GRAD(1.0, 3.0, 0.3)[1]
    np.testing.assert_allclose(da, 0.3**2 * np.log(0.3), rtol=1e-12)
    np.testing.assert_allclose(db, -(0.7**3) * np.log(0.7), rtol=1e-12)


def test_betainc_float32():
    """float32 inputs stay float32 and meet 1e-4 against float64 at the same (rounded) inputs
    where a, b >= 0.1; with a or b = 1e-3 the value 1 - I_{1-x}(b, a) cancels and float32
    reaches ~2e-3 (bound asserted: 1e-2)."""
    g32 = GRID.astype(np.float32)
    a, b, x = (jnp.asarray(g32[:, i]) for i in range(3))
    assert betainc(a, b, x).dtype == jnp.float32
    got = _value_and_partials(a, b, x)
    with jax.enable_x64(True):
        ref = _value_and_partials(*(jnp.asarray(g32[:, i], jnp.float64) for i in range(3)))
    keep = np.abs(ref) > 1e-30
    err = np.where(keep, _rel_err(got, ref, 1e-30), 0.0)
    assert np.all(np.isfinite(got[keep])), "float32 NaN/inf where the reference is representable"
    well = np.minimum(g32[:, 0], g32[:, 1]) >= 0.1
    assert np.all(err[well].max(axis=0) <= 1e-4), (err[well].max(axis=0),)
    assert np.all(err.max(axis=0) <= 1e-2), (err.max(axis=0), g32[np.argmax(err, axis=0)])


# --- betainc: edges, transforms ------------------------------------------------------------------


def test_betainc_edges(x64):
    grad = _GRAD
    assert betainc(0.5, 2.0, 0.0) == 0.0 and betainc(0.5, 2.0, 1.0) == 1.0
    for x in (0.0, 1.0):
        da, db, _ = grad(0.5, 2.0, x)
        assert da == 0.0 and db == 0.0
    # d/dx at the end points: the density's limit, the largest float where that is infinite
    assert grad(1.0, 3.0, 0.0)[2] == 3.0 and grad(2.0, 3.0, 0.0)[2] == 0.0
    assert grad(0.5, 3.0, 0.0)[2] == jnp.finfo(jnp.float64).max
    # so a zero tangent through a clip gives 0, not NaN
    assert jax.grad(lambda w: betainc(0.5, 0.5, jnp.clip(w, 0.0, 1.0)))(-0.3) == 0.0
    # invalid arguments: NaN (inside traced code these functions do not raise)
    bad = _VG(jnp.array([-1.0, 1.0, 1.0, 0.0]), jnp.array([1.0, 1.0, 1.0, 1.0]),
              jnp.array([0.5, 1.5, -0.1, 0.5]))
    assert all(np.all(np.isnan(v)) for v in jax.tree_util.tree_leaves(bad))


def test_betainc_broadcasting_and_vmap():
    a = jnp.array([[0.5], [2.0]])
    b = jnp.array([1.0, 3.0, 10.0])
    out = betainc(a, b, 0.3)
    assert out.shape == (2, 3)
    v = jax.vmap(jax.vmap(betainc, (None, 0, None)), (0, None, None))(a[:, 0], b, 0.3)
    np.testing.assert_allclose(out, v, rtol=1e-6)


def test_betainc_no_recompilation():
    traces = []

    @jax.jit
    def f(a, b, x):
        traces.append(1)
        return jax.grad(betainc, argnums=(0, 1, 2))(a, b, x)

    f(1.0, 2.0, 0.3)
    f(2.5, 0.7, 0.9)
    assert len(traces) == 1
    before = betainc._cache_size()
    betainc(jnp.float32(1.0), jnp.float32(2.0), jnp.float32(0.3))
    mid = betainc._cache_size()
    betainc(jnp.float32(3.0), jnp.float32(0.2), jnp.float32(0.6))
    assert betainc._cache_size() == mid >= before


# --- betaincinv ---------------------------------------------------------------------------------

QS = [1e-10, 1e-3, 0.1, 0.5, 0.9, 0.999, 1 - 1e-10]
QGRID = np.array([(a, b, q) for a, b in itertools.product(PARAMS, PARAMS) for q in QS])


def test_betaincinv_round_trip(x64):
    """I(I^{-1}(q)) = q up to the rounding of x (ulp(x) * density) and of I itself.

    Roots below the smallest normal float (Beta(1e-3, .) quantiles) are returned as 0; that is
    checked too (I at the smallest normal float exceeds q).
    """
    a, b, q = (jnp.asarray(QGRID[:, i]) for i in range(3))
    x = _INV(a, b, q)
    assert np.all((np.asarray(x) >= 0) & (np.asarray(x) <= 1))
    back, (_, _, dens) = _VG(a, b, x)
    back, dens = np.asarray(back), np.minimum(np.asarray(dens), 1e300)
    qn = QGRID[:, 2]
    tol = 1e-12 * np.minimum(qn, 1 - qn) + 4 * dens * np.spacing(np.asarray(x)) + 1e-14
    underflow = (np.asarray(x) == 0) & (np.asarray(betainc(a, b, jnp.finfo(jnp.float64).tiny)) > qn)
    ok = (np.abs(back - qn) <= tol) | underflow
    assert ok.all(), QGRID[~ok][:5]
    # and the other way round where x is well conditioned
    xs = np.tile([0.05, 0.3, 0.5, 0.7, 0.95], 4)
    aa = np.repeat([0.5, 2.0, 1.0, 30.0], 5)
    bb = np.repeat([0.5, 3.0, 1.0, 7.0], 5)
    qq = np.asarray(_VG(jnp.asarray(aa), jnp.asarray(bb), jnp.asarray(xs))[0])
    # one call (one compile): the round trips, then q = 0, q = 1 and two invalid points
    out = _INV(np.r_[aa, 2.0, 2.0, 2.0, -2.0], np.r_[bb, 3.0, 3.0, 3.0, 3.0], np.r_[qq, 0.0, 1.0, 1.5, 0.5])
    np.testing.assert_allclose(out[:-4], xs, rtol=1e-12)
    ends = out[-4:]
    assert ends[0] == 0.0 and ends[1] == 1.0 and np.all(np.isnan(ends[2:]))


def test_betaincinv_derivatives_vs_finite_differences(x64):
    pts = np.array([(0.5, 0.5, 0.3), (2.0, 3.0, 0.7), (1.0, 1.0, 0.5), (0.1, 2.0, 0.9),
                    (30.0, 7.0, 0.2), (1.5, 100.0, 0.5)])
    a, b, q = (jnp.asarray(pts[:, i]) for i in range(3))
    grads = jax.jit(jax.vmap(jax.grad(betaincinv, argnums=(0, 1, 2))))(a, b, q)
    f = _INV
    for k, g in enumerate(grads):
        h = 1e-6 * (pts[:, k] if k < 2 else np.minimum(pts[:, k], 1 - pts[:, k]))
        e = np.zeros((3, len(pts)))
        e[k] = h
        fd = (f(a + e[0], b + e[1], q + e[2]) - f(a - e[0], b - e[1], q - e[2])) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=1e-6)
    # implicit function theorem, exactly: dx/dq = 1/f(x)
    x = f(a, b, q)
    dens = _VG(a, b, x)[1][2]
    np.testing.assert_allclose(grads[2] * dens, 1.0, rtol=1e-12)


def test_betaincinv_float32():
    a = jnp.asarray([0.5, 2.0, 1.0, 30.0], jnp.float32)
    b = jnp.asarray([0.5, 3.0, 1.0, 7.0], jnp.float32)
    q = jnp.asarray([0.3, 0.7, 0.5, 0.2], jnp.float32)
    x = betaincinv(a, b, q)
    assert x.dtype == jnp.float32
    np.testing.assert_allclose(betainc(a, b, x), q, rtol=1e-5)


# --- laws: quantile, and every method differentiable in every parameter --------------------------

P0 = np.array([2.0, 3.0, 0.2, 0.1])  # EpBeta(alpha, beta, eps0, eps1)


def _law_values(p):
    """(partial_moment(1, 0.5), cdf(0.4), quantile(0.3), moment(2)) of EpBeta(*p)."""
    law = jaxmix.EpBeta(*p)
    return jnp.stack([law.partial_moment(1, 0.5), law.cdf(0.4), law.quantile(0.3), law.moment(2)])


def test_epbeta_methods_jvp_vs_finite_differences(x64):
    """optimistix-style check: for partial_moment, cdf, quantile and moment, the derivative in
    (alpha, beta, eps0, eps1) along coordinate and random directions equals central differences;
    under jit (reverse mode, jacrev) and under vmap over a batch of parameter points."""
    f = jax.jit(_law_values)
    jac = jax.jit(jax.jacrev(_law_values))
    rng = np.random.default_rng(0)
    points = np.stack([P0, [0.7, 0.9, 0.05, 0.3], [5.0, 1.0, 0.25, 0.25]])
    h = 1e-6
    for p in points:
        j = np.asarray(jac(jnp.asarray(p)))
        for v in [np.eye(4)[i] for i in range(4)] + [rng.normal(size=4)]:
            fd = (f(jnp.asarray(p + h * v)) - f(jnp.asarray(p - h * v))) / (2 * h)
            np.testing.assert_allclose(j @ v, fd, rtol=1e-6, atol=1e-10)
    batched = jax.jit(jax.vmap(jax.jacrev(_law_values)))(jnp.asarray(points))
    np.testing.assert_allclose(batched[0], jac(jnp.asarray(P0)), rtol=1e-12)


def test_quantiles_of_every_law():
    beta = jaxmix.Beta(2.0, 3.0)
    ep = jaxmix.EpBeta(2.0, 3.0, 0.2, 0.1)
    uni = jaxmix.Uniform(-1.0, 3.0)
    q = jnp.asarray([0.0, 0.1, 0.5, 0.9, 1.0])
    for law in (beta, ep, uni):
        w = law.quantile(q)
        lo, hi = law.support
        np.testing.assert_allclose(w[0], lo, atol=1e-6)
        np.testing.assert_allclose(w[-1], hi, atol=1e-6)
        np.testing.assert_allclose(law.cdf(w), q, atol=1e-5)
    np.testing.assert_allclose(ep.quantile(q), 1.3 * beta.quantile(q) - 0.2, rtol=1e-6, atol=1e-7)
    g = jax.grad(lambda lo, hi: jaxmix.Uniform(lo, hi).quantile(0.25), argnums=(0, 1))(0.0, 2.0)
    np.testing.assert_allclose(g, (0.75, 0.25))
    with pytest.raises(ValueError, match="q must be a probability"):
        ep.quantile(1.2)
    with pytest.raises(ValueError, match="q must be a probability"):
        uni.quantile(jnp.nan)
