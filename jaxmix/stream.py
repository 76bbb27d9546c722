"""Chunked mixup synthesis of more rows than fit in memory (floor 4, beside ``generate``).

The stream is defined by fixed-size internal blocks: row r is row ``r % block_size`` of
``jaxmix.mixup(jax.random.fold_in(key, r // block_size), x, block_size, weights, ...)``. A chunk
computes the blocks it overlaps (one jitted, vmapped call per chunk) and keeps its rows, so the
same key gives the same rows whatever ``chunk_size`` is, and the first ``block_size`` rows equal
that in-memory call. Peak memory is a few chunks (default about 64 MB of output per chunk), not
the output: ``mixup_to_npy`` writes each chunk to the file as it comes (the file is never mapped
into memory), while the next chunk is computed (JAX dispatches asynchronously).

- ``mixup_to_callback(key, x, num_samples, weights, callback, ...)`` calls
  ``callback(start, x_chunk)`` or ``callback(start, x_chunk, labels_chunk)`` with numpy arrays.
- ``mixup_to_npy(key, x, num_samples, weights, path, ...)`` writes ``path`` (and, with labels,
  ``labels_path``, default ``<path stem>.labels.npy``) readable with
  ``np.load(..., mmap_mode="r")``.

A progress bar shows rows done (tqdm when installed, else a plain line on stderr every 10 %).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float, Int, PRNGKeyArray

from jaxmix import _checks
from jaxmix.generate import _mixup, validate_mixup_args
from jaxmix.progress import ProgressBar

__all__ = [
    "mixup_to_callback",
    "mixup_to_npy",
    "BLOCK_SIZE",
    "mixup_to_callback_per_process",
    "mixup_to_npy_per_process",
    "process_rows",
]

BLOCK_SIZE = 65536  # rows per internal block: part of the definition of the stream
_TARGET_CHUNK_BYTES = 64 << 20


@functools.partial(eqx.filter_jit, donate="none")
def _blocks(key, first_block, x, labels, tau, scheme, num_blocks: int, block_size: int, replace):
    """Rows of blocks first_block, ..., first_block + num_blocks - 1, concatenated."""
    ids = first_block + jnp.arange(num_blocks, dtype=jnp.uint32)
    keys = jax.vmap(lambda b: jax.random.fold_in(key, b))(ids)
    out = jax.vmap(lambda k: _mixup(k, x, labels, tau, scheme, block_size, replace))(keys)
    if not isinstance(out, tuple):  # no labels
        return out.reshape((num_blocks * block_size,) + out.shape[2:])
    xs, ls = out
    return (
        xs.reshape((num_blocks * block_size,) + xs.shape[2:]),
        ls.reshape((num_blocks * block_size,) + ls.shape[2:]),
    )


def _validate(key, x, num_samples, weights, labels, tau, replace, chunk_size, block_size):
    key, x, num_samples, scheme, labels, tau = validate_mixup_args(
        key, x, num_samples, weights, labels, tau, replace
    )
    block_size = _checks.check_count(block_size, "block_size")
    if chunk_size is None:
        row_bytes = int(math.prod(x.shape[1:])) * x.dtype.itemsize + 8
        chunk_size = max(block_size, (_TARGET_CHUNK_BYTES // row_bytes) // block_size * block_size)
    chunk_size = _checks.check_count(chunk_size, "chunk_size")
    return key, x, num_samples, scheme, labels, tau, chunk_size, block_size


def mixup_to_callback(
    key: PRNGKeyArray,
    x: Float[ArrayLike, " n *features"],
    num_samples: int,
    weights,
    callback: Callable,
    *,
    labels: Int[ArrayLike, " n *k"] | None = None,
    tau: ArrayLike = 0.5,
    replace: bool = True,
    chunk_size: int | None = None,
    block_size: int = BLOCK_SIZE,
    progress: bool = True,
) -> None:
    """Synthesize ``num_samples`` mixup rows chunk by chunk and hand each chunk to ``callback``.

    Args:
        key, x, num_samples, weights, labels, tau, replace: as in :func:`jaxmix.mixup`.
        callback: called as ``callback(start, x_chunk)`` (or with ``labels_chunk`` as a third
            argument when labels are given) for consecutive row ranges [start, start + len).
        chunk_size: rows per chunk (default: about 64 MB of output, a multiple of block_size).
            Does not change the rows.
        block_size: rows per internal block (see the module docstring); changes the rows.
        progress: show a progress bar.
    """
    if _checks.is_global(x):  # rows on several processes: each process streams its own rows
        mixup_to_callback_per_process(
            key,
            x,
            num_samples,
            weights,
            callback,
            labels=labels,
            tau=tau,
            replace=replace,
            chunk_size=chunk_size,
            block_size=block_size,
            progress=progress,
        )
        return None
    key, x, num_samples, scheme, labels, tau, chunk_size, block_size = _validate(
        key, x, num_samples, weights, labels, tau, replace, chunk_size, block_size
    )
    num_blocks = -(-chunk_size // block_size) + 1  # a chunk overlaps at most this many blocks
    starts = list(range(0, num_samples, chunk_size))

    def launch(start):
        b0 = start // block_size
        return _blocks(key, jnp.uint32(b0), x, labels, tau, scheme, num_blocks, block_size, replace)

    bar = ProgressBar(num_samples, desc="jaxmix.stream", unit="rows", enable=progress)
    try:
        pending = launch(starts[0])
        for c, start in enumerate(starts):
            out = pending
            if c + 1 < len(starts):
                pending = launch(starts[c + 1])  # dispatched before we wait on `out`
            size = min(chunk_size, num_samples - start)
            off = start - (start // block_size) * block_size
            if labels is None:
                callback(start, np.asarray(out)[off : off + size])
            else:
                xs, ls = out
                callback(start, np.asarray(xs)[off : off + size], np.asarray(ls)[off : off + size])
            del out
            bar.update(size)
    finally:
        bar.close()


def mixup_to_npy(
    key: PRNGKeyArray,
    x: Float[ArrayLike, " n *features"],
    num_samples: int,
    weights,
    path: str | os.PathLike,
    *,
    labels: Int[ArrayLike, " n *k"] | None = None,
    labels_path: str | os.PathLike | None = None,
    tau: ArrayLike = 0.5,
    replace: bool = True,
    chunk_size: int | None = None,
    block_size: int = BLOCK_SIZE,
    progress: bool = True,
):
    """Write ``num_samples`` mixup rows to the .npy file ``path`` (labels to ``labels_path``).

    Same rows as :func:`mixup_to_callback`; memory stays at a few chunks whatever num_samples.
    Crash-safe: the rows go to a temporary file beside ``path`` that is renamed onto ``path``
    only when complete, so an interrupted or out-of-disk run leaves ``path`` as it was (see
    "crash safety" below). ``labels_path`` must differ from ``path``.
    Returns ``path``, or ``(path, labels_path)`` when labels are given.
    """
    if _checks.is_global(x):  # rows on several processes: one file per process
        return mixup_to_npy_per_process(
            key,
            x,
            num_samples,
            weights,
            path,
            labels=labels,
            labels_path=labels_path,
            tau=tau,
            replace=replace,
            chunk_size=chunk_size,
            block_size=block_size,
            progress=progress,
        )
    xv = _checks.check_data(x, "x", min_rows=2)
    path = _check_path(path, "path")
    shape = (int(num_samples) if isinstance(num_samples, (int, np.integer)) else num_samples,)
    if labels is not None:
        lab = _checks.check_labels(labels, xv.shape[0])
        labels_path = _labels_path(path, labels_path)

    def run(callback):
        mixup_to_callback(
            key,
            xv,
            num_samples,
            weights,
            callback,
            labels=None if labels is None else lab,
            tau=tau,
            replace=replace,
            chunk_size=chunk_size,
            block_size=block_size,
            progress=progress,
        )

    _write_npy_stream(run, path, labels_path, shape[0])
    return path if labels is None else (path, labels_path)


# --- crash safety -------------------------------------------------------------------------------
#
# A .npy stream is written to a hidden temporary file beside its target,
# ``.<name>.jaxmix-<pid>-<random>.tmp``, and renamed onto the target (atomic within a file
# system) only after every row is written and flushed to disk. An error, an exhausted disk or
# file-size limit, Ctrl-C or SIGTERM removes the temporary file and leaves the target as it was
# (absent, or the previous complete file). A SIGKILL or power loss cannot run any clean-up: it
# leaves the target as it was and the clearly marked ``*.jaxmix-*.tmp`` partial file, which is
# never mistaken for output (``np.load`` of the target reads the old complete file or fails
# with "no such file").


def _check_path(path, name: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{name} must be a file path (str or os.PathLike), got {type(path).__name__}."
        )
    path = os.fspath(path)
    if not isinstance(path, str) or not path or path.endswith(os.sep):
        raise ValueError(f"{name} must name a file, got {path!r}.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{name}: the folder {folder!r} does not exist; create it first.")
    if os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is a folder; pass a file name such as {path!r}/out.npy.")
    return path


def _labels_path(path: str, labels_path) -> str:
    """The checked labels file for records file ``path`` (default ``<stem>.labels.npy``)."""
    if labels_path is None:
        stem = path[:-4] if path.endswith(".npy") else path
        labels_path = stem + ".labels.npy"
    labels_path = _check_path(labels_path, "labels_path")
    if _same_file(path, labels_path):
        raise ValueError(
            f"labels_path must differ from path (both are {path!r}); the labels would "
            "overwrite the records. Pass another labels_path or leave it at its default."
        )
    return labels_path


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


_LIVE_TEMPS: set[str] = set()


class _AtomicNpy:
    """A .npy file written under a temporary name and renamed onto ``path`` by :meth:`commit`."""

    def __init__(self, path: str, shape, dtype):
        folder, base = os.path.split(os.path.abspath(path))
        self.path = path
        self.tmp = os.path.join(folder, f".{base}.jaxmix-{os.getpid()}-{os.urandom(4).hex()}.tmp")
        self.file = open(self.tmp, "xb")
        _LIVE_TEMPS.add(self.tmp)
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
            "fortran_order": False,
            "shape": tuple(shape),
        }
        np.lib.format.write_array_header_2_0(self.file, header)
        self.committed = False

    def write(self, rows) -> None:
        self.file.write(np.ascontiguousarray(rows).data)

    def finish(self) -> None:
        """Flush every byte to disk (raises on a full disk before anything is published)."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()

    def commit(self) -> None:
        os.replace(self.tmp, self.path)
        _LIVE_TEMPS.discard(self.tmp)
        self.committed = True

    def discard(self) -> None:
        if self.committed:
            return
        self.file.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass
        _LIVE_TEMPS.discard(self.tmp)


def _write_npy_stream(
    run, path: str, labels_path: str | os.PathLike | None, num_rows, empty=None
) -> None:
    """Call ``run(callback)`` and write the rows it hands over to ``path`` (labels to
    ``labels_path``), each through an :class:`_AtomicNpy` of ``num_rows`` rows.

    The files are published (labels first, then records) only after ``run`` returns and every
    byte is on disk; an exception, Ctrl-C or SIGTERM on the way removes the temporary files and
    leaves the targets as they were. ``empty``: ``(rows, labels or None)``, zero-row arrays
    written when ``run`` hands over nothing (a process that owns no rows), so that the file
    still has the stream's width and dtype.
    """
    files: dict[str, _AtomicNpy] = {}

    def callback(start, xs, ls=None):
        if "x" not in files:
            files["x"] = _AtomicNpy(path, (num_rows,) + tuple(xs.shape[1:]), xs.dtype)
            if ls is not None:
                if labels_path is None:
                    raise ValueError("labels were produced but no labels_path was given.")
                shape = (num_rows,) + tuple(ls.shape[1:])
                files["l"] = _AtomicNpy(os.fspath(labels_path), shape, ls.dtype)
        files["x"].write(xs)
        if ls is not None:
            files["l"].write(ls)

    with _remove_on_sigterm():
        try:
            run(callback)
            if "x" not in files and empty is not None:
                callback(0, *empty)
            for f in files.values():  # every byte written: publish (labels first, then records)
                f.finish()
            for name in ("l", "x"):
                if name in files:
                    files[name].commit()
        finally:
            for f in files.values():
                f.discard()  # no-op after commit


class _Terminated(SystemExit):
    """Raised by the SIGTERM handler so that ``finally`` blocks remove temporary files."""


@contextlib.contextmanager
def _remove_on_sigterm():
    """While writing: SIGTERM raises :class:`_Terminated` (exit status 143 when uncaught).

    Installed only in the main thread and only over the default disposition (a handler the
    program installed itself is left alone; our ``finally`` still runs if it raises).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        yield
        return

    def handler(signum, frame):
        raise _Terminated(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- Multi-process streaming: each process writes its own rows -------------------------------
#
# The stream is the one above (row r is row r % block_size of the block-(r // block_size) mixup
# call). Its blocks are split into P contiguous ranges, one per process (in process order):
# process p owns blocks [p M, (p + 1) M) with M = ceil(ceil(num_samples / block_size) / P), i.e.
# rows [p M block_size, min((p + 1) M block_size, num_samples)). Each step is one program over
# every process's devices: device l of process p computes `k` consecutive blocks of p's range
# (after one all-gather of the table when it is split by rows), and each process hands its own
# devices' rows, in row order, to the callback or its file. Concatenating the processes' files
# in process order gives exactly the rows ``mixup_to_npy`` writes for the whole table.


def _process_layout(mesh):
    """Process ranks in order, this process's rank, devices per process, local rank per slot."""
    devices = list(mesh.devices.flat)
    procs = sorted({d.process_index for d in devices})
    per = {p: [d for d in devices if d.process_index == p] for p in procs}
    sizes = {len(v) for v in per.values()}
    if len(sizes) != 1:
        raise ValueError(
            f"the mesh must hold the same number of devices from every process, got "
            f"{ {p: len(v) for p, v in per.items()} }."
        )
    local_rank = [per[d.process_index].index(d) for d in devices]
    proc_rank = [procs.index(d.process_index) for d in devices]
    return len(procs), procs.index(jax.process_index()), sizes.pop(), proc_rank, local_rank


@eqx.filter_jit
def _device_blocks(
    key, first_blocks, x, labels, tau, scheme, num_blocks, block_size, replace, mesh, split
):
    """Row-blocks for every mesh device: (devices, num_blocks * block_size, ...) on axis 0.

    One ``shard_map``: a device gathers the table (and labels) if they are split by rows (one
    all-gather, ``split`` says which are), then computes its own blocks, from
    ``first_blocks[device]`` on, with no communication. The only collective is that top-level
    all-gather: none inside the samplers' loops or branches, where host devices could reach
    different collectives first and wait on each other forever.
    """
    from jax.sharding import PartitionSpec as P

    from jaxmix.sharding import _gather_rows

    axis = mesh.axis_names[0]
    x_split, l_split = split

    def local(key, first, x, labels, tau, scheme):
        gather = [a for a, s in ((x, x_split), (labels, l_split)) if s]
        if gather:
            got = iter(_gather_rows(gather, axis))
            x = next(got) if x_split else x
            labels = next(got) if l_split else labels
        out = _blocks(key, first[0], x, labels, tau, scheme, num_blocks, block_size, replace)
        return jax.tree.map(lambda a: a[None], out)

    rows = P(axis)
    specs = (P(), rows, rows if x_split else P(), rows if l_split else P(), P(), P())
    # check_vma=False: the samplers' loops start from device-invariant constants
    return jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=rows, check_vma=False)(
        key, first_blocks, x, labels, tau, scheme
    )


def process_rows(num_samples: int, block_size: int = BLOCK_SIZE, num_processes: int | None = None):
    """The row range [start, stop) of the stream that each process writes, in process order."""
    num_samples = _checks.check_count(num_samples, "num_samples")
    block_size = _checks.check_count(block_size, "block_size")
    p_count = (
        jax.process_count()
        if num_processes is None
        else _checks.check_count(num_processes, "num_processes")
    )
    per = _ceil_div(_ceil_div(num_samples, block_size), p_count) * block_size
    return [(min(p * per, num_samples), min((p + 1) * per, num_samples)) for p in range(p_count)]


def mixup_to_callback_per_process(
    key: PRNGKeyArray,
    x: Float[ArrayLike, " n *features"],
    num_samples: int,
    weights,
    callback: Callable,
    *,
    labels: Int[ArrayLike, " n *k"] | None = None,
    tau: ArrayLike = 0.5,
    replace: bool = True,
    chunk_size: int | None = None,
    block_size: int = BLOCK_SIZE,
    progress: bool = True,
    mesh=None,
) -> tuple[int, int]:
    """Stream rows of a table sharded over processes; each process gets its own rows only.

    Call it on every process with the same arguments (``x`` a global array, e.g. from
    ``jax.make_array_from_process_local_data``; or any array, with one process). This process's
    ``callback(start, x_chunk[, labels_chunk])`` is called, in order, for consecutive ranges that
    cover its rows ``process_rows(num_samples, block_size)[rank]`` (global row numbers ``start``).
    Same rows as :func:`mixup_to_callback` on the whole table. ``chunk_size`` is rows per device
    per step (default about 64 MB); peak memory per process is a few steps plus the table.
    Returns this process's ``(start, stop)``.
    """
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from jaxmix import sharding as _sharding

    key, x, num_samples, scheme, labels, tau, chunk_size, block_size = _validate(
        key, x, num_samples, weights, labels, tau, replace, chunk_size, block_size
    )
    if mesh is None:
        mesh = _sharding._global_mesh(x) or _sharding.row_mesh()
    mesh = _sharding._auto(mesh)
    if not _checks.is_global(x):
        x = jax.device_put(x, NamedSharding(mesh, P()))
    if labels is not None and not _checks.is_global(labels):
        labels = jax.device_put(labels, NamedSharding(mesh, P()))
    p_count, rank, per_proc, proc_rank, local_rank = _process_layout(mesh)
    start, stop = process_rows(num_samples, block_size, p_count)[rank]
    blocks_per_proc = _ceil_div(_ceil_div(num_samples, block_size), p_count)
    k = max(1, chunk_size // block_size)  # blocks per device per step
    step_rows = k * per_proc * block_size  # rows per process per step
    sharding = NamedSharding(mesh, P(mesh.axis_names[0]))
    split = (
        _sharding._row_split(x, mesh, "x"),
        labels is not None and _sharding._row_split(labels, mesh, "labels"),
    )
    bar = ProgressBar(stop - start, desc=f"jaxmix.stream[{rank}]", unit="rows", enable=progress)

    def launch(c):
        fb = np.array(
            [
                proc_rank[s] * blocks_per_proc + c * k * per_proc + local_rank[s] * k
                for s in range(mesh.devices.size)
            ],
            dtype=np.uint32,
        )
        first = jax.make_array_from_callback(fb.shape, sharding, lambda idx: fb[idx])
        args = (key, first, x, labels, tau, scheme, k, block_size, replace, mesh, split)
        return _device_blocks(*args)

    def local_rows(a):
        shards = sorted(a.addressable_shards, key=lambda s: s.index[0].start or 0)
        return np.concatenate([np.asarray(s.data).reshape((-1,) + a.shape[2:]) for s in shards])

    num_steps = -(-blocks_per_proc // (k * per_proc))
    try:
        pending = launch(0)
        for c in range(num_steps):
            out = pending
            if c + 1 < num_steps:
                pending = launch(c + 1)  # every process launches the same steps, in order
            row0 = start + c * step_rows
            size = max(0, min(step_rows, stop - row0))
            if size:
                if labels is None:
                    callback(row0, local_rows(out)[:size])
                else:
                    callback(row0, local_rows(out[0])[:size], local_rows(out[1])[:size])
                bar.update(size)
            del out
    finally:
        bar.close()
    return start, stop


def mixup_to_npy_per_process(
    key: PRNGKeyArray,
    x: Float[ArrayLike, " n *features"],
    num_samples: int,
    weights,
    path: str | os.PathLike,
    *,
    labels: Int[ArrayLike, " n *k"] | None = None,
    labels_path: str | os.PathLike | None = None,
    tau: ArrayLike = 0.5,
    replace: bool = True,
    chunk_size: int | None = None,
    block_size: int = BLOCK_SIZE,
    progress: bool = True,
    mesh=None,
):
    """Each process writes its rows of the stream to its own .npy file.

    ``path`` may hold ``{process}`` (e.g. ``"syn-{process}.npy"``); without it, process p
    writes ``<stem>.process<p>.npy``. Labels go to ``labels_path`` (same rule; default: this
    process's path with ``.labels.npy`` for ``.npy``). Process p's file holds rows
    ``process_rows(num_samples, block_size)[p]``; read the whole stream back with::

        parts = [np.load(path_of(p), mmap_mode="r") for p in range(num_processes)]
        rows = np.concatenate(parts)   # = mixup_to_npy on the whole table (same key, block_size)

    Returns this process's ``path`` (or ``(path, labels_path)``).
    """
    rank = jax.process_index()
    path = _check_path(_process_path(_check_path(path, "path"), rank), "path")
    if labels is not None:
        if labels_path is not None:
            labels_path = _process_path(_check_path(labels_path, "labels_path"), rank)
        labels_path = _labels_path(path, labels_path)
    p_count = (
        jax.process_count() if mesh is None else len({d.process_index for d in mesh.devices.flat})
    )
    lo, hi = process_rows(num_samples, block_size, p_count)[rank]  # this process's rows

    def run(callback):
        mixup_to_callback_per_process(
            key,
            x,
            num_samples,
            weights,
            callback,
            labels=labels,
            tau=tau,
            replace=replace,
            chunk_size=chunk_size,
            block_size=block_size,
            progress=progress,
            mesh=mesh,
        )

    # no rows for this process: empty files of the stream's width
    empty_x = np.zeros((0,) + tuple(np.shape(x)[1:]), _checks.float_dtype())
    empty_l = None if labels is None else np.zeros((0,) + tuple(np.shape(labels)[1:]), np.int32)
    _write_npy_stream(run, path, labels_path, hi - lo, empty=(empty_x, empty_l))
    return path if labels is None else (path, labels_path)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _process_path(path: str, rank: int) -> str:
    if "{process}" in path:
        return path.replace("{process}", str(rank))
    stem = path[:-4] if path.endswith(".npy") else path
    return f"{stem}.process{rank}.npy"
