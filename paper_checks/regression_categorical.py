"""Regression with a categorical covariate: where a shared weight separates the laws.

With continuous columns only, one shared weight keeps every OLS coefficient (Corollary 3). A
categorical covariate is not mixed but cut (its value is the kept parent's), and the theory
(``docs/theory.md#theorem-4-class-mean-shift``) gives, for a shared weight W with
K = 1 - 2E[W] + 2E[W²] and u = class_mean_shift:

    Cov[x~, y~] = K Cov[x, y],   Var[x~] = K Var[x],
    Cov[x~, D~] = (1 - u) Cov[x, D],   Cov[y~, D~] = (1 - u) Cov[y, D],   Var[D~] = Var[D]

for the dummy D = 1{L = 1}. The OLS limit of y~ on (1, x~, D~) is therefore
[[K Sxx, (1-u) SxD], [(1-u) SxD, SDD]]^-1 [K Sxy, (1-u) SyD] (means are kept, which fixes the
intercept): EpBeta (K = 1, u = δ) moves the coefficients by O(δ), Unif(0,1) (K = 2/3, u = 1/4)
by much more, although both keep the coefficients when D is left out.

DGP: D ~ Bernoulli(0.4), x = D + N(0, 1), y = 1 + 2x + 1.5 D + N(0, 1), n records. For each law,
B batches of m synthetic records (x~, y~, D~), one OLS fit per batch; measured = mean over
batches, SE = sd / sqrt(B), z against the closed-form limit (computed from the original
sample's 1/n moments).

    python paper_checks/regression_categorical.py [--quick] [--out DIR] [--seed S]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxmix  # noqa: E402

NAME = "regression_categorical"
LAWS = ("epbeta:0.01", "epbeta:0.05", "beta:0.4", "unif")
BETA = (1.0, 2.0, 1.5)  # intercept, x, D
#: the check fails if any |z| reaches this; the README's table states the false-failure
#: bound z_count * P(|Z| >= Z_MAX) for a standard normal Z
Z_MAX = 4.5


def make_data(key, n):
    kd, kx, ke = jax.random.split(key, 3)
    d = (jax.random.uniform(kd, (n,)) < 0.4).astype(jnp.int32)
    x = d + jax.random.normal(kx, (n,))
    y = BETA[0] + BETA[1] * x + BETA[2] * d + jax.random.normal(ke, (n,))
    return np.asarray(jnp.stack([x, y], 1), np.float64), np.asarray(d)


def ols(x, y, d):
    """OLS of y on (1, x, d); float64 NumPy."""
    a = np.column_stack([np.ones_like(x), x, d])
    return np.linalg.lstsq(a, y, rcond=None)[0]


def predicted_limit(xy, d, k, u):
    """Closed-form OLS limit of y~ on (1, x~, D~) from the 1/n moments of the original sample."""
    x, y = xy[:, 0], xy[:, 1]
    dd = d.astype(float)

    def cov(a, b):
        return float(np.mean((a - a.mean()) * (b - b.mean())))

    a = np.array([[k * cov(x, x), (1 - u) * cov(x, dd)], [(1 - u) * cov(x, dd), cov(dd, dd)]])
    b = np.array([k * cov(x, y), (1 - u) * cov(y, dd)])
    slope = np.linalg.solve(a, b)
    return np.concatenate([[y.mean() - slope @ np.array([x.mean(), dd.mean()])], slope])


def main(argv=None) -> dict:
    args = C.parse_args(NAME, __doc__.splitlines()[0], argv)
    n = 1000
    batches, m = (16, 20_000) if args.quick else (64, 100_000)
    key = jax.random.key(args.seed)
    xy, d = make_data(jax.random.fold_in(key, 0), n)
    orig = ols(xy[:, 0], xy[:, 1], d)
    xj, dj = jnp.asarray(xy, jnp.float32), jnp.asarray(d)

    @jax.jit
    def fit(xs, ls):
        a = jnp.column_stack([xs[:, 0], ls.astype(xs.dtype)])
        # normal equations on centred columns (float32): slopes, then the intercept from the means
        mu = a.mean(0)
        ac = a - mu
        yc = xs[:, 1] - xs[:, 1].mean()
        slope = jnp.linalg.solve(ac.T @ ac, ac.T @ yc)
        return jnp.concatenate([(xs[:, 1].mean() - slope @ mu)[None], slope])

    def fits(law, keys):
        # the library's own (compiled, cached) mixup per batch; only the fit is compiled here
        return np.stack([np.asarray(fit(*jaxmix.mixup(k, xj, m, law, labels=dj))) for k in keys])

    res, zs = {}, []
    for i, spec in enumerate(C.progress(LAWS, desc=NAME, disable=args.no_progress)):
        law = C.law_from_spec(spec)
        k, u = float(jaxmix.covariance_factor(law)), float(jaxmix.class_mean_shift(law))
        b = fits(law, jax.random.split(jax.random.fold_in(key, i + 1), batches)).astype(np.float64)
        mean, se = b.mean(0), b.std(0, ddof=1) / np.sqrt(batches)
        pred = predicted_limit(xy, d, k, u)
        z = (mean - pred) / se
        zs.extend(np.abs(z).tolist())
        # the same fit without the dummy: a shared weight keeps the slope (Corollary 3)
        res[spec] = {
            "label": C.law_label(spec),
            "K": k,
            "u": u,
            "mean_coef": mean,
            "se": se,
            "predicted_limit": pred,
            "z": z,
            "shift_vs_original": mean - orig,
            # the limit if the dummy's covariance were kept (u = 0): rejected when u is not small
            "predicted_limit_if_u_were_0": predicted_limit(xy, d, k, 0.0),
            "predicted_shift_vs_original": pred - orig,
        }
    zmax = float(max(zs))
    ep, un = res["epbeta:0.05"], res["unif"]
    return C.write_check(
        args,
        NAME,
        claim="with a categorical covariate, a shared weight moves OLS coefficients by the "
        "closed form in K and u",
        config={
            "n": n,
            "beta": list(BETA),
            "p_dummy": 0.4,
            "batches": batches,
            "records_per_batch": m,
            "laws": list(LAWS),
        },
        what="OLS of y on (1, x, dummy) after mixup with a shared weight vs the closed-form "
        "limit with Cov[x~, D~] = (1−u) Cov[x, D]",
        result=(
            f"dummy coefficient {orig[2]:.3f} on the original data; EpBeta(δ=0.05) "
            f"{ep['mean_coef'][2]:.3f} (predicted {ep['predicted_limit'][2]:.3f}), Unif(0,1) "
            f"{un['mean_coef'][2]:.3f} (predicted {un['predicted_limit'][2]:.3f})"
        ),
        max_abs_z=zmax,
        passed=zmax < Z_MAX,
        z_threshold=Z_MAX,
        z_count=len(zs),
        original_fit=orig,
        laws=res,
    )


if __name__ == "__main__":
    main()
