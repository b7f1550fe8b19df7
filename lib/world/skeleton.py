"""The person's skeleton: bone lengths, standing height and metric scale, one skeleton with constant bones, joint
rotations and forward kinematics (steps 1, 2 and 6 of :mod:`lib.world`)."""
from dataclasses import dataclass

import numpy as np

from lib.skeleton import (CHILDREN, EYES, FLIP_PERMUTATION, HEAD_TOP, JOINT_NAMES, JOINT_SIDES, LEFT, MIDDLE,
                          NUM_JOINTS, PARENTS, ROOT)

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


# Anthropometry (fractions of the stature H, floor to the top of the head; Drillis & Contini 1966 as tabulated by
# Winter, Biomechanics and Motor Control of Human Movement, Fig. 4.1): the ankle joint 0.039 H above the sole; the
# eyes about 0.936 H above it (the head, vertex to chin, is 0.130 H and the eyes lie about halfway down it).
ANKLE_HEIGHT_FRACTION = 0.039
TOP_HEIGHT_FRACTION = {HEAD_TOP: 1.0, EYES: 0.936}
# The share of the neck and head bones (thorax-nose-top) that is height when standing: the nose lies in front of
# the neck, so the two bones zig-zag; measured on the demo's humanoid (tools/prepare_demo_data.py: a head sphere on
# a neck, the eyes 0.95 of its stature up), where it gives the stature exactly
TOP_VERTICAL_SHARE = {HEAD_TOP: 0.821, EYES: 0.865}


def standing_chain(poses, top=HEAD_TOP):
    """How far the top joint (head_top) of a standing skeleton is above its ankles, from root-relative poses
    ``(F, 17, 3)`` (any unit), by median bone lengths (so that no posture changes it): the legs (hip-knee-ankle,
    their mean: straight when standing), the spine (pelvis-spine-thorax: upright) and the height of the neck and
    head bones (thorax-nose-top, :data:`TOP_VERTICAL_SHARE` of their length)."""
    lengths = np.median(bone_lengths(poses), axis=0)
    leg = np.mean([lengths[_chain(foot)[:-1]].sum() for foot in FEET])
    chain = _chain(HEAD)  # head_top, nose, thorax, spine: the bones from the pelvis up
    head = lengths[chain[:2]].sum() * TOP_VERTICAL_SHARE[top]
    return float(leg + lengths[chain[2:]].sum() + head)


def stature(poses, top=HEAD_TOP):
    """The stature (floor to the top of the head) of root-relative ``poses (F, 17, 3)``: :func:`standing_chain` plus
    the ankle's height above the floor and, when the skeleton's top joint is the eyes (``top``: ``lib.skeleton.EYES``,
    as for COCO-17 and BlazePose input), the head above them (:data:`TOP_HEIGHT_FRACTION`)."""
    return standing_chain(poses, top) / (TOP_HEIGHT_FRACTION[top] - ANKLE_HEIGHT_FRACTION)


def metric_scale(poses, height_mm, top=HEAD_TOP):
    """The factor that gives root-relative ``poses (F, 17, 3)`` (any unit) the stature ``height_mm``
    (:func:`stature`)."""
    return height_mm / stature(poses, top)


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
    from scipy.signal import savgol_filter  # here: scipy.signal takes a second to import, and --smooth is rare

    return savgol_filter(np.asarray(poses, dtype=np.float64), window, order, axis=0, mode="interp")
