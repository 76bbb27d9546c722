"""Faults while streaming to .npy (jaxmix.stream.mixup_to_npy, and for SIGTERM also the
per-process writer mixup_to_npy_per_process), each in a child process:
SIGTERM and SIGKILL in the middle of the write, and a full disk (RLIMIT_FSIZE, the per-process
file-size limit, makes write() fail with EFBIG as a full disk fails with ENOSPC).

What must hold: the target files are the old complete ones (or absent), never a header over
short data; after SIGTERM or an error no temporary file is left; after SIGKILL (no clean-up
possible) the only leftover is a file named ``.*.jaxmix-*.tmp``.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = textwrap.dedent(
    """
    import os, resource, sys, time
    import jax, numpy as np
    import jaxmix
    from jaxmix import stream

    out, mode = sys.argv[1], sys.argv[2]
    x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    labels = np.arange(64) % 3
    if mode == "fsize":
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    started = []

    def slow(start, xs, ls):  # pace the chunks so that the parent can signal mid-write
        if not started:
            print("WRITING", flush=True)
            started.append(1)
        time.sleep(0.05)

    per_process = mode.endswith("_pp")  # the per-process writer (one process: syn.process0.npy)
    source = "mixup_to_callback_per_process" if per_process else "mixup_to_callback"
    writer = stream.mixup_to_npy_per_process if per_process else stream.mixup_to_npy
    real = getattr(stream, source)

    def paced(*args, callback=None, **kw):
        def both(start, xs, ls):
            slow(start, xs, ls)
            args[4](start, xs, ls)
        return real(*args[:4], both, **kw)

    if mode != "fsize":
        setattr(stream, source, paced)
    try:
        writer(
            jax.random.key(0), x, 400_000, jaxmix.Beta(2.0, 2.0), out, labels=labels,
            chunk_size=4096, block_size=4096, progress=False,
        )
    except OSError as err:
        print("OSERROR", err.errno, flush=True)
        sys.exit(3)
    print("DONE", flush=True)
    """
)


def _spawn(tmp_path, mode):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)  # the file-size limit would also hit the cache
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "syn.npy"), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(tmp_path),
    )


def _wait_for_writing(proc, timeout=300.0):
    deadline = time.time() + timeout
    line = proc.stdout.readline()
    while line and "WRITING" not in line and time.time() < deadline:
        line = proc.stdout.readline()
    assert "WRITING" in line, proc.stderr.read()[-2000:]
    time.sleep(0.3)


def _old_files(tmp_path, stem="syn"):
    old_x, old_l = np.arange(6.0).reshape(3, 2), np.arange(3)
    np.save(tmp_path / f"{stem}.npy", old_x)
    np.save(tmp_path / f"{stem}.labels.npy", old_l)
    return old_x, old_l


def _assert_old_state(tmp_path, old_x, old_l, stem="syn"):
    np.testing.assert_array_equal(np.load(tmp_path / f"{stem}.npy", mmap_mode="r"), old_x)
    np.testing.assert_array_equal(np.load(tmp_path / f"{stem}.labels.npy", mmap_mode="r"), old_l)


def _temps(tmp_path):
    return glob.glob(str(tmp_path / ".*.jaxmix-*.tmp"))


@pytest.mark.parametrize(
    "mode, stem", [("paced", "syn"), ("paced_pp", "syn.process0")], ids=["single", "per_process"]
)
def test_sigterm_mid_write_keeps_the_old_files_and_removes_temporaries(tmp_path, mode, stem):
    old_x, old_l = _old_files(tmp_path, stem)
    proc = _spawn(tmp_path, mode)
    _wait_for_writing(proc)
    assert len(_temps(tmp_path)) == 2  # the write is under way, under temporary names
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr.read()[-2000:]
    _assert_old_state(tmp_path, old_x, old_l, stem)
    assert _temps(tmp_path) == []


def test_sigkill_mid_write_leaves_the_old_files_and_a_marked_partial(tmp_path):
    old_x, old_l = _old_files(tmp_path)
    proc = _spawn(tmp_path, "paced")
    _wait_for_writing(proc)
    proc.kill()
    proc.wait(timeout=120)
    _assert_old_state(tmp_path, old_x, old_l)
    leftovers = _temps(tmp_path)
    assert leftovers and all(os.path.basename(p).startswith(".syn.") for p in leftovers)


def test_full_disk_raises_and_leaves_nothing(tmp_path):
    proc = _spawn(tmp_path, "fsize")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 3 and "OSERROR" in out, err[-2000:]
    assert not (tmp_path / "syn.npy").exists() and not (tmp_path / "syn.labels.npy").exists()
    assert _temps(tmp_path) == []
