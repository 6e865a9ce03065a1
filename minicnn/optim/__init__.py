"""Optimizers and learning-rate schedules."""
from minicnn.optim.adam import Adam
from minicnn.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, StepLR
from minicnn.optim.optimizer import Optimizer
from minicnn.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "LRScheduler", "StepLR", "CosineAnnealingLR"]
