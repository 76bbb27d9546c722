"""Benchmark: Algorithm 1 (``jaxmix.select_epbeta``) over 1000 δ against a scipy ``brentq`` loop.

jaxmix runs twice: jitted and vmapped over δ (the JAX implementation, as under any transform),
and on a concrete array of δ (solved on the host with numpy and scipy.special, nothing
compiled). All sides do the same job in the same process, float64: for ε0 = ε1 = 0.3,
τ = 1/2 and 1000 values of δ in [1e-3, 0.95 · δ_max], find the variance-preserving EpBeta law
with u = δ and the larger E[W] (the smallest x = 1 - E[W] on (0, 1/2]). The scipy side
tabulates u on the same grid once (vectorised ``scipy.special.betainc``), brackets the smallest
crossing, then calls ``scipy.optimize.brentq`` (xtol 1e-14) once per δ. Run:
``python -m benchmarks.bench_select``. Prints the time per δ of each and the ratios; pass
``--write`` to record the row in ``benchmarks/README.md``.

``--design`` times ``jaxmix.design_weights`` on a one-law problem (Algorithm 1 posed to the
solver: EpBeta, free α, β, targets E[W²] = E[W] and u = δ; float64) in a fresh process: the
first call (tracing, compiling, solving) and a warm call with a new δ (no recompilation),
against the import of jaxmix in the same fresh process (``select_epbeta``'s first call there is
printed too).
"""

from __future__ import annotations

import json
import subprocess
import sys

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy import optimize, special  # noqa: E402

import jaxmix  # noqa: E402
from benchmarks._util import best_time, interleaved, write_row  # noqa: E402
from jaxmix import epbeta_select as select  # noqa: E402

EPS0 = EPS1 = 0.3
TAU = 0.5
NUM_DELTA = 1000


def u_scipy(x, eps0=EPS0, eps1=EPS1, tau=TAU):
    """u(x) along the VP curve (same closed form as ``select.vp_curve_shift``), with scipy."""
    s = 1.0 + eps0 + eps1
    kappa = (x * (eps0 - eps1) + eps1 * (1.0 + eps0)) / (x * (1.0 - x))
    a, b = (1.0 - x + eps0) * kappa / s, (x + eps1) * kappa / s
    t = (tau + eps0) / s
    inc = special.betainc(a, b, t)
    log_d = (
        a * np.log(t)
        + b * np.log1p(-t)
        - np.log(a)
        - (special.gammaln(a) + special.gammaln(b) - special.gammaln(a + b))
    )
    return x + (1.0 - 2.0 * x) * inc - 2.0 * (1.0 - x + eps0) * np.exp(log_d)


def scipy_select(deltas):
    """x(δ) for every δ: one tabulation, then a brentq per δ. Returns the array of x."""
    xs = np.geomspace(select._GRID_LOWEST, 0.5, select._GRID_SIZE)
    us = u_scipy(xs)
    out = np.empty_like(deltas)
    for k, d in enumerate(deltas):
        above = np.nonzero(us >= d)[0]
        i = above[0]
        lo = xs[i - 1] if i > 0 else 1e-300
        out[k] = optimize.brentq(lambda x, d=d: u_scipy(x) - d, lo, xs[i], xtol=1e-14, rtol=1e-15)
    return out


def main(write: bool = False, quick: bool = False):
    num_delta = 64 if quick else NUM_DELTA  # quick: the tests' smoke run
    dmax = float(select.max_attainable_delta(EPS0, EPS1, TAU))
    deltas = np.linspace(1e-3, 0.95 * dmax, num_delta)
    deltas_j = jnp.asarray(deltas)
    traced = jax.jit(jax.vmap(lambda d: jaxmix.select_epbeta(d, eps0=EPS0, eps1=EPS1, tau=TAU)))

    def run_traced():  # the JAX implementation (what runs under jit/vmap/grad)
        return jax.block_until_ready(traced(deltas_j))

    def run_host():  # concrete δ: solved on the host (numpy + scipy.special), nothing compiled
        return jaxmix.select_epbeta(deltas, eps0=EPS0, eps1=EPS1, tau=TAU)

    law, law_host = run_traced(), run_host()  # compile
    x_scipy = scipy_select(deltas)
    # Interleaved rounds (``interleaved``): each ratio pairs timings from the same window.
    r = interleaved(
        [
            lambda: best_time(run_traced, repeat=5, warmup=0),
            lambda: best_time(run_host, repeat=5, warmup=0),
            lambda: best_time(lambda: scipy_select(deltas), repeat=1, warmup=0),
        ],
        rounds=2 if quick else 7,
    )
    t_jax, t_host, t_scipy = (float(v) for v in np.median(r, axis=0))
    ratio = float(np.median(r[:, 2] / r[:, 0]))
    ratio_host = float(np.median(r[:, 2] / r[:, 1]))
    agree = max(
        float(np.max(np.abs(1.0 - np.asarray(v.mean()) - x_scipy))) for v in (law, law_host)
    )
    print(
        f"select_epbeta, {num_delta} deltas (float64): jit(vmap) {1e6 * t_jax / num_delta:.2f} "
        f"us/delta, concrete (host) {1e6 * t_host / num_delta:.2f} us/delta, scipy brentq loop "
        f"{1e6 * t_scipy / num_delta:.2f} us/delta (medians of interleaved rounds); median "
        f"ratios {ratio:.1f}x (jit(vmap)), {ratio_host:.1f}x (host); "
        f"max |x - x_scipy| = {agree:.2e}"
    )
    if write and not quick:
        write_row(
            "`bench_select`: select_epbeta over 1000 δ (float64), jit(vmap) / concrete (host)",
            f"scipy brentq loop, same grid ({1e6 * t_scipy / NUM_DELTA:.0f} µs/δ vs "
            f"{1e6 * t_jax / NUM_DELTA:.1f} / {1e6 * t_host / NUM_DELTA:.1f} µs/δ; medians of 7 "
            "interleaved rounds)",
            f"{ratio:.1f}× / {ratio_host:.1f}× (median)",
        )
    return ratio


_DESIGN_SCRIPT = """
import time
t = time.perf_counter()
import json, jax
jax.config.update("jax_enable_x64", True)
import jaxmix
from jaxmix import Equal
t_import = time.perf_counter() - t
t = time.perf_counter()
jax.block_until_ready(jaxmix.select_epbeta(0.02))
t_sel = time.perf_counter() - t
tmpl = jaxmix.EpBeta(3.0, 1.0, 0.3, 0.3)
cons = lambda d: [Equal("variance_gap", 0.0), Equal("u", d)]
t = time.perf_counter()
law, rep = jaxmix.design_weights(tmpl, cons(0.02))
jax.block_until_ready(law)
t_first = time.perf_counter() - t
warm = []
for d in (0.01, 0.03, 0.04):
    t = time.perf_counter()
    law, rep2 = jaxmix.design_weights(tmpl, cons(d))
    jax.block_until_ready(law)
    warm.append(time.perf_counter() - t)
print(json.dumps(dict(import_s=t_import, select_first=t_sel, first=t_first, warm=sorted(warm)[1],
                      converged=bool(rep.converged) and bool(rep2.converged))))
"""


def design_times():
    """(select_epbeta first call, design_weights first call, median warm call), fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _DESIGN_SCRIPT], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main_design(write: bool = False):
    r = design_times()
    print(
        "design_weights (one EpBeta law, 2 targets, 16 starts, float64), fresh process: "
        f"first call {r['first']:.1f} s, "
        f"warm call {1e3 * r['warm']:.0f} ms (new delta, no recompilation); "
        f"select_epbeta's first call in the same process {r['select_first']:.1f} s; "
        f"converged: {r['converged']}"
    )
    if write:
        write_row(
            "`bench_select --design`: design_weights, one EpBeta law (float64), "
            "first call / warm call",
            f"import jaxmix in the same fresh process ({r['import_s']:.1f} s; select_epbeta's "
            f"first call there: {r['select_first']:.2f} s)",
            f"first {r['first']:.1f} s ({r['first'] / r['import_s']:.1f}× the import), "
            f"warm {1e3 * r['warm']:.0f} ms",
        )
    return r


if __name__ == "__main__":
    if "--design" in sys.argv:
        main_design(write="--write" in sys.argv)
    else:
        main(write="--write" in sys.argv, quick="--quick" in sys.argv)
