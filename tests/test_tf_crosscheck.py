"""The `python -m minicnn.crosscheck` command: its table, exit status and error messages."""
import pytest

pytest.importorskip("tensorflow", reason="TensorFlow is not installed: pip install 'minicnn[tf]'")

from minicnn import crosscheck  # noqa: E402

pytestmark = pytest.mark.tf


def test_lenet5_table_passes(capsys):
    status = crosscheck.main(["lenet5", "--batch", "3"])
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("lenet5: input 3x1x28x28, float64")
    header = lines[1].split()
    assert header[:2] == ["layer", "type"] and header[-1] == "result"
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.split()[-1] in
            ("pass", "FAIL")}
    for layer in ("c1", "s2", "c3", "c5", "flatten", "f6", "output", "logits", "loss"):
        assert rows[layer][-1] == "pass", out
    assert rows["c1"][1:3] == ["Conv2d", "3x6x28x28"]
    assert float(rows["c1"][-2]) <= 1e-9       # gradient column
    assert rows["s2"][-2] == "-"               # no parameters
    assert "14/14 rows pass" in out


def test_options_input_and_weights_only(capsys):
    status = crosscheck.main(["resnet18", "--input", "1,16,16", "--option", "small_input=True",
                              "--option", "width=0.0625", "--weights-only", "--dtype",
                              "float32"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "float32" in out and "relu" not in out  # only layers with parameters are listed
    assert "TF f32 err" in out.splitlines()[1]     # TensorFlow's own float32 error, measured
    assert "conv5_x.1.bn2" in out and "fc " in out


def test_bad_arguments_explain_themselves(capsys):
    assert crosscheck.main(["lenet6"]) == 2
    assert "unknown model 'lenet6'; did you mean lenet5?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        crosscheck.main(["lenet5", "--input", "28x28"])
    assert "--input must be C,H,W" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        crosscheck.main(["lenet5", "--option", "classic"])
    assert "--option must be KEY=VALUE" in capsys.readouterr().err
    assert crosscheck.main(["lenet5", "--option", "depth=3"]) == 2
    assert "unknown option" in capsys.readouterr().err
