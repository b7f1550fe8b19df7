"""The bad-input audit's cases of outputs a user must be able to trust (tests/audit_bad_inputs.py runs them with the
others): merged people and teleports, impossible camera values, suspect keypoints, stale files, full disks, and the
smaller ones. A case is refused with one line, or succeeds with the named warning, split or valid output.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WILD = os.path.join(REPO, "tests", "fixtures", "tasks", "wild")
CONFIG = os.path.join(WILD, "infer_single_flip_norm.yaml")
CKPT = os.path.join(WILD, "pose3d_best_epoch.bin")
SINGLE = os.path.join(WILD, "alphapose_single.json")
TWO = os.path.join(WILD, "alphapose_two.json")
MESH_CONFIG_DIR = os.path.join(REPO, "tests", "fixtures", "tasks", "mesh")
DEMO_VIDEO = os.path.join(REPO, "examples", "demo.mp4")
HALPE_LEGS = (11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25)  # hips, knees, ankles, toes, heels
SIZE = ["--size", "1920", "1080", "--fps", "30"]


def _write_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)
    return path


def _changed(entries, shift=(0.0, 0.0), score=None, frames=None, joints=None, drop_idx=False, idx=None):
    """Copies of AlphaPose ``entries``: x, y shifted, scores replaced (of ``joints``, default all), in ``frames``
    (default all); without or with another ``idx``."""
    out = []
    for e in entries:
        e = dict(e)
        frame = int(e["image_id"].split(".")[0])
        if frames is None or frame in frames:
            k = list(e["keypoints"])
            for j in range(len(k) // 3):
                k[3 * j] += shift[0]
                k[3 * j + 1] += shift[1]
                if score is not None and (joints is None or j in joints):
                    k[3 * j + 2] = score
            e["keypoints"] = k
        if drop_idx:
            e.pop("idx", None)
        if idx is not None:
            e["idx"] = idx
        out.append(e)
    return out


def _ffmpeg(*args):
    import imageio_ffmpeg
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


def build_inputs(tmp):
    """The inputs of these cases under ``tmp``, by name."""
    j = lambda name: os.path.join(tmp, "trust", name)  # noqa: E731
    entries = json.load(open(SINGLE))
    later = [dict(e, image_id=f"{int(e['image_id'].split('.')[0]) + 45}.jpg") for e in _changed(entries, (900, 60))]
    f = {"merged_no_ids": _write_json(j("merged_no_ids.json"), _changed(entries + later, drop_idx=True)),
         "merged_same_id": _write_json(j("merged_same_id.json"), _changed(entries + later, idx=5)),
         "teleport": _write_json(j("teleport.json"), _changed(entries, (2000, 0), frames=range(20, 30))),
         "outside": _write_json(j("outside.json"), _changed(entries, (5000, 0))),
         "negative": _write_json(j("negative.json"), _changed(entries, (-3000, 0))),
         "lowconf": _write_json(j("lowconf.json"), _changed(entries, score=0.005)),
         "legless": _write_json(j("legless.json"), _changed(entries, score=0.0, joints=HALPE_LEGS)),
         "coco17": _write_json(j("coco17.json"), [dict(e, keypoints=e["keypoints"][:51]) for e in entries]),
         "one_frame": _write_json(j("one_frame.json"), entries[:1])}
    import numpy as np
    halpe = np.array([e["keypoints"] for e in entries]).reshape(len(entries), 26, 3)
    moved = halpe.copy()
    moved[..., :2] += [900, 60]
    np.save(j("merged.npy"), np.concatenate([halpe, moved]))  # one person per frame, no ids: an array
    f["merged_npy"] = j("merged.npy")
    f["merged_mmpose"] = _write_json(j("merged_mmpose.json"), [
        {"frame_id": t, "instances": [{"keypoints": k[:, :2].tolist(), "keypoint_scores": k[:, 2].tolist()}]}
        for t, k in enumerate(np.concatenate([halpe, moved]))])
    f["teleport_no_ids"] = _write_json(j("teleport_no_ids.json"), _changed(entries, (2000, 0), frames=range(20, 30),
                                                                          drop_idx=True))
    # a folder with a two-person run's outputs and a killed run's temporary file in it
    f["stale"] = j("stale")
    subprocess.run([sys.executable, os.path.join(REPO, "infer_wild.py"), "--config", CONFIG, "-e", CKPT, "-j", TWO,
                    "--clip_len", "20", *SIZE, "-o", f["stale"]], check=True, capture_output=True,
                   env=dict(os.environ, OMP_NUM_THREADS="1"))
    with open(os.path.join(f["stale"], ".X3D.partial-999999999.mp4"), "wb") as out:
        out.write(b"killed while writing")
    # a person on video: the demo's first 30 frames, and the same frames as a 1000-fps video
    f["person_video"] = j("person.mp4")
    _ffmpeg("-i", DEMO_VIDEO, "-frames:v", "30", f["person_video"])
    f["video_1000fps"] = j("fast.mp4")
    _ffmpeg("-i", f["person_video"], "-r", "1000", "-vf", "setpts=N/1000/TB", f["video_1000fps"])
    return f


def _files(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def cases(f, tmp, Case):
    """The cases (``Case`` is tests/audit_bad_inputs.py's)."""
    out = lambda name: os.path.join(tmp, "runs", "trust_" + name)  # noqa: E731
    c = []
    tiny = ["--config", CONFIG, "-e", CKPT, "--clip_len", "27"]

    def refused(name, argv, expect, script="infer_wild.py", fast=False, **kw):
        o = kw.pop("o", out(name))
        c.append(Case(f"trust/{name}", script, argv + ["-o", o], expect, outputs=kw.pop("outputs", [o]), fast=fast,
                      **kw))

    def succeeds(name, argv, expect, check=None, script="infer_wild.py", fast=False, o=None, **kw):
        o = o or out(name)
        c.append(Case(f"trust/{name}", script, argv + ["-o", o], expect, succeeds=True,
                      check=(lambda: check(o)) if check else None, fast=fast, **kw))

    def has(*names):
        return lambda o: [f"{n} missing" for n in names if not os.path.isfile(os.path.join(o, n))]

    def lacks(*names):
        return lambda o: [f"{n} written" for n in names if os.path.exists(os.path.join(o, n))]

    def both(*checks):
        return lambda o: [p for check in checks for p in check(o)]

    # --- two people merged into one, teleports
    succeeds("merged_no_ids", tiny + ["-j", f["merged_no_ids"], *SIZE], ["two people under one id", "person 1"],
             has("X3D_0.npy", "X3D_1.npy", "X3D_0_world.npy", "X3D_1.bvh"), fast=True)
    succeeds("merged_same_id", tiny + ["-j", f["merged_same_id"], *SIZE], ["person 5", "two people under one id"],
             both(has("X3D_5.npy", "X3D_6.npy"), lacks("X3D.npy")))
    succeeds("teleport", tiny + ["-j", f["teleport"], *SIZE], ["frame(s) 20-29", "dropped as wrong detections"],
             has("X3D.npy", "X3D.bvh"))
    succeeds("teleport_world_is_bounded", tiny + ["-j", f["teleport"], *SIZE, "--focal", "1500"],
             ["dropped as wrong detections"], _root_speed_below(12.0, "X3D_world.npy", 30.0))
    stream = ["--config", CONFIG, "-e", CKPT, "--speed", "0"]
    succeeds("stream_merged", stream + ["-j", f["merged_no_ids"], *SIZE], ["two people under one id"],
             _jsonl_people({0, 1}), script="stream_wild.py")
    succeeds("stream_teleport", stream + ["-j", f["teleport"], *SIZE], ["dropped as wrong detections"],
             _jsonl_frames_without(range(20, 30)), script="stream_wild.py")

    succeeds("merged_npy", tiny + ["-j", f["merged_npy"], *SIZE], ["two people under one id"],
             has("X3D_0.npy", "X3D_1.npy"))
    succeeds("merged_mmpose", tiny + ["-j", f["merged_mmpose"], *SIZE], ["two people under one id"],
             has("X3D_0.npy", "X3D_1.npy"))
    succeeds("teleport_no_ids", tiny + ["-j", f["teleport_no_ids"], *SIZE], ["dropped as wrong detections"],
             both(has("X3D.npy"), lacks("X3D_1.npy")))

    # --- camera values that no camera of the picture has
    for name, extra, text in (("center_far", ["--center", "-100000", "-100000"], "--center -100000 -100000"),
                              ("center_outside", ["--center", "2500", "500"], "must lie in the 1920x1080 picture"),
                              ("center_nan", ["--center", "nan", "nan"], "--center"),
                              ("center_inf", ["--center", "inf", "10"], "--center"),
                              ("fov_tiny", ["--fov", "0.001"], "--fov 0.001"),
                              ("fov_wide", ["--fov", "179.9"], "--fov 179.9"),
                              ("fov_nan", ["--fov", "nan"], "--fov"),
                              ("focal_one", ["--focal", "1"], "--focal 1: for a 1920x1080 picture"),
                              ("focal_huge", ["--focal", "1e9"], "--focal 1e+09: for a 1920x1080 picture"),
                              ("focal_inf", ["--focal", "inf"], "--focal"),
                              ("pitch_high", ["--pitch", "95"], "--pitch"),
                              ("pitch_low", ["--pitch", "-90"], "--pitch"),
                              ("pitch_nan", ["--pitch", "nan"], "--pitch"),
                              ("height_nan", ["--height", "nan"], "--height"),
                              ("height_zero", ["--height", "0"], "--height"),
                              ("height_tall", ["--height", "3.5"], "--height")):
        refused(name, tiny + ["-j", SINGLE, *SIZE] + extra, [text], fast=name == "center_far")
    refused("center_nan_no_size", tiny + ["-j", SINGLE, "--center", "nan", "nan"], ["--center"])
    for name, extra in (("center", ["--center", "1"]), ("pitch", ["--pitch", "10"])):
        refused(f"no_world_with_{name}", tiny + ["-j", SINGLE, "--no_world", extra[0], *extra[1:]] +
                (["1"] if name == "center" else []), ["--no_world", extra[0]])
    for name, extra, text in (("center_far", ["--center", "-100000", "-100000"], "--center"),
                              ("focal_one", ["--focal", "1"], "--focal 1"),
                              ("fov_wide", ["--fov", "179.9"], "--fov")):
        refused("stream_" + name, stream + ["-j", SINGLE, *SIZE] + extra, [text], script="stream_wild.py")
    # --- the built-in detector's tiles (issue 24): out of range, or with a keypoint file
    refused("tiles_zero", tiny + ["-v", DEMO_VIDEO, "--tiles", "0"], ["--tiles", "1 (the whole frame) to 8"], fast=True)
    refused("tiles_many", tiny + ["-v", DEMO_VIDEO, "--tiles", "9"], ["--tiles", "got 9"])
    refused("tiles_with_json", tiny + ["-j", SINGLE, *SIZE, "--tiles", "3"], ["--tiles 3", "drop --tiles"])
    refused("stream_tiles_zero", stream + ["-v", DEMO_VIDEO, "--tiles", "0"], ["--tiles"], script="stream_wild.py")
    refused("stream_tiles_with_json", stream + ["-j", SINGLE, *SIZE, "--tiles", "2"], ["drop --tiles"],
            script="stream_wild.py")

    # --- suspect keypoints: one warning line each, naming the frames
    succeeds("outside", tiny + ["-j", f["outside"], *SIZE], ["outside the 1920x1080 picture in 45 of 45 frames"],
             has("X3D.npy"), fast=True)
    succeeds("negative", tiny + ["-j", f["negative"]], ["at negative pixel coordinates in 45 of 45 frames"])
    succeeds("lowconf", tiny + ["-j", f["lowconf"], *SIZE], ["every confidence is below 0.05 in 45 of 45 frames"])
    succeeds("legless", tiny + ["-j", f["legless"], *SIZE], ["right_hip, right_knee, right_ankle", "never seen",
                                                            "the model invents them"])
    succeeds("stream_outside", stream + ["-j", f["outside"], *SIZE], ["outside the 1920x1080 picture"],
             script="stream_wild.py")
    for name in ("lowconf", "legless", "negative"):
        succeeds("stream_" + name, stream + ["-j", f[name], *SIZE], ["never seen" if name == "legless" else
                                                                   "every confidence is below" if name == "lowconf"
                                                                   else "outside the 1920x1080 picture"],
                 script="stream_wild.py")
    succeeds("no_feet_in_format", tiny + ["-j", f["coco17"], *SIZE], ["no foot keypoints"],
             both(has("X3D_world.npy"), lacks("X3D_world_feet.npy")))

    # --- an output folder that belongs to one run
    succeeds("stale_files_removed", tiny + ["-j", TWO, "--focus", "1", "--no_world", *SIZE],
             ["file(s) of an earlier run", "X3D_2_world.npy", "a temporary file of an earlier run that was killed"],
             _only(["X3D.json", "X3D.mp4", "X3D.npy", "manifest.json"]), o=f["stale"], fast=True)

    # --- tracebacks and partial files
    succeeds("video_1000fps", ["--demo", "-v", f["video_1000fps"]], ["1000 fps"], _bvh_frame_time(0.001))
    refused("detector_focus_absent", ["--demo", "-v", f["person_video"], "--focus", "7"],
            ["--focus 7", "in the people detected in", "person.mp4", "ids present: 0"])
    refused("disk_full", tiny + ["-j", SINGLE, *SIZE], ["the disk is full"], file_limit=40_000)
    c.append(Case("trust/stream_disk_full", "stream_wild.py",
                  stream + ["-j", SINGLE, *SIZE, "-o", out("stream_disk_full")], ["the disk is full", "whole lines"],
                  file_limit=3_000, check=_whole_lines(os.path.join(out("stream_disk_full"), "X3D.jsonl"))))
    succeeds("one_frame_strict_json", tiny + ["-j", f["one_frame"], *SIZE], [], _strict_json("X3D.json"))

    succeeds("detector_one_person", ["--demo", "-v", f["person_video"], "--max_people", "1", "--no_world"],
             ["following one person (--max_people 1)"], has("X3D.npy", "keypoints_2d.json"))
    succeeds("export_none", tiny + ["-j", SINGLE, *SIZE, "--export", "none"], [],
             both(has("X3D_world.npy"), lacks("X3D.bvh", "X3D.trc", "X3D.csv")))
    succeeds("pitch_given", tiny + ["-j", SINGLE, *SIZE, "--pitch", "20"], ["--pitch"], _ground_cue("--pitch"))

    # --- smaller
    refused("out_empty", tiny + ["-j", SINGLE], ["--out_path is empty"], o="", outputs=[], fast=True)
    refused("stream_out_empty", stream + ["-j", SINGLE, *SIZE], ["--out_path is empty"], script="stream_wild.py",
            o="", outputs=[])
    refused("export_none_and_bvh", tiny + ["-j", SINGLE, "--export", "none,bvh"], ["'none' means no files",
                                                                                  "give 'none' alone"])
    refused("stream_threads_1000", stream + ["-j", SINGLE, *SIZE, "--threads", "1000"],
            ["--threads must be between 1 and", "got 1000"], script="stream_wild.py")
    refused("stream_center_nan", stream + ["-j", SINGLE, *SIZE, "--center", "nan", "nan"], ["--center"],
            script="stream_wild.py")
    return c


def _only(names):
    return lambda o: [] if _files(o) == names else [f"files {_files(o)}, expected {names}"]


def _jsonl(o):
    path = os.path.join(o, "X3D.jsonl")
    return [json.loads(line) for line in open(path)] if os.path.isfile(path) else []


def _jsonl_people(people):
    return lambda o: [] if {line.get("person") for line in _jsonl(o)} == people else [
        f"people {sorted({line.get('person') for line in _jsonl(o)})}, expected {sorted(people)}"]


def _jsonl_frames_without(frames):
    return lambda o: [f"pose of dropped frame {line['frame']}" for line in _jsonl(o) if line["frame"] in frames]


def _whole_lines(path):
    def check():
        if not os.path.isfile(path):
            return []
        text = open(path).read()
        if text and not text.endswith("\n"):
            return ["X3D.jsonl ends in a cut line"]
        try:
            [json.loads(line) for line in text.splitlines()]
        except ValueError as e:
            return [f"X3D.jsonl has a broken line: {e}"]
        return []
    return check


def _strict_json(name):
    def check(o):
        text = open(os.path.join(o, name)).read()
        return [f"{name} holds {bad}" for bad in ("NaN", "Infinity") if bad in text]
    return check


def _bvh_frame_time(seconds):
    def check(o):
        lines = open(os.path.join(o, "X3D.bvh")).read().splitlines()
        time = next(float(line.split(":")[1]) for line in lines if line.startswith("Frame Time"))
        return [] if abs(time - seconds) < 1e-9 else [f"BVH frame time {time}, expected {seconds}"]
    return check


def _root_speed_below(limit_m_s, name, fps):
    def check(o):
        import numpy as np
        root = np.load(os.path.join(o, name))[:, 0]
        speed = np.linalg.norm(np.diff(root, axis=0), axis=-1).max() * fps / 1000
        return [] if speed <= limit_m_s else [f"the world root moves {speed:.1f} m/s"]
    return check


def _ground_cue(name):
    def check(o):
        cues = json.load(open(os.path.join(o, "X3D.json")))["world"]["ground"]["cues"]
        return [] if any(c["cue"] == name and c.get("used") for c in cues) else [f"cue {name} not used: {cues}"]
    return check
