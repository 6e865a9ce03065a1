"""AlexNet: LeNet's idea at ImageNet scale, with ReLU, dropout, LRN and overlapping pooling.

Paper: A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet Classification with Deep
Convolutional Neural Networks", NeurIPS 2012. Section 3.5 and Figure 2 give the layers read
below (conv1..conv5, fc6..fc8, as Caffe's reference AlexNet names them); Section 3.1 is ReLU,
3.3 local response normalisation, 3.4 overlapping pooling (3x3 windows, stride 2), and 4.2
dropout (p = 0.5 on the outputs of the first two fully connected layers).

Differences from the paper, all deliberate:
- conv1 pads the 224x224 input by 2, which gives the paper's 55x55 maps (the paper's 224 does
  not divide; its real input was 227x227).
- One tower by default. two_towers=True restores the paper's two-GPU split: conv2, conv4 and
  conv5 only see the half of the previous maps on their own GPU (groups=2), which halves
  those layers' weights.
- LRN uses the paper's constants k=2, n=5, alpha=1e-4, beta=0.75. The paper's formula does
  not divide alpha by n, minicnn's (PyTorch's) does, so alpha is passed as 1e-4 * 5.
- small_input=True replaces the 11x11 stride-4 conv1 by a 3x3 stride-1 one so that 28x28
  images (Fashion-MNIST) keep enough resolution for the three poolings (28 -> 13 -> 6 -> 2).
"""

from minicnn import nn

from ._common import check_image_size, check_input, init_weights, out_size, scaled

LRN_SIZE = 5
LRN_ALPHA = 1e-4 * LRN_SIZE  # the paper's alpha, in the divide-by-n convention
LRN_BETA = 0.75
LRN_K = 2.0


class AlexNet(nn.Module):
    """AlexNet for (N, in_channels, image_size, image_size) inputs; returns (N, num_classes).

    Options:
        width: multiplies every channel count and the 4096 units of fc6/fc7 (1.0 = paper;
            0.25 is a CPU-sized AlexNet).
        small_input: 3x3 stride-1 conv1 for 28-32 px images (default False: 11x11 stride 4).
        image_size: input side in pixels (default 224, or 28 with small_input).
        two_towers: the paper's two-GPU connectivity (groups=2 in conv2, conv4, conv5).
        dropout: probability of dropping a unit of fc6/fc7 (paper: 0.5).
        init: "he" (default: He et al. 2015, variance 2 / fan_in, zero biases) or "default"
            (the layers' own PyTorch-style initialisation); see _common.init_weights.
    """

    def __init__(self, num_classes=10, in_channels=1, width=1.0, small_input=False,
                 image_size=None, two_towers=False, dropout=0.5, init="he"):
        super().__init__()
        if image_size is None:
            image_size = 28 if small_input else 224
        self.small_input = small_input
        feature_size = check_image_size("alexnet", image_size, self._feature_size)
        self.default_input_size = (in_channels, image_size, image_size)
        groups = 2 if two_towers else 1
        c1, c2, c3, c4, c5 = (scaled(c, width, groups) for c in (96, 256, 384, 384, 256))
        units = scaled(4096, width)

        if small_input:
            self.conv1 = nn.Conv2d(in_channels, c1, kernel_size=3, stride=1, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, c1, kernel_size=11, stride=4, padding=2)
        self.relu1 = nn.ReLU()
        self.norm1 = nn.LocalResponseNorm(LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K)
        self.pool1 = nn.MaxPool2d(3, stride=2)                            # overlapping
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=5, padding=2, groups=groups)
        self.relu2 = nn.ReLU()
        self.norm2 = nn.LocalResponseNorm(LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K)
        self.pool2 = nn.MaxPool2d(3, stride=2)
        self.conv3 = nn.Conv2d(c2, c3, kernel_size=3, padding=1)          # sees both towers
        self.relu3 = nn.ReLU()
        self.conv4 = nn.Conv2d(c3, c4, kernel_size=3, padding=1, groups=groups)
        self.relu4 = nn.ReLU()
        self.conv5 = nn.Conv2d(c4, c5, kernel_size=3, padding=1, groups=groups)
        self.relu5 = nn.ReLU()
        self.pool5 = nn.MaxPool2d(3, stride=2)
        self.flatten = nn.Flatten()
        self.fc6 = nn.Linear(c5 * feature_size * feature_size, units)
        self.relu6 = nn.ReLU()
        self.drop6 = nn.Dropout(dropout)
        self.fc7 = nn.Linear(units, units)
        self.relu7 = nn.ReLU()
        self.drop7 = nn.Dropout(dropout)
        self.fc8 = nn.Linear(units, num_classes)
        init_weights(self, init)

    def _feature_size(self, image_size):
        """Side of pool5's output for an image_size input (6 for the paper's 224)."""
        if self.small_input:
            size = out_size(image_size, 3, stride=1, padding=1)
        else:
            size = out_size(image_size, 11, stride=4, padding=2)
        for _ in range(3):  # pool1, pool2, pool5; the convolutions between keep the size
            size = out_size(size, 3, stride=2)
        return size

    def forward(self, x):
        """x: (N, C, H, W) -> logits (N, num_classes)."""
        check_input("alexnet", x, self.default_input_size)
        x = self.pool1(self.norm1(self.relu1(self.conv1(x))))
        x = self.pool2(self.norm2(self.relu2(self.conv2(x))))
        x = self.relu3(self.conv3(x))
        x = self.relu4(self.conv4(x))
        x = self.pool5(self.relu5(self.conv5(x)))
        x = self.flatten(x)
        x = self.drop6(self.relu6(self.fc6(x)))
        x = self.drop7(self.relu7(self.fc7(x)))
        return self.fc8(x)
