"""Turning stored uint8 images into shuffled, normalised, resized and augmented float batches.

Images stay as uint8 (N, C, H, W) in memory; each epoch draws an index permutation and each
batch gathers only its own rows, so an epoch never copies the whole dataset. Resizing is done
per batch for the same reason: AlexNet's 224x224 float32 copy of 60,000 images would need
12 GB, while a batch needs a few MB and the bilinear interpolation costs little next to the
network itself.

Randomness (order, crops, flips) comes from a Generator seeded by (seed, epoch), so an epoch
can be replayed exactly after a resume without saving any generator state.
"""
import numpy as np


def epoch_rng(seed, epoch):
    """The data-order and augmentation generator of one epoch."""
    return np.random.default_rng([seed, epoch])


def bilinear_resize(x, size):
    """Resize a batch (N, C, H, W) to (N, C, OH, OW) by bilinear interpolation.

    Pixel centres are aligned as in PyTorch's `interpolate(..., align_corners=False)` without
    antialiasing: output pixel i samples the input at (i + 0.5) * H / OH - 0.5, clamped.
    """
    OH, OW = size
    N, C, H, W = x.shape
    if (H, W) == (OH, OW):
        return x

    def axis_weights(in_size, out_size):
        pos = (np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5
        pos = np.clip(pos, 0, in_size - 1)
        low = np.floor(pos).astype(np.int64)
        high = np.minimum(low + 1, in_size - 1)
        frac = (pos - low).astype(x.dtype)
        return low, high, frac

    y0, y1, fy = axis_weights(H, OH)
    x0, x1, fx = axis_weights(W, OW)
    rows = x[:, :, y0, :] * (1 - fy)[:, None] + x[:, :, y1, :] * fy[:, None]  # (N, C, OH, W)
    return rows[:, :, :, x0] * (1 - fx) + rows[:, :, :, x1] * fx             # (N, C, OH, OW)


def random_crop(x, padding, rng):
    """Pad each image by `padding` zeros on every side, then cut a random window of its size.

    x: (N, C, H, W) -> (N, C, H, W); each image gets its own offset.
    """
    if padding <= 0:
        return x
    N, C, H, W = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    top = rng.integers(0, 2 * padding + 1, size=N)
    left = rng.integers(0, 2 * padding + 1, size=N)
    rows = top[:, None] + np.arange(H)   # (N, H)
    cols = left[:, None] + np.arange(W)  # (N, W)
    n = np.arange(N)[:, None, None, None]
    c = np.arange(C)[None, :, None, None]
    return padded[n, c, rows[:, None, :, None], cols[:, None, None, :]]


def random_flip(x, rng):
    """Mirror a random half of the images left-right. x: (N, C, H, W)."""
    flip = rng.random(len(x)) < 0.5
    out = x.copy()
    out[flip] = x[flip, :, :, ::-1]
    return out


class Batches:
    """Iterate over (images, labels) batches of a split.

    images: (N, C, H, W) uint8; labels: (N,) int. Each batch comes out as float32 NumPy
    arrays: (B, C, OH, OW) normalised with `mean`/`std` (per channel, on a 0..1 scale) and
    resized to `size` (None keeps the stored size), plus (B,) int64 labels.

    shuffle: permute the order each epoch (training). augment: random crop (padding of one
    eighth of the side) and horizontal flip. The last, smaller batch is kept.
    """

    def __init__(self, images, labels, batch_size, mean, std, size=None, shuffle=False,
                 augment=False, seed=0):
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.images, self.labels = images, labels
        self.batch_size = batch_size
        self.mean = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
        self.size = tuple(size) if size is not None else tuple(images.shape[2:])
        self.shuffle, self.augment, self.seed = shuffle, augment, seed
        self.epoch = 0

    def __len__(self):
        return -(-len(self.images) // self.batch_size)

    def set_epoch(self, epoch):
        """Choose the epoch whose order and augmentation the next iteration replays."""
        self.epoch = epoch

    def order(self, rng):
        if self.shuffle:
            return rng.permutation(len(self.images))
        return np.arange(len(self.images))

    def transform(self, raw, rng):
        """uint8 (B, C, H, W) -> normalised, resized, maybe augmented float32 batch."""
        x = raw.astype(np.float32) * np.float32(1 / 255)
        x = bilinear_resize(x, self.size)
        if self.augment:  # before normalising, so the crop pads with black, not grey
            x = random_crop(x, max(1, self.size[0] // 8), rng)
            x = random_flip(x, rng)
        x = (x - self.mean) / self.std
        return np.ascontiguousarray(x, dtype=np.float32)

    def __iter__(self):
        return self.iterate()

    def iterate(self, start_batch=0):
        """Yield batches from `start_batch` on (a resumed epoch skips the ones already done).

        Every batch has its own generator derived from (seed, epoch, batch index), so skipping
        batches does not change the ones that follow.
        """
        order = self.order(epoch_rng(self.seed, self.epoch))
        for b in range(start_batch, len(self)):
            index = order[b * self.batch_size:(b + 1) * self.batch_size]
            rng = np.random.default_rng([self.seed, self.epoch, b])
            yield self.transform(self.images[index], rng), self.labels[index].astype(np.int64)


def first_test_batch(data, n, input_size, mean=None, std=None):
    """(x, y): the first n test images of `data` as one batch for (C, H, W) inputs, resized and
    normalised (with the dataset's mean and std unless given). Grey images go to every channel
    of a colour model: good enough to look at activations and gradients, not to judge accuracy.
    """
    C, H, W = input_size
    mean = data.mean if mean is None else mean
    std = data.std if std is None else std
    images = data.test_x[:n]
    if images.shape[1] != C:
        images = np.repeat(images, C, axis=1)
    if len(mean) != C:
        mean, std = (mean[0],) * C, (std[0],) * C
    return next(iter(Batches(images, data.test_y[:n], n, mean, std, size=(H, W))))

