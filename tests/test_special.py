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
    dx = mpmath.exp(
        (a - 1) * mpmath.log(x) + (b - 1) * mpmath.log1p(-x) - mpmath.log(mpmath.beta(a, b))
    )
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
    I_x(a, 1) = x^a gives d/da = x^a log x;
    I_x(1, b) = 1 - (1-x)^b gives d/db = -(1-x)^b log(1-x)."""
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
    bad = _VG(
        jnp.array([-1.0, 1.0, 1.0, 0.0]),
        jnp.array([1.0, 1.0, 1.0, 1.0]),
        jnp.array([0.5, 1.5, -0.1, 0.5]),
    )
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
    cache_size = betainc._cache_size  # pyright: ignore[reportAttributeAccessIssue]
    before = cache_size()
    betainc(jnp.float32(1.0), jnp.float32(2.0), jnp.float32(0.3))
    mid = cache_size()
    betainc(jnp.float32(3.0), jnp.float32(0.2), jnp.float32(0.6))
    assert cache_size() == mid >= before


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
    out = _INV(
        np.r_[aa, 2.0, 2.0, 2.0, -2.0], np.r_[bb, 3.0, 3.0, 3.0, 3.0], np.r_[qq, 0.0, 1.0, 1.5, 0.5]
    )
    np.testing.assert_allclose(out[:-4], xs, rtol=1e-12)
    ends = out[-4:]
    assert ends[0] == 0.0 and ends[1] == 1.0 and np.all(np.isnan(ends[2:]))


def test_betaincinv_derivatives_vs_finite_differences(x64):
    pts = np.array(
        [
            (0.5, 0.5, 0.3),
            (2.0, 3.0, 0.7),
            (1.0, 1.0, 0.5),
            (0.1, 2.0, 0.9),
            (30.0, 7.0, 0.2),
            (1.5, 100.0, 0.5),
        ]
    )
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


# --- external reference data: Boost's incomplete-beta sets (shipped inside scipy) -----------------
#
# Columns of the ibeta sets: a, b, x, B_x(a, b), B^c_x(a, b), I_x(a, b), 1 - I_x(a, b); of
# ibeta_inv: a, b, p, x with I_x(a, b) = p, x with 1 - I_x(a, b) = p.


def _boost(name):
    import os

    import scipy

    path = os.path.join(os.path.dirname(scipy.__file__), "special", "tests", "data", "boost.npz")
    if not os.path.exists(path):
        pytest.skip("scipy's Boost test data (special/tests/data/boost.npz) is not installed")
    with np.load(path) as data:
        return np.asarray(data[f"{name}_data_ipp-{name}_data"], np.float64)


BOOST_SETS = ["ibeta", "ibeta_int", "ibeta_small", "ibeta_large"]


@pytest.mark.parametrize("name", BOOST_SETS)
def test_betainc_boost_float64(name, x64):
    """Every point of Boost's set within 1e-12 relative (absolute 1e-300 below that)."""
    data = _boost(name)
    a, b, x, ref = data[:, 0], data[:, 1], data[:, 2], data[:, 5]
    got = np.asarray(jax.jit(betainc)(a, b, x))
    err = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)
    assert err.max() <= 1e-12, (err.max(), data[np.argmax(err), :3])


@pytest.mark.parametrize("name", ["ibeta", "ibeta_int", "ibeta_small"])
def test_betainc_boost_float32(name):
    """float32, a + b <= 200: against scipy (float64) at the float32-rounded inputs, where that
    reference exceeds 1e-30: 1e-5 relative on each set (ibeta had 4 of its 454 such points in
    (1e-5, 1.7e-5], deep tails where log I ~ -30 carried the float32 rounding of a log(x/x0),
    before the log prefactor was summed in float32 pairs)."""
    import scipy.special as sc

    data = _boost(name)
    keep = data[:, 0] + data[:, 1] <= 200
    a, b, x = (data[keep, i].astype(np.float32) for i in range(3))
    got = np.asarray(jax.jit(betainc)(a, b, x), np.float64)
    ref = sc.betainc(a.astype(np.float64), b.astype(np.float64), x.astype(np.float64))
    big = ref > 1e-30
    err = np.abs(got[big] - ref[big]) / ref[big]
    assert err.max() <= 1e-5, (err.max(), name)


def test_betaincinv_boost_float64(x64):
    """Boost's ibeta_inv: x within 2e-11 relative (the set reaches x ~ 1e-300 and a, b ~ 4e5;
    scipy itself is 2e-12 off there); where Boost's root is below the smallest normal float
    (0 or subnormal), 0 as documented."""
    data = _boost("ibeta_inv")
    a, b, p, ref = data[:, 0], data[:, 1], data[:, 2], data[:, 3]
    got = np.asarray(_INV(a, b, p))
    zero = ref < np.finfo(np.float64).tiny
    assert np.all(got[zero] == 0.0)
    err = np.abs(got[~zero] - ref[~zero]) / ref[~zero]
    assert err.max() <= 2e-11, (err.max(), data[~zero][np.argmax(err)])


# --- betaincinv: tails, rounding, agreement of jit and eager --------------------------------------

ISSUE_INVERSES = [  # (a, b, q, x) with x from mpmath at 40 digits
    (1000.0, 2.0, 1e-20, 0.9512690639556854),
    (0.08503576897151525, 0.33812402256340646, 0.7835798450859665, 0.3888505975908743),
    (1.095665833733188, 195.43350756751198, 8.371868020529779e-293, 1.4158612897406695e-269),
]


@pytest.mark.parametrize("a, b, q, x", ISSUE_INVERSES)
def test_betaincinv_hard_points(a, b, q, x, x64):
    """A q far below I_{1/2}'s complement (no 1 - q), a rounding-level Newton step at the bracket,
    a root at 1e-269 (a normal float): each within 1e-13, under jit and without."""
    got = float(_INV(a, b, q))
    with jax.disable_jit():
        eager = float(betaincinv(a, b, q))
    assert got == pytest.approx(x, rel=1e-13)
    assert eager == pytest.approx(x, rel=1e-13)


def _mp_brackets(a, b, q, x, rel):
    """mpmath (40 digits): I at x (1 - rel) and x (1 + rel) lie on either side of q."""
    with mpmath.workdps(40):
        a, b, q, xm = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(q), mpmath.mpf(x)
        lo = mpmath.betainc(a, b, 0, xm * (1 - rel), regularized=True)
        hi = mpmath.betainc(a, b, 0, min(xm * (1 + rel), 1), regularized=True)
        return lo <= q <= hi


def _mp_brackets_upper(a, b, qc, x, rel):
    """mpmath: with y = 1 - x and d = max(rel y, 2 ulp(x)) (x near 1 carries 1 - x only to
    an ulp of 1), 1 - I_x(a, b) = I_y(b, a) at y - d and y + d lies on either side of qc."""
    step = 2 * float(np.spacing(x))
    with mpmath.workdps(40):
        a, b, qc = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(qc)
        y = 1 - mpmath.mpf(x)
        d = max(y * rel, mpmath.mpf(step))
        lo = mpmath.betainc(b, a, 0, max(y - d, 0), regularized=True)
        hi = mpmath.betainc(b, a, 0, y + d, regularized=True)
        return lo <= qc <= hi


def test_betaincinv_tails_against_mpmath(x64):
    """Both tails, q down to 1e-300 and 1 - q down to 1e-16: the returned x (or 1 - x) brackets
    the root to 1e-12 relative by mpmath's I; the lower tail via q, the upper via 1 - q."""
    params = [(0.5, 0.5), (2.0, 3.0), (0.1, 10.0), (30.0, 0.7), (100.0, 5.0), (1000.0, 2.0)]
    qs = [1e-300, 1e-100, 1e-20, 1e-8]
    pts = np.array([(a, b, q) for a, b in params for q in qs])
    x = np.asarray(_INV(pts[:, 0], pts[:, 1], pts[:, 2]))
    for (a, b, q), xi in zip(pts, x, strict=True):
        if xi == 0.0:  # root below the smallest normal float: check that I there exceeds q
            assert float(betainc(a, b, np.finfo(np.float64).tiny)) >= q
            continue
        assert _mp_brackets(a, b, q, xi, 1e-12), (a, b, q, xi)
    # upper tail: q = 1 - qc with qc exactly representable as 1 - q
    qcs = [2.0**-20, 2.0**-40, 2.0**-52]
    pts = np.array([(a, b, qc) for a, b in params for qc in qcs])
    x = np.asarray(_INV(pts[:, 0], pts[:, 1], 1.0 - pts[:, 2]))
    for (a, b, qc), xi in zip(pts, x, strict=True):
        if xi == 1.0:
            # 1 - x below half an ulp of 1: not representable, rounds to 1
            assert float(betaincinv(b, a, qc)) < np.finfo(np.float64).epsneg
            continue
        assert _mp_brackets_upper(a, b, qc, xi, 1e-10), (a, b, qc, xi)


def test_betaincinv_random_round_trip(x64):
    """20000 random points with a, b in [0.05, 3]: I(x) = q to the rounding of x and of I, and
    within 1e-12 of scipy where x is well conditioned."""
    rng = np.random.default_rng(0)
    a, b, q = rng.uniform(0.05, 3, 20000), rng.uniform(0.05, 3, 20000), rng.uniform(0, 1, 20000)
    x = np.asarray(_INV(a, b, q))
    back, dens = (
        np.asarray(v)
        for v in jax.jit(
            lambda a, b, x: (betainc(a, b, x), jax.vmap(jax.grad(betainc, 2))(a, b, x))
        )(a, b, x)
    )
    tol = 1e-13 * np.minimum(q, 1 - q) + 4 * np.minimum(dens, 1e300) * np.spacing(x) + 1e-300
    bad = np.abs(back - q) > tol
    assert not bad.any(), (bad.sum(), np.c_[a, b, q][bad][:5])


def test_betaincinv_jit_and_eager_agree(x64):
    rng = np.random.default_rng(1)
    a = np.exp(rng.uniform(np.log(0.05), np.log(200), 40))
    b = np.exp(rng.uniform(np.log(0.05), np.log(200), 40))
    q = np.concatenate([rng.uniform(0, 1, 30), 10.0 ** -rng.uniform(5, 250, 10)])
    jitted = np.asarray(_INV(a, b, q))
    with jax.disable_jit():
        eager = np.asarray(betaincinv(a, b, q))
    np.testing.assert_allclose(eager, jitted, rtol=1e-13, atol=0)


def test_betaincinv_float32_tails_and_random():
    """float32: Beta(100, 5) at q = 1e-9 (the issue's 0.5), and 20000 log-uniform a, b in
    [0.1, 100] against scipy to 1e-4 relative in min(x, 1 - x) plus 2 ulp of x."""
    import scipy.special as sc

    x = betaincinv(jnp.float32(100.0), jnp.float32(5.0), jnp.float32(1e-9))
    assert x.dtype == jnp.float32
    assert float(x) == pytest.approx(0.734370621180201, rel=1e-5)
    rng = np.random.default_rng(2)
    a, b = (np.exp(rng.uniform(np.log(0.1), np.log(100), 20000)).astype(np.float32) for _ in "ab")
    q = rng.uniform(0, 1, 20000).astype(np.float32)
    got = np.asarray(jax.jit(betaincinv)(a, b, q), np.float64)
    ref = sc.betaincinv(a.astype(np.float64), b.astype(np.float64), q.astype(np.float64))
    tol = 1e-4 * np.minimum(ref, 1 - ref) + 2 * np.spacing(np.float32(ref)).astype(np.float64)
    tol = np.maximum(tol, np.finfo(np.float32).tiny)
    bad = np.abs(got - ref) > tol
    assert not bad.any(), (bad.sum(), np.c_[a, b, q][bad][:5])


def test_betaincinv_not_computable_is_nan():
    """float32 Beta(1e8, 1e8): the fraction cannot be evaluated (a + 1 rounds to a): NaN, never
    the starting guess 1/2."""
    assert np.isnan(float(betaincinv(jnp.float32(1e8), jnp.float32(1e8), jnp.float32(0.3))))
    assert np.isnan(float(betainc(jnp.float32(1e8), jnp.float32(1e8), jnp.float32(0.5))))


def test_betaincinv_starting_guess_is_on_the_side_of_the_root(x64):
    """For a, b >= 1 the normal starting guess (Abramowitz-Stegun 26.5.22) x0 and 1 - x0 lie
    within a factor e^0.5 of the root x and of 1 - x on a grid of q in both tails (scipy's
    betaincinv as the oracle; the largest factor seen is e^0.44, at a = 1.5, q = 1e-3). The
    inverse picks its side (x or 1 - x) from this guess, so a guess mirrored about 1/2 would
    solve the wrong side."""
    from jaxmix.special import _initial_quantile

    grid = np.array(
        [
            (a, b, q)
            for a in (1.5, 3.0, 10.0, 60.0)
            for b in (2.0, 7.0, 40.0)
            for q in (1e-3, 0.1, 0.3, 0.8, 0.99)
        ]
    )
    a, b, q = grid.T
    scipy_special = pytest.importorskip("scipy.special")
    root = scipy_special.betaincinv(a, b, q)
    guess = np.asarray(_initial_quantile(jnp.asarray(a), jnp.asarray(b), jnp.log(q), jnp.log1p(-q)))
    err = np.maximum(np.abs(np.log(guess / root)), np.abs(np.log((1 - guess) / (1 - root))))
    bad = err > 0.5
    assert not bad.any(), np.c_[grid, guess, root][bad][:5]


# --- betainc: small b past the mean (no 1 - complement), float32 and derivatives ------------------


def test_betainc_float32_random_points_within_stated_bound():
    """The module's float32 bounds off Boost's sets (a, b log-uniform in [0.1, 100], a + b <= 200,
    x uniform; scipy in float64 at the float32-rounded inputs): 1e-5 relative where I > 1e-30.
    Before float32's own log Gamma, the small-b forms and the log prefactor in float32 pairs,
    the worst points reached 2.2e-5 with I >= 1e-3 (b ~ 0.2, x near 1, I ~ 0.05; b near 10)
    and 2.6e-5 in the deep tails (I ~ 1e-30, a, b >= 10)."""
    from scipy import special as sc

    rng = np.random.default_rng(20261201)
    n = 40_000
    a, b = (10 ** rng.uniform(-1, 2, (2, n))).astype(np.float32)
    x = rng.uniform(0, 1, n).astype(np.float32)
    got = np.asarray(jax.jit(betainc)(a, b, x), np.float64)
    ref = sc.betainc(a.astype(np.float64), b.astype(np.float64), x.astype(np.float64))
    keep = (ref > 1e-30) & (a.astype(np.float64) + b <= 200)
    rel = np.abs(got[keep] - ref[keep]) / ref[keep]
    worst = np.argmax(rel)
    assert rel[worst] <= 1e-5, (rel[worst], a[keep][worst], b[keep][worst], x[keep][worst])


def test_betainc_float32_small_b_near_one_within_stated_bound():
    """b in [0.03, 1], x near 1 with I in [1e-4, 0.3] (x from scipy's float64 quantile): within
    1e-5 in float32. I = 1 - I_{1-x}(b, a) cancelled there (6.6e-5 at a = 179, b = 0.030,
    x = 0.99842, through the direct fraction; 4.4e-5 for b in [0.05, 0.1]), and near the mean
    the direct fraction lost 1.7e-5 (a = 195.4, b = 0.1233, x = 0.9885)."""
    from scipy import special as sc

    rng = np.random.default_rng(11)
    n = 40_000
    a = (10 ** rng.uniform(-1, np.log10(199), n)).astype(np.float32)
    b = (10 ** rng.uniform(np.log10(0.03), 0, n)).astype(np.float32)
    q = 10 ** rng.uniform(-4, np.log10(0.3), n)
    x = sc.betaincinv(a.astype(np.float64), b.astype(np.float64), q).astype(np.float32)
    keep = (x > np.finfo(np.float32).tiny) & (x < 1) & (a.astype(np.float64) + b <= 200)
    a, b, x = a[keep], b[keep], x[keep]
    got = np.asarray(jax.jit(betainc)(a, b, x), np.float64)
    ref = sc.betainc(a.astype(np.float64), b.astype(np.float64), x.astype(np.float64))
    rel = np.abs(got - ref) / ref
    assert rel.max() <= 1e-5, (rel.max(), a[rel.argmax()], b[rel.argmax()], x[rel.argmax()])
    pts = [(179.0, 0.03028, 0.99842), (29.908745, 0.22922641, 0.96298033), (195.4, 0.1233, 0.9885)]
    for p in pts:
        p32 = np.asarray(p, np.float32)
        got = float(betainc(*p32))
        assert got == pytest.approx(sc.betainc(*p32.astype(np.float64)), rel=1e-5), p


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_betainc_subnormal_x_read_from_its_bits(dtype, x64):
    """A subnormal x is not 0: I_x(0.1, 0.5) at x = 3.7e-39 (float32) is 1.27e-4, and XLA's CPU
    arithmetic read x as 0 (value 0, derivatives 0). Values and a, b partials against scipy
    (central differences in float64)."""
    from scipy import special as sc

    tiny = np.finfo(dtype).tiny
    xs = np.array([0.3 * tiny, 1e-3 * tiny], dtype)
    for a, b in [(0.1, 0.5), (0.5, 2.0), (0.05, 30.0)]:
        got = np.asarray(betainc(dtype(a), dtype(b), xs), np.float64)
        ref = sc.betainc(a, b, xs.astype(np.float64))
        np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == np.float32 else 1e-12)
        ga, gb = jax.vmap(jax.grad(betainc, argnums=(0, 1)), (None, None, 0))(
            dtype(a), dtype(b), xs
        )
        for k, g in enumerate((ga, gb)):
            h = 1e-6
            e = np.array([h, 0.0]) if k == 0 else np.array([0.0, h])
            xf = xs.astype(np.float64)
            fd = (sc.betainc(a + e[0], b + e[1], xf) - sc.betainc(a - e[0], b - e[1], xf)) / (2 * h)
            np.testing.assert_allclose(np.asarray(g, np.float64), fd, rtol=1e-4)
    # a, b >= 10: x^a underflows, the value is 0 (not NaN)
    assert float(betainc(dtype(12.0), dtype(15.0), xs[0])) == 0.0


def test_betainc_small_b_float32_issue_point():
    """float32 I_x(5.3057, 0.00351) at x = 0.8695 was 1.5e-3 off (1 - I_{1-x}(b, a) cancelled)."""
    got = float(
        betainc(
            jnp.float32(5.305716514587402),
            jnp.float32(0.003509846981614828),
            jnp.float32(0.8695261478424072),
        )
    )
    assert got == pytest.approx(0.00138191829, rel=1e-5)


def test_betainc_small_b_derivatives_vs_finite_differences(x64):
    """The JVP rule on the branch that evaluates I_x(a, b) directly past the mean (small b)."""
    pts = np.array([(5.3, 0.0035, 0.8695), (18.0, 1e-4, 0.97), (0.5, 0.01, 0.99), (4.0, 0.03, 0.5)])
    a, b, x = (jnp.asarray(pts[:, i]) for i in range(3))
    grads = jax.jit(jax.vmap(jax.grad(betainc, argnums=(0, 1, 2))))(a, b, x)
    f = jax.jit(betainc)
    for k, g in enumerate(grads):
        h = 1e-6 * pts[:, k]
        e = np.zeros((3, len(pts)))
        e[k] = h
        fd = (f(a + e[0], b + e[1], x + e[2]) - f(a - e[0], b - e[1], x - e[2])) / (2 * h)
        np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_log_beta_helpers_autodiff_at_equal_parameters(x64):
    """log B and the log prefactor order (a, b) as (lo, hi); at a == b, autodiff through that
    ordering must give the one derivative of the smooth function (min/max split it in half and
    gave -0.110 instead of -0.360 for d/da log[x^a (1-x)^b / (a B(a, b))] at (2, 2, 1/2)).
    Oracle: digamma closed forms (scipy)."""
    from scipy import special as sp

    from jaxmix import special

    for a, x in ((2.0, 0.5), (0.3, 0.2), (7.5, 0.9)):
        lx, ly = np.log(x), np.log1p(-x)
        want_a = lx - 1.0 / a - (sp.digamma(a) - sp.digamma(2 * a))  # d/da at b = a
        want_b = ly - (sp.digamma(a) - sp.digamma(2 * a))
        got = jax.grad(
            lambda a_, b_, x=x, lx=lx, ly=ly: special._log_prefactor(a_, b_, x, lx, ly), (0, 1)
        )(a, a)
        np.testing.assert_allclose(got, (want_a, want_b), rtol=1e-12)
        got_lb = jax.grad(lambda a_, b_: special._log_beta_small(a_, b_), (0, 1))(a, a)
        want_lb = sp.digamma(a) - sp.digamma(2 * a)
        np.testing.assert_allclose(got_lb, (want_lb, want_lb), rtol=1e-12)


@pytest.mark.slow  # about a minute: compiles betainc, its gradient and betaincinv at three sizes
def test_blocked_evaluation_agrees_with_calls_below_one_block(x64):
    """Inputs larger than one block run the loops block by block (and betaincinv gathers the
    elements still running between its phases); the values equal those of calls on pieces
    smaller than a block, to rounding: betainc and its vmap(grad) within 1e-12 relative,
    betaincinv within 1e-12 relative in min(x, 1 - x), for a 1-d and a 2-d shape, with
    lower-tail x and q down to 1e-200 among them (the slow elements). Not bitwise: XLA's
    vectorised and scalar code paths round differently, so even an unblocked evaluation
    differs at rounding level between array sizes."""
    from jaxmix import special

    # pieces below one block of either loop; the whole spans more than one block of each
    # (betainc: 6 blocks, betaincinv: 2) and no whole number of blocks: the tail is padded
    piece = min(special._INC_BLOCK, special._BLOCK) - 37
    n_pieces = special._BLOCK // piece + 2
    n = n_pieces * piece
    assert n > max(special._INC_BLOCK, special._BLOCK) and n % special._BLOCK != 0
    rng = np.random.default_rng(5)
    a = np.exp(rng.uniform(np.log(0.1), np.log(100.0), n))
    b = np.exp(rng.uniform(np.log(0.1), np.log(100.0), n))
    x = rng.uniform(0.0, 1.0, n)
    x[::97] = 10.0 ** -rng.uniform(5, 200, x[::97].shape)

    def by_pieces(fn):
        outs = [fn(*(v[i * piece : (i + 1) * piece] for v in (a, b, x))) for i in range(n_pieces)]
        return jax.tree.map(lambda *p: np.concatenate([np.asarray(o) for o in p]), *outs)

    inc = jax.jit(betainc)
    np.testing.assert_allclose(np.asarray(inc(a, b, x)), by_pieces(inc), rtol=1e-12, atol=0)
    grad = jax.jit(jax.vmap(jax.grad(betainc, argnums=(0, 1, 2))))
    for got, ref in zip(grad(a, b, x), by_pieces(grad), strict=True):
        np.testing.assert_allclose(np.asarray(got), ref, rtol=1e-12, atol=1e-300)
    ref = by_pieces(_INV)
    for shape in ((n,), (n_pieces, piece)):
        got = np.asarray(_INV(*(v.reshape(shape) for v in (a, b, x)))).reshape(-1)
        err = np.abs(got - ref)
        assert np.all(err <= 1e-12 * np.minimum(ref, 1 - ref)), (err.max(), np.argmax(err))


def test_log_a_beta_against_mpmath(x64):
    """log(a B(a, b)) (the prefactor's normaliser; its shift to Stirling's range is one product
    recursion and one log1p) within 8 eps of max(1, |value|) of mpmath at 40 digits, for the
    smaller parameter from 1e-12 to 4 in either role and the larger one below the Stirling
    threshold (10)."""
    from jaxmix import special

    rows = []
    pairs = [
        (lo, hi) for lo in (1e-12, 1e-6, 1e-3, 0.05, 0.3, 1.0, 4.0) for hi in (0.5, 2.5, 7.9, 9.99)
    ]
    with mpmath.workdps(40):
        for lo, hi in pairs:
            for a, b in ((lo, hi), (hi, lo)):
                ma, mb = mpmath.mpf(a), mpmath.mpf(b)
                rows.append((a, b, float(mpmath.log(ma) + mpmath.log(mpmath.beta(ma, mb)))))
    a, b, want = np.array(rows).T
    got = np.asarray(special._log_a_beta(jnp.asarray(a), jnp.asarray(b)))
    eps = np.finfo(np.float64).eps
    np.testing.assert_array_less(np.abs(got - want), 8 * eps * np.maximum(1.0, np.abs(want)))


@pytest.mark.parametrize("p", [0.0, 0.01, 0.5, 1.0])
def test_running_first_is_a_stable_partition(p):
    """The order that gathers the running elements of the inverse's loop: running elements
    first, each group in its original order (numpy's stable argsort of the mask)."""
    from jaxmix import special

    mask = np.random.default_rng(1).uniform(size=5000) < p
    got = np.asarray(special._running_first(jnp.asarray(mask)))
    np.testing.assert_array_equal(got, np.argsort(~mask, kind="stable"))


def test_betainc_float32_partials_in_the_float32_only_forms():
    """float32 dI/da, dI/db, dI/dx where float32 uses its own forms (the large-a expansion, the
    complement's series, the paired log prefactor in a deep tail), against central differences
    of scipy in float64: within 1e-4 relative."""
    from scipy import special as sc

    pts = np.array(
        [
            (50.0, 0.3, 0.98),  # large a, small b, x near 1 (asymptotic expansion)
            (150.0, 0.05, 0.985),
            (2.0, 0.5, 0.9),  # small b past the mean (series of the complement)
            (80.0, 70.0, 0.13),  # I ~ 1e-30 (paired log prefactor)
            (9.0, 3.0, 0.0006),
        ],
        np.float32,
    )
    a, b, x = (jnp.asarray(pts[:, i]) for i in range(3))
    grads = jax.jit(jax.vmap(jax.grad(betainc, argnums=(0, 1, 2))))(a, b, x)
    p64 = pts.astype(np.float64)
    for k, g in enumerate(grads):
        h = 1e-6 * p64[:, k]
        e = np.zeros((3, len(pts)))
        e[k] = h
        fd = (sc.betainc(*(p64.T + e)) - sc.betainc(*(p64.T - e))) / (2 * h)
        np.testing.assert_allclose(np.asarray(g, np.float64), fd, rtol=1e-4, err_msg=str(k))


def test_betaincinv_float32_near_the_smallest_normal():
    """Roots next to the smallest normal float32 (1.18e-38): a root below it is 0 (documented),
    one above it is found; a subnormal q is read from its bits. Before: q = 2.06e-42 (flushed to
    0) gave 0 where the root is 2.35e-38, a root of 9.1e-39 came back as 1.21e-38, and roots
    just above it came back as 1.18e-38 (hi - lo near it is subnormal, flushed to 0)."""
    from scipy import special as sc

    tiny = float(np.finfo(np.float32).tiny)
    rng = np.random.default_rng(5)
    a = rng.uniform(0.5, 3.0, 200)
    b = rng.uniform(1.0, 40.0, 200)
    q_floor = sc.betainc(a, b, tiny)  # I at the floor
    # the two reported points last, then the floor's neighbours on both sides
    a = np.concatenate([a, a, [1.1453577, 0.980113685]]).astype(np.float32)
    b = np.concatenate([b, b, [18.110445, 32.1465187]]).astype(np.float32)
    target = np.concatenate([0.8 * q_floor, 1.25 * q_floor, [2.064e-42, 1.579372e-36]])
    q = target.astype(np.float32)
    x = np.asarray(jax.jit(betaincinv)(a, b, q), np.float64)
    assert x[-2] == pytest.approx(2.3506e-38, rel=1e-3)
    assert x[-1] == 0.0
    ok = np.abs(q - target) <= 1e-3 * target  # subnormal q is coarse: keep it on its side
    below, above = ok[:200], ok[200:400]
    np.testing.assert_array_equal(x[:200][below], 0.0)
    xa = x[200:400][above]
    assert np.all(xa >= tiny)
    i_x = sc.betainc(a[200:400][above].astype(np.float64), b[200:400][above].astype(np.float64), xa)
    np.testing.assert_allclose(i_x, q[200:400][above].astype(np.float64), rtol=2e-3)
