"""Generate every table (and every inline figure) in ``paper_checks/README.md`` from the JSON.

The README holds generated content between marker comments::

    <!-- table:NAME -->
    ...a Markdown table written by this script...
    <!-- /table:NAME -->

and, inside sentences, ``<!-- value:NAME -->text<!-- /value:NAME -->``. Each NAME is a
function of the committed results (``results/CHECK/CHECK.json``) in ``GENERATORS``; nothing
between markers is written by hand.

    python paper_checks/tables.py            # rewrite the README in place
    python paper_checks/tables.py --check    # exit 1 and print a diff when README and JSON disagree

A table whose JSON lacks the fields it needs says so in the table's place instead of guessing.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import sys
from pathlib import Path

__all__ = ["GENERATORS", "load_results", "render", "check", "main"]

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
RESULTS = HERE / "results"
IMPLIED = ("odelta", "regression_categorical", "joint_categorical", "tau")
CHECKS = ("figure1", "regression", "theorems", "tabular_bias", "model_collapse") + IMPLIED

MARKER = re.compile(
    r"<!-- (?P<kind>table|value):(?P<name>[\w.-]+) -->(?P<body>.*?)<!-- /(?P=kind):(?P=name) -->",
    re.S,
)


#: JSONs that live beside another check's: name -> (folder, file stem)
EXTRA = {
    "model_collapse_grid": ("model_collapse", "model_collapse_grid"),
    "higher_moments": ("higher_moments", "higher_moments"),
    "model_collapse_grid_tail": ("model_collapse", "model_collapse_grid_tail"),
}


def load_results(results: Path = RESULTS) -> dict:
    """``{check: json}`` for every check whose JSON exists under ``results``."""
    out = {}
    where = {name: (name, name) for name in CHECKS} | EXTRA
    for name, (folder, stem) in where.items():
        path = Path(results) / folder / f"{stem}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text())
    return out


# ----------------------------------------------------------------------------- formatting helpers


def f(x, nd=3) -> str:
    """Fixed-point with ``nd`` decimals; None (a NaN in the JSON) prints as "n/a"; −0 as 0."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    s = f"{x:.{nd}f}"
    if float(s) == 0:
        s = s.lstrip("-")
    return s.replace("-", "−")


def g(x, sig=3) -> str:
    """``sig`` significant digits."""
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) < 1e-3:
        return f"{x:.{sig - 1}e}".replace("-", "−")
    nd = max(0, sig - 1 - int(math.floor(math.log10(abs(x)))))
    return f(x, nd)


def table(header, rows) -> str:
    """A Markdown table; a "|" inside a cell (|z|, |u − u'|) is escaped so it stays one cell."""

    def cell(c):
        return str(c).replace("\\|", "|").replace("|", "\\|")

    lines = [
        "| " + " | ".join(cell(h) for h in header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def missing(check, what) -> str:
    return f"*Not generated: `results/{check}/{check}.json` {what}.*"


def _welch(a, b):
    """Welch's two-sample t test of mean(a) - mean(b): (difference, t, degrees of freedom, the
    two-sided 5 % critical value of t at those degrees of freedom)."""
    from scipy import stats

    def mv(v):
        m = sum(v) / len(v)
        return m, sum((x - m) ** 2 for x in v) / (len(v) - 1), len(v)

    (ma, va, na), (mb, vb, nb) = mv(a), mv(b)
    sa, sb = va / na, vb / nb
    se = math.sqrt(sa + sb)
    if se == 0:
        return ma - mb, 0.0, float("inf"), 1.96
    df = (sa + sb) ** 2 / (sa**2 / (na - 1) + sb**2 / (nb - 1)) if sa + sb > 0 else float("inf")
    return ma - mb, (ma - mb) / se, df, float(stats.t.ppf(0.975, df))


def _paired(a, b):
    """Paired t test of mean(a - b) over runs that share their data: (difference, t, df, the
    two-sided 5 % critical value)."""
    from scipy import stats

    d = [x - y for x, y in zip(a, b, strict=True)]
    m = sum(d) / len(d)
    sd = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1))
    t = m / (sd / math.sqrt(len(d))) if sd > 0 else 0.0
    return m, t, len(d) - 1, float(stats.t.ppf(0.975, len(d) - 1))


def _bonferroni(z, m):
    """Bonferroni bound on P(the largest of m standard normal |z| >= |z|), however they depend."""
    return min(1.0, m * math.erfc(abs(z) / math.sqrt(2.0)))


def _max_abs_z_chance(zmax, m):
    """P(the largest of m independent standard normal |z| is at least zmax)."""
    return 1.0 - (1.0 - math.erfc(abs(zmax) / math.sqrt(2.0))) ** m


def provenance(data, check) -> str:
    """One line: command, commit, versions, machine, date, wall time (what the JSON records)."""
    m = data.get("meta", {})
    # a check that computes inside ``jax.enable_x64`` states it in its config; the metadata is
    # taken after that context has ended
    x64 = data.get("config", {}).get("x64", m.get("x64"))
    if "command" not in m:
        return (
            f"*`{check}.json` predates run metadata: it records jax {m.get('jax', '?')}, jaxmix "
            f"{m.get('jaxmix', '?')}, backend {m.get('backend', '?')}, "
            f"written {m.get('written_utc', '?')}; "
            "no command line, commit, machine or wall time.*"
        )
    mach = m.get("machine", {})
    wall = m.get("wall_s")
    wall_s = "n/a" if wall is None else f"{wall / 60:.1f} min"
    load = m.get("load_average_at_end")
    if load:
        wall_s += (
            f" (load average {' / '.join(f'{v:.1f}' for v in load)} over 1/5/15 min at the end)"
        )
    commit = m.get("git_commit") or "?"
    dirty = " (tree with uncommitted changes)" if commit.endswith("+dirty") else ""
    return (
        f"`{m['command']}` at commit `{commit[:12]}`{dirty}, jax {m.get('jax')}, "
        f"jaxmix {m.get('jaxmix')}, {mach.get('cpu', '?')} ({mach.get('usable_cores', '?')} of "
        f"{mach.get('logical_cores', '?')} cores usable), {m.get('backend')}, "
        f"{'float64' if x64 else 'float32'}, {m.get('started_utc', '?')}, wall {wall_s}."
    )


# ----------------------------------------------------------------------------- figure1


def figure1_table(r):
    d = r.get("figure1")
    if d is None:
        return missing("figure1", "is missing")
    rows = []
    for law in d["laws"].values():
        gens = {gg["t"]: gg for gg in law["generations"]}
        ts = [t for t in (1, 5, 10) if t in gens]
        meas = ", ".join(g(gens[t]["var_ratio"][0]) for t in ts)
        ses = ", ".join(g(gens[t]["var_ratio_se"][0], 2) for t in ts)
        pred = ", ".join(g(gens[t]["pred_finite_n"][0]) for t in ts)
        zmax = max(abs(z) for gg in law["generations"] for z in gg["z_var"])
        last = law["generations"][-1]
        rows.append(
            [
                law["label"],
                f(law["K"]),
                f"{meas} (SE {ses})",
                pred,
                f(zmax, 1),
                f"{f(last['corr'])} ± {f(last['corr_se'])} (predicted {f(last['pred_corr'])})",
            ]
        )
    ts = ", ".join(str(t) for t in (1, 5, 10))
    return table(
        [
            "law",
            "K",
            f"Var_t/Var_0 at t = {ts}, column 1 (measured)",
            "predicted ((n−1)/n K)^t",
            "max abs z (both columns, all t)",
            f"correlation at t = {d['config']['generations']}",
        ],
        rows,
    )


def figure1_verdict(r):
    """Where the largest |z| of the variance ratios sits, and how many exceed 2 (z's of one chain
    are correlated over t: each generation carries the previous one's deviation forward)."""
    d = r.get("figure1")
    if d is None:
        return missing("figure1", "is missing")
    zs = [
        (abs(z), z, law["label"], c + 1, gg["t"])
        for law in d["laws"].values()
        for gg in law["generations"]
        for c, z in enumerate(gg["z_var"])
    ]
    big = max(zs)
    over2 = sum(1 for z in zs if z[0] > 2)
    return (
        f"over the {len(d['laws'])} laws, both columns and t = 1..{d['config']['generations']} "
        f"({len(zs)} z-scores, correlated over t), the largest |z| is {f(big[0], 1)} ({big[2]}, "
        f"column {big[3]}, t = {big[4]}) and {over2} of {len(zs)} exceed 2"
    )


def figure1_correlation(r):
    """z of the measured correlation against the predicted one, over laws and t."""
    d = r.get("figure1")
    if d is None:
        return missing("figure1", "is missing")
    zs = [
        ((gg["corr"] - gg["pred_corr"]) / gg["corr_se"], law["label"], gg["t"])
        for law in d["laws"].values()
        for gg in law["generations"]
        if gg.get("corr_se")
    ]
    neg = sum(1 for z in zs if z[0] < 0)
    lo = min(zs)
    return (
        f"{neg} of {len(zs)} correlation z-scores are negative, the lowest {f(lo[0], 1)} "
        f"({lo[1]}, t = {lo[2]})"
    )


def figure1_meta(r):
    return (
        provenance(r["figure1"], "figure1") if "figure1" in r else missing("figure1", "is missing")
    )


# ----------------------------------------------------------------------------- regression


def _z_vs_original(e):
    """z of (synthetic − original fit) per coefficient of one regression result."""
    return [a / b for a, b in zip(e["diff_vs_original"], e["diff_vs_original_se"], strict=True)]


def _shared_zs(d):
    """|z| against the original fit of every coefficient of every shared-weight result."""
    return [
        abs(z)
        for key, e in d["results"].items()
        if key.endswith("|shared")
        for z in _z_vs_original(e)
    ]


def _reg_rows(d, n):
    res = d["results"]
    rows = [
        [
            "original data",
            ", ".join(f(v) for v in d["original_fit"][f"n={n}"]["mean_coef"]),
            "—",
            "—",
            "—",
        ]
    ]
    for scheme in ("shared", "per_column"):
        for spec in d["config"]["laws"]:
            e = res.get(f"n={n}|{spec}|{scheme}")
            if e is None:
                continue
            diff, se = e["diff_vs_original"][1], e["diff_vs_original_se"][1]
            zmax = max(abs(z) for z in _z_vs_original(e))
            rows.append(
                [
                    f"{e['law']}, {scheme.replace('_', ' ')}",
                    ", ".join(f(v) for v in e["mean_coef"]),
                    ", ".join(g(v, 4) for v in e["predicted_limit"]),
                    f"{f(diff, 3)} ± {f(se, 3)} (z = {f(diff / se, 1)})",
                    f(zmax, 1),
                ]
            )
    return rows


def regression_table(r):
    d = r.get("regression")
    if d is None:
        return missing("regression", "is missing")
    n = max(d["config"]["sizes"])
    return table(
        [
            f"weights (n = {n})",
            "mean β̂ (intercept, β1=2, β2=−1, β3=0.5)",
            "predicted limit (K⊙Σ)xx⁻¹(K⊙Σ)xy",
            "synthetic − original fit, β1 ± SE",
            "max abs z over the 4 coefficients",
        ],
        _reg_rows(d, n),
    )


def regression_shared_z(r):
    """Largest |z| of (synthetic − original fit) per coefficient, shared weight, per n and law."""
    d = r.get("regression")
    if d is None:
        return missing("regression", "is missing")
    laws = d["config"]["laws"]
    rows = []
    for n in d["config"]["sizes"]:
        row = [str(n)]
        for spec in laws:
            e = d["results"].get(f"n={n}|{spec}|shared")
            if e is None:
                row.append("—")
                continue
            zs = _z_vs_original(e)
            k = max(range(len(zs)), key=lambda i: abs(zs[i]))
            row.append(f"{f(zs[k], 2)} (β{k})")
        rows.append(row)
    labels = [
        next((e["law"] for key, e in d["results"].items() if key.split("|")[1] == s), s)
        for s in laws
    ]
    return table(["n"] + [f"{lab}, shared: largest z" for lab in labels], rows)


def regression_shared_zmax(r):
    return f(max(_shared_zs(r["regression"])), 2)


def regression_shared_zmax_chance(r):
    """How likely the largest shared-weight |z| is under no bias: P(max of N independent |z| >= it)
    for N standard normal z-scores, with the reading that follows from it."""
    zs = _shared_zs(r["regression"])
    zmax, n = max(zs), len(zs)
    p = _bonferroni(zmax, n)
    reading = (
        "within what chance gives"
        if p >= 0.05
        else "beyond what chance gives at 5 %: a deviation the theory does not explain"
    )
    return (
        f"under no bias, the largest of {n} standard normal |z| reaches {f(zmax, 2)} with "
        f"probability at most {f(100 * p, 1)} % (Bonferroni, valid however the z-scores depend "
        f"on each other), so the largest entry is {reading}"
    )


def regression_per_column_limit_z(r):
    """Largest |z| of the per-column synthetic fits' mean against the predicted limit."""
    d = r["regression"]
    reps = d["config"]["reps"]
    zs = [
        ((m - lim) / (sd / math.sqrt(reps)), key)
        for key, e in d["results"].items()
        if key.endswith("|per_column")
        for m, lim, sd in zip(e["mean_coef"], e["predicted_limit"], e["sd_coef"], strict=True)
        if sd > 0
    ]
    z, key = max(zs, key=lambda v: abs(v[0]))
    n, spec, _ = key.split("|")
    p = _bonferroni(z, len(zs))
    return (
        f"against the limit, the largest |z| over the {len(zs)} per-column coefficients is "
        f"{f(abs(z), 2)} ({spec}, {n}; Bonferroni bound on its chance under no bias: "
        f"{f(100 * p, 0)} %)"
    )


def regression_per_column_beta1(r):
    """Mean β̂1 with independent per-column weights at the largest n, per law."""
    d = r["regression"]
    n = max(d["config"]["sizes"])
    parts = []
    for spec in d["config"]["laws"]:
        e = d["results"].get(f"n={n}|{spec}|per_column")
        if e is not None:
            parts.append(f"{e['law']} {f(e['mean_coef'][1], 2)}")
    return f"mean β̂1 at n = {n}: " + ", ".join(parts)


def regression_noise(r):
    """RMSE of β̂1 about the true slope at the smallest n, shared weights, against the original
    fit's sd."""
    d = r["regression"]
    n = min(d["config"]["sizes"])
    rmse = [
        e["rmse_vs_true"][1]
        for key, e in d["results"].items()
        if key.startswith(f"n={n}|") and key.endswith("|shared")
    ]
    sd = d["original_fit"][f"n={n}"]["sd_coef"][1]
    return (
        f"at n = {n} the RMSE of β̂1 is {f(min(rmse), 2)}–{f(max(rmse), 2)} over the shared-weight "
        f"laws against the original fit's sd {f(sd, 2)}"
    )


def regression_meta(r):
    return (
        provenance(r["regression"], "regression")
        if "regression" in r
        else missing("regression", "is missing")
    )


# ----------------------------------------------------------------------------- theorems

CLAIMS = (
    ("thm2_cov", "Thm 2 Cov"),
    ("cor3_corr", "Cor 3 corr"),
    ("cor3_ols", "Cor 3 OLS"),
    ("cor9_var_ratio", "Cor 9 var ratio"),
    ("thm4_probs", "Thm 4 class probs"),
    ("thm4_class_means", "Thm 4 class means"),
    ("thm4_cov_indicator", "Thm 4 Cov[x, 1{L=l}]"),
    ("thm10_11_class_var", "Thms 10–11 class var"),
)


def theorems_z(r):
    d = r.get("theorems")
    if d is None:
        return missing("theorems", "is missing")
    rows = []
    for e in d["max_abs_z_table"]:
        rows.append([e["table"], e["law"]] + [f(e[c], 1) for c, _ in CLAIMS])
    return table(["table", "law"] + [lab for _, lab in CLAIMS], rows)


def theorems_summary(r):
    d = r["theorems"]
    z = d["z_overall"]
    worst = max(d["max_abs_z_table"], key=lambda e: max(e[c] for c, _ in CLAIMS))
    wc = max(CLAIMS, key=lambda c: worst[c[0]])
    return (
        f"{z['count']} z-scores in all: mean {f(z['mean'], 2)}, sd {f(z['sd'], 2)}, "
        f"{f(100 * z['frac_abs_gt_2'], 1)} % beyond ±2 (N(0,1): 4.6 %), "
        f"{f(100 * z['frac_abs_gt_3'], 2)} % beyond ±3 (0.27 %), largest |z| "
        f"{f(z['max_abs'], 2)} ({worst['table']}, {worst['law']}, {wc[1]})"
    )


def theorems_odelta(r):
    d = r["theorems"]
    cm, cv, fd = [], [], []
    for t in d["tables"].values():
        for spec, e in t["laws"].items():
            if spec.startswith("epbeta"):
                cm.append(e["class_mean_error_max"])
                cv.append(e["class_var_error_max"])
                fd.append(e["thm10_11_formula_max_abs_diff"])
    return (
        f"the closed form equals `predict` to {g(max(fd), 1)} (float32); "
        "the O(δ) errors at δ = 0.05 are "
        f"at most {f(max(cm), 3)} sd for class means and {f(max(cv), 3)} for class variances "
        "(in units of the total variance)"
    )


def theorems_meta(r):
    return (
        provenance(r["theorems"], "theorems")
        if "theorems" in r
        else missing("theorems", "is missing")
    )


# ----------------------------------------------------------------------------- tabular_bias

GROUPS = ("mean", "var", "cov", "class_mean")


def _tab_methods(d):
    tables = list(d["tables"])
    order = list(d["tables"][tables[0]]["methods"])
    return tables, order


def tabular_bias_table(r):
    d = r.get("tabular_bias")
    if d is None:
        return missing("tabular_bias", "is missing")
    tables, order = _tab_methods(d)
    header = ["method", "R (replications)"]
    for t in tables:
        header += [f"{t} {gname}" for gname in ("mean", "var", "cov", "class means")]
    header += [f"fit s ({' / '.join(tables)})", f"sample s ({' / '.join(tables)})"]
    rows = []
    for m in order:
        ent = [d["tables"][t]["methods"].get(m) for t in tables]
        first = next(e for e in ent if e is not None)
        row = [first["label"], " / ".join(str(e["reps"]) if e else "—" for e in ent)]
        for e in ent:
            for gr in GROUPS:
                if e is None:
                    row.append("—")
                    continue
                grp = e["groups"][gr]
                sf = grp.get("significant_frac")
                row.append(f"{f(grp['mean_abs'])} ({'n/a' if sf is None else f(sf, 2)})")
        row.append(" / ".join(g(e["fit_s"], 2) if e else "—" for e in ent))
        row.append(" / ".join(g(e["sample_s"], 2) if e else "—" for e in ent))
        rows.append(row)
    return table(header, rows)


def _z(b, se, target=0.0):
    """z-score; None when the SE is missing or zero to rounding (identical replications)."""
    if se is None or b is None or se <= 1e-12 * max(1.0, abs(b)):
        return None
    return (b - target) / se


def tabular_bias_z(r):
    """For every method with R > 1: the largest |z| of the signed bias per group (against 0 for
    means, variances and covariances; against `predict` for the mixup laws' class means)."""
    d = r.get("tabular_bias")
    if d is None:
        return missing("tabular_bias", "is missing")
    tables, order = _tab_methods(d)
    rows = []
    for m in order:
        for t in tables:
            e = d["tables"][t]["methods"].get(m)
            if e is None:
                continue
            row = [e["label"], t, str(e["reps"])]
            for gr in GROUPS:
                zs = _group_zs(e, gr)
                if not zs:
                    row.append("n/a (replications identical: SE 0)")
                    continue
                k = max(range(len(zs)), key=lambda i: abs(zs[i]))
                row.append(f(zs[k], 2))
            rows.append(row)
    return table(
        [
            "method",
            "table",
            "R",
            "mean: largest z",
            "var: largest z",
            "cov: largest z",
            "class means: largest z (vs `predict` for mixup, vs 0 otherwise)",
        ],
        rows,
    )


def _group_zs(e, gr):
    """Signed z of every entry of one method's group with an SE (against 0; class means against
    `predict` when the method has it)."""
    b, se = e["groups"][gr]["bias"], e["groups"][gr]["se"]
    pred = e.get("predicted", {}).get(gr) if gr == "class_mean" else None
    tgt = pred if pred is not None else [0.0] * len(b)
    zs = (_z(bb, ss, tt) for bb, ss, tt in zip(b, se, tgt, strict=True))
    return [z for z in zs if z is not None]


def _largest_z(e, gr):
    """Largest-|z| signed z of one method's group (class means against `predict` when given)."""
    zs = [z for z in _group_zs(e, gr) if z]
    return max(zs, key=abs) if zs else None


def tabular_bias_verdict(r):
    """EpBeta's and the bootstrap's largest |z| ranges, and the baselines against the bootstrap
    at equal R (mean |bias| ratios), in one sentence."""
    d = r.get("tabular_bias")
    if d is None:
        return "*not run yet.*"
    tables, order = _tab_methods(d)

    def zrange(pick):
        zs = [
            abs(z)
            for t in tables
            for m, e in d["tables"][t]["methods"].items()
            if pick(m)
            for z in (_largest_z(e, gr) for gr in GROUPS)
            if z is not None
        ]
        return (min(zs), max(zs)) if zs else None

    ep, bo = zrange(lambda m: m.startswith("epbeta")), zrange(lambda m: m == "Bootstrap")
    parts = []
    if ep and bo:
        parts.append(
            f"the largest |z| per group is between {f(ep[0], 2)} and {f(ep[1], 2)} for the "
            f"three EpBeta laws (both tables, four groups) and between {f(bo[0], 2)} and "
            f"{f(bo[1], 2)} for the bootstrap"
        )
    ratios = {}
    for t in tables:
        ms = d["tables"][t]["methods"]
        boot = ms.get("Bootstrap", {}).get("groups_equal_reps")
        if boot is None:
            continue
        for m, e in ms.items():
            if e.get("family") == "mixup" or m == "Bootstrap" or "groups" not in e:
                continue
            # identical replications (SE 0) are one replication: compare with the bootstrap's
            # floor at R = 1, its block average times sqrt(R_blocks) (noise scales as 1/sqrt(R))
            same = all(_largest_z(e, gr) is None for gr in GROUPS)
            scale = math.sqrt(e["reps"]) if same else 1.0
            for gr in GROUPS:
                r_ = e["groups"][gr]["mean_abs"] / (boot[gr]["mean_abs_block_avg"] * scale)
                ratios.setdefault((e["label"], same), []).append(r_)
    if ratios:
        parts.append(
            "at equal R, each baseline's mean |bias| over the four groups and both tables is "
            + ", ".join(
                f"{f(min(v), 1)}–{f(max(v), 1)}× the bootstrap's"
                + (f" for {lab} (identical replications: R = 1)" if same else f" for {lab}")
                for (lab, same), v in ratios.items()
            )
        )
    return "; ".join(parts) if parts else "*not run yet.*"


def tabular_bias_chance(r):
    """Whether EpBeta's largest |z| per group is what noise gives: for each (law, table, group)
    the chance that the largest of its m independent |z| reaches the measured one, the least
    likely of them, and that chance times the number of groups (a Bonferroni bound)."""
    d = r.get("tabular_bias")
    if d is None:
        return "*not run yet.*"
    tables, _ = _tab_methods(d)
    cells = []
    for t in tables:
        for m, e in d["tables"][t]["methods"].items():
            if not m.startswith("epbeta"):
                continue
            for gr in GROUPS:
                zs = [abs(z) for z in _group_zs(e, gr)]
                if zs:
                    cells.append((_max_abs_z_chance(max(zs), len(zs)), max(zs), len(zs), e, t, gr))
    if not cells:
        return "*not run yet.*"
    p, z, m, e, t, gr = min(cells, key=lambda c: c[0])
    bound = min(1.0, p * len(cells))
    reading = (
        "within the noise of the replications in every group"
        if bound >= 0.05
        else "a deviation beyond the noise of the replications"
    )
    return (
        f"{reading}: the least likely of the {len(cells)} EpBeta groups under no bias is "
        f"{e['label']}'s {gr.replace('_', ' ')} on {t} (largest |z| {f(z, 2)} over {m} entries; "
        f"the largest of {m} independent |z| reaches it with probability {f(100 * p, 1)} %, "
        f"times {len(cells)} groups: {f(100 * bound, 0)} %)"
    )


def tabular_bias_floor(r):
    """Noise floor of mean |bias| at the baselines' R, derived from each mixup method's own spread.

    For an unbiased estimator with per-replication sd s, the mean over R replications has
    E|mean| = s sqrt(2 / (pi R)); s = SE * sqrt(R_mixup) from the JSON. A Bootstrap row measured
    directly replaces this derivation when the JSON has one.
    """
    d = r.get("tabular_bias")
    if d is None:
        return missing("tabular_bias", "is missing")
    tables, order = _tab_methods(d)
    rb = d["config"].get("reps_baselines", 3)
    rows = []
    for m in order:
        ents = [d["tables"][t]["methods"].get(m) for t in tables]
        if any(e is None or e["family"] not in ("mixup", "bootstrap") for e in ents):
            continue
        row = [ents[0]["label"]]
        for e in ents:
            for gr in GROUPS:
                se = [x for x in e["groups"][gr]["se"] if x is not None]
                floor = (
                    sum(x * math.sqrt(e["reps"]) for x in se)
                    / len(se)
                    * math.sqrt(2 / (math.pi * rb))
                )
                row.append(f(floor))
        rows.append(row)
    header = ["method (spread per replication from R = its own reps)"]
    header += [f"{t} {gname}" for t in tables for gname in ("mean", "var", "cov", "class means")]
    return table(header, rows)


def tabular_bias_equal(r):
    """Every method at the baselines' R: mixup laws and the bootstrap summarised over blocks of R_b
    of their replications (mean |bias| averaged over all disjoint blocks, ± its SE)."""
    d = r.get("tabular_bias")
    if d is None:
        return missing("tabular_bias", "is missing")
    tables, order = _tab_methods(d)
    if not any(
        "groups_equal_reps" in e for t in tables for e in d["tables"][t]["methods"].values()
    ):
        return missing(
            "tabular_bias",
            "predates the bootstrap row and the equal-replication summaries "
            "(`groups_equal_reps`); `make paper` writes them",
        )
    rows = []
    for m in order:
        ents = [d["tables"][t]["methods"].get(m) for t in tables]
        first = next(e for e in ents if e is not None)
        row = [
            first["label"],
            " / ".join(str(e.get("equal_reps", e["reps"])) if e else "—" for e in ents),
        ]
        for e in ents:
            for gr in GROUPS:
                if e is None:
                    row.append("—")
                elif "groups_equal_reps" in e:
                    q = e["groups_equal_reps"][gr]
                    se = q.get("mean_abs_block_avg_se")
                    row.append(
                        f"{f(q['mean_abs_block_avg'])}" + ("" if se is None else f" ± {f(se)}")
                    )
                else:
                    row.append(f(e["groups"][gr]["mean_abs"]))
        rows.append(row)
    header = ["method", "R"] + [
        f"{t} {gname}" for t in tables for gname in ("mean", "var", "cov", "class means")
    ]
    return table(header, rows)


def tabular_bias_rb(r):
    return str(r["tabular_bias"]["config"].get("reps_baselines"))


def tabular_bias_ranking(r):
    d = r["tabular_bias"]
    parts = []
    for t, rank in d["ranking_mean_abs_bias_var_cov_classmean"].items():
        parts.append(f"{t}: " + ", ".join(f"{lab} {f(v)}" for lab, v in rank))
    return "; ".join(parts)


def tabular_bias_meta(r):
    return (
        provenance(r["tabular_bias"], "tabular_bias")
        if "tabular_bias" in r
        else missing("tabular_bias", "is missing")
    )


# ----------------------------------------------------------------------------- model_collapse

COLLAPSE_T = (0, 1, 5, 10, 15, 20, 25)


def model_collapse_accuracy(r):
    d = r.get("model_collapse")
    if d is None:
        return missing("model_collapse", "is missing")
    laws = d["laws"]
    tmax = d["config"]["generations"]
    runs = d["config"]["runs"]
    ts = [t for t in COLLAPSE_T if t <= tmax] + [t for t in range(6, 10) if t <= tmax]
    ts = sorted(set(ts))
    specs = list(laws)
    ep = next((s for s in specs if s.startswith("epbeta")), None)
    others = [s for s in specs if s != ep]
    header = ["t"] + [laws[s]["label"] for s in specs]
    header += [f"{laws[ep]['label']} − {laws[s]['label']} (z)" for s in others] if ep else []
    rows = []
    for t in ts:
        row = ["0 (real data)" if t == 0 else str(t)]
        for s in specs:
            row.append(f"{f(laws[s]['accuracy_mean'][t], 1)} ± {f(laws[s]['accuracy_sd'][t], 1)}")
        if ep:
            for s in others:
                a, b = laws[ep], laws[s]
                diff = a["accuracy_mean"][t] - b["accuracy_mean"][t]
                se = math.sqrt((a["accuracy_sd"][t] ** 2 + b["accuracy_sd"][t] ** 2) / runs)
                row.append(f"{f(diff, 1)} ({f(diff / se, 1) if se > 0 else 'n/a'})")
        rows.append(row)
    return table(header, rows)


def model_collapse_lead(r):
    """From which t EpBeta's lead over each other law stays above 2 SE (sd over runs / √runs)."""
    d = r["model_collapse"]
    laws, runs = d["laws"], d["config"]["runs"]
    ep = next(s for s in laws if s.startswith("epbeta"))
    a = laws[ep]
    parts = []
    for s, b in laws.items():
        if s == ep:
            continue
        zs = []
        for t in range(1, d["config"]["generations"] + 1):
            se = math.sqrt((a["accuracy_sd"][t] ** 2 + b["accuracy_sd"][t] ** 2) / runs)
            zs.append((a["accuracy_mean"][t] - b["accuracy_mean"][t]) / se if se > 0 else 0.0)
        start = next((t for t in range(1, len(zs) + 1) if all(z > 2 for z in zs[t - 1 :])), None)
        within = [t for t, z in enumerate(zs, 1) if abs(z) <= 2]
        txt = (
            f"over {b['label']} from t = {start} on (z > 2 at every later t)"
            if start
            else f"over {b['label']} at no t for good"
        )
        if within:
            txt += f"; within 2 SE at t = {', '.join(map(str, within))}"
        parts.append(txt)
    return f"{a['label']} leads " + "; ".join(parts)


def model_collapse_config(r):
    d = r["model_collapse"]
    c = d["config"]
    return (
        f"{c['n_train']} train / {c['n_test']} test, {c['model'].upper()}, {c['epochs']} epochs, "
        f"batch {c['batch_size']}, Adam {c['lr']:g}, {c['generations']} generations, "
        f"{c['runs']} runs"
    )


def model_collapse_moments(r):
    d = r.get("model_collapse")
    if d is None:
        return missing("model_collapse", "is missing")
    tmax = d["config"]["generations"]
    ts = [t for t in (5, 10, 15, 25) if t <= tmax]
    specs = [s for s in ("epbeta:0.05", "unif") if s in d["laws"]]
    qs = (
        (
            "total variance tr Cov_t",
            "total_var_ratio_measured",
            "total_var_ratio_predicted_finite_n",
            3,
        ),
        (
            "class-mean separation Σ p_l‖μ_l − x̄‖²",
            "separation_ratio_measured",
            "separation_ratio_predicted",
            3,
        ),
        (
            "mean within-class variance",
            "within_var_ratio_measured",
            "within_var_ratio_predicted",
            3,
        ),
    )
    header = [f"quantity, t = {' / '.join(map(str, ts))}"]
    for s in specs:
        header += [f"{d['laws'][s]['label']} measured", "predicted"]
    rows = []
    for lab, mk, pk, nd in qs:
        row = [lab]
        for s in specs:
            e = d["laws"][s]
            se = e.get(mk + "_se")
            row.append(
                " / ".join(
                    f(e[mk][t], nd) + ("" if se is None else f" ± {f(se[t], nd)}") for t in ts
                )
            )
            row.append(" / ".join(f(e[pk][t], nd) for t in ts))
        rows.append(row)
    return table(header, rows)


def model_collapse_totvar(r):
    """EpBeta's measured total variance against the finite-n prediction: z per listed t."""
    d = r["model_collapse"]
    e = d["laws"]["epbeta:0.05"]
    m, se, p = (
        e["total_var_ratio_measured"],
        e["total_var_ratio_measured_se"],
        e["total_var_ratio_predicted_finite_n"],
    )
    tmax, runs = d["config"]["generations"], d["config"]["runs"]
    ts = [t for t in (5, 10, 15, 20, 25) if t <= tmax]
    zs = [(t, (m[t] - p[t]) / se[t]) for t in ts if se[t] > 0]
    return (
        "EpBeta's measured total variance against the prediction: z = "
        + ", ".join(f"{f(z, 1)} at t = {t}" for t, z in zs)
        + f" (SE over {runs} runs)"
    )


def model_collapse_meta(r):
    return (
        provenance(r["model_collapse"], "model_collapse")
        if "model_collapse" in r
        else missing("model_collapse", "is missing")
    )


def model_collapse_grid(r):
    """One row per grid condition: accuracies at t = 0, T/2, T beside predict's moments and the
    closed-form LDA accuracy on the predicted class moments."""
    d = r.get("model_collapse_grid")
    if d is None:
        return missing(
            "model_collapse",
            "has no `model_collapse_grid.json` yet (`make paper` runs `model_collapse.py --grid`)",
        )
    tmax = d["config"]["generations"]
    ts = (0, tmax // 2, tmax)
    rows = []
    for c in d["conditions"].values():
        rows.append(
            [
                c["model"].upper(),
                c["label"],
                f"×{c['size_ratio']}",
                c["labels"],
                f(c["u"], 3),
                " / ".join(
                    f"{f(c['accuracy_mean'][t], 1)} ± {f(c['accuracy_sd'][t], 1)}" for t in ts
                ),
                " / ".join(f(c["lda_accuracy_predicted"][t], 1) for t in ts),
                f"{f(c['separation_ratio_measured'][tmax], 3)} / "
                f"{f(c['separation_ratio_predicted'][tmax], 3)}",
                f"{f(c['within_var_ratio_measured'][tmax], 3)} / "
                f"{f(c['within_var_ratio_predicted'][tmax], 3)}",
            ]
        )
    t_lab = " / ".join(map(str, ts))
    return table(
        [
            "model",
            "law",
            "synthetic size",
            "labels",
            "u",
            f"accuracy % at t = {t_lab}",
            f"LDA on predicted moments % at t = {t_lab}",
            f"separation at t = {tmax}: measured / predicted",
            f"within-class var at t = {tmax}: measured / predicted",
        ],
        rows,
    )


def _grid(r):
    d = r.get("model_collapse_grid")
    if d is None:
        return None, None
    return d, d["config"]


def _cond(d, model, law, size=1, labels="cut"):
    return d["conditions"].get(f"{model}|{law}|{size}|{labels}")


def _diff_z(a, b, t, runs):
    """(difference of mean accuracies at t, z with SE = sqrt((sd_a² + sd_b²)/runs))."""
    diff = a["accuracy_mean"][t] - b["accuracy_mean"][t]
    se = math.sqrt((a["accuracy_sd"][t] ** 2 + b["accuracy_sd"][t] ** 2) / runs)
    return diff, (diff / se if se > 0 else 0.0)


def model_collapse_grid_drop(r):
    """Per condition: accuracy lost from t = 0 to t = T (± SE over runs) beside the loss the
    closed-form LDA on predict's moments gives, and the predicted (1 − u)^T class-mean distance."""
    d, c = _grid(r)
    if d is None:
        return missing("model_collapse", "has no `model_collapse_grid.json` yet")
    tmax = c["generations"]
    rows = []
    for e in d["conditions"].values():
        m, se = _loss(e, tmax)
        lda = e["lda_accuracy_predicted"]
        own = e.get("lda_accuracy_within_generation")
        rows.append(
            [
                e["model"].upper(),
                e["label"],
                f"×{e['size_ratio']}",
                e["labels"],
                f"{f(m, 1)} ± {f(se, 1)}",
                f(lda[0] - lda[tmax], 1),
                "—" if own is None else f(own[0] - own[tmax], 1),
                f(e["mean_distance_ratio_closed_form"][tmax], 3),
            ]
        )
    return table(
        [
            "model",
            "law",
            "synthetic size",
            "labels",
            f"accuracy lost t = 0 → {tmax} (points ± SE)",
            f"LDA fitted on generation t's predicted moments, tested on the real classes: "
            f"points lost t = 0 → {tmax}",
            f"the same LDA tested on generation t's own predicted classes: points lost "
            f"t = 0 → {tmax}",
            f"(1 − u)^{tmax}",
        ],
        rows,
    )


def _run_losses(e, tmax):
    """accuracy(t=0) − accuracy(t=T) of each run of one grid condition."""
    return [x[0] - x[tmax] for x in e["accuracy_runs"]]


def _loss(e, tmax):
    """(mean over runs of accuracy(t=0) − accuracy(t=T), its SE)."""
    a = _run_losses(e, tmax)
    m = sum(a) / len(a)
    sd = math.sqrt(sum((v - m) ** 2 for v in a) / (len(a) - 1)) if len(a) > 1 else 0.0
    return m, sd / math.sqrt(len(a))


def model_collapse_grid_findings(r):
    """One bullet per factor of the grid: accuracy lost t = 0 → T (± SE) against the reference
    (MLP, EpBeta(δ = 0.05), ×1, cut), with the z of the difference."""
    d, c = _grid(r)
    if d is None:
        return "*not run yet.*"
    tmax = c["generations"]

    def loss(model, law, size=1, labels="cut"):
        e = _cond(d, model, law, size, labels)
        return None if e is None else _loss(e, tmax)

    def txt(v):
        return "n/a" if v is None else f"{f(v[0], 1)} ± {f(v[1], 1)}"

    def vs(a, b):
        if a is None or b is None:
            return ""
        se = math.sqrt(a[1] ** 2 + b[1] ** 2)
        return f" (difference {f(a[0] - b[0], 1)}, z = {f((a[0] - b[0]) / se if se else 0.0, 1)})"

    ref = loss("mlp", "epbeta:0.05")
    lines = [
        f"- reference, MLP, EpBeta(δ=0.05), synthetic set ×1, cut labels: {txt(ref)} points lost "
        f"from t = 0 to t = {tmax};",
        f"- resampling control (bootstrap, u = 0, K = 1): MLP {txt(loss('mlp', 'bootstrap'))}, "
        f"CNN {txt(loss('cnn8', 'bootstrap'))};",
        "- δ: "
        + ", ".join(
            f"δ = {dl} {txt(loss('mlp', f'epbeta:{dl}'))}" for dl in ("0.01", "0.02", "0.05")
        )
        + "; δ = 0.01 against the bootstrap"
        + f"{vs(loss('mlp', 'epbeta:0.01'), loss('mlp', 'bootstrap'))};",
        f"- model: CNN {txt(loss('cnn8', 'epbeta:0.05'))} against the MLP's"
        f"{vs(loss('cnn8', 'epbeta:0.05'), ref)}; Unif(0,1) CNN {txt(loss('cnn8', 'unif'))}, "
        f"MLP {txt(loss('mlp', 'unif'))};",
        f"- synthetic set 4× the real size: EpBeta {txt(loss('mlp', 'epbeta:0.05', 4))}"
        f"{vs(loss('mlp', 'epbeta:0.05', 4), ref)}; Unif(0,1) {txt(loss('mlp', 'unif', 4))};",
        f"- soft labels: EpBeta {txt(loss('mlp', 'epbeta:0.05', 1, 'soft'))}"
        f"{vs(loss('mlp', 'epbeta:0.05', 1, 'soft'), ref)}; Unif(0,1) "
        f"{txt(loss('mlp', 'unif', 1, 'soft'))}"
        f"{vs(loss('mlp', 'unif', 1, 'soft'), loss('mlp', 'unif'))} against cut labels;",
    ]
    pairs = [
        ("MLP, cut", ("mlp", 1, "cut")),
        ("CNN, cut", ("cnn8", 1, "cut")),
        ("MLP ×4, cut", ("mlp", 4, "cut")),
        ("MLP, soft labels", ("mlp", 1, "soft")),
    ]
    lines.append(
        "- EpBeta(δ=0.05) against Unif(0,1), points lost: "
        + "; ".join(
            f"{lab} {txt(loss(m, 'epbeta:0.05', sz, lb))} vs {txt(loss(m, 'unif', sz, lb))}"
            f"{vs(loss(m, 'epbeta:0.05', sz, lb), loss(m, 'unif', sz, lb))}"
            for lab, (m, sz, lb) in pairs
        )
        + ";"
    )
    lda = [
        e["lda_accuracy_predicted"][0] - e["lda_accuracy_predicted"][tmax]
        for e in d["conditions"].values()
    ]
    lda_end = [e["lda_accuracy_predicted"][tmax] for e in d["conditions"].values()]
    lines.append(
        f"- LDA fitted on `predict`'s moments of generation t and tested on the real classes: at "
        f"most {f(max(lda), 1)} points lost by t = {tmax} in any condition (accuracy at t = "
        f"{tmax} between {f(min(lda_end), 1)} and {f(max(lda_end), 1)} %), Unif(0,1) included;"
    )
    own = [
        (e["label"], e["model"], e["lda_accuracy_within_generation"])
        for e in d["conditions"].values()
        if "lda_accuracy_within_generation" in e
        and e["model"] == "mlp"
        and e["size_ratio"] == 1
        and e["labels"] == "cut"
    ]
    if own:
        lines.append(
            f"- the same LDA tested on generation t's own predicted classes, accuracy at t = 0 → "
            f"{tmax}: "
            + "; ".join(f"{lab} {f(a[0], 1)} → {f(a[tmax], 1)} %" for lab, _, a in own)
            + "."
        )
    else:
        lines[-1] = lines[-1][:-1] + "."
    return "\n".join(lines)


def _grid_losses(r):
    """(per-run losses of a condition: accuracy(t=0) - accuracy(t=T) per run, or None)."""
    d, c = _grid(r)
    if d is None:
        return None

    def losses(model, law, size=1, labels="cut"):
        e = _cond(d, model, law, size, labels)
        return None if e is None else _run_losses(e, c["generations"])

    return losses


def _paired_models(r):
    """Whether the grid's conditions that differ only in the model share their data chains
    (recorded in the grid's config)."""
    d, c = _grid(r)
    return bool(c and c.get("models_share_data"))


def _verdict(a, b, less, more, same, paired=False):
    """Welch's (or, for runs that share their data, the paired) t test of the loss difference
    a - b at 5 %, two-sided: the word for it and the numbers beside it."""
    diff, t, df, crit = _paired(a, b) if paired else _welch(a, b)
    word = less if t < -crit else more if t > crit else same
    kind = "paired " if paired else ""
    return word, (
        f"difference {f(diff, 1)}, {kind}t = {f(t, 1)}, {f(df, 1)} df, 5 % critical {f(crit, 2)}"
    )


def model_collapse_grid_contrast(r):
    """Where EpBeta(0.05) loses less than Unif(0,1) by Welch's t test at 5 % (two-sided) over
    the runs, and where not; and which way soft labels move each law's loss."""
    losses = _grid_losses(r)
    if losses is None:
        return "*not run yet.*"
    pairs = [
        ("MLP, cut labels", ("mlp", 1, "cut")),
        ("CNN, cut labels", ("cnn8", 1, "cut")),
        ("MLP ×4, cut labels", ("mlp", 4, "cut")),
        ("MLP, soft labels", ("mlp", 1, "soft")),
    ]
    yes, no = [], []
    for lab, (m, sz, lb) in pairs:
        a, b = losses(m, "epbeta:0.05", sz, lb), losses(m, "unif", sz, lb)
        if a is None or b is None:
            continue
        word, nums = _verdict(a, b, "less", "more", "same")
        (yes if word == "less" else no).append(f"{lab} ({nums})")
    txt = "EpBeta(δ=0.05) loses significantly less than Unif(0,1) in " + (
        "; ".join(yes) if yes else "no condition"
    )
    if no:
        txt += "; not significantly less in " + "; ".join(no)
    moves = []
    for law, name in (("unif", "Unif(0,1)"), ("epbeta:0.05", "EpBeta(δ=0.05)")):
        a, b = losses("mlp", law, 1, "soft"), losses("mlp", law)
        if a is None or b is None:
            continue
        word, nums = _verdict(a, b, "cut", "raise", "leave (not significantly changed)")
        moves.append(f"{word} {name}'s loss ({nums})")
    if moves:
        txt += ". Against cut labels, soft labels " + " and ".join(moves)
    return txt


def model_collapse_grid_delta(r):
    """δ = 0.01 against the bootstrap, and whether the loss grows with δ step by step (each step
    significant by Welch's t test at 5 %)."""
    losses = _grid_losses(r)
    if losses is None:
        return "*not run yet.*"
    boot = losses("mlp", "bootstrap")
    by_delta = [losses("mlp", f"epbeta:{dl}") for dl in ("0.01", "0.02", "0.05")]
    if boot is None or any(v is None for v in by_delta):
        return "*not run yet.*"
    word, nums = _verdict(
        by_delta[0],
        boot,
        "less than the bootstrap loses",
        "more than the bootstrap loses",
        "as much as the bootstrap loses, within the noise",
    )
    steps = []
    for (d0, a), (d1, b) in zip(
        [("0.01", by_delta[0]), ("0.02", by_delta[1])],
        [("0.02", by_delta[1]), ("0.05", by_delta[2])],
        strict=True,
    ):
        w, n = _verdict(b, a, "less", "more", "not significantly more")
        steps.append(f"δ = {d1} loses {w} than δ = {d0} ({n})")
    return f"δ = 0.01 loses {word} ({nums}); " + "; ".join(steps)


def model_collapse_grid_size_model(r):
    """The 4× synthetic set and the CNN against the reference (MLP, ×1, cut, EpBeta(0.05)) by
    Welch's t test at 5 %; the CNN is paired with the MLP (the same resynthesised data)."""
    losses = _grid_losses(r)
    if losses is None:
        return "*not run yet.*"
    ref = losses("mlp", "epbeta:0.05")
    parts = []
    same_data = _paired_models(r)
    cnn = "the CNN (on the MLP's data chains)" if same_data else "the CNN"
    for lab, key, paired in (
        ("the 4× synthetic set", ("mlp", "epbeta:0.05", 4), False),
        (cnn, ("cnn8", "epbeta:0.05", 1), same_data),
    ):
        a = losses(*key)
        if a is None or ref is None:
            continue
        word, nums = _verdict(
            a,
            ref,
            "loses significantly less than the reference",
            "loses significantly more than the reference",
            "loses as much as the reference within the noise",
            paired=paired,
        )
        parts.append(f"{lab} {word} ({nums})")
    return "; ".join(parts) if parts else "*not run yet.*"


def model_collapse_grid_lda_order(r):
    """Whether the in-generation LDA orders the MLP conditions (×1, cut) by loss as the trained
    networks do, and how their sizes compare."""
    d, c = _grid(r)
    if d is None:
        return "*not run yet.*"
    tmax = c["generations"]
    rows = [
        (e["label"], _loss(e, tmax)[0], e["lda_accuracy_within_generation"])
        for e in d["conditions"].values()
        if e["model"] == "mlp"
        and e["size_ratio"] == 1
        and e["labels"] == "cut"
        and not e["law"].startswith("min_d")
        and "lda_accuracy_within_generation" in e
    ]
    if len(rows) < 2:
        return "*not run yet.*"
    nets = [lab for lab, _, _ in sorted(rows, key=lambda v: v[1])]
    lda = [lab for lab, _, _ in sorted(rows, key=lambda v: v[2][0] - v[2][tmax])]
    same = nets == lda
    return (
        ("it orders" if same else "it does not order")
        + " the MLP conditions by loss as the networks do (the networks, least loss first: "
        + ", ".join(nets)
        + ("" if same else "; the LDA: " + ", ".join(lda))
        + "), though not in size: "
        + "; ".join(f"{lab} {f(loss, 1)} vs {f(a[0] - a[tmax], 1)} points" for lab, loss, a in rows)
        + " (networks vs in-generation LDA)"
    )


def model_collapse_grid_kurtosis(r):
    """Median pixel kurtosis per generation, measured (± SE over runs) / kurtosis_map's curve."""
    d, c = _grid(r)
    if d is None:
        return missing("model_collapse", "has no `model_collapse_grid.json` yet")
    tmax = c["generations"]
    ts = [t for t in (0, 1, 2, 5, 10, 15, 20, 25) if t <= tmax]
    keys = [
        ("mlp", "epbeta:0.05"),
        ("mlp", "min_d:0.05"),
        ("mlp", "unif"),
        ("mlp", "bootstrap"),
    ]
    rows = []
    for model, law in keys:
        e = _cond(d, model, law)
        if e is None or "kurtosis_median_measured" not in e:
            continue
        km, ks, kp = (
            e["kurtosis_median_measured"],
            e["kurtosis_median_measured_se"],
            e["kurtosis_median_predicted"],
        )
        rows.append(
            [e["label"], g(e["tail_d"], 3)]
            + [f"{f(km[t], 2)} ± {f(ks[t], 2)} / {f(kp[t], 2)}" for t in ts]
        )
    tail = r.get("model_collapse_grid_tail")
    if tail is not None:
        tt = tail["config"]["generations"]
        for law in ("epbeta:0.05", "min_d:0.05"):
            e = _cond(tail, "mlp", law)
            if e is None:
                continue
            km, ks, kp = (
                e["kurtosis_median_measured"],
                e["kurtosis_median_measured_se"],
                e["kurtosis_median_predicted"],
            )
            cells = [
                f"{f(km[t], 2)} ± {f(ks[t], 2)} / {f(kp[t], 2)}" if t <= tt else "—" for t in ts
            ]
            rows.append(
                [f"{e['label']}, {tail['config']['runs']} runs to t = {tt}", g(e["tail_d"], 3)]
                + cells
            )
            later = [t for t in (20, 25) if tmax < t <= tt]
            if later:
                rows[-1][-1] += "; " + "; ".join(
                    f"t = {t}: {f(km[t], 2)} ± {f(ks[t], 2)} / {f(kp[t], 2)}" for t in later
                )
    if not rows:
        return "*Not generated: the grid JSON has no kurtosis columns.*"
    return table(
        ["law (MLP, ×1, cut)", "d = E[W²(1−W)²]"] + [f"t = {t}" for t in ts],
        rows,
    )


def _tail(r):
    """The EpBeta-vs-least-d run: its own JSON (more runs) when present, else the grid's pair."""
    d = r.get("model_collapse_grid_tail") or r.get("model_collapse_grid")
    return (None, None) if d is None else (d, d["config"])


def _grid_run_meta(r, name, missing):
    """Provenance line of a model-collapse grid JSON and its size, or ``missing``."""
    d = r.get(name)
    if d is None:
        return missing
    c = d["config"]
    return (
        provenance(d, name)
        + f" {c['generations']} generations, {c['runs']} runs, {c['epochs']} epochs."
    )


def model_collapse_grid_tail_meta(r):
    return _grid_run_meta(r, "model_collapse_grid_tail", "the pair of the grid above")


def model_collapse_grid_tail(r):
    """EpBeta(δ) against the least-d design at the same δ (same K = 1, same u): accuracy per t."""
    d, c = _tail(r)
    if d is None:
        return missing("model_collapse", "has no `model_collapse_grid.json` yet")
    a, b = _cond(d, "mlp", "epbeta:0.05"), _cond(d, "mlp", "min_d:0.05")
    if a is None or b is None:
        return "*Not generated: the grid has no EpBeta(0.05) / least-d pair.*"
    tmax, runs = c["generations"], c["runs"]
    ts = [t for t in (0, 1, 2, 3, 5, 8, 10, 12, 15, 20, 25) if t <= tmax]
    rows = []
    for t in ts:
        diff, z = _diff_z(b, a, t, runs)
        rows.append(
            [
                str(t),
                f"{f(a['accuracy_mean'][t], 1)} ± {f(a['accuracy_sd'][t], 1)}",
                f"{f(b['accuracy_mean'][t], 1)} ± {f(b['accuracy_sd'][t], 1)}",
                f"{f(diff, 1)} ({f(z, 1)})",
                f"{f(a['kurtosis_median_measured'][t], 2)} / "
                f"{f(b['kurtosis_median_measured'][t], 2)}",
            ]
        )
    return table(
        [
            "t",
            f"{a['label']} (d = {g(a['tail_d'], 3)})",
            f"{b['label']} (d = {g(b['tail_d'], 3)})",
            "least-d − EpBeta (z)",
            "median pixel kurtosis: EpBeta / least-d",
        ],
        rows,
    )


def _run_means(e, tmax):
    """Each run's accuracy averaged over t = 1..T."""
    return [sum(v[1:]) / tmax for v in e["accuracy_runs"]]


def model_collapse_grid_tail_verdict(r):
    """The least-d vs EpBeta comparison in one sentence: where |z| > 2, and the mean difference."""
    d, c = _tail(r)
    if d is None:
        return "*not run yet.*"
    a, b = _cond(d, "mlp", "epbeta:0.05"), _cond(d, "mlp", "min_d:0.05")
    if a is None or b is None:
        return "*not run yet.*"
    tmax, runs = c["generations"], c["runs"]
    zs = [_diff_z(b, a, t, runs) for t in range(1, tmax + 1)]
    above = [t for t, (_, z) in enumerate(zs, 1) if z > 2]
    below = [t for t, (_, z) in enumerate(zs, 1) if z < -2]
    mean_diff = sum(x for x, _ in zs) / len(zs)
    # the mean over t of the per-t differences; its SE from the per-run averages over t
    pa, pb = _run_means(a, tmax), _run_means(b, tmax)

    def sd(v):
        m = sum(v) / len(v)
        return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))

    se = math.sqrt((sd(pa) ** 2 + sd(pb) ** 2) / runs)
    return (
        f"averaged over t = 1..{tmax}, least-d minus EpBeta is {f(mean_diff, 1)} points "
        f"(SE {f(se, 1)}, z = {f(mean_diff / se if se > 0 else 0.0, 1)}); per generation, "
        f"z > 2 at t = {', '.join(map(str, above)) or 'none'}, z < −2 at t = "
        f"{', '.join(map(str, below)) or 'none'} ({tmax} generations, {runs} runs each)"
    )


def model_collapse_grid_tail_reading(r):
    """The least-d design against EpBeta: how much lower d and the realised kurtosis are, and what
    the accuracy difference (mean over t, z) says about tails as a cause of the collapse."""
    d, c = _tail(r)
    if d is None:
        return "*not run yet.*"
    a, b = _cond(d, "mlp", "epbeta:0.05"), _cond(d, "mlp", "min_d:0.05")
    if a is None or b is None:
        return "*not run yet.*"
    tmax, runs = c["generations"], c["runs"]
    ka, kb = a["kurtosis_median_measured"], b["kurtosis_median_measured"]
    gap = max(abs(x - y) for x, y in zip(ka, kb, strict=True))
    pa, pb = _run_means(a, tmax), _run_means(b, tmax)

    diff, z, df, crit = _welch(pb, pa)
    # did the design change the realised tails? EpBeta's median kurtosis above least-d's by more
    # than 2 SE (the two are independent chains: SE = sqrt(se_a^2 + se_b^2))
    sa_k, sb_k = a["kurtosis_median_measured_se"], b["kurtosis_median_measured_se"]
    lighter = [
        t
        for t in range(1, tmax + 1)
        if math.hypot(sa_k[t], sb_k[t]) > 0 and (ka[t] - kb[t]) / math.hypot(sa_k[t], sb_k[t]) > 2
    ]
    head = (
        f"The least-d design's d is {f(100 * (1 - b['tail_d'] / a['tail_d']), 0)} % below "
        f"EpBeta's ({g(b['tail_d'], 3)} against {g(a['tail_d'], 3)}); its realised median pixel "
        f"kurtosis is below EpBeta's by more than 2 SE at {len(lighter)} of the {tmax} "
        f"generations (the largest gap over t = 0..{tmax}: {f(gap, 2)}); averaged over "
        f"t = 1..{tmax}, its accuracy is {f(diff, 1)} points from EpBeta's (Welch t = "
        f"{f(z, 1)}, {f(df, 1)} df, 5 % critical {f(crit, 2)}; {runs} runs each)"
    )
    if len(lighter) < tmax / 2:
        return (
            head + ". The design lowers d, but the realised tails of the two recursions differ "
            "too little to test the tails' effect: the experiment neither finds nor excludes "
            "a part of the model-collapse gap that tail growth explains"
        )
    if abs(z) <= crit:
        return (
            head + ". So the experiment finds no part of the model-collapse gap that the tail "
            "growth explains: with lighter realised tails at the same K and u, the accuracy "
            "is the same within the noise"
        )
    return (
        head + f". So at the same K and u the lighter-tailed law {'keeps' if z > 0 else 'loses'} "
        "significantly more accuracy: tail growth accounts for part of the gap"
    )


def model_collapse_grid_meta(r):
    return _grid_run_meta(r, "model_collapse_grid", "*not run yet.*")


# ----------------------------------------------------------------------------- implied checks


def implied_table(r):
    """One row per check of the implied-check scripts (each JSON has a ``checks`` list)."""
    rows, absent = [], []
    for name in IMPLIED:
        if name not in r:
            absent.append(f"`{name}.py`")
            continue
        for c in r[name]["checks"]:
            z = c.get("max_abs_z")
            thr, cnt = c.get("z_threshold"), c.get("z_count")
            bound = (
                "—"
                if thr is None or cnt is None
                else f"{thr:g} over {cnt} z-scores (false failure ≤ {g(_bonferroni(thr, cnt), 2)})"
            )
            rows.append(
                [
                    f"`{name}.py`",
                    c["what"],
                    c["result"],
                    "—" if z is None else f(z, 2),
                    bound,
                    "pass" if c["passed"] else "FAIL",
                ]
            )
    note = (
        (
            f"\n\n*No committed full-run JSON yet for {', '.join(absent)}: `make paper` writes "
            "them; their `--quick` variants run in the test suite.*"
        )
        if absent
        else ""
    )
    if not rows:
        return note.strip()
    return (
        table(
            ["script", "what is compared", "result", "max abs z", "fails at \\|z\\| ≥", "verdict"],
            rows,
        )
        + note
    )


def implied_meta(r):
    lines = [f"`{n}.py`: " + provenance(r[n], n) for n in IMPLIED if n in r]
    return " ".join(lines) if lines else "*none committed yet.*"


def higher_moments_table(r):
    """Per law: K, T3, d, and body mass's kurtosis realised ± SE / predicted at a few t."""
    d = r.get("higher_moments")
    if d is None:
        return missing("higher_moments", "is missing")
    c = d["config"]
    col = c["columns"].index("body_mass_g") if "body_mass_g" in c["columns"] else 0
    tmax = c["generations"]
    ts = [t for t in (1, 5, 10, 25) if t <= tmax]
    rows = []
    for e in d["laws"].values():
        rows.append(
            [e["label"], f(e["K"], 4), f(e["T3"], 4), g(e["d"], 3)]
            + [
                f"{f(e['kurtosis_realized_mean'][t][col], 2)} ± "
                f"{f(e['kurtosis_realized_se'][t][col], 2)} / "
                f"{f(e['kurtosis_predicted'][t][col], 2)}"
                for t in ts
            ]
            + [f(e["max_abs_z"], 2)]
        )
    return table(
        ["law", "K", "T3", "d"]
        + [f"kurtosis of {c['columns'][col]}, t = {t}: realised ± SE / predicted" for t in ts]
        + ["max |z| (skewness and kurtosis, all columns, t ≥ 1)"],
        rows,
    )


def higher_moments_meta(r):
    d = r.get("higher_moments")
    if d is None:
        return missing("higher_moments", "is missing")
    c = d["config"]
    return provenance(d, "higher_moments") + (
        f" {c['dataset']}, {c['generations']} generations, {c['runs']} chains of "
        f"{c['rows_per_generation']} records."
    )


def paper_wall(r):
    """The wall time of ``make paper``: the sum of the wall times the JSONs record, per script."""
    names = list(CHECKS) + ["higher_moments", "model_collapse_grid", "model_collapse_grid_tail"]
    parts, total, missing_meta, loads, off_cpu = [], 0.0, [], [], []
    for name in names:
        d = r.get(name)
        m = (d or {}).get("meta", {})
        if d is None:
            continue
        if m.get("wall_s") is None or "command" not in m:
            missing_meta.append(name)
            continue
        if m.get("backend") != "cpu":
            off_cpu.append(f"{name} ({m['wall_s'] / 60:.1f} min on {', '.join(m['devices'])})")
            continue
        total += m["wall_s"]
        parts.append(f"{name} {m['wall_s'] / 60:.1f}")
        if m.get("load_average_at_end"):
            loads.append(m["load_average_at_end"][1])
    if not parts:
        return "not yet measured"
    txt = f"{total / 60:.0f} min in all ({', '.join(parts)} min)"
    if loads:
        txt += (
            f", under a 5-minute load average between {min(loads):.1f} and {max(loads):.1f} "
            "at the ends of the runs on 2 cores"
        )
    if off_cpu:
        txt += f"; not in this sum, run on an accelerator: {', '.join(off_cpu)}"
    if missing_meta:
        txt += f"; without a recorded wall time: {', '.join(missing_meta)}"
    return txt


GENERATORS = {
    "figure1": figure1_table,
    "figure1_meta": figure1_meta,
    "figure1_verdict": figure1_verdict,
    "figure1_correlation": figure1_correlation,
    "regression": regression_table,
    "regression_shared_z": regression_shared_z,
    "regression_shared_zmax": regression_shared_zmax,
    "regression_shared_zmax_chance": regression_shared_zmax_chance,
    "regression_per_column_beta1": regression_per_column_beta1,
    "regression_per_column_limit_z": regression_per_column_limit_z,
    "regression_noise": regression_noise,
    "regression_meta": regression_meta,
    "theorems_z": theorems_z,
    "theorems_summary": theorems_summary,
    "theorems_odelta": theorems_odelta,
    "theorems_meta": theorems_meta,
    "tabular_bias": tabular_bias_table,
    "tabular_bias_z": tabular_bias_z,
    "tabular_bias_ranking": tabular_bias_ranking,
    "tabular_bias_floor": tabular_bias_floor,
    "tabular_bias_rb": tabular_bias_rb,
    "tabular_bias_equal": tabular_bias_equal,
    "tabular_bias_meta": tabular_bias_meta,
    "tabular_bias_verdict": tabular_bias_verdict,
    "tabular_bias_chance": tabular_bias_chance,
    "model_collapse_accuracy": model_collapse_accuracy,
    "model_collapse_config": model_collapse_config,
    "model_collapse_lead": model_collapse_lead,
    "model_collapse_grid": model_collapse_grid,
    "model_collapse_grid_meta": model_collapse_grid_meta,
    "model_collapse_grid_drop": model_collapse_grid_drop,
    "model_collapse_grid_kurtosis": model_collapse_grid_kurtosis,
    "model_collapse_grid_tail": model_collapse_grid_tail,
    "model_collapse_grid_tail_verdict": model_collapse_grid_tail_verdict,
    "model_collapse_grid_tail_reading": model_collapse_grid_tail_reading,
    "model_collapse_grid_tail_meta": model_collapse_grid_tail_meta,
    "model_collapse_grid_findings": model_collapse_grid_findings,
    "model_collapse_grid_lda_order": model_collapse_grid_lda_order,
    "model_collapse_grid_contrast": model_collapse_grid_contrast,
    "model_collapse_grid_delta": model_collapse_grid_delta,
    "model_collapse_grid_size_model": model_collapse_grid_size_model,
    "model_collapse_moments": model_collapse_moments,
    "model_collapse_totvar": model_collapse_totvar,
    "model_collapse_meta": model_collapse_meta,
    "implied": implied_table,
    "paper_wall": paper_wall,
    "higher_moments": higher_moments_table,
    "higher_moments_meta": higher_moments_meta,
    "implied_meta": implied_meta,
}


def render(text: str, results: dict) -> str:
    """``text`` with the content between every marker pair regenerated from ``results``.

    Raises ValueError for a marker NAME that has no generator.
    """

    def sub(m):
        name, kind = m["name"], m["kind"]
        if name not in GENERATORS:
            raise ValueError(
                f"README marker {kind}:{name} has no generator; add it to GENERATORS in tables.py"
            )
        try:
            body = GENERATORS[name](results)
        except KeyError as err:
            body = f"*Not generated: the JSON lacks {err}.*"
        body = f"\n{body}\n" if kind == "table" else body
        return f"<!-- {kind}:{name} -->{body}<!-- /{kind}:{name} -->"

    return MARKER.sub(sub, text)


def check(readme: Path = README, results: Path = RESULTS) -> list[str]:
    """The unified diff between ``readme`` and its regenerated text (empty when they agree)."""
    old = Path(readme).read_text()
    new = render(old, load_results(results))
    return list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), "README.md", "regenerated", lineterm=""
        )
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="paper_checks/tables.py", description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when README differs")
    p.add_argument("--readme", type=Path, default=README)
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.check:
        diff = check(args.readme, args.results)
        print("\n".join(diff) if diff else "README tables agree with the JSON")
        return 1 if diff else 0
    text = args.readme.read_text()
    args.readme.write_text(render(text, load_results(args.results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
