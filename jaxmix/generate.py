"""The mixup generator (floor 4; never imports moments).

One synthetic record (MATH.md §1): parents i, j uniform on {0..n-1} (independent, with
replacement; ``replace=False`` draws j uniformly among the n-1 rows other than i), a weight draw
from the scheme, then

    x~ = W ⊙ x_i + (1 - W) ⊙ x_j            (per-column weights broadcast over features)
    L~ = L_i if W^L >= tau else L_j          (every categorical column cut on the same W^L)
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import ArrayLike, Float, Int, PRNGKeyArray

from jaxmix import _checks, sampling
from jaxmix.schemes import Scheme, as_scheme


def draw_parents(key: PRNGKeyArray, num_rows: int, num_samples: int, replace: bool = True):
    """Parent indices (i, j), each of shape (num_samples,).

    With ``replace=False``, j = (i + s) mod n with s uniform on 1..n-1, which makes j uniform on
    the rows other than i.
    """
    # Speed (issue 4): one fused Threefry block per index (``sampling.uniform_index``) instead of
    # ``jax.random.randint``, whose rolled Threefry costs ~4x more on CPU; same law.
    kd = sampling.raw_key(key)
    rows = jnp.arange(num_samples, dtype=jnp.uint32)
    bounds = (num_rows, num_rows if replace else num_rows - 1)

    # The two index streams are written by a two-trip loop on purpose. Computed inline, XLA's CPU
    # fusion pulls the Threefry hash into the gather x[i] and recomputes it for every column of
    # every row (16x the hashing for 16 columns: 185 ms instead of 124 ms for 10^6 x 16 on the
    # 2-core CPU); a while loop is a fusion boundary, so each index is hashed once and stored.
    # (``lax.optimization_barrier`` does not help: the CPU compiler removes it before fusion.)
    def body(t, out):
        n = jnp.where(t == 0, jnp.uint32(bounds[0]), jnp.uint32(bounds[1]))
        return out.at[t].set(sampling.uniform_index(kd, t.astype(jnp.uint32), rows, n))

    ij = jax.lax.fori_loop(0, 2, body, jnp.zeros((2, num_samples), jnp.int32))
    i, j = ij[0], ij[1]
    if not replace:
        j = (i + 1 + j) % num_rows
    return i, j


def combine(x, labels, i, j, w, tau, scheme: Scheme):
    """Mix parents given their indices and the (num_samples, G) weight draws."""
    xi, xj = x[i], x[j]
    feat_shape = x.shape[1:]
    if scheme.columns is None:
        wc = w[:, 0].reshape((-1,) + (1,) * len(feat_shape))
    else:
        wc = w[:, jnp.asarray(scheme.columns)].reshape((-1,) + feat_shape)
    wc = wc.astype(x.dtype)
    x_syn = wc * xi + (1 - wc) * xj  # exact at W in {0, 1}: plain resampling copies rows
    if labels is None:
        return x_syn
    keep_i = w[:, scheme.labels] >= tau
    if labels.ndim == 2:
        keep_i = keep_i[:, None]
    return x_syn, jnp.where(keep_i, labels[i], labels[j])


@eqx.filter_jit
def _mixup(key, x, labels, tau, scheme, num_samples, replace):
    kp, kw = jax.random.split(key)
    i, j = draw_parents(kp, x.shape[0], num_samples, replace)
    w = scheme.sample(kw, num_samples)
    return combine(x, labels, i, j, w, tau, scheme)


def mixup(
    key: PRNGKeyArray,
    x: Float[ArrayLike, "n *features"],
    num_samples: int,
    weights,
    *,
    labels: Int[ArrayLike, "n *k"] | None = None,
    tau: ArrayLike = 0.5,
    replace: bool = True,
):
    """Synthesize ``num_samples`` records by mixup.

    Args:
        key: a JAX PRNG key; the same key gives the same records.
        x: continuous data of shape (n, *features), n >= 2 (tables (n, d) or images (n, H, W, C)).
        num_samples: number of synthetic records m (a static Python int).
        weights: a law (one weight per record shared by every column and the labels) or a
            :class:`jaxmix.Scheme` (e.g. ``jaxmix.per_column([...], labels=...)``).
        labels: optional integer codes of shape (n,) or (n, k).
        tau: cut point: L~ = L_i if W^L >= tau else L_j.
        replace: if False, the two parents are distinct rows (i != j).
    Returns:
        ``x_syn`` of shape (m, *features), or ``(x_syn, labels_syn)`` with labels of shape (m,)
        or (m, k). Jit-compiled; vmap-able over keys and over datasets of equal shape.
    """
    key, x, num_samples, scheme, labels, tau = validate_mixup_args(
        key, x, num_samples, weights, labels, tau, replace
    )
    return _mixup(key, x, labels, tau, scheme, num_samples, replace)


def validate_mixup_args(key, x, num_samples, weights, labels, tau, replace):
    """The boundary checks of :func:`mixup`, shared by the streaming and sharded front ends.

    Returns (key, x as float array, num_samples, scheme, labels as int32 or None, tau array).
    """
    key = _checks.check_key(key)
    x = _checks.check_data(x, "x", min_rows=2)
    num_samples = _checks.check_count(num_samples, "num_samples")
    scheme = as_scheme(weights)
    scheme.check_features(math.prod(x.shape[1:]))
    if not isinstance(replace, bool):
        raise TypeError(f"replace must be True or False, got {type(replace).__name__}.")
    _checks.check_finite_scalar(tau, "tau")
    tau = _checks.to_float(tau, "tau")
    if labels is not None:
        labels = _checks.check_labels(labels, x.shape[0])
        if scheme.labels is None:
            raise ValueError(
                "labels were given but weights has no label law; "
                "pass labels=<law or column index> to jaxmix.per_column."
            )
    return key, x, num_samples, scheme, labels, tau
