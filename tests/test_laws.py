"""Weight laws: moments, partial moments, CDFs, densities against scipy; samplers against CDFs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.stats

import jaxmix
from helpers import assert_cdf_matches, zscores_mean

LAWS = {
    "beta_small": (lambda: jaxmix.Beta(0.4, 0.4), scipy.stats.beta(0.4, 0.4)),
    "beta_skew": (lambda: jaxmix.Beta(4.34, 1.33), scipy.stats.beta(4.34, 1.33)),
    "uniform": (lambda: jaxmix.Uniform(), scipy.stats.uniform(0, 1)),
    "uniform_wide": (lambda: jaxmix.Uniform(-0.2, 1.3), scipy.stats.uniform(-0.2, 1.5)),
    "epbeta": (
        lambda: jaxmix.EpBeta(0.78, 0.78, 0.3, 0.3),
        scipy.stats.beta(0.78, 0.78, loc=-0.3, scale=1.6),
    ),
    "epbeta_skew": (
        lambda: jaxmix.EpBeta(3.0, 1.5, 0.1, 0.4),
        scipy.stats.beta(3.0, 1.5, loc=-0.1, scale=1.5),
    ),
}


def _partial_moment_ref(dist, k, t):
    lo, hi = dist.support()
    upper = min(max(t, lo), hi)
    if upper <= lo:
        return 0.0
    val, _ = scipy.integrate.quad(lambda w: w**k * dist.pdf(w), lo, upper, limit=200)
    return val


@pytest.mark.parametrize("name", sorted(LAWS))
def test_moments_cdf_logprob_against_scipy_float64(name, x64):
    make, ref = LAWS[name]
    law = make()
    for k in range(5):
        assert float(law.moment(k)) == pytest.approx(ref.moment(k), rel=1e-12, abs=1e-14)
    assert float(law.mean()) == pytest.approx(ref.mean(), rel=1e-12)
    assert float(law.variance()) == pytest.approx(ref.var(), rel=1e-10)
    lo, hi = ref.support()
    ws = np.array([lo - 0.1, lo + 1e-3, lo + 0.3 * (hi - lo), 0.5, hi - 1e-3, hi + 0.1])
    np.testing.assert_allclose(np.asarray(law.cdf(ws)), ref.cdf(ws), rtol=1e-9, atol=1e-12)
    inside = ws[(ws > lo) & (ws < hi)]
    np.testing.assert_allclose(np.asarray(law.log_prob(inside)), ref.logpdf(inside), rtol=1e-9)
    assert np.all(np.isneginf(np.asarray(law.log_prob(np.array([lo - 0.1, hi + 0.1])))))
    assert np.allclose([float(v) for v in law.support], [lo, hi])
    for k in range(3):
        for t in (lo - 0.5, 0.25, 0.5, 0.8, hi + 0.5):
            ref_pm = _partial_moment_ref(ref, k, t)
            assert float(law.partial_moment(k, t)) == pytest.approx(ref_pm, rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("name", sorted(LAWS))
def test_moments_float32(name):
    make, ref = LAWS[name]
    law = make()
    assert law.moment(2).dtype == jnp.float32
    for k in range(4):
        assert float(law.moment(k)) == pytest.approx(ref.moment(k), rel=2e-6)
    for t in (0.25, 0.5):
        want = _partial_moment_ref(ref, 1, t)
        assert float(law.partial_moment(1, t)) == pytest.approx(want, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("name", sorted(LAWS))
def test_sampler_matches_exact_cdf_and_moments(name):
    """DKWM at 2e5 draws (false-failure rate 1e-6) and the mean within 5 standard errors."""
    make, ref = LAWS[name]
    law = make()
    w = law.sample(jax.random.key(11), (200_000,))
    assert w.shape == (200_000,) and w.dtype == jnp.float32
    assert_cdf_matches(w, ref.cdf, false_failure_rate=1e-6)
    assert abs(zscores_mean(np.asarray(w)[:, None], [ref.mean()])[0]) < 5
    lo, hi = ref.support()
    assert float(w.min()) >= lo - 1e-6 and float(w.max()) <= hi + 1e-6


def test_sample_shape_and_determinism():
    law = jaxmix.EpBeta(2.0, 3.0, 0.1, 0.2)
    a = law.sample(jax.random.key(0), (3, 4))
    b = law.sample(jax.random.key(0), (3, 4))
    assert a.shape == (3, 4)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert law.sample(jax.random.key(0)).shape == ()


def test_epbeta_with_zero_eps_is_beta(x64):
    ep, be = jaxmix.EpBeta(1.7, 0.6, 0.0, 0.0), jaxmix.Beta(1.7, 0.6)
    for k in range(4):
        assert float(ep.moment(k)) == pytest.approx(float(be.moment(k)), rel=1e-14)
    ws = jnp.linspace(0.01, 0.99, 7)
    np.testing.assert_allclose(ep.cdf(ws), be.cdf(ws), rtol=1e-14)
    np.testing.assert_allclose(ep.log_prob(ws), be.log_prob(ws), rtol=1e-13)


def test_float64_parameters_under_x64(x64):
    law = jaxmix.Beta(0.5, 0.5)
    assert law.alpha.dtype == jnp.float64 and law.moment(2).dtype == jnp.float64
    assert law.sample(jax.random.key(0), (4,)).dtype == jnp.float64


def test_user_defined_law_subclass():
    """A researcher's own law: subclass AbstractLaw and every moment map accepts it."""

    class TwoPoint(jaxmix.AbstractLaw):
        """W = 1 or 0 with probability p, 1-p: plain resampling (variance kept, no novelty)."""

        p: jax.Array

        def sample(self, key, shape=()):
            return jax.random.bernoulli(key, self.p, shape).astype(jnp.float32)

        def moment(self, k):
            return jnp.asarray(1.0 if k == 0 else self.p, jnp.float32)

        def partial_moment(self, k, t):
            zero = jnp.where(t > 0, 1 - self.p, 0.0) * (1.0 if k == 0 else 0.0)
            return zero + jnp.where(t > 1, self.p, 0.0)

        def cdf(self, w):
            return jnp.where(w >= 1, 1.0, jnp.where(w >= 0, 1 - self.p, 0.0))

        def log_prob(self, w):
            at_zero = jnp.where(w == 0, jnp.log1p(-self.p), -jnp.inf)
            return jnp.where(w == 1, jnp.log(self.p), at_zero)

        @property
        def support(self):
            return jnp.asarray(0.0), jnp.asarray(1.0)

    law = TwoPoint(jnp.asarray(0.5))
    assert float(jaxmix.covariance_factor(law)) == pytest.approx(1.0)
    assert float(jaxmix.class_mean_shift(law)) == pytest.approx(0.0)
    x = jax.random.normal(jax.random.key(0), (20, 3))
    out = jaxmix.mixup(jax.random.key(1), x, 100, law)
    # every synthetic row is one of the parents
    d = jnp.min(jnp.abs(out[:, None, :] - x[None]).sum(-1), axis=1)
    assert float(d.max()) == 0.0
    # the default sample_rows slices the whole call, past the end too (no shifted window)
    rows = jax.jit(lambda s: law.sample_rows(jax.random.key(2), 100, s, 30))
    full = law.sample(jax.random.key(2), (100,))
    np.testing.assert_array_equal(rows(40), full[40:70])
    np.testing.assert_array_equal(rows(90)[:10], full[90:])


def test_law_methods_under_jit_and_vmap():
    alphas = jnp.array([0.3, 1.0, 2.5])

    @jax.jit
    def stats(a):
        law = jaxmix.EpBeta(a, 2.0, 0.1, 0.3)
        return jnp.stack(
            [
                law.mean(),
                law.variance(),
                law.cdf(0.4),
                law.partial_moment(2, 0.5),
                law.log_prob(0.2),
            ]
        )

    batched = jax.vmap(stats)(alphas)
    for k, a in enumerate(np.asarray(alphas)):
        np.testing.assert_allclose(batched[k], stats(jnp.asarray(a)), rtol=1e-6)
    ref = scipy.stats.beta(1.0, 2.0, loc=-0.1, scale=1.4)
    np.testing.assert_allclose(batched[1, :3], [ref.mean(), ref.var(), ref.cdf(0.4)], rtol=1e-5)
    # a law whose leaves carry a batch axis can itself be vmapped over
    laws = jaxmix.Beta(alphas, jnp.ones(3))
    means = jax.vmap(lambda law: law.mean())(laws)
    np.testing.assert_allclose(means, alphas / (alphas + 1), rtol=1e-6)


# --- values that were silently wrong: quantiles, support edges, cancellation ---------------------


def test_beta_quantile_small_shape_against_scipy(x64):
    """Beta(0.97, 0.035).quantile(0.0326) was 0.59552 (scipy: 0.59785)."""
    ref = scipy.stats.beta(0.97, 0.035).ppf(0.0326)
    assert float(jaxmix.Beta(0.97, 0.035).quantile(0.0326)) == pytest.approx(ref, rel=1e-12)


def test_beta_quantile_float32_deep_tail():
    """float32 Beta(100, 5).quantile(1e-9) was 0.5 (the starting guess), true 0.73437."""
    w = jaxmix.Beta(100.0, 5.0).quantile(1e-9)
    assert w.dtype == jnp.float32
    assert float(w) == pytest.approx(scipy.stats.beta(100, 5).ppf(1e-9), rel=1e-5)


@pytest.mark.parametrize("dtype_x64", [False, True])
def test_log_prob_at_support_edges(dtype_x64):
    """The density's value at 0 and 1: finite (log b or log a), +inf or -inf; -inf outside."""
    with jax.enable_x64(dtype_x64):
        assert float(jaxmix.Beta(1.0, 1.0).log_prob(0.0)) == 0.0
        assert float(jaxmix.Beta(1.0, 1.0).log_prob(1.0)) == 0.0
        assert float(jaxmix.Beta(2.0, 1.0).log_prob(1.0)) == pytest.approx(np.log(2.0), rel=1e-6)
        assert float(jaxmix.Beta(1.0, 3.0).log_prob(0.0)) == pytest.approx(np.log(3.0), rel=1e-6)
        assert float(jaxmix.Beta(0.5, 0.5).log_prob(0.0)) == np.inf
        assert float(jaxmix.Beta(2.0, 0.5).log_prob(1.0)) == np.inf
        assert float(jaxmix.Beta(2.0, 2.0).log_prob(0.0)) == -np.inf
        assert float(jaxmix.Beta(2.0, 2.0).log_prob(-0.1)) == -np.inf
        ep = jaxmix.EpBeta(1.0, 2.0, 0.25, 0.25)  # density (2/1.5) at its lower end point
        assert float(ep.log_prob(-0.25)) == pytest.approx(np.log(2.0 / 1.5), rel=1e-6)
        assert float(ep.log_prob(1.25)) == -np.inf


def test_log_prob_large_parameters(x64):
    """Beta(1e8, 1e8) near its mean: log B is not three cancelling log Gammas (mpmath at 40
    digits; scipy's logpdf is 2.4e-7 off here)."""
    mpmath = pytest.importorskip("mpmath")
    w = np.array([0.5, 0.5 + 5e-5, 0.5 - 1e-4])
    with mpmath.workdps(40):
        a = mpmath.mpf(10) ** 8
        ref = [
            float(
                (a - 1) * (mpmath.log(mpmath.mpf(v)) + mpmath.log(1 - mpmath.mpf(v)))
                - mpmath.log(mpmath.beta(a, a))
            )
            for v in w
        ]
    np.testing.assert_allclose(np.asarray(jaxmix.Beta(1e8, 1e8).log_prob(w)), ref, rtol=1e-12)


def test_variance_without_cancellation_float32():
    """float32 Beta(1e4, 1e-3).variance() was 5.96e-8 (E[W^2] - E[W]^2), true 1.0e-11."""
    a, b = 1e4, 1e-3
    ref = a * b / ((a + b) ** 2 * (a + b + 1))
    assert float(jaxmix.Beta(a, b).variance()) == pytest.approx(ref, rel=1e-5)
    assert float(jaxmix.EpBeta(a, b, 0.5, 0.5).variance()) == pytest.approx(4 * ref, rel=1e-5)


def test_epbeta_partial_moment_lower_tail_float32():
    """float32 EpBeta(50, 50, .5, .5).partial_moment(6, 0.) was -7.5e-14 (cancelling binomial
    sum), true +1.33e-16 (mpmath quadrature, 30 digits)."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(30):
        ref = mpmath.quad(
            lambda x: (
                (2 * x - mpmath.mpf(1) / 2) ** 6 * x**49 * (1 - x) ** 49 / mpmath.beta(50, 50)
            ),
            [0, 0.125, 0.25],
        )
    got = jaxmix.EpBeta(50.0, 50.0, 0.5, 0.5).partial_moment(6, 0.0)
    assert float(got) == pytest.approx(float(ref), rel=1e-4)
    with jax.enable_x64(True):
        got64 = jaxmix.EpBeta(50.0, 50.0, 0.5, 0.5).partial_moment(6, 0.0)
        assert float(got64) == pytest.approx(float(ref), rel=1e-10)


def test_moments_for_extreme_parameters(x64):
    """Finite and right for Beta(1e8, 1e8), Beta(1e30, 1), EpBeta(2, 2, 1e30, 1e30) (float64)."""
    be = jaxmix.Beta(1e8, 1e8)
    assert float(be.mean()) == 0.5
    assert float(be.variance()) == pytest.approx(0.25 / (2e8 + 1), rel=1e-14)
    assert float(be.central_moment(4)) == pytest.approx(3 * (0.25 / 2e8) ** 2, rel=1e-7)
    one = jaxmix.Beta(1e30, 1.0)
    assert float(one.mean()) == 1.0
    assert float(one.variance()) == pytest.approx(1e-60, rel=1e-12)
    ep = jaxmix.EpBeta(2.0, 2.0, 1e30, 1e30)
    assert float(ep.mean()) == 0.5
    assert float(ep.variance()) == pytest.approx((2e30 + 1) ** 2 / 20, rel=1e-14)
    moments = [float(ep.moment(k)) for k in range(5)]
    assert all(np.isfinite(moments))
    assert moments[2] == pytest.approx(0.25 + (2e30) ** 2 / 20, rel=1e-14)


def test_moments_for_extreme_parameters_float32():
    """float32: means finite (Uniform(-1e30, 1e30) was nan); values beyond float32's range
    overflow to inf, never to nan."""
    assert float(jaxmix.Uniform(-1e30, 1e30).mean()) == 0.0
    assert float(jaxmix.Uniform(1e30, 3e30).mean()) == pytest.approx(2e30, rel=1e-6)
    ep = jaxmix.EpBeta(2.0, 2.0, 1e30, 1e30)
    assert float(ep.mean()) == 0.5
    assert not any(np.isnan(float(ep.moment(k))) for k in range(5))
    be = jaxmix.Beta(1e8, 1e8)
    assert float(be.variance()) == pytest.approx(0.25 / 2e8, rel=1e-5)


@pytest.mark.parametrize("name", sorted(LAWS))
def test_central_moments_against_scipy(name, x64):
    make, ref = LAWS[name]
    law = make()
    mu = ref.mean()
    for k in range(5):
        lo, hi = ref.support()
        val, _ = scipy.integrate.quad(lambda w, k=k: (w - mu) ** k * ref.pdf(w), lo, hi, limit=200)
        assert float(law.central_moment(k)) == pytest.approx(val, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sample_rows_are_the_rows_of_one_call(dtype):
    """``sample_rows(key, m, start, count)`` = ``sample(key, (m,))[start:start + count]`` bit for
    bit (Uniform recomputes jax.random's partitionable Threefry counters; EpBeta and Beta run the
    sampler on their own 128-lane groups), for traced starts off group boundaries, under vmap."""
    with jax.enable_x64(dtype == "float64"):
        key, m = jax.random.key(4), 700
        for law in (jaxmix.Uniform(-0.3, 1.7), jaxmix.EpBeta(2.0, 3.0, 0.1, 0.2)):
            full = np.asarray(jax.jit(lambda law=law: law.sample(key, (m,)))())
            assert full.dtype == dtype
            # jit of vmap over starts (a device's traced start is the unbatched case)
            rows = jax.jit(jax.vmap(lambda s, law=law: law.sample_rows(key, m, s, 300)))
            got = np.asarray(rows(jnp.array([0, 5, 400])))
            for k, start in enumerate((0, 5, 400)):
                np.testing.assert_array_equal(got[k], full[start : start + 300])
