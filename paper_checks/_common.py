"""Helpers shared by the paper checks: argument parsing, JSON output, progress bars, laws.

Every check is ``python paper_checks/NAME.py [--quick] [--out DIR] [--seed S]`` and writes
``DIR/NAME.json`` (every number it computed) and PNG plots into ``DIR`` (default
``paper_checks/results/NAME/``). Each script exposes ``main(argv) -> dict`` so tests can call it
in-process.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import jaxmix  # noqa: E402
from jaxmix import specs  # noqa: E402
from jaxmix.progress import progress as _progress  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: colours used by every plot, one per law family
LAW_COLOURS = {"EpBeta": "tab:green", "Unif": "tab:orange", "Beta": "tab:purple"}


def parse_args(name: str, description: str, argv=None, extra=None) -> argparse.Namespace:
    """Common CLI: ``--quick``, ``--out DIR`` (default paper_checks/results/NAME), ``--seed``.

    ``extra(parser)`` may add script-specific options.
    """
    parser = argparse.ArgumentParser(prog=f"paper_checks/{name}.py", description=description)
    parser.add_argument(
        "--quick", action="store_true", help="reduced run (seconds; what the tests run)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / name, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed (jax.random.key)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    if extra is not None:
        extra(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.out = Path(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    _RUN.update(
        command=f"python paper_checks/{name}.py {shlex.join(argv)}".rstrip(),
        started=time.perf_counter(),
        started_utc=_utc_now(),
        git_commit=_commit_at_start(),
    )
    return args


#: the command line and start time of the check running in this process (set by parse_args)
_RUN: dict = {}


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _git(*cmd: str) -> str | None:
    try:
        res = subprocess.run(["git", *cmd], cwd=HERE, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def _commit_at_start() -> str | None:
    """HEAD, with ``+dirty`` when a tracked file other than the checks' own outputs differs from it.

    Taken when the check starts (the code that ran), and blind to ``paper_checks/results`` and the
    README tables, which ``make paper`` itself rewrites while its checks run one after another.
    """
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return None
    dirty = _git(
        "-C",
        str(HERE.parent),
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":(exclude)paper_checks/results",
        ":(exclude)paper_checks/README.md",
    )
    return commit + ("+dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_metadata() -> dict:
    """What makes a result regenerable and its timing interpretable.

    The exact command line (as ``parse_args`` saw it), the git commit when the check started
    (``+dirty`` when tracked code differs from it), jax/jaxmix/numpy versions, x64, backend and
    devices, the machine (platform, CPU model, logical cores, cores this process may use), start
    and end (UTC), the wall time in seconds since ``parse_args`` and the 1/5/15-minute load
    average at the end (the wall time of a run on shared cores depends on it).
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    started = _RUN.get("started")
    return {
        "command": _RUN.get("command", shlex.join(["python", *sys.argv])),
        "git_commit": _RUN["git_commit"] if "git_commit" in _RUN else _commit_at_start(),
        "jax": jax.__version__,
        "jaxlib": getattr(__import__("jaxlib"), "__version__", None),
        "jaxmix": jaxmix.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "x64": bool(jax.config.jax_enable_x64),
        "backend": jax.default_backend(),
        "devices": [str(d.device_kind) for d in jax.devices()],
        "machine": {
            "platform": platform.platform(),
            "cpu": cpu_model(),
            "logical_cores": os.cpu_count(),
            "usable_cores": usable,
        },
        "started_utc": _RUN.get("started_utc"),
        "written_utc": _utc_now(),
        "wall_s": None if started is None else round(time.perf_counter() - started, 1),
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
    }


def to_jsonable(obj):
    """Convert nested containers of jax/numpy arrays and scalars into plain JSON types.

    NaN and inf become None (JSON has no NaN).
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (jax.Array, np.ndarray, np.generic)):
        arr = np.asarray(obj)
        if arr.dtype == bool:
            return arr.tolist()
        if np.issubdtype(arr.dtype, np.integer):
            return arr.tolist()
        return to_jsonable(arr.astype(float).tolist()) if arr.ndim else to_jsonable(float(arr))
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(out: Path, name: str, data: dict) -> Path:
    """Write ``data`` to ``out/NAME.json`` (sorted keys, rounded nothing) and return the path."""
    path = Path(out) / f"{name}.json"
    payload = dict(data)
    payload.setdefault("meta", {})
    payload["meta"].update(run_metadata())
    path.write_text(json.dumps(to_jsonable(payload), indent=1, sort_keys=False, allow_nan=False))
    return path


def write_check(
    args,
    name: str,
    *,
    claim: str,
    config: dict,
    what: str,
    result: str,
    max_abs_z: float,
    passed: bool,
    z_threshold: float | None = None,
    z_count: int | None = None,
    figures=(),
    **data,
) -> dict:
    """The common end of a one-check script: ``{claim, config, **data, checks, figures}``.

    ``config`` gains ``quick`` and ``seed`` from ``args``; ``checks`` is the one entry
    ``{name, what, result, max_abs_z, passed, z_threshold, z_count}`` (the check passes only
    if every one of its z_count |z| is below z_threshold). Written to ``args.out/NAME.json``;
    returned.
    """
    out = {
        "claim": claim,
        "config": {**config, "quick": args.quick, "seed": args.seed},
        **data,
        "checks": [
            {
                "name": name,
                "what": what,
                "result": result,
                "max_abs_z": float(max_abs_z),
                "passed": bool(passed),
                "z_threshold": z_threshold,
                "z_count": z_count,
            }
        ],
        "figures": list(figures),
    }
    write_json(args.out, name, out)
    return out


def save_fig(fig, out: Path, filename: str, dpi: int = 90) -> str:
    """Save a matplotlib figure as PNG into ``out`` and close it; returns the file name."""
    import matplotlib.pyplot as plt

    fig.savefig(Path(out) / filename, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return filename


def progress(iterable, *, total=None, desc="", disable=False):
    """``jaxmix.progress.progress`` (tqdm on stderr, or a plain line every ~10 %)."""
    return _progress(iterable, total=total, desc=desc, enable=not disable)


def epbeta(delta: float, *, eps0: float = 0.3, eps1: float = 0.3, tau: float = 0.5):
    """Algorithm 1: the variance-preserving EpBeta with u = delta (``jaxmix.select_epbeta``)."""
    return jaxmix.select_epbeta(delta, eps0=eps0, eps1=eps1, tau=tau)


def law_from_spec(spec: str):
    """Build a law from a spec of ``jaxmix.specs`` (``unif``, ``beta:A``, ``epbeta:DELTA``, ...)."""
    return specs.parse_law(spec)


def law_label(spec: str) -> str:
    """Human label of a law spec, as in the paper: Unif(0,1), Beta(0.4,0.4), EpBeta(δ=0.05)."""
    return specs.label(spec)


def law_colour(spec: str, shade: float = 1.0):
    """A colour per law family."""
    return {"uniform": "tab:orange", "beta": "tab:purple", "epbeta": "tab:green"}.get(
        specs.family(spec), "tab:gray"
    )


def law_params(law) -> dict:
    """The law's parameters and key moments as plain floats (for the JSON)."""
    out = {"type": type(law).__name__}
    for name in ("alpha", "beta", "eps0", "eps1", "low", "high"):
        if hasattr(law, name):
            out[name] = float(getattr(law, name))
    out["E[W]"] = float(law.moment(1))
    out["E[W^2]"] = float(law.moment(2))
    out["K"] = float(jaxmix.covariance_factor(law))
    out["u"] = float(jaxmix.class_mean_shift(law))
    return out


def as_epbeta(law):
    """Express Unif(0,1), Beta(a,b) and EpBeta as EpBeta(a, b, e0, e1) parameters (4 floats).

    Lets laws of different families be stacked and vmapped as one pytree.
    """
    if isinstance(law, jaxmix.EpBeta):
        return float(law.alpha), float(law.beta), float(law.eps0), float(law.eps1)
    if isinstance(law, jaxmix.Beta):
        return float(law.alpha), float(law.beta), 0.0, 0.0
    if isinstance(law, jaxmix.Uniform) and float(law.low) == 0.0 and float(law.high) == 1.0:
        return 1.0, 1.0, 0.0, 0.0
    raise TypeError(f"cannot express {law!r} as an EpBeta")


def batch_se(stat_fn, x_batches) -> tuple[np.ndarray, np.ndarray]:
    """Batch-means estimate and standard error of a smooth statistic.

    ``x_batches``: a tuple of arrays with a leading batch axis B (B independent batches of
    i.i.d. synthetic records), passed to ``stat_fn(*batch)``, which returns a pytree of arrays.
    Returns pytrees (mean over batches, sd over batches / sqrt(B)), float64 numpy.
    """
    vals = jax.vmap(lambda args: stat_fn(*args))(x_batches)
    vals = jax.tree.map(lambda v: np.asarray(v, dtype=np.float64), vals)
    b = jax.tree.leaves(vals)[0].shape[0]
    mean = jax.tree.map(lambda v: v.mean(0), vals)
    se = jax.tree.map(lambda v: v.std(0, ddof=1) / math.sqrt(b), vals)
    return mean, se


def timer():
    """``t = timer(); ...; t()`` gives elapsed seconds."""
    t0 = time.perf_counter()
    return lambda: time.perf_counter() - t0


def fast_env() -> bool:
    """True when JAXMIX_FAST=1 (the notebooks' fast mode)."""
    return os.environ.get("JAXMIX_FAST", "0") not in ("", "0", "false", "False")


def sig_colour(value: float, se: float, z: float = 2.0):
    """Paper-style colour of a signed bias: grey if |value| < z*se, blue negative, red positive."""
    if not np.isfinite(value) or abs(value) < z * se:
        return "0.6"
    return "tab:blue" if value < 0 else "tab:red"
