"""DataReaderMesh and MotionSMPL against the original's items on the synthetic 3DPW-style pickle."""
import json
import os
import pickle
import random
import shutil
from unittest import mock

import numpy as np
import pytest
import smplx.vertex_ids
import torch
from easydict import EasyDict
from torch.utils.data import DataLoader

from conftest import assert_float_close, fixture_path
from lib.data.datareader_mesh import DataReaderMesh
from lib.data.dataset_mesh import MotionSMPL
from lib.utils.errors import DataError
from lib.utils.utils_data import flip_data
from lib.utils.utils_mesh import flip_thetas

ROOTS = {"plain": fixture_path("tasks", "smpl"), "chumpy": fixture_path("tasks", "smpl_chumpy")}
VERTEX_IDS = json.load(open(fixture_path("tasks", "smpl", "vertex_ids.json")))
REF = np.load(fixture_path("tasks", "mesh", "mesh_dataset.npz"))
PW3D = "mesh_det_pw3d.pkl"
SMPL_FILES = ["SMPL_NEUTRAL.pkl", "J_regressor_extra.npy", "J_regressor_h36m_correct.npy", "smpl_mean_params.npz"]


@pytest.fixture(autouse=True)
def synthetic_vertex_ids():
    # the synthetic 306-vertex body model needs its own ids for the SMPL-H vertex joints
    with mock.patch.dict(smplx.vertex_ids.vertex_ids["smplh"], VERTEX_IDS):
        yield


def mesh_args(data_root, flip=True, **files):
    return EasyDict(data_root=data_root, clip_len=8, sample_stride=1, data_stride=4, flip=flip,
                    **(files or {"dt_file_pw3d": PW3D}))


def read_pw3d():
    with open(os.path.join(ROOTS["plain"], PW3D), "rb") as f:
        return pickle.load(f)


def root_with(tmp_path, name, data):
    """A data root with the SMPL files and ``data`` pickled as ``name``."""
    root = tmp_path / "mesh"
    root.mkdir(exist_ok=True)
    for f in SMPL_FILES:
        shutil.copy(os.path.join(ROOTS["plain"], f), root / f)
    with open(root / name, "wb") as f:
        pickle.dump(data, f)
    return str(root)


@pytest.mark.parity
@pytest.mark.parametrize("root", ["plain", "chumpy"])
def test_pw3d_test_items_match_original(root):
    ds = MotionSMPL(mesh_args(ROOTS[root]), "test", "pw3d")
    assert len(ds) == REF["n_test"]
    items = [ds[i] for i in range(len(ds))]
    motion_2d = np.stack([m for m, _ in items])
    assert motion_2d.dtype == np.float64
    assert_float_close(motion_2d, REF["motion_2d"], precision=np.float32)  # normalised in float32
    theta = torch.stack([y["theta"] for _, y in items])
    assert theta.dtype == torch.float32
    assert_float_close(theta, REF["theta"])
    for key in ("kp_3d", "verts"):  # float32 SMPL skinning: a few ulps of mm values
        torch.testing.assert_close(torch.stack([y[key] for _, y in items]), torch.from_numpy(REF[key]),
                                   rtol=1e-5, atol=1e-3)


def test_train_split_and_flip_augmentation():
    flipping = MotionSMPL(mesh_args(ROOTS["plain"], flip=True), "train", "pw3d")
    plain = MotionSMPL(mesh_args(ROOTS["plain"], flip=False), "train", "pw3d")
    assert len(flipping) == len(plain) == REF["n_train"]
    outcomes = set()
    for i in range(len(plain)):
        random.seed(i)
        flipped = random.random() > 0.5
        outcomes.add(flipped)
        random.seed(i)
        m2d, target = flipping[i]
        m2d_ref, target_ref = plain[i]
        if flipped:
            m2d_ref = flip_data(m2d_ref)
            pose = flip_thetas(target_ref["theta"][:, :72].numpy().reshape(-1, 24, 3)).reshape(-1, 72)
            np.testing.assert_array_equal(target["theta"][:, :72].numpy(), pose)
        else:
            torch.testing.assert_close(target["verts"], target_ref["verts"], rtol=0, atol=0)
        np.testing.assert_array_equal(m2d, m2d_ref)
        assert target["kp_3d"][:, 0].abs().max() == 0  # root-relative
    assert outcomes == {True, False}


def test_loader_batches():
    ds = MotionSMPL(mesh_args(ROOTS["plain"]), "test", "pw3d")
    x, y = next(iter(DataLoader(ds, batch_size=2, shuffle=False)))
    assert x.shape == (2, 8, 17, 3) and y["theta"].shape == (2, 8, 82) and y["verts"].shape == (2, 8, 306, 3)
    assert 0 <= x[..., 2].min() and x[..., 2].max() <= 1  # confidences above 1 are clipped


def with_known_pixels(data, frame, pixels):
    """``data`` with the first joints of a test frame moved to the given pixels (frame corners, centre)."""
    data["test"]["joint_2d"][frame, :len(pixels)] = pixels
    return data


def test_datareader_mesh_normalisation(tmp_path):
    # a 1920×1080 frame's corners and centre: x' = x/w·2 − 1, y' = y/w·2 − h/w (aspect kept, centre at 0)
    data = with_known_pixels(read_pw3d(), 5, [[0, 0], [1920, 1080], [960, 540]])
    root = root_with(tmp_path, "known.pkl", data)
    reader = DataReaderMesh(8, 1, 4, 8, dt_root=root, dt_file="known.pkl", res=[1920, 1080])
    train, test = reader.read_2d()
    assert train.dtype == test.dtype == np.float64 and test.shape == (40, 17, 3)
    np.testing.assert_allclose(test[5, :3, :2], [[-1, -0.5625], [1, 0.5625], [0, 0]], atol=1e-7)
    np.testing.assert_array_equal(test[..., 2], data["test"]["confidence"])  # a copy
    np.testing.assert_array_equal(reader.get_hw(), np.tile([1920., 1080.], (len(reader.get_split_id()[1]), 1)))
    # res=None: each frame's max(img_hw) for width and height (so y is offset by 1 as well)
    data["test"]["img_hw"][5] = [1080, 1920]
    root = root_with(tmp_path, "known.pkl", data)
    per_frame = DataReaderMesh(8, 1, 4, 8, dt_root=root, dt_file="known.pkl", res=None).read_2d()[1]
    np.testing.assert_allclose(per_frame[5, :3, :2], [[-1, -1], [1, 0.125], [0, -0.4375]], atol=1e-7)
    for method in (reader.read_3d, reader.get_sliced_data):
        with pytest.raises(NotImplementedError, match="no 3D joint labels"):
            method()


def test_datareader_mesh_denormalize_round_trip():
    reader = DataReaderMesh(8, 1, 4, 8, dt_root=ROOTS["plain"], dt_file=PW3D, res=[1920, 1080])
    clips = reader.read_2d()[1][reader.get_split_id()[1]]
    pixels = reader.denormalize(clips.copy())
    np.testing.assert_allclose(pixels[..., :2], read_pw3d()["test"]["joint_2d"][reader.get_split_id()[1]],
                               atol=1e-3)


def test_coco_frames_are_single_frame_clips(tmp_path):
    root = root_with(tmp_path, "coco.pkl", with_known_pixels(read_pw3d(), 3, [[0, 0], [640, 0], [320, 0]]))
    ds = MotionSMPL(mesh_args(root, dt_file_coco="coco.pkl"), "test", "coco")
    assert len(ds) == 40  # every frame of the test split
    m2d, target = ds[3]
    assert m2d.shape == (1, 17, 3) and target["verts"].shape == (1, 306, 3)
    np.testing.assert_allclose(m2d[0, :3, 0], [-1, 1, 0], atol=1e-7)  # COCO images: 640 pixels wide


def test_h36m_mesh_pickle(tmp_path):
    data = with_known_pixels(read_pw3d(), 2, [[0, 0], [1000, 1000], [500, 500]])
    for split in ("train", "test"):
        data[split]["camera_name"] = ["55011271"] * len(data[split]["source"])  # 1000 × 1000 camera
    root = root_with(tmp_path, "mesh_det_h36m.pkl", data)
    ds = MotionSMPL(mesh_args(root, dt_file_h36m="mesh_det_h36m.pkl"), "test", "h36m")
    assert len(ds) == 4
    m2d, target = ds[0]
    assert m2d.dtype == np.float32 and m2d.shape == (8, 17, 3) and target["theta"].shape == (8, 82)
    np.testing.assert_allclose(m2d[2, :3, :2], [[-1, -1], [1, 1], [0, 0]], atol=1e-7)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="Mesh dataset undefined"):
        MotionSMPL(mesh_args(ROOTS["plain"]), "test", "mpii")


@pytest.mark.parametrize("split, key", [("test", "smpl_shape"), ("train", "smpl_pose"), ("test", "confidence"),
                                        ("train", "source")])
def test_pickle_missing_a_key(tmp_path, split, key):
    data = read_pw3d()
    del data[split][key]
    root = root_with(tmp_path, "broken.pkl", data)
    with pytest.raises(DataError, match=rf"broken.pkl: split '{split}' lacks the key\(s\) \['{key}'\]"):
        MotionSMPL(mesh_args(root, dt_file_pw3d="broken.pkl"), "test", "pw3d")


def test_missing_pickle(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"mesh_det_pw3d.pkl.*docs/mesh.md"):
        MotionSMPL(mesh_args(str(tmp_path)), "test", "pw3d")
