"""Figure 1 of the paper: repeated mixup of a correlated bivariate normal cloud.

1000 points from N(0, [[1, .9], [.9, 1]]) are resynthesised recursively (generation t mixes
generation t-1, 1000 records each) with EpBeta(δ=0.05; ε0=ε1=0.3) from Algorithm 1, Beta(0.1, 0.1)
and Unif(0, 1). Measured over R independent chains: the variance ratio Var_t / Var_0 and the
correlation at every generation, against the prediction of ``predict`` applied t times:
Var_t / Var_0 = K^t (population) and, for the 1/n variance of a sample of n records,
E[Var_t] / Var_0 = ((n-1)/n · K)^t exactly; the correlation is kept (shared weight, Corollary 3).

    python paper_checks/figure1.py [--quick] [--out DIR]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxmix  # noqa: E402

NAME = "figure1"
LAWS = ("epbeta:0.05", "beta:0.1", "unif")
SHOW = (1, 5, 10)


def _stats(x):
    """1/n variances (2,) and correlation of a (n, 2) sample."""
    xc = x - x.mean(0)
    cov = xc.T @ xc / x.shape[0]
    return jnp.diagonal(cov), cov[0, 1] / jnp.sqrt(cov[0, 0] * cov[1, 1])


def chains(key, law, x0, generations: int, reps: int):
    """R independent chains of recursive mixup; returns per-generation stats and rep 0's clouds."""
    n = x0.shape[0]

    def step(xs, k):
        keys = jax.random.split(k, reps)
        new = jax.vmap(lambda kk, xx: jaxmix.mixup(kk, xx, n, law))(keys, xs)
        var, corr = jax.vmap(_stats)(new)
        return new, (var, corr, new[0])

    xs0 = jnp.broadcast_to(x0, (reps,) + x0.shape)
    _, (var, corr, clouds) = jax.lax.scan(step, xs0, jax.random.split(key, generations))
    return var, corr, clouds  # (T, R, 2), (T, R), (T, n, 2)


def main(argv=None) -> dict:
    args = C.parse_args(NAME, __doc__.splitlines()[0], argv)
    reps = 20 if args.quick else 400
    generations = max(SHOW)
    n, rho = 1000, 0.9
    key = jax.random.key(args.seed)
    kdata, kmix = jax.random.split(key)
    cov0 = jnp.array([[1.0, rho], [rho, 1.0]])
    x0 = jax.random.multivariate_normal(kdata, jnp.zeros(2), cov0, (n,))
    summ0 = jaxmix.summarize(x0)
    var0 = np.asarray(summ0.variance)
    corr0 = float(summ0.cov[0, 1] / jnp.sqrt(summ0.cov[0, 0] * summ0.cov[1, 1]))

    results, clouds_all = {}, {}
    for spec, k in zip(
        C.progress(LAWS, desc=NAME, disable=args.no_progress),
        jax.random.split(kmix, len(LAWS)),
        strict=True,
    ):
        law = C.law_from_spec(spec)
        var, corr, clouds = chains(k, law, x0, generations, reps)
        var, corr = np.asarray(var, np.float64), np.asarray(corr, np.float64)
        kf = float(jaxmix.covariance_factor(law))
        per_t, pred = [], summ0
        for t in range(1, generations + 1):
            pred = jaxmix.predict(pred, law)
            ratio = var[t - 1] / var0  # (R, 2)
            r_mean, r_se = ratio.mean(0), ratio.std(0, ddof=1) / math.sqrt(reps)
            pred_pop = np.asarray(pred.variance) / var0  # K^t from predict applied t times
            pred_fin = pred_pop * ((n - 1) / n) ** t
            c_mean, c_se = corr[t - 1].mean(), corr[t - 1].std(ddof=1) / math.sqrt(reps)
            pred_corr = float(pred.cov[0, 1] / jnp.sqrt(pred.cov[0, 0] * pred.cov[1, 1]))
            per_t.append(
                {
                    "t": t,
                    "var_ratio": r_mean,
                    "var_ratio_se": r_se,
                    "pred_K_t": pred_pop,
                    "pred_finite_n": pred_fin,
                    "z_var": (r_mean - pred_fin) / r_se,
                    "corr": c_mean,
                    "corr_se": c_se,
                    "pred_corr": pred_corr,
                }
            )
        results[spec] = {
            "label": C.law_label(spec),
            "law": C.law_params(law),
            "K": kf,
            "generations": per_t,
        }
        clouds_all[spec] = np.asarray(clouds)

    out = {
        "claim": "EpBeta keeps variance and correlation over generations; "
        "Beta(0.1,0.1) and Unif(0,1) shrink the cloud by K^t",
        "config": {
            "n": n,
            "rho": rho,
            "reps": reps,
            "generations": generations,
            "quick": args.quick,
            "seed": args.seed,
        },
        "data": {"var": var0, "corr": corr0},
        "laws": results,
        "figures": [
            _plot_clouds(args.out, np.asarray(x0), clouds_all),
            _plot_ratios(args.out, results),
        ],
    }
    C.write_json(args.out, NAME, out)
    return out


def _plot_clouds(out, x0, clouds):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(LAWS),
        1 + len(SHOW),
        figsize=(3.0 * (1 + len(SHOW)), 3.0 * len(LAWS)),
        sharex=True,
        sharey=True,
    )
    lim = 1.05 * np.abs(x0).max()
    for r, spec in enumerate(LAWS):
        panels = [("original", x0)] + [(f"t = {t}", clouds[spec][t - 1]) for t in SHOW]
        for c, (title, pts) in enumerate(panels):
            ax = axes[r, c]
            ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, color=C.law_colour(spec) if c else "k")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_title(
                f"{C.law_label(spec)}: {title}" if c else f"{C.law_label(spec)}\n{title}",
                fontsize=9,
            )
    return C.save_fig(fig, out, "figure1_clouds.png")


def _plot_ratios(out, results):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for spec, res in results.items():
        g = res["generations"]
        t = [r["t"] for r in g]
        m = np.array([r["var_ratio"][0] for r in g])
        se = np.array([r["var_ratio_se"][0] for r in g])
        col = C.law_colour(spec)
        axes[0].errorbar(
            t, m, yerr=2 * se, fmt="o", ms=3, color=col, label=f"{res['label']} (measured)"
        )
        axes[0].plot(
            t,
            [r["pred_finite_n"][0] for r in g],
            "-",
            color=col,
            lw=1,
            label="predicted ((n-1)/n K)^t",
        )
        axes[1].errorbar(
            t,
            [r["corr"] for r in g],
            yerr=[2 * r["corr_se"] for r in g],
            fmt="o",
            ms=3,
            color=col,
            label=res["label"],
        )
    axes[0].set_yscale("log")
    axes[0].set_xlabel("generation t")
    axes[0].set_ylabel("Var_t / Var_0 (x1), ±2 SE")
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("generation t")
    axes[1].set_ylabel("correlation, ±2 SE")
    axes[1].axhline(0.9, color="k", lw=0.5)
    axes[1].legend(fontsize=7)
    return C.save_fig(fig, out, "figure1_ratios.png")


if __name__ == "__main__":
    main()
