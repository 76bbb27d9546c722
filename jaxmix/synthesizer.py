"""``Synthesizer``: mixup synthesis of a pandas table in one object (fit / sample / save / load).

    syn = jaxmix.Synthesizer(weights="epbeta:0.05", bounds="keep").fit(df)
    df_syn = syn.sample(1000, jax.random.key(0))
    tables = syn.report(df, df_syn)            # name -> list of dict rows

``fit`` splits the table with ``jaxmix.from_pandas`` (numeric columns are mixed, the others cut
on the same weight, see ``docs/theory.md``, "The model") and records per numeric column the real
range [min, max] and whether every value is a whole number. ``sample`` draws, per record, the
parents (i, j) and the weight W, and forms x~ = W x_i + (1 - W) x_j, L~ = L_i if W >= tau else L_j.

Bounds: a weight outside [0, 1] (EpBeta's extrapolation, which keeps the variance) can put a
value outside the real range of its column. ``bounds`` says what happens then:

- ``"keep"``: nothing; the records are the theory's (moments as ``jaxmix.predict`` says);
- ``"clip"``: each value outside [min, max] is set to the nearest end;
- ``"resample"``: the record's weight is redrawn from the same law until every value of the
  record lies in range (at most :data:`RESAMPLE_ROUNDS` rounds, then the rest is clipped); the
  record is then a draw from the law restricted to the weights that keep it in range.

Missing values (``fit(df, missing="keep")``, the default): a categorical column's missing value
is a category of its own, cut like the others. A numeric column's missingness is cut on the
same weight as the labels: the record's value is missing when its label parent's is (so the
missing rate is kept in expectation: P(missing) = P(W >= tau) p + P(W < tau) p = p, parents
being drawn independently); otherwise it is the mix of the two parents when both are observed,
and the observed parent's value when only one is. Moments in the report are then those of the
complete rows only.

The enforcing modes change the moments (a variance a little below ``predict``'s); ``report``
shows by how much. Whole-number columns (every real value whole) are rounded in the output
unless named in ``keep_float``. ``sample_chunks`` yields the records as DataFrames of at most
``chunk_rows`` rows, so tables larger than memory can be written piece by piece.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from jaxmix import _checks, compile_cache, specs
from jaxmix.generate import combine, draw_parents
from jaxmix.schemes import as_scheme

__all__ = [
    "BOUNDS",
    "CHUNK_ROWS",
    "RESAMPLE_ROUNDS",
    "Synthesizer",
    "check_numeric_options",
    "key_from_seed",
]

BOUNDS = ("keep", "clip", "resample")
CHUNK_ROWS = 1 << 18  # records per compiled call of ``sample_chunks``
RESAMPLE_ROUNDS = 32


def check_numeric_options(spec, options) -> None:
    """For each (option label, column names) pair: every name is a column of the table
    (``jaxmix.io.TableSpec``) and a numeric one; ValueError naming the option otherwise. Used by
    ``Synthesizer`` (labels ``integer``, ``keep_float``) and ``jaxmix synth`` (``--integer``,
    ``--keep-float``)."""
    from jaxmix import io

    for label, names in options:
        io.check_columns(names, spec.columns, label)
        for name in names:
            if name in spec.categorical:
                raise ValueError(
                    f"{label}: column {name!r} is categorical; {label} is for numeric columns."
                )


def key_from_seed(seed: int):
    """A PRNG key for any integer seed in [0, 2^64): the Threefry key (seed >> 32, seed mod 2^32),
    which is ``jax.random.key(seed)`` for seeds below 2^32 (``jax.random.key`` itself truncates
    larger seeds to 32 bits without x64, and overflows past 2^63)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}.")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must lie in [0, 2^64 - 1], got {seed}.")
    data = np.array([seed >> 32, seed & 0xFFFFFFFF], np.uint32)
    return jax.random.wrap_key_data(jax.device_put(data), impl="threefry2x32")


def _chunk_key(key, g, c):
    """The key of chunk c of generation g: fold_in(sub_g, c), where (k_{i+1}, sub_i) = split(k_i)
    and k_0 = key (g, c: int32 scalars, traced, so every chunk shares one program)."""

    def body(_, keys):
        pair = jax.random.split(keys[0])
        return pair[0], pair[1]

    _, sub = jax.lax.fori_loop(0, g + 1, body, (key, key))
    return jax.random.fold_in(sub, c)


@eqx.filter_jit
def _draw(key, g, c, x, labels, lo, hi, rounded, tau, scheme, num, mode: str, missing: bool):
    """``num`` records (x~, L~) of chunk c of generation g (:func:`_chunk_key`) and the
    per-column count of values outside [lo, hi] before the bounds were enforced (a value of a
    rounded column counts once rounded). Shapes: x (n, d), labels (n, k) or None, lo/hi/rounded
    (d,). The keys are derived inside the program, so a call runs no other program."""
    kp, kw = jax.random.split(_chunk_key(key, g, c))
    i, j = draw_parents(kp, x.shape[0], num, True)
    w = scheme.sample(kw, num)

    def make(w):
        out = combine(x, labels, i, j, w, tau, scheme)  # (x~, L~), or x~ when labels is None
        xs, ls = out if isinstance(out, tuple) else (out, None)
        if missing:  # the missingness rule of the module docstring
            xi, xj = x[i], x[j]
            mi, mj = jnp.isnan(xi), jnp.isnan(xj)
            keep_i = (w[:, 0] >= tau)[:, None]
            filled = jnp.where(mi, xj, jnp.where(mj, xi, xs))
            xs = jnp.where(jnp.where(keep_i, mi, mj), jnp.nan, filled)
        return xs, ls

    def out_of_range(v):
        v = jnp.where(rounded, jnp.round(v), v)
        return (v < lo) | (v > hi)

    xs, ls = make(w)
    outside = out_of_range(xs)
    counts = outside.sum(0)
    if mode == "resample":

        def cond(state):
            r, _, _, _, bad = state
            return (r < RESAMPLE_ROUNDS) & bad.any()

        def body(state):
            r, w, xs, ls, bad = state
            w_new = jnp.where(bad[:, None], scheme.sample(jax.random.fold_in(kw, r + 1), num), w)
            xs2, ls2 = make(w_new)
            bad2 = out_of_range(xs2).any(1)
            return r + 1, w_new, xs2, ls2, bad2

        _, w, xs, ls, _ = jax.lax.while_loop(cond, body, (0, w, xs, ls, outside.any(1)))
    if mode in ("clip", "resample"):
        xs = jnp.clip(xs, lo, hi)
    return xs, ls, counts


def _as_tuple(names) -> tuple[str, ...]:
    if names is None:
        return ()
    if isinstance(names, str):
        names = names.split(",")
    return tuple(str(n).strip() for n in names if str(n).strip())


class Synthesizer:
    """Mixup synthesizer for pandas tables (see the module docstring).

    Args:
        weights: a law (``jaxmix.Beta(...)``, ``jaxmix.EpBeta(...)``, ...), a ``Scheme`` with a
            single shared law, or a spec string of ``jaxmix.specs`` (default ``"epbeta"``:
            Algorithm 1 with ``delta``, ``eps``, ``tau``).
        bounds: ``"keep"`` (default), ``"clip"`` or ``"resample"``.
        tau: cut point of the categorical columns.
        generations: G rounds of synthesis, each from the previous one.
        delta, eps: Algorithm 1's target class-mean shift and support half-width (spec
            ``"epbeta"``).
        categorical: numeric columns to treat as categorical.
        integer: numeric columns to round to whole numbers in addition to the detected ones.
        keep_float: whole-number columns NOT to round (opt out of the detection).
    """

    def __init__(
        self,
        weights: Any = "epbeta",
        *,
        bounds: str = "keep",
        tau: float = 0.5,
        generations: int = 1,
        delta: float = 0.05,
        eps: float = 0.3,
        categorical: Sequence[str] | str | None = None,
        integer: Sequence[str] | str | None = None,
        keep_float: Sequence[str] | str | None = None,
    ):
        if bounds not in BOUNDS:
            raise ValueError(f"bounds must be one of {', '.join(BOUNDS)}, got {bounds!r}.")
        if isinstance(generations, bool) or not isinstance(generations, int) or generations < 1:
            raise ValueError(f"generations must be an int >= 1, got {generations!r}.")
        if not (isinstance(tau, (int, float)) and 0.0 < float(tau) < 1.0):
            raise ValueError(f"tau must be a number in (0, 1), got {tau!r}.")
        self.spec = weights if isinstance(weights, str) else None
        if isinstance(weights, str):
            weights = specs.parse_law(weights, delta=delta, eps0=eps, tau=float(tau))
        scheme = as_scheme(weights)
        if scheme.columns is not None or len(scheme.laws) != 1:
            raise ValueError(
                "Synthesizer takes one law shared by every column (not a per-column Scheme)."
            )
        self.law = scheme.laws[0]
        self.bounds = bounds
        self.tau = float(tau)
        self.generations = generations
        self.categorical = _as_tuple(categorical)
        self.integer = _as_tuple(integer)
        self.keep_float = _as_tuple(keep_float)
        self.frame = None

    # --- fit ---------------------------------------------------------------------------------

    def fit(self, df, *, missing: str = "keep") -> Synthesizer:
        """Learn the table: its arrays, column kinds, ranges and whole-number columns.

        ``missing``: ``"keep"`` (default: kept at their real rate, see the module docstring),
        ``"drop"`` (rows with a missing value are dropped) or ``"error"``."""
        from jaxmix import io

        if missing not in ("keep", "drop", "error"):
            raise ValueError(f"missing must be keep, drop or error, got {missing!r}.")
        frame = io.from_pandas(
            df, self.categorical, drop_missing=missing == "drop", keep_missing=missing == "keep"
        )
        return self._fit_frame(frame)

    def _fit_frame(self, frame) -> Synthesizer:
        spec = frame.spec
        check_numeric_options(spec, (("integer", self.integer), ("keep_float", self.keep_float)))
        if frame.x.shape[0] < 2:
            raise ValueError(f"mixup needs at least 2 rows, got {frame.x.shape[0]}.")
        x = frame.x
        observed = ~np.isnan(x)
        if x.shape[1] and not observed.any(0).all():
            k = int(np.flatnonzero(~observed.any(0))[0])
            raise ValueError(
                f"column {spec.numeric[k]!r} has no observed value; drop it or mark it categorical."
            )
        whole = tuple(
            c
            for k, c in enumerate(spec.numeric)
            if np.all(~observed[:, k] | (x[:, k] == np.round(x[:, k])))
        )
        self.frame = frame
        self.low = np.nanmin(x, 0) if x.shape[1] else np.zeros(0)
        self.high = np.nanmax(x, 0) if x.shape[1] else np.zeros(0)
        self.missing = bool(x.size and not observed.all())
        self.rounded = tuple(
            c
            for c in spec.numeric
            if (c in whole and c not in self.keep_float) or c in self.integer
        )
        return self

    def _fitted_frame(self):
        """The fitted table; ValueError before :meth:`fit`."""
        if self.frame is None:
            raise ValueError("this Synthesizer is not fitted yet; call fit(df) first.")
        return self.frame

    # --- sample ------------------------------------------------------------------------------

    def _scheme_args(self):
        from jaxmix.schemes import Scheme

        frame = self._fitted_frame()
        has_labels = frame.labels.shape[1] > 0
        scheme = Scheme((self.law,))
        d = frame.x.shape[1]
        dtype = _checks.float_dtype()
        # converted on the host and transferred (jnp.asarray with a dtype runs a program each)
        x = np.asarray(frame.x if d else np.zeros((frame.x.shape[0], 1)), dtype)
        lo = np.asarray(self.low if d else np.full(1, -np.inf), dtype)
        hi = np.asarray(self.high if d else np.full(1, np.inf), dtype)
        labels = np.asarray(frame.labels, np.int32) if has_labels else None
        rounded = np.asarray([c in self.rounded for c in frame.spec.numeric] if d else [False])
        x, labels, lo, hi, rounded = jax.device_put((x, labels, lo, hi, rounded))
        return scheme, x, labels, lo, hi, rounded

    def sample_arrays(
        self, num_rows: int, key, *, chunk_rows: int | None = None, stats=None, on_rows=None
    ) -> Iterator:
        """Yield (x (m_c, d) numpy, labels (m_c, k) numpy or None) chunks totalling ``num_rows``.

        Chunk c (of ``chunk_rows`` rows, default :data:`CHUNK_ROWS`) is drawn with
        ``jax.random.fold_in(key, c)``, so the rows depend on ``chunk_rows``. With G > 1
        generations the whole table of each intermediate generation is kept in memory.
        ``stats``, a dict, receives ``"outside"``: per numeric column the number of values of the
        final generation that fell outside the real range before the bounds were enforced.
        ``on_rows(k)`` is called after every chunk of every generation (k rows; G * num_rows in
        all), e.g. a progress bar.
        """
        frame = self._fitted_frame()
        chunk_rows = CHUNK_ROWS if chunk_rows is None else int(chunk_rows)
        if (
            isinstance(num_rows, bool)
            or not isinstance(num_rows, (int, np.integer))
            or num_rows < 1
        ):
            raise ValueError(f"num_rows must be an int >= 1, got {num_rows!r}.")
        num_rows = int(num_rows)
        scheme, x, labels, lo, hi, rounded = self._scheme_args()
        d = frame.x.shape[1]
        tau = jax.device_put(np.asarray(self.tau, x.dtype))
        counts = np.zeros(x.shape[1], np.int64)
        for g in range(self.generations):
            last = g == self.generations - 1
            parts = []
            for c, start in enumerate(range(0, num_rows, chunk_rows)):
                m = min(chunk_rows, num_rows - start)
                # a stored executable when the cache is on (CLI); XLA's fast-compile options
                # (CPU), so a first table costs a few seconds of compiling instead of ~10
                xs, ls, cnt = compile_cache.call(
                    _draw,
                    key,
                    np.int32(g),
                    np.int32(c),
                    x,
                    labels,
                    lo,
                    hi,
                    rounded,
                    tau,
                    scheme,
                    static=(m, self.bounds, self.missing),
                    fast=True,
                )
                if last:
                    counts += np.asarray(cnt, np.int64)
                    xs = np.asarray(xs, np.float64)[:, :d]
                    if self.bounds != "keep":  # the ends exactly, not their float32 roundings
                        xs = np.clip(xs, self.low, self.high)
                    yield xs, (None if ls is None else np.asarray(ls))
                else:
                    parts.append((xs, ls))
                if on_rows is not None:
                    on_rows(m)
            if not last:
                x = jnp.concatenate([p[0] for p in parts])
                labels = None if labels is None else jnp.concatenate([p[1] for p in parts])
            if stats is not None:
                stats["outside"] = counts[:d]

    def sample_chunks(
        self, num_rows: int, key, *, chunk_rows: int | None = None, stats=None, on_rows=None
    ) -> Iterator:
        """Like :meth:`sample`, as DataFrames of at most ``chunk_rows`` rows."""
        from jaxmix import io

        spec = self._fitted_frame().spec
        for xs, ls in self.sample_arrays(
            num_rows, key, chunk_rows=chunk_rows, stats=stats, on_rows=on_rows
        ):
            yield io.to_pandas(xs, ls, spec, integer=self.rounded)

    def sample(self, num_rows: int, key=None, *, stats=None):
        """``num_rows`` synthetic records as a DataFrame shaped like the fitted table (key
        default ``jax.random.key(0)``). ``stats``: see :meth:`sample_arrays`."""
        import pandas as pd

        key = jax.random.key(0) if key is None else key
        parts = list(self.sample_chunks(num_rows, key, stats=stats))
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)

    # --- persistence ---------------------------------------------------------------------------

    def save(self, path) -> None:
        """Pickle the synthesizer (settings and fitted table) to ``path``, atomically. Load
        only files you trust: unpickling runs code."""
        from jaxmix.io import write_atomic

        def _write(tmp):
            with open(tmp, "wb") as fh:
                pickle.dump(self, fh)

        write_atomic(os.fspath(path), _write)

    @classmethod
    def load(cls, path) -> Synthesizer:
        """A synthesizer written by :meth:`save`."""
        with open(os.fspath(path), "rb") as fh:
            obj = pickle.load(fh)
        if not isinstance(obj, cls):
            raise TypeError(f"{path}: holds a {type(obj).__name__}, not a jaxmix.Synthesizer.")
        return obj

    # --- report --------------------------------------------------------------------------------

    def report(self, df_real, df_synth) -> dict[str, list[dict]]:
        """Fidelity tables of ``df_synth`` against ``df_real`` for this synthesizer's law, tau
        and generations (see ``jaxmix.report.fidelity``): name -> list of dict rows."""
        from jaxmix import io, report

        real = io.from_pandas(
            df_real, self.categorical, drop_missing=True
        )  # moments of complete rows
        synth = io.from_pandas(df_synth, real.spec.categorical, drop_missing=True)
        observed = io.from_pandas(df_real, self.categorical, keep_missing=True)  # the real range
        observed_synth = io.from_pandas(df_synth, real.spec.categorical, keep_missing=True)
        fid = report.fidelity_frames(
            real,
            synth,
            self.law,
            tau=self.tau,
            generations=self.generations,
            bounds=self.bounds,
            observed=observed,
            observed_synth=observed_synth,
        )
        return fid.tables

    def describe(self) -> dict[str, Any]:
        """The settings as plain values (for the sidecar file of the command line)."""
        from jaxmix.report import describe_law

        params = {}
        for name in ("alpha", "beta", "eps0", "eps1", "low", "high"):
            if hasattr(self.law, name):
                params[name] = float(np.asarray(getattr(self.law, name)))
        return {
            "weights": describe_law(self.law),
            "law": {"type": type(self.law).__name__, **params},
            "tau": self.tau,
            "generations": self.generations,
            "bounds": self.bounds,
            "rounded": list(self.rounded) if self.frame is not None else None,
        }


def law_from_description(law: dict):
    """The law of a :meth:`Synthesizer.describe` ``"law"`` entry."""
    import jaxmix

    kind = law.get("type")
    if kind == "EpBeta":
        return jaxmix.EpBeta(law["alpha"], law["beta"], law["eps0"], law["eps1"])
    if kind == "Beta":
        return jaxmix.Beta(law["alpha"], law["beta"])
    if kind == "Uniform":
        return jaxmix.Uniform(law.get("low", 0.0), law.get("high", 1.0))
    raise ValueError(f"unknown law type {kind!r}.")
