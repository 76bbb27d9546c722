"""Every closed-form map under grad (against central differences, float64), jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxmix
from helpers import assert_grad_matches_fd


def _summary():
    rng = np.random.default_rng(1)
    labels = np.arange(40) % 2
    x = rng.normal(size=(40, 3)) + 1.5 * labels[:, None]
    return jaxmix.summarize(x, labels)


def test_grad_covariance_factor(x64):
    assert_grad_matches_fd(
        lambda a, b: jaxmix.covariance_factor(jaxmix.Beta(a, b)), {"a": 0.7, "b": 2.5}
    )
    assert_grad_matches_fd(
        lambda a, b, e0, e1: jaxmix.covariance_factor(jaxmix.EpBeta(a, b, e0, e1)),
        {"a": 1.3, "b": 0.8, "e0": 0.2, "e1": 0.35},
    )
    assert_grad_matches_fd(
        lambda lo, hi: jaxmix.covariance_factor(jaxmix.Uniform(lo, hi)), {"lo": -0.1, "hi": 1.2}
    )


def test_grad_class_mean_shift_in_every_parameter(x64):
    assert_grad_matches_fd(
        lambda a, b, e0, e1, t: jaxmix.class_mean_shift(jaxmix.EpBeta(a, b, e0, e1), tau=t),
        {"a": 1.3, "b": 0.8, "e0": 0.2, "e1": 0.35, "t": 0.45},
    )
    assert_grad_matches_fd(
        lambda a, b: jaxmix.class_mean_shift(jaxmix.Beta(a, b)), {"a": 2.0, "b": 1.0}
    )


def test_grad_predict_class_moments(x64):
    s = _summary()

    def f(a, b, e0, e1):
        p = jaxmix.predict(s, jaxmix.EpBeta(a, b, e0, e1), tau=0.5)
        return p.class_covs[1, 0, 2] + p.class_means[0, 1] + p.cov[0, 0]

    assert_grad_matches_fd(f, {"a": 1.5, "b": 1.1, "e0": 0.3, "e1": 0.1})

    def g(a, lo):
        sch = jaxmix.per_column(
            [jaxmix.Beta(a, 2.0), jaxmix.Uniform(lo, 1.0), jaxmix.Beta(1.0, a)], labels=0
        )
        return jaxmix.predict(s, sch, replace=False).class_covs[0].sum()

    assert_grad_matches_fd(g, {"a": 1.7, "lo": -0.2})


def test_jit_and_vmap_of_summarize_predict_pipeline():
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.normal(size=(5, 50, 3)), jnp.float32)
    ls = jnp.asarray(np.tile(np.arange(50) % 2, (5, 1)))

    @jax.jit
    def pipeline(x, labels, alpha):
        law = jaxmix.Beta(alpha, alpha)
        return jaxmix.predict(jaxmix.summarize(x, labels, num_classes=2), law, tau=0.5)

    out = jax.vmap(pipeline)(xs, ls, jnp.linspace(0.2, 2.0, 5))
    assert out.cov.shape == (5, 3, 3) and out.class_covs.shape == (5, 2, 3, 3)
    one = pipeline(xs[2], ls[2], jnp.linspace(0.2, 2.0, 5)[2])
    np.testing.assert_allclose(out.class_covs[2], one.class_covs, rtol=1e-5, atol=1e-6)
    k = jax.vmap(lambda a: jaxmix.covariance_factor(jaxmix.Beta(a, a)))(jnp.array([0.5, 1.0]))
    np.testing.assert_allclose(k, [0.75, 2 / 3], rtol=1e-6)
