"""jaxmix.compile_cache: where the persistent compilation cache goes, and how it is turned off."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import pytest

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
    """``jaxmix`` (cli.main) points JAX at JAXMIX_CACHE_DIR; a first mixup then writes programs there."""
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
