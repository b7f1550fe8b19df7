"""MeshRegressor / SMPLRegressor: strict loading of the original's checkpoint and its eval-mode outputs."""
import json
import os
import shutil
from unittest import mock

import numpy as np
import pytest
import smplx.vertex_ids
import torch
from easydict import EasyDict

from conftest import fixture_path, spec_default_linear, spec_xavier_uniform
from lib.model.model_mesh import MeshRegressor
from lib.utils.checkpoint import load_checkpoint, load_model_weights, state_dict_from_checkpoint
from lib.utils.learning import load_backbone
from lib.utils.utils_smpl import SMPLModelFileError

CONFIG = json.load(open(fixture_path("tasks", "config.json")))
ROOTS = {"plain": fixture_path("tasks", "smpl"), "chumpy": fixture_path("tasks", "smpl_chumpy")}
VERTEX_IDS = json.load(open(fixture_path("tasks", "smpl", "vertex_ids.json")))
CKPT = fixture_path("tasks", "mesh", "mesh_latest_epoch.bin")
REF = np.load(fixture_path("tasks", "mesh", "mesh_model.npz"))
HIDDEN = CONFIG["mesh_hidden"]


@pytest.fixture(autouse=True)
def synthetic_vertex_ids():
    # the synthetic 306-vertex body model needs its own ids for the SMPL-H vertex joints
    with mock.patch.dict(smplx.vertex_ids.vertex_ids["smplh"], VERTEX_IDS):
        yield


def build(data_root, dropout=0.1):
    args = EasyDict(CONFIG["bb"], data_root=data_root, hidden_dim=HIDDEN, dropout=dropout, backbone="DSTformer")
    return MeshRegressor(args, load_backbone(args), args.dim_rep, hidden_dim=HIDDEN, dropout_ratio=dropout,
                         num_joints=17)


def checkpoint_weights():
    return state_dict_from_checkpoint(load_checkpoint(CKPT), "model", CKPT)


@pytest.mark.parity
@pytest.mark.parametrize("root", ["plain", "chumpy"])
def test_checkpoint_loads_strictly_and_reproduces_outputs(root):
    model = build(ROOTS[root])
    load_model_weights(model, checkpoint_weights(), CKPT)
    model.eval()
    with torch.no_grad():
        out = model(torch.from_numpy(REF["x"]))
    assert isinstance(out, list) and len(out) == 1 and set(out[0]) == {"theta", "verts", "kp_3d"}
    assert out[0]["theta"].shape == (2, 8, 82) and out[0]["verts"].shape == (2, 8, 306, 3)
    # float32 rounding differs slightly between CPU kernels; values are in mm (~1e3)
    torch.testing.assert_close(out[0]["theta"], torch.from_numpy(REF["theta"]), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[0]["verts"], torch.from_numpy(REF["verts"]), rtol=1e-5, atol=2e-3)
    torch.testing.assert_close(out[0]["kp_3d"], torch.from_numpy(REF["kp_3d"]), rtol=1e-5, atol=2e-3)


def test_state_dict_layout_matches_the_released_format():
    model = build(ROOTS["plain"])
    keys = list(model.state_dict())
    assert keys == [k[len("module."):] for k in checkpoint_weights()]  # same names, same order (143)
    head = [k for k in keys if k.startswith("head.")]
    assert head[:8] == ["head.init_pose", "head.init_shape", "head.fc1.weight", "head.fc1.bias", "head.fc2.weight",
                        "head.fc2.bias", "head.bn1.weight", "head.bn1.bias"]
    # optimizer group order of the head, incl. the three unused smplx parameters
    assert [n for n, _ in model.head.named_parameters()] == [
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "bn1.weight", "bn1.bias", "bn2.weight", "bn2.bias",
        "head_pose.weight", "head_pose.bias", "head_shape.weight", "head_shape.bias", "smpl.betas",
        "smpl.global_orient", "smpl.body_pose"]
    assert not hasattr(model.head.smpl, "transl")


def test_head_initialisation():
    model = build(ROOTS["plain"])
    mean = np.load(os.path.join(ROOTS["plain"], "smpl_mean_params.npz"))
    assert model.head.init_pose.dtype == torch.float32 and model.head.init_pose.shape == (1, 144)
    np.testing.assert_array_equal(model.head.init_pose[0].numpy(), mean["pose"])
    np.testing.assert_array_equal(model.head.init_shape[0].numpy(), mean["shape"].astype(np.float32))
    # Xavier-uniform with gain 0.01: |w| ≤ 0.01·sqrt(6 / (fan_in + fan_out))
    bound = 0.01 * np.sqrt(6 / (HIDDEN + 144))
    assert model.head.head_pose.weight.abs().max() <= bound
    assert model.head.J_regressor is model.head.smpl.J_regressor_h36m


def test_train_mode_forward_backward_and_mean_override():
    torch.manual_seed(0)
    model = build(ROOTS["plain"], dropout=0.0)
    x = torch.randn(2, 4, 17, 3)
    out = model(x)[0]
    (out["verts"].mean() + out["theta"].mean()).backward()
    assert model.backbone.joints_embed.weight.grad is not None
    assert model.head.smpl.body_pose.grad is None  # the unused smplx parameters get no gradient
    model.eval()
    with torch.no_grad():
        default = model(x)[0]
        explicit = model(x, init_pose=model.head.init_pose, init_shape=model.head.init_shape)[0]
        other = model(x, init_shape=torch.ones(1, 10))[0]
    torch.testing.assert_close(explicit["verts"], default["verts"], rtol=0, atol=0)
    assert not torch.allclose(other["verts"], default["verts"])
    # one shape per clip, repeated over its frames
    torch.testing.assert_close(default["theta"][:, :1, 72:].expand(-1, 4, -1), default["theta"][..., 72:])


def test_missing_mean_params(tmp_path):
    root = tmp_path / "mesh"
    shutil.copytree(ROOTS["plain"], root)
    os.remove(root / "smpl_mean_params.npz")
    with pytest.raises(FileNotFoundError, match=r"\[MISSING\] smpl_mean_params.npz"):
        build(str(root))


def test_bad_mean_params(tmp_path):
    root = tmp_path / "mesh"
    shutil.copytree(ROOTS["plain"], root)
    np.savez(root / "smpl_mean_params.npz", pose=np.zeros(144), shape=np.zeros(10))
    with pytest.raises(SMPLModelFileError, match="smpl_mean_params.npz: 'pose' is float64, expected float32"):
        build(str(root))
    np.savez(root / "smpl_mean_params.npz", pose=np.zeros(72, np.float32))
    with pytest.raises(SMPLModelFileError, match=r"lack the entries \['shape'\]"):
        build(str(root))
    for content in (b"garbage", open(fixture_path("tasks", "smpl", "smpl_mean_params.npz"), "rb").read()[:600]):
        (root / "smpl_mean_params.npz").write_bytes(content)  # not an npz / truncated
        with pytest.raises(SMPLModelFileError, match="cannot read SMPL mean parameters"):
            build(str(root))


def test_head_initialisation_draws_what_the_spec_draws():
    # after the backbone: default init of fc1, fc2, head_pose, head_shape (registration order), then
    # Xavier-uniform (gain 0.01) of head_pose.weight and head_shape.weight; the body model draws nothing (01 §8.2)
    args = EasyDict(CONFIG["bb"], data_root=ROOTS["plain"], hidden_dim=HIDDEN, dropout=0.1, backbone="DSTformer")
    torch.manual_seed(11)
    backbone = load_backbone(args)
    after_backbone = torch.get_rng_state()
    fc_in = args.dim_rep * 17
    expected = {}
    for name, (o, i) in (("fc1", (HIDDEN, fc_in)), ("fc2", (HIDDEN, fc_in)), ("head_pose", (144, HIDDEN)),
                         ("head_shape", (10, HIDDEN))):
        expected[f"{name}.weight"], expected[f"{name}.bias"] = spec_default_linear(o, i)
    expected["head_pose.weight"] = spec_xavier_uniform(144, HIDDEN, gain=0.01)
    expected["head_shape.weight"] = spec_xavier_uniform(10, HIDDEN, gain=0.01)
    end_state = torch.get_rng_state()
    torch.set_rng_state(after_backbone)
    model = MeshRegressor(args, backbone, args.dim_rep, hidden_dim=HIDDEN, dropout_ratio=0.1, num_joints=17)
    assert torch.equal(torch.get_rng_state(), end_state)
    head = model.head.state_dict()
    for name, values in expected.items():
        torch.testing.assert_close(head[name], values, rtol=1e-6, atol=0, msg=name)
