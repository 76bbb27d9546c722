"""``python -m benchmarks`` (``make bench``): run every benchmark, each in its own process.

Each benchmark module is run as ``python -m benchmarks.<name> [args]`` so that global JAX
settings (``bench_select`` enables float64) do not leak between them. Arguments given here
(``--quick``, ``--write``) are passed on. ``bench_select`` runs when present.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).parent
ORDER = [
    "bench_sampling",
    "bench_mixup",
    "bench_stream",
    "bench_select",
    "bench_coldstart",
    "bench_special",
]


def main(argv: list[str]) -> int:
    names = [n for n in ORDER if (HERE / f"{n}.py").exists()]
    names += sorted(p.stem for p in HERE.glob("bench_*.py") if p.stem not in names)
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", f"benchmarks.{name}", *argv], cwd=HERE.parent)
        print(f"== {name}: exit {rc}, {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
