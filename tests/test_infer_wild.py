"""infer_wild.py end to end: the original's X3D.npy, videos, people, formats, windows, bad inputs."""
import json
import os

import imageio
import numpy as np
import pytest

import infer_wild
from conftest import fixture_path
from lib.data.dataset_wild import read_input
from lib.utils.errors import UserError

WILD = fixture_path("tasks", "wild")
CONFIG = os.path.join(WILD, "infer_single_flip_norm.yaml")
CHECKPOINT = os.path.join(WILD, "pose3d_best_epoch.bin")
SINGLE = os.path.join(WILD, "alphapose_single.json")
TWO = os.path.join(WILD, "alphapose_two.json")
GOLDEN = np.load(os.path.join(WILD, "infer_wild.npz"))
RUNS = json.load(open(fixture_path("tasks", "config.json")))["wild_infer_runs"]
VIDEO_SIZE = (320, 240)  # small test video; keypoints are scaled from the fixtures' 1920x1080


def run(out, *args, config=CONFIG):
    return infer_wild.main(["--config", config, "-e", CHECKPOINT, "-o", str(out)] + [str(a) for a in args])


def make_video(path, n_frames, fps=24, size=VIDEO_SIZE):
    frames = np.full((n_frames, size[1], size[0], 3), 90, dtype=np.uint8)
    imageio.mimwrite(str(path), frames, fps=fps, macro_block_size=1)
    return str(path)


def scaled_entries(path=SINGLE, factor=1 / 6):
    entries = json.load(open(path))
    for e in entries:
        k = np.array(e["keypoints"]).reshape(-1, 3)
        k[:, :2] *= factor
        e["keypoints"] = k.reshape(-1).tolist()
    return entries


def write_json(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def video_props(path):
    reader = imageio.get_reader(str(path), "ffmpeg")
    meta = reader.get_meta_data()
    n = reader.count_frames()
    reader.close()
    return n, meta["fps"], meta["size"]


@pytest.mark.parity
@pytest.mark.parametrize("spec", RUNS, ids=[r["name"] for r in RUNS])
def test_chunk_mode_reproduces_the_original(tmp_path, spec):
    args = ["-j", os.path.join(WILD, spec["json"]), "--clip_len", 20, "--stride", 20, "--size", 1920, 1080,
            "--fps", 30]
    args += ["--pixel"] * spec["pixel"] + (["--focus", spec["focus"]] if spec["focus"] is not None else [])
    run(tmp_path, *args, config=os.path.join(WILD, spec["config"]))
    x3d = np.load(tmp_path / "X3D.npy")
    assert x3d.dtype == np.float32 and x3d.shape == (45, 17, 3)
    # equal up to the float32 rounding of the backbone's arithmetic (~3e-8 in normalised units, 1 ulp in pixels)
    scale = min(1920, 1080) / 2 if spec["pixel"] else 1
    np.testing.assert_allclose(x3d, GOLDEN["X3D_" + spec["name"]], rtol=1e-6, atol=1e-7 * scale)
    assert video_props(tmp_path / "X3D.mp4")[:2] == (45, 30.0)


def test_end_to_end_with_a_video(tmp_path, capsys):
    video = make_video(tmp_path / "in.mp4", 45, fps=24)
    keypoints = write_json(tmp_path / "kpts.json", scaled_entries())
    out = tmp_path / "out"
    run(out, "-j", keypoints, "-v", video, "--clip_len", 27, "--overlay")
    x3d = np.load(out / "X3D.npy")
    assert x3d.shape == (45, 17, 3) and x3d.dtype == np.float32
    assert x3d[0, 0, 2] == 0  # depth origin: the root of the first frame
    assert video_props(out / "X3D.mp4") == (45, 24.0, (960, 960))
    assert video_props(out / "overlay.mp4") == (45, 24.0, VIDEO_SIZE)
    doc = json.load(open(out / "X3D.json"))
    assert (doc["fps"], doc["width"], doc["height"], doc["n_frames"]) == (24.0, 320, 240, 45)
    assert doc["units"] == "normalised" and len(doc["joint_names"]) == 17 and doc["joint_names"][0] == "pelvis"
    assert doc["window"] == {"clip_len": 27, "stride": 9, "mode": "overlapping windows, blended"}
    np.testing.assert_allclose(np.array([f["keypoints_3d"] for f in doc["frames"]]), x3d, atol=1e-6)
    # to_pixels maps the normalised 2D input back onto the detections
    two_d = read_input(keypoints, None, [1, 1], None)
    px = two_d[..., :2] * doc["to_pixels"]["scale"] + doc["to_pixels"]["offset"]
    raw = np.array([e["keypoints"] for e in json.load(open(keypoints))]).reshape(45, 26, 3)
    np.testing.assert_allclose(px[:, 9], raw[:, 0, :2], atol=1e-3)  # nose
    assert "person 1: detected in 45 of 45 frames" in capsys.readouterr().out


def test_pixel_mode_output_is_in_pixels(tmp_path):
    run(tmp_path, "-j", SINGLE, "--clip_len", 27, "--pixel", "--size", 1920, 1080, "--fps", 30)
    x3d = np.load(tmp_path / "X3D.npy")
    doc = json.load(open(tmp_path / "X3D.json"))
    assert doc["units"] == "pixels" and "to_pixels" not in doc
    assert 0 < x3d[..., 0].mean() < 1920 and 0 < x3d[..., 1].mean() < 1080


def test_several_people_are_lifted_separately(tmp_path, capsys):
    run(tmp_path, "-j", TWO, "--clip_len", 20, "--stride", 20, "--size", 1920, 1080, "--fps", 30, "--pixel")
    out = capsys.readouterr().out
    assert "person 1: detected in 45 of 45 frames" in out and "person 2: detected in 45 of 45 frames" in out
    assert not (tmp_path / "X3D.npy").exists()
    for track_id in (1, 2):
        for ext in (".npy", ".json", ".mp4"):
            assert (tmp_path / f"X3D_{track_id}{ext}").exists()
        assert json.load(open(tmp_path / f"X3D_{track_id}.json"))["track_id"] == track_id
    # person 1 alone is what the original gives with --focus 1 (rootrel: False config here)
    focus_dir = tmp_path / "focus"
    run(focus_dir, "-j", TWO, "--clip_len", 20, "--stride", 20, "--size", 1920, 1080, "--pixel", "--focus", 1)
    np.testing.assert_array_equal(np.load(tmp_path / "X3D_1.npy"), np.load(focus_dir / "X3D.npy"))


def test_missing_frames_give_one_pose_per_video_frame(tmp_path):
    video = make_video(tmp_path / "in.mp4", 50, fps=25)
    entries = [e for e in scaled_entries() if not 10 <= int(e["image_id"].split(".")[0]) < 15]
    out = tmp_path / "out"
    run(out, "-j", write_json(tmp_path / "k.json", entries), "-v", video, "--clip_len", 27)
    assert np.load(out / "X3D.npy").shape == (50, 17, 3)  # the video's 50 frames, detections in 40 of them
    frames = json.load(open(out / "X3D.json"))["frames"]
    detected = [f["detected"] for f in frames]
    assert detected == [True] * 10 + [False] * 5 + [True] * 30 + [False] * 5
    assert all(c == 0 for f in frames if not f["detected"] for c in f["confidence_2d"])
    assert video_props(out / "X3D.mp4")[0] == 50


def _coco_entries():
    entries = json.load(open(SINGLE))
    for e in entries:
        e["keypoints"] = e["keypoints"][:17 * 3]  # Halpe's first 17 keypoints are COCO-17
    return entries


def _mmpose(entries, key="frame_id", first=0):
    frames = []
    for e in entries:
        k = np.array(e["keypoints"]).reshape(-1, 3)
        frames.append({key: int(e["image_id"].split(".")[0]) + first,
                       "instances": [{"keypoints": k[:, :2].tolist(), "keypoint_scores": k[:, 2].tolist()}]})
    return frames


def test_each_input_format(tmp_path):
    base = tmp_path / "alphapose"
    common = ["--clip_len", 20, "--stride", 20, "--size", 1920, 1080]
    run(base, "-j", SINGLE, *common)
    reference = np.load(base / "X3D.npy")
    halpe = np.array([e["keypoints"] for e in json.load(open(SINGLE))]).reshape(45, 26, 3)
    from lib.data.dataset_wild import halpe2h36m
    h36m = tmp_path / "h36m.npy"
    np.save(h36m, halpe2h36m(halpe))
    inputs = {
        "mmpose": (write_json(tmp_path / "mm.json", _mmpose(json.load(open(SINGLE)))), True),
        "mmpose_demo": (write_json(tmp_path / "demo.json", {"meta_info": {},
                                                           "instance_info": _mmpose(json.load(open(SINGLE)),
                                                                                    first=1)}), True),
        "h36m_npy": (str(h36m), True),
        "coco": (write_json(tmp_path / "coco.json", _coco_entries()), False),
    }
    for name, (path, same_as_halpe) in inputs.items():
        run(tmp_path / name, "-j", path, *common)
        x3d = np.load(tmp_path / name / "X3D.npy")
        assert x3d.shape == (45, 17, 3), name
        if same_as_halpe:
            np.testing.assert_allclose(x3d, reference, rtol=1e-5, atol=1e-6, err_msg=name)


# ------------------------------------------------------------------ bad inputs: one message, no output

def _expect_error_in(out, message, *args):
    with pytest.raises(UserError) as err:
        run(out, *args)
    assert message in str(err.value), str(err.value)


def _expect_error(tmp_path, message, *args):
    out = tmp_path / "out"
    _expect_error_in(out, message, *args)
    assert not out.exists()  # nothing written


def test_bad_inputs(tmp_path):
    entries = json.load(open(SINGLE))
    empty = tmp_path / "empty.json"
    empty.write_text("")
    _expect_error(tmp_path, "the file is empty", "-j", empty, "--clip_len", 27)
    _expect_error(tmp_path, "contains no detections", "-j", write_json(tmp_path / "e.json", []), "--clip_len", 27)
    no_kpts = [dict(e) for e in entries]
    del no_kpts[2]["keypoints"]
    _expect_error(tmp_path, "entry #2 (image_id '2.jpg') has no keypoints", "-j",
                  write_json(tmp_path / "nk.json", no_kpts), "--clip_len", 27)
    odd = [dict(e, keypoints=e["keypoints"][:18 * 3]) for e in entries]
    _expect_error(tmp_path, "18 keypoints per person fit no supported format", "-j",
                  write_json(tmp_path / "odd.json", odd), "--clip_len", 27)
    nan = [dict(e) for e in entries]
    nan[4] = dict(nan[4], keypoints=[float("nan")] + nan[4]["keypoints"][1:])
    _expect_error(tmp_path, "NaN or infinite coordinates", "-j", write_json(tmp_path / "nan.json", nan),
                  "--clip_len", 27)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    _expect_error(tmp_path, "cannot open the video", "-j", SINGLE, "-v", broken, "--clip_len", 27)
    _expect_error(tmp_path, "video not found", "-j", SINGLE, "-v", tmp_path / "none.mp4", "--clip_len", 27)
    short = make_video(tmp_path / "short.mp4", 30)
    _expect_error(tmp_path, "beyond the video's length (30 frames", "-j", SINGLE, "-v", short, "--clip_len", 27)
    _expect_error(tmp_path, "--focus 3: no person with that id", "-j", TWO, "--focus", 3, "--clip_len", 27)
    _expect_error(tmp_path, "ids present: 1 (45 detections), 2 (45 detections)", "-j", TWO, "--focus", 3,
                  "--clip_len", 27)
    _expect_error(tmp_path, "--clip_len 243 is longer than the model's maxlen 27", "-j", SINGLE, "--clip_len", 243)
    _expect_error(tmp_path, "--stride must be between 1 and --clip_len (27)", "-j", SINGLE, "--clip_len", 27,
                  "--stride", 30)
    _expect_error(tmp_path, "--overlay draws on the input video", "-j", SINGLE, "--clip_len", 27, "--overlay")


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_reduced_precision_is_close_to_fp32(tmp_path, precision):
    args = ["-j", SINGLE, "--clip_len", 20, "--size", 1920, 1080]
    run(tmp_path / "fp32", *args)
    run(tmp_path / precision, *args, "--precision", precision)
    fp32, low = np.load(tmp_path / "fp32" / "X3D.npy"), np.load(tmp_path / precision / "X3D.npy")
    assert low.dtype == np.float32 and not np.array_equal(fp32, low)
    assert np.linalg.norm(low - fp32) / np.linalg.norm(fp32) < 0.03


def test_a_failure_while_writing_leaves_no_partial_output(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("the JSON could not be made")
    monkeypatch.setattr(infer_wild, "x3d_json", fail)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        run(out, "-j", SINGLE, "--clip_len", 27)
    assert not out.exists()  # not X3D.mp4 and X3D.npy without X3D.json
    (out / "X3D.json").mkdir(parents=True)  # an output name taken by a folder fails before the model loads
    monkeypatch.setattr(infer_wild, "load_model", lambda *a: pytest.fail("the model was loaded"))
    _expect_error_in(out, "X3D.json is a folder", "-j", SINGLE, "--clip_len", 27)
    assert os.listdir(out) == ["X3D.json"]


def test_without_a_video_fps_and_size_are_not_claimed(tmp_path):
    run(tmp_path, "-j", SINGLE, "--clip_len", 27)
    doc = json.load(open(tmp_path / "X3D.json"))
    assert (doc["fps"], doc["width"], doc["height"], doc["n_frames"]) == (None, None, None, 45)
    assert video_props(tmp_path / "X3D.mp4")[:2] == (45, 25.0)  # the video is still written, at 25 fps
    _expect_error(tmp_path, "--pixel normalises by the frame size, which is unknown", "-j", SINGLE, "--clip_len",
                  27, "--pixel")


# ------------------------------------------------------------------ world motion (lib/world.py, lib/export.py)

def test_world_outputs_by_default(tmp_path, capsys):
    video = make_video(tmp_path / "in.mp4", 45, fps=24)
    keypoints = write_json(tmp_path / "kpts.json", scaled_entries())
    out = tmp_path / "out"
    run(out, "-j", keypoints, "-v", video, "--clip_len", 27, "--height", 1.8, "--focal", 400)
    for name in ("X3D_world.npy", "X3D.bvh", "X3D.trc", "X3D.csv"):
        assert (out / name).is_file(), name
    joints = np.load(out / "X3D_world.npy")
    assert joints.shape == (45, 17, 3) and joints.dtype == np.float32
    doc = json.load(open(out / "X3D.json"))["world"]
    assert doc["units"] == "mm" and doc["up"] == "+Y" and doc["fps"] == 24.0
    assert doc["height_m"] == 1.8 and doc["height"].startswith("given")
    assert doc["intrinsics"]["focal_px"] == 400 and doc["intrinsics"]["principal_point_px"] == [160, 120]
    assert not doc["intrinsics"]["assumed"] and len(doc["foot_contact"]) == 45 and len(doc["steps"]) >= 4
    # Halpe-26 has heels and big toes: the feet are placed from them
    assert doc["files"] == ["X3D_world.npy", "X3D_world_feet.npy", "X3D.bvh", "X3D.trc", "X3D.csv", "X3D_angles.csv",
                            "X3D_angles.png"]
    feet = np.load(out / "X3D_world_feet.npy")
    assert feet.shape == (45, 4, 3) and doc["feet"]["points"] == ["left_heel", "left_toe", "right_heel", "right_toe"]
    # each toe a foot's length (0.152 of the 1.8 m stature) from its heel where placed from keypoints
    lengths = np.linalg.norm(feet[:, 1] - feet[:, 0], axis=-1)
    assert np.median(np.abs(lengths - 0.152 * 1800)) < 5
    angles = (out / "X3D_angles.csv").read_text().splitlines()
    assert angles[0].startswith("frame,time_s,left_hip_flexion,right_hip_flexion") and len(angles) == 46
    assert (out / "X3D_angles.png").read_bytes()[:4] == b"\x89PNG"
    assert "assumed" not in capsys.readouterr().out.split("Wrote")[0].split("person 1: detected")[1]


def test_world_notes_what_is_assumed_and_exports_only_what_is_asked(tmp_path, capsys):
    run(tmp_path, "-j", SINGLE, "--clip_len", 27, "--export", "csv", "--up", "z")
    assert (tmp_path / "X3D.csv").is_file() and not (tmp_path / "X3D.bvh").exists()
    doc = json.load(open(tmp_path / "X3D.json"))["world"]
    assert doc["up"] == "+Z" and doc["intrinsics"] is None and doc["height"].startswith("assumed")
    printed = capsys.readouterr().out
    assert "height 1.70 m assumed" in printed and "root trajectory skipped" in printed and "fps unknown" in printed


def test_no_world_keeps_todays_outputs_and_x3d_npy_is_unchanged(tmp_path):
    common = ["-j", SINGLE, "--clip_len", 20, "--stride", 20, "--size", 1920, 1080, "--fps", 30]
    run(tmp_path / "plain", *common, "--no_world")
    assert sorted(os.listdir(tmp_path / "plain")) == ["X3D.json", "X3D.mp4", "X3D.npy", "manifest.json"]
    assert "world" not in json.load(open(tmp_path / "plain" / "X3D.json"))
    run(tmp_path / "world", *common, "--smooth", "--height", 1.6)
    np.testing.assert_array_equal(np.load(tmp_path / "plain" / "X3D.npy"), np.load(tmp_path / "world" / "X3D.npy"))


@pytest.mark.parametrize("args, text", [
    (["--height", "3"], "--height"), (["--focal", "0"], "--focal"), (["--fov", "-10"], "--fov"),
    (["--export", "bvh,fbx"], "unknown format fbx"), (["--no_world", "--height", "1.7"], "--no_world")])
def test_bad_world_options_fail_before_anything_loads(tmp_path, args, text):
    with pytest.raises(UserError, match=text):
        infer_wild.main(["--config", CONFIG, "-e", str(tmp_path / "missing.bin"), "-j", SINGLE, "-o",
                         str(tmp_path / "out")] + args)
    assert not (tmp_path / "out").exists()


def test_several_people_share_one_world_and_each_covers_their_own_frames(tmp_path):
    """Two people of one keypoint file: per-person world files in one world (the same ground and up), and a person
    seen from frame 10 on has world motion from frame 10 on (TRC and CSV rows carry the video's frame numbers)."""
    entries = [e for e in json.load(open(TWO)) if not (e["idx"] == 2 and int(e["image_id"].split(".")[0]) < 10)]
    out = tmp_path / "out"
    run(out, "-j", write_json(tmp_path / "two.json", entries), "--clip_len", 20, "--size", 1920, 1080, "--fps", 30,
        "--focal", 1500)
    docs = {i: json.load(open(out / f"X3D_{i}.json"))["world"] for i in (1, 2)}
    assert docs[1]["ground"] == docs[2]["ground"] and docs[1]["axes"] == docs[2]["axes"]
    assert docs[1]["first_frame"] == 0 and docs[2]["first_frame"] == 10
    assert np.load(out / "X3D_2_world.npy").shape == (35, 17, 3)  # frames 10-44
    assert np.load(out / "X3D_2.npy").shape == (45, 17, 3)  # one pose per video frame, as the original
    assert docs[2]["files"] == ["X3D_2_world.npy", "X3D_2_world_feet.npy", "X3D_2.bvh", "X3D_2.trc", "X3D_2.csv",
                                "X3D_2_angles.csv", "X3D_2_angles.png"]
    assert "person 1" in docs[2]["origin"]
    csv_rows = (out / "X3D_2.csv").read_text().splitlines()
    assert csv_rows[1].startswith("10,0.333333,") and len(csv_rows) == 36
    trc_rows = (out / "X3D_2.trc").read_text().splitlines()
    assert trc_rows[6].startswith("11\t0.333333\t")
    # the renders: each person's frames (person 2 from frame 10 on)
    assert video_props(out / "X3D_1.mp4")[0] == 45 and video_props(out / "X3D_2.mp4")[0] == 35
    # person 2 is lifted over their own frames, as a run of those frames alone lifts them, and held before
    poses = np.load(out / "X3D_2.npy")
    np.testing.assert_array_equal(poses[:10], np.broadcast_to(poses[10], (10, 17, 3)))
    alone = [dict(e, image_id=f"{int(e['image_id'].split('.')[0]) - 10}.jpg") for e in entries if e["idx"] == 2]
    run(tmp_path / "alone", "-j", write_json(tmp_path / "alone.json", alone), "--clip_len", 20, "--size", 1920, 1080,
        "--fps", 30, "--no_world", "--no_render")
    np.testing.assert_allclose(poses[10:], np.load(tmp_path / "alone" / "X3D.npy"), atol=1e-6)


def test_a_folder_holds_one_run_and_says_what_it_removed(tmp_path, capsys):
    """A second run into the same folder removes the first run's outputs that it does not write again (a --no_world
    run: the world files; a one-person run: the X3D_<id>.* of two people), says so, and lists what it wrote; a killed
    run's temporary file is removed; files that are not this script's stay."""
    out = tmp_path / "out"
    common = ["--clip_len", 20, "--size", 1920, 1080, "--fps", 30]
    run(out, "-j", TWO, *common)
    assert (out / "X3D_1.bvh").is_file() and (out / "X3D_2_world.npy").is_file()
    (out / "notes.txt").write_text("mine")
    (out / ".X3D.partial-999999999.mp4").write_bytes(b"killed")  # no such process
    capsys.readouterr()
    run(out, "-j", TWO, "--focus", 1, "--no_world", *common)
    printed = capsys.readouterr().out
    assert not (out / ".X3D.partial-999999999.mp4").exists() and "a temporary file of an earlier run" in printed
    assert sorted(os.listdir(out)) == ["X3D.json", "X3D.mp4", "X3D.npy", "manifest.json", "notes.txt"]
    assert "file(s) of an earlier run" in printed and "X3D_1.bvh" in printed
    manifest = json.load(open(out / "manifest.json"))["runs"]["infer_wild.py"]
    assert manifest["files"] == ["X3D.json", "X3D.mp4", "X3D.npy"]


def test_x3d_json_is_strict_json_for_a_one_frame_input(tmp_path):
    entries = json.load(open(SINGLE))[:1]
    run(tmp_path, "-j", write_json(tmp_path / "one.json", entries), "--clip_len", 27, "--size", 1920, 1080, "--fps", 30)
    text = (tmp_path / "X3D.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in X3D.json"))


def test_starting_a_run_imports_neither_torch_nor_scipy_nor_matplotlib():
    """What runs before the first frame is decoded: torch loads in the background during detection (issue 27)."""
    import subprocess
    import sys

    slow = ("torch", "lib.model", "scipy.signal", "scipy.optimize", "scipy.spatial", "matplotlib")
    code = f"import sys, infer_wild; print(sorted(m for m in {slow!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=os.path.dirname(os.path.abspath(infer_wild.__file__)))
    assert done.stdout.strip() == "[]"


def test_the_motion_files_do_not_wait_for_the_renders(tmp_path, monkeypatch):
    """A render that cannot finish before the motion files are in the folder: the run still completes."""
    import time

    out = tmp_path / "out"
    motion_files = {"X3D.npy", "X3D.json", "X3D_world.npy", "X3D.bvh", "X3D_angles.csv"}
    seen = []
    real_render = infer_wild.render_and_save

    def render(poses, path, **options):
        deadline = time.monotonic() + 60  # the files are published one by one: wait for all of them
        while not motion_files <= set(os.listdir(out)) and time.monotonic() < deadline:
            time.sleep(0.02)
        seen.append(sorted(os.listdir(out)))
        return real_render(poses, path, **options)
    monkeypatch.setattr(infer_wild, "render_and_save", render)
    run(out, "-j", SINGLE, "--clip_len", 27)
    assert motion_files <= set(seen[0])
    assert "X3D.mp4" not in seen[0]
    assert video_props(out / "X3D.mp4")[0] == 45


def test_a_failed_render_keeps_the_motion_files_and_leaves_no_partial_video(tmp_path, monkeypatch):
    def broken(poses, path, **options):
        with open(path, "w") as f:
            f.write("half a video")
        raise RuntimeError("the encoder died")
    monkeypatch.setattr(infer_wild, "render_and_save", broken)
    with pytest.raises(RuntimeError, match="encoder"):
        run(tmp_path, "-j", SINGLE, "--clip_len", 27)
    names = os.listdir(tmp_path)
    assert "X3D.npy" in names and "X3D_world.npy" in names
    assert not [n for n in names if n.endswith(".mp4") or ".partial-" in n]


def test_no_render_writes_the_motion_files_only(tmp_path, monkeypatch):
    monkeypatch.setattr(infer_wild, "render_and_save", lambda *a, **k: pytest.fail("rendered"))
    written = run(tmp_path, "-j", SINGLE, "--clip_len", 27, "--no_render")
    names = sorted(os.path.basename(p) for p in written)
    assert "X3D.mp4" not in names and {"X3D.npy", "X3D.json", "X3D_world.npy", "X3D_angles.png"} <= set(names)
    np.testing.assert_array_equal(np.load(tmp_path / "X3D.npy").shape, (45, 17, 3))
