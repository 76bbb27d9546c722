"""Shared helpers for the benchmarks: timing, machine description, README table rows."""

from __future__ import annotations

import datetime
import pathlib
import platform
import subprocess
import time

import jax
import numpy as np

README = pathlib.Path(__file__).with_name("README.md")
HEADER = "| benchmark | baseline | ratio | machine | date |\n| --- | --- | --- | --- | --- |\n"


def best_time(fn, *args, repeat: int = 3, warmup: int = 1) -> float:
    """Best wall time of ``fn(*args)`` over ``repeat`` calls (JAX results are waited for)."""
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def interleaved(timers, rounds: int):
    """(rounds, len(timers)) array of timings: each round calls every timer once, in order.

    On this VM the speed drifts by up to 2x over seconds, so a ratio should pair timings taken in
    the same window: compute it per round (a row) and report the median over rounds.
    """
    return np.array([[t() for t in timers] for _ in range(rounds)])


def machine() -> str:
    """CPU model and core count from ``lscpu`` (fallback: platform), plus the JAX backend."""
    model, cores = platform.processor() or platform.machine(), None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            key, _, val = line.partition(":")
            if key.strip() == "Model name":
                model = val.strip()
            if key.strip() == "CPU(s)":
                cores = val.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    dev = jax.devices()[0]
    where = f"{dev.platform}" if dev.platform == "cpu" else f"{dev.platform} {dev.device_kind}"
    return f"{model}, {cores} cores ({where}, jax {jax.__version__})"


def write_row(name: str, baseline: str, ratio: str) -> None:
    """Add or replace the README table row for ``name`` measured on this machine.

    Rows of the same benchmark from other machines stay: figures are kept with their machine.
    """
    text = README.read_text() if README.exists() else "# Benchmarks\n\n" + HEADER
    where = machine()
    row = f"| {name} | {baseline} | {ratio} | {where} | {datetime.date.today().isoformat()} |\n"

    def same(ln):
        cells = [c.strip() for c in ln.split("|")]
        return len(cells) > 5 and cells[1] == name and cells[-3] == where

    lines = [ln for ln in text.splitlines(keepends=True) if not same(ln)]
    text = "".join(lines)
    if "| benchmark | baseline |" not in text:
        text = text.rstrip("\n") + "\n\n" + HEADER
    # insert after the last table row so prose below the table stays below it
    out, inserted = [], False
    rows = text.splitlines(keepends=True)
    last = max(i for i, ln in enumerate(rows) if ln.startswith("|"))
    for i, ln in enumerate(rows):
        out.append(ln if ln.endswith("\n") else ln + "\n")
        if i == last and not inserted:
            out.append(row)
            inserted = True
    README.write_text("".join(out))
