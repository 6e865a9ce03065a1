"""VGG: depth from stacks of small 3x3 convolutions, built from a table of blocks.

Paper: K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015. Section 2.1 gives the building rules (3x3 convolutions, stride 1,
padding 1; 2x2 max pooling, stride 2; ReLU everywhere; fc6 and fc7 of 4096 units with dropout
0.5, Section 3.1), Table 1 the configurations A, B, D and E (= VGG-11, -13, -16, -19 below) and
Table 2 their parameter counts. Section 2.3 argues that a stack of two 3x3 layers sees a 5x5
window and three see 7x7, with fewer weights (3 * 3^2 C^2 = 27 C^2 against 7^2 C^2 = 49 C^2)
and more non-linearities: `vgg16_bigconv` builds that comparison.

`vgg16_bn` is the VGG-16 for 32x32 images with BatchNorm after every convolution, dropout
inside the blocks and a 512-unit head, trained with weight decay 5e-4: S. Liu, W. Deng, "Very
Deep Convolutional Neural Network Based Image Classification Using Small Training Sample
Size", ACPR 2015, in the form S. Zagoruyko published as "92.45% on CIFAR-10 in Torch" (2015).
"""

from minicnn import nn

from ._common import check_image_size, check_input, init_weights, scaled

# Table 1 of the paper: for each of the five blocks, (number of convolutions, output channels,
# kernel size). Every block ends with a 2x2 max pooling, so the map shrinks 32 times.
CONV_ARCH = {
    "vgg11": ((1, 64, 3), (1, 128, 3), (2, 256, 3), (2, 512, 3), (2, 512, 3)),  # A
    "vgg13": ((2, 64, 3), (2, 128, 3), (2, 256, 3), (2, 512, 3), (2, 512, 3)),  # B
    "vgg16": ((2, 64, 3), (2, 128, 3), (3, 256, 3), (3, 512, 3), (3, 512, 3)),  # D
    "vgg19": ((2, 64, 3), (2, 128, 3), (4, 256, 3), (4, 512, 3), (4, 512, 3)),  # E
    # VGG-16 with each stack of n 3x3 convolutions replaced by one convolution seeing the
    # same window, (2n + 1) x (2n + 1): two 3x3 -> one 5x5, three 3x3 -> one 7x7.
    "vgg16_bigconv": ((1, 64, 5), (1, 128, 5), (1, 256, 7), (1, 512, 7), (1, 512, 7)),
}


def vgg_block(num_convs, in_channels, out_channels, kernel_size):
    """num_convs (convolution, ReLU) pairs keeping the map size, then a 2x2 max pooling."""
    layers = []
    for _ in range(num_convs):
        layers.append(nn.Conv2d(in_channels, out_channels, kernel_size,
                                padding=kernel_size // 2))
        layers.append(nn.ReLU())
        in_channels = out_channels
    layers.append(nn.MaxPool2d(2, stride=2))
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG-11/13/16/19 (and VGG-16 with big kernels) for square inputs -> (N, num_classes).

    Options:
        config: a key of CONV_ARCH ('vgg11', 'vgg13', 'vgg16', 'vgg19', 'vgg16_bigconv');
            build() sets it from the model's name.
        channel_ratio: divides every convolution's channel count (1 = paper; the d2l book
            trains VGG-11 with 4 on Fashion-MNIST).
        fc_width: units of fc6 and fc7 (paper: 4096).
        image_size: input side in pixels (default 224; at least 32 for the five poolings).
        dropout: drop probability after fc6 and fc7 (paper: 0.5).
        init: "he" (default: He et al. 2015, variance 2 / fan_in, zero biases) or "default"
            (the layers' own PyTorch-style initialisation); see _common.init_weights.
    """

    def __init__(self, num_classes=10, in_channels=1, config="vgg16", channel_ratio=1,
                 fc_width=4096, image_size=224, dropout=0.5, init="he"):
        super().__init__()
        if config not in CONV_ARCH:
            raise ValueError(f"vgg: unknown config {config!r}; choose one of {list(CONV_ARCH)}")
        if not channel_ratio > 0:
            raise ValueError(f"{config}: channel_ratio must be positive, got {channel_ratio!r}")
        feature_size = check_image_size(config, image_size, lambda size: size // 32)
        self.config = config
        self.default_input_size = (in_channels, image_size, image_size)

        channels = in_channels
        for index, (num_convs, out_channels, kernel_size) in enumerate(CONV_ARCH[config]):
            out_channels = scaled(out_channels, 1 / channel_ratio)
            block = vgg_block(num_convs, channels, out_channels, kernel_size)
            setattr(self, f"block{index + 1}", block)
            channels = out_channels
        self.flatten = nn.Flatten()
        self.fc6 = nn.Linear(channels * feature_size * feature_size, fc_width)
        self.relu6 = nn.ReLU()
        self.drop6 = nn.Dropout(dropout)
        self.fc7 = nn.Linear(fc_width, fc_width)
        self.relu7 = nn.ReLU()
        self.drop7 = nn.Dropout(dropout)
        self.fc8 = nn.Linear(fc_width, num_classes)
        init_weights(self, init)

    def forward(self, x):
        """x: (N, C, H, W) -> logits (N, num_classes)."""
        check_input(self.config, x, self.default_input_size)
        x = self.block1(x)
        x = self.block2(x)
        x = self.block3(x)
        x = self.block4(x)
        x = self.block5(x)
        x = self.flatten(x)
        x = self.drop6(self.relu6(self.fc6(x)))
        x = self.drop7(self.relu7(self.fc7(x)))
        return self.fc8(x)


# vgg16_bn, block by block: (output channels, dropout after this convolution or None).
# Dropout sits between the convolutions of a block, never right before a pooling.
BN_ARCH = (
    ((64, 0.3), (64, None)),
    ((128, 0.4), (128, None)),
    ((256, 0.4), (256, 0.4), (256, None)),
    ((512, 0.4), (512, 0.4), (512, None)),
    ((512, 0.4), (512, 0.4), (512, None)),
)


def vgg_bn_block(convs, in_channels, channel_ratio, dropout_scale=1.0):
    """(3x3 convolution, BatchNorm, ReLU[, Dropout]) per entry of convs, then 2x2 max pooling.
    Each dropout probability of convs is multiplied by dropout_scale. A Dropout layer of
    probability 0 stays (as the identity), so the parameter names do not depend on the scale."""
    layers = []
    for out_channels, drop in convs:
        out_channels = scaled(out_channels, 1 / channel_ratio)
        layers.append(nn.Conv2d(in_channels, out_channels, 3, padding=1))
        layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())
        if drop is not None:
            layers.append(nn.Dropout(drop * dropout_scale))
        in_channels = out_channels
    layers.append(nn.MaxPool2d(2, stride=2))
    return nn.Sequential(*layers), in_channels


class VGG16BN(nn.Module):
    """VGG-16 with BatchNorm and dropout for 32x32 images (CIFAR-style) -> (N, num_classes).

    Train it with weight decay 5e-4 (part of the recipe, not of the model).

    Options:
        channel_ratio: divides every channel count, the head's 512 units included (1 = paper).
        image_size: input side in pixels (default 32; at least 32 for the five poolings).
        dropout_scale: multiplies every dropout probability (1 = paper: 0.3-0.4 inside the
            blocks, 0.5 in the head; 0 = no dropout). Dropout in front of BatchNorm makes the
            statistics BatchNorm learns in training (dropout on) differ from what it sees in
            evaluation (dropout off), more so the fewer the channels; in short runs of a thin
            network that gap can leave the evaluated model at chance (see README).
        init: "he" (default: He et al. 2015, variance 2 / fan_in, zero biases) or "default"
            (the layers' own PyTorch-style initialisation); see _common.init_weights.
    """

    def __init__(self, num_classes=10, in_channels=1, channel_ratio=1, image_size=32,
                 dropout_scale=1.0, init="he"):
        super().__init__()
        if not channel_ratio > 0:
            raise ValueError(f"vgg16_bn: channel_ratio must be positive, got {channel_ratio!r}")
        if not 0 <= dropout_scale < 2:
            raise ValueError(f"vgg16_bn: dropout_scale must be in [0, 2) so that every "
                             f"probability (at most 0.5 x scale) stays below 1, "
                             f"got {dropout_scale!r}")
        feature_size = check_image_size("vgg16_bn", image_size, lambda size: size // 32)
        self.default_input_size = (in_channels, image_size, image_size)

        channels = in_channels
        for index, convs in enumerate(BN_ARCH):
            block, channels = vgg_bn_block(convs, channels, channel_ratio, dropout_scale)
            setattr(self, f"block{index + 1}", block)
        units = scaled(512, 1 / channel_ratio)
        self.flatten = nn.Flatten()
        self.drop6 = nn.Dropout(0.5 * dropout_scale)
        self.fc6 = nn.Linear(channels * feature_size * feature_size, units)
        self.bn6 = nn.BatchNorm1d(units)
        self.relu6 = nn.ReLU()
        self.drop7 = nn.Dropout(0.5 * dropout_scale)
        self.fc7 = nn.Linear(units, num_classes)
        init_weights(self, init)

    def forward(self, x):
        """x: (N, C, H, W) -> logits (N, num_classes)."""
        check_input("vgg16_bn", x, self.default_input_size)
        x = self.block1(x)
        x = self.block2(x)
        x = self.block3(x)
        x = self.block4(x)
        x = self.block5(x)
        x = self.drop6(self.flatten(x))
        x = self.relu6(self.bn6(self.fc6(x)))
        return self.fc7(self.drop7(x))
