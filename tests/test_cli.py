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
    rc, out, err = run(["synth", PENGUINS, "-o", out_csv, "-n", N, "--weights", "uniform",
                        "--integer", "year", "--seed", 3], capsys)
    assert rc == 0, err
    assert out.startswith(f"wrote {N} rows x 8 columns to {out_csv}")
    real = pd.read_csv(PENGUINS)
    syn = pd.read_csv(out_csv)
    assert list(syn.columns) == list(real.columns) and len(syn) == N
    assert syn["year"].dtype == np.int64 and set(syn["year"]) <= {2007, 2008, 2009}
    for col in NUMERIC[:-1]:
        assert syn[col].dtype == np.float64
        assert real[col].min() <= syn[col].min() and syn[col].max() <= real[col].max()  # W in [0, 1]
    # categories come from the input, and the joint distribution is kept (one cut for all)
    assert set(map(tuple, syn[CATEGORICAL].to_numpy())) <= set(map(tuple, real[CATEGORICAL].to_numpy()))
    # Unif(0,1) keeps 2/3 of every variance (Theorem 2)
    assert_variance_ratio(real, syn, 2 / 3, NUMERIC[:-1])
    # the same seed gives the same file, another seed another one
    again = tmp_path / "again.csv"
    assert run(["synth", PENGUINS, "-o", again, "-n", N, "--weights", "uniform", "--integer", "year",
                "--seed", 3, "--quiet"], capsys) == (0, "", "")
    assert again.read_bytes() == out_csv.read_bytes()
    assert run(["synth", PENGUINS, "-o", again, "-n", N, "--weights", "uniform", "--seed", 4, "--quiet"],
               capsys)[0] == 0
    other = pd.read_csv(again)
    assert other["year"].dtype == np.float64  # not listed in --integer: mixed values stay floats
    assert not np.allclose(other["bill_length_mm"], syn["bill_length_mm"])


def test_synth_generations_show_progress_and_compound(tmp_path, capsys):
    out_csv = tmp_path / "g.csv"
    rc, out, err = run(["synth", PENGUINS, "-o", out_csv, "-n", N, "--weights", "uniform",
                        "--generations", 3, "--categorical", "year"], capsys)
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
    assert "predicted 1.000" in out and f"wrote {rep / 'report.md'}" in out
    text = (rep / "report.md").read_text()
    assert "## Columns" in text and "| body_mass_g |" in text and "species=Gentoo" in text
    for name in ("variance_ratio", "weight_density", "covariance_difference", "class_means"):
        assert (rep / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_report_flags_uniform_variance_loss(tmp_path, capsys):
    syn_csv = tmp_path / "u.csv"
    assert run(["synth", PENGUINS, "-o", syn_csv, "-n", N, "--weights", "uniform", "--quiet"], capsys)[0] == 0
    rc, out, err = run(["report", PENGUINS, syn_csv, "-o", tmp_path / "rep", "--weights", "uniform"], capsys)
    assert rc == 0, err
    assert "predicted 0.667" in out
    assert "WARNING: variance lost" in out and "5 of 5 columns" in out


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
    "missing value": (lambda d: [_write(d / "v.csv", "a,b\n1,2\n3,\n4,5\n")], "missing value"),
    "unknown categorical": (lambda d: [PENGUINS, "--categorical", "yeer"], "unknown column 'yeer'"),
    "unknown integer": (lambda d: [PENGUINS, "--integer", "mass"], "unknown column 'mass'"),
    "categorical integer": (lambda d: [PENGUINS, "--integer", "species"], "is categorical"),
    "bad weights": (lambda d: [PENGUINS, "--weights", "gamma:2"], "unknown weights"),
    "bad beta": (lambda d: [PENGUINS, "--weights", "beta:1"], "expected 2"),
    "negative beta": (lambda d: [PENGUINS, "--weights", "beta:-1,2"], "alpha must be finite and > 0"),
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
    rc, out, err = run(["synth", src, "-o", out_csv, "-n", 10, "--weights", "uniform", "--drop-missing",
                        "--quiet"], capsys)
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


def test_design_unattainable_delta(capsys):
    rc, out, err = run(["design", "--delta", 0.5], capsys)
    assert_user_error(rc, err, "largest attainable delta is")
    assert out == ""


def test_installed_console_script(tmp_path):
    script = Path(sys.executable).parent / "jaxmix"
    if not script.exists():
        pytest.skip("console script not installed (pip install -e .)")
    proc = subprocess.run([str(script), "synth", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "o.csv"),
                           "-n", "5"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert re.fullmatch(r"jaxmix: error: .*missing\.csv: no such file\.\n", proc.stderr), proc.stderr
    assert proc.stdout == "" and not (tmp_path / "o.csv").exists()
