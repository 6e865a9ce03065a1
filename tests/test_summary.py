"""minicnn.summary: one row per layer call, and totals that add up."""

import numpy as np
import pytest

import minicnn
from minicnn import models, nn
from minicnn.summary import layer_macs, main, summarize, totals

from test_models import SMALL_OPTIONS


@pytest.mark.parametrize("name", sorted(SMALL_OPTIONS))
def test_total_parameters_equal_the_sum_of_parameter_sizes(name):
    model = models.build(name, **SMALL_OPTIONS[name])
    rows = summarize(model)
    assert totals(rows)["params"] == sum(p.size for p in model.parameters())
    assert rows[-1].output_shape == (10,)  # the last layer called gives the logits


def test_rows_follow_the_forward_pass_with_shapes_macs_and_memory():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 2 * 2, 5))
    rows = summarize(model, input_size=(3, 5, 5))
    assert [row.name for row in rows] == ["0", "1", "2", "3", "4"]
    assert [row.kind for row in rows] == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert [row.output_shape for row in rows] == [(4, 5, 5), (4, 5, 5), (4, 2, 2), (16,), (5,)]
    # conv: every one of the 4*5*5 outputs takes 3*3*3 multiply-adds; linear: 16 per output
    assert [row.macs for row in rows] == [4 * 5 * 5 * 3 * 3 * 3, 0, 0, 0, 16 * 5]
    assert [row.params for row in rows] == [4 * 3 * 3 * 3 + 4, 0, 0, 0, 16 * 5 + 5]
    assert [row.activation_bytes for row in rows] == [400, 400, 64, 64, 20]  # float32


def test_grouped_convolution_macs_count_only_the_connected_channels():
    conv = nn.Conv2d(4, 6, 3, groups=2)
    assert layer_macs(conv, (1, 6, 7, 7)) == 6 * 7 * 7 * (4 // 2) * 3 * 3


class ConvTwice(nn.Module):
    """The same convolution applied twice: two rows, its weights counted once."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        return self.conv(self.conv(x))


def test_a_layer_called_twice_gets_two_rows_but_its_parameters_count_once():
    model = ConvTwice()
    rows = summarize(model, input_size=(2, 4, 4))
    assert [row.name for row in rows] == ["conv", "conv"]
    assert totals(rows)["params"] == sum(p.size for p in model.parameters())
    assert rows[0].macs == rows[1].macs > 0


def test_summary_leaves_the_model_as_it_found_it():
    model = models.build("lenet5")
    model.train()
    summarize(model)
    assert model.training
    assert all(not module._forward_hooks for module in model.modules())  # recorder removed
    x = minicnn.Tensor(np.zeros((1, 1, 28, 28), dtype=np.float32))
    before = len(summarize(model))
    model(x)  # an ordinary call afterwards adds no rows anywhere
    assert len(summarize(model)) == before


def test_command_prints_rows_and_totals(capsys):
    assert main(["lenet5", "--num-classes", "7"]) == 0
    out = capsys.readouterr().out
    model = models.build("lenet5", num_classes=7)
    assert "c1 (Conv2d)" in out and "output (Linear)" in out
    assert f"Total parameters:     {sum(p.size for p in model.parameters()):,}" in out


def test_command_input_and_options_reach_the_model(capsys):
    assert main(["resnet18", "--input", "3,32,32", "-o", "small_input=True",
                 "-o", "width=0.125"]) == 0
    out = capsys.readouterr().out
    assert "resnet18: input (3, 32, 32)" in out
    assert "conv1 (Conv2d)                       (8, 32, 32)" in out


def test_command_bad_input_is_a_clear_error(capsys):
    assert main(["vgg16", "--input", "3,20,20"]) == 2
    assert "vgg16: image_size must be an int >= 32" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["lenet5", "--input", "28,28"])
    assert "--input must be C,H,W" in capsys.readouterr().err
