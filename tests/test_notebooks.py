"""Every notebook in notebooks/ executes top to bottom in its fast form (JAXMIX_FAST=1).

The kernel is ``python3`` as found by jupyter_client from the interpreter running the tests:
``ipykernel`` installed in .venv ships a ``python3`` kernelspec in .venv/share/jupyter, whose
``python`` command jupyter_client replaces by ``sys.executable`` (the .venv python).
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def summary_text(nb) -> str:
    """The stream output of the last code cell (the pass/fail summary)."""
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    return "".join(
        o.get("text", "") for o in last.get("outputs", []) if o.get("output_type") == "stream"
    )


def assert_summary_passes(nb, name):
    text = summary_text(nb)
    assert "checks pass" in text, f"{name}: the last cell prints no pass/fail summary"
    assert "FAIL" not in text, f"{name}: {text}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_notebook_is_full_size_and_passes(path):
    """The stored outputs are a full-size run (not the fast one) whose summary says every check
    passed, and the notebook cites the repository's theory page (that nothing cites files outside
    the repository is test_docs.py's check, over notebooks too)."""
    nb = nbformat.read(path, as_version=4)
    assert_summary_passes(nb, path.stem)
    text = "".join(str(c.source) for c in nb.cells)
    assert "docs/theory.md" in text
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "run size: full" in outputs, (
        f"{path.stem}: stored outputs are not from the full-size run"
    )


def test_there_are_four_notebooks():
    assert len(NOTEBOOKS) >= 4, NOTEBOOKS


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("JAXMIX_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    texts = [
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
    ]
    assert any(texts), "a notebook that prints nothing checks nothing"
    assert not any("Traceback" in t for t in texts)
    assert_summary_passes(nb, path.stem)
