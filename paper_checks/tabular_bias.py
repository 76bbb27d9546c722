"""Bias of synthetic tables: mixup laws against the synthesizers users would pick instead.

Real tables shipped inside installed packages: the bundled Palmer penguins (species as the
class) and scikit-learn's wine (3 cultivars). Each method synthesises a table of the original
size n; over R replications we average, entry by entry, the signed relative bias of:

- means:        (mean~ - mean) / sd                 (in units of the column's sd)
- variances:    var~ / var - 1
- covariances:  (cov~ - cov) / (sd_k sd_l)          (off-diagonal entries; correlation units)
- class means:  (μ~_l - μ_l) / sd
where the original moments use 1/n (the empirical distribution, which every synthesizer is
asked to reproduce) and the synthetic ones 1/(n-1), so that a method that samples the empirical
moments without bias scores 0 in expectation. An entry is "unbiased" (grey in the figure) when
|bias| < 2 SE over the R replications; blue is negative, red positive.

Methods: ``Bootstrap`` (plain resampling of the n records with replacement: unbiased for every
group, so its row is the noise floor at its R), Unif(0,1), Beta(α,α) at a few α, EpBeta at a few δ
(Algorithm 1, ε0 = ε1 = 0.3), and,
when ``jaxmix[baselines]`` (SDV 2.x) is installed and ``--quick`` is off, SDV's
GaussianCopula, CTGAN and TVAE with default settings (fewer replications: they are slow).
Synthesizers that cannot share an environment with JAX (synthcity's TabDDPM diffusion model pins
numpy < 2, JAX 0.10 needs numpy >= 2) run from files: ``--export DIR`` writes the real tables
as ``DIR/real_<table>.csv``; ``paper_checks/synthcity_baseline.py DIR`` (run in the other
environment, no JAX) writes ``DIR/<table>.<method>.<r>.csv`` and
``DIR/<table>.<method>.times.json``;
``--external DIR`` scores those files like any other method. ``--reuse JSON`` copies the
baseline methods (SDV, external) an earlier run already has (per table) instead of running them
again; the mixup laws and the bootstrap always run.

Equal replications: the baselines run R_b = ``--baseline-reps`` times, the mixup laws and the
bootstrap R times. Every method with R > R_b also reports ``groups_equal_reps``: the same summary
over its first R_b replications, so that every method is compared at equal R (mean |bias| over R
replications includes a noise term of about s sqrt(2 / (pi R)) per entry).
Fit time (for EpBeta: Algorithm 1; for the baselines: ``fit``) and sample time are reported side
by side.

    python paper_checks/tabular_bias.py [--quick] [--out DIR] [--no-baselines] [--reuse JSON]
                                        [--export DIR] [--external DIR]
"""

from __future__ import annotations

import importlib
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxmix  # noqa: E402

NAME = "tabular_bias"
LAWS = ("unif", "beta:0.2", "beta:0.4", "beta:2", "epbeta:0.01", "epbeta:0.02", "epbeta:0.05")
QUICK_LAWS = ("unif", "beta:0.4", "epbeta:0.05")
BASELINES = ("GaussianCopula", "CTGAN", "TVAE")
GROUPS = ("mean", "var", "cov", "class_mean")


def load_tables(quick):
    from sklearn.datasets import load_wine

    pen = jaxmix.load_penguins()
    tables = [("penguins", pen.x, pen.labels[:, 0], list(pen.feature_names))]
    if not quick:
        w = load_wine()
        tables.append(
            ("wine", np.asarray(w.data, float), np.asarray(w.target), list(w.feature_names))
        )
    return tables


def reference(x, lab, num_classes):
    """Original moments (1/n), sd and class means."""
    mean = x.mean(0)
    cov = np.cov(x, rowvar=False, bias=True)
    cm = np.stack([x[lab == c].mean(0) for c in range(num_classes)])
    return mean, cov, cm


def rel_bias(xs, ls, ref, num_classes):
    """Signed relative bias of one synthetic table (NumPy), as a dict of group -> vector."""
    mean, cov, cm = ref
    sd = np.sqrt(np.diag(cov))
    m = xs.mean(0)
    c = np.cov(xs, rowvar=False)
    io = np.triu_indices(cov.shape[0], 1)
    cms = np.stack(
        [
            xs[ls == k].mean(0) if np.any(ls == k) else np.full(xs.shape[1], np.nan)
            for k in range(num_classes)
        ]
    )
    return {
        "mean": (m - mean) / sd,
        "var": np.diag(c) / np.diag(cov) - 1.0,
        "cov": (c[io] - cov[io]) / np.outer(sd, sd)[io],
        "class_mean": ((cms - cm) / sd).ravel(),
    }


def jax_rel_bias(x, lab, reps_x, reps_l, ref, num_classes):
    """rel_bias for R synthetic tables at once (jitted, vmapped): dict of (R, entries)."""
    mean, cov, cm = (jnp.asarray(a, x.dtype) for a in ref)
    sd = jnp.sqrt(jnp.diagonal(cov))
    io = np.triu_indices(cov.shape[0], 1)

    def one(xs, ls):
        n = xs.shape[0]
        m = xs.mean(0)
        xc = xs - m
        c = xc.T @ xc / (n - 1)
        oh = jax.nn.one_hot(ls, num_classes, dtype=xs.dtype)
        cnt = oh.sum(0)
        cms = (oh.T @ xs) / jnp.where(cnt > 0, cnt, jnp.nan)[:, None]
        return {
            "mean": (m - mean) / sd,
            "var": jnp.diagonal(c) / jnp.diagonal(cov) - 1.0,
            "cov": (c[io] - cov[io]) / jnp.outer(sd, sd)[io],
            "class_mean": ((cms - cm) / sd).ravel(),
        }

    return jax.vmap(one)(reps_x, reps_l)


def predicted_bias(x, lab, law, num_classes):
    """Expected relative bias from ``predict`` (mixup laws only; exact for unbiased estimators)."""
    s = jaxmix.summarize(x, lab, num_classes=num_classes)
    p = jaxmix.predict(s, law)
    sd = np.sqrt(np.asarray(s.variance))
    io = np.triu_indices(x.shape[1], 1)
    cov, pc = np.asarray(s.cov), np.asarray(p.cov)
    # E[class mean of a finite sample] ≈ population class mean (ratio estimator; O(1/n) aside)
    return {
        "mean": np.zeros(x.shape[1]),
        "var": np.diag(pc) / np.diag(cov) - 1.0,
        "cov": (pc[io] - cov[io]) / np.outer(sd, sd)[io],
        "class_mean": (np.asarray(p.class_means - s.class_means) / sd).ravel(),
    }


@jax.jit
def _replicate(params, keys, x, lab):
    """R synthetic tables of the original size; the law (as EpBeta parameters) is traced, so one
    compiled program serves every law. Data are arguments, not closed-over constants."""
    law = jaxmix.EpBeta(*params)
    return jax.vmap(lambda k: jaxmix.mixup(k, x, x.shape[0], law, labels=lab))(keys)


@jax.jit
def _bootstrap(keys, x, lab):
    """R bootstrap tables: n records drawn uniformly with replacement (no mixing)."""
    n = x.shape[0]
    idx = jax.vmap(lambda k: jax.random.randint(k, (n,), 0, n))(keys)
    return x[idx], lab[idx]


def run_bootstrap(key, x, lab, reps, ref, num_classes):
    xj, lj = jnp.asarray(x, jnp.float32), jnp.asarray(lab)
    keys = jax.random.split(key, reps)
    xs, ls = jax.block_until_ready(_bootstrap(keys, xj, lj))
    times = []
    for k in jax.random.split(key, 5):
        t = C.timer()
        jax.block_until_ready(_bootstrap(k[None], xj, lj))
        times.append(t())
    bias = {
        g: np.asarray(v, np.float64)
        for g, v in jax_rel_bias(xj, lj, xs, ls, ref, num_classes).items()
    }
    # the resampled empirical distribution: every expected relative bias is 0 (1/(n-1) moments)
    pred = {g: np.zeros_like(v[0]) for g, v in bias.items()}
    return bias, 0.0, statistics.median(times), pred


def run_mixup(key, x, lab, spec, reps, ref, num_classes):
    t_fit = C.timer()
    law = C.law_from_spec(spec)  # for EpBeta this is Algorithm 1
    jax.block_until_ready(law)
    fit_s = t_fit() if spec.startswith("epbeta") else 0.0
    n = x.shape[0]
    xj, lj = jnp.asarray(x, jnp.float32), jnp.asarray(lab)
    keys = jax.random.split(key, reps)
    xs, ls = jax.block_until_ready(_replicate(jnp.asarray(C.as_epbeta(law)), keys, xj, lj))
    jax.block_until_ready(jaxmix.mixup(key, xj, n, law, labels=lj))  # compile once
    times = []
    for k in jax.random.split(key, 5):
        t = C.timer()
        jax.block_until_ready(jaxmix.mixup(k, xj, n, law, labels=lj))
        times.append(t())
    bias = {
        g: np.asarray(v, np.float64)
        for g, v in jax_rel_bias(xj, lj, xs, ls, ref, num_classes).items()
    }
    pred = predicted_bias(xj, lj, law, num_classes)
    return bias, fit_s, statistics.median(times), pred


def available(module):
    """(True, "") when ``module`` imports, else (False, why)."""
    try:
        importlib.import_module(module)
    except Exception as err:  # noqa: BLE001 - any import failure means "not installed"
        return False, f"{type(err).__name__}: {err}"
    return True, ""


def run_external(directory, tname, method, ref, num_classes, names):
    """Score synthetic tables written by another environment: DIR/<table>.<method>.<r>.csv
    (the real table's columns and "label") and DIR/<table>.<method>.times.json."""
    import json

    directory = Path(directory)
    out = []
    for path in sorted(directory.glob(f"{tname}.{method}.*.csv")):
        data = np.loadtxt(
            path, delimiter=",", skiprows=1, ndmin=2
        )  # columns as in real_<table>.csv
        assert data.shape[1] == len(names) + 1, (path, data.shape)
        out.append(rel_bias(data[:, :-1], np.rint(data[:, -1]).astype(int), ref, num_classes))
    times = json.loads((directory / f"{tname}.{method}.times.json").read_text())
    bias = {g: np.stack([o[g] for o in out]) for g in GROUPS}
    return bias, statistics.median(times["fit_s"]), statistics.median(times["sample_s"]), len(out)


def export_tables(directory, tables):
    """Write each real table as DIR/real_<table>.csv: its columns, then the integer "label"."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for tname, x, lab, names in tables:
        body = np.column_stack([x, lab])
        header = ",".join([n.replace(",", "_") for n in names] + ["label"])
        np.savetxt(
            directory / f"real_{tname}.csv",
            body,
            delimiter=",",
            header=header,
            comments="",
            fmt=["%.17g"] * x.shape[1] + ["%d"],
        )


def _reused(entry):
    """A method entry read back from JSON, with its bias/se as float arrays (None -> NaN)."""
    for g in entry["groups"].values():
        for k in ("bias", "se"):
            g[k] = np.array([np.nan if v is None else v for v in g[k]], float)
    return entry


def run_sdv(method, x, lab, names, reps, ref, num_classes, seed):
    import pandas as pd
    import torch
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

    cls = {
        "GaussianCopula": GaussianCopulaSynthesizer,
        "CTGAN": CTGANSynthesizer,
        "TVAE": TVAESynthesizer,
    }[method]
    df = pd.DataFrame(x, columns=names)
    df["label"] = [f"c{v}" for v in lab]
    md = Metadata.detect_from_dataframes({"table": df})  # SDV 2.x API
    md.update_column(column_name="label", sdtype="categorical", table_name="table")
    for nm in names:
        md.update_column(column_name=nm, sdtype="numerical", table_name="table")
    out, fits, samples = [], [], []
    for r in range(reps):
        np.random.seed(seed + r)
        torch.manual_seed(seed + r)
        synth = cls(md)
        t = C.timer()
        synth.fit({"table": df})  # SDV 2.x: a dict of one table
        fits.append(t())
        t = C.timer()
        syn = synth.sample(num_rows=x.shape[0])
        samples.append(t())
        if isinstance(syn, dict):  # SDV 2.x returns {table name: DataFrame}
            syn = syn["table"]
        xs = syn[names].to_numpy(float)
        ls = np.array([int(str(v)[1:]) for v in syn["label"]])
        out.append(rel_bias(xs, ls, ref, num_classes))
    bias = {g: np.stack([o[g] for o in out]) for g in GROUPS}
    return bias, statistics.median(fits), statistics.median(samples)


def summarise(bias):
    """Per group: signed mean per entry, its SE, and the mean |bias| over entries."""
    out = {}
    for g, v in bias.items():
        reps = v.shape[0]
        m = np.nanmean(v, 0)
        se = np.nanstd(v, 0, ddof=1) / math.sqrt(reps) if reps > 1 else np.full_like(m, np.nan)
        out[g] = {
            "bias": m,
            "se": se,
            "mean_abs": float(np.nanmean(np.abs(m))),
            "significant_frac": float(np.nanmean(np.abs(m) > 2 * se)) if reps > 1 else None,
        }
    return out


def main(argv=None) -> dict:
    def extra(p):
        p.add_argument("--no-baselines", action="store_true", help="skip SDV even when installed")
        p.add_argument("--baseline-reps", type=int, default=2)
        p.add_argument(
            "--reuse",
            default=None,
            help="earlier tabular_bias.json whose methods are copied, not rerun",
        )
        p.add_argument(
            "--export", default=None, help="write the real tables as DIR/real_<table>.csv and stop"
        )
        p.add_argument(
            "--external",
            default=None,
            help="score DIR/<table>.<method>.<r>.csv from another environment",
        )

    args = C.parse_args(NAME, __doc__.splitlines()[0], argv, extra)
    reps = 40 if args.quick else 200
    laws = QUICK_LAWS if args.quick else LAWS
    if args.export:
        export_tables(args.export, load_tables(False))
        return {"exported": str(args.export)}
    have_sdv, why_sdv = available("sdv.single_table")
    use_sdv = have_sdv and not args.quick and not args.no_baselines
    external = (
        sorted({p.name.split(".")[1] for p in Path(args.external).glob("*.*.times.json")})
        if args.external
        else []
    )
    reuse = {}
    if args.reuse:
        import json

        reuse = json.loads(Path(args.reuse).read_text())["tables"]
    baseline_note = (
        "skipped: --quick"
        if args.quick
        else "skipped: --no-baselines"
        if args.no_baselines
        else (
            "SDV ran"
            if use_sdv
            else f"SDV not installed here (pip install 'jaxmix[baselines]'); {why_sdv}"
        )
        + (f"; scored from files: {', '.join(external)}" if external else "")
        + (f"; methods already in {Path(args.reuse).name} copied from it" if reuse else "")
    )
    key = jax.random.key(args.seed)
    tables_out = {}
    tables = load_tables(args.quick)
    jobs = [(t, ("bootstrap", "Bootstrap")) for t in tables]
    jobs += [(t, ("mixup", s)) for t in tables for s in laws]
    jobs += [
        (t, ("sdv", b))
        for t in tables
        for b in BASELINES
        if use_sdv or b in reuse.get(t[0], {}).get("methods", {})
    ]
    jobs += [(t, ("external", b)) for t in tables for b in external]
    for t in tables:  # other baselines an earlier run scored (e.g. from files): copied
        for m, e in reuse.get(t[0], {}).get("methods", {}).items():
            if (
                e.get("family") in ("sdv", "external")
                and (t, ("sdv", m)) not in jobs
                and (t, ("external", m)) not in jobs
            ):
                jobs.append((t, ("reused", m)))
    for (tname, x, lab, names), (kind, method) in C.progress(
        jobs, desc=NAME, disable=args.no_progress
    ):
        num_classes = int(lab.max()) + 1
        ref = reference(x, lab, num_classes)
        key, sub = jax.random.split(key)
        entry = tables_out.setdefault(
            tname,
            {
                "n": int(x.shape[0]),
                "d": int(x.shape[1]),
                "classes": num_classes,
                "columns": names,
                "methods": {},
            },
        )
        earlier = reuse.get(tname, {}).get("methods", {}).get(method)
        if earlier is not None and kind not in ("mixup", "bootstrap"):
            entry["methods"][method] = _reused(earlier)
            continue
        if kind == "bootstrap":
            bias, fit_s, sample_s, pred = run_bootstrap(sub, x, lab, reps, ref, num_classes)
            res = {
                "label": "Bootstrap",
                "family": "bootstrap",
                "reps": reps,
                "fit_s": fit_s,
                "sample_s": sample_s,
                "predicted": pred,
            }
        elif kind == "mixup":
            bias, fit_s, sample_s, pred = run_mixup(sub, x, lab, method, reps, ref, num_classes)
            res = {
                "label": C.law_label(method),
                "family": "mixup",
                "reps": reps,
                "fit_s": fit_s,
                "sample_s": sample_s,
                "predicted": pred,
            }
        elif kind == "sdv":
            bias, fit_s, sample_s = run_sdv(
                method, x, lab, names, args.baseline_reps, ref, num_classes, args.seed
            )
            res = {
                "label": method,
                "family": "sdv",
                "reps": args.baseline_reps,
                "fit_s": fit_s,
                "sample_s": sample_s,
            }
        else:
            bias, fit_s, sample_s, n_rep = run_external(
                args.external, tname, method, ref, num_classes, names
            )
            res = {
                "label": method,
                "family": "external",
                "reps": n_rep,
                "fit_s": fit_s,
                "sample_s": sample_s,
            }
        res["groups"] = summarise(bias)
        if res["reps"] > args.baseline_reps >= 2:  # the same summary at the baselines' R
            res["equal_reps"] = args.baseline_reps
            res["groups_equal_reps"] = summarise(
                {g: v[: args.baseline_reps] for g, v in bias.items()}
            )
            # expected mean |bias| at R_b, from all disjoint blocks of R_b replications (less noisy
            # than the first block alone), with its SE over blocks
            nb = res["reps"] // args.baseline_reps
            for g, v in bias.items():
                blocks = v[: nb * args.baseline_reps].reshape(nb, args.baseline_reps, -1)
                mabs = np.nanmean(np.abs(np.nanmean(blocks, 1)), -1)
                res["groups_equal_reps"][g]["mean_abs_block_avg"] = float(mabs.mean())
                res["groups_equal_reps"][g]["mean_abs_block_avg_se"] = (
                    float(mabs.std(ddof=1) / math.sqrt(nb)) if nb > 1 else None
                )
        entry["methods"][method] = res

    ranking = {
        tname: sorted(
            (
                (
                    m["label"],
                    float(
                        np.mean([m["groups"][g]["mean_abs"] for g in ("var", "cov", "class_mean")])
                    ),
                )
                for m in t["methods"].values()
            ),
            key=lambda kv: kv[1],
        )
        for tname, t in tables_out.items()
    }
    out = {
        "claim": "EpBeta has the smallest bias of means and covariances among mixup laws "
        "and synthesizers",
        "config": {
            "reps_mixup": reps,
            "reps_baselines": args.baseline_reps,
            "laws": list(laws),
            "baselines": baseline_note,
            "quick": args.quick,
            "seed": args.seed,
        },
        "ranking_mean_abs_bias_var_cov_classmean": ranking,
        "tables": tables_out,
    }
    out["figures"] = [_plot_bias(args.out, tables_out), _plot_times(args.out, tables_out)]
    C.write_json(args.out, NAME, out)
    return out


def _plot_bias(out, tables):
    import matplotlib.pyplot as plt
    from matplotlib.colors import TwoSlopeNorm

    fig, axes = plt.subplots(
        len(tables), 1, figsize=(14, 0.55 * 11 * len(tables) + 1), squeeze=False
    )
    for ax, (tname, t) in zip(axes[:, 0], tables.items(), strict=True):
        methods = list(t["methods"].values())
        rows, sig = [], []
        for m in methods:
            b = np.concatenate([m["groups"][g]["bias"] for g in GROUPS])
            se = np.concatenate([m["groups"][g]["se"] for g in GROUPS])
            rows.append(b)
            sig.append(np.abs(b) >= 2 * np.nan_to_num(se, nan=0.0))
        mat, sig = np.array(rows), np.array(sig)
        lim = max(1e-3, np.nanpercentile(np.abs(mat), 98))
        shown = np.where(sig, mat, np.nan)
        cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.8")
        im = ax.imshow(
            shown,
            aspect="auto",
            cmap=cmap,
            norm=TwoSlopeNorm(0.0, -lim, lim),
            interpolation="nearest",
        )
        ax.set_yticks(range(len(methods)))
        ax.set_yticklabels([m["label"] for m in methods], fontsize=8)
        edges = np.cumsum([len(methods[0]["groups"][g]["bias"]) for g in GROUPS])
        for e in edges[:-1]:
            ax.axvline(e - 0.5, color="k", lw=0.8)
        ax.set_xticks(edges - np.diff(np.concatenate([[0], edges])) / 2 - 0.5)
        ax.set_xticklabels(["means", "variances", "covariances", "class means"])
        ax.set_title(
            f"{tname}: signed relative bias (blue < 0 < red; grey: |bias| < 2 SE)", fontsize=10
        )
        fig.colorbar(im, ax=ax, fraction=0.02)
    return C.save_fig(fig, out, "tabular_bias.png")


def _plot_times(out, tables):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(6 * len(tables), 3.6), squeeze=False)
    for ax, (tname, t) in zip(axes[0], tables.items(), strict=True):
        methods = list(t["methods"].values())
        y = np.arange(len(methods))
        fit = [max(m["fit_s"], 1e-5) for m in methods]
        smp = [max(m["sample_s"], 1e-5) for m in methods]
        ax.barh(y - 0.2, fit, 0.4, label="fit", color="tab:gray")
        ax.barh(y + 0.2, smp, 0.4, label="sample n rows", color="tab:cyan")
        ax.set_yticks(y)
        ax.set_yticklabels([m["label"] for m in methods], fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("seconds (median; mixup fit = 0 except EpBeta's Algorithm 1)")
        ax.set_title(tname)
        ax.legend(fontsize=8)
    return C.save_fig(fig, out, "tabular_bias_times.png")


if __name__ == "__main__":
    main()
