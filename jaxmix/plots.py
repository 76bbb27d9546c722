"""Design plots (floor 5): the feasible (ε, δ) region and the variance-preserving curve.

Numbers come from pure functions in :mod:`jaxmix.select`; these functions only draw. They use
matplotlib's Agg backend when no backend has been chosen, never call ``plt.show()``, and return
the matplotlib Axes.
"""

from __future__ import annotations

import matplotlib

if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxmix import select  # noqa: E402


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    return ax


def plot_feasible_region(eps_grid=None, tau: float = 0.5, ax=None):
    """Attainable δ against a symmetric ε = ε0 = ε1: the largest δ of a variance-preserving
    EpBeta (``select.max_attainable_delta``; every δ in (0, max] is attainable) and the law-free
    bound ε/(1+2ε) (τ = 1/2 only). Returns the Axes."""
    eps_grid = np.geomspace(0.01, 2.0, 24) if eps_grid is None else np.asarray(eps_grid, float)
    dmax = np.array([float(select.max_attainable_delta(e, e, tau)) for e in eps_grid])
    ax = _axes(ax)
    ax.fill_between(eps_grid, 0, dmax, alpha=0.25, label="attainable by EpBeta (Algorithm 1)")
    ax.plot(eps_grid, dmax, lw=2, label="max δ on the variance-preserving curve")
    if float(tau) == 0.5:
        ax.plot(
            eps_grid,
            np.asarray(select.law_free_delta_bound(eps_grid)),
            "--",
            label="law-free bound ε/(1+2ε)",
        )
    ax.set_xlabel("ε (= ε0 = ε1)")
    ax.set_ylabel("δ = u (class-mean shift)")
    ax.set_title(f"Feasible (ε, δ) region, τ = {float(tau):g}")
    ax.legend(fontsize=8)
    return ax


def plot_variance_preserving_curve(
    eps0: float = 0.3, eps1: float = 0.3, tau: float = 0.5, ax=None, num: int = 200
):
    """δ = u along the variance-preserving EpBeta curve for fixed (ε0, ε1), against E[W]
    (the mirror half E[W] < 1/2 dashed); the maximiser and the maximum attainable δ marked."""
    x = np.linspace(1e-3, 1 - 1e-3, num)
    u = np.asarray(select.vp_curve_shift(x, float(eps0), float(eps1), float(tau)))
    mean = 1.0 - x
    ax = _axes(ax)
    kept = mean >= 0.5
    ax.plot(mean[kept], u[kept], lw=2, label="E[W] ≥ 1/2 (reported branch)")
    ax.plot(mean[~kept], u[~kept], "--", label="E[W] < 1/2")
    dmax = float(select.max_attainable_delta(eps0, eps1, tau))
    ax.axhline(dmax, color="grey", lw=0.8, label=f"max attainable δ = {dmax:.4f}")
    ax.set_xlabel("E[W]")
    ax.set_ylabel("δ = u")
    ax.set_title(f"Variance-preserving EpBeta, ε0={eps0:g}, ε1={eps1:g}, τ={tau:g}")
    ax.legend(fontsize=8)
    return ax
