"""The report's figures, readable from 2 to hundreds of columns (matplotlib, without pyplot:
no GUI backend is touched and nothing is shown).

Wide tables are shown as a top-k view: the :data:`TOP_COLUMNS` columns (or categories) with the
largest gaps, the title saying how many of how many; every number is in the CSV tables.
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxmix import _checks
from jaxmix.report.tables import LOSS_THRESHOLD, Fidelity, _density, _np, describe_law
from jaxmix.schemes import as_scheme

__all__ = [
    "FIGURES",
    "TOP_CATEGORIES",
    "TOP_CLASS_COLUMNS",
    "TOP_COLUMNS",
    "class_means_figure",
    "covariance_difference_figure",
    "figures",
    "variance_ratio_figure",
    "weight_density_figure",
]

FIGURES = ("variance_ratio", "weight_density", "covariance_difference", "class_means")
TOP_COLUMNS = 40  # columns shown per figure
TOP_CATEGORIES = 8  # categories shown per categorical column in the class-means figure
TOP_CLASS_COLUMNS = 20  # numeric columns shown per panel of the class-means figure


def _figure(width=6.4, height=4.0):
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, nothing shown

    return Figure(figsize=(width, height), layout="constrained")


def _top_note(shown: int, total: int, what: str = "columns") -> str:
    return f" — {shown} of {total} {what} with the largest gaps" if shown < total else ""


def _label_size(k: int) -> float:
    return 9.0 if k <= 15 else (8.0 if k <= 30 else 7.0)


def variance_ratio_figure(fid: Fidelity):
    """Horizontal bars: realized variance ratio synthetic/real per column with ±2 SE whiskers;
    diamonds: predicted; a thick line at 1.0 (variance kept). Red bars are flagged columns
    (material gap beyond Z_WARN SE). At most TOP_COLUMNS columns, those with the largest |z|."""
    cols = fid.tables["columns"]
    z = np.array(
        [abs(r.get("var_z", 0.0)) if math.isfinite(r.get("var_z", 0.0)) else 0.0 for r in cols]
    )
    order = (
        np.argsort(-z, kind="stable")[:TOP_COLUMNS]
        if len(cols) > TOP_COLUMNS
        else np.arange(len(cols))
    )
    order = np.sort(order)[::-1]  # input order, top to bottom
    rows = [cols[i] for i in order]
    k = len(rows)
    fig = _figure(7.0, 0.26 * k + 2.0)
    ax = fig.add_subplot()
    pos = np.arange(k)
    rs = np.array([r["var_ratio_synth"] for r in rows])
    rp = np.array([r["var_ratio_pred"] for r in rows])
    se = np.array([r.get("var_ratio_se", 0.0) for r in rows])
    colors = ["#c0392b" if r.get("flag") else "#2e86c1" for r in rows]
    ax.barh(pos, rs, color=colors, height=0.7, zorder=2, label="realized (synthetic/real)")
    ax.errorbar(
        rs, pos, xerr=2 * np.nan_to_num(se), fmt="none", ecolor="0.2", lw=1, zorder=3, label="±2 SE"
    )
    ax.scatter(rp, pos, marker="D", s=18, color="black", zorder=4, label="predicted")
    ax.axvline(1.0, color="black", lw=2, zorder=1, label="variance kept (1.0)")
    ax.set_yticks(pos, [r["column"] for r in rows], fontsize=_label_size(k))
    top = np.nanmax(np.concatenate([rs + 2 * np.nan_to_num(se), rp, [1.0]]))
    ax.set_xlim(0, max(1 + 2 * LOSS_THRESHOLD, 1.05 * top))
    ax.set_ylim(-0.7, k - 0.3)
    ax.set_xlabel("variance ratio synthetic / real")
    ax.set_title(
        f"Variance kept? ({fid.meta['generations']} generation(s))" + _top_note(k, len(cols)),
        fontsize="medium",
    )
    fig.legend(loc="outside lower center", ncol=4, fontsize="small", frameon=False)
    return fig


def weight_density_figure(weights, *, tau: float = 0.5):
    """Density of each weight law drawn over its whole support, down to zero at the support's
    ends (with Unif(0,1) dashed for reference), the cut point tau, and E[W] dotted."""
    scheme = as_scheme(weights)
    fig = _figure(6.0, 3.8)
    ax = fig.add_subplot()
    ymax, xlo, xhi = 1.0, 0.0, 1.0
    for law in scheme.laws:
        lo, hi = (float(np.asarray(v)) for v in law.support)
        width = hi - lo
        inner = np.linspace(lo, hi, 801)
        inner[0], inner[-1] = (
            lo + 1e-6 * width,
            hi - 1e-6 * width,
        )  # densities at the ends (may be 0 or large)
        dens, mean = _density(law, jnp.asarray(inner, _checks.float_dtype()))
        dens = np.asarray(dens, np.float64)
        dens = np.where(np.isfinite(dens), dens, np.nan)
        grid = np.concatenate([[lo], inner, [hi]])
        dens = np.concatenate([[0.0], dens, [0.0]])  # the density is 0 outside the support
        ax.plot(grid, dens, lw=2, label=describe_law(law))
        ax.axvline(float(mean), color="0.4", ls=":", lw=1)
        ymax = max(ymax, float(np.nanmax(np.nan_to_num(np.clip(dens[1:-1], 0, 50)))))
        xlo, xhi = min(xlo, lo), max(xhi, hi)
    ax.plot([0, 0, 1, 1], [0, 1, 1, 0], color="0.5", ls="--", lw=1, label="Unif(0,1)")
    ax.axvline(tau, color="#c0392b", lw=1, label=f"cut point tau={tau:g}")
    pad = 0.04 * (xhi - xlo)
    ax.set_xlim(xlo - pad, xhi + pad)
    ax.set_ylim(0, min(ymax * 1.3, 6.0))
    ax.set_xlabel("weight W on the first parent")
    ax.set_ylabel("density")
    ax.set_title("Mixup weight law (dotted: E[W])", fontsize="medium")
    ax.legend(fontsize="x-small", loc="upper left")
    return fig


def covariance_difference_figure(fid: Fidelity):
    """Heatmap of (Σ_synth - Σ_real) / (sd_k sd_m): covariance error in correlation units (the
    diagonal is the variance ratio minus 1); at most TOP_COLUMNS columns, those whose row has
    the largest error; numbers written in the cells up to 12 columns."""
    cr, cs = _np(fid.real.cov), _np(fid.synth.cov)
    sd = np.sqrt(np.clip(np.diag(cr), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = (cs - cr) / np.outer(sd, sd)
    d = len(fid.names)
    if d > TOP_COLUMNS:
        score = np.nanmax(np.abs(np.where(np.isfinite(diff), diff, 0.0)), axis=1)
        keep = np.sort(np.argsort(-score, kind="stable")[:TOP_COLUMNS])
    else:
        keep = np.arange(d)
    diff = diff[np.ix_(keep, keep)]
    names = [fid.names[i] for i in keep]
    k = len(keep)
    size = min(max(4.5, 0.22 * k + 3.0), 13.0)
    fig = _figure(size + 1.2, size)
    ax = fig.add_subplot()
    finite = diff[np.isfinite(diff)]
    lim = max(0.05, float(np.max(np.abs(finite)))) if finite.size else 0.05
    im = ax.imshow(diff, cmap="RdBu_r", vmin=-lim, vmax=lim)
    fs = _label_size(k)
    ax.set_xticks(range(k), names, rotation=90, fontsize=fs)
    ax.set_yticks(range(k), names, fontsize=fs)
    if k <= 12:
        for a in range(k):
            for b in range(k):
                ax.text(b, a, f"{diff[a, b]:+.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label="(synthetic - real) covariance / (sd·sd)", shrink=0.8)
    ax.set_title("Covariance difference" + _top_note(k, d), fontsize="medium")
    return fig


def _class_means(s):
    """A class Summary's class_means (every per-category Summary of a Fidelity has them)."""
    assert s.class_means is not None
    return s.class_means


def class_means_figure(fid: Fidelity):
    """One panel per categorical column: standardized class means (μ_l - x̄)/sd per numeric
    column (rows), real (circles), synthetic (crosses) and predicted (bars) per category
    (colours); shrinking toward 0 is the O(δ) class-mean error of Theorems 10-11. At most
    TOP_CLASS_COLUMNS numeric columns (those where the classes differ most) and TOP_CATEGORIES
    categories (the most frequent) per panel."""
    k = len(fid.label_names)
    if k == 0:
        fig = _figure(5.0, 2.0)
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no categorical columns", ha="center", va="center")
        ax.set_axis_off()
        return fig
    mean = _np(fid.real.mean)
    sd = np.sqrt(np.clip(_np(fid.real.variance), 0, None))
    sd = np.where(sd > 0, sd, 1.0)
    d = len(fid.names)
    panels = []
    for j in range(k):
        probs = _np(fid.real_by[j].class_probs)
        cats = np.sort(np.argsort(-probs, kind="stable")[:TOP_CATEGORIES])
        zr = (_np(fid.real_by[j].class_means)[cats] - mean) / sd
        spread = np.ptp(zr, axis=0) if len(cats) else np.zeros(d)
        cols = (
            np.sort(np.argsort(-spread, kind="stable")[:TOP_CLASS_COLUMNS])
            if d > TOP_CLASS_COLUMNS
            else np.arange(d)
        )
        panels.append((cats, cols))
    panel_h = max(len(cols) * max(0.3, 0.06 * len(cats)) + 1.6 for cats, cols in panels)
    ncols = min(k, 3)
    nrows = math.ceil(k / ncols)
    fig = _figure(4.6 * ncols + 0.6, nrows * panel_h + 0.4)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for j, ax in enumerate(axes):
        if j >= k:
            ax.set_axis_off()
            continue
        cats, cols = panels[j]
        nc = max(len(cats), 1)
        h = 0.8 / nc
        pos0 = np.arange(len(cols))[::-1]
        for c_i, c in enumerate(cats):
            pos = pos0 - 0.4 + h * (c_i + 0.5)
            zr, zs, zp = (
                (_np(_class_means(s[j])[c])[cols] - mean[cols]) / sd[cols]
                for s in (fid.real_by, fid.synth_by, fid.pred_by)
            )
            bars = ax.barh(pos, zp, height=h * 0.9, alpha=0.35, label=f"{fid.categories[j][c]}")
            color = bars.patches[0].get_facecolor() if bars.patches else None
            ax.scatter(
                zr, pos, marker="o", s=14, color=color, edgecolor="black", linewidth=0.5, zorder=3
            )
            ax.scatter(zs, pos, marker="x", s=14, color="black", linewidth=0.8, zorder=4)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(pos0, [fid.names[i] for i in cols], fontsize=_label_size(len(cols)))
        ax.set_xlabel("(class mean - mean) / sd", fontsize="small")
        n_cat = len(fid.categories[j])
        note = (
            f" ({len(cats)} of {n_cat} categories"
            + (f", {len(cols)} of {d} columns)" if len(cols) < d else ")")
            if (len(cats) < n_cat or len(cols) < d)
            else ""
        )
        ax.set_title(f"by {fid.label_names[j]}{note}", fontsize="small")
        ax.legend(fontsize="x-small", loc="best", ncol=1 if nc <= 4 else 2)
    fig.suptitle("Class means: o real, x synthetic, bar predicted", fontsize="medium")
    return fig


def figures(fid: Fidelity, weights, *, tau: float = 0.5) -> dict[str, Any]:
    """All four figures: name -> matplotlib Figure (names in :data:`FIGURES`)."""
    return {
        "variance_ratio": variance_ratio_figure(fid),
        "weight_density": weight_density_figure(weights, tau=tau),
        "covariance_difference": covariance_difference_figure(fid),
        "class_means": class_means_figure(fid),
    }
