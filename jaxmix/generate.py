"""The mixup generator (floor 4; never imports moments).

One synthetic record (docs/theory.md#the-model): parents i, j uniform on {0..n-1} (independent, with
replacement; ``replace=False`` draws j uniformly among the n-1 rows other than i), a weight draw
from the scheme, then

    x~ = W ⊙ x_i + (1 - W) ⊙ x_j            (per-column weights broadcast over features)
    L~ = L_i if W^L >= tau else L_j          (every categorical column cut on the same W^L)
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
from jaxtyping import ArrayLike, Float, Int, PRNGKeyArray

from jaxmix import _checks, sampling
from jaxmix.schemes import Scheme, as_scheme


def draw_parents(
    key: PRNGKeyArray, num_rows: int, num_samples: int, replace: bool = True, start=None
):
    """Parent indices (i, j), each of shape (num_samples,).

    With ``replace=False``, j = (i + s) mod n with s uniform on 1..n-1, which makes j uniform on
    the rows other than i. Record r's indices come from counter r alone; ``start`` (an int, may
    be traced) gives records start, ..., start + num_samples - 1 instead of 0, ...
    """
    # Speed: one fused Threefry block per index (``sampling.uniform_index``) instead of
    # ``jax.random.randint``, whose rolled Threefry costs more on CPU; same law.
    kd = sampling.raw_key(key)
    rows = jnp.arange(num_samples, dtype=jnp.uint32)
    if start is not None:
        rows = rows + jnp.asarray(start).astype(jnp.uint32)
    bounds = (num_rows, num_rows if replace else num_rows - 1)

    # The two index streams are written by a two-trip loop on purpose. Computed inline, XLA's CPU
    # fusion pulls the Threefry hash into the gather x[i] and recomputes it for every column of
    # every row (16x the hashing for 16 columns; measured in benchmarks/README.md); a while loop
    # is a fusion boundary, so each index is hashed once and stored.
    # (``lax.optimization_barrier`` does not help: the CPU compiler removes it before fusion.)
    def body(t, out):
        n = jnp.where(t == 0, jnp.uint32(bounds[0]), jnp.uint32(bounds[1]))
        return out.at[t].set(sampling.uniform_index(kd, t.astype(jnp.uint32), rows, n))

    ij = jax.lax.fori_loop(0, 2, body, jnp.zeros((2, num_samples), jnp.int32))
    i, j = ij[0], ij[1]
    if not replace:
        j = (i + 1 + j) % num_rows
    return i, j


def lerp(a, b, w):
    """a + w (b - a), computed as a + w d for w < 1/2 and b - (1 - w) d otherwise (d = b - a).

    Exact at the ends (w = 0 gives a, w = 1 gives b: plain resampling copies rows) and one
    product per element. The single product matters for reproducibility: XLA's CPU backend
    may contract a multiply and an add into an FMA, and in w a + (1 - w) b it could pick either
    product, differently in different code paths (the last block of rows, one shard of a
    sharded call), which changed the last bit of some records with the number of rows or of
    devices. Each branch here has one candidate.
    """
    d = b - a
    return jnp.where(w < 0.5, a + w * d, b - (1 - w) * d)


def combine(x, labels, i, j, w, tau, scheme: Scheme):
    """Mix parents given their indices and the (num_samples, G) weight draws."""
    xi, xj = x[i], x[j]
    feat_shape = x.shape[1:]
    if scheme.columns is None:
        wc = w[:, 0].reshape((-1,) + (1,) * len(feat_shape))
    else:
        wc = w[:, jnp.asarray(scheme.columns)].reshape((-1,) + feat_shape)
    wc = wc.astype(x.dtype)
    x_syn = lerp(xj, xi, wc)
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


def _mixup_rows(key, x, labels, tau, scheme, num_samples: int, replace, start, count: int):
    """Records start, ..., start + count - 1 of ``_mixup(key, x, labels, tau, scheme,
    num_samples, replace)``, computed without the others (``start`` may be traced)."""
    kp, kw = jax.random.split(key)
    i, j = draw_parents(kp, x.shape[0], count, replace, start)
    w = scheme.sample_rows(kw, num_samples, start, count)
    return combine(x, labels, i, j, w, tau, scheme)


# equinox's filter_jit overloads omit the **jitkwargs (keep_unused) that it passes to jax.jit
@functools.partial(eqx.filter_jit, donate="all-except-first", keep_unused=True)  # pyright: ignore[reportCallIssue]
def _mixup_into(args, out):
    """``_mixup(*args)`` with the buffers of ``out`` donated (same shapes and dtypes as the result).

    ``out`` is unused on purpose: ``keep_unused`` keeps it a parameter of the compiled program, and
    XLA aliases the result to the donated buffer, so the records are written into memory that is
    already mapped instead of a fresh allocation (a fresh 64 MB buffer costs about 16k page faults).
    """
    del out
    return _mixup(*args)


def mixup(
    key: PRNGKeyArray,
    x: Float[ArrayLike, " n *features"],
    num_samples: int,
    weights,
    *,
    labels: Int[ArrayLike, " n *k"] | None = None,
    tau: ArrayLike = 0.5,
    replace: bool = True,
    out: jax.Array | tuple[jax.Array, jax.Array] | None = None,
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
        out: optional result of an earlier call with the same shapes and dtypes (``x_syn``, or
            the pair ``(x_syn, labels_syn)``), whose memory the new records reuse. Its buffers are
            *donated*: do not use ``out`` after the call (JAX deletes it). Repeated synthesis
            then skips the page faults of a fresh output (figures per machine in
            benchmarks/README.md). Where ``out`` is still referenced elsewhere
            (e.g. a numpy view of it), JAX cannot reuse it and allocates as usual; the records
            are the same either way.
            Concrete arrays only: inside your own ``jit``, donate with ``donate_argnums``.
    Returns:
        ``x_syn`` of shape (m, *features), or ``(x_syn, labels_syn)`` with labels of shape (m,)
        or (m, k). Jit-compiled; vmap-able over keys and over datasets of equal shape. Row r
        depends on the key and r only: a longer call with the same key starts with the same
        records, bit for bit, and so does ``jaxmix.sharding.mixup_sharded``.
    """
    x_in, labels_in = x, labels
    key, x, num_samples, scheme, labels, tau = validate_mixup_args(
        key, x, num_samples, weights, labels, tau, replace
    )
    args = (key, x, labels, tau, scheme, num_samples, replace)
    if out is None:
        return _mixup(*args)
    _check_out(out, x, labels, num_samples, inputs=(x_in, labels_in, x, labels))
    return _mixup_into(args, out)  # pyright: ignore[reportCallIssue]  (filter_jit overloads, above)


def _check_out(out, x, labels, num_samples: int, inputs=()) -> None:
    """Validate ``out=`` of :func:`mixup`: concrete, live arrays shaped and typed like the result.

    ``inputs`` are arrays that must not be donated (the data and labels, as given and converted).
    """
    want = [((num_samples,) + x.shape[1:], x.dtype)]
    if labels is not None:
        want.append(((num_samples,) + labels.shape[1:], labels.dtype))
    hint = "x_syn" if labels is None else "the pair (x_syn, labels_syn)"
    pair = isinstance(out, (tuple, list))
    got = list(out) if pair else [out]
    if pair != (labels is not None) or len(got) != len(want):
        raise TypeError(
            f"out must be {hint} returned by an earlier mixup call, got {type(out).__name__}."
        )
    for a, (shape, dtype) in zip(got, want, strict=True):
        if isinstance(a, jax.core.Tracer):
            raise TypeError(
                "out must be a concrete array; inside your own jit, donate the buffer with "
                "jax.jit(..., donate_argnums=...) instead."
            )
        if not isinstance(a, jax.Array):
            raise TypeError(
                f"out must hold JAX arrays (the result of mixup), got {type(a).__name__}."
            )
        if a.is_deleted():
            raise ValueError(
                "out was already donated to an earlier call; pass the result of the latest call."
            )
        if a.shape != shape or a.dtype != dtype:
            raise ValueError(
                f"out must have shape {shape} and dtype {dtype} to hold this call's result, "
                f"got shape {a.shape} and dtype {a.dtype}."
            )
        if any(a is b for b in inputs if b is not None):
            raise ValueError("out must not be x or labels: its buffer is overwritten.")


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
    tau = _checks.check_tau(tau)
    if labels is not None:
        labels = _checks.check_labels(labels, x.shape[0])
        if scheme.labels is None:
            raise ValueError(
                "labels were given but weights has no label law; "
                "pass labels=<law or column index> to jaxmix.per_column."
            )
    return key, x, num_samples, scheme, labels, tau
