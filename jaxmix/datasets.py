"""Data shipped inside the package (floor 1): no download at run time."""

from __future__ import annotations

import csv
import io
from importlib import resources
from typing import NamedTuple

import numpy as np

PENGUIN_FEATURES = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
PENGUIN_CATEGORICAL = ("species", "island", "sex")


class Table(NamedTuple):
    """A table split into continuous columns and integer-coded categorical columns.

    x: float64 array (n, d); labels: int array (n, k); feature_names: d names;
    label_names: k names; categories: for each categorical column, its category names
    (code c is categories[col][c]).
    """

    x: np.ndarray
    labels: np.ndarray
    feature_names: tuple[str, ...]
    label_names: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]


def penguins_path():
    """Path to the bundled penguins CSV (333 complete rows, CC0; see jaxmix/data/README.md)."""
    return resources.files("jaxmix").joinpath("data/penguins.csv")


def load_penguins() -> Table:
    """The Palmer penguins: 333 rows, 4 continuous columns, categorical species/island/sex."""
    text = penguins_path().read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    x = np.array([[float(r[c]) for c in PENGUIN_FEATURES] for r in rows])
    cats, codes = [], []
    for col in PENGUIN_CATEGORICAL:
        names, inv = np.unique([r[col] for r in rows], return_inverse=True)
        cats.append(tuple(str(v) for v in names))
        codes.append(inv)
    return Table(x, np.stack(codes, axis=1), PENGUIN_FEATURES, PENGUIN_CATEGORICAL, tuple(cats))
