"""The notebooks in ``notebooks/`` run top to bottom in a real Jupyter kernel
(nbclient + ipykernel), and are committed without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert [path.name for path in PATHS] == [
        "01_quickstart.ipynb",
        "02_embedding_cache_llamaindex.ipynb",
        "03_threshold_tuning.ipynb",
        "04_llm_cache_llamaindex.ipynb",
        "05_error_budget.ipynb",
        "06_semantic_templates.ipynb",
    ]


@pytest.mark.parametrize("path", PATHS, ids=[path.stem for path in PATHS])
def test_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs; strip them"
            assert cell.execution_count is None, f"{path.name}: strip execution counts"


@pytest.mark.parametrize("path", PATHS, ids=[path.stem for path in PATHS])
def test_runs_top_to_bottom(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tuning notebook runs on its built-in pairs here, never on a user's file.
    monkeypatch.delenv("REDIS_LLM_CACHE_PAIRS", raising=False)
    monkeypatch.setenv("MPLBACKEND", "agg")
    # jupyter_core warns about its coming path change unless told which to use.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", os.environ.get("JUPYTER_PLATFORM_DIRS", "1"))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=240,  # per cell; a loaded machine embeds ~100 texts/s
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on failure
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
