"""A diffusion baseline for ``tabular_bias``: synthcity's TabDDPM, run without JAX.

synthcity pins numpy < 2 and JAX 0.10 needs numpy >= 2, so this script runs in its own
environment (``pip install synthcity``) on the real tables that ``tabular_bias.py --export DIR``
wrote, and writes what ``tabular_bias.py --external DIR`` scores:

- ``DIR/<table>.TabDDPM.<r>.csv``: a synthetic table of the real table's size, same columns and
  order, the last column the integer class label (the model's target column);
- ``DIR/<table>.TabDDPM.times.json``: fit and sample seconds per replication.

    python paper_checks/synthcity_baseline.py DIR [--reps 3] [--n-iter N]

The plugin is synthcity's "ddpm" with its default settings unless ``--n-iter`` is given.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--n-iter", type=int, default=None, help="training iterations (default: synthcity's)"
    )
    args = parser.parse_args(argv)

    from synthcity.plugins import Plugins
    from synthcity.plugins.core.dataloader import GenericDataLoader

    for real in sorted(args.directory.glob("real_*.csv")):
        table = real.stem[len("real_") :]
        df = pd.read_csv(real)
        df["label"] = df["label"].astype(int)
        times = {"fit_s": [], "sample_s": [], "plugin": "ddpm", "n_iter": args.n_iter}
        for r in range(args.reps):
            kwargs = {"random_state": args.seed + r}
            if args.n_iter is not None:
                kwargs["n_iter"] = args.n_iter
            model = Plugins().get("ddpm", **kwargs)
            t0 = time.perf_counter()
            model.fit(GenericDataLoader(df, target_column="label"))
            times["fit_s"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            syn = model.generate(count=len(df)).dataframe()[list(df.columns)]
            times["sample_s"].append(time.perf_counter() - t0)
            syn.to_csv(args.directory / f"{table}.TabDDPM.{r}.csv", index=False)
            print(
                f"{table} rep {r}: fit {times['fit_s'][-1]:.1f} s, "
                f"sample {times['sample_s'][-1]:.2f} s",
                flush=True,
            )
        (args.directory / f"{table}.TabDDPM.times.json").write_text(json.dumps(times, indent=1))


if __name__ == "__main__":
    main()
