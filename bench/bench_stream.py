"""Streaming lifting (lib/streaming.py): accuracy against look-ahead, and speed; the tables of docs/streaming.md.

    python bench/bench_stream.py accuracy   # P1/P2 against the ground truth and the offline result, jitter
    python bench/bench_stream.py speed      # latency and real-time factor at 30 fps input

``accuracy`` streams the held-out test videos of the demo data (walk, kick, dance_b, jump, four
cameras each: 16 videos, 6,484 frames; ``python tools/prepare_demo_data.py`` makes them) through
the demo model(s) for each look-ahead L and hop, and compares with the ground truth and with the
offline result of the same model (``lift_pixels``: overlapping windows, stride clip_len // 3).
P1/P2 are root-relative (mm, per-action means as train.py reports them); "to offline" is the
MPJPE (P-MPJPE) between the stream and the offline poses; jitter is the acceleration error (mm/frame²,
mean over joints and frames). For L >= clip_len - hop a stream equals offline lifting with
stride = hop (tests/test_streaming.py), so it is run once per hop and reported for every such L.

``speed`` feeds a 400-frame clip (examples/demo.mp4 there and back) frame by frame through the
built-in 2D detector and the streaming lifter (``--no_detector``: the lifter alone, on
examples/demo_alphapose.json), times each frame, and replays the measured times against frames
arriving at 30 fps: a frame waits while earlier ones are processed, and its latency runs from
its arrival to its pose being written (look-ahead included). The real-time factor is the compute
time per frame × 30 (≤ 1: keeps up). Models: the demo model (27 frames) and a Lite-size one
(MB_ft_h36m_global_lite.yaml, random weights: the released weights are not available here; speed
does not depend on them). The configurations take turns over ``--rounds`` rounds and each figure is
their median (min-max); a busy machine is refused unless ``--allow-busy``, which marks the figures
(``lib/utils/benchmark.py``). Both modes print the machine and its load before and after.
"""
import argparse
import contextlib
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars from the offline lifting

from lib.utils.benchmark import BenchmarkRun, add_timing_arguments, in_turn, mark  # noqa: E402

FPS = 30.0
DEMO_DATA = os.path.join(REPO, "data", "motion3d", "demo", "h36m_demo.pkl")
MODELS = {"demo": ("configs/pose3d/MB_demo.yaml", "checkpoint/demo/best_epoch.bin"),
          # the fine-tune of docs/streaming.md ("Training for the window's end"); not shipped
          "demo_stream": ("configs/pose3d/MB_demo_stream.yaml", "checkpoint/demo_stream_train/latest_epoch.bin"),
          "lite": ("configs/pose3d/MB_ft_h36m_global_lite.yaml", None)}
SPEED_CLIP = os.path.join(REPO, "examples", "demo_alphapose.json")


def _config(name):
    from lib.utils.config_schema import INFER_POSE3D, load_config
    return load_config(os.path.join(REPO, MODELS[name][0]), INFER_POSE3D)


def _load(name, threads=1):
    import torch

    from lib.inference import load_model
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg, checkpoint = _config(name), MODELS[name][1]
    with contextlib.redirect_stdout(sys.stderr):  # stdout: the tables only
        return load_model(cfg, checkpoint and os.path.join(REPO, checkpoint), "pose3d", "cpu"), cfg


# ------------------------------------------------------------------ accuracy

def demo_test_videos(path=DEMO_DATA):
    """The demo test split as videos: pixel keypoints, image size, ground truth (mm, root-relative), action."""
    from lib.data.datareader_h36m import CAMERA_RESOLUTION
    from lib.utils.tools import read_pkl
    if not os.path.isfile(path):
        sys.exit(f"{path} not found: run python tools/prepare_demo_data.py first")
    test = read_pkl(path)["test"]
    keypoints = np.concatenate([test["joint_2d"], test["confidence"][..., None]], axis=-1).astype(np.float64)
    gt = test["joints_2.5d_image"] - test["joints_2.5d_image"][:, :1]
    videos = []
    for source in dict.fromkeys(test["source"]):
        rows = np.nonzero(test["source"] == source)[0]
        videos.append(dict(source=source, action=test["action"][rows[0]], keypoints=keypoints[rows],
                           size=CAMERA_RESOLUTION[test["camera_name"][rows[0]]], gt=gt[rows],
                           factor=test["2.5d_factor"][rows]))
    return videos


def to_mm(poses_px, factor):
    """Pixel poses (z in the pixel scale) as root-relative millimetres, as train.py's evaluation."""
    return (poses_px - poses_px[:, :1]) * factor[:, None, None]


def acceleration(poses):
    return poses[2:] - 2 * poses[1:-1] + poses[:-2]


def _stream(model, cfg, video, lookahead, hop, normalization):
    from lib.streaming import StreamingLifter
    lifter = StreamingLifter(model, cfg, lookahead=lookahead, hop=hop, normalization=normalization,
                             image_size=video["size"])
    poses = {}
    for t, keypoints in enumerate(video["keypoints"]):
        poses.update((p.frame, p.pose) for p in lifter.push(keypoints, t))
    poses.update((p.frame, p.pose) for p in lifter.flush())
    assert len(poses) == len(video["keypoints"])
    return np.stack([poses[t] for t in range(len(poses))])


def _offline(model, cfg, video, normalization):
    from lib.data.wild_input import from_normalized, normalize_keypoints, pixel_mapping
    from lib.inference import lift, lift_pixels
    if normalization == "frame":
        return lift_pixels(video["keypoints"], video["size"], model, cfg, desc="offline")
    # infer_wild.py's default: the person's box over the whole video
    poses = lift(normalize_keypoints(video["keypoints"], scale_range=[1, 1]), model, cfg, desc="offline")
    return from_normalized(poses, pixel_mapping(video["keypoints"], scale_range=[1, 1]))


def _accuracy_task(task):
    """Poses (mm) of every test video for one configuration; runs in a worker process."""
    model_name, kind, normalization, lookahead, hop = task
    model, cfg = _MODEL_CACHE.get(model_name) or _MODEL_CACHE.setdefault(model_name, _load(model_name))
    started = time.perf_counter()
    out = []
    for video in _VIDEOS:
        poses = (_offline(model, cfg, video, normalization) if kind == "offline" else
                 _stream(model, cfg, video, lookahead, hop, normalization))
        out.append(to_mm(poses, video["factor"]))
    return task, out, time.perf_counter() - started


_MODEL_CACHE = {}
_VIDEOS = None


def _init_worker(n_videos):
    global _VIDEOS
    import torch
    torch.set_num_threads(1)
    _VIDEOS = demo_test_videos()[:n_videos]


METRICS = ("p1", "p2", "off", "off2", "acc_off", "acc_gt")


def _metrics(poses, videos, reference):
    from lib.model.loss import mpjpe, p_mpjpe
    by_action = {}
    for pred, ref, video in zip(poses, reference, videos):
        m = by_action.setdefault(video["action"], {k: [] for k in METRICS})
        m["p1"].append(mpjpe(pred, video["gt"]))
        m["p2"].append(p_mpjpe(pred, video["gt"]))
        m["off"].append(mpjpe(pred, ref))
        m["off2"].append(p_mpjpe(pred, ref))
        m["acc_off"].append(np.linalg.norm(acceleration(pred) - acceleration(ref), axis=-1).mean(axis=-1))
        m["acc_gt"].append(np.linalg.norm(acceleration(pred) - acceleration(video["gt"]), axis=-1).mean(axis=-1))
    return {k: float(np.mean([np.concatenate(m[k]).mean() for m in by_action.values()])) for k in METRICS}


def bench_accuracy(models, lookaheads, hops, normalizations, jobs, n_videos=None):
    from lib.streaming import full_lookahead
    videos = demo_test_videos()[:n_videos]
    tasks, rows = [], []
    for model_name in models:
        clip_len = _config(model_name).maxlen
        tasks += [(model_name, "offline", norm, None, None) for norm in ("frame", "box")]
        for norm in normalizations:
            for hop in hops:
                full = full_lookahead(clip_len, hop)
                tasks += [(model_name, "stream", norm, lookahead, hop) for lookahead in sorted(
                    {min(lookahead, full) for lookahead in lookaheads})]
    print(f"{len(tasks)} runs over {len(videos)} videos ({sum(len(v['keypoints']) for v in videos)} frames), "
          f"{jobs} processes", file=sys.stderr)
    results = {}
    with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(n_videos,)) as pool:
        for task, poses, seconds in pool.map(_accuracy_task, tasks):
            results[task] = poses
            print(f"  {task}: {seconds:.0f} s", file=sys.stderr)
    for model_name in models:
        clip_len = _config(model_name).maxlen
        reference = results[(model_name, "offline", "frame", None, None)]
        offline_p1 = _metrics(reference, videos, reference)["p1"]
        for norm in ("frame", "box"):
            m = _metrics(results[(model_name, "offline", norm, None, None)], videos, reference)
            rows.append((model_name, f"offline ({'image size' if norm == 'frame' else 'whole-video box'})", "", "",
                         m, m["p1"] / offline_p1))
        for norm in normalizations:
            for hop in hops:
                full = full_lookahead(clip_len, hop)
                for lookahead in lookaheads:
                    m = _metrics(results[(model_name, "stream", norm, min(lookahead, full), hop)], videos, reference)
                    rows.append((model_name, f"stream, {norm}", lookahead, hop, m, m["p1"] / offline_p1))
    print("\nP1/P2 (mm) against the ground truth, per-action means; "
          "'to offline' = MPJPE / P-MPJPE to the offline frame-normalised result (mm); jitter = acceleration error "
          "(mm/frame²)\n")
    print("| model | mode | L | hop | P1 | P2 | P1 / offline | P1 to offline | P2 to offline | jitter vs offline | "
          "jitter vs truth |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model_name, mode, lookahead, hop, m, ratio in rows:
        print(f"| {model_name} | {mode} | {lookahead} | {hop} | {m['p1']:.1f} | {m['p2']:.1f} | {ratio:.3f} | "
              f"{m['off']:.1f} | {m['off2']:.1f} | {m['acc_off']:.2f} | {m['acc_gt']:.2f} |")


# ------------------------------------------------------------------ speed

def speed_frames(n_frames):
    """The demo video's RGB frames there and back (``n_frames``, at most 400), and its AlphaPose keypoints (H36M
    pixels) in the same order, with the image size."""
    import imageio

    from lib.data.wild_input import load_wild_inputs
    video = os.path.join(REPO, "examples", "demo.mp4")
    reader = imageio.get_reader(video, "ffmpeg")
    images = [np.asarray(frame) for frame in reader]
    reader.close()
    keypoints = load_wild_inputs(SPEED_CLIP, video).tracks[0].keypoints
    order = np.concatenate([np.arange(len(images)), np.arange(len(images))[::-1]])[:n_frames]
    return [images[t] for t in order], keypoints[order], images[0].shape[1::-1]


def simulate_live(push_seconds, emitted, fps=FPS):
    """Latencies (s) of the emitted frames and the real-time factor when frame t arrives at t / fps.

    ``push_seconds[t]``: compute time of frame t; ``emitted[t]``: the frames whose poses its push
    released. Frames are processed in order, each when it has arrived and the previous one is done.
    """
    done, latencies = 0.0, []
    for t, seconds in enumerate(push_seconds):
        done = max(done, t / fps) + seconds
        latencies += [done - s / fps for s in emitted[t]]
    return np.array(latencies), float(np.mean(push_seconds) * fps)


def _speed_case(model_name, clip_len, precision, threads, lookahead, hop, images, keypoints, size, detector):
    """One configuration fed frame by frame: with ``detector``, each image through the built-in 2D detector (a
    new session) and its keypoints to the lifter, else the file's keypoints; compute times per frame."""
    import torch

    from lib.data.stream_input import FrameDetector
    from lib.streaming import StreamingLifter
    model, cfg = _load(model_name, threads)
    StreamingLifter(model, cfg, clip_len, 0, 1, "frame", size, precision).push(keypoints[0])  # warm-up: one run
    lifter = StreamingLifter(model, cfg, clip_len, lookahead, hop, "frame", size, precision)
    detect = FrameDetector() if detector else None
    if detect is not None:
        detect(images[0])  # warm-up
    push_seconds, detect_seconds, emitted, window_seconds = [], [], [], []
    try:
        for t, image in enumerate(images):
            started = time.perf_counter()
            frame = detect(image) if detect is not None else keypoints[t]
            detected = time.perf_counter()
            before = lifter.windows_run
            out = lifter.push(frame, t)
            done = time.perf_counter()
            if lifter.windows_run > before:
                window_seconds.append(done - detected)
            detect_seconds.append(detected - started)
            push_seconds.append(done - started)
            emitted.append([p.frame for p in out])
    finally:
        if detect is not None:
            detect.close()
    latencies, rtf = simulate_live(push_seconds, emitted)
    return dict(model=model_name, clip_len=clip_len, precision=precision, threads=torch.get_num_threads(),
                lookahead=lookahead, hop=hop,
                window_ms=1000 * statistics.median(window_seconds) if window_seconds else float("nan"),
                detect_ms=1000 * float(np.mean(detect_seconds)), frame_ms=1000 * float(np.mean(push_seconds)),
                rtf=rtf, latency_median=float(np.median(latencies)), latency_p95=float(np.percentile(latencies, 95)))


SPEED_CASES = [  # (model, clip_len, lookahead, hop)
    ("demo", 27, 0, 1), ("demo", 27, 9, 1), ("demo", 27, 9, 3), ("demo", 27, 13, 3), ("demo", 27, 0, 9),
    ("lite", 243, 9, 32), ("lite", 243, 121, 64), ("lite", 81, 9, 16), ("lite", 81, 9, 27), ("lite", 27, 9, 9),
]


SPEED_FIGURES = (  # a speed case's figures: (key, digits)
    ("window_ms", 0), ("detect_ms", 1), ("frame_ms", 1), ("rtf", 2), ("latency_median", 2), ("latency_p95", 2))


def bench_speed(precisions, threads_list, frames, detector=True, rounds=1, run=None):
    """Every configuration (threads × precision × SPEED_CASES) fed the clip in turn, ``rounds`` times, with
    ``run``'s load checks after each configuration; the table of their medians (min-max)."""
    images, keypoints, size = speed_frames(frames)
    cases = {(threads, precision) + case: (lambda t=threads, p=precision, c=case: _speed_case(
        c[0], c[1], p, t, c[2], c[3], images, keypoints, size, detector))
        for threads in threads_list for precision in precisions for case in SPEED_CASES}
    measured = in_turn(cases, rounds, run, check_each_call=True)
    for key in cases:
        print(f"  {key}: {measured.values[key]}", file=sys.stderr)
    source = ("the built-in 2D detector (MediaPipe BlazePose) on each frame, then the lifter" if detector else
              "keypoints from examples/demo_alphapose.json: lifting only")
    print(f"\n{len(keypoints)} frames ({size[0]}x{size[1]}) fed at {FPS:g} fps; {source}; median (min-max) of "
          f"{rounds} rounds, the configurations taking turns\n")
    print("| model | clip_len | precision | threads | L | hop | ms/window | detector ms/frame | ms/frame (all) | "
          "real-time factor | latency median (s) | latency p95 (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, results in measured.values.items():
        r = results[0]
        figures = {name: measured.spread(key, lambda v, n=name: v[n]) for name, _ in SPEED_FIGURES}
        cells = {name: figures[name].cell(digits) for name, digits in SPEED_FIGURES}
        behind = " (falls behind)" if figures["rtf"].median > 1 else ""
        print(f"| {mark(r['model'], any(measured.under_load))} | {r['clip_len']} | {r['precision']} | {r['threads']} | "
              f"{r['lookahead']} | {r['hop']} | {cells['window_ms']} | {cells['detect_ms']} | {cells['frame_ms']} | "
              f"{cells['rtf']}{behind} | {cells['latency_median']} | {cells['latency_p95']} |")


def _int_list(text):
    return [int(v) for v in text.split(",")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["accuracy", "speed"])
    parser.add_argument("--models", default="demo,demo_stream",
                        help="accuracy: demo (the shipped model), demo_stream (its streaming fine-tune, "
                             "once trained) or NAME=CONFIG:CHECKPOINT (default demo,demo_stream)")
    parser.add_argument("--lookaheads", type=_int_list, default=[0, 4, 9, 13, 27, 81, 121])
    parser.add_argument("--hops", type=_int_list, default=[1, 3, 9])
    parser.add_argument("--normalizations", default="frame,window")
    parser.add_argument("--jobs", type=int, default=2, help="accuracy: worker processes (one thread each)")
    parser.add_argument("--videos", type=int, default=None, help="accuracy: only the first N test videos")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--threads", type=_int_list, default=[2, 1], help="speed: torch threads")
    parser.add_argument("--frames", type=int, default=400, help="speed: frames fed (at most 400)")
    parser.add_argument("--no_detector", action="store_true",
                        help="speed: lift the keypoint file's keypoints, without the 2D detector")
    add_timing_arguments(parser, what="the speed configurations, taking turns (speed only)")
    cli = parser.parse_args()
    run = BenchmarkRun(__file__, cli.allow_busy, timed=cli.what == "speed", with_torch=True).start()
    if cli.what == "accuracy":
        models = []
        for model in cli.models.split(","):
            if "=" in model:
                model, files = model.split("=", 1)
                MODELS[model] = tuple(files.split(":", 1))
            if MODELS[model][1] and not os.path.isfile(os.path.join(REPO, MODELS[model][1])):
                print(f"skipping {model}: {MODELS[model][1]} not found", file=sys.stderr)
                continue
            models.append(model)
        bench_accuracy(models, cli.lookaheads, cli.hops, cli.normalizations.split(","), cli.jobs, cli.videos)
    else:
        bench_speed(cli.precisions.split(","), cli.threads, cli.frames, not cli.no_detector, cli.rounds, run)
    print()
    run.finish()


if __name__ == "__main__":
    main()
