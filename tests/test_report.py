"""jaxmix.report: tables against closed forms and against jaxmix.predict, figures, markdown."""

from __future__ import annotations

import equinox as eqx
import numpy as np
import pytest

import jaxmix
from jaxmix import report


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    n = 400
    labels = np.stack([rng.integers(0, 3, n), rng.integers(0, 2, n)], axis=1)
    base = rng.multivariate_normal([0.0, 5.0, -2.0], [[4.0, 1.5, 0.3], [1.5, 2.0, -0.4], [0.3, -0.4, 1.0]], n)
    x = base + 2.0 * labels[:, :1] + np.array([0.0, 1.0, 0.0]) * labels[:, 1:2]
    return x, labels


def test_table_summary_matches_summarize(data):
    x, labels = data
    for j, c in ((0, 3), (1, 2)):
        ours = report.table_summary(x, labels[:, j], c)
        ref = jaxmix.summarize(x, labels[:, j], num_classes=c)
        for field in ("mean", "cov", "num_rows", "class_probs", "class_means", "class_covs"):
            np.testing.assert_allclose(np.asarray(getattr(ours, field)), np.asarray(getattr(ref, field)),
                                       rtol=1e-5, atol=1e-5, err_msg=field)
    # an empty class: probability 0, mean x̄, covariance 0 (summarize's convention)
    s = report.table_summary(x, labels[:, 1], 3)
    assert float(s.class_probs[2]) == 0.0
    np.testing.assert_allclose(np.asarray(s.class_means[2]), np.asarray(s.mean))


@eqx.filter_jit
def _reference_predict(summary, law, tau, generations):
    for _ in range(generations):
        summary = jaxmix.predict(summary, law, tau=tau)
    return summary


@eqx.filter_jit
def _reference_law(law, tau):
    return (law.moment(1), law.moment(2), jaxmix.covariance_factor(law), jaxmix.class_mean_shift(law, tau=tau))


def test_predictions_equal_predict_with_the_law(data):
    """The tabulated-moment shortcut and the stacking of categorical columns give exactly what
    jaxmix.predict gives with the law itself, applied `generations` times."""
    x, labels = data
    generations = 2
    law = jaxmix.EpBeta(0.78, 0.78, 0.3, 0.3)
    fid = report.fidelity(x, x[:50], law, labels_real=labels, labels_synth=labels[:50],
                          label_names=("a", "b"), categories=((0, 1, 2), ("u", "v")),
                          tau=0.4, generations=generations)
    for j, c in ((0, 3), (1, 2)):
        s = _reference_predict(jaxmix.summarize(x, labels[:, j], num_classes=c), law, 0.4, generations)
        for field in ("mean", "cov", "class_probs", "class_means", "class_covs"):
            np.testing.assert_allclose(np.asarray(getattr(fid.pred_by[j], field)), np.asarray(getattr(s, field)),
                                       rtol=2e-5, atol=1e-5, err_msg=field)
        np.testing.assert_allclose(np.asarray(fid.pred.cov), np.asarray(s.cov), rtol=2e-5)


def test_uniform_tables_show_the_two_thirds_loss(data):
    x, labels = data
    fid = report.fidelity(x, x, jaxmix.Uniform(), names=("p", "q", "r"), generations=2)
    cols = fid.tables["columns"]
    for row in cols:
        assert row["var_ratio_pred"] == pytest.approx((2 / 3) ** 2, rel=1e-5)
        assert row["var_ratio_synth"] == pytest.approx(1.0)
        assert row["mean_pred"] == pytest.approx(row["mean_real"], rel=1e-5, abs=1e-5)
    # a shared weight scales the whole covariance: correlations and OLS slopes are predicted unchanged
    for row in fid.tables["pairs"]:
        assert row["corr_pred"] == pytest.approx(row["corr_real"], abs=1e-5)
        assert row["cov_pred"] == pytest.approx(row["cov_real"] * 4 / 9, rel=1e-4, abs=1e-6)
    for row in fid.tables["ols"]:
        assert row["slope_pred"] == pytest.approx(row["slope_real"], rel=1e-4, abs=1e-6)
    assert len(fid.tables["pairs"]) == 3 and len(fid.tables["ols"]) == 6
    assert fid.tables["classes"] == []
    # the headline: the synthetic table here IS the real one; predicted is 0.444
    text = report.headline(fid)
    assert "predicted 0.444" in text[0]
    lossy = report.fidelity(x, x * np.sqrt(2 / 3), jaxmix.Uniform(), names=("p", "q", "r"))
    assert any("WARNING: variance lost" in line for line in report.headline(lossy))


def test_constant_column_gives_nan_ratio_not_a_crash(data):
    x, labels = data
    x = x.copy()
    x[:, 2] = 5.0
    fid = report.fidelity(x, x * 0.5 + 1.0, jaxmix.Uniform(), names=("p", "q", "r"))
    ratios = [r["var_ratio_synth"] for r in fid.tables["columns"]]
    assert ratios[:2] == pytest.approx([0.25, 0.25]) and np.isnan(ratios[2])
    text = " ".join(report.headline(fid))
    assert "nan" not in text and "WARNING: variance lost" in text


def test_ols_slopes_match_least_squares_fit(data):
    x, _ = data
    s = report.table_summary(x)
    design = np.column_stack([np.ones(len(x)), x[:, 0], x[:, 2]])
    coef = np.linalg.lstsq(design, x[:, 1], rcond=None)[0]
    np.testing.assert_allclose(report.ols_slopes(np.asarray(s.cov, np.float64), 1), coef[1:], rtol=1e-4)


def test_class_table_and_per_column_scheme(data):
    x, labels = data
    # Uniform laws only: no incomplete beta to compile, the per-column path is what is tested
    scheme = jaxmix.per_column([jaxmix.Uniform(), jaxmix.Uniform(0.2, 0.9), jaxmix.Uniform(-0.3, 1.3)],
                               labels=jaxmix.Uniform())
    fid = report.fidelity(x, x, scheme, labels_real=labels, labels_synth=labels,
                          names=("p", "q", "r"), label_names=("a", "b"), categories=((0, 1, 2), ("u", "v")))
    k = np.diag(np.asarray(eqx.filter_jit(jaxmix.covariance_factor)(scheme)))
    np.testing.assert_allclose([r["var_ratio_pred"] for r in fid.tables["columns"]], k, rtol=1e-5)
    assert len(fid.tables["classes"]) == (3 + 2) * 3
    row = fid.tables["classes"][0]
    assert row["class"] == "a=0" and row["column"] == "p"
    assert row["share_real"] == pytest.approx(np.mean(labels[:, 0] == 0))
    assert row["mean_err_sd"] == pytest.approx(0.0, abs=1e-9)


def test_law_moments_and_describe():
    law = jaxmix.EpBeta(0.78, 0.78, 0.3, 0.3)
    m = report.law_moments(law, tau=0.4)
    m1, m2, k, u = (float(v) for v in _reference_law(law, 0.4))
    assert m["E[W]"] == pytest.approx(0.5, abs=1e-6) and m1 == pytest.approx(0.5, abs=1e-6)
    assert m["E[W^2]-E[W]"] == pytest.approx(m2 - m1, abs=1e-6)
    assert m["K"] == pytest.approx(k, abs=1e-5)
    assert m["u"] == pytest.approx(u, abs=1e-6)
    assert (m["support_low"], m["support_high"]) == pytest.approx((-0.3, 1.3))
    assert report.describe_law(law) == "EpBeta(alpha=0.78, beta=0.78, eps0=0.3, eps1=0.3)"
    assert report.describe_law(jaxmix.Uniform()) == "Uniform(low=0, high=1)"


def test_figures_and_markdown(data, tmp_path):
    from matplotlib.figure import Figure

    x, labels = data
    law = jaxmix.Uniform()
    fid = report.fidelity(x, x * 0.8, law, labels_real=labels, labels_synth=labels,
                          names=("p", "q", "r"), label_names=("a", "b"), categories=((0, 1, 2), ("u", "v")))
    figs = report.figures(fid, law)
    assert set(figs) == set(report.FIGURES)
    assert all(isinstance(f, Figure) for f in figs.values())
    ax = figs["variance_ratio"].axes[0]
    heights = [p.get_height() for p in ax.patches if p.get_width() < 1]
    np.testing.assert_allclose(sorted(heights), [0.64] * 3, rtol=1e-5)
    assert any(list(line.get_ydata()) == [1.0, 1.0] for line in ax.get_lines())  # the line at 1.0
    path = report.write_report(tmp_path / "rep", fid, law, sources=("r.csv", "s.csv"))
    text = open(path).read()
    for heading in ("## Headline", "## Columns", "## Pairs", "## Class means", "## OLS slopes", "WARNING: variance lost"):
        assert heading in text
    for name in report.FIGURES:
        assert f"({name}.png)" in text
        assert (tmp_path / "rep" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == sorted(
        [f"{n}.png" for n in report.FIGURES] + ["report.md"])


def test_fidelity_rejects_bad_shapes(data):
    x, labels = data
    with pytest.raises(ValueError, match="same d"):
        report.fidelity(x, x[:, :2], jaxmix.Uniform())
    with pytest.raises(ValueError, match="no numeric columns"):
        report.fidelity(x[:, :0], x[:, :0], jaxmix.Uniform())
    with pytest.raises(ValueError, match="generations"):
        report.fidelity(x, x, jaxmix.Uniform(), generations=0)
    with pytest.raises(ValueError, match="shapes"):
        report.fidelity(x, x, jaxmix.Uniform(), labels_real=labels[:, :1], labels_synth=labels,
                        label_names=("a", "b"), categories=((0, 1, 2), (0, 1)))
