"""Batches: order, normalisation, bilinear resize, crop and flip."""
import numpy as np
import pytest

from minicnn.data import Batches, bilinear_resize, random_crop, random_flip


def _bilinear_loops(image, OH, OW):
    """Slow reference: one output pixel at a time (half-pixel centres, edges clamped)."""
    H, W = image.shape
    out = np.zeros((OH, OW))
    for i in range(OH):
        for j in range(OW):
            y = min(max((i + 0.5) * H / OH - 0.5, 0), H - 1)
            x = min(max((j + 0.5) * W / OW - 0.5, 0), W - 1)
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            y1, x1 = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
            dy, dx = y - y0, x - x0
            out[i, j] = ((1 - dy) * (1 - dx) * image[y0, x0] + (1 - dy) * dx * image[y0, x1]
                         + dy * (1 - dx) * image[y1, x0] + dy * dx * image[y1, x1])
    return out


@pytest.mark.parametrize("size", [(12, 12), (5, 7), (8, 8), (3, 2)])
def test_bilinear_resize_matches_loops(size):
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 8, 6))
    y = bilinear_resize(x, size)
    assert y.shape == (2, 3, *size)
    for n in range(2):
        for c in range(3):
            np.testing.assert_allclose(y[n, c], _bilinear_loops(x[n, c], *size), atol=1e-12)


def test_bilinear_resize_keeps_constants_and_same_size():
    x = np.full((1, 1, 7, 7), 0.25, dtype=np.float32)
    np.testing.assert_allclose(bilinear_resize(x, (16, 16)), 0.25, atol=1e-7)
    assert bilinear_resize(x, (7, 7)) is x


def test_random_crop_is_a_shifted_window():
    rng = np.random.default_rng(0)
    x = rng.random((16, 2, 6, 6)).astype(np.float32) + 1  # no zeros inside the image
    y = random_crop(x, 2, np.random.default_rng(1))
    assert y.shape == x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = set()
    for n in range(16):
        matches = [(t, l) for t in range(5) for l in range(5)
                   if np.array_equal(y[n], padded[n, :, t:t + 6, l:l + 6])]
        assert matches, f"image {n} is not a window of its padded original"
        offsets.add(matches[0])
    assert len(offsets) > 1  # images get their own offsets


def test_random_flip_mirrors_about_half():
    x = np.arange(400 * 3 * 2, dtype=np.float32).reshape(400, 1, 2, 3)
    y = random_flip(x, np.random.default_rng(0))
    flipped = [np.array_equal(y[n], x[n, :, :, ::-1]) for n in range(400)]
    kept = [np.array_equal(y[n], x[n]) for n in range(400)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 150 < sum(flipped) < 250
    assert np.array_equal(x[0, 0, 0], [0, 1, 2])  # the input is left alone


def _data(n=50):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 1, 4, 4), dtype=np.uint8)
    labels = np.arange(n) % 10
    return images, labels


def test_each_epoch_visits_every_image_once_in_a_new_order():
    images, labels = _data()
    # Label each image by its index so the order can be read back.
    batches = Batches(images, np.arange(50), 16, (0.0,), (1.0,), shuffle=True, seed=3)
    assert len(batches) == 4
    orders = []
    for epoch in range(2):
        batches.set_epoch(epoch)
        got = np.concatenate([y for _, y in batches])
        assert sorted(got) == list(range(50))
        orders.append(got)
    assert not np.array_equal(orders[0], orders[1])
    batches.set_epoch(0)
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), orders[0])
    assert [len(y) for _, y in batches] == [16, 16, 16, 2]


def test_images_follow_their_labels_and_are_normalised():
    images, _ = _data()
    batches = Batches(images, np.arange(50), 7, (0.5,), (0.25,), shuffle=True, seed=0)
    for x, index in batches:
        assert x.dtype == np.float32 and x.shape[1:] == (1, 4, 4)
        expected = (images[index].astype(np.float32) / 255 - 0.5) / 0.25
        np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-6)


def test_skipping_batches_does_not_change_the_rest():
    images, labels = _data()
    batches = Batches(images, labels, 8, (0.3,), (0.3,), size=(6, 6), shuffle=True,
                      augment=True, seed=5)
    batches.set_epoch(2)
    everything = list(batches)
    tail = list(batches.iterate(start_batch=3))
    assert len(tail) == len(everything) - 3
    for (x_all, y_all), (x_tail, y_tail) in zip(everything[3:], tail):
        np.testing.assert_array_equal(x_all, x_tail)
        np.testing.assert_array_equal(y_all, y_tail)


def test_resize_and_augment_shapes():
    images, labels = _data()
    batches = Batches(images, labels, 10, (0.0,), (1.0,), size=(9, 9), augment=True)
    x, y = next(iter(batches))
    assert x.shape == (10, 1, 9, 9) and y.shape == (10,) and y.dtype == np.int64


def test_bad_batch_size():
    images, labels = _data()
    with pytest.raises(ValueError, match="batch size"):
        Batches(images, labels, 0, (0.0,), (1.0,))


def test_an_epoch_does_not_copy_the_dataset():
    """Drawing a batch allocates about a batch, not a shuffled copy of all the images."""
    import tracemalloc
    images = np.zeros((20000, 1, 28, 28), dtype=np.uint8)  # 15.7 MB
    labels = np.zeros(20000, dtype=np.int64)
    batches = Batches(images, labels, 64, (0.5,), (0.5,), shuffle=True, augment=True)
    tracemalloc.start()
    iterator = iter(batches)
    next(iterator)
    next(iterator)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2_000_000, f"peak {peak} bytes while drawing two batches of 64"
