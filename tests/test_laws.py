"""Weight laws: moments, partial moments, CDFs and densities against scipy; samplers against CDFs."""

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
        assert float(law.partial_moment(1, t)) == pytest.approx(_partial_moment_ref(ref, 1, t), rel=1e-4, abs=1e-6)


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
            return jnp.where(w == 1, jnp.log(self.p), jnp.where(w == 0, jnp.log1p(-self.p), -jnp.inf))

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


def test_law_methods_under_jit_and_vmap():
    alphas = jnp.array([0.3, 1.0, 2.5])

    @jax.jit
    def stats(a):
        law = jaxmix.EpBeta(a, 2.0, 0.1, 0.3)
        return jnp.stack([law.mean(), law.variance(), law.cdf(0.4), law.partial_moment(2, 0.5), law.log_prob(0.2)])

    batched = jax.vmap(stats)(alphas)
    for k, a in enumerate(np.asarray(alphas)):
        np.testing.assert_allclose(batched[k], stats(jnp.asarray(a)), rtol=1e-6)
    ref = scipy.stats.beta(1.0, 2.0, loc=-0.1, scale=1.4)
    np.testing.assert_allclose(batched[1, :3], [ref.mean(), ref.var(), ref.cdf(0.4)], rtol=1e-5)
    # a law whose leaves carry a batch axis can itself be vmapped over
    laws = jaxmix.Beta(alphas, jnp.ones(3))
    means = jax.vmap(lambda law: law.mean())(laws)
    np.testing.assert_allclose(means, alphas / (alphas + 1), rtol=1e-6)
