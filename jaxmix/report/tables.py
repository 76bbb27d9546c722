"""Fidelity tables: real vs synthetic vs predicted moments, each with its Monte Carlo error.

The report puts three numbers side by side for every statistic: the real table's, the one
``jaxmix.predict`` gives for the synthetic population (``predict`` applied G times for G
generations of repeated synthesis), and the one realized by the synthetic table. Statistics:

- per column: mean, variance ratio synthetic/real (the predicted ratio is K_kk = 1 - 2E[W] +
  2E[W²] per generation for a shared weight; Unif(0,1) gives 2/3 — the report exists to make that
  loss visible at a glance);
- per pair of columns: covariance, correlation, and their errors synthetic - real (covariance
  error in correlation units: (Σ~_km - Σ_km) / sqrt(Σ_kk Σ_mm));
- per categorical column and category: the share of rows and the class means
  (predicted: x̄ + E[V] (μ_l - x̄), Theorem 4);
- OLS slopes of each numeric column on all the others, β = Σ_oo⁻¹ Σ_or, from each covariance;
- per column the share of synthetic values outside the real [min, max] (EpBeta extrapolates);
- per column skewness m3/σ³ and kurtosis m4/σ⁴ (predicted through the exact order-3 and order-4
  maps of ``jaxmix.higher``, ``skewness_map`` and ``kurtosis_map``, G generations, with
  replacement: skewness is multiplied by T3/K^(3/2), kurtosis + 3 by 1 + 2d under variance
  preservation; docs/higher_moments.md).

Monte Carlo error: given the real table, the m synthetic records are iid draws from the
population whose moments ``predict`` gives, so a realized statistic differs from its prediction
by sampling noise of order 1/sqrt(m). Each row carries that standard error (SE), estimated from
the synthetic table: sd/sqrt(m) for a mean, sqrt((μ4 - s⁴)/m) for a variance,
(1 - r²)/sqrt(m) for a correlation, the class sd/sqrt(m_l) for a class mean, and for skewness
and kurtosis the delta method: with c = x - x̄ and the sample moments m2, m3, m4, each row's
influence on g1 = m3/m2^(3/2) is ψ3/m2^(3/2) - (3/2)(m3/m2^(5/2)) ψ2 and on b2 = m4/m2² is
ψ4/m2² - 2(m4/m2³) ψ2 (ψ2 = c² - m2, ψ3 = c³ - m3 - 3 m2 c, ψ4 = c⁴ - m4 - 4 m3 c), and the SE is
the root mean square influence over sqrt(m) (moments up to order 6 and 8 enter through the
squares; 6/m and 24/m for a Gaussian). Every row uses one rule, :func:`beyond_noise`: a gap is
flagged only when it is material (:data:`MATERIAL`: 5 % of the variance; 0.05 sd for a mean;
0.05 for a skewness, which is already in σ³ units; 5 % of the predicted kurtosis) and beyond
:data:`Z_WARN` SE; at 4 SE a correctly working synthesizer raises a false warning about once in
16,000 statistics.

A categorical column with more than :data:`MAX_CATEGORIES` categories keeps its most frequent
``MAX_CATEGORIES - 1`` (by real share) and merges the rest into one class ``(other)``. Merging is
exact for the predictions: the cut rule does not look at the label values, so the merged class of
the synthetic table is the cut of the merged real labels.

Everything here is pure: functions take arrays and Summaries and return tables (lists of dicts,
one per row); ``jaxmix.report.figures`` draws them and ``jaxmix.report.write_report`` writes the
report directory.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxmix import _checks, compile_cache, higher
from jaxmix.epbeta_select import host_law_shift
from jaxmix.laws import AbstractLaw, Beta, EpBeta, Uniform
from jaxmix.moments import Summary, class_mean_shift, predict
from jaxmix.schemes import Scheme, as_scheme

Table = list  # a table is a list of dicts, one per row, all with the same keys

__all__ = [
    "Fidelity",
    "LOSS_THRESHOLD",
    "MATERIAL",
    "MAX_CATEGORIES",
    "Table",
    "Z_WARN",
    "beyond_noise",
    "class_table",
    "column_shape",
    "column_table",
    "describe_law",
    "fidelity",
    "fidelity_frames",
    "headline",
    "law_moments",
    "ols_slopes",
    "ols_table",
    "pair_table",
    "predict_generations",
    "predict_shape",
    "table_summary",
]

LOSS_THRESHOLD = (
    0.1  # a predicted variance ratio outside 1 ± this is a loss (or gain) of the law itself
)
MATERIAL = 0.05  # a realized - predicted variance-ratio gap smaller than this is never flagged
Z_WARN = 4.0  # ... nor one within this many standard errors
MAX_CATEGORIES = 20  # categories per categorical column shown; the rest are merged into "(other)"


def beyond_noise(gap: float, se: float, material: float) -> tuple[float, bool]:
    """The flag rule of every row: z = gap / SE, flagged when |gap| > ``material`` and
    |z| > :data:`Z_WARN`. z is 0 for a zero gap with zero SE, NaN for an undefined SE (never
    flagged)."""
    gap, se = float(gap), float(se)
    z = gap / se if se > 0 else (0.0 if gap == 0 else float("nan"))
    return z, bool(abs(gap) > material and abs(z) > Z_WARN)


# --- weights ---------------------------------------------------------------------------------


def describe_law(law) -> str:
    """A one-line name with parameters, e.g.
    ``EpBeta(alpha=0.78, beta=0.78, eps0=0.3, eps1=0.3)``."""
    if isinstance(law, Scheme):
        if law.shared and len(law.laws) == 1:
            return describe_law(law.laws[0])
        return (
            "Scheme("
            + ", ".join(describe_law(g) for g in law.laws)
            + f", columns={law.columns}, labels={law.labels})"
        )
    fields = {
        EpBeta: ("alpha", "beta", "eps0", "eps1"),
        Beta: ("alpha", "beta"),
        Uniform: ("low", "high"),
    }.get(type(law))
    if fields is None:
        return type(law).__name__
    vals = ", ".join(f"{f}={_num(getattr(law, f))}" for f in fields)
    return f"{type(law).__name__}({vals})"


def _num(v) -> str:
    v = float(np.asarray(v))
    return f"{v:.6g}"


def law_moments(law: AbstractLaw, *, tau: float = 0.5) -> dict[str, float]:
    """E[W], Var[W], E[W²] - E[W] (0: variance kept, < 0: shrunk), K, u and the support.

    K = 1 - 2E[W] + 2E[W²] is the per-generation (co)variance factor (Theorem 2) and
    u = E[1 - V] the class-mean shift (Theorem 4; u = δ under variance preservation).
    Uniform, Beta and EpBeta laws with concrete scalar parameters are evaluated on the host in
    float64 from closed forms (scipy's incomplete beta for u; nothing is compiled), the exact
    moments of the law as its parameters hold them; other laws by one compiled program.
    """
    host = _host_law_moments(law, tau)
    if host is not None:
        m1, var, u, lo, hi = host
        m2 = var + m1 * m1
        gap = var - m1 * (1.0 - m1)  # E[W²] - E[W] without the cancellation of m2 - m1
    else:
        tau_arr = np.asarray(tau, _checks.float_dtype())
        # one program for E[W], E[W²] and u, run from a stored executable when the cache is on
        out = np.asarray(compile_cache.call(_law_moments_jit, law, tau_arr))
        m1, m2, u = (float(v) for v in out)
        var, gap = m2 - m1 * m1, m2 - m1
        lo, hi = (float(np.asarray(v)) for v in law.support)
    return {
        "E[W]": m1,
        "Var[W]": var,
        "E[W^2]-E[W]": gap,
        "K": 1.0 + 2.0 * gap,
        "u": u,
        "support_low": lo,
        "support_high": hi,
    }


def _host_law_moments(law, tau) -> tuple[float, ...] | None:
    """(E[W], Var[W], u, low, high) in float64 for a Uniform, Beta or EpBeta law with concrete
    scalar parameters and a concrete τ; None otherwise (the compiled path then serves).

    Beta part B ~ Beta(α, β), κ = α + β, W = s B - ε0 with s = 1 + ε0 + ε1:
    E[W] = s α/κ - ε0, Var[W] = s² αβ / (κ² (κ + 1)); u by ``host_law_shift``.
    Uniform(l, h): E[W] = (l + h)/2, Var[W] = (h - l)²/12, and with c = clip(τ, l, h),
    u = 1 - E[W] - P(W < τ) + 2 E[W 1{W < τ}] = 1 - E[W] - (c - l)/(h - l) + (c² - l²)/(h - l).
    """
    if type(law) not in (Uniform, Beta, EpBeta):
        return None
    leaves = [*jax.tree_util.tree_leaves(law), tau]
    if not all(_checks.is_concrete(v) and np.ndim(v) == 0 for v in leaves):
        return None
    t = float(np.asarray(tau))
    if isinstance(law, Uniform):
        lo, hi = float(np.asarray(law.low)), float(np.asarray(law.high))
        m1, var = 0.5 * (lo + hi), (hi - lo) ** 2 / 12.0
        c = min(max(t, lo), hi)
        u = 1.0 - m1 - (c - lo) / (hi - lo) + (c * c - lo * lo) / (hi - lo)
        return m1, var, u, lo, hi
    a, b = float(np.asarray(law.alpha)), float(np.asarray(law.beta))
    e0, e1 = (
        float(np.asarray(v))
        for v in ((law.eps0, law.eps1) if isinstance(law, EpBeta) else (0.0, 0.0))
    )
    s, k = 1.0 + e0 + e1, a + b
    m1 = s * (a / k) - e0
    var = s * s * (a / k) * (b / k) / (k + 1.0)
    u = float(host_law_shift(a, b, e0, e1, t))
    return m1, var, u, 0.0 - e0, 1.0 + e1  # 0.0 - e0: never -0.0


@jax.jit
def _law_moments_jit(law, tau):
    """(E[W], E[W²], u) stacked: the moment table and the class-mean shift in one program."""
    table = _tabulate(Scheme((law,)), tau)
    row = table.laws[0]
    assert isinstance(row, _MomentTable)
    return jnp.stack([row.m1, row.m2, class_mean_shift(table, tau=tau)])


@eqx.filter_jit
def _shift(scheme, tau):
    return class_mean_shift(scheme, tau=tau)


@eqx.filter_jit
def _density(law, grid):
    return jnp.exp(law.log_prob(grid)), law.mean()


# --- summaries -------------------------------------------------------------------------------


class Fidelity(NamedTuple):
    """Everything the report shows, computed from the real and synthetic arrays.

    real/synth/pred: Summaries of all numeric columns (no labels); real_by/synth_by/pred_by: one
    Summary per categorical column (with its classes); names, label_names, categories: as in
    ``jaxmix.io.TableSpec``; tables: name -> table; meta: rows, weights, tau, generations.
    """

    real: Summary
    synth: Summary
    pred: Summary
    real_by: tuple[Summary, ...]
    synth_by: tuple[Summary, ...]
    pred_by: tuple[Summary, ...]
    names: tuple[str, ...]
    label_names: tuple[str, ...]
    categories: tuple[tuple[Any, ...], ...]
    tables: dict[str, Table]
    meta: dict[str, Any]


def predict_generations(
    summary: Summary, weights, generations: int, *, tau: float = 0.5
) -> Summary:
    """``predict`` applied ``generations`` times (generation G of repeated synthesis); a
    ``lax.fori_loop``, so it is jit-compatible and G may be traced."""
    scheme = as_scheme(weights)
    return jax.lax.fori_loop(0, generations, lambda _, s: predict(s, scheme, tau=tau), summary)


class _MomentTable(AbstractLaw):
    """A law known only through the moments ``predict`` reads, at one cut point tau:
    E[W], E[W²] and E[W^k 1{W < tau}] for k = 0, 1, 2. Tabulating them once keeps the incomplete
    beta out of every ``predict`` call (one compile instead of one per Summary); ``predict``
    gives the same values as with the law itself. Internal to the report."""

    m1: Float[Array, ""]
    m2: Float[Array, ""]
    p0: Float[Array, ""]  # E[1{W < tau}], E[W 1{W < tau}], E[W² 1{W < tau}]: scalars, so the
    p1: Float[Array, ""]  # table is one law (a Scheme refuses a law with array parameters)
    p2: Float[Array, ""]

    def sample(self, key, shape=()):
        raise NotImplementedError("a moment table cannot be sampled")

    def moment(self, k):
        if k == 0:
            return jnp.ones_like(self.m1)
        return {1: self.m1, 2: self.m2}[k]

    def partial_moment(self, k, t):
        return (self.p0, self.p1, self.p2)[k]

    def cdf(self, w):
        raise NotImplementedError("a moment table has no cdf")

    def log_prob(self, w):
        raise NotImplementedError("a moment table has no density")

    @property
    def support(self):
        raise NotImplementedError("a moment table has no support")


@eqx.filter_jit
def _tabulate(scheme: Scheme, tau) -> Scheme:
    laws = tuple(
        _MomentTable(law.moment(1), law.moment(2), *(law.partial_moment(k, tau) for k in range(3)))
        for law in scheme.laws
    )
    return Scheme(laws, columns=scheme.columns, labels=scheme.labels)


def table_summary(x, labels=None, num_classes: int | None = None) -> Summary:
    """``jaxmix.summarize`` computed in NumPy float64 (same 1/n definitions, same empty-class
    convention), for reports: no compile per table shape, full precision without x64.
    Returned arrays are converted to the default JAX float dtype."""
    x = np.asarray(x, np.float64)
    n = x.shape[0]
    mean = x.mean(0)
    xc = x - mean
    cov = xc.T @ xc / n
    f = _checks.float_dtype()
    out = dict(mean=jnp.asarray(mean, f), cov=jnp.asarray(cov, f), num_rows=jnp.asarray(n, f))
    if labels is None:
        return Summary(**out)
    labels = np.asarray(labels, np.int64)
    c = int(labels.max()) + 1 if num_classes is None else num_classes
    counts = np.bincount(labels, minlength=c).astype(np.float64)
    means = np.tile(mean, (c, 1))
    covs = np.zeros((c,) + cov.shape)
    for l in range(c):
        rows = x[labels == l]
        if len(rows):
            means[l] = rows.mean(0)
            rc = rows - means[l]
            covs[l] = rc.T @ rc / len(rows)
    return Summary(
        **out,
        class_probs=jnp.asarray(counts / n, f),
        class_means=jnp.asarray(means, f),
        class_covs=jnp.asarray(covs, f),
    )


@eqx.filter_jit
def _predict_stacked(summary, scheme, tau, generations):
    return predict_generations(summary, scheme, generations, tau=tau)


def _class_fields(s: Summary):
    """(class_probs, class_means, class_covs) of a Summary with classes."""
    assert s.class_probs is not None and s.class_means is not None and s.class_covs is not None
    return s.class_probs, s.class_means, s.class_covs


def _predict_all(real: Summary, real_by: tuple[Summary, ...], scheme, tau, generations):
    """Predictions for the whole table and every categorical column from ONE ``predict`` call:
    ``predict`` treats each class on its own, so the classes of all categorical columns are
    stacked into one Summary (C = sum of class counts) and split again afterwards."""
    if not real_by:
        stacked = real
    else:
        fields = [_class_fields(s) for s in real_by]
        stacked = Summary(
            real.mean,
            real.cov,
            real.num_rows,
            *(jnp.concatenate([f[i] for f in fields]) for i in range(3)),
        )
    out = _predict_stacked(stacked, scheme, tau, generations)
    pred = Summary(out.mean, out.cov, out.num_rows)
    pred_by, start = [], 0
    for s in real_by:
        c = _class_fields(s)[0].shape[0]
        sl = slice(start, start + c)
        pred_by.append(
            Summary(out.mean, out.cov, out.num_rows, *(f[sl] for f in _class_fields(out)))
        )
        start += c
    return pred, tuple(pred_by)


def fidelity(
    x_real,
    x_synth,
    weights,
    *,
    labels_real=None,
    labels_synth=None,
    names: Sequence[str] | None = None,
    label_names: Sequence[str] = (),
    categories: Sequence[Sequence[Any]] = (),
    tau: float = 0.5,
    generations: int = 1,
    bounds: str = "keep",
    real_range=None,
    synth_values=None,
) -> Fidelity:
    """Compare a real table (n, d) with a synthetic one (m, d) and with the prediction.

    Args:
        x_real, x_synth: numeric columns, shapes (n, d) and (m, d).
        weights: the law or Scheme the synthetic table was made with (for the prediction).
        labels_real, labels_synth: integer codes of shapes (n, k) and (m, k), or None.
        names: d column names; label_names: k names; categories: per categorical column, its
            category values (code c is categories[j][c]).
        tau: the cut point used; generations: G, the number of rounds of repeated synthesis.
        bounds: how the synthetic table treated values outside the real range ("keep",
            "clip" or "resample"; shown in the report, the prediction is ``predict``'s either way).
        real_range: (lo, hi), each (d,), the real range for the outside-range share; default
            the min and max of ``x_real`` (give all observed values when ``x_real`` holds only
            the complete rows, as ``bounds`` does).
        synth_values: (m', d) the synthetic values with incomplete rows kept (NaN = missing), for
            the outside-range share; default ``x_synth``.
    Returns:
        :class:`Fidelity`, whose ``tables`` hold "columns", "pairs", "classes" and "ols".
        Categorical columns with more than :data:`MAX_CATEGORIES` categories are reduced as the
        module docstring says (``categories`` of the result are the reduced ones).
    """
    x_real = np.asarray(x_real, np.float64)
    x_synth = np.asarray(x_synth, np.float64)
    if x_real.ndim != 2 or x_synth.ndim != 2 or x_real.shape[1] != x_synth.shape[1]:
        raise ValueError(
            f"x_real and x_synth must be tables (n, d) and (m, d) with the same d, got "
            f"{x_real.shape} and {x_synth.shape}."
        )
    d = x_real.shape[1]
    if d == 0:
        raise ValueError("the tables have no numeric columns; the report compares numeric columns.")
    names = tuple(names) if names is not None else tuple(f"x{c}" for c in range(d))
    if len(names) != d:
        raise ValueError(f"names has {len(names)} entries for {d} columns.")
    if not isinstance(generations, int) or generations < 1:
        raise ValueError(f"generations must be an int >= 1, got {generations!r}.")
    scheme = as_scheme(weights)
    label_names = tuple(label_names)
    categories = tuple(tuple(c) for c in categories)
    if label_names:
        lr, ls = np.asarray(labels_real), np.asarray(labels_synth)
        if lr.shape != (x_real.shape[0], len(label_names)) or ls.shape != (
            x_synth.shape[0],
            len(label_names),
        ):
            raise ValueError(
                f"labels_real and labels_synth must have shapes (n, {len(label_names)}) and "
                f"(m, {len(label_names)}), got {lr.shape} and {ls.shape}."
            )
        lr, ls, categories = _merge_rare(lr, ls, categories[: len(label_names)])
    else:  # no categorical columns: no class summaries
        lr = np.zeros((x_real.shape[0], 0), np.int64)
        ls = np.zeros((x_synth.shape[0], 0), np.int64)
    tau_arr = jnp.asarray(tau, _checks.float_dtype())
    ncls = tuple(len(c) for c in categories[: len(label_names)])
    real = table_summary(x_real)
    synth = table_summary(x_synth)
    real_by = tuple(table_summary(x_real, lr[:, j], c) for j, c in enumerate(ncls))
    synth_by = tuple(table_summary(x_synth, ls[:, j], c) for j, c in enumerate(ncls))
    pred, pred_by = _predict_all(
        real, real_by, _tabulate(scheme, tau_arr), tau_arr, jnp.asarray(generations)
    )
    tables = {
        "columns": column_table(
            real,
            synth,
            pred,
            names,
            noise=column_noise(x_real, x_synth, real_range, synth_values),
            shape=predict_shape(x_real, scheme, generations),
        ),
        "pairs": pair_table(real, synth, pred, names),
        "classes": class_table(real_by, synth_by, pred_by, names, label_names, categories),
        "ols": ols_table(real, synth, pred, names),
    }
    meta = {
        "rows_real": x_real.shape[0],
        "rows_synth": x_synth.shape[0],
        "weights": describe_law(scheme),
        "tau": float(tau),
        "generations": generations,
        "bounds": bounds,
    }
    return Fidelity(
        real, synth, pred, real_by, synth_by, pred_by, names, label_names, categories, tables, meta
    )


def _merge_rare(lr, ls, categories):
    """Keep the MAX_CATEGORIES - 1 most frequent real categories of each column, merge the rest
    into "(other: K categories)" (exact for the predictions, see the module docstring)."""
    lr, ls = np.array(lr, np.int64), np.array(ls, np.int64)
    out = []
    for j, cats in enumerate(categories):
        c = len(cats)
        if c <= MAX_CATEGORIES:
            out.append(tuple(cats))
            continue
        counts = np.bincount(lr[:, j], minlength=c)
        order = np.argsort(-counts, kind="stable")
        keep = order[: MAX_CATEGORIES - 1]
        remap = np.full(c, MAX_CATEGORIES - 1, np.int64)
        remap[keep] = np.arange(MAX_CATEGORIES - 1)
        lr[:, j], ls[:, j] = remap[lr[:, j]], remap[ls[:, j]]
        out.append(
            tuple(cats[k] for k in keep) + (f"(other: {c - MAX_CATEGORIES + 1} categories)",)
        )
    return lr, ls, tuple(out)


def _date_shift(frame, ref, names) -> np.ndarray:
    """Seconds to add to each of ``names`` in ``frame`` to put its date columns on ``ref``'s
    origin (``jaxmix.io`` encodes a date column as seconds since that table's earliest value);
    0 for every other column."""
    mine = {n: o for n, _, o in getattr(frame.spec, "datetimes", ())}
    theirs = {n: o for n, _, o in getattr(ref.spec, "datetimes", ())}
    return np.asarray(
        [
            (mine[n] - theirs[n]).total_seconds() if n in mine and n in theirs else 0.0
            for n in names
        ],
        np.float64,
    )


def fidelity_frames(
    real,
    synth,
    weights,
    *,
    tau: float = 0.5,
    generations: int = 1,
    bounds: str = "keep",
    observed=None,
    observed_synth=None,
) -> Fidelity:
    """:func:`fidelity` of two ``jaxmix.io.Frame`` with the same columns (the synthetic table's
    columns are reordered, its categories recoded onto the real ones and its date columns put
    on the real table's origin). ``observed``: the real table with its missing values kept
    (``keep_missing=True``); its per-column min and max over all observed values are the real
    range for the outside-range share (the range ``bounds`` holds to), else ``real``'s;
    ``observed_synth``, the synthetic table read the same way, gives the values that share is
    taken over (all observed values), else ``synth``'s."""
    rs, ss = real.spec, synth.spec
    if set(rs.columns) != set(ss.columns):
        raise ValueError(
            f"the tables have different columns: {sorted(rs.columns)} vs {sorted(ss.columns)}."
        )
    bad = [c for c in rs.numeric if c not in ss.numeric]
    if bad:
        raise ValueError(
            f"column {bad[0]!r} is numeric in the real table but not in the synthetic one."
        )
    x = synth.x[:, [ss.numeric.index(c) for c in rs.numeric]] + _date_shift(synth, real, rs.numeric)
    real_range = None
    if observed is not None:
        xo = observed.x[:, [observed.spec.numeric.index(c) for c in rs.numeric]]
        xo = xo + _date_shift(observed, real, rs.numeric)
        with warnings.catch_warnings():  # an all-missing column: NaN range, nothing outside
            warnings.simplefilter("ignore", RuntimeWarning)
            real_range = (np.nanmin(xo, 0), np.nanmax(xo, 0))
    synth_values = None
    if observed_synth is not None:
        os_ = observed_synth.spec
        synth_values = observed_synth.x[:, [os_.numeric.index(c) for c in rs.numeric]]
        synth_values = synth_values + _date_shift(observed_synth, real, rs.numeric)
    codes = []
    for j, name in enumerate(rs.categorical):
        lookup = {str(v): i for i, v in enumerate(rs.categories[j])}
        values = ss.categories[ss.categorical.index(name)]
        missing = [v for v in values if str(v) not in lookup]
        if missing:
            raise ValueError(
                f"column {name!r} of the synthetic table has category {missing[0]!r}, which the "
                "real table does not have."
            )
        remap = np.asarray([lookup[str(v)] for v in values], np.int64)
        codes.append(remap[synth.labels[:, ss.categorical.index(name)]])
    labels = np.stack(codes, axis=1) if codes else None
    return fidelity(
        real.x,
        x,
        weights,
        labels_real=real.labels if rs.categorical else None,
        labels_synth=labels,
        names=rs.numeric,
        label_names=rs.categorical,
        categories=rs.categories,
        tau=tau,
        generations=generations,
        bounds=bounds,
        real_range=real_range,
        synth_values=synth_values,
    )


def _outside_share(v, lo, hi) -> np.ndarray:
    v = np.asarray(v, np.float64)
    seen = ~np.isnan(v)
    out = np.sum(seen & ((v < lo) | (v > hi)), 0)
    return out / np.maximum(np.sum(seen, 0), 1)


RANGE_RTOL = 1e-6  # a value within this fraction of the column scale past a bound is inside


def column_noise(x_real, x_synth, real_range=None, x_values=None) -> dict[str, np.ndarray]:
    """Per column, from the synthetic table (m rows): the standard error of its mean (sd/sqrt(m))
    and of its variance (sqrt((μ4 - s⁴)/m)), and the share of values outside the real [lo, hi].

    ``real_range`` = (lo, hi), each (d,), defaults to the min and max of ``x_real`` (NaN
    ignored). A value counts as outside only beyond ``RANGE_RTOL * max(|lo|, |hi|)`` past a
    bound, so a float32 or 7-significant-digit copy of a bound value stays inside. The share is
    over ``x_values`` (the synthetic values with its incomplete rows kept, NaN = missing) when
    given, else over ``x_synth``."""
    x_real, x_synth = np.asarray(x_real, np.float64), np.asarray(x_synth, np.float64)
    m = x_synth.shape[0]
    c = x_synth - x_synth.mean(0)
    s2 = np.mean(c**2, 0)
    m4 = np.mean(c**4, 0)
    if real_range is None:
        lo, hi = np.nanmin(x_real, 0), np.nanmax(x_real, 0)
    else:
        lo, hi = (np.asarray(a, np.float64) for a in real_range)
    tol = RANGE_RTOL * np.maximum(np.abs(lo), np.abs(hi))
    return {
        "mean_se": np.sqrt(s2 / m),
        "var_se": np.sqrt(np.clip(m4 - s2**2, 0, None) / m),
        "outside": _outside_share(x_synth if x_values is None else x_values, lo - tol, hi + tol),
        **column_shape(x_synth),
    }


def column_shape(x) -> dict[str, np.ndarray]:
    """Per column of x (m, d): skewness g1 = m3/m2^(3/2), kurtosis b2 = m4/m2² (1/m moments)
    and their delta-method standard errors (module docstring), each (d,); NaN for a constant
    column. One column at a time, so the memory is O(m) beyond x."""
    x = np.asarray(x, np.float64)
    m, d = x.shape
    out = {k: np.full(d, np.nan) for k in ("skew", "skew_se", "kurt", "kurt_se")}
    for k in range(d):
        c = x[:, k] - x[:, k].mean()
        c2 = c * c
        m2, m3, m4 = c2.mean(), (c2 * c).mean(), (c2 * c2).mean()
        if not m2 > 0:
            continue
        psi2 = c2 - m2
        psi3 = c2 * c - m3 - 3.0 * m2 * c
        psi4 = c2 * c2 - m4 - 4.0 * m3 * c
        inf_skew = psi3 / m2**1.5 - 1.5 * m3 / m2**2.5 * psi2
        inf_kurt = psi4 / m2**2 - 2.0 * m4 / m2**3 * psi2
        out["skew"][k], out["kurt"][k] = m3 / m2**1.5, m4 / m2**2
        out["skew_se"][k] = math.sqrt(np.mean(inf_skew**2) / m)
        out["kurt_se"][k] = math.sqrt(np.mean(inf_kurt**2) / m)
    return out


@eqx.filter_jit
def _shape_maps(scheme, skew, kurt, generations):
    return (
        higher.skewness_map(scheme, skew, generations),
        higher.kurtosis_map(scheme, kurt, generations),
    )


def predict_shape(x_real, weights, generations: int = 1) -> dict[str, np.ndarray]:
    """Per column: the real table's skewness and kurtosis (``skew_real``, ``kurt_real``) and
    the predicted ones after ``generations`` rounds of mixup with replacement (``skew_pred``,
    ``kurt_pred``: ``jaxmix.higher.skewness_map`` and ``kurtosis_map``, the exact order-3 and
    order-4 maps on a column), each (d,)."""
    real = column_shape(x_real)
    f = _checks.float_dtype()
    sp, kp = _shape_maps(
        as_scheme(weights),
        jnp.asarray(real["skew"], f),
        jnp.asarray(real["kurt"], f),
        jnp.asarray(generations, f),
    )
    d = real["skew"].shape[0]
    return {
        "skew_real": real["skew"],
        "kurt_real": real["kurt"],
        "skew_pred": np.broadcast_to(np.asarray(sp, np.float64), (d,)),
        "kurt_pred": np.broadcast_to(np.asarray(kp, np.float64), (d,)),
    }


# --- tables ----------------------------------------------------------------------------------


def _np(a) -> np.ndarray:
    return np.asarray(a, np.float64)


def _ratio(a, b):
    a, b = _np(a), _np(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1.0), np.nan)


def _corr(cov) -> np.ndarray:
    cov = _np(cov)
    s = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov / np.outer(s, s)


def column_table(
    real: Summary,
    synth: Summary,
    pred: Summary,
    names: Sequence[str],
    *,
    noise=None,
    shape=None,
) -> Table:
    """Per column: mean (real, predicted, synthetic), variance and variance ratio synthetic/real.

    ``var_ratio_pred`` is Var_pred / Var_real (K_kk^G), ``var_ratio_synth`` is the realized ratio
    and ``var_change_pct`` = 100 (ratio - 1). With ``noise`` (:func:`column_noise`) each row also
    has ``mean_se``, ``var_ratio_se`` (the SE of the realized ratio), ``var_z`` = (realized -
    predicted) / SE, ``flag`` (gap > MATERIAL and |z| > Z_WARN), ``mean_err_sd`` = (synthetic -
    predicted mean) / real sd, ``mean_z`` = (synthetic - predicted mean) / mean_se,
    ``mean_flag`` (the same rule: |mean_err_sd| > MATERIAL and |mean_z| > Z_WARN) and
    ``outside_pct``, the percentage of synthetic values outside the real range. With ``shape``
    (:func:`predict_shape`) as well, ``skew_real``, ``skew_pred``, ``skew_synth``, ``skew_se``,
    ``skew_z``, ``skew_flag`` and the same six ``kurt_*`` cells (skewness m3/σ³, kurtosis m4/σ⁴;
    flagged by :func:`beyond_noise`, material above 0.05 in skewness and 5 % of the predicted
    kurtosis).
    """
    vr, vs, vp = _np(real.variance), _np(synth.variance), _np(pred.variance)
    rs, rp = _ratio(vs, vr), _ratio(vp, vr)
    rows = []
    for c, name in enumerate(names):
        row = {
            "column": name,
            "mean_real": float(real.mean[c]),
            "mean_pred": float(pred.mean[c]),
            "mean_synth": float(synth.mean[c]),
            "var_real": float(vr[c]),
            "var_ratio_pred": float(rp[c]),
            "var_ratio_synth": float(rs[c]),
            "var_change_pct": float(100.0 * (rs[c] - 1.0)),
        }
        if noise is not None:
            se = float(noise["var_se"][c] / vr[c]) if vr[c] > 0 else float("nan")
            z, flag = beyond_noise(row["var_ratio_synth"] - row["var_ratio_pred"], se, MATERIAL)
            sd = math.sqrt(vr[c]) if vr[c] > 0 else float("nan")
            mgap = row["mean_synth"] - row["mean_pred"]
            mse = float(noise["mean_se"][c])
            mz, mflag = beyond_noise(mgap, mse, MATERIAL * sd)
            row.update(
                {
                    "mean_err_sd": mgap / sd,
                    "mean_z": mz,
                    "mean_flag": mflag,
                    "mean_se": mse,
                    "var_ratio_se": se,
                    "var_z": z,
                    "flag": flag,
                    "outside_pct": float(100.0 * noise["outside"][c]),
                }
            )
            if shape is not None and "skew" in noise:
                row.update(_shape_cells(c, shape, noise))
        rows.append(row)
    return rows


def _shape_cells(c: int, shape, noise) -> dict[str, Any]:
    """Skewness and kurtosis cells of column c: real, predicted, realized, SE, z, flag."""
    out: dict[str, Any] = {}
    for stat in ("skew", "kurt"):
        pred, synth = float(shape[f"{stat}_pred"][c]), float(noise[stat][c])
        se = float(noise[f"{stat}_se"][c])
        material = MATERIAL if stat == "skew" else MATERIAL * abs(pred)
        z, flag = beyond_noise(synth - pred, se, material)
        out.update(
            {
                f"{stat}_real": float(shape[f"{stat}_real"][c]),
                f"{stat}_pred": pred,
                f"{stat}_synth": synth,
                f"{stat}_se": se,
                f"{stat}_z": z,
                f"{stat}_flag": flag,
            }
        )
    return out


def pair_table(real: Summary, synth: Summary, pred: Summary, names: Sequence[str]) -> Table:
    """Per pair k < m: covariance and correlation (real, predicted, synthetic) and the errors
    synthetic - real (covariance error in correlation units, see the module docstring)."""
    cr, cs, cp = _np(real.cov), _np(synth.cov), _np(pred.cov)
    kr, ks, kp = _corr(cr), _corr(cs), _corr(cp)
    scale = np.sqrt(np.outer(np.diag(cr), np.diag(cr)))
    rows = []
    d = len(names)
    for k in range(d):
        for m in range(k + 1, d):
            err = (cs[k, m] - cr[k, m]) / scale[k, m] if scale[k, m] > 0 else float("nan")
            rows.append(
                {
                    "pair": f"{names[k]} ~ {names[m]}",
                    "cov_real": float(cr[k, m]),
                    "cov_pred": float(cp[k, m]),
                    "cov_synth": float(cs[k, m]),
                    "cov_err": float(err),
                    "corr_real": float(kr[k, m]),
                    "corr_pred": float(kp[k, m]),
                    "corr_synth": float(ks[k, m]),
                    "corr_err": float(ks[k, m] - kr[k, m]),
                    "corr_se": float(
                        (1.0 - ks[k, m] ** 2) / math.sqrt(max(float(synth.num_rows), 1.0))
                    ),
                }
            )
    return rows


def class_table(real_by, synth_by, pred_by, names, label_names, categories) -> Table:
    """Per categorical column, category and numeric column: the share of rows and the class mean
    (real, predicted, synthetic); ``mean_err_sd`` = (synthetic - real) / real column sd,
    ``mean_se_sd`` its Monte Carlo SE (class sd / sqrt(m_l), in real sd units), ``mean_z`` =
    (synthetic - predicted) / SE and ``flag``: |synthetic - predicted| > MATERIAL real sd and
    |mean_z| > Z_WARN."""
    rows = []
    for j, lname in enumerate(label_names):
        r, s, p = real_by[j], synth_by[j], pred_by[j]
        sd = np.sqrt(np.clip(_np(r.variance), 0, None))
        m = float(s.num_rows)
        for c, cat in enumerate(categories[j]):
            m_l = float(s.class_probs[c]) * m
            class_sd = np.sqrt(np.clip(np.diag(_np(s.class_covs[c])), 0, None))
            for f, name in enumerate(names):
                ms, mr = float(s.class_means[c, f]), float(r.class_means[c, f])
                se = (
                    class_sd[f] / math.sqrt(m_l) / sd[f]
                    if (m_l > 0 and sd[f] > 0)
                    else float("nan")
                )
                z, flag = beyond_noise(
                    ms - float(p.class_means[c, f]), se * sd[f], MATERIAL * sd[f]
                )
                rows.append(
                    {
                        "class": f"{lname}={cat}",
                        "share_real": float(r.class_probs[c]),
                        "share_synth": float(s.class_probs[c]),
                        "column": name,
                        "mean_real": mr,
                        "mean_pred": float(p.class_means[c, f]),
                        "mean_synth": ms,
                        "mean_err_sd": (ms - mr) / sd[f] if sd[f] > 0 else float("nan"),
                        "pred_err_sd": (float(p.class_means[c, f]) - mr) / sd[f]
                        if sd[f] > 0
                        else float("nan"),
                        "mean_se_sd": float(se),
                        "mean_z": z,
                        "flag": flag,
                    }
                )
    return rows


def ols_slopes(cov, response: int) -> np.ndarray:
    """Population OLS slopes of column ``response`` on all others: Σ_oo⁻¹ Σ_or, shape (d-1,)."""
    cov = _np(cov)
    others = [c for c in range(cov.shape[0]) if c != response]
    a = cov[np.ix_(others, others)]
    b = cov[others, response]
    return np.linalg.lstsq(a, b, rcond=None)[0]


def ols_table(
    real: Summary, synth: Summary, pred: Summary, names: Sequence[str], responses=None
) -> Table:
    """OLS slopes (real, predicted, synthetic) of each response on all other numeric columns.

    ``responses``: column indices used as response (default every column when d <= 10, else the
    last column only). A shared weight scales the covariance by one factor K, so predicted slopes
    equal the real ones (Corollary 3).
    """
    d = len(names)
    if d < 2:
        return []
    if responses is None:
        responses = range(d) if d <= 10 else [d - 1]
    rows = []
    for r in responses:
        others = [c for c in range(d) if c != r]
        br, bs, bp = (ols_slopes(s.cov, r) for s in (real, synth, pred))
        for i, o in enumerate(others):
            rows.append(
                {
                    "response": names[r],
                    "predictor": names[o],
                    "slope_real": float(br[i]),
                    "slope_pred": float(bp[i]),
                    "slope_synth": float(bs[i]),
                }
            )
    return rows


def _kept(row) -> str:
    return (
        f"kept {100 * row['var_ratio_synth']:.1f} % of the variance; expected "
        f"{100 * row['var_ratio_pred']:.1f} % ± {100 * row['var_ratio_se']:.1f} %"
    )


_SHAPE_WORDS = {"skew": "skewness", "kurt": "kurtosis"}


def _shape_lines(cols: Table, g: int) -> list[str]:
    """The predicted tail change (the column whose kurtosis moves most) and a warning per
    statistic whose realized value differs from the prediction beyond noise."""
    lines = []
    moved = [r for r in cols if math.isfinite(r["kurt_pred"] - r["kurt_real"])]
    if moved:
        r = max(moved, key=lambda r: abs(r["kurt_pred"] - r["kurt_real"]))
        factors = [
            r2["skew_pred"] / r2["skew_real"]
            for r2 in cols
            if math.isfinite(r2["skew_real"]) and abs(r2["skew_real"]) > 1e-12
        ]
        skew = ""
        if factors:
            lo, hi = min(factors), max(factors)
            span = f"{lo:.3g}" + (f" to {hi:.3g}" if hi - lo > 5e-4 else "")
            skew = f"; skewness × {span} predicted"
        lines.append(
            f"Tails after {g} generation(s): kurtosis of {r['column']} {r['kurt_real']:.3g} "
            f"(real) → {r['kurt_pred']:.3g} predicted, {r['kurt_synth']:.3g} ± "
            f"{r['kurt_se']:.2g} realized "
            f"(the largest predicted change; 3 for a Gaussian){skew}."
        )
    for stat, word in _SHAPE_WORDS.items():
        flagged = sorted((r for r in cols if r[f"{stat}_flag"]), key=lambda r: -abs(r[f"{stat}_z"]))
        if flagged:
            lines.append(
                _warning(
                    word,
                    flagged,
                    len(cols),
                    lambda r, s=stat: (
                        f"{r['column']} {r[f'{s}_synth']:.3g} against "
                        f"{r[f'{s}_pred']:.3g} ± {r[f'{s}_se']:.2g} predicted "
                        f"(z = {r[f'{s}_z']:+.1f})"
                    ),
                )
            )
    return lines


def _warning(what: str, flagged: Table, total: int, describe, where="columns") -> str:
    """The warning line of every flagged statistic: the count, the first five rows described,
    and where the rest are."""
    shown = "; ".join(describe(r) for r in flagged[:5])
    unit = "columns" if where == "columns" else "class-column cells"
    more = f" (and {len(flagged) - 5} more, see {where}.csv)" if len(flagged) > 5 else ""
    return (
        f"**WARNING: {what} differs from the prediction beyond noise** in {len(flagged)} of "
        f"{total} {unit}: {shown}{more}."
    )


def headline(fid: Fidelity) -> list[str]:
    """One-line verdicts on variance, range, covariance and class means (what a reader must see
    first). A warning names the direction and gives the expected value with its SE."""
    cols = fid.tables["columns"]
    preds = np.array([r["var_ratio_pred"] for r in cols])
    g = fid.meta["generations"]
    lines = []
    p_lo, p_hi = np.nanmin(preds), np.nanmax(preds)
    span = f"{100 * p_lo:.1f} %" + (f" to {100 * p_hi:.1f} %" if p_hi - p_lo > 5e-4 else "")
    if p_lo < 1 - LOSS_THRESHOLD:
        lines.append(
            f"**Variance lost by design** — these weights keep {span} of the real variance after "
            f"{g} generation(s) (Theorem 2); use a variance-preserving EpBeta to keep it."
        )
    elif p_hi > 1 + LOSS_THRESHOLD:
        lines.append(
            f"**Variance inflated by design** — these weights give {span} of the real variance "
            f"after {g} generation(s) (Theorem 2)."
        )
    else:
        lines.append(f"Predicted variance: {span} of the real variance after {g} generation(s).")
    if "var_z" in cols[0]:
        flagged = [r for r in cols if r["flag"]]
        if flagged:
            lines.append(
                _warning("variance", flagged, len(cols), lambda r: f"{r['column']} {_kept(r)}")
            )
        else:
            finite = [r for r in cols if math.isfinite(r["var_z"])]
            if finite:
                worst = max(finite, key=lambda r: abs(r["var_z"]))
                lines.append(
                    f"Variance as predicted in every column, within noise (|z| ≤ {Z_WARN:g} "
                    f"or a gap under {100 * MATERIAL:.0f} %); largest gap: {worst['column']} "
                    f"{_kept(worst)} "
                    f"(z = {worst['var_z']:+.1f})."
                )
        mflag = [r for r in cols if r.get("mean_flag")]
        if mflag:
            lines.append(
                _warning(
                    "mean",
                    mflag,
                    len(cols),
                    lambda r: (
                        f"{r['column']} {'above' if r['mean_err_sd'] > 0 else 'below'} by "
                        f"{abs(r['mean_err_sd']):.3f} sd (z = {r['mean_z']:+.1f})"
                    ),
                )
            )
        if "kurt_z" in cols[0]:
            lines += _shape_lines(cols, g)
        out = max(cols, key=lambda r: r["outside_pct"])
        bounds = fid.meta.get("bounds", "keep")
        if bounds == "keep":
            if out["outside_pct"] > 0:
                lines.append(
                    f"Outside the real range: up to {out['outside_pct']:.1f} % of values "
                    f"({out['column']}); "
                    "kept as drawn (bounds = keep), so the moments are the predicted ones."
                )
            else:
                lines.append("Every synthetic value lies within its column's real range.")
        else:
            shift = np.array([r["var_ratio_synth"] - r["var_ratio_pred"] for r in cols])
            lines.append(
                f"Bounds = {bounds}: values held to the real range (outside now: up to "
                f"{out['outside_pct']:.1f} %); price: the variance ratio moved by a median "
                f"{100 * float(np.nanmedian(shift)):+.1f} % "
                f"(range {100 * float(np.nanmin(shift)):+.1f} % to "
                f"{100 * float(np.nanmax(shift)):+.1f} %) from the prediction."
            )
    pairs = [r for r in fid.tables["pairs"] if math.isfinite(r["corr_err"])]
    if pairs:
        worst = max(pairs, key=lambda r: abs(r["corr_err"]))
        se = worst.get("corr_se", float("nan"))
        lines.append(
            f"Largest correlation error: {worst['corr_err']:+.3f} ± {se:.3f} ({worst['pair']})."
        )
    cflag = [r for r in fid.tables["classes"] if r.get("flag")]
    if cflag:
        cflag.sort(key=lambda r: -abs(r["mean_z"]))
        lines.append(
            _warning(
                "class mean",
                cflag,
                len(fid.tables["classes"]),
                lambda r: (
                    f"{r['column']} | {r['class']} "
                    f"{'above' if r['mean_synth'] > r['mean_pred'] else 'below'} the prediction by "
                    f"{abs(r['mean_err_sd'] - r['pred_err_sd']):.3f} sd (z = {r['mean_z']:+.1f})"
                ),
                where="classes",
            )
        )
    classes = [r for r in fid.tables["classes"] if math.isfinite(r["mean_err_sd"])]
    if classes:
        worst = max(classes, key=lambda r: abs(r["mean_err_sd"]))
        lines.append(
            f"Largest class-mean error: {worst['mean_err_sd']:+.3f} sd "
            f"({worst['column']} | {worst['class']}; "
            f"predicted {worst['pred_err_sd']:+.3f} sd, "
            f"SE {worst['mean_se_sd']:.3f} sd)."
        )
    return lines
