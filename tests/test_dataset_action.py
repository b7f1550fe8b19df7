"""lib.data.dataset_action: helpers, NTU / one-shot data sets against the original's outputs, the
no-compounding random_move fix and the input checks."""
import pickle
import random

import numpy as np
import pytest

from conftest import assert_float_close, fixture_path
from lib.data.dataset_action import (NTU60_ACTION_NAMES, ONESHOT_CLASSES, ActionDataset, NTURGBD, NTURGBD1Shot,
                                     coco2h36m, get_action_names, human_tracking, make_cam, random_move)


def action_fixture(name):
    return fixture_path("tasks", "action", name)


NTU_PKL = action_fixture("ntu_synth.pkl")
NTU120_PKL = action_fixture("ntu120_synth.pkl")


def full_length_motion(anno):
    """Spec 04 §2 for all frames of one annotation (the reference for resampled training samples)."""
    cam = coco2h36m(human_tracking(make_cam(anno["keypoint"], anno["img_shape"])))
    motion = np.concatenate((cam, anno["keypoint_score"][..., None]), axis=-1)
    if motion.shape[0] == 1:
        motion = np.concatenate((motion, np.zeros_like(motion)))
    return motion.astype(np.float32)


# ---------------------------------------------------------------- helpers

@pytest.mark.parity
def test_make_cam_matches_original():
    h = np.load(action_fixture("helpers.npz"))
    for shape, key, x in [((1080, 1920), "make_cam_landscape", "make_cam_x"),
                          ((1920, 1080), "make_cam_portrait", "make_cam_x"),
                          ((720, 720), "make_cam_square", "make_cam_square_x")]:
        out = make_cam(h[x], shape)
        assert out.dtype == h[key].dtype
        assert_float_close(out, h[key], err_msg=key)


@pytest.mark.parity
def test_human_tracking_matches_original():
    h = np.load(action_fixture("helpers.npz"))
    out = human_tracking(h["tracking_in_2p"])
    assert out.dtype == np.float64
    assert_float_close(out, h["tracking_out_2p"], precision=np.float32)  # float64 results of float32 data
    single = h["tracking_in_1p"]
    assert human_tracking(single) is single
    np.testing.assert_array_equal(single, h["tracking_out_1p"])


def test_human_tracking_zeroes_extra_persons():
    x = np.random.default_rng(0).normal(size=(3, 6, 17, 2)).astype(np.float32)
    out = human_tracking(x)
    np.testing.assert_array_equal(out[:2], human_tracking(x[:2]))
    assert not out[2].any()


@pytest.mark.parity
def test_coco2h36m_matches_original():
    h = np.load(action_fixture("helpers.npz"))
    out = coco2h36m(h["coco2h36m_in"])
    assert out.dtype == np.float64
    assert_float_close(out, h["coco2h36m_out"], precision=np.float32)


def test_action_names(tmp_path):
    assert len(NTU60_ACTION_NAMES) == 60
    assert NTU60_ACTION_NAMES[0] == "drink water" and NTU60_ACTION_NAMES[59] == "walking apart from each other"
    path = tmp_path / "ntu_actions.txt"
    path.write_text("".join(f"A{i + 1}. {name}.\n" for i, name in enumerate(NTU60_ACTION_NAMES)))
    assert get_action_names(str(path)) == list(NTU60_ACTION_NAMES)


# ---------------------------------------------------------------- NTU data sets vs. the original

@pytest.mark.parity
def test_ntu_val_split_matches_original():
    d = np.load(action_fixture("ntu_dataset.npz"))
    ds = NTURGBD(NTU_PKL, "xsub_val", n_frames=27, random_move=False, scale_range=[2, 2])
    assert ds.motions.dtype == np.float32
    assert_float_close(ds.motions, d["val_motions"])
    np.testing.assert_array_equal(ds.labels, d["val_labels"])
    items = [ds[i] for i in range(len(ds))]
    assert all(x.dtype == np.float32 and x.shape == (2, 27, 17, 3) for x, _ in items)
    assert_float_close(np.stack([x for x, _ in items]), d["val_x"])
    np.testing.assert_array_equal([y for _, y in items], d["val_y"])


@pytest.mark.parity
def test_ntu_train_split_properties():
    d = np.load(action_fixture("ntu_dataset.npz"))
    ds = NTURGBD(NTU_PKL, "xsub_train", n_frames=27, random_move=True, scale_range=[1, 3])
    np.testing.assert_array_equal(ds.labels, d["train_labels"])
    assert ds.motions.shape == tuple(d["train_motions_shape"])
    with open(NTU_PKL, "rb") as f:
        data = pickle.load(f)
    annos = [a for a in data["annotations"] if a["frame_dir"] in data["split"]["xsub_train"]]
    for i, anno in enumerate(annos):
        full = full_length_motion(anno)
        assert_float_close(full, d[f"train_full_{i}"])
        # every resampled frame is a frame of the full sequence (a copy), in non-decreasing order
        src = [next(j for j in range(full.shape[1]) if np.array_equal(full[:, j], ds.motions[i][:, t]))
               for t in range(ds.motions.shape[2])]
        assert src == sorted(src)
    items = np.stack([ds[i][0] for i in range(len(ds))])
    assert items.dtype == np.float32 and items.min() >= -1 and items.max() <= 1
    # same RNG draws and maths as the original: even the random items are reproduced
    assert_float_close(items, d["train_item_x"])


@pytest.mark.parity
def test_oneshot_datasets_match_original():
    o = np.load(action_fixture("oneshot_dataset.npz"))
    with open(NTU120_PKL, "rb") as f:
        np.testing.assert_array_equal([a["label"] for a in pickle.load(f)["annotations"]], o["annotation_labels"])
    ds = NTURGBD1Shot(NTU120_PKL, data_split="", n_frames=10, random_move=False, scale_range=[2, 2],
                      check_split=False)
    assert isinstance(ds.labels, list)
    np.testing.assert_array_equal(ds.labels, o["relabelled"])
    assert len(ds.motions) == o["n_motions"] and len(ds) == o["n_motions"]
    assert ds.motions.shape == tuple(o["motions_shape"])
    for split, key in [("oneshot_train", "anchor"), ("oneshot_val", "test")]:
        split_ds = NTURGBD(NTU120_PKL, split, n_frames=10, random_move=False, scale_range=[2, 2])
        assert_float_close(np.stack([split_ds[i][0] for i in range(len(split_ds))]), o[f"{key}_x"])
        np.testing.assert_array_equal([split_ds[i][1] for i in range(len(split_ds))], o[f"{key}_y"])


def test_oneshot_relabelling_order():
    ds = NTURGBD1Shot(NTU120_PKL, "", n_frames=4, random_move=False, scale_range=None)
    with open(NTU120_PKL, "rb") as f:
        old = [a["label"] for a in pickle.load(f)["annotations"] if a["label"] not in ONESHOT_CLASSES]
    # ascending old ids of the 100 remaining classes map to 0..99
    assert ds.labels == [o - o // 6 - 1 for o in old]


# ---------------------------------------------------------------- random_move: no compounding

def test_random_move_does_not_compound():
    ds = NTURGBD(NTU_PKL, "xsub_val", n_frames=27, random_move=True, scale_range=None)
    stored = ds.motions.copy()
    random.seed(3)
    np.random.seed(3)
    first = ds[1][0]
    second = ds[1][0]
    np.testing.assert_array_equal(ds.motions, stored)
    assert not np.array_equal(first, second)
    random.seed(3)
    np.random.seed(3)
    np.testing.assert_array_equal(first, random_move(stored[1]))


def test_random_move_is_a_similarity_ramp():
    """Each frame is moved by a similarity transform (rotation ≤ 10°, scale 0.9–1.1, shift ≤ 0.1) whose
    angle, scale and shift change linearly from the first frame to the last (spec 04 §3.1); the
    transforms are recovered from the output by a least-squares fit, not recomputed."""
    x = np.random.default_rng(1).uniform(-1, 1, size=(2, 9, 17, 3)).astype(np.float32)
    x_before = x.copy()
    np.random.seed(7)
    out = random_move(x)
    np.testing.assert_array_equal(x, x_before)  # input untouched
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_array_equal(out[..., 2], x[..., 2])
    # per frame, as complex numbers: out = c·x + t with c = scale·e^(i·angle)
    z_in = (x[..., 0] + 1j * x[..., 1]).transpose(1, 0, 2).reshape(9, -1).astype(np.complex128)
    z_out = (out[..., 0] + 1j * out[..., 1]).transpose(1, 0, 2).reshape(9, -1).astype(np.complex128)
    design = [np.stack([z, np.ones_like(z)], axis=1) for z in z_in]
    coef = [np.linalg.lstsq(a, b, rcond=None)[0] for a, b in zip(design, z_out)]
    residual = max(np.abs(a @ k - b).max() for a, k, b in zip(design, coef, z_out))
    assert residual < 1e-6  # a similarity transform of every frame (float32 output)
    c, t = np.array(coef).T
    scale, angle = np.abs(c), np.degrees(np.angle(c))
    assert np.all((0.9 <= scale) & (scale <= 1.1)) and np.all(np.abs(angle) <= 10)
    assert np.all(np.abs(t.real) <= 0.1) and np.all(np.abs(t.imag) <= 0.1)
    for ramp in (scale, angle, t.real, t.imag):
        np.testing.assert_allclose(np.diff(ramp, 2), 0, atol=1e-5)  # linear in the frame index
    assert np.ptp(angle) > 0.1  # the two node values differ: a ramp, not one transform


# ---------------------------------------------------------------- bad inputs

def make_annotation(name, label=0, persons=1, frames=5, joints=17, rng=None):
    rng = rng or np.random.default_rng(0)
    return dict(frame_dir=name, label=label, img_shape=(1080, 1920), original_shape=(1080, 1920),
                total_frames=frames,
                keypoint=rng.uniform(100, 1000, size=(persons, frames, joints, 2)).astype(np.float32),
                keypoint_score=rng.uniform(0.1, 1, size=(persons, frames, joints)).astype(np.float32))


def write_pickle(tmp_path, annotations, split=None):
    split = split if split is not None else {"xsub_train": [a["frame_dir"] for a in annotations],
                                              "xsub_val": [a["frame_dir"] for a in annotations]}
    path = tmp_path / "synthetic.pkl"
    with open(path, "wb") as f:
        pickle.dump({"split": split, "annotations": annotations}, f)
    return str(path)


def test_unknown_split_lists_available(tmp_path):
    path = write_pickle(tmp_path, [make_annotation("S1")])
    with pytest.raises(ValueError, match=r"'xsub_tarin'.*available splits: xsub_train, xsub_val"):
        NTURGBD(path, "xsub_tarin")


@pytest.mark.parametrize("change, message", [
    (dict(frames=0), "zero frames"),
    (dict(joints=16), "16 joints, expected 17"),
    (dict(persons=0), "no person"),
])
def test_malformed_sample_is_named(tmp_path, change, message):
    path = write_pickle(tmp_path, [make_annotation("S_good"), make_annotation("S_bad", **change)])
    with pytest.raises(ValueError, match=f"S_bad.*{message}"):
        NTURGBD(path, "xsub_val", n_frames=4)


@pytest.mark.parametrize("edit, message", [
    (lambda a: a.update(keypoint=a["keypoint"][0]), r"keypoint must have shape"),
    (lambda a: a.update(keypoint=np.concatenate([a["keypoint"]] * 2, -1)), r"keypoint must have shape"),
    (lambda a: a.update(keypoint_score=a["keypoint_score"][:, :3]), r"keypoint_score shape"),
    (lambda a: a.update(total_frames=7), r"total_frames=7 but keypoint has 5"),
    (lambda a: a.pop("keypoint_score"), r"lacks the annotation keys \['keypoint_score'\]"),
    (lambda a: a.update(img_shape=(0, 1920)), r"img_shape"),
])
def test_wrong_shapes_are_named(tmp_path, edit, message):
    bad = make_annotation("S_bad")
    edit(bad)
    path = write_pickle(tmp_path, [bad])
    with pytest.raises(ValueError, match=f"S_bad.*{message}"):
        NTURGBD(path, "xsub_val", n_frames=4)


def test_more_than_two_persons_keeps_first_two(tmp_path):
    three = make_annotation("S3", persons=3, frames=6)
    two = dict(three, keypoint=three["keypoint"][:2], keypoint_score=three["keypoint_score"][:2])
    ds3 = NTURGBD(write_pickle(tmp_path, [three]), "xsub_val", n_frames=6, random_move=False, scale_range=None)
    ds2 = NTURGBD(write_pickle(tmp_path, [two]), "xsub_val", n_frames=6, random_move=False, scale_range=None)
    assert ds3.motions.shape == (1, 2, 6, 17, 3)
    np.testing.assert_array_equal(ds3.motions, ds2.motions)


def test_label_range_check(tmp_path):
    path = write_pickle(tmp_path, [make_annotation("S_ok", label=9), make_annotation("S_high", label=10)])
    with pytest.raises(ValueError, match=r"S_high.*label 10, outside \[0, 10\)"):
        NTURGBD(path, "xsub_val", n_frames=4, num_classes=10)
    assert len(NTURGBD(path, "xsub_val", n_frames=4, num_classes=11)) == 2
    assert len(NTURGBD(path, "xsub_val", n_frames=4)) == 2  # no check without num_classes
    neg = write_pickle(tmp_path, [make_annotation("S_neg", label=-1)])
    with pytest.raises(ValueError, match="S_neg"):
        ActionDataset(neg, "xsub_val", n_frames=4, num_classes=10)


def test_oneshot_rejects_labels_beyond_ntu120(tmp_path):
    path = write_pickle(tmp_path, [make_annotation("S_120", label=120)])
    with pytest.raises(ValueError, match=r"S_120.*outside \[0, 120\)"):
        NTURGBD1Shot(path, "", n_frames=4)


def test_not_an_action_pickle_and_empty_split(tmp_path):
    path = tmp_path / "other.pkl"
    with open(path, "wb") as f:
        pickle.dump({"train": []}, f)
    with pytest.raises(ValueError, match="not a pyskl action pickle"):
        NTURGBD(str(path), "xsub_val")
    empty = write_pickle(tmp_path, [make_annotation("S1")], split={"xsub_val": ["S_missing"]})
    with pytest.raises(ValueError, match="no annotation belongs to split 'xsub_val'"):
        NTURGBD(empty, "xsub_val")
