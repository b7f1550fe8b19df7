"""Optimizer parameter groups of the models, in the spirit of timm's ``group_matcher`` (spec 01 §9.6).

A task model made of a ``backbone`` and a ``head`` (:class:`ActionNet`, :class:`MeshRegressor`)
inherits :class:`BackboneHeadModel` and gives its two learning-rate groups itself; a bare
backbone (pose3d, pretraining) trains as one group. :func:`param_groups` picks what fits.
"""
from torch import nn


def trainable_parameters(module):
    """The parameters of ``module`` that are trained (``partial_train`` freezes the others), in registration order."""
    return [p for p in module.parameters() if p.requires_grad]


class BackboneHeadModel(nn.Module):
    """A task model with a ``self.backbone`` (DSTformer) and a ``self.head``."""

    def param_groups(self, lr_backbone, lr_head):
        """Two groups: the trainable backbone parameters (``lr_backbone``), then the head's (``lr_head``)."""
        return [{'params': trainable_parameters(self.backbone), 'lr': lr_backbone},
                {'params': trainable_parameters(self.head), 'lr': lr_head}]


def backbone_of(model):
    """The backbone inside a task model; a bare backbone is its own."""
    return model.backbone if isinstance(model, BackboneHeadModel) else model


def param_groups(model, cfg):
    """The optimizer groups of ``model`` with the config's learning rates: a task model's two groups
    (``lr_backbone``, ``lr_head``), or one group of a bare backbone's trainable parameters (``learning_rate``)."""
    if isinstance(model, BackboneHeadModel):
        return model.param_groups(cfg.lr_backbone, cfg.lr_head)
    return [{'params': trainable_parameters(model), 'lr': cfg.learning_rate}]
