"""tools/convert_insta.py (spec 03 §5.4, lower-case data/motion2d fix) and its merge step."""
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from lib.data.dataset_motion_2d import InstaVDataset2D
from lib.utils.errors import UserError
from tools import convert_insta

KEYS = ["Hip", "R Hip", "R Knee", "R Ankle", "L Hip", "L Knee", "L Ankle", "Neck", "Nose",
        "L Shoulder", "L Elbow", "L Wrist", "R Shoulder", "R Elbow", "R Wrist"]


def write_clip(clip_dir, n_frames, rng, hidden=()):
    """One json per frame; ``hidden`` joint keys get logits 0 (undetected)."""
    os.makedirs(clip_dir, exist_ok=True)
    frames = []
    for t in range(n_frames):
        frame = {key: {"x": float(rng.uniform(0, 640)), "y": float(rng.uniform(0, 480)),
                       "logits": 0.0 if key in hidden else float(rng.uniform(0.1, 1))} for key in KEYS}
        frame["Belly"] = {"x": 1.0, "y": 2.0, "logits": 3.0}  # present in some files, never read
        with open(os.path.join(clip_dir, "%06d.json" % t), "w") as f:
            json.dump(frame, f)
        frames.append(frame)
    return frames


def raw_clip(frames):
    """``(T, 17, 3)`` pixels and logits of a clip's json frames in H36M joint order (no Belly, no Head)."""
    order = ["Hip", "R Hip", "R Knee", "R Ankle", "L Hip", "L Knee", "L Ankle", None, "Neck", "Nose", None,
             "L Shoulder", "L Elbow", "L Wrist", "R Shoulder", "R Elbow", "R Wrist"]
    return np.array([[[f[k]["x"], f[k]["y"], f[k]["logits"]] if k else [0, 0, 0] for k in order] for f in frames])


@pytest.fixture()
def tracks(tmp_path):
    rng = np.random.RandomState(0)
    root = tmp_path / "InstaVariety_tracks"
    clips = {
        "dance": [write_clip(root / "dance" / "vid_b" / "clip_0", 4, rng),
                  write_clip(root / "dance" / "vid_a" / "clip_1", 3, rng, hidden=("L Wrist",)),
                  write_clip(root / "dance" / "vid_a" / "clip_0", 5, rng)],
        "yoga": [write_clip(root / "yoga" / "v" / "c", 2, rng)],
    }
    (root / "dance" / "vid_a" / "empty_clip").mkdir()
    (root / "dance" / "readme.txt").write_text("not a video folder")
    # sorted order of the clips within "dance": vid_a/clip_0, vid_a/clip_1, vid_b/clip_0
    clips["dance"] = [clips["dance"][2], clips["dance"][1], clips["dance"][0]]
    return root, clips


def test_convert_action(tracks):
    root, clips = tracks
    assert convert_insta.main(["--name_action", "dance", "--root", str(root)]) == 0
    with open(root / "dance" / "dance.pkl", "rb") as f:
        motions = pickle.load(f)
    assert [m.shape for m in motions] == [(5, 17, 3), (3, 17, 3), (4, 17, 3)]
    for motion, frames in zip(motions, clips["dance"]):
        # the detected joints: the pixels scaled so that the clip's larger bounding-box side spans 2
        # (crop_scale's [-1, 1] square), relative to the first frame's pelvis; logits kept
        raw = raw_clip(frames)
        seen = raw[..., 2] > 0
        extent = np.ptp(raw[seen][:, :2], axis=0).max()
        np.testing.assert_allclose(motion[seen][:, :2], (raw[seen][:, :2] - raw[0, 0, :2]) * 2 / extent, atol=1e-12)
        np.testing.assert_array_equal(motion[seen][:, 2], raw[seen][:, 2])
        assert (motion[~seen] == 0).all()
        np.testing.assert_array_equal(motion[0, 0, :2], [0, 0])  # relative to the first frame's pelvis
        assert (motion[:, [7, 10]] == 0).all()  # Belly and Head are not provided
    assert (motions[1][:, 13] == 0).all()  # undetected left wrist zeroed


def test_merge_builds_the_dataset_files(tracks, tmp_path):
    root, clips = tracks
    for action in ("dance", "yoga"):
        convert_insta.main(["--name_action", action, "--root", str(root)])
    out = tmp_path / "InstaVariety"
    assert convert_insta.main(["--merge", "--root", str(root), "--out_dir", str(out)]) == 0
    motion_all = np.load(out / "motion_all.npy")
    id_all = np.load(out / "id_all.npy")
    assert motion_all.shape == (14, 17, 3) and id_all.dtype == np.float64
    np.testing.assert_array_equal(id_all, [0] * 5 + [1] * 3 + [2] * 4 + [3] * 2)
    with open(root / "yoga" / "yoga.pkl", "rb") as f:
        np.testing.assert_array_equal(motion_all[-2:], pickle.load(f)[0])
    ds = InstaVDataset2D(n_frames=4, data_stride=2, data_root=str(out))
    assert ds.motions_2d.shape[1:] == (4, 17, 3)


def test_merge_reports_unconverted_actions(tracks, tmp_path, capsys):
    root, _ = tracks
    convert_insta.main(["--name_action", "yoga", "--root", str(root)])
    convert_insta.main(["--merge", "--root", str(root), "--out_dir", str(tmp_path / "out")])
    assert "left out: dance" in capsys.readouterr().out


def test_merge_without_converted_actions(tracks, tmp_path):
    root, _ = tracks
    with pytest.raises(UserError, match="--name_action"):
        convert_insta.main(["--merge", "--root", str(root), "--out_dir", str(tmp_path / "out")])


def test_defaults_use_lower_case_motion2d():
    args = convert_insta.parse_args(["--merge"])
    assert args.root == "data/motion2d/InstaVariety/InstaVariety_tracks/"
    assert args.out_dir == "data/motion2d/InstaVariety/"


def test_argument_errors(tracks, capsys):
    root, _ = tracks
    for argv in ([], ["--merge", "--name_action", "dance"]):
        with pytest.raises(SystemExit) as err:
            convert_insta.main(argv)
        assert err.value.code == 2
    assert "--name_action" in capsys.readouterr().err
    with pytest.raises(UserError) as err:
        convert_insta.main(["--name_action", "nope", "--root", str(root)])
    assert str(root / "nope") in str(err.value)
    with pytest.raises(UserError) as err:
        convert_insta.main(["--name_action", "dance", "--root", str(root / "missing")])
    assert str(root / "missing") in str(err.value)


def test_help_from_another_folder(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(REPO, "tools", "convert_insta.py"), "--help"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--name_action" in result.stdout and "--merge" in result.stdout
