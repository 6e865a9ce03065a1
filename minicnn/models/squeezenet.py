"""SqueezeNet v1.1: AlexNet-level accuracy from Fire modules with 50x fewer parameters.

Paper: F. N. Iandola, S. Han, M. W. Moskewicz, K. Ashraf, W. J. Dally, K. Keutzer,
"SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
arXiv:1602.07360, 2016. Section 3.1 lists the three strategies (1x1 instead of 3x3 filters,
fewer input channels to the 3x3 filters, late downsampling); Section 3.2 and Figure 1 the Fire
module (a 1x1 "squeeze" layer feeding 1x1 and 3x3 "expand" layers whose outputs are
concatenated); Section 3.3, Table 1 and Figure 2 the network: conv1, fire2..fire9, dropout 0.5
after fire9, a 1x1 conv10 with one map per class and global average pooling, no fully
connected layer. This is version 1.1 from the authors' repository (forresti/SqueezeNet):
conv1 has 64 3x3 filters with stride 2 and the poolings come after conv1, fire3 and fire5,
for 2.4x less computation than v1.0 at the same accuracy.

Differences from the paper: the poolings round down where Caffe rounds up (the same sizes on
224x224 inputs); small_input=True uses a stride-1 conv1 with padding 1 so that 28x28 images
keep enough resolution for the three poolings (28 -> 13 -> 6 -> 2).
"""

from minicnn import functional as F
from minicnn import nn

from ._common import check_image_size, init_weights, out_size

# Table 1 (v1.1 keeps v1.0's Fire sizes): (s1x1 squeeze, e1x1, e3x3 expand) for fire2..fire9.
FIRE = {
    "fire2": (16, 64, 64),
    "fire3": (16, 64, 64),
    "fire4": (32, 128, 128),
    "fire5": (32, 128, 128),
    "fire6": (48, 192, 192),
    "fire7": (48, 192, 192),
    "fire8": (64, 256, 256),
    "fire9": (64, 256, 256),
}


class Fire(nn.Module):
    """Squeeze to s1x1 channels, expand through parallel 1x1 and 3x3 layers, concatenate.

    (N, in_channels, H, W) -> (N, e1x1 + e3x3, H, W).
    """

    def __init__(self, in_channels, s1x1, e1x1, e3x3):
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, s1x1, 1)
        self.squeeze_relu = nn.ReLU()
        self.expand1x1 = nn.Conv2d(s1x1, e1x1, 1)
        self.expand1x1_relu = nn.ReLU()
        self.expand3x3 = nn.Conv2d(s1x1, e3x3, 3, padding=1)
        self.expand3x3_relu = nn.ReLU()
        self.out_channels = e1x1 + e3x3

    def forward(self, x):
        x = self.squeeze_relu(self.squeeze(x))
        return F.concat([self.expand1x1_relu(self.expand1x1(x)),
                         self.expand3x3_relu(self.expand3x3(x))], axis=1)


class SqueezeNet(nn.Module):
    """SqueezeNet v1.1 for (N, in_channels, H, W) inputs -> (N, num_classes).

    Options:
        small_input: stride-1, padding-1 conv1 for 28-32 px images (default False: stride 2).
        image_size: the input side the model is meant for (default 224, or 28 with
            small_input; global average pooling accepts other sides as well).
        dropout: drop probability after fire9 (paper: 0.5).
        init: "he" (default: He et al. 2015, variance 2 / fan_in, zero biases) or "default"
            (the layers' own PyTorch-style initialisation); see _common.init_weights.
    """

    def __init__(self, num_classes=10, in_channels=1, small_input=False, image_size=None,
                 dropout=0.5, init="he"):
        super().__init__()
        if image_size is None:
            image_size = 28 if small_input else 224
        self.small_input = small_input
        check_image_size("squeezenet", image_size, self._feature_size)
        self.default_input_size = (in_channels, image_size, image_size)

        if small_input:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(3, stride=2)
        self.fire2 = Fire(64, *FIRE["fire2"])
        self.fire3 = Fire(self.fire2.out_channels, *FIRE["fire3"])
        self.pool3 = nn.MaxPool2d(3, stride=2)
        self.fire4 = Fire(self.fire3.out_channels, *FIRE["fire4"])
        self.fire5 = Fire(self.fire4.out_channels, *FIRE["fire5"])
        self.pool5 = nn.MaxPool2d(3, stride=2)
        self.fire6 = Fire(self.fire5.out_channels, *FIRE["fire6"])
        self.fire7 = Fire(self.fire6.out_channels, *FIRE["fire7"])
        self.fire8 = Fire(self.fire7.out_channels, *FIRE["fire8"])
        self.fire9 = Fire(self.fire8.out_channels, *FIRE["fire9"])
        self.dropout = nn.Dropout(dropout)
        self.conv10 = nn.Conv2d(self.fire9.out_channels, num_classes, 1)  # one map per class
        self.relu10 = nn.ReLU()
        self.global_pool = nn.GlobalAvgPool2d()
        init_weights(self, init)

    def _feature_size(self, image_size):
        """Side of conv10's output (13 for 224, 2 for 28 with small_input)."""
        if self.small_input:
            size = image_size
        else:
            size = out_size(image_size, 3, stride=2)
        for _ in range(3):  # pool1, pool3, pool5; the Fire modules keep the size
            size = out_size(size, 3, stride=2)
        return size

    def forward(self, x):
        """x: (N, C, H, W) -> logits (N, num_classes)."""
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool3(self.fire3(self.fire2(x)))
        x = self.pool5(self.fire5(self.fire4(x)))
        x = self.fire9(self.fire8(self.fire7(self.fire6(x))))
        x = self.relu10(self.conv10(self.dropout(x)))
        return self.global_pool(x)
