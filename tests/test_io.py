"""jaxmix.io: DataFrame <-> arrays round trips, CSV reading errors, atomic writes; progress bar."""

from __future__ import annotations

import io as _stdio
import os

import jax
import numpy as np
import pandas as pd
import pytest

import jaxmix
from jaxmix import io
from jaxmix.datasets import penguins_path
from jaxmix.progress import ProgressBar, progress


def _mixed_frame():
    return pd.DataFrame(
        {
            "f": np.array([1.5, -2.25, 3.0, 0.125, 7.0]),
            "species": ["b", "a", "c", "a", "b"],
            "i": np.array([3, 1, 4, 1, 5], dtype=np.int32),
            "cat": pd.Categorical(
                ["lo", "hi", "lo", "lo", "hi"], categories=["lo", "mid", "hi"], ordered=True
            ),
            "flag": [True, False, True, True, False],
            "f32": np.array([0.5, 1.5, 2.5, 3.5, 4.5], dtype=np.float32),
        }
    )


def test_round_trip_preserves_values_dtypes_and_category_sets():
    df = _mixed_frame()
    frame = jaxmix.from_pandas(df)
    assert frame.spec.numeric == ("f", "i", "f32")
    assert frame.spec.categorical == ("species", "cat", "flag")
    assert frame.x.shape == (5, 3) and frame.x.dtype == np.float64
    assert frame.labels.shape == (5, 3) and np.issubdtype(frame.labels.dtype, np.integer)
    # a category column keeps its whole category list (unused "mid" too), in its order
    assert frame.spec.categories[1] == ("lo", "mid", "hi")
    assert frame.spec.categories[0] == ("a", "b", "c")
    back = jaxmix.to_pandas(frame)
    pd.testing.assert_frame_equal(back, df)
    assert back["cat"].cat.ordered and list(back["cat"].cat.categories) == ["lo", "mid", "hi"]
    back2 = jaxmix.to_pandas(frame.x, frame.labels, frame.spec)
    pd.testing.assert_frame_equal(back2, df)


def test_categorical_argument_forces_numeric_columns():
    df = _mixed_frame()
    frame = jaxmix.from_pandas(df, categorical=["i"])
    assert "i" in frame.spec.categorical and "i" not in frame.spec.numeric
    assert frame.spec.categories[frame.spec.categorical.index("i")] == (1, 3, 4, 5)
    pd.testing.assert_frame_equal(jaxmix.to_pandas(frame), df)
    assert jaxmix.from_pandas(df, categorical="i,f").spec.numeric == ("f32",)


def test_unknown_column_and_bad_input_name_the_problem():
    df = _mixed_frame()
    with pytest.raises(ValueError, match="unknown column 'nope'"):
        jaxmix.from_pandas(df, categorical=["nope"])
    with pytest.raises(TypeError, match="DataFrame"):
        jaxmix.from_pandas(np.zeros((3, 2)))
    frame = jaxmix.from_pandas(df)
    with pytest.raises(ValueError, match="shape"):
        jaxmix.to_pandas(frame.x[:, :2], frame.labels, frame.spec)
    with pytest.raises(ValueError, match="outside"):
        jaxmix.to_pandas(frame.x, frame.labels + 5, frame.spec)
    with pytest.raises(ValueError, match="unknown column"):
        jaxmix.to_pandas(frame.x, frame.labels, frame.spec, integer=["species"])


def test_missing_values_raise_unless_dropped():
    df = _mixed_frame()
    df.loc[2, "species"] = None
    with pytest.raises(ValueError, match="'species' has a missing value .row 3"):
        jaxmix.from_pandas(df)
    frame = jaxmix.from_pandas(df, drop_missing=True)
    assert frame.x.shape[0] == 4
    all_missing = pd.DataFrame({"a": [np.nan, np.nan]})
    with pytest.raises(ValueError, match="no rows"):
        jaxmix.from_pandas(all_missing, drop_missing=True)


def test_integer_columns_rule():
    df = pd.DataFrame({"i": np.array([1, 2, 3], dtype=np.int16), "f": [0.5, 1.0, 2.0]})
    frame = jaxmix.from_pandas(df)
    mixed = frame.x + np.array([[0.4, 0.3]])
    auto = jaxmix.to_pandas(mixed, None, frame.spec)
    assert auto["i"].dtype == np.float64  # not whole numbers: stays float
    forced = jaxmix.to_pandas(mixed, None, frame.spec, integer=["i", "f"])
    assert forced["i"].dtype == np.int16 and forced["i"].tolist() == [1, 2, 3]
    assert forced["f"].dtype == np.int64 and forced["f"].tolist() == [1, 1, 2]
    # an explicit (empty) list means: integer columns not listed come back as floats
    assert jaxmix.to_pandas(frame.x, None, frame.spec, integer=[])["i"].dtype == np.float64


def test_mixup_output_through_to_pandas_keeps_joint_categories():
    """All categorical columns are cut on the same weight, so every synthetic label tuple is a
    parent's tuple: Gentoo penguins only live on Biscoe, and stay there."""
    df = pd.read_csv(penguins_path())
    frame = jaxmix.from_pandas(df)
    x, labels = jaxmix.mixup(
        jax.random.key(0), frame.x, 3000, jaxmix.Uniform(), labels=frame.labels
    )
    out = jaxmix.to_pandas(np.asarray(x), np.asarray(labels), frame.spec)
    assert list(out.columns) == list(df.columns) and len(out) == 3000
    real = set(map(tuple, df[list(frame.spec.categorical)].to_numpy()))
    synth = set(map(tuple, out[list(frame.spec.categorical)].to_numpy()))
    assert synth <= real
    # cutting each categorical column on its own weight would break this almost surely
    indep = frame.labels.copy()
    rng = np.random.default_rng(0)
    indep = np.stack([rng.permutation(indep[:, j]) for j in range(indep.shape[1])], axis=1)
    shuffled = jaxmix.to_pandas(frame.x, indep, frame.spec)
    assert not set(map(tuple, shuffled[list(frame.spec.categorical)].to_numpy())) <= real


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("", "empty"),
        ("a,b\n", "header but no rows"),
        ("a,b\n1,2\n3,4,5\n", "malformed CSV"),
        ("a,,c\n1,2,3\n", "empty column name"),
        ("a,b\n1,\n", "missing value"),
    ],
)
def test_read_csv_errors_are_one_line_value_errors(tmp_path, content, message):
    path = tmp_path / "t.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        io.read_csv(path)
    assert "\n" not in str(info.value)


def test_read_csv_penguins_matches_load_penguins():
    frame = io.read_csv(penguins_path())
    table = jaxmix.load_penguins()
    cols = [frame.spec.numeric.index(c) for c in table.feature_names]
    np.testing.assert_array_equal(frame.x[:, cols], table.x)
    np.testing.assert_array_equal(frame.labels, table.labels)
    assert frame.spec.numeric[-1] == "year"


def test_write_atomic_leaves_target_untouched_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")

    def boom(tmp):
        with open(tmp, "w") as fh:
            fh.write("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        io.write_atomic(target, boom)
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]
    io.write_csv(pd.DataFrame({"a": [1.0]}), target)
    assert target.read_text() == "a\n1.0\n"


def test_progress_fallback_and_disabled():
    buf = _stdio.StringIO()
    assert list(progress(range(20), desc="gen", file=buf, use_tqdm=False)) == list(range(20))
    lines = buf.getvalue().splitlines()
    assert lines[0] == "gen: 1/20 (5%)" and lines[-1] == "gen: 20/20 (100%)"
    assert len(lines) == 11  # first item, then at every 10 %
    quiet = _stdio.StringIO()
    assert list(progress(iter([1, 2]), file=quiet, enable=False)) == [1, 2]
    assert quiet.getvalue() == ""
    counted = _stdio.StringIO()
    with ProgressBar(1000, desc="rows", unit="rows", file=counted, use_tqdm=False) as bar:
        for _ in range(4):
            bar.update(250)
    assert counted.getvalue().splitlines() == [
        "rows: 250/1000 rows (25%)",
        "rows: 500/1000 rows (50%)",
        "rows: 750/1000 rows (75%)",
        "rows: 1000/1000 rows (100%)",
    ]
    assert bar.done == 1000
    pytest.importorskip("tqdm")
    bar = _stdio.StringIO()
    assert list(progress(range(5), desc="gen", file=bar, use_tqdm=True)) == list(range(5))
    assert "gen" in bar.getvalue()


def test_written_files_respect_the_umask(tmp_path):
    """tempfile.mkstemp creates 0600; the renamed file must have open()'s mode (0666 - umask)."""
    old = os.umask(0o027)
    try:
        io.write_csv(pd.DataFrame({"a": [1.0]}), tmp_path / "a.csv")
        io.write_directory_atomic(
            tmp_path / "d", lambda tmp: open(os.path.join(tmp, "f.txt"), "w").close()
        )
    finally:
        os.umask(old)
    assert ((tmp_path / "a.csv").stat().st_mode & 0o777) == 0o640
    assert ((tmp_path / "d").stat().st_mode & 0o777) == 0o750


def test_write_directory_atomic_keeps_the_old_state_on_failure(tmp_path):
    target = tmp_path / "rep"
    target.mkdir()
    (target / "report.md").write_text("old")
    (target / "notes.txt").write_text("mine")

    def boom(tmp):
        with open(os.path.join(tmp, "report.md"), "w") as fh:
            fh.write("new")
        with open(os.path.join(tmp, "a.png"), "w") as fh:
            fh.write("png")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        io.write_directory_atomic(target, boom)
    assert sorted(os.listdir(tmp_path)) == ["rep"]
    assert (
        sorted(os.listdir(target)) == ["notes.txt", "report.md"]
        and (target / "report.md").read_text() == "old"
    )

    def ok(tmp):
        for name in ("report.md", "a.png"):
            with open(os.path.join(tmp, name), "w") as fh:
                fh.write("new")

    io.write_directory_atomic(target, ok)
    assert sorted(os.listdir(target)) == ["a.png", "notes.txt", "report.md"]
    assert (target / "report.md").read_text() == "new" and sorted(os.listdir(tmp_path)) == ["rep"]
    io.write_directory_atomic(tmp_path / "fresh", ok)
    assert sorted(os.listdir(tmp_path / "fresh")) == ["a.png", "report.md"]


def test_write_csv_chunks_writes_one_header_and_cleans_up_on_failure(tmp_path):
    chunks = [pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), pd.DataFrame({"a": [3], "b": ["z"]})]
    assert io.write_csv_chunks(iter(chunks), tmp_path / "c.csv") == 3
    assert (tmp_path / "c.csv").read_text() == "a,b\n1,x\n2,y\n3,z\n"

    def failing():
        yield chunks[0]
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        io.write_csv_chunks(failing(), tmp_path / "c.csv")
    assert (tmp_path / "c.csv").read_text() == "a,b\n1,x\n2,y\n3,z\n"
    assert sorted(os.listdir(tmp_path)) == ["c.csv"]
