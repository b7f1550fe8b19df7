"""Scenes with known ground truth: several DeepMimic humanoids (:mod:`lib.data.humanoid`) on one floor, seen by
one static camera, rendered to an H.264 video.

The world is y up in mm, the floor is y = 0; the camera stands over the floor point ``floor_xz_mm`` (default
the origin) and, with ``yaw_deg`` 0, looks along +x with +z to its right. A floor direction is given as a
bearing, in degrees like a compass seen from above: 0 = +x (away from a yaw-0 camera), 90 = +z (to its
right), 180 = towards it, -90 = to its left; so a place ``(x, z)`` is x mm ahead of a yaw-0 camera at the
origin and z mm to its right.

A :class:`Scene` is a :class:`Camera`, its :class:`Person` s and a duration. :func:`render_scene` plays every
person's clip, draws everyone's solids together far to near (the painter's algorithm over all people) on the
floor grid, and measures each person's silhouette on hard-edged label masks (every person has a label, drawn
in the same order): the pixels visible in the final picture, and the person alone on a canvas that the
frame border does not cut. :func:`write_scene` writes ``<name>.mp4``, ``<name>.npz`` (the arrays of
:data:`TRUTH_KEYS`) and ``<name>.json`` (the scene and a summary). :data:`PRESETS` are the scenes of the
tracking benchmark, :data:`WORLD_PRESETS` those of the ground and height benchmarks (docs/demo.md).

Rendering is deterministic: the same arguments give the same files.
"""
import dataclasses
import functools
import json
import math
import zipfile
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from lib.data.humanoid import (DEMO_COLORS, FOOT_KEYPOINTS, KEYPOINT_NAMES, MOTION_NAMES, BodyColors, CameraView,
                               body_solids_with_depths, cycle_step, far_to_near, floor_grid, floor_image,
                               forward_kinematics, keypoints_from_frames, loops_for, motion_path,
                               pybullet_data_dir, read_motion, rotation_y, sample_motion, skeleton_of_height,
                               smooth_track, twist_y)
from lib.utils.vismo import draw_solids, write_video

DEFAULT_SIZE = (1280, 720)
DEFAULT_FPS = 30.0
FOCAL_PER_WIDTH = 0.78125  # the presets' focal length: 1000 px at 1280 px wide (65 degrees horizontally)
NEAR_MM = 300.0  # a person with a keypoint nearer to the camera plane than this is not drawn
FLOOR_GRID_RADIUS_MM = 30000.0  # the floor grid around the camera (farther lines crowd at the horizon)
# H.264 of the scene videos: good constant quality (a detector sees the pictures as rendered), bit-exact
# without metadata, so that the same arguments give the same file.
VIDEO_OPTIONS = dict(codec="libx264", quality=None, pixelformat="yuv420p",
                     ffmpeg_params=["-crf", "18", "-preset", "fast", "-map_metadata", "-1", "-fflags", "+bitexact",
                                    "-flags:v", "+bitexact"])
# A standing person rocks gently about the floor under the pelvis: (amplitude deg, frequency Hz, phase rad)
# about the forward and the sideways axis of the world (a fraction of a degree is what people sway).
STANDING_SWAY = ((0.8, 0.23, 0.0), (0.6, 0.17, 1.0))
IN_PLACE_SMOOTHING_CYCLES = 0.5  # in place: the root minus its track smoothed over this many cycles (keeps the sway)
TRAVELLING_MM_PER_CYCLE = 250.0  # a clip whose root moves more than this per cycle travels (its heading: the travel)
REFERENCE_FPS = 60.0  # the sampling of a clip's reference cycle (its mean heading; independent of the scene)
# The standing pose: the last frame of getup_facedown (upright, arms hanging, both feet on the floor).
STANDING_CLIP, STANDING_TIME_S = "getup_facedown", 3.0


# ========================================================================================================
# The scene: a camera and people
# ========================================================================================================
def _bearing_direction(bearing_deg):
    b = math.radians(bearing_deg)
    return np.array([math.cos(b), 0.0, math.sin(b)])


def _turn(degrees):
    """The rotation about up that adds ``degrees`` to a bearing."""
    return rotation_y(-math.radians(degrees))


@dataclass(frozen=True)
class Camera:
    """A static pinhole camera over the floor.

    ``height_mm`` above the floor point ``floor_xz_mm``; ``yaw_deg`` the bearing of its optical axis,
    ``pitch_deg`` its angle down from the horizontal, ``roll_deg`` its turn about the optical axis
    (positive: clockwise as seen from behind the camera, so that the world appears turned anticlockwise);
    ``focal_px`` one focal length (square pixels), ``principal_point`` (px; None: the image centre),
    ``size`` (w, h) px (even, for H.264), ``fps`` frames per second.
    """
    height_mm: float = 2500.0
    pitch_deg: float = 20.0
    roll_deg: float = 0.0
    yaw_deg: float = 0.0
    floor_xz_mm: tuple = (0.0, 0.0)
    focal_px: float = 1000.0
    size: tuple = DEFAULT_SIZE
    principal_point: tuple = None
    fps: float = DEFAULT_FPS

    def __post_init__(self):
        w, h = self.size
        if w <= 0 or h <= 0 or w % 2 or h % 2:
            raise ValueError(f"Camera: the image size must be positive and even (H.264), got {self.size}")
        if not (self.focal_px > 0 and self.fps > 0 and self.height_mm > 0 and abs(self.pitch_deg) < 90):
            raise ValueError("Camera: focal_px, fps and height_mm must be positive and |pitch_deg| < 90")

    @classmethod
    def looking_at(cls, position_mm, target_mm, roll_deg=0.0, **intrinsics):
        """The camera at ``position_mm (x, y, z)`` aimed at the world point ``target_mm``."""
        d = np.asarray(target_mm, float) - np.asarray(position_mm, float)
        return cls(height_mm=float(position_mm[1]), floor_xz_mm=(float(position_mm[0]), float(position_mm[2])),
                   yaw_deg=math.degrees(math.atan2(d[2], d[0])),
                   pitch_deg=math.degrees(math.atan2(-d[1], math.hypot(d[0], d[2]))), roll_deg=roll_deg,
                   **intrinsics)

    @property
    def center(self):
        """(2,) principal point, px."""
        if self.principal_point is not None:
            return np.array(self.principal_point, dtype=float)
        return np.array(self.size, dtype=float) / 2

    @property
    def position(self):
        """(3,) world, mm."""
        return np.array([self.floor_xz_mm[0], self.height_mm, self.floor_xz_mm[1]], dtype=float)

    @property
    def rotation(self):
        """(3, 3) world → camera; rows: the camera's right, down and forward in the world."""
        yaw, pitch, roll = (math.radians(a) for a in (self.yaw_deg, self.pitch_deg, self.roll_deg))
        forward = np.array([math.cos(pitch) * math.cos(yaw), -math.sin(pitch), math.cos(pitch) * math.sin(yaw)])
        level_right = np.array([-math.sin(yaw), 0.0, math.cos(yaw)])
        level_down = np.cross(forward, level_right)
        right = math.cos(roll) * level_right + math.sin(roll) * level_down
        down = -math.sin(roll) * level_right + math.cos(roll) * level_down
        return np.stack([right, down, forward])

    @property
    def up_in_camera(self):
        """(3,) the world's up (+y) in camera coordinates (x right, y down, z forward): (0, -cos p, -sin p)
        without roll."""
        return self.rotation[:, 1].copy()

    def view(self):
        return CameraView(self.focal_px, self.center, tuple(self.size), self.rotation, self.position)

    def resized(self, size):
        """The same view at another image size: focal length scaled with the width, principal point per axis."""
        scale = np.array(size, float) / np.array(self.size, float)
        principal = None if self.principal_point is None else tuple(float(v) for v in self.center * scale)
        return dataclasses.replace(self, size=tuple(int(v) for v in size), focal_px=self.focal_px * scale[0],
                                   principal_point=principal)

    def describe(self):
        return {"height_mm": self.height_mm, "pitch_deg": self.pitch_deg, "roll_deg": self.roll_deg,
                "yaw_deg": self.yaw_deg, "floor_xz_mm": list(self.floor_xz_mm), "focal_px": self.focal_px,
                "principal_point_px": self.center.tolist(), "size": list(self.size), "fps": self.fps}


@dataclass(frozen=True)
class Person:
    """One humanoid of a scene.

    ``motion``: a clip of ``MOTION_NAMES`` (cyclic clips loop, with their average turning per cycle removed so
    that walkers walk straight; the others play once and hold their last pose). ``stature_m``: floor to head
    top standing (the skeleton and the clip's root motion are scaled to it). ``colors``: a
    :class:`BodyColors` scheme (two people may share one). ``start_mm``: the floor point ``(x, z)`` under
    the pelvis at t = 0. ``heading_deg``: the bearing the person travels (clips whose root moves more than
    ``TRAVELLING_MM_PER_CYCLE`` per cycle) or faces (the others, ``in_place`` and ``standing``), averaged
    over one cycle. ``time_offset_s``: the clip time at t = 0. ``in_place``: the root's travel is removed
    (stepping or dancing on the spot, as on a treadmill). ``standing``: the pose at ``time_offset_s`` held,
    feet on the floor, with a small sway. ``turns``: ``((t_s, degrees), ...)``, a turn on the spot (about the
    floor point under the pelvis) at scene time t, positive to the right (used out of view: a walker leaves
    and comes back). ``appear_s`` / ``disappear_s``: the person is in the scene from / until then (None:
    always).
    """
    motion: str = "walk"
    stature_m: float = 1.70
    colors: BodyColors = DEMO_COLORS
    start_mm: tuple = (5000.0, 0.0)
    heading_deg: float = 0.0
    time_offset_s: float = 0.0
    in_place: bool = False
    standing: bool = False
    turns: tuple = ()
    appear_s: float = None
    disappear_s: float = None
    name: str = ""

    def __post_init__(self):
        if self.motion not in MOTION_NAMES:
            raise ValueError(f"Person: unknown motion '{self.motion}' (expected one of {', '.join(MOTION_NAMES)})")
        if not 0.3 <= self.stature_m <= 3.0:
            raise ValueError(f"Person: stature_m is in metres (0.3-3), got {self.stature_m}")
        if self.time_offset_s < 0:
            raise ValueError("Person: time_offset_s must be >= 0")

    def describe(self):
        return {"name": self.name, "motion": self.motion, "stature_m": self.stature_m,
                "start_mm": list(self.start_mm), "heading_deg": self.heading_deg,
                "time_offset_s": self.time_offset_s, "in_place": self.in_place, "standing": self.standing,
                "turns": [list(t) for t in self.turns], "appear_s": self.appear_s, "disappear_s": self.disappear_s,
                "colors": self.colors.describe()}


def standing_person(**options):
    """A :class:`Person` standing upright (the held last pose of getup_facedown), arms hanging."""
    return Person(motion=STANDING_CLIP, time_offset_s=STANDING_TIME_S, standing=True, **options)


@dataclass(frozen=True)
class Scene:
    """A static ``camera``, its ``people`` (a tuple of :class:`Person`) and ``seconds`` of time."""
    name: str
    camera: Camera
    people: tuple
    seconds: float = 10.0
    description: str = ""

    def __post_init__(self):
        if not self.people or self.seconds <= 0:
            raise ValueError(f"Scene {self.name}: needs at least one person and a positive duration")
        if len(self.people) > 254:
            raise ValueError(f"Scene {self.name}: at most 254 people (one uint8 label each)")

    @property
    def n_frames(self):
        return max(1, int(round(self.seconds * self.camera.fps)))

    @property
    def times(self):
        """(T,) s, the time of every frame."""
        return np.arange(self.n_frames) / self.camera.fps

    def with_options(self, size=None, fps=None, seconds=None):
        """The scene at another image size (the same view), frame rate or duration."""
        camera = self.camera if size is None else self.camera.resized(size)
        camera = camera if fps is None else dataclasses.replace(camera, fps=float(fps))
        return dataclasses.replace(self, camera=camera, seconds=self.seconds if seconds is None else float(seconds))

    def person_names(self):
        return [p.name or f"person{i}" for i, p in enumerate(self.people)]

    def describe(self):
        people = [dict(p.describe(), name=n) for p, n in zip(self.people, self.person_names())]
        return {"name": self.name, "description": self.description, "seconds": self.seconds,
                "n_frames": self.n_frames, "camera": self.camera.describe(), "people": people}


# ========================================================================================================
# A person's motion
# ========================================================================================================
@dataclass
class PersonTrack:
    """A person played at a scene's frames: ``skeleton_mm`` and its link ``frames`` (``{link: (T rotations,
    origin (T, 3))}``, world mm), ``keypoints (T, 27, 3)`` of ``KEYPOINT_NAMES`` (world mm), ``present (T,)``."""
    skeleton_mm: object
    frames: dict
    keypoints: np.ndarray
    present: np.ndarray


def _straightened(motion, clip_t, root_position, root_rotation):
    """Root positions and rotations of a looped clip without its average turning: a counter-rotation at the
    clip's turning rate, applied to the root's rotation and to its steps over the floor (so the path is
    straight on average; the steps within a cycle keep their sway)."""
    angle, _ = cycle_step(motion)
    rate = -angle / motion.times[-1]  # rad/s
    rotation = rotation_y(rate * clip_t) * root_rotation
    if len(clip_t) < 2:
        return root_position, rotation
    steps = rotation_y(rate * (clip_t[1:] + clip_t[:-1]) / 2).apply(np.diff(root_position, axis=0) * [1.0, 0.0, 1.0])
    position = root_position.copy()
    position[1:, [0, 2]] = root_position[0, [0, 2]] + np.cumsum(steps, axis=0)[:, [0, 2]]
    return position, rotation


def _play(person, motion, clip_t, mm_per_unit, fps):
    """The root ``(position (T, 3) mm, rotation)`` and joint rotations of ``motion`` at the clip times
    ``clip_t``, straightened (cyclic clips), in place or standing, in the clip's own orientation."""
    n_loops = max(2, loops_for(motion, float(np.max(clip_t)) + 1e-6)) if motion.loop else 1
    root_position, root_rotation, joints = sample_motion(motion, n_loops, clip_t)
    root_position = root_position * mm_per_unit
    if motion.loop and not person.standing:
        root_position, root_rotation = _straightened(motion, clip_t, root_position, root_rotation)
    if person.in_place and not person.standing:
        sigma = IN_PLACE_SMOOTHING_CYCLES * motion.times[-1] * fps
        root_position[:, [0, 2]] -= smooth_track(root_position, sigma)[:, [0, 2]] - root_position[0, [0, 2]]
    return root_position, root_rotation, joints


def _bearing_of(person, motion, mm_per_unit):
    """The bearing (deg) the played clip travels or faces on average over its reference cycle."""
    period = motion.times[-1]
    if person.standing:
        ref_t = np.full(1, person.time_offset_s)
    else:
        start = person.time_offset_s if motion.loop else 0.0
        ref_t = start + np.arange(int(round(period * REFERENCE_FPS)) + 1) / REFERENCE_FPS
    position, rotation, _ = _play(dataclasses.replace(person, in_place=False), motion, ref_t, mm_per_unit,
                                  REFERENCE_FPS)
    travel = position[-1] - position[0]
    if motion.loop and not (person.in_place or person.standing) and \
            math.hypot(travel[0], travel[2]) > TRAVELLING_MM_PER_CYCLE:
        return math.degrees(math.atan2(travel[2], travel[0]))
    facing = -twist_y(rotation)  # the root's forward axis (x) turned by the twist: bearing = -twist
    return math.degrees(math.atan2(np.sin(facing).mean(), np.cos(facing).mean()))


def _sway(times):
    """Rotations ``(T)`` of a standing person's sway."""
    (a0, f0, p0), (a1, f1, p1) = STANDING_SWAY
    rotvec = np.zeros((len(times), 3))
    rotvec[:, 0] = np.radians(a0) * np.sin(2 * np.pi * f0 * times + p0)
    rotvec[:, 2] = np.radians(a1) * np.sin(2 * np.pi * f1 * times + p1)
    return Rotation.from_rotvec(rotvec)


def person_track(person, times, fps, data_dir):
    """The :class:`PersonTrack` of ``person`` at the scene times ``times (T,)`` (s)."""
    motion = read_motion(motion_path(data_dir, person.motion), person.motion)
    skeleton_mm, mm_per_unit = skeleton_of_height(data_dir, person.stature_m * 1000.0)
    clip_t = np.full(len(times), person.time_offset_s) if person.standing else person.time_offset_s + times
    position, rotation, joints = _play(person, motion, clip_t, mm_per_unit, fps)
    if person.standing:  # the held pose's lowest foot point on the floor, then the sway about the floor
        feet = keypoints_from_frames(skeleton_mm, forward_kinematics(skeleton_mm, position[:1], rotation[:1],
                                                                     {j: v[:1] for j, v in joints.items()}),
                                     FOOT_KEYPOINTS)
        position[:, 1] -= feet[0, :, 1].min()
        pivot = position * [1.0, 0.0, 1.0]
        sway = _sway(times)
        position = pivot + sway.apply(position - pivot)
        rotation = sway * rotation
    # to the person's heading and start, then the turns
    align = _turn(person.heading_deg - _bearing_of(person, motion, mm_per_unit))
    position = align.apply(position)
    position += np.array([person.start_mm[0], 0.0, person.start_mm[1]]) - position[0] * [1.0, 0.0, 1.0]
    quaternions = (align * rotation).as_quat()
    for t_turn, degrees in sorted(person.turns):
        k = int(np.searchsorted(times, t_turn - 1e-9))
        if k >= len(times):
            continue
        turn, pivot = _turn(degrees), position[k] * [1.0, 0.0, 1.0]
        position[k:] = pivot + turn.apply(position[k:] - pivot)
        quaternions[k:] = (turn * Rotation.from_quat(quaternions[k:])).as_quat()
    frames = forward_kinematics(skeleton_mm, position, Rotation.from_quat(quaternions), joints)
    present = np.ones(len(times), bool)
    if person.appear_s is not None:
        present &= times >= person.appear_s - 1e-9
    if person.disappear_s is not None:
        present &= times < person.disappear_s - 1e-9
    return PersonTrack(skeleton_mm, frames, keypoints_from_frames(skeleton_mm, frames), present)


@functools.lru_cache(maxsize=None)
def travel_speed_mm_s(motion_name, stature_m, data_dir=None):
    """The average ground speed (mm/s) of a person playing ``motion_name`` (0 for clips that do not travel)."""
    data_dir = data_dir or pybullet_data_dir()
    motion = read_motion(motion_path(data_dir, motion_name), motion_name)
    if not motion.loop:
        return 0.0
    _, mm_per_unit = skeleton_of_height(data_dir, stature_m * 1000.0)
    ref_t = np.arange(int(round(motion.times[-1] * REFERENCE_FPS)) + 1) / REFERENCE_FPS
    position, _, _ = _play(Person(motion=motion_name, stature_m=stature_m), motion, ref_t, mm_per_unit,
                           REFERENCE_FPS)
    travel = position[-1] - position[0]
    return math.hypot(travel[0], travel[2]) / (ref_t[-1] - ref_t[0])


# ========================================================================================================
# Rendering and ground truth
# ========================================================================================================
# The arrays of a scene's ground truth (render_scene's result, <name>.npz): name -> (shape, meaning). P people,
# T frames, K = 27 keypoints (KEYPOINT_NAMES: the 17 H36M joints, then eyes, ears, big and small toes, heels).
# Pixels: OpenCV's, pixel centres at whole coordinates; a box spans its pixels' edges.
TRUTH_KEYS = {
    "keypoint_names": ("(K,)", "names of the keypoints"),
    "person_names": ("(P,)", "names of the people"),
    "times_s": ("(T,)", "time of each frame, s"),
    "keypoints_world_mm": ("(P, T, K, 3)", "world: y up, the floor at y = 0, mm"),
    "keypoints_camera_mm": ("(P, T, K, 3)", "camera: x right, y down, z forward, mm"),
    "keypoints_px": ("(P, T, K, 2)", "projections of keypoints_camera_mm, px"),
    "present": ("(P, T)", "the person is in the scene (appear_s / disappear_s)"),
    "in_picture": ("(P, T)", "some pixel of the person's silhouette is inside the picture (hidden or not)"),
    "box_px": ("(P, T, 4)", "x0, y0, x1, y1: tight box of the silhouette inside the picture (occluded parts "
                            "included); NaN when not in the picture"),
    "visible_box_px": ("(P, T, 4)", "x0, y0, x1, y1: tight box of the visible pixels; NaN when none"),
    "height_px": ("(P, T)", "box height (y1 - y0), px; NaN when not in the picture"),
    "silhouette_pixels": ("(P, T)", "pixels of the person rendered alone, uncut by the frame border"),
    "visible_pixels": ("(P, T)", "the person's pixels in the final picture"),
    "visible_fraction": ("(P, T)", "visible_pixels / silhouette_pixels (0 when absent)"),
    "stature_mm": ("(P,)", "floor to head top, standing"),
    "focal_px": ("()", "focal length (square pixels)"),
    "principal_point_px": ("(2,)", "principal point"),
    "image_size": ("(2,)", "w, h"),
    "fps": ("()", "frames per second"),
    "rotation_world_to_camera": ("(3, 3)", "camera = R (world - camera_position_mm)"),
    "camera_position_mm": ("(3,)", "world"),
    "up_in_camera": ("(3,)", "world up (+y) in camera coordinates"),
    "pitch_deg": ("()", "down from the horizontal"),
    "roll_deg": ("()", "about the optical axis, clockwise seen from behind the camera"),
    "floor_world": ("(4,)", "n, d of the floor n . p = d in world coordinates: (0, 1, 0, 0)"),
    "floor_camera": ("(4,)", "n, d of the floor n . p = d in camera coordinates: (up_in_camera, -camera height)"),
}


def _edge_box(rows, cols, x_offset=0, y_offset=0):
    """Box ``(x0, y0, x1, y1)`` spanning the pixel ranges (first/last row and column, inclusive)."""
    return (cols[0] + x_offset - 0.5, rows[0] + y_offset - 0.5, cols[-1] + x_offset + 0.5, rows[-1] + y_offset + 0.5)


def _label_solids(solids, label):
    return [(kind, pixels, radius, (label,)) for kind, pixels, radius, _ in solids]


def _extent(solids):
    """Whole-pixel ``(x0, y0, x1, y1)`` (inclusive) that holds every pixel the solids can cover."""
    low, high = np.full(2, np.inf), np.full(2, -np.inf)
    for kind, pixels, radius, _ in solids:
        margin = 2.0 + (radius if kind != "box" else 0.0)  # the outline: 1 px beyond a disc, a capsule, a hull
        low, high = np.minimum(low, pixels.min(0) - margin), np.maximum(high, pixels.max(0) + margin)
    return (*np.floor(low).astype(int), *np.ceil(high).astype(int))


class SceneRenderer:
    """Renders a :class:`Scene` frame by frame and gathers its ground truth (:data:`TRUTH_KEYS`)."""

    def __init__(self, scene, data_dir=None):
        data_dir = data_dir or pybullet_data_dir()
        self.scene = scene
        self.camera = scene.camera
        self.view = scene.camera.view()
        self.times = scene.times
        self.tracks = [person_track(p, self.times, scene.camera.fps, data_dir) for p in scene.people]
        cx, cz = scene.camera.floor_xz_mm
        r = FLOOR_GRID_RADIUS_MM
        self.background = floor_image(self.view, floor_grid(np.array([[cx - r, 0, cz - r], [cx + r, 0, cz + r]]),
                                                            extent_mm=0.0))
        world = np.stack([track.keypoints for track in self.tracks])
        self.keypoints_world = world
        self.keypoints_camera = self.view.to_camera(world)
        self.keypoints_px = self.view.project(self.keypoints_camera)
        self.present = np.stack([track.present for track in self.tracks])
        # drawn: present and wholly in front of the camera (a pinhole cannot draw what is behind it)
        self.drawn = self.present & (self.keypoints_camera[..., 2].min(-1) > NEAR_MM)
        shape = self.present.shape
        self.box = np.full(shape + (4,), np.nan)
        self.visible_box = np.full(shape + (4,), np.nan)
        self.silhouette_pixels = np.zeros(shape, np.int64)
        self.visible_pixels = np.zeros(shape, np.int64)
        self.in_picture = np.zeros(shape, bool)

    def render(self, k, rgb=True):
        """Frame ``k``: records its ground truth and returns its RGB picture ``(h, w, 3)`` uint8 (None without
        ``rgb``)."""
        w, h = self.camera.size
        items = []  # (depth, solid, person) of everyone, for one painter's order
        boxes = {}
        for p, (person, track) in enumerate(zip(self.scene.people, self.tracks)):
            if not self.drawn[p, k]:
                continue
            pairs = body_solids_with_depths(self.view, track.skeleton_mm, track.frames, k, person.colors)
            items += [(depth, solid, p) for depth, solid in pairs]
            boxes[p] = self._measure_alone(p, k, [solid for _, solid in pairs])
        ordered = sorted(items, key=lambda item: -item[0])
        labels = np.zeros((h, w), np.uint8)
        draw_solids(labels, [(kind, px, radius, (p + 1,)) for _, (kind, px, radius, _), p in ordered],
                    antialias=False, outline_shade=1.0)
        for p, clipped in boxes.items():
            if clipped is None:
                continue
            x0, y0, x1, y1 = clipped
            mine = labels[y0:y1 + 1, x0:x1 + 1] == p + 1
            self.visible_pixels[p, k] = np.count_nonzero(mine)
            rows, cols = np.flatnonzero(mine.any(1)), np.flatnonzero(mine.any(0))
            if len(rows):
                self.visible_box[p, k] = _edge_box(rows, cols, x0, y0)
        if not rgb:
            return None
        image = self.background.copy()
        draw_solids(image, far_to_near(ordered))
        return image

    def _measure_alone(self, p, k, solids):
        """The person's silhouette alone on a canvas that holds all of it: records its pixel count, its box
        inside the picture and whether it is in the picture; returns that box in whole pixels (inclusive) or
        None."""
        w, h = self.camera.size
        x0, y0, x1, y1 = _extent(solids)
        canvas = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
        draw_solids(canvas, _label_solids(solids, 1), antialias=False, outline_shade=1.0, offset=(x0, y0))
        self.silhouette_pixels[p, k] = np.count_nonzero(canvas)
        inside = canvas[max(0, -y0):max(0, h - y0), max(0, -x0):max(0, w - x0)]
        rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
        if not len(rows):
            return None
        self.in_picture[p, k] = True
        ox, oy = max(0, x0), max(0, y0)
        self.box[p, k] = _edge_box(rows, cols, ox, oy)
        return cols[0] + ox, rows[0] + oy, cols[-1] + ox, rows[-1] + oy

    def truth(self):
        """The ground truth of the frames rendered so far (all of them after :func:`render_scene`)."""
        camera = self.camera
        fraction = np.where(self.silhouette_pixels > 0, self.visible_pixels / np.maximum(self.silhouette_pixels, 1),
                            0.0)
        up = camera.up_in_camera
        return {
            "keypoint_names": np.array(KEYPOINT_NAMES),
            "person_names": np.array(self.scene.person_names()),
            "times_s": self.times,
            "keypoints_world_mm": self.keypoints_world,
            "keypoints_camera_mm": self.keypoints_camera,
            "keypoints_px": self.keypoints_px,
            "present": self.present,
            "in_picture": self.in_picture,
            "box_px": self.box,
            "visible_box_px": self.visible_box,
            "height_px": self.box[..., 3] - self.box[..., 1],
            "silhouette_pixels": self.silhouette_pixels,
            "visible_pixels": self.visible_pixels,
            "visible_fraction": fraction,
            "stature_mm": np.array([1000.0 * p.stature_m for p in self.scene.people]),
            "focal_px": np.float64(camera.focal_px),
            "principal_point_px": camera.center,
            "image_size": np.array(camera.size),
            "fps": np.float64(camera.fps),
            "rotation_world_to_camera": camera.rotation,
            "camera_position_mm": camera.position,
            "up_in_camera": up,
            "pitch_deg": np.float64(camera.pitch_deg),
            "roll_deg": np.float64(camera.roll_deg),
            "floor_world": np.array([0.0, 1.0, 0.0, 0.0]),
            "floor_camera": np.append(up, -camera.height_mm),
        }


def render_scene(scene, video_path=None, data_dir=None, progress=False):
    """Render ``scene``: the video to ``video_path`` (H.264, ``VIDEO_OPTIONS``; None: no video, the ground
    truth only) and its ground truth, a dict of the arrays of :data:`TRUTH_KEYS`."""
    renderer = SceneRenderer(scene, data_dir)
    frames = (renderer.render(k, rgb=video_path is not None)
              for k in tqdm(range(scene.n_frames), desc=f"render {scene.name}", disable=not progress))
    if video_path is None:
        for _ in frames:
            pass
    else:
        write_video(frames, video_path, scene.camera.fps, **VIDEO_OPTIONS)
    return renderer.truth()


def save_truth(path, truth):
    """Write the arrays ``truth`` as an ``.npz`` file (``np.load`` reads it) with fixed zip dates, so that the
    same arrays give the same bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in truth.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)


def _rounded(values, digits=1):
    values = np.asarray(values, float)
    return None if not np.isfinite(values).any() else round(float(values), digits)


def scene_summary(scene, truth):
    """Per person: the share of frames in the picture, pixel heights, visibility (for the JSON and reports)."""
    summary = []
    for p, name in enumerate(scene.person_names()):
        height = truth["height_px"][p]
        whole = truth["in_picture"][p] & (truth["visible_fraction"][p] > 0.999)
        depth = truth["keypoints_camera_mm"][p, :, 0, 2]
        summary.append({
            "name": name,
            "in_picture_fraction": round(float(truth["in_picture"][p].mean()), 4),
            "height_px_min_max": [_rounded(np.nanmin(height) if np.isfinite(height).any() else np.nan),
                                  _rounded(np.nanmax(height) if np.isfinite(height).any() else np.nan)],
            "height_px_whole_median": _rounded(np.median(height[whole]) if whole.any() else np.nan),
            "pelvis_depth_mm_min_max": [_rounded(depth.min(), 0), _rounded(depth.max(), 0)],
            "visible_fraction_min_in_picture": _rounded(truth["visible_fraction"][p][truth["in_picture"][p]].min()
                                                        if truth["in_picture"][p].any() else np.nan, 3),
            "frames_under_half_visible_in_picture": int(np.count_nonzero(
                truth["in_picture"][p] & (truth["visible_fraction"][p] < 0.5))),
        })
    return summary


def write_scene(scene, video_path, truth_path, json_path, data_dir=None, progress=False):
    """Render ``scene`` to ``video_path`` and write its ground truth (``.npz``, :func:`save_truth`) and its
    description (JSON: the scene, the files' keys, a summary per person); returns the ground truth."""
    truth = render_scene(scene, video_path, data_dir, progress)
    save_truth(truth_path, truth)
    description = dict(scene.describe(), keypoint_names=list(KEYPOINT_NAMES),
                       truth_keys={key: {"shape": shape, "meaning": meaning}
                                   for key, (shape, meaning) in TRUTH_KEYS.items()},
                       summary=scene_summary(scene, truth))
    with open(json_path, "w") as f:
        json.dump(description, f, indent=1)
        f.write("\n")
    return truth


# ========================================================================================================
# Presets
# ========================================================================================================
SHIRTS_AND_TROUSERS = {
    "red": BodyColors.outfit(shirt=(200, 45, 45), trousers=(45, 55, 95)),
    "blue": BodyColors.outfit(shirt=(40, 100, 210), trousers=(150, 135, 100)),
    "green": BodyColors.outfit(shirt=(50, 160, 80), trousers=(40, 40, 45), long_sleeves=True),
    "yellow": BodyColors.outfit(shirt=(235, 190, 40), trousers=(70, 70, 80)),
}
OUT_OF_VIEW_MARGIN_MM = 800.0  # beyond the picture's side at the person's depth: wholly out of view


def preset_camera(size=DEFAULT_SIZE, fps=DEFAULT_FPS, **pose):
    """A preset camera: focal length ``FOCAL_PER_WIDTH`` times the width, principal point in the centre."""
    return Camera(size=tuple(size), fps=float(fps), focal_px=FOCAL_PER_WIDTH * size[0], **pose)


def side_limit_mm(camera, ahead_mm):
    """How far to the side (mm, along z for a yaw-0 camera) a person ``ahead_mm`` in front of ``camera`` is
    wholly out of view: the picture's half width at that distance, for heights 0-2 m, plus a margin."""
    pitch = math.radians(camera.pitch_deg)
    depth = max(ahead_mm * math.cos(pitch) + (camera.height_mm - y) * math.sin(pitch) for y in (0.0, 2000.0))
    return camera.size[0] / 2 / camera.focal_px * depth + OUT_OF_VIEW_MARGIN_MM


def shuttle_turns(start, direction, low, high, speed_mm_s, seconds):
    """The 180-degree turns ``((t_s, 180), ...)`` of a person walking along a line at ``speed_mm_s`` from
    ``start`` (mm along it) in ``direction`` (+1 or -1), turning back whenever it reaches ``low`` or ``high``."""
    turns, t, u = [], 0.0, start
    while speed_mm_s > 0:
        goal = high if direction > 0 else low
        t += abs(goal - u) / speed_mm_s
        if t >= seconds:
            break
        turns.append((round(t, 4), 180.0))
        u, direction = goal, -direction
    return tuple(turns)


def _walker(motion, stature_m, colors, ahead_mm, side_mm, direction, camera, seconds, **options):
    """A person walking across the view (bearing +-90) ``ahead_mm`` in front of ``camera``, from ``side_mm``,
    turning back out of view."""
    limit = side_limit_mm(camera, ahead_mm)
    speed = travel_speed_mm_s(motion, stature_m)
    turns = shuttle_turns(side_mm, direction, -limit, limit, speed, seconds)
    return Person(motion=motion, stature_m=stature_m, colors=colors, start_mm=(ahead_mm, side_mm),
                  heading_deg=90.0 * direction, turns=turns, **options)


def _cross(size, fps, seconds, identical=False):
    camera = preset_camera(size, fps, height_mm=2500.0, pitch_deg=18.0)
    second = "red" if identical else "blue"
    return (camera, (
        _walker("walk", 1.75, SHIRTS_AND_TROUSERS["red"], 5000.0, -3300.0, +1, camera, seconds, name="near"),
        _walker("walk", 1.65, SHIRTS_AND_TROUSERS[second], 8000.0, 4800.0, -1, camera, seconds, name="far",
                time_offset_s=0.4)))


def preset_cross(size=DEFAULT_SIZE, fps=DEFAULT_FPS, seconds=12.0):
    camera, people = _cross(size, fps, seconds)
    return Scene("cross", camera, people, seconds,
                 "two walkers in different colours cross each other's path, 5 m and 8 m away (the near one passes "
                 "in front); both turn back out of view and cross again")


def preset_identical(size=DEFAULT_SIZE, fps=DEFAULT_FPS, seconds=12.0):
    camera, people = _cross(size, fps, seconds, identical=True)
    return Scene("identical", camera, people, seconds,
                 "cross with both people in identical colours: the hard case of identity by appearance")


def preset_occlude(size=DEFAULT_SIZE, fps=DEFAULT_FPS, seconds=10.0):
    camera = preset_camera(size, fps, height_mm=2500.0, pitch_deg=20.0)
    dancer = Person(motion="dance_b", stature_m=1.85, colors=SHIRTS_AND_TROUSERS["yellow"], start_mm=(4500.0, 0.0),
                    heading_deg=180.0, in_place=True, time_offset_s=1.75, name="dancer")
    # the walker crosses the line of sight behind the dancer at 5.3 m, walking diagonally away (bearing 45): its
    # picture moves sideways slowly; the dance's phase (time_offset_s) is the one that hides it most (the
    # humanoid's limbs leave gaps: about 0.6 s more than half hidden, a quarter visible at the least)
    behind, bearing, before_mm = 5300.0, 45.0, 2000.0
    start = (behind - before_mm * math.cos(math.radians(bearing)), -before_mm * math.sin(math.radians(bearing)))
    walker = Person(motion="walk", stature_m=1.55, colors=SHIRTS_AND_TROUSERS["blue"], start_mm=start,
                    heading_deg=bearing, name="walker")
    return Scene("occlude", camera, (dancer, walker), seconds,
                 "one person dances on the spot 4.5 m away; another walks diagonally away behind them (crossing "
                 "the line of sight at 5.3 m), more than half hidden for a while, then on")


def preset_reenter(size=DEFAULT_SIZE, fps=DEFAULT_FPS, seconds=12.0):
    camera = preset_camera(size, fps, height_mm=2500.0, pitch_deg=15.0)
    stayer = standing_person(stature_m=1.70, colors=SHIRTS_AND_TROUSERS["green"], start_mm=(6500.0, -1500.0),
                             heading_deg=160.0, name="stayer")
    ahead = 5500.0
    # wholly out of the picture about 0.5 s before the pelvis reaches the side limit (which has a margin):
    # turning 1 s after that keeps the walker out for about 3 s
    turn_at = side_limit_mm(camera, ahead) / travel_speed_mm_s("walk", 1.75) + 1.0
    leaver = Person(motion="walk", stature_m=1.75, colors=SHIRTS_AND_TROUSERS["red"], start_mm=(ahead, 0.0),
                    heading_deg=90.0, turns=((round(turn_at, 4), 180.0),), name="leaver")
    return Scene("reenter", camera, (stayer, leaver), seconds,
                 "a walker leaves the picture at the right and comes back about 3 s later (the turn happens out "
                 "of view) while a second person stands in the picture")


def preset_three(size=DEFAULT_SIZE, fps=DEFAULT_FPS, seconds=12.0):
    camera = preset_camera(size, fps, height_mm=3000.0, pitch_deg=27.0)
    walker = _walker("walk", 1.70, SHIRTS_AND_TROUSERS["red"], 4800.0, -3000.0, +1, camera, seconds, name="walker")
    runner = _walker("run", 1.80, SHIRTS_AND_TROUSERS["blue"], 7500.0, 3500.0, -1, camera, seconds, name="runner")
    dancer = Person(motion="dance_a", stature_m=1.60, colors=SHIRTS_AND_TROUSERS["green"], start_mm=(6200.0, 300.0),
                    heading_deg=200.0, in_place=True, name="dancer")
    return Scene("three", camera, (walker, runner, dancer), seconds,
                 "a walker (4.8 m), a runner (7.5 m) and a dancer on the spot (6.2 m) cross and partly hide "
                 "each other; camera 3 m high, pitched 27 degrees")


def preset_single(size=DEFAULT_SIZE, fps=DEFAULT_FPS, seconds=12.0):
    camera = preset_camera(size, fps, height_mm=2500.0, pitch_deg=15.0)
    walker = _walker("walk", 1.70, DEMO_COLORS, 6000.0, -2500.0, +1, camera, seconds, name="walker")
    return Scene("single", camera, (walker,), seconds,
                 "one walker in the demo's colours, 6 m away, back and forth: the single-person detector's case")


# name -> builder(size=(w, h), fps=30, seconds=...) -> Scene
PRESETS = {"cross": preset_cross, "occlude": preset_occlude, "reenter": preset_reenter, "three": preset_three,
           "identical": preset_identical, "single": preset_single}

# Ground and height benchmarks: one person about 6 m away, the camera aimed at 0.9 m above the floor there.
WORLD_PITCHES_DEG = (0, 10, 20, 35)
WORLD_STATURES_M = (1.55, 1.75, 1.95)
WORLD_MOTIONS = ("walk", "standing", "stepping")
WORLD_ROLLS_DEG = (-5.0, -2.5, 0.0, 2.5, 5.0)
WORLD_AHEAD_MM = 6000.0


def world_scene(pitch_deg, roll_deg, stature_m, motion, size=DEFAULT_SIZE, fps=DEFAULT_FPS, seconds=10.0,
                camera_height_mm=None):
    """One person for the ground and height benchmarks: ``motion`` 'walk' (across the view 6 m away, back and
    forth, turning out of view), 'standing' or 'stepping' (walking on the spot), seen by a camera pitched
    ``pitch_deg`` and rolled ``roll_deg``."""
    height = camera_height_mm or max(1500.0, 900.0 + WORLD_AHEAD_MM * math.tan(math.radians(pitch_deg)))
    camera = preset_camera(size, fps, height_mm=height, pitch_deg=float(pitch_deg), roll_deg=float(roll_deg))
    colors = SHIRTS_AND_TROUSERS["blue"]
    if motion == "walk":
        person = _walker("walk", stature_m, colors, WORLD_AHEAD_MM, -2000.0, +1, camera, seconds, name="walker")
    elif motion == "standing":
        person = standing_person(stature_m=stature_m, colors=colors, start_mm=(WORLD_AHEAD_MM, 300.0),
                                 heading_deg=150.0, name="stander")
    elif motion == "stepping":
        person = Person(motion="walk", stature_m=stature_m, colors=colors, start_mm=(WORLD_AHEAD_MM, -300.0),
                        heading_deg=-135.0, in_place=True, name="stepper")
    else:
        raise ValueError(f"world_scene: motion is one of {', '.join(WORLD_MOTIONS)}, got '{motion}'")
    name = world_scene_name(pitch_deg, roll_deg, stature_m, motion)
    return Scene(name, camera, (person,), seconds,
                 f"{motion}, {stature_m:.2f} m, camera {height / 1000:.1f} m high pitched {pitch_deg:g} and "
                 f"rolled {roll_deg:g} degrees")


def world_scene_name(pitch_deg, roll_deg, stature_m, motion):
    """e.g. ``ground_p20_r+2.5_175cm_walk``."""
    return f"ground_p{pitch_deg:02.0f}_r{roll_deg:+g}_{round(stature_m * 100)}cm_{motion}"


def _world_presets():
    """name -> builder: every pitch x stature x motion, the roll taking the values of WORLD_ROLLS_DEG in turn."""
    presets = {}
    for i, (pitch, stature, motion) in enumerate((p, s, m) for p in WORLD_PITCHES_DEG for s in WORLD_STATURES_M
                                                 for m in WORLD_MOTIONS):
        roll = WORLD_ROLLS_DEG[i % len(WORLD_ROLLS_DEG)]
        presets[world_scene_name(pitch, roll, stature, motion)] = functools.partial(world_scene, pitch, roll,
                                                                                      stature, motion)
    return presets


WORLD_PRESETS = _world_presets()  # 36 scenes: name -> builder(size, fps, seconds) -> Scene


def make_scene(name, size=None, fps=None, seconds=None):
    """The preset ``name`` (of ``PRESETS`` or ``WORLD_PRESETS``) at ``size``, ``fps`` and ``seconds`` (None: the
    preset's)."""
    builder = PRESETS.get(name) or WORLD_PRESETS.get(name)
    if builder is None:
        raise KeyError(f"unknown scene '{name}'")
    options = {key: value for key, value in (("size", size), ("fps", fps), ("seconds", seconds)) if value is not None}
    return builder(**options)
