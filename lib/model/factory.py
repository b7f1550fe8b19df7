"""One place that builds every model from a config: the backbone and each task model.

In the spirit of timm's ``@register_model``: a builder is registered under a task name and
:func:`build_model` looks it up. Every script (training, inference, export, benchmarks) goes
through here, so a task model is written once. ``lib.utils.learning.load_backbone`` (the
original's public name) calls :func:`build_backbone`.

Random draws follow the original's construction order (backbone first, then the head), so a
seed gives the original's initial weights.

Tasks:

* ``pose3d``: the bare DSTformer (3D pose, pretraining, in-the-wild lifting);
* ``action``: :class:`ActionNet`, classification or embedding head by ``model_version``
  (NTU-60 classes or the one-shot embedding);
* ``mesh``: :class:`MeshRegressor` (SMPL head; needs the SMPL files under ``data_root``).
"""
import warnings
from functools import partial

from torch import nn

from lib.model.DSTformer import DSTformer

_BUILDERS = {}


def register_model(task):
    """Decorator: register ``fn(cfg, backbone) -> nn.Module`` as the builder of ``task``."""
    def register(fn):
        _BUILDERS[task] = fn
        return fn
    return register


def model_tasks():
    """Names of the registered tasks."""
    return tuple(_BUILDERS)


def backbone_kwargs(cfg):
    """DSTformer constructor arguments for a config (spec 01 §1).

    All LayerNorms use eps 1e-6, as in the released models. As in the original, the config key
    ``att_fuse`` is not read: fusion is always on. ``no_conf: True`` builds a 2-channel input
    layer (the original crashed there).
    """
    if cfg.get("att_fuse", True) is False:
        warnings.warn("config key att_fuse: False is ignored, as in the original; DSTformer always fuses "
                      "its two streams")
    return dict(
        dim_in=2 if cfg.get("no_conf", False) else 3,
        dim_out=3, dim_feat=cfg.dim_feat, dim_rep=cfg.dim_rep, depth=cfg.depth, num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio, norm_layer=partial(nn.LayerNorm, eps=1e-6), maxlen=cfg.maxlen,
        num_joints=cfg.num_joints)


def build_backbone(cfg):
    """The backbone named by ``cfg.backbone`` (default, and the only one shipped: DSTformer)."""
    name = cfg.get("backbone", "DSTformer")
    if name == "DSTformer":
        return DSTformer(**backbone_kwargs(cfg))
    if name in ("TCN", "poseformer", "mixste", "stgcn"):
        raise NotImplementedError(f"backbone '{name}' is referenced by the original code but was never released "
                                  f"with it; only 'DSTformer' is available")
    raise ValueError(f"Undefined backbone type '{name}'; only 'DSTformer' is available")


def build_model(cfg, task="pose3d", backbone=None):
    """The model of ``task`` for config ``cfg`` (randomly initialised; load weights afterwards).

    ``backbone`` replaces the freshly built one (e.g. a backbone that already holds pretrained
    weights); by default it is built from ``cfg`` first, as the original did.
    """
    if task not in _BUILDERS:
        raise ValueError(f"unknown model task '{task}'; known: {', '.join(model_tasks())}")
    if backbone is None:
        backbone = build_backbone(cfg)
    return _BUILDERS[task](cfg, backbone)


@register_model("pose3d")
def _pose3d(cfg, backbone):
    return backbone


@register_model("action")
def _action(cfg, backbone):
    from lib.model.model_action import ActionNet
    # one-shot configs have no classes: the embedding head ignores num_classes
    return ActionNet(backbone, cfg.dim_rep, num_classes=cfg.get("action_classes", 60),
                     dropout_ratio=cfg.dropout_ratio, version=cfg.model_version, hidden_dim=cfg.hidden_dim,
                     num_joints=cfg.num_joints)


@register_model("mesh")
def _mesh(cfg, backbone):
    from lib.model.model_mesh import MeshRegressor
    return MeshRegressor(cfg, backbone, dim_rep=cfg.dim_rep, hidden_dim=cfg.hidden_dim, dropout_ratio=cfg.dropout,
                         num_joints=cfg.num_joints)
