"""Backbone construction (the original's ``load_backbone``), weight loading helpers, meters, metrics and
the action data files."""
import contextlib
import os

import torch
import torch.nn.functional as F

from lib.model import kernels
from lib.model.factory import build_backbone
from lib.utils.checkpoint import MODULE_PREFIX
from lib.utils.cli import PRECISIONS  # noqa: F401  (a public name of this module)
from lib.utils.errors import OptionError


class AverageMeter:
    """Running average of a value weighted by sample counts."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.val = 0
        self.avg = 0
        self.sum = 0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count


def accuracy(output, target, topk=(1,)):
    """Top-k accuracy in percent: a list with one 1-element float tensor per k."""
    with torch.no_grad():
        maxk = max(topk)
        batch_size = target.size(0)
        _, pred = output.topk(maxk, 1, True, True)
        correct = pred.t().eq(target.view(1, -1).expand_as(pred.t()))
        return [correct[:k].reshape(-1).float().sum(0, keepdim=True).mul_(100.0 / batch_size) for k in topk]


# bounds the (anchors, queries chunk, dim) product of the chunked cosine similarity (~64 MB)
_ONESHOT_CHUNK_ELEMENTS = 1 << 24


def oneshot_accuracy(anchor_feats, anchor_labels, query_feats, query_labels):
    """One-shot accuracy (spec 04 §6.1): each query takes the label of its most similar anchor.

    Similarity is ``F.cosine_similarity`` (eps 1e-8), as in the original; on ties the first
    anchor wins. Features ``(n, dim)`` and labels ``(n,)`` may live on different devices.
    Returns a 0-dim float tensor in [0, 1] (a fraction, not percent) on the labels' device.
    """
    if anchor_feats.dim() != 2 or query_feats.dim() != 2 or anchor_feats.shape[1] != query_feats.shape[1]:
        raise ValueError(f"features must be (n, dim) with the same dim; got anchors {tuple(anchor_feats.shape)}, "
                         f"queries {tuple(query_feats.shape)}")
    if len(anchor_labels) != len(anchor_feats) or len(query_labels) != len(query_feats):
        raise ValueError(f"one label per feature row needed: {len(anchor_feats)} anchors / {len(anchor_labels)} "
                         f"labels, {len(query_feats)} queries / {len(query_labels)} labels")
    if len(anchor_feats) == 0 or len(query_feats) == 0:
        raise ValueError(f"need at least one anchor and one query (got {len(anchor_feats)} and {len(query_feats)})")
    with torch.no_grad():
        query_feats = query_feats.to(anchor_feats.device)
        # chunked over queries so the broadcast (anchors, chunk, dim) product stays small
        chunk = max(1, _ONESHOT_CHUNK_ELEMENTS // (len(anchor_feats) * anchor_feats.shape[1]))
        nearest = torch.cat([
            F.cosine_similarity(anchor_feats[:, None, :], query_feats[None, start:start + chunk, :], dim=-1,
                                eps=1e-8).argmax(dim=0)
            for start in range(0, len(query_feats), chunk)])
        predicted = anchor_labels[nearest.to(anchor_labels.device)]
        correct = (predicted == query_labels.to(anchor_labels.device)).sum()
        return correct / len(query_labels)


def load_pretrained_weights(model, checkpoint):
    """Copy the entries of ``checkpoint`` whose name (minus ``module.``) and shape fit ``model``.

    Everything else is skipped silently, as in the original (e.g. a finetuned task checkpoint
    into a bare backbone). Prints ``load_weight <n>``.
    """
    state_dict = checkpoint["state_dict"] if "state_dict" in checkpoint else checkpoint
    model_dict = model.state_dict()
    matched = {}
    for k, v in state_dict.items():
        if k.startswith(MODULE_PREFIX):
            k = k[len(MODULE_PREFIX):]
        if k in model_dict and model_dict[k].size() == v.size():
            matched[k] = v
    model_dict.update(matched)
    model.load_state_dict(model_dict, strict=True)
    print('load_weight', len(matched))
    return model


def partial_train_layers(model, partial_list):
    """Train only the parameters whose name contains one of the strings in ``partial_list``."""
    for name, p in model.named_parameters():
        p.requires_grad = any(part in name for part in partial_list)
    return model


def load_backbone(args):
    """Build the backbone named by ``args.backbone`` (default, and only one shipped: DSTformer).

    The original's public name; :func:`lib.model.factory.build_backbone` does the work. As the
    original, ``args.backbone`` is set to ``'DSTformer'`` when absent.
    """
    if not hasattr(args, "backbone"):
        args.backbone = "DSTformer"
    return build_backbone(args)


ACTION_DATA_ROOT = "data/action"


def action_data_file(cfg, name):
    """``<data_root>/<name>.pkl`` of the action scripts (``data_root``: optional config key, default
    data/action); a missing file is reported with the page that explains how to get it."""
    path = os.path.join(cfg.get("data_root", ACTION_DATA_ROOT), f"{name}.pkl")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"NTU data file not found: {path}. docs/action.md explains how to get it.")
    return path




def precision_context(precision, device):
    """Context for reduced-precision runs: autocast for ``'bf16'`` (CPU or CUDA) and ``'fp16'`` (CUDA only),
    int8 Linear layers for ``'int8'`` (CPU inference only; :func:`lib.model.kernels.int8_products`).

    ``'fp32'`` changes nothing. Matrix products then run in the lower precision while
    precision-sensitive operations (normalisation, softmax, losses) stay in float32.
    """
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise OptionError("--precision/--amp fp16 needs a CUDA device; use bf16 on the CPU")
    if precision == "int8":
        if device.type != "cpu":
            raise OptionError("--precision int8 runs on the CPU only; use bf16 or fp16 on CUDA")
        if kernels.INT8_ENGINE is None:
            raise OptionError("--precision int8 needs PyTorch's quantized CPU engine, which this build lacks; "
                              "use bf16")
        return kernels.int8_products()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
