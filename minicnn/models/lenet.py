"""LeNet-5: the network that started the lineage.

Paper: Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-Based Learning Applied to Document
Recognition", Proc. IEEE 86(11), 1998. Section II.B "LeNet-5" and Fig. 2 describe the layers
read below, named as the paper names them: C1, S2, C3, S4, C5, F6, OUTPUT (C = convolution,
S = subsampling, F = fully connected).

Differences from the paper, all deliberate:
- The input is 28x28 (MNIST / Fashion-MNIST) with padding 2 in C1, which gives C1 the same
  28x28 output the paper gets from its 32x32 padded input.
- C3 connects to all six S2 maps; the paper's Table I connects each C3 map to a subset only
  ("to break symmetry" and to save computation on 1998 hardware).
- OUTPUT is a Linear layer trained with softmax cross-entropy; the paper uses Euclidean RBF
  units over hand-designed 7x12 bitmaps.
- classic=True gives the 1998 form: tanh squashing (the paper's f(a) = A tanh(S a), Appendix A,
  with A = S = 1 here) and average-pooling subsampling (the paper's S units also multiply by a
  trainable coefficient and add a bias; here they are plain averages). The default,
  classic=False, is the modern form: ReLU and max pooling, which trains faster.
"""

from minicnn import nn

from ._common import check_image_size, check_input


class LeNet5(nn.Module):
    """LeNet-5 for (N, in_channels, image_size, image_size) inputs; returns (N, num_classes).

    Options:
        classic: True for tanh + average pooling (1998), False for ReLU + max pooling.
        image_size: input height = width in pixels (default 28; at least 28 so that C5 sees
            a 5x5 map). C5 is a 5x5 convolution, exactly as in the paper: on a 28x28 input its
            output is 1x1, on a larger input it is larger and F6 grows to match.
    """

    def __init__(self, num_classes=10, in_channels=1, classic=False, image_size=28):
        super().__init__()
        c5_size = check_image_size("lenet5", image_size, _c5_size)
        self.default_input_size = (in_channels, image_size, image_size)
        Activation = nn.Tanh if classic else nn.ReLU
        Subsampling = nn.AvgPool2d if classic else nn.MaxPool2d

        self.c1 = nn.Conv2d(in_channels, 6, kernel_size=5, padding=2)  # 6@28x28
        self.act1 = Activation()
        self.s2 = Subsampling(2)                                        # 6@14x14
        self.c3 = nn.Conv2d(6, 16, kernel_size=5)                       # 16@10x10
        self.act3 = Activation()
        self.s4 = Subsampling(2)                                        # 16@5x5
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)                     # 120@1x1
        self.act5 = Activation()
        self.flatten = nn.Flatten()
        self.f6 = nn.Linear(120 * c5_size * c5_size, 84)
        self.act6 = Activation()
        self.output = nn.Linear(84, num_classes)

    def forward(self, x):
        """x: (N, C, H, W) -> logits (N, num_classes)."""
        check_input("lenet5", x, self.default_input_size)
        x = self.s2(self.act1(self.c1(x)))
        x = self.s4(self.act3(self.c3(x)))
        x = self.flatten(self.act5(self.c5(x)))
        x = self.act6(self.f6(x))
        return self.output(x)



def _c5_size(image_size):
    """Side of C5's output: C1 keeps the size (padding 2), S2 halves, C3 -4, S4 halves, C5 -4."""
    return (image_size // 2 - 4) // 2 - 4
