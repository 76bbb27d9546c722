"""jaxmix.sharding: row-sharded mixup on 2 host devices equals one-device mixup (same key).

The device count must be fixed before jax is imported, so the check runs in a subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=2; this test session keeps its one device.
The subprocess also reads the compiled program: its only collectives are all-gathers in the
ENTRY computation. A collective inside a while loop or a conditional (where XLA's partitioner
put them when it split the Beta sampler's loops) can deadlock: host devices run independent
regions concurrently on a shared thread pool and can reach their collectives in different orders."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import faulthandler
    faulthandler.dump_traceback_later(200, exit=True)  # a hang prints where it is, then exits
    import re
    import jax, numpy as np, jaxmix
    from jaxmix import sharding
    assert len(jax.devices()) == 2, jax.devices()

    COLLECTIVE = re.compile(
        r"(all-reduce|all-gather|collective-permute|all-to-all|reduce-scatter)(-start)?\\("
    )

    def collectives_outside_entry(hlo):
        # (computation, instruction) for every collective not in the ENTRY computation: one
        # in a while condition/body or a conditional branch can deadlock (devices reach the
        # collectives of independent regions in different orders)
        bad, comp, count = [], None, 0
        for line in hlo.splitlines():
            head = re.match(r"^(ENTRY )?%?([\\w.-]+) .*\\{$", line)
            if head:
                comp = "ENTRY" if head.group(1) else head.group(2)
            elif COLLECTIVE.search(line):
                count += 1
                if comp != "ENTRY":
                    bad.append((comp, line.strip()[:100]))
        return bad, count

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    labels = rng.integers(0, 3, size=64)
    key = jax.random.key(3)
    mesh = jax.make_mesh((2,), ("rows",))  # explicit axes (jax's default); handled too
    # per column: the Beta sampler (a switch over rejection loops) and Uniform draws
    mixed = jaxmix.per_column(
        [jaxmix.Uniform(), jaxmix.EpBeta(0.5, 0.5, 0.1, 0.2), jaxmix.Uniform(-0.5, 1.5)],
        labels=jaxmix.Uniform(),
    )
    x3, labels2 = x[:, :3], rng.integers(0, 4, size=(64, 2))
    cases = [  # (law, table, labels, m, rows per device or None for a replicated output)
        (mixed, x3, labels2, 1000, 500),  # 500 rows a device: not whole 128-lane groups
        (jaxmix.Uniform(), x, labels, 777, None),  # m odd: records gathered and replicated
        (jaxmix.Uniform(), x[:63], None, 998, 499),  # 63 rows: the table is replicated
    ]
    for law, table, lab, m, per in cases:
        ref = jaxmix.mixup(key, table, m, law, labels=lab)  # one device
        ref = ref if lab is not None else (ref,)
        xs = sharding.shard_rows(table, mesh)
        if per is not None:
            assert len(xs.addressable_shards) == 2
        out = sharding.mixup_sharded(key, xs, m, law, labels=lab, mesh=mesh)
        out = out if lab is not None else (out,)
        for o, r in zip(out, ref):
            if per is not None:
                assert o.addressable_shards[0].data.shape[0] == per, o.sharding
            np.testing.assert_array_equal(np.asarray(o), np.asarray(r))
        args = sharding._prepare(key, xs, m, law, lab, 0.5, True, mesh)
        hlo = sharding._sharded_core.lower(*args).compile().compiled.as_text()
        bad, count = collectives_outside_entry(hlo)
        assert not bad, bad
        # one all-gather of a split table (and labels), one of a replicated output, nothing else
        assert count == (table.shape[0] % 2 == 0) + (per is None), (count, m)
    # per-process streaming over both devices: the same structure (its samplers ran in
    # partitioned loops whose conditions were all-reduces)
    from jaxmix import stream
    programs, blocks = [], stream._device_blocks

    def spy(*args):
        programs.append(blocks.lower(*args).compile().compiled.as_text())
        return blocks(*args)

    stream._device_blocks = spy
    seen = []
    stream.mixup_to_callback_per_process(
        key, x, 200, jaxmix.Beta(0.4, 0.4), lambda s, a: seen.append(len(a)), block_size=64,
        chunk_size=64, progress=False, mesh=mesh,
    )
    assert sum(seen) == 200 and len(programs) == 2
    assert collectives_outside_entry(programs[0]) == ([], 0), collectives_outside_entry(programs[0])
    print("SHARDING-OK")
    """
)


@pytest.mark.slow  # a subprocess that compiles the Beta sampler twice: about 20 s on 2 cores
def test_sharded_mixup_matches_one_device():
    """Exact records on 2 host devices, and no collective inside control flow (the program
    deadlocked when the partitioner put them into the sampler's loops and switches)."""
    env = dict(os.environ)
    # the host devices are threads that must meet at every collective; on a loaded 2-core
    # machine one can be starved past XLA's 40 s rendezvous deadline, which aborts the process
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "")
        + " --xla_force_host_platform_device_count=2"
        + " --xla_cpu_collective_call_terminate_timeout_seconds=600"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert res.returncode == 0 and "SHARDING-OK" in res.stdout, res.stdout + res.stderr


def test_mesh_helpers_one_device():
    import jax
    import numpy as np

    from jaxmix import sharding

    mesh = sharding.row_mesh()
    assert mesh.axis_names == ("rows",)
    x = sharding.shard_rows(np.ones((4, 2), np.float32), mesh)
    assert x.shape == (4, 2)
    # a nested list is an array; a scalar is refused with a ValueError (was IndexError), a
    # list was an AttributeError
    assert sharding.shard_rows([[1.0, 2.0], [3.0, 4.0]], mesh).shape == (2, 2)
    with pytest.raises(ValueError, match="rows first"):
        sharding.shard_rows(np.float32(1.0), mesh)
    with pytest.raises(TypeError, match="rows first"):
        sharding.shard_rows("x", mesh)
    with pytest.raises(TypeError, match="mesh"):
        sharding.mixup_sharded(
            jax.random.key(0), np.ones((4, 2)), 3, __import__("jaxmix").Uniform(), mesh="cpu"
        )


def test_process_rows_layout():
    from jaxmix import stream

    # 1000 rows in blocks of 64 = 16 blocks; 3 processes get 6, 6 and 4 blocks (the last one cut)
    assert stream.process_rows(1000, 64, 3) == [(0, 384), (384, 768), (768, 1000)]
    assert stream.process_rows(100, 64, 4) == [(0, 64), (64, 100), (100, 100), (100, 100)]
    assert stream.process_rows(5, 64, 1) == [(0, 5)]


def test_per_process_stream_one_process_equals_stream(tmp_path):
    """With one process the per-process writer writes the single-table stream, bit for bit."""
    import jax
    import numpy as np

    import jaxmix
    from jaxmix import stream

    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 3)).astype(np.float32)
    labels = rng.integers(0, 4, size=30)
    law = jaxmix.per_column([jaxmix.Uniform()] * 3, labels=jaxmix.Uniform())
    kw = dict(labels=labels, block_size=32, chunk_size=64, progress=False)
    ref = stream.mixup_to_npy(jax.random.key(2), x, 300, law, tmp_path / "ref.npy", **kw)
    got = stream.mixup_to_npy_per_process(
        jax.random.key(2), x, 300, law, tmp_path / "syn-{process}.npy", **kw
    )
    assert got == (str(tmp_path / "syn-0.npy"), str(tmp_path / "syn-0.labels.npy"))
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_array_equal(np.load(g), np.load(r))
    seen = []
    stream.mixup_to_callback_per_process(
        jax.random.key(2), x, 300, law, lambda s, a, b: seen.append((s, len(a))), **kw
    )
    assert seen[0][0] == 0 and sum(n for _, n in seen) == 300
    assert all(
        s2 == s1 + n1 for (s1, n1), (s2, _) in zip(seen[:-1], seen[1:], strict=True)
    )  # in order, no gaps
