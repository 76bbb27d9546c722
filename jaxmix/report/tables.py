"""Fidelity report: real vs synthetic vs predicted moments, as tables and matplotlib figures (floor 5).

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
- OLS slopes of each numeric column on all the others, β = Σ_oo⁻¹ Σ_or, from each covariance.

Everything here is pure: functions take arrays and Summaries and return tables (lists of dicts,
one per row) and ``matplotlib.figure.Figure`` objects (built without pyplot, so no GUI backend
is touched and nothing is shown). :func:`write_report` is the thin writer that puts
``report.md`` and the PNGs in a directory.
"""

from __future__ import annotations

import math
import os
from typing import Any, NamedTuple, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from jaxmix import _checks
from jaxmix.laws import AbstractLaw, Beta, EpBeta, Uniform
from jaxmix.moments import Summary, class_mean_shift, predict
from jaxmix.schemes import Scheme, as_scheme
from jaxtyping import Array, Float

Table = list  # a table is a list of dicts, one per row, all with the same keys

FIGURES = ("variance_ratio", "weight_density", "covariance_difference", "class_means")
LOSS_THRESHOLD = 0.1  # a realized variance ratio outside 1 ± this is flagged


# --- weights ---------------------------------------------------------------------------------


def describe_law(law) -> str:
    """A one-line name with parameters, e.g. ``EpBeta(alpha=0.78, beta=0.78, eps0=0.3, eps1=0.3)``."""
    if isinstance(law, Scheme):
        if law.shared and len(law.laws) == 1:
            return describe_law(law.laws[0])
        return "Scheme(" + ", ".join(describe_law(g) for g in law.laws) + f", columns={law.columns}, labels={law.labels})"
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
    """
    tau_arr = jnp.asarray(tau, _checks.float_dtype())
    table = _tabulate(Scheme((law,)), tau_arr)
    m1, m2 = float(table.laws[0].m1), float(table.laws[0].m2)
    lo, hi = (float(np.asarray(v)) for v in law.support)
    return {
        "E[W]": m1,
        "Var[W]": m2 - m1 * m1,
        "E[W^2]-E[W]": m2 - m1,
        "K": 1.0 - 2.0 * m1 + 2.0 * m2,
        "u": float(_shift(table, tau_arr)),
        "support_low": lo,
        "support_high": hi,
    }


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


def predict_generations(summary: Summary, weights, generations: int, *, tau: float = 0.5) -> Summary:
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
    partial: Float[Array, " 3"]

    def sample(self, key, shape=()):
        raise NotImplementedError("a moment table cannot be sampled")

    def moment(self, k):
        if k == 0:
            return jnp.ones_like(self.m1)
        return {1: self.m1, 2: self.m2}[k]

    def partial_moment(self, k, t):
        return self.partial[k]

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
        _MomentTable(law.moment(1), law.moment(2), jnp.stack([law.partial_moment(k, tau) for k in range(3)]))
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
    return Summary(**out, class_probs=jnp.asarray(counts / n, f), class_means=jnp.asarray(means, f),
                   class_covs=jnp.asarray(covs, f))


@eqx.filter_jit
def _predict_stacked(summary, scheme, tau, generations):
    return predict_generations(summary, scheme, generations, tau=tau)


def _predict_all(real: Summary, real_by: tuple[Summary, ...], scheme, tau, generations):
    """Predictions for the whole table and every categorical column from ONE ``predict`` call:
    ``predict`` treats each class on its own, so the classes of all categorical columns are
    stacked into one Summary (C = sum of class counts) and split again afterwards."""
    if not real_by:
        stacked = real
    else:
        stacked = Summary(
            real.mean, real.cov, real.num_rows,
            jnp.concatenate([s.class_probs for s in real_by]),
            jnp.concatenate([s.class_means for s in real_by]),
            jnp.concatenate([s.class_covs for s in real_by]),
        )
    out = _predict_stacked(stacked, scheme, tau, generations)
    pred = Summary(out.mean, out.cov, out.num_rows)
    pred_by, start = [], 0
    for s in real_by:
        c = s.class_probs.shape[0]
        sl = slice(start, start + c)
        pred_by.append(Summary(out.mean, out.cov, out.num_rows, out.class_probs[sl],
                               out.class_means[sl], out.class_covs[sl]))
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
) -> Fidelity:
    """Compare a real table (n, d) with a synthetic one (m, d) and with the prediction.

    Args:
        x_real, x_synth: numeric columns, shapes (n, d) and (m, d).
        weights: the law or Scheme the synthetic table was made with (for the prediction).
        labels_real, labels_synth: integer codes of shapes (n, k) and (m, k), or None.
        names: d column names; label_names: k names; categories: per categorical column, its
            category values (code c is categories[j][c]).
        tau: the cut point used; generations: G, the number of rounds of repeated synthesis.
    Returns:
        :class:`Fidelity`, whose ``tables`` hold "columns", "pairs", "classes" and "ols".
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
        if lr.shape != (x_real.shape[0], len(label_names)) or ls.shape != (x_synth.shape[0], len(label_names)):
            raise ValueError(
                f"labels_real and labels_synth must have shapes (n, {len(label_names)}) and "
                f"(m, {len(label_names)}), got {lr.shape} and {ls.shape}."
            )
    else:
        lr = ls = None
    tau_arr = jnp.asarray(tau, _checks.float_dtype())
    ncls = tuple(len(c) for c in categories[: len(label_names)])
    real = table_summary(x_real)
    synth = table_summary(x_synth)
    real_by = tuple(table_summary(x_real, lr[:, j], c) for j, c in enumerate(ncls))
    synth_by = tuple(table_summary(x_synth, ls[:, j], c) for j, c in enumerate(ncls))
    pred, pred_by = _predict_all(real, real_by, _tabulate(scheme, tau_arr), tau_arr, jnp.asarray(generations))
    tables = {
        "columns": column_table(real, synth, pred, names),
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
    }
    return Fidelity(real, synth, pred, real_by, synth_by, pred_by, names,
                    label_names, categories, tables, meta)


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


def column_table(real: Summary, synth: Summary, pred: Summary, names: Sequence[str]) -> Table:
    """Per column: mean (real, predicted, synthetic), variance and variance ratio synthetic/real.

    ``var_ratio_pred`` is Var_pred / Var_real (K_kk^G), ``var_ratio_synth`` is the realized ratio
    and ``var_change_pct`` = 100 (ratio - 1).
    """
    vr, vs, vp = _np(real.variance), _np(synth.variance), _np(pred.variance)
    rs, rp = _ratio(vs, vr), _ratio(vp, vr)
    rows = []
    for c, name in enumerate(names):
        rows.append({
            "column": name,
            "mean_real": float(real.mean[c]),
            "mean_pred": float(pred.mean[c]),
            "mean_synth": float(synth.mean[c]),
            "var_real": float(vr[c]),
            "var_ratio_pred": float(rp[c]),
            "var_ratio_synth": float(rs[c]),
            "var_change_pct": float(100.0 * (rs[c] - 1.0)),
        })
    return rows


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
            rows.append({
                "pair": f"{names[k]} ~ {names[m]}",
                "cov_real": float(cr[k, m]),
                "cov_pred": float(cp[k, m]),
                "cov_synth": float(cs[k, m]),
                "cov_err": float(err),
                "corr_real": float(kr[k, m]),
                "corr_pred": float(kp[k, m]),
                "corr_synth": float(ks[k, m]),
                "corr_err": float(ks[k, m] - kr[k, m]),
            })
    return rows


def class_table(real_by, synth_by, pred_by, names, label_names, categories) -> Table:
    """Per categorical column, category and numeric column: the share of rows and the class mean
    (real, predicted, synthetic); ``mean_err_sd`` = (synthetic - real) / real column sd."""
    rows = []
    for j, lname in enumerate(label_names):
        r, s, p = real_by[j], synth_by[j], pred_by[j]
        sd = np.sqrt(np.clip(_np(r.variance), 0, None))
        for c, cat in enumerate(categories[j]):
            for f, name in enumerate(names):
                ms, mr = float(s.class_means[c, f]), float(r.class_means[c, f])
                rows.append({
                    "class": f"{lname}={cat}",
                    "share_real": float(r.class_probs[c]),
                    "share_synth": float(s.class_probs[c]),
                    "column": name,
                    "mean_real": mr,
                    "mean_pred": float(p.class_means[c, f]),
                    "mean_synth": ms,
                    "mean_err_sd": (ms - mr) / sd[f] if sd[f] > 0 else float("nan"),
                })
    return rows


def ols_slopes(cov, response: int) -> np.ndarray:
    """Population OLS slopes of column ``response`` on all others: Σ_oo⁻¹ Σ_or, shape (d-1,)."""
    cov = _np(cov)
    others = [c for c in range(cov.shape[0]) if c != response]
    a = cov[np.ix_(others, others)]
    b = cov[others, response]
    return np.linalg.lstsq(a, b, rcond=None)[0]


def ols_table(real: Summary, synth: Summary, pred: Summary, names: Sequence[str], responses=None) -> Table:
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
            rows.append({
                "response": names[r],
                "predictor": names[o],
                "slope_real": float(br[i]),
                "slope_pred": float(bp[i]),
                "slope_synth": float(bs[i]),
            })
    return rows


def headline(fid: Fidelity) -> list[str]:
    """One-line verdicts on variance, covariance and class means (what a reader must see first)."""
    cols = fid.tables["columns"]
    ratios = np.array([r["var_ratio_synth"] for r in cols])
    preds = np.array([r["var_ratio_pred"] for r in cols])
    lo, hi = int(np.nanargmin(ratios)), int(np.nanargmax(ratios))
    lines = [
        f"Variance ratio synthetic/real: min {ratios[lo]:.3f} ({cols[lo]['column']}), "
        f"max {ratios[hi]:.3f} ({cols[hi]['column']}); predicted {np.nanmin(preds):.3f}"
        + (f" to {np.nanmax(preds):.3f}" if np.nanmax(preds) - np.nanmin(preds) > 5e-4 else "")
        + f" after {fid.meta['generations']} generation(s)."
    ]
    lost = [r["column"] for r in cols if r["var_ratio_synth"] < 1 - LOSS_THRESHOLD]
    gained = [r["column"] for r in cols if r["var_ratio_synth"] > 1 + LOSS_THRESHOLD]
    if lost:
        lines.append(
            f"**WARNING: variance lost** — {len(lost)} of {len(cols)} columns have less than "
            f"{100 * (1 - LOSS_THRESHOLD):.0f}% of the real variance (mean loss "
            f"{100 * (1 - np.nanmean(ratios)):.0f}%): {', '.join(lost)}."
        )
    if gained:
        lines.append(
            f"**WARNING: variance inflated** — {len(gained)} of {len(cols)} columns have more than "
            f"{100 * (1 + LOSS_THRESHOLD):.0f}% of the real variance: {', '.join(gained)}."
        )
    if not lost and not gained:
        lines.append(f"Variance kept within ±{100 * LOSS_THRESHOLD:.0f}% in every column.")
    pairs = [r for r in fid.tables["pairs"] if math.isfinite(r["corr_err"])]
    if pairs:
        worst = max(pairs, key=lambda r: abs(r["corr_err"]))
        lines.append(f"Largest correlation error: {worst['corr_err']:+.3f} ({worst['pair']}).")
    classes = [r for r in fid.tables["classes"] if math.isfinite(r["mean_err_sd"])]
    if classes:
        worst = max(classes, key=lambda r: abs(r["mean_err_sd"]))
        lines.append(
            f"Largest class-mean error: {worst['mean_err_sd']:+.3f} sd ({worst['column']} | {worst['class']})."
        )
    return lines


# --- markdown --------------------------------------------------------------------------------


def _fmt(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")


def markdown_table(rows: Table, headers: dict[str, str] | None = None) -> str:
    """A GitHub-markdown table of ``rows``; ``headers`` maps keys to column titles (and picks them)."""
    if not rows:
        return "(none)\n"
    keys = list(headers) if headers else list(rows[0])
    titles = [headers[k] for k in keys] if headers else keys
    out = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(keys)]
    out += ["| " + " | ".join(_fmt(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(out) + "\n"


def to_markdown(fid: Fidelity, *, law_rows: Table | None = None, sources: tuple[str, str] | None = None) -> str:
    """The report as markdown; images are referenced as ``<name>.png`` next to the file."""
    m = fid.meta
    src = f"real `{sources[0]}`, synthetic `{sources[1]}`" if sources else "real vs synthetic"
    parts = [
        "# jaxmix fidelity report\n",
        f"{src}: {m['rows_real']} real rows, {m['rows_synth']} synthetic rows; "
        f"weights {m['weights']}, tau = {m['tau']:g}, generations = {m['generations']}. "
        "*pred* = `jaxmix.predict` applied to the real table's moments (the exact moments of the "
        "synthetic population), *synth* = realized in the synthetic table.\n",
        "## Headline\n",
        "\n".join(f"- {line}" for line in headline(fid)) + "\n",
        "![variance ratios](variance_ratio.png)\n",
        "## Weights\n",
        markdown_table(law_rows) if law_rows else "",
        "![weight density](weight_density.png)\n",
        "## Columns: mean and variance ratio (synthetic / real)\n",
        markdown_table(fid.tables["columns"], {
            "column": "column", "mean_real": "mean real", "mean_pred": "mean pred",
            "mean_synth": "mean synth", "var_real": "var real",
            "var_ratio_pred": "var ratio pred", "var_ratio_synth": "var ratio synth",
            "var_change_pct": "var change %"}),
        "## Pairs: covariance and correlation\n",
        "cov err = (synthetic - real covariance) / (real sd × real sd); corr err = synthetic - real.\n",
        markdown_table(fid.tables["pairs"], {
            "pair": "pair", "cov_real": "cov real", "cov_pred": "cov pred", "cov_synth": "cov synth",
            "cov_err": "cov err", "corr_real": "corr real", "corr_pred": "corr pred",
            "corr_synth": "corr synth", "corr_err": "corr err"}),
        "![covariance difference](covariance_difference.png)\n",
        "## Class means per category\n",
        "mean err = (synthetic - real class mean) / real column sd.\n",
        markdown_table(fid.tables["classes"], {
            "class": "class", "share_real": "share real", "share_synth": "share synth",
            "column": "column", "mean_real": "mean real", "mean_pred": "mean pred",
            "mean_synth": "mean synth", "mean_err_sd": "mean err (sd)"}),
        "![class means](class_means.png)\n" if fid.label_names else "",
        "## OLS slopes (each column on all the others)\n",
        markdown_table(fid.tables["ols"], {
            "response": "response", "predictor": "predictor", "slope_real": "slope real",
            "slope_pred": "slope pred", "slope_synth": "slope synth"}),
    ]
    return "\n".join(p for p in parts if p)


# --- figures ---------------------------------------------------------------------------------


def _figure(width=6.4, height=4.0):
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, nothing shown

    return Figure(figsize=(width, height), layout="constrained")


def variance_ratio_figure(fid: Fidelity):
    """Bars: realized variance ratio synthetic/real per column; diamonds: predicted; a thick
    line at 1.0 (variance kept) and a shaded ±10 % band, so a loss shows at a glance."""
    cols = fid.tables["columns"]
    names = [r["column"] for r in cols]
    rs = np.array([r["var_ratio_synth"] for r in cols])
    rp = np.array([r["var_ratio_pred"] for r in cols])
    fig = _figure(max(6.0, 0.6 * len(names) + 2.5), 4.4)
    ax = fig.add_subplot()
    pos = np.arange(len(names))
    colors = ["#c0392b" if (v < 1 - LOSS_THRESHOLD or v > 1 + LOSS_THRESHOLD) else "#2e86c1" for v in rs]
    ax.axhspan(1 - LOSS_THRESHOLD, 1 + LOSS_THRESHOLD, color="0.9", zorder=0, label="±10 %")
    ax.bar(pos, rs, color=colors, zorder=2, label="realized (synthetic/real)")
    ax.scatter(pos, rp, marker="D", color="black", zorder=3, label="predicted")
    ax.axhline(1.0, color="black", lw=2, zorder=4, label="variance kept (1.0)")
    ax.set_xticks(pos, names, rotation=30 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center")
    top = np.nanmax(np.concatenate([rs, rp, [1.0]]))
    ax.set_ylim(0, max(1.3, 1.1 * top))
    ax.set_ylabel("variance ratio synthetic / real")
    ax.set_title(f"Variance kept? ({fid.meta['generations']} generation(s))")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28 if len(names) > 3 else -0.12), ncol=4,
              fontsize="small", frameon=False)
    return fig


def weight_density_figure(weights, *, tau: float = 0.5):
    """Density of each weight law over its support (with Unif(0,1) dashed for reference), the cut
    point tau, and E[W] marked."""
    scheme = as_scheme(weights)
    fig = _figure(6.0, 3.6)
    ax = fig.add_subplot()
    for law in scheme.laws:
        lo, hi = (float(np.asarray(v)) for v in law.support)
        grid = np.linspace(lo, hi, 402)[1:-1]
        dens, mean = _density(law, jnp.asarray(grid, _checks.float_dtype()))
        dens = np.asarray(dens, np.float64)
        dens = np.where(np.isfinite(dens), dens, np.nan)
        ax.plot(grid, dens, lw=2, label=describe_law(law))
        ax.axvline(float(mean), color="0.4", ls=":", lw=1)
    ax.plot([0, 0, 1, 1], [0, 1, 1, 0], color="0.5", ls="--", lw=1, label="Unif(0,1)")
    ax.axvline(tau, color="#c0392b", lw=1, label=f"cut point tau={tau:g}")
    finite = [ln.get_ydata() for ln in ax.get_lines()]
    ymax = np.nanmax([np.nanmax(np.asarray(y, float)) for y in finite if len(y)])
    ax.set_ylim(0, min(max(float(ymax), 1.0) * 1.3, 6.0))
    ax.set_xlabel("weight W on the first parent")
    ax.set_ylabel("density")
    ax.set_title("Mixup weight law (dotted: E[W])")
    ax.legend(fontsize="x-small", loc="upper left")
    return fig


def covariance_difference_figure(fid: Fidelity):
    """Heatmap of (Σ_synth - Σ_real) / (sd_k sd_m): covariance error in correlation units
    (the diagonal is the variance ratio minus 1)."""
    cr, cs = _np(fid.real.cov), _np(fid.synth.cov)
    sd = np.sqrt(np.clip(np.diag(cr), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = (cs - cr) / np.outer(sd, sd)
    d = len(fid.names)
    fig = _figure(max(4.5, 0.55 * d + 2.5), max(3.8, 0.5 * d + 2.0))
    ax = fig.add_subplot()
    lim = max(0.05, float(np.nanmax(np.abs(diff))))
    im = ax.imshow(diff, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_xticks(range(d), fid.names, rotation=45, ha="right")
    ax.set_yticks(range(d), fid.names)
    if d <= 12:
        for k in range(d):
            for m in range(d):
                ax.text(m, k, f"{diff[k, m]:+.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label="(synthetic - real) covariance / (sd·sd)")
    ax.set_title("Covariance difference")
    return fig


def class_means_figure(fid: Fidelity):
    """Per categorical column: standardized class means (μ_l - x̄)/sd per numeric column, real
    (circles), synthetic (crosses) and predicted (bars); shrinking toward 0 is the O(δ) class-mean
    error of Theorems 10-11."""
    k = len(fid.label_names)
    fig = _figure(max(5.5, 1.0 * len(fid.names) + 3.0), 2.8 * max(k, 1) + 0.5)
    if k == 0:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no categorical columns", ha="center", va="center")
        ax.set_axis_off()
        return fig
    axes = fig.subplots(k, 1, squeeze=False)[:, 0]
    mean = _np(fid.real.mean)
    sd = np.sqrt(np.clip(_np(fid.real.variance), 0, None))
    sd = np.where(sd > 0, sd, 1.0)
    d = len(fid.names)
    for j, ax in enumerate(axes):
        cats = fid.categories[j]
        width = 0.8 / max(len(cats), 1)
        for c, cat in enumerate(cats):
            pos = np.arange(d) - 0.4 + width * (c + 0.5)
            zr = (_np(fid.real_by[j].class_means[c]) - mean) / sd
            zs = (_np(fid.synth_by[j].class_means[c]) - mean) / sd
            zp = (_np(fid.pred_by[j].class_means[c]) - mean) / sd
            bars = ax.bar(pos, zp, width=width * 0.9, alpha=0.35, label=f"{cat} pred")
            color = bars.patches[0].get_facecolor() if bars.patches else None
            ax.scatter(pos, zr, marker="o", color=color, edgecolor="black", zorder=3)
            ax.scatter(pos, zs, marker="x", color="black", zorder=4)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(d), fid.names)
        ax.set_ylabel("(class mean - mean) / sd")
        ax.set_title(f"Class means by {fid.label_names[j]}: o real, x synthetic, bar predicted", fontsize="small")
        ax.legend(fontsize="x-small", ncol=min(len(cats), 4))
    return fig


def figures(fid: Fidelity, weights, *, tau: float = 0.5) -> dict[str, Any]:
    """All four figures: name -> matplotlib Figure (names in :data:`FIGURES`)."""
    return {
        "variance_ratio": variance_ratio_figure(fid),
        "weight_density": weight_density_figure(weights, tau=tau),
        "covariance_difference": covariance_difference_figure(fid),
        "class_means": class_means_figure(fid),
    }


def write_report(directory, fid: Fidelity, weights, *, sources: tuple[str, str] | None = None, dpi: int = 100) -> str:
    """Write ``report.md`` and the PNGs of :func:`figures` into ``directory`` (created if
    needed); each file is written to a temporary name and renamed. Returns the report path."""
    from jaxmix.io import write_atomic

    directory = os.fspath(directory)
    scheme = as_scheme(weights)
    law_rows = [dict(law=describe_law(g), **law_moments(g, tau=fid.meta["tau"])) for g in scheme.laws]
    text = to_markdown(fid, law_rows=law_rows, sources=sources)
    figs = figures(fid, scheme, tau=fid.meta["tau"])
    os.makedirs(directory, exist_ok=True)
    for name, fig in figs.items():
        write_atomic(os.path.join(directory, f"{name}.png"), lambda tmp, fig=fig: fig.savefig(tmp, format="png", dpi=dpi))
    path = os.path.join(directory, "report.md")

    def _write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    write_atomic(path, _write)
    return path
