"""jaxmix.Scheme and jaxmix.per_column: validation, cross-moments and kept-parent moments.

Oracles: Beta and uniform moments in closed form (scipy.stats for the Beta ones), the exact law of
max(W, 1 - W) for W ~ Unif(0, 1), and Monte Carlo draws of the scheme itself (z-scores against the
estimated standard error, |z| < Z_MAX = 5; see tests/helpers.py for the false-failure rates).
The theory is in docs/theory.md#class-covariance.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import jaxmix
from helpers import Z_MAX, zscores_mean

M = 100_000  # Monte Carlo draws per scheme


def _beta_moments(a, b):
    return scipy.stats.beta(a, b).moment(1), scipy.stats.beta(a, b).moment(2)


def test_validation_names_the_argument():
    beta = jaxmix.Beta(2.0, 3.0)
    with pytest.raises(TypeError, match="laws"):
        jaxmix.Scheme(())
    with pytest.raises(ValueError, match="columns"):
        jaxmix.Scheme((beta,), columns=(0, 1))
    with pytest.raises(ValueError, match="labels"):
        jaxmix.Scheme((beta,), labels=2)
    with pytest.raises(ValueError, match="labels=3"):
        jaxmix.per_column([beta, beta], labels=3)
    with pytest.raises(ValueError, match="at least one law"):
        jaxmix.per_column([])
    with pytest.raises(TypeError):
        jaxmix.per_column([beta, "uniform"])
    with pytest.raises(ValueError, match="columns"):
        jaxmix.per_column([beta, beta]).check_features(3)
    with pytest.raises(ValueError, match="label law"):
        jaxmix.per_column([beta, beta]).kept_parent_moments(0.5)


def test_per_column_layout():
    b, u = jaxmix.Beta(2.0, 3.0), jaxmix.Uniform()
    s = jaxmix.per_column([b, b, u], labels=u)
    assert s.columns == (0, 1, 2) and s.labels == 3 and len(s.laws) == 4
    s = jaxmix.per_column([b, u], labels=1)  # labels cut on column 1's own draw
    assert s.columns == (0, 1) and s.labels == 1 and len(s.laws) == 2
    assert jaxmix.Scheme((b,)).shared and not s.shared


def test_cross_moment_closed_form(x64):
    a1, a2 = _beta_moments(2.0, 3.0)
    b1, b2 = _beta_moments(0.5, 0.7)
    u1, u2 = 0.5, 1.0 / 3.0
    shared = jaxmix.Scheme((jaxmix.Beta(2.0, 3.0),))
    np.testing.assert_allclose(shared.cross_moment(), a2, rtol=1e-12)
    np.testing.assert_allclose(shared.mean_weight(), a1, rtol=1e-12)
    # columns 0 and 2 share one draw of Beta(2, 3); column 1 draws Beta(0.5, 0.7); column 3 Unif
    s = jaxmix.Scheme(
        (jaxmix.Beta(2.0, 3.0), jaxmix.Beta(0.5, 0.7), jaxmix.Uniform()), columns=(0, 1, 0, 2)
    )
    e = np.array([a1, b1, a1, u1])
    expected = np.outer(e, e)
    for k, second in [(0, a2), (1, b2), (2, a2), (3, u2)]:
        expected[k, k] = second
    expected[0, 2] = expected[2, 0] = a2  # same draw
    np.testing.assert_allclose(s.cross_moment(), expected, rtol=1e-12)
    np.testing.assert_allclose(s.mean_weight(), e, rtol=1e-12)
    # covariance_factor is 1 - E W^k - E W^m + 2 E[W^k W^m]
    np.testing.assert_allclose(
        jaxmix.covariance_factor(s), 1.0 - e[:, None] - e[None, :] + 2.0 * expected, rtol=1e-12
    )


def test_kept_parent_uniform_exact(x64):
    # tau = 1/2: V = max(W, 1 - W) ~ Unif(1/2, 1): E[V] = 3/4, E[V^2] = 7/12
    ev, evv = jaxmix.Scheme((jaxmix.Uniform(),)).kept_parent_moments(0.5)
    np.testing.assert_allclose([ev, evv], [0.75, 7.0 / 12.0], rtol=1e-12)
    # tau = 0: the label is always the first parent's, V = W
    ev, evv = jaxmix.Scheme((jaxmix.Uniform(),)).kept_parent_moments(0.0)
    np.testing.assert_allclose([ev, evv], [0.5, 1.0 / 3.0], rtol=1e-12)


@eqx.filter_jit
def _sample(scheme, key):
    return scheme.sample(key, M)


@eqx.filter_jit
def _moments(scheme, tau):
    return scheme.cross_moment(), *scheme.kept_parent_moments(tau)


def _kept_parent_draws(scheme, tau, key):
    draws = np.asarray(_sample(scheme, key), np.float64)  # (M, G)
    w = draws[:, list(scheme.columns)]  # (M, d)
    a = (draws[:, scheme.labels] >= tau)[:, None]
    return w, np.where(a, w, 1.0 - w)


SCHEMES = {
    "independent label law": lambda: jaxmix.per_column(
        [jaxmix.Beta(2.0, 3.0), jaxmix.EpBeta(1.5, 1.2, 0.2, 0.3)], labels=jaxmix.Uniform()
    ),
    "label on column 0": lambda: jaxmix.per_column(
        [jaxmix.Beta(0.5, 0.5), jaxmix.Uniform()], labels=0
    ),
    "grouped": lambda: jaxmix.Scheme(
        (jaxmix.EpBeta(2.0, 1.0, 0.3, 0.1), jaxmix.Uniform()), columns=(0, 1, 0), labels=1
    ),
}


@pytest.mark.parametrize("name", list(SCHEMES))
def test_moments_match_monte_carlo(name):
    """E[W^k W^m], E[V_k], E[V_k V_m] against draws of the scheme itself (<= 24 z-scores each)."""
    scheme = SCHEMES[name]()
    tau = 0.4
    w, v = _kept_parent_draws(scheme, tau, jax.random.key(7))
    d = w.shape[1]
    ww = (w[:, :, None] * w[:, None, :]).reshape(M, d * d)
    vv = (v[:, :, None] * v[:, None, :]).reshape(M, d * d)
    cross, ev, evv = _moments(scheme, tau)
    for what, samples, exact in [
        ("E[W W]", ww, cross),
        ("E[V]", v, ev),
        ("E[V V]", vv, evv),
    ]:
        z = zscores_mean(samples, np.asarray(exact, np.float64).ravel())
        assert np.max(np.abs(z)) < Z_MAX, f"{name} {what}: z = {z}"


def test_transforms():
    def mean_kept(alpha):
        scheme = jaxmix.per_column([jaxmix.Beta(alpha, 2.0), jaxmix.Uniform()], labels=0)
        return scheme.kept_parent_moments(0.5)[0][0]

    jitted = jax.jit(mean_kept)
    alphas = jnp.array([0.5, 1.0, 3.0])
    loop = jnp.stack([jitted(a) for a in alphas])
    np.testing.assert_allclose(jax.jit(jax.vmap(mean_kept))(alphas), loop, rtol=1e-5)
    # d E[V_0] / d alpha against a central difference (float32: step 1e-2, tolerance 1e-3)
    h = 1e-2
    fd = (jitted(jnp.float32(1.0 + h)) - jitted(jnp.float32(1.0 - h))) / (2 * h)
    np.testing.assert_allclose(jax.jit(jax.grad(mean_kept))(1.0), fd, rtol=1e-3, atol=1e-5)
