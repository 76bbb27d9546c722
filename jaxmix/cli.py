"""The ``jaxmix`` command line (floor 6): ``synth``, ``report`` and ``design``.

    jaxmix synth IN.csv -o OUT.csv -n N [--seed S] [--weights SPEC] [--delta D] [--eps E]
                 [--tau T] [--categorical COL,...] [--integer COL,...] [--generations G]
                 [--drop-missing] [--quiet]
    jaxmix report REAL.csv SYNTH.csv -o DIR [--weights SPEC] [--delta D] [--eps E] [--tau T]
                 [--categorical COL,...] [--generations G] [--drop-missing]
    jaxmix design --delta D [--eps E] [--tau T]

Weights (SPEC): ``epbeta`` (default: Algorithm 1, ``jaxmix.select_epbeta(delta, eps0=eps,
eps1=eps, tau=tau)`` with delta = 0.05, eps = 0.3), ``uniform`` (Unif(0,1)), ``beta:A,B`` or
``epbeta:A,B,E0,E1`` (explicit parameters).

``synth``: numeric columns are mixed (x~ = W x_i + (1 - W) x_j); non-numeric columns, and those
named in --categorical, are categorical and all cut on the same W (L~ = L_i if W >= tau else
L_j), so their joint distribution is preserved. The output has the input's columns in order and
N rows; numeric columns are floats except those named in --integer (rounded to whole numbers).
--generations G synthesizes G times in a row, each generation from the previous one.

Every user error (missing, empty or malformed file, missing value, unknown column, N <= 0, an
unattainable delta, ...) prints one line ``jaxmix: error: ...`` on stderr and exits with status
2; no output file is written (files are written to a temporary name and renamed on success).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

DEFAULT_DELTA = 0.05
DEFAULT_EPS = 0.3
WEIGHT_SPECS = "epbeta | uniform | beta:A,B | epbeta:A,B,E0,E1"


class UsageError(Exception):
    """A user error: reported as one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) raised as UsageError."""

    def error(self, message):
        raise UsageError(message)


def _floats(text: str, count: int, what: str) -> list[float]:
    parts = [p for p in text.split(",")]
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise UsageError(f"--weights {what}: expected {count} comma-separated numbers, got {text!r}.") from None
    if len(vals) != count:
        raise UsageError(f"--weights {what}: expected {count} comma-separated numbers, got {len(vals)}.")
    return vals


def parse_weights(spec: str | None = "epbeta", *, delta: float = DEFAULT_DELTA, eps: float = DEFAULT_EPS, tau: float = 0.5):
    """The law named by a --weights SPEC (see the module docstring); ValueError on a bad spec
    or an unattainable delta."""
    import jaxmix

    spec = (spec or "epbeta").strip()
    name, _, params = spec.partition(":")
    name = name.strip().lower()
    if name == "uniform" and not params:
        return jaxmix.Uniform()
    if name == "beta" and params:
        a, b = _floats(params, 2, "beta:A,B")
        return jaxmix.Beta(a, b)
    if name == "epbeta" and params:
        a, b, e0, e1 = _floats(params, 4, "epbeta:A,B,E0,E1")
        return jaxmix.EpBeta(a, b, e0, e1)
    if name == "epbeta":
        from jaxmix.select import select_epbeta

        return select_epbeta(delta, eps0=eps, eps1=eps, tau=tau)
    raise UsageError(f"--weights: unknown weights {spec!r}; use one of {WEIGHT_SPECS}.")


def _names(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _add_weight_args(p: argparse.ArgumentParser, *, report: bool = False) -> None:
    p.add_argument("--weights", default="epbeta", metavar="SPEC",
                   help=f"weight law: {WEIGHT_SPECS} (default: epbeta, Algorithm 1 with --delta/--eps)"
                   + ("; the law the synthetic table was made with" if report else ""))
    p.add_argument("--delta", type=float, default=DEFAULT_DELTA,
                   help=f"class-mean shift u = delta for --weights epbeta (default {DEFAULT_DELTA})")
    p.add_argument("--eps", type=float, default=DEFAULT_EPS,
                   help=f"EpBeta support [-eps, 1+eps] for --weights epbeta (default {DEFAULT_EPS})")
    p.add_argument("--tau", type=float, default=0.5, help="cut point for categorical columns (default 0.5)")
    p.add_argument("--generations", type=int, default=1, metavar="G",
                   help="rounds of repeated synthesis, each from the previous one (default 1)")
    p.add_argument("--categorical", default=None, metavar="COL,...",
                   help="numeric columns to treat as categorical (non-numeric ones always are)")
    p.add_argument("--drop-missing", action="store_true", help="drop rows with a missing value instead of failing")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``jaxmix`` command."""
    parser = _Parser(prog="jaxmix", description="Structure-preserving mixup: synthesize tables, report fidelity, design weight laws.")
    sub = parser.add_subparsers(dest="command", metavar="{synth,report,design}", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("synth", help="write a synthetic CSV made by mixup from IN.csv",
                       description="Write N synthetic rows made by mixup from IN.csv to OUT.csv.")
    p.add_argument("input", metavar="IN.csv")
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv")
    p.add_argument("-n", "--num-rows", type=int, required=True, metavar="N", help="rows to synthesize (> 0)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    _add_weight_args(p)
    p.add_argument("--integer", default=None, metavar="COL,...",
                   help="numeric columns to round to whole numbers in the output (others are floats)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary line")

    p = sub.add_parser("report", help="fidelity report of SYNTH.csv against REAL.csv",
                       description="Write DIR/report.md and PNG plots comparing REAL.csv, SYNTH.csv and "
                       "the moments jaxmix.predict gives for the weights used.")
    p.add_argument("real", metavar="REAL.csv")
    p.add_argument("synth", metavar="SYNTH.csv")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    _add_weight_args(p, report=True)

    p = sub.add_parser("design", help="print the EpBeta law Algorithm 1 picks for a delta",
                       description="Print the variance-preserving EpBeta law with class-mean shift u = delta.")
    p.add_argument("--delta", type=float, required=True, help="target class-mean shift u = delta")
    p.add_argument("--eps", type=float, default=DEFAULT_EPS, help=f"support [-eps, 1+eps] (default {DEFAULT_EPS})")
    p.add_argument("--tau", type=float, default=0.5, help="cut point (default 0.5)")
    return parser


def _check_common(args) -> None:
    import math

    for name in ("delta", "eps", "tau"):
        v = getattr(args, name, None)
        if v is not None and not math.isfinite(v):
            raise UsageError(f"--{name} must be a finite number, got {v}.")
    g = getattr(args, "generations", 1)
    if g < 1:
        raise UsageError(f"--generations must be >= 1, got {g}.")


def _load(path, categorical, drop_missing, argname):
    from jaxmix import io

    try:
        return io.read_csv(path, categorical, drop_missing=drop_missing)
    except ValueError as err:
        raise UsageError(str(err)) from None


def cmd_synth(args, out=None) -> int:
    import jax
    import numpy as np

    import jaxmix
    from jaxmix import io
    from jaxmix.progress import progress

    _check_common(args)
    if args.num_rows <= 0:
        raise UsageError(f"-n must be > 0, got {args.num_rows}.")
    if os.path.isdir(args.output):
        raise UsageError(f"{args.output}: is a directory; give a file name for -o.")
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise UsageError(f"{args.output}: the directory {out_dir} does not exist.")
    frame = _load(args.input, _names(args.categorical), args.drop_missing, "IN.csv")
    spec = frame.spec
    integer = _names(args.integer)
    io.check_columns(integer, spec.columns, "--integer")
    for name in integer:
        if name in spec.categorical:
            raise UsageError(f"--integer: column {name!r} is categorical; --integer is for numeric columns.")
    if frame.x.shape[0] < 2:
        raise UsageError(f"{args.input}: mixup needs at least 2 rows, got {frame.x.shape[0]}.")
    weights = parse_weights(args.weights, delta=args.delta, eps=args.eps, tau=args.tau)
    x = frame.x if frame.x.shape[1] else _np_zeros(frame.x.shape[0])
    labels = frame.labels if frame.labels.shape[1] else None
    key = jax.random.key(args.seed)
    show = args.generations > 1 and not args.quiet
    for _ in progress(range(args.generations), desc="generations", enable=show):
        key, sub = jax.random.split(key)
        if labels is None:
            x = jaxmix.mixup(sub, x, args.num_rows, weights, tau=args.tau)
        else:
            x, labels = jaxmix.mixup(sub, x, args.num_rows, weights, labels=labels, tau=args.tau)
    x = jax.device_get(x)[:, : frame.x.shape[1]]
    # float32 (JAX's default) carries about 7 significant digits; do not print float noise
    float_format = "%.7g" if x.dtype == np.float32 else None
    labels = None if labels is None else jax.device_get(labels)
    df = io.to_pandas(x, labels, spec, integer=integer)
    io.write_csv(df, args.output, float_format=float_format)
    if not args.quiet:
        from jaxmix.report import describe_law

        print(f"wrote {len(df)} rows x {len(df.columns)} columns to {args.output} "
              f"(mixed: {len(spec.numeric)} numeric, cut: {len(spec.categorical)} categorical; "
              f"weights {describe_law(weights)}, generations {args.generations}, seed {args.seed})", file=out or sys.stdout)
    return 0


def _np_zeros(n):
    import numpy as np

    return np.zeros((n, 1))


def _align_synth(real, synth, real_path, synth_path):
    """Reorder the synthetic table's columns and recode its categories onto the real ones."""
    import numpy as np

    rs, ss = real.spec, synth.spec
    if set(rs.columns) != set(ss.columns):
        missing = [c for c in rs.columns if c not in ss.columns]
        extra = [c for c in ss.columns if c not in rs.columns]
        what = f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra)}"
        raise UsageError(f"{synth_path}: columns differ from {real_path} ({what}).")
    bad = [c for c in rs.numeric if c not in ss.numeric]
    if bad:
        raise UsageError(f"{synth_path}: column {bad[0]!r} is numeric in {real_path} but not in the synthetic table.")
    x = synth.x[:, [ss.numeric.index(c) for c in rs.numeric]]
    codes = []
    for j, name in enumerate(rs.categorical):
        values = ss.categories[ss.categorical.index(name)]
        real_values = rs.categories[j]
        lookup = {v: i for i, v in enumerate(real_values)}
        lookup.update({str(v): i for i, v in enumerate(real_values)})
        remap = []
        for v in values:
            if v in lookup:
                remap.append(lookup[v])
            elif str(v) in lookup:
                remap.append(lookup[str(v)])
            else:
                raise UsageError(f"{synth_path}: column {name!r} has category {v!r}, which {real_path} does not have.")
        codes.append(np.asarray(remap, np.int64)[synth.labels[:, ss.categorical.index(name)]])
    labels = np.stack(codes, axis=1) if codes else None
    return x, labels


def cmd_report(args, out=None) -> int:
    from jaxmix import report

    _check_common(args)
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UsageError(f"{args.output}: exists and is not a directory.")
    cats = _names(args.categorical)
    real = _load(args.real, cats, args.drop_missing, "REAL.csv")
    # the synthetic table's categorical columns are the real table's, whatever their values look like
    synth = _load(args.synth, (), args.drop_missing, "SYNTH.csv")
    if set(synth.spec.columns) == set(real.spec.columns) and not set(real.spec.categorical) <= set(synth.spec.categorical):
        synth = _load(args.synth, real.spec.categorical, args.drop_missing, "SYNTH.csv")
    x_synth, labels_synth = _align_synth(real, synth, args.real, args.synth)
    if not real.spec.numeric:
        raise UsageError(f"{args.real}: no numeric columns to report on.")
    weights = parse_weights(args.weights, delta=args.delta, eps=args.eps, tau=args.tau)
    fid = report.fidelity(
        real.x, x_synth, weights,
        labels_real=real.labels if real.spec.categorical else None,
        labels_synth=labels_synth,
        names=real.spec.numeric,
        label_names=real.spec.categorical,
        categories=real.spec.categories,
        tau=args.tau,
        generations=args.generations,
    )
    path = report.write_report(args.output, fid, weights, sources=(args.real, args.synth))
    for line in report.headline(fid):
        print(line.replace("**", ""), file=out or sys.stdout)
    print(f"wrote {path} and {', '.join(f'{n}.png' for n in report.FIGURES)} in {args.output}", file=out or sys.stdout)
    return 0


def cmd_design(args, out=None) -> int:
    from jaxmix.report import describe_law, law_moments

    _check_common(args)
    law = parse_weights("epbeta", delta=args.delta, eps=args.eps, tau=args.tau)
    m = law_moments(law, tau=args.tau)
    print(f"law          {describe_law(law)}", file=out or sys.stdout)
    print(f"E[W]         {m['E[W]']:.6g}", file=out or sys.stdout)
    print(f"Var[W]       {m['Var[W]']:.6g}", file=out or sys.stdout)
    print(f"E[W^2]-E[W]  {m['E[W^2]-E[W]']:.3g}   (0: variances and covariances kept; K = {m['K']:.6g})", file=out or sys.stdout)
    print(f"u            {m['u']:.6g}   (class means move by u (mu_l - mean); target delta = {args.delta:g})", file=out or sys.stdout)
    print(f"support      [{m['support_low']:.6g}, {m['support_high']:.6g}]   (tau = {args.tau:g})", file=out or sys.stdout)
    return 0


COMMANDS = {"synth": cmd_synth, "report": cmd_report, "design": cmd_design}


def _error_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return f"jaxmix: error: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``jaxmix`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit status
    (0 success, 2 user error with one line on stderr)."""
    __import__("jaxmix.compile_cache").compile_cache.enable()  # JAXMIX_CACHE_DIR=off disables
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return COMMANDS[args.command](args)
    except SystemExit as exc:  # --help / --version from argparse
        return int(exc.code or 0)
    except (UsageError, ValueError, TypeError) as err:
        print(_error_line(err), file=sys.stderr)
        return 2
    except OSError as err:
        print(_error_line(f"{err.filename + ': ' if err.filename else ''}{err.strerror or err}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jaxmix: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
