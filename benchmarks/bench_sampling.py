"""Benchmark 1: Beta/EpBeta.sample (jaxmix.sampling.beta) against numpy's Generator.beta.

10^7 float32 draws per law, best of 3 after a warm-up (compile) call, both in this process
(``--quick``, the smoke run the tests make: 10^5 draws, one law). Also reports
``jax.random.beta`` at 10^5 draws (it is too slow for 10^7 here).
Run: ``python -m benchmarks.bench_sampling [--quick] [--write]``.
"""

from __future__ import annotations

import sys

import jax
import numpy as np

import jaxmix
from benchmarks._util import best_time, write_row

PARAMS = [(0.1, 0.1), (0.4, 0.4), (1.0, 1.0), (4.34, 1.33), (30.0, 30.0)]


def main(quick: bool = False, write: bool = False) -> dict:
    n = 10**5 if quick else 10**7
    params = PARAMS[1:2] if quick else PARAMS  # quick: each law is a compile of its own
    rng = np.random.default_rng(0)
    ratios = {}
    print(f"bench_sampling: {n:.0e} float32 draws, best of 3")
    for a, b in params:
        law = jaxmix.Beta(a, b)
        f = jax.jit(lambda k, law=law: law.sample(k, (n,)))
        t_jax = best_time(f, jax.random.key(1))
        t_np = best_time(lambda a=a, b=b: rng.beta(a, b, n).astype(np.float32))
        ep = jaxmix.EpBeta(a, b, 0.1, 0.2)
        t_ep = best_time(jax.jit(lambda k, ep=ep: ep.sample(k, (n,))), jax.random.key(1))
        m = 10**4 if quick else 10**5
        t_jrb = best_time(
            jax.jit(lambda k, a=a, b=b, m=m: jax.random.beta(k, a, b, (m,))),
            jax.random.key(0),
            repeat=1,
        )
        ratios[(a, b)] = t_np / t_jax
        print(
            f"  Beta({a}, {b}): jaxmix {1e9 * t_jax / n:6.1f} ns/draw, "
            f"EpBeta {1e9 * t_ep / n:6.1f}, "
            f"numpy {1e9 * t_np / n:6.1f}, jax.random.beta {1e9 * t_jrb / m:6.1f}  -> "
            f"numpy/jaxmix = {t_np / t_jax:.2f}x, numpy/EpBeta = {t_np / t_ep:.2f}x, "
            f"jax.random.beta/jaxmix = {(t_jrb / m) / (t_jax / n):.1f}x"
        )
    if write and not quick:
        cells = ", ".join(f"({a:g},{b:g}) {r:.2f}×" for (a, b), r in ratios.items())
        write_row(
            f"`bench_sampling`: Beta.sample, {n:.0e} float32 draws",
            "numpy `Generator.beta` (time ratio numpy/jaxmix, > 1 = jaxmix faster)",
            cells,
        )
    return ratios


if __name__ == "__main__":
    main(quick="--quick" in sys.argv, write="--write" in sys.argv)
