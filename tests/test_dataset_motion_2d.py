"""posetrack2h36m, PoseTrackDataset2D and InstaVDataset2D (spec 03 §2–3) on tiny hand-made data."""
import json
import random

import numpy as np
import pytest
import torch

from lib.data import dataset_motion_2d
from lib.data.dataset_motion_2d import InstaVDataset2D, PoseTrackDataset2D, posetrack2h36m
from lib.utils.utils_data import crop_scale, flip_data, split_clips


def test_default_paths_are_the_originals():
    assert dataset_motion_2d.POSETRACK_ROOT == "data/motion2d/posetrack18_annotations/train/"
    assert dataset_motion_2d.INSTAV_ROOT == "data/motion2d/InstaVariety/"


# ---------------------------------------------------------------- posetrack2h36m

def test_posetrack2h36m_mapping_and_operation_order():
    x = np.zeros((1, 17, 3))
    x[0, :, 0] = 10 * np.arange(17)
    x[0, :, 1] = 100 + np.arange(17)
    x[0, :, 2] = 0.9
    x[0, 11, 2], x[0, 12, 2], x[0, 1, 2] = 0.2, 1.0, 0.5  # hips and head_bottom
    y = posetrack2h36m(x)
    assert y.dtype == np.float64 and y.shape == (1, 17, 3)
    # pelvis: mean of the hips, confidence = min of the hips (not the mean 0.6)
    np.testing.assert_array_equal(y[0, 0], [115, 111.5, 0.2])
    # belly: mean of pelvis and neck for x, y; confidence = min(new pelvis conf 0.2, neck conf 0.5)
    np.testing.assert_array_equal(y[0, 7], [(115 + 10) / 2, (111.5 + 101) / 2, 0.2])
    copied = {1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 8: 1, 9: 0, 10: 2,
              11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}
    for h36m, posetrack in copied.items():
        np.testing.assert_array_equal(y[0, h36m], x[0, posetrack], err_msg=f"H36M joint {h36m}")
    assert posetrack2h36m(x.astype(np.float32)).dtype == np.float64


def test_posetrack2h36m_belly_uses_min_root_confidence():
    x = np.ones((2, 17, 3))
    x[:, 11, 2], x[:, 12, 2] = 0.0, 1.0  # mean rule would give root conf 0.5, min rule 0
    x[:, 1, 2] = 0.7
    y = posetrack2h36m(x)
    np.testing.assert_array_equal(y[:, 0, 2], [0, 0])
    np.testing.assert_array_equal(y[:, 7, 2], [0, 0])


# ---------------------------------------------------------------- PoseTrack

def make_track(rng, n_frames, visible_extra=450):
    """(n_frames, 17, 3): hips always visible, then ``visible_extra`` other joint-frames visible."""
    kpts = np.zeros((n_frames, 17, 3))
    kpts[..., :2] = rng.uniform(100, 400, size=(n_frames, 17, 2)).round(1)
    others = [j for j in range(17) if j not in (11, 12)]
    vis = np.zeros((n_frames, 15))
    vis.reshape(-1)[:visible_extra] = 1
    kpts[:, others, 2] = vis
    kpts[:, [11, 12], 2] = 1
    return kpts


def write_posetrack(folder, name, tracks):
    """Annotations of several tracks interleaved frame by frame (as in a PoseTrack json)."""
    annotations = []
    longest = max(len(t) for t in tracks.values())
    for frame in range(longest):
        for tid, track in tracks.items():
            if frame < len(track):
                annotations.append({"track_id": tid, "image_id": frame, "keypoints": track[frame].reshape(-1).tolist()})
    with open(folder / name, "w") as f:
        json.dump({"images": [], "annotations": annotations}, f)


@pytest.fixture()
def posetrack_dir(tmp_path):
    rng = np.random.RandomState(0)
    root_hidden = make_track(rng, 30)
    root_hidden[4, 11, 2] = 0  # one hip missing in one frame -> pelvis not visible in every frame
    tracks_b = {7: make_track(rng, 35),            # kept (first 30 frames)
                3: make_track(rng, 29),            # too short
                5: make_track(rng, 30, 246),       # visibility sum 60 + 246 = 306: not above the threshold
                4: root_hidden,                    # dropped after cropping (uses a NumPy draw)
                9: make_track(rng, 30, 247)}       # 307: kept
    tracks_a = {1: make_track(rng, 31)}
    folder = tmp_path / "posetrack"
    folder.mkdir()
    write_posetrack(folder, "b.json", tracks_b)
    write_posetrack(folder, "a.json", tracks_a)
    (folder / "notes.txt").write_text("not an annotation file")
    # files sorted, tracks by first appearance; the tracks that reach crop_scale, and whether they are kept
    cropped = [(tracks_a[1], True), (tracks_b[7], True), (root_hidden, False), (tracks_b[9], True)]
    return folder, cropped


def test_posetrack_filtering_order_and_rng(posetrack_dir):
    folder, cropped = posetrack_dir
    np.random.seed(0)
    ds = PoseTrackDataset2D(data_root=str(folder))
    np.random.seed(0)
    expected = []
    for track, kept in cropped:
        motion = posetrack2h36m(crop_scale(track[:30], [0.25, 1]))
        motion[motion[:, :, 2] == 0] = 0
        if kept:
            expected.append(motion)
    assert len(ds) == 3
    assert ds.motions_2d.shape == (3, 30, 17, 3) and ds.motions_2d.dtype == np.float64
    np.testing.assert_array_equal(ds.motions_2d, np.array(expected))
    assert np.abs(ds.motions_2d).max() <= 1
    hidden = ds.motions_2d[..., 2] == 0
    assert hidden.any() and (ds.motions_2d[hidden] == 0).all()
    assert (ds.motions_2d[:, :, 0, 2] > 0).all()


def test_posetrack_integer_keypoints_are_not_truncated(tmp_path):
    track = make_track(np.random.RandomState(1), 30).round().astype(int)
    write_posetrack(tmp_path, "int.json", {0: track})
    np.random.seed(0)
    ds = PoseTrackDataset2D(data_root=str(tmp_path))
    np.random.seed(0)
    expected = posetrack2h36m(crop_scale(track.astype(np.float64), [0.25, 1]))
    np.testing.assert_array_equal(ds.motions_2d[0], expected)


def test_posetrack_getitem_flip(posetrack_dir):
    folder, _ = posetrack_dir
    ds = PoseTrackDataset2D(data_root=str(folder))
    random.seed(3)
    items = [ds[i % len(ds)] for i in range(6)]
    random.seed(3)
    for i, (inp, target) in enumerate(items):
        assert inp is target and inp.dtype == torch.float32 and inp.shape == (30, 17, 3)
        clip = torch.FloatTensor(ds.motions_2d[i % len(ds)])
        expected = flip_data(clip) if random.random() > 0.5 else clip
        torch.testing.assert_close(inp, expected, rtol=0, atol=0)
    unflipped = PoseTrackDataset2D(flip=False, data_root=str(folder))
    torch.testing.assert_close(unflipped[0][0], torch.FloatTensor(unflipped.motions_2d[0]))


def test_posetrack_empty_and_missing(tmp_path):
    ds = PoseTrackDataset2D(data_root=str(tmp_path))
    assert len(ds) == 0 and ds.motions_2d.shape == (0, 30, 17, 3)
    missing = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError) as err:
        PoseTrackDataset2D(data_root=missing)
    assert missing in str(err.value) and "docs/pretrain.md" in str(err.value)


# ---------------------------------------------------------------- InstaVariety

@pytest.fixture()
def insta_dir(tmp_path):
    rng = np.random.RandomState(0)
    lengths = [100, 50, 120, 90]  # 50: shorter than 81 -> one resampled clip
    id_all = np.concatenate([np.full(n, i, dtype=np.float64) for i, n in enumerate(lengths)])
    motion_all = np.zeros((len(id_all), 17, 3))
    motion_all[..., :2] = rng.uniform(-1, 1, size=(len(id_all), 17, 2))
    motion_all[..., 2] = rng.uniform(0.1, 1, size=(len(id_all), 17))
    motion_all[rng.rand(len(id_all), 17) < 0.1, 2] = 0  # undetected joints
    motion_all[100:150, 0, 2] = 0.5
    motion_all[150, 0, 2] = 0  # first frame of sequence 2 has no root: its clip is dropped
    np.save(tmp_path / "motion_all.npy", motion_all)
    np.save(tmp_path / "id_all.npy", id_all)
    return tmp_path, motion_all, id_all


def test_instav_clips_and_filter(insta_dir):
    folder, motion_all, id_all = insta_dir
    np.random.seed(0)
    ds = InstaVDataset2D(data_root=str(folder))
    np.random.seed(0)
    split_id = split_clips(id_all, 81, 27)
    clips = motion_all[split_id]
    expected = clips[clips[:, 0, 0, 2] > 0.0]
    # seq 0: 1 clip, seq 1: 1 resampled clip, seq 2: clips at 150 and 177 (first one dropped), seq 3: 1 clip
    assert len(split_id) == 5 and len(ds) == 4
    np.testing.assert_array_equal(ds.motions_2d, expected)
    assert ds.motions_2d.shape == (4, 81, 17, 3)


def test_instav_getitem_crop_zero_flip(insta_dir):
    folder, _, _ = insta_dir
    ds = InstaVDataset2D(data_root=str(folder))
    stored = ds.motions_2d.copy()
    np.random.seed(7)
    random.seed(7)
    items = [ds[i] for i in range(len(ds))]
    np.random.seed(7)
    random.seed(7)
    for i, (inp, target) in enumerate(items):
        assert inp is target and inp.dtype == torch.float32 and inp.shape == (81, 17, 3)
        expected = crop_scale(stored[i], [0.25, 1])
        expected[expected[:, :, 2] == 0] = 0
        if random.random() > 0.5:
            expected = flip_data(expected)
        torch.testing.assert_close(inp, torch.FloatTensor(expected), rtol=0, atol=0)
        assert inp.abs().max() <= 1
        hidden = inp[..., 2] == 0
        assert (inp[hidden] == 0).all()
    np.testing.assert_array_equal(ds.motions_2d, stored)  # access does not modify the dataset


def test_instav_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        InstaVDataset2D(data_root=str(tmp_path))
    assert str(tmp_path / "motion_all.npy") in str(err.value) and "docs/pretrain.md" in str(err.value)
    np.save(tmp_path / "motion_all.npy", np.zeros((5, 17, 3)))
    with pytest.raises(FileNotFoundError) as err:
        InstaVDataset2D(data_root=str(tmp_path))
    assert str(tmp_path / "id_all.npy") in str(err.value)
    np.save(tmp_path / "id_all.npy", np.zeros(4))
    with pytest.raises(ValueError, match="5 frames.*4 ids"):
        InstaVDataset2D(data_root=str(tmp_path))
