"""The main job (``make demo``): predicted vs realized moments of repeated mixup on the penguins,
then the command line on the bundled table.

1. For Unif(0,1), Beta(0.4, 0.4) and a variance-preserving EpBeta, synthesize generation 1 from
   the 333 penguins and generation t from generation t-1 (20 000 rows each, labels by the cut
   point), and print original vs predicted (``predict`` applied t times) vs realized moments.
2. Run the ``jaxmix`` command line (in-process, ``jaxmix.cli.main``) on the bundled CSV:
   ``design`` (the law Algorithm 1 picks for delta = 0.05), ``synth`` (a synthetic CSV with the
   default weights) and ``report`` (a fidelity report directory), and print where they are.
   Outputs go under ``out/demo/`` (``--out``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import time
from collections.abc import Callable

import jax
from jaxtyping import Array

import jaxmix
from jaxmix.datasets import load_penguins, penguins_path
from jaxmix.io import read_csv
from jaxmix.moments import Summary

SHORT = {
    "bill_length_mm": "bill_len",
    "bill_depth_mm": "bill_dep",
    "flipper_length_mm": "flipper",
    "body_mass_g": "mass",
}


def demo_laws():
    """The three laws the demo compares."""
    return {
        "Unif(0,1)": jaxmix.Uniform(),
        "Beta(0.4,0.4)": jaxmix.Beta(0.4, 0.4),
        "EpBeta(0.78,0.78;0.3,0.3)": jaxmix.EpBeta(0.78, 0.78, 0.3, 0.3),
    }


def run_generations(key, x, labels, law, generations, num_samples, num_classes):
    """Realized Summaries of generations 1..max(generations) of repeated synthesis.

    ``labels`` is (n,) or (n, k); with k columns all are cut on the same weight and the classes
    of the Summary are those of column 0."""
    out = {}
    xs, ls = x, labels
    for t in range(1, max(generations) + 1):
        key, sub = jax.random.split(key)
        xs, ls = jaxmix.mixup(sub, xs, num_samples, law, labels=ls)
        if t in generations:
            out[t] = jaxmix.summarize(xs, ls if ls.ndim == 1 else ls[:, 0], num_classes=num_classes)
    return out


def predicted_generations(summary, law, generations):
    out, s = {}, summary
    for t in range(1, max(generations) + 1):
        s = jaxmix.predict(s, law)
        if t in generations:
            out[t] = s
    return out


def format_table(name, law, table, original, predicted, realized, generations):
    """Rows: variances, one covariance, class means of bill length.

    Columns: the original value, then predicted / realised per generation t.
    """
    k = float(jaxmix.covariance_factor(law))
    u = float(jaxmix.class_mean_shift(law))
    lines = [f"\n{name}:  K = {k:.4f} per generation,  u = {u:.4f}"]
    head = f"{'statistic':<26}{'original':>11}" + "".join(
        f"{f'gen{t} pred':>12}{f'gen{t} real':>12}" for t in generations
    )
    lines += [head, "-" * len(head)]
    names = [SHORT.get(f, f) for f in table.feature_names]
    rows: list[tuple[str, Callable[[Summary], Array]]]
    rows = [(f"var {n}", lambda s, c=c: s.cov[c, c]) for c, n in enumerate(names)]
    rows.append((f"cov {names[0]},{names[2]}", lambda s: s.cov[0, 2]))
    species = table.categories[0]
    rows += [
        (f"mean {names[0]} | {sp}", lambda s, c=c: s.class_means[c, 0])
        for c, sp in enumerate(species)
    ]
    rows += [
        (f"var {names[0]} | {sp}", lambda s, c=c: s.class_covs[c, 0, 0])
        for c, sp in enumerate(species)
    ]
    for label, stat in rows:
        cells = "".join(
            f"{float(stat(predicted[t])):>12.4g}{float(stat(realized[t])):>12.4g}"
            for t in generations
        )
        lines.append(f"{label:<26}{float(stat(original)):>11.4g}{cells}")
    return "\n".join(lines)


def run_cli(out_dir, num_rows, seed) -> dict[str, str]:
    """The command line on the bundled penguins CSV: design, synth, report. Returns the paths."""
    from jaxmix import cli
    from jaxmix.datasets import penguins_path

    os.makedirs(out_dir, exist_ok=True)
    src = str(penguins_path())
    synth_csv = os.path.join(out_dir, "penguins_synth.csv")
    report_dir = os.path.join(out_dir, "report")
    commands = [
        ["design", "--delta", "0.05"],
        [
            "synth",
            src,
            "-o",
            synth_csv,
            "-n",
            str(num_rows),
            "--seed",
            str(seed),
            "--integer",
            "year",
        ],
        ["report", src, synth_csv, "-o", report_dir],
    ]
    for argv in commands:
        shown = ["jaxmix"] + [
            a
            if a != src
            else "$(python -c 'import jaxmix.datasets as d; print(d.penguins_path())')"
            for a in argv
        ]
        print(
            f"\n$ {' '.join(a if a.startswith('$(') else shlex.quote(a) for a in shown)}",
            flush=True,
        )
        status = cli.main(argv)
        if status != 0:
            raise SystemExit(status)
    return {
        "synthetic CSV": synth_csv,
        "report": os.path.join(report_dir, "report.md"),
        "plots": report_dir,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20_000, help="rows per generation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", default=os.path.join("out", "demo"), help="output directory (default out/demo)"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    table = load_penguins()
    # mix exactly what `jaxmix synth` mixes (all 5 numeric columns of the CSV, year last, and the
    # 3 categorical columns cut together), so the command line below reuses the compiled mixup
    frame = read_csv(penguins_path())
    assert (
        frame.spec.numeric[:4] == table.feature_names
        and frame.spec.categorical == table.label_names
    )
    x, labels = frame.x, frame.labels
    species = labels[:, 0]
    num_classes = len(table.categories[0])
    original = jaxmix.summarize(x, species)
    generations = (1, 10)
    print(
        f"Palmer penguins: {x.shape[0]} rows, columns {', '.join(table.feature_names)} (and year, "
        f"also mixed); classes = species {table.categories[0]} (island and sex cut with them)"
    )
    print(
        f"Each generation: {args.samples} rows mixed from the previous one; "
        "pred = jaxmix.predict applied t times, real = summarize of the synthetic rows."
    )
    key = jax.random.key(args.seed)
    for name, law in demo_laws().items():
        key, sub = jax.random.split(key)
        realized = run_generations(sub, x, labels, law, generations, args.samples, num_classes)
        predicted = predicted_generations(original, law, generations)
        print(format_table(name, law, table, original, predicted, realized, generations))
    print("\nThe same on the command line, with the default weights (Algorithm 1, delta = 0.05):")
    paths = run_cli(args.out, args.samples, args.seed)
    print("\nOutputs:")
    for what, path in paths.items():
        print(f"  {what:<14} {os.path.abspath(path)}")
    print(f"\nDone in {time.perf_counter() - start:.1f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
