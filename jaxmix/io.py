"""Tables in and out: pandas DataFrames and CSV files <-> arrays for ``jaxmix.mixup`` (floor 1).

This is the only module (with ``cli.py``) that knows about pandas and files; the core stays
array-only. pandas is imported lazily, so ``import jaxmix`` works without it; install the
optional extra with ``pip install "jaxmix[pandas]"`` to use these functions.

A DataFrame with n rows splits into

- ``x``: float64 array of shape (n, d), the d numeric columns in the DataFrame's order
  (these are mixed: x~ = W x_i + (1 - W) x_j);
- ``labels``: int64 array of shape (n, k), the k categorical columns as codes 0..c-1 in the
  DataFrame's order (these are cut: L~ = L_i if W^L >= tau else L_j, all on the same W^L, so
  their joint distribution is preserved exactly);

plus what is needed to invert the split (:func:`to_pandas`): column order, categories per
categorical column and the original dtypes.

Which columns are categorical: every non-numeric column (object, string, category, bool), plus
any numeric column named in ``categorical``. Numeric columns are int/uint/float dtypes.

Integer columns on the way back (:func:`to_pandas`): with ``integer=None`` an integer-typed
column gets its original dtype back only when every value is a whole number (so
``to_pandas(from_pandas(df))`` round-trips exactly, while mixed values stay float64); with
``integer=[...]`` exactly the listed columns are rounded to the nearest integer and cast back
(to the original integer dtype, or int64 for a float column), and every other integer column is
float64.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np


class TableSpec(NamedTuple):
    """How a DataFrame was split into arrays, so that :func:`to_pandas` can rebuild it.

    columns: all column names in the original order; numeric: the d numeric column names (the
    columns of ``x``, in order); categorical: the k categorical column names (the columns of
    ``labels``, in order); categories: for each categorical column the tuple of its category
    values (code c is ``categories[col][c]``); dtypes: the original dtype of every column;
    datetimes: (name, format, origin) per date column; date_steps: (name, 86400.0) for a date
    column whose every value is a whole day (written back rounded to whole days), else 1.0.
    """

    columns: tuple[str, ...]
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: tuple[tuple[Any, ...], ...]
    dtypes: tuple[Any, ...]
    datetimes: tuple[tuple[str, Any, Any], ...] = ()
    date_steps: tuple[tuple[str, float], ...] = ()  # (name, seconds): a date column's resolution

    def dtype(self, column: str):
        """The original dtype of ``column``."""
        return self.dtypes[self.columns.index(column)]


class Frame(NamedTuple):
    """A table as arrays: x (n, d) float64, labels (n, k) int64, and its :class:`TableSpec`.

    ``Frame.x`` and ``Frame.labels`` go straight into
    ``jaxmix.mixup(key, frame.x, m, law, labels=frame.labels)``; the outputs go back through
    ``jaxmix.to_pandas(x_syn, labels_syn, frame.spec)``.
    """

    x: np.ndarray
    labels: np.ndarray
    spec: TableSpec


def _pandas():
    try:
        import pandas as pd
    except ImportError as err:  # pragma: no cover - pandas is in the test extra
        raise ImportError(
            'jaxmix.from_pandas/to_pandas and CSV input need pandas: pip install "jaxmix[pandas]".'
        ) from err
    return pd


def _as_names(value, argname: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    try:
        return tuple(str(v).strip() for v in value)
    except TypeError as err:
        raise TypeError(
            f"{argname} must be a list of column names, got {type(value).__name__}."
        ) from err


def check_columns(names: Sequence[str], columns: Sequence[str], argname: str) -> None:
    """ValueError naming the first entry of ``names`` that is not one of ``columns``."""
    for name in names:
        if name not in columns:
            raise ValueError(
                f"{argname}: unknown column {name!r}; "
                f"the columns are {', '.join(map(str, columns))}."
            )


def _is_numeric(series) -> bool:
    pd = _pandas()
    dt = series.dtype
    if isinstance(dt, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dt):
        return False
    return pd.api.types.is_integer_dtype(dt) or pd.api.types.is_float_dtype(dt)


def _as_datetime(series):
    """(seconds since the earliest value, format, origin) when ``series`` holds dates or times
    (a datetime64 column, or text that parses whole with the format guessed from its first
    value, a format with year, month and day); else None."""
    pd = _pandas()
    s = series
    fmt = None
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        parsed = s
    elif pd.api.types.is_object_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype):
        from pandas.tseries.api import guess_datetime_format

        values = s.dropna()
        if len(values) == 0 or not isinstance(values.iloc[0], str):
            return None
        with warnings.catch_warnings():  # pandas warns when it guesses a day-first format
            warnings.simplefilter("ignore", UserWarning)
            fmt = guess_datetime_format(values.iloc[0].strip())
        if (
            fmt is None
            or not all(f in fmt for f in ("%m", "%d"))
            or not ("%Y" in fmt or "%y" in fmt)
        ):
            return None
        try:
            parsed = pd.to_datetime(s, format=fmt, errors="raise")
        except (ValueError, TypeError):
            return None
    else:
        return None
    if getattr(parsed.dtype, "tz", None) is not None:
        return None  # time zones: left categorical
    origin = parsed.min()
    seconds = (parsed - origin).dt.total_seconds().to_numpy(dtype=np.float64)
    return seconds, fmt, origin


DAY = 86400.0


def _date_step(seconds, origin) -> float:
    """86400 when the origin and every observed value are whole days (midnight), else 1."""
    pd = _pandas()
    v = seconds[~np.isnan(seconds)]
    ts = pd.Timestamp(origin)
    whole = isinstance(ts, pd.Timestamp) and origin == ts.normalize()  # NaT: not whole
    whole = whole and bool(np.all(v % DAY == 0))
    return DAY if whole else 1.0


def from_pandas(
    df,
    categorical: Sequence[str] | str | None = None,
    *,
    drop_missing: bool = False,
    parse_dates: bool = True,
    keep_missing: bool = False,
) -> Frame:
    """Split a DataFrame into mixup arrays and the spec that inverts the split.

    Args:
        df: a pandas DataFrame with n >= 1 rows and at least one column.
        categorical: names of numeric columns to treat as categorical as well (non-numeric
            columns always are); a list or a comma-separated string.
        drop_missing: drop rows holding a missing value; otherwise a missing value is a
            ValueError naming the column and row.
        keep_missing: keep missing values: NaN in ``x`` for a numeric column, a category of its
            own for a categorical one (``jaxmix.Synthesizer`` then keeps them at their real
            rate); otherwise see ``drop_missing``.
        parse_dates: date/time columns (datetime64, or text that parses whole with one
            date format) become numeric columns of seconds since their earliest value, mixed
            like any number and written back in the same format by :func:`to_pandas`.
    Returns:
        :class:`Frame` with x of shape (n, d) float64 and labels of shape (n, k) int64.
        Categories: a ``category`` column keeps its full category list (unused ones too, in its
        order); any other categorical column gets its sorted distinct values.
    """
    pd = _pandas()
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}.")
    columns = tuple(str(c) for c in df.columns)
    if len(set(columns)) != len(columns):
        raise ValueError("df has duplicate column names; give every column a distinct name.")
    if len(columns) == 0:
        raise ValueError("df has no columns.")
    df = df.copy()
    df.columns = list(columns)
    dtypes = df.dtypes.tolist()
    forced = _as_names(categorical, "categorical")
    check_columns(forced, columns, "categorical")
    missing = df.isna()
    if bool(missing.to_numpy().any()) and not keep_missing:
        if drop_missing:
            df = df.loc[~missing.any(axis=1)]
        else:
            col = next(c for c in columns if bool(missing[c].any()))
            row = int(np.flatnonzero(missing[col].to_numpy())[0])
            raise ValueError(
                f"column {col!r} has a missing value (row {row + 1} of the data, "
                f"{int(missing.to_numpy().sum())} missing in all); "
                "drop those rows (--drop-missing / drop_missing=True) or impute them first."
            )
    if len(df) == 0:
        raise ValueError(
            "the table has no rows"
            + (" left after dropping missing values." if drop_missing else ".")
        )
    dates = {}
    if parse_dates:
        for c in columns:
            if c not in forced and not _is_numeric(df[c]):
                got = _as_datetime(df[c])
                if got is not None:
                    dates[c] = got
                    df[c] = got[0]
    numeric = tuple(c for c in columns if c not in forced and (c in dates or _is_numeric(df[c])))
    cats = tuple(c for c in columns if c not in numeric)
    for c in numeric:
        v = df[c].to_numpy(dtype=np.float64, na_value=np.nan)
        if np.any(np.isinf(v)):
            raise ValueError(f"column {c!r} holds inf; remove or replace those values first.")
    x = (
        df[list(numeric)].to_numpy(dtype=np.float64, na_value=np.nan)
        if numeric
        else np.zeros((len(df), 0))
    )
    categories, codes = [], []
    for c in cats:
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            values = tuple(s.cat.categories.tolist())
            code = s.cat.codes.to_numpy().astype(np.int64)
        else:
            if bool(s.isna().any()):  # kept missing values: a category of their own (NaN), last
                code, uniq = pd.factorize(s, sort=True, use_na_sentinel=False)
            else:
                try:
                    uniq, code = np.unique(s.to_numpy(), return_inverse=True)
                except TypeError:  # mixed types that do not sort: order of first appearance
                    code, uniq = pd.factorize(s, sort=False)
            values = tuple(v.item() if isinstance(v, np.generic) else v for v in uniq)
            code = np.asarray(code, np.int64).reshape(-1)
        categories.append(values)
        codes.append(code)
    labels = np.stack(codes, axis=1) if codes else np.zeros((len(df), 0), np.int64)
    spec = TableSpec(
        columns,
        numeric,
        cats,
        tuple(categories),
        tuple(dtypes),
        tuple((c, dates[c][1], dates[c][2]) for c in numeric if c in dates),
        tuple((c, _date_step(dates[c][0], dates[c][2])) for c in numeric if c in dates),
    )
    return Frame(x, labels, spec)


def to_pandas(
    x, labels=None, spec: TableSpec | None = None, *, integer: Sequence[str] | str | None = None
):
    """Rebuild a DataFrame (columns in ``spec.columns`` order) from mixup arrays.

    ``to_pandas(frame)`` inverts :func:`from_pandas`; ``to_pandas(x_syn, labels_syn, frame.spec)``
    turns mixup output into a DataFrame shaped like the input.

    Args:
        x: shape (m, d), the numeric columns ``spec.numeric`` (or a :class:`Frame`).
        labels: shape (m, k) integer codes of ``spec.categorical`` (None when k = 0).
        spec: the :class:`TableSpec` from :func:`from_pandas`.
        integer: numeric columns to round to whole numbers and cast to an integer dtype; None
            restores an integer column's dtype only where all its values are whole numbers
            (see the module docstring).
    Returns:
        A DataFrame with m rows; categorical columns hold the category values with their
        original dtype (``category`` columns keep their full category list and ordering).
    """
    pd = _pandas()
    if isinstance(x, Frame):
        if labels is not None or spec is not None:
            raise TypeError("to_pandas(frame) takes no labels or spec; they come from the Frame.")
        x, labels, spec = x
    if not isinstance(spec, TableSpec):
        raise TypeError(
            f"spec must be a jaxmix.io.TableSpec (Frame.spec), got {type(spec).__name__}."
        )
    x = np.asarray(x, dtype=np.float64)
    m = x.shape[0]
    if x.ndim != 2 or x.shape[1] != len(spec.numeric):
        raise ValueError(f"x must have shape (m, {len(spec.numeric)}), got {x.shape}.")
    if spec.categorical:
        if labels is None:
            raise ValueError(f"labels are needed for the categorical columns {spec.categorical}.")
        labels = np.asarray(labels)
        if labels.ndim == 1 and len(spec.categorical) == 1:
            labels = labels[:, None]
        if labels.shape != (m, len(spec.categorical)):
            raise ValueError(
                f"labels must have shape ({m}, {len(spec.categorical)}), got {labels.shape}."
            )
    forced = _as_names(integer, "integer")
    check_columns(forced, spec.numeric, "integer (numeric columns only)")
    data = {}
    dates = {name: (fmt, origin) for name, fmt, origin in getattr(spec, "datetimes", ())}
    steps = dict(getattr(spec, "date_steps", ()))
    for c, name in enumerate(spec.numeric):
        v = x[:, c]
        dt = spec.dtype(name)
        if name in dates:
            fmt, origin = dates[name]
            step = steps.get(name, 1.0)  # the input's resolution: whole days or seconds
            t = origin + pd.to_timedelta(np.round(v / step) * step, unit="s")
            data[name] = pd.Series(t.strftime(fmt) if fmt else t, copy=False)
            continue
        is_int = pd.api.types.is_integer_dtype(dt)
        if name in forced:
            target = dt if is_int else np.dtype(np.int64)
            if np.isnan(v).any():  # kept missing values: pandas' nullable integer
                target = "Int64"
            data[name] = pd.Series(np.round(v), copy=False).astype(target)
        elif is_int and integer is None and np.all(v == np.round(v)):
            data[name] = pd.Series(v, copy=False).astype(dt)
        elif is_int:
            data[name] = pd.Series(v, copy=False)
        else:
            data[name] = pd.Series(v, copy=False).astype(dt)
    for c, name in enumerate(spec.categorical):
        assert labels is not None  # refused above when there are categorical columns
        values = spec.categories[c]
        code = labels[:, c].astype(np.int64)
        if code.size and (code.min() < 0 or code.max() >= len(values)):
            raise ValueError(
                f"labels[:, {c}] holds a code outside 0..{len(values) - 1} for column {name!r}."
            )
        dt = spec.dtype(name)
        if isinstance(dt, pd.CategoricalDtype):
            data[name] = pd.Series(pd.Categorical.from_codes(code, dtype=dt))
        else:
            arr = np.empty(len(values), dtype=object)
            arr[:] = list(values)
            col = pd.Series(arr[code], copy=False)
            try:
                col = col.astype(dt)
            except (TypeError, ValueError):  # pragma: no cover - exotic dtypes stay object
                pass
            data[name] = col
    return pd.DataFrame({name: data[name] for name in spec.columns})


# --- CSV -------------------------------------------------------------------------------------


def read_csv(
    path,
    categorical: Sequence[str] | str | None = None,
    *,
    drop_missing: bool = False,
    keep_missing: bool = False,
) -> Frame:
    """Read a CSV file into a :class:`Frame` (see :func:`from_pandas`).

    Every failure is a ValueError with a one-line message: missing or empty file, malformed CSV
    (a row with more fields than the header), missing values, unknown column names.
    """
    pd = _pandas()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file.")
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a directory, not a CSV file.")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path}: the file is empty.")
    try:
        df = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: the file has no columns (empty CSV).") from None
    except pd.errors.ParserError as err:
        raise ValueError(f"{path}: malformed CSV: {_one_line(err)}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text CSV file.") from None
    except OSError as err:
        raise ValueError(f"{path}: cannot read: {err.strerror or err}.") from None
    unnamed = [c for c in df.columns if str(c).startswith("Unnamed: ")]
    if unnamed:
        raise ValueError(
            f"{path}: malformed CSV: the header has an empty column name (column {unnamed[0][9:]})."
        )
    if len(df) == 0:
        raise ValueError(f"{path}: the file has a header but no rows.")
    try:
        return from_pandas(df, categorical, drop_missing=drop_missing, keep_missing=keep_missing)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _one_line(err) -> str:
    return " ".join(str(err).split())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _normal_mode(path, *, directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would (0o666 / 0o777 minus the umask):
    ``tempfile`` creates 0o600 / 0o700, which a colleague could not read."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _check_directory(path) -> str:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"{path}: the directory {directory} does not exist.")
    return directory


def write_atomic(path, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file ``.jaxmix-*.tmp`` in ``path``'s directory,
    then rename it to ``path`` (``os.replace``, atomic on POSIX); on any failure or interruption
    (an exception, KeyboardInterrupt, or SIGTERM under the ``jaxmix`` command, which turns it into
    an exception) the temporary file is removed and ``path`` is untouched. The file gets the
    umask's normal mode, as ``open`` would give it."""
    path = os.fspath(path)
    directory = _check_directory(path)
    fd, tmp = tempfile.mkstemp(prefix=".jaxmix-", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        _normal_mode(tmp)
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_directory_atomic(directory, write) -> None:
    """Call ``write(tmp_dir)`` on a new temporary directory ``.jaxmix-*.tmp`` beside ``directory``,
    then put its files in place: the directory is renamed to ``directory`` when that does not
    exist, else each file is moved in with ``os.replace`` (other files there are kept). On any
    failure or interruption the temporary directory is removed and ``directory`` is untouched."""
    directory = os.path.abspath(os.fspath(directory))
    parent = os.path.dirname(directory)
    if not os.path.isdir(parent):
        raise ValueError(f"{directory}: the parent directory {parent} does not exist.")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"{directory}: exists and is not a directory.")
    tmp = tempfile.mkdtemp(prefix=".jaxmix-", suffix=".tmp", dir=parent)
    try:
        _normal_mode(tmp, directory=True)
        write(tmp)
        if not os.path.exists(directory):
            os.rename(tmp, directory)
            return
        for name in sorted(os.listdir(tmp)):
            os.replace(os.path.join(tmp, name), os.path.join(directory, name))
        os.rmdir(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_csv(df, path, *, float_format: str | None = None) -> None:
    """Write a DataFrame to CSV atomically (no partial file on failure), without the index.

    ``float_format`` (e.g. ``"%.7g"``, about float32 precision) formats float columns."""
    write_atomic(path, lambda tmp: df.to_csv(tmp, index=False, float_format=float_format))


def write_csv_chunks(frames, path, *, float_format: str | None = None) -> int:
    """Write an iterable of DataFrames (same columns) as one CSV, chunk by chunk, atomically:
    the header once, then every chunk appended as it comes, all to a temporary file renamed at
    the end. Memory holds one chunk. Returns the number of rows written."""
    rows = 0

    def _write(tmp):
        nonlocal rows
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            for i, df in enumerate(frames):
                df.to_csv(fh, index=False, header=(i == 0), float_format=float_format)
                rows += len(df)

    write_atomic(path, _write)
    return rows
