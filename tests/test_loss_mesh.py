"""MeshLoss against the original's values for both loss types."""
import numpy as np
import pytest
import torch

from conftest import assert_float_close, fixture_path
from lib.model.loss_mesh import MeshLoss

REF = np.load(fixture_path("tasks", "mesh", "mesh_loss.npz"))
KEYS = ["loss_3d_pos", "loss_3d_scale", "loss_3d_velocity", "loss_lv", "loss_lg", "loss_a", "loss_av",
        "loss_shape", "loss_pose", "loss_norm"]


def inputs(requires_grad=False):
    pred_theta = torch.from_numpy(REF["pred_theta"]).requires_grad_(requires_grad)
    pred_kp3d = torch.from_numpy(REF["pred_kp3d"]).requires_grad_(requires_grad)
    gt = {"theta": torch.from_numpy(REF["gt_theta"]), "kp_3d": torch.from_numpy(REF["gt_kp3d"])}
    return [{"theta": pred_theta, "kp_3d": pred_kp3d}], gt


@pytest.mark.parity
@pytest.mark.parametrize("loss_type", ["L1", "MSE"])
def test_values_match_original(loss_type):
    losses = MeshLoss(loss_type=loss_type)(*inputs())
    assert list(losses) == KEYS
    for key, value in losses.items():
        assert value.dtype == torch.float32 and value.shape == (), key
        assert_float_close(value, REF[f"{loss_type}_{key}"], err_msg=key)


def test_default_is_mse_and_device_argument_is_not_used_for_tensors():
    losses = MeshLoss(device="cuda")(*inputs())  # no CUDA needed: tensors follow the inputs
    assert_float_close(losses["loss_pose"], REF["MSE_loss_pose"])
    assert all(v.device.type == "cpu" for v in losses.values())


def test_gradients_flow_to_theta_and_keypoints():
    output, gt = inputs(requires_grad=True)
    losses = MeshLoss("L1")(output, gt)
    sum(losses.values()).backward()
    assert output[0]["theta"].grad.abs().sum() > 0 and output[0]["kp_3d"].grad.abs().sum() > 0


@pytest.mark.filterwarnings("ignore:var\\(\\)")  # the keypoint losses of an empty batch are NaN, as in the original
def test_single_frame_and_empty_batch():
    output, gt = inputs()
    one = [{k: v[:, :1] for k, v in output[0].items()}]
    losses = MeshLoss("L1")(one, {k: v[:, :1] for k, v in gt.items()})
    assert losses["loss_3d_velocity"].item() == 0 and losses["loss_av"].item() == 0 and losses["loss_lv"].item() == 0
    empty = [{k: v[:0] for k, v in output[0].items()}]
    losses = MeshLoss("L1")(empty, {k: v[:0] for k, v in gt.items()})
    for key in ("loss_shape", "loss_pose", "loss_norm"):
        assert losses[key].item() == 0 and losses[key].shape == ()


def test_unknown_loss_type():
    with pytest.raises(ValueError, match="loss_type must be one of"):
        MeshLoss(loss_type="Huber")
