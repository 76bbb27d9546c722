"""Closed-form moments of data and of its mixup population (floor 4; never imports generate).

``summarize`` computes the 1/n moments of a table; ``predict`` maps them to the exact moments of
the synthetic population that ``jaxmix.mixup`` samples from
(docs/theory.md: #theorem-2-covariance-factor, #theorem-4-class-mean-shift, #class-covariance,
#finite-samples):

- mean:            E[x~] = x̄
- covariance:      Cov[x~] = K ⊙ Σ, K_km = 1 - E W^k - E W^m + 2 E[W^k W^m]        (Theorem 2)
                   without replacement (i != j): ((n K - 1)/(n - 1)) ⊙ Σ       (finite samples)
- class probs:     P(L~ = l) = p_l                                                      (Theorem 4)
- class means:     E[x~ | L~ = l] = x̄ + E[V] ⊙ d_l,  d_l = μ_l - x̄                     (Theorem 4)
- class covs:      E[V Vᵀ] ⊙ (Σ_l + d_l d_lᵀ) + E[(1-V)(1-V)ᵀ] ⊙ Σ - (E[V]⊙d_l)(E[V]⊙d_l)ᵀ
                                                                             (class covariance)
- central3/4 and class_central3/4: ``jaxmix.higher`` (docs/higher_moments.md)

with V the kept-parent weight (``Scheme.kept_parent_moments``). ``predict`` maps a Summary to a
Summary, so ``predict`` applied t times gives generation t of repeated synthesis.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from jaxmix import _checks, higher
from jaxmix.schemes import as_scheme


class Summary(eqx.Module):
    """First and second moments of a table (1/n normalisation), optionally per class.

    Shapes (d = number of flattened continuous columns, C = number of classes):
        mean (d,), cov (d, d), num_rows (), and when labels were given
        class_probs (C,), class_means (C, d), class_covs (C, d, d).
    A class with no rows has probability 0, mean x̄ and covariance 0.
    With ``summarize(..., order=3)`` also central3 (d, d, d), with order=4 also central4
    (d, d, d, d): 1/n central moment tensors E[(x - x̄)_k (x - x̄)_l (x - x̄)_m (...)], else None
    (``jaxmix.higher``); with labels as well, class_central3 (C, d, d, d) and class_central4
    (C, d, d, d, d), each class's central moments about its own mean (0 for an empty class).
    """

    mean: Float[Array, " d"]
    cov: Float[Array, "d d"]
    num_rows: Float[Array, ""]
    class_probs: Float[Array, " C"] | None = None
    class_means: Float[Array, "C d"] | None = None
    class_covs: Float[Array, "C d d"] | None = None
    central3: Float[Array, "d d d"] | None = None
    central4: Float[Array, "d d d d"] | None = None
    class_central3: Float[Array, "C d d d"] | None = None
    class_central4: Float[Array, "C d d d d"] | None = None

    @property
    def variance(self) -> Float[Array, " d"]:
        """Diagonal of ``cov``."""
        return jnp.diagonal(self.cov)

    @property
    def class_variances(self) -> Float[Array, "C d"]:
        """Diagonals of ``class_covs``."""
        if self.class_covs is None:
            raise ValueError("this Summary has no classes; call summarize(x, labels).")
        return jnp.diagonal(self.class_covs, axis1=-2, axis2=-1)


@eqx.filter_jit
def _summarize(x, labels, num_classes):
    x = x.reshape(x.shape[0], -1)
    n = x.shape[0]
    mean = x.mean(0)
    xc = x - mean
    cov = xc.T @ xc / n
    num_rows = jnp.asarray(n, x.dtype)
    if labels is None:
        return Summary(mean, cov, num_rows)
    probs, means, covs = _class_moments(x, labels, num_classes, mean)
    return Summary(mean, cov, num_rows, probs, means, covs)


def _class_moments(x, labels, num_classes: int, mean):
    onehot = jax.nn.one_hot(labels, num_classes, dtype=x.dtype)  # (n, C)
    counts = onehot.sum(0)
    n = x.shape[0]
    has = counts > 0
    safe = jnp.where(has, counts, 1.0)
    means = jnp.where(has[:, None], (onehot.T @ x) / safe[:, None], mean)

    def one_class(args):
        w, mu, c = args
        xc = x - mu
        return (xc * w[:, None]).T @ xc / c

    covs = jax.lax.map(one_class, (onehot.T, means, safe))
    return counts / n, means, covs


def summarize(
    x: Float[ArrayLike, " n *features"],
    labels: Int[ArrayLike, " n"] | None = None,
    *,
    num_classes: int | None = None,
    order: int = 2,
) -> Summary:
    """Moments of a table: mean, covariance (1/n), and per-class moments when labels are given.

    Args:
        x: shape (n, *features); trailing dimensions are flattened to d columns.
        labels: integer codes 0..C-1 of shape (n,) (one categorical column; for several
            categorical columns, summarize each column separately).
        num_classes: C; needed under jit/vmap (static), inferred from concrete labels otherwise.
        order: 2 (default), 3 (adds ``central3``) or 4 (adds ``central3`` and ``central4``);
            the tensors have d**3 and d**4 entries. With labels, also the per-class tensors
            ``class_central3``/``class_central4`` (C d**3 and C d**4 entries).
    """
    if order != 2:
        return _with_higher(summarize(x, labels, num_classes=num_classes), x, labels, order)
    x = _checks.check_data(x, "x", min_rows=1)
    if _checks.is_global(x) or _checks.is_global(labels):
        return _summarize_global(x, labels, num_classes)
    n = x.shape[0]
    if labels is None:
        return _summarize(x, None, None)
    labels = _checks.check_labels(labels, n)
    if labels.ndim != 1:
        raise ValueError(
            f"summarize takes labels of shape (n,), got {labels.shape}; "
            "summarize each categorical column separately (labels[:, c])."
        )
    if num_classes is None:
        if not _checks.is_concrete(labels):
            raise TypeError("under jit/vmap pass num_classes=C (a static int) to summarize.")
        num_classes = int(np.max(np.asarray(labels))) + 1
    num_classes = _checks.check_count(num_classes, "num_classes")
    msg = f"labels holds a code >= num_classes={num_classes}; raise num_classes."
    if _checks.is_concrete(labels):
        if int(np.max(np.asarray(labels))) >= num_classes:
            raise ValueError(msg)
    else:
        labels = _checks.fail_if(labels, labels >= num_classes, msg)
    return _summarize(x, labels, num_classes)


def _summarize_global(x, labels, num_classes: int | None) -> Summary:
    """``summarize`` of a global table (rows on several processes' devices, jaxmix.sharding).

    One program over every process's devices: XLA's partitioner turns the column sums, the
    centred Gram matrix ``xc.T @ xc`` and the class sums into cross-process reductions
    (all-reduces of (d,), (d, d) and (C, d, d) partial sums), and the Summary comes back
    replicated, so every process holds the moments of the whole table without any process
    fetching another's rows. The same formulas as one device, summed in another order: equal
    to rounding (float32: a few ulps relative to the largest moment).
    """
    if labels is not None:
        labels = _checks.check_labels(labels, x.shape[0])
        if labels.ndim != 1:
            raise ValueError(
                f"summarize takes labels of shape (n,), got {labels.shape}; "
                "summarize each categorical column separately (labels[:, c])."
            )
        top = int(
            _checks.global_max(labels) if _checks.is_global(labels) else np.max(np.asarray(labels))
        )
        if num_classes is None:
            num_classes = top + 1
        num_classes = _checks.check_count(num_classes, "num_classes")
        if top >= num_classes:
            raise ValueError(
                f"labels holds a code >= num_classes={num_classes}; raise num_classes."
            )
    ref = x if _checks.is_global(x) else labels
    run = jax.jit(
        lambda a, b: _summarize(a, b, num_classes), out_shardings=_checks._replicated(ref)
    )
    return run(x, labels)


def _with_higher(summary: Summary, x, labels, order) -> Summary:
    """Attach the order-3 (and order-4) central moment tensors of x to a Summary."""
    if isinstance(order, bool) or not isinstance(order, int) or order not in (2, 3, 4):
        raise ValueError(f"order must be 2, 3 or 4, got {order!r}.")
    labels = None if summary.class_probs is None else jnp.asarray(labels)
    return _higher_tensors(summary, _checks.check_data(x, "x", min_rows=1), labels, order)


@eqx.filter_jit
def _higher_tensors(summary, x, labels, order):
    x = x.reshape(x.shape[0], -1)
    xc = x - summary.mean
    c3 = higher.central_moments(xc, 3)
    c4 = higher.central_moments(xc, 4) if order == 4 else None
    k3 = k4 = None
    if summary.class_probs is not None:
        num_classes = summary.class_probs.shape[0]
        onehot = jax.nn.one_hot(labels, num_classes, dtype=x.dtype).T  # (C, n)
        safe = jnp.maximum(onehot.sum(1), 1.0)
        xk = x[None] - summary.class_means[:, None, :]  # (C, n, d)
        k3 = jnp.einsum("zn,znk,znl,znm->zklm", onehot, xk, xk, xk) / safe[:, None, None, None]
        if order == 4:
            k4 = jnp.einsum("zn,znk,znl,znm,znp->zklmp", onehot, xk, xk, xk, xk)
            k4 = k4 / safe[:, None, None, None, None]
    return eqx.tree_at(
        lambda s: (s.central3, s.central4, s.class_central3, s.class_central4),
        summary,
        (c3, c4, k3, k4),
        is_leaf=lambda v: v is None,
    )


def covariance_factor(weights) -> Float[Array, "*dd"]:
    """K with Cov[x~] = K ⊙ Cov[x] (Theorem 2): 1 - E W^k - E W^m + 2 E[W^k W^m].

    A scalar for one shared law (1 - 2E[W] + 2E[W^2]; 2/3 for Unif(0,1)), a (d, d) matrix for a
    per-column scheme. K = 1 on the diagonal iff E[W^2] = E[W] (variance preserved).
    """
    scheme = as_scheme(weights)
    e = scheme.mean_weight()
    return 1.0 - _pair_sum(e) + 2.0 * scheme.cross_moment()


def class_mean_shift(weights, *, tau: ArrayLike = 0.5) -> Float[Array, "*d"]:
    """u = E[1 - V]: E[x~ | L~ = l] = (1 - u) μ_l + u x̄ (Theorem 4).

    A scalar for a shared law, shape (d,) per column. Under variance preservation u = δ and the
    class variance error is O(δ) (Theorems 10-11).
    """
    tau = _checks.check_tau(tau)
    ev, _ = as_scheme(weights).kept_parent_moments(tau)
    return 1.0 - ev


def _pair_sum(e):
    """e_k + e_m as a matrix, or 2e for a scalar."""
    return e[:, None] + e[None, :] if jnp.ndim(e) == 1 else 2.0 * e


def _outer(v):
    return v[..., :, None] * v[..., None, :]


def predict(summary: Summary, weights, *, tau: ArrayLike = 0.5, replace: bool = True) -> Summary:
    """The exact moments of the mixup population synthesized from data with this Summary.

    Args:
        summary: from :func:`summarize` (or a previous ``predict``).
        weights: a law (one shared weight) or a :class:`Scheme`.
        tau: cut point for the labels.
        replace: parents drawn with replacement (i = j allowed), as in ``mixup``'s default;
            False uses the finite-n formulas for i != j with n = ``summary.num_rows``.
    Returns:
        A Summary of the synthetic population (expectations over parents and weights), whose
        ``num_rows`` is the input's. Apply t times for generation t of repeated synthesis.
        ``central3``/``central4``, when present, are mapped exactly (``jaxmix.higher``: order-3
        and order-4 maps, with and without replacement, for a shared law or a scheme).
    """
    if not isinstance(summary, Summary):
        raise TypeError(
            "summary must be a jaxmix.Summary (from jaxmix.summarize), got "
            f"{type(summary).__name__}."
        )
    scheme = as_scheme(weights)
    scheme.check_features(summary.mean.shape[-1])
    tau = _checks.check_tau(tau)
    if not isinstance(replace, bool):
        raise TypeError(f"replace must be True or False, got {type(replace).__name__}.")
    if summary.class_central3 is not None:
        _check_class_higher(scheme, replace)
    if not replace:  # i != j needs two rows; the finite-n formulas divide by n - 1
        n = _checks.fail_if(
            summary.num_rows,
            summary.num_rows < 2,
            "predict(..., replace=False) needs a summary of at least 2 rows (parents i != j); "
            "pass replace=True.",
        )
        summary = eqx.tree_at(lambda s: s.num_rows, summary, n)
    return _predict(summary, scheme, tau, replace)


@eqx.filter_jit
def _predict(summary: Summary, scheme, tau, replace: bool) -> Summary:
    n = summary.num_rows
    if summary.central3 is not None:
        return _predict_higher(
            summary, _predict(_drop_higher(summary), scheme, tau, replace), scheme, tau, replace
        )
    k_factor = covariance_factor(scheme)
    if replace:
        cov = k_factor * summary.cov
    else:
        cov = (n * k_factor - 1.0) / (n - 1.0) * summary.cov
    if summary.class_probs is None:
        return Summary(summary.mean, cov, n)
    assert summary.class_means is not None and summary.class_covs is not None  # with the probs
    ev, evv = scheme.kept_parent_moments(tau)
    e11 = 1.0 - _pair_sum(ev) + evv  # E[(1 - V_k)(1 - V_m)]
    d = summary.class_means - summary.mean  # (C, d)
    second_kept = summary.class_covs + _outer(d)  # E[(x_P - x̄)(x_P - x̄)ᵀ | class]
    if replace:
        shift = ev * d
        second = evv * second_kept + e11 * summary.cov
    else:
        shift = (ev - (1.0 - ev) / (n - 1.0)) * d
        cross = _pair_sum(ev) - 2.0 * evv  # E[V_k (1-V_m)] + E[(1-V_k) V_m]
        second = (
            evv * second_kept
            + e11 * (n * summary.cov - second_kept) / (n - 1.0)
            - cross * second_kept / (n - 1.0)
        )
    return Summary(
        summary.mean,
        cov,
        n,
        summary.class_probs,
        summary.mean + shift,
        second - _outer(shift),
    )


def _check_class_higher(scheme, replace: bool) -> None:
    """Class-conditional third/fourth moments are mapped for one shared law with replacement."""
    why = (
        "drop them (summarize without labels, or with order=2) or keep the pooled central3/"
        "central4 only"
    )
    if scheme.columns is not None or len(scheme.laws) != 1:
        raise NotImplementedError(
            "predict maps class-conditional third and fourth moments (class_central3/4) for one "
            "shared law only: with per-column laws the kept-parent weights of different laws are "
            f"coupled through the cut and that map is not implemented; {why}."
        )
    if not replace:
        raise NotImplementedError(
            "predict(..., replace=False) does not map class-conditional third and fourth "
            "moments (class_central3/4; the finite-n correction is not derived); use "
            f"replace=True or {why}."
        )


def _drop_higher(summary: Summary) -> Summary:
    return eqx.tree_at(
        lambda s: (s.central3, s.central4, s.class_central3, s.class_central4),
        summary,
        (None, None, None, None),
        is_leaf=lambda v: v is None,
    )


def _predict_higher(summary: Summary, out: Summary, scheme, tau, replace: bool) -> Summary:
    """Add the mapped central3/central4 (``jaxmix.higher.map_central3/4``) to ``out``, and the
    class-conditional ones (``jaxmix.higher.map_class_central``) when the Summary has them."""
    n = summary.num_rows
    c3 = higher.map_central3(summary.central3, scheme, n, replace)
    c4 = k3 = k4 = None
    if summary.central4 is not None:
        c4 = higher.map_central4(summary.central4, summary.cov, scheme, n, replace)
    if summary.class_central3 is not None:
        law = scheme.laws[0]
        raw = higher.kept_parent_raw_moments(law, tau, 3 if summary.class_central4 is None else 4)
        k3 = higher.map_class_central(3, summary, law, tau, raw)
        if summary.class_central4 is not None:
            k4 = higher.map_class_central(4, summary, law, tau, raw)
    return eqx.tree_at(
        lambda s: (s.central3, s.central4, s.class_central3, s.class_central4),
        out,
        (c3, c4, k3, k4),
        is_leaf=lambda v: v is None,
    )
