"""jaxmix.compile_cache: where the persistent compilation cache goes, and how it is turned off."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix
from jaxmix import compile_cache

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def restore_jax_config():
    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    before = {k: getattr(jax.config, k) for k in keys}
    yield
    for k, v in before.items():
        jax.config.update(k, v)


@pytest.mark.parametrize("value", ["off", "0", "", "None", "false"])
def test_env_var_disables(monkeypatch, restore_jax_config, value):
    monkeypatch.setenv(compile_cache.ENV_VAR, value)
    before = jax.config.jax_compilation_cache_dir
    assert compile_cache.enable() is None
    assert jax.config.jax_compilation_cache_dir == before


def test_env_var_directory(monkeypatch, restore_jax_config, tmp_path):
    target = tmp_path / "c"
    monkeypatch.setenv(compile_cache.ENV_VAR, str(target))
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "ignored"))
    assert compile_cache.enable() == str(target)
    assert target.is_dir() and jax.config.jax_compilation_cache_dir == str(target)


def test_jax_variable_kept_then_default(monkeypatch, restore_jax_config, tmp_path):
    monkeypatch.delenv(compile_cache.ENV_VAR, raising=False)
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jaxdir"))
    assert compile_cache.enable() == str(tmp_path / "jaxdir")
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compile_cache.default_dir() == tmp_path / "xdg" / "jaxmix" / "jax"
    assert compile_cache.enable() == str(tmp_path / "xdg" / "jaxmix" / "jax")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert (
        compile_cache.default_dir() == Path(os.path.expanduser("~")) / ".cache" / "jaxmix" / "jax"
    )


def test_unwritable_directory_is_not_an_error(monkeypatch, restore_jax_config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(compile_cache.ENV_VAR, str(blocker / "sub"))
    assert compile_cache.enable() is None


def test_cli_turns_the_cache_on_and_it_fills(tmp_path):
    """``jaxmix`` (cli.main) points JAX at JAXMIX_CACHE_DIR; a first mixup writes programs there."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAXMIX_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    code = textwrap.dedent(
        """
        import jax, numpy as np
        import jaxmix
        from jaxmix import cli
        assert not jax.config.jax_compilation_cache_dir
        assert cli.main(["--help"]) == 0
        print("CACHE-DIR", jax.config.jax_compilation_cache_dir)
        x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
        jax.block_until_ready(jaxmix.mixup(jax.random.key(0), x, 100, jaxmix.Beta(0.4, 0.4)))
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"CACHE-DIR {tmp_path / 'cache'}" in res.stdout
    assert any((tmp_path / "cache").iterdir())


# --- serialized executables -----------------------------------------------------------------


@pytest.fixture
def exec_cache(monkeypatch, restore_jax_config, tmp_path):
    """The executable cache on, in a fresh directory, with an empty in-memory table."""
    monkeypatch.setattr(compile_cache, "_exec_dir", None)
    monkeypatch.setattr(compile_cache, "_loaded", {})
    monkeypatch.setenv(compile_cache.ENV_VAR, str(tmp_path / "cache"))
    compile_cache.enable()
    return compile_cache.executable_dir()


@jax.jit
def _program(x, pair):
    return jnp.sin(x) * pair[0] + jnp.cumsum(x) / pair[1]


ARGS = (np.linspace(0.1, 2.0, 7, dtype=np.float32), (np.float32(1.5), np.float32(3.0)))


def _entries(d):
    return sorted(p for p in d.iterdir() if p.suffix == ".jxexec") if d.is_dir() else []


def test_call_without_enable_is_the_plain_call(monkeypatch):
    monkeypatch.setattr(compile_cache, "_exec_dir", None)
    calls = []
    monkeypatch.setattr(compile_cache, "_load", lambda key: calls.append(key))
    np.testing.assert_array_equal(compile_cache.call(_program, *ARGS), _program(*ARGS))
    assert calls == [] and compile_cache.executable_dir() is None


def test_call_writes_an_entry_and_reads_it_back_bit_identical(exec_cache):
    plain = np.asarray(_program(*ARGS))
    first = np.asarray(compile_cache.call(_program, *ARGS))
    (entry,) = _entries(exec_cache)
    assert not [p for p in exec_cache.iterdir() if p.name.startswith(".tmp-")]
    compile_cache._loaded.clear()  # as a new process: from disk
    loaded = compile_cache._load(compile_cache._key(_program, ARGS))
    assert loaded is not None
    again = np.asarray(compile_cache.call(_program, *ARGS))
    assert plain.tobytes() == first.tobytes() == again.tobytes()
    # another shape is another entry
    compile_cache.call(_program, ARGS[0][:3], ARGS[1])
    assert len(_entries(exec_cache)) == 2 and entry in _entries(exec_cache)


def _rewritten_after(exec_cache, damage):
    compile_cache.call(_program, *ARGS)
    (entry,) = _entries(exec_cache)
    damage(entry)
    compile_cache._loaded.clear()
    key = compile_cache._key(_program, ARGS)
    assert compile_cache._load(key) is None  # the damaged entry is a miss ...
    out = np.asarray(compile_cache.call(_program, *ARGS))
    assert out.tobytes() == np.asarray(_program(*ARGS)).tobytes()
    assert compile_cache._load(key) is not None  # ... and was rewritten


def test_corrupt_entry_falls_back_and_is_rewritten(exec_cache):
    _rewritten_after(exec_cache, lambda p: p.write_bytes(b"not a pickle" * 10))


def test_truncated_entry_falls_back_and_is_rewritten(exec_cache):
    _rewritten_after(exec_cache, lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]))


def test_entry_of_another_version_falls_back_and_is_rewritten(exec_cache):
    def other_version(p):
        key, payload, in_tree, out_tree = pickle.loads(p.read_bytes())
        key = key.replace(f"jax={jax.__version__}", "jax=0.0.0")
        p.write_bytes(pickle.dumps((key, payload, in_tree, out_tree)))

    _rewritten_after(exec_cache, other_version)


def test_key_names_versions_shapes_and_source(exec_cache):
    key = compile_cache._key(_program, ARGS)
    for part in (f"jax={jax.__version__}", "float32[7]", "_program", compile_cache._source_hash()):
        assert part in key
    assert key != compile_cache._key(_program, (ARGS[0].astype(np.float16), ARGS[1]))


SECOND_PROCESS = textwrap.dedent(
    """
    import collections, sys
    import jax, jax.numpy as jnp, numpy as np
    from jaxmix import compile_cache
    jax.config.update("jax_compilation_cache_dir", sys.argv[1])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    compiles = collections.Counter()
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, secs, **kw: compiles.update([name.rsplit("/", 1)[-1]])
    )
    def f(x):
        return jnp.tanh(x) - jnp.sum(jnp.cos(x))
    x = np.linspace(0.0, 1.0, 5, dtype=np.float32)
    plain = np.asarray(jax.jit(f)(x))  # fills JAX's own persistent cache
    compile_cache._exec_dir = __import__("pathlib").Path(sys.argv[2])
    dropped = []
    compile_cache._drop = dropped.append  # an entry that failed to run
    before = compiles["backend_compile_duration"]
    out = np.asarray(compile_cache.call(jax.jit(f), x))
    assert out.tobytes() == plain.tobytes()
    print("COMPILES", compiles["backend_compile_duration"] - before, "DROPPED", len(dropped))
    """
)


def test_entry_written_after_a_persistent_cache_hit_runs_in_a_new_process(tmp_path):
    """An executable JAX read back from its own persistent cache re-serializes into an entry
    whose kernels are missing in another process; the entry must come from a fresh compile."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # 1st process fills JAX's cache (its entry in "a"); the 2nd compiles an entry for "b" while
    # JAX's cache holds the program; the 3rd runs the 2nd's entry
    runs = [
        subprocess.run(
            [sys.executable, "-c", SECOND_PROCESS, str(tmp_path / "jax"), str(tmp_path / d)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for d in "abb"
    ]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    # nothing compiled for the call and no entry dropped for failing to run
    assert "COMPILES 0 DROPPED 0" in runs[2].stdout, runs[2].stdout


def test_design_path_compiles_nothing(monkeypatch, restore_jax_config, tmp_path):
    """select_epbeta, max_attainable_delta and law_moments of a built-in law with concrete
    inputs run on the host: with the cache on they compile no program and write no entry, and
    their results are those of the cache-off run, bit for bit."""
    from helpers import CompileCounter
    from jaxmix import epbeta_select
    from jaxmix.report import law_moments

    def run():
        epbeta_select.clear_caches()
        law = jaxmix.select_epbeta(np.float32(0.05))
        leaves = [np.asarray(v).tobytes() for v in jax.tree_util.tree_leaves(law)]
        return leaves, law_moments(law), float(jaxmix.max_attainable_delta())

    monkeypatch.setattr(compile_cache, "_exec_dir", None)
    plain = run()
    monkeypatch.setattr(compile_cache, "_loaded", {})
    monkeypatch.setenv(compile_cache.ENV_VAR, str(tmp_path / "cache"))
    compile_cache.enable()
    with CompileCounter() as counter:
        cached = run()
    assert counter.count == 0
    assert len(_entries(compile_cache.executable_dir())) == 0
    assert plain == cached


def test_fast_compile_options_are_keyed_and_close_to_the_plain_program(monkeypatch):
    """fast=True compiles with XLA's fast-compile options (CPU): the options this XLA accepts are
    part of the key, the program is kept in memory without enable() (a second call compiles
    nothing), and its values are the plain program's to float32 rounding (the options may change
    FMA contraction, so not always bit for bit)."""
    from helpers import CompileCounter

    monkeypatch.setattr(compile_cache, "_exec_dir", None)
    monkeypatch.setattr(compile_cache, "_loaded", {})
    options = compile_cache.fast_compile_options()
    if jax.default_backend() == "cpu":
        assert options == compile_cache.FAST_COMPILE_OPTIONS
        assert compile_cache._key(_program, ARGS) != compile_cache._key(_program, ARGS, (), options)
    fast = np.asarray(compile_cache.call(_program, *ARGS, fast=True))
    with CompileCounter() as counter:
        again = np.asarray(compile_cache.call(_program, *ARGS, fast=True))
    assert counter.count == 0 and again.tobytes() == fast.tobytes()
    np.testing.assert_allclose(fast, np.asarray(_program(*ARGS)), rtol=4 * 2**-24, atol=0)


def _scaled(x, pair, power, name):
    return (x**power) * pair[0] if name == "pow" else x * pair[1]


def test_static_values_are_part_of_the_key(exec_cache):
    fn = jax.jit(_scaled, static_argnums=(2, 3))
    for static in ((2, "pow"), (3, "pow"), (2, "mul")):
        out = compile_cache.call(fn, *ARGS, static=static)
        assert np.asarray(out).tobytes() == np.asarray(fn(*ARGS, *static)).tobytes()
    assert len(_entries(exec_cache)) == 3
    compile_cache._loaded.clear()
    out = compile_cache.call(fn, *ARGS, static=(3, "pow"))
    assert np.asarray(out).tobytes() == np.asarray(fn(*ARGS, 3, "pow")).tobytes()
    assert len(_entries(exec_cache)) == 3


def test_fast_compile_option_unknown_to_this_xla_is_dropped(monkeypatch):
    """An option this XLA build does not know is left out (probed once), never an error."""
    options = dict(compile_cache.FAST_COMPILE_OPTIONS, xla_no_such_option_for_test=1)
    monkeypatch.setattr(compile_cache, "FAST_COMPILE_OPTIONS", options)
    compile_cache.fast_compile_options.cache_clear()
    try:
        accepted = compile_cache.fast_compile_options()
    finally:
        compile_cache.fast_compile_options.cache_clear()
    assert "xla_no_such_option_for_test" not in accepted
    if jax.default_backend() == "cpu":
        assert set(accepted) == set(options) - {"xla_no_such_option_for_test"}
