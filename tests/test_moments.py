"""Closed-form moment maps: exact identities (float64) and predict vs Monte Carlo of mixup."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate

import jaxmix
from helpers import assert_grad_matches_fd, assert_summary_matches


def _table(key=0, n=60, d=3, num_classes=3, dtype=np.float64):
    """A small labelled table: class-shifted correlated Gaussian columns (all classes present)."""
    rng = np.random.default_rng(key)
    labels = np.arange(n) % num_classes
    shift = rng.normal(0, 2.0, (num_classes, d))
    mix = rng.normal(0, 1.0, (d, d))
    x = rng.normal(size=(n, d)) @ mix + shift[labels]
    return x.astype(dtype), labels


LAW_CASES = {
    "uniform": lambda: jaxmix.Uniform(),
    "beta": lambda: jaxmix.Beta(0.4, 0.4),
    "beta_skew": lambda: jaxmix.Beta(2.0, 0.5),
    "epbeta": lambda: jaxmix.EpBeta(0.78, 0.78, 0.3, 0.3),
    "epbeta_skew": lambda: jaxmix.EpBeta(4.34, 1.33, 0.2, 0.4),
    "per_column": lambda: jaxmix.per_column(
        [jaxmix.Beta(2.0, 2.0), jaxmix.Uniform(-0.1, 1.2), jaxmix.EpBeta(0.78, 0.78, 0.3, 0.3)],
        labels=jaxmix.Beta(0.5, 0.9),
    ),
    "per_column_label_on_column": lambda: jaxmix.per_column(
        [jaxmix.Beta(2.0, 2.0), jaxmix.Uniform(), jaxmix.EpBeta(0.78, 0.78, 0.3, 0.3)], labels=2
    ),
    "grouped": lambda: jaxmix.Scheme(
        (jaxmix.Uniform(-0.2, 1.2), jaxmix.Beta(0.3, 0.3)), columns=(0, 1, 0), labels=1
    ),
}


# --- exact identities ------------------------------------------------------------------------


def test_summary_is_consistent(x64):
    x, lab = _table()
    s = jaxmix.summarize(x, lab)
    np.testing.assert_allclose(s.mean, x.mean(0), rtol=1e-13)
    np.testing.assert_allclose(s.cov, np.cov(x.T, bias=True), rtol=1e-12)
    d = s.class_means - s.mean
    total = jnp.einsum("c,cij->ij", s.class_probs, s.class_covs + d[:, :, None] * d[:, None, :])
    np.testing.assert_allclose(total, s.cov, rtol=1e-12)
    for c in range(3):
        np.testing.assert_allclose(s.class_covs[c], np.cov(x[lab == c].T, bias=True), rtol=1e-12)


@pytest.mark.parametrize("case", ["uniform", "beta", "epbeta_skew", "per_column"])
@pytest.mark.parametrize("replace", [True, False])
def test_predict_is_closed_on_summary(case, replace, x64):
    """The predicted class moments recombine into the predicted overall covariance."""
    weights = LAW_CASES[case]()  # built under x64: float64 parameters
    x, lab = _table()
    p = jaxmix.predict(jaxmix.summarize(x, lab), weights, tau=0.4, replace=replace)
    d = p.class_means - p.mean
    total = jnp.einsum("c,cij->ij", p.class_probs, p.class_covs + d[:, :, None] * d[:, None, :])
    np.testing.assert_allclose(total, p.cov, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(
        jnp.einsum("c,cj->j", p.class_probs, p.class_means), p.mean, rtol=1e-12
    )


def test_closed_forms_for_common_laws(x64):
    for a in (0.1, 0.4, 1.0, 5.0):
        assert float(jaxmix.covariance_factor(jaxmix.Beta(a, a))) == pytest.approx(
            (a + 1) / (2 * a + 1), rel=1e-13
        )
    assert float(jaxmix.covariance_factor(jaxmix.Uniform())) == pytest.approx(2 / 3, rel=1e-14)
    # a symmetric variance-preserving EpBeta: kappa + 1 = s^2
    eps = 0.3
    s = 1 + 2 * eps
    law = jaxmix.EpBeta((s**2 - 1) / 2, (s**2 - 1) / 2, eps, eps)
    assert float(jaxmix.covariance_factor(law)) == pytest.approx(1.0, rel=1e-13)
    # under variance preservation with tau = 1/2, u = E[min(W, 1-W)^2]
    # (docs/theory.md#theorem-4-class-mean-shift)
    ref = scipy.integrate.quad(
        lambda w: min(w, 1 - w) ** 2 * np.exp(float(law.log_prob(w))), -eps, 1 + eps, points=[0.5]
    )[0]
    assert float(jaxmix.class_mean_shift(law)) == pytest.approx(ref, rel=1e-8)
    # the law-free bound delta <= eps / (1 + 2 eps)
    assert float(jaxmix.class_mean_shift(law)) <= eps / (1 + 2 * eps)


def test_theorem4_forms_and_variance_preserving_class_variance(x64):
    x, lab = _table()
    s = jaxmix.summarize(x, lab)
    eps = 0.25
    sc = 1 + 2 * eps
    law = jaxmix.EpBeta((sc**2 - 1) / 2, (sc**2 - 1) / 2, eps, eps)
    p = jaxmix.predict(s, law)
    u = float(jaxmix.class_mean_shift(law))
    for c in range(3):
        other_mean = x[lab != c].mean(0)
        pc = float(s.class_probs[c])
        np.testing.assert_allclose(
            p.class_means[c],
            s.class_means[c] - u * (1 - pc) * (s.class_means[c] - other_mean),
            rtol=1e-12,
        )
        d = s.class_means[c] - s.mean
        sig_l = jnp.diagonal(s.class_covs[c])
        expected = sig_l + u * (jnp.diagonal(s.cov) - sig_l) + u * (1 - u) * d**2
        np.testing.assert_allclose(jnp.diagonal(p.class_covs[c]), expected, rtol=1e-12)
    np.testing.assert_allclose(p.cov, s.cov, rtol=1e-12)  # Theorem 2: kept exactly


def test_finite_sample_factors(x64):
    x, lab = _table()
    s = jaxmix.summarize(x, lab)
    law = jaxmix.Beta(0.4, 0.4)
    k = float(jaxmix.covariance_factor(law))
    n = x.shape[0]
    np.testing.assert_allclose(jaxmix.predict(s, law).cov, k * s.cov, rtol=1e-13)
    np.testing.assert_allclose(
        jaxmix.predict(s, law, replace=False).cov, (n * k - 1) / (n - 1) * s.cov, rtol=1e-13
    )


def test_repeated_synthesis_compounds(x64):
    x, lab = _table()
    s = jaxmix.summarize(x, lab)
    law = jaxmix.Uniform()
    t_gen = s
    for _ in range(5):
        t_gen = jaxmix.predict(t_gen, law)
    np.testing.assert_allclose(t_gen.cov, (2 / 3) ** 5 * s.cov, rtol=1e-12)
    np.testing.assert_allclose(t_gen.class_probs, s.class_probs, rtol=1e-14)


def test_per_column_factor_matrix(x64):
    laws = [jaxmix.Beta(2.0, 2.0), jaxmix.Uniform(), jaxmix.EpBeta(0.78, 0.78, 0.3, 0.3)]
    k = np.asarray(jaxmix.covariance_factor(jaxmix.per_column(laws)))
    m1 = np.array([float(l.mean()) for l in laws])
    m2 = np.array([float(l.moment(2)) for l in laws])
    expected = 1 - m1[:, None] - m1[None, :] + 2 * np.outer(m1, m1)
    np.fill_diagonal(expected, 1 - 2 * m1 + 2 * m2)
    np.testing.assert_allclose(k, expected, rtol=1e-13)
    # columns sharing one draw behave like a shared weight between them
    grouped = jaxmix.Scheme((laws[1], laws[0]), columns=(0, 0, 1), labels=0)
    kg = np.asarray(jaxmix.covariance_factor(grouped))
    assert kg[0, 1] == pytest.approx(2 / 3, rel=1e-13) and kg[0, 2] == pytest.approx(0.5, rel=1e-13)


def test_u_derivative_in_tau(x64):
    """Shared weight: du/dtau = -(1 - 2 tau) f_W(tau), so tau = 1/2 minimises u."""
    law = jaxmix.Beta(2.0, 3.0)
    du = jax.grad(lambda t: jaxmix.class_mean_shift(law, tau=t))
    for tau in (0.2, 0.5, 0.7):
        expected = -(1 - 2 * tau) * np.exp(float(law.log_prob(tau)))
        assert float(du(tau)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


# --- predict vs Monte Carlo ------------------------------------------------------------------


MC_CASES = [(case, 0.5, True) for case in sorted(LAW_CASES)] + [
    (case, 0.3, False) for case in sorted(LAW_CASES)
]


@pytest.mark.parametrize("case,tau,replace", MC_CASES)
def test_predict_matches_monte_carlo(case, tau, replace):
    """All moments (mean, cov, class probs, class means, class covs) within 5 SEs.

    About 70 comparisons per case at 5.7e-7 each: false-failure rate < 5e-5 per case.
    """
    weights = LAW_CASES[case]()
    x, lab = _table(dtype=np.float32, n=40)
    s = jaxmix.summarize(x, lab)
    pred = jaxmix.predict(s, weights, tau=tau, replace=replace)
    x_syn, l_syn = jaxmix.mixup(
        jax.random.key(7), x, 250_000, weights, labels=lab, tau=tau, replace=replace
    )
    assert_summary_matches(pred, x_syn, l_syn, what=f"{case} tau={tau} replace={replace}")


def test_monte_carlo_check_can_fail():
    """Negative control: predicting Beta(0.4, 0.4) for Unif(0, 1) samples is caught."""
    x, lab = _table(dtype=np.float32, n=40)
    pred = jaxmix.predict(jaxmix.summarize(x, lab), jaxmix.Beta(0.4, 0.4))
    x_syn, l_syn = jaxmix.mixup(jax.random.key(7), x, 250_000, jaxmix.Uniform(), labels=lab)
    with pytest.raises(AssertionError, match="max"):
        assert_summary_matches(pred, x_syn, l_syn)
    # and the finite-sample correction is visible: i != j predicted, i.i.d. parents sampled
    pred_distinct = jaxmix.predict(jaxmix.summarize(x[:10]), jaxmix.Uniform(), replace=False)
    x_syn = jaxmix.mixup(jax.random.key(8), x[:10], 250_000, jaxmix.Uniform())
    with pytest.raises(AssertionError, match="cov"):
        assert_summary_matches(pred_distinct, x_syn)


# --- every closed-form map under grad (against central differences, float64), jit and vmap ---
def _two_class_summary():
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
    s = _two_class_summary()

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
