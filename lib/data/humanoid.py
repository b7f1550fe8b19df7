"""The DeepMimic humanoid of pybullet: its skeleton and keypoints, its mocap clips, and how it is drawn.

The humanoid is ``pybullet_data/humanoid/humanoid.urdf`` (joints, and collision shapes that give the
extra keypoints and the rendered body); its 15 clips are ``pybullet_data/data/motions/humanoid3d_*.txt``
(DeepMimic's motion files). Forward kinematics is NumPy and SciPy's ``Rotation`` (checked against
pybullet's by tests/test_prepare_demo_data.py). The world is y up, the floor at y = 0; link frames are x
forward, y up, z to the body's right.

Drawing: a :class:`CameraView` (a pinhole camera at one moment) sees the body's collision shapes as flat
solids (:func:`body_solids`, drawn far to near by :func:`lib.utils.vismo.draw_solids`) in the colours of
a :class:`BodyColors` scheme, over a floor grid (:func:`floor_image`). Used by
``tools/prepare_demo_data.py`` (one subject, cameras that follow it) and :mod:`lib.data.scenes` (several
people, one static camera).
"""
import dataclasses
import json
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation, Slerp

from lib.skeleton import JOINT_NAMES
from lib.utils.errors import UserError
from lib.utils.vismo import draw_polylines

FPS = 50  # default rate the clips are resampled to (that of H36M's videos, so of the demo pickle)

# --- the clips -----------------------------------------------------------------------------------------
MOTION_NAMES = ("backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown", "getup_faceup", "jump",
                "kick", "punch", "roll", "run", "spin", "spinkick", "walk")  # the demo's act id = position + 1

# --- the skeleton ---------------------------------------------------------------------------------------
URDF_SCALE = 0.25  # DeepMimic loads the humanoid with globalScaling 0.25; the clips' root positions match it
SUBJECT_HEIGHT_MM = 1700.0
# DOFs of a motion frame after duration (1), root position (3) and root quaternion (4), in file order
MOTION_JOINTS = (("chest", 4), ("neck", 4), ("right_hip", 4), ("right_knee", 1), ("right_ankle", 4),
                 ("right_shoulder", 4), ("right_elbow", 1), ("left_hip", 4), ("left_knee", 1), ("left_ankle", 4),
                 ("left_shoulder", 4), ("left_elbow", 1))
FRAME_SIZE = 1 + 3 + 4 + sum(n for _, n in MOTION_JOINTS)  # 44
HEAD_LINK = "neck"  # its collision sphere is the head
# Link frames: x forward, y up, z to the subject's right. Directions from the head sphere's centre to
# points on its surface; the nose is on the face, 20 degrees below the sphere's equator.
HEAD_POINTS = {"nose": (0.94, -0.34, 0.0), "head_top": (0.0, 1.0, 0.0),
               "left_eye": (0.85, 0.2, -0.45), "right_eye": (0.85, 0.2, 0.45),
               "left_ear": (-0.1, 0.0, -1.0), "right_ear": (-0.1, 0.0, 1.0)}
# Points of a foot's collision box (fractions of its half size; z is multiplied by +1 on the right foot
# and -1 on the left one, so the big toe is on the midline side). y = -1: on the sole.
FOOT_POINTS = {"big_toe": (1.0, -1.0, -0.5), "small_toe": (0.8, -1.0, 0.5), "heel": (-1.0, -1.0, 0.0)}

# Every keypoint: (link, where); where = "origin" (the link frame's origin: the joint), ("head", point of
# HEAD_POINTS) or ("foot", point of FOOT_POINTS). The first 17 are the H36M joints, in their order
# (lib.skeleton.JOINT_NAMES).
KEYPOINTS = {
    "pelvis": ("root", "origin"), "right_hip": ("right_hip", "origin"), "right_knee": ("right_knee", "origin"),
    "right_ankle": ("right_ankle", "origin"), "left_hip": ("left_hip", "origin"),
    "left_knee": ("left_knee", "origin"), "left_ankle": ("left_ankle", "origin"), "spine": ("chest", "origin"),
    "thorax": ("neck", "origin"), "nose": (HEAD_LINK, ("head", "nose")), "head_top": (HEAD_LINK, ("head", "head_top")),
    "left_shoulder": ("left_shoulder", "origin"), "left_elbow": ("left_elbow", "origin"),
    "left_wrist": ("left_wrist", "origin"), "right_shoulder": ("right_shoulder", "origin"),
    "right_elbow": ("right_elbow", "origin"), "right_wrist": ("right_wrist", "origin"),
    "left_eye": (HEAD_LINK, ("head", "left_eye")), "right_eye": (HEAD_LINK, ("head", "right_eye")),
    "left_ear": (HEAD_LINK, ("head", "left_ear")), "right_ear": (HEAD_LINK, ("head", "right_ear")),
    "left_big_toe": ("left_ankle", ("foot", "big_toe")), "right_big_toe": ("right_ankle", ("foot", "big_toe")),
    "left_small_toe": ("left_ankle", ("foot", "small_toe")), "right_small_toe": ("right_ankle", ("foot", "small_toe")),
    "left_heel": ("left_ankle", ("foot", "heel")), "right_heel": ("right_ankle", ("foot", "heel")),
}
KEYPOINT_NAMES = tuple(KEYPOINTS)
H36M_KEYPOINTS = JOINT_NAMES  # = KEYPOINT_NAMES[:17]
HALPE26_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                     "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                     "right_knee", "left_ankle", "right_ankle", "head_top", "thorax", "pelvis", "left_big_toe",
                     "right_big_toe", "left_small_toe", "right_small_toe", "left_heel", "right_heel")
FOOT_KEYPOINTS = tuple(n for n in KEYPOINT_NAMES if KEYPOINTS[n][1] != "origin" and KEYPOINTS[n][1][0] == "foot")

# --- the pictures ---------------------------------------------------------------------------------------
BACKGROUND_RGB = (236, 236, 232)
GRID_RGB = (190, 190, 184)
GRID_SPACING_MM = 1000.0
GRID_NEAR_MM = 300.0  # grid points nearer to the camera plane than this are not drawn
LIMB_RGB = {"left": (66, 120, 220), "right": (235, 120, 40), "centre": (110, 110, 110)}
# Marks on the head sphere, so that a face shows which way the body faces (without them a 2D detector
# cannot tell a front view from a back view and mirrors left and right): keypoint and radius (a fraction
# of the head's); their colours are part of a BodyColors scheme.
FACE_MARKS = (("nose", 0.2), ("left_eye", 0.14), ("right_eye", 0.14))
NOSE_RGB = (232, 190, 160)
EYE_RGB = (30, 30, 30)
# The links that carry collision shapes: pelvis (root), trunk (chest), head (neck), per side the thigh (hip),
# shin (knee), foot (ankle), upper arm (shoulder), forearm (elbow) and hand (wrist).
SIDES = ("left", "right")
BODY_LINKS = ("root", "chest", "neck") + tuple(f"{side}_{link}" for side in SIDES for link in
                                               ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"))


# ========================================================================================================
# Data files
# ========================================================================================================
def pybullet_data_dir():
    """Folder of the ``pybullet_data`` package (installed with ``pip install pybullet``)."""
    try:
        import pybullet_data
    except ImportError:
        raise UserError("this tool reads the motion clips shipped with pybullet; install it with "
                        "'pip install pybullet'") from None
    return pybullet_data.getDataPath()


def motion_path(data_dir, name):
    return os.path.join(data_dir, "data", "motions", f"humanoid3d_{name}.txt")


def urdf_path(data_dir):
    return os.path.join(data_dir, "humanoid", "humanoid.urdf")


def read_urdf_text(path):
    """The URDF as text, without the stray NUL byte the shipped file ends with."""
    with open(path, "rb") as f:
        return f.read().rstrip(b"\x00\r\n\t ").decode("utf-8")


# ========================================================================================================
# Rotations: scipy's ``Rotation`` (whose quaternions are x, y, z, w)
# ========================================================================================================
def normalize(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def from_wxyz(quaternions):
    """Rotations from ``(..., 4)`` quaternions stored w, x, y, z, as in the motion files."""
    return Rotation.from_quat(np.asarray(quaternions)[..., [1, 2, 3, 0]])


def rotation_y(angle):
    """The rotation by ``angle`` radians (a number, or an array for a stack) about the (up) y axis."""
    return Rotation.from_rotvec(np.multiply.outer(angle, [0.0, 1.0, 0.0]))


def twist_y(rotation):
    """Angle in [-pi, pi) of the rotation about y that remains of ``rotation`` without its swing (swing-twist);
    an array for a stack of rotations."""
    _, y, _, w = np.moveaxis(rotation.as_quat(), -1, 0)
    return (2 * np.arctan2(y, w) + np.pi) % (2 * np.pi) - np.pi


def smoothstep(x):
    return x * x * (3 - 2 * x)


def smooth_track(track, sigma):
    """Gaussian-smoothed ``track (T, 3)`` (``sigma`` in samples). Padded by point reflection, so that a subject
    moving steadily is followed right up to the ends (edge padding would make the smoothed track lag there)."""
    pad = min(len(track) - 1, int(4 * sigma))
    head = 2 * track[0] - track[pad:0:-1]
    tail = 2 * track[-1] - track[-2:-pad - 2:-1]
    padded = np.concatenate([head, track, tail])
    return gaussian_filter1d(padded, sigma, axis=0, mode="nearest")[pad:pad + len(track)]


# ========================================================================================================
# Skeleton
# ========================================================================================================
@dataclass
class Joint:
    name: str
    type: str  # 'spherical', 'revolute' or 'fixed'
    parent: str  # link names
    child: str
    origin: np.ndarray  # (3,) position of the child frame in the parent frame
    axis: np.ndarray  # (3,) unit rotation axis of a revolute joint


@dataclass
class Shape:
    """A collision shape in its link's frame; gives the extra keypoints and the rendered body."""
    link: str
    kind: str  # 'sphere', 'capsule' or 'box'
    center: np.ndarray  # (3,)
    radius: float = 0.0  # sphere, capsule
    half_axis: np.ndarray = None  # capsule: from the centre to one end of its axis
    half_size: np.ndarray = None  # box (axis-aligned in the link frame)


@dataclass
class Skeleton:
    joints: list  # parents before children
    shapes: list
    local_points: dict  # keypoint name -> (link, (3,) point in the link frame)


def _floats(text):
    return np.array([float(v) for v in text.split()])


def load_skeleton(path, scale=URDF_SCALE):
    """Joints, collision shapes and keypoints of the DeepMimic humanoid URDF, lengths times ``scale``."""
    robot = ET.fromstring(read_urdf_text(path))
    joints = []
    for j in robot.findall("joint"):
        origin = j.find("origin")
        if origin is not None and np.any(_floats(origin.get("rpy", "0 0 0"))):
            raise ValueError(f"{path}: joint {j.get('name')} has a rotated origin, which this tool does not handle")
        axis = j.find("axis")
        joints.append(Joint(name=j.get("name"), type=j.get("type"), parent=j.find("parent").get("link"),
                            child=j.find("child").get("link"),
                            origin=scale * _floats(origin.get("xyz")) if origin is not None else np.zeros(3),
                            axis=normalize(_floats(axis.get("xyz") if axis is not None else "0 0 1"))))
    shapes = []
    for link in robot.findall("link"):
        for collision in link.findall("collision"):
            origin = collision.find("origin")
            rpy = _floats(origin.get("rpy", "0 0 0"))
            center = scale * _floats(origin.get("xyz"))
            geometry = collision.find("geometry")[0]
            if geometry.tag == "sphere":
                shapes.append(Shape(link.get("name"), "sphere", center, radius=scale * float(geometry.get("radius"))))
            elif geometry.tag == "capsule":  # along the z axis of its origin frame, turned by rpy (about fixed x, y, z)
                half_axis = Rotation.from_euler("xyz", rpy).apply([0.0, 0.0, scale * float(geometry.get("length")) / 2])
                shapes.append(Shape(link.get("name"), "capsule", center, radius=scale * float(geometry.get("radius")),
                                    half_axis=half_axis))
            elif geometry.tag == "box":
                half_size = scale * _floats(geometry.get("size")) / 2
                shapes.append(Shape(link.get("name"), "box", center, half_size=half_size))
            else:
                raise ValueError(f"{path}: unsupported collision geometry '{geometry.tag}' on link {link.get('name')}")
    ordered, known = [], {"base"}  # parents before children (the file is ordered so, but do not rely on it)
    while len(ordered) < len(joints):
        ready = [j for j in joints if j.parent in known and j.child not in known]
        if not ready:
            raise ValueError(f"{path}: the joints do not form a tree rooted at link 'base'")
        ordered += ready
        known |= {j.child for j in ready}
    return Skeleton(joints=ordered, shapes=shapes, local_points=_keypoint_local_points(shapes))


def _single_shape(shapes, link, kind):
    found = [s for s in shapes if s.link == link and s.kind == kind]
    if len(found) != 1:
        raise ValueError(f"expected one {kind} on link '{link}' of the humanoid URDF, found {len(found)}")
    return found[0]


def _keypoint_local_points(shapes):
    head = _single_shape(shapes, HEAD_LINK, "sphere")
    points = {}
    for name, (link, where) in KEYPOINTS.items():
        if where == "origin":
            point = np.zeros(3)
        elif where[0] == "head":
            point = head.center + head.radius * normalize(np.array(HEAD_POINTS[where[1]]))
        else:
            box = _single_shape(shapes, link, "box")
            side = np.array([1.0, 1.0, 1.0 if name.startswith("right") else -1.0])
            point = box.center + box.half_size * side * np.array(FOOT_POINTS[where[1]])
        points[name] = (link, point)
    return points


def forward_kinematics(skeleton, root_position, root_rotation, joint_rotations):
    """World frames of every link, ``{link: (rotation, origin (T, 3))}``, each rotation a stack of T.

    ``root_rotation`` and the ``joint_rotations`` of spherical joints are stacks of T rotations, those
    of revolute joints angles ``(T,)``. A child frame is its parent's, moved by the joint origin, then
    rotated by the joint.
    """
    frames = {"base": (root_rotation, root_position)}
    for joint in skeleton.joints:
        parent_rotation, parent_origin = frames[joint.parent]
        origin = parent_origin + parent_rotation.apply(joint.origin)
        if joint.type == "fixed":
            rotation = parent_rotation
        elif joint.type == "spherical":
            rotation = parent_rotation * joint_rotations[joint.name]
        elif joint.type == "revolute":
            angle = joint_rotations[joint.name]
            rotation = parent_rotation * Rotation.from_rotvec(np.multiply.outer(angle, joint.axis))
        else:
            raise ValueError(f"joint {joint.name}: unsupported type '{joint.type}'")
        frames[joint.child] = (rotation, origin)
    return frames


def keypoints_from_frames(skeleton, frames, names=KEYPOINT_NAMES):
    """World positions ``(T, K, 3)`` of the keypoints ``names``."""
    out = []
    for name in names:
        link, point = skeleton.local_points[name]
        rotation, origin = frames[link]
        out.append(origin + rotation.apply(point))
    return np.stack(out, axis=1)


def rest_height(skeleton):
    """Height of the skeleton standing with every joint at rest: head top above the soles."""
    rest = {name: Rotation.identity(1) if n == 4 else np.zeros(1) for name, n in MOTION_JOINTS}
    frames = forward_kinematics(skeleton, np.zeros((1, 3)), Rotation.identity(1), rest)
    y = keypoints_from_frames(skeleton, frames)[0, :, 1]
    return y[KEYPOINT_NAMES.index("head_top")] - y.min()


def skeleton_of_height(data_dir, height_mm):
    """``(skeleton in mm, mm per unit of the clips)``: the humanoid scaled so that its rest height (floor to
    head top) is ``height_mm``; a clip's root positions times the factor are its motion at that size."""
    mm_per_unit = height_mm / rest_height(load_skeleton(urdf_path(data_dir)))
    return load_skeleton(urdf_path(data_dir), URDF_SCALE * mm_per_unit), mm_per_unit


# ========================================================================================================
# Motion
# ========================================================================================================
@dataclass
class Motion:
    name: str
    loop: bool  # Loop == "wrap": the clip is cyclic
    times: np.ndarray  # (F,) s, start of each frame
    root_position: np.ndarray  # (F, 3), in the units of the scaled URDF (m)
    root_rotation: Rotation  # F rotations
    joint_rotations: dict  # joint name -> F rotations or (F,) revolute angles


def read_motion(path, name):
    """A DeepMimic motion file (JSON with ``Loop`` and ``Frames``)."""
    with open(path, "r") as f:
        data = json.load(f)
    frames = np.asarray(data["Frames"], dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != FRAME_SIZE or len(frames) < 2:
        raise ValueError(f"{path}: expected at least 2 frames of {FRAME_SIZE} numbers, got shape {frames.shape}")
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])  # the last frame's duration is unused
    columns = np.split(frames[:, 8:], np.cumsum([n for _, n in MOTION_JOINTS])[:-1], axis=1)
    joint_rotations = {joint: from_wxyz(values) if n == 4 else values[:, 0]
                       for (joint, n), values in zip(MOTION_JOINTS, columns)}
    return Motion(name=name, loop=data["Loop"] == "wrap", times=times, root_position=frames[:, 1:4],
                  root_rotation=from_wxyz(frames[:, 4:8]), joint_rotations=joint_rotations)


def raw_pose(motion, index):
    """The pose of the motion's frames ``index`` in the form :func:`forward_kinematics` takes."""
    return (motion.root_position[index], motion.root_rotation[index],
            {joint: values[index] for joint, values in motion.joint_rotations.items()})


def cycle_step(motion):
    """Heading change (rad) and ground translation ``(3,)`` of one cycle: they carry the first frame's
    root onto the last one's."""
    # the twist, not the forward axis: crawling, the body faces the floor
    angle = twist_y(motion.root_rotation[-1] * motion.root_rotation[0].inv())
    translation = motion.root_position[-1] - rotation_y(angle).apply(motion.root_position[0])
    translation[1] = 0.0  # no drift in height
    return angle, translation


def close_cycle(motion):
    """A copy of the cyclic ``motion`` whose last frame is its first one moved by :func:`cycle_step`.

    The shipped "wrap" clips do not close (joints differ by up to ~60 degrees between the last and
    the first frame), so looping them as they are would jump at every seam. The residual of every
    rotation, angle and of the root height is spread over the whole cycle with a smoothstep weight,
    which leaves the first frame and the velocities at both ends untouched.
    """
    angle, _ = cycle_step(motion)
    weight = smoothstep(motion.times / motion.times[-1])

    def close_rotation(rotations, target):
        residual = target * rotations[-1].inv()
        return Slerp([0.0, 1.0], Rotation.concatenate([Rotation.identity(), residual]))(weight) * rotations

    joint_rotations = {joint: close_rotation(values, values[0]) if isinstance(values, Rotation)
                       else values + weight * (values[0] - values[-1])
                       for joint, values in motion.joint_rotations.items()}
    root_position = motion.root_position.copy()
    root_position[:, 1] += weight * (motion.root_position[0, 1] - motion.root_position[-1, 1])
    root_rotation = close_rotation(motion.root_rotation, rotation_y(angle) * motion.root_rotation[0])
    return dataclasses.replace(motion, root_position=root_position, root_rotation=root_rotation,
                               joint_rotations=joint_rotations)


def loops_for(motion, min_seconds):
    """How many times the motion is played: cyclic ones until they last ``min_seconds``, others once."""
    return max(1, math.ceil(min_seconds / motion.times[-1] - 1e-9)) if motion.loop else 1


def sample_motion(motion, n_loops, t):
    """The motion played ``n_loops`` times (cyclic clips only) at the times ``t (T,)`` (s, >= 0; after the
    end, the last pose is held).

    Returns ``(root_position (T, 3), root_rotation, joint rotations)`` as :func:`forward_kinematics`
    takes them; rotations are slerped between the two neighbouring frames, angles and positions
    interpolated linearly. Loop k is moved by k cycle steps.
    """
    if n_loops > 1:
        if not motion.loop:
            raise ValueError(f"motion '{motion.name}' is not cyclic and cannot be looped")
        motion = close_cycle(motion)
    period = motion.times[-1]
    cycle = np.minimum((t // period).astype(int), n_loops - 1)
    local_t = t - cycle * period
    seg = np.clip(np.searchsorted(motion.times, local_t, side="right") - 1, 0, len(motion.times) - 2)
    seg_len = np.maximum(motion.times[seg + 1] - motion.times[seg], 1e-9)  # some clips have 0-length frames
    alpha = np.clip((local_t - motion.times[seg]) / seg_len, 0.0, 1.0)

    def interp_rotation(rotations):  # on the frame index: Slerp's times must increase, the clips' need not
        return Slerp(np.arange(len(rotations)), rotations)(seg + alpha)

    def interp_linear(values):
        a = alpha.reshape((-1,) + (1,) * (values.ndim - 1))
        return (1 - a) * values[seg] + a * values[seg + 1]

    root_position = interp_linear(motion.root_position)
    root_rotation = interp_rotation(motion.root_rotation)
    if n_loops > 1:
        step_angle, step_translation = cycle_step(motion)
        translations = [np.zeros(3)]
        for _ in range(n_loops - 1):
            translations.append(rotation_y(step_angle).apply(translations[-1]) + step_translation)
        loop_turn = rotation_y(cycle * step_angle)
        root_position = loop_turn.apply(root_position) + np.array(translations)[cycle]
        root_rotation = loop_turn * root_rotation
    joint_rotations = {joint: interp_rotation(values) if isinstance(values, Rotation) else interp_linear(values)
                       for joint, values in motion.joint_rotations.items()}
    return root_position, root_rotation, joint_rotations


def resample_motion(motion, n_loops, fps=FPS):
    """The motion played ``n_loops`` times (cyclic clips only), sampled at ``fps`` from its start to the end
    of the last loop: :func:`sample_motion` at ``0, 1/fps, ...``."""
    t = np.arange(int(np.floor(n_loops * motion.times[-1] * fps + 1e-9)) + 1) / fps
    return sample_motion(motion, n_loops, t)


# ========================================================================================================
# Drawing: a camera at one moment, the floor, the body
# ========================================================================================================
def project(points_camera, focal, center):
    """Camera coordinates ``(..., 3)`` (mm, x right, y down, z forward) → pixels ``(..., 2)`` of a pinhole
    camera with one ``focal`` length (px, square pixels) and the principal point ``center (2,)`` (px)."""
    return focal * points_camera[..., :2] / points_camera[..., 2:3] + center


@dataclass
class CameraView:
    """A pinhole camera at one moment: what :func:`body_solids` and :func:`floor_image` draw with."""
    focal: float  # px
    center: np.ndarray  # (2,) principal point, px
    size: tuple  # (w, h) px
    rotation: np.ndarray  # (3, 3) world → camera (rows: right, down, forward)
    position: np.ndarray  # (3,) world, mm

    def to_camera(self, points):
        """World ``(n, 3)`` → camera coordinates (x right, y down, z forward), mm."""
        return (points - self.position) @ self.rotation.T

    def project(self, points_camera):
        """Camera coordinates ``(..., 3)`` → pixels ``(..., 2)``."""
        return project(points_camera, self.focal, self.center)


@dataclass(frozen=True)
class BodyColors:
    """A colour scheme of the body: ``parts`` maps every link of :data:`BODY_LINKS` and every face mark of
    :data:`FACE_MARKS` to an RGB colour (0-255)."""
    parts: dict

    def __post_init__(self):
        missing = [p for p in BODY_LINKS + tuple(m for m, _ in FACE_MARKS) if p not in self.parts]
        if missing:
            raise ValueError(f"BodyColors: no colour for {', '.join(missing)}")

    def __getitem__(self, part):
        return self.parts[part]

    @classmethod
    def by_side(cls, left, right, centre, nose=NOSE_RGB, eyes=EYE_RGB):
        """Left limbs ``left``, right limbs ``right``, pelvis, trunk and head ``centre`` (the demo's scheme)."""
        parts = {link: left if link.startswith("left") else right if link.startswith("right") else centre
                 for link in BODY_LINKS}
        return cls({**parts, "nose": nose, "left_eye": eyes, "right_eye": eyes})

    @classmethod
    def outfit(cls, shirt, trousers, skin=(224, 178, 148), shoes=(45, 40, 38), long_sleeves=False,
               nose=None, eyes=EYE_RGB):
        """A dressed person: ``shirt`` on the trunk and upper arms (and forearms with ``long_sleeves``),
        ``trousers`` on the pelvis and legs, ``skin`` on the head and hands, ``shoes``; the nose a darker skin
        tone unless given (so that the face shows on a skin-coloured head)."""
        nose = nose if nose is not None else tuple(int(c * 0.8) for c in skin)
        parts = {"root": trousers, "chest": shirt, "neck": skin}
        for side in SIDES:
            parts.update({f"{side}_hip": trousers, f"{side}_knee": trousers, f"{side}_ankle": shoes,
                          f"{side}_shoulder": shirt, f"{side}_elbow": shirt if long_sleeves else skin,
                          f"{side}_wrist": skin})
        return cls({**parts, "nose": nose, "left_eye": eyes, "right_eye": eyes})

    def describe(self):
        return {part: list(rgb) for part, rgb in self.parts.items()}


DEMO_COLORS = BodyColors.by_side(LIMB_RGB["left"], LIMB_RGB["right"], LIMB_RGB["centre"])

CUBE_CORNERS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)


def body_solids_with_depths(view, skeleton_mm, frames, t, colors=DEMO_COLORS):
    """The body's collision shapes (and face marks) in frame ``t`` seen by ``view`` (the camera at that frame),
    as ``(depth mm, solid)`` pairs in no particular order; a solid is what :func:`draw_solids` takes."""
    solids = []
    for shape in skeleton_mm.shapes:
        if shape.kind == "box":
            points = shape.center + CUBE_CORNERS * shape.half_size
        elif shape.kind == "capsule":
            points = shape.center + np.stack([shape.half_axis, -shape.half_axis])
        else:
            points = shape.center[None]
        rotation, origin = frames[shape.link][0][t], frames[shape.link][1][t]
        cam = view.to_camera(origin + rotation.apply(points))
        depth = cam[:, 2].mean()
        solids.append((depth, (shape.kind, view.project(cam), view.focal * shape.radius / depth, colors[shape.link])))
    head_radius = _single_shape(skeleton_mm.shapes, HEAD_LINK, "sphere").radius
    for name, radius in FACE_MARKS:  # drawn after the head (nearer) only when they face the camera
        link, point = skeleton_mm.local_points[name]
        rotation, origin = frames[link][0][t], frames[link][1][t]
        cam = view.to_camera((origin + rotation.apply(point))[None])
        solids.append((cam[0, 2], ("sphere", view.project(cam), view.focal * radius * head_radius / cam[0, 2],
                                   colors[name])))
    return solids


def far_to_near(depth_solids):
    """The solids of ``(depth, solid, ...)`` tuples, far to near (the painter's order; ties keep their order)."""
    return [item[1] for item in sorted(depth_solids, key=lambda s: -s[0])]


def body_solids(view, skeleton_mm, frames, t, colors=DEMO_COLORS):
    """The body's collision shapes in frame ``t`` as :func:`draw_solids` takes them, far to near."""
    return far_to_near(body_solids_with_depths(view, skeleton_mm, frames, t, colors))


def floor_grid(ground_track, extent_mm=8000.0, step_mm=250.0):
    """Polylines ``(n, 3)`` of a floor grid (lines every ``GRID_SPACING_MM``, points every ``step_mm``) around
    the points ``ground_track (T, 3)``, ``extent_mm`` beyond them."""
    low = np.floor((ground_track.min(0) - extent_mm) / GRID_SPACING_MM) * GRID_SPACING_MM
    high = np.ceil((ground_track.max(0) + extent_mm) / GRID_SPACING_MM) * GRID_SPACING_MM
    lines = []
    for x in np.arange(low[0], high[0] + 1, GRID_SPACING_MM):
        z = np.arange(low[2], high[2] + 1, step_mm)
        lines.append(np.column_stack([np.full_like(z, x), np.zeros_like(z), z]))
    for z in np.arange(low[2], high[2] + 1, GRID_SPACING_MM):
        x = np.arange(low[0], high[0] + 1, step_mm)
        lines.append(np.column_stack([x, np.zeros_like(x), np.full_like(x, z)]))
    return lines


def floor_image(view, grid_lines):
    """A new RGB uint8 picture of ``view``: the background and the floor grid ``grid_lines`` (each ``(n, 3)``)."""
    w, h = view.size
    image = np.empty((h, w, 3), np.uint8)
    image[:] = BACKGROUND_RGB
    for line in grid_lines:
        cam = view.to_camera(line)
        visible = cam[:, 2] > GRID_NEAR_MM  # only what is in front of the camera
        with np.errstate(divide="ignore", invalid="ignore"):  # points in the camera plane: not drawn
            pixels = view.project(cam)
        runs = np.split(np.arange(len(line)), np.flatnonzero(np.diff(visible.astype(int))) + 1)
        draw_polylines(image, [pixels[run] for run in runs if visible[run[0]] and len(run) > 1], GRID_RGB)
    return image
