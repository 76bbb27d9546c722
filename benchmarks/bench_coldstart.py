"""Cold start: wall time of fresh processes, as ratios against ``python -c "import jaxmix"``.

Every figure is a new Python process, timed from the outside (start to exit), in this run:

- baseline: ``python -c "import jaxmix"`` (median of the rounds);
- ``jaxmix design --delta 0.05`` and ``jaxmix synth`` of the bundled penguins table (as many
  rows as it has), each *cold* (JAXMIX_CACHE_DIR is a new, empty directory: every program is
  compiled, and written to the cache) and *warm* (the same directory again: programs are read
  back from JAX's persistent compilation cache);
- a script that imports jaxmix and makes the first ``select_epbeta(0.05)``, ``mixup`` (EpBeta
  weights, labels, 1000 rows from the penguins table), ``summarize`` and ``predict`` calls,
  cold and warm. It reports each call's wall time and where it went, from JAX's own compile
  events (``jax.monitoring``): tracing to a jaxpr, lowering to MLIR, XLA's backend compile
  (cold) or reading the cache (warm), and the number of programs.

The cache holds JAX's compiled programs and, for the programs the CLI runs on concrete inputs
(the synthesizer's draw), serialized executables that also skip tracing and lowering
(``jaxmix.compile_cache.call``); ``jaxmix design`` compiles nothing (Algorithm 1 and the law's
moments are computed on the host). Those entries are keyed by a hash of the package's
source, so the processes run a private copy of ``jaxmix/`` taken at the start: an edit to the
checkout during the run cannot turn a warm run into a cold one. The row states the load average
before and after (other work on the machine inflates every figure, the baseline too).

Run: ``python -m benchmarks.bench_coldstart [--quick] [--write] [--rounds R]``. ``--quick`` (the
tests' smoke run) times the import and the first-call script once against the cache the
environment gives (warm when ``make test`` filled it) and writes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_SNAPSHOT: Path | None = None  # a private copy of jaxmix/ the processes import (see docstring)

FIRST_CALLS = r"""
import collections, json, sys, time
t0 = time.perf_counter()
import jax, numpy as np
import jaxmix
from jaxmix import compile_cache, datasets
t_import = time.perf_counter() - t0
cache = compile_cache.enable()
events = collections.defaultdict(float)
counts = collections.defaultdict(int)
def listen(name, secs, **kw):
    events[name] += secs
    counts[name] += 1
jax.monitoring.register_event_duration_secs_listener(listen)
table = datasets.load_penguins()
x, labels = table.x, table.labels
out = {"import_s": t_import, "cache": cache}
def timed(name, fn):
    before, nb = dict(events), dict(counts)
    t = time.perf_counter()
    res = jax.block_until_ready(fn())
    wall = time.perf_counter() - t
    short = lambda k: k.rsplit("/", 1)[-1]
    out[name] = {"wall_s": wall,
                 **{short(k): v - before.get(k, 0.0) for k, v in events.items()},
                 "programs": counts.get("/jax/core/compile/jaxpr_to_mlir_module_duration", 0)
                 - nb.get("/jax/core/compile/jaxpr_to_mlir_module_duration", 0)}
    return res
law = timed("select_epbeta", lambda: jaxmix.select_epbeta(0.05))
timed("mixup", lambda: jaxmix.mixup(jax.random.key(0), x, 1000, law, labels=labels))
s = timed("summarize", lambda: jaxmix.summarize(x, labels[:, 0]))
timed("predict", lambda: jaxmix.predict(s, law))
print("FIRST-CALLS " + json.dumps(out))
"""


def _env(cache) -> dict:
    src = _SNAPSHOT or ROOT
    env = dict(os.environ, PYTHONPATH=str(src) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if cache is not None:
        env["JAXMIX_CACHE_DIR"] = str(cache)
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
    return env


def _run(args, cache=None, timeout=900) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, *args],
        cwd=_SNAPSHOT or ROOT,
        env=_env(cache),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - t0
    if res.returncode:
        raise RuntimeError(f"{args} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return wall, res.stdout


def _first_calls(cache=None) -> dict:
    wall, out = _run(["-c", FIRST_CALLS], cache)
    line = next(ln for ln in out.splitlines() if ln.startswith("FIRST-CALLS "))
    data = json.loads(line[len("FIRST-CALLS ") :])
    data["process_s"] = wall
    return data


def _breakdown(d: dict) -> str:
    parts = []
    for name in ("select_epbeta", "mixup", "summarize", "predict"):
        c = d[name]
        where = (
            f"trace {c.get('jaxpr_trace_duration', 0):.2f}, lower "
            f"{c.get('jaxpr_to_mlir_module_duration', 0):.2f}, XLA "
            f"{c.get('backend_compile_duration', 0):.2f}, cache read "
            f"{c.get('cache_retrieval_time_sec', 0):.2f}"
        )
        parts.append(f"{name} {c['wall_s']:.2f} s ({c['programs']} programs; {where})")
    return "; ".join(parts)


def _snapshot(tmp: str) -> Path:
    dest = Path(tmp) / "src"
    shutil.copytree(ROOT / "jaxmix", dest / "jaxmix", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def main(quick: bool = False, write: bool = False, rounds: int = 3) -> None:
    global _SNAPSHOT
    snap_dir = tempfile.mkdtemp(prefix="bench-coldstart-")
    _SNAPSHOT = _snapshot(snap_dir)
    try:
        _main(quick, write, rounds)
    finally:
        _SNAPSHOT = None
        shutil.rmtree(snap_dir, ignore_errors=True)


def _main(quick: bool, write: bool, rounds: int) -> None:
    load_before = _load()
    base = [_run(["-c", "import jaxmix"])[0] for _ in range(1 if quick else rounds)]
    t_import = statistics.median(base)
    print(f"bench_coldstart: python -c 'import jaxmix' {t_import:.2f} s (median of {len(base)})")
    if quick:
        d = _first_calls(None)
        print(
            f"bench_coldstart: first calls (cache from the environment): {_breakdown(d)}; "
            f"process {d['process_s']:.2f} s = {d['process_s'] / t_import:.1f}x import "
            "(coldstart ratio)"
        )
        return
    synth_in = ROOT / "jaxmix" / "data" / "penguins.csv"
    n_rows = sum(1 for _ in open(synth_in)) - 1
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "design": ["-m", "jaxmix.cli", "design", "--delta", "0.05"],
            "synth": [
                "-m",
                "jaxmix.cli",
                "synth",
                str(synth_in),
                "-o",
                os.path.join(tmp, "syn.csv"),
                "-n",
                str(n_rows),
                "--quiet",
            ],
        }
        for name, args in commands.items():
            walls = {"cold": [], "warm": []}
            for r in range(rounds):
                cache = Path(tmp) / f"cache-{name}-{r}"
                walls["cold"].append(_run(args, cache)[0])
                walls["warm"].append(_run(args, cache)[0])
            results[name] = {k: statistics.median(v) for k, v in walls.items()}
            print(
                f"bench_coldstart: jaxmix {name}: cold {results[name]['cold']:.2f} s "
                f"({results[name]['cold'] / t_import:.1f}x import), "
                f"warm {results[name]['warm']:.2f} s "
                f"({results[name]['warm'] / t_import:.1f}x import)"
            )
        cache = Path(tmp) / "cache-first"
        cold, warm = _first_calls(cache), _first_calls(cache)
    print(
        f"bench_coldstart: first calls, cold: {_breakdown(cold)}; process {cold['process_s']:.2f} s"
    )
    print(
        f"bench_coldstart: first calls, warm: {_breakdown(warm)}; process {warm['process_s']:.2f} s"
    )
    if write:
        from benchmarks._util import write_row

        write_row(
            "`bench_coldstart`: fresh-process wall time, cold (empty compilation cache) / warm",
            f'`python -c "import jaxmix"` in the same run ({t_import:.2f} s, median of {rounds})',
            "; ".join(
                f"`jaxmix {k}` cold {v['cold'] / t_import:.1f}× ({v['cold']:.1f} s), "
                f"warm {v['warm'] / t_import:.1f}× ({v['warm']:.1f} s)"
                for k, v in results.items()
            )
            + f"; first select_epbeta+mixup+summarize+predict script cold "
            f"{cold['process_s'] / t_import:.1f}×, warm {warm['process_s'] / t_import:.1f}×"
            f"; load average (1/5/15 min) {load_before} before, {_load()} after",
        )
        write_row(
            "`bench_coldstart` first calls, cold cache "
            "(seconds: wall; trace / lower / XLA compile)",
            "the same calls with a warm cache (seconds: wall; cache read)",
            "; ".join(
                f"{k} {cold[k]['wall_s']:.2f} ({cold[k].get('jaxpr_trace_duration', 0):.2f} / "
                f"{cold[k].get('jaxpr_to_mlir_module_duration', 0):.2f} / "
                f"{cold[k].get('backend_compile_duration', 0):.2f}, "
                f"{cold[k]['programs']} programs) "
                f"-> warm {warm[k]['wall_s']:.2f} "
                f"({warm[k].get('cache_retrieval_time_sec', 0):.2f})"
                for k in ("select_epbeta", "mixup", "summarize", "predict")
            ),
        )


if __name__ == "__main__":
    argv = sys.argv[1:]
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else 3
    main(quick="--quick" in argv, write="--write" in argv, rounds=rounds)
