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
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for name in ("bench_sampling", "bench_mixup", "bench_stream", "bench_select"):
        assert f"== {name}: exit 0" in out, out[-3000:]
    for line in ("numpy/jaxmix", "loop/vmap", "peak RSS", "median ratio"):
        assert line in out, (line, out[-3000:])
    assert (ROOT / "benchmarks" / "README.md").read_text() == table  # --quick never writes it
