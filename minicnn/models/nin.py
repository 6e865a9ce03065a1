"""Network in Network: a tiny MLP (1x1 convolutions) after each convolution, and no fully
connected layer at all: the last block outputs one map per class, averaged to a score.

Paper: M. Lin, Q. Chen, S. Yan, "Network In Network", ICLR 2014. Section 3.1 is the mlpconv
layer (a convolution followed by 1x1 convolutions: "cascaded cross channel parametric
pooling"), Section 3.2 global average pooling in place of the fully connected layers, and
Section 3.3 the overall structure (stacked mlpconv layers with max pooling between them; the
paper's CIFAR networks also use dropout between them, here it is used once, before the last
block, as in the ImageNet model). The sizes below are those of the ImageNet NiN the authors
released (Caffe model zoo), as the d2l book uses them: AlexNet's convolution sizes, each
followed by two 1x1 layers, with the last block producing num_classes maps.

small_input=True replaces the 11x11 stride-4 first convolution by a 3x3 stride-1 one so that
28x28 images survive the three poolings (28 -> 13 -> 6 -> 2).
"""

from minicnn import nn

from ._common import check_image_size, init_weights, out_size, scaled


def mlpconv(in_channels, out_channels, kernel_size, stride, padding):
    """Convolution + ReLU, then two (1x1 convolution + ReLU): one NiN block (Fig. 2)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, kernel_size=1),
        nn.ReLU(),
    )


class NiN(nn.Module):
    """NiN for (N, in_channels, H, W) inputs; returns (N, num_classes).

    Options:
        width: multiplies the 96/256/384 channels of the first three blocks (1.0 = paper).
        small_input: 3x3 stride-1 first convolution for 28-32 px images (default False).
        image_size: the input side the model is meant for (default 224, or 28 with
            small_input); global average pooling accepts any size at least that large.
        dropout: drop probability before the last block (paper: 0.5).
        init: "he" (default: He et al. 2015, variance 2 / fan_in, zero biases) or "default"
            (the layers' own PyTorch-style initialisation); see _common.init_weights.
    """

    def __init__(self, num_classes=10, in_channels=1, width=1.0, small_input=False,
                 image_size=None, dropout=0.5, init="he"):
        super().__init__()
        if image_size is None:
            image_size = 28 if small_input else 224
        self.small_input = small_input
        check_image_size("nin", image_size, self._feature_size)
        self.default_input_size = (in_channels, image_size, image_size)
        c1, c2, c3 = (scaled(c, width) for c in (96, 256, 384))

        if small_input:
            self.mlpconv1 = mlpconv(in_channels, c1, kernel_size=3, stride=1, padding=1)
        else:
            self.mlpconv1 = mlpconv(in_channels, c1, kernel_size=11, stride=4, padding=0)
        self.pool1 = nn.MaxPool2d(3, stride=2)
        self.mlpconv2 = mlpconv(c1, c2, kernel_size=5, stride=1, padding=2)
        self.pool2 = nn.MaxPool2d(3, stride=2)
        self.mlpconv3 = mlpconv(c2, c3, kernel_size=3, stride=1, padding=1)
        self.pool3 = nn.MaxPool2d(3, stride=2)
        self.dropout = nn.Dropout(dropout)
        self.mlpconv4 = mlpconv(c3, num_classes, kernel_size=3, stride=1, padding=1)
        self.global_pool = nn.GlobalAvgPool2d()  # one score per class map: (N, num_classes)
        init_weights(self, init)

    def _feature_size(self, image_size):
        """Side of the maps reaching global average pooling."""
        if self.small_input:
            size = out_size(image_size, 3, stride=1, padding=1)
        else:
            size = out_size(image_size, 11, stride=4)
        for _ in range(3):  # pool1..pool3; the blocks after the first keep the size
            size = out_size(size, 3, stride=2)
        return size

    def forward(self, x):
        """x: (N, C, H, W) -> logits (N, num_classes)."""
        x = self.pool1(self.mlpconv1(x))
        x = self.pool2(self.mlpconv2(x))
        x = self.pool3(self.mlpconv3(x))
        x = self.mlpconv4(self.dropout(x))
        return self.global_pool(x)
