"""ActionNet: DSTformer backbone + a clip-level action head (spec 04 §4, 01 §8.1).

Sub-module names and registration order are the original's, so the task checkpoints of
``train_action.py`` / ``train_action_1shot.py`` load strictly and state dicts keep their order.
"""
import torch.nn.functional as F
from torch import nn

from lib.model.param_groups import BackboneHeadModel

CLASS_HEAD_HIDDEN_DIM = 2048  # the original never passes hidden_dim to the classification head


def _pool_persons_and_frames(feat):
    """``(N, M, T, J, C)`` → ``(N, J*C)``: mean over frames, flatten joint-major, mean over persons."""
    n, m = feat.shape[:2]
    return feat.mean(dim=2).reshape(n, m, -1).mean(dim=1)


class ActionHeadClassification(nn.Module):
    """Dropout → pool → fc1 → BatchNorm1d → ReLU → fc2: logits ``(N, num_classes)``."""

    def __init__(self, dropout_ratio=0., dim_rep=512, num_classes=60, num_joints=17, hidden_dim=2048):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout_ratio)
        self.bn = nn.BatchNorm1d(hidden_dim, momentum=0.1)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = nn.Linear(dim_rep * num_joints, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, num_classes)

    def forward(self, feat):
        feat = _pool_persons_and_frames(self.dropout(feat))
        return self.fc2(self.relu(self.bn(self.fc1(feat))))


class ActionHeadEmbed(nn.Module):
    """Dropout → pool → fc1 → L2 normalisation: embeddings ``(N, hidden_dim)`` of unit length."""

    def __init__(self, dropout_ratio=0., dim_rep=512, num_joints=17, hidden_dim=2048):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout_ratio)
        self.fc1 = nn.Linear(dim_rep * num_joints, hidden_dim)

    def forward(self, feat):
        feat = _pool_persons_and_frames(self.dropout(feat))
        return F.normalize(self.fc1(feat), dim=-1)


class ActionNet(BackboneHeadModel):
    """Runs the backbone on every person's sequence and classifies/embeds the clip.

    ``version='class'``: :class:`ActionHeadClassification` (always 2048 wide: ``hidden_dim`` is
    ignored, as in the original, whose checkpoints have that shape); ``'embed'``:
    :class:`ActionHeadEmbed` with ``hidden_dim`` outputs. ``param_groups(lr_backbone, lr_head)``:
    its optimizer groups, backbone then head.
    """

    VERSIONS = ("class", "embed")

    def __init__(self, backbone, dim_rep=512, num_classes=60, dropout_ratio=0., version='class', hidden_dim=2048,
                 num_joints=17):
        super().__init__()
        if version not in self.VERSIONS:
            raise ValueError(f"Version Error: unknown ActionNet version '{version}'; use one of {self.VERSIONS} "
                             f"(config key model_version)")
        self.backbone = backbone
        self.feat_J = num_joints
        if version == 'class':
            self.head = ActionHeadClassification(dropout_ratio=dropout_ratio, dim_rep=dim_rep,
                                                 num_classes=num_classes, num_joints=num_joints,
                                                 hidden_dim=CLASS_HEAD_HIDDEN_DIM)
        else:
            self.head = ActionHeadEmbed(dropout_ratio=dropout_ratio, dim_rep=dim_rep, num_joints=num_joints,
                                        hidden_dim=hidden_dim)

    def forward(self, x):
        """``x (N, M, T, J, C)`` → head output (logits or embeddings) ``(N, ·)``."""
        if x.dim() != 5:
            raise ValueError(f"ActionNet expects input of shape (batch, persons, frames, joints, channels), "
                             f"got {tuple(x.shape)}")
        n, m, t, j, c = x.shape
        feat = self.backbone.get_representation(x.reshape(n * m, t, j, c))
        return self.head(feat.reshape(n, m, t, self.feat_J, -1))
