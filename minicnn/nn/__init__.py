"""Layers that own parameters; their forward is one call into `minicnn.functional`."""
from minicnn.nn.activation import Dropout, ReLU, Sigmoid, Tanh
from minicnn.nn.container import Identity, Sequential
from minicnn.nn.conv import Conv2d
from minicnn.nn.linear import Flatten, Linear
from minicnn.nn.module import Module, Parameter
from minicnn.nn.normalization import BatchNorm1d, BatchNorm2d, LocalResponseNorm
from minicnn.nn.pooling import AvgPool2d, GlobalAvgPool2d, GlobalMaxPool2d, MaxPool2d

__all__ = [
    "Module", "Parameter", "Sequential", "Identity", "Conv2d", "Linear", "Flatten",
    "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "GlobalMaxPool2d", "LocalResponseNorm",
    "BatchNorm1d", "BatchNorm2d", "ReLU", "Sigmoid", "Tanh", "Dropout",
]
