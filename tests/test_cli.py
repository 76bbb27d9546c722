"""The jaxmix command line, run in-process through jaxmix.cli.main (one subprocess test of the
installed console script)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxmix import cli
from jaxmix.datasets import penguins_path

PENGUINS = str(penguins_path())
N = 4000  # one row count for every synth call here: mixup compiles once per law
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"]
CATEGORICAL = ["species", "island", "sex"]


def run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_user_error(rc, err, contains):
    assert rc == 2, err
    assert err.startswith("jaxmix: error: "), err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    assert contains in err, err


def assert_variance_ratio(real: pd.DataFrame, synth: pd.DataFrame, predicted: float, columns):
    """Realized Var_synth / Var_real against the predicted factor, |z| < 4.5 per column, with the
    standard error of a sample variance from m iid synthetic rows: sqrt((mu4 - sigma^4) / m)."""
    for col in columns:
        real_var = real[col].var(ddof=0)
        v = synth[col].to_numpy(np.float64)
        c = v - v.mean()
        s2, m4 = np.mean(c**2), np.mean(c**4)
        se = np.sqrt((m4 - s2**2) / len(v)) / real_var
        z = (s2 / real_var - predicted) / se
        assert abs(z) < 4.5, (col, s2 / real_var, predicted, z)


# --- synth -----------------------------------------------------------------------------------


def test_synth_writes_a_table_shaped_like_the_input(tmp_path, capsys):
    out_csv = tmp_path / "syn.csv"
    rc, out, err = run(
        [
            "synth",
            PENGUINS,
            "-o",
            out_csv,
            "-n",
            N,
            "--weights",
            "uniform",
            "--integer",
            "year",
            "--seed",
            3,
        ],
        capsys,
    )
    assert rc == 0, err
    assert out.startswith(f"wrote {N} rows x 8 columns to {out_csv}")
    real = pd.read_csv(PENGUINS)
    syn = pd.read_csv(out_csv)
    assert list(syn.columns) == list(real.columns) and len(syn) == N
    assert syn["year"].dtype == np.int64 and set(syn["year"]) <= {2007, 2008, 2009}
    for col in NUMERIC[:-1]:  # whole-number columns are detected and rounded
        assert syn[col].dtype == (
            np.int64 if col in ("flipper_length_mm", "body_mass_g") else np.float64
        )
        assert (
            real[col].min() <= syn[col].min() and syn[col].max() <= real[col].max()
        )  # W in [0, 1]
    # categories come from the input, and the joint distribution is kept (one cut for all)
    assert set(map(tuple, syn[CATEGORICAL].to_numpy())) <= set(
        map(tuple, real[CATEGORICAL].to_numpy())
    )
    # Unif(0,1) keeps 2/3 of every variance (Theorem 2)
    assert_variance_ratio(real, syn, 2 / 3, NUMERIC[:-1])
    # the same seed gives the same file, another seed another one
    again = tmp_path / "again.csv"
    assert run(
        [
            "synth",
            PENGUINS,
            "-o",
            again,
            "-n",
            N,
            "--weights",
            "uniform",
            "--integer",
            "year",
            "--seed",
            3,
            "--quiet",
        ],
        capsys,
    ) == (0, "", "")
    assert again.read_bytes() == out_csv.read_bytes()
    assert (
        run(
            [
                "synth",
                PENGUINS,
                "-o",
                again,
                "-n",
                N,
                "--weights",
                "uniform",
                "--seed",
                4,
                "--quiet",
                "--keep-float",
                "year",
            ],
            capsys,
        )[0]
        == 0
    )
    other = pd.read_csv(again)
    assert other["year"].dtype == np.float64  # opted out of rounding: mixed values stay floats
    assert not np.allclose(other["bill_length_mm"], syn["bill_length_mm"])


def test_synth_generations_show_progress_and_compound(tmp_path, capsys):
    out_csv = tmp_path / "g.csv"
    rc, out, err = run(
        [
            "synth",
            PENGUINS,
            "-o",
            out_csv,
            "-n",
            N,
            "--weights",
            "uniform",
            "--generations",
            3,
            "--categorical",
            "year",
        ],
        capsys,
    )
    assert rc == 0
    assert "generations" in err  # the progress bar (tqdm or the plain fallback) on stderr
    assert "generations 3" in out
    syn = pd.read_csv(out_csv)
    assert set(syn["year"]) <= {2007, 2008, 2009}  # categorical: drawn, not mixed
    # generation 3 from N rows of generation 2: (2/3)^3 of the real variance, up to the
    # sampling noise of the earlier generations; a loose but failing-capable check
    ratio = syn["body_mass_g"].var(ddof=0) / pd.read_csv(PENGUINS)["body_mass_g"].var(ddof=0)
    assert 0.22 < ratio < 0.37, ratio


def test_synth_default_weights_keep_variance_and_report_it(tmp_path, capsys):
    """Default weights: Algorithm 1 with delta = 0.05 (E[W^2] = E[W]): variances kept."""
    syn_csv, rep = tmp_path / "syn.csv", tmp_path / "rep"
    rc, out, err = run(["synth", PENGUINS, "-o", syn_csv, "-n", N, "--integer", "year"], capsys)
    assert rc == 0, err
    assert "EpBeta(" in out and "eps0=0.3" in out
    real, syn = pd.read_csv(PENGUINS), pd.read_csv(syn_csv)
    assert_variance_ratio(real, syn, 1.0, NUMERIC[:-1])
    rc, out, err = run(["report", PENGUINS, syn_csv, "-o", rep], capsys)
    assert rc == 0, err
    assert "Predicted variance: 100.0 %" in out and f"wrote {rep / 'report.md'}" in out
    text = (rep / "report.md").read_text()
    assert "## Columns" in text and "| body_mass_g |" in text and "species=Gentoo" in text
    for name in ("variance_ratio", "weight_density", "covariance_difference", "class_means"):
        assert (rep / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_report_flags_uniform_variance_loss(tmp_path, capsys):
    syn_csv = tmp_path / "u.csv"
    assert (
        run(["synth", PENGUINS, "-o", syn_csv, "-n", N, "--weights", "uniform", "--quiet"], capsys)[
            0
        ]
        == 0
    )
    rc, out, err = run(
        ["report", PENGUINS, syn_csv, "-o", tmp_path / "rep", "--weights", "uniform"], capsys
    )
    assert rc == 0, err
    assert "Variance lost by design" in out and "keep 66.7 %" in out


def test_design_prints_algorithm_1_law(capsys):
    rc, out, err = run(["design", "--delta", 0.05], capsys)
    assert rc == 0, err
    fields = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert set(fields) == {"law", "E[W]", "Var[W]", "E[W^2]-E[W]", "u", "support"}
    assert fields["law"].startswith("EpBeta(")
    assert abs(float(fields["E[W^2]-E[W]"].split()[0])) < 1e-5
    assert float(fields["u"].split()[0]) == pytest.approx(0.05, abs=1e-4)
    assert float(fields["E[W]"]) > 0.5
    assert fields["support"].startswith("[-0.3, 1.3]")
    # it is what the CLI uses by default: jaxmix.select_epbeta(0.05)
    from jaxmix.report import describe_law
    from jaxmix.select import select_epbeta

    assert fields["law"] == describe_law(select_epbeta(0.05))


def test_help_exits_zero(capsys):
    assert cli.main(["--help"]) == 0
    assert "synth" in capsys.readouterr().out


# --- bad input: one line on stderr, status 2, no output file ----------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


BAD_SYNTH = {
    "missing file": (lambda d: [d / "nope.csv"], "no such file"),
    "empty file": (lambda d: [_write(d / "e.csv", "")], "empty"),
    "malformed": (lambda d: [_write(d / "m.csv", "a,b\n1,2\n3,4,5\n")], "malformed CSV"),
    "missing value": (
        lambda d: [_write(d / "v.csv", "a,b\n1,2\n3,\n4,5\n"), "--missing", "error"],
        "missing value",
    ),
    "unknown categorical": (lambda d: [PENGUINS, "--categorical", "yeer"], "unknown column 'yeer'"),
    "unknown integer": (lambda d: [PENGUINS, "--integer", "mass"], "unknown column 'mass'"),
    "categorical integer": (lambda d: [PENGUINS, "--integer", "species"], "is categorical"),
    "bad weights": (lambda d: [PENGUINS, "--weights", "gamma:2"], "unknown weight law"),
    "bad beta": (lambda d: [PENGUINS, "--weights", "beta:1,2,3"], "beta takes 1 or 2 parameters"),
    "negative beta": (lambda d: [PENGUINS, "--weights", "beta:-1,2"], "A = -1 is outside"),
    "huge beta": (lambda d: [PENGUINS, "--weights", "beta:1e30,1"], "A = 1e+30 is outside"),
    "nan beta": (lambda d: [PENGUINS, "--weights", "beta:nan,1"], "must be finite"),
    "huge eps": (
        lambda d: [PENGUINS, "--weights", "epbeta:1,1,1e30,0.3"],
        "E0 = 1e+30 must lie in",
    ),
    "huge seed": (lambda d: [PENGUINS, "--seed", 2**64], "--seed must lie in [0, 2^64 - 1]"),
    "negative seed": (lambda d: [PENGUINS, "--seed", -1], "--seed must lie in"),
    "tau outside": (lambda d: [PENGUINS, "--tau", 1.5], "--tau must lie in (0, 1)"),
    "unknown keep-float": (lambda d: [PENGUINS, "--keep-float", "mass"], "unknown column 'mass'"),
    "bad bounds": (lambda d: [PENGUINS, "--bounds", "wrap"], "invalid choice"),
    "unattainable delta": (lambda d: [PENGUINS, "--delta", 0.5], "largest attainable"),
    "zero generations": (lambda d: [PENGUINS, "--generations", 0], "--generations must be >= 1"),
    "one row": (lambda d: [_write(d / "one.csv", "a,b\n1,x\n")], "at least 2 rows"),
    "directory as input": (lambda d: [d], "is a directory"),
}


@pytest.mark.parametrize("case", sorted(BAD_SYNTH))
def test_synth_bad_input(case, tmp_path, capsys):
    make, message = BAD_SYNTH[case]
    out_csv = tmp_path / "out.csv"
    rc, out, err = run(["synth", *make(tmp_path), "-o", out_csv, "-n", 10], capsys)
    assert_user_error(rc, err, message)
    assert not out_csv.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".jaxmix-")]


@pytest.mark.parametrize("n", [0, -3])
def test_synth_rejects_nonpositive_n_and_keeps_old_output(n, tmp_path, capsys):
    out_csv = _write(tmp_path / "out.csv", "old")
    rc, out, err = run(["synth", PENGUINS, "-o", out_csv, "-n", n], capsys)
    assert_user_error(rc, err, f"-n must be > 0, got {n}")
    assert out_csv.read_text() == "old"


def test_usage_errors_are_one_line(tmp_path, capsys):
    rc, out, err = run(["synth", PENGUINS, "-o", tmp_path / "x.csv"], capsys)  # no -n
    assert_user_error(rc, err, "required: -n")
    rc, out, err = run(["synth", PENGUINS, "-o", tmp_path / "x.csv", "-n", "ten"], capsys)
    assert_user_error(rc, err, "invalid int value")
    rc, out, err = run(["synth", PENGUINS, "-o", tmp_path / "no" / "x.csv", "-n", 5], capsys)
    assert_user_error(rc, err, "does not exist")
    rc, out, err = run(["frobnicate"], capsys)
    assert_user_error(rc, err, "invalid choice")


def test_drop_missing(tmp_path, capsys):
    src = _write(tmp_path / "v.csv", "a,b,c\n1,2,x\n3,,y\n4,5,x\n6,7,y\n")
    out_csv = tmp_path / "o.csv"
    rc, out, err = run(
        [
            "synth",
            src,
            "-o",
            out_csv,
            "-n",
            10,
            "--weights",
            "uniform",
            "--drop-missing",
            "--quiet",
        ],
        capsys,
    )
    assert rc == 0, err
    syn = pd.read_csv(out_csv)
    assert len(syn) == 10 and list(syn.columns) == ["a", "b", "c"] and set(syn["c"]) <= {"x", "y"}


def test_report_bad_input(tmp_path, capsys):
    real = pd.read_csv(PENGUINS)
    no_col = tmp_path / "nocol.csv"
    real.drop(columns=["sex"]).to_csv(no_col, index=False)
    rc, out, err = run(["report", PENGUINS, no_col, "-o", tmp_path / "r1"], capsys)
    assert_user_error(rc, err, "missing sex")
    new_cat = tmp_path / "newcat.csv"
    real.assign(island=real["island"].replace("Dream", "Atlantis")).to_csv(new_cat, index=False)
    rc, out, err = run(["report", PENGUINS, new_cat, "-o", tmp_path / "r2"], capsys)
    assert_user_error(rc, err, "'Atlantis'")
    afile = _write(tmp_path / "afile", "x")
    rc, out, err = run(["report", PENGUINS, PENGUINS, "-o", afile], capsys)
    assert_user_error(rc, err, "not a directory")
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()


def test_design_minimize_tail_prints_d_and_kurtosis_beside_algorithm_1(capsys):
    """--minimize-tail: the least-d law (higher.min_tail_epbeta, eps0 = 0) beside
    select_epbeta's, both variance-preserving with u = delta; d as jaxmix.higher computes it and
    the Gaussian-column kurtosis after 1/10/25 generations as the closed form
    (3 + 3)(1 + 2d)^G - 3 from the printed d (to the 4 printed digits)."""
    from jaxmix import higher
    from jaxmix.select import select_epbeta

    rc, out, err = run(["design", "--delta", 0.05, "--minimize-tail"], capsys)
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("law          EpBeta(") and "eps0=0.3, eps1=0.3" in lines[0]
    least = next(line for line in lines if line.startswith("least-d law"))
    assert "eps0=0," in least
    rows = {line[:14].strip(): line[14:].split() for line in lines[lines.index(least) + 1 : -1]}
    assert rows[""] == ["select_epbeta", "least", "d"]
    plain_law, (least_law, _) = select_epbeta(0.05), higher.min_tail_epbeta(0.05)
    d = [float(v) for v in rows["d"]]
    assert d[0] == pytest.approx(float(higher.tail_factor(plain_law)), rel=1e-3)
    assert d[1] == pytest.approx(float(higher.tail_factor(least_law)), rel=1e-3)
    assert d[1] < d[0]
    for g in (1, 10, 25):
        got = [float(v) for v in rows[f"kurtosis G={g}"]]
        want = [6.0 * (1.0 + 2.0 * dd) ** g - 3.0 for dd in d]
        assert got == pytest.approx(want, rel=2e-3 * g), (g, got, want)
    for col in range(2):
        assert abs(float(rows["E[W^2]-E[W]"][col])) < 1e-5
        assert float(rows["u"][col]) == pytest.approx(0.05, abs=1e-4)
    assert "least-d" not in run(["design", "--delta", 0.05], capsys)[1]


def test_design_unattainable_delta(capsys):
    rc, out, err = run(["design", "--delta", 0.5], capsys)
    assert_user_error(rc, err, "largest attainable delta is")
    assert out == ""


def test_installed_console_script(tmp_path):
    script = Path(sys.executable).parent / "jaxmix"
    if not script.exists():
        pytest.skip("console script not installed (pip install -e .)")
    proc = subprocess.run(
        [
            str(script),
            "synth",
            str(tmp_path / "missing.csv"),
            "-o",
            str(tmp_path / "o.csv"),
            "-n",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert re.fullmatch(r"jaxmix: error: .*missing\.csv: no such file\.\n", proc.stderr), (
        proc.stderr
    )
    assert proc.stdout == "" and not (tmp_path / "o.csv").exists()


# --- sizes, seeds, permissions, records, bounds -----------------------------------------------


def test_huge_n_is_refused_before_any_work(tmp_path, capsys):
    """-n beyond the free disk space: one sentence about N, nothing written (it used to reach the
    sampler and fail with a per-call draw limit)."""
    import time

    out_csv = tmp_path / "big.csv"
    t0 = time.perf_counter()
    rc, out, err = run(["synth", PENGUINS, "-o", out_csv, "-n", 10**13], capsys)
    assert_user_error(rc, err, "-n 10000000000000: the CSV would take at least")
    assert time.perf_counter() - t0 < 30
    assert os.listdir(tmp_path) == []
    rc, out, err = run(["synth", PENGUINS, "-o", out_csv, "-n", 2**25, "--generations", 2], capsys)
    assert_user_error(rc, err, "every intermediate generation is kept in memory")


def test_large_n_streams_chunk_by_chunk_with_progress(tmp_path, capsys, monkeypatch):
    """Beyond one chunk the CSV is written chunk by chunk (a progress bar on stderr); every
    chunk is a fresh draw and the file holds exactly N rows."""
    from jaxmix import synthesizer

    monkeypatch.setattr(synthesizer, "CHUNK_ROWS", N // 4)
    out_csv = tmp_path / "s.csv"
    rc, out, err = run(
        ["synth", PENGUINS, "-o", out_csv, "-n", N + 7, "--weights", "uniform"], capsys
    )
    assert rc == 0, err
    assert "jaxmix synth" in err  # the progress bar
    syn = pd.read_csv(out_csv)
    assert len(syn) == N + 7 and list(syn.columns) == list(pd.read_csv(PENGUINS).columns)
    chunks = [
        syn.iloc[k * (N // 4) : (k + 1) * (N // 4)]["bill_length_mm"].to_numpy() for k in range(2)
    ]
    assert not np.allclose(chunks[0], chunks[1])


def test_seed_beyond_32_bits_is_a_different_stream(tmp_path, capsys):
    """Seeds in [0, 2^64): 2^32 + 5 is not seed 5 (jax.random.key truncates without x64) and
    2^64 - 1 works (it used to end in an OverflowError traceback)."""
    files = {}
    for seed in (5, 2**32 + 5, 2**64 - 1):
        files[seed] = tmp_path / f"s{seed}.csv"
        rc, out, err = run(
            [
                "synth",
                PENGUINS,
                "-o",
                files[seed],
                "-n",
                N,
                "--weights",
                "uniform",
                "--seed",
                seed,
                "--quiet",
            ],
            capsys,
        )
        assert rc == 0, err
    assert files[5].read_bytes() != files[2**32 + 5].read_bytes()


def test_outputs_respect_the_umask(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        out_csv, rep = tmp_path / "u.csv", tmp_path / "rep"
        assert (
            run(
                ["synth", PENGUINS, "-o", out_csv, "-n", N, "--weights", "uniform", "--quiet"],
                capsys,
            )[0]
            == 0
        )
        assert run(["report", PENGUINS, out_csv, "-o", rep], capsys)[0] == 0
    finally:
        os.umask(old)
    assert (out_csv.stat().st_mode & 0o777) == 0o644
    assert (Path(str(out_csv) + ".jaxmix.json").stat().st_mode & 0o777) == 0o644
    assert (rep.stat().st_mode & 0o777) == 0o755
    for f in rep.iterdir():
        assert (f.stat().st_mode & 0o777) == 0o644, f


def test_synth_record_is_written_and_read_by_report(tmp_path, capsys):
    import json

    out_csv = tmp_path / "r.csv"
    rc, out, err = run(
        [
            "synth",
            PENGUINS,
            "-o",
            out_csv,
            "-n",
            N,
            "--weights",
            "beta:2,2",
            "--seed",
            7,
            "--tau",
            0.4,
            "--quiet",
        ],
        capsys,
    )
    assert rc == 0, err
    record = json.loads(Path(str(out_csv) + ".jaxmix.json").read_text())
    import hashlib

    assert record["input_sha256"] == hashlib.sha256(Path(PENGUINS).read_bytes()).hexdigest()
    assert record["seed"] == 7 and record["tau"] == 0.4 and record["generations"] == 1
    assert record["bounds"] == "keep" and record["weights_spec"] == "beta:2,2"
    assert record["law"] == {"type": "Beta", "alpha": 2.0, "beta": 2.0}
    assert record["jaxmix_version"] and record["rows"] == N
    assert set(record["rounded"]) == {"flipper_length_mm", "body_mass_g", "year"}
    # report without --weights takes the law, tau and generations from the record:
    # Beta(2, 2) keeps K = 1 - 2 E[W] + 2 E[W^2] = 0.6 of the variance
    rc, out, err = run(["report", PENGUINS, out_csv, "-o", tmp_path / "rep"], capsys)
    assert rc == 0, err
    assert "keep 60.0 %" in out and "synth record" in out
    assert "tau = 0.4" in (tmp_path / "rep" / "report.md").read_text()
    # a broken record is a one-line error naming it
    Path(str(out_csv) + ".jaxmix.json").write_text("{not json")
    rc, out, err = run(["report", PENGUINS, out_csv, "-o", tmp_path / "rep2"], capsys)
    assert_user_error(rc, err, "cannot read the synth record")
    assert not (tmp_path / "rep2").exists()


@pytest.mark.parametrize("bounds", ["keep", "clip", "resample"])
def test_bounds_modes(bounds, tmp_path, capsys):
    """keep: EpBeta's extrapolation puts values outside the real range (and the report says how
    many); clip / resample: none, and the report shows the variance shift that costs."""
    out_csv = tmp_path / "b.csv"
    rc, out, err = run(["synth", PENGUINS, "-o", out_csv, "-n", N, "--bounds", bounds], capsys)
    assert rc == 0, err
    assert "outside the real range: up to" in out
    real, syn = pd.read_csv(PENGUINS), pd.read_csv(out_csv)
    outside = {
        c: float(((syn[c] < real[c].min()) | (syn[c] > real[c].max())).mean()) for c in NUMERIC
    }
    if bounds == "keep":
        assert max(outside.values()) > 0.005, outside
    else:
        assert max(outside.values()) == 0.0, outside
    rc, out, err = run(["report", PENGUINS, out_csv, "-o", tmp_path / "rep"], capsys)
    assert rc == 0, err
    if bounds == "keep":
        assert "Outside the real range: up to" in out and "bounds = keep" in out
    else:
        assert f"Bounds = {bounds}" in out and "price: the variance ratio moved by a median" in out
    cols = pd.read_csv(tmp_path / "rep" / "columns.csv")
    assert {"outside_pct", "var_ratio_se", "var_z", "skew_pred", "kurt_synth", "kurt_z"} <= set(
        cols.columns
    )


def test_whole_number_columns_are_rounded_by_default(tmp_path, capsys):
    out_csv = tmp_path / "w.csv"
    rc, out, err = run(
        [
            "synth",
            PENGUINS,
            "-o",
            out_csv,
            "-n",
            N,
            "--weights",
            "uniform",
            "--quiet",
            "--keep-float",
            "body_mass_g",
        ],
        capsys,
    )
    assert rc == 0, err
    syn = pd.read_csv(out_csv)
    assert syn["year"].dtype == np.int64 and syn["flipper_length_mm"].dtype == np.int64
    assert syn["body_mass_g"].dtype == np.float64 and syn["bill_length_mm"].dtype == np.float64


def test_report_on_a_column_with_ten_thousand_categories(tmp_path, capsys):
    """It used to run for minutes: the classes beyond the 19 most frequent are merged."""
    import time

    rng = np.random.default_rng(0)
    n = 20000
    df = pd.DataFrame(
        {
            "id": [f"c{k}" for k in rng.integers(0, 10000, n)],
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
        }
    )
    real_csv, syn_csv = tmp_path / "real.csv", tmp_path / "syn.csv"
    df.to_csv(real_csv, index=False)
    df.sample(frac=1.0, random_state=1).to_csv(syn_csv, index=False)
    t0 = time.perf_counter()
    rc, out, err = run(
        ["report", real_csv, syn_csv, "-o", tmp_path / "rep", "--weights", "uniform"], capsys
    )
    assert rc == 0, err
    assert time.perf_counter() - t0 < 60
    classes = pd.read_csv(tmp_path / "rep" / "classes.csv")
    merged = df["id"].nunique() - 19
    assert (
        classes["class"].nunique() == 20
        and classes["class"].str.contains(f"other: {merged} categories").any()
    )
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".jaxmix-")]


# --- faults: SIGTERM mid-write leaves the old state and no temporary file ---------------------

_SLOW_SYNTH = """
import sys, time
import jaxmix.synthesizer as s, jaxmix.cli as c
s.CHUNK_ROWS = 500
orig = s.Synthesizer.sample_chunks
def slow(self, *a, **k):
    for i, df in enumerate(orig(self, *a, **k)):
        if i == 2:
            print("MID", flush=True)
        time.sleep(0.5)
        yield df
s.Synthesizer.sample_chunks = slow
sys.exit(c.main(sys.argv[1:]))
"""

_SLOW_REPORT = """
import sys, time
import jaxmix.report.markdown as m, jaxmix.cli as c
orig = m.table_csv
def slow(rows):
    print("MID", flush=True)
    time.sleep(60)
    return orig(rows)
m.table_csv = slow
import jaxmix.report as r
r.table_csv = slow
sys.exit(c.main(sys.argv[1:]))
"""


def _terminate_at_mid(code, argv, cwd):
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-c", code, *map(str, argv)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:
            if line.strip() == "MID":
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, err


@pytest.mark.slow
def test_sigterm_during_csv_write_leaves_old_file_and_no_temp(tmp_path):
    out_csv = _write(tmp_path / "out.csv", "old")
    rc, err = _terminate_at_mid(
        _SLOW_SYNTH,
        ["synth", PENGUINS, "-o", out_csv, "-n", 5000, "--weights", "uniform"],
        tmp_path,
    )
    assert rc == 143, err
    assert "terminated" in err
    assert out_csv.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]


@pytest.mark.slow
def test_sigterm_during_report_leaves_old_report_and_no_temp(tmp_path):
    rep = tmp_path / "rep"
    rep.mkdir()
    _write(rep / "report.md", "old")
    rc, err = _terminate_at_mid(
        _SLOW_REPORT, ["report", PENGUINS, PENGUINS, "-o", rep, "--weights", "uniform"], tmp_path
    )
    assert rc == 143, err
    assert os.listdir(rep) == ["report.md"] and (rep / "report.md").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["rep"]


def test_missing_values_and_dates_through_the_csv(tmp_path, capsys):
    """Missing values are kept by default (empty fields in the output, whole-number columns as
    nullable integers) and a date column is written back in its input format."""
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame(
        {
            "when": (
                pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
            ).strftime("%Y-%m-%d"),
            "count": rng.integers(0, 50, n).astype(float),
            "kind": rng.choice(["a", "b"], n),
        }
    )
    df.loc[rng.random(n) < 0.2, "count"] = np.nan
    df.loc[rng.random(n) < 0.1, "kind"] = None
    src, out_csv = tmp_path / "in.csv", tmp_path / "out.csv"
    df.to_csv(src, index=False)
    rc, out, err = run(["synth", src, "-o", out_csv, "-n", N, "--weights", "uniform"], capsys)
    assert rc == 0, err
    syn = pd.read_csv(out_csv)
    assert pd.to_datetime(syn["when"], format="%Y-%m-%d").between("2020-01-01", "2022-06-19").all()
    for col in ("count", "kind"):
        p, q = df[col].isna().mean(), syn[col].isna().mean()
        assert abs(q - p) < 4.5 * np.sqrt(p * (1 - p) / N), (col, p, q)
    assert (syn["count"].dropna() == syn["count"].dropna().round()).all()
    assert set(syn["kind"].dropna()) <= {"a", "b"}
    rc, out, err = run(["report", src, out_csv, "-o", tmp_path / "rep"], capsys)
    assert rc == 0, err


def _tiny_dated(tmp_path):
    """A real table with a date column and a synthetic one whose earliest date is 30 days later."""
    rng = np.random.default_rng(3)
    day = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 100, 60), unit="D")
    real = pd.DataFrame({"date": day.strftime("%Y-%m-%d"), "temp": rng.normal(10, 2, 60)})
    late = pd.to_datetime(real["date"]) >= pd.Timestamp("2021-01-31")
    syn = real[late].reset_index(drop=True)
    real.to_csv(tmp_path / "real.csv", index=False)
    syn.to_csv(tmp_path / "syn.csv", index=False)
    return real, syn


def test_report_puts_synthetic_dates_on_the_real_origin(tmp_path, capsys):
    """The synthetic date mean is measured from the real table's earliest date, not its own."""
    real, syn = _tiny_dated(tmp_path)
    rc, out, err = run(
        ["report", tmp_path / "real.csv", tmp_path / "syn.csv", "-o", tmp_path / "rep"], capsys
    )
    assert rc == 0, err
    cols = pd.read_csv(tmp_path / "rep" / "columns.csv").set_index("column")
    origin = pd.to_datetime(real["date"]).min()
    want = float((pd.to_datetime(syn["date"]) - origin).dt.total_seconds().mean())
    assert cols.loc["date", "mean_synth"] == pytest.approx(want, rel=1e-6)  # 7 digits written
    assert cols.loc["date", "outside_pct"] == 0.0


def test_report_range_is_all_observed_values_as_clip_uses(tmp_path, capsys):
    """The row holding the largest count has a missing value elsewhere: clip keeps that count
    (its range is over all observed values), so the report must not call it outside; a
    synthetic value past the range in an incomplete row is counted."""
    real = pd.DataFrame({"count": [1.0, 2.0, 3.0, 4.0, 9.0], "temp": [1.0, 2.5, 2.0, 4.0, np.nan]})
    syn = pd.DataFrame({"count": [9.0, 1.0, 2.0, 3.0, 20.0], "temp": [1.0, 2.0, 3.0, 4.0, np.nan]})
    real.to_csv(tmp_path / "real.csv", index=False)
    syn.to_csv(tmp_path / "syn.csv", index=False)
    rc, out, err = run(
        ["report", tmp_path / "real.csv", tmp_path / "syn.csv", "-o", tmp_path / "rep"], capsys
    )
    assert rc == 0, err
    cols = pd.read_csv(tmp_path / "rep" / "columns.csv").set_index("column")
    # the share is over every synthetic value, incomplete rows too (20 is 1 of 5 counts)
    assert cols.loc["count", "outside_pct"] == pytest.approx(20.0)
    assert cols.loc["temp", "outside_pct"] == 0.0
