"""jaxmix.stream: chunk-size invariance, equality with the in-memory blocks, .npy output."""

from __future__ import annotations

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
        key, x, m, law, lambda s, *a: parts.append((s,) + a), labels=labels,
        chunk_size=chunk_size, block_size=BLOCK, progress=False,
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
    blocks = [jaxmix.mixup(jax.random.fold_in(key, b), x, BLOCK, law, labels=labels) for b in range(5)]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in blocks])[:m], ref[0][0])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in blocks])[:m], ref[0][1])
    # the .npy writer gives the same rows, loadable memory-mapped
    p, lp = stream.mixup_to_npy(
        key, x, m, law, tmp_path / "syn.npy", labels=labels, chunk_size=50, block_size=BLOCK,
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
    p = stream.mixup_to_npy(jax.random.key(1), x, 130, jaxmix.Uniform(), tmp_path / "u.npy",
                            chunk_size=40, block_size=BLOCK)
    err = capsys.readouterr().err
    assert "130/130 rows (100%)" in err  # jaxmix.progress plain fallback
    out = np.load(p)
    assert out.shape == (130, 3) and out.dtype == np.float32
    blocks = [jaxmix.mixup(jax.random.fold_in(jax.random.key(1), b), x, BLOCK, jaxmix.Uniform())
              for b in range(3)]
    np.testing.assert_array_equal(np.concatenate(blocks)[:130], out)


def test_bad_arguments(data, tmp_path):
    x, labels = data
    with pytest.raises(ValueError, match="chunk_size"):
        stream.mixup_to_npy(jax.random.key(0), x, 10, jaxmix.Uniform(), tmp_path / "a.npy", chunk_size=0)
    with pytest.raises(TypeError, match="key"):
        stream.mixup_to_callback(0, x, 10, jaxmix.Uniform(), print)
    with pytest.raises(ValueError, match="label law"):
        stream.mixup_to_callback(jax.random.key(0), x, 10, jaxmix.per_column([jaxmix.Uniform()] * 3),
                                 print, labels=labels)
