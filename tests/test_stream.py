"""jaxmix.stream: chunk-size invariance, equality with the in-memory blocks, .npy output."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

import jaxmix
from jaxmix import stream

BLOCK = 64


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(50, 3)).astype(np.float32), np.arange(50) % 3


def _collect(key, x, m, law, labels, chunk_size):
    parts = []
    stream.mixup_to_callback(
        key,
        x,
        m,
        law,
        lambda s, *a: parts.append((s,) + a),
        labels=labels,
        chunk_size=chunk_size,
        block_size=BLOCK,
        progress=False,
    )
    starts = [p[0] for p in parts]
    assert starts == sorted(starts) and starts[0] == 0
    return [np.concatenate([p[i] for p in parts]) for i in range(1, len(parts[0]))]


def test_chunk_size_invariance_and_in_memory_equality(data, tmp_path):
    x, labels = data
    law = jaxmix.EpBeta(2.0, 2.0, 0.1, 0.1)
    key = jax.random.key(7)
    m = 300  # 4 full blocks and a partial one
    ref = [_collect(key, x, m, law, labels, cs) for cs in (7, BLOCK, 1000)]
    for other in ref[1:]:
        np.testing.assert_array_equal(other[0], ref[0][0])
        np.testing.assert_array_equal(other[1], ref[0][1])
    # row r is row r % BLOCK of mixup(fold_in(key, r // BLOCK), x, BLOCK, ...)
    blocks = [
        jaxmix.mixup(jax.random.fold_in(key, b), x, BLOCK, law, labels=labels) for b in range(5)
    ]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in blocks])[:m], ref[0][0])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in blocks])[:m], ref[0][1])
    # the .npy writer gives the same rows, loadable memory-mapped
    p, lp = stream.mixup_to_npy(
        key,
        x,
        m,
        law,
        tmp_path / "syn.npy",
        labels=labels,
        chunk_size=50,
        block_size=BLOCK,
        progress=True,
    )
    assert lp.endswith("syn.labels.npy")
    np.testing.assert_array_equal(np.load(p, mmap_mode="r"), ref[0][0])
    np.testing.assert_array_equal(np.load(lp), ref[0][1])


def test_without_labels_and_plain_progress(data, tmp_path, monkeypatch, capsys):
    import builtins

    x, _ = data
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError("no tqdm")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    p = stream.mixup_to_npy(
        jax.random.key(1),
        x,
        130,
        jaxmix.Uniform(),
        tmp_path / "u.npy",
        chunk_size=40,
        block_size=BLOCK,
    )
    err = capsys.readouterr().err
    assert "130/130 rows (100%)" in err  # jaxmix.progress plain fallback
    out = np.load(p)
    assert out.shape == (130, 3) and out.dtype == np.float32
    blocks = [
        jaxmix.mixup(jax.random.fold_in(jax.random.key(1), b), x, BLOCK, jaxmix.Uniform())
        for b in range(3)
    ]
    np.testing.assert_array_equal(np.concatenate(blocks)[:130], out)


def test_bad_arguments(data, tmp_path):
    x, labels = data
    with pytest.raises(ValueError, match="chunk_size"):
        stream.mixup_to_npy(
            jax.random.key(0), x, 10, jaxmix.Uniform(), tmp_path / "a.npy", chunk_size=0
        )
    with pytest.raises(TypeError, match="key"):
        stream.mixup_to_callback(0, x, 10, jaxmix.Uniform(), print)
    with pytest.raises(ValueError, match="label law"):
        stream.mixup_to_callback(
            jax.random.key(0),
            x,
            10,
            jaxmix.per_column([jaxmix.Uniform()] * 3),
            print,
            labels=labels,
        )


def test_labels_path_equal_to_path_is_refused(data, tmp_path):
    """Both files at one name once reported success over a corrupted file; the same file under
    another spelling is refused too, by the per-process writer as well (its x.process0.npy)."""
    x, labels = data
    path = tmp_path / "x.npy"
    writers = (stream.mixup_to_npy, stream.mixup_to_npy_per_process)
    for writer, same in itertools.product(writers, (str(path), tmp_path / "." / "x.npy")):
        with pytest.raises(ValueError, match="labels_path must differ from path"):
            writer(
                jax.random.key(0),
                x,
                10,
                jaxmix.Uniform(),
                path,
                labels=labels,
                labels_path=same,
                progress=False,
            )
    assert list(tmp_path.iterdir()) == []


def test_npy_is_published_whole_and_leaves_no_temporary(data, tmp_path):
    x, labels = data
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((2, 3)))
    out = jaxmix.mixup_to_npy(
        jax.random.key(1),
        x,
        300,
        jaxmix.Uniform(),
        path,
        labels=labels,
        chunk_size=BLOCK,
        block_size=BLOCK,
        progress=False,
    )
    assert np.load(out[0], mmap_mode="r").shape == (300, 3)
    assert np.load(out[1], mmap_mode="r").shape == (300,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.labels.npy", "x.npy"]


@pytest.mark.parametrize(
    "writer, source, target",
    [
        ("mixup_to_npy", "mixup_to_callback", "x.npy"),
        ("mixup_to_npy_per_process", "mixup_to_callback_per_process", "x.process0.npy"),
    ],
)
def test_error_mid_stream_keeps_the_previous_file(
    data, tmp_path, monkeypatch, writer, source, target
):
    """An error after some chunks were written (here from a failing chunk) leaves the previous
    complete file and no temporary: the write is published only when every row is on disk.
    The per-process writer (one process here: its file is ``x.process0.npy``) does the same."""
    x, _ = data
    path = tmp_path / target
    np.save(path, np.ones((2, 3)))
    real = getattr(stream, source)
    calls = []

    def failing(*args, **kw):
        def cb(start, xs, *rest):
            calls.append(start)
            if len(calls) == 3:
                raise OSError(28, "No space left on device")
            args[4](start, xs, *rest)

        return real(*args[:4], cb, **kw)

    monkeypatch.setattr(stream, source, failing)
    with pytest.raises(OSError):
        getattr(stream, writer)(
            jax.random.key(1),
            x,
            300,
            jaxmix.Uniform(),
            tmp_path / "x.npy",
            chunk_size=BLOCK,
            block_size=BLOCK,
            progress=False,
        )
    assert len(calls) == 3  # the failure came mid-stream, after two chunks were written
    np.testing.assert_array_equal(np.load(path), np.ones((2, 3)))
    assert [p.name for p in tmp_path.iterdir()] == [target]


def test_bad_paths_are_refused(data, tmp_path):
    x, _ = data
    with pytest.raises(ValueError, match="does not exist"):
        jaxmix.mixup_to_npy(
            jax.random.key(0), x, 10, jaxmix.Uniform(), tmp_path / "no" / "x.npy", progress=False
        )
    with pytest.raises(ValueError, match="is a folder"):
        jaxmix.mixup_to_npy(jax.random.key(0), x, 10, jaxmix.Uniform(), tmp_path, progress=False)
    with pytest.raises(TypeError, match="path must be a file path"):
        jaxmix.mixup_to_npy(jax.random.key(0), x, 10, jaxmix.Uniform(), 3, progress=False)
