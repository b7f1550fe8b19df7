"""lib.model.loss against the original's values and gradients (fixtures) and the spec's reference values."""
import json

import numpy as np
import pytest
import torch

import lib.model.loss as L
from conftest import assert_float_close, fixture_path

D = np.load(fixture_path("pose3d", "losses.npz"))
J = json.load(open(fixture_path("pose3d", "losses.json")))


def case_tensors(case, grad=False):
    p = torch.from_numpy(D[f"{case}_pred"]).clone().requires_grad_(grad)
    return (p, torch.from_numpy(D[f"{case}_gt"]), torch.from_numpy(D[f"{case}_w"]),
            torch.from_numpy(D[f"{case}_conf"]))


def all_losses(p, g, w, c):
    return {"loss_mpjpe": L.loss_mpjpe(p, g), "n_mpjpe": L.n_mpjpe(p, g), "loss_velocity": L.loss_velocity(p, g),
            "loss_limb_var": L.loss_limb_var(p), "loss_limb_gt": L.loss_limb_gt(p, g),
            "loss_angle": L.loss_angle(p, g), "loss_angle_velocity": L.loss_angle_velocity(p, g),
            "weighted_mpjpe": L.weighted_mpjpe(p, g, w), "loss_2d_weighted": L.loss_2d_weighted(p, g, c)}


@pytest.mark.parity
@pytest.mark.parametrize("case", ["main", "t1"])
def test_values_dtypes_shapes(case):
    for name, value in all_losses(*case_tensors(case)).items():
        ref = J["values"][case][name]
        assert str(value.dtype) == "torch." + ref["torch_dtype"], name
        assert list(value.shape) == ref["shape"], name
        assert_float_close(value, D[f"{case}_{name}"], err_msg=name)  # float32 losses: float32 tolerance


@pytest.mark.parity
@pytest.mark.parametrize("case", ["main", "t1"])
def test_gradients(case):
    for name, fn in [("loss_mpjpe", L.loss_mpjpe), ("n_mpjpe", L.n_mpjpe), ("loss_velocity", L.loss_velocity)]:
        p, g, _, _ = case_tensors(case, grad=True)
        loss = fn(p, g)
        grad = torch.autograd.grad(loss, p, allow_unused=True)[0] if loss.requires_grad else None
        grad = torch.zeros_like(p) if grad is None else grad
        assert_float_close(grad, D[f"{case}_grad_{name}"], err_msg=name)
    p, g, _, _ = case_tensors(case, grad=True)
    total = L.loss_mpjpe(p, g) + L.n_mpjpe(p, g) + L.loss_velocity(p, g)
    total.backward()
    assert_float_close(p.grad, D[f"{case}_grad_sum3"])


@pytest.mark.parity
def test_numpy_metrics():
    assert_float_close(L.mpjpe(D["np_pred"], D["np_gt"]), D["np_mpjpe"])
    assert_float_close(L.p_mpjpe(D["np_pred"], D["np_gt"]), D["np_p_mpjpe"])
    assert_float_close(L.mpjpe(D["np_pred_reflect"], D["np_gt"]), D["np_mpjpe_reflect"])
    assert_float_close(L.p_mpjpe(D["np_pred_reflect"], D["np_gt"]), D["np_p_mpjpe_reflect"])


@pytest.mark.parity
def test_spec_reference_values():
    n = np.arange(2 * 4 * 17 * 3, dtype=np.float64)
    p = torch.from_numpy(np.sin(0.3 * n).reshape(2, 4, 17, 3))
    g = torch.from_numpy(np.cos(0.2 * n).reshape(2, 4, 17, 3))
    assert L.loss_mpjpe(p, g).item() == pytest.approx(1.406997096870, abs=1e-11)
    assert L.n_mpjpe(p, g).item() == pytest.approx(1.107826720325, abs=1e-11)
    assert L.loss_velocity(p, g).item() == pytest.approx(2.557277921799, abs=1e-11)
    assert L.loss_limb_gt(p, g).item() == pytest.approx(0.699988791169, abs=1e-11)
    assert L.loss_angle(p, g).item() == pytest.approx(0.979466175446, abs=1e-11)
    assert L.loss_angle_velocity(p, g).item() == pytest.approx(1.088539507880, abs=1e-11)
    assert L.loss_limb_var(p).item() == pytest.approx(0.125733201384, abs=1e-11)
    assert L.loss_2d_weighted(p, g, g[..., 2:].abs()).item() == pytest.approx(0.747894281650, abs=1e-11)
    np.testing.assert_allclose(L.mpjpe(p[0].numpy(), g[0].numpy()),
                               [1.352512312812211, 1.2801918777089247, 1.3866055725061401, 1.639677630569012])
    np.testing.assert_allclose(L.p_mpjpe(p[0].numpy(), g[0].numpy()),
                               [1.1266734001808645, 1.0441021441181673, 1.0288589757945072, 1.111588823142795])


def test_shapes_of_helpers():
    x = torch.randn(2, 3, 17, 3)
    assert L.get_limb_lens(x).shape == (2, 3, 16)
    assert L.get_angles(x).shape == (2, 3, 18)
