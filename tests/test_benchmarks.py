"""The benchmarks run (``python -m benchmarks --quick``, the smoke sizes) so that they never rot.

Only that they run and print their ratios is checked: timings are not asserted in tests
(benchmarks/README.md records the measured figures with their machine).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmarks_quick_run():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    table = (ROOT / "benchmarks" / "README.md").read_text()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for name in (
        "bench_sampling",
        "bench_mixup",
        "bench_stream",
        "bench_select",
        "bench_coldstart",
    ):
        assert f"== {name}: exit 0" in out, out[-3000:]
    for line in ("numpy/jaxmix", "loop/vmap", "peak RSS", "median ratio", "coldstart ratio"):
        assert line in out, (line, out[-3000:])
    assert (ROOT / "benchmarks" / "README.md").read_text() == table  # --quick never writes it


@pytest.mark.slow
def test_gpu_script_dry_run(tmp_path):
    """benchmarks/gpu.sh --dry-run: the GPU run's code on the CPU with small sizes, no install."""
    out_file = tmp_path / "gpu.md"
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--dry-run", "--out", str(out_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    table = out_file.read_text()
    assert "dry run" in table and "Device: cpu" in table
    for name in (
        "sampling Beta",
        "sampling EpBeta",
        "synthesis mixup",
        "many datasets",
        "select_epbeta vmapped",
    ):
        assert name in table, table
    assert table.count("\n| ") >= 6  # header + separator + 5 rows
