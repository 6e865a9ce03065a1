"""minicnn.viz features: feature-map and filter grids, saliency and Grad-CAM, and the command."""
import numpy as np
import pytest
from PIL import Image
from viz_helpers import expected_tile, read_tile, tiny_checkpoint

import minicnn
import minicnn.functional as F
from minicnn import nn
from minicnn.data import load_bundled
from minicnn.evaluate import load_model
from minicnn.viz import saliency
from minicnn.viz.__main__ import main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-epoch LeNet-5 checkpoint, a test image as PNG, and the command's output folder."""
    folder = tmp_path_factory.mktemp("viz_features")
    ckpt = tiny_checkpoint(folder / "run")
    image_path = folder / "shoe.png"
    Image.fromarray(load_bundled().test_x[0, 0]).save(image_path)
    out = folder / "pics"
    assert main(["features", str(ckpt), "--image", str(image_path), "--out", str(out)]) == 0
    return ckpt, image_path, out


def model_input(ckpt, image_path):
    """The model and the normalised (1, 1, 28, 28) input, computed here without minicnn.viz."""
    model, config = load_model(str(ckpt))
    with Image.open(image_path) as image:
        pixels = np.asarray(image, dtype=np.float32) / 255.0
    x = (pixels - config.mean[0]) / config.std[0]
    return model, x[None, None].astype(np.float32)


def grid_layout(path, count, tile_shape):
    """(columns, scale) of a grid PNG, checked against its size."""
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    with Image.open(path) as image:
        width, height = image.size
    scale = ((width + 1) // columns - 1) // tile_shape[1]
    assert (height, width) == (rows * (tile_shape[0] * scale + 1) - 1,
                               columns * (tile_shape[1] * scale + 1) - 1)
    return columns, scale


def test_feature_map_grid_pixels_are_the_conv_outputs(run):
    ckpt, image_path, out = run
    model, x = model_input(ckpt, image_path)
    c1 = F.conv2d(minicnn.Tensor(x), model.c1.weight, model.c1.bias, padding=2).data[0]
    assert c1.shape == (6, 28, 28)
    columns, scale = grid_layout(out / "features_c1.png", 6, (28, 28))
    for k in range(6):
        tile = read_tile(out / "features_c1.png", k, (28, 28), columns, scale)
        np.testing.assert_array_equal(tile, expected_tile(c1[k], "viridis"))


def test_filter_grid_shares_one_scale(run):
    ckpt, _, out = run
    model, _ = model_input(ckpt, run[1])
    weight = model.c1.weight.data                               # (6, 1, 5, 5)
    lo, hi = weight.min(), weight.max()
    columns, scale = grid_layout(out / "filters_c1.png", 6, (5, 5))
    tiles = [read_tile(out / "filters_c1.png", k, (5, 5), columns, scale) for k in range(6)]
    for k in range(6):
        np.testing.assert_array_equal(tiles[k], expected_tile(weight[k, 0], "RdBu_r", lo, hi))


def test_saliency_png_is_the_input_gradient_of_the_predicted_class(run):
    ckpt, image_path, out = run
    model, x = model_input(ckpt, image_path)
    image = minicnn.Tensor(x, requires_grad=True)
    logits = model(image)
    k = int(logits.data[0].argmax())
    seed = np.zeros_like(logits.data)
    seed[0, k] = 1
    logits.backward(seed)
    expected = np.abs(image.grad[0]).max(axis=0)
    _, scale = grid_layout(out / "saliency.png", 1, (28, 28))
    tile = read_tile(out / "saliency.png", 0, (28, 28), 1, scale)
    np.testing.assert_array_equal(tile, expected_tile(expected, "inferno"))


def test_saliency_equals_finite_differences_on_a_tiny_model():
    rng = np.random.default_rng(0)
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(3 * 3 * 3, 4))
    for param in model.parameters():
        param.data = param.data.astype(np.float64)
    x = rng.standard_normal((1, 2, 6, 6))
    gradient, k = saliency.input_gradient(model, x, class_index=2)
    assert k == 2 and gradient.shape == (2, 6, 6)
    eps = 1e-6
    numeric = np.zeros_like(x)
    with minicnn.no_grad():
        for index in np.ndindex(x.shape):
            plus, minus = x.copy(), x.copy()
            plus[index] += eps
            minus[index] -= eps
            difference = model(minicnn.Tensor(plus)).data - model(minicnn.Tensor(minus)).data
            numeric[index] = difference[0, 2] / (2 * eps)
    np.testing.assert_allclose(gradient, numeric[0], rtol=1e-6, atol=1e-9)
    assert all(p.grad is None for p in model.parameters())


def test_grad_cam_weights_are_mean_gradients_of_the_layer():
    """conv -> flatten -> linear: d score / d A is the linear row, so alpha_k is its mean."""
    rng = np.random.default_rng(1)
    minicnn.manual_seed(1)
    conv, head = nn.Conv2d(1, 3, 3, padding=1), nn.Linear(3 * 6 * 6, 4)
    model = nn.Sequential(conv, nn.Flatten(), head)
    x = rng.standard_normal((1, 1, 6, 6)).astype(np.float32)
    cam = saliency.grad_cam(model, x, class_index=1)
    A = F.conv2d(minicnn.Tensor(x), conv.weight, conv.bias, padding=1).data[0]
    alpha = head.weight.data[1].reshape(3, 6, 6).mean(axis=(1, 2))
    np.testing.assert_allclose(cam["weights"], alpha, rtol=1e-5)
    expected = np.maximum((alpha[:, None, None] * A).sum(axis=0), 0)
    np.testing.assert_allclose(cam["cam_small"], expected, rtol=1e-4, atol=1e-6)
    assert cam["cam"].shape == (6, 6) and cam["layer"] == "0"


def test_grad_cam_png_and_default_layer(run):
    ckpt, image_path, out = run
    model, x = model_input(ckpt, image_path)
    cam = saliency.grad_cam(model, x)
    assert cam["layer"] == "c3"  # c5's output is 1x1: no place to point at
    _, scale = grid_layout(out / "gradcam.png", 1, (28, 28))
    tile = read_tile(out / "gradcam.png", 0, (28, 28), 1, scale)
    np.testing.assert_array_equal(tile, expected_tile(cam["cam"], "jet"))
    for name in ("input.png", "features_c3.png", "features_c5.png", "saliency_gradcam.png"):
        assert (out / name).is_file()


def test_bad_inputs_give_one_error_line(run, tmp_path, capsys):
    ckpt, image_path, _ = run
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert main(["features", str(ckpt), "--image", str(broken), "--out", str(tmp_path)]) == 2
    assert main(["features", str(tmp_path / "none.npz"), "--image", str(image_path),
                 "--out", str(tmp_path)]) == 2
    assert main(["features", str(ckpt), "--image", str(image_path), "--class", "10",
                 "--out", str(tmp_path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines)
    assert "broken.png" in lines[0] and "none.npz" in lines[1] and "--class 10" in lines[2]
    assert not list(tmp_path.glob("*.png.tmp"))
