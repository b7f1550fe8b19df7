"""lib.utils.learning: backbone factory, pretrained-weight copying, freezing, meters, accuracy."""
import numpy as np
import pytest
import torch

from conftest import assert_float_close, fixture_path
from lib.utils.learning import (AverageMeter, accuracy, load_backbone, load_pretrained_weights,
                                partial_train_layers)
from lib.utils.tools import Config

TINY = dict(dim_feat=16, dim_rep=8, depth=1, num_heads=2, mlp_ratio=2, maxlen=9, num_joints=17)


def test_load_backbone_sets_default_name_and_eps():
    args = Config(TINY)
    model = load_backbone(args)
    assert args.backbone == "DSTformer"
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and all(m.eps == 1e-6 for m in norms)
    assert model.joints_embed.in_features == 3 and hasattr(model, "ts_attn")


def test_load_backbone_no_conf_and_unknown_names():
    assert load_backbone(Config(TINY, no_conf=True)).joints_embed.in_features == 2
    with pytest.raises(NotImplementedError, match="TCN"):
        load_backbone(Config(TINY, backbone="TCN"))
    with pytest.raises(ValueError, match="Undefined backbone"):
        load_backbone(Config(TINY, backbone="nope"))
    with pytest.warns(UserWarning, match="att_fuse"):
        assert hasattr(load_backbone(Config(TINY, att_fuse=False)), "ts_attn")


def test_load_pretrained_weights_copies_matching_entries(capsys):
    src = load_backbone(Config(TINY))
    dst = load_backbone(Config(dict(TINY, maxlen=5)))  # temp_embed differs in shape: kept as initialised
    before = dst.temp_embed.detach().clone()
    ckpt = {"module." + k: v for k, v in src.state_dict().items()}
    ckpt["module.head_extra.weight"] = torch.zeros(3)
    load_pretrained_weights(dst, ckpt)
    n = len(src.state_dict()) - 1
    assert f"load_weight {n}" in capsys.readouterr().out
    assert torch.equal(dst.temp_embed, before)
    assert torch.equal(dst.pos_embed, src.pos_embed)
    load_pretrained_weights(dst, {"state_dict": {"pos_embed": torch.ones_like(src.pos_embed)}})
    assert torch.all(dst.pos_embed == 1)


def test_partial_train_layers():
    model = partial_train_layers(load_backbone(Config(TINY)), ["head", "ts_attn"])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias", "ts_attn.0.weight", "ts_attn.0.bias"}


def test_average_meter():
    m = AverageMeter()
    m.update(2.0, n=3)
    m.update(4.0)
    assert m.val == 4.0 and m.sum == 10.0 and m.count == 4 and m.avg == 2.5
    t = AverageMeter()
    t.update(torch.tensor(1.0), 2)
    assert isinstance(t.avg, torch.Tensor)


@pytest.mark.parity
def test_accuracy_matches_original():
    d = np.load(fixture_path("tasks", "action", "accuracy.npz"))
    top1, top5 = accuracy(torch.from_numpy(d["output"]), torch.from_numpy(d["target"]), topk=(1, 5))
    assert top1.shape == (1,) and top1.dtype == torch.float32
    assert_float_close(top1, d["top1"])
    assert_float_close(top5, d["top5"])


@pytest.mark.parity
def test_oneshot_accuracy_matches_original(monkeypatch):
    from lib.utils import learning
    d = np.load(fixture_path("tasks", "action", "oneshot_eval.npz"))
    for s in range(4):
        args = [torch.from_numpy(d[f"s{s}_{k}"]) for k in ("anchor_emb", "anchor_lab", "query_emb", "query_lab")]
        acc = learning.oneshot_accuracy(*args)
        assert acc.shape == () and acc.dtype == torch.float32
        assert_float_close(acc, d[f"s{s}_acc"])
        monkeypatch.setattr(learning, "_ONESHOT_CHUNK_ELEMENTS", 1)  # one query per chunk: same result
        assert_float_close(learning.oneshot_accuracy(*args), d[f"s{s}_acc"])
        monkeypatch.undo()
    # scenario 2: anchors 1 and 3 are identical with different labels; the first one wins the tie
    anchors, anchor_labels = torch.from_numpy(d["s2_anchor_emb"]), torch.from_numpy(d["s2_anchor_lab"])
    assert torch.equal(anchors[1], anchors[3]) and anchor_labels[1] != anchor_labels[3]
    swapped = anchor_labels.clone()
    swapped[[1, 3]] = anchor_labels[[3, 1]]
    other = learning.oneshot_accuracy(anchors, swapped, torch.from_numpy(d["s2_query_emb"]),
                                      torch.from_numpy(d["s2_query_lab"]))
    assert not np.isclose(other.item(), d["s2_acc"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_oneshot_accuracy_features_and_labels_on_different_devices():
    from lib.utils.learning import oneshot_accuracy
    d = np.load(fixture_path("tasks", "action", "oneshot_eval.npz"))
    acc = oneshot_accuracy(torch.from_numpy(d["s0_anchor_emb"]).cuda(), torch.from_numpy(d["s0_anchor_lab"]),
                           torch.from_numpy(d["s0_query_emb"]).cuda(), torch.from_numpy(d["s0_query_lab"]))
    assert_float_close(acc, d["s0_acc"])


def test_oneshot_accuracy_bad_inputs():
    from lib.utils.learning import oneshot_accuracy
    feats, labels = torch.randn(4, 3), torch.arange(4)
    with pytest.raises(ValueError, match="same dim"):
        oneshot_accuracy(feats, labels, torch.randn(4, 5), labels)
    with pytest.raises(ValueError, match="one label per feature row"):
        oneshot_accuracy(feats, labels[:3], feats, labels)
    with pytest.raises(ValueError, match="at least one anchor"):
        oneshot_accuracy(feats[:0], labels[:0], feats, labels)


def test_precision_context_int8_runs_on_the_cpu_only():
    import torch

    from lib.model import kernels
    from lib.utils.errors import OptionError
    from lib.utils.learning import precision_context
    with precision_context("int8", "cpu"):
        assert kernels._INT8.get()
    assert not kernels._INT8.get()
    with pytest.raises(OptionError, match="int8 runs on the CPU only"):
        precision_context("int8", torch.device("cuda"))
