"""Containers: `Sequential` runs its layers in order; `Identity` passes its input through."""
from minicnn.nn.module import Module


class Sequential(Module):
    """Layers applied one after another: Sequential(conv, relu, pool)(x)."""

    def __init__(self, *modules):
        super().__init__()
        for index, module in enumerate(modules):
            setattr(self, str(index), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        setattr(self, str(len(self)), module)
        return self


class Identity(Module):
    def forward(self, x):
        return x
