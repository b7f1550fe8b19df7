"""Demo data for the 3D-pose pipeline: the DeepMimic mocap clips shipped with pybullet, filmed by four
virtual Human3.6M-like cameras and written in the schema of ``h36m_sh_conf_cam_source_final.pkl``.

The 15 clips ``pybullet_data/data/motions/humanoid3d_*.txt`` are played on the skeleton of
``pybullet_data/humanoid/humanoid.urdf`` (forward kinematics from the URDF's joint origins, checked
against pybullet's by the tests, scaled to a 1.70 m subject), resampled to 50 Hz (slerp) and mapped to
the H36M-17 joints. Cyclic clips (``Loop: "wrap"``) are looped with continuous root motion until they
last ``--min-seconds``. Each of the four cameras (named and sized like H36M's, ~5 m away, ~1.5 m high,
following the subject) gives one video, ``source`` ``s_SS_act_AA_subact_01_ca_CC``; its 2D
"detections" are the projections plus detector-like noise, with a confidence that falls as the error
grows. Split: test = walk, kick, dance_b, jump (subject 11); train = the other clips (subject 1). The
output is deterministic for a ``--seed``, and a clip's data does not depend on which other clips are
chosen.

Also writes ``<examples-dir>/demo_alphapose.json`` (AlphaPose Halpe-26 results with noisy
detections) and ``<examples-dir>/demo.mp4`` (a rendering of the same clip and camera) for
``infer_wild.py``.

    pip install pybullet   # only this tool needs it, for its data files
    python tools/prepare_demo_data.py [--output data/motion3d/demo/h36m_demo.pkl] [--seed 0]
                                      [--clips walk kick ...] [--no-examples] [--test-videos DIR]
"""
import argparse
import dataclasses
import json
import math
import os
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation, Slerp
from tqdm import tqdm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from lib.data.datareader_h36m import CAMERA_RESOLUTION  # noqa: E402
from lib.data.wild_input import alphapose_results  # noqa: E402
from lib.skeleton import JOINT_NAMES  # noqa: E402
from lib.utils.cli import add_debug_argument, run_cli  # noqa: E402
from lib.utils.errors import UserError  # noqa: E402
from lib.utils.outputs import OutputSet, check_output_file, check_output_folder  # noqa: E402
from lib.utils.tools import write_pkl  # noqa: E402
from lib.utils.vismo import draw_polylines, draw_solids, write_video  # noqa: E402

FPS = 50  # frame rate of the pickle (that of H36M's videos)
DEFAULT_OUTPUT = "data/motion3d/demo/h36m_demo.pkl"

# --- the clips -----------------------------------------------------------------------------------------
MOTION_NAMES = ("backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown", "getup_faceup", "jump",
                "kick", "punch", "roll", "run", "spin", "spinkick", "walk")  # act id = position + 1
TEST_MOTIONS = ("walk", "kick", "dance_b", "jump")
SUBJECT = {"train": 1, "test": 11}  # H36M-style subject ids; s_11 is in none of evaluate()'s blocked sources

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

# --- the cameras ----------------------------------------------------------------------------------------
# H36M's four cameras: id, focal length (px; one value, square pixels), principal point (px) (both close
# to the real calibration) and the azimuth (deg) of their corner of the capture area; resolution from
# CAMERA_RESOLUTION. ca_01..ca_04 in this order, as in H36M.
CAMERAS = (("54138969", 1144.4, (512.5, 515.5), 45.0), ("55011271", 1148.6, (508.8, 508.1), -45.0),
           ("58860488", 1149.0, (519.8, 501.4), 135.0), ("60457274", 1145.1, (515.0, 501.9), -135.0))
CAMERA_NAMES = tuple(c[0] for c in CAMERAS)
AZIMUTH_JITTER_DEG = 15.0  # per video, uniform in +-this; the subject's heading is uniform per clip
CAMERA_DISTANCE_MM = (4500.0, 5500.0)  # horizontal distance to the subject, uniform per video
CAMERA_HEIGHT_MM = (1350.0, 1650.0)
LOOK_AT_HEIGHT_MM = (800.0, 1000.0)  # the camera aims at this height above the subject's ground position
# The cameras dolly along with the subject (fixed orientation), so that looped clips with much root
# travel (run: 3.5 m/s) stay in view; following a smoothed track keeps the subject's own sway visible.
DOLLY_SMOOTHING_S = 1.0

# --- the detector noise ---------------------------------------------------------------------------------
# Standard deviation (px, at ~5 m) of the 2D error per body part: extremities are the hardest to localise.
NOISE_STD_PX = {"pelvis": 2.0, "hip": 2.5, "knee": 3.0, "ankle": 4.5, "spine": 2.5, "thorax": 2.5, "nose": 2.5,
                "head_top": 3.0, "shoulder": 3.0, "elbow": 3.5, "wrist": 5.0, "eye": 2.0, "ear": 2.5,
                "big_toe": 5.0, "small_toe": 5.0, "heel": 4.5}
NOISE_CORRELATION = 0.6  # AR(1) coefficient between consecutive 50 Hz frames: detector errors persist a little
OUTLIER_RATE = 0.002  # per keypoint and frame; three times that on wrists, ankles, toes and heels
EXTREMITY_PARTS = ("wrist", "ankle", "big_toe", "small_toe", "heel")
OUTLIER_PX = (15.0, 60.0)  # outlier displacement, uniform, in a random direction
CONFIDENCE_MAX = 0.98
CONFIDENCE_FALLOFF_PX = 15.0  # confidence = max * exp(-(error / falloff)^2 / 2) * U(0.92, 1)

# --- the example files ----------------------------------------------------------------------------------
BACKGROUND_RGB = (236, 236, 232)
GRID_RGB = (190, 190, 184)
GRID_SPACING_MM = 1000.0
LIMB_RGB = {"left": (66, 120, 220), "right": (235, 120, 40), "centre": (110, 110, 110)}
# Marks on the head sphere, so that a face shows which way the body faces (without them a 2D detector
# cannot tell a front view from a back view and mirrors left and right): keypoint, radius (a fraction of
# the head's), colour
FACE_MARKS = (("nose", 0.2, (232, 190, 160)), ("left_eye", 0.14, (30, 30, 30)), ("right_eye", 0.14, (30, 30, 30)))
# H.264 settings of demo.mp4: small (constant quality) and bit-exact without metadata, so that the
# shipped file only changes when its pictures do
VIDEO_OPTIONS = dict(codec="libx264", quality=None, pixelformat="yuv420p",
                     ffmpeg_params=["-crf", "30", "-preset", "slow", "-map_metadata", "-1", "-fflags", "+bitexact",
                                    "-flags:v", "+bitexact"])


def body_part(name):
    """``left_big_toe`` → ``big_toe``: the keypoint's name without its side."""
    return name.replace("left_", "").replace("right_", "")


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
    """Angle in [-pi, pi) of the rotation about y that remains of ``rotation`` without its swing (swing-twist)."""
    _, y, _, w = rotation.as_quat()
    return (2 * np.arctan2(y, w) + np.pi) % (2 * np.pi) - np.pi


def smoothstep(x):
    return x * x * (3 - 2 * x)


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
            elif geometry.tag == "box" and not np.any(rpy):
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


def resample_motion(motion, n_loops, fps=FPS):
    """The motion played ``n_loops`` times (cyclic clips only), sampled at ``fps``.

    Returns ``(root_position (T, 3), root_rotation, joint rotations)`` as :func:`forward_kinematics`
    takes them; rotations are slerped between the two neighbouring frames, angles and positions
    interpolated linearly. Loop k is moved by k cycle steps.
    """
    if n_loops > 1:
        if not motion.loop:
            raise ValueError(f"motion '{motion.name}' is not cyclic and cannot be looped")
        motion = close_cycle(motion)
    period = motion.times[-1]
    t = np.arange(int(np.floor(n_loops * period * fps + 1e-9)) + 1) / fps
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


# ========================================================================================================
# Cameras and detections
# ========================================================================================================
@dataclass
class Camera:
    name: str
    focal: float  # px
    center: np.ndarray  # (2,) principal point, px
    size: tuple  # (w, h) px
    rotation: np.ndarray  # (3, 3) world → camera (rows: right, down, forward)
    position: np.ndarray  # (T, 3) world, mm

    def to_camera(self, points):
        """World ``(T, K, 3)`` → camera coordinates (x right, y down, z forward), mm."""
        return np.einsum("ij,tkj->tki", self.rotation, points - self.position[:, None])

    def to_camera_at(self, points, t):
        """World ``(n, 3)`` at frame ``t`` → camera coordinates, mm."""
        return (points - self.position[t]) @ self.rotation.T

    def project(self, points_camera):
        """Camera coordinates ``(..., 3)`` → pixels ``(..., 2)``."""
        return self.focal * points_camera[..., :2] / points_camera[..., 2:3] + self.center


def smooth_track(track, sigma):
    """Gaussian-smoothed ``track (T, 3)``. Padded by point reflection, so that a subject moving steadily
    is followed right up to the ends (edge padding would make the camera lag there)."""
    pad = min(len(track) - 1, int(4 * sigma))
    head = 2 * track[0] - track[pad:0:-1]
    tail = 2 * track[-1] - track[-2:-pad - 2:-1]
    padded = np.concatenate([head, track, tail])
    return gaussian_filter1d(padded, sigma, axis=0, mode="nearest")[pad:pad + len(track)]


def place_camera(rng, spec, ground_track):
    """One camera of ``CAMERAS`` following the subject's smoothed ``ground_track (T, 3)`` (y = 0)."""
    name, focal, center, azimuth = spec
    azimuth = np.radians(azimuth + rng.uniform(-AZIMUTH_JITTER_DEG, AZIMUTH_JITTER_DEG))
    distance = rng.uniform(*CAMERA_DISTANCE_MM)
    offset = np.array([distance * np.cos(azimuth), rng.uniform(*CAMERA_HEIGHT_MM), distance * np.sin(azimuth)])
    forward = normalize(np.array([0.0, rng.uniform(*LOOK_AT_HEIGHT_MM), 0.0]) - offset)
    right = normalize(np.cross(forward, [0.0, 1.0, 0.0]))
    down = np.cross(forward, right)
    return Camera(name=name, focal=focal, center=np.array(center), size=CAMERA_RESOLUTION[name],
                  rotation=np.stack([right, down, forward]), position=ground_track + offset)


def detect(rng, pixels, names):
    """Detector-like 2D keypoints: ``pixels (T, K, 2)`` plus noise → ``(noisy (T, K, 2), confidence (T, K))``.

    The error of keypoint k is an AR(1) process with standard deviation ``NOISE_STD_PX[part]``
    (plus rare single-frame outliers); the confidence falls as a Gaussian of the error's length.
    """
    n_frames, n_points = pixels.shape[:2]
    std = np.array([NOISE_STD_PX[body_part(n)] for n in names])[:, None]
    innovation = rng.standard_normal((n_frames, n_points, 2)) * std
    error = np.empty_like(innovation)
    error[0] = innovation[0]
    for t in range(1, n_frames):
        error[t] = NOISE_CORRELATION * error[t - 1] + np.sqrt(1 - NOISE_CORRELATION ** 2) * innovation[t]
    rate = np.array([OUTLIER_RATE * (3 if body_part(n) in EXTREMITY_PARTS else 1) for n in names])
    outlier = rng.random((n_frames, n_points)) < rate
    direction = rng.uniform(0, 2 * np.pi, (n_frames, n_points))
    length = rng.uniform(*OUTLIER_PX, (n_frames, n_points))
    error += (outlier * length)[..., None] * np.stack([np.cos(direction), np.sin(direction)], -1)
    distance = np.linalg.norm(error, axis=-1)
    confidence = (CONFIDENCE_MAX * np.exp(-0.5 * (distance / CONFIDENCE_FALLOFF_PX) ** 2)
                  * rng.uniform(0.92, 1.0, (n_frames, n_points)))
    return pixels + error, confidence


# ========================================================================================================
# Takes and videos
# ========================================================================================================
@dataclass
class Take:
    """One clip played by the 1.70 m subject (world: y up, mm) and the four cameras filming it."""
    motion: str
    split: str
    act_id: int
    frames: dict  # link -> (T rotations, origin (T, 3)), for rendering
    keypoints: np.ndarray  # (T, len(KEYPOINT_NAMES), 3)
    cameras: list
    noise_seeds: list  # per camera: seed of the detection noise of its video
    example_seeds: list  # per camera: seed of the detection noise of the example files


def split_of(motion):
    return "test" if motion in TEST_MOTIONS else "train"


def simulate_take(skeleton_mm, mm_per_unit, motion, seed, min_seconds):
    """Play ``motion`` (looped to ``min_seconds`` if cyclic) with a random heading and place the cameras.

    The random streams depend only on ``seed`` and the motion, so a clip's data does not change with
    the selection of other clips.
    """
    act_id = MOTION_NAMES.index(motion.name) + 1
    n = len(CAMERAS)
    seeds = np.random.SeedSequence([seed, act_id]).spawn(1 + 3 * n)
    take_rng = np.random.default_rng(seeds[0])
    camera_rngs = [np.random.default_rng(s) for s in seeds[1:1 + n]]
    root_position, root_rotation, joint_rotations = resample_motion(motion, loops_for(motion, min_seconds))
    turn = rotation_y(take_rng.uniform(0, 2 * np.pi))  # the subject's heading
    frames = forward_kinematics(skeleton_mm, mm_per_unit * turn.apply(root_position), turn * root_rotation,
                                joint_rotations)
    keypoints = keypoints_from_frames(skeleton_mm, frames)
    ground_track = smooth_track(frames["root"][1], DOLLY_SMOOTHING_S * FPS)
    ground_track[:, 1] = 0.0
    cameras = [place_camera(rng, spec, ground_track) for rng, spec in zip(camera_rngs, CAMERAS)]
    return Take(motion=motion.name, split=split_of(motion.name), act_id=act_id, frames=frames, keypoints=keypoints,
                cameras=cameras, noise_seeds=seeds[1 + n:1 + 2 * n], example_seeds=seeds[1 + 2 * n:])


def source_name(take, camera_index):
    return f"s_{SUBJECT[take.split]:02d}_act_{take.act_id:02d}_subact_01_ca_{camera_index + 1:02d}"


def video_arrays(take, camera_index):
    """The per-frame arrays of one camera's video, in the schema and dtypes of the H36M pickle.

    ``joint3d_image``: noise-free pixel x, y and the depth relative to the root in the same pixel
    units; ``2.5d_factor`` = root depth / focal length (mm per pixel), so that
    ``joints_2.5d_image = joint3d_image * 2.5d_factor`` is in mm.

    Beyond H36M's schema, for metric benchmarks (``bench/bench_world.py``): ``joints_cam_mm``, the
    joints in camera coordinates (x right, y down, z forward, mm); the camera's intrinsics
    ``camera_focal`` (px) and ``camera_center`` (px); its extrinsics ``camera_rotation`` (world → camera)
    and ``camera_position`` (world, mm; the world is y up, the floor at y = 0).
    """
    camera = take.cameras[camera_index]
    points = camera.to_camera(take.keypoints[:, :len(H36M_KEYPOINTS)])
    root_depth = points[:, 0, 2]
    factor = root_depth / camera.focal
    depth_px = (points[..., 2] - root_depth[:, None]) / factor[:, None]
    joint3d_image = np.concatenate([camera.project(points), depth_px[..., None]], axis=-1)
    rng = np.random.default_rng(take.noise_seeds[camera_index])
    joint_2d, confidence = detect(rng, joint3d_image[..., :2], H36M_KEYPOINTS)
    n_frames = len(points)
    return {
        "joint_2d": joint_2d.astype(np.float32),
        "confidence": confidence.astype(np.float32),
        "joint3d_image": joint3d_image.astype(np.float32),
        "joints_2.5d_image": joint3d_image * factor[:, None, None],
        "2.5d_factor": factor,
        "camera_name": np.full(n_frames, camera.name),
        "action": np.full(n_frames, take.motion),
        "source": np.full(n_frames, source_name(take, camera_index)),
        "c3d_frame": np.arange(n_frames, dtype=np.int64),  # frame index in the video (50 Hz)
        "joints_cam_mm": points.astype(np.float32),
        "camera_focal": np.full(n_frames, camera.focal),
        "camera_center": np.tile(camera.center, (n_frames, 1)),
        "camera_rotation": np.tile(camera.rotation, (n_frames, 1, 1)),
        "camera_position": camera.position,
    }


def fraction_in_view(take, camera_index):
    """Fraction of the video's frames in which every H36M joint projects inside the image."""
    camera = take.cameras[camera_index]
    pixels = camera.project(camera.to_camera(take.keypoints[:, :len(H36M_KEYPOINTS)]))
    inside = (pixels >= 0).all(-1) & (pixels[..., 0] < camera.size[0]) & (pixels[..., 1] < camera.size[1])
    return inside.all(-1).mean()


class DemoSubject:
    """The DeepMimic humanoid scaled to a ``SUBJECT_HEIGHT_MM`` subject, and its clips."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.mm_per_unit = SUBJECT_HEIGHT_MM / rest_height(load_skeleton(urdf_path(data_dir)))
        self.skeleton_mm = load_skeleton(urdf_path(data_dir), URDF_SCALE * self.mm_per_unit)

    def take(self, name, seed, min_seconds):
        motion = read_motion(motion_path(self.data_dir, name), name)
        return simulate_take(self.skeleton_mm, self.mm_per_unit, motion, seed, min_seconds)


def build_dataset(subject, clips, seed, min_seconds):
    """``({'train': arrays, 'test': arrays}, {clip: Take}, [(split, source, frames, in-view fraction)])``."""
    videos = {"train": [], "test": []}
    takes, report = {}, []
    for name in tqdm(clips, desc="clips"):
        take = takes[name] = subject.take(name, seed, min_seconds)
        for camera_index in range(len(CAMERAS)):
            arrays = video_arrays(take, camera_index)
            videos[take.split].append(arrays)
            report.append((take.split, source_name(take, camera_index), len(arrays["source"]),
                           fraction_in_view(take, camera_index)))
    dataset = {split: {key: np.concatenate([v[key] for v in vids]) for key in vids[0]}
               for split, vids in videos.items()}
    return dataset, takes, report


# ========================================================================================================
# Example files: AlphaPose JSON and video of one clip seen by one camera
# ========================================================================================================
def scaled_camera(camera, scale, size):
    """The camera of a video downscaled by ``scale`` (pixel coordinates times ``scale``)."""
    return dataclasses.replace(camera, focal=camera.focal * scale, center=camera.center * scale, size=size)


def demo_alphapose_results(keypoints, scores):
    """AlphaPose result list (one person per frame): Halpe-26 ``keypoints (T, 26, 2)``, ``scores (T, 26)``."""
    # detection scores on the scale of AlphaPose's (box score + keypoint terms, about 2.5-3.2)
    return alphapose_results(np.concatenate([keypoints, scores[..., None]], axis=-1),
                             scores=scores.mean(-1) + 1.25 * scores.max(-1) + 1.0)


CUBE_CORNERS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)


def body_solids(camera, skeleton_mm, frames, t):
    """The body's collision shapes in frame ``t`` as :func:`draw_solids` takes them, far to near."""
    solids = []
    for shape in skeleton_mm.shapes:
        if shape.kind == "box":
            points = shape.center + CUBE_CORNERS * shape.half_size
        elif shape.kind == "capsule":
            points = shape.center + np.stack([shape.half_axis, -shape.half_axis])
        else:
            points = shape.center[None]
        rotation, origin = frames[shape.link][0][t], frames[shape.link][1][t]
        cam = camera.to_camera_at(origin + rotation.apply(points), t)
        depth = cam[:, 2].mean()
        side = "left" if shape.link.startswith("left") else "right" if shape.link.startswith("right") else "centre"
        solids.append((depth, (shape.kind, camera.project(cam), camera.focal * shape.radius / depth, LIMB_RGB[side])))
    head_radius = _single_shape(skeleton_mm.shapes, HEAD_LINK, "sphere").radius
    for name, radius, color in FACE_MARKS:  # drawn after the head (nearer) only when they face the camera
        link, point = skeleton_mm.local_points[name]
        rotation, origin = frames[link][0][t], frames[link][1][t]
        cam = camera.to_camera_at((origin + rotation.apply(point))[None], t)
        solids.append((cam[0, 2], ("sphere", camera.project(cam), camera.focal * radius * head_radius / cam[0, 2],
                                   color)))
    return [solid for _, solid in sorted(solids, key=lambda s: -s[0])]


def render_frame(camera, skeleton_mm, frames, t, grid_lines):
    """Frame ``t`` of the example video (RGB uint8): the body's collision shapes (and a face) over a floor grid.

    The tool's one rendering step: a renderer of another kind replaces this function.
    """
    w, h = camera.size
    image = np.empty((h, w, 3), np.uint8)
    image[:] = BACKGROUND_RGB
    for line in grid_lines:
        cam = camera.to_camera_at(line, t)
        visible = cam[:, 2] > 300.0  # only what is in front of the camera
        pixels = camera.project(cam)
        runs = np.split(np.arange(len(line)), np.flatnonzero(np.diff(visible.astype(int))) + 1)
        draw_polylines(image, [pixels[run] for run in runs if visible[run[0]] and len(run) > 1], GRID_RGB)
    draw_solids(image, body_solids(camera, skeleton_mm, frames, t))
    return image


def floor_grid(ground_track, extent_mm=8000.0, step_mm=250.0):
    """Polylines ``(n, 3)`` of a floor grid around the subject's track."""
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


def render_video(subject, take, camera_index, frame_ids, fps, scale, path):
    """Write the video of ``take`` seen by camera ``camera_index`` (its frames ``frame_ids``, the image scaled
    by ``scale``) to ``path``; returns ``(w, h)``."""
    camera = take.cameras[camera_index]
    size = tuple(int(v * scale) // 2 * 2 for v in camera.size)  # even sizes for H.264 (cropping, not stretching)
    video_camera = scaled_camera(camera, scale, size)
    grid = floor_grid(take.frames["root"][1])
    write_video((render_frame(video_camera, subject.skeleton_mm, take.frames, t, grid)
                 for t in tqdm(frame_ids, desc="render video")), path, fps, **VIDEO_OPTIONS)
    return size


def write_examples(subject, take, camera_index, out_dir, fps, seconds, scale, out):
    """``demo_alphapose.json`` and ``demo.mp4`` of ``take`` seen by camera ``camera_index``, written under
    the temporary names of ``out`` (an ``OutputSet``).

    The detections are made on the camera's full-size image and scaled with the video. Returns
    ``(json path, video path, number of frames, (w, h))``.
    """
    frame_ids = np.arange(0, min(len(take.keypoints), int(round(seconds * FPS))), FPS // fps)
    camera = take.cameras[camera_index]
    halpe_ids = [KEYPOINT_NAMES.index(n) for n in HALPE26_KEYPOINTS]
    pixels = camera.project(camera.to_camera(take.keypoints[:, halpe_ids]))
    noisy, scores = detect(np.random.default_rng(take.example_seeds[camera_index]), pixels, HALPE26_KEYPOINTS)
    json_path, video_path = os.path.join(out_dir, "demo_alphapose.json"), os.path.join(out_dir, "demo.mp4")
    with open(out.path(json_path), "w") as f:
        json.dump(demo_alphapose_results(noisy[frame_ids] * scale, scores[frame_ids]), f, separators=(",", ":"))
    size = render_video(subject, take, camera_index, frame_ids, fps, scale, out.path(video_path))
    return json_path, video_path, len(frame_ids), size


def write_test_videos(subject, takes, camera_names, out_dir, scale, out):
    """The videos of the test clips seen by ``camera_names``, every frame of the pickle (50 fps), named
    ``<source>.mp4``: the input of bench/bench_video.py, whose ground truth is in the pickle. Returns the
    paths."""
    paths = []
    for take in takes:
        for name in camera_names:
            camera_index = CAMERA_NAMES.index(name)
            path = os.path.join(out_dir, source_name(take, camera_index) + ".mp4")
            render_video(subject, take, camera_index, np.arange(len(take.keypoints)), FPS, scale, out.path(path))
            paths.append(path)
    return paths


# ========================================================================================================
# Command line
# ========================================================================================================
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="pickle to write, H36M schema (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice, >= 0 (default: %(default)s)")
    parser.add_argument("--clips", nargs="+", choices=MOTION_NAMES, metavar="CLIP",
                        help=f"clips to use, at least one train and one test clip (default: all: "
                             f"{', '.join(MOTION_NAMES)}; the test clips are {', '.join(TEST_MOTIONS)})")
    parser.add_argument("--min-seconds", type=float, default=10.0,
                        help="cyclic clips are looped until they last at least this long (default: %(default)s)")
    parser.add_argument("--examples-dir", default="examples",
                        help="folder of demo_alphapose.json and demo.mp4 (default: %(default)s)")
    parser.add_argument("--no-examples", action="store_true", help="do not write the example files")
    parser.add_argument("--example-clip", default="walk", choices=MOTION_NAMES, metavar="CLIP",
                        help="clip of the example files (default: %(default)s)")
    parser.add_argument("--example-camera", default="55011271", choices=CAMERA_NAMES,
                        help="camera of the example files (default: %(default)s)")
    parser.add_argument("--example-seconds", type=float, default=8.0,
                        help="length of the example video, s (default: %(default)s)")
    parser.add_argument("--example-fps", type=int, default=25,
                        help=f"frame rate of the example video, a divisor of {FPS} (default: %(default)s)")
    parser.add_argument("--example-scale", type=float, default=0.5,
                        help="size of the example video relative to the camera image; the JSON is in the "
                             "video's pixels (default: %(default)s)")
    parser.add_argument("--test-videos", metavar="DIR", default=None,
                        help="also render the test clips' videos (every frame, 50 fps) into DIR, for "
                             "bench/bench_video.py (default: none)")
    parser.add_argument("--test-cameras", nargs="+", default=["54138969", "55011271"], choices=CAMERA_NAMES,
                        metavar="CAMERA", help="cameras of --test-videos (default: %(default)s)")
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error("--seed must be non-negative")
    if args.min_seconds <= 0 or args.example_seconds <= 0 or args.example_scale <= 0:
        parser.error("--min-seconds, --example-seconds and --example-scale must be positive")
    if args.example_fps <= 0 or FPS % args.example_fps:
        parser.error(f"--example-fps must divide {FPS}, got {args.example_fps}")
    args.clips = [c for c in MOTION_NAMES if args.clips is None or c in args.clips]  # canonical order, no duplicates
    if not any(c in TEST_MOTIONS for c in args.clips) or all(c in TEST_MOTIONS for c in args.clips):
        parser.error(f"--clips needs at least one test clip ({', '.join(TEST_MOTIONS)}) and one train clip: "
                     f"the pickle must have both splits")
    return args


def main(argv=None):
    args = parse_args(argv)
    check_output_file(args.output, "--output")
    if not args.no_examples:
        check_output_folder(args.examples_dir, ["demo_alphapose.json", "demo.mp4"], option="--examples-dir")
    if args.test_videos:
        check_output_folder(args.test_videos, option="--test-videos")
    subject = DemoSubject(pybullet_data_dir())
    dataset, takes, report = build_dataset(subject, args.clips, args.seed, args.min_seconds)
    with OutputSet() as out:  # the pickle and the examples appear together
        write_pkl(dataset, out.path(args.output))
        if not args.no_examples:
            take = takes.get(args.example_clip) or subject.take(args.example_clip, args.seed, args.min_seconds)
            camera_index = CAMERA_NAMES.index(args.example_camera)
            examples = write_examples(subject, take, camera_index, args.examples_dir, args.example_fps,
                                      args.example_seconds, args.example_scale, out)
        if args.test_videos:
            test_takes = [takes[c] for c in args.clips if split_of(c) == "test"]
            test_videos = write_test_videos(subject, test_takes, args.test_cameras, args.test_videos,
                                            args.example_scale, out)
    for split in ("train", "test"):
        clips = [c for c in args.clips if split_of(c) == split]
        print(f"{split}: {len(dataset[split]['source'])} frames; clips ({len(CAMERAS)} cameras each): "
              f"{', '.join(clips)}")
    for split, source, n_frames, in_view in report:
        note = "" if in_view == 1 else f"  (all joints in view in {100 * in_view:.1f}% of the frames)"
        print(f"  {split:5s} {source}  {n_frames:4d} frames{note}")
    print(f"wrote {args.output} ({os.path.getsize(args.output) / 2 ** 20:.1f} MiB)")
    if not args.no_examples:
        json_path, video_path, n_frames, size = examples
        print(f"wrote {json_path} and {video_path}: {args.example_clip} seen by camera {args.example_camera} "
              f"({source_name(take, camera_index)}), {n_frames} frames at {args.example_fps} fps, {size[0]}x{size[1]}")
    if args.test_videos:
        print(f"wrote {len(test_videos)} test videos to {args.test_videos} ({FPS} fps, --example-scale "
              f"{args.example_scale:g})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
