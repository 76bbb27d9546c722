"""jaxmix.report: tables against closed forms and against jaxmix.predict, figures, markdown."""

from __future__ import annotations

import os

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
    base = rng.multivariate_normal(
        [0.0, 5.0, -2.0], [[4.0, 1.5, 0.3], [1.5, 2.0, -0.4], [0.3, -0.4, 1.0]], n
    )
    x = base + 2.0 * labels[:, :1] + np.array([0.0, 1.0, 0.0]) * labels[:, 1:2]
    return x, labels


def test_table_summary_matches_summarize(data):
    x, labels = data
    for j, c in ((0, 3), (1, 2)):
        ours = report.table_summary(x, labels[:, j], c)
        ref = jaxmix.summarize(x, labels[:, j], num_classes=c)
        for field in ("mean", "cov", "num_rows", "class_probs", "class_means", "class_covs"):
            np.testing.assert_allclose(
                np.asarray(getattr(ours, field)),
                np.asarray(getattr(ref, field)),
                rtol=1e-5,
                atol=1e-5,
                err_msg=field,
            )
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
    return (
        law.moment(1),
        law.moment(2),
        jaxmix.covariance_factor(law),
        jaxmix.class_mean_shift(law, tau=tau),
    )


def test_predictions_equal_predict_with_the_law(data):
    """The tabulated-moment shortcut and the stacking of categorical columns give exactly what
    jaxmix.predict gives with the law itself, applied `generations` times."""
    x, labels = data
    generations = 2
    law = jaxmix.EpBeta(0.78, 0.78, 0.3, 0.3)
    fid = report.fidelity(
        x,
        x[:50],
        law,
        labels_real=labels,
        labels_synth=labels[:50],
        label_names=("a", "b"),
        categories=((0, 1, 2), ("u", "v")),
        tau=0.4,
        generations=generations,
    )
    for j, c in ((0, 3), (1, 2)):
        s = _reference_predict(
            jaxmix.summarize(x, labels[:, j], num_classes=c), law, 0.4, generations
        )
        for field in ("mean", "cov", "class_probs", "class_means", "class_covs"):
            np.testing.assert_allclose(
                np.asarray(getattr(fid.pred_by[j], field)),
                np.asarray(getattr(s, field)),
                rtol=2e-5,
                atol=1e-5,
                err_msg=field,
            )
        np.testing.assert_allclose(np.asarray(fid.pred.cov), np.asarray(s.cov), rtol=2e-5)


def test_uniform_tables_show_the_two_thirds_loss(data):
    x, labels = data
    fid = report.fidelity(x, x, jaxmix.Uniform(), names=("p", "q", "r"), generations=2)
    cols = fid.tables["columns"]
    for row in cols:
        assert row["var_ratio_pred"] == pytest.approx((2 / 3) ** 2, rel=1e-5)
        assert row["var_ratio_synth"] == pytest.approx(1.0)
        assert row["mean_pred"] == pytest.approx(row["mean_real"], rel=1e-5, abs=1e-5)
    # a shared weight scales the whole covariance: correlations and OLS slopes predicted unchanged
    for row in fid.tables["pairs"]:
        assert row["corr_pred"] == pytest.approx(row["corr_real"], abs=1e-5)
        assert row["cov_pred"] == pytest.approx(row["cov_real"] * 4 / 9, rel=1e-4, abs=1e-6)
    for row in fid.tables["ols"]:
        assert row["slope_pred"] == pytest.approx(row["slope_real"], rel=1e-4, abs=1e-6)
    assert len(fid.tables["pairs"]) == 3 and len(fid.tables["ols"]) == 6
    assert fid.tables["classes"] == []
    # the headline: the synthetic table here IS the real one; predicted is 0.444
    text = report.headline(fid)
    assert "Variance lost by design" in text[0] and "keep 44.4 %" in text[0]
    # realized = predicted: the loss is the law's, named once, and no warning of a mismatch
    shrunk = x.mean(0) + np.sqrt(2 / 3) * (x - x.mean(0))  # the mean kept, as mixup keeps it
    lossy = report.fidelity(x, shrunk, jaxmix.Uniform(), names=("p", "q", "r"))
    lines = report.headline(lossy)
    assert "keep 66.7 %" in lines[0] and not any("WARNING" in line for line in lines)


def test_constant_column_gives_nan_ratio_not_a_crash(data):
    x, labels = data
    x = x.copy()
    x[:, 2] = 5.0
    fid = report.fidelity(x, x * 0.5 + 1.0, jaxmix.Uniform(), names=("p", "q", "r"))
    ratios = [r["var_ratio_synth"] for r in fid.tables["columns"]]
    assert ratios[:2] == pytest.approx([0.25, 0.25]) and np.isnan(ratios[2])
    text = " ".join(report.headline(fid))
    assert (
        "nan" not in text and "WARNING: variance differs from the prediction beyond noise" in text
    )
    assert "p kept 25.0 % of the variance; expected 66.7 % ±" in text


def test_ols_slopes_match_least_squares_fit(data):
    x, _ = data
    s = report.table_summary(x)
    design = np.column_stack([np.ones(len(x)), x[:, 0], x[:, 2]])
    coef = np.linalg.lstsq(design, x[:, 1], rcond=None)[0]
    np.testing.assert_allclose(
        report.ols_slopes(np.asarray(s.cov, np.float64), 1), coef[1:], rtol=1e-4
    )


def test_class_table_and_per_column_scheme(data):
    x, labels = data
    # Uniform laws only: no incomplete beta to compile, the per-column path is what is tested
    scheme = jaxmix.per_column(
        [jaxmix.Uniform(), jaxmix.Uniform(0.2, 0.9), jaxmix.Uniform(-0.3, 1.3)],
        labels=jaxmix.Uniform(),
    )
    fid = report.fidelity(
        x,
        x,
        scheme,
        labels_real=labels,
        labels_synth=labels,
        names=("p", "q", "r"),
        label_names=("a", "b"),
        categories=((0, 1, 2), ("u", "v")),
    )
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


@pytest.mark.parametrize("tau", [0.3, 0.5, 0.95])
def test_law_moments_on_the_host_equal_the_compiled_program(x64, monkeypatch, tau):
    """Built-in laws with concrete parameters are evaluated on the host (closed forms, scipy's
    incomplete beta); the compiled moment table of any law is the oracle (float64)."""
    from jaxmix.report import tables

    laws = [
        jaxmix.Uniform(0.0, 1.0),
        jaxmix.Uniform(-0.5, 1.5),
        jaxmix.Uniform(0.6, 0.9),  # tau outside the support for tau = 0.3, 0.5
        jaxmix.Beta(0.4, 0.4),
        jaxmix.Beta(2.0, 5.0),
        jaxmix.EpBeta(3.0, 1.0, 0.3, 0.3),
        jaxmix.EpBeta(0.7, 2.0, 0.0, 0.5),
    ]
    host = [report.law_moments(law, tau=tau) for law in laws]
    monkeypatch.setattr(tables, "_host_law_moments", lambda law, tau: None)
    for law, h in zip(laws, host, strict=True):
        compiled = report.law_moments(law, tau=tau)
        for name, value in compiled.items():
            assert h[name] == pytest.approx(value, abs=1e-13), (law, name)


def test_figures_and_markdown(data, tmp_path):
    from matplotlib.figure import Figure

    x, labels = data
    law = jaxmix.Uniform()
    fid = report.fidelity(
        x,
        x * 0.8,
        law,
        labels_real=labels,
        labels_synth=labels,
        names=("p", "q", "r"),
        label_names=("a", "b"),
        categories=((0, 1, 2), ("u", "v")),
    )
    figs = report.figures(fid, law)
    assert set(figs) == set(report.FIGURES)
    assert all(isinstance(f, Figure) for f in figs.values())
    ax = figs["variance_ratio"].axes[0]
    widths = [p.get_width() for p in ax.patches]
    np.testing.assert_allclose(sorted(widths), [0.64] * 3, rtol=1e-5)
    assert any(list(line.get_xdata()) == [1.0, 1.0] for line in ax.get_lines())  # the line at 1.0
    path = report.write_report(tmp_path / "rep", fid, law, sources=("r.csv", "s.csv"))
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    for heading in (
        "## Headline",
        "## Columns",
        "## Pairs",
        "## Class means",
        "## OLS slopes",
        "Variance lost by design",
    ):
        assert heading in text
    for name in report.FIGURES:
        assert f"({name}.png)" in text
        assert (tmp_path / "rep" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == sorted(report.written_files(fid))


def test_fidelity_rejects_bad_shapes(data):
    x, labels = data
    with pytest.raises(ValueError, match="same d"):
        report.fidelity(x, x[:, :2], jaxmix.Uniform())
    with pytest.raises(ValueError, match="no numeric columns"):
        report.fidelity(x[:, :0], x[:, :0], jaxmix.Uniform())
    with pytest.raises(ValueError, match="generations"):
        report.fidelity(x, x, jaxmix.Uniform(), generations=0)
    with pytest.raises(ValueError, match="shapes"):
        report.fidelity(
            x,
            x,
            jaxmix.Uniform(),
            labels_real=labels[:, :1],
            labels_synth=labels,
            label_names=("a", "b"),
            categories=((0, 1, 2), (0, 1)),
        )


# --- Monte Carlo error, wording, wide tables ---------------------------------------------------

KEEP = jaxmix.Uniform(-(np.sqrt(3) - 1) / 2, (np.sqrt(3) + 1) / 2)  # E[W^2] = E[W]: K = 1 exactly


def test_variance_se_matches_the_normal_closed_form():
    """SE of a sample variance of m normal values: sigma^2 sqrt(2/m)."""
    rng = np.random.default_rng(3)
    m = 20000
    x = rng.normal(0.0, 2.0, size=(m, 2))
    noise = report.column_noise(x, x)
    np.testing.assert_allclose(noise["var_se"], 4.0 * np.sqrt(2 / m), rtol=0.05)
    np.testing.assert_allclose(noise["mean_se"], 2.0 / np.sqrt(m), rtol=0.02)


def test_warning_only_beyond_noise_and_names_the_direction(data):
    """A realized ratio of 0.896 against a prediction of 1: within noise at m = 400 (no warning),
    beyond it at m = 40,000, worded as kept / expected ± SE."""
    x, _ = data
    assert float(report.law_moments(KEEP)["K"]) == pytest.approx(1.0, abs=1e-5)
    shrunk = x.mean(0) + np.sqrt(0.896) * (x - x.mean(0))
    small = report.fidelity(x, shrunk, KEEP, names=("p", "q", "r"))
    assert not any(r["flag"] for r in small.tables["columns"])
    # (a rescaled table is no mixup output: its kurtosis stays while KEEP predicts growth, so
    # only the variance warning is looked at here)
    assert not any("WARNING: variance" in line for line in report.headline(small))
    big = report.fidelity(x, np.tile(shrunk, (100, 1)), KEEP, names=("p", "q", "r"))
    lines = report.headline(big)
    warn = [line for line in lines if "WARNING: variance" in line]
    assert len(warn) == 1 and "3 of 3 columns" in warn[0], lines
    import re

    assert re.search(r"p kept 89\.6 % of the variance; expected 100\.0 % ± 0\.\d %", warn[0]), warn[
        0
    ]
    row = big.tables["columns"][0]
    assert row["var_z"] == pytest.approx(-0.104 / row["var_ratio_se"], rel=1e-3)


def _png_size(path):
    with open(path, "rb") as fh:
        head = fh.read(24)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


@pytest.mark.parametrize("d", [5, 30, 200])
def test_wide_tables_short_markdown_readable_figures(d, tmp_path):
    """report.md stays short (it was 602 lines at 30 columns), every table is in a CSV, the
    figures stay within a readable size and matplotlib raises no warning (it warned "Axes sizes
    collapsed to zero")."""
    import warnings

    rng = np.random.default_rng(d)
    n = 300
    labels = rng.integers(0, 3, (n, 1))
    x = rng.normal(size=(n, d)) + labels
    names = tuple(f"column_{k:03d}" for k in range(d))
    fid = report.fidelity(
        x,
        x * 0.9,
        KEEP,
        labels_real=labels,
        labels_synth=labels,
        names=names,
        label_names=("group",),
        categories=(("a", "b", "c"),),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = report.write_report(tmp_path / "rep", fid, KEEP)
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    assert len(lines) < 100, len(lines)
    import pandas as pd

    assert len(pd.read_csv(tmp_path / "rep" / "columns.csv")) == d
    assert len(pd.read_csv(tmp_path / "rep" / "pairs.csv")) == d * (d - 1) // 2
    for name in report.FIGURES:
        w, h = _png_size(tmp_path / "rep" / f"{name}.png")
        assert 200 < w <= 1500 and 150 < h <= 1500, (name, w, h)
    out = os.environ.get("JAXMIX_REPORT_FIGURES")  # to look at them: set a directory
    if out:
        import shutil

        shutil.copytree(tmp_path / "rep", os.path.join(out, f"d{d}"), dirs_exist_ok=True)


def test_weight_density_is_drawn_to_the_support_edges():
    law = jaxmix.EpBeta(2.0, 2.0, 0.3, 0.3)
    ax = report.weight_density_figure(law).axes[0]
    line = ax.get_lines()[0]
    xs, ys = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    assert xs[0] == pytest.approx(-0.3) and xs[-1] == pytest.approx(1.3)
    assert ys[0] == 0.0 and ys[-1] == 0.0 and np.all(np.isfinite(ys))
    lo, hi = ax.get_xlim()
    assert lo < -0.3 and hi > 1.3


def test_fidelity_frames_puts_dates_on_the_real_origin():
    """Each table's dates are seconds since its own earliest date; the synthetic ones are moved
    onto the real origin before any moment is taken."""
    import pandas as pd

    from jaxmix import io

    day = pd.Timestamp("2021-01-01") + pd.to_timedelta(np.arange(40) % 20, unit="D")
    real = pd.DataFrame({"date": day, "v": np.arange(40.0) % 7})
    syn = real[real["date"] >= pd.Timestamp("2021-01-06")].reset_index(drop=True)
    fid = report.fidelity_frames(io.from_pandas(real), io.from_pandas(syn), KEEP)
    row = fid.tables["columns"][0]
    want = float((syn["date"] - day.min()).dt.total_seconds().mean())
    assert row["column"] == "date" and row["mean_synth"] == pytest.approx(want, rel=1e-9)
    assert row["outside_pct"] == 0.0


def test_outside_range_allows_the_written_precision():
    """A float32 / 7-significant-digit copy of a real bound is inside; 1e-4 past it is outside."""
    lo, hi = -0.04464164, 0.05068011873981862
    x_real = np.array([[lo], [0.0], [hi]])
    x_synth = np.array(
        [[float(np.float32(hi))], [float(f"{hi:.7g}")], [float(f"{lo:.7g}")], [hi * (1 + 1e-4)]]
    )
    assert float(np.float32(hi)) > hi  # the case that an exact comparison gets wrong
    out = report.column_noise(x_real, x_synth)["outside"]
    assert float(out[0]) == pytest.approx(0.25)


def test_mean_shift_flagged_only_beyond_noise_with_direction(data):
    """A mean 0.2 sd above the prediction: within noise at m = 40 rows, flagged at m = 40,000
    (column and class means), worded as above. (The class means of q and r are the real ones,
    not the predicted ones pulled toward the overall mean, so they may be flagged too.)"""
    x, labels = data
    sd = x.std(0)
    shifted = x + np.array([0.2, 0.0, 0.0]) * sd
    kw = dict(names=("p", "q", "r"), label_names=("a", "b"), categories=((0, 1, 2), (0, 1)))
    small = report.fidelity(
        x, shifted[:40], KEEP, labels_real=labels, labels_synth=labels[:40], **kw
    )
    assert not any(r["mean_flag"] for r in small.tables["columns"])
    assert not any("mean differs" in line for line in report.headline(small))
    big = report.fidelity(
        x,
        np.tile(shifted, (100, 1)),
        KEEP,
        labels_real=labels,
        labels_synth=np.tile(labels, (100, 1)),
        **kw,
    )
    assert [r["mean_flag"] for r in big.tables["columns"]] == [True, False, False]
    lines = report.headline(big)
    warn = [line for line in lines if "WARNING: mean differs" in line]
    assert len(warn) == 1 and "1 of 3 columns: p above by 0.2" in warn[0], lines
    cls = [line for line in lines if "class mean differs" in line]
    assert len(cls) == 1 and "p | a=" in cls[0] and "above the prediction" in cls[0], lines
    assert any(r["flag"] for r in big.tables["classes"] if r["column"] == "p")


# --- skewness and kurtosis -------------------------------------------------------------------


def test_shape_se_matches_the_normal_closed_form():
    """Delta-method SEs of sample skewness and kurtosis of m normal values: sqrt(6/m) and
    sqrt(24/m). The SE estimates themselves carry sampling error (the kurtosis one through the
    eighth moment): at m = 100,000 about 1 % and 2.5 % relative, so rtol 0.1 is 4+ of those."""
    rng = np.random.default_rng(11)
    m = 100_000
    shape = report.column_shape(rng.normal(3.0, 2.0, size=(m, 2)))
    np.testing.assert_allclose(shape["skew_se"], np.sqrt(6 / m), rtol=0.1)
    np.testing.assert_allclose(shape["kurt_se"], np.sqrt(24 / m), rtol=0.1)
    np.testing.assert_allclose(shape["kurt"], 3.0, atol=4 * np.sqrt(24 / m))


def test_shape_se_is_calibrated_on_a_skewed_law():
    """z = (estimate - true) / SE over 400 independent samples of 20,000 Gamma(4) values
    (skewness 1, kurtosis 4.5): the sd of z is 1 up to the sampling error of an sd from 400
    values (0.035 for normal z); bounds 0.85 and 1.15 are 4 of those (false-failure rate under
    1e-4; fixed seed). The normal-theory SEs sqrt(6/m), sqrt(24/m) (0.6 of the true kurtosis
    SE here) fail. (The delta method is asymptotic: at 4,000 rows the kurtosis SE of this law
    runs about 20 % low, sd of z 1.33.)"""
    rng = np.random.default_rng(12)
    m = 20_000
    x = rng.gamma(4.0, size=(m, 400))
    shape = report.column_shape(x)
    for stat, true in (("skew", 1.0), ("kurt", 3.0 + 6.0 / 4.0)):
        z = (shape[stat] - true) / shape[f"{stat}_se"]
        assert 0.85 < z.std() < 1.15, (stat, z.std())
        assert abs(z.mean()) < 0.25, (stat, z.mean())  # 4 SE of a mean of 400, plus O(1/m) bias
        normal = (shape[stat] - true) / np.sqrt((6.0 if stat == "skew" else 24.0) / m)
        if stat == "kurt":
            assert normal.std() > 1.15


def _mix(x, m, w, rng):
    """m mixup records of x with replacement and weights w (m,) (numpy, a shared weight)."""
    i, j = rng.integers(0, len(x), m), rng.integers(0, len(x), m)
    return w[:, None] * x[i] + (1.0 - w[:, None]) * x[j]


@pytest.fixture(scope="module")
def skewed():
    """500 rows of four skewed, heavy-ish columns (gamma, lognormal, mixed)."""
    rng = np.random.default_rng(13)
    n = 500
    g = rng.gamma(2.0, size=n)
    return np.stack(
        [g, rng.lognormal(0.0, 0.5, n), g + rng.normal(size=n), rng.standard_t(8, n)], axis=1
    )


def test_shape_predictions_are_the_exact_moment_maps(skewed):
    """Predicted skewness and kurtosis are those of summarize(order=4) + predict applied G
    times (the order-3/4 maps), for a shared law and a per-column scheme."""
    from jaxmix import higher

    x = skewed
    scheme = jaxmix.Scheme((KEEP, jaxmix.Beta(0.4, 0.4)), columns=(0, 1, 1, 0))
    for weights in (KEEP, jaxmix.Uniform(), scheme):
        shape = report.predict_shape(x, weights, generations=2)
        s = jaxmix.summarize(x, order=4)
        p = jaxmix.predict(jaxmix.predict(s, weights), weights)
        np.testing.assert_allclose(shape["skew_pred"], higher.skewness(p), rtol=2e-4)
        np.testing.assert_allclose(shape["kurt_pred"], higher.kurtosis(p), rtol=2e-4)
        np.testing.assert_allclose(shape["kurt_real"], higher.kurtosis(s), rtol=2e-4)


def test_shape_not_flagged_on_real_mixup_output(skewed):
    """200,000 mixup records of the skewed table with KEEP (variance kept, kurtosis + 3 grows
    by 1.1): every |z| of skewness and kurtosis below 4, nothing flagged. At 4 SE a correct
    synthesizer is flagged about once in 16,000 statistics (8 here; fixed seed)."""
    rng = np.random.default_rng(14)
    lo, hi = float(KEEP.low), float(KEEP.high)
    xs = _mix(skewed, 200_000, rng.uniform(lo, hi, 200_000), rng)
    fid = report.fidelity(skewed, xs, KEEP)
    for r in fid.tables["columns"]:
        assert abs(r["skew_z"]) < 4 and abs(r["kurt_z"]) < 4, r
        assert not (r["skew_flag"] or r["kurt_flag"] or r["flag"])
        assert r["kurt_pred"] > r["kurt_real"]
    assert not any("WARNING" in line for line in report.headline(fid))
    assert any(
        line.startswith("Tails after 1 generation(s): kurtosis of") for line in report.headline(fid)
    )


def test_shape_flags_fire_on_the_statistic_that_is_wrong(skewed):
    """Mirrored mixup output (2 x̄ - x~: mean, variance and kurtosis kept, skewness negated) is
    flagged on skewness only; a bootstrap of the rows declared as KEEP (variance and skewness
    kept, kurtosis not grown: d = 0 instead of 0.05) on kurtosis only. Both at m = 200,000."""
    rng = np.random.default_rng(15)
    lo, hi = float(KEEP.low), float(KEEP.high)
    m = 200_000
    xs = _mix(skewed, m, rng.uniform(lo, hi, m), rng)
    mirrored = 2.0 * skewed.mean(0) - xs
    fid = report.fidelity(skewed, mirrored, KEEP, names=("g", "ln", "gn", "t"))
    cols = fid.tables["columns"]
    assert all(r["skew_flag"] for r in cols), cols  # real skewness 1.3, 2.2, 0.70, 0.79
    assert not any(r["kurt_flag"] or r["flag"] for r in cols)
    warn = [line for line in report.headline(fid) if "WARNING" in line]
    assert len(warn) == 1 and "skewness differs" in warn[0] and "4 of 4 columns" in warn[0], warn
    boot = skewed[rng.integers(0, len(skewed), m)]
    fid = report.fidelity(skewed, boot, KEEP, names=("g", "ln", "gn", "t"))
    cols = fid.tables["columns"]
    assert all(r["kurt_flag"] for r in cols), cols
    assert not any(r["skew_flag"] or r["flag"] for r in cols)
    md = report.to_markdown(fid)
    assert "| kurt pred | kurt synth |" in md and "| kurt |" in md
