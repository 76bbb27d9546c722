"""Predicted (``jaxmix.predict``) against Monte Carlo for the paper's theorems, on real tables.

Tables shipped inside installed packages (no download): the Palmer penguins bundled with jaxmix
(species as the label), and scikit-learn's bundled iris, wine and breast_cancer. Columns are
standardised first (every claim is equivariant under per-column affine maps, so z-scores are
unchanged and float32 sums stay well conditioned).

For each table and weight law, M synthetic records are drawn in B independent batches; each
statistic is computed per batch and its standard error is the batch-means SE
(sd over batches / sqrt(B)). z = (Monte Carlo - predicted) / SE.

Claims checked (docs/theory.md#theorem-2-covariance-factor, #theorem-4-class-mean-shift):
- thm2:   Cov[x~] = K ⊙ Σ, every entry (Theorem 2)
- cor3:   correlations and OLS slopes (last column on the others) of the synthetic population:
          kept by a shared weight, attenuated by independent per-column weights (Corollary 3)
- thm4:   class proportions p_l, class means (1-u)μ_l + u x̄, Cov[x~, 1{L~=l}] = (1-u) Cov[x, 1{L=l}]
- thm10_11: class variances Var[x~ | L~=l]; for EpBeta also the closed form
          σ_l² + δ(s² - σ_l²) + δ(1-δ) d_l² against ``predict`` (exact algebra, no Monte Carlo)
- cor9:   Var[x~]/Var[x] = (α+1)/(2α+1) ≤ 1 for laws on [0, 1]; 1 for EpBeta

    python paper_checks/theorems.py [--quick] [--out DIR]
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

NAME = "theorems"
LAWS = ("unif", "beta:0.4", "beta:2", "epbeta:0.05", "percol:unif")
QUICK_LAWS = ("unif", "epbeta:0.05", "percol:unif")


def load_tables(quick: bool):
    """(name, x, labels, class names) for each bundled table."""
    from sklearn import datasets as skd

    pen = jaxmix.load_penguins()
    tables = [("penguins", pen.x, pen.labels[:, 0])]
    loaders = [
        ("iris", skd.load_iris),
        ("wine", skd.load_wine),
        ("breast_cancer", skd.load_breast_cancer),
    ]
    for name, load in loaders[:1] if quick else loaders:
        b = load()
        tables.append((name, np.asarray(b.data, float), np.asarray(b.target)))
    return tables


def weights_of(spec: str, d: int):
    """A law, or for ``percol:LAW`` one copy per column plus a label weight, all independent."""
    if spec.startswith("percol:"):
        law = C.law_from_spec(spec.partition(":")[2])
        return jaxmix.per_column([law] * d, labels=law)
    return C.law_from_spec(spec)


def label_of(spec: str) -> str:
    if spec.startswith("percol:"):
        return C.law_label(spec.partition(":")[2]) + " per column"
    return C.law_label(spec)


def _ols(cov):
    """Slopes of the last column regressed on the others, from a covariance matrix."""
    return jnp.linalg.solve(cov[:-1, :-1], cov[:-1, -1])


def _corr(cov):
    sd = jnp.sqrt(jnp.diagonal(cov))
    return cov / jnp.outer(sd, sd)


def population_stats(cov, probs, means, mean, class_covs):
    """The statistics, as functions of population moments (used for predictions)."""
    iu = np.triu_indices(cov.shape[0])
    io = np.triu_indices(cov.shape[0], 1)
    return {
        "thm2_cov": cov[iu],
        "cor3_corr": _corr(cov)[io],
        "cor3_ols": _ols(cov),
        "thm4_probs": probs,
        "thm4_class_means": means,
        "thm4_cov_indicator": probs[:, None] * (means - mean),
        "thm10_11_class_var": jnp.diagonal(class_covs, axis1=-2, axis2=-1),
        "cor9_var_ratio": jnp.diagonal(cov),  # data are standardised: Var[x] = 1
    }


def batch_stats(x, lab, num_classes):
    """Unbiased estimates of the statistics from one batch of i.i.d. synthetic records."""
    m = x.shape[0]
    mean = x.mean(0)
    xc = x - mean
    cov = xc.T @ xc / (m - 1)
    oh = jax.nn.one_hot(lab, num_classes, dtype=x.dtype)
    cnt = oh.sum(0)
    means = (oh.T @ x) / cnt[:, None]
    dev = x[None] - means[:, None]  # (C, m, d)
    cvar = jnp.einsum("cm,cmd->cd", oh.T, dev**2) / (cnt[:, None] - 1)
    probs = cnt / m
    cov_ind = (oh - probs).T @ xc / (m - 1)  # Cov[x~, 1{L~ = l}]
    s = population_stats(cov, probs, means, mean, jnp.zeros((num_classes,) + cov.shape))
    s["thm4_cov_indicator"] = cov_ind
    s["thm10_11_class_var"] = cvar
    return s


def check_table(key, x, labels, spec, batches, batch_size):
    d = x.shape[1]
    num_classes = int(labels.max()) + 1
    w = weights_of(spec, d)
    summ = jaxmix.summarize(x, labels)
    pred = jaxmix.predict(summ, w)
    pstats = population_stats(
        pred.cov, pred.class_probs, pred.class_means, pred.mean, pred.class_covs
    )
    ostats = population_stats(
        summ.cov, summ.class_probs, summ.class_means, summ.mean, summ.class_covs
    )

    keys = jax.random.split(key, batches)
    xs, ls = jax.vmap(lambda k: jaxmix.mixup(k, x, batch_size, w, labels=labels))(keys)
    est, se = C.batch_se(lambda a, b: batch_stats(a, b, num_classes), (xs, ls))

    claims = {}
    for name in pstats:
        p = np.asarray(pstats[name], np.float64)
        e = np.asarray(est[name])
        s = np.asarray(se[name])
        z = (e - p) / s
        claims[name] = {
            "predicted": p,
            "monte_carlo": e,
            "se": s,
            "original": np.asarray(ostats[name], np.float64),
            "z": z,
            "max_abs_z": float(np.max(np.abs(z))),
            "count": int(z.size),
        }
    extra = {
        "K": np.asarray(jaxmix.covariance_factor(w)),
        "u": np.asarray(jaxmix.class_mean_shift(w)),
    }
    if spec.startswith("epbeta"):
        # Theorems 10-11 in closed form under variance preservation (a = 1-δ, b = δ)
        delta = float(jaxmix.class_mean_shift(w))
        s2 = np.asarray(summ.variance)
        sl2 = np.asarray(summ.class_variances)
        dl = np.asarray(summ.class_means - summ.mean)
        formula = sl2 + delta * (s2 - sl2) + delta * (1 - delta) * dl**2
        via_predict = np.asarray(pred.class_variances)
        extra["thm10_11_formula_max_abs_diff"] = float(np.max(np.abs(formula - via_predict)))
        extra["thm4_mean_formula_max_abs_diff"] = float(
            np.max(
                np.abs(
                    (1 - delta) * np.asarray(summ.class_means)
                    + delta * np.asarray(summ.mean)
                    - np.asarray(pred.class_means)
                )
            )
        )
        extra["delta"] = delta
        # O(δ) errors: largest class-mean shift and class-variance change, in data sd units
        extra["class_mean_error_max"] = float(np.max(np.abs(delta * dl)))
        extra["class_var_error_max"] = float(np.max(np.abs(formula - sl2)))
    return claims, extra


def main(argv=None) -> dict:
    args = C.parse_args(NAME, __doc__.splitlines()[0], argv)
    batches, batch_size = (32, 1000) if args.quick else (64, 3125)
    laws = QUICK_LAWS if args.quick else LAWS
    key = jax.random.key(args.seed)
    tables = load_tables(args.quick)
    out_tables, all_z = {}, []
    jobs = [(t, s) for t in tables for s in laws]
    for (tname, x, lab), spec in C.progress(jobs, desc=NAME, disable=args.no_progress):
        key, sub = jax.random.split(key)
        xs = (x - x.mean(0)) / x.std(0)
        claims, extra = check_table(
            sub, jnp.asarray(xs), jnp.asarray(lab), spec, batches, batch_size
        )
        entry = out_tables.setdefault(
            tname,
            {"n": int(x.shape[0]), "d": int(x.shape[1]), "classes": int(lab.max()) + 1, "laws": {}},
        )
        entry["laws"][spec] = {"label": label_of(spec), "claims": claims, **extra}
        all_z.extend(np.concatenate([np.ravel(c["z"]) for c in claims.values()]).tolist())

    all_z = np.asarray(all_z)
    summary_rows = []
    for tname, t in out_tables.items():
        for r in t["laws"].values():
            row = {"table": tname, "law": r["label"]}
            for cname, c in r["claims"].items():
                row[cname] = c["max_abs_z"]
            summary_rows.append(row)
    out = {
        "claim": "predict() equals the Monte Carlo moments of mixup: z-scores ~ N(0, 1)",
        "config": {
            "batches": batches,
            "batch_size": batch_size,
            "records_per_check": batches * batch_size,
            "laws": list(laws),
            "quick": args.quick,
            "seed": args.seed,
        },
        "z_overall": {
            "count": int(all_z.size),
            "max_abs": float(np.max(np.abs(all_z))),
            "frac_abs_gt_2": float(np.mean(np.abs(all_z) > 2)),
            "frac_abs_gt_3": float(np.mean(np.abs(all_z) > 3)),
            "mean": float(all_z.mean()),
            "sd": float(all_z.std()),
        },
        "max_abs_z_table": summary_rows,
        "tables": out_tables,
    }
    out["figures"] = [_plot_z(args.out, all_z), _plot_pred_vs_mc(args.out, out_tables)]
    C.write_json(args.out, NAME, out)
    return out


def _plot_z(out, z):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.hist(z, bins=60, density=True, color="0.6", label=f"{z.size} z-scores")
    g = np.linspace(-5, 5, 200)
    ax.plot(g, np.exp(-g * g / 2) / math.sqrt(2 * math.pi), "k-", lw=1, label="N(0, 1)")
    ax.set_xlabel("z = (Monte Carlo − predicted) / SE")
    ax.legend(fontsize=8)
    return C.save_fig(fig, out, "theorems_z_hist.png")


def _plot_pred_vs_mc(out, tables):
    import matplotlib.pyplot as plt

    claims = ["thm2_cov", "cor3_corr", "thm4_class_means", "thm10_11_class_var"]
    fig, axes = plt.subplots(1, len(claims), figsize=(4 * len(claims), 3.8))
    for ax, cname in zip(axes, claims, strict=True):
        for t in tables.values():
            for spec, r in t["laws"].items():
                c = r["claims"][cname]
                ax.scatter(
                    np.ravel(c["predicted"]),
                    np.ravel(c["monte_carlo"]),
                    s=4,
                    alpha=0.5,
                    color=C.law_colour(
                        spec.partition(":")[2] if spec.startswith("percol") else spec
                    ),
                    marker="x" if spec.startswith("percol") else "o",
                )
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.5)
        ax.set_title(cname, fontsize=9)
        ax.set_xlabel("predicted")
        ax.set_ylabel("Monte Carlo")
    return C.save_fig(fig, out, "theorems_pred_vs_mc.png")


if __name__ == "__main__":
    main()
