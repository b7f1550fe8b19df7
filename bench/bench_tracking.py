"""Several people from a bare video (issue 24): identities, recall and speed on rendered scenes with known truth.

The scenes are ``lib.data.scenes.PRESETS`` (two or three humanoids that cross, hide each other, leave and come
back, at different depths, a camera 2.5-3 m high pitched down 15-27 degrees; docs/demo.md), rendered once into
``--scenes`` (default data/scenes; ``tools/render_scenes.py``). Per scene and detector mode (the default
``--max_people 6`` on three tiles of the frame (``--tiles 3``, the default on these 16:9 frames), the same on the
whole frame (``--tiles 1``) and ``--max_people 1``, the single-person mode), the whole command

    python infer_wild.py --demo-model --vid_path <scene>.mp4 --out_path <tmp>   (config MB_demo, checkpoint demo)

runs in a fresh process (detection, tracking, lifting, world motion, every file and the X3D_<id>.mp4 renders),
timed from start to exit; what it wrote in ``keypoints_2d.json`` (every person with their track id) is scored
against the truth, and ``lib.data.detector.detect()`` (decoding, detection and tracking) is timed alone in this
process on the same video.

**Scoring.** A detection is a person when the median distance of its 12 limb keypoints (shoulders, elbows, wrists,
hips, knees, ankles; left and right exchanged if that is nearer) to theirs is at most ``MATCH_DISTANCE`` of their
box height. The people counted in a frame are those in the picture with at least ``MIN_VISIBLE`` of their
silhouette visible; a detection of a person less visible than that is ignored (neither a hit nor a false
positive). ``motmetrics`` matches frame by frame (Hungarian, keeping earlier matches) and gives MOTA, IDF1,
fragmentations and its ID switches (IDSW: a person's track id changes, which includes a track ended in doubt
and a new one started, and a person re-entering under a new id). A **jump** (motmetrics' transfer) is a track
that moves from one person to another: the error the issue forbids. **Recall** is over the person-frames where a
person is at least 150 px tall and at most half hidden. A **false track** is a track id matched to nobody in
more than half of its frames.

    python bench/bench_tracking.py [--names cross occlude ...] [--rounds 1] [--allow-busy]
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
os.environ.setdefault("TQDM_DISABLE", "1")

from lib.utils.benchmark import BenchmarkRun, Spread, add_timing_arguments, ensure_scene, mark  # noqa: E402

MATCH_DISTANCE = 0.25  # of the person's box height
MIN_VISIBLE = 0.1      # people less visible than this are not counted (nor are detections of them)
RECALL_HEIGHT_PX = 150.0
RECALL_VISIBLE = 0.5
MODES = {"max_people 6, tiles 3 (default)": (6, 3), "max_people 6, tiles 1": (6, 1), "max_people 1": (1, 1)}
# (max_people, --tiles)
# the 12 limb keypoints: (scene keypoint name, BlazePose-33 landmark), and the left/right exchange
LIMBS = (("left_shoulder", 11), ("right_shoulder", 12), ("left_elbow", 13), ("right_elbow", 14),
         ("left_wrist", 15), ("right_wrist", 16), ("left_hip", 23), ("right_hip", 24), ("left_knee", 25),
         ("right_knee", 26), ("left_ankle", 27), ("right_ankle", 28))
MIRROR = [i ^ 1 for i in range(len(LIMBS))]
DEMO_MODEL = ("configs/pose3d/MB_demo.yaml", "checkpoint/demo/best_epoch.bin")


def read_tracks(path, n_frames):
    """``{track id: (F, 33, 3) keypoints with NaN where not found}`` from a keypoints_2d.json."""
    with open(path) as f:
        entries = json.load(f)
    tracks = {}
    for e in entries:
        t = int(str(e["image_id"]).split(".")[0])
        track = tracks.setdefault(int(e["idx"]), np.full((n_frames, 33, 3), np.nan))
        track[t] = np.asarray(e["keypoints"], dtype=np.float64).reshape(33, 3)
    return tracks


def distances(truth_px, height_px, detections):
    """(P, H) limb-keypoint distance of each detection to each person, in box heights (mirror allowed)."""
    if not len(detections) or not len(truth_px):
        return np.zeros((len(truth_px), len(detections)))
    d = np.linalg.norm(truth_px[:, None] - detections[None, :, :, :2], axis=-1)  # (P, H, 12)
    d_mirrored = np.linalg.norm(truth_px[:, None] - detections[None][:, :, MIRROR, :2], axis=-1)
    median = np.minimum(np.median(d, -1), np.median(d_mirrored, -1))
    return median / np.maximum(height_px, 1.0)[:, None]


def score(truth, tracks):
    """The figures of one run: ``tracks`` from :func:`read_tracks` against the scene's truth (npz arrays)."""
    import motmetrics as mm

    names = [str(n) for n in truth["keypoint_names"]]
    limb_truth = truth["keypoints_px"][:, :, [names.index(n) for n, _ in LIMBS]]  # (P, T, 12, 2)
    limbs = [i for _, i in LIMBS]
    visible, height = truth["visible_fraction"], truth["height_px"]
    counted = truth["in_picture"] & (visible >= MIN_VISIBLE)
    for_recall = counted & (height >= RECALL_HEIGHT_PX) & (visible >= RECALL_VISIBLE)
    acc = mm.MOTAccumulator(auto_id=False)
    ids = sorted(tracks)
    hits_in_recall, matched_frames, track_frames = 0, dict.fromkeys(ids, 0), dict.fromkeys(ids, 0)
    for t in range(truth["keypoints_px"].shape[1]):
        present = [h for h in ids if not np.isnan(tracks[h][t, :, 0]).all()]
        dets = np.stack([tracks[h][t, limbs] for h in present]) if present else np.zeros((0, 12, 3))
        people = np.flatnonzero(truth["in_picture"][:, t])
        dist = distances(limb_truth[people, t], height[people, t], dets)
        ignored = people[~counted[people, t]]
        # detections of a barely visible person: neither hits nor false positives
        keep = [j for j in range(len(present))
                if not any(dist[list(people).index(p), j] <= MATCH_DISTANCE for p in ignored)]
        rows = [k for k, p in enumerate(people) if counted[p, t]]
        cost = dist[np.ix_(rows, keep)]
        cost = np.where(cost <= MATCH_DISTANCE, cost, np.nan)
        acc.update([int(people[k]) for k in rows], [present[j] for j in keep], cost, frameid=t)
        for j in keep:
            track_frames[present[j]] += 1
    events = acc.mot_events
    matches = events[events.Type.isin(["MATCH", "SWITCH"])]  # (TRANSFER etc. repeat a SWITCH)
    for (t, _), row in matches.iterrows():
        if for_recall[int(row.OId), t]:
            hits_in_recall += 1
        matched_frames[int(row.HId)] += 1
    summary = mm.metrics.create().compute(acc, metrics=["mota", "idf1", "num_switches", "num_transfer",
                                                        "num_fragmentations", "recall", "num_false_positives"])
    false_tracks = sum(1 for h in ids if track_frames[h] and matched_frames[h] < 0.5 * track_frames[h])
    return {"people": int(truth["keypoints_px"].shape[0]), "tracks": len(ids), "false_tracks": false_tracks,
            "recall_150": hits_in_recall / max(int(for_recall.sum()), 1), "recall_all": float(summary["recall"][0]),
            "jumps": int(summary["num_transfer"][0]), "idsw": int(summary["num_switches"][0]),
            "fragmentations": int(summary["num_fragmentations"][0]), "mota": float(summary["mota"][0]),
            "idf1": float(summary["idf1"][0]), "false_positives": int(summary["num_false_positives"][0])}


def whole_run(video, mode, out):
    """Seconds of the whole command in a fresh process (start to exit)."""
    command = [sys.executable, os.path.join(REPO, "infer_wild.py"), "--config", DEMO_MODEL[0], "-e", DEMO_MODEL[1],
               "--vid_path", video, "--out_path", out, "--max_people", str(mode[0]), "--tiles", str(mode[1])]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=dict(os.environ, TQDM_DISABLE="1"))
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds


def detect_alone(video, mode):
    """Seconds of decoding, detection and tracking alone, in this process."""
    from lib.data.detector import detect

    start = time.perf_counter()
    detect(video, max_people=mode[0], tiles=mode[1], progress=False)
    return time.perf_counter() - start


def main():
    from lib.data.scenes import PRESETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", nargs="+", default=list(PRESETS), choices=list(PRESETS), metavar="SCENE")
    parser.add_argument("--scenes", default=os.path.join(REPO, "data", "scenes"),
                        help="folder of rendered scenes (rendered there when missing; default %(default)s)")
    parser.add_argument("--modes", default=";".join(MODES), help=f"detector modes, separated by ';' "
                        f"(default: {';'.join(MODES)})")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    add_timing_arguments(parser, rounds=1, what="the whole run and detection alone, in turn (each scene and mode)")
    cli = parser.parse_args()
    modes = [m.strip() for m in cli.modes.split(";")]
    for m in modes:
        if m not in MODES:
            parser.error(f"--modes: unknown mode '{m}' (expected {', '.join(MODES)})")
    os.makedirs(cli.scenes, exist_ok=True)
    scenes = {name: ensure_scene(cli.scenes, name) for name in cli.names}  # rendered before the load check
    run = BenchmarkRun(__file__, cli.allow_busy, timed=True, with_torch=True).start()
    rows = []
    for name, (video, truth_path) in scenes.items():
        truth = dict(np.load(truth_path))
        n_frames = truth["keypoints_px"].shape[1]
        for mode in modes:
            whole, alone, under_load = [], [], False
            for _ in range(cli.rounds):
                label = f"{name}, {mode}"
                with tempfile.TemporaryDirectory() as out:
                    seconds, busy = run.run(lambda: whole_run(video, MODES[mode], out), f"{label}, whole run")
                    figures = score(truth, read_tracks(os.path.join(out, "keypoints_2d.json"), n_frames))
                whole.append(seconds)
                seconds, busy_alone = run.run(lambda: detect_alone(video, MODES[mode]), f"{label}, detection")
                alone.append(seconds)
                under_load |= busy or busy_alone
            row = dict(scene=name, mode=mode, frames=n_frames, size="x".join(str(int(v)) for v in truth["image_size"]),
                       whole_fps=Spread.of([n_frames / s for s in whole]),
                       detect_fps=Spread.of([n_frames / s for s in alone]), under_load=under_load, **figures)
            rows.append(row)
            print(f"  {name}, {mode}: {figures}, whole {row['whole_fps'].cell(1)} fps, detection "
                  f"{row['detect_fps'].cell(1)} fps", file=sys.stderr)
    print(f"\nScenes of lib.data.scenes (30 fps, 10-12 s); whole run = infer_wild.py with the demo model from start to "
          f"exit; detection = decoding, detection and tracking alone; median (min-max) of {cli.rounds} round(s)\n")
    print("| scene | people | detector | tracks | false tracks | recall (≥150 px, ≤ half hidden) | jumps | IDSW | "
          "fragm. | MOTA | IDF1 | detection fps | whole run fps |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {mark(r['scene'], r['under_load'])} | {r['people']} | {r['mode']} | {r['tracks']} | "
              f"{r['false_tracks']} | {100 * r['recall_150']:.1f} % | {r['jumps']} | {r['idsw']} | "
              f"{r['fragmentations']} | {r['mota']:.3f} | {r['idf1']:.3f} | {r['detect_fps'].cell(1)} | "
              f"{r['whole_fps'].cell(1)} |")
    if cli.json:
        with open(cli.json, "w") as f:
            json.dump({**run.record(), "rows": [{k: (v.as_dict() if isinstance(v, Spread) else v)
                                                         for k, v in r.items()} for r in rows]}, f, indent=1)
    print()
    run.finish()


if __name__ == "__main__":
    main()
