"""Optimizer parameter groups of the models (lib/model/param_groups.py, spec 01 §9.6)."""
import json
from unittest import mock

import pytest
import smplx.vertex_ids

from conftest import fixture_path
from lib.model.factory import build_model
from lib.model.param_groups import backbone_of, param_groups
from lib.utils.learning import partial_train_layers
from lib.utils.tools import Config

TINY = dict(dim_feat=16, dim_rep=24, depth=1, num_heads=2, mlp_ratio=2, maxlen=9, num_joints=17)
LRS = dict(learning_rate=0.5, lr_backbone=0.1, lr_head=0.2)
# spec 01 §9.6: the head's parameters in optimizer order
CLASS_HEAD = ["bn.weight", "bn.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
EMBED_HEAD = ["fc1.weight", "fc1.bias"]
MESH_HEAD = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "bn1.weight", "bn1.bias", "bn2.weight", "bn2.bias",
             "head_pose.weight", "head_pose.bias", "head_shape.weight", "head_shape.bias", "smpl.betas",
             "smpl.global_orient", "smpl.body_pose"]


def names(module, params):
    by_id = {id(p): name for name, p in module.named_parameters()}
    return [by_id[id(p)] for p in params]


def action_model(version):
    return build_model(Config(dict(TINY, **LRS), model_version=version, dropout_ratio=0.0, hidden_dim=32, action_classes=5),
                       "action")


@pytest.mark.parametrize("version,head", [("class", CLASS_HEAD), ("embed", EMBED_HEAD)])
def test_action_groups_backbone_then_head(version, head):
    model = action_model(version)
    groups = param_groups(model, Config(LRS))
    assert [g["lr"] for g in groups] == [0.1, 0.2]
    assert names(model.backbone, groups[0]["params"]) == [n for n, _ in model.backbone.named_parameters()]
    assert names(model.head, groups[1]["params"]) == head


def test_mesh_groups_hold_the_three_unused_smpl_parameters():
    cfg = Config(dict(TINY, **LRS), data_root=fixture_path("tasks", "smpl"), hidden_dim=32, dropout=0.0)
    ids = json.load(open(fixture_path("tasks", "smpl", "vertex_ids.json")))
    with mock.patch.dict(smplx.vertex_ids.vertex_ids["smplh"], ids):
        model = build_model(cfg, "mesh")
    groups = param_groups(model, cfg)
    assert [g["lr"] for g in groups] == [0.1, 0.2]
    assert names(model.head, groups[1]["params"]) == MESH_HEAD


def test_frozen_parameters_are_left_out():
    model = action_model("class")
    partial_train_layers(backbone_of(model), ["blocks_st"])
    backbone, head = param_groups(model, Config(LRS))
    assert names(model.backbone, backbone["params"]) and all(
        n.startswith("blocks_st.") for n in names(model.backbone, backbone["params"]))
    assert names(model.head, head["params"]) == CLASS_HEAD  # partial_train freezes the backbone only


def test_a_bare_backbone_is_one_group_of_its_trainable_parameters():
    model = build_model(Config(TINY), "pose3d")
    assert backbone_of(model) is model
    model.head.weight.requires_grad = False
    (group,) = param_groups(model, Config(LRS))
    assert group["lr"] == 0.5
    assert names(model, group["params"]) == [n for n, p in model.named_parameters() if n != "head.weight"]
