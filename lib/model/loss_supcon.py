"""Supervised contrastive loss (Khosla et al., 2020) as used for one-shot action recognition (spec 04 §7).

As in the original, an anchor without any positive in the batch gives 0/0 = NaN, which makes
the whole loss NaN. ``train_action_1shot.py`` cannot hit this (its sampler draws 2 samples
per class), so the behaviour is reproduced rather than masked: a NaN loss signals a batch
built without positives, instead of silently training on fewer anchors.
"""
import torch
from torch import nn


class SupConLoss(nn.Module):
    """``forward(features, labels=None, mask=None)`` → 0-dim loss.

    ``features (B, V, ...)``: V views per sample (trailing dims are flattened). Positives of an
    anchor are the other views of samples with the same label (``labels (B,)``), or the pairs set
    in ``mask (B, B)``; with neither, only the sample's own other views (SimCLR).
    ``contrast_mode``: ``'all'`` (every view is an anchor) or ``'one'`` (only view 0).
    """

    CONTRAST_MODES = ("all", "one")

    def __init__(self, temperature=0.07, contrast_mode='all', base_temperature=0.07):
        super().__init__()
        if contrast_mode not in self.CONTRAST_MODES:
            raise ValueError(f"Unknown mode: '{contrast_mode}'; use one of {self.CONTRAST_MODES}")
        self.temperature = temperature
        self.contrast_mode = contrast_mode
        self.base_temperature = base_temperature

    def forward(self, features, labels=None, mask=None):
        device = features.device
        if features.dim() < 3:
            raise ValueError(f"`features` needs to be [bsz, n_views, ...], at least 3 dimensions are required; "
                             f"got shape {tuple(features.shape)}")
        features = features.reshape(features.shape[0], features.shape[1], -1)
        batch_size, n_views = features.shape[:2]

        if labels is not None and mask is not None:
            raise ValueError("Cannot define both `labels` and `mask`")
        if labels is not None:
            labels = labels.reshape(-1, 1)
            if labels.shape[0] != batch_size:
                raise ValueError(f"Num of labels ({labels.shape[0]}) does not match num of features ({batch_size})")
            positives = torch.eq(labels, labels.T).float().to(device)
        elif mask is not None:
            positives = mask.float().to(device)
        else:
            positives = torch.eye(batch_size, dtype=torch.float32, device=device)

        contrast = torch.cat(torch.unbind(features, dim=1), dim=0)  # (V*B, D), view-major
        if self.contrast_mode == 'one':
            anchors, anchor_count = features[:, 0], 1
        else:
            anchors, anchor_count = contrast, n_views

        logits = torch.matmul(anchors, contrast.T) / self.temperature
        logits = logits - logits.max(dim=1, keepdim=True).values.detach()  # numerical stability only

        positives = positives.repeat(anchor_count, n_views)
        # every anchor is excluded from its own contrast set
        not_self = torch.ones_like(positives)
        not_self[torch.arange(anchor_count * batch_size, device=device),
                 torch.arange(anchor_count * batch_size, device=device)] = 0
        positives = positives * not_self

        log_prob = logits - torch.log((torch.exp(logits) * not_self).sum(1, keepdim=True))
        mean_log_prob_pos = (positives * log_prob).sum(1) / positives.sum(1)  # NaN if no positive
        loss = -(self.temperature / self.base_temperature) * mean_log_prob_pos
        return loss.mean()
