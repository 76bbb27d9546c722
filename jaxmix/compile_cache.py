"""JAX's persistent compilation cache, on by default for the ``jaxmix`` command and the demo.

A first call in a fresh process compiles its programs (the Beta sampler, the design solver,
the moment maps); JAX can keep the compiled executables on disk and load them in later
processes instead. :func:`enable` points JAX at a per-user directory:

- ``JAXMIX_CACHE_DIR=/some/dir``: use that directory;
- ``JAXMIX_CACHE_DIR=off`` (or ``0``, ``none``, ``false``, or empty): no persistent cache;
- otherwise, when the user already set ``JAX_COMPILATION_CACHE_DIR`` (JAX's own variable, e.g.
  ``make test``/``make demo`` set it), that directory is kept;
- otherwise ``$XDG_CACHE_HOME/jaxmix/jax``, by default ``~/.cache/jaxmix/jax``.

The library itself never turns the cache on (importing jaxmix changes no JAX setting); call
``jaxmix.compile_cache.enable()`` at the start of a script to get the same behaviour. The
directory is safe to delete at any time. Entries are keyed by JAX/jaxlib version, backend and
program, so a stale entry is never used.
"""

from __future__ import annotations

import os
import pathlib

__all__ = ["ENV_VAR", "default_dir", "enable"]

ENV_VAR = "JAXMIX_CACHE_DIR"
_OFF = {"", "0", "off", "none", "false", "no"}
# Programs that compile faster than this are not written (JAX's default is 1 s, which would skip
# most of the CLI's small programs; many of those together are a large part of a cold start).
_MIN_COMPILE_SECS = 0.1


def default_dir() -> pathlib.Path:
    """``$XDG_CACHE_HOME/jaxmix/jax`` (``~/.cache/jaxmix/jax`` when XDG_CACHE_HOME is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "jaxmix" / "jax"


def enable(path: str | os.PathLike | None = None) -> str | None:
    """Turn on JAX's persistent compilation cache; returns the directory, or None when disabled.

    Args:
        path: the directory; default from the environment as described in the module docstring.
            Call before the first compilation of the process (later calls may not take effect
            for programs already compiled).
    """
    import jax

    if path is None:
        env = os.environ.get(ENV_VAR)
        if env is not None and env.strip().lower() in _OFF:
            return None
        if env is not None:
            path = env
        elif os.environ.get("JAX_COMPILATION_CACHE_DIR"):
            path = os.environ["JAX_COMPILATION_CACHE_DIR"]
        else:
            path = default_dir()
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None  # an unwritable cache must never stop the command
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", _MIN_COMPILE_SECS)
    return path
