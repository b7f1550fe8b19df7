"""World motion (lib/world.py) against the demo's camera-space ground truth: the table of docs/inference.md.

    python tools/prepare_demo_data.py        # once: data/motion3d/demo/h36m_demo.pkl
    python bench/bench_world.py [--split test] [--clips walk kick] [--cameras 4] [--pixel]

The demo model (checkpoint/demo/best_epoch.bin) lifts the synthetic detections (``joint_2d``,
``confidence``: projections plus detector-like noise) of every held-out clip seen by each camera,
as ``infer_wild.py`` does (its default normalisation, or ``--pixel``), at the data's 50 fps. Rows:

* **before (oracle scale)**: today's output, root-relative, times the one factor per video that
  fits the ground truth best (no trajectory, no world);
* **after**: ``world_motion`` with the cameras' true intrinsics (``--focal`` and the principal
  point given), the default 1.70 m height (the demo subject's); with ``--smooth``; without the
  foot lock; and with the assumed intrinsics (no ``--focal``).

Metrics, frame-weighted over the videos: root-relative MPJPE without alignment (mm; camera axes);
root trajectory error in camera space (mm, and % of the mean camera distance); world MPJPE over
100-frame segments after a rigid alignment of each segment's first frame (mm; the ground truth's
world is the camera's, levelled: the demo cameras follow the subject without turning); the
bone-length coefficient of variation (%); the tilt error of the estimated up vector (deg); foot
skating (mm per frame) of the ankles during the ground truth's contacts (``foot_contacts`` on the
ground truth); acceleration error (mm/frame², root-relative joints).

``--split train`` runs the same on the training clips (what the constants of lib/world.py were
tuned on). It times nothing, so it runs on a busy machine too; it prints the machine and its load
before and after (``lib/utils/benchmark.py``).
"""
import argparse
import os
import sys
from dataclasses import dataclass

from types import SimpleNamespace

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from lib.utils.benchmark import BenchmarkRun  # noqa: E402

DEMO_DATA = os.path.join(REPO, "data", "motion3d", "demo", "h36m_demo.pkl")
FPS = 50.0
SEGMENT = 100


def videos(split):
    """``[(source, frame slice)]`` of the contiguous videos of a split of the demo pickle."""
    sources = split["source"]
    starts = np.flatnonzero(np.r_[True, sources[1:] != sources[:-1]])
    ends = np.r_[starts[1:], len(sources)]
    return [(sources[s], slice(s, e)) for s, e in zip(starts, ends)]


def oracle_scaled(pred, target):
    """``pred`` times the least-squares factor that fits it to ``target``."""
    return pred * (np.sum(pred * target) / np.sum(pred * pred))


def mpjpe(pred, target):
    return float(np.linalg.norm(pred - target, axis=-1).mean())


def root_relative(poses):
    return poses - poses[:, :1]


def world_mpjpe(pred, target, segment=SEGMENT):
    """Mean joint error over ``segment``-frame pieces, each rigidly aligned (rotation, translation) on its
    first frame."""
    from lib.world import best_rotation
    errors = []
    segment = min(segment, len(pred))  # a shorter clip is one segment
    for start in range(0, len(pred) - segment + 1, segment):
        p, t = pred[start:start + segment], target[start:start + segment]
        pc, tc = p[0].mean(0), t[0].mean(0)
        rotation = best_rotation((p[0] - pc)[None], (t[0] - tc)[None])[0]
        errors.append(np.linalg.norm((p - pc) @ rotation.T + tc - t, axis=-1).mean())
    return float(np.mean(errors)) if errors else float("nan")


def acceleration_error(pred, target):
    return float(np.linalg.norm(np.diff(pred, 2, axis=0) - np.diff(target, 2, axis=0), axis=-1).mean())


def angle_deg(a, b):
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


@dataclass
class View:
    """One clip seen by one demo camera held still: the detections and the ground truth of its frames."""
    name: str
    keypoints: np.ndarray    # (F, 17, 3) pixels and confidence
    truth_cam: np.ndarray    # (F, 17, 3) camera coordinates, mm
    truth_world: np.ndarray  # (F, 17, 3) the demo's world (y up, floor at 0), mm
    rotation: np.ndarray     # (3, 3) world -> camera
    focal: float
    center: np.ndarray
    size: tuple


def static_view(split, frames, min_depth_mm=2500.0):
    """The video ``frames`` of the demo pickle as a static camera would have filmed it.

    The demo's cameras follow the subject; here each camera stays at the one position (among every
    10th frame's) that keeps the subject in view longest (all joints inside the image, at least
    ``min_depth_mm`` away), and only that run of frames is used. The detections are the
    projections plus the video's own detector errors (``joint_2d − joint3d_image``) and
    confidences: the tool's detector-like noise.
    """
    from lib.data.datareader_h36m import CAMERA_RESOLUTION
    rotation, positions = split["camera_rotation"][frames][0], split["camera_position"][frames]
    focal, center = float(split["camera_focal"][frames][0]), split["camera_center"][frames][0]
    size = CAMERA_RESOLUTION[split["camera_name"][frames][0]]
    world = split["joints_cam_mm"][frames].astype(np.float64) @ rotation + positions[:, None]
    best = (0, 0, 0)  # run length, its last frame, camera frame
    for k in range(0, len(world), 10):
        cam = (world - positions[k]) @ rotation.T
        pixels = focal * cam[..., :2] / np.maximum(cam[..., 2:], 1.0) + center
        visible = (cam[..., 2] > min_depth_mm).all(1) & (pixels >= 0).all((1, 2)) & (pixels < size).all((1, 2))
        run = 0
        for t, ok in enumerate(visible):
            run = run + 1 if ok else 0
            if run > best[0]:
                best = (run, t, k)
    length, last, k = best
    keep = slice(last - length + 1, last + 1)
    truth_cam = (world[keep] - positions[k]) @ rotation.T
    error = split["joint_2d"][frames][keep] - split["joint3d_image"][frames][keep][..., :2]
    pixels = focal * truth_cam[..., :2] / truth_cam[..., 2:] + center + error
    keypoints = np.concatenate([pixels, split["confidence"][frames][keep][..., None]], -1)
    return View(split["source"][frames][0], keypoints, truth_cam, world[keep], rotation, focal, center, size)


def lift_views(views, pixel):
    """The demo model's output ``(F, 17, 3)`` for each view, as infer_wild.py lifts it."""
    from lib.data.wild_input import normalize_keypoints
    from lib.inference import lift, load_demo_model, normalization
    model, cfg = load_demo_model()
    return [lift(normalize_keypoints(view.keypoints, **normalization(SimpleNamespace(pixel=pixel), view)),
                 model, cfg, desc=view.name) for view in views]


def score_view(view, lifted, variant):
    """Metrics of one view for one row of the table."""
    from lib.world import DEFAULT_HEIGHT_M, FEET, bone_length_variation, foot_contacts, foot_skating, world_motion
    rr_truth = root_relative(view.truth_cam)
    if variant == "before":
        pred = oracle_scaled(root_relative(lifted.astype(np.float64)), rr_truth)
        return dict(rr=mpjpe(pred, rr_truth), cov=100 * bone_length_variation(pred),
                    accel=acceleration_error(pred, rr_truth))
    options = {"smooth": variant == "smooth", "foot_lock": variant != "no foot lock"}
    if variant != "assumed intrinsics":
        options.update(focal=view.focal, center=view.center)
    motion = world_motion(lifted, view.keypoints, view.size, FPS, **options)
    truth_contacts = foot_contacts(view.truth_world[:, list(FEET)], FPS, 1000 * DEFAULT_HEIGHT_M)
    # the world as the camera sees it: levelled camera axes (what a static-camera estimate can give)
    truth_level = view.truth_cam @ view.rotation
    rr_pred = root_relative(motion.camera_joints)
    distance = view.truth_cam[:, 0, 2].mean()
    row = dict(rr=mpjpe(rr_pred, rr_truth), cov=100 * bone_length_variation(motion.joints),
               accel=acceleration_error(rr_pred, rr_truth),
               traj=float(np.linalg.norm(motion.camera_root - view.truth_cam[:, 0], axis=-1).mean()),
               wmpjpe=world_mpjpe(motion.joints, truth_level),
               tilt=angle_deg(motion.ground.up, view.rotation @ np.array([0.0, 1.0, 0.0])),
               skate=foot_skating(motion.joints[:, list(FEET)], truth_contacts, 1 if motion.up == "y" else 2),
               skate_truth=foot_skating(view.truth_world[:, list(FEET)], truth_contacts),
               contact_agreement=float((motion.contacts == truth_contacts).mean()),
               rr_oracle_fk=mpjpe(oracle_scaled(rr_pred, rr_truth), rr_truth),
               reliable=float(motion.ground.reliable), distance=distance)
    row["traj_pct"] = 100 * row["traj"] / distance
    return row


VARIANTS = ("before", "after", "smooth", "no foot lock", "assumed intrinsics")
LABELS = {"before": "before: today's output x oracle scale", "after": "after: world_motion, true intrinsics",
          "smooth": "after, --smooth", "no foot lock": "after, without the foot lock",
          "assumed intrinsics": "after, assumed intrinsics (no --focal)"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEMO_DATA, help="the demo pickle (tools/prepare_demo_data.py)")
    parser.add_argument("--split", default="test", choices=["test", "train"])
    parser.add_argument("--clips", nargs="+", default=None, help="only these clips (default: all of the split)")
    parser.add_argument("--cameras", type=int, default=4, help="camera views per clip (at least 2)")
    parser.add_argument("--pixel", action="store_true", help="normalise by the frame size (infer_wild.py --pixel)")
    cli = parser.parse_args(argv)
    if not os.path.isfile(cli.data):
        sys.exit(f"{cli.data} not found: run python tools/prepare_demo_data.py first")
    run = BenchmarkRun(__file__, timed=False, with_torch=True).start()
    from lib.utils.tools import read_pkl
    split = read_pkl(cli.data)[cli.split]
    selected = [(s, f) for s, f in videos(split)
                if (cli.clips is None or split["action"][f][0] in cli.clips) and int(s[-2:]) <= cli.cameras]
    views = [static_view(split, f) for _, f in selected]
    lifted = lift_views(views, cli.pixel)
    table = {}
    for variant in VARIANTS:
        rows = [(len(view.keypoints), score_view(view, out, variant)) for view, out in zip(views, lifted)]
        weights = np.array([n for n, _ in rows], dtype=np.float64)
        table[variant] = {key: float(np.average([r[key] for _, r in rows], weights=weights))
                          for key in rows[0][1]}
    clips = sorted({split["action"][f][0] for _, f in selected})
    print(f"{len(selected)} videos ({', '.join(clips)}; {cli.cameras} cameras each), {sum(len(v.keypoints) for v in views)} frames, "
          f"{'--pixel' if cli.pixel else 'default'} normalisation")
    print("| | root-rel. MPJPE (mm) | trajectory (mm) | trajectory (% of distance) | W-MPJPE100 (mm) | bone CoV (%) "
          "| tilt (deg) | skating (mm/frame) | accel. error (mm/frame²) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for variant, row in table.items():
        cell = lambda key, fmt="{:.1f}": fmt.format(row[key]) if key in row else "–"  # noqa: E731
        print(f"| {LABELS[variant]} | {cell('rr')} | {cell('traj', '{:.0f}')} | {cell('traj_pct')} | "
              f"{cell('wmpjpe')} | {cell('cov', '{:.2f}')} | {cell('tilt', '{:.2f}')} | {cell('skate', '{:.2f}')} | "
              f"{cell('accel', '{:.2f}')} |")
    after = table["after"]
    print(f"ground truth skating on its own contacts: {after['skate_truth']:.2f} mm/frame; contact flags agree with the ground truth's in {100 * after['contact_agreement']:.0f}% of the frames; reliable ground fits: "
          f"{100 * after['reliable']:.0f}%; mean camera distance {after['distance']:.0f} mm")
    print(f"constant bones alone (oracle-scaled, root-relative): {after['rr_oracle_fk']:.1f} mm vs "
          f"{table['before']['rr']:.1f} mm before ({100 * (after['rr_oracle_fk'] / table['before']['rr'] - 1):+.1f}%)")
    run.finish()
    return table


if __name__ == "__main__":
    main()
