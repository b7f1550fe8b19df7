"""ActionNet: strict loading of the original's task checkpoints and their recorded outputs."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from conftest import assert_float_close, fixture_path, spec_default_linear
from lib.model.model_action import ActionHeadClassification, ActionHeadEmbed, ActionNet
from lib.utils.checkpoint import load_checkpoint, load_model_weights, state_dict_from_checkpoint
from lib.utils.learning import AverageMeter, accuracy, load_backbone, oneshot_accuracy
from lib.utils.tools import Config

CONFIG = json.load(open(fixture_path("tasks", "config.json")))
HEAD_KEYS = {
    "class": ["head.bn.weight", "head.bn.bias", "head.bn.running_mean", "head.bn.running_var",
              "head.bn.num_batches_tracked", "head.fc1.weight", "head.fc1.bias", "head.fc2.weight", "head.fc2.bias"],
    "embed": ["head.fc1.weight", "head.fc1.bias"],
}


def action_fixture(name):
    return fixture_path("tasks", "action", name)


def build(version):
    """The fixture's model as its README builds it (embed: hidden_dim 32; class: 10 classes)."""
    if version == "class":
        bb = Config(CONFIG["bb_class"])
        return ActionNet(load_backbone(bb), bb.dim_rep, num_classes=CONFIG["num_classes"], version="class")
    bb = Config(CONFIG["bb"])
    return ActionNet(load_backbone(bb), bb.dim_rep, version="embed", hidden_dim=CONFIG["embed_hidden"])


def load_fixture_model(version):
    model = build(version)
    path = action_fixture(f"{version}_best_epoch.bin")
    state = state_dict_from_checkpoint(load_checkpoint(path), "model", path)
    load_model_weights(model, state, path)
    return model.eval(), state


@pytest.mark.parametrize("version", ["class", "embed"])
def test_checkpoint_loads_strictly_in_original_order(version):
    model, state = load_fixture_model(version)
    assert all(k.startswith("module.") for k in state)
    keys = list(model.state_dict())
    assert keys == [k[len("module."):] for k in state]  # same registration order as the original
    assert [k for k in keys if k.startswith("head.")] == HEAD_KEYS[version]
    for k, v in model.state_dict().items():
        assert torch.equal(v, state["module." + k])


@pytest.mark.parity
@pytest.mark.parametrize("version", ["class", "embed"])
def test_outputs_match_original(version):
    model, _ = load_fixture_model(version)
    d = np.load(action_fixture(f"{version}_model.npz"))
    with torch.no_grad():
        y = model(torch.from_numpy(d["x"])).numpy()
    np.testing.assert_allclose(y, d["y"], rtol=1e-5, atol=1e-5)
    if version == "embed":
        np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1, rtol=1e-6)


@pytest.mark.parity
def test_class_validation_metrics_match_original():
    """train_action.validate on the val items in batches of 2: CE loss, top-1 / top-5 in percent."""
    model, _ = load_fixture_model("class")
    d = np.load(action_fixture("class_model.npz"))
    labels = torch.from_numpy(np.load(action_fixture("ntu_dataset.npz"))["val_y"])
    x = torch.from_numpy(d["x"])
    losses, top1, top5 = AverageMeter(), AverageMeter(), AverageMeter()
    with torch.no_grad():
        for start in range(0, len(x), 2):
            out, target = model(x[start:start + 2]), labels[start:start + 2]
            acc1, acc5 = accuracy(out, target, topk=(1, 5))
            losses.update(nn.CrossEntropyLoss()(out, target).item(), len(target))
            top1.update(acc1[0], len(target))
            top5.update(acc5[0], len(target))
    np.testing.assert_allclose(losses.avg, d["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(top1.avg.item(), d["val_top1"], atol=1e-4)
    np.testing.assert_allclose(top5.avg.item(), d["val_top5"], atol=1e-4)


@pytest.mark.parity
def test_embed_oneshot_evaluation_matches_original():
    model, _ = load_fixture_model("embed")
    d = np.load(action_fixture("embed_model.npz"))
    o = np.load(action_fixture("oneshot_dataset.npz"))
    with torch.no_grad():
        anchors = model(torch.from_numpy(o["anchor_x"]))
        queries = model(torch.from_numpy(o["test_x"]))
    np.testing.assert_allclose(anchors.numpy(), d["anchor_emb"], rtol=1e-5, atol=1e-5)
    acc = oneshot_accuracy(anchors, torch.from_numpy(o["anchor_y"]), queries, torch.from_numpy(o["test_y"]))
    assert_float_close(acc, d["oneshot_acc"])


def test_class_head_ignores_hidden_dim_and_embed_uses_it():
    bb = Config(CONFIG["bb"])
    cls = ActionNet(load_backbone(bb), bb.dim_rep, num_classes=7, version="class", hidden_dim=32)
    assert isinstance(cls.head, ActionHeadClassification) and cls.feat_J == 17
    assert cls.head.fc1.weight.shape == (2048, bb.dim_rep * 17) and cls.head.bn.num_features == 2048
    assert cls.head.fc2.weight.shape == (7, 2048)
    emb = ActionNet(load_backbone(bb), bb.dim_rep, version="embed", hidden_dim=32)
    assert isinstance(emb.head, ActionHeadEmbed) and emb.head.fc1.weight.shape == (32, bb.dim_rep * 17)


def test_heads_pool_frames_and_persons_joint_major():
    """The head averages over persons and frames and feeds fc1 the joints one after the other
    (feature index j·dim_rep + c). Features built as a per-(joint, channel) value plus deviations
    that cancel over frames and over persons must pool to exactly that value."""
    head = ActionHeadEmbed(dim_rep=3, num_joints=2, hidden_dim=6).eval()
    value = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # (joints, channels)
    frame_dev = torch.tensor([1.0, -1.0, 2.0, -2.0])[:, None, None] * torch.randn(2, 3)
    person_dev = torch.tensor([0.5, -0.5])[:, None, None, None] * torch.randn(2, 3)
    feat = (value + frame_dev + person_dev).expand(3, 2, 4, 2, 3)  # (batch, persons, frames, joints, channels)
    with torch.no_grad():
        head.fc1.weight.copy_(torch.eye(6))
        head.fc1.bias.zero_()
        out = head(feat)
    expected = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) / np.sqrt(91.0)  # unit length (embedding head)
    torch.testing.assert_close(out, expected.expand(3, 6), rtol=1e-6, atol=1e-6)


def test_bad_version_and_input():
    bb = Config(CONFIG["bb"])
    with pytest.raises(ValueError, match="Version Error.*'embedding'"):
        ActionNet(load_backbone(bb), bb.dim_rep, version="embedding")
    model = build("embed")
    with pytest.raises(ValueError, match=r"\(batch, persons, frames, joints, channels\)"):
        model(torch.zeros(2, 5, 17, 3))


@pytest.mark.parametrize("version", ["class", "embed"])
def test_head_initialisation_draws_what_the_spec_draws(version):
    # the head is created after the backbone; PyTorch's default Linear init, in registration order (01 §8.1)
    bb = Config(CONFIG["bb"])
    torch.manual_seed(5)
    backbone = load_backbone(bb)
    after_backbone = torch.get_rng_state()
    fc1_in = bb.dim_rep * bb.num_joints
    if version == "class":
        expected = dict(zip(("fc1.weight", "fc1.bias"), spec_default_linear(2048, fc1_in)))
        expected.update(zip(("fc2.weight", "fc2.bias"), spec_default_linear(7, 2048)))
    else:
        expected = dict(zip(("fc1.weight", "fc1.bias"), spec_default_linear(12, fc1_in)))
    end_state = torch.get_rng_state()
    torch.set_rng_state(after_backbone)
    model = ActionNet(backbone, bb.dim_rep, num_classes=7, version=version, hidden_dim=12)
    assert torch.equal(torch.get_rng_state(), end_state)
    head = model.head.state_dict()
    for name, values in expected.items():
        torch.testing.assert_close(head[name], values, rtol=1e-6, atol=0, msg=name)
