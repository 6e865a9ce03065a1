"""ResNet: blocks learn a residual F(x) that is added back to their input, so depth stops
hurting.

Paper: K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition",
CVPR 2016. Section 3.2 and Figure 2 are the building block y = F(x) + x (eq. 1) and the
projection shortcut y = F(x) + W_s x when the shape changes (eq. 2); Section 3.3 the plain
and residual networks, with option B: identity shortcuts, 1x1 projections only where the
channels grow (and the stride is 2); Section 3.4 BatchNorm right after each convolution and
before the activation. Table 1 gives ResNet-18 and ResNet-34 (BASIC_LAYERS below) and names the
stages conv1, conv2_x ... conv5_x, as the attributes here do.

small_input=True is the stem the paper uses for CIFAR-10 (Section 4.2): a 3x3 stride-1
convolution and no max pooling, so 28-32 px images keep their resolution into conv2_x.
"""

from minicnn import nn

from ._common import check_image_size, init_weights, out_size, scaled

# Table 1: BasicBlocks per stage conv2_x .. conv5_x.
BASIC_LAYERS = {
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
}


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm, plus the shortcut (Fig. 2).

    (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1,
                               bias=False)  # BatchNorm's beta makes a bias redundant
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            # W_s of eq. 2: a 1x1 projection with the block's stride, so x matches F(x)
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()
        self.relu2 = nn.ReLU()

    def forward(self, x):
        residual = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))  # F(x)
        return self.relu2(residual + self.shortcut(x))


def stage(num_blocks, in_channels, out_channels, stride):
    """num_blocks BasicBlocks; the first one changes channels and stride, the rest keep them."""
    blocks = [BasicBlock(in_channels, out_channels, stride)]
    for _ in range(num_blocks - 1):
        blocks.append(BasicBlock(out_channels, out_channels))
    return nn.Sequential(*blocks)


class ResNet(nn.Module):
    """ResNet-18/34 (Table 1) for (N, in_channels, H, W) inputs -> (N, num_classes).

    Options:
        config: 'resnet18' or 'resnet34' (build() sets it from the model's name).
        small_input: the CIFAR stem (3x3 stride-1 convolution, no max pooling) for 28-32 px
            images (default False: 7x7 stride-2 convolution and 3x3 stride-2 max pooling).
        width: multiplies every channel count, 64-128-256-512 in the paper (1.0 = paper).
        image_size: the input side the model is meant for (default 224, or 28 with
            small_input; global average pooling accepts other sides as well).
        init: "he" (default: He et al. 2015, variance 2 / fan_in, zero biases) or "default"
            (the layers' own PyTorch-style initialisation); see _common.init_weights.
    """

    def __init__(self, num_classes=10, in_channels=1, config="resnet18", small_input=False,
                 width=1.0, image_size=None, init="he"):
        super().__init__()
        if config not in BASIC_LAYERS:
            raise ValueError(f"resnet: unknown config {config!r}; choose one of "
                             f"{list(BASIC_LAYERS)}")
        if image_size is None:
            image_size = 28 if small_input else 224
        self.small_input = small_input
        check_image_size(config, image_size, self._feature_size)
        self.default_input_size = (in_channels, image_size, image_size)
        c2, c3, c4, c5 = (scaled(c, width) for c in (64, 128, 256, 512))

        if small_input:
            self.conv1 = nn.Conv2d(in_channels, c2, 3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, c2, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)  # Table 1 opens conv2_x here
        self.bn1 = nn.BatchNorm2d(c2)
        self.relu1 = nn.ReLU()
        n2, n3, n4, n5 = BASIC_LAYERS[config]
        self.conv2_x = stage(n2, c2, c2, stride=1)
        self.conv3_x = stage(n3, c2, c3, stride=2)
        self.conv4_x = stage(n4, c3, c4, stride=2)
        self.conv5_x = stage(n5, c4, c5, stride=2)
        self.global_pool = nn.GlobalAvgPool2d()
        self.fc = nn.Linear(c5, num_classes)
        init_weights(self, init)

    def _feature_size(self, image_size):
        """Side of conv5_x's output (7 for 224, 4 for 28 with small_input)."""
        if self.small_input:
            size = image_size
        else:
            size = out_size(image_size, 7, stride=2, padding=3)
            size = out_size(size, 3, stride=2, padding=1)
        for _ in range(3):  # the first 3x3 convolution of conv3_x .. conv5_x has stride 2
            size = out_size(size, 3, stride=2, padding=1)
        return size

    def forward(self, x):
        """x: (N, C, H, W) -> logits (N, num_classes)."""
        x = self.maxpool(self.relu1(self.bn1(self.conv1(x))))
        x = self.conv2_x(x)
        x = self.conv3_x(x)
        x = self.conv4_x(x)
        x = self.conv5_x(x)
        return self.fc(self.global_pool(x))
