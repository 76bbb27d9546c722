"""Mixup on row-sharded data across devices (floor 4, beside ``generate``).

``mixup_sharded`` runs the same program as :func:`jaxmix.mixup` -- so the same key gives the same
records as on one device -- compiled with ``jax.jit`` for a one-axis device mesh: the input rows
and the synthetic rows are sharded over the mesh axis, and XLA's partitioner moves the parent
rows each device needs (the random draws are counter-based and elementwise, so each device
computes its own output rows' draws). The mesh uses ``AxisType.Auto`` axes: ``jax.make_mesh``
defaults to explicit axes in recent JAX, under which a gather with sharded indices raises; a
user mesh with explicit axes is rebuilt over the same devices with auto axes.

Multi-process (several hosts, or several processes on one host): start every process with
``jax.distributed.initialize(...)`` (docs/guides/scale.md, "Several machines"), build ``x`` as a
global array with ``jax.make_array_from_process_local_data(NamedSharding(row_mesh(), P("rows",
None)), local_rows, global_shape)`` -- each process passes only its own rows -- and call
``mixup_sharded`` on every process with the same key. Validation reduces on the devices (no
process fetches another's rows); each process holds its rows of the result in
``out.addressable_shards`` (``shard.index`` gives their global row range). With no ``mesh``, a
global ``x`` keeps the one-axis mesh it lives on.

Known issue: on CPU host devices (``--xla_force_host_platform_device_count=2``) the sharded
program has deadlocked intermittently, one device thread waiting at an all-gather while the
other waits at an all-reduce; the cause is not yet found. The one-device ``mixup`` and the
two-process run in ``tests/test_multiprocess.py`` have not hung.
"""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import ArrayLike, Float, Int, PRNGKeyArray

from jaxmix import _checks
from jaxmix.generate import _mixup, validate_mixup_args

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
    """Place ``x`` (rows first) on ``mesh`` with its rows split across devices."""
    mesh = _auto(row_mesh() if mesh is None else mesh)
    return jax.device_put(x, _rows_spec(mesh, np.shape(x)[0], np.ndim(x)))


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
    out_x = _rows_spec(mesh, num_samples, np.ndim(x))
    out_l = None if labels is None else _rows_spec(mesh, num_samples, np.ndim(labels))
    out = out_x if out_l is None else (out_x, out_l)
    return _sharded_core(key, x, labels, tau, scheme, num_samples, replace, out)


@eqx.filter_jit
def _sharded_core(key, x, labels, tau, scheme, num_samples, replace, out):
    return jax.lax.with_sharding_constraint(
        _mixup(key, x, labels, tau, scheme, num_samples, replace), out
    )
