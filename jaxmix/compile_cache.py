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

**Executables.** JAX's cache skips XLA's compile only: a fresh process still traces each program
to a jaxpr and lowers it to MLIR, which for the synthesizer's draw and the moment tables takes
longer than the import. :func:`call` runs a fixed-shape program from a *serialized executable*
kept in ``<directory>/executables`` (JAX's ``serialize_executable``), skipping tracing and
lowering too. It is used only where the library calls a program on concrete inputs (the
synthesizer's draw, ``report.law_moments`` of laws without a host-side closed form), and only
after :func:`enable` (without it, and without ``fast=True``, :func:`call` is a plain call). An
entry's key is the program's module and qualified name, every argument's shape, dtype and weak
type, the pytree structure, the compiler options, the backend and device kind, the JAX/jaxlib
versions, and a hash of the source of every module of the jaxmix package, so a code change
never serves an old program. An entry that cannot be read, loaded or whose stored key differs
is ignored and rewritten; writes go to a temporary file renamed into place, so concurrent
processes never see half an entry. Results are those of the plain call (the same compiled
program).

**Fast-compile options.** :func:`fast_compile_options` are XLA options that cut the CPU compile
time of small programs several-fold (optimisation level 0, the classic fusion emitters); the
design solver and the synthesizer's draw compile with them (``call(..., fast=True)``). They may
change the last bit of a result (e.g. where a multiply-add is fused), so a program compiled with
them is a different program, keyed apart.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import pickle
import tempfile
from collections.abc import Callable
from typing import Any

__all__ = [
    "ENV_VAR",
    "FAST_COMPILE_OPTIONS",
    "call",
    "default_dir",
    "enable",
    "executable_dir",
    "fast_compile_options",
]

ENV_VAR = "JAXMIX_CACHE_DIR"
_OFF = {"", "0", "off", "none", "false", "no"}
# Programs that compile faster than this are not written (JAX's default is 1 s, which would skip
# most of the CLI's small programs; many of those together are a large part of a cold start).
_MIN_COMPILE_SECS = 0.1
_EXEC_SUBDIR = "executables"
_FORMAT = 1  # bumped when the entry layout changes
_exec_dir: pathlib.Path | None = None  # set by enable(); None: call() is a plain call
_loaded: dict[str, Any] = {}  # key -> Compiled, for repeated calls in one process


# XLA options for programs whose compile time outweighs their run time (small arrays): backend
# optimisation level 0 and the classic elemental fusion emitters instead of the MLIR ones. On
# the CPU backend they compile the library's programs (the Beta sampler, the incomplete beta
# and its derivatives) about 3x faster; run time grows with the array size (figures in
# benchmarks/README.md), so callers use them for small problems only.
FAST_COMPILE_OPTIONS = {
    "xla_backend_optimization_level": 0,
    "xla_cpu_use_fusion_emitters": False,
}


@functools.cache
def fast_compile_options() -> dict[str, Any]:
    """The entries of :data:`FAST_COMPILE_OPTIONS` this XLA accepts, on the CPU backend ({}
    elsewhere: the compile-time problem they solve is the CPU compiler's). Probed once per
    process by compiling a one-operation program with each option."""
    import jax
    import numpy as np

    if jax.default_backend() != "cpu":
        return {}

    def accepts(options):
        try:
            jax.jit(lambda v: v + 1).lower(np.float32(0)).compile(compiler_options=options)
            return True
        except Exception:  # an option this XLA does not know
            return False

    if accepts(FAST_COMPILE_OPTIONS):
        return dict(FAST_COMPILE_OPTIONS)
    return {k: v for k, v in FAST_COMPILE_OPTIONS.items() if accepts({k: v})}


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
    global _exec_dir
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None  # an unwritable cache must never stop the command
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", _MIN_COMPILE_SECS)
    _exec_dir = pathlib.Path(path) / _EXEC_SUBDIR
    return path


def executable_dir() -> pathlib.Path | None:
    """Where :func:`call` keeps serialized executables; None until :func:`enable` succeeded."""
    return _exec_dir


@functools.cache
def _source_hash() -> str:
    """sha256 over the path and bytes of every ``.py`` file of the jaxmix package."""
    root = pathlib.Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _key(fn: Callable, args: tuple, static: tuple = (), options: dict | None = None) -> str:
    """The full key of ``fn(*args)`` as text (see the module docstring)."""
    import jax
    import jaxlib.version

    leaves, treedef = jax.tree_util.tree_flatten(args)
    dev = jax.devices()[0]
    parts = [
        f"format={_FORMAT}",
        f"fn={getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}",
        f"static={static!r}",
        f"options={sorted((options or {}).items())!r}",
        f"tree={treedef}",
        "args=" + ",".join(str(jax.typeof(x)) for x in leaves),
        f"backend={jax.default_backend()}/{dev.platform}/{dev.device_kind}/{jax.device_count()}",
        f"jax={jax.__version__}/jaxlib={jaxlib.version.__version__}",
        f"x64={jax.config.read('jax_enable_x64')}",
        f"source={_source_hash()}",
    ]
    return "\n".join(parts)


def _entry_path(key: str) -> pathlib.Path:
    assert _exec_dir is not None
    return _exec_dir / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".jxexec")


def _load(key: str):
    """The Compiled stored under ``key``, or None (missing, unreadable, other key, no load)."""
    from jax.experimental import serialize_executable

    try:
        with open(_entry_path(key), "rb") as fh:
            stored_key, payload, in_tree, out_tree = pickle.load(fh)
        if stored_key != key:
            return None
        return serialize_executable.deserialize_and_load(payload, in_tree, out_tree)
    except Exception:  # any unreadable or unloadable entry is a miss (and is rewritten)
        return None


def _store(key: str, compiled) -> None:
    """Write the entry atomically (temporary file in the same directory, then rename); a failure
    to write is ignored (the cache is an optimisation)."""
    from jax.experimental import serialize_executable

    tmp = None
    try:
        payload, in_tree, out_tree = serialize_executable.serialize(compiled)
        data = pickle.dumps((key, payload, in_tree, out_tree), protocol=pickle.HIGHEST_PROTOCOL)
        target = _entry_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".jxexec")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
        tmp = None
    except Exception:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


_hits = [0]  # persistent-cache hits seen by the listener below


def _on_event(event: str, **kwargs: str | int) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _hits[0] += 1


@functools.cache
def _listen() -> None:
    import jax

    jax.monitoring.register_event_listener(_on_event)


def _fresh_compile(lowered, options: dict | None = None):
    """``lowered.compile()`` by XLA itself, not read back from JAX's persistent cache.

    An executable that JAX read from its own cache serializes into an entry that fails when run
    in another process (its kernels are missing), so the compile skips that cache (JAX's
    per-process switch, restored after) and the result is stored only when no cache hit was seen.
    Returns (compiled, storable).
    """
    _listen()
    before = _hits[0]
    try:
        from jax._src import compilation_cache as jcc

        saved = (jcc._cache_checked, jcc._cache_used)
    except Exception:
        saved = None
    try:
        if saved is not None:
            jcc._cache_checked, jcc._cache_used = True, False
        compiled = lowered.compile(compiler_options=options or None)
    finally:
        if saved is not None:
            jcc._cache_checked, jcc._cache_used = saved
    return compiled, _hits[0] == before


def _drop(key: str) -> None:
    _loaded.pop(key, None)
    if _exec_dir is None:
        return
    try:
        os.unlink(_entry_path(key))
    except OSError:
        pass


def call(fn: Callable, *args, static: tuple = (), fast: bool = False):
    """``fn(*args, *static)`` for a jitted ``fn``, concrete arguments (arrays, numpy scalars and
    pytrees of them) and ``static`` hashable values with a stable ``repr`` (shapes, modes: part
    of the key), from a serialized executable when :func:`enable` is on.

    Without :func:`enable` (the library's default) and without ``fast`` this is
    ``fn(*args, *static)``. With :func:`enable`, the compiled program is looked up in memory,
    then on disk; on a miss it is lowered and compiled as the plain call would be, written, and
    run. ``fast=True`` compiles with :func:`fast_compile_options` (part of the key; kept in
    memory even without :func:`enable`): for small problems, whose compile time dominates.
    Under ``jax.disable_jit()`` the plain call runs. The result is that of the same program.
    """
    import jax

    options = fast_compile_options() if fast else {}
    if (_exec_dir is None and not options) or jax.config.jax_disable_jit:  # pyright: ignore
        return fn(*args, *static)
    try:
        key = _key(fn, args, static, options)
    except Exception:
        return fn(*args, *static)

    compiled = _loaded.get(key)
    if compiled is None:
        compiled = None if _exec_dir is None else _load(key)
        if compiled is None:
            try:
                # over the flat leaves, so the stored input structure is a plain tuple (some
                # pytree node types, e.g. Equinox modules, do not survive the round trip)
                treedef = jax.tree_util.tree_structure(args)
                flat = jax.jit(lambda *xs: fn(*jax.tree_util.tree_unflatten(treedef, xs), *static))
                lowered = flat.lower(*jax.tree_util.tree_leaves(args))
                compiled, storable = _fresh_compile(lowered, options)
            except Exception:
                return fn(*args, *static)
            if storable and _exec_dir is not None:
                _store(key, compiled)
        _loaded[key] = compiled
    try:  # waited for, so that an entry failing at run time is caught here
        return jax.block_until_ready(compiled(*jax.tree_util.tree_leaves(args)))
    except Exception:  # an entry that does not run: dropped, and the plain call decides
        _drop(key)
        return fn(*args, *static)
