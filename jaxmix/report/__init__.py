"""Fidelity report: real vs synthetic vs predicted moments, as tables, markdown and figures.

- :mod:`jaxmix.report.tables`: the numbers (``fidelity`` and the tables, each realized value
  with its Monte Carlo standard error; ``headline``);
- :mod:`jaxmix.report.markdown`: ``report.md`` and the CSV tables;
- :mod:`jaxmix.report.figures`: the PNG figures;
- :func:`write_report`: all of it into a directory, atomically.
"""

from __future__ import annotations

import os

from jaxmix.report.figures import (
    FIGURES,
    class_means_figure,
    covariance_difference_figure,
    figures,
    variance_ratio_figure,
    weight_density_figure,
)
from jaxmix.report.markdown import TABLES, markdown_table, table_csv, to_markdown
from jaxmix.report.tables import (
    LOSS_THRESHOLD,
    MATERIAL,
    MAX_CATEGORIES,
    Z_WARN,
    Fidelity,
    Table,
    beyond_noise,
    class_table,
    column_noise,
    column_shape,
    column_table,
    describe_law,
    fidelity,
    fidelity_frames,
    headline,
    law_moments,
    ols_slopes,
    ols_table,
    pair_table,
    predict_generations,
    predict_shape,
    table_summary,
)
from jaxmix.schemes import as_scheme

__all__ = [
    "FIGURES",
    "LOSS_THRESHOLD",
    "MATERIAL",
    "MAX_CATEGORIES",
    "TABLES",
    "Z_WARN",
    "Fidelity",
    "Table",
    "beyond_noise",
    "class_means_figure",
    "class_table",
    "column_noise",
    "column_shape",
    "column_table",
    "covariance_difference_figure",
    "describe_law",
    "fidelity",
    "fidelity_frames",
    "figures",
    "headline",
    "law_moments",
    "markdown_table",
    "ols_slopes",
    "ols_table",
    "pair_table",
    "predict_generations",
    "predict_shape",
    "table_csv",
    "table_summary",
    "to_markdown",
    "variance_ratio_figure",
    "weight_density_figure",
    "write_report",
    "written_files",
]


def written_files(fid: Fidelity) -> list[str]:
    """The files :func:`write_report` writes: report.md, the PNGs, the CSV tables."""
    return ["report.md"] + [f"{n}.png" for n in FIGURES] + [f"{n}.csv" for n in TABLES]


def write_report(
    directory, fid: Fidelity, weights, *, sources: tuple[str, str] | None = None, dpi: int = 100
) -> str:
    """Write ``report.md``, the PNGs of :func:`figures` and the CSV tables into ``directory``.

    Everything is built first, then written into a temporary directory beside ``directory``
    and moved into place at the end (``jaxmix.io.write_directory_atomic``): an interrupted or
    failed run leaves the old report (or none), never a mix. Returns the report path.
    """
    from jaxmix.io import write_directory_atomic

    directory = os.fspath(directory)
    scheme = as_scheme(weights)
    law_rows = [
        dict(law=describe_law(g), **law_moments(g, tau=fid.meta["tau"])) for g in scheme.laws
    ]
    text = to_markdown(fid, law_rows=law_rows, sources=sources)
    figs = figures(fid, scheme, tau=fid.meta["tau"])

    def _write(tmp):
        for name, fig in figs.items():
            fig.savefig(os.path.join(tmp, f"{name}.png"), format="png", dpi=dpi)
        for name in TABLES:
            with open(os.path.join(tmp, f"{name}.csv"), "w", encoding="utf-8", newline="") as fh:
                fh.write(table_csv(fid.tables[name]))
        with open(os.path.join(tmp, "report.md"), "w", encoding="utf-8") as fh:
            fh.write(text)

    write_directory_atomic(directory, _write)
    return os.path.join(directory, "report.md")
