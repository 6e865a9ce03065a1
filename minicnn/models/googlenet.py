"""GoogLeNet (Inception v1): blocks of four parallel paths whose outputs are concatenated.

Paper: C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, V. Vanhoucke,
A. Rabinovich, "Going Deeper with Convolutions", CVPR 2015. Section 4 and Figure 2(b) are the
Inception module: 1x1, 1x1 -> 3x3, 1x1 -> 5x5 and 3x3 max pooling -> 1x1 paths side by side,
the 1x1 "reduce" layers keeping the 3x3 and 5x5 convolutions cheap. Section 5, Table 1 and
Figure 3 give the network: a convolutional stem, nine Inception modules (3a, 3b, 4a-4e,
5a, 5b) with max pooling between the stages, 7x7 average pooling, dropout 0.4 and one linear
layer. The INCEPTION table below is Table 1's columns.

Differences from the paper, all deliberate:
- The two auxiliary classifiers (used only during training, Section 5) are left out, as in
  the d2l book and torchvision.
- LRN uses the BVLC Caffe replication's settings (size 5, alpha 1e-4, beta 0.75, k = 1).
- Global average pooling replaces the fixed 7x7 average pooling, so smaller inputs work too
  (the d2l book trains at 96x96, 28x28 gives 1x1 maps; on 224x224 the two are the same).

`googlenet_small` is GoogLeNet for 32x32 images: every Inception channel count halved,
BatchNorm after every convolution (S. Ioffe, C. Szegedy, "Batch Normalization", ICML 2015,
Section 4.2 adds it to a variant of this network), a single 3x3 convolution as stem and no
pooling before the Inception stages (the layout of the CIFAR GoogLeNets, e.g.
kuangliu/pytorch-cifar).
"""

from minicnn import functional as F
from minicnn import nn

from ._common import check_image_size, init_weights, out_size, scaled

# Table 1: #1x1, (#3x3 reduce, #3x3), (#5x5 reduce, #5x5), pool proj.
INCEPTION = {
    "3a": (64, (96, 128), (16, 32), 32),
    "3b": (128, (128, 192), (32, 96), 64),
    "4a": (192, (96, 208), (16, 48), 64),
    "4b": (160, (112, 224), (24, 64), 64),
    "4c": (128, (128, 256), (24, 64), 64),
    "4d": (112, (144, 288), (32, 64), 64),
    "4e": (256, (160, 320), (32, 128), 128),
    "5a": (256, (160, 320), (32, 128), 128),
    "5b": (384, (192, 384), (48, 128), 128),
}


def conv_relu(in_channels, out_channels, kernel_size, batch_norm, stride=1, padding=0):
    """[Convolution, (BatchNorm,) ReLU] as a list of layers; no conv bias before BatchNorm."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                     bias=not batch_norm)
    if batch_norm:
        return [conv, nn.BatchNorm2d(out_channels), nn.ReLU()]
    return [conv, nn.ReLU()]


class Inception(nn.Module):
    """Four parallel paths over the same input, concatenated along channels (Fig. 2b).

    (N, in_channels, H, W) -> (N, c1 + c2[1] + c3[1] + c4, H, W): every path keeps H and W.
    """

    def __init__(self, in_channels, c1, c2, c3, c4, batch_norm=False):
        super().__init__()
        bn = batch_norm
        self.path1 = nn.Sequential(*conv_relu(in_channels, c1, 1, bn))
        self.path2 = nn.Sequential(*conv_relu(in_channels, c2[0], 1, bn),
                                   *conv_relu(c2[0], c2[1], 3, bn, padding=1))
        self.path3 = nn.Sequential(*conv_relu(in_channels, c3[0], 1, bn),
                                   *conv_relu(c3[0], c3[1], 5, bn, padding=2))
        self.path4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                   *conv_relu(in_channels, c4, 1, bn))
        self.out_channels = c1 + c2[1] + c3[1] + c4

    def forward(self, x):
        return F.concat([self.path1(x), self.path2(x), self.path3(x), self.path4(x)], axis=1)


def add_inception_modules(model, names, in_channels, width=1.0, batch_norm=False):
    """Add model.inception<name> per name (INCEPTION sizes times width); return channels out."""
    for name in names:
        c1, (c2_reduce, c2), (c3_reduce, c3), c4 = INCEPTION[name]
        block = Inception(in_channels, scaled(c1, width),
                          (scaled(c2_reduce, width), scaled(c2, width)),
                          (scaled(c3_reduce, width), scaled(c3, width)),
                          scaled(c4, width), batch_norm)
        setattr(model, f"inception{name}", block)
        in_channels = block.out_channels
    return in_channels


class _InceptionNetwork(nn.Module):
    """The forward pass GoogLeNet and googlenet_small share: stem, nine Inception blocks in
    three stages separated by max pooling, global average pooling, dropout, classifier."""

    def forward(self, x):
        """x: (N, C, H, W) -> logits (N, num_classes); sides for 224 (GoogLeNet) / 32 (small)."""
        x = self.stem(x)                                        # 224 -> 28 / 32 -> 32
        x = self.inception3b(self.inception3a(x))
        x = self.pool3(x)                                       # 28 -> 14 / 32 -> 16
        x = self.inception4a(x)
        x = self.inception4b(x)
        x = self.inception4c(x)
        x = self.inception4d(x)
        x = self.inception4e(x)
        x = self.pool4(x)                                       # 14 -> 7 / 16 -> 8
        x = self.inception5b(self.inception5a(x))
        x = self.dropout(self.global_pool(x))
        return self.fc(x)


class GoogLeNet(_InceptionNetwork):
    """GoogLeNet (Table 1, without auxiliary classifiers) -> (N, num_classes).

    Options:
        image_size: the input side the model is meant for (default 224; the d2l book uses 96;
            with global average pooling, other sides work as well).
        width: multiplies every channel count (1.0 = paper).
        dropout: drop probability before the linear layer (paper: 0.4).
        init: "he" (default: He et al. 2015, variance 2 / fan_in, zero biases) or "default"
            (the layers' own PyTorch-style initialisation); see _common.init_weights.
    """

    def __init__(self, num_classes=10, in_channels=1, image_size=224, width=1.0, dropout=0.4,
                 init="he"):
        super().__init__()
        check_image_size("googlenet", image_size, _feature_size)
        self.default_input_size = (in_channels, image_size, image_size)

        c64, c192 = scaled(64, width), scaled(192, width)
        self.stem = nn.Sequential(
            *conv_relu(in_channels, c64, 7, False, stride=2, padding=3),
            nn.MaxPool2d(3, stride=2, padding=1),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0),
            *conv_relu(c64, c64, 1, False),
            *conv_relu(c64, c192, 3, False, padding=1),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        channels = add_inception_modules(self, ["3a", "3b"], c192, width)
        self.pool3 = nn.MaxPool2d(3, stride=2, padding=1)
        channels = add_inception_modules(self, ["4a", "4b", "4c", "4d", "4e"], channels, width)
        self.pool4 = nn.MaxPool2d(3, stride=2, padding=1)
        channels = add_inception_modules(self, ["5a", "5b"], channels, width)
        self.global_pool = nn.GlobalAvgPool2d()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self, init)



def _feature_size(image_size):
    """Side of the maps reaching global average pooling in GoogLeNet (7 for 224)."""
    size = out_size(image_size, 7, stride=2, padding=3)
    for _ in range(4):  # the stem's two poolings, pool3, pool4
        size = out_size(size, 3, stride=2, padding=1)
    return size


class GoogLeNetSmall(_InceptionNetwork):
    """GoogLeNet for 32x32 images: halved channels, BatchNorm, 3x3 stem -> (N, num_classes).

    Options:
        image_size: the input side the model is meant for (default 32; other sides work as well).
        width: multiplies every channel count after the halving (1.0 = half the paper's).
        dropout: drop probability before the linear layer (paper: 0.4).
        init: "he" (default: He et al. 2015, variance 2 / fan_in, zero biases) or "default"
            (the layers' own PyTorch-style initialisation); see _common.init_weights.
    """

    def __init__(self, num_classes=10, in_channels=1, image_size=32, width=1.0, dropout=0.4,
                 init="he"):
        super().__init__()
        check_image_size("googlenet_small", image_size, _small_feature_size)
        self.default_input_size = (in_channels, image_size, image_size)

        half = 0.5 * width
        stem_channels = scaled(192, half)
        self.stem = nn.Sequential(*conv_relu(in_channels, stem_channels, 3, True, padding=1))
        channels = add_inception_modules(self, ["3a", "3b"], stem_channels, half, True)
        self.pool3 = nn.MaxPool2d(3, stride=2, padding=1)
        channels = add_inception_modules(self, ["4a", "4b", "4c", "4d", "4e"], channels,
                                         half, True)
        self.pool4 = nn.MaxPool2d(3, stride=2, padding=1)
        channels = add_inception_modules(self, ["5a", "5b"], channels, half, True)
        self.global_pool = nn.GlobalAvgPool2d()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self, init)



def _small_feature_size(image_size):
    """Side of the maps reaching global average pooling in googlenet_small (8 for 32)."""
    return out_size(out_size(image_size, 3, stride=2, padding=1), 3, stride=2, padding=1)
