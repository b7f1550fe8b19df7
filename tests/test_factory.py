"""The model factory (lib/model/factory.py): one builder per task, the original's construction order."""
import pytest
import torch

from conftest import fixture_path
from lib.model.DSTformer import DSTformer
from lib.model.factory import build_backbone, build_model, model_tasks
from lib.model.model_action import ActionNet
from lib.utils.learning import load_backbone
from lib.utils.tools import Config

TINY = dict(dim_feat=16, dim_rep=24, depth=1, num_heads=2, mlp_ratio=2, maxlen=9, num_joints=17)


def test_tasks_are_registered():
    assert set(model_tasks()) >= {"pose3d", "action", "mesh"}


def test_pose3d_model_is_the_backbone_and_load_backbone_builds_the_same():
    cfg = Config(TINY)
    torch.manual_seed(0)
    model = build_model(cfg, "pose3d")
    torch.manual_seed(0)
    legacy = load_backbone(Config(TINY))
    assert isinstance(model, DSTformer)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), legacy.state_dict().values()))


def test_load_backbone_sets_the_backbone_name_as_the_original():
    cfg = Config(TINY)
    load_backbone(cfg)
    assert cfg.backbone == "DSTformer"


def test_no_conf_builds_a_two_channel_input_layer():
    assert build_backbone(Config(TINY, no_conf=True)).joints_embed.in_features == 2


@pytest.mark.parametrize("version,classes,width", [("class", 5, 5), ("embed", None, 32)])
def test_action_models(version, classes, width):
    cfg = Config(TINY, model_version=version, dropout_ratio=0.0, hidden_dim=32,
                 **({"action_classes": classes} if classes else {}))
    model = build_model(cfg, "action").eval()
    assert isinstance(model, ActionNet)
    assert model(torch.randn(2, 2, 9, 17, 3)).shape == (2, width)


def test_the_backbone_is_built_before_the_head():
    """Same seed, same draws: the factory's backbone equals a backbone built alone from that seed."""
    cfg = Config(TINY, model_version="class", dropout_ratio=0.0, hidden_dim=32, action_classes=5)
    torch.manual_seed(3)
    model = build_model(cfg, "action")
    torch.manual_seed(3)
    alone = build_backbone(cfg)
    assert all(torch.equal(a, b) for a, b in zip(model.backbone.state_dict().values(), alone.state_dict().values()))


def test_a_given_backbone_is_used():
    cfg = Config(TINY, model_version="embed", dropout_ratio=0.0, hidden_dim=32)
    backbone = build_backbone(cfg)
    assert build_model(cfg, "action", backbone=backbone).backbone is backbone


def test_mesh_model():
    import json
    from unittest import mock

    import smplx.vertex_ids

    from lib.model.model_mesh import MeshRegressor
    cfg = Config(TINY, data_root=fixture_path("tasks", "smpl"), hidden_dim=32, dropout=0.0)
    # the synthetic 306-vertex body model of the fixtures has its own ids for the SMPL-H vertex joints
    ids = json.load(open(fixture_path("tasks", "smpl", "vertex_ids.json")))
    with mock.patch.dict(smplx.vertex_ids.vertex_ids["smplh"], ids):
        model = build_model(cfg, "mesh")
    assert isinstance(model, MeshRegressor) and model.feat_J == 17


def test_unknown_task_and_backbone():
    with pytest.raises(ValueError, match="unknown model task 'pose'"):
        build_model(Config(TINY), "pose")
    with pytest.raises(ValueError, match="Undefined backbone type"):
        build_backbone(Config(TINY, backbone="resnet"))
    with pytest.raises(NotImplementedError, match="never released"):
        build_backbone(Config(TINY, backbone="TCN"))
