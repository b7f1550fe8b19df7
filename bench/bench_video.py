"""The built-in 2D detector on held-out rendered clips: the table of docs/inference.md ("Video input").

    pip install pybullet
    python tools/prepare_demo_data.py --test-videos data/motion3d/demo/videos   # the demo pickle + test videos
    python bench/bench_video.py [--json bench_video.json]

The videos are the demo's test clips (walk, kick, dance_b, jump: never seen in training) seen by
the cameras of ``--test-videos`` (default two, 90 degrees apart), every frame of the pickle (50
fps) at half size; their ground truth is in the pickle. Per video:

* detection: the fraction of frames with a person; the 2D error of the 13 detected keypoints
  that are the demo's H36M joints (nose, shoulders to wrists, hips to ankles) against the
  noise-free projection, as the mean in the video's pixels and as PCK@0.1 (error below 0.1 of
  the body size, the longer side of the ground-truth joints' box); the left/right swap rate of
  the arms and of the legs (frames where the mirrored assignment is closer to the truth, among
  those where the two sides are more than 0.1 body size apart) before and after
  ``correct_left_right_swaps``; the view (the subject's mean yaw to the camera: 0 = frontal);
* 3D: P1/P2 (mm, the H36M protocol of ``train.py --evaluate``) of the demo model from the
  detected keypoints, next to the same from the synthetic detections the model was trained on;
* speed: detection frames/s (one pass per video; a video is detected again when the machine was
  busy after it), and the whole command (``infer_wild.py --demo -v <video>``: detection, lifting,
  rendering and writing) in frames/s on the first video, in a fresh process per round over
  ``--rounds`` rounds (median, min-max).

The machine and its load before and after are printed (and written to the JSON); a busy machine is
refused unless ``--allow-busy``, which marks the speed figures (``lib/utils/benchmark.py``).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from lib.data.datareader_h36m import CAMERA_RESOLUTION, DataReaderH36M  # noqa: E402
from lib.data.detector import KEYPOINT_FORMAT, correct_left_right_swaps, detect  # noqa: E402
from lib.data.wild_input import fill_missing_frames  # noqa: E402
from lib.inference import DEMO_FILES, load_model  # noqa: E402
from lib.skeleton import JOINT_NAMES, to_h36m  # noqa: E402
from lib.utils.benchmark import BenchmarkRun, Spread, add_timing_arguments, in_turn, mark  # noqa: E402
from lib.utils.config_schema import TRAIN_POSE3D, load_config  # noqa: E402
from lib.utils.eval_h36m import h36m_errors, markdown_table, predict_pose3d  # noqa: E402
from lib.utils.errors import UserError  # noqa: E402
from lib.utils.tools import read_pkl, write_pkl  # noqa: E402

# H36M joints that a COCO-17 keypoint gives directly (the others are means: pelvis, spine, thorax, head)
DIRECT = [JOINT_NAMES.index(n) for n in ("nose", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                                         "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                                         "right_knee", "left_ankle", "right_ankle")]
SIDES = {"arms": ([11, 12, 13], [14, 15, 16]), "legs": ([4, 5, 6], [1, 2, 3])}  # H36M (left, right)


def body_size(truth):
    """Longer side of the box of the ground-truth joints ``(F, 17, 2)``, per frame."""
    return (truth.max(1) - truth.min(1)).max(-1)


def swap_rates(pred, truth):
    """Per side group, the fraction of frames whose mirrored assignment is closer to the truth (where the two
    sides are more than 0.1 body size apart)."""
    size = body_size(truth)
    rates = {}
    for name, (left, right) in SIDES.items():
        own = np.linalg.norm(pred[:, left + right] - truth[:, left + right], axis=-1).mean(-1)
        mirror = np.linalg.norm(pred[:, right + left] - truth[:, left + right], axis=-1).mean(-1)
        apart = np.linalg.norm(truth[:, left] - truth[:, right], axis=-1).mean(-1) > 0.1 * size
        rates[name] = float(np.mean((mirror < own)[apart])) if apart.any() else float("nan")
    return rates


def view_yaw(joints_mm):
    """Mean angle (degrees) between the subject's facing direction and the direction to the camera."""
    hips = joints_mm[:, JOINT_NAMES.index("left_hip")] - joints_mm[:, JOINT_NAMES.index("right_hip")]
    return float(np.degrees(np.arccos(hips[:, 0] / np.linalg.norm(hips[:, [0, 2]], axis=-1))).mean())


def video_metrics(person, corrected_keypoints, detect_fps, truth, joints_mm):
    """Detection metrics of one video; ``person``: the detector's :class:`PersonKeypoints` (before the swap
    correction), ``corrected_keypoints`` after it; ``truth (F, 17, 2)``: H36M joints in the video's pixels."""
    found = person.found
    raw = to_h36m(person.keypoints, KEYPOINT_FORMAT)[..., :2]
    corrected = to_h36m(corrected_keypoints, KEYPOINT_FORMAT)[..., :2]
    error = np.linalg.norm(corrected[found][:, DIRECT] - truth[found][:, DIRECT], axis=-1)
    size = body_size(truth[found])[:, None]
    return {"frames": int(len(found)), "found": float(found.mean()), "mean_px": float(error.mean()),
            "pck": float(np.mean(error < 0.1 * size)), "body_px": float(size.mean()),
            "swaps_before": swap_rates(raw[found], truth[found]), "swaps_after": swap_rates(corrected[found],
                                                                                             truth[found]),
            "detect_fps": detect_fps, "yaw": view_yaw(joints_mm)}


def lifted_errors(cfg, model, dataset, folder, name):
    """Per-action P1/P2 of the demo model on ``dataset`` (the pickle's schema), the protocol of train.py."""
    write_pkl(dataset, os.path.join(folder, name))

    reader = DataReaderH36M(n_frames=cfg.clip_len, sample_stride=cfg.sample_stride, data_stride_train=cfg.data_stride,
                            data_stride_test=cfg.clip_len, dt_root=folder, dt_file=name)
    import torch
    clips = torch.from_numpy(reader.get_sliced_data()[1])
    pred = np.concatenate([predict_pose3d(cfg, model, clips[i:i + 64]) for i in range(0, len(clips), 64)])
    return h36m_errors(pred, reader)


def command_fps(video):
    """Frames per second of the whole ``infer_wild.py --demo -v video`` command (a fresh process)."""
    import imageio_ffmpeg
    n_frames = imageio_ffmpeg.count_frames_and_secs(video)[0]
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, os.path.join(REPO, "infer_wild.py"), "--demo", "-v", video, "--out_path", out],
                       check=True, capture_output=True)
        return n_frames / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.path.join("data", "motion3d", "demo", "h36m_demo.pkl"),
                        help="the demo pickle (default: %(default)s)")
    parser.add_argument("--videos", default=os.path.join("data", "motion3d", "demo", "videos"),
                        help="the test videos of prepare_demo_data.py --test-videos (default: %(default)s)")
    parser.add_argument("--json", help="also write the numbers to this file")
    add_timing_arguments(parser, what="the whole command, a fresh process each")
    opts = parser.parse_args(argv)
    if not os.path.isfile(opts.data) or not os.path.isdir(opts.videos):
        raise UserError(f"make the demo data and test videos first: python tools/prepare_demo_data.py "
                        f"--test-videos {opts.videos}")
    run = BenchmarkRun(__file__, opts.allow_busy, timed=True, with_torch=True).start()
    data = read_pkl(opts.data)
    test = data["test"]
    cfg = load_config(DEMO_FILES["config"], TRAIN_POSE3D, training=False)  # the data options too
    model = load_model(cfg, DEMO_FILES["evaluate"], "pose3d", "cpu")
    videos = sorted(f[:-4] for f in os.listdir(opts.videos) if f.endswith(".mp4"))
    metrics, detected_2d, detected_conf, keep = {}, test["joint_2d"].copy(), test["confidence"].copy(), []
    for source in videos:
        frames = np.flatnonzero(test["source"] == source)
        camera = test["camera_name"][frames[0]]
        path = os.path.join(opts.videos, source + ".mp4")
        people, loaded = run.run(lambda: detect(path, max_people=1, correct_swaps=False), f"detecting {source}")
        person = people.people[0]  # a demo video shows one person
        keypoints, _ = correct_left_right_swaps(person.keypoints, person.found)
        scale = people.size[0] / CAMERA_RESOLUTION[camera][0]  # video pixels per camera pixel
        truth = test["joint3d_image"][frames][..., :2] * scale
        metrics[source] = dict(video_metrics(person, keypoints, people.frames_per_second, truth,
                                             test["joints_2.5d_image"][frames]),
                               action=str(test["action"][frames[0]]), camera=str(camera), under_load=loaded)
        h36m = to_h36m(keypoints[person.found], KEYPOINT_FORMAT)
        full, _ = fill_missing_frames(np.flatnonzero(person.found), h36m, len(frames))  # as infer_wild.py
        detected_2d[frames] = full[..., :2] / scale
        detected_conf[frames] = full[..., 2]
        keep.append(frames)
        m = metrics[source]
        print(f"{source} ({m['action']}, camera {m['camera']}, yaw {m['yaw']:.0f} deg): found {m['found']:.3f}, "
              f"{m['mean_px']:.1f} px, PCK@0.1 {m['pck']:.3f}, swaps {m['swaps_before']} -> {m['swaps_after']}, "
              f"{m['detect_fps']:.1f} frames/s")
    keep = np.concatenate(keep)
    subset = {key: value[keep] for key, value in test.items()}
    lifted = {}
    with tempfile.TemporaryDirectory() as folder:
        lifted["synthetic"] = lifted_errors(cfg, model, {"train": data["train"], "test": subset}, folder, "s.pkl")
        subset = dict(subset, joint_2d=detected_2d[keep].astype(np.float32),
                      confidence=detected_conf[keep].astype(np.float32))
        lifted["detected"] = lifted_errors(cfg, model, {"train": data["train"], "test": subset}, folder, "d.pkl")
    command = in_turn({"command": lambda: command_fps(os.path.join(opts.videos, videos[0] + ".mp4"))}, opts.rounds,
                      run).spread("command")
    print_tables(metrics, lifted, command, videos[0])
    print()
    record = run.finish()
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({**record, "videos": metrics, "command_fps": command.as_dict(),
                       "lifted": {k: {"P1": float(e["e1"]), "P2": float(e["e2"]),
                                      "per_action": {a: [float(p1), float(p2)] for a, p1, p2 in
                                                     zip(e["action_names"], e["P1"], e["P2"])}}
                                  for k, e in lifted.items()}}, f, indent=1)
    return 0


def print_tables(metrics, lifted, command, command_video):
    """The detection table, the 3D table and the whole command's frames/s (a :class:`Spread` over rounds)."""
    print("\n| clip | camera (yaw) | frames | found | mean error (px) | PCK@0.1 | arm swaps before → after "
          "| leg swaps before → after | detection frames/s |")
    print("|---|---|---|---|---|---|---|---|---|")

    def swaps(m, group):  # no frame with the two sides apart: no rate
        before, after = m["swaps_before"][group], m["swaps_after"][group]
        return "–" if np.isnan(before) else f"{100 * before:.1f} → {100 * after:.1f} %"
    for m in metrics.values():
        detect_fps = mark(f"{m['detect_fps']:.1f}", m["under_load"])
        print(f"| {m['action']} | {m['camera']} ({m['yaw']:.0f}°) | {m['frames']} | {100 * m['found']:.1f} % | "
              f"{m['mean_px']:.1f} | {100 * m['pck']:.1f} % | {swaps(m, 'arms')} | {swaps(m, 'legs')} | "
              f"{detect_fps} |")
    print("\n" + markdown_table({label: lifted[name] for name, label in (
        ("synthetic", "synthetic detections (what it was trained on)"),
        ("detected", "built-in detector on the rendered videos"))}, first="2D input of the demo model"))
    detection = Spread.of([m["detect_fps"] for m in metrics.values()], any(m["under_load"] for m in metrics.values()))
    print(mark(f"\ndetection frames/s over the {len(metrics)} videos (one pass each): {detection.cell(1)}",
               detection.under_load))
    print(mark(f"whole command (infer_wild.py --demo -v {command_video}.mp4), median (min-max) of "
               f"{len(command.values)} rounds: {command.cell(1)} frames/s", command.under_load))


if __name__ == "__main__":
    sys.exit(main())
