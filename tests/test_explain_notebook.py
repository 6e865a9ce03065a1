"""docs/notebooks/step-through-lenet5.ipynb runs top to bottom (nbclient + ipykernel)."""
import json
import os
import sys

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat (test extra)")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient (test extra)")
pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel (test extra)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "docs", "notebooks", "step-through-lenet5.ipynb")


def this_python_kernel(tmp_path, monkeypatch):
    """A kernelspec that runs this interpreter, so the notebook imports the minicnn under test
    (the default "python3" kernel may be another Python with another minicnn)."""
    folder = tmp_path / "kernels" / "minicnn-test"
    folder.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "minicnn test", "language": "python"}
    (folder / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    # the checkout under test first, whatever else the interpreter's path holds
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return "minicnn-test"


def test_the_notebook_executes_and_its_checks_hold(tmp_path, monkeypatch):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    kernel = this_python_kernel(tmp_path, monkeypatch)
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name=kernel,
                                     resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on a failure
    text = "\n".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                     for output in cell.get("outputs", []))
    assert ": matches" in text and "DOES NOT MATCH" not in text
    html = [output["data"]["text/html"] for cell in notebook.cells
            for output in cell.get("outputs", []) if "text/html" in output.get("data", {})]
    assert html and "<table>" in html[0]
