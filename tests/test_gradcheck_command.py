"""`python -m minicnn.gradcheck`: every zoo model passes layer by layer; a broken backward fails;
a max-pool tie and a ReLU kink are reported as kinks, not failures."""
import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.gradcheck import __main__ as command
from minicnn.gradcheck.layers import check_model, to_float64
from minicnn.ops.activation import ReLU
from minicnn.ops.conv import Conv2d

SMALL = {  # build options that make each zoo model small enough to check in about a second
    "lenet5": [],
    "alexnet": ["small_input=True", "width=0.0625"],
    "vgg11": ["channel_ratio=32", "fc_width=16", "image_size=32"],
    "vgg13": ["channel_ratio=32", "fc_width=16", "image_size=32"],
    "vgg16": ["channel_ratio=32", "fc_width=16", "image_size=32"],
    "vgg19": ["channel_ratio=32", "fc_width=16", "image_size=32"],
    "vgg16_bn": ["channel_ratio=32"],
    "vgg16_bigconv": ["channel_ratio=32", "fc_width=16", "image_size=32"],
    "nin": ["small_input=True", "width=0.0625"],
    "googlenet": ["width=0.0625", "image_size=28"],
    "googlenet_small": ["width=0.0625", "image_size=16"],
    "resnet18": ["small_input=True", "width=0.0625", "image_size=16"],
    "resnet34": ["small_input=True", "width=0.0625", "image_size=16"],
    "squeezenet": ["small_input=True", "image_size=16"],
}


def argv(name):
    return [name, "--samples", "3"] + [f"--model-option={o}" for o in SMALL[name]]


def test_every_zoo_model_is_listed():
    assert sorted(SMALL) == sorted(minicnn.models.names())


@pytest.mark.parametrize("name", list(SMALL))
def test_every_zoo_model_passes(name, capsys):
    code = command.main(argv(name))
    out = capsys.readouterr().out
    assert code == 0, out
    rows = [line for line in out.splitlines() if " pass" in line or " FAIL" in line]
    assert len(rows) >= 5 and all(" pass" in row for row in rows)
    assert "(whole model)" in out
    assert all(len(line) <= 100 for line in out.splitlines())


def test_a_broken_conv_backward_fails_with_exit_1(monkeypatch, capsys):
    original = Conv2d.backward

    def broken(self, gy):
        gx, gW, gb = original(self, gy)
        return gx, gW * 1.01, gb  # one percent off: a subtle bug

    monkeypatch.setattr(Conv2d, "backward", broken)
    assert command.main(argv("lenet5")) == 1
    out = capsys.readouterr().out
    conv_rows = [line for line in out.splitlines() if "conv2d" in line]
    assert conv_rows and all("FAIL" in row for row in conv_rows)
    assert [line for line in out.splitlines() if "relu" in line][0].count("pass") == 1


def test_a_relu_backward_without_its_mask_fails(monkeypatch, capsys):
    monkeypatch.setattr(ReLU, "backward", lambda self, gy: gy)
    assert command.main(argv("lenet5")) == 1
    out = capsys.readouterr().out
    assert all("FAIL" in line for line in out.splitlines() if " relu " in line)


def _tiny(layer_before_flatten, features):
    minicnn.manual_seed(0)
    return to_float64(nn.Sequential(layer_before_flatten, nn.Flatten(),
                                    nn.Linear(features, 3)))


def test_a_max_pool_tie_is_reported_as_a_kink_not_a_failure():
    model = _tiny(nn.MaxPool2d(2), 4)
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4) / 10
    x[0, 0, 0, 0] = x[0, 0, 0, 1] = x[0, 0, 1, 1] = 0.75  # window (0, 0): a three-way tie
    report = check_model(model, x, np.array([1]), samples=8)
    pool = report[0]
    assert pool.op == "max_pool2d" and pool.passed and pool.kinks >= 2
    assert report.passed


def test_a_relu_input_within_eps_of_zero_is_a_kink():
    model = _tiny(nn.ReLU(), 4)
    x = np.array([[[[0.5, -0.3], [2e-7, -1.0]]]])  # 2e-7 is within eps = 1e-6 of the kink
    report = check_model(model, x, np.array([2]), samples=8)
    assert report[0].kinks == 1 and report.passed


@pytest.mark.parametrize("op", ["conv2d", "max_pool2d", "batch_norm", "dropout", "linear",
                                "softmax_cross_entropy", "local_response_norm"])
def test_single_ops_pass(op, capsys):
    assert command.main([op, "--input", "2,4,4"]) == 0


@pytest.mark.parametrize("args, message", [
    (["nonet"], "neither a zoo model nor an op"),
    (["conv2d", "--input", "3,x,4"], "--input must be C,H,W"),
    (["lenet5", "--batch", "0"], "at least 1"),
])
def test_bad_input_is_one_line(args, message, capsys):
    assert command.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
