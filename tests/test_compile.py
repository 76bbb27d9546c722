"""No recompilation: a second call with new values and the same shapes compiles nothing.

Counts compilations with ``helpers.CompileCounter`` (XLA compiles and persistent-cache loads).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxmix
from helpers import CompileCounter


@pytest.fixture
def count_compiles():
    with CompileCounter() as counter:
        yield counter


def _data(seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(40, 3)).astype(np.float32), rng.integers(0, 3, size=40)


def _run(x, labels, key, law):
    syn = jaxmix.mixup(key, x, 64, law, labels=labels)
    s = jaxmix.summarize(x, labels, num_classes=3)
    p = jaxmix.predict(s, law)
    return jax.block_until_ready((syn, s, p))


@pytest.mark.parametrize(
    "make_law",
    [
        lambda v: jaxmix.Beta(0.4 + v, 0.4 + v),
        lambda v: jaxmix.per_column(
            [jaxmix.Beta(1.0 + v, 2.0)] * 3, labels=jaxmix.Uniform(0.0, 1.0 + v)
        ),
    ],
)
def test_second_call_does_not_compile(count_compiles, make_law):
    x, labels = _data(0)
    _run(x, labels, jax.random.key(0), make_law(0.0))  # first call: compiles
    first = count_compiles.count
    assert first > 0, "the compile counter saw nothing; the test could not fail"
    x2, labels2 = _data(1)  # new data, new key, new law parameters; same shapes
    _run(x2, labels2, jax.random.key(1), make_law(0.25))
    new = count_compiles.count - first
    assert new == 0, f"second call compiled {new} time(s)"
