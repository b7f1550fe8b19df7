"""lib/data/plausibility.py: jumps a person cannot make (dropped or split), suspect input, the world root's speed;
and what the keypoint reading and the world motion do with them."""
import json

import numpy as np
import pytest

from lib import world
from lib.data.plausibility import frame_ranges, split_jumps, suspect_input
from lib.data.wild_input import load_wild_inputs
from test_tracking import person

FPS = 30.0


def _walker(n, start, step=3.0, height=300.0):
    return np.stack([person(start[0] + step * t, start[1], height, t) for t in range(n)])


def _alphapose(keypoints, frames, ids=None):
    return [{"image_id": f"{int(f)}.jpg", "keypoints": k.reshape(-1).tolist(),
             **({} if ids is None else {"idx": ids[i]})} for i, (f, k) in enumerate(zip(frames, keypoints))]


def test_frame_ranges():
    assert frame_ranges([3, 4, 5, 9, 11, 12]) == "3-5, 9, 11-12"
    assert frame_ranges(list(range(0, 40, 2)), limit=3) == "0, 2, 4, ..."


def test_a_teleporting_stretch_is_dropped_and_a_lasting_jump_splits():
    keypoints = _walker(90, (200, 600))
    frames = np.arange(90)
    teleported = keypoints.copy()
    teleported[40:50, :, :2] += 2000.0  # 10 frames far away, then back
    pieces, dropped, events = split_jumps(frames, teleported, FPS)
    assert len(pieces) == 1 and dropped.tolist() == list(range(40, 50))
    assert events[0][:3] == ("dropped", 40, 49) and events[0][3] > 5
    merged = np.concatenate([keypoints[:45], _walker(45, (1200, 650))])  # another person from frame 45 on
    pieces, dropped, events = split_jumps(frames, merged, FPS)
    assert [p.tolist() for p in pieces] == [list(range(45)), list(range(45, 90))] and not len(dropped)
    assert events[0][:2] == ("split", 45)
    # a real walk, even a fast one, is left alone
    assert len(split_jumps(frames, _walker(90, (200, 600), step=25.0), FPS)[0]) == 1


def test_two_people_under_one_id_become_two_people(tmp_path):
    first, second = _walker(45, (200, 600)), _walker(45, (1400, 650))
    entries = _alphapose(np.concatenate([first, second]), np.arange(90), ids=[0] * 90)
    path = tmp_path / "merged.json"
    path.write_text(json.dumps(entries))
    inputs = load_wild_inputs(str(path), fps=FPS, size=(1920, 1080))
    assert [t.track_id for t in inputs.tracks] == [0, 1]
    assert inputs.tracks[0].detected[:45].all() and not inputs.tracks[0].detected[45:].any()
    assert any("two people under one id" in w and "person 1" in w for w in inputs.detections.warnings)
    # without ids, one person per frame: the same
    path.write_text(json.dumps(_alphapose(np.concatenate([first, second]), np.arange(90))))
    assert len(load_wild_inputs(str(path), fps=FPS, size=(1920, 1080)).tracks) == 2


def test_suspect_input_is_named_with_its_frames():
    keypoints = _walker(30, (200, 600))
    detected = np.ones(30, bool)
    outside = keypoints.copy()
    outside[10:20, :, :2] += 5000.0
    (line,) = suspect_input(outside, detected, (1920, 1080))
    assert "outside the 1920x1080 picture in 10 of 30 frames (10-19)" in line
    negative = keypoints.copy()
    negative[:, :, :2] -= 3000.0
    assert "at negative pixel coordinates in 30 of 30 frames" in suspect_input(negative, detected)[0]
    unsure = keypoints.copy()
    unsure[..., 2] = 0.005
    lines = suspect_input(unsure, detected, (1920, 1080))
    assert len(lines) == 1 and "every confidence is below 0.05 in 30 of 30 frames" in lines[0]
    legless = keypoints.copy()
    legless[:, [1, 2, 3], 2] = 0.0  # the right leg never seen
    (line,) = suspect_input(legless, detected, (1920, 1080))
    assert "right_hip, right_knee, right_ankle never seen" in line and "invents them" in line
    assert suspect_input(keypoints, detected, (1920, 1080)) == []


def test_a_root_faster_than_a_person_is_refused():
    from lib.world.motion import _root_speed_check
    root = np.zeros((30, 3))
    root[:, 0] = np.arange(30) * 100.0  # 3 m/s at 30 fps
    assert _root_speed_check(root, FPS) == ""
    root[15:, 0] += 2500.0  # 2.5 m in one frame
    message = _root_speed_check(root, FPS)
    assert "faster than a person runs (12 m/s)" in message and "frames 12-17" in message
