"""Benchmark: jaxmix.special.betainc / betaincinv (and their gradients) against scipy.special.

10^6 points, a and b log-uniform in [0.1, 100], x (or q) uniform in (0, 1); float64 for the
comparison with scipy (the same points, in this process), float32 beside it; the gradient in
(a, b, x) of betainc and of betaincinv reported as its time and as its ratio to the value.
Ratios are medians over interleaved rounds (``benchmarks._util.interleaved``), scipy time over
jaxmix time (> 1 = jaxmix faster). ``--quick`` (the smoke run the tests make): 10^4 points,
never writes. ``--n N``: N points instead of 10^6 (the written row states the size).
``--profile``: instead of timing, the loop trip counts on the same points (max over the lanes,
which is what a vectorised loop costs, and the mean lane, summed over the runs: inputs run
block by block) of every ``lax.while_loop`` the functions run: the continued fraction
(``cf``: ``special._UNROLL`` steps per trip), its forward-mode copy (``cf_jvp``) and the
safeguarded Newton of the inverse (``inv``).
Run: ``python -m benchmarks.bench_special [--quick] [--write] [--n N] [--profile]``.
"""

from __future__ import annotations

import os
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.special as sc  # noqa: E402

from benchmarks._util import interleaved, write_row  # noqa: E402
from jaxmix.special import betainc, betaincinv  # noqa: E402


def _timer(fn, *args):
    def run():
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        return time.perf_counter() - t0

    run()  # compile / warm up
    return run


def _points(n: int):
    rng = np.random.default_rng(0)
    a = np.exp(rng.uniform(np.log(0.1), np.log(100.0), n))
    b = np.exp(rng.uniform(np.log(0.1), np.log(100.0), n))
    x = rng.uniform(0.0, 1.0, n)
    return a, b, x


def profile(n: int) -> dict:
    """Loop trip counts per ``lax.while_loop`` run: {(function, dtype): [(kind, max, mean)]}."""
    import jaxmix.special as sp

    records: list = []
    real = jax.lax.while_loop

    def counting(cond, body, init):
        kind = "inv" if init[1].dtype == bool else ("cf_jvp" if len(init) == 8 else "cf")

        def active(c):
            return ~c[1] if kind == "inv" else c[1] < sp._EXTRA_ITER

        def body2(ck):
            return body(ck[0]), ck[1] + active(ck[0]).astype(jnp.int32)

        out, k = real(lambda ck: cond(ck[0]), body2, (init, jnp.zeros(init[1].shape, jnp.int32)))
        jax.debug.callback(
            lambda k: records.append((kind, int(k.max()), float(k.mean()), k.size)), k
        )
        return out

    a, b, x = _points(n)
    grad_inc = jax.vmap(jax.grad(sp.betainc, argnums=(0, 1, 2)))
    result = {}
    jax.lax.while_loop = counting
    try:
        for dt in (jnp.float64, jnp.float32):
            args = [jnp.asarray(v, dt) for v in (a, b, x)]
            for name, fn in (
                ("betainc", sp.betainc),
                ("betaincinv", sp.betaincinv),
                ("grad betainc", grad_inc),
            ):
                records.clear()
                jax.block_until_ready(jax.jit(fn)(*args))
                result[(name, jnp.dtype(dt).name)] = list(records)
    finally:
        jax.lax.while_loop = real
    print(
        f"bench_special --profile: {n:.0e} points; per loop kind: runs, worst lane, and trips"
        " per point paid (each run costs its slowest lane times its lanes) against the trips"
        " the points need (their own lanes)"
    )
    for (name, dt), recs in result.items():
        kinds = {}
        for kind, mx, mean, size in recs:
            runs, worst, paid, need = kinds.get(kind, (0, 0, 0.0, 0.0))
            kinds[kind] = (runs + 1, max(worst, mx), paid + mx * size / n, need + mean * size / n)
        text = "; ".join(
            f"{k}: {r} runs, worst {w}, paid {p:.1f}, need {q:.1f}"
            for k, (r, w, p, q) in kinds.items()
        )
        print(f"  {name} {dt}: {text}")
    return result


def main(quick: bool = False, write: bool = False, n: int | None = None) -> dict:
    if n is None:
        n = 10**4 if quick else 10**6
    rounds = 2 if quick else 5
    a, b, x = _points(n)
    a32, b32, x32 = (jnp.asarray(v, jnp.float32) for v in (a, b, x))
    a64, b64, x64 = (jnp.asarray(v) for v in (a, b, x))
    inc = jax.jit(betainc)
    inv = jax.jit(betaincinv)
    grad_inc = jax.jit(jax.vmap(jax.grad(betainc, argnums=(0, 1, 2))))
    grad_inv = jax.jit(jax.vmap(jax.grad(betaincinv, argnums=(0, 1, 2))))
    timers = {
        "scipy betainc": lambda: sc.betainc(a, b, x),
        "betainc f64": _timer(inc, a64, b64, x64),
        "betainc f32": _timer(inc, a32, b32, x32),
        "grad betainc f64": _timer(grad_inc, a64, b64, x64),
        "scipy betaincinv": lambda: sc.betaincinv(a, b, x),
        "betaincinv f64": _timer(inv, a64, b64, x64),
        "betaincinv f32": _timer(inv, a32, b32, x32),
        "grad betaincinv f64": _timer(grad_inv, a64, b64, x64),
    }

    def scipy_timer(f):
        def run():
            t0 = time.perf_counter()
            f()
            return time.perf_counter() - t0

        return run

    for k in ("scipy betainc", "scipy betaincinv"):
        timers[k] = scipy_timer(timers[k])
    names = list(timers)
    t = interleaved([timers[k] for k in names], rounds)
    col = {k: t[:, i] for i, k in enumerate(names)}
    med = {k: float(np.median(v)) for k, v in col.items()}
    ratio = {
        "betainc f64": float(np.median(col["scipy betainc"] / col["betainc f64"])),
        "betainc f32": float(np.median(col["scipy betainc"] / col["betainc f32"])),
        "betaincinv f64": float(np.median(col["scipy betaincinv"] / col["betaincinv f64"])),
        "betaincinv f32": float(np.median(col["scipy betaincinv"] / col["betaincinv f32"])),
        "grad betainc / betainc": float(np.median(col["grad betainc f64"] / col["betainc f64"])),
        "grad betaincinv / betaincinv": float(
            np.median(col["grad betaincinv f64"] / col["betaincinv f64"])
        ),
    }
    print(
        f"bench_special: {n:.0e} points, a, b log-uniform in [0.1, 100], median of {rounds} rounds"
    )
    for k in names:
        print(f"  {k:22s} {1e9 * med[k] / n:8.1f} ns/point")
    for k, v in ratio.items():
        label = "scipy/jaxmix" if "grad" not in k else "time ratio"
        print(f"  {label} {k}: {v:.2f}x")
    if write and not quick:
        write_row(
            f"`bench_special`: betainc, betaincinv, {n:.0e} points "
            "(a, b log-uniform in [0.1, 100])",
            "scipy.special.betainc / betaincinv, float64 "
            "(time ratio scipy/jaxmix, > 1 = jaxmix faster)",
            f"betainc f64 {ratio['betainc f64']:.2f}×, f32 {ratio['betainc f32']:.2f}×; "
            f"betaincinv f64 {ratio['betaincinv f64']:.2f}×, f32 {ratio['betaincinv f32']:.2f}×; "
            f"gradient (a, b, x) costs {ratio['grad betainc / betainc']:.1f}× the betainc value, "
            f"{ratio['grad betaincinv / betaincinv']:.1f}× the betaincinv value "
            f"(load average {os.getloadavg()[0]:.1f} at the end of the run)",
        )
    return ratio


if __name__ == "__main__":
    size = int(float(sys.argv[sys.argv.index("--n") + 1])) if "--n" in sys.argv else None
    if "--profile" in sys.argv:
        profile(size or 10**5)
    else:
        main(quick="--quick" in sys.argv, write="--write" in sys.argv, n=size)
