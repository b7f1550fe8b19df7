"""Synthetic motion with known answers for tests/test_world.py and tests/test_export.py.

A standing H36M-17 skeleton whose leg, trunk and head bones are vertical (so its standing height is
the head top's height above the ankles), moved by smooth joint rotations (scipy's ``Rotation`` and a
forward kinematics written here, independent of lib/world.py), filmed by a pinhole camera.
"""
import numpy as np
from scipy.spatial.transform import Rotation

from lib.skeleton import JOINT_NAMES, PARENTS

# rest positions (mm; X the person's left, Y up, Z forward), legs and trunk vertical
REST = {"pelvis": (0, 950, 0), "right_hip": (-95, 950, 0), "right_knee": (-95, 510, 0), "right_ankle": (-95, 80, 0),
        "left_hip": (95, 950, 0), "left_knee": (95, 510, 0), "left_ankle": (95, 80, 0), "spine": (0, 1200, 0),
        "thorax": (0, 1440, 0), "nose": (0, 1610, 0), "head_top": (0, 1780, 0), "left_shoulder": (180, 1420, 0),
        "left_elbow": (460, 1420, 0), "left_wrist": (730, 1420, 0), "right_shoulder": (-180, 1420, 0),
        "right_elbow": (-460, 1420, 0), "right_wrist": (-730, 1420, 0)}
REST_JOINTS = np.array([REST[name] for name in JOINT_NAMES], dtype=np.float64)
STANDING_HEIGHT = REST["head_top"][1] - REST["left_ankle"][1]  # 1700 mm


def fk(local_rotvecs, root_positions, root_rotvecs):
    """Joint positions ``(F, 17, 3)``: each joint's rest offset turned by its ancestors' rotations.

    ``local_rotvecs (F, 17, 3)``: every joint's rotation relative to its parent (rotation vectors);
    the pelvis, hips and spine share the root's rotation, the thorax's children its own (rigid segments).
    """
    n = len(root_positions)
    glob = [None] * len(JOINT_NAMES)
    joints = np.zeros((n, len(JOINT_NAMES), 3))
    glob[0] = Rotation.from_rotvec(root_rotvecs)
    joints[:, 0] = root_positions
    for j in range(1, len(JOINT_NAMES)):
        p = PARENTS[j]
        joints[:, j] = joints[:, p] + glob[p].apply(REST_JOINTS[j] - REST_JOINTS[p])
        glob[j] = glob[p] * Rotation.from_rotvec(local_rotvecs[:, j])
    return joints


def moving_poses(n_frames=120, fps=50.0, seed=0, amplitude=0.5):
    """Root-relative poses ``(F, 17, 3)`` (mm, Y up) of smooth random joint rotations, with the pelvis
    turning about the vertical."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames)[:, None] / fps
    phase = rng.uniform(0, 2 * np.pi, (len(JOINT_NAMES), 3))
    freq = rng.uniform(0.3, 1.2, (len(JOINT_NAMES), 3))
    local = amplitude * np.sin(2 * np.pi * freq[None] * t[..., None] + phase[None])
    root_rot = np.zeros((n_frames, 3))
    root_rot[:, 1] = 0.8 * np.sin(2 * np.pi * 0.25 * t[:, 0])
    return fk(local, np.zeros((n_frames, 3)), root_rot)


class Camera:
    """A pinhole camera at ``position`` (world, Y up) aimed at ``target``, turned by ``roll_deg`` about its axis."""

    def __init__(self, position, target, focal=1000.0, center=(640.0, 360.0), roll_deg=0.0):
        forward = np.asarray(target, float) - np.asarray(position, float)
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        roll = Rotation.from_rotvec(np.radians(roll_deg) * np.array([0.0, 0.0, 1.0])).as_matrix()
        self.rotation = roll @ np.stack([right, down, forward])  # world -> camera (x right, y down, z forward)
        self.position = np.asarray(position, float)
        self.focal, self.center = focal, np.asarray(center, float)

    def to_camera(self, world):
        return (world - self.position) @ self.rotation.T

    def project(self, cam):
        return self.focal * cam[..., :2] / cam[..., 2:3] + self.center

    @property
    def up(self):
        """The world's up in camera coordinates."""
        return self.rotation @ np.array([0.0, 1.0, 0.0])


def gait(n_frames=300, fps=50.0, speed=1200.0, cycle_s=1.0, stance=0.6, ankle_height=66.0, lift=120.0):
    """A walk along +X on the floor (Y = 0): ankles ``(F, 2, 3)`` (left, right; world, mm), the head top
    ``(F, 3)`` and the true contacts ``(F, 2)`` (the stance phases, when an ankle does not move)."""
    t = np.arange(n_frames) / fps
    stride = speed * cycle_s
    ankles = np.zeros((n_frames, 2, 3))
    contacts = np.zeros((n_frames, 2), dtype=bool)
    for k, (side_x, shift) in enumerate(((95.0, 0.0), (-95.0, 0.5))):
        phase = (t / cycle_s + shift) % 1.0
        cycle = np.floor(t / cycle_s + shift)
        swing = np.clip((phase - stance) / (1 - stance), 0, 1)
        progress = 0.5 - 0.5 * np.cos(np.pi * swing)  # 0 in stance, smooth to 1 at the end of the swing
        ankles[:, k, 0] = (cycle + progress) * stride - shift * stride
        ankles[:, k, 1] = ankle_height + lift * np.sin(np.pi * swing)
        ankles[:, k, 2] = side_x
        contacts[:, k] = phase < stance
    head = np.stack([speed * t, np.full(n_frames, 1780.0), np.zeros(n_frames)], -1)
    return ankles, head, contacts
