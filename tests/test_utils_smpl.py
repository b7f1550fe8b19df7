"""lib.utils.utils_smpl: chumpy-free model reading, the 49-joint SMPL wrapper, and its error messages.

The fixture body model is synthetic (306 vertices), so the SMPL-H vertex ids of the extra joints
are replaced by smpl/vertex_ids.json (constructor argument, or smplx's table patched in place).
"""
import importlib.util
import json
import os
import pickle
import shutil
from unittest import mock

import numpy as np
import pytest
import smplx.vertex_ids
import torch

import lib.utils.utils_smpl as S
from conftest import fixture_path

ROOTS = {"plain": fixture_path("tasks", "smpl"), "chumpy": fixture_path("tasks", "smpl_chumpy")}
VERTEX_IDS = json.load(open(fixture_path("tasks", "smpl", "vertex_ids.json")))
REF = np.load(fixture_path("tasks", "smpl", "smpl_forward.npz"))
FILES = ["SMPL_NEUTRAL.pkl", "J_regressor_extra.npy", "J_regressor_h36m_correct.npy", "smpl_mean_params.npz"]
MODEL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


def data_root(tmp_path, model=None, skip=(), **arrays):
    """A copy of the plain fixture data root; ``model`` replaces the model dict, ``arrays`` the .npy files."""
    root = tmp_path / "mesh"
    root.mkdir()
    for name in FILES:
        if name not in skip:
            shutil.copy(os.path.join(ROOTS["plain"], name), root / name)
    if model is not None:
        with open(root / "SMPL_NEUTRAL.pkl", "wb") as f:
            pickle.dump(model, f)
    for name, array in arrays.items():
        np.save(root / name, array)
    return str(root)


def plain_model():
    with open(os.path.join(ROOTS["plain"], "SMPL_NEUTRAL.pkl"), "rb") as f:
        return pickle.load(f)


def test_constants():
    assert len(S.JOINT_NAMES) == 49 and len(set(S.JOINT_NAMES)) == 49
    assert set(S.JOINT_MAP) == set(S.JOINT_NAMES)
    assert [S.JOINT_MAP[n] for n in S.JOINT_NAMES[:9]] == [24, 12, 17, 19, 21, 16, 18, 20, 0]
    assert [S.JOINT_MAP[n] for n in S.JOINT_NAMES[37:]] == [47, 48, 49, 50, 51, 52, 53, 24, 26, 25, 28, 27]
    assert S.JOINT_IDS["OP Nose"] == 0 and S.JOINT_IDS["Right Ear"] == 48
    assert S.SMPL_MODEL_DIR == "data/mesh"
    assert S.H36M_TO_J17 == [6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10, 0, 7, 9]
    assert S.H36M_TO_J14 == S.H36M_TO_J17[:14]


def test_chumpy_pickle_reads_like_the_plain_one():
    plain = S.load_smpl_model(os.path.join(ROOTS["plain"], "SMPL_NEUTRAL.pkl"))
    chumpy = S.load_smpl_model(os.path.join(ROOTS["chumpy"], "SMPL_NEUTRAL.pkl"))
    assert set(plain) == set(chumpy)
    for key, value in plain.items():
        other = chumpy[key]
        if hasattr(value, "toarray"):  # sparse regressors rebuilt from the old-scipy instance dict
            assert other.format == "csc" and other.dtype == value.dtype
            np.testing.assert_array_equal(other.toarray(), value.toarray())
        elif isinstance(value, np.ndarray):
            assert type(other) is np.ndarray and other.dtype == value.dtype, key
            np.testing.assert_array_equal(other, value)
        else:
            assert other == value, key


@pytest.mark.skipif(importlib.util.find_spec("chumpy") is not None, reason="chumpy is installed")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # scipy.sparse.csc namespace
def test_chumpy_pickle_needs_the_custom_unpickler():
    with open(os.path.join(ROOTS["chumpy"], "SMPL_NEUTRAL.pkl"), "rb") as f:
        with pytest.raises(ModuleNotFoundError, match="chumpy"):
            pickle.load(f, encoding="latin1")


def test_npz_model_file(tmp_path):
    model = S.load_smpl_model(os.path.join(ROOTS["plain"], "SMPL_NEUTRAL.pkl"))
    root = data_root(tmp_path, skip=("SMPL_NEUTRAL.pkl",))
    arrays = {k: (model[k].toarray() if hasattr(model[k], "toarray") else model[k]) for k in MODEL_KEYS}
    np.savez(os.path.join(root, "SMPL_NEUTRAL.npz"), **arrays)
    smpl = S.SMPL(root, vertex_ids=VERTEX_IDS)
    reference = S.SMPL(ROOTS["plain"], vertex_ids=VERTEX_IDS)
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(smpl.state_dict()[key], value, rtol=0, atol=0)


@pytest.mark.parity
@pytest.mark.parametrize("root", ["plain", "chumpy"])
def test_forward_matches_original(root):
    smpl = S.SMPL(ROOTS[root], batch_size=1, vertex_ids=VERTEX_IDS)
    ref = {k: torch.from_numpy(REF[k]) for k in REF.files}
    out = smpl(betas=ref["betas"], body_pose=ref["body_pose"], global_orient=ref["global_orient"], pose2rot=True)
    # float32 summation order depends on the CPU kernels / thread count: compare to a few ulps
    tol = dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.vertices, ref["vertices"], **tol)
    torch.testing.assert_close(out.joints, ref["joints"], **tol)
    torch.testing.assert_close(torch.matmul(smpl.J_regressor_h36m, out.vertices * 1000), ref["h36m_mm"],
                               rtol=1e-5, atol=1e-3)
    out = smpl(betas=ref["betas"], body_pose=ref["body_rotmat"], global_orient=ref["global_rotmat"], pose2rot=False)
    torch.testing.assert_close(out.vertices, ref["vertices_rotmat"], **tol)
    torch.testing.assert_close(out.joints, ref["joints_rotmat"], **tol)
    torch.testing.assert_close(torch.matmul(smpl.J_regressor_h36m, out.vertices * 1000), ref["h36m_mm_rotmat"],
                               rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(smpl.faces, REF["faces"])


def test_buffers_and_state_dict_names():
    smpl = S.SMPL(ROOTS["plain"], batch_size=64, create_transl=False, vertex_ids=VERTEX_IDS)
    assert list(smpl.state_dict()) == [
        "betas", "global_orient", "body_pose", "shapedirs", "faces_tensor", "v_template", "J_regressor", "posedirs",
        "parents", "lbs_weights", "J_regressor_extra", "J_regressor_h36m", "vertex_joint_selector.extra_joints_idxs"]
    assert smpl.J_regressor_extra.shape == (9, 306) and smpl.J_regressor_extra.dtype == torch.float32
    assert smpl.J_regressor_h36m.shape == (17, 306) and smpl.J_regressor_h36m.dtype == torch.float32
    assert smpl.betas.shape == (64, 10) and smpl.body_pose.shape == (64, 69)
    assert smpl.smpl_mean_params == os.path.join(ROOTS["plain"], "smpl_mean_params.npz")
    # joint_map is not saved but follows the module's device and dtype conversions
    assert "joint_map" not in smpl.state_dict() and "joint_map" in dict(smpl.named_buffers())
    assert smpl.joint_map.tolist() == [S.JOINT_MAP[n] for n in S.JOINT_NAMES]


def test_patched_smplx_table_works_too():
    # the way the fixtures were produced: smplx's SMPL-H table updated in place
    with mock.patch.dict(smplx.vertex_ids.vertex_ids["smplh"], VERTEX_IDS):
        smpl = S.SMPL(ROOTS["chumpy"])
    assert smpl.vertex_joint_selector.extra_joints_idxs.tolist() == [
        285, 286, 287, 288, 289, 300, 301, 302, 303, 304, 305, 290, 291, 292, 293, 294, 295, 296, 297, 298, 299]
    assert smplx.vertex_ids.vertex_ids["smplh"]["nose"] == 332  # restored


def test_default_vertex_ids_do_not_fit_the_synthetic_mesh():
    with pytest.raises(S.SMPLModelFileError, match=r"306-vertex model .*vertex_ids"):
        S.SMPL(ROOTS["plain"])


def test_get_smpl_faces():
    faces = S.get_smpl_faces(ROOTS["chumpy"])
    np.testing.assert_array_equal(faces, REF["faces"])
    assert faces.shape == (380, 3)


def test_missing_files_one_message_lists_everything(tmp_path):
    root = data_root(tmp_path, skip=("SMPL_NEUTRAL.pkl", "J_regressor_h36m_correct.npy"))
    with pytest.raises(FileNotFoundError) as e:
        S.SMPL(root, vertex_ids=VERTEX_IDS)
    msg = str(e.value)
    for name in FILES:
        assert name in msg
    assert "[MISSING] SMPL_NEUTRAL.pkl" in msg and "[MISSING] J_regressor_h36m_correct.npy" in msg
    assert "[ok     ] J_regressor_extra.npy" in msg
    assert "https://smpl.is.tue.mpg.de" in msg and "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl" in msg
    assert "SPIN" in msg
    with pytest.raises(FileNotFoundError, match="does not exist"):
        S.SMPL(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="is a file; pass the folder"):
        S.SMPL(os.path.join(ROOTS["plain"], "SMPL_NEUTRAL.pkl"))


@pytest.mark.parametrize("content", [b"", b"this is not a pickle", None])
def test_corrupt_model_file(tmp_path, content):
    root = data_root(tmp_path)
    path = os.path.join(root, "SMPL_NEUTRAL.pkl")
    if content is None:  # truncated copy of the official-style file
        content = open(os.path.join(ROOTS["chumpy"], "SMPL_NEUTRAL.pkl"), "rb").read()[:5000]
    with open(path, "wb") as f:
        f.write(content)
    with pytest.raises(S.SMPLModelFileError, match=f"cannot read SMPL model file {path}"):
        S.SMPL(root, vertex_ids=VERTEX_IDS)


def test_foreign_objects_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    root = data_root(tmp_path, model={"v_template": Evil()})
    with pytest.raises(S.SMPLModelFileError, match="unexpected object"):
        S.SMPL(root, vertex_ids=VERTEX_IDS)
    assert not (tmp_path / "pwned").exists()


def test_wrong_joint_count(tmp_path):
    model = plain_model()
    model["kintree_table"] = model["kintree_table"][:, :23]
    root = data_root(tmp_path, model=model)
    with pytest.raises(S.SMPLModelFileError, match=r"SMPL_NEUTRAL.pkl has 23 joints.*24"):
        S.SMPL(root, vertex_ids=VERTEX_IDS)


def test_too_few_shape_coefficients(tmp_path):
    model = plain_model()
    model["shapedirs"] = model["shapedirs"][:, :, :8]
    root = data_root(tmp_path, model=model)
    with pytest.raises(S.SMPLModelFileError, match=r"SMPL_NEUTRAL.pkl has shapedirs of shape \(306, 3, 8\)"):
        S.SMPL(root, vertex_ids=VERTEX_IDS)


def test_model_missing_an_entry(tmp_path):
    model = plain_model()
    del model["weights"]
    root = data_root(tmp_path, model=model)
    with pytest.raises(S.SMPLModelFileError, match=r"SMPL_NEUTRAL.pkl lacks the entries \['weights'\]"):
        S.SMPL(root, vertex_ids=VERTEX_IDS)


def test_regressor_vertex_count_mismatch(tmp_path):
    root = data_root(tmp_path, **{"J_regressor_h36m_correct.npy": np.full((17, 6890), 1 / 6890)})
    with pytest.raises(S.SMPLModelFileError, match=r"J_regressor_h36m_correct.npy has shape \(17, 6890\), "
                                                   r"expected \(17, 306\)"):
        S.SMPL(root, vertex_ids=VERTEX_IDS)


def test_corrupt_regressor(tmp_path):
    root = data_root(tmp_path)
    with open(os.path.join(root, "J_regressor_extra.npy"), "wb") as f:
        f.write(b"\x93NUMPY garbage")
    with pytest.raises(S.SMPLModelFileError, match="cannot read joint regressor .*J_regressor_extra.npy"):
        S.SMPL(root, vertex_ids=VERTEX_IDS)
