"""Every shipped config: same keys and values as the original's (spec 07), and it builds its model."""
import glob
import json
import os

import pytest
import torch

from conftest import REPO, fixture_path
from lib.utils.learning import load_backbone
from lib.utils.tools import get_config

EXPECTED = json.load(open(fixture_path("configs_spec07.json")))
ORIGINAL_CONFIGS = sorted(EXPECTED)


def test_all_sixteen_configs_exist():
    assert len(ORIGINAL_CONFIGS) == 16
    for path in ORIGINAL_CONFIGS:
        assert os.path.isfile(os.path.join(REPO, path)), path


@pytest.mark.parametrize("path", ORIGINAL_CONFIGS)
def test_keys_and_values_match_the_original(path):
    args = get_config(os.path.join(REPO, path))
    assert args.name == os.path.splitext(os.path.basename(path))[0]
    got = {k: v for k, v in args.items() if k != "name"}
    assert set(got) == set(EXPECTED[path])
    for key, value in EXPECTED[path].items():
        assert got[key] == value and type(got[key]) is type(value), key


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "configs", "*", "*.yaml"))))
def test_config_builds_its_backbone(path):
    args = get_config(path)
    model = load_backbone(args).eval()
    assert args.backbone == "DSTformer"
    assert model.temp_embed.shape == (1, args.maxlen, 1, args.dim_feat)
    with torch.no_grad():
        y = model(torch.zeros(1, 2, args.num_joints, 3))
    assert y.shape == (1, 2, args.num_joints, 3)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "configs", "action", "*.yaml"))))
def test_action_config_builds_actionnet(path):
    from lib.model.model_action import ActionNet
    args = get_config(path)
    model = ActionNet(load_backbone(args), args.dim_rep, num_classes=args.get("action_classes", 60),
                      dropout_ratio=args.dropout_ratio, version=args.model_version, hidden_dim=args.hidden_dim,
                      num_joints=args.num_joints).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 2, 3, 17, 3))
    assert out.shape == (2, 60 if args.model_version == "class" else args.hidden_dim)
    assert len(model.state_dict()) == (269 if args.model_version == "class" else 262)  # spec 01 §8.1


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "configs", "mesh", "*.yaml"))))
def test_mesh_config_builds_meshregressor(path):
    import json
    from unittest import mock

    import smplx.vertex_ids

    from lib.model.model_mesh import MeshRegressor
    args = get_config(path)
    args.data_root = fixture_path("tasks", "smpl")  # the synthetic body model stands in for SMPL
    vertex_ids = json.load(open(fixture_path("tasks", "smpl", "vertex_ids.json")))
    with mock.patch.dict(smplx.vertex_ids.vertex_ids["smplh"], vertex_ids):
        model = MeshRegressor(args, load_backbone(args), dim_rep=args.dim_rep, hidden_dim=args.hidden_dim,
                              dropout_ratio=args.dropout, num_joints=args.num_joints).eval()
    assert len(model.state_dict()) == 293  # spec 01 §8.2
    with torch.no_grad():
        out = model(torch.zeros(1, 2, 17, 3))[0]
    assert out["theta"].shape == (1, 2, 82) and out["kp_3d"].shape == (1, 2, 17, 3)
