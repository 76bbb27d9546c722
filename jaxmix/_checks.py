"""Boundary validation shared by every public entry point (floor 0: imports nothing of jaxmix).

Rules: a concrete bad value raises ``ValueError``/``TypeError`` naming the argument and the fix;
a traced value is checked with ``eqx.error_if`` where the check must survive ``jit``, and left
alone where the check would cost a pass over data inside a hot path.
"""

from __future__ import annotations

import numbers

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def float_dtype():
    """The default floating dtype: float32, or float64 when ``jax_enable_x64`` is on."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def is_concrete(x) -> bool:
    """True when ``x`` holds values we can look at now (not a tracer under jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)


def to_float(x, name: str, *, host: bool = False):
    """Convert a scalar or array parameter to the default float dtype, with a clear TypeError.

    ``host=True`` returns a concrete non-JAX input as a numpy array (no device transfer), for
    values that are only checked on the host and then passed to a jitted function.
    """
    if isinstance(x, jax.core.Tracer):
        if not jnp.issubdtype(x.dtype, jnp.number) or jnp.issubdtype(x.dtype, jnp.complexfloating):
            raise TypeError(f"{name} must be a real number or array, got dtype {x.dtype}.")
        return x.astype(float_dtype()) if x.dtype != float_dtype() else x
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a real number or array, got {type(x).__name__}.")
    try:
        arr = np.asarray(x) if not isinstance(x, jax.Array) else x
    except Exception as err:  # pragma: no cover - exotic objects
        raise TypeError(f"{name} must be a real number or array, got {type(x).__name__}.") from err
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be a real number or array, got dtype {arr.dtype}.")
    dtype = float_dtype()
    if host and not isinstance(arr, jax.Array):
        return np.asarray(arr, dtype=dtype)
    if isinstance(arr, jax.Array):
        return arr if arr.dtype == dtype else arr.astype(dtype)
    # Convert on the host, then one transfer: jnp.asarray(a, dtype=...) costs more per scalar
    # than device_put (benchmarks/README.md), and jnp.asarray(a) without a dtype compiles a
    # small copy program for every new shape (which "a second call must not recompile" counts).
    return jax.device_put(np.asarray(arr, dtype=dtype))


def check_positive(x, name: str, owner: str) -> None:
    """Raise ValueError when a concrete parameter is not finite and > 0."""
    if is_concrete(x):
        v = np.asarray(x)
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(
                f"{owner}: {name} must be finite and > 0, got {v.tolist()}. Pass a positive {name}."
            )


def check_nonnegative(x, name: str, owner: str) -> None:
    """Raise ValueError when a concrete parameter is not finite and >= 0."""
    if is_concrete(x):
        v = np.asarray(x)
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError(
                f"{owner}: {name} must be finite and >= 0, got {v.tolist()}. Pass {name} >= 0."
            )


def check_finite_scalar(x, name: str) -> None:
    """Raise ValueError when a concrete scalar/array parameter holds NaN or inf."""
    if is_concrete(x) and not np.all(np.isfinite(np.asarray(x))):
        raise ValueError(f"{name} must be finite, got {np.asarray(x).tolist()}.")


def check_data(x, name: str = "x", *, min_rows: int = 2):
    """Validate a data array of shape (n, *features): numeric, at least ``min_rows`` rows, finite.

    Returns it as a float array. A concrete NaN/inf raises ValueError; a traced one is caught by
    ``eqx.error_if`` at run time.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a numeric array of shape (n, *features), got {type(x).__name__}.")
    if not isinstance(x, (jax.Array, np.ndarray)):
        try:
            x = np.asarray(x)
        except Exception as err:
            raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}.") from err
    if x.dtype == object or not (
        jnp.issubdtype(x.dtype, jnp.number) or jnp.issubdtype(x.dtype, jnp.bool_)
    ) or jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    if x.ndim < 1:
        raise ValueError(f"{name} must have shape (n, *features) with n rows, got a scalar.")
    if x.ndim == 1:
        raise ValueError(
            f"{name} must have shape (n, *features), got shape {x.shape}; "
            f"for a single column pass {name}[:, None]."
        )
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} rows, got {x.shape[0]}.")
    if is_concrete(x):
        # numpy, not jnp: inside an outer jit a jnp op on a closed-over constant is a tracer
        if not np.all(np.isfinite(np.asarray(x))):
            raise ValueError(f"{name} holds NaN or inf; remove or impute those rows first.")
        return jnp.asarray(x, dtype=float_dtype())
    x = jnp.asarray(x, dtype=float_dtype())
    return eqx.error_if(x, ~jnp.all(jnp.isfinite(x)), f"{name} holds NaN or inf.")


def check_labels(labels, num_rows: int, name: str = "labels"):
    """Validate integer label codes of shape (n,) or (n, k); returns an int32 array."""
    if isinstance(labels, (str, bytes)):
        raise TypeError(f"{name} must be an integer array of shape (n,) or (n, k), got a string.")
    if not isinstance(labels, (jax.Array, np.ndarray)):
        labels = np.asarray(labels)
    if labels.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (n,) or (n, k), got shape {labels.shape}.")
    if labels.shape[0] != num_rows:
        raise ValueError(
            f"{name} has {labels.shape[0]} rows but x has {num_rows}; pass one label row per record."
        )
    if not jnp.issubdtype(labels.dtype, jnp.integer) and not jnp.issubdtype(labels.dtype, jnp.bool_):
        if is_concrete(labels) and jnp.issubdtype(labels.dtype, jnp.floating):
            arr = np.asarray(labels)
            if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
                labels = arr.astype(np.int64)
            else:
                raise TypeError(
                    f"{name} must be integer class codes 0..c-1, got non-integer values; "
                    f"encode categories first (e.g. np.unique(..., return_inverse=True))."
                )
        else:
            raise TypeError(f"{name} must be integer class codes 0..c-1, got dtype {labels.dtype}.")
    if is_concrete(labels) and labels.size and int(np.min(np.asarray(labels))) < 0:
        raise ValueError(f"{name} must be class codes 0..c-1; found a negative code.")
    return jnp.asarray(labels, dtype=jnp.int32)


def check_count(n, name: str) -> int:
    """A positive Python int (a static size such as ``num_samples``)."""
    if isinstance(n, bool) or not isinstance(n, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be a positive Python int, got {type(n).__name__}.")
    if n <= 0:
        raise ValueError(f"{name} must be > 0, got {n}.")
    return int(n)


def check_key(key, name: str = "key"):
    """TypeError unless ``key`` is a JAX PRNG key (typed, or a raw uint32 key of shape (2,))."""
    if isinstance(key, (jax.Array, np.ndarray)):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            return key
        if key.dtype == jnp.uint32 and key.shape[-1:] == (2,):
            return key
    raise TypeError(
        f"{name} must be a JAX PRNG key such as jax.random.key(0), got {type(key).__name__}"
        + (f" of dtype {key.dtype}" if hasattr(key, "dtype") else "")
        + "."
    )
