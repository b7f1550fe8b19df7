"""In-the-wild inputs: the original's functions (fixtures), input formats, frames, people."""
import copy
import json

import numpy as np
import pytest

from conftest import assert_float_close, fixture_path
from lib.data.dataset_action import coco2h36m
from lib.data.dataset_wild import WildDetDataset, halpe2h36m, read_input
from lib.data.wild_input import (KEYPOINT_FORMATS, WildInputError, assign_track_ids, coco_order_confidence,
                                 detect_format, from_normalized, load_wild_inputs, normalize_keypoints, pixel_mapping,
                                 read_detections)

WILD = fixture_path("tasks", "wild")
CONFIG = json.load(open(fixture_path("tasks", "config.json")))
INPUTS = np.load(fixture_path("tasks", "wild", "wild_inputs.npz"))
SINGLE = fixture_path("tasks", "wild", "alphapose_single.json")
TWO = fixture_path("tasks", "wild", "alphapose_two.json")
VARIANTS = {v[0]: v[1:] for v in CONFIG["wild_read_input_variants"]}


def alphapose_entries(path=SINGLE):
    return json.load(open(path))


def write_json(tmp_path, data, name="kpts.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


# ------------------------------------------------------------------ the original's functions

@pytest.mark.parity
def test_halpe2h36m_matches_fixture():
    out = halpe2h36m(INPUTS["halpe_in"])
    assert out.dtype == np.float64 and out.shape == (45, 17, 3)
    assert_float_close(out, INPUTS["halpe2h36m"])


@pytest.mark.parity
@pytest.mark.parametrize("name", list(VARIANTS))
def test_read_input_matches_fixture(name):
    json_name, vid_size, scale_range, focus = VARIANTS[name]
    out = read_input(fixture_path("tasks", "wild", json_name), vid_size, scale_range, focus)
    assert out.dtype == np.float32
    assert_float_close(out, INPUTS["read_input_" + name])


@pytest.mark.parity
@pytest.mark.parametrize("k,name", list(enumerate(CONFIG["wild_wilddet_variants"])))
def test_wild_det_dataset_chunks_match_fixture(k, name):
    json_name, vid_size, scale_range, focus = VARIANTS[name]
    ds = WildDetDataset(fixture_path("tasks", "wild", json_name), clip_len=CONFIG["wild_clip"], vid_size=vid_size,
                        scale_range=scale_range, focus=focus)
    assert len(ds) == INPUTS["wilddet_lengths"][k]
    for i in range(len(ds)):
        assert_float_close(ds[i], INPUTS[f"wilddet_{name}_item{i}"])


def test_read_input_needs_a_normalisation_and_a_present_focus():
    with pytest.raises(ValueError, match="vid_size.*scale_range"):
        read_input(SINGLE, None, None, None)
    with pytest.raises(WildInputError, match="ids present: 1, 2"):
        read_input(TWO, None, [1, 1], 7)


# ------------------------------------------------------------------ formats

def test_format_detection_by_keypoint_count():
    halpe = INPUTS["halpe_in"]
    h36m = INPUTS["halpe2h36m"]
    assert detect_format(halpe)[0].name == "halpe26"
    assert detect_format(halpe[:, :17])[0].name == "coco17"  # Halpe's first 17 points are COCO-17
    assert detect_format(h36m)[0].name == "h36m17"            # same count, told apart by the skeleton's layout
    assert detect_format(np.zeros((3, 133, 3)))[0].name == "coco_wholebody133"
    assert detect_format(np.zeros((3, 136, 3)))[0].name == "halpe136"
    assert detect_format(h36m, forced="coco17")[0].name == "coco17"
    with pytest.raises(WildInputError, match="18 keypoints per person fit no supported format.*26 \\(halpe26\\)"):
        detect_format(np.zeros((3, 18, 3)))
    with pytest.raises(WildInputError, match="--keypoints halpe26 expects 26 keypoints per person, the file has 17"):
        detect_format(h36m, forced="halpe26")


def test_format_conversions():
    halpe = INPUTS["halpe_in"]
    assert_float_close(KEYPOINT_FORMATS["coco17"].to_h36m(halpe[:, :17]), coco2h36m(halpe[None, :, :17])[0])
    np.testing.assert_array_equal(KEYPOINT_FORMATS["h36m17"].to_h36m(INPUTS["halpe2h36m"]), INPUTS["halpe2h36m"])
    whole = np.concatenate([halpe, np.zeros((45, 110, 3))], axis=1)
    assert_float_close(KEYPOINT_FORMATS["halpe136"].to_h36m(whole), INPUTS["halpe2h36m"])


def _mmpose_frames(entries, first=0):
    return [{"frame_id": int(e["image_id"].split(".")[0]) + first,
             "instances": [{"keypoints": np.asarray(e["keypoints"]).reshape(-1, 3)[:, :2].tolist(),
                            "keypoint_scores": np.asarray(e["keypoints"]).reshape(-1, 3)[:, 2].tolist(),
                            "bbox": [[0, 0, 1, 1]], "bbox_score": 1.0}]} for e in entries]


def halpe_from_json(entries):
    return np.array([e["keypoints"] for e in entries], dtype=np.float64).reshape(-1, 26, 3)


def test_every_layout_gives_the_same_track(tmp_path):
    entries = alphapose_entries()
    expected = halpe2h36m(halpe_from_json(entries))
    layouts = {
        "alphapose": write_json(tmp_path, entries, "a.json"),
        "mmpose": write_json(tmp_path, _mmpose_frames(entries), "m.json"),
        "mmpose_demo": write_json(tmp_path, {"meta_info": {"dataset_name": "halpe"},
                                             "instance_info": _mmpose_frames(entries, first=1)}, "d.json"),
    }
    npy = tmp_path / "k.npy"
    np.save(npy, halpe_from_json(entries))
    layouts["npy"] = str(npy)
    for style, path in layouts.items():
        inputs = load_wild_inputs(path)
        assert inputs.detections.style == style
        assert inputs.fmt.name == "halpe26" and len(inputs.tracks) == 1
        np.testing.assert_allclose(inputs.tracks[0].keypoints, expected, rtol=1e-6, err_msg=style)
        assert inputs.tracks[0].detected.all() and inputs.video.n_frames == 45


def test_h36m_npy_without_confidence(tmp_path):
    path = tmp_path / "h36m.npy"
    np.save(path, INPUTS["halpe2h36m"][..., :2])
    inputs = load_wild_inputs(str(path))
    assert inputs.fmt.name == "h36m17"
    np.testing.assert_array_equal(inputs.tracks[0].keypoints[..., :2], INPUTS["halpe2h36m"][..., :2])
    assert (inputs.tracks[0].keypoints[..., 2] == 1).all()


# ------------------------------------------------------------------ frames and people

def test_frames_aligned_by_image_id_and_missing_frames_interpolated(tmp_path):
    entries = alphapose_entries()
    first = np.asarray(entries[0]["keypoints"]).reshape(26, 3)
    for e in entries:  # every keypoint moves at a constant velocity: linear interpolation restores it exactly
        frame = int(e["image_id"].split(".")[0])
        moved = np.concatenate([first[:, :2] + frame * np.array([3.0, -2.0]), first[:, 2:]], axis=1)
        e["keypoints"] = moved.ravel().tolist()
    kept = [e for e in entries if not 10 <= int(e["image_id"].split(".")[0]) < 15]
    kept = kept[::-1]  # file order does not matter, image_id does
    inputs = load_wild_inputs(write_json(tmp_path, kept), size=(1920, 1080), fps=30)
    track = inputs.tracks[0]
    full = halpe2h36m(halpe_from_json(entries))
    assert track.keypoints.shape == (45, 17, 3)
    assert not track.detected[10:15].any() and track.detected[:10].all() and track.detected[15:].all()
    np.testing.assert_array_equal(track.keypoints[:10], full[:10])
    assert (track.keypoints[10:15, :, 2] == 0).all()
    np.testing.assert_allclose(track.keypoints[10:15, :, :2], full[10:15, :, :2], rtol=1e-9)  # interpolated
    assert "5 filled by interpolation" in inputs.summary()


def test_missing_frames_at_the_ends_hold_the_nearest_pose(tmp_path):
    entries = [e for e in alphapose_entries() if 5 <= int(e["image_id"].split(".")[0]) < 40]
    inputs = load_wild_inputs(write_json(tmp_path, entries), size=(1920, 1080))
    track = inputs.tracks[0]
    assert len(track.detected) == 40  # without a video, the last detected frame ends the motion
    np.testing.assert_array_equal(track.keypoints[0, :, :2], track.keypoints[5, :, :2])
    assert (track.keypoints[:5, :, 2] == 0).all()


def test_several_people_become_separate_tracks():
    inputs = load_wild_inputs(TWO)
    assert [t.track_id for t in inputs.tracks] == [1, 2]  # sorted by id
    by_id = {t.track_id: t for t in inputs.tracks}
    for name in ("two_pixel_focus", "two_norm_focus"):  # the original with --focus on each person
        _, vid_size, scale_range, focus = VARIANTS[name]
        assert_float_close(normalize_keypoints(by_id[focus].keypoints, vid_size, scale_range),
                           INPUTS["read_input_" + name])
    summary = inputs.summary()
    assert "person 1: detected in 45 of 45 frames" in summary and "person 2: detected in 45 of 45 frames" in summary


def test_people_without_track_ids_are_linked_by_position(tmp_path):
    entries = alphapose_entries(TWO)
    for e in entries:
        del e["idx"]
    inputs = load_wild_inputs(write_json(tmp_path, entries))
    assert len(inputs.tracks) == 2
    with_ids = {t.track_id: t for t in load_wild_inputs(TWO).tracks}
    for track in inputs.tracks:  # each linked track is one of the real people over all frames
        assert any(np.array_equal(track.keypoints, t.keypoints) for t in with_ids.values())
    assert any("linked" in n for n in inputs.detections.notes)


def test_assign_track_ids_follows_crossing_free_motion():
    a = np.zeros((4, 17, 3))
    a[..., 2] = 1
    a[:, :, 0] = np.arange(17) * 2.0
    b = a.copy()
    b[:, :, 0] += 100
    frames = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    kpts = np.stack([a[0], b[0], b[1], a[1], a[2], b[2], b[3], a[3]])
    ids = assign_track_ids(frames, kpts)
    assert ids == [0, 1, 1, 0, 0, 1, 1, 0]


def test_focus_keeps_one_person():
    inputs = load_wild_inputs(TWO, focus=2)
    assert [t.track_id for t in inputs.tracks] == [2]


def test_min_track_frames_skips_short_tracks(tmp_path):
    entries = alphapose_entries(TWO)
    entries = [e for e in entries if e["idx"] == 1 or int(e["image_id"].split(".")[0]) < 3]
    inputs = load_wild_inputs(write_json(tmp_path, entries), min_frames=10)
    assert [t.track_id for t in inputs.tracks] == [1] and inputs.skipped == [(2, 3)]
    assert "person 2: skipped" in inputs.summary()


def test_pixel_mapping_inverts_the_normalisation():
    track = load_wild_inputs(SINGLE).tracks[0]
    kpts = track.keypoints
    for kwargs in (dict(scale_range=[1, 1]), dict(vid_size=(1920, 1080)),
                   dict(vid_size=(1920, 1080), scale_range=[1, 1])):
        scale, offset = pixel_mapping(kpts, **kwargs)
        back = normalize_keypoints(kpts, **kwargs)[..., :2] * scale + offset
        np.testing.assert_allclose(back, kpts[..., :2], atol=1e-3)
        # from_normalized applies the mapping to poses: x, y as above, z times the scale
        poses = normalize_keypoints(kpts, **kwargs)
        mapped = from_normalized(poses, (scale, offset))
        np.testing.assert_allclose(mapped[..., :2], back)
        np.testing.assert_allclose(mapped[..., 2], poses[..., 2] * scale)


def test_coco_order_confidence():
    halpe = INPUTS["halpe_in"]
    h36m = halpe2h36m(halpe)
    conf = coco_order_confidence(h36m)
    body = [0] + list(range(5, 17))  # joints that exist in both orders
    np.testing.assert_array_equal(conf[:, body], halpe[:, body, 2])


# ------------------------------------------------------------------ bad inputs

@pytest.mark.parametrize("content,message", [
    ("", "the file is empty"),
    ("[]", "contains no detections"),
    ("{not json", "is not valid JSON"),
    ('{"foo": 1}', "unrecognised JSON layout"),
    ('[{"frame_id": 0, "instances": []}]', "no person was detected"),
])
def test_unusable_json(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(WildInputError, match=message):
        read_detections(str(path))


def test_entries_without_keypoints(tmp_path):
    entries = alphapose_entries()
    del entries[3]["keypoints"]
    with pytest.raises(WildInputError, match=r"entry #3 \(image_id '3.jpg'\) has no keypoints"):
        read_detections(write_json(tmp_path, entries))
    entries = alphapose_entries()
    entries[5]["keypoints"] = []
    with pytest.raises(WildInputError, match="entry #5 .* has no keypoints"):
        read_detections(write_json(tmp_path, entries))


def test_keypoint_count_that_fits_no_format(tmp_path):
    entries = alphapose_entries()
    for e in entries:
        e["keypoints"] = e["keypoints"][:18 * 3]
    with pytest.raises(WildInputError, match="18 keypoints per person fit no supported format"):
        load_wild_inputs(write_json(tmp_path, entries))


def test_mixed_keypoint_counts(tmp_path):
    entries = alphapose_entries()
    entries[0]["keypoints"] = entries[0]["keypoints"][:17 * 3]
    with pytest.raises(WildInputError, match="different numbers of keypoints"):
        read_detections(write_json(tmp_path, entries))


def test_nan_coordinates(tmp_path):
    entries = alphapose_entries()
    entries[7]["keypoints"][4] = float("nan")
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(entries))  # json writes NaN literally, as Python tools do
    with pytest.raises(WildInputError, match="1 detection\\(s\\) have NaN or infinite coordinates .*frames 7"):
        read_detections(str(path))
    arr = copy.deepcopy(INPUTS["halpe_in"])
    arr[3, 2, 0] = np.nan
    np.save(tmp_path / "nan.npy", arr)
    with pytest.raises(WildInputError, match="NaN"):
        read_detections(str(tmp_path / "nan.npy"))


def test_detections_beyond_the_video(tmp_path):
    from lib.data.wild_input import build_tracks
    det = read_detections(SINGLE)
    fmt, _ = detect_format(det.keypoints)
    with pytest.raises(WildInputError, match="frame\\(s\\) 40, 41, 42, 43, 44 beyond the video's length \\(40 frames"):
        build_tracks(det, fmt, n_frames=40)
    entries = alphapose_entries()
    for e in entries:
        e["image_id"] = "%d.jpg" % (int(e["image_id"].split(".")[0]) + 1)  # numbered from 1
    det = read_detections(write_json(tmp_path, entries))
    with pytest.raises(WildInputError, match="--first_frame_id 1"):
        build_tracks(det, fmt, n_frames=45)
    det = read_detections(write_json(tmp_path, entries), first_frame_id=1)
    assert build_tracks(det, fmt, n_frames=45)[0][0].detected.all()


def test_focus_not_present_lists_the_ids():
    with pytest.raises(WildInputError, match=r"--focus 5: no person with that id .* ids present: 1 \(45 detections\), "
                                             r"2 \(45 detections\)"):
        load_wild_inputs(TWO, focus=5)


def test_missing_file():
    with pytest.raises(WildInputError, match="keypoint file not found"):
        read_detections("does/not/exist.json")


# ------------------------------------------------------------------ empty detections, scores, duplicates, fps

def test_all_zero_or_one_point_detections_are_not_detections(tmp_path):
    entries = alphapose_entries()
    zeros = [dict(e, keypoints=[0.0] * 78) for e in entries]
    with pytest.raises(WildInputError, match="holds no usable detection"):
        read_detections(write_json(tmp_path, zeros))
    one_point = [dict(e, keypoints=[50.0, 60.0, 0.9] * 26) for e in entries]
    with pytest.raises(WildInputError, match="holds no usable detection"):
        read_detections(write_json(tmp_path, one_point, "one.json"))
    some = [dict(e, keypoints=[0.0] * 78) if 10 <= i < 13 else e for i, e in enumerate(entries)]
    inputs = load_wild_inputs(write_json(tmp_path, some, "some.json"))
    assert inputs.tracks[0].detected.sum() == 42 and not inputs.tracks[0].detected[10:13].any()
    assert "detected in 42 of 45 frames" in inputs.summary()
    assert "warning: 3 of 45 detections are empty" in inputs.summary() and "frames 10, 11, 12" in inputs.summary()
    # the same rule for .npy arrays: an all-zero or one-point frame is a frame without the person
    arr = np.array(INPUTS["halpe_in"], dtype=np.float64)
    arr[5] = 0
    arr[6, :, :2] = 7.0
    np.save(tmp_path / "k.npy", arr)
    assert load_wild_inputs(str(tmp_path / "k.npy")).tracks[0].detected.sum() == 43


def test_scores_outside_zero_one(tmp_path):
    entries = alphapose_entries()
    negative = [dict(e, keypoints=[-v if i % 3 == 2 else v for i, v in enumerate(e["keypoints"])]) for e in entries]
    with pytest.raises(WildInputError, match="45 detection\\(s\\) have negative keypoint scores"):
        read_detections(write_json(tmp_path, negative))
    doubled = [dict(e, keypoints=[2 * v if i % 3 == 2 else v for i, v in enumerate(e["keypoints"])]) for e in entries]
    det = read_detections(write_json(tmp_path, doubled, "doubled.json"))
    top = 2 * max(max(e["keypoints"][2::3]) for e in entries)
    assert det.keypoints[..., 2].max() == pytest.approx(1.0)
    assert det.warnings == [f"keypoint scores go up to {top:g}, outside [0, 1]: all were divided by {top:g}"]


def test_conflicting_duplicates_of_one_track_are_named(tmp_path):
    entries = alphapose_entries()
    moved = dict(entries[7], keypoints=[v + 40 if i % 3 != 2 else v for i, v in enumerate(entries[7]["keypoints"])])
    inputs = load_wild_inputs(write_json(tmp_path, entries + [moved, dict(entries[9])]))
    warnings = [line for line in inputs.summary().splitlines() if "several different detections" in line]
    assert warnings == ["  warning: person 1 has several different detections in 1 frame(s) (7): the most confident "
                        "one of each frame is used; check the tracker's ids"]  # frame 9: an exact copy, no conflict


@pytest.mark.parametrize("fps", [0, -5, float("nan"), float("inf")])
def test_fps_must_be_positive(fps):
    with pytest.raises(WildInputError, match="--fps must be a positive number"):
        load_wild_inputs(SINGLE, fps=fps)


def test_without_a_video_fps_and_size_are_unknown(tmp_path):
    inputs = load_wild_inputs(SINGLE)
    assert (inputs.video.fps, inputs.video.size, inputs.video.playback_fps) == (None, None, 25.0)
    assert "45 frames at fps unknown (videos are written at 25 fps), size unknown" in inputs.summary()
    given = load_wild_inputs(SINGLE, fps=30, size=(640, 480)).video
    assert (given.fps, given.size) == (30.0, (640, 480))
    with pytest.raises(WildInputError, match="--fps and --size describe the video when there is none"):
        load_wild_inputs(SINGLE, vid_path=str(tmp_path / "v.mp4"), fps=30)
    with pytest.raises(WildInputError, match="--min_track_frames must be at least 1"):
        load_wild_inputs(SINGLE, min_frames=0)


def test_folders_are_not_input_files(tmp_path):
    with pytest.raises(WildInputError, match="is a folder"):
        read_detections(str(tmp_path))
    with pytest.raises(WildInputError, match="video .* is a folder"):
        load_wild_inputs(SINGLE, vid_path=str(tmp_path))
