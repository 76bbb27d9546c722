"""Benchmark 4: stream 10^8 rows x 16 float32 columns (and labels) into .npy files.

Peak resident memory (``resource.getrusage``, this process) must stay under 1.5 GB although the
output is 6.4 GB (+0.4 GB labels). Also reports the rows/s against in-memory ``jaxmix.mixup`` of
one chunk. The files go to a temporary directory (``--dir`` to choose) and are deleted.
Run: ``python -m benchmarks.bench_stream [--quick] [--write] [--dir PATH]``.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time

import jax
import numpy as np

import jaxmix
from benchmarks._util import best_time, write_row
from jaxmix import stream


def main(quick: bool = False, write: bool = False, directory: str | None = None) -> None:
    m = 2**17 if quick else 10**8  # quick: the tests' smoke run (4 chunks)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10**5, 16)).astype(np.float32)
    labels = rng.integers(0, 5, size=10**5).astype(np.int32)
    law = jaxmix.Beta(0.4, 0.4)
    chunk = 2**15 if quick else 2**20
    t_mem = best_time(lambda k: jaxmix.mixup(k, x, chunk, law, labels=labels), jax.random.key(0))
    with tempfile.TemporaryDirectory(dir=directory) as d:
        path = os.path.join(d, "syn.npy")
        t0 = time.perf_counter()
        p, lp = stream.mixup_to_npy(
            jax.random.key(1), x, m, law, path, labels=labels, chunk_size=chunk, progress=True
        )
        t = time.perf_counter() - t0
        out = np.load(p, mmap_mode="r")
        assert out.shape == (m, 16) and np.isfinite(out[-5:]).all()
        size_gb = (os.path.getsize(p) + os.path.getsize(lp)) / 1e9
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    rate, rate_mem = m / t, chunk / t_mem
    print(
        f"bench_stream: {m:.0e} rows x 16 (+labels) -> {size_gb:.1f} GB of .npy in {t:.1f} s "
        f"({rate:.3g} rows/s; in-memory mixup of one chunk {rate_mem:.3g} rows/s, ratio "
        f"{rate / rate_mem:.2f}); peak RSS {peak_gb:.2f} GB (limit 1.5 GB)"
    )
    if write and not quick:
        write_row(
            f"`bench_stream`: {m:.0e}×16 rows (+labels) to .npy, chunk {chunk}",
            "peak RSS vs 1.5 GB limit; throughput vs in-memory mixup of one chunk",
            f"peak {peak_gb:.2f} GB for {size_gb:.1f} GB written; "
            f"{rate / rate_mem:.2f}× in-memory rows/s",
        )


if __name__ == "__main__":
    args = sys.argv[1:]
    directory = args[args.index("--dir") + 1] if "--dir" in args else None
    main(quick="--quick" in args, write="--write" in args, directory=directory)
