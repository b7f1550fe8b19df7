"""World motion: lifted 3D poses as metric, upright, world-grounded motion (docs/inference.md, "World motion").

The lifting models give each frame's pose in the normalised units of the 2D input, in the camera's
axes, with bones whose lengths change from frame to frame and no root trajectory in depth.
:func:`world_motion` turns them into motion that an animation or biomechanics tool can take:

1. **metric scale**: the skeleton's standing height (:func:`standing_height`, from median bone
   lengths) is set to the person's height;
2. **one skeleton** (:func:`fit_skeleton`): constant bone lengths, and a rigid pelvis (hips, spine)
   and shoulder girdle (shoulders, neck). Each frame keeps its bone directions as joint rotations
   (:func:`solve_rotations`); the joints are their forward kinematics, so every exported format
   (BVH rotations, TRC and CSV positions) describes the same motion;
3. **camera-space root trajectory** (:func:`root_trajectory`): each frame's root translation that
   projects the metric pose onto the 2D keypoints (confidence-weighted linear least squares, the
   closed form of SMPL camera translation), smoothed over time (:func:`whittaker`);
4. **upright world** (:func:`fit_ground`, :func:`world_frame`): for a static camera, the ground plane
   fitted robustly to the ankles while in contact; up becomes +Y (or +Z), the floor height 0 and
   the first frame's root stands above the origin. A poor fit (a moving camera) is reported and
   the camera's own axes are kept instead of a tilted world;
5. **foot contact** (:func:`foot_contacts`) from the ankles' height and speed, and a trajectory
   refinement that holds a foot in place while it is in contact (less foot skating);
6. optional **smoothing** of the poses (:func:`smooth_poses`, Savitzky–Golay).

Axes. Camera: x right, y down, z forward (away from the camera), as the models' output. World
(``up="y"``): X to the camera's right along the floor, Y up, Z along the floor towards the camera
(right-handed; the first frame's root at X = Z = 0, the floor at Y = 0). ``up="z"``: X the same,
Y away from the camera, Z up. Lengths in millimetres.

Pure NumPy/SciPy; skeleton facts from :mod:`lib.skeleton`.
"""
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.ndimage import median_filter
from scipy.signal import savgol_filter
from scipy.sparse.linalg import spsolve

from lib.export import EXPORT_FORMATS, parse_export_formats
from lib.skeleton import (CHILDREN, FLIP_PERMUTATION, JOINT_NAMES, JOINT_SIDES, LEFT, MIDDLE, NUM_JOINTS, PARENTS,
                          ROOT)
from lib.utils.errors import OptionError

DEFAULT_HEIGHT_M = 1.70
HEIGHT_RANGE_M = (0.5, 2.5)
UP_AXES = ("y", "z")
# Height of the ankle joint above the sole of a standing person (Winter, Biomechanics and Motor
# Control of Human Movement, segment lengths: 0.039 of the body height).
ANKLE_HEIGHT_FRACTION = 0.039
# Root trajectory smoothing: the period (s) below which motion is damped, per camera axis (x, y, z).
# Depth comes from the pose's apparent size and is the noisiest.
TRAJECTORY_CUTOFF_S = (0.1, 0.1, 0.4)
# Foot contact: the ankle at most this much (fraction of the body height) above its standing height,
# moving slower than this (body heights per second).
CONTACT_HEIGHT_FRACTION = 0.05
CONTACT_SPEED_FRACTION = 0.3
SPEED_WINDOW_S = 0.1  # speeds are measured over +-this
# How strongly a foot in contact is held in place, against the camera trajectory's per-frame estimate.
FOOT_LOCK_WEIGHT = 10.0
# Ground fit: RANSAC inlier distance (fraction of the body height), and what makes a fit reliable.
GROUND_INLIER_FRACTION = 0.02
GROUND_MIN_INLIERS = 0.6
GROUND_MAX_RMS_FRACTION = 0.012
GROUND_MIN_STILL = 0.25  # of the frames, with a foot slower than the contact speed
# --smooth: Savitzky-Golay window (s) and polynomial order.
SMOOTH_WINDOW_S = 0.2
SMOOTH_ORDER = 2

JOINT = {name: j for j, name in enumerate(JOINT_NAMES)}
# Joints with several children move as one rigid segment: the pelvis and the thorax (shoulder girdle).
SEGMENTS = tuple(j for j in range(NUM_JOINTS) if len(CHILDREN[j]) > 1)
LEAVES = tuple(j for j in range(NUM_JOINTS) if not CHILDREN[j])
FEET = (JOINT["left_ankle"], JOINT["right_ankle"])  # the order of the contact flags
HEAD = JOINT["head_top"]
# End sites (BVH leaves) continue their joint's bone by this fraction of its length.
END_SITE_FRACTION = 0.2


def _chain(joint):
    """The joints from ``joint`` up to the root's child: the child joints of the bones on the way to the root."""
    chain = []
    while joint != ROOT:
        chain.append(joint)
        joint = PARENTS[joint]
    return chain


def _normalize(v, eps=1e-9):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


# ------------------------------------------------------------------ options

def check_world_options(height=None, focal=None, fov=None, up="y"):
    """Raise :class:`OptionError` for a height outside 0.5-2.5 m, a focal length or field of view that is
    not positive (fov < 180°), both of them, or an unknown up axis."""
    if height is not None and not (HEIGHT_RANGE_M[0] <= height <= HEIGHT_RANGE_M[1]):
        raise OptionError(f"--height is the person's height in metres, between {HEIGHT_RANGE_M[0]} and "
                          f"{HEIGHT_RANGE_M[1]}; got {height:g}")
    if focal is not None and not (math.isfinite(focal) and focal > 0):
        raise OptionError(f"--focal is the camera's focal length in pixels and must be positive; got {focal:g}")
    if fov is not None and not (math.isfinite(fov) and 0 < fov < 180):
        raise OptionError(f"--fov is the camera's horizontal field of view in degrees, between 0 and 180; "
                          f"got {fov:g}")
    if focal is not None and fov is not None:
        raise OptionError("--focal and --fov both give the focal length: give one of them")
    if up not in UP_AXES:
        raise OptionError(f"--up must be one of {', '.join(UP_AXES)}; got {up!r}")


# ------------------------------------------------------------------ bones, height, skeleton

def bone_lengths(poses):
    """``(..., 17, 3)`` poses → ``(..., 17)`` length of the bone ending at each joint (0 at the root)."""
    poses = np.asarray(poses, dtype=np.float64)
    parents = [ROOT if p is None else p for p in PARENTS]
    return np.linalg.norm(poses - poses[..., parents, :], axis=-1)


def bone_length_variation(poses):
    """Mean over bones of the coefficient of variation (std / mean) of each bone's length over the frames."""
    lengths = bone_lengths(poses)[:, [j for j in range(NUM_JOINTS) if j != ROOT]]
    return float(np.mean(lengths.std(axis=0) / np.maximum(lengths.mean(axis=0), 1e-12)))


def standing_height(lengths):
    """The standing height of a skeleton with bone lengths ``(..., 17)``: the mean of both legs (ankle-knee-
    hip) plus pelvis-spine-thorax-nose-head top.

    The hip-pelvis bone is left out: it is horizontal when standing. The neck and head bones are not
    vertical either, which about makes up for the height of the ankle above the sole: on the demo's
    1.70 m subject (tools/prepare_demo_data.py) this gives 1.711 m.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    leg = np.mean([lengths[..., _chain(foot)[:-1]].sum(axis=-1) for foot in FEET], axis=0)
    return leg + lengths[..., _chain(HEAD)].sum(axis=-1)


def metric_scale(poses, height_mm):
    """The factor that gives root-relative ``poses (F, 17, 3)`` (any unit) the standing height ``height_mm``:
    :func:`standing_height` of their median bone lengths."""
    return height_mm / standing_height(np.median(bone_lengths(poses), axis=0))


def _mirror_children(segment):
    """``(left child, right child)`` of a segment joint."""
    left = next(c for c in CHILDREN[segment] if JOINT_SIDES[c] == LEFT)
    return left, FLIP_PERMUTATION[left]


def segment_frames(poses):
    """``{segment joint: (..., 3, 3)}``: per frame, the segment's axes as columns, from its children only (so
    they move with it): X from its right to its left child, Y towards its middle child (orthogonalised),
    Z = X × Y (forward)."""
    frames = {}
    for segment in SEGMENTS:
        left, right = _mirror_children(segment)
        middle = next(c for c in CHILDREN[segment] if JOINT_SIDES[c] == MIDDLE)
        x = _normalize(poses[..., left, :] - poses[..., right, :])
        up = poses[..., middle, :] - poses[..., segment, :]
        y = _normalize(up - np.sum(up * x, axis=-1, keepdims=True) * x)
        frames[segment] = np.stack([x, y, np.cross(x, y)], axis=-1)
    return frames


@dataclass
class Skeleton:
    """Rest pose: ``offsets[j]`` is joint j relative to its parent (mm; axes: X the person's left, Y up,
    Z forward); ``end_sites[j]`` the end of leaf joint j's bone, relative to it."""
    offsets: np.ndarray
    end_sites: dict

    @property
    def lengths(self):
        return np.linalg.norm(self.offsets, axis=-1)

    def transformed(self, matrix):
        """The same skeleton with its axes mapped by ``matrix (3, 3)``."""
        return Skeleton(self.offsets @ matrix.T, {j: matrix @ v for j, v in self.end_sites.items()})


def _rest_direction(joint):
    """Rest direction of the bone ending at ``joint`` when its parent has one child: a T-pose (legs down,
    arms out to their side, the rest up)."""
    if JOINT_SIDES[joint] == MIDDLE:
        return np.array([0.0, 1.0, 0.0])
    segment = joint
    while segment not in SEGMENTS:
        segment = PARENTS[segment]
    if PARENTS[segment] is None:  # a leg
        return np.array([0.0, -1.0, 0.0])
    return np.array([1.0 if JOINT_SIDES[joint] == LEFT else -1.0, 0.0, 0.0])


def fit_skeleton(poses):
    """One :class:`Skeleton` for root-relative poses ``(F, 17, 3)``: median bone lengths; the pelvis and
    thorax segments' median shape in their own frames (:func:`segment_frames`); other bones in a T-pose."""
    poses = np.asarray(poses, dtype=np.float64)
    lengths = np.median(bone_lengths(poses), axis=0)
    offsets = np.zeros((NUM_JOINTS, 3))
    frames = segment_frames(poses)
    for joint in range(NUM_JOINTS):
        parent = PARENTS[joint]
        if parent is None:
            continue
        if parent in SEGMENTS:
            local = np.einsum("fij,fi->fj", frames[parent], poses[:, joint] - poses[:, parent])
            direction = _normalize(np.median(_normalize(local), axis=0))
        else:
            direction = _rest_direction(joint)
        offsets[joint] = lengths[joint] * direction
    end_sites = {leaf: END_SITE_FRACTION * offsets[leaf] for leaf in LEAVES}
    return Skeleton(offsets, end_sites)


def _shortest_rotation(a, b):
    """``(..., 3, 3)`` rotations taking unit vectors ``a`` to ``b`` by the shortest arc."""
    axis = np.cross(a, b)
    cos = np.sum(a * b, axis=-1)
    # opposite vectors: a half turn about any axis perpendicular to a
    other = np.where(np.abs(a[..., :1]) < 0.9, np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    half_turn = _normalize(np.cross(a, other))
    opposite = cos < -1 + 1e-9
    k = np.zeros(axis.shape + (3,))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = axis[..., 2], -axis[..., 1], axis[..., 0]
    rotation = np.eye(3) + k + k @ k / np.maximum(1 + cos, 1e-12)[..., None, None]
    flip = 2 * half_turn[..., :, None] * half_turn[..., None, :] - np.eye(3)
    return np.where(opposite[..., None, None], flip, rotation)


def best_rotation(source, target):
    """``(F, 3, 3)`` rotations R minimising ``Σ_i ‖R·source_i − target_i‖²`` (Kabsch) for ``(F, n, 3)`` vectors."""
    h = np.einsum("fni,fnj->fij", target, source)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, 2] *= d[..., None]
    return u @ vt


def solve_rotations(poses, skeleton):
    """Global joint rotations ``(F, 17, 3, 3)`` that carry ``skeleton``'s rest pose onto root-relative
    ``poses (F, 17, 3)``: a segment's by the best fit of its children's directions (so the pelvis and the
    thorax turn with the hips and the shoulders), a one-child joint's by the shortest arc from its parent's
    (no added twist), a leaf's as its parent's."""
    poses = np.asarray(poses, dtype=np.float64)
    rotations = np.zeros(poses.shape[:1] + (NUM_JOINTS, 3, 3))
    rest = _normalize(skeleton.offsets)
    for joint in range(NUM_JOINTS):
        parent = PARENTS[joint]
        inherited = np.broadcast_to(np.eye(3), (len(poses), 3, 3)) if parent is None else rotations[:, parent]
        children = CHILDREN[joint]
        if len(children) > 1:
            current = _normalize(poses[:, children] - poses[:, joint:joint + 1])
            rotations[:, joint] = best_rotation(np.broadcast_to(rest[list(children)], current.shape), current)
        elif len(children) == 1:
            child = children[0]
            carried = np.einsum("fij,j->fi", inherited, rest[child])
            current = _normalize(poses[:, child] - poses[:, joint])
            rotations[:, joint] = _shortest_rotation(carried, current) @ inherited
        else:
            rotations[:, joint] = inherited
    return rotations


def forward_kinematics(offsets, rotations, root=None):
    """Joint positions ``(F, 17, 3)`` of rest ``offsets (17, 3)`` under global ``rotations (F, 17, 3, 3)``,
    the root at ``root (F, 3)`` (default the origin)."""
    joints = np.zeros(rotations.shape[:1] + (NUM_JOINTS, 3))
    if root is not None:
        joints[:, ROOT] = root
    for joint in range(NUM_JOINTS):
        parent = PARENTS[joint]
        if parent is not None:
            joints[:, joint] = joints[:, parent] + np.einsum("fij,j->fi", rotations[:, parent], offsets[joint])
    return joints


def smooth_poses(poses, fps, window_s=SMOOTH_WINDOW_S, order=SMOOTH_ORDER):
    """Savitzky-Golay filter over time (``scipy.signal.savgol_filter``), a window of ``window_s`` seconds
    (odd, at least ``order + 3`` frames); sequences shorter than the window are returned as they are."""
    window = max(order + 3, int(round(window_s * fps)) // 2 * 2 + 1)
    if len(poses) < window:
        return np.asarray(poses, dtype=np.float64)
    return savgol_filter(np.asarray(poses, dtype=np.float64), window, order, axis=0, mode="interp")


# ------------------------------------------------------------------ camera and root trajectory

@dataclass
class Intrinsics:
    """A pinhole camera: focal length and principal point in pixels; ``assumed`` when not given."""
    focal: float
    center: tuple
    image_size: tuple
    assumed: bool
    source: str  # how the focal length was obtained

    @property
    def horizontal_fov(self):
        return math.degrees(2 * math.atan(self.image_size[0] / (2 * self.focal)))

    def project(self, points):
        """Camera coordinates ``(..., 3)`` → pixels ``(..., 2)``."""
        return self.focal * points[..., :2] / points[..., 2:3] + np.asarray(self.center)

    def describe(self):
        return {"focal_px": round(self.focal, 3), "principal_point_px": [round(float(c), 3) for c in self.center],
                "image_size": list(self.image_size), "horizontal_fov_deg": round(self.horizontal_fov, 3),
                "assumed": self.assumed, "source": self.source}


def camera_intrinsics(image_size, focal=None, fov=None, center=None):
    """:class:`Intrinsics` of ``image_size = (w, h)`` images: ``focal`` (px), else from the horizontal field
    of view ``fov`` (degrees), else assumed: the image diagonal (53° diagonally), a common guess for an
    unknown camera. The principal point is ``center`` or the image centre."""
    w, h = image_size
    center = tuple(center) if center is not None else (w / 2.0, h / 2.0)
    if focal is not None:
        return Intrinsics(float(focal), center, (w, h), False, "given (--focal)")
    if fov is not None:
        return Intrinsics(w / (2 * math.tan(math.radians(fov) / 2)), center, (w, h), False, "given (--fov)")
    return Intrinsics(math.hypot(w, h), center, (w, h), True,
                      "assumed: focal length = image diagonal (53.1 degrees diagonal field of view)")


def translations_per_frame(poses, keypoints_px, confidence, intrinsics):
    """Each frame's root translation ``(F, 3)`` (camera, mm) that best projects root-relative ``poses (F, J, 3)``
    (mm) onto ``keypoints_px (F, J, 2)``, and its weight ``(F,)`` (the sum of the confidences).

    For every joint, ``f·(X + tx) = (u − cx)·(Z + tz)`` and the same for y: linear in the translation,
    solved by confidence-weighted least squares (the closed form used for SMPL camera translation,
    ``lib.utils.utils_mesh.estimate_translation_np``, here for all frames at once). Frames without
    confidence get weight 0.
    """
    f, (cx, cy) = intrinsics.focal, intrinsics.center
    u = keypoints_px[..., 0] - cx
    v = keypoints_px[..., 1] - cy
    x, y, z = np.moveaxis(np.asarray(poses, dtype=np.float64), -1, 0)
    w = np.asarray(confidence, dtype=np.float64)
    zeros = np.zeros_like(u)
    rows = np.concatenate([np.stack([np.full_like(u, f), zeros, -u], -1), np.stack([zeros, np.full_like(v, f), -v], -1)],
                          axis=1)  # (F, 2J, 3)
    rhs = np.concatenate([u * z - f * x, v * z - f * y], axis=1)
    weights = np.concatenate([w, w], axis=1)
    normal = np.einsum("fn,fni,fnj->fij", weights, rows, rows)
    weight = w.sum(axis=1)
    solvable = (weight > 0) & (np.linalg.cond(normal + np.eye(3) * (weight <= 0)[:, None, None]) < 1e12)
    normal[~solvable] = np.eye(3)
    translation = np.linalg.solve(normal, np.einsum("fn,fni,fn->fi", weights, rows, rhs)[..., None])[..., 0]
    return np.where(solvable[:, None], translation, 0.0), np.where(solvable, weight, 0.0)


def whittaker(values, weights, cutoff_frames, locks=()):
    """Whittaker smoother of ``values (F, D)``: minimises ``Σ w_t ‖x_t − values_t‖² + λ_d ‖Δ²x‖²`` per column d,
    with ``λ = (cutoff_frames / 2π)⁴`` (the period at which the gain falls to one half; one per column).

    ``locks``: ``(flags (F,) bool, offsets (F, D), weight)`` terms ``weight · Σ ‖(x + offsets)_{t+1} −
    (x + offsets)_t‖²`` over frames t with ``flags[t] and flags[t+1]``: a point ``x + offsets`` (a foot) that
    should stay still while flagged. Frames with weight 0 are interpolated.
    """
    values = np.asarray(values, dtype=np.float64)
    n, columns = values.shape
    weights = np.asarray(weights, dtype=np.float64)
    if n < 3:
        total = max(weights.sum(), 1e-12)
        return np.repeat((weights[:, None] * values).sum(0, keepdims=True) / total, n, axis=0)
    weights = weights / max(weights.mean(), 1e-12)
    second = sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(n - 2, n))
    first = sparse.diags([-1.0, 1.0], [0, 1], shape=(n - 1, n))
    base = sparse.diags(weights)
    rhs = weights[:, None] * values
    lock_matrix = sparse.csr_matrix((n, n))
    for flags, offsets, weight in locks:
        held = np.asarray(flags[:-1] & flags[1:], dtype=np.float64)
        step = sparse.diags(held) @ first
        lock_matrix = lock_matrix + weight * (step.T @ step)
        rhs = rhs - weight * (step.T @ (step @ np.asarray(offsets, dtype=np.float64)))
    out = np.empty_like(values)
    for d in range(columns):
        lam = (np.atleast_1d(cutoff_frames)[min(d, np.size(cutoff_frames) - 1)] / (2 * np.pi)) ** 4
        system = (base + lam * (second.T @ second) + lock_matrix).tocsc()
        out[:, d] = spsolve(system, rhs[:, d])
    return out


def root_trajectory(poses, keypoints_px, confidence, intrinsics, fps, locks=()):
    """The smoothed camera-space root trajectory ``(F, 3)`` (mm) of root-relative ``poses (F, 17, 3)`` (mm):
    :func:`translations_per_frame`, then :func:`whittaker` with :data:`TRAJECTORY_CUTOFF_S` (and foot
    ``locks``)."""
    estimate, weight = translations_per_frame(poses, keypoints_px, confidence, intrinsics)
    if not (weight > 0).any():
        raise ValueError("no frame has a keypoint with confidence above 0")
    cutoff = [s * fps for s in TRAJECTORY_CUTOFF_S]
    return whittaker(estimate, weight, cutoff, locks)


# ------------------------------------------------------------------ ground, world frame, contacts

@dataclass
class GroundFit:
    """The floor in camera coordinates: ``up · p = offset`` (``up`` a unit vector); the plane fitted through
    the ankles in contact is ``ankle_height`` above it."""
    up: np.ndarray
    offset: float
    rms: float                 # mm, distance of the inlier ankles to their plane
    inlier_fraction: float
    n_points: int
    reliable: bool
    reason: str = ""

    @property
    def tilt_deg(self):
        """Angle between the estimated up and the camera's up (−y): the camera's tilt over the floor."""
        return math.degrees(math.acos(np.clip(-self.up[1], -1.0, 1.0)))

    def describe(self):
        return {"up_in_camera": [round(float(v), 6) for v in self.up], "tilt_deg": round(self.tilt_deg, 3),
                "rms_mm": round(self.rms, 3), "inlier_fraction": round(self.inlier_fraction, 4),
                "n_points": self.n_points, "reliable": self.reliable, "note": self.reason}


def _speed(points, fps, window_s=SPEED_WINDOW_S):
    """``(F, ..., 3)`` → ``(F, ...)`` speed (units per second) by central differences over ±``window_s`` (at least
    one frame): long enough that the jitter of lifted joints does not look like motion."""
    half = max(1, int(round(window_s * fps)))
    if len(points) < 2:
        return np.zeros(points.shape[:-1])
    padded = np.concatenate([points[:1].repeat(half, 0), points, points[-1:].repeat(half, 0)])
    return np.linalg.norm(padded[2 * half:] - padded[:-2 * half], axis=-1) * fps / (2 * half)


def _plane(points, prior_up, prior_weight):
    """Least-squares plane ``(normal, offset)`` through ``points (n, 3)``; ``prior_weight`` pulls the normal
    towards ``prior_up`` (it decides when the points span less than a plane, e.g. standing still)."""
    centre = points.mean(axis=0)
    scatter = (points - centre).T @ (points - centre) + prior_weight * (np.eye(3) - np.outer(prior_up, prior_up))
    normal = np.linalg.eigh(scatter)[1][:, 0]
    normal = normal if normal @ prior_up >= 0 else -normal
    return normal, float(normal @ centre)


def fit_ground(ankles, heads, fps, height_mm, seed=0):
    """The floor (:class:`GroundFit`) from camera-space ankles ``(F, 2, 3)`` and head tops ``(F, 3)`` (mm).

    Candidates: the ankles while they move slower than the contact speed (a foot in the air moves
    faster). RANSAC (inliers within :data:`GROUND_INLIER_FRACTION` of the height), then least
    squares on the inliers, held towards the body's mean up (ankles to head) by a weak prior. Unreliable
    (a moving camera, or too little data): a foot still in fewer than :data:`GROUND_MIN_STILL` of the
    frames, fewer than :data:`GROUND_MIN_INLIERS` inliers or their rms above
    :data:`GROUND_MAX_RMS_FRACTION` of the height; then the camera's up is returned.
    """
    camera_up = np.array([0.0, -1.0, 0.0])
    ankle_height = ANKLE_HEIGHT_FRACTION * height_mm
    slow = _speed(ankles, fps) < CONTACT_SPEED_FRACTION * height_mm
    points = ankles[slow] if slow.sum() >= 3 else ankles.reshape(-1, 3)
    # the body's mean up (ankles to head) decides what the footprints leave open: a straight walk's
    # footprints lie along a line, which fixes no roll about it
    body_up = _normalize(np.mean(_normalize(heads - ankles.mean(axis=1)), axis=0))
    threshold = GROUND_INLIER_FRACTION * height_mm
    prior_weight = len(points) * (0.05 * height_mm) ** 2

    def fallback(reason):
        offset = float(np.percentile(ankles.reshape(-1, 3) @ camera_up, 5)) - ankle_height
        return GroundFit(camera_up, offset, float("nan"), 0.0, len(points), False, reason)

    if len(points) < 3:
        return fallback("too few frames to fit the ground")
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(200):
        sample = points[rng.choice(len(points), 3, replace=False)]
        normal = np.cross(sample[1] - sample[0], sample[2] - sample[0])
        if np.linalg.norm(normal) < 1e-9:
            continue
        normal = _normalize(normal)
        inliers = np.abs((points - sample[0]) @ normal) < threshold
        if best is None or inliers.sum() > best.sum():
            best = inliers
    if best is None or best.sum() < 3:
        return fallback("the ankles fit no plane")
    up, offset = _plane(points[best], body_up, prior_weight)
    for _ in range(2):  # refine the inlier set on the least-squares plane
        inliers = np.abs(points @ up - offset) < threshold
        if inliers.sum() >= 3:
            up, offset = _plane(points[inliers], body_up, prior_weight)
    if np.mean(heads @ up - offset) < 0:  # the body stands on the floor, not under it
        up, offset = -up, -offset
    rms = float(np.sqrt(np.mean((points[inliers] @ up - offset) ** 2)))
    fraction = float(inliers.mean())
    fit = GroundFit(up, offset - ankle_height, rms, fraction, len(points), True)
    still = float(slow.any(axis=1).mean())
    if still < GROUND_MIN_STILL:
        unreliable = fallback(f"the feet are still in only {100 * still:.0f}% of the frames (a moving camera, or "
                              f"no steps on the ground): the camera's axes are kept (up = image up), not levelled")
        unreliable.rms, unreliable.inlier_fraction = rms, fraction
        return unreliable
    if fraction < GROUND_MIN_INLIERS or rms > GROUND_MAX_RMS_FRACTION * height_mm:
        unreliable = fallback(f"poor ground plane fit ({100 * fraction:.0f}% of the foot contacts within "
                              f"{threshold:.0f} mm, rms {rms:.0f} mm): a moving camera? The camera's axes are "
                              f"kept (up = image up), not levelled")
        unreliable.rms, unreliable.inlier_fraction = rms, fraction
        return unreliable
    return fit


def world_frame(ground, first_root, up="y"):
    """``(rotation (3, 3), origin (3,))``: world = rotation · (camera − origin). Y (or Z with ``up="z"``) along
    ``ground.up``, X the camera's right along the floor, the origin on the floor below ``first_root``."""
    y = ground.up
    toward_camera = np.array([0.0, 0.0, -1.0])
    z = toward_camera - (toward_camera @ y) * y
    if np.linalg.norm(z) < 1e-6:  # looking straight down: the image's down is "towards the camera"
        z = np.array([0.0, 1.0, 0.0]) - y[1] * y
    z = _normalize(z)
    rotation = np.stack([np.cross(y, z), y, z])
    if up == "z":
        rotation = Z_UP @ rotation
    origin = first_root - (first_root @ ground.up - ground.offset) * ground.up
    return rotation, origin


# Y-up world → Z-up world: (X, Y, Z) → (X, −Z, Y)
Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def foot_contacts(ankles, fps, height_mm, up_axis=1):
    """``(F, 2)`` bool: is each ankle of world-frame ``ankles (F, 2, 3)`` (floor at 0) in contact?

    In contact: at most :data:`CONTACT_HEIGHT_FRACTION` of the height above the ankle's standing height
    and slower than :data:`CONTACT_SPEED_FRACTION` heights per second (over ±0.1 s); a median filter over 0.1 s
    removes single-frame flicker.
    """
    height = ankles[..., up_axis]
    limit = (ANKLE_HEIGHT_FRACTION + CONTACT_HEIGHT_FRACTION) * height_mm
    contact = (height < limit) & (_speed(ankles, fps) < CONTACT_SPEED_FRACTION * height_mm)
    size = max(3, int(round(0.1 * fps)) // 2 * 2 + 1)
    if len(contact) >= size:
        contact = median_filter(contact.astype(np.uint8), size=(size, 1), mode="nearest").astype(bool)
    return contact


def foot_skating(ankles, contacts, up_axis=1):
    """Mean horizontal displacement per frame (mm) of world-frame ``ankles (F, 2, 3)`` over consecutive
    frames both flagged in ``contacts (F, 2)``; nan without such frames."""
    horizontal = [a for a in range(3) if a != up_axis]
    step = np.linalg.norm(np.diff(ankles[..., horizontal], axis=0), axis=-1)
    held = contacts[1:] & contacts[:-1]
    return float(step[held].mean()) if held.any() else float("nan")


# ------------------------------------------------------------------ the pipeline

@dataclass
class WorldMotion:
    """Metric world motion of one person (see the module docstring for axes and units)."""
    joints: np.ndarray          # (F, 17, 3) world, mm
    rotations: np.ndarray       # (F, 17, 3, 3) global joint rotations (world), rest pose = skeleton
    skeleton: Skeleton          # rest offsets in the world's axes
    contacts: np.ndarray        # (F, 2) bool: left, right ankle in contact
    camera_joints: np.ndarray   # (F, 17, 3) camera coordinates, mm (root-relative without a trajectory)
    camera_root: np.ndarray     # (F, 3) camera-space root trajectory, mm (None: not solved)
    ground: GroundFit
    to_world: tuple             # (rotation, origin): world = rotation · (camera − origin)
    fps: float
    up: str
    height_mm: float
    height_assumed: bool
    intrinsics: Intrinsics      # None: no trajectory
    steps: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def root(self):
        return self.joints[:, ROOT]

    def describe(self):
        """The world description of ``X3D.json``."""
        up_axis = "Y" if self.up == "y" else "Z"
        axes = ("X: the camera's right along the floor, Y: up, Z: along the floor towards the camera "
                "(right-handed)" if self.up == "y" else
                "X: the camera's right along the floor, Y: along the floor away from the camera, Z: up "
                "(right-handed)")
        if not self.ground.reliable:
            axes += "; not levelled: up is the camera's up (the ground fit was unreliable)"
        return {
            "units": "mm", "up": f"+{up_axis}", "axes": axes,
            "origin": f"on the floor ({up_axis} = 0) below the root (pelvis) of the first frame",
            "fps": self.fps,
            "height_m": round(self.height_mm / 1000, 4),
            "height": "assumed (give --height)" if self.height_assumed else "given (--height)",
            "intrinsics": self.intrinsics.describe() if self.intrinsics else None,
            "steps": list(self.steps), "notes": list(self.notes),
            "ground": self.ground.describe(),
            "bone_lengths_mm": {JOINT_NAMES[j]: round(float(length), 2)
                                for j, length in enumerate(self.skeleton.lengths) if j != ROOT},
            "contact_joints": [JOINT_NAMES[j] for j in FEET],
        }


def world_motion(poses_3d, keypoints_px=None, image_size=None, fps=None, height=None, focal=None, fov=None,
                 center=None, up="y", smooth=False, foot_lock=True):
    """:class:`WorldMotion` of a lifted sequence ``poses_3d (F, 17, 3)`` (camera axes, any unit).

    ``keypoints_px (F, 17, 3)``: the 2D input (pixels and confidence) of the same frames, and
    ``image_size = (w, h)``: both needed for the root trajectory (without them the root stays above
    the origin). ``fps``: the video's (None: 25, noted). ``height``: the person's height in metres
    (None: :data:`DEFAULT_HEIGHT_M`, noted). ``focal``/``fov``/``center``: :func:`camera_intrinsics`.
    ``up``: "y" or "z". ``smooth``: :func:`smooth_poses` first. ``foot_lock``: hold feet in contact.
    """
    check_world_options(height, focal, fov, up)
    steps, notes = [], []
    if fps is None:
        fps = 25.0
        notes.append("fps unknown: 25 assumed (give --vid_path or --fps)")
    height_assumed = height is None
    height_mm = 1000.0 * (DEFAULT_HEIGHT_M if height_assumed else height)
    if height_assumed:
        notes.append(f"height {DEFAULT_HEIGHT_M:.2f} m assumed: give the person's height with --height")
    poses = np.asarray(poses_3d, dtype=np.float64)
    poses = poses - poses[:, ROOT:ROOT + 1]
    if smooth:
        poses = smooth_poses(poses, fps)
        steps.append(f"smoothing: Savitzky-Golay, {SMOOTH_WINDOW_S:g} s window, order {SMOOTH_ORDER}")
    scale = metric_scale(poses, height_mm)
    poses = poses * scale
    steps.append(f"metric scale: standing height from median bone lengths set to {height_mm:.0f} mm "
                 f"(x {scale:.6g})")
    skeleton = fit_skeleton(poses)
    rotations = solve_rotations(poses, skeleton)
    relative = forward_kinematics(skeleton.offsets, rotations)
    steps.append("constant bone lengths, rigid pelvis and shoulder girdle (joint rotations, forward kinematics)")
    intrinsics, root = None, np.zeros((len(poses), 3))
    if keypoints_px is not None and image_size is not None:
        intrinsics = camera_intrinsics(image_size, focal, fov, center)
        keypoints_px = np.asarray(keypoints_px, dtype=np.float64)
        root = root_trajectory(relative, keypoints_px[..., :2], keypoints_px[..., 2], intrinsics, fps)
        steps.append(f"root trajectory: per-frame least squares on the 2D keypoints, smoothed (Whittaker, "
                     f"cut-off {', '.join(f'{s:g}' for s in TRAJECTORY_CUTOFF_S)} s in x, y, z)")
        if intrinsics.assumed:
            notes.append(f"camera intrinsics {intrinsics.source}: give --focal or --fov for a metric depth")
    else:
        notes.append("root trajectory skipped: the image size is unknown (give --vid_path or --size); every "
                     "frame's root is above the origin")
    camera_joints = relative + root[:, None]
    ground = fit_ground(camera_joints[:, list(FEET)], camera_joints[:, HEAD], fps, height_mm)
    steps.append("upright world: ground plane fitted to the feet in contact" if ground.reliable else
                 "upright world: skipped (" + ground.reason + ")")
    to_world = world_frame(ground, camera_joints[0, ROOT], "y")
    contacts = foot_contacts(_to_world(camera_joints, to_world)[:, list(FEET)], fps, height_mm)
    steps.append("foot contacts: ankle height and speed")
    if foot_lock and intrinsics is not None and contacts.any():
        locks = [(contacts[:, k], relative[:, foot], FOOT_LOCK_WEIGHT) for k, foot in enumerate(FEET)]
        root = root_trajectory(relative, keypoints_px[..., :2], keypoints_px[..., 2], intrinsics, fps, locks)
        camera_joints = relative + root[:, None]
        steps.append(f"foot skating: trajectory refined to hold feet in contact in place (weight "
                     f"{FOOT_LOCK_WEIGHT:g})")
    to_world = world_frame(ground, camera_joints[0, ROOT], up)
    # the rest pose stands along the world's up: offsets in the world's axes (axes: Y up -> up)
    axes = Z_UP if up == "z" else np.eye(3)
    return WorldMotion(
        joints=_to_world(camera_joints, to_world), rotations=to_world[0] @ rotations @ axes.T,
        skeleton=skeleton.transformed(axes), contacts=contacts, camera_joints=camera_joints,
        camera_root=root if intrinsics is not None else None, ground=ground, to_world=to_world, fps=float(fps),
        up=up, height_mm=height_mm, height_assumed=height_assumed, intrinsics=intrinsics, steps=steps, notes=notes)


def _to_world(points, to_world):
    rotation, origin = to_world
    return (points - origin) @ rotation.T


# ------------------------------------------------------------------ command line of infer_wild.py

# the options of add_metric_arguments
METRIC_OPTIONS = ("height", "focal", "fov", "center")


def add_metric_arguments(group):
    """The person's height and the camera: ``--height``, ``--focal``, ``--fov``, ``--center`` (``infer_wild.py``'s
    world motion, ``stream_wild.py``'s metric output); checked by :func:`check_world_options`."""
    group.add_argument("--height", type=float, default=None, metavar="METRES",
                       help=f"the person's height in metres (default {DEFAULT_HEIGHT_M:.2f}, noted as assumed)")
    group.add_argument("--focal", type=float, default=None, metavar="PX",
                       help="the camera's focal length in pixels (default: the image diagonal, noted as assumed)")
    group.add_argument("--fov", type=float, default=None, metavar="DEGREES",
                       help="instead of --focal: the camera's horizontal field of view")
    group.add_argument("--center", type=float, nargs=2, default=None, metavar=("CX", "CY"),
                       help="the principal point in pixels (default: the image centre)")
    return group


def add_world_arguments(parser):
    """``infer_wild.py``'s world-motion options (docs/inference.md, "World motion")."""
    group = add_metric_arguments(
        parser.add_argument_group("world motion (metric, upright; X3D_world.npy and the --export files)"))
    group.add_argument("--up", choices=UP_AXES, default="y", help="the world's up axis (default y; z for "
                                                                   "Z-up tools)")
    group.add_argument("--smooth", action="store_true", help="smooth the poses over time (Savitzky-Golay)")
    group.add_argument("--export", metavar="FORMATS",
                       help=f"comma-separated files to write besides X3D_world.npy: {', '.join(EXPORT_FORMATS)} or "
                            f"none (default: all)")
    group.add_argument("--no_world", "--no-world", action="store_true",
                       help="only the normalised, root-relative outputs (X3D.npy, .json, .mp4)")
    return parser


def check_world_arguments(cli):
    """The export formats to write (None with ``--no_world``); an :class:`OptionError` for a bad option."""
    if cli.no_world:
        given = [f"--{name}" for name in METRIC_OPTIONS if getattr(cli, name) is not None]
        given += ["--smooth"] * cli.smooth + ["--up"] * (cli.up != "y")
        given += ["--export"] * (cli.export is not None)
        if given:
            raise OptionError(f"--no_world writes no world motion, so {', '.join(given)} would do nothing: "
                              f"drop them or --no_world")
        return None
    check_world_options(cli.height, cli.focal, cli.fov, cli.up)
    return list(EXPORT_FORMATS) if cli.export is None else parse_export_formats(cli.export)
