"""Weight schemes: how weight laws are assigned to columns and to the labels (floor 3).

A :class:`Scheme` holds G laws, each drawn once per synthetic record and independently of the
others, an assignment ``columns`` (one law index per continuous column, or ``None``: every
column uses law 0) and ``labels`` (the index of the law whose draw W^L is cut at tau).

- one shared weight (the paper's common mixup and EpBeta case): ``Scheme((law,))``, or pass the
  law itself wherever a scheme is expected;
- independent weights per column: ``per_column([law_1, ..., law_d], labels=law_L)``;
- anything between: ``Scheme((law_a, law_b), columns=(0, 0, 1, 1), labels=0)`` (columns 0-1 and
  the labels share one draw, columns 2-3 share another).

Every law of a scheme is one law: scalar parameters. A law whose parameters have a batch axis
(``select_epbeta(jnp.array([0.02, 0.05]))``) is a batch of laws; wherever a scheme is expected
(``covariance_factor``, ``class_mean_shift``, ``predict``, ``mixup``, ``Scheme``) it raises a
``ValueError`` that says to ``jax.vmap`` over the batch or to build per-column weights with
``per_column``. Under ``jax.vmap`` the parameters are scalar tracers and every function works.

This module also computes the cross-moments the theory needs
(docs/theory.md#theorem-2-covariance-factor and docs/theory.md#class-covariance):
E[W^k W^m] for every pair of columns, and the moments of the kept-parent weight
V_k = W^k if W^L >= tau else 1 - W^k.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from jaxmix.laws import AbstractLaw, check_law


class Scheme(eqx.Module):
    """G independent weight laws and their assignment to columns and labels.

    Attributes:
        laws: tuple of G laws.
        columns: tuple of d law indices (one per flattened continuous column), or None for
            "every column uses law 0" (shared weight; moments then come out as scalars).
        labels: index of the law whose draw decides the categorical columns, or None when the
            scheme has no label weight (mixup with labels then raises).
    """

    laws: tuple[AbstractLaw, ...]
    columns: tuple[int, ...] | None = eqx.field(static=True, default=None)
    labels: int | None = eqx.field(static=True, default=0)

    def __check_init__(self):
        if not isinstance(self.laws, tuple) or len(self.laws) == 0:
            raise TypeError("Scheme: laws must be a non-empty tuple of jaxmix laws.")
        for g, law in enumerate(self.laws):
            check_law(law, f"Scheme: laws[{g}]")
            _check_scalar_law(law, f"Scheme: laws[{g}]")
        num = len(self.laws)
        if self.columns is not None:
            if any((not isinstance(c, int)) or c < 0 or c >= num for c in self.columns):
                raise ValueError(
                    f"Scheme: columns must hold law indices in 0..{num - 1}, got {self.columns}."
                )
        valid = isinstance(self.labels, int) and 0 <= self.labels < num
        if self.labels is not None and not valid:
            raise ValueError(
                f"Scheme: labels must be a law index in 0..{num - 1}, got {self.labels}."
            )

    @property
    def shared(self) -> bool:
        """True when every column uses law 0 (a single shared weight for all columns)."""
        return self.columns is None

    def check_features(self, num_features: int, name: str = "weights") -> None:
        """ValueError when a per-column scheme does not have one entry per column."""
        if self.columns is not None and len(self.columns) != num_features:
            raise ValueError(
                f"{name} assigns laws to {len(self.columns)} columns but the data has "
                f"{num_features} (flattened) columns; give one law index per column."
            )

    def sample(self, key: PRNGKeyArray, num_samples: int) -> Float[Array, "num_samples G"]:
        """One independent draw of each law per synthetic record: shape (num_samples, G)."""
        keys = jax.random.split(key, len(self.laws))
        draws = [law.sample(k, (num_samples,)) for law, k in zip(self.laws, keys, strict=True)]
        return jnp.stack(jnp.broadcast_arrays(*draws), axis=-1)

    def sample_rows(
        self, key: PRNGKeyArray, num_samples: int, start: ArrayLike, count: int
    ) -> Float[Array, "count G"]:
        """Rows start, ..., start + count - 1 of ``sample(key, num_samples)``, exactly.

        Each law computes only those rows (``AbstractLaw.sample_rows``; a law without its own
        method draws all ``num_samples`` and slices). ``start`` may be traced.
        """
        keys = jax.random.split(key, len(self.laws))
        draws = [
            law.sample_rows(k, num_samples, start, count)
            for law, k in zip(self.laws, keys, strict=True)
        ]
        return jnp.stack(jnp.broadcast_arrays(*draws), axis=-1)

    # --- moments per law, then per column -----------------------------------------------------

    def _law_moments(self, k: int) -> Float[Array, " G"]:
        return jnp.stack(jnp.broadcast_arrays(*[law.moment(k) for law in self.laws]))

    def _per_column(self, per_law: Array) -> Array:
        """Map a per-law vector (G,) to a per-column vector (d,), or to a scalar when shared."""
        if self.columns is None:
            return per_law[0]
        return per_law[jnp.asarray(self.columns)]

    def _same_law(self) -> Array:
        cols = jnp.asarray(self.columns)
        return cols[:, None] == cols[None, :]

    def mean_weight(self) -> Float[Array, "*d"]:
        """E[W^k] per column: a scalar (shared) or shape (d,)."""
        return self._per_column(self._law_moments(1))

    def cross_moment(self) -> Float[Array, "*dd"]:
        """E[W^k W^m]: a scalar E[W^2] (shared) or the (d, d) matrix.

        Same law index: E[W_g^2]; different indices (independent draws): E[W_g] E[W_h].
        """
        m1, m2 = self._law_moments(1), self._law_moments(2)
        if self.columns is None:
            return m2[0]
        e = self._per_column(m1)
        return jnp.where(self._same_law(), self._per_column(m2)[:, None], jnp.outer(e, e))

    def kept_parent_moments(self, tau: ArrayLike) -> tuple[Array, Array]:
        """Moments of V_k = W^k 1{W^L >= tau} + (1 - W^k) 1{W^L < tau}.

        Returns (E[V_k], E[V_k V_m]): scalars when shared, else shapes (d,) and (d, d).
        With A = 1{W^L >= tau} and q = P(A = 1):
            E[V_k V_m] = E[A W^k W^m] + E[(1-A)(1-W^k)(1-W^m)],
        where, for laws g != h drawn independently, E[A W_g W_h] = E[A W_g] E[A W_h] / q
        (at most one of them is the label law), and likewise with 1 - A, 1 - W.
        """
        if self.labels is None:
            raise ValueError(
                "weights has no label law: pass labels=<law or column index> to jaxmix.per_column."
            )
        lab = self.labels
        law_l = self.laws[lab]
        dtype = law_l.moment(1).dtype
        tau = jnp.asarray(tau, dtype)
        p0, p1, p2 = (law_l.partial_moment(k, tau) for k in range(3))  # E[W_L^k 1{W_L < tau}]
        q = 1.0 - p0
        m1, m2 = self._law_moments(1), self._law_moments(2)
        is_lab = jnp.arange(len(self.laws)) == lab
        # E[A W_g], E[A W_g^2], E[(1-A)(1-W_g)], E[(1-A)(1-W_g)^2], per law g
        a1 = jnp.where(is_lab, m1 - p1, q * m1)
        a2 = jnp.where(is_lab, m2 - p2, q * m2)
        b1 = jnp.where(is_lab, p0 - p1, p0 * (1 - m1))
        b2 = jnp.where(is_lab, p0 - 2 * p1 + p2, p0 * (1 - 2 * m1 + m2))
        if self.columns is None:
            return a1[0] + b1[0], a2[0] + b2[0]
        a1c, a2c, b1c, b2c = (self._per_column(v) for v in (a1, a2, b1, b2))
        ev = a1c + b1c
        cross = _safe_div(jnp.outer(a1c, a1c), q) + _safe_div(jnp.outer(b1c, b1c), p0)
        evv = jnp.where(self._same_law(), (a2c + b2c)[:, None], cross)
        return ev, evv


def _safe_div(num, den):
    """num / den, with 0 where den == 0 (then num == 0 too); gradient-safe."""
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


def _check_scalar_law(law, name: str) -> None:
    """ValueError for a law whose parameters are not scalars (a batch of laws).

    A scheme's laws are single laws: one weight distribution each. A law with parameters of
    shape (B,) (e.g. ``select_epbeta(jnp.array([0.02, 0.05]))``) is a *batch* of B laws, and it
    is never read as B per-column weights. Under ``jax.vmap`` over such a batch the parameters
    are scalar tracers and pass.
    """
    shapes = {jnp.shape(leaf) for leaf in jax.tree_util.tree_leaves(law)}
    bad = sorted(shape for shape in shapes if shape != ())
    if bad:
        raise ValueError(
            f"{name} is a batch of laws (parameters of shape {bad[0]}), not one law. To compute "
            "something for every law of the batch, map over it: jax.vmap(lambda law: "
            "jaxmix.covariance_factor(law))(laws) (likewise predict, class_mean_shift, mixup); "
            "for independent weights per column build the scheme explicitly: "
            "jaxmix.per_column([law_1, ..., law_d], labels=...)."
        )


def as_scheme(weights, name: str = "weights") -> Scheme:
    """A law becomes the shared-weight scheme; a Scheme passes; anything else is a TypeError.

    A law with non-scalar parameters (a batch of laws) is a ValueError naming ``jax.vmap`` and
    ``per_column``: a batch is never reinterpreted as per-column weights.
    """
    if isinstance(weights, Scheme):
        return weights
    if isinstance(weights, AbstractLaw):
        _check_scalar_law(weights, name)
        return Scheme((weights,))
    raise TypeError(
        f"{name} must be a jaxmix law (e.g. jaxmix.Uniform(), jaxmix.Beta(0.4, 0.4)) or a scheme "
        f"from jaxmix.per_column(...), got {type(weights).__name__}."
    )


def per_column(columns: Sequence[AbstractLaw], labels: AbstractLaw | int | None = None) -> Scheme:
    """Independent weights: column k draws its own W^k from ``columns[k]``.

    ``labels`` is the law of an independent label weight W^L, or an int c to cut the labels on
    column c's own draw, or None for data without labels.
    Example: ``per_column([jaxmix.Beta(2, 2)] * 4, labels=jaxmix.Uniform())``.
    """
    laws = tuple(check_law(law, f"columns[{k}]") for k, law in enumerate(columns))
    if len(laws) == 0:
        raise ValueError("columns must hold at least one law.")
    if labels is None or isinstance(labels, int) and not isinstance(labels, bool):
        if labels is not None and not 0 <= labels < len(laws):
            raise ValueError(f"labels={labels} is not a column index in 0..{len(laws) - 1}.")
        return Scheme(laws, columns=tuple(range(len(laws))), labels=labels)
    label_law = check_law(labels, "labels")
    return Scheme(laws + (label_law,), columns=tuple(range(len(laws))), labels=len(laws))
