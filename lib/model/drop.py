"""Stochastic depth (DropPath), as used by the DSTformer blocks."""
import torch
from torch import nn


def drop_path(x, drop_prob=0., training=False):
    """Zero whole samples (axis 0) with probability ``drop_prob`` and rescale the rest."""
    if drop_prob == 0. or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    random_tensor = keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device)
    random_tensor.floor_()
    return x.div(keep_prob) * random_tensor


class DropPath(nn.Module):
    """Module form of :func:`drop_path`; identity in eval mode or with ``drop_prob`` 0."""

    def __init__(self, drop_prob=None):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        return drop_path(x, self.drop_prob or 0., self.training)

    def extra_repr(self):
        return f"drop_prob={self.drop_prob}"
