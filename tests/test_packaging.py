"""The distribution: ``python -m build`` makes a wheel that installs into a clean venv and runs.

The wheel is built without build isolation (the test extra brings ``build`` and
``setuptools>=77``), so no network is needed. It is installed with ``--no-deps`` into a fresh venv
created without system site packages; the runtime dependencies (jax, numpy, ...) are reached
through a ``.pth`` file naming this interpreter's site-packages, which adds their directories to
``sys.path`` after the venv's own. The editable install of the source tree is not visible there
(``.pth`` files of an added directory are not processed, and the command runs outside the
checkout), so ``jaxmix`` is imported from the wheel: the test checks its path. The wheel's
declared dependencies are checked against pyproject.toml separately.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_and_runs(tmp_path):
    dist = tmp_path / "dist"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = dist.glob("jaxmix-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ["jaxmix/__init__.py", "jaxmix/py.typed", "jaxmix/data/penguins.csv"]:
        assert needed in names, f"{needed} missing from the wheel"
    info = [n for n in names if n.endswith(".dist-info/METADATA")]
    metadata = zipfile.ZipFile(wheel).read(info[0]).decode()
    assert "License-Expression: MIT" in metadata
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requires = {
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    }
    for dep in project["dependencies"]:
        assert dep in requires, f"{dep} not declared in the wheel's metadata"
    licences = [n for n in names if n.endswith("LICENSE")]
    assert licences, "LICENSE missing from the wheel"

    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(fresh)
    bin_dir = fresh / ("Scripts" if os.name == "nt" else "bin")
    py = bin_dir / "python"
    fresh_site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(fresh_site, "_jaxmix_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    proc = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    where = subprocess.run(
        [str(py), "-c", "import jaxmix; print(jaxmix.__file__); print(jaxmix.__version__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert where.returncode == 0, where.stderr[-3000:]
    path, version = where.stdout.split()
    assert Path(path).resolve().is_relative_to(fresh.resolve()), f"jaxmix imported from {path}"
    assert version == project["version"]

    run = subprocess.run(
        [str(bin_dir / "jaxmix"), "design", "--delta", "0.05"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "0.05" in run.stdout, run.stdout
