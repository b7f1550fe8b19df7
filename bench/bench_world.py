"""World motion (lib/world/) measured against known truth: the tables of docs/inference.md.

Two modes.

**Rendered pitched cameras** (``--scenes``; issue 25): the 36 scenes of ``lib.data.scenes.WORLD_PRESETS``
(``ground_p<pitch>_r<roll>_<cm>_<walk|standing|stepping>``: one person of 1.55, 1.75 or 1.95 m 6 m away, walking
across the view and turning out of it, standing, or walking on the spot as on a treadmill (the planted foot slides
back at walking speed); a static camera pitched 0, 10, 20 or 35 degrees down and rolled -5 to +5 degrees; 1280x720,
30 fps, 10 s), rendered into ``--scene_dir`` when missing (``tools/render_scenes.py --names world``)::

    python bench/bench_world.py --scenes [--names ground_p20_r-2.5_175cm_walk ...] [--inputs detector true_2d]
                                [--keep DIR [--reuse]] [--json FILE] [--markdown FILE]

Per scene the whole command runs in a fresh process, as a user would run it on that video (the demo model, the
built-in detector, the camera's true focal length and principal point, the person's true height)::

    python infer_wild.py --demo --vid_path <scene>.mp4 --out_path <run> --focal F --center CX CY --height H

and once more without ``--height`` (the 1.70 m default assumed), from the keypoints the first run detected (``-j
<run>/keypoints_2d.json -v <scene>.mp4``: the same keypoints, the detector skipped). Both runs are made a second time
from the true 2D keypoints instead (``--inputs true_2d``: the truth's pixels as a Halpe-26 file with heels and toes,
:func:`write_true_keypoints`, given with ``-j``), so that a table shows what the lifting and the world step give with
a perfect detector: the detector's errors on the rendered humanoid (ankles placed too high, a standing person found in
under half the frames) are a large part of the root, stature and flatness errors of the first. The run's outputs are
read back (``X3D.npy``, ``X3D.json``'s ``world.ground.up_in_camera``, ``keypoints_2d.json``); the camera-space motion
behind ``X3D_world.npy`` (the root trajectory, ``WorldMotion.to_world``) is not written to a file, so it is computed
again in this process by ``lib.world.world_of_tracks`` (as infer_wild.py) from those files, and checked to give the
written ``X3D_world.npy`` and ``X3D_world_feet.npy`` (within :data:`CONSISTENCY_MM`).

Metrics per clip, over the frames where the detector found the person (frames it filled in are not counted):

* **up** (deg): the angle between the estimated up (``X3D.json``) and the truth's ``up_in_camera``;
* **root** (mm, and % of the truth's distance): the median over frames of the camera-space pelvis error;
* **stature**: with ``--height`` the skeleton's stature is the given height exactly (lib/world/skeleton.py
  ``stature``), so what is measured is the world output's **eye height**: the median height of the skeleton's top
  joint above the output's floor (Y = 0 of ``X3D_world.npy``; the detector's BlazePose head_top is the eyes'
  midpoint) against the median height of the truth's eye midpoint above its floor, in %: it combines the skeleton's
  proportions (the stature model), the floor's height and the posture; without ``--height``, the stature used
  (1.70 m) against the truth's;
* **flatness** (mm): the rms distance of the output's sole points (heels and toes, camera space: ``X3D_world_feet``
  mapped back to the camera) at the frames where the truth's matching point is in contact (at most
  :data:`TRUTH_CONTACT_MM` above the floor: the heel with the heel, the toe with the big toe) from their own
  best-fit plane, and the **tilt** (deg) of that plane against the truth's floor (given only where the points
  spread at least :data:`MIN_PLANE_SPREAD_MM` across their main direction: a standing person's two heels do not);
* **feet** (mm): the camera-space position error of the ankles and of the heels and toes relative to the pelvis
  (the root's own error is the root column), mean over frames and points;
* **skating** (mm/frame): the output sole points' mean displacement along the truth's floor between consecutive
  frames in which the truth's point is in contact; the truth's own (the treadmill's slide for *stepping*) is given
  alongside.

**Before**: the same metrics for what the run gives without the world step: ``X3D.npy`` (pixels, root-relative
depth) in the camera's axes (up = the camera's -y), scaled to the true height (:func:`camera_axes_motion`: its
stature in pixels set to the height gives mm per pixel, hence the one distance ``focal x mm-per-pixel`` at which
the root is placed on its pixel's ray); the foot points are its ankles (no feet).

**Demo clips** (the default mode; before issue 25): the demo pickle's held-out H36M-style clips::

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

``--split train`` runs the same on the training clips (what the constants of lib/world/ were
tuned on).

Neither mode times anything, so it runs on a busy machine too; it prints the machine and its load
before and after (``lib/utils/benchmark.py``).
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from types import SimpleNamespace

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from lib.utils.benchmark import BenchmarkRun, machine_line  # noqa: E402

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




# ====================================================================== rendered pitched cameras (--scenes)

TRUTH_CONTACT_MM = 20.0  # a sole point of the truth is in contact when at most this high above the floor
MIN_PLANE_SPREAD_MM = 50.0  # a plane's tilt is reported only for points spread this much across their main direction
CONSISTENCY_MM = 1.0  # the world motion computed again here against the one the run wrote
TARGETS = {"up": 3.0, "root_pct": 5.0, "stature_pct": 3.0, "flatness": 10.0}  # issue 25 (stature: +-)
TRUTH_FEET = ("left_heel", "left_big_toe", "right_heel", "right_big_toe")  # the truth's lib.skeleton.FOOT_POINT_NAMES
TRUTH_HEELS = ("left_heel", "right_heel")  # the contacts of the ankles (lib.world.FEET order: left, right)
ANKLES = ("left_ankle", "right_ankle")
CAMERA_UP = np.array([0.0, -1.0, 0.0])  # up when the camera's axes are taken for the world's (before)


def plane_fit(points):
    """``(normal, offset, rms, spreads)``: the least-squares plane ``normal · p = offset`` through ``points (n, 3)``
    (the direction of least variance), the rms distance of the points from it and their standard deviations
    along its two in-plane axes, largest first."""
    points = np.asarray(points, dtype=np.float64)
    centre = points.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov((points - centre).T, bias=True))
    values = np.maximum(values, 0.0)
    normal = vectors[:, 0]
    return normal, float(normal @ centre), float(np.sqrt(values[0])), np.sqrt(values[[2, 1]])


def contact_flatness(points, up, min_spread=MIN_PLANE_SPREAD_MM):
    """``(rms mm, tilt deg)`` of sole points ``(n, 3)``: their rms distance from their best-fit plane, and the angle
    between its normal and ``up``; the tilt is nan when the points spread less than ``min_spread`` across their main
    direction (a line fixes no plane), both are nan with fewer than 3 points."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(points) < 3:
        return float("nan"), float("nan")
    normal, _, rms, spreads = plane_fit(points)
    tilt = math.degrees(math.acos(min(1.0, abs(float(normal @ up) / np.linalg.norm(up)))))
    return rms, tilt if spreads[1] >= min_spread else float("nan")


def truth_contacts(world_points, limit_mm=TRUTH_CONTACT_MM):
    """``(T, P)`` bool: the truth's sole points ``(T, P, 3)`` (world, y up, the floor at 0) at most ``limit_mm`` above
    the floor."""
    return np.asarray(world_points)[..., 1] <= limit_mm


def skating(points, contacts, up):
    """Mean displacement (mm per frame) along the floor (perpendicular to ``up``) of ``points (T, P, 3)`` between
    consecutive frames both flagged in ``contacts (T, P)``; nan without such frames."""
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    step = np.diff(np.asarray(points, dtype=np.float64), axis=0)
    step = step - (step @ up)[..., None] * up
    held = contacts[1:] & contacts[:-1]
    return float(np.linalg.norm(step, axis=-1)[held].mean()) if held.any() else float("nan")


def root_error(estimate, truth):
    """``(mm, %)``: the median over frames of the distance between camera-space roots ``(T, 3)``, and of that
    distance as a percentage of the truth's distance from the camera."""
    error = np.linalg.norm(np.asarray(estimate) - truth, axis=-1)
    return float(np.median(error)), float(np.median(100.0 * error / np.linalg.norm(truth, axis=-1)))


def camera_axes_motion(poses_px, focal, center, height_mm, top="head_top"):
    """The *before*: ``X3D.npy`` of a ``--pixel`` run ``(T, 17, 3)`` (x, y pixels, depth in pixels at the person's
    distance) as camera-space mm without the world step. Its stature (``lib.world.stature``, in pixels) set to
    ``height_mm`` gives the mm per pixel ``s``; the pose is scaled by it and its root placed on its pixel's ray at
    the one distance ``focal · s`` at which that scale matches the pixels (weak perspective)."""
    from lib.world import stature
    poses = np.asarray(poses_px, dtype=np.float64)
    relative = poses - poses[:, :1]
    scale = height_mm / stature(relative, top)
    root = np.column_stack([(poses[:, 0, :2] - np.asarray(center)) * scale, np.full(len(poses), focal * scale)])
    return relative * scale + root[:, None]


def score_clip(truth, valid, up, joints, feet=None, eye_height=None, top="head_top"):
    """The metrics of one output against a scene's truth (the arrays of its ``.npz``, one person) over the video
    frames ``valid (T,)``: ``up (3,)`` its up in camera axes, ``joints (T, 17, 3)`` and ``feet (T, 4, 3)`` (heels
    and toes; None: the ankles are the sole points) camera-space mm, ``eye_height (T,)`` its top joint's height
    above its floor (None: not measured); ``top`` what that joint is (``lib.skeleton.HEAD_TOP`` or ``EYES``)."""
    names = [str(n) for n in truth["keypoint_names"]]
    index = lambda keys: [names.index(k) for k in keys]  # noqa: E731
    cam, world = truth["keypoints_camera_mm"][0].astype(np.float64), truth["keypoints_world_mm"][0].astype(np.float64)
    true_up = truth["up_in_camera"].astype(np.float64)
    ankles = [JOINT_INDEX[a] for a in ANKLES]
    if feet is None:
        points, truth_points, contact_keys = joints[:, ankles], cam[:, index(ANKLES)], TRUTH_HEELS
    else:
        points, truth_points, contact_keys = feet, cam[:, index(TRUTH_FEET)], TRUTH_FEET
    contacts = truth_contacts(world[:, index(contact_keys)]) & valid[:, None]
    root_mm, root_pct = root_error(joints[valid, 0], cam[valid, 0])
    flatness, tilt = contact_flatness(points[contacts], true_up)
    truth_flatness, truth_tilt = contact_flatness(truth_points[contacts], true_up)
    relative = lambda p, root: p[valid] - root[valid, None]  # noqa: E731
    row = dict(up=angle_deg(up, true_up), root_mm=root_mm, root_pct=root_pct, flatness=flatness, tilt=tilt,
               truth_flatness=truth_flatness, contact_points=int(contacts.sum()),
               ankles=mpjpe(relative(joints[:, ankles], joints[:, 0]), relative(cam[:, index(ANKLES)], cam[:, 0])),
               skating=skating(points, contacts, true_up), truth_skating=skating(truth_points, contacts, true_up))
    if feet is not None:
        row["feet"] = mpjpe(relative(feet, joints[:, 0]), relative(cam[:, index(TRUTH_FEET)], cam[:, 0]))
    if eye_height is not None:
        true_top = world[:, index(("left_eye", "right_eye"))].mean(1) if top == "eyes" else world[:, names.index(
            "head_top")]
        row["stature_pct"] = 100.0 * (np.median(eye_height[valid]) / np.median(true_top[valid, 1]) - 1.0)
    return row


JOINT_INDEX = {name: j for j, name in enumerate(
    ("pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "spine", "thorax",
     "nose", "head_top", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist"))}


# Halpe-26 (lib.skeleton.HALPE26_TO_H36M) from the truth's keypoints: its "Head" is the head top, its "Neck" the
# thorax, its "Hip" the pelvis (the midpoints the format means); the feet are the truth's heels and toes
HALPE26_FROM_TRUTH = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                      "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                      "right_knee", "left_ankle", "right_ankle", "head_top", "thorax", "pelvis", "left_big_toe",
                      "right_big_toe", "left_small_toe", "right_small_toe", "left_heel", "right_heel")


def write_true_keypoints(truth, path, person=0):
    """The truth's pixel keypoints of ``person`` as an AlphaPose Halpe-26 file (every keypoint's score 1), at the
    frames where the person is in the picture: what a perfect 2D detector would give, so that a run from it
    (``-j``) measures the lifting and the world step alone."""
    from lib.data.wild_input import alphapose_results
    names = [str(n) for n in truth["keypoint_names"]]
    pixels = truth["keypoints_px"][person][:, [names.index(n) for n in HALPE26_FROM_TRUTH]].astype(np.float64)
    frames = np.flatnonzero(truth["present"][person] & truth["in_picture"][person])
    keypoints = np.concatenate([pixels[frames], np.ones(pixels[frames].shape[:-1] + (1,))], axis=-1)
    with open(path, "w") as f:
        json.dump(alphapose_results(keypoints, frames=frames), f)
    return path


def run_infer_wild(video, out, truth, height=True, keypoints=None):
    """``infer_wild.py --demo`` on ``video`` into ``out`` in a fresh process, with the truth's focal length and
    principal point and (``height``) the person's height; from the keypoint file ``keypoints`` instead of detecting.
    Returns its console output."""
    command = [sys.executable, os.path.join(REPO, "infer_wild.py"), "--demo", "--out_path", out,
               "--focal", f"{float(truth['focal_px']):g}", "--center"] + \
        [f"{float(v):g}" for v in truth["principal_point_px"]]
    command += ["-j", keypoints, "-v", video] if keypoints else ["--vid_path", video]
    if height:
        command += ["--height", f"{float(truth['stature_mm'][0]) / 1000:g}"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=dict(os.environ, TQDM_DISABLE="1"))
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def world_of_run(out, video, truth, height, keypoints=None):
    """What a run wrote in ``out`` and the camera-space motion behind it: ``(poses_px (T, 17, 3), track, motion,
    doc)``, the person's ``X3D.npy``, its ``PoseTrack`` (``keypoints_2d.json``), its ``WorldMotion`` computed again
    by ``lib.world.world_of_tracks`` (checked against the written ``X3D_world.npy``) and its ``X3D.json``. With
    several people detected, the one detected in most frames. When the run wrote no world motion (``world.skipped``:
    its root moved faster than a person runs), the motion it refused, with ``doc["world"]`` its description and
    ``skipped``. ``keypoints``: the keypoint file the run read (default:
    the one it wrote, ``out/keypoints_2d.json``)."""
    from lib.data.wild_input import load_wild_inputs
    from lib.world import world_of_tracks

    keypoints = keypoints or os.path.join(out, "keypoints_2d.json")
    inputs = load_wild_inputs(keypoints, video, None, None, None, None, None, 1)
    tracks = inputs.tracks
    stems = ["X3D"] if len(tracks) == 1 else [f"X3D_{t.name}" for t in tracks]
    results = [np.load(os.path.join(out, stem + ".npy")) for stem in stems]
    cli = SimpleNamespace(height=height, focal=float(truth["focal_px"]), fov=None,
                          center=[float(v) for v in truth["principal_point_px"]], up="y", smooth=False, pitch=None)
    motions = world_of_tracks(results, inputs, cli)
    k = int(np.argmax([t.detected.sum() for t in tracks]))
    motion, stem = motions[k], stems[k]
    with open(os.path.join(out, stem + ".json")) as f:
        doc = json.load(f)
    if "skipped" in doc["world"]:  # no world motion written (the root too fast): what it would have been
        if not motion.implausible:
            raise SystemExit(f"{out}: the run wrote no world motion, but computed again it is plausible")
        doc["world"] = dict(motion.describe(), skipped=doc["world"]["skipped"])
        return results[k], tracks[k], motion, doc, inputs.fmt.top
    written = [(motion.joints, stem + "_world.npy")] + ([(motion.feet, stem + "_world_feet.npy")]
                                                        if motion.feet is not None else [])
    for mine, name in written:
        gap = float(np.abs(mine - np.load(os.path.join(out, name))).max())
        if gap > CONSISTENCY_MM:
            raise SystemExit(f"{out}: the world motion computed again differs from {name} by {gap:.2f} mm")
    return results[k], tracks[k], motion, doc, inputs.fmt.top


def _padded(values, first, total):
    """``values`` of the frames ``first ...`` on the video's ``total`` frames, nan elsewhere."""
    padded = np.full((total,) + values.shape[1:], np.nan)
    padded[first:first + len(values)] = values
    return padded


def _cue_letters(doc):
    """The up cues the run used: P (contact plane), T (trunk), C (camera prior), G (--pitch)."""
    letters = {"contact plane": "P", "camera prior": "C", "--pitch": "G"}
    return "".join(letters.get(c["cue"], "T") for c in doc["world"]["ground"]["cues"] if c.get("used"))


def score_scene(name, video, truth, out, assumed_out, keypoints):
    """The row of one scene: the before, the after (``--height``) and the assumed-height run's figures; the runs read
    the keypoint file ``keypoints``."""
    total = truth["keypoints_camera_mm"].shape[1]
    focal, center = float(truth["focal_px"]), truth["principal_point_px"].astype(np.float64)
    height_mm = float(truth["stature_mm"][0])
    poses_px, track, motion, doc, top = world_of_run(out, video, truth, height_mm / 1000, keypoints)
    valid = track.detected & truth["present"][0]
    first = motion.first_frame
    in_span = np.zeros(total, bool)
    in_span[first:first + len(motion.joints)] = True
    valid &= in_span
    before = score_clip(truth, valid, CAMERA_UP, camera_axes_motion(poses_px, focal, center, height_mm, top))
    rotation, origin = motion.to_world
    up = np.array(doc["world"]["ground"]["up_in_camera"])
    after = score_clip(truth, valid, up, _padded(motion.camera_joints, first, total),
                       None if motion.feet is None else _padded(motion.feet @ rotation + origin, first, total),
                       _padded(motion.joints[:, JOINT_INDEX["head_top"], 1], first, total), top)
    _, _, assumed, assumed_doc, _ = world_of_run(assumed_out, video, truth, None, keypoints)
    assumed_root = _padded(assumed.camera_root, assumed.first_frame, total)
    cam_root = truth["keypoints_camera_mm"][0, :, 0].astype(np.float64)
    root_mm, root_pct = root_error(assumed_root[valid], cam_root[valid])
    ground = doc["world"]["ground"]
    return dict(scene=name, pitch=float(truth["pitch_deg"]), roll=float(truth["roll_deg"]), stature_mm=height_mm,
                motion=name.rsplit("_", 1)[1], frames=int(valid.sum()), total_frames=total, before=before, after=after,
                assumed=dict(up=angle_deg(np.array(assumed_doc["world"]["ground"]["up_in_camera"]),
                                          truth["up_in_camera"].astype(np.float64)),
                             root_mm=root_mm, root_pct=root_pct,
                             stature_pct=100.0 * (1000.0 * assumed_doc["world"]["height_m"] / height_mm - 1.0)),
                cues=_cue_letters(doc), up_sigma_deg=ground["up_sigma_deg"],
                estimated_pitch_deg=ground["camera_pitch_deg"], estimated_roll_deg=ground["camera_roll_deg"],
                reliable=ground["reliable"], skipped=doc["world"].get("skipped", ""),
                assumed_skipped=assumed_doc["world"].get("skipped", ""))


def _fmt(value, digits=1):
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _pair(row, key, digits=1):
    """``before → after`` of one metric (after alone where the before has none)."""
    before, after = row["before"].get(key), row["after"].get(key)
    return _fmt(after, digits) if before is None else f"{_fmt(before, digits)} → {_fmt(after, digits)}"


TABLE_COLUMNS = ("| clip | frames | up from | up error (°) | root error (% of distance) | root error (mm) | "
                 "eye height error (%) | flatness (mm) [truth] | plane tilt (°) | ankles (mm) | heels, toes (mm) | "
                 "skating (mm/frame) [truth] | without --height: root error (%) |")


def _table_row(label, row):
    truth_flat = row["after"].get("truth_flatness")
    truth_skate = row["after"].get("truth_skating")
    return (f"| {label} | {row.get('frames', '')} | {row.get('cues', '')} | {_pair(row, 'up')} | "
            f"{_pair(row, 'root_pct')} | {_pair(row, 'root_mm', 0)} | {_fmt(row['after'].get('stature_pct'))} | "
            f"{_pair(row, 'flatness')} [{_fmt(truth_flat)}] | {_pair(row, 'tilt')} | {_pair(row, 'ankles', 0)} | "
            f"{_fmt(row['after'].get('feet'), 0)} | {_pair(row, 'skating')} [{_fmt(truth_skate)}] | "
            f"{_fmt(row['assumed'].get('root_pct'))} |")


def _summary(rows, how):
    """One row of ``how`` (np.nanmedian, np.nanmax, ...) of every metric over ``rows``."""
    def over(part, key):
        values = [r[part].get(key, np.nan) for r in rows]
        values = [v for v in values if v is not None and np.isfinite(v)]
        return float(how(values)) if values else float("nan")
    summary = {part: {key: over(part, key) for key in rows[0][part]} for part in ("before", "after", "assumed")}
    if how is np.nanmax:  # the largest error either way
        summary["after"]["stature_pct"] = over_abs(rows, "after", "stature_pct", np.nanmax)
    return summary


def over_abs(rows, part, key, how):
    values = [abs(r[part][key]) for r in rows if np.isfinite(r[part].get(key, np.nan))]
    return float(how(values)) if values else float("nan")


def target_lines(rows):
    """Which clips meet each target of issue 25 (after, with --height)."""
    checks = (("up within 3°", "up", lambda v: v <= TARGETS["up"]),
              ("root within 5 % of the distance", "root_pct", lambda v: v <= TARGETS["root_pct"]),
              ("stature (eye height) within ±3 %", "stature_pct", lambda v: abs(v) <= TARGETS["stature_pct"]),
              ("flatness ≤ 10 mm", "flatness", lambda v: v <= TARGETS["flatness"]))
    lines = []
    for label, key, ok in checks:
        values = [(r["scene"], r["after"].get(key, np.nan)) for r in rows]
        measured = [(n, v) for n, v in values if np.isfinite(v)]
        skipped = {r["scene"] for r in rows if r["skipped"]}  # no world motion written: missed, whatever it measured
        passed = [n for n, v in measured if ok(v) and n not in skipped]
        worst = max(measured, key=lambda nv: abs(nv[1])) if measured else None
        failed = [n for n, v in measured if not ok(v) or n in skipped]
        lines.append(f"- {label}: {len(passed)} of {len(measured)} clips" +
                     (f" (worst {worst[0]}: {worst[1]:.1f})" if worst else "") +
                     (f"; missed on {', '.join(failed)}" if failed and len(failed) <= 12 else
                      f"; missed on {len(failed)} clips" if failed else ""))
    return lines


def scene_table(rows):
    """The markdown table: one row per clip, the median per pitch, the overall median and maximum."""
    lines = [TABLE_COLUMNS, "|" + "---|" * (TABLE_COLUMNS.count("|") - 1)]
    lines += [_table_row(r["scene"] + (" †" if r["skipped"] else ""), r) for r in rows]
    for pitch in sorted({r["pitch"] for r in rows}):
        group = [r for r in rows if r["pitch"] == pitch]
        lines.append(_table_row(f"**median, pitch {pitch:g}°** ({len(group)} clips)", _summary(group, np.nanmedian)))
    for motion in ("walk", "standing", "stepping"):
        group = [r for r in rows if r["motion"] == motion]
        if group:
            lines.append(_table_row(f"**median, {motion}** ({len(group)} clips)", _summary(group, np.nanmedian)))
    lines.append(_table_row(f"**median, all** ({len(rows)} clips)", _summary(rows, np.nanmedian)))
    lines.append(_table_row(f"**max, all** ({len(rows)} clips)", _summary(rows, np.nanmax)))
    lines.append(f"| **target** | | | ≤ {TARGETS['up']:g} | ≤ {TARGETS['root_pct']:g} | | "
                 f"±{TARGETS['stature_pct']:g} | ≤ {TARGETS['flatness']:g} | | | | | |")
    skipped = [r for r in rows if r["skipped"]]
    if skipped:
        lines += ["", "† infer_wild.py wrote no world motion: " + "; ".join(f"{r['scene']}: {r['skipped']}"
                                                                           for r in skipped) +
                  " (the row gives the motion it refused, computed again; it counts as missing every target)"]
    return "\n".join(lines)


INPUTS = {"detector": "the built-in detector's keypoints (the run a user makes)",
          "true_2d": "the true 2D keypoints (Halpe-26 with heels and toes, every score 1; the detector skipped): "
                     "the lifting and the world step alone"}


def measure_scene(name, video, truth, runs, source, reuse=False):
    """The row of one scene from one source of 2D keypoints (:data:`INPUTS`): its two runs (``--height``, and the
    height assumed from the same keypoints) in ``runs/<name>/<source>/``, made unless ``reuse`` finds them there."""
    folder = os.path.join(runs, name, source)
    out, assumed = os.path.join(folder, "height"), os.path.join(folder, "assumed")
    keypoints = os.path.join(out, "keypoints_2d.json") if source == "detector" else \
        os.path.join(folder, "true_keypoints.json")
    if not (reuse and os.path.isfile(keypoints) and os.path.isdir(assumed)):
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        if source == "detector":
            run_infer_wild(video, out, truth)
        else:
            run_infer_wild(video, out, truth, keypoints=write_true_keypoints(truth, keypoints))
        run_infer_wild(video, assumed, truth, height=False, keypoints=keypoints)
    return score_scene(name, video, truth, out, assumed, keypoints)


def scenes_main(cli):
    from lib.utils.benchmark import ensure_scene
    from lib.data.scenes import WORLD_PRESETS
    names = cli.names or list(WORLD_PRESETS)
    for name in names:
        if name not in WORLD_PRESETS:
            sys.exit(f"--names: '{name}' is not a world scene (tools/render_scenes.py --list)")
    os.makedirs(cli.scene_dir, exist_ok=True)
    scenes = {name: ensure_scene(cli.scene_dir, name) for name in names}  # rendered before the run starts
    run = BenchmarkRun(__file__, timed=False, with_torch=True).start()
    keep = tempfile.TemporaryDirectory() if cli.keep is None else None
    runs = keep.name if keep else cli.keep
    rows = {source: [] for source in dict.fromkeys(cli.inputs)}
    try:
        for name, (video, truth_path) in scenes.items():
            truth = dict(np.load(truth_path))
            for source in rows:
                row = measure_scene(name, video, truth, runs, source, cli.reuse)
                rows[source].append(row)
                print(f"  {name}, {source}: up {row['before']['up']:.1f} -> {row['after']['up']:.1f} deg "
                      f"({row['cues']}), root {row['before']['root_pct']:.1f} -> {row['after']['root_pct']:.1f} %, "
                      f"eye height {row['after'].get('stature_pct', float('nan')):+.1f} %, flatness "
                      f"{row['before']['flatness']:.1f} -> {row['after']['flatness']:.1f} mm", file=sys.stderr,
                      flush=True)
    finally:
        if keep:
            keep.cleanup()
    sections = []
    for source, source_rows in rows.items():
        up_gap = max(abs(r["assumed"]["up"] - r["after"]["up"]) for r in source_rows)
        assumed_root = [r["assumed"]["root_pct"] for r in source_rows]
        off = ", ".join(sorted({"{:+.1f} %".format(r["assumed"]["stature_pct"]) for r in source_rows}))
        sections.append("\n".join([
            f"From {INPUTS[source]}:", "", scene_table(source_rows), "", "Against the targets (after, with --height):",
            *target_lines(source_rows),
            f"Without --height (1.70 m assumed): the up error differs from the run with the height by at most "
            f"{up_gap:.3f}°; the stature is off by {off}; root error median {np.median(assumed_root):.1f} %, max "
            f"{np.max(assumed_root):.1f} %"]))
    print()
    print("\n\n".join(sections))
    record = run.finish()
    if cli.markdown:
        with open(cli.markdown, "w") as f:
            f.write(f"{machine_line(record['machine'])}\n\n" + "\n\n".join(sections) + "\n")
    if cli.json:
        with open(cli.json, "w") as f:
            json.dump({**record, "rows": rows}, f, indent=1)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEMO_DATA, help="the demo pickle (tools/prepare_demo_data.py)")
    parser.add_argument("--split", default="test", choices=["test", "train"])
    parser.add_argument("--clips", nargs="+", default=None, help="only these clips (default: all of the split)")
    parser.add_argument("--cameras", type=int, default=4, help="camera views per clip (at least 2)")
    parser.add_argument("--pixel", action="store_true", help="normalise by the frame size (infer_wild.py --pixel)")
    scenes = parser.add_argument_group("rendered pitched cameras (--scenes)")
    scenes.add_argument("--scenes", action="store_true", help="measure on the rendered world scenes "
                        "(lib.data.scenes.WORLD_PRESETS) instead of the demo pickle")
    scenes.add_argument("--names", nargs="+", default=None, metavar="SCENE", help="only these scenes (default: all 36)")
    scenes.add_argument("--scene_dir", default=os.path.join(REPO, "data", "scenes"),
                        help="folder of the rendered scenes (rendered there when missing; default %(default)s)")
    scenes.add_argument("--inputs", nargs="+", default=list(INPUTS), choices=list(INPUTS),
                        help="the 2D keypoints the runs start from: " + "; ".join(f"{k}: {v}" for k, v in
                                                                                 INPUTS.items()) + " (default: both)")
    scenes.add_argument("--keep", metavar="DIR", help="keep every run's outputs in DIR/<scene>/<input>/height and "
                        "DIR/<scene>/<input>/assumed (default: a temporary folder)")
    scenes.add_argument("--reuse", action="store_true", help="with --keep: score the runs already in DIR instead "
                        "of running infer_wild.py again (the world motion is still computed again and checked)")
    scenes.add_argument("--json", help="also write the figures to this JSON file")
    scenes.add_argument("--markdown", help="also write the machine line, the table and the targets to this file")
    cli = parser.parse_args(argv)
    if cli.reuse and not cli.keep:
        parser.error("--reuse scores the runs kept in --keep DIR: give --keep")
    if cli.scenes:
        return scenes_main(cli)
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
    n_frames = sum(len(v.keypoints) for v in views)
    print(f"{len(selected)} videos ({', '.join(clips)}; {cli.cameras} cameras each), {n_frames} frames, "
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
    print(f"ground truth skating on its own contacts: {after['skate_truth']:.2f} mm/frame; contact flags agree with "
          f"the ground truth's in {100 * after['contact_agreement']:.0f}% of the frames; reliable ground fits: "
          f"{100 * after['reliable']:.0f}%; mean camera distance {after['distance']:.0f} mm")
    print(f"constant bones alone (oracle-scaled, root-relative): {after['rr_oracle_fk']:.1f} mm vs "
          f"{table['before']['rr']:.1f} mm before ({100 * (after['rr_oracle_fk'] / table['before']['rr'] - 1):+.1f}%)")
    run.finish()
    return table


if __name__ == "__main__":
    main()
