"""Feet in 3D: each foot's heel and toe placed from the lifted ankle, the 2D foot keypoints and the camera ray.

The lifting models have no feet. Where the 2D input has them (BlazePose heels and foot tips, Halpe-26 and
COCO-WholeBody heels and big toes: ``lib.skeleton.FOOT_POINT_NAMES``), each point lies on the camera ray through
its pixel, and the foot is a rigid segment of known size: the heel :data:`HEEL_DISTANCE_FRACTION` of the stature
from the ankle, the toe :data:`FOOT_LENGTH_FRACTION` from the heel. Each distance fixes a point on the ray up to
two solutions (in front of or behind the ankle's depth); of the four combinations per frame, the physically
plausible one is chosen (the heel below and behind the ankle, the toe in front of the heel in the direction the
person faces, the foot near the floor's level) and kept from frame to frame unless the feet really turn
(dynamic programming with a cost for changing). Where a foot keypoint is missing or unsure (score below
:data:`MIN_FOOT_SCORE`), or the format has no feet, a flat foot is placed below the ankle pointing the way
the person faces.
"""
import numpy as np

from lib.world.skeleton import ANKLE_HEIGHT_FRACTION, JOINT, _normalize

# Anthropometry (fractions of the stature; Winter, Fig. 4.1): the foot 0.152 long, the ankle 0.039 above the sole
# and about a quarter of the foot's length (0.038) in front of the back of the heel
FOOT_LENGTH_FRACTION = 0.152
HEEL_BACK_FRACTION = 0.038
HEEL_DISTANCE_FRACTION = float(np.hypot(ANKLE_HEIGHT_FRACTION, HEEL_BACK_FRACTION))
MIN_FOOT_SCORE = 0.3
# the cost, in foot lengths, of changing the chosen solution between frames (against the plausibility terms)
SWITCH_COST = 0.5
# (left, right) ankle joints and the pelvis' hips, to tell which way the person faces
ANKLES = (JOINT["left_ankle"], JOINT["right_ankle"])
HIPS = (JOINT["left_hip"], JOINT["right_hip"])


def camera_rays(pixels, intrinsics):
    """Unit viewing rays ``(..., 3)`` (camera axes) through ``pixels (..., 2)``."""
    f, (cx, cy) = intrinsics.focal, intrinsics.center
    rays = np.stack([(pixels[..., 0] - cx) / f, (pixels[..., 1] - cy) / f, np.ones(pixels.shape[:-1])], axis=-1)
    return _normalize(rays)


def points_on_ray(rays, centres, distance):
    """The two points ``(2, ..., 3)`` on each ray (through the camera centre) at ``distance`` from ``centres
    (..., 3)``, nearer first; where the ray passes further away, both are its point closest to the centre."""
    along = np.sum(rays * centres, axis=-1)
    disc = np.maximum(along ** 2 - np.sum(centres * centres, axis=-1) + distance ** 2, 0.0)
    root = np.sqrt(disc)
    return np.stack([(along - root)[..., None] * rays, (along + root)[..., None] * rays])


def facing_directions(joints, up):
    """Per frame, the horizontal direction ``(F, 3)`` the person faces: perpendicular to the hips (right to left)
    and to ``up``."""
    across = joints[:, HIPS[0]] - joints[:, HIPS[1]]
    forward = np.cross(across, up)  # left × up = forward for a right-handed body
    return _normalize(forward - np.sum(forward * up, axis=-1, keepdims=True) * up)


def flat_feet(joints, up, height_mm):
    """Feet ``(F, 4, 3)`` without foot keypoints: each heel below and behind its ankle, the toe in front, flat on a
    level floor, pointing the way the person faces."""
    forward = facing_directions(joints, up)
    feet = []
    for ankle in ANKLES:
        heel = joints[:, ankle] - ANKLE_HEIGHT_FRACTION * height_mm * up - HEEL_BACK_FRACTION * height_mm * forward
        feet += [heel, heel + FOOT_LENGTH_FRACTION * height_mm * forward]
    return np.stack(feet, axis=1)


def _choose(costs, switch):
    """The sequence of candidate indices minimising ``costs (F, C)`` plus ``switch (F-1, C, C)`` between frames."""
    n, k = costs.shape
    total, back = costs[0].copy(), np.zeros((n, k), int)
    for t in range(1, n):
        step = total[:, None] + switch[t - 1]
        back[t] = step.argmin(axis=0)
        total = step.min(axis=0) + costs[t]
    choice = np.zeros(n, int)
    choice[-1] = total.argmin()
    for t in range(n - 1, 0, -1):
        choice[t - 1] = back[t, choice[t]]
    return choice


def place_feet(joints, feet_px, intrinsics, up, height_mm):
    """Heels and toes ``(F, 4, 3)`` (camera axes, mm; ``lib.skeleton.FOOT_POINT_NAMES`` order) of camera-space
    ``joints (F, 17, 3)``, from the 2D foot keypoints ``feet_px (F, 4, 3)`` (pixels and score; None: none), the
    camera and the world's ``up`` in camera axes. Returns ``(feet, from_keypoints (F, 2) bool)``: per frame and foot,
    whether it was placed from its keypoints (else: :func:`flat_feet`)."""
    flat = flat_feet(joints, up, height_mm)
    from_keypoints = np.zeros((len(joints), 2), bool)
    if feet_px is None or intrinsics is None:
        return flat, from_keypoints
    feet = flat.copy()
    forward = facing_directions(joints, up)
    foot_length = FOOT_LENGTH_FRACTION * height_mm
    for side, ankle in enumerate(ANKLES):
        heel_px, toe_px = feet_px[:, 2 * side], feet_px[:, 2 * side + 1]
        rows = np.flatnonzero((heel_px[:, 2] >= MIN_FOOT_SCORE) & (toe_px[:, 2] >= MIN_FOOT_SCORE))
        if not len(rows):
            continue
        centre = joints[rows, ankle]
        heels = points_on_ray(camera_rays(heel_px[rows, :2], intrinsics), centre, HEEL_DISTANCE_FRACTION * height_mm)
        toe_rays = camera_rays(toe_px[rows, :2], intrinsics)
        options = [(heel, toe) for heel in heels for toe in points_on_ray(toe_rays, heel, foot_length)]
        costs = np.zeros((len(rows), len(options)))
        for k, (heel, toe) in enumerate(options):
            direction = (toe - heel) / foot_length
            costs[:, k] += np.abs(np.sum(direction * up, axis=-1))  # a foot lies near the floor's level
            costs[:, k] += 2.0 * (np.sum(direction * forward[rows], axis=-1) < 0)  # the toes ahead of the heel
            costs[:, k] += 2.0 * (np.sum((centre - heel) * up, axis=-1) < 0)  # the heel below the ankle
            costs[:, k] += 2.0 * (np.sum((heel - centre) * forward[rows], axis=-1) > 0)  # ... and behind it
        positions = np.stack([np.concatenate([h, t], axis=-1) for h, t in options], axis=1)  # (n, C, 6)
        # moves[t, a, b]: from option a in usable frame t to option b in the next one
        moves = np.linalg.norm(positions[1:, None] - positions[:-1, :, None], axis=-1) / foot_length
        choice = _choose(costs, SWITCH_COST * (1 - np.eye(len(options)))[None] + 0.5 * moves)
        chosen = positions[np.arange(len(rows)), choice]
        feet[rows, 2 * side], feet[rows, 2 * side + 1] = chosen[:, :3], chosen[:, 3:]
        from_keypoints[rows, side] = True
    return feet, from_keypoints
