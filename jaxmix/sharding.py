"""Mixup on row-sharded data across devices (floor 4, beside ``generate``).

``mixup_sharded`` returns exactly the records of :func:`jaxmix.mixup` with the same key (row r
of ``mixup`` depends on the key and r only), computed as one ``jax.shard_map`` over a one-axis
device mesh. With D devices and m records, device k computes records [k L, (k + 1) L),
L = ceil(m / D):

- it first gathers the table (and the labels) from every device: one ``all_gather`` of the
  rows packed side by side as 32-bit words, so it holds the whole table;
- it then draws its own records' parents (counter-based per record: ``draw_parents`` from
  counter k L on) and weights (``Scheme.sample_rows``: each law computes only those rows;
  the Beta sampler runs on the 128-lane groups holding them, Uniform recomputes
  ``jax.random``'s Threefry counters), and mixes them, with no communication;
- the records stay where they were computed (output sharded by rows) when D divides m; else
  a second ``all_gather``, which depends on the records, replicates them.

Memory per device: the table plus O(m / D) for the built-in laws (Beta, EpBeta, Uniform and
``per_column`` schemes of these), plus the m records when they are replicated. A user's law
without its own ``sample_rows`` is drawn for all m records and sliced on every device (memory
O(m)).

The only collectives are those one or two all-gathers at the top level of the program,
ordered by data dependence. No collective sits inside a loop or a branch: there, devices can
reach the collectives of independent regions in different orders and wait on each other
forever (host devices run independent regions concurrently on a shared thread pool).

The mesh uses ``AxisType.Auto`` axes; a user mesh with explicit axes (``jax.make_mesh``'s
default) is rebuilt over the same devices with auto axes.

Multi-process (several hosts, or several processes on one host): start every process with
``jax.distributed.initialize(...)`` (docs/guides/scale.md, "Several machines"), build ``x`` as a
global array with ``jax.make_array_from_process_local_data(NamedSharding(row_mesh(), P("rows",
None)), local_rows, global_shape)`` -- each process passes only its own rows -- and call
``mixup_sharded`` on every process with the same key. Validation reduces on the devices (no
process fetches another's rows); each process holds its rows of the result in
``out.addressable_shards`` (``shard.index`` gives their global row range). With no ``mesh``, a
global ``x`` keeps the one-axis mesh it lives on; a global ``x`` or ``labels`` must be split by
rows over the mesh's devices or replicated (anything else is a ValueError).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import ArrayLike, Float, Int, PRNGKeyArray

from jaxmix import _checks
from jaxmix.generate import _mixup_rows, validate_mixup_args

__all__ = ["row_mesh", "shard_rows", "mixup_sharded"]


def row_mesh(devices=None, axis_name: str = "rows") -> Mesh:
    """A one-axis mesh (auto axis type) over ``devices`` (default: all of ``jax.devices()``)."""
    devices = jax.devices() if devices is None else list(devices)
    return jax.make_mesh(
        (len(devices),), (axis_name,), axis_types=(AxisType.Auto,), devices=devices
    )


def _auto(mesh: Mesh) -> Mesh:
    if not isinstance(mesh, Mesh):
        raise TypeError(
            "mesh must be a jax.sharding.Mesh (e.g. jaxmix.sharding.row_mesh()), "
            f"got {type(mesh).__name__}."
        )
    if len(mesh.axis_names) != 1:
        raise ValueError(f"mesh must have one axis (the rows), got axes {mesh.axis_names}.")
    if all(t == AxisType.Auto for t in mesh.axis_types):
        return mesh
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,))


def _global_mesh(x) -> Mesh | None:
    """The mesh of a global (multi-process) array ``x`` laid out on one, else None."""
    if _checks.is_global(x) and isinstance(x.sharding, NamedSharding):
        mesh = x.sharding.mesh
        if isinstance(mesh, Mesh) and len(mesh.axis_names) == 1:
            return mesh
    return None


def _rows_spec(mesh: Mesh, num_rows: int, ndim: int):
    """Shard the leading axis when it divides evenly over the mesh, else replicate."""
    axis = mesh.axis_names[0]
    if num_rows % mesh.devices.size == 0:
        return NamedSharding(mesh, P(axis, *([None] * (ndim - 1))))
    return NamedSharding(mesh, P())


def shard_rows(x: ArrayLike, mesh: Mesh | None = None):
    """Place ``x`` (rows first) on ``mesh``: its rows split across the devices when their number
    divides evenly over them, else a copy on every device (``mixup_sharded`` accepts both)."""
    mesh = _auto(row_mesh() if mesh is None else mesh)
    if not isinstance(x, (jax.Array, np.ndarray)):
        if isinstance(x, (str, bytes)) or x is None:
            raise TypeError(f"x must be an array with rows first, got {type(x).__name__}.")
        x = np.asarray(x)
    if np.ndim(x) < 1:
        raise ValueError("x must be an array with rows first (at least one axis), got a scalar.")
    return jax.device_put(x, _rows_spec(mesh, np.shape(x)[0], np.ndim(x)))


def _same_devices(a: Mesh, b: Mesh) -> bool:
    return list(a.devices.flat) == list(b.devices.flat)


def _row_split(a, mesh: Mesh, name: str) -> bool:
    """Whether ``a`` (already on ``mesh``) is split by rows (else replicated); a global array
    laid out otherwise is a ValueError (resharding it would take collectives of their own)."""
    sh = a.sharding
    if not _checks.is_global(a):
        return not sh.is_fully_replicated
    axis = mesh.axis_names[0]
    rows = False
    if isinstance(sh, NamedSharding) and isinstance(sh.mesh, Mesh) and _same_devices(sh.mesh, mesh):
        spec = tuple(sh.spec)
        rows = len(spec) > 0 and spec[0] in (axis, (axis,))
        rows = rows and all(s is None for s in spec[1:])
        if rows or sh.is_fully_replicated:
            return rows
    raise ValueError(
        f"{name} is a global array laid out as {sh}; mixup_sharded needs it split by rows "
        f"over the mesh's devices (NamedSharding(mesh, P({axis!r}, None, ...))) or "
        "replicated; pass mesh=None to use the mesh it lives on."
    )


def mixup_sharded(
    key: PRNGKeyArray,
    x: Float[ArrayLike, " n *features"],
    num_samples: int,
    weights,
    *,
    labels: Int[ArrayLike, " n *k"] | None = None,
    tau: ArrayLike = 0.5,
    replace: bool = True,
    mesh: Mesh | None = None,
):
    """:func:`jaxmix.mixup` with inputs and outputs sharded by rows over ``mesh``.

    Same arguments and same records as ``jaxmix.mixup(key, x, num_samples, weights, ...)``;
    ``mesh`` is a one-axis mesh (default :func:`row_mesh` over all devices). Outputs are
    sharded by rows when ``num_samples`` divides evenly over the devices, else replicated.
    """
    args = _prepare(key, x, num_samples, weights, labels, tau, replace, mesh)
    return _sharded_core(*args)


def _prepare(key, x, num_samples, weights, labels, tau, replace, mesh):
    """The checked arguments of :func:`_sharded_core`, inputs placed on the mesh."""
    key, x, num_samples, scheme, labels, tau = validate_mixup_args(
        key, x, num_samples, weights, labels, tau, replace
    )
    if mesh is None:
        mesh = _global_mesh(x) or row_mesh()
    mesh = _auto(mesh)
    if labels is not None and not _checks.is_global(labels):
        labels = jax.device_put(labels, _rows_spec(mesh, np.shape(labels)[0], np.ndim(labels)))
    if not _checks.is_global(x):  # a global array keeps its layout: no host holds all of it
        x = jax.device_put(x, _rows_spec(mesh, np.shape(x)[0], np.ndim(x)))
    split = (_row_split(x, mesh, "x"), labels is not None and _row_split(labels, mesh, "labels"))
    out_rows = num_samples % mesh.devices.size == 0
    return key, x, labels, tau, scheme, num_samples, replace, mesh, split, out_rows


def _to_words(a):
    """The bits of ``a`` (rows first, 4- or 8-byte items) as uint32 words of shape (rows, k)."""
    return jax.lax.bitcast_convert_type(a, jnp.uint32).reshape(a.shape[0], -1)


def _from_words(w, like):
    """Inverse of :func:`_to_words` for an array shaped and typed like ``like`` (but w's rows)."""
    shape = (w.shape[0],) + like.shape[1:] + ((2,) if like.dtype.itemsize == 8 else ())
    return jax.lax.bitcast_convert_type(w.reshape(shape), like.dtype)


def _gather_rows(arrays, axis: str):
    """Every device's row blocks of ``arrays``, concatenated, by ONE tiled all-gather.

    The arrays are packed side by side as uint32 words (exact for any dtype of 4 or 8 bytes),
    so the program holds a single collective here instead of one per array: independent
    collectives can be started in different orders by different devices.
    """
    words = [_to_words(a) for a in arrays]
    got = jax.lax.all_gather(jnp.concatenate(words, axis=1), axis, axis=0, tiled=True)
    out, col = [], 0
    for a, w in zip(arrays, words, strict=True):
        out.append(_from_words(got[:, col : col + w.shape[1]], a))
        col += w.shape[1]
    return out


@eqx.filter_jit
def _sharded_core(key, x, labels, tau, scheme, num_samples, replace, mesh, split, out_rows):
    """One ``shard_map`` over the rows axis: gather the table, compute this device's records."""
    axis = mesh.axis_names[0]
    per = -(-num_samples // mesh.devices.size)  # records per device (the last may overhang m)
    x_split, l_split = split

    def local(key, x, labels, tau, scheme):
        gather = [a for a, s in ((x, x_split), (labels, l_split)) if s]
        if gather:  # the only collective before the records: one all-gather of the inputs
            got = iter(_gather_rows(gather, axis))
            x = next(got) if x_split else x
            labels = next(got) if l_split else labels
        start = jax.lax.axis_index(axis) * per
        out = _mixup_rows(key, x, labels, tau, scheme, num_samples, replace, start, per)
        if out_rows:
            return out
        # replicated output: one all-gather of the records, after (data-dependent on) the first
        parts = [out] if labels is None else list(out)
        parts = [p[:num_samples] for p in _gather_rows(parts, axis)]
        return parts[0] if labels is None else tuple(parts)

    rows = P(axis)
    specs = (P(), rows if x_split else P(), rows if l_split else P(), P(), P())
    # check_vma=False: the samplers' loops start from constants (device-invariant) and carry
    # per-device values; the replicated output is replicated by construction (an all-gather)
    return jax.shard_map(
        local, mesh=mesh, in_specs=specs, out_specs=rows if out_rows else P(), check_vma=False
    )(key, x, labels, tau, scheme)
