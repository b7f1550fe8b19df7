"""lib.utils.utils_mesh against the original's outputs (rotations, flips, alignment, mesh metrics)."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

import lib.utils.utils_mesh as U
from conftest import assert_float_close, fixture_path

ROT = np.load(fixture_path("tasks", "mesh", "rotations.npz"))
MISC = np.load(fixture_path("tasks", "mesh", "mesh_misc.npz"))
ERR = np.load(fixture_path("tasks", "mesh", "mesh_errors.npz"))


def t(key, data=ROT):
    return torch.from_numpy(data[key])


@pytest.mark.parity
@pytest.mark.parametrize("name, fn, key_in", [
    ("batch_rodrigues", U.batch_rodrigues, "aa"),
    ("quat2mat", U.quat2mat, "quat"),
    ("rotmat_to_aa", U.rotation_matrix_to_angle_axis, "rotmat"),
    ("rotmat34_to_aa", U.rotation_matrix_to_angle_axis, "rotmat34"),
    ("rotmat34_to_quat", U.rotation_matrix_to_quaternion, "rotmat34"),
    ("quat_to_aa", U.quaternion_to_angle_axis, "quat"),
    ("quat_batch_to_aa", U.quaternion_to_angle_axis, "quat_batch"),
    ("rot6d_to_rotmat", U.rot6d_to_rotmat, "x6d"),
])
def test_rotations_match_original(name, fn, key_in):
    out = fn(t(key_in))
    assert out.dtype == torch.float32
    assert_float_close(out, ROT[name])


@pytest.mark.parity
def test_rot6d_spin_matches_original():
    assert_float_close(U.rot6d_to_rotmat_spin(t("x6d")[:15]), ROT["rot6d_to_rotmat_spin"])


def test_spec_examples():
    r = U.rot6d_to_rotmat(torch.tensor([[1.0, 0.5, 0.2, 2.0, -0.3, 0.1]], dtype=torch.float64))
    expected = [[0.94072087, -0.14245033, 0.30781837], [0.18814417, 0.97426686, -0.12412031],
                [-0.28221626, 0.17467680, 0.94331437]]
    np.testing.assert_allclose(r[0].numpy(), expected, atol=1e-8)
    aa = U.rotation_matrix_to_angle_axis(r)
    np.testing.assert_allclose(aa[0].numpy(), [0.15302995, 0.30218819, 0.16931508], atol=1e-7)  # spec: float32
    # and it is the inverse of batch_rodrigues
    np.testing.assert_allclose(U.batch_rodrigues(aa).reshape(3, 3).numpy(), r[0].numpy(), atol=1e-7)


def test_rotation_input_errors():
    with pytest.raises(TypeError):
        U.rotation_matrix_to_quaternion(np.eye(3, 4)[None])
    with pytest.raises(ValueError):
        U.rotation_matrix_to_quaternion(torch.zeros(2, 3, 3))
    with pytest.raises(ValueError):
        U.rotation_matrix_to_quaternion(torch.zeros(1, 2, 3, 4))
    with pytest.raises(TypeError):
        U.quaternion_to_angle_axis([1, 0, 0, 0])
    with pytest.raises(ValueError):
        U.quaternion_to_angle_axis(torch.zeros(2, 3))


@pytest.mark.parity
def test_flip_thetas_match_original():  # a permutation with sign changes: exact
    np.testing.assert_array_equal(U.flip_thetas(MISC["thetas"]), MISC["flip_thetas"])
    flipped = U.flip_thetas_batch(t("thetas_batch", MISC))
    assert flipped.shape == (2, 3, 72)
    np.testing.assert_array_equal(flipped.numpy(), MISC["flip_thetas_batch"])


def test_flip_thetas_spec_example_and_involution():
    thetas = np.arange(144, dtype=np.float64).reshape(2, 24, 3)
    flipped = U.flip_thetas(thetas)
    np.testing.assert_array_equal(flipped[0, :4], [[0, -1, -2], [6, -7, -8], [3, -4, -5], [9, -10, -11]])
    np.testing.assert_array_equal(thetas, np.arange(144).reshape(2, 24, 3))  # input untouched
    np.testing.assert_array_equal(U.flip_thetas(flipped), thetas)
    x = torch.from_numpy(thetas.reshape(1, 2, 72)).requires_grad_()
    U.flip_thetas_batch(x).sum().backward()  # differentiable, input not modified in place
    assert x.grad is not None
    np.testing.assert_array_equal(U.flip_thetas_batch(x.detach()).numpy().reshape(2, 24, 3), flipped)


@pytest.mark.parity
def test_rigid_alignment_matches_original():
    for b, prefix, aligned in (("B", "rt", "rigid_align"), ("B_mirror", "rtm", "rigid_align_mirror")):
        c, R, tr = U.rigid_transform_3D(MISC["A"], MISC[b])
        assert_float_close(c, MISC[f"{prefix}_c"])
        assert_float_close(R, MISC[f"{prefix}_R"])
        assert_float_close(tr, MISC[f"{prefix}_t"])
        assert np.linalg.det(R) > 0  # the mirror case is corrected to a proper rotation
        assert_float_close(U.rigid_align(MISC["A"], MISC[b]), MISC[aligned])


@pytest.mark.parity
def test_estimate_translation():
    trans = U.estimate_translation_np(MISC["et_S"], MISC["et_j2d"], MISC["et_conf"], focal_length=5000.,
                                      img_size=224.)
    assert_float_close(trans, MISC["estimate_translation_np"])
    # the batched version uses joints 25:49 of 49-joint inputs; confidence is the last 2D channel
    S = torch.zeros(2, 49, 3, dtype=torch.float64)
    j2d = torch.zeros(2, 49, 3, dtype=torch.float64)
    S[:, 25:39] = torch.from_numpy(MISC["et_S"])
    j2d[:, 25:39, :2] = torch.from_numpy(MISC["et_j2d"])
    j2d[:, 25:39, 2] = torch.from_numpy(MISC["et_conf"])
    S[:, 39:] = torch.from_numpy(MISC["et_S"][:10])  # zero-confidence joints do not count
    j2d[:, 39:, :2] = 7.0
    out = U.estimate_translation(S, j2d)
    assert out.dtype == torch.float32 and out.shape == (2, 3)
    assert_float_close(out, np.tile(MISC["estimate_translation_np"], (2, 1)).astype(np.float32))


def _error_inputs():
    output = [{"verts": t("pred_verts", ERR), "kp_3d": t("pred_kp3d", ERR)}]
    target = {"verts": t("gt_verts", ERR), "kp_3d": t("gt_kp3d", ERR)}
    return output, target


@pytest.mark.parity
def test_compute_error_matches_original():
    mpjpe, mpve = U.compute_error(*_error_inputs())
    assert mpjpe.dim() == 0 and mpjpe.device.type == "cpu"
    assert_float_close(mpjpe, ERR["compute_error_mpjpe"])
    assert_float_close(mpve, ERR["compute_error_mpve"])
    mpjpes, mpves = U.compute_error_frames(*_error_inputs())
    assert_float_close(mpjpes, ERR["frames_mpjpe"])
    assert_float_close(mpves, ERR["frames_mpve"])


@pytest.mark.parity
def test_evaluate_mesh_matches_original():
    res = U.evaluate_mesh({"verts": ERR["pred_verts"], "verts_gt": ERR["gt_verts"],
                           "kp_3d": ERR["pred_kp3d"], "kp_3d_gt": ERR["gt_kp3d"]})
    assert set(res) == {"mpve", "mpjpe", "pa_mpjpe", "mpjpe_17j", "pa_mpjpe_17j"}
    for key, value in res.items():
        assert_float_close(value, ERR[f"evaluate_mesh_{key}"], err_msg=key)


def test_metrics_use_the_input_vertex_count():
    # the original hard-coded 6890 vertices: with every vertex of the fixture meshes listed twice
    # (13780 vertices) the mean vertex error is still the original's, and other sizes work too
    doubled = {k: np.concatenate([ERR[k]] * 2, axis=-2) for k in ("pred_verts", "gt_verts")}
    output = [{"verts": torch.from_numpy(doubled["pred_verts"]), "kp_3d": t("pred_kp3d", ERR)}]
    target = {"verts": torch.from_numpy(doubled["gt_verts"]), "kp_3d": t("gt_kp3d", ERR)}
    mpjpe, mpve = U.compute_error(output, target)
    assert_float_close(mpve, ERR["compute_error_mpve"])
    assert_float_close(mpjpe, ERR["compute_error_mpjpe"])
    res = U.evaluate_mesh({"verts": doubled["pred_verts"], "verts_gt": doubled["gt_verts"],
                           "kp_3d": ERR["pred_kp3d"], "kp_3d_gt": ERR["gt_kp3d"]})
    assert_float_close(res["mpve"], ERR["evaluate_mesh_mpve"])
    # a mesh cut in two parts: the vertex-weighted mean of the parts' errors is the whole mesh's
    parts = [U.evaluate_mesh({"verts": ERR["pred_verts"][..., part, :], "verts_gt": ERR["gt_verts"][..., part, :],
                              "kp_3d": ERR["pred_kp3d"], "kp_3d_gt": ERR["gt_kp3d"]})["mpve"]
             for part in (slice(0, 306), slice(306, None))]
    assert_float_close((306 * parts[0] + 6584 * parts[1]) / 6890, ERR["evaluate_mesh_mpve"])


def test_rectify_pose_rotates_root_by_pi_about_x():
    pose = np.random.default_rng(1).normal(scale=0.5, size=72)
    out = U.rectify_pose(pose)
    np.testing.assert_array_equal(out[3:], pose[3:])
    expected = Rotation.from_rotvec(pose[:3]).as_matrix() @ Rotation.from_rotvec([np.pi, 0, 0]).as_matrix()
    np.testing.assert_allclose(Rotation.from_rotvec(out[:3]).as_matrix(), expected, atol=1e-12)
    assert not np.array_equal(out[:3], pose[:3])  # a copy is returned, the input is untouched
