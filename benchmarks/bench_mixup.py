"""Benchmarks 2 and 3: synthesis of 10^6 rows, and one vmap over 1000 datasets.

2. ``jaxmix.mixup`` of 10^6 rows x 16 float32 columns from a 10^5-row table with labels, Beta(0.4,
   0.4) weights drawn inside, against the straightforward numpy pipeline (``Generator.beta``,
   ``Generator.integers``, fancy indexing, ``np.where`` for labels) and against a memcpy of the
   output (``np.copyto`` into a preallocated array of the output's bytes). A second floor is a
   copy into a *fresh* array (``np.copy``): every jitted call returns a new buffer, and on a VM
   the page faults of a fresh 68 MB buffer cost several times the copy itself. The like-for-like
   call is ``mixup(..., out=previous)``, which writes into the donated memory of the previous
   result, as the memcpy writes into memory that is already mapped; both are reported.
3. One jitted ``vmap`` of summarize + predict + mixup over 1000 datasets of 200 x 4, against a
   Python loop over the same jitted single-dataset function.
Run: ``python -m benchmarks.bench_mixup [--quick] [--write]``.
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

import jaxmix
from benchmarks._util import best_time, interleaved, write_row


def bench_synthesis(m: int, write: bool) -> None:
    n, d, tau = min(10**5, m), 16, 0.5
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)).astype(np.float32)
    labels = rng.integers(0, 5, size=n).astype(np.int32)
    law = jaxmix.Beta(0.4, 0.4)
    xj, lj = jnp.asarray(x), jnp.asarray(labels)

    def ours(key):
        return jaxmix.mixup(key, xj, m, law, labels=lj, tau=tau)

    held = [ours(jax.random.key(1))]

    def ours_into(key):  # repeated synthesis reusing the previous result's memory
        held[0] = jaxmix.mixup(key, xj, m, law, labels=lj, tau=tau, out=held[0])
        return held[0]

    def numpy_pipeline():
        w = rng.beta(0.4, 0.4, m).astype(np.float32)
        i = rng.integers(0, n, m)
        j = rng.integers(0, n, m)
        xi, xjj = x[i], x[j]
        xs = xjj + w[:, None] * (xi - xjj)
        return xs, np.where(w >= tau, labels[i], labels[j])

    src = np.ones((m, d + 1), np.float32)
    dst = np.empty_like(src)
    # Interleaved rounds (``interleaved``): numpy's pipeline alone varies 2x between runs on this
    # VM (page faults of its fresh 64 MB temporaries); medians over rounds, with the range.
    r = interleaved(
        [
            lambda: best_time(ours, jax.random.key(0)),
            lambda: best_time(ours_into, jax.random.key(0)),
            lambda: best_time(numpy_pipeline, repeat=1, warmup=0),
            lambda: best_time(lambda: np.copyto(dst, src), repeat=5),
            lambda: best_time(lambda: np.copy(src), repeat=3),
        ],
        rounds=5,
    )
    t_ours, t_into, t_np, t_copy, t_fresh = np.median(r, axis=0)
    vs_np, vs_copy, vs_fresh = r[:, 2] / r[:, 0], r[:, 0] / r[:, 3], r[:, 0] / r[:, 4]
    into_copy = r[:, 1] / r[:, 3]

    def med(v):
        return f"{np.median(v):.2f} ({v.min():.2f}-{v.max():.2f})"

    print(
        f"bench_synthesis: {m:.0e} rows x {d} cols from {n:.0e}, labels, Beta(0.4,0.4) weights "
        f"(medians of 5 interleaved rounds): jaxmix {1e3 * t_ours:.1f} ms, jaxmix out= "
        f"{1e3 * t_into:.1f} ms, numpy pipeline {1e3 * t_np:.1f} ms, memcpy of output "
        f"{1e3 * t_copy:.1f} ms, copy into a fresh array {1e3 * t_fresh:.1f} ms -> numpy/jaxmix = "
        f"{med(vs_np)}x (target >= 3), jaxmix/memcpy = {med(vs_copy)}x (target <= 8), "
        f"jaxmix out=/memcpy = {med(into_copy)}x, jaxmix/fresh copy = {med(vs_fresh)}x"
    )
    if write:
        write_row(
            f"`bench_mixup` synthesis: mixup {m:.0e}×16 from 1e5 rows, labels, Beta weights",
            "numpy pipeline (beta, integers, fancy indexing, np.where) / memcpy of the output "
            "into a preallocated array / copy into a fresh array (medians of 5 interleaved "
            "rounds, range in brackets; `out=`: writing into the previous result's memory)",
            f"numpy/jaxmix {med(vs_np)}×; jaxmix/memcpy {med(vs_copy)}×; jaxmix `out=`/memcpy "
            f"{med(into_copy)}×; jaxmix/fresh copy {med(vs_fresh)}×",
        )


def bench_many(num_datasets: int, write: bool) -> None:
    rng = np.random.default_rng(1)
    xs = jnp.asarray(rng.normal(size=(num_datasets, 200, 4)).astype(np.float32))
    ls = jnp.asarray(rng.integers(0, 3, size=(num_datasets, 200)).astype(np.int32))
    keys = jax.random.split(jax.random.key(0), num_datasets)
    law = jaxmix.EpBeta(2.0, 2.0, 0.1, 0.1)

    def one(key, x, labels):
        s = jaxmix.summarize(x, labels, num_classes=3)
        p = jaxmix.predict(s, law)
        syn = jaxmix.mixup(key, x, 200, law, labels=labels)
        return p.cov, p.class_means, syn

    single = jax.jit(one)
    batched = jax.jit(jax.vmap(one))

    def loop():
        return [single(keys[k], xs[k], ls[k]) for k in range(num_datasets)]

    t_vmap = best_time(batched, keys, xs, ls)
    t_loop = best_time(loop, repeat=2)
    # same results
    out_v = batched(keys, xs, ls)
    out_1 = single(keys[7], xs[7], ls[7])
    np.testing.assert_allclose(out_v[2][0][7], out_1[2][0], rtol=1e-5, atol=1e-5)
    print(
        f"bench_many: summarize+predict+mixup over {num_datasets} datasets of 200x4: jit(vmap) "
        f"{1e3 * t_vmap:.1f} ms, loop over jit {1e3 * t_loop:.1f} ms -> loop/vmap = "
        f"{t_loop / t_vmap:.1f}x (target >= 10)"
    )
    if write:
        write_row(
            "`bench_mixup` many datasets: jit(vmap(summarize+predict+mixup)), "
            f"{num_datasets}×(200×4)",
            "Python loop over the same jitted one-dataset function",
            f"{t_loop / t_vmap:.1f}×",
        )


def main(quick: bool = False, write: bool = False) -> None:
    bench_synthesis(10**4 if quick else 10**6, write and not quick)  # quick: the tests' smoke run
    bench_many(20 if quick else 1000, write and not quick)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv, write="--write" in sys.argv)
