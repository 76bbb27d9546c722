"""jaxmix.Synthesizer: fit / sample / save / load / report on a pandas table."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

import jaxmix
from jaxmix.datasets import penguins_path
from jaxmix.synthesizer import Synthesizer, key_from_seed

M = 4000


@pytest.fixture(scope="module")
def real():
    return pd.read_csv(penguins_path())


def test_fit_sample_save_load_report(real, tmp_path):
    syn = Synthesizer(jaxmix.Uniform(), bounds="keep").fit(real)
    assert set(syn.rounded) == {"flipper_length_mm", "body_mass_g", "year"}
    out = syn.sample(M, jax.random.key(1))
    assert list(out.columns) == list(real.columns) and len(out) == M
    assert out["year"].dtype == real["year"].dtype and set(out["year"]) <= {2007, 2008, 2009}
    # the same key gives the same table, also after save / load
    syn.save(tmp_path / "s.pkl")
    back = Synthesizer.load(tmp_path / "s.pkl")
    pd.testing.assert_frame_equal(back.sample(M, jax.random.key(1)), out)
    # Unif(0,1): 2/3 of the variance (Theorem 2), within 4.5 SE
    tables = syn.report(real, out)
    for row in tables["columns"]:
        if row["column"] in ("bill_length_mm", "bill_depth_mm"):
            assert row["var_ratio_pred"] == pytest.approx(2 / 3, rel=1e-5)
            assert abs(row["var_z"]) < 4.5, row
    assert {"columns", "pairs", "classes", "ols"} <= set(tables)


def test_bounds_clip_holds_the_real_range_and_counts_what_it_moved(real):
    syn = Synthesizer(jaxmix.Uniform(-0.5, 1.5), bounds="clip").fit(real)
    stats = {}
    out = syn.sample(M, jax.random.key(2), stats=stats)
    for k, c in enumerate(syn.frame.spec.numeric):
        assert real[c].min() <= out[c].min() and out[c].max() <= real[c].max()
        assert stats["outside"][k] > 0  # W outside [0, 1] half the time: some values were moved


def test_bad_arguments_are_clear_errors(real):
    with pytest.raises(ValueError, match="bounds must be one of keep, clip, resample"):
        Synthesizer(bounds="wrap")
    with pytest.raises(ValueError, match="not fitted"):
        Synthesizer(jaxmix.Uniform()).sample(3)
    with pytest.raises(ValueError, match="weight law 'beta:1e30,1'"):
        Synthesizer("beta:1e30,1")
    with pytest.raises(ValueError, match="keep_float: unknown column"):
        Synthesizer(jaxmix.Uniform(), keep_float=["nope"]).fit(real)
    with pytest.raises(ValueError, match="seed must lie in"):
        key_from_seed(2**64)
    assert np.array_equal(
        jax.random.key_data(key_from_seed(7)), jax.random.key_data(jax.random.key(7))
    )


def test_missing_values_kept_at_their_real_rate_and_dates_written_back(real):
    """Missing values: the synthetic missing rate of each column is the real one (binomial
    SE sqrt(p (1 - p) / m), |z| < 4.5: false-failure rate about 1e-5 per column); observed
    values stay mixtures of observed parents. A date column is mixed as a number and written in
    its input format, within the real range (W in [0, 1] for Unif(0,1))."""
    rng = np.random.default_rng(5)
    df = real.copy()
    df["bill_length_mm"] = df["bill_length_mm"].mask(rng.random(len(df)) < 0.15)
    df["sex"] = df["sex"].mask(rng.random(len(df)) < 0.08)
    days = rng.integers(0, 700, len(df))
    df["seen"] = (pd.Timestamp("2007-06-01") + pd.to_timedelta(days, unit="D")).strftime("%d/%m/%Y")
    syn = Synthesizer(jaxmix.Uniform()).fit(df)
    assert "seen" in syn.frame.spec.numeric
    out = syn.sample(M, jax.random.key(3))
    for col in ("bill_length_mm", "sex"):
        p = df[col].isna().mean()
        q = out[col].isna().mean()
        assert abs(q - p) < 4.5 * np.sqrt(p * (1 - p) / M), (col, p, q)
    obs = out["bill_length_mm"].dropna()  # float32 mixing: the ends up to float32 rounding
    lo, hi = df["bill_length_mm"].min(), df["bill_length_mm"].max()
    assert lo * (1 - 1e-6) <= obs.min() and obs.max() <= hi * (1 + 1e-6)
    seen = pd.to_datetime(out["seen"], format="%d/%m/%Y")
    real_seen = pd.to_datetime(df["seen"], format="%d/%m/%Y")
    assert real_seen.min() <= seen.min() and seen.max() <= real_seen.max()
    assert seen.nunique() > 300  # mixed, not copied


def test_day_only_dates_come_back_as_whole_days():
    """A datetime64 column of whole days comes back as whole days (rounded, as the CSV path
    writes them); a column with times keeps its seconds."""
    rng = np.random.default_rng(5)
    day = pd.Timestamp("2022-03-01") + pd.to_timedelta(rng.integers(0, 60, 30), unit="D")
    df = pd.DataFrame({"day": day, "at": day + pd.to_timedelta(rng.integers(0, 86400, 30), "s")})
    out = jaxmix.Synthesizer().fit(df).sample(200, key_from_seed(0))
    assert (out["day"] == out["day"].dt.normalize()).all()
    assert (out["at"] != out["at"].dt.normalize()).any()
    frame = jaxmix.from_pandas(df.assign(day=day.strftime("%Y-%m-%d")))
    back = jaxmix.to_pandas(np.array([[0.6 * 86400, 0.0], [0.4 * 86400, 0.0]]), None, frame.spec)
    assert list(back["day"]) == [
        (day.min() + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),
        day.min().strftime("%Y-%m-%d"),
    ]
