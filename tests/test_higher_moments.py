"""Third and fourth moments of the mixup population (jaxmix.higher, summarize/predict order=3, 4).

Three independent checks of every formula:
1. exact enumeration in numpy of the synthetic distribution on a tiny table: every parent pair
   (i, j) (i != j for replace=False) times a discrete weight law, the Gauss-Jacobi nodes of a
   Beta law (exact for polynomials of degree <= 2N - 1 in W, and the moment maps are polynomials
   of degree <= 4), with one node set per law of a per-column scheme;
2. Monte Carlo on a real skewed table (penguins) with batch means: 40 batches, |t| < 5 per
   entry; one comparison fails by chance with probability 1.3e-5 (Student t, 39 d.o.f.), a test
   with N comparisons with at most N * 1.3e-5 (union bound; N <= 40 here);
3. the kurtosis recursion κ_t + 3 = (κ_0 + 3)(1 + 2d)^t for a Gaussian column under variance
   preservation, against repeated ``predict``.
Float64 tolerances 1e-10 (relative) for the exact checks; float32 checks use 2e-5.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special as sps

import jaxmix
from jaxmix import higher

BATCHES = 40
T_MAX = 5.0


# --- independent oracle: enumeration ------------------------------------------------------------


def beta_nodes(a, b, num=6, eps0=0.0, eps1=0.0):
    """(w, p): Gauss-Jacobi nodes/weights of W = s B - eps0, B ~ Beta(a, b)."""
    # roots_jacobi(n, alpha, beta): weight (1 - t)^alpha (1 + t)^beta on [-1, 1]; B = (1 + t)/2
    t, wt = sps.roots_jacobi(num, b - 1.0, a - 1.0)
    p = wt / wt.sum()
    s = 1.0 + eps0 + eps1
    return s * (1.0 + t) / 2.0 - eps0, p


def enumerate_moments(x, column_law, node_sets, replace=True):
    """Exact mean, covariance, third and fourth central moment tensors of x~ by enumeration.

    column_law[k]: index of the law of column k; node_sets[g] = (w, p) of law g.
    """
    n, d = x.shape
    pairs = [(i, j) for i in range(n) for j in range(n) if replace or i != j]
    prob_pair = 1.0 / len(pairs)
    xi = np.array([x[i] for i, _ in pairs])
    xj = np.array([x[j] for _, j in pairs])
    vals, probs = [], []
    for combo in itertools.product(*[range(len(w)) for w, _ in node_sets]):
        wg = np.array([node_sets[g][0][c] for g, c in enumerate(combo)])
        pw = np.prod([node_sets[g][1][c] for g, c in enumerate(combo)])
        wk = wg[np.asarray(column_law)]
        vals.append(wk * xi + (1.0 - wk) * xj)
        probs.append(np.full(len(pairs), pw * prob_pair))
    v = np.concatenate(vals)
    p = np.concatenate(probs)
    mean = p @ v
    c = v - mean
    cov = np.einsum("r,rk,rl->kl", p, c, c)
    m3 = np.einsum("r,rk,rl,rm->klm", p, c, c, c)
    m4 = np.einsum("r,rk,rl,rm,rp->klmp", p, c, c, c, c)
    return mean, cov, m3, m4


def tiny_table():
    return np.array([[0.0, 1.0, -2.0], [1.0, 3.0, 0.5], [4.0, -1.0, 1.0], [0.5, 0.0, 7.0]])


# laws as (jaxmix law, numpy nodes)
LAWS = {
    "unif": (lambda: jaxmix.Uniform(), lambda: beta_nodes(1.0, 1.0)),
    "beta04": (lambda: jaxmix.Beta(0.4, 0.4), lambda: beta_nodes(0.4, 0.4)),
    "beta_skew": (lambda: jaxmix.Beta(2.0, 0.7), lambda: beta_nodes(2.0, 0.7)),
    "epbeta": (
        lambda: jaxmix.EpBeta(3.0, 0.8, 0.3, 0.2),
        lambda: beta_nodes(3.0, 0.8, eps0=0.3, eps1=0.2),
    ),
}


@pytest.mark.parametrize("replace", [True, False])
@pytest.mark.parametrize("name", sorted(LAWS))
def test_shared_law_matches_enumeration(x64, name, replace):
    x = tiny_table()
    make_law, nodes = LAWS[name]
    mean, cov, m3, m4 = enumerate_moments(x, [0, 0, 0], [nodes()], replace)
    pred = jaxmix.predict(jaxmix.summarize(x, order=4), make_law(), replace=replace)
    np.testing.assert_allclose(pred.mean, mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pred.cov, cov, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pred.central3, m3, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(pred.central4, m4, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("replace", [True, False])
def test_scheme_matches_enumeration(x64, replace):
    """Three laws, columns (0, 1, 0) share law 0: grouped products and independent groups."""
    x = tiny_table()
    laws = [LAWS["beta_skew"], LAWS["epbeta"], LAWS["beta04"]]
    scheme = jaxmix.Scheme(tuple(l[0]() for l in laws), columns=(0, 1, 0), labels=2)
    mean, cov, m3, m4 = enumerate_moments(x, [0, 1, 0], [nodes() for _, nodes in laws], replace)
    pred = jaxmix.predict(jaxmix.summarize(x, order=4), scheme, replace=replace)
    np.testing.assert_allclose(pred.cov, cov, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pred.central3, m3, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(pred.central4, m4, rtol=1e-10, atol=1e-10)


def test_per_column_scheme_matches_enumeration(x64):
    x = tiny_table()
    laws = [LAWS["unif"], LAWS["beta_skew"], LAWS["epbeta"]]
    scheme = jaxmix.per_column([l[0]() for l in laws])
    _, _, m3, m4 = enumerate_moments(x, [0, 1, 2], [nodes() for _, nodes in laws])
    pred = jaxmix.predict(jaxmix.summarize(x, order=4), scheme)
    np.testing.assert_allclose(pred.central3, m3, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(pred.central4, m4, rtol=1e-10, atol=1e-10)


def test_summarize_tensors_match_numpy(x64):
    x = jaxmix.load_penguins().x
    s = jaxmix.summarize(x, order=4)
    c = x - x.mean(0)
    np.testing.assert_allclose(s.central3, np.einsum("nk,nl,nm->klm", c, c, c) / len(x), rtol=1e-10)
    np.testing.assert_allclose(
        s.central4, np.einsum("nk,nl,nm,np->klmp", c, c, c, c) / len(x), rtol=1e-10
    )
    from scipy import stats

    np.testing.assert_allclose(higher.skewness(s), stats.skew(x), rtol=1e-10)
    np.testing.assert_allclose(higher.kurtosis(s), stats.kurtosis(x, fisher=False), rtol=1e-10)


# --- scalars -----------------------------------------------------------------------------------


def _quad(law_nodes, fn):
    w, p = law_nodes
    return float(p @ fn(w))


@pytest.mark.parametrize("name", sorted(LAWS))
def test_scalars_against_quadrature(x64, name):
    make_law, nodes = LAWS[name]
    law, nd = make_law(), nodes()
    np.testing.assert_allclose(
        higher.third_moment_factor(law), _quad(nd, lambda w: w**3 + (1 - w) ** 3), rtol=1e-12
    )
    np.testing.assert_allclose(
        higher.fourth_moment_factor(law), _quad(nd, lambda w: w**4 + (1 - w) ** 4), rtol=1e-12
    )
    np.testing.assert_allclose(
        higher.tail_factor(law), _quad(nd, lambda w: w**2 * (1 - w) ** 2), rtol=1e-12
    )


def test_uniform_closed_forms(x64):
    u = jaxmix.Uniform()
    np.testing.assert_allclose(higher.third_moment_factor(u), 0.5, rtol=1e-14)
    np.testing.assert_allclose(higher.tail_factor(u), 1.0 / 30.0, rtol=1e-14)
    np.testing.assert_allclose(higher.fourth_moment_factor(u), 0.4, rtol=1e-14)


def test_variance_preserving_law_keeps_skewness(x64):
    law = jaxmix.select_epbeta(0.05)
    np.testing.assert_allclose(higher.third_moment_factor(law), 1.0, atol=1e-6)
    x = jaxmix.load_penguins().x
    s = jaxmix.summarize(x, order=3)
    p = jaxmix.predict(s, law)
    np.testing.assert_allclose(higher.skewness(p), higher.skewness(s), rtol=1e-5)


def test_kurtosis_recursion_gaussian_column(x64):
    """κ_t + 3 = (κ_0 + 3)(1 + 2d)^t from a Gaussian column (κ_0 = 3) through predict."""
    law = jaxmix.select_epbeta(0.05)
    d = float(higher.tail_factor(law))
    np.testing.assert_allclose(d, 0.0345, atol=5e-4)  # the value quoted in docs/higher_moments.md
    sigma2 = 2.5
    s = jaxmix.Summary(
        jnp.zeros(1),
        jnp.full((1, 1), sigma2),
        jnp.asarray(1000.0),
        central3=jnp.zeros((1, 1, 1)),
        central4=jnp.full((1, 1, 1, 1), 3.0 * sigma2**2),
    )
    kurt = []
    for _ in range(25):
        s = jaxmix.predict(s, law)
        kurt.append(float(higher.kurtosis(s)[0]))
    t = np.arange(1, 26)
    expected = 6.0 * (1.0 + 2.0 * d) ** t - 3.0
    # E[W^2] = E[W] holds to ~1e-10 for Algorithm 1 in float64; K^t drifts by less than 1e-8
    np.testing.assert_allclose(kurt, expected, rtol=1e-7)
    np.testing.assert_allclose(higher.kurtosis_map(law, 3.0, t), expected, rtol=1e-7)
    assert 3.40 < kurt[0] < 3.42 and 8.6 < kurt[9] < 8.8 and 28.0 < kurt[24] < 30.0


def test_kurtosis_and_skewness_maps_match_predict_general(x64):
    """Non-preserving laws (Unif, Beta(0.4, 0.4)) and a scheme: maps equal repeated predict."""
    x = jaxmix.load_penguins().x
    for w in (
        jaxmix.Uniform(),
        jaxmix.Beta(0.4, 0.4),
        jaxmix.per_column(
            [
                jaxmix.Uniform(),
                jaxmix.Beta(2.0, 2.0),
                jaxmix.Beta(0.4, 0.4),
                jaxmix.select_epbeta(0.03),
            ]
        ),
    ):
        s0 = jaxmix.summarize(x, order=4)
        s = s0
        for _ in range(3):
            s = jaxmix.predict(s, w)
        np.testing.assert_allclose(
            higher.kurtosis(s), higher.kurtosis_map(w, higher.kurtosis(s0), 3), rtol=1e-10
        )
        np.testing.assert_allclose(
            higher.skewness(s), higher.skewness_map(w, higher.skewness(s0), 3), rtol=1e-10
        )


# --- Monte Carlo on a real skewed table ----------------------------------------------------------


def _batch_t(products, exact):
    """t statistics of batch means of per-row products (m, ...) against exact."""
    prods = np.asarray(products, np.float64)
    b = prods.reshape(BATCHES, -1, *prods.shape[1:]).mean(1)
    se = b.std(0, ddof=1) / np.sqrt(BATCHES)
    return (b.mean(0) - np.asarray(exact)) / se


@pytest.mark.slow
@pytest.mark.parametrize(
    "weights",
    [
        pytest.param(lambda: jaxmix.select_epbeta(0.05), id="epbeta"),
        pytest.param(lambda: jaxmix.Beta(0.4, 0.4), id="beta04"),
        pytest.param(
            lambda: jaxmix.per_column(
                [
                    jaxmix.Uniform(),
                    jaxmix.select_epbeta(0.03),
                    jaxmix.Beta(0.4, 0.4),
                    jaxmix.Beta(2.0, 1.0),
                ]
            ),
            id="per_column",
        ),
    ],
)
def test_monte_carlo_penguins(x64, weights):
    x = jaxmix.load_penguins().x
    x = (x - x.mean(0)) / x.std(0)  # z-scores: the body-mass column is right-skewed (0.47)
    w = weights()
    pred = jaxmix.predict(jaxmix.summarize(x, order=4), w)
    syn = np.asarray(jaxmix.mixup(jax.random.key(3), x, 100_000, w))
    c = syn - x.mean(0)  # exact population mean x̄ (Theorem 2)
    idx = np.arange(4)
    t3 = _batch_t(c**3, np.asarray(pred.central3)[idx, idx, idx])
    t4 = _batch_t(c**4, np.asarray(pred.central4)[idx, idx, idx, idx])
    t_cross3 = _batch_t(c[:, 0:1] ** 2 * c[:, 3:4], [pred.central3[0, 0, 3]])
    t_cross4 = _batch_t(c[:, 0:1] ** 2 * c[:, 2:3] * c[:, 3:4], [pred.central4[0, 0, 2, 3]])
    t = np.concatenate([t3, t4, t_cross3, t_cross4])
    assert np.all(np.abs(t) < T_MAX), t


@pytest.mark.slow
def test_monte_carlo_detects_a_wrong_tail_term(x64):
    """The test statistic can fail: drop the 6 d σ⁴ term and the fourth moments are rejected."""
    x = jaxmix.load_penguins().x
    x = (x - x.mean(0)) / x.std(0)
    law = jaxmix.select_epbeta(0.05)
    s = jaxmix.summarize(x, order=4)
    wrong = higher.fourth_moment_factor(law) * s.central4
    syn = np.asarray(jaxmix.mixup(jax.random.key(3), x, 100_000, law))
    c = syn - x.mean(0)
    idx = np.arange(4)
    t4 = _batch_t(c**4, np.asarray(wrong)[idx, idx, idx, idx])
    assert np.any(np.abs(t4) > T_MAX), t4


# --- transforms, structure, validation ------------------------------------------------------------


def test_order2_structure_unchanged():
    x = np.random.default_rng(0).normal(size=(10, 3))
    s = jaxmix.summarize(x)
    assert s.central3 is None and s.central4 is None
    assert len(jax.tree_util.tree_leaves(s)) == 3
    assert jaxmix.predict(s, jaxmix.Uniform()).central3 is None
    s3 = jaxmix.summarize(x, order=3)
    assert s3.central4 is None and jaxmix.predict(s3, jaxmix.Uniform()).central4 is None


def test_jit_vmap_grad(x64):
    x = jnp.asarray(jaxmix.load_penguins().x[:40])
    s = jaxmix.summarize(x, order=4)

    @jax.jit
    def kurt_after(alpha):
        return higher.kurtosis(jaxmix.predict(s, jaxmix.Beta(alpha, alpha)))

    ref = higher.kurtosis(jaxmix.predict(s, jaxmix.Beta(0.4, 0.4)))
    np.testing.assert_allclose(kurt_after(0.4), ref, rtol=1e-12)
    alphas = jnp.array([0.4, 1.0, 2.0])
    batched = jax.vmap(kurt_after)(alphas)
    for a, row in zip(alphas, batched, strict=True):
        np.testing.assert_allclose(
            row, higher.kurtosis(jaxmix.predict(s, jaxmix.Beta(a, a))), rtol=1e-12
        )
    g = jax.grad(lambda a: kurt_after(a)[3])(0.7)
    h = 1e-6
    fd = (kurt_after(0.7 + h)[3] - kurt_after(0.7 - h)[3]) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6)
    # summarize under jit/vmap (order is static)
    c3 = jax.jit(lambda v: jaxmix.summarize(v, order=3).central3)(x)
    np.testing.assert_allclose(c3, s.central3, rtol=1e-12)
    stacked = jax.vmap(lambda v: jaxmix.summarize(v, order=4).central4)(jnp.stack([x, 2 * x]))
    np.testing.assert_allclose(stacked[1], 16 * s.central4, rtol=1e-12)
    # d and the kurtosis map are differentiable in the law parameters
    gd = jax.grad(lambda a: higher.tail_factor(jaxmix.Beta(a, 2.0)))(1.5)
    fd = (
        higher.tail_factor(jaxmix.Beta(1.5 + h, 2.0))
        - higher.tail_factor(jaxmix.Beta(1.5 - h, 2.0))
    ) / (2 * h)
    np.testing.assert_allclose(gd, fd, rtol=1e-6)


def test_float32_default():
    x = np.asarray(jaxmix.load_penguins().x, np.float32)
    x = (x - x.mean(0)) / x.std(0)
    s = jaxmix.summarize(x, order=4)
    assert s.central4.dtype == jnp.float32
    p = jaxmix.predict(s, jaxmix.Beta(0.4, 0.4))
    with jax.enable_x64(True):
        p64 = jaxmix.predict(jaxmix.summarize(np.float64(x), order=4), jaxmix.Beta(0.4, 0.4))
        np.testing.assert_allclose(p.central4, p64.central4, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("order", [1, 5, True, 3.0, "3"])
def test_bad_order(order):
    with pytest.raises(ValueError, match="order"):
        jaxmix.summarize(np.ones((4, 2)), order=order)


def test_missing_tensors_are_a_clear_error():
    s = jaxmix.summarize(np.random.default_rng(0).normal(size=(5, 2)))
    with pytest.raises(ValueError, match="order=3"):
        higher.skewness(s)
    with pytest.raises(ValueError, match="order=4"):
        higher.kurtosis(s)


def test_min_tail_epbeta_is_a_local_minimum(x64):
    """Variance kept, u = δ, d below its neighbours along ε1 and below the ε0 = ε1 = 0.3 law."""
    law, e1 = higher.min_tail_epbeta(0.05)
    d = float(higher.tail_factor(law))
    np.testing.assert_allclose(float(law.moment(2) - law.moment(1)), 0.0, atol=1e-8)
    np.testing.assert_allclose(float(jaxmix.class_mean_shift(law)), 0.05, atol=1e-8)
    _, near = higher.tail_tradeoff(0.05, [e1 * 1.02, e1 * 1.1], eps0=0.0)
    assert np.all(near > d), (near, d)
    _, sym = higher.tail_tradeoff(0.05, [0.3])
    assert d < 0.95 * sym[0]


def test_plot_tail_tradeoff_draws_the_tradeoff_curve():
    """The plot helper draws d against ε at fixed δ (tail_tradeoff's values, NaN where δ is not
    attainable) and a designed law as a point at its (mean ε, d), on a log d axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eps = [0.05, 0.3, 0.5]  # 0.05 cannot reach δ = 0.05 with ε0 = ε1 (bound ε/(1 + 2ε))
    law = jaxmix.select_epbeta(0.05, eps0=0.0, eps1=0.3)
    ax = higher.plot_tail_tradeoff(0.05, eps, designed=[("one-sided", law)])
    curve, point = ax.get_lines()
    _, want = higher.tail_tradeoff(0.05, eps)
    np.testing.assert_allclose(curve.get_xdata(), eps)
    np.testing.assert_allclose(curve.get_ydata(), want, rtol=1e-6)
    assert np.isnan(want[0]) and np.all(np.isfinite(want[1:]))
    np.testing.assert_allclose(point.get_xdata(), [0.15])
    np.testing.assert_allclose(point.get_ydata(), [float(higher.tail_factor(law))], rtol=1e-6)
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "ε"
    plt.close(ax.figure)


@pytest.mark.slow
def test_paper_check_quick(tmp_path):
    """paper_checks/higher_moments.py --quick: JSON, figures, metadata, and the curves agree.

    32 independent chains per law; |t| < 5.5 per (generation >= 1, column, statistic) with 31
    degrees of freedom is 5e-6 per comparison and < 1e-3 for the 96 comparisons (union bound),
    to the extent that the chain-level skewness and kurtosis are close to normal at 1998 rows.
    """
    import importlib.util
    import json
    import sys
    from pathlib import Path

    checks = Path(__file__).resolve().parents[1] / "paper_checks"
    sys.path.insert(0, str(checks))
    spec = importlib.util.spec_from_file_location(
        "paper_checks_higher_moments", checks / "higher_moments.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(["--quick", "--no-progress", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "higher_moments.json").read_text())
    for fig in data["figures"]:
        assert (tmp_path / fig).stat().st_size > 1000
    meta = data["meta"]
    assert meta["command"].startswith("python paper_checks/higher_moments.py --quick")
    assert {"git_commit", "jax", "jaxmix", "numpy", "started_utc", "wall_s"} <= set(meta)
    laws = data["laws"]
    assert set(laws) == {"unif", "beta:0.4", "epbeta:0.05", "min_d"}
    for name, r in laws.items():
        assert r["max_abs_z"] < 5.5, (name, r["max_abs_z"])
    for name in ("epbeta:0.05", "min_d"):  # variance-preserving: skewness predicted constant
        np.testing.assert_allclose(laws[name]["T3"], 1.0, atol=1e-6)
        sk = np.asarray(laws[name]["skewness_predicted"])
        np.testing.assert_allclose(sk, np.broadcast_to(sk[0], sk.shape), rtol=1e-5)
    assert laws["min_d"]["d"] < 0.95 * laws["epbeta:0.05"]["d"]


def test_design_quantities_registered(x64):
    """design_weights reaches a target d by name ("tail_factor"), per law of a Scheme too."""
    from jaxmix import design

    assert {"tail_factor", "third_moment_factor", "kurtosis_growth"} <= set(design.QUANTITIES)
    scheme = jaxmix.Scheme((jaxmix.Beta(1.5, 2.0), jaxmix.Uniform()), columns=(0, 1))
    np.testing.assert_allclose(
        design.QUANTITIES["tail_factor"](scheme, 0.5, None),
        [higher.tail_factor(jaxmix.Beta(1.5, 2.0)), 1.0 / 30.0],
        rtol=1e-12,
    )
    target = float(higher.tail_factor(jaxmix.Beta(1.5, 2.0)))
    law, report = jaxmix.design_weights(
        jaxmix.Beta(0.7, 2.0), [jaxmix.Equal("tail_factor", target)], free=("alpha",)
    )
    assert bool(report.converged)
    np.testing.assert_allclose(float(law.alpha), 1.5, rtol=1e-6)


# --- class-conditional third and fourth moments (cut-point labels) ------------------------------


def split_nodes(density, lo, hi, tau, num=10):
    """(w, p): Gauss-Legendre nodes on [lo, tau] and [tau, hi] weighted by a polynomial density;
    exact for a polynomial density of degree <= 2 num - 5 times W^k, k <= 4, and the cut at tau
    falls between the two node sets."""
    t, wt = np.polynomial.legendre.leggauss(num)
    ws, ps = [], []
    for a, b in ((lo, tau), (tau, hi)):
        w = a + (b - a) * (t + 1.0) / 2.0
        ws.append(w)
        ps.append(wt * (b - a) / 2.0 * density(w))
    return np.concatenate(ws), np.concatenate(ps)


def enumerate_class_moments(x, labels, nodes, tau, num_classes):
    """Exact class probabilities, means and central moments (orders 2-4) of the synthetic
    population with cut labels (L~ = L_i if W >= tau else L_j), every parent pair with
    replacement times every weight node."""
    w, pw = nodes
    n = len(x)
    i, j, k = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n), np.arange(len(w))))
    v = w[k, None] * x[i] + (1.0 - w[k, None]) * x[j]
    lab = np.where(w[k] >= tau, labels[i], labels[j])
    p = pw[k] / n**2
    out = []
    for c in range(num_classes):
        pc, vc = p[lab == c], v[lab == c]
        q = pc.sum()
        mean = pc @ vc / q
        cc = vc - mean
        out.append(
            (
                q,
                mean,
                np.einsum("r,rk,rl->kl", pc, cc, cc) / q,
                np.einsum("r,rk,rl,rm->klm", pc, cc, cc, cc) / q,
                np.einsum("r,rk,rl,rm,rp->klmp", pc, cc, cc, cc, cc) / q,
            )
        )
    return [np.array(v) for v in zip(*out, strict=True)]


CLASS_LAWS = {
    "unif": (lambda: jaxmix.Uniform(), (0.0, 1.0), lambda w: np.ones_like(w)),
    "unif_wide": (
        lambda: jaxmix.Uniform(-0.3, 1.4),
        (-0.3, 1.4),
        lambda w: np.full_like(w, 1 / 1.7),
    ),
    "beta23": (lambda: jaxmix.Beta(2.0, 3.0), (0.0, 1.0), lambda w: 12.0 * w * (1.0 - w) ** 2),
    "epbeta": (
        lambda: jaxmix.EpBeta(2.0, 2.0, 0.3, 0.2),
        (-0.3, 1.2),
        lambda w: 6.0 * ((w + 0.3) / 1.5) * (1.0 - (w + 0.3) / 1.5) / 1.5,
    ),
}


_SLOW_CUT = pytest.mark.slow(
    reason="the cut moments of a Beta/EpBeta law need betainc at orders 0-4: 40-100 s to "
    "compile in float64 on 2 shared cores; the Uniform cases check the same algebra"
)


@pytest.mark.parametrize(
    ("name", "tau"),
    [("unif", 0.5), ("unif_wide", 0.3)]
    + [pytest.param(n, t, marks=_SLOW_CUT) for n in ("beta23", "epbeta") for t in (0.5, 0.3)],
)
def test_class_conditional_moments_match_enumeration(x64, name, tau):
    """predict's class_central3/4 (and class probs, means, covs) against exact enumeration over
    all 25 parent pairs of a 5-row, 2-class table and a quadrature over W split at tau."""
    x = np.array([[0.0, 1.0], [1.0, 3.0], [4.0, -1.0], [0.5, 0.0], [2.0, 5.0]])
    labels = np.array([0, 1, 1, 0, 1])
    make_law, (lo, hi), density = CLASS_LAWS[name]
    nodes = split_nodes(density, lo, hi, tau)
    assert nodes[1].sum() == pytest.approx(1.0, abs=1e-12)
    probs, means, covs, m3, m4 = enumerate_class_moments(x, labels, nodes, tau, 2)
    s = jaxmix.summarize(x, labels, order=4)
    pred = jaxmix.predict(s, make_law(), tau=tau)
    np.testing.assert_allclose(pred.class_probs, probs, rtol=1e-10)
    np.testing.assert_allclose(pred.class_means, means, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pred.class_covs, covs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pred.class_central3, m3, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(pred.class_central4, m4, rtol=1e-10, atol=1e-10)
    p3 = jaxmix.predict(jaxmix.summarize(x, labels, order=3), make_law(), tau=tau)
    np.testing.assert_allclose(p3.class_central3, m3, rtol=1e-10, atol=1e-10)
    assert p3.class_central4 is None


@pytest.mark.parametrize(
    "order",
    [
        3,
        pytest.param(
            4,
            marks=pytest.mark.slow(
                reason="three compilations of the 81-term order-4 program: about a minute on "
                "2 shared cores; order 3 runs the same code paths"
            ),
        ),
    ],
)
def test_class_conditional_summary_and_transforms(x64, order):
    """summarize's class tensors are each class's own central moments; summarize + predict run
    under jit(vmap) and grad through the law matches central differences (a Uniform law: its
    cut moments are polynomials, so the check compiles in seconds)."""
    rng = np.random.default_rng(5)
    x = rng.gamma(2.0, size=(30, 2))
    labels = np.arange(30) % 3
    s = jaxmix.summarize(x, labels, order=order)
    field = "class_central3" if order == 3 else "class_central4"
    for c in range(3):
        xc = x[labels == c] - x[labels == c].mean(0)
        want = higher.central_moments(xc, order)
        np.testing.assert_allclose(getattr(s, field)[c], want, rtol=1e-10)

    def run(v, a):
        summ = jaxmix.summarize(v, labels, num_classes=3, order=order)
        return getattr(jaxmix.predict(summ, jaxmix.Uniform(-0.2, a)), field)

    h = 1e-5  # one compiled program: jit(vmap) over tables and laws, central differences too
    out = jax.jit(jax.vmap(run))(
        jnp.stack([x, 2.0 * x, x, x]), jnp.array([1.5, 1.5, 1.5 + h, 1.5 - h])
    )
    ref = higher.map_class_central(order, s, jaxmix.Uniform(-0.2, 1.5), 0.5)
    np.testing.assert_allclose(out[0], ref, rtol=1e-10)
    np.testing.assert_allclose(out[1], 2.0**order * ref, rtol=1e-10)
    idx = (0,) * (order + 1)
    g = jax.grad(lambda a: run(x, a)[idx])(1.5)
    assert float(g) == pytest.approx(float((out[2] - out[3])[idx] / (2 * h)), rel=1e-6)


def test_class_conditional_not_mapped_is_an_error():
    """Per-column laws and replace=False: a NotImplementedError that says why and what to do,
    never a silently wrong tensor."""
    x = tiny_table()
    s = jaxmix.summarize(x, np.array([0, 1, 0, 1]), order=3)
    scheme = jaxmix.Scheme((jaxmix.Uniform(), jaxmix.Beta(0.4, 0.4)), columns=(0, 1, 0), labels=0)
    with pytest.raises(NotImplementedError, match="one shared law"):
        jaxmix.predict(s, scheme)
    with pytest.raises(NotImplementedError, match="replace=False"):
        jaxmix.predict(s, jaxmix.Uniform(), replace=False)
    jaxmix.predict(jaxmix.summarize(x, order=3), scheme)  # pooled only: still mapped
