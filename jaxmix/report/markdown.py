"""The report as text: a short ``report.md`` (headline, the largest gaps) and one CSV per table.

``report.md`` stays short whatever the number of columns: tables with more than
:data:`FULL_ROWS` rows show only the :data:`TOP_ROWS` rows with the largest gaps (in standard
errors where the row has one), and every table is written in full to a CSV beside it
(``columns.csv``, ``pairs.csv``, ``classes.csv``, ``ols.csv``).
"""

from __future__ import annotations

import csv
import io
import math

from jaxmix.report.tables import MATERIAL, Z_WARN, Fidelity, Table, headline

__all__ = ["FULL_ROWS", "TABLES", "TOP_ROWS", "markdown_table", "table_csv", "to_markdown"]

FULL_ROWS = 15  # tables up to this many rows are shown whole in report.md
TOP_ROWS = 10  # otherwise the rows with the largest gaps
TABLES = ("columns", "pairs", "classes", "ols")


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")


def markdown_table(rows: Table, headers: dict[str, str] | None = None) -> str:
    """A GitHub-markdown table of ``rows``; ``headers`` maps keys to column titles (and picks
    them)."""
    if not rows:
        return "(none)\n"
    keys = list(headers) if headers else list(rows[0])
    titles = [headers[k] for k in keys] if headers else keys
    out = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(keys)]
    out += ["| " + " | ".join(_fmt(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(out) + "\n"


def table_csv(rows: Table) -> str:
    """``rows`` as CSV text (header from the first row's keys)."""
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def _top(rows: Table, key, name: str) -> tuple[Table, str]:
    if len(rows) <= FULL_ROWS:
        return rows, ""

    def score(r):
        v = key(r)
        return -abs(v) if isinstance(v, float) and math.isfinite(v) else 0.0

    top = sorted(rows, key=score)[:TOP_ROWS]
    return (
        top,
        f"The {TOP_ROWS} of {len(rows)} rows with the largest gaps; all rows in `{name}.csv`.\n",
    )


_COLUMN_HEADERS = {
    "column": "column",
    "mean_pred": "mean pred",
    "mean_synth": "mean synth",
    "mean_se": "± SE",
    "mean_z": "mean z",
    "var_ratio_pred": "var ratio pred",
    "var_ratio_synth": "var ratio synth",
    "var_ratio_se": "± SE",
    "var_z": "var z",
    "skew_pred": "skew pred",
    "skew_synth": "skew synth",
    "skew_se": "± SE",
    "kurt_pred": "kurt pred",
    "kurt_synth": "kurt synth",
    "kurt_se": "± SE",
    "flagged": "flagged",
    "outside_pct": "outside range %",
}
_FLAGS = {"mean_flag": "mean", "flag": "var", "skew_flag": "skew", "kurt_flag": "kurt"}
_COLUMN_Z = ("var_z", "mean_z", "skew_z", "kurt_z")


def _with_flags(rows: Table) -> Table:
    """Column rows with ``flagged``: the flagged statistics, e.g. "var, kurt" (markdown only)."""
    return [
        {**r, "flagged": ", ".join(v for k, v in _FLAGS.items() if r.get(k))} if "flag" in r else r
        for r in rows
    ]


def _para(text: str, note: str) -> str:
    """One paragraph: ``text`` followed by the top-rows ``note`` when there is one."""
    return f"{text} {note}" if note else text + "\n"


def to_markdown(
    fid: Fidelity, *, law_rows: Table | None = None, sources: tuple[str, str] | None = None
) -> str:
    """The report as markdown; images are referenced as ``<name>.png`` and the full tables as
    ``<name>.csv`` next to the file."""
    m = fid.meta
    src = f"real `{sources[0]}`, synthetic `{sources[1]}`" if sources else "real vs synthetic"
    t = fid.tables
    cols, note_c = _top(
        _with_flags(t["columns"]),
        lambda r: max(
            [r.get("var_z", r["var_ratio_synth"] - r["var_ratio_pred"])]
            + [r[k] for k in _COLUMN_Z[1:] if k in r],
            key=lambda v: abs(v) if math.isfinite(v) else 0.0,
        ),
        "columns",
    )
    pairs, note_p = _top(
        t["pairs"],
        lambda r: r["corr_err"] / r["corr_se"] if r.get("corr_se") else r["corr_err"],
        "pairs",
    )
    classes, note_k = _top(t["classes"], lambda r: r.get("mean_z", r["mean_err_sd"]), "classes")
    ols, note_o = _top(t["ols"], lambda r: r["slope_synth"] - r["slope_real"], "ols")
    source = f" (from {m['weights_source']})" if m.get("weights_source") else ""
    parts = [
        "# jaxmix fidelity report\n",
        f"{src}: {m['rows_real']} real rows, {m['rows_synth']} synthetic rows; "
        f"weights {m['weights']}{source}, tau = {m['tau']:g}, generations = {m['generations']}, "
        f"bounds = {m.get('bounds', 'keep')}. "
        "*pred* = `jaxmix.predict` applied to the real table's moments (the exact moments of the "
        "synthetic population), *synth* = realized in the synthetic table, *SE* = its Monte Carlo "
        f"standard error from the {m['rows_synth']} synthetic rows, *z* = (synth - pred) / SE. "
        f"A column is flagged when |z| > {Z_WARN:g} and the gap exceeds "
        f"{100 * MATERIAL:.0f} % of the variance; "
        f"a column or class mean when |z| > {Z_WARN:g} and the gap exceeds {MATERIAL:g} real sd; "
        f"a skewness (m3/σ³) when |z| > {Z_WARN:g} and the gap exceeds {MATERIAL:g}, a kurtosis "
        f"(m4/σ⁴, 3 for a Gaussian) when |z| > {Z_WARN:g} and the gap exceeds "
        f"{100 * MATERIAL:.0f} % of the prediction.\n",
        "## Headline\n",
        "\n".join(f"- {line}" for line in headline(fid)) + "\n",
        "![variance ratios](variance_ratio.png)\n",
        "## Weights\n",
        markdown_table(law_rows) if law_rows else "",
        "![weight density](weight_density.png)\n",
        "## Columns: mean, variance ratio (synthetic / real), skewness, kurtosis, share outside "
        "the real range\n",
        note_c,
        markdown_table(cols, {k: v for k, v in _COLUMN_HEADERS.items() if k in cols[0]}),
        "## Pairs: correlation\n",
        _para(
            "corr err = synthetic - real correlation; cov err = (synthetic - real covariance) / "
            "(real sd × real sd).",
            note_p,
        ),
        markdown_table(
            pairs,
            {
                "pair": "pair",
                "corr_real": "corr real",
                "corr_pred": "corr pred",
                "corr_synth": "corr synth",
                "corr_se": "± SE",
                "corr_err": "corr err",
                "cov_err": "cov err",
            },
        ),
        "![covariance difference](covariance_difference.png)\n",
    ]
    if fid.label_names:
        parts += [
            "## Class means per category\n",
            _para(
                "In real sd units: err = synthetic - real, pred err = predicted - real (the O(δ) "
                "shift of Theorem 4), z = (synthetic - predicted) / SE.",
                note_k,
            ),
            markdown_table(
                classes,
                {
                    "class": "class",
                    "column": "column",
                    "share_real": "share real",
                    "share_synth": "share synth",
                    "mean_err_sd": "err (sd)",
                    "pred_err_sd": "pred err (sd)",
                    "mean_se_sd": "± SE (sd)",
                    "mean_z": "z",
                },
            ),
            "![class means](class_means.png)\n",
        ]
    if t["ols"]:
        parts += [
            "## OLS slopes (each column on all the others)\n",
            note_o,
            markdown_table(
                ols,
                {
                    "response": "response",
                    "predictor": "predictor",
                    "slope_real": "slope real",
                    "slope_pred": "slope pred",
                    "slope_synth": "slope synth",
                },
            ),
        ]
    return "\n".join(p for p in parts if p)
