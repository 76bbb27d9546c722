"""jaxmix.sampling: exactness (DKWM against the exact CDF), moments, pathwise gradients, transforms.

Statistical tolerances: DKWM band at a false-failure rate of 1e-6 per law; z-scores |z| < 4.5
(two-sided Gaussian false-failure rate 7e-6 per check). Keys are fixed.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxmix
from jaxmix import sampling
from tests.helpers import dkwm_epsilon

Z_MAX = 4.5
TARGETS = [(0.1, 0.1), (0.4, 0.4), (1.0, 1.0), (4.34, 1.33), (30.0, 30.0)]
# every algorithm branch: Jöhnk, Cheng BC (min <= 1 < max, and max <= 1 with Jöhnk < 3/4), BB
OTHERS = [(0.05, 10.0), (5.0, 0.5), (0.9, 0.7), (1.5, 200.0)]


def assert_beta_cdf(x, a, b, *, false_failure_rate=1e-6):
    """sup_t |F_n(t) - F(t)| over a grid of t within the DKWM band, allowing for output rounding.

    The draws are rounded to their dtype, which moves mass by at most F(t + ulp) - F(t - ulp)
    across t (float32 spacing near 1 is 6e-8, so grid points stay in [1e-30, 1 - 1e-4]).
    """
    x = np.sort(np.asarray(x).ravel())
    n = x.size
    law = stats.beta(a, b)
    t = law.ppf(np.linspace(5e-4, 1 - 5e-4, 2001))
    t = t[(t > 1e-30) & (t < 1 - 1e-4)]
    emp = np.searchsorted(x, t.astype(x.dtype), side="right") / n
    ulp = np.spacing(t.astype(x.dtype)).astype(np.float64)
    slack = law.cdf(t + ulp) - law.cdf(t - ulp)
    excess = np.abs(emp - law.cdf(t)) - slack
    eps = dkwm_epsilon(n, false_failure_rate)
    assert excess.max() < eps, f"Beta({a}, {b}): distance {excess.max():.5f} > DKWM band {eps:.5f}"


N = 10**6
# one compilation serves every law: a and b are traced arguments
_draw = jax.jit(lambda k, a, b: sampling.beta(k, a, b, (N,)))


@pytest.mark.parametrize("a,b", TARGETS + OTHERS)
def test_cdf_and_moments_float32(a, b):
    n = N
    x = _draw(jax.random.key(11), jnp.float32(a), jnp.float32(b))
    assert x.dtype == jnp.float32 and x.shape == (n,)
    assert bool(jnp.all((x >= 0) & (x <= 1)))
    assert_beta_cdf(x, a, b)
    xd = np.asarray(x, np.float64)
    m1 = a / (a + b)
    m2 = m1 * (a + 1) / (a + b + 1)
    z1 = (xd.mean() - m1) / (xd.std() / math.sqrt(n))
    z2 = ((xd**2).mean() - m2) / ((xd**2).std() / math.sqrt(n))
    assert abs(z1) < Z_MAX and abs(z2) < Z_MAX, (z1, z2)


@pytest.mark.parametrize("a,b", [(0.4, 0.4), (4.34, 1.33), (0.05, 10.0)])
def test_cdf_float64(x64, a, b):
    f = jax.jit(lambda k, a, b: sampling.beta(k, a, b, (200_000,), jnp.float64))
    x = f(jax.random.key(5), jnp.float64(a), jnp.float64(b))
    assert x.dtype == jnp.float64
    assert_beta_cdf(x, a, b)


def test_laws_use_the_fast_sampler():
    key = jax.random.key(2)
    np.testing.assert_array_equal(
        jaxmix.Beta(0.4, 0.4).sample(key, (1000,)), sampling.beta(key, 0.4, 0.4, (1000,))
    )
    ep = jaxmix.EpBeta(2.0, 3.0, 0.1, 0.2)
    np.testing.assert_allclose(
        ep.sample(key, (7, 3)), 1.3 * sampling.beta(key, 2.0, 3.0, (7, 3)) - 0.1, atol=1e-6
    )


@jax.jit
def _jvp(key, a, b, ta, tb):
    return jax.jvp(lambda a, b: sampling.beta(key, a, b, (200_000,)), (a, b), (ta, tb))


def _pathwise(a, b, n, key, power):
    """Per-draw pathwise derivatives of W^power with respect to a and b (forward mode)."""
    assert n == 200_000
    one, zero = jnp.float32(1.0), jnp.float32(0.0)
    w, dwa = _jvp(key, a, b, one, zero)
    _, dwb = _jvp(key, a, b, zero, one)
    w = np.asarray(w, np.float64)
    scale = power * w ** (power - 1)
    return scale * np.asarray(dwa, np.float64), scale * np.asarray(dwb, np.float64)


@pytest.mark.parametrize("a,b", [(0.4, 0.4), (4.34, 1.33), (30.0, 30.0), (0.1, 0.1), (0.05, 10.0)])
def test_pathwise_gradient_unbiased(a, b):
    """numpyro-style: the mean of per-draw derivatives of W and W^2 matches the derivative of the
    closed form E[W] = a/(a+b), E[W^2] = a(a+1)/((a+b)(a+b+1)), within 4.5 standard errors."""
    n = 200_000
    m1 = lambda a, b: a / (a + b)  # noqa: E731
    m2 = lambda a, b: a * (a + 1) / ((a + b) * (a + b + 1))  # noqa: E731
    for power, moment in ((1, m1), (2, m2)):
        da, db = _pathwise(jnp.float32(a), jnp.float32(b), n, jax.random.key(power), power)
        exact_a, exact_b = jax.grad(moment, argnums=(0, 1))(a, b)
        for est, exact in ((da, exact_a), (db, exact_b)):
            assert np.all(np.isfinite(est))
            z = (est.mean() - float(exact)) / (est.std() / math.sqrt(n))
            assert abs(z) < Z_MAX, (a, b, power, est.mean(), float(exact), z)


def test_epbeta_gradient_unbiased():
    """d/d(alpha, beta, eps0, eps1) of a Monte Carlo E[W] and E[W^2] for EpBeta vs closed form."""
    n = 200_000
    params = dict(alpha=2.5, beta=1.5, eps0=0.2, eps1=0.3)

    @functools.partial(jax.jit, static_argnums=2)
    @functools.partial(jax.grad)
    def mc_grad(p, key, power):
        return jnp.mean(jaxmix.EpBeta(**p).sample(key, (n,)) ** power)

    def exact(p, power):
        return jaxmix.EpBeta(**p).moment(power)

    p = {k: jnp.float32(v) for k, v in params.items()}
    for power in (1, 2):
        g_exact = jax.grad(exact)(p, power)
        # standard error from 8 independent replicates of the Monte Carlo gradient
        reps = [mc_grad(p, jax.random.key(100 * power + r), power) for r in range(8)]
        for name in params:
            vals = np.array([float(g[name]) for g in reps])
            se = vals.std(ddof=1) / math.sqrt(len(vals))
            # t-distribution with 7 dof: P(|t| > 8) < 1e-4
            t = (vals.mean() - float(g_exact[name])) / max(se, 1e-7)
            assert abs(t) < 8.0, (name, power, vals.mean(), float(g_exact[name]), t)


def test_gradient_of_tiny_draws_is_finite():
    """Draws of Beta(0.05, 0.05) reach the float32 underflow; their derivatives stay finite."""
    da, db = _pathwise(jnp.float32(0.05), jnp.float32(0.05), 200_000, jax.random.key(3), 1)
    assert np.all(np.isfinite(da)) and np.all(np.isfinite(db))


def test_jit_vmap_and_determinism():
    key = jax.random.key(4)
    f = jax.jit(lambda k: sampling.beta(k, 0.4, 0.4, (300,)))
    np.testing.assert_array_equal(f(key), f(key))
    keys = jax.random.split(key, 3)
    batched = jax.vmap(f)(keys)
    for i in range(3):
        np.testing.assert_array_equal(batched[i], f(keys[i]))
    # vmap over the parameters (every algorithm branch runs; each must still terminate)
    alphas = jnp.array([0.3, 5.0, 0.9, 30.0])
    out = jax.vmap(lambda a: sampling.beta(key, a, 0.4, (50,)))(alphas)
    for i, a in enumerate(alphas):
        # same draws; batched parameters may round the log-odds differently by an ulp
        np.testing.assert_allclose(out[i], sampling.beta(key, a, 0.4, (50,)), rtol=1e-5, atol=1e-7)


def test_key_kinds_and_array_parameters():
    x_rbg = sampling.beta(jax.random.key(0, impl="rbg"), 2.0, 3.0, (10,))
    x_raw = sampling.beta(jax.random.PRNGKey(0), 2.0, 3.0, (10,))
    x_new = sampling.beta(jax.random.key(0), 2.0, 3.0, (10,))
    np.testing.assert_array_equal(x_raw, x_new)
    assert x_rbg.shape == (10,) and bool(jnp.all((x_rbg > 0) & (x_rbg < 1)))
    # array parameters broadcast against the shape (exact fallback path)
    x = sampling.beta(jax.random.key(0), jnp.array([0.5, 2.0, 9.0]), 1.0, (4, 3))
    assert x.shape == (4, 3)
    assert sampling.beta(jax.random.key(0), 1.0, 1.0, (0, 3)).shape == (0, 3)


def test_threefry_matches_jax():
    from jax.extend.random import threefry_2x32

    kd = jax.random.key_data(jax.random.key(9))
    x = jnp.arange(64, dtype=jnp.uint32)
    ours = jnp.concatenate(sampling.threefry2x32(kd[0], kd[1], x[:32], x[32:]))
    np.testing.assert_array_equal(ours, threefry_2x32(kd, x))


def test_uniform_index_is_uniform():
    a = np.random.default_rng(0).integers(0, 2**32, 4000, dtype=np.uint64)
    b = np.random.default_rng(1).integers(0, 2**32, 4000, dtype=np.uint64)
    hi, lo = sampling._mulhilo(jnp.asarray(a, jnp.uint32), jnp.asarray(b, jnp.uint32))
    np.testing.assert_array_equal(np.asarray(hi, np.uint64), (a * b) >> np.uint64(32))
    np.testing.assert_array_equal(np.asarray(lo, np.uint64), (a * b) & np.uint64(2**32 - 1))
    kd = sampling.raw_key(jax.random.key(0))
    idx = sampling.uniform_index(kd, np.uint32(0), jnp.arange(700_000, dtype=jnp.uint32), 7)
    counts = np.bincount(np.asarray(idx), minlength=7)
    assert counts.size == 7
    chi2 = float(((counts - 100_000) ** 2 / 100_000).sum())
    assert chi2 < 35.0  # chi-square with 6 dof: P(> 35) < 5e-6


# --- extremes: no hang, the limit laws, NaN for invalid parameters ----------------------------


def test_uniforms_strictly_inside_the_unit_interval():
    """The largest word once rounded to 1.0 in float32 (log1p(-u) = -inf, NaN gradients)."""
    top, bottom = jnp.uint32(0xFFFFFFFF), jnp.uint32(0)
    assert (
        0.0
        < float(sampling._unit(bottom, jnp.float32))
        < float(sampling._unit(top, jnp.float32))
        < 1.0
    )
    # symmetric grid: u and 1 - u are both values
    assert float(sampling._unit(top, jnp.float32)) == 1.0 - float(
        sampling._unit(bottom, jnp.float32)
    )


def test_uniforms_strictly_inside_float64(x64):
    top = jnp.uint32(0xFFFFFFFF)
    u = float(sampling._unit64(top, top))
    assert u < 1.0 and float(sampling._unit64(jnp.uint32(0), jnp.uint32(0))) > 0.0


def test_pathwise_gradient_small_alpha_float32():
    """d/da E[W] for Beta(0.1, 5) from 10^6 float32 draws: finite (was NaN) and within 4.5
    standard errors (of the per-draw derivatives) of d/da a/(a+5) = 5/(a+5)^2."""
    n = 10**6
    grad = jax.grad(lambda a: jaxmix.Beta(a, 5.0).sample(jax.random.key(101), (n,)).mean())(0.1)
    assert np.isfinite(float(grad))
    per_draw = jax.jvp(lambda a: sampling.beta(jax.random.key(101), a, 5.0, (n,)), (0.1,), (1.0,))[
        1
    ]
    se = float(jnp.std(per_draw)) / math.sqrt(n)
    exact = 5.0 / 5.1**2
    assert abs(float(grad) - exact) < Z_MAX * se, (float(grad), exact, se)


_small = jax.jit(lambda k, a, b: sampling.beta(k, a, b, (4000,)))


@pytest.mark.parametrize("a", [1e30, 3e38])
def test_huge_equal_parameters_are_the_point_mass_at_one_half(a):
    """Beta(a, a), a -> inf, is the point mass at 1/2: sd 1/(2 sqrt(2a)) is below float32's
    resolution (these once never returned)."""
    x = _small(jax.random.key(0), jnp.float32(a), jnp.float32(a))
    np.testing.assert_array_equal(np.asarray(x), 0.5)


def test_huge_and_tiny_parameters_take_their_limits():
    key = jax.random.key(1)
    np.testing.assert_array_equal(_small(key, jnp.float32(1e30), jnp.float32(1.0)), 1.0)
    # Beta(1, b), b -> inf: b B -> Exp(1), B itself representable
    x = np.asarray(_small(key, jnp.float32(1.0), jnp.float32(1e30)), np.float64) * 1e30
    z = (x.mean() - 1.0) / (x.std() / math.sqrt(x.size))
    assert abs(z) < Z_MAX
    # one parameter tiny (here subnormal), the other not: all mass at the tiny side's end
    np.testing.assert_array_equal(_small(key, jnp.float32(1e-45), jnp.float32(5.0)), 0.0)
    np.testing.assert_array_equal(_small(key, jnp.float32(5.0), jnp.float32(1e-45)), 1.0)


@pytest.mark.parametrize("a,b", [(1e-45, 1e-45), (1e-30, 1e-30), (1e-45, 3e-45), (3e-30, 1e-30)])
def test_tiny_parameters_are_bernoulli(a, b):
    """Beta(a, b) with a, b -> 0 is Bernoulli(a/(a + b)) on {0, 1} (1e-45 is subnormal and read as
    0 by XLA's CPU arithmetic; it once gave NaN acceptance tests and never returned)."""
    x = np.asarray(_small(jax.random.key(2), jnp.float32(a), jnp.float32(b)))
    assert set(np.unique(x)) <= {0.0, 1.0}
    p = np.float64(np.float32(a)) / (np.float64(np.float32(a)) + np.float64(np.float32(b)))
    z = (x.mean() - p) / math.sqrt(p * (1 - p) / x.size)
    assert abs(z) < Z_MAX, (x.mean(), p)


@pytest.mark.parametrize("a,b", [(5e3, 5e3), (2e3, 7.5), (0.5, 3e3)])
def test_large_parameter_route_is_exact(a, b):
    """max(a, b) > 1e3 (float32) uses the gamma ratio: DKWM band and moments against scipy."""
    x = _draw(jax.random.key(12), jnp.float32(a), jnp.float32(b))
    assert_beta_cdf(x, a, b)
    xd = np.asarray(x, np.float64)
    m1 = a / (a + b)
    z1 = (xd.mean() - m1) / (xd.std() / math.sqrt(xd.size))
    v = m1 * (1 - m1) / (a + b + 1)
    zv = (xd.var() - v) / (v * math.sqrt(2.0 / xd.size))
    assert abs(z1) < Z_MAX and abs(zv) < Z_MAX, (z1, zv)


def test_loggamma_against_scipy():
    """The bounded Marsaglia-Tsang log-gamma draws (used for large parameters and the gradient):
    DKWM band against scipy's Gamma cdf, boosted (s < 1) and large shapes."""
    kd = sampling.raw_key(jax.random.key(3))
    n = 200_000
    lane = jnp.arange(n, dtype=jnp.uint32)
    for s in (0.3, 2.5, 1e4):
        lg = np.asarray(sampling._loggamma(kd, 7, jnp.float32(s), lane, jnp.float32), np.float64)
        assert np.all(np.isfinite(lg))
        law = stats.gamma(s)
        t = law.ppf(np.linspace(1e-3, 1 - 1e-3, 999))
        emp = np.searchsorted(np.sort(lg), np.log(t), side="right") / n
        # float32 log G has a relative spacing of 2^-24 |log G|: allow that much cdf slack
        ulp = np.spacing(np.abs(np.log(t)).astype(np.float32)).astype(np.float64)
        slack = law.cdf(t * np.exp(ulp)) - law.cdf(t * np.exp(-ulp))
        assert (np.abs(emp - law.cdf(t)) - slack).max() < dkwm_epsilon(n, 1e-6), s


@pytest.mark.parametrize(
    "a,b", [(np.nan, 1.0), (-1.0, 1.0), (0.0, 2.0), (np.inf, 1.0), (2.0, np.nan)]
)
def test_invalid_parameters_give_nan_at_once(a, b):
    """The sampler's one documented NaN: invalid (a, b) give NaN draws without entering a loop
    (traced NaN or -1 once hung); the law constructors refuse them (test_properties)."""
    x = _small(jax.random.key(0), jnp.float32(a), jnp.float32(b))
    assert bool(jnp.all(jnp.isnan(x)))


def test_rejection_loop_is_bounded():
    """A proposal that never accepts ends after the pass bound with NaN, not a hang."""
    kd = sampling.raw_key(jax.random.key(0))
    never = lambda u1, u2: (u1, jnp.zeros(u1.shape, bool))  # noqa: E731
    z = jax.jit(lambda kd: sampling._rejection(never, kd, 300, jnp.float32))(kd)
    assert z.shape == (300,) and bool(jnp.all(jnp.isnan(z)))


def test_beta_rows_are_the_rows_of_one_call():
    """``beta_rows`` gives draws start..start+count-1 of ``beta`` bit for bit, for every route
    (Jöhnk, Cheng BC and BB, large and tiny parameters) and starts inside a 128-lane group, and
    (the next test: the same pathwise gradient); a device computes its own rows of one call."""
    key, m = jax.random.key(5), 1000
    params = [(0.4, 0.4), (0.3, 5.0), (2.0, 3.0), (2e3, 3e3), (1e-30, 1e-30), (1e-30, 2.0)]
    rows = jax.jit(lambda a, b, s: sampling.beta_rows(key, a, b, m, s, 500, jnp.float32))
    short = jax.jit(lambda a, b: sampling.beta(key, a, b, (700,), jnp.float32))
    for a, b in params:
        full = np.asarray(sampling.beta(key, a, b, (m,), jnp.float32))
        # draw r does not depend on the size of the call (the large route's second gamma
        # stream once started at lane n, so its draws changed with n)
        np.testing.assert_array_equal(short(a, b), full[:700], err_msg=f"{a, b}")
        for start in (0, 3, 500):
            got = np.asarray(rows(jnp.float32(a), jnp.float32(b), start))
            np.testing.assert_array_equal(got, full[start : start + 500], err_msg=f"{a, b, start}")


@pytest.mark.slow  # two compiles of the sampler's JVP (about 20 s on 2 cores)
def test_beta_rows_gradient_is_that_of_one_call():
    key, m = jax.random.key(5), 1000
    grad_full = jax.jacfwd(lambda a: sampling.beta(key, a, 3.0, (m,), jnp.float32))(2.0)
    grad_rows = jax.jacfwd(lambda a: sampling.beta_rows(key, a, 3.0, m, 300, 500, jnp.float32))
    np.testing.assert_array_equal(grad_rows(2.0), grad_full[300:800])
