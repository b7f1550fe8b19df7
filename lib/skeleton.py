"""The H36M-17 skeleton every model uses, and the maps from 2D keypoint formats onto it.

Joint order, left/right pairs and bones (spec 00 §5); the bone orders of the losses and of the
renderer (spec 00 §5, 06 §4.2); tables that turn COCO-17, Halpe-26, Halpe-136,
COCO-WholeBody-133, BlazePose-33, PoseTrack-17 and H36M-17 keypoints into H36M-17 joints, applied by
:func:`to_h36m` (the spec's ``coco2h36m``, ``halpe2h36m`` and ``posetrack2h36m`` are calls of it).
To support another 2D format, add its table to :data:`FORMATS`.

A base module: it imports nothing from the project.
"""
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

# ------------------------------------------------------------------ joints (spec 00 §5)

# The names written to X3D.json; the spec calls 0, 7, 8, 10 root, belly, neck and head.
JOINT_NAMES = ("pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
               "spine", "thorax", "nose", "head_top", "left_shoulder", "left_elbow", "left_wrist",
               "right_shoulder", "right_elbow", "right_wrist")
NUM_JOINTS = len(JOINT_NAMES)
ROOT = 0  # the pelvis: the root of the bone tree and of root-relative poses

# Mirror pairs, pairwise: 4<->1, 5<->2, 6<->3, 11<->14, 12<->15, 13<->16; the other joints are central.
LEFT_JOINTS = (4, 5, 6, 11, 12, 13)
RIGHT_JOINTS = (1, 2, 3, 14, 15, 16)
# Joint j of a mirrored pose is joint FLIP_PERMUTATION[j] of the pose.
FLIP_PERMUTATION = tuple(dict(zip(LEFT_JOINTS + RIGHT_JOINTS, RIGHT_JOINTS + LEFT_JOINTS)).get(j, j)
                         for j in range(NUM_JOINTS))
LEFT, MIDDLE, RIGHT = "left", "middle", "right"
JOINT_SIDES = tuple(LEFT if j in LEFT_JOINTS else RIGHT if j in RIGHT_JOINTS else MIDDLE for j in range(NUM_JOINTS))

# ------------------------------------------------------------------ bones

# The bone tree: the parent of every joint (the root has none).
PARENTS = (None, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
# The children of every joint, in joint order (the leaves have none).
CHILDREN = tuple(tuple(c for c in range(NUM_JOINTS) if PARENTS[c] == j) for j in range(NUM_JOINTS))
# Bones (parent, child) in the order of the losses (get_limb_lens, get_angles): by child joint.
BONES = tuple((PARENTS[j], j) for j in range(NUM_JOINTS) if j != ROOT)
# The same bones in the order the renderers draw them (and X3D.json lists them): the thorax's
# three children come before the head top.
BONES_RENDER_ORDER = tuple((PARENTS[j], j) for j in (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 14, 10, 12, 13, 15, 16))
# A bone belongs to the side of its child joint (the renderers' colour groups).
BONE_SIDES = {bone: JOINT_SIDES[bone[1]] for bone in BONES}
LEFT_BONES = frozenset(b for b in BONES if BONE_SIDES[b] == LEFT)
RIGHT_BONES = frozenset(b for b in BONES if BONE_SIDES[b] == RIGHT)

# ------------------------------------------------------------------ 2D formats -> H36M-17


@dataclass(frozen=True)
class Mean:
    """An H36M joint made as the mean ``(p + q) * 0.5`` of two points, over every channel.

    ``p``, ``q``: source keypoint indices (ints; the mean is taken in the input's precision) or
    names of H36M joints made by other rows of the table (the mean of the float64 results).
    ``min_confidence``: channel 2 becomes the smaller of the two confidences instead of their
    mean (PoseTrack's pelvis and spine, spec 03 §2.1).
    """
    p: object
    q: object
    min_confidence: bool = False

    def __post_init__(self):
        if type(self.p) is not type(self.q) or not isinstance(self.p, (int, str)):
            raise TypeError(f"Mean of two keypoint indices or two H36M joint names, got {self.p!r}, {self.q!r}")

    @property
    def of_h36m(self):
        return isinstance(self.p, str)


def _h36m_rows(**rows):
    """A table as a tuple in H36M joint order, from ``joint_name=source`` keywords (every joint once).

    A source is a keypoint index (copied) or a :class:`Mean`; a mean of H36M joints may only use
    joints copied or averaged from keypoints, so that one pass over those rows makes its inputs.
    """
    if set(rows) != set(JOINT_NAMES):
        raise ValueError(f"a table needs one row per H36M joint; missing {sorted(set(JOINT_NAMES) - set(rows))}, "
                         f"unknown {sorted(set(rows) - set(JOINT_NAMES))}")
    for name, row in rows.items():
        for joint in (row.p, row.q) if isinstance(row, Mean) and row.of_h36m else ():
            if joint not in rows:
                raise ValueError(f"{name}: {joint!r} is not an H36M joint name")
            if isinstance(rows[joint], Mean) and rows[joint].of_h36m:
                raise ValueError(f"{name}: a mean of H36M joints must use joints made from keypoints")
    return tuple(rows[name] for name in JOINT_NAMES)


# COCO-17 order: 0 nose, 1 L eye, 2 R eye, 3 L ear, 4 R ear, 5 L shoulder, 6 R shoulder, 7 L elbow,
# 8 R elbow, 9 L wrist, 10 R wrist, 11 L hip, 12 R hip, 13 L knee, 14 R knee, 15 L ankle, 16 R ankle.
# Halpe-26 and PoseTrack-17 number the shoulders to the ankles the same way.
_COCO_LIMBS = dict(right_hip=12, right_knee=14, right_ankle=16, left_hip=11, left_knee=13, left_ankle=15,
                   left_shoulder=5, left_elbow=7, left_wrist=9, right_shoulder=6, right_elbow=8, right_wrist=10)
# spec 04 §2.3 (coco2h36m)
COCO17_TO_H36M = _h36m_rows(pelvis=Mean(11, 12), spine=Mean("pelvis", "thorax"), thorax=Mean(5, 6), nose=0,
                            head_top=Mean(1, 2), **_COCO_LIMBS)
# spec 06 §1.1 (halpe2h36m); Halpe-26 = COCO-17, then 17 Head, 18 Neck, 19 Hip, 20-25 feet
HALPE26_TO_H36M = _h36m_rows(pelvis=19, spine=Mean(18, 19), thorax=18, nose=0, head_top=17, **_COCO_LIMBS)
# spec 03 §2.1 (posetrack2h36m); PoseTrack-17: 0 nose, 1 head_bottom, 2 head_top, 3-4 ears, then as COCO
POSETRACK17_TO_H36M = _h36m_rows(pelvis=Mean(11, 12, min_confidence=True),
                                 spine=Mean("pelvis", "thorax", min_confidence=True), thorax=1, nose=0, head_top=2,
                                 **_COCO_LIMBS)
H36M17_TO_H36M = tuple(range(NUM_JOINTS))
# MediaPipe BlazePose-33 (the built-in detector, lib/data/detector.py): 0 nose, 1-3 left eye (inner, eye, outer),
# 4-6 right eye, 7 left ear, 8 right ear, 9-10 mouth, 11-16 shoulders, elbows, wrists (left, right), 17-22 hands,
# 23-28 hips, knees, ankles (left, right), 29-32 heels and foot tips. Its COCO-17 points, in COCO order:
BLAZEPOSE33_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
# ... so that a BlazePose pose maps to H36M-17 exactly as its COCO-17 points do
BLAZEPOSE33_TO_H36M = tuple(Mean(*(BLAZEPOSE33_COCO17[i] if isinstance(i, int) else i for i in (row.p, row.q)),
                                 row.min_confidence) if isinstance(row, Mean) else BLAZEPOSE33_COCO17[row]
                            for row in COCO17_TO_H36M)

# For each COCO-17 keypoint, the H36M joint that carries it (its copy; the eyes and ears: the head
# top), used to put H36M-ordered confidences back into COCO order.
COCO_FROM_H36M = (9, 10, 10, 10, 10, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3)

# The InstaVariety json key of every H36M joint (spec 03 §5.4); None: not provided (left at zero).
INSTAVARIETY_KEYS = ("Hip", "R Hip", "R Knee", "R Ankle", "L Hip", "L Knee", "L Ankle", None, "Neck", "Nose", None,
                     "L Shoulder", "L Elbow", "L Wrist", "R Shoulder", "R Elbow", "R Wrist")


# The foot points some formats have, in this order (lib/world/feet.py places them in 3D)
FOOT_POINT_NAMES = ("left_heel", "left_toe", "right_heel", "right_toe")
# What a format's H36M "head_top" joint is made of: the top of the head, or the eyes (whose height above the floor
# is a smaller fraction of the stature: lib/world/skeleton.py)
HEAD_TOP, EYES = "head_top", "eyes"


@dataclass(frozen=True)
class KeypointFormat:
    """A 2D keypoint layout and its map onto H36M-17."""
    name: str
    num_keypoints: int
    description: str
    rows: tuple  # per H36M joint: a keypoint index or a Mean (see _h36m_rows)
    top: str = HEAD_TOP  # what its head_top joint is: HEAD_TOP or EYES
    feet: tuple = None  # keypoint indices of FOOT_POINT_NAMES (the toe: the big toe or the foot tip); None: no feet

    def feet_of(self, x):
        """``x (..., num_keypoints, C)`` → its foot points ``(..., 4, C)`` float64 (:data:`FOOT_POINT_NAMES`), or
        None for a format without feet."""
        if self.feet is None:
            return None
        return np.asarray(x, dtype=np.float64)[..., list(self.feet), :]

    def to_h36m(self, x):
        """``x (..., num_keypoints, C)`` → float64 ``(..., 17, C)``; every channel is mapped.

        Copies and means of keypoints first, then the means of H36M joints; channel 2 is the
        confidence that ``Mean(min_confidence=True)`` takes the minimum of.
        """
        x = np.asarray(x)
        if x.ndim < 2 or x.shape[-2] != self.num_keypoints:
            raise ValueError(f"{self.name} keypoints are (..., {self.num_keypoints}, C), got shape {x.shape}")
        y = np.zeros(x.shape[:-2] + (NUM_JOINTS, x.shape[-1]))
        # rows of keypoints first (stable sort): the means of H36M joints read their results
        for j in sorted(range(NUM_JOINTS), key=lambda j: isinstance(self.rows[j], Mean) and self.rows[j].of_h36m):
            row = self.rows[j]
            if not isinstance(row, Mean):
                y[..., j, :] = x[..., row, :]
                continue
            points, index = (y, JOINT_NAMES.index) if row.of_h36m else (x, int)
            p, q = points[..., index(row.p), :], points[..., index(row.q), :]
            y[..., j, :] = (p + q) * 0.5
            if row.min_confidence and y.shape[-1] > 2:
                y[..., j, 2] = np.minimum(p[..., 2], q[..., 2])
        return y


# Foot points: Halpe-26 20/21 big toes, 22/23 small toes, 24/25 heels (left, right); COCO-WholeBody 17-19 left big toe,
# small toe, heel, 20-22 the right ones; BlazePose 29/30 heels, 31/32 foot tips
HALPE26_FEET = (24, 20, 25, 21)
WHOLEBODY133_FEET = (19, 17, 22, 20)
BLAZEPOSE33_FEET = (29, 31, 30, 32)
FORMATS = OrderedDict((f.name, f) for f in (
    KeypointFormat("halpe26", 26, "AlphaPose Halpe-26 (AlphaPose's default body model)", HALPE26_TO_H36M,
                   feet=HALPE26_FEET),
    KeypointFormat("coco17", 17, "COCO-17 (AlphaPose/MMPose COCO models, most detectors)", COCO17_TO_H36M, top=EYES),
    KeypointFormat("h36m17", 17, "Human3.6M-17 (the order the models use)", H36M17_TO_H36M),
    # the whole-body layouts start with the body layouts; their face and hand points are not used
    KeypointFormat("halpe136", 136, "AlphaPose Halpe-136 whole body (its first 26 points are Halpe-26)",
                   HALPE26_TO_H36M, feet=HALPE26_FEET),
    KeypointFormat("coco_wholebody133", 133, "COCO-WholeBody-133 (its first 17 points are COCO-17)",
                   COCO17_TO_H36M, top=EYES, feet=WHOLEBODY133_FEET),
    KeypointFormat("blazepose33", 33, "MediaPipe BlazePose-33 (the built-in detector; its COCO-17 points are used)",
                   BLAZEPOSE33_TO_H36M, top=EYES, feet=BLAZEPOSE33_FEET),
    KeypointFormat("posetrack17", 17, "PoseTrack-17 (the PoseTrack18 annotations of pretraining)",
                   POSETRACK17_TO_H36M),
))


def to_h36m(x, fmt):
    """Keypoints ``x (..., K, C)`` of format ``fmt`` (a :data:`FORMATS` name or a :class:`KeypointFormat`)
    as H36M-17 joints, float64 ``(..., 17, C)``."""
    return (FORMATS[fmt] if isinstance(fmt, str) else fmt).to_h36m(x)
