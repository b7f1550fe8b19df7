"""AMASS preparation tools (spec 03 §5.1–5.3, with the fixes of spec 08) on tiny synthetic files."""
import os
import pickle
import sys

import numpy as np
import pytest

from lib.utils.errors import UserError
from lib.utils.utils_data import split_clips
from tools import compress_amass, convert_amass, preprocess_amass

N_VERTS = 5  # stand-in body "mesh" size (the real one has 6890 vertices)


def write_motion(path, n_frames, fps, gender="male", seed=0):
    rng = np.random.RandomState(seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez(path, trans=rng.randn(n_frames, 3), poses=rng.randn(n_frames, 156), dmpls=rng.randn(n_frames, 8),
             betas=rng.randn(16), gender=np.array(gender), mocap_framerate=np.array(float(fps)))


@pytest.fixture()
def amass_tree(tmp_path):
    src = tmp_path / "data" / "AMASS" / "amass_202203"
    write_motion(str(src / "CMU" / "01" / "01_01_poses.npz"), 10, 120, "female")
    write_motion(str(src / "CMU" / "01" / "01_02_poses.npz"), 7, 60, "neutral", seed=1)
    write_motion(str(src / "KIT" / "3" / "walk_poses.npz"), 9, 150, seed=2)  # round(2.5) = 2
    np.savez(str(src / "CMU" / "01" / "shape.npz"), betas=np.zeros(16), gender=np.array("male"))
    (src / "LICENSE.txt").write_text("licence")
    (src / "KIT" / "broken.npz").write_bytes(b"not a zip file")
    return tmp_path, src


def run_compress(tmp_path, src):
    out = tmp_path / "data" / "AMASS"
    argv = ["--src", str(src) + "/", "--out_dir", str(out / "amass_fps60"), "--fps_csv", str(out / "fps.csv"),
            "--out_pkl", str(out / "all_motions_fps60.pkl")]
    assert compress_amass.main(argv) == 0
    return out


# ---------------------------------------------------------------- compress_amass

def test_compress_subsamples_and_reports_skips(amass_tree, capsys):
    tmp_path, src = amass_tree
    out = run_compress(tmp_path, src)
    lines = (out / "fps.csv").read_text().splitlines()
    assert lines == ["fname_new, len_ori, fps, len_new",
                     "AMASS_amass_202203_CMU_01_01_01_poses.npz , 10 , 120.0 , 5",
                     "AMASS_amass_202203_CMU_01_01_02_poses.npz , 7 , 60.0 , 7",
                     "AMASS_amass_202203_KIT_3_walk_poses.npz , 9 , 150.0 , 5"]
    with open(out / "all_motions_fps60.pkl", "rb") as f:
        motions = pickle.load(f)
    assert len(motions) == 3
    original = dict(np.load(src / "CMU" / "01" / "01_01_poses.npz"))
    first = motions[0]
    assert first["mocap_framerate"] == 60
    for key in ("trans", "dmpls", "poses"):
        np.testing.assert_array_equal(first[key], original[key][::2])
    np.testing.assert_array_equal(first["betas"], original["betas"])
    assert str(first["gender"]) == "female"
    stored = np.load(out / "amass_fps60" / "AMASS_amass_202203_KIT_3_walk_poses.npz", allow_pickle=True)["arr_0"]
    np.testing.assert_array_equal(stored.item()["poses"], motions[2]["poses"])
    report = capsys.readouterr().out
    assert "skipped 3 files" in report
    reasons = {"shape.npz": "mocap_framerate", "LICENSE.txt": "not an .npz", "broken.npz": "unreadable"}
    for name, reason in reasons.items():
        line = next(line for line in report.splitlines() if name in line)
        assert reason in line


def test_compress_missing_source(tmp_path):
    with pytest.raises(UserError) as err:
        compress_amass.main(["--src", str(tmp_path / "amass"), "--fps_csv", str(tmp_path / "fps.csv")])
    assert str(tmp_path / "amass") in str(err.value)


# ---------------------------------------------------------------- preprocess_amass

@pytest.mark.parametrize("n_frames, bounds", [
    (0, []),
    (100, [(0, 100)]),
    (2916, [(0, 2916)]),                         # the original added an empty (2916, 2916) slice
    (2 * 2916, [(0, 2916), (2916, 5832)]),
    (2 * 2916 + 1, [(0, 2916), (2916, 5832), (5832, 5833)]),
])
def test_slice_bounds(n_frames, bounds):
    assert preprocess_amass.slice_bounds(n_frames) == bounds


class FakeBody:
    """Stand-in for the SMPL+H body: vertices = translation + pose-dependent offsets; records calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, gender, params):
        self.calls.append((gender, {k: np.array(v) for k, v in params.items()}))
        offsets = params["pose_body"].sum(1)
        verts = params["trans"][:, None, :] + np.arange(N_VERTS)[None, :, None] + offsets[:, None, None]
        return verts.astype(np.float32)


def test_motions_to_joints_slices_and_clip_list(tmp_path):
    rng = np.random.RandomState(0)
    motions = [{"trans": rng.randn(n, 3), "poses": rng.randn(n, 156), "dmpls": rng.randn(n, 10),
                "betas": rng.randn(16), "gender": np.array(g)}
               for n, g in ((2916, "male"), (3000, "neutral"), (5, "female"))]
    J_reg = rng.rand(17, N_VERTS)
    body = FakeBody()
    clip_list = tmp_path / "clip_list.csv"
    joints = preprocess_amass.motions_to_joints(motions, ["a.npz", "b.npz", "c.npz"], J_reg, body, str(clip_list))
    assert [j.shape for j in joints] == [(17, 2916, 3), (17, 2916, 3), (17, 84, 3), (17, 5, 3)]
    assert clip_list.read_text().splitlines() == ["clip_id, fname, clip_len", "0 , a.npz , 2916",
                                                   "1 , b.npz , 2916", "2 , b.npz , 84", "3 , c.npz , 5"]
    assert [gender for gender, _ in body.calls] == ["male", "female", "female", "female"]
    gender, params = body.calls[2]  # second slice of motion b
    np.testing.assert_array_equal(params["root_orient"], motions[1]["poses"][2916:, :3])
    np.testing.assert_array_equal(params["pose_body"], motions[1]["poses"][2916:, 3:66])
    np.testing.assert_array_equal(params["pose_hand"], motions[1]["poses"][2916:, 66:])
    np.testing.assert_array_equal(params["trans"], motions[1]["trans"][2916:])
    np.testing.assert_array_equal(params["dmpls"], motions[1]["dmpls"][2916:, :8])
    assert params["betas"].shape == (84, 16) and (params["betas"] == motions[1]["betas"]).all()
    np.testing.assert_allclose(joints[2], np.dot(J_reg, body(gender, params)))


def test_preprocess_main_with_injected_body(amass_tree):
    tmp_path, src = amass_tree
    out = run_compress(tmp_path, src)
    np.save(out / "J_regressor_h36m_correct.npy", np.full((17, N_VERTS), 1.0 / N_VERTS))
    argv = ["--motions", str(out / "all_motions_fps60.pkl"), "--fps_csv", str(out / "fps.csv"),
            "--regressor", str(out / "J_regressor_h36m_correct.npy"),
            "--out_pkl", str(out / "amass_joints_h36m_60.pkl"), "--clip_list", str(out / "clip_list.csv")]
    assert preprocess_amass.main(argv, vertices=FakeBody()) == 0
    with open(out / "amass_joints_h36m_60.pkl", "rb") as f:
        joints = pickle.load(f)
    assert [j.shape for j in joints] == [(17, 5, 3), (17, 7, 3), (17, 5, 3)]
    rows = (out / "clip_list.csv").read_text().splitlines()
    assert rows[1] == "0 , AMASS_amass_202203_CMU_01_01_01_poses.npz , 5"


def test_preprocess_without_human_body_prior(amass_tree, monkeypatch):
    tmp_path, src = amass_tree
    out = run_compress(tmp_path, src)
    np.save(out / "J_regressor_h36m_correct.npy", np.zeros((17, N_VERTS)))
    monkeypatch.setitem(sys.modules, "human_body_prior", None)  # makes the import fail
    with pytest.raises(UserError) as err:
        preprocess_amass.main(["--motions", str(out / "all_motions_fps60.pkl"), "--fps_csv", str(out / "fps.csv"),
                               "--regressor", str(out / "J_regressor_h36m_correct.npy")])
    assert "pip install" in str(err.value) and "human_body_prior" in str(err.value)


def test_preprocess_missing_inputs(tmp_path):
    missing = str(tmp_path / "all_motions_fps60.pkl")
    with pytest.raises(UserError) as err:
        preprocess_amass.main(["--motions", missing])
    assert missing in str(err.value) and "tools/compress_amass.py" in str(err.value)


def test_preprocess_rejects_mismatched_lists(tmp_path):
    with pytest.raises(ValueError, match="fps.csv lists 1 motions"):
        preprocess_amass.motions_to_joints([], ["a.npz"], np.zeros((17, N_VERTS)), FakeBody(),
                                           str(tmp_path / "clip_list.csv"))


# ---------------------------------------------------------------- convert_amass

def test_convert_amass_clips(tmp_path):
    rng = np.random.RandomState(0)
    lengths = [300, 100, 250]  # 1 window; 1 resampled short clip; 1 window (last)
    joints = [rng.randn(17, n, 3) for n in lengths]
    src = tmp_path / "amass_joints_h36m_60.pkl"
    with open(src, "wb") as f:
        pickle.dump(joints, f)
    out = tmp_path / "MB3D_f243s81"
    assert convert_amass.main(["--input", str(src), "--output", str(out), "--seed", "0"]) == 0
    files = sorted(os.listdir(out / "AMASS" / "train"))
    assert files == ["00000000.pkl", "00000001.pkl", "00000002.pkl"]
    assert os.listdir(out / "AMASS" / "test") == []
    frames = np.vstack([np.transpose(j.astype(np.float32), (1, 0, 2)) for j in joints])
    cam = np.stack([frames[..., 0], -frames[..., 2], frames[..., 1]], axis=-1) * np.float32(0.298)
    np.random.seed(0)
    split_id = split_clips(sum(([i] * n for i, n in enumerate(lengths)), []), 243, 81)
    for name, ids in zip(files, split_id):
        with open(out / "AMASS" / "train" / name, "rb") as f:
            clip = pickle.load(f)
        assert clip["data_input"] is None
        assert clip["data_label"].dtype == np.float32 and clip["data_label"].shape == (243, 17, 3)
        np.testing.assert_allclose(clip["data_label"], cam[np.asarray(ids)], rtol=1e-6, atol=1e-7)


def test_convert_amass_missing_input(tmp_path):
    with pytest.raises(UserError) as err:
        convert_amass.main(["--input", str(tmp_path / "joints.pkl")])
    assert "joints.pkl" in str(err.value) and "tools/preprocess_amass.py" in str(err.value)


@pytest.mark.parametrize("tool, default", [(compress_amass, "data/AMASS/amass_202203/"),
                                           (preprocess_amass, "data/AMASS/all_motions_fps60.pkl"),
                                           (convert_amass, "data/AMASS/amass_joints_h36m_60.pkl")])
def test_help(tool, default, capsys):
    with pytest.raises(SystemExit) as err:
        tool.main(["--help"])
    assert err.value.code == 0
    assert default in capsys.readouterr().out
