"""The benchmarked networks: one table of settings, the minicnn zoo model and its PyTorch twin.

Each entry follows the `cpu` recipe of minicnn/recipes.py (LeNet-5 at batch 256 and ResNet-18
with the 3x3 CIFAR stem as the speed issue states them). The PyTorch twins are written out
layer by layer so a reader can compare them with minicnn/models/; `run.py` prints both
parameter counts, which must agree.
"""

SPECS = {
    # name: (zoo name, build options, input (C, H, W), batch size)
    "lenet5": ("lenet5", {}, (1, 28, 28), 256),
    "alexnet": ("alexnet", {"small_input": True, "width": 0.25}, (1, 28, 28), 128),
    "vgg11": ("vgg11", {"channel_ratio": 4, "fc_width": 512, "image_size": 32},
              (1, 32, 32), 64),
    "resnet18": ("resnet18", {"small_input": True, "image_size": 32}, (3, 32, 32), 64),
}


def build_minicnn(name):
    """The zoo model of benchmark `name`."""
    from minicnn import models
    zoo_name, options, (C, _, _), _ = SPECS[name]
    return models.build(zoo_name, num_classes=10, in_channels=C, **options)


def build_torch(name):
    """The PyTorch twin of benchmark `name` (same layers, same shapes)."""
    return {"lenet5": _torch_lenet5, "alexnet": _torch_alexnet, "vgg11": _torch_vgg11,
            "resnet18": _torch_resnet18}[name]()


def _torch_lenet5():
    from torch import nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten(),
        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def _torch_alexnet():
    from torch import nn
    c1, c2, c3, c4, c5, units = 24, 64, 96, 96, 64, 1024   # width 0.25 of the paper's

    def lrn():
        return nn.LocalResponseNorm(5, 5e-4, 0.75, 2.0)
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(c5 * 2 * 2, units), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(units, units), nn.ReLU(), nn.Dropout(0.5), nn.Linear(units, 10))


def _torch_vgg11(in_channels=1, widths=(16, 32, 64, 128, 128), fc_width=512, num_classes=10):
    """VGG-11 (Table 1, column A) for 32x32 inputs; the defaults are the `cpu` recipe's."""
    from torch import nn
    layers, channels = [], in_channels
    for num_convs, out_channels in zip((1, 1, 2, 2, 2), widths):
        for _ in range(num_convs):
            layers += [nn.Conv2d(channels, out_channels, 3, padding=1), nn.ReLU()]
            channels = out_channels
        layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(
        *layers, nn.Flatten(), nn.Linear(channels, fc_width), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(fc_width, fc_width), nn.ReLU(), nn.Dropout(0.5), nn.Linear(fc_width, num_classes))


def _torch_resnet18(in_channels=3, num_classes=10):
    """ResNet-18 with the 3x3 CIFAR stem."""
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
            self.shortcut = nn.Identity()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):
            return (self.body(x) + self.shortcut(x)).relu()

    blocks, cin = [], 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
        cin = cout
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), *blocks,
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes))
