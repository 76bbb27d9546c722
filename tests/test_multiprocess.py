"""Two processes on localhost (jax.distributed, CPU collectives, 2 devices each) hold a table that
neither holds whole, and get exactly what one device gets.

The pytest test starts this file twice as a script, the way docs/guides/scale.md shows:

    PORT=12345   # any free port
    for i in 0 1; do
      XLA_FLAGS=--xla_force_host_platform_device_count=2 JAX_PLATFORMS=cpu \\
        python tests/test_multiprocess.py $i 2 $PORT /tmp/mp-out &
    done; wait

Each process passes only its half of the rows (``jax.make_array_from_process_local_data``) and
checks, on its own shards:
- validation runs on the devices: a NaN in the other process's rows raises ValueError on both
  (before: ``RuntimeError: Fetching value for jax.Array that spans non-addressable devices``);
- ``mixup_sharded`` with a global table and global labels returns, shard by shard, the exact
  records of one-device ``mixup`` (same key);
- ``summarize`` of the global table (cross-process reduction) equals one-device ``summarize``
  to float32 rounding (rtol 2e-6 relative to the largest entry: sums of 64 terms in another
  order);
- ``mixup_to_npy`` of the global table writes one file per process whose rows are exactly that
  process's range of ``mixup_to_npy`` on the whole table.
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NUM_PROCESSES = 2
TIMEOUT_S = 600  # generous: on a loaded 2-core machine the compiles take minutes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one_device(tmp_path):
    port = _free_port()
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(i), str(NUM_PROCESSES), str(port), str(tmp_path)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(NUM_PROCESSES)
    ]
    deadline = time.monotonic() + TIMEOUT_S
    outs = []
    try:
        for p in procs:
            try:
                outs.append(p.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
            except subprocess.TimeoutExpired:
                pytest.fail(f"multi-process run did not finish in {TIMEOUT_S} s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, (p, out) in enumerate(zip(procs, outs, strict=True)):
        assert p.returncode == 0 and f"MULTIPROCESS-OK {i}" in out, out[-4000:]
    files = sorted(tmp_path.glob("stream.process*.npy"))
    assert [f.name for f in files] == [
        "stream.process0.labels.npy",
        "stream.process0.npy",
        "stream.process1.labels.npy",
        "stream.process1.npy",
    ]


def _worker(pid: int, num_processes: int, port: int, out_dir: str) -> None:
    import jax

    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}", num_processes=num_processes, process_id=pid
    )
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import jaxmix
    from jaxmix import sharding, stream

    assert jax.process_count() == num_processes and len(jax.devices()) == 2 * num_processes
    mesh = sharding.row_mesh()  # all processes' devices
    rng = np.random.default_rng(0)  # every process draws the same table; each passes its half
    n, d = 64, 5
    x = rng.normal(size=(n, d)).astype(np.float32) * np.array([1, 10, 0.1, 3, 100], np.float32)
    labels = rng.integers(0, 3, size=n).astype(np.int32)
    rows = slice(pid * n // num_processes, (pid + 1) * n // num_processes)

    def global_rows(a):
        spec = NamedSharding(mesh, P("rows", *([None] * (a.ndim - 1))))
        return jax.make_array_from_process_local_data(spec, a[rows], a.shape)

    def say(what):
        print(f"[{pid}] {what} ok at {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)

    t0 = time.monotonic()
    gx, gl = global_rows(x), global_rows(labels)
    assert not gx.is_fully_addressable and not gl.is_fully_addressable

    # validation on device: a NaN in process 1's rows is seen by every process
    bad = x.copy()
    bad[-1, 0] = np.nan
    for fn in (
        lambda: jaxmix.summarize(global_rows(bad)),
        lambda: sharding.mixup_sharded(jax.random.key(0), global_rows(bad), 8, jaxmix.Uniform()),
    ):
        try:
            fn()
        except ValueError as err:
            assert "NaN" in str(err), err
        else:
            raise AssertionError("a NaN in a global table was not caught")
    neg = labels.copy()
    neg[-1] = -1
    try:
        jaxmix.summarize(gx, global_rows(neg))
    except ValueError as err:
        assert "negative" in str(err), err
    else:
        raise AssertionError("a negative label in a global array was not caught")

    say("validation")
    key = jax.random.key(7)
    # Uniform weights keep the compile small (the Beta sampler's program takes minutes to compile
    # on a loaded 2-core machine); tests/test_sharding.py checks Beta weights on 2 devices.
    laws = (jaxmix.Uniform(), jaxmix.per_column([jaxmix.Uniform()] * d, labels=jaxmix.Uniform()))
    for law in laws:
        ref_x, ref_l = jaxmix.mixup(key, x, 1000, law, labels=labels)  # one device, whole table
        ref_x, ref_l = np.asarray(ref_x), np.asarray(ref_l)
        out_x, out_l = sharding.mixup_sharded(key, gx, 1000, law, labels=gl)
        assert len(out_x.addressable_shards) == 2
        for out, ref in ((out_x, ref_x), (out_l, ref_l)):
            for shard in out.addressable_shards:
                assert shard.data.shape[0] == 1000 // len(jax.devices()), shard.data.shape
                np.testing.assert_array_equal(np.asarray(shard.data), ref[shard.index])

    say("mixup_sharded")
    one = jaxmix.summarize(x, labels)
    glob = jaxmix.summarize(gx, gl)
    for name in ("mean", "cov", "num_rows", "class_probs", "class_means", "class_covs"):
        a, b = np.asarray(getattr(glob, name)), np.asarray(getattr(one, name))
        assert a.shape == b.shape, (name, a.shape, b.shape)
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6 * np.abs(b).max(), err_msg=name)
    pred_one = jaxmix.predict(one, laws[1])
    pred_glob = jaxmix.predict(glob, laws[1])
    np.testing.assert_allclose(
        np.asarray(pred_glob.cov),
        np.asarray(pred_one.cov),
        rtol=0,
        atol=2e-6 * np.abs(np.asarray(pred_one.cov)).max(),
    )

    say("summarize")
    # streaming: one file per process; together, the rows of the one-table stream
    law = laws[1]
    kw = dict(labels=labels, block_size=64, chunk_size=128, progress=False)
    ref = stream.mixup_to_npy(key, x, 1000, law, os.path.join(out_dir, f"ref{pid}.npy"), **kw)
    kw["labels"] = gl
    mine = stream.mixup_to_npy(key, gx, 1000, law, os.path.join(out_dir, "stream.npy"), **kw)
    start, stop = stream.process_rows(1000, 64)[pid]
    assert stop > start
    for got_path, ref_path in zip(mine, ref, strict=True):
        got, want = np.load(got_path), np.load(ref_path, mmap_mode="r")
        np.testing.assert_array_equal(got, want[start:stop])
    print(f"MULTIPROCESS-OK {pid}", flush=True)
    jax.distributed.shutdown()


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
