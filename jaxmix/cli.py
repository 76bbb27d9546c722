"""The ``jaxmix`` command line (floor 6): ``synth``, ``report`` and ``design``.

    jaxmix synth IN.csv -o OUT.csv -n N [--seed S] [--weights SPEC] [--delta D] [--eps E]
                 [--tau T] [--categorical COL,...] [--integer COL,...] [--generations G]
                 [--bounds keep|clip|resample] [--keep-float COL,...]
                 [--missing keep|drop|error] [--quiet]
    jaxmix report REAL.csv SYNTH.csv -o DIR [--weights SPEC] [--delta D] [--eps E] [--tau T]
                 [--categorical COL,...] [--generations G] [--drop-missing]
    jaxmix design --delta D [--eps E] [--tau T] [--minimize-tail]

Weights (SPEC): the grammar of ``jaxmix.specs``: ``epbeta`` (default: Algorithm 1,
``jaxmix.select_epbeta(delta, eps0=eps, eps1=eps, tau=tau)`` with delta = 0.05, eps = 0.3),
``epbeta:DELTA``, ``uniform``, ``beta:A``, ``beta:A,B``, ``epbeta:A,B,E0,E1``.

``synth`` is a thin layer on ``jaxmix.Synthesizer``: numeric (and date) columns are mixed
(x~ = W x_i + (1 - W) x_j); non-numeric columns, and those named in --categorical, are cut on
the same W (L~ = L_i if W >= tau else L_j), so their joint distribution is preserved.
Whole-number columns are rounded (--keep-float opts out), missing values are kept at their real
rate, --bounds says what happens to values outside a column's real range. Rows are written
chunk by chunk; ``OUT.csv.jaxmix.json`` records what was done and ``report`` reads it.

Every user error (missing, empty or malformed file, unknown column, N <= 0, a bad seed or law,
an unattainable delta, an N whose CSV cannot fit on the disk, ...) prints one line
``jaxmix: error: ...`` on stderr and exits with status 2 before any synthesis. Files are
written to a temporary name (a report to a temporary directory) and renamed at the end;
Ctrl-C and SIGTERM remove the temporary file. See docs/guides/cli.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence

from jaxmix.synthesizer import BOUNDS

DEFAULT_DELTA = 0.05
DEFAULT_EPS = 0.3
WEIGHT_SPECS = "uniform | beta:A | beta:A,B | epbeta | epbeta:DELTA | epbeta:A,B,E0,E1"


class UsageError(Exception):
    """A user error: reported as one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) raised as UsageError."""

    def error(self, message):
        raise UsageError(message)


def parse_weights(
    spec: str | None = "epbeta",
    *,
    delta: float = DEFAULT_DELTA,
    eps: float = DEFAULT_EPS,
    tau: float = 0.5,
):
    """The law named by a --weights SPEC (grammar of ``jaxmix.specs``); ValueError on a bad spec,
    an out-of-range parameter or an unattainable delta."""
    from jaxmix import specs

    spec = (spec or "epbeta").strip()
    try:
        return specs.parse_law(spec, delta=delta, eps0=eps, tau=tau)
    except ValueError as err:
        raise UsageError(f"--weights: {err}") from None


def _names(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _add_weight_args(p: argparse.ArgumentParser, *, report: bool = False) -> None:
    side = (
        " (default: from SYNTH.csv.jaxmix.json when present, else {})"
        if report
        else " (default {})"
    )
    p.add_argument(
        "--weights",
        default=None if report else "epbeta",
        metavar="SPEC",
        help=f"weight law: {WEIGHT_SPECS}" + side.format("epbeta, Algorithm 1 with --delta/--eps"),
    )
    p.add_argument(
        "--delta",
        type=float,
        default=DEFAULT_DELTA,
        help=f"class-mean shift u = delta for --weights epbeta (default {DEFAULT_DELTA})",
    )
    p.add_argument(
        "--eps",
        type=float,
        default=DEFAULT_EPS,
        help=f"EpBeta support [-eps, 1+eps] for --weights epbeta (default {DEFAULT_EPS})",
    )
    p.add_argument(
        "--tau",
        type=float,
        default=None if report else 0.5,
        help="cut point for categorical columns" + side.format("0.5"),
    )
    p.add_argument(
        "--generations",
        type=int,
        default=None if report else 1,
        metavar="G",
        help="rounds of repeated synthesis, each from the previous one" + side.format("1"),
    )
    p.add_argument(
        "--categorical",
        default=None,
        metavar="COL,...",
        help="numeric columns to treat as categorical (non-numeric ones always are)",
    )
    if report:
        p.add_argument(
            "--drop-missing",
            action="store_true",
            help="accepted for compatibility: rows with a missing value are always left out of "
            "the moments",
        )
    else:
        p.add_argument(
            "--missing",
            choices=("keep", "drop", "error"),
            default="keep",
            help="missing values: keep (default: kept at their real rate), drop (rows with one), "
            "error",
        )
        p.add_argument("--drop-missing", action="store_true", help="the same as --missing drop")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``jaxmix`` command."""
    parser = _Parser(
        prog="jaxmix",
        description="Structure-preserving mixup: synthesize tables, report fidelity, design "
        "weight laws.",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="{synth,report,design}", parser_class=_Parser
    )
    sub.required = True

    p = sub.add_parser(
        "synth",
        help="write a synthetic CSV made by mixup from IN.csv",
        description="Write N synthetic rows made by mixup from IN.csv to OUT.csv.",
    )
    p.add_argument("input", metavar="IN.csv")
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv")
    p.add_argument(
        "-n",
        "--num-rows",
        type=int,
        required=True,
        metavar="N",
        help="rows to synthesize (> 0); large N is written chunk by chunk",
    )
    p.add_argument("--seed", type=int, default=0, help="PRNG seed in [0, 2^64 - 1] (default 0)")
    _add_weight_args(p)
    p.add_argument(
        "--bounds",
        choices=BOUNDS,
        default="keep",
        help="values outside a column's real [min, max]: keep (default: the theory's records, "
        "moments as predicted), clip (to the nearest end), resample (redraw the record's weight)",
    )
    p.add_argument(
        "--integer",
        default=None,
        metavar="COL,...",
        help="numeric columns to round to whole numbers, besides the detected whole-number columns",
    )
    p.add_argument(
        "--keep-float",
        default=None,
        metavar="COL,...",
        help="whole-number columns NOT to round (they are rounded by default)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary line")

    p = sub.add_parser(
        "report",
        help="fidelity report of SYNTH.csv against REAL.csv",
        description="Write DIR/report.md and PNG plots comparing REAL.csv, SYNTH.csv and "
        "the moments jaxmix.predict gives for the weights used.",
    )
    p.add_argument("real", metavar="REAL.csv")
    p.add_argument("synth", metavar="SYNTH.csv")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    _add_weight_args(p, report=True)

    p = sub.add_parser(
        "design",
        help="print the EpBeta law Algorithm 1 picks for a delta",
        description="Print the variance-preserving EpBeta law with class-mean shift u = delta.",
    )
    p.add_argument("--delta", type=float, required=True, help="target class-mean shift u = delta")
    p.add_argument(
        "--eps",
        type=float,
        default=DEFAULT_EPS,
        help=f"support [-eps, 1+eps] (default {DEFAULT_EPS})",
    )
    p.add_argument("--tau", type=float, default=0.5, help="cut point (default 0.5)")
    p.add_argument(
        "--minimize-tail",
        action="store_true",
        help="also the variance-preserving law with u = delta of least tail factor "
        "d = E[W^2(1-W)^2] (eps0 = 0, eps1 free), beside Algorithm 1's, with d and the "
        "kurtosis of a Gaussian column after 1, 10 and 25 generations",
    )
    return parser


def _check_common(args) -> None:
    import math

    for name in ("delta", "eps", "tau"):
        v = getattr(args, name, None)
        if v is not None and not math.isfinite(v):
            raise UsageError(f"--{name} must be a finite number, got {v}.")
    tau = getattr(args, "tau", None)
    if tau is not None and not 0.0 < tau < 1.0:
        raise UsageError(f"--tau must lie in (0, 1), got {tau:g}.")
    g = getattr(args, "generations", 1)
    if g is not None and g < 1:
        raise UsageError(f"--generations must be >= 1, got {g}.")


def _load(path, categorical, drop_missing, argname, keep_missing=False):
    from jaxmix import io

    try:
        return io.read_csv(path, categorical, drop_missing=drop_missing, keep_missing=keep_missing)
    except ValueError as err:
        raise UsageError(str(err)) from None


MEMORY_ROWS = 1 << 24  # rows of one generation kept in memory when --generations > 1


def _estimated_bytes(frame, num_rows: int) -> int:
    """A lower estimate of the CSV size: 8 bytes per number (7 digits and a comma), the mean
    length of the categories plus a comma per categorical column."""
    spec = frame.spec
    per_row = 8 * len(spec.numeric)
    for cats in spec.categories:
        per_row += 1 + (sum(len(str(c)) for c in cats) // max(len(cats), 1))
    return num_rows * max(per_row, 2)


def sidecar_path(csv_path: str) -> str:
    """Where ``synth`` records what it did: ``OUT.csv.jaxmix.json``."""
    return os.fspath(csv_path) + ".jaxmix.json"


def _sha256(path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cmd_synth(args, out=None) -> int:
    import shutil

    import numpy as np

    from jaxmix import io
    from jaxmix.progress import ProgressBar
    from jaxmix.synthesizer import CHUNK_ROWS, Synthesizer, check_numeric_options, key_from_seed

    if args.num_rows <= 0:
        raise UsageError(f"-n must be > 0, got {args.num_rows}.")
    if not 0 <= args.seed < 2**64:
        raise UsageError(f"--seed must lie in [0, 2^64 - 1], got {args.seed}.")
    _check_common(args)
    if os.path.isdir(args.output):
        raise UsageError(f"{args.output}: is a directory; give a file name for -o.")
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        raise UsageError(f"{args.output}: the directory {out_dir} does not exist.")
    missing = "drop" if args.drop_missing else args.missing
    frame = _load(
        args.input,
        _names(args.categorical),
        missing == "drop",
        "IN.csv",
        keep_missing=missing == "keep",
    )
    spec = frame.spec
    integer, keep_float = _names(args.integer), _names(args.keep_float)
    try:
        check_numeric_options(spec, (("--integer", integer), ("--keep-float", keep_float)))
    except ValueError as err:
        raise UsageError(str(err)) from None
    if frame.x.shape[0] < 2:
        raise UsageError(f"{args.input}: mixup needs at least 2 rows, got {frame.x.shape[0]}.")
    n = args.num_rows
    if args.generations > 1 and n > MEMORY_ROWS:
        raise UsageError(
            f"-n {n} with --generations {args.generations}: every intermediate generation is kept "
            f"in memory, so N is at most {MEMORY_ROWS} rows there; use a smaller N (or "
            "--generations 1, which writes any N chunk by chunk)."
        )
    need, free = _estimated_bytes(frame, n), shutil.disk_usage(out_dir).free
    if need > free:
        raise UsageError(
            f"-n {n}: the CSV would take at least {need / 1e9:.3g} GB but {out_dir} has "
            f"{free / 1e9:.3g} GB free; use a smaller N or another directory."
        )
    weights = parse_weights(args.weights, delta=args.delta, eps=args.eps, tau=args.tau)
    syn = Synthesizer(
        weights,
        bounds=args.bounds,
        tau=args.tau,
        generations=args.generations,
        integer=integer,
        keep_float=keep_float,
    )
    syn._fit_frame(frame)
    key = key_from_seed(args.seed)
    stats: dict = {}
    g = args.generations
    bar = ProgressBar(
        n * g,
        desc="jaxmix synth" + (f" ({g} generations)" if g > 1 else ""),
        unit="rows",
        enable=not args.quiet and (n > CHUNK_ROWS or g > 1),
    )
    float_format = "%.7g" if np.zeros((), np.float32).dtype == _default_float() else None

    def frames():
        yield from syn.sample_chunks(n, key, stats=stats, on_rows=bar.update)

    try:
        io.write_csv_chunks(frames(), args.output, float_format=float_format)
    finally:
        bar.close()
    outside = stats.get("outside", np.zeros(len(spec.numeric), np.int64))
    record = {
        "jaxmix_version": _version(),
        "command": "synth",
        "input": os.path.abspath(args.input),
        "input_sha256": _sha256(args.input),
        "rows": n,
        "seed": args.seed,
        "weights_spec": args.weights,
        **syn.describe(),
        "categorical": list(spec.categorical),
        "outside_range_share": {c: float(outside[k]) / n for k, c in enumerate(spec.numeric)},
    }
    _write_json(sidecar_path(args.output), record)
    if not args.quiet:
        from jaxmix.report import describe_law

        share = float(outside.max()) / n if len(outside) else 0.0
        worst = spec.numeric[int(np.argmax(outside))] if len(outside) else ""
        bound_note = {
            "keep": "kept",
            "clip": "clipped to the real range",
            "resample": "redrawn in range",
        }[args.bounds]
        print(
            f"wrote {n} rows x {len(spec.columns)} columns to {args.output} "
            f"(mixed: {len(spec.numeric)} numeric, cut: {len(spec.categorical)} categorical; "
            f"weights {describe_law(syn.law)}, generations {args.generations}, seed {args.seed}); "
            f"outside the real range: up to {100 * share:.1f} % of values ({worst}), {bound_note}; "
            f"rounded: {', '.join(syn.rounded) or 'none'}; record in {sidecar_path(args.output)}",
            file=out or sys.stdout,
        )
    return 0


def _default_float():
    from jaxmix import _checks

    return _checks.float_dtype()  # no program run (jnp.zeros(()).dtype compiles one)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("jaxmix")
    except Exception:  # pragma: no cover - not installed
        import jaxmix

        return getattr(jaxmix, "__version__", "unknown")


def _write_json(path, obj) -> None:
    import json

    from jaxmix import io

    def _write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True)
            fh.write("\n")

    io.write_atomic(path, _write)


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
        raise UsageError(
            f"{synth_path}: column {bad[0]!r} is numeric in {real_path} but not in the synthetic "
            "table."
        )
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
                raise UsageError(
                    f"{synth_path}: column {name!r} has category {v!r}, which {real_path} does "
                    "not have."
                )
        codes.append(np.asarray(remap, np.int64)[synth.labels[:, ss.categorical.index(name)]])
    labels = np.stack(codes, axis=1) if codes else None
    return x, labels


def _read_sidecar(synth_path):
    import json

    path = sidecar_path(synth_path)
    if not os.path.exists(path):
        return None, path
    try:
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        raise UsageError(
            f"{path}: cannot read the synth record ({' '.join(str(err).split())}); "
            "delete it or give --weights, --tau and --generations."
        ) from None
    return record, path


def cmd_report(args, out=None) -> int:
    from jaxmix import report
    from jaxmix.synthesizer import law_from_description

    _check_common(args)
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UsageError(f"{args.output}: exists and is not a directory.")
    record, record_path = _read_sidecar(args.synth)
    cats = _names(args.categorical)
    if not cats and record and isinstance(record.get("categorical"), list):
        cats = tuple(str(c) for c in record["categorical"])  # as synth split the table
    real = _load(args.real, cats, True, "REAL.csv")  # moments of the complete rows
    # the synthetic table's categorical columns are the real table's, whatever their values are
    synth = _load(args.synth, (), True, "SYNTH.csv")
    if set(synth.spec.columns) == set(real.spec.columns) and not set(real.spec.categorical) <= set(
        synth.spec.categorical
    ):
        synth = _load(args.synth, real.spec.categorical, True, "SYNTH.csv")
    _align_synth(real, synth, args.real, args.synth)  # the errors, with the file names
    if not real.spec.numeric:
        raise UsageError(f"{args.real}: no numeric columns to report on.")
    tau = args.tau if args.tau is not None else float((record or {}).get("tau", 0.5))
    generations = (
        args.generations
        if args.generations is not None
        else int((record or {}).get("generations", 1))
    )
    bounds = (record or {}).get("bounds", "keep")
    if args.weights is not None or record is None:
        weights = parse_weights(args.weights, delta=args.delta, eps=args.eps, tau=tau)
        source = (
            "--weights"
            if args.weights is not None
            else "default --weights epbeta (no synth record found)"
        )
    else:
        try:
            weights = law_from_description(record["law"])
        except (KeyError, TypeError, ValueError) as err:
            raise UsageError(
                f"{record_path}: no usable law in the synth record ({err}); give --weights."
            ) from None
        source = f"synth record {record_path}"
    # the same code as Synthesizer.report: dates on the real table's origin, the real range
    # over all observed values (as --bounds holds to), the outside share over all synthetic values
    observed = _load(args.real, cats, False, "REAL.csv", keep_missing=True)
    observed_synth = _load(args.synth, real.spec.categorical, False, "SYNTH.csv", keep_missing=True)
    fid = report.fidelity_frames(
        real,
        synth,
        weights,
        tau=tau,
        generations=generations,
        bounds=bounds,
        observed=observed,
        observed_synth=observed_synth,
    )
    fid.meta["weights_source"] = source
    path = report.write_report(args.output, fid, weights, sources=(args.real, args.synth))
    for line in report.headline(fid):
        print(line.replace("**", ""), file=out or sys.stdout)
    print(
        f"wrote {path} and {', '.join(report.written_files(fid)[1:])} in {args.output} "
        f"(weights from {source})",
        file=out or sys.stdout,
    )
    return 0


def cmd_design(args, out=None) -> int:
    from jaxmix.report import describe_law, law_moments

    _check_common(args)
    law = parse_weights("epbeta", delta=args.delta, eps=args.eps, tau=args.tau)
    m = law_moments(law, tau=args.tau)
    print(f"law          {describe_law(law)}", file=out or sys.stdout)
    print(f"E[W]         {m['E[W]']:.6g}", file=out or sys.stdout)
    print(f"Var[W]       {m['Var[W]']:.6g}", file=out or sys.stdout)
    print(
        f"E[W^2]-E[W]  {m['E[W^2]-E[W]']:.3g}   (0 up to the rounding of alpha, beta: "
        "variances and covariances kept; "
        f"K = {m['K']:.6g})",
        file=out or sys.stdout,
    )
    print(
        f"u            {m['u']:.6g}   (class means move by u (mu_l - mean); "
        f"target delta = {args.delta:g})",
        file=out or sys.stdout,
    )
    print(
        f"support      [{m['support_low']:.6g}, {m['support_high']:.6g}]   (tau = {args.tau:g})",
        file=out or sys.stdout,
    )
    if args.minimize_tail:
        _print_least_tail(args, law, out or sys.stdout)
    return 0


TAIL_GENERATIONS = (1, 10, 25)  # generations at which ``design --minimize-tail`` shows kurtosis


def _print_least_tail(args, law, out) -> None:
    """``design --minimize-tail``: the least-d law (``jaxmix.higher.min_tail_epbeta``, eps0 = 0)
    beside Algorithm 1's, with d and the kurtosis of a Gaussian column over generations."""
    import jax.numpy as jnp

    from jaxmix import higher
    from jaxmix.report import describe_law, law_moments

    least, _ = higher.min_tail_epbeta(args.delta, eps0=0.0, tau=args.tau)
    laws = {"select_epbeta": law, "least d": least}
    cells: dict[str, list[str]] = {"": list(laws)}
    for g in laws.values():
        m = law_moments(g, tau=args.tau)
        kurt = higher.kurtosis_map(g, 3.0, jnp.asarray(TAIL_GENERATIONS, jnp.float32))
        for key, text in (
            ("E[W^2]-E[W]", f"{m['E[W^2]-E[W]']:.3g}"),
            ("u", f"{m['u']:.6g}"),
            ("support", f"[{m['support_low'] + 0.0:.4g}, {m['support_high']:.4g}]"),
            ("d", f"{float(higher.tail_factor(g)):.4g}"),
            *(
                (f"kurtosis G={t}", f"{float(k):.4g}")
                for t, k in zip(TAIL_GENERATIONS, kurt, strict=True)
            ),
        ):
            cells.setdefault(key, []).append(text)
    print(
        f"least-d law  {describe_law(least)}   (--minimize-tail: variance kept, u = delta, "
        "eps0 = 0, eps1 free)",
        file=out,
    )
    for key, (a, b) in cells.items():
        print(f"{key:<14}{a:<16}{b}", file=out)
    print(
        "(d = E[W^2(1-W)^2]; kurtosis of a Gaussian column (3 in the real table) after G "
        "generations: kurtosis + 3 grows by 1 + 2d per generation)",
        file=out,
    )


COMMANDS = {"synth": cmd_synth, "report": cmd_report, "design": cmd_design}


def _error_line(err: BaseException | str) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return f"jaxmix: error: {text}"


class Terminated(BaseException):
    """Raised by the SIGTERM handler of :func:`main`, so that temporary files are removed on the
    way out (as for Ctrl-C)."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``jaxmix`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit status
    (0 success, 2 user error with one line on stderr, 130 on Ctrl-C, 143 on SIGTERM; an
    interrupted run leaves no file behind)."""
    __import__("jaxmix.compile_cache").compile_cache.enable()  # JAXMIX_CACHE_DIR=off disables
    parser = build_parser()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = parser.parse_args(argv)
        return COMMANDS[args.command](args)
    except SystemExit as exc:  # --help / --version from argparse
        return int(exc.code or 0)
    except (UsageError, ValueError, TypeError) as err:
        print(_error_line(err), file=sys.stderr)
        return 2
    except OSError as err:
        print(
            _error_line(f"{err.filename + ': ' if err.filename else ''}{err.strerror or err}"),
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("jaxmix: interrupted; no output written", file=sys.stderr)
        return 130
    except Terminated:
        print("jaxmix: terminated; no output written", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
