"""Boundary validation shared by every public entry point (floor 0: imports nothing of jaxmix).

The validation story, one rule for every check:

- **Concrete values** (Python numbers, numpy arrays, concrete ``jax.Array``): a bad value raises
  ``ValueError`` (bad value) or ``TypeError`` (bad type) at once, naming the argument and the fix.
- **Traced values** (inside ``jit``, ``vmap``, ``grad``): the same condition is checked at run
  time with ``eqx.error_if`` (:func:`fail_if`), with the same message; a function that returns
  the checked value returns it wrapped, so the check cannot be dead-code-eliminated. Under
  ``eqx.filter_jit`` this raises ``equinox.EquinoxRuntimeError`` with the message. Under plain
  ``jax.jit``, JAX reports every runtime error as ``JaxRuntimeError: INTERNAL: CpuCallback
  error ...``; its text holds the line ``...RuntimeError: jaxmix: <message>`` (the message is the
  first line of the underlying error; search for ``jaxmix:``). No check is skipped under a
  transform, and no invalid input turns into a NaN, a hang or a silent clip.
- Shapes, dtypes and static sizes are always known at trace time and always raise at once.
- Conversions happen before value checks: data are checked for finiteness *after* the cast to
  the working float dtype (finite float64 data beyond the float32 range are refused, not turned
  into inf); integer labels are range-checked *before* the cast to int32.
- The Beta sampler (``jaxmix.sampling``) is the one documented NaN: its draws are NaN for
  parameters that are NaN, infinite or <= 0 (a sampler has no argument to name), while every
  law constructor refuses such parameters by the rules above.
"""

from __future__ import annotations

import numbers
from typing import Literal, overload

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np


def float_dtype():
    """The default floating dtype: float32, or float64 when ``jax_enable_x64`` is on."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def is_concrete(x) -> bool:
    """True when ``x`` holds values we can look at now (not a tracer under jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)


@overload
def to_float(x, name: str, *, host: Literal[False] = False) -> jax.Array: ...
@overload
def to_float(x, name: str, *, host: bool) -> jax.Array | np.ndarray: ...
def to_float(x, name: str, *, host: bool = False) -> jax.Array | np.ndarray:
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
    if (
        arr.dtype == object
        or not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_))
        or np.issubdtype(arr.dtype, np.complexfloating)
    ):
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


def fail_if(x, bad, message: str):
    """The one check primitive: ``x`` unchanged, or an error with ``message`` where ``bad``.

    Concrete ``bad``: ``ValueError(message)`` now. Traced: ``eqx.error_if`` (see the module
    docstring); use the returned value so the check stays in the program.
    """
    if is_concrete(bad) and not isinstance(bad, jax.core.Tracer):
        if bool(np.any(np.asarray(bad))):
            raise ValueError(message)
        return x
    return eqx.error_if(x, jnp.any(bad), "jaxmix: " + message)


def _shown(v) -> str:
    return "a traced value" if not is_concrete(v) else str(np.asarray(v).tolist())


def _traced_positive(x):
    """x > 0 read from the bits for floats.

    XLA's CPU arithmetic reads subnormals as 0; numpy does not.
    """
    if jnp.issubdtype(x.dtype, jnp.floating) and jnp.dtype(x.dtype).itemsize in (4, 8):
        bits = jax.lax.bitcast_convert_type(
            x, jnp.int32 if jnp.dtype(x.dtype).itemsize == 4 else jnp.int64
        )
        return bits > 0
    return x > 0


def check_positive(x, name: str, owner: str):
    """``x``, or an error unless every value is finite and > 0.

    Concrete values are checked now, traced ones at run time.
    """
    v = np.asarray(x) if is_concrete(x) else x
    bad = (
        ~(np.isfinite(v) & (v > 0)) if is_concrete(x) else ~(jnp.isfinite(v) & _traced_positive(v))
    )
    return fail_if(
        x, bad, f"{owner}: {name} must be finite and > 0, got {_shown(x)}. Pass a positive {name}."
    )


def check_nonnegative(x, name: str, owner: str):
    """``x``, or an error unless every value is finite and >= 0.

    Concrete values are checked now, traced ones at run time.
    """
    v = np.asarray(x) if is_concrete(x) else x
    bad = ~(np.isfinite(v) & (v >= 0)) if is_concrete(x) else ~(jnp.isfinite(v) & (v >= 0))
    return fail_if(
        x, bad, f"{owner}: {name} must be finite and >= 0, got {_shown(x)}. Pass {name} >= 0."
    )


def check_finite_scalar(x, name: str):
    """``x``, or an error where it holds NaN or inf (concrete now, traced at run time)."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}.")
    bad = ~np.isfinite(np.asarray(x, dtype=float)) if is_concrete(x) else ~jnp.isfinite(x)
    return fail_if(x, bad, f"{name} must be finite, got {_shown(x)}.")


def check_tau(tau, name: str = "tau"):
    """The label cut point: a finite real scalar, returned as the default float dtype.

    TypeError for strings and non-numbers; ValueError for a non-scalar shape (one cut point
    serves every record) or NaN/inf (traced: at run time).
    """
    tau = to_float(tau, name)
    if np.ndim(tau) != 0:
        raise ValueError(
            f"{name} must be a scalar cut point, got shape {np.shape(tau)}; "
            "one tau serves every record."
        )
    return check_finite_scalar(tau, name)


def check_data(x, name: str = "x", *, min_rows: int = 2):
    """Validate a data array of shape (n, *features): numeric, at least ``min_rows`` rows, finite.

    Returns it as a float array. A concrete NaN/inf raises ValueError; a traced one is caught by
    ``eqx.error_if`` at run time.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(
            f"{name} must be a numeric array of shape (n, *features), got {type(x).__name__}."
        )
    if not isinstance(x, (jax.Array, np.ndarray)):
        try:
            x = np.asarray(x)
        except Exception as err:
            raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}.") from err
    if (
        x.dtype == object
        or not (jnp.issubdtype(x.dtype, jnp.number) or jnp.issubdtype(x.dtype, jnp.bool_))
        or jnp.issubdtype(x.dtype, jnp.complexfloating)
    ):
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
    if is_global(x):  # spans other processes: checked on device, never fetched
        return check_global_data(x, name)
    dtype = float_dtype()
    # |x| <= half the largest float: the difference of two rows (the mixup lerp) stays finite
    bound = np.finfo(dtype).max / 2
    msg = (
        f"{name} holds NaN or inf, or values beyond the {np.dtype(dtype).name} range "
        f"(|x| > {float(bound):.3g}, half the largest {np.dtype(dtype).name}, so that differences "
        "of rows stay finite); remove, impute or rescale those rows first."
    )
    if is_concrete(x):
        # numpy, not jnp: inside an outer jit a jnp op on a closed-over constant is a tracer.
        # Checked after the cast: finite float64 data near 1e300 overflow float32.
        with np.errstate(over="ignore", invalid="ignore"):
            xc = np.asarray(x, dtype=dtype)
            ok = np.all(np.abs(xc) <= bound)  # False for NaN and inf too
        if not ok:
            raise ValueError(msg)
        return jnp.asarray(xc) if not isinstance(x, jax.Array) else jnp.asarray(x, dtype=dtype)
    x = jnp.asarray(x, dtype=dtype)
    return fail_if(x, ~(jnp.abs(x) <= bound), msg)


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
            f"{name} has {labels.shape[0]} rows but x has {num_rows}; "
            "pass one label row per record."
        )
    if is_global(labels):  # spans other processes: checked on device, never fetched
        return check_global_labels(labels, name)
    if not jnp.issubdtype(labels.dtype, jnp.integer) and not jnp.issubdtype(
        labels.dtype, jnp.bool_
    ):
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
    # range before the cast to int32 (2^31 would wrap to -2^31, 2^40 to 0, uint32 2^32-1 to -1)
    top = np.iinfo(np.int32).max
    msg = (
        f"{name} must be class codes 0..c-1 with c <= 2^31 - 1; "
        "found a negative code or one >= 2^31 - 1."
    )
    if is_concrete(labels):
        arr = np.asarray(labels)
        if arr.size and (int(np.min(arr)) < 0 or int(np.max(arr)) >= top):
            raise ValueError(msg)
        return jnp.asarray(arr.astype(np.int32, copy=False))
    if jnp.issubdtype(labels.dtype, jnp.bool_):
        return labels.astype(jnp.int32)
    bad = labels >= top
    if jnp.issubdtype(labels.dtype, jnp.signedinteger):
        bad = bad | (labels < 0)
    labels = fail_if(labels, bad, msg)
    return labels.astype(jnp.int32)


def check_count(n, name: str) -> int:
    """A positive Python int (a static size such as ``num_samples``)."""
    if isinstance(n, bool) or not isinstance(n, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be a positive Python int, got {type(n).__name__}.")
    if n <= 0:
        raise ValueError(f"{name} must be > 0, got {n}.")
    return int(n)


def check_key(key, name: str = "key") -> jax.Array:
    """TypeError unless ``key`` is a JAX PRNG key (typed, or a raw uint32 key of shape (2,))."""
    if isinstance(key, (jax.Array, np.ndarray)):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            return jnp.asarray(key)
        if key.dtype == jnp.uint32 and key.shape[-1:] == (2,):
            return jnp.asarray(key)
    raise TypeError(
        f"{name} must be a JAX PRNG key such as jax.random.key(0), got {type(key).__name__}"
        + (f" of dtype {key.dtype}" if hasattr(key, "dtype") else "")
        + "."
    )


# --- Global (multi-process) arrays -------------------------------------------------------------
# A jax.Array built with jax.make_array_from_process_local_data spans devices of other processes:
# its values cannot be fetched to this host (np.asarray raises). Its checks run on the devices as
# one global reduction whose scalar result is replicated, so every process reads the same verdict.


def is_global(x) -> bool:
    """True for a concrete ``jax.Array`` with shards on other processes' devices."""
    return (
        isinstance(x, jax.Array)
        and not isinstance(x, jax.core.Tracer)
        and not x.is_fully_addressable
    )


def _replicated(x):
    """A sharding that replicates a result over every device ``x`` lives on."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    if isinstance(x.sharding, NamedSharding):
        return NamedSharding(x.sharding.mesh, PartitionSpec())
    devices = np.array(sorted(x.sharding.device_set, key=lambda d: (d.process_index, d.id)))
    return NamedSharding(Mesh(devices, ("devices",)), PartitionSpec())


def _global_stats(x):
    """(all finite, all integral, min, max) of a global array, reduced on device, on the host."""

    def stats(a):
        if jnp.issubdtype(a.dtype, jnp.bool_):
            a = a.astype(jnp.int32)
        if jnp.issubdtype(a.dtype, jnp.floating):
            finite = jnp.all(jnp.isfinite(a))
            integral = jnp.all(jnp.where(jnp.isfinite(a), a == jnp.round(a), False))
        else:
            finite = integral = jnp.array(True)
        return finite, integral, jnp.min(a), jnp.max(a)

    out = jax.jit(stats, out_shardings=_replicated(x))(x)
    finite, integral, lo, hi = (np.asarray(v) for v in out)
    return bool(finite), bool(integral), lo.item(), hi.item()


def check_global_data(x, name: str = "x"):
    """``check_data`` for a global array (shape and dtype already checked): finiteness on device.

    Returns ``x`` as the default float dtype, still global (same sharding).
    """
    dtype = float_dtype()
    x = x if x.dtype == dtype else x.astype(dtype)
    finite, _, lo, hi = _global_stats(x)
    bound = float(np.finfo(dtype).max / 2)  # as check_data: differences of rows stay finite
    if not finite or max(-lo, hi) > bound:
        raise ValueError(
            f"{name} holds NaN or inf, or values beyond the {np.dtype(dtype).name} range "
            f"(|x| > {bound:.3g}, half the largest {np.dtype(dtype).name}, so that differences "
            "of rows stay finite); remove, impute or rescale those rows first."
        )
    return x


def check_global_labels(labels, name: str = "labels"):
    """``check_labels`` for a global array (shape already checked): codes checked on device."""
    numeric = jnp.issubdtype(labels.dtype, jnp.integer) or jnp.issubdtype(labels.dtype, jnp.bool_)
    if not numeric and not jnp.issubdtype(labels.dtype, jnp.floating):
        raise TypeError(f"{name} must be integer class codes 0..c-1, got dtype {labels.dtype}.")
    finite, integral, lo, hi = _global_stats(labels)
    if not (finite and integral):
        raise TypeError(
            f"{name} must be integer class codes 0..c-1, got non-integer values; "
            f"encode categories first (e.g. np.unique(..., return_inverse=True))."
        )
    if labels.size and lo < 0:
        raise ValueError(f"{name} must be class codes 0..c-1; found a negative code.")
    if labels.size and hi > np.iinfo(np.int32).max:
        raise ValueError(
            f"{name} holds a code above {np.iinfo(np.int32).max}; encode categories as 0..c-1."
        )
    return labels if labels.dtype == jnp.int32 else labels.astype(jnp.int32)


def global_max(x) -> int | float:
    """The maximum of a global array, reduced on device (e.g. the number of classes - 1)."""
    return _global_stats(x)[3]
