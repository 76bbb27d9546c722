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
  ``labels_path``, default ``<path stem>.labels.npy``) readable with ``np.load(..., mmap_mode="r")``.

A progress bar shows rows done (tqdm when installed, else a plain line on stderr every 10 %).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float, Int, PRNGKeyArray

from jaxmix import _checks
from jaxmix.generate import _mixup, validate_mixup_args
from jaxmix.progress import ProgressBar

__all__ = ["mixup_to_callback", "mixup_to_npy", "BLOCK_SIZE"]

BLOCK_SIZE = 65536  # rows per internal block: part of the definition of the stream
_TARGET_CHUNK_BYTES = 64 << 20


@functools.partial(eqx.filter_jit, donate="none")
def _blocks(key, first_block, x, labels, tau, scheme, num_blocks: int, block_size: int, replace):
    """Rows of blocks first_block, ..., first_block + num_blocks - 1, concatenated."""
    ids = first_block + jnp.arange(num_blocks, dtype=jnp.uint32)
    keys = jax.vmap(lambda b: jax.random.fold_in(key, b))(ids)
    out = jax.vmap(lambda k: _mixup(k, x, labels, tau, scheme, block_size, replace))(keys)
    if labels is None:
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
    x: Float[ArrayLike, "n *features"],
    num_samples: int,
    weights,
    callback: Callable,
    *,
    labels: Int[ArrayLike, "n *k"] | None = None,
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


def _open_npy(path, shape, dtype):
    f = open(path, "wb")
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": tuple(shape),
    }
    np.lib.format.write_array_header_2_0(f, header)
    return f


def mixup_to_npy(
    key: PRNGKeyArray,
    x: Float[ArrayLike, "n *features"],
    num_samples: int,
    weights,
    path: str | os.PathLike,
    *,
    labels: Int[ArrayLike, "n *k"] | None = None,
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
    xv = _checks.check_data(x, "x", min_rows=2)
    path = _check_path(path, "path")
    shape = (int(num_samples) if isinstance(num_samples, (int, np.integer)) else num_samples,)
    files = {}
    if labels is not None:
        lab = _checks.check_labels(labels, xv.shape[0])
        if labels_path is None:
            stem = path[:-4] if path.endswith(".npy") else path
            labels_path = stem + ".labels.npy"
        labels_path = _check_path(labels_path, "labels_path")
        if _same_file(path, labels_path):
            raise ValueError(
                f"labels_path must differ from path (both are {path!r}); the labels would "
                "overwrite the records. Pass another labels_path or leave it at its default."
            )

    def callback(start, xs, ls=None):
        if "x" not in files:
            files["x"] = _AtomicNpy(path, shape + tuple(xs.shape[1:]), xs.dtype)
            if ls is not None:
                files["l"] = _AtomicNpy(labels_path, shape + tuple(ls.shape[1:]), ls.dtype)
        files["x"].write(xs)
        if ls is not None:
            files["l"].write(ls)

    with _remove_on_sigterm():
        try:
            mixup_to_callback(
                key, xv, num_samples, weights, callback, labels=None if labels is None else lab,
                tau=tau, replace=replace, chunk_size=chunk_size, block_size=block_size,
                progress=progress,
            )
            for f in files.values():  # every byte written: publish (labels first, then records)
                f.finish()
            for name in ("l", "x"):
                if name in files:
                    files[name].commit()
        finally:
            for f in files.values():
                f.discard()  # no-op after commit
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
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {type(path).__name__}.")
    path = os.fspath(path)
    if not isinstance(path, str) or not path or path.endswith(os.sep):
        raise ValueError(f"{name} must name a file, got {path!r}.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{name}: the folder {folder!r} does not exist; create it first.")
    if os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is a folder; pass a file name such as {path!r}/out.npy.")
    return path


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
