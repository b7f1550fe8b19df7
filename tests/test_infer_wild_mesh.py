"""infer_wild_mesh.py end to end with the synthetic body model and the original-format mesh checkpoint."""
import json
import os
from unittest import mock

import numpy as np
import pytest
import smplx.vertex_ids
import yaml

import infer_wild
import infer_wild_mesh
from conftest import fixture_path
from lib.data.wild_input import load_wild_inputs, normalize_keypoints
from lib.inference import load_model, plan_windows
from lib.utils.errors import UserError
from lib.utils.tools import get_config
from test_infer_wild import make_video, scaled_entries, video_props, write_json

WILD = fixture_path("tasks", "wild")
CFG = json.load(open(fixture_path("tasks", "config.json")))
VERTEX_IDS = json.load(open(fixture_path("tasks", "smpl", "vertex_ids.json")))
MESH_CKPT = fixture_path("tasks", "mesh", "mesh_latest_epoch.bin")


@pytest.fixture(autouse=True)
def synthetic_vertex_ids():
    with mock.patch.dict(smplx.vertex_ids.vertex_ids["smplh"], VERTEX_IDS):
        yield


@pytest.fixture
def config(tmp_path):
    cfg = dict(CFG["bb"], data_root=fixture_path("tasks", "smpl_chumpy"), hidden_dim=CFG["mesh_hidden"], dropout=0.1)
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.fixture
def inputs(tmp_path):
    return make_video(tmp_path / "in.mp4", 45, fps=24), write_json(tmp_path / "kpts.json", scaled_entries())


def run(config, out, *args):
    return infer_wild_mesh.main(["--config", config, "-e", MESH_CKPT, "-o", str(out)] + [str(a) for a in args])


def test_mesh_video_and_arrays(config, inputs, tmp_path):
    video, keypoints = inputs
    out = tmp_path / "out"
    run(config, out, "-j", keypoints, "-v", video, "--clip_len", 8, "--save_npy")
    assert video_props(out / "mesh.mp4")[:2] == (45, 24.0)
    verts, joints = np.load(out / "mesh.npy"), np.load(out / "mesh_joints.npy")
    assert verts.shape == (45, 306, 3) and joints.shape == (45, 17, 3)
    # joints and vertices are both in millimetres (the original mixed mm and m in the joints)
    smpl = infer_wild_mesh.SMPL(fixture_path("tasks", "smpl_chumpy"), batch_size=1)
    regressed = np.einsum("jv,fvc->fjc", smpl.J_regressor_h36m.numpy(), verts)
    np.testing.assert_allclose(joints, regressed, rtol=1e-4, atol=1e-2)


def test_chunks_and_windows(config, inputs, tmp_path):
    video, keypoints = inputs
    verts = {}
    for stride in (8, 3):
        out = tmp_path / f"s{stride}"
        run(config, out, "-j", keypoints, "-v", video, "--clip_len", 8, "--stride", stride, "--save_npy")
        verts[stride] = np.load(out / "mesh.npy")
        assert verts[stride].shape == (45, 306, 3)
    # the model run directly on each window of the normalised input (vertices in mm)
    args = get_config(config)
    model = load_model(args, MESH_CKPT, "mesh", "cpu")
    smpl = infer_wild_mesh.SMPL(args.data_root, batch_size=1)
    motion = normalize_keypoints(load_wild_inputs(keypoints, video).tracks[0].keypoints, scale_range=[1, 1])

    def direct(windows):
        return [infer_wild_mesh.mesh_clips(model, smpl, motion[None, start:end], "cpu")[0][0] for start, end in windows]

    tol = dict(rtol=1e-5, atol=1e-3)
    # stride = clip_len: the original's chunks, one after the other
    np.testing.assert_allclose(verts[8], np.concatenate(direct(plan_windows(45, 8, 8))), **tol)
    # overlapping windows: a frame seen by one window is that window's mesh; a frame seen by several is
    # a weighted mean of theirs, so every coordinate lies between their smallest and largest value
    windows = plan_windows(45, 8, 3)
    low, high = np.full((45, 306, 3), np.inf), np.full((45, 306, 3), -np.inf)
    for (start, end), window in zip(windows, direct(windows)):
        low[start:end] = np.minimum(low[start:end], window)
        high[start:end] = np.maximum(high[start:end], window)
    single = np.all(low == high, axis=(1, 2))
    assert single[:3].all() and not single.all()
    np.testing.assert_allclose(verts[3][single], low[single], **tol)
    assert np.all((verts[3] >= low - 1e-3) & (verts[3] <= high + 1e-3))
    assert np.abs(verts[3] - verts[8]).max() > 1.0  # blending changed the chunked result


def test_reference_motion_sets_the_trajectory(config, inputs, tmp_path):
    video, keypoints = inputs
    x3d_dir = tmp_path / "x3d"
    infer_wild.main(["--config", os.path.join(WILD, "infer_single_flip_norm.yaml"), "-e",
                     os.path.join(WILD, "pose3d_best_epoch.bin"), "-o", str(x3d_dir), "-j", keypoints, "-v", video,
                     "--clip_len", "20"])
    out = tmp_path / "out"
    run(config, out, "-j", keypoints, "-v", video, "--clip_len", 8, "--save_npy",
        "--ref_3d_motion_path", x3d_dir / "X3D.npy")
    ref = np.load(x3d_dir / "X3D.npy")
    joints = np.load(out / "mesh_joints.npy")
    root = joints[:, 0]
    # the mesh root follows the reference root up to one scale factor
    scale = np.linalg.lstsq(ref[:, 0].reshape(-1, 1), root.reshape(-1), rcond=None)[0][0]
    np.testing.assert_allclose(root, ref[:, 0] * scale, rtol=1e-4, atol=1e-3)
    bad = tmp_path / "short.npy"
    np.save(bad, ref[:10])
    with pytest.raises(UserError, match=r"short.npy has shape \(10, 17, 3\) \(float32\), expected \(45, 17, 3\)"):
        run(config, tmp_path / "o2", "-j", keypoints, "-v", video, "--clip_len", 8, "--ref_3d_motion_path", bad)


def test_solve_scale_finds_the_multistart_optimum():
    from scipy.optimize import least_squares
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 17, 3)) * 0.3
    y = 812 * x + rng.normal(size=x.shape) * 40 + np.array([5.0, -3.0, 2.0])
    # the original's search: 400 starts, keep the smallest residual
    runs = [least_squares(infer_wild_mesh.err, np.array([s, 0.0, 0.0, 0.0]), args=(x.reshape(-1, 3), y.reshape(-1, 3)))
            for s in range(0, 2000, 50)]
    best = min(runs, key=lambda r: r.fun[0])
    assert infer_wild_mesh.solve_scale(x, y) == pytest.approx(best.x[0], rel=1e-4)
    assert infer_wild_mesh.solve_scale(x, 850.0 * x + 3.0) == pytest.approx(850.0, rel=1e-6)


def test_wrong_checkpoint_and_missing_smpl(config, inputs, tmp_path):
    video, keypoints = inputs
    with pytest.raises(UserError, match="does not fit the model"):
        infer_wild_mesh.main(["--config", config, "-e", os.path.join(WILD, "pose3d_best_epoch.bin"), "-o",
                              str(tmp_path / "o"), "-j", keypoints, "-v", video, "--clip_len", "8"])
    cfg = yaml.safe_load(open(config))
    cfg["data_root"] = str(tmp_path / "nosmpl")
    open(config, "w").write(yaml.safe_dump(cfg))
    with pytest.raises(FileNotFoundError, match="SMPL_NEUTRAL.pkl"):
        run(config, tmp_path / "o3", "-j", keypoints, "-v", video, "--clip_len", 8)


def test_bf16_precision(config, inputs, tmp_path):
    video, keypoints = inputs
    run(config, tmp_path / "fp32", "-j", keypoints, "-v", video, "--clip_len", "8", "--save_npy")
    run(config, tmp_path / "bf16", "-j", keypoints, "-v", video, "--clip_len", "8", "--save_npy", "--precision", "bf16")
    fp32, bf16 = np.load(tmp_path / "fp32" / "mesh.npy"), np.load(tmp_path / "bf16" / "mesh.npy")
    assert np.linalg.norm(bf16 - fp32) / np.linalg.norm(fp32) < 0.05


def test_mesh_model_is_built_with_the_configs_joint_count(tmp_path):
    from lib.model.model_mesh import MeshRegressor
    from lib.utils.checkpoint import model_state_for_saving, save_checkpoint
    from lib.utils.learning import load_backbone
    from lib.utils.tools import Config
    args = Config(dict(CFG["bb"], num_joints=16, data_root=fixture_path("tasks", "smpl_chumpy"),
                       hidden_dim=CFG["mesh_hidden"], dropout=0.1))
    trained = MeshRegressor(args, load_backbone(args), dim_rep=args.dim_rep, num_joints=16, hidden_dim=args.hidden_dim)
    save_checkpoint(tmp_path / "j16.bin", {"model": model_state_for_saving(trained)})
    model = load_model(args, str(tmp_path / "j16.bin"), "mesh", "cpu")
    assert model.feat_J == 16 and model.head.fc1.in_features == 16 * args.dim_rep
