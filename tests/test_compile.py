"""No recompilation: a second call with new values and the same shapes compiles nothing.

Counts compilations with ``jax.log_compiles`` (one "Compiling ..." log record per XLA compile).
"""

from __future__ import annotations

import logging

import jax
import numpy as np
import pytest

import jaxmix


class _Count(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.messages = []

    def emit(self, record):
        msg = record.getMessage()
        if "ompil" in msg:
            self.messages.append(msg)


@pytest.fixture
def count_compiles():
    handler = _Count()
    logger = logging.getLogger("jax")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with jax.log_compiles(True):
            yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _data(seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(40, 3)).astype(np.float32), rng.integers(0, 3, size=40)


def _run(x, labels, key, law):
    syn = jaxmix.mixup(key, x, 64, law, labels=labels)
    s = jaxmix.summarize(x, labels, num_classes=3)
    p = jaxmix.predict(s, law)
    return jax.block_until_ready((syn, s, p))


@pytest.mark.parametrize("make_law", [
    lambda v: jaxmix.Beta(0.4 + v, 0.4 + v),
    lambda v: jaxmix.per_column([jaxmix.Beta(1.0 + v, 2.0)] * 3, labels=jaxmix.Uniform(0.0, 1.0 + v)),
])
def test_second_call_does_not_compile(count_compiles, make_law):
    x, labels = _data(0)
    _run(x, labels, jax.random.key(0), make_law(0.0))  # first call: compiles
    first = len(count_compiles.messages)
    assert first > 0, "the compile counter saw nothing; the test could not fail"
    x2, labels2 = _data(1)  # new data, new key, new law parameters; same shapes
    _run(x2, labels2, jax.random.key(1), make_law(0.25))
    new = count_compiles.messages[first:]
    assert not new, f"second call compiled {len(new)} time(s):\n" + "\n".join(new[:5])
