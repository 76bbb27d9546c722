"""Skewness and kurtosis over repeated synthesis on a real table, against the predicted curves.

Beyond the paper (docs/higher_moments.md): with parents drawn with replacement, a column's
skewness is multiplied by T3/K^(3/2) per generation and its kurtosis κ = m4/σ⁴ maps to
κ' = (T4 κ + 6d)/K², d = E[W²(1-W)²]; for a variance-preserving law T3 = K = 1 and
κ_t + 3 = (κ_0 + 3)(1 + 2d)^t. This check follows R independent chains of repeated synthesis
(generation 1 from the real rows, generation t from generation t - 1, m records each) for
Unif(0,1), Beta(0.4,0.4), EpBeta(δ=0.05) (Algorithm 1, ε0 = ε1 = 0.3) and the d-minimising
variance-preserving EpBeta with u = 0.05 (ε0 = 0, ε1 chosen by ``jaxmix.higher.min_tail_epbeta``),
and compares the per-column sample skewness and kurtosis (mean over chains, SE = sd/√R) with
``predict`` applied t times to the real table's Summary (order 4). The sample moments of m
records differ from the population ones by O(1/m) per generation, far below the SE here.

Data: the bundled Palmer penguins (333 rows, 4 columns; body mass is right-skewed).

    python paper_checks/higher_moments.py [--quick] [--out DIR] [--seed S]
"""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxmix  # noqa: E402
from jaxmix import higher  # noqa: E402

NAME = "higher_moments"
DELTA = 0.05
COLOURS = {
    "unif": "tab:orange",
    "beta:0.4": "tab:purple",
    "epbeta:0.05": "tab:green",
    "min_d": "tab:blue",
}


def make_laws(quick: bool):
    """(spec, label, law) for the four laws."""
    min_d, eps1 = higher.min_tail_epbeta(DELTA, eps0=0.0, steps=10 if quick else 40)
    return [
        ("unif", "Unif(0,1)", jaxmix.Uniform()),
        ("beta:0.4", "Beta(0.4,0.4)", jaxmix.Beta(0.4, 0.4)),
        ("epbeta:0.05", "EpBeta(δ=0.05), ε0=ε1=0.3", jaxmix.select_epbeta(DELTA)),
        ("min_d", f"min-d EpBeta(δ=0.05), ε0=0, ε1={eps1:.3f}", min_d),
    ]


def as_epbeta(law):
    """The same law as an EpBeta (Unif(0,1) = EpBeta(1, 1, 0, 0)): one compiled program for all."""
    return jaxmix.EpBeta(*C.as_epbeta(law))


def sample_stats(x):
    """Per-column sample skewness and kurtosis (1/m moments) of x (m, d)."""
    c = x - x.mean(0)
    v = (c**2).mean(0)
    return (c**3).mean(0) / v**1.5, (c**4).mean(0) / v**2


def chains(key, x0, law, generations, runs, m):
    """(skew, kurt) of shape (generations + 1, runs, d): generation 0 is the real table.

    The real table enters tiled m/n times (m a multiple of n): the same empirical law, so the
    same mixup population, and one array shape (one compiled program) for every generation.
    """
    reps = m // x0.shape[0]
    if reps * x0.shape[0] != m:
        raise ValueError(f"rows per generation must be a multiple of n = {x0.shape[0]}, got {m}.")
    xs = jnp.broadcast_to(jnp.tile(x0, (reps, 1)), (runs, m, x0.shape[1]))
    stats_fn = jax.jit(jax.vmap(sample_stats))
    s0, k0 = stats_fn(xs)
    skews, kurts = [np.asarray(s0)], [np.asarray(k0)]
    for t in range(1, generations + 1):
        xs = _step(jax.random.split(jax.random.fold_in(key, t), runs), xs, as_epbeta(law), m)
        s, k = stats_fn(xs)
        skews.append(np.asarray(s))
        kurts.append(np.asarray(k))
    return np.stack(skews), np.stack(kurts)


@functools.partial(jax.jit, static_argnums=3)
def _step(keys, xs, law, m):
    return jax.vmap(lambda k, x: jaxmix.mixup(k, x, m, law))(keys, xs)


def predicted(summary, law, generations):
    """Predicted (skew, kurt) of shape (generations + 1, d) by iterating ``predict``."""
    s, law = summary, as_epbeta(law)
    skews, kurts = [np.asarray(higher.skewness(s))], [np.asarray(higher.kurtosis(s))]
    for _ in range(generations):
        s = jaxmix.predict(s, law)
        skews.append(np.asarray(higher.skewness(s)))
        kurts.append(np.asarray(higher.kurtosis(s)))
    return np.stack(skews), np.stack(kurts)


def main(argv=None) -> dict:
    def extra(p):
        p.add_argument("--generations", type=int, default=None)
        p.add_argument("--runs", type=int, default=None)
        p.add_argument(
            "--rows", type=int, default=None, help="records per generation (a multiple of 333)"
        )

    args = C.parse_args(NAME, __doc__.splitlines()[0], argv, extra)
    generations = args.generations or (3 if args.quick else 25)
    runs = args.runs or (32 if args.quick else 16)
    m = args.rows or (333 * (6 if args.quick else 300))
    clock = C.timer()
    with jax.enable_x64(True):
        table = jaxmix.load_penguins()
        x0 = jnp.asarray(table.x)
        summary = jaxmix.summarize(x0, order=4)
        laws = make_laws(args.quick)
        key = jax.random.key(args.seed)
        results = {}
        for li, (spec, label, law) in enumerate(
            C.progress(laws, desc=NAME, disable=args.no_progress)
        ):
            sk, ku = chains(jax.random.fold_in(key, li), x0, law, generations, runs, m)
            psk, pku = predicted(summary, law, generations)
            t = np.arange(generations + 1)
            se_sk = sk.std(1, ddof=1) / math.sqrt(runs)
            se_ku = ku.std(1, ddof=1) / math.sqrt(runs)
            with np.errstate(invalid="ignore", divide="ignore"):
                z_sk = np.where(se_sk > 0, (sk.mean(1) - psk) / se_sk, 0.0)
                z_ku = np.where(se_ku > 0, (ku.mean(1) - pku) / se_ku, 0.0)
            # generation 0 is the real table in every run: no spread, nothing random to test
            # (its "SE" is float rounding, so a ratio there would be noise over noise)
            z_sk[0], z_ku[0] = 0.0, 0.0
            results[spec] = {
                "label": label,
                "law": {
                    k: float(getattr(law, k))
                    for k in ("alpha", "beta", "eps0", "eps1", "low", "high")
                    if hasattr(law, k)
                },
                "E[W]": float(law.moment(1)),
                "E[W^2]": float(law.moment(2)),
                "K": float(jaxmix.covariance_factor(law)),
                "u": float(jaxmix.class_mean_shift(law)),
                "T3": float(higher.third_moment_factor(law)),
                "T4": float(higher.fourth_moment_factor(law)),
                "d": float(higher.tail_factor(law)),
                "gaussian_kurtosis_predicted": np.asarray(higher.kurtosis_map(law, 3.0, t)),
                "skewness_predicted": psk,
                "skewness_realized_mean": sk.mean(1),
                "skewness_realized_se": se_sk,
                "skewness_z": z_sk,
                "kurtosis_predicted": pku,
                "kurtosis_realized_mean": ku.mean(1),
                "kurtosis_realized_se": se_ku,
                "kurtosis_z": z_ku,
                "max_abs_z": float(max(np.abs(z_sk[1:]).max(), np.abs(z_ku[1:]).max()))
                if generations
                else 0.0,
            }
        eps_grid = np.linspace(0.2, 1.0, 3 if args.quick else 17)
        _, d_sym = higher.tail_tradeoff(DELTA, eps_grid)
        _, d_one = higher.tail_tradeoff(DELTA, eps_grid, eps0=0.0)
        figures = [
            _plot_column(args.out, results, generations, table.feature_names),
            _plot_tradeoff(args.out, eps_grid, d_sym, d_one, laws),
        ]
    out = {
        "claim": "third central moments scale by T3 = 1 + 3(E[W²] - E[W]) (1 under variance "
        "preservation: skewness kept); kurtosis maps to (T4 κ + 6d)/K², i.e. "
        "κ_t + 3 = (κ_0 + 3)(1 + 2d)^t under variance preservation",
        "config": {
            "dataset": "penguins",
            "columns": list(table.feature_names),
            "n": int(x0.shape[0]),
            "rows_per_generation": m,
            "generations": generations,
            "runs": runs,
            "delta": DELTA,
            "quick": args.quick,
            "seed": args.seed,
            "x64": True,
        },
        "laws": results,
        "tradeoff": {
            "delta": DELTA,
            "eps": eps_grid,
            "d_eps0_eq_eps1": d_sym,
            "d_eps0_zero": d_one,
        },
        "wall_s": clock(),
        "figures": figures,
    }
    C.write_json(args.out, NAME, out)
    return out


def _plot_column(out, results, generations, names):
    import matplotlib.pyplot as plt

    t = np.arange(generations + 1)
    d = len(names)
    fig, axes = plt.subplots(2, d, figsize=(3.2 * d, 5.6), sharex=True)
    for spec, r in results.items():
        col = COLOURS.get(spec, "tab:gray")
        for k in range(d):
            for row, stat in enumerate(("skewness", "kurtosis")):
                ax = axes[row, k]
                ax.plot(
                    t,
                    np.asarray(r[f"{stat}_predicted"])[:, k],
                    "-",
                    color=col,
                    lw=1.2,
                    label=r["label"] if k == 0 and row == 0 else None,
                )
                ax.errorbar(
                    t,
                    np.asarray(r[f"{stat}_realized_mean"])[:, k],
                    yerr=2 * np.asarray(r[f"{stat}_realized_se"])[:, k],
                    fmt="o",
                    ms=2.5,
                    color=col,
                    lw=0.8,
                )
                if row == 0:
                    ax.set_title(names[k], fontsize=9)
                if k == 0:
                    ax.set_ylabel(stat)
                if row == 1:
                    ax.set_xlabel("generation t")
    axes[1, 0].set_yscale("log")
    for k in range(1, d):
        axes[1, k].set_yscale("log")
    fig.legend(loc="upper center", ncol=2, fontsize=8, bbox_to_anchor=(0.5, 1.04))
    fig.suptitle("predicted (lines) vs realized (points, ±2 SE over chains)", y=-0.01, fontsize=9)
    return C.save_fig(fig, out, "higher_moments_curves.png")


def _plot_tradeoff(out, eps, d_sym, d_one, laws):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(eps, d_sym, "-", color="tab:green", label="ε0 = ε1 = ε")
    ax.plot(eps, d_one, "-", color="tab:blue", label="ε0 = 0, ε1 = ε")
    for spec, label, law in laws:
        if spec in ("epbeta:0.05", "min_d"):
            ax.plot(
                [float(law.eps1)],
                [float(higher.tail_factor(law))],
                "o",
                color=COLOURS[spec],
                label=label,
            )
    ax.set_xlabel("ε (ε1)")
    ax.set_ylabel("d = E[W²(1-W)²]")
    ax.set_title(f"variance-preserving EpBeta with u = δ = {DELTA}", fontsize=9)
    ax.legend(fontsize=7)
    return C.save_fig(fig, out, "higher_moments_tradeoff.png")


if __name__ == "__main__":
    main()
