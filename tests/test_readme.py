"""The README's Python examples run as written, each on its own and with the same output twice;
its links lead somewhere; the tables and pasted outputs moved to docs/ still match the code."""
import contextlib
import io
import pathlib
import re

import pytest

from minicnn import models
from minicnn.summary import summarize, totals

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ZOO = ROOT / "docs" / "zoo.md"
CROSSCHECK = ROOT / "docs" / "crosscheck.md"
README_MAX_LINES = 260  # a newcomer reads it in five minutes; long material goes to docs/


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def run_block(code, name):
    """Execute one snippet in a fresh namespace: (namespace, what it printed)."""
    namespace, printed = {}, io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, name, "exec"), namespace)
    return namespace, printed.getvalue()


@pytest.fixture(scope="module")
def readme_runs():
    """Each README snippet run twice, each time alone: [(namespace, output, output again)]."""
    blocks = python_blocks(README)
    assert len(blocks) == 3, "README's examples: a training step, a gradcheck, a zoo model"
    runs = []
    for index, code in enumerate(blocks):
        namespace, output = run_block(code, f"README.md python block {index + 1}")
        _, again = run_block(code, f"README.md python block {index + 1}")
        runs.append((namespace, output, again))
    return runs


def test_each_readme_example_runs_alone_and_prints_the_same_twice(readme_runs):
    for namespace, output, again in readme_runs:
        assert output, "an example should show its result"
        assert output == again, "README examples must be deterministic (seed the data)"


def test_readme_examples_compute_what_they_say(readme_runs):
    step, gradcheck, zoo = (namespace for namespace, _, _ in readme_runs)
    assert step["model"][0].weight.grad.shape == (6, 1, 5, 5)
    assert all(entry["passed"] for entry in gradcheck["report"])
    assert zoo["accuracy"] > 0.3  # chance is 0.1: the loop really trained the model


def test_readme_is_short_and_its_links_resolve():
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    for page in (README, ZOO, CROSSCHECK):
        for target in re.findall(r"\]\(([^)#]+)\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def _zoo_summary_rows():
    """(model, (C, H, W), classes, parameters, M multiply-adds) per row of docs/zoo.md's table."""
    pattern = re.compile(r"^\| (\w+) \| (\d+)x(\d+)x(\d+) \| (\d+) \| ([\d,]+) \| ([\d,.]+) M \|$",
                         re.M)
    rows = [(m[1], (int(m[2]), int(m[3]), int(m[4])), int(m[5]), int(m[6].replace(",", "")),
             float(m[7].replace(",", ""))) for m in pattern.finditer(ZOO.read_text())]
    assert {row[0] for row in rows} == set(models.names()), "one summary row per zoo model"
    return rows


@pytest.mark.parametrize("row", [row for row in _zoo_summary_rows() if row[3] < 20_000_000],
                         ids=lambda row: row[0])
def test_zoo_page_summary_table_matches_minicnn_summary(row):
    """The models under 20 M parameters are rebuilt (the larger ones take seconds each)."""
    name, (C, H, W), classes, params, macs_millions = row
    options = {"image_size": H} if H != models.build(name).default_input_size[1] else {}
    model = models.build(name, num_classes=classes, in_channels=C, **options)
    sums = totals(summarize(model, (C, H, W)))
    assert sums["params"] == params
    assert round(sums["macs"] / 1e6, 1) == pytest.approx(macs_millions, abs=0.051)


@pytest.mark.tf
def test_crosscheck_page_lenet5_output_matches_the_command(capsys):
    """The pasted `crosscheck lenet5` output: the same header, rows and verdict as a fresh run
    (the differences themselves are rounding noise and may vary with the BLAS)."""
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed: pip install "
                        "'minicnn[tf]'")
    from minicnn import crosscheck

    pasted = re.search(r"\$ python -m minicnn.crosscheck lenet5\n(.*?)\n\(", CROSSCHECK.read_text(),
                       re.S)
    assert pasted, "docs/crosscheck.md shows the lenet5 crosscheck"
    assert crosscheck.main(["lenet5"]) == 0
    fresh = capsys.readouterr().out

    def columns(text):  # header line, then layer, type and output shape of every row
        lines = text.strip().splitlines()
        return [lines[0]] + [line.split()[:3] if "pass" in line or "FAIL" in line else line
                             for line in lines[1:] if not line.startswith("(")]

    assert columns(pasted.group(1)) == columns(fresh)


def test_readme_explain_excerpt_is_part_of_the_checked_walkthrough():
    """The README's `explain` excerpt is copied from docs/backprop-walkthrough.md, whose
    excerpts tests/test_explain_walkthrough.py re-runs: every line must be there."""
    readme = README.read_text()
    walkthrough = (README.parent / "docs" / "backprop-walkthrough.md").read_text()
    block = re.search(r"```text\n(\$ python -m minicnn\.explain .*?)```", readme, re.S).group(1)
    lines = [line for line in block.splitlines() if line != "..."]
    assert len(lines) > 5
    for line in lines:
        assert line in walkthrough.splitlines(), line
