"""The world-motion pipeline: lifted poses in, :class:`WorldMotion` out (:mod:`lib.world`)."""
from dataclasses import dataclass, field

import numpy as np

from lib.data.plausibility import MAX_ROOT_SPEED_M_S, frame_ranges
from lib.skeleton import EYES, FOOT_POINT_NAMES, HEAD_TOP, JOINT_NAMES, PARENTS, ROOT
from lib.world.camera import TRAJECTORY_CUTOFF_S, Intrinsics, camera_intrinsics, root_trajectory
from lib.world.feet import FOOT_LENGTH_FRACTION, HEEL_BACK_FRACTION, place_feet
from lib.world.ground import Z_UP, GroundFit, _speed, fit_ground, foot_contacts, initial_up, sole_points, world_frame
from lib.world.options import DEFAULT_HEIGHT_M, check_world_options
from lib.world.skeleton import (ANKLE_HEIGHT_FRACTION, FEET, SMOOTH_ORDER, SMOOTH_WINDOW_S, Skeleton, _normalize,
                                _shortest_rotation, fit_skeleton, forward_kinematics, metric_scale, smooth_poses,
                                solve_rotations)

# How strongly a foot in contact is held in place, against the camera trajectory's per-frame estimate.
FOOT_LOCK_WEIGHT = 10.0


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
    first_frame: int = 0        # the video frame of the first pose (the exports number frames from it)
    origin: str = "below the root (pelvis) of the first frame"
    feet: np.ndarray = None     # (F, 4, 3) world, mm: lib.skeleton.FOOT_POINT_NAMES (heels and toes)
    feet_from_keypoints: np.ndarray = None  # (F, 2) bool: the left, right foot placed from 2D foot keypoints
    implausible: str = ""       # why this motion cannot be a person's (the root faster than a person moves)

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
            axes += f"; up uncertain by ±{self.ground.sigma_deg:.1f}° (see ground.note)"
        feet = None if self.feet is None else {
            "points": list(FOOT_POINT_NAMES),
            "from_keypoints_fraction": [round(float(f), 4) for f in self.feet_from_keypoints.mean(axis=0)],
            "elsewhere": "a flat foot below the ankle, pointing the way the person faces"}
        return {
            "units": "mm", "up": f"+{up_axis}", "axes": axes,
            "origin": f"on the floor ({up_axis} = 0) {self.origin}",
            "fps": self.fps, "first_frame": self.first_frame, "n_frames": int(len(self.joints)),
            "height_m": round(self.height_mm / 1000, 4),
            "height": "assumed (give --height)" if self.height_assumed else "given (--height)",
            "intrinsics": self.intrinsics.describe() if self.intrinsics else None,
            "steps": list(self.steps), "notes": list(self.notes),
            "ground": self.ground.describe(), "feet": feet,
            "bone_lengths_mm": {JOINT_NAMES[j]: round(float(length), 2)
                                for j, length in enumerate(self.skeleton.lengths) if j != ROOT},
            "contact_joints": [JOINT_NAMES[j] for j in FEET],
        }


@dataclass
class _CameraMotion:
    """One person in camera space: the metric skeleton, its rotations and root trajectory."""
    relative: np.ndarray    # (F, 17, 3) root-relative joints (forward kinematics), mm
    rotations: np.ndarray   # (F, 17, 3, 3) in camera axes
    skeleton: Skeleton
    root: np.ndarray        # (F, 3) camera-space root, mm (zeros without a trajectory)
    keypoints_px: np.ndarray
    feet_px: np.ndarray     # (F, 4, 3) 2D foot keypoints, or None
    steps: list

    @property
    def joints(self):
        return self.relative + self.root[:, None]


def _camera_motion(poses_3d, keypoints_px, feet_px, intrinsics, fps, height_mm, smooth, top):
    steps = []
    poses = np.asarray(poses_3d, dtype=np.float64)
    poses = poses - poses[:, ROOT:ROOT + 1]
    if smooth:
        poses = smooth_poses(poses, fps)
        steps.append(f"smoothing: Savitzky-Golay, {SMOOTH_WINDOW_S:g} s window, order {SMOOTH_ORDER}")
    scale = metric_scale(poses, height_mm, top)
    poses = poses * scale
    steps.append(f"metric scale: stature (floor to the top of the head: legs, trunk, head above the thorax, the "
                 f"ankle's height{' and the head above the eyes' if top == EYES else ''}) set to {height_mm:.0f} mm "
                 f"(x {scale:.6g})")
    skeleton = fit_skeleton(poses)
    rotations = solve_rotations(poses, skeleton)
    relative = forward_kinematics(skeleton.offsets, rotations)
    steps.append("constant bone lengths, rigid pelvis and shoulder girdle (joint rotations, forward kinematics)")
    root = np.zeros((len(poses), 3))
    if intrinsics is not None:
        keypoints_px = np.asarray(keypoints_px, dtype=np.float64)
        root = root_trajectory(relative, keypoints_px[..., :2], keypoints_px[..., 2], intrinsics, fps)
        steps.append(f"root trajectory: per-frame least squares on the 2D keypoints, smoothed (Whittaker, "
                     f"cut-off {', '.join(f'{s:g}' for s in TRAJECTORY_CUTOFF_S)} s in x, y, z)")
    feet_px = None if feet_px is None else np.asarray(feet_px, dtype=np.float64)
    return _CameraMotion(relative, rotations, skeleton, root, keypoints_px, feet_px, steps)


def world_motions(people, image_size=None, fps=None, height=None, focal=None, fov=None, center=None, up="y",
                  smooth=False, foot_lock=True, names=None, first_frames=None, top=HEAD_TOP, pitch=None):
    """:class:`WorldMotion` of each of several people of one video, in one shared world.

    ``people``: per person ``(poses_3d (F, 17, 3), keypoints_px (F, 17, 3) or None[, feet_px (F, 4, 3) or None])``,
    their frames of the video (``first_frames``: the video frame of each one's first pose, default 0);
    ``feet_px``: the 2D foot keypoints (``lib.skeleton.FOOT_POINT_NAMES``) where the input has them. The other
    arguments as :func:`world_motion` (``height`` applies to everyone). Every person's root trajectory is in the
    same camera, so one floor and up (:func:`lib.world.ground.fit_ground`, from everyone's cues) and one origin (on
    the floor below the first person's first root) keep their distances to each other. ``names``: how the notes
    call the people (default 0, 1, ...).
    """
    check_world_options(height, focal, fov, up, pitch, center)
    names = list(range(len(people))) if names is None else list(names)
    first_frames = [0] * len(people) if first_frames is None else list(first_frames)
    people = [tuple(person) + (None,) * (3 - len(person)) for person in people]
    notes = []
    if not fps:
        fps = 25.0
        notes.append("fps unknown: 25 assumed (give --vid_path or --fps)")
    height_assumed = height is None
    height_mm = 1000.0 * (DEFAULT_HEIGHT_M if height_assumed else height)
    if height_assumed:
        notes.append(f"height {DEFAULT_HEIGHT_M:.2f} m assumed: give the person's height with --height")
    elif len(people) > 1:
        notes.append(f"height {height:g} m given for every person (--height)")
    with_trajectory = image_size is not None and all(k is not None for _, k, _ in people)
    intrinsics = camera_intrinsics(image_size, focal, fov, center) if with_trajectory else None
    if intrinsics is None:
        notes.append("root trajectory skipped: the image size is unknown (give --vid_path or --size); every "
                     "frame's root is above the origin")
    elif intrinsics.assumed:
        notes.append(f"camera intrinsics {intrinsics.source}: give --focal or --fov for a metric depth")
    if all(feet is None for _, _, feet in people):
        notes.append("feet: the 2D input has no foot keypoints, so each foot is placed flat below its ankle, "
                     "pointing the way the person faces")
    cameras = [_camera_motion(poses, keypoints, feet, intrinsics, fps, height_mm, smooth, top)
               for poses, keypoints, feet in people]
    # up from the trunks first, to place the feet; then from the feet too
    guess = initial_up([c.joints for c in cameras], fps, pitch, names).up
    placed = [place_feet(c.joints, c.feet_px, intrinsics, guess, height_mm) for c in cameras]
    soles = [sole_points(c.joints, feet, known, guess, height_mm) for c, (feet, known) in zip(cameras, placed)]
    ground = fit_ground([c.joints for c in cameras], soles, fps, height_mm, pitch, names=names)
    placed = [place_feet(c.joints, c.feet_px, intrinsics, ground.up, height_mm) for c in cameras]
    notes.append(ground.summary)
    ground_step = "upright world: " + ground.summary
    # Y up, the origin on the floor: every person's height above the one floor
    levelled = world_frame(ground, cameras[0].joints[0, ROOT], "y")
    motions_contacts = []
    for person, (feet, known) in zip(cameras, placed):
        steps = [ground_step, "feet: heels and toes on the camera rays of their 2D keypoints, at anthropometric "
                              "distances from the ankle" if known.any() else "feet: flat below the ankles",
                 "foot contacts: ankle height and speed"]
        contacts = foot_contacts(_to_world(person.joints, levelled)[:, list(FEET)], fps, height_mm)
        if foot_lock and intrinsics is not None and contacts.any():
            before = person.root
            locks = [(contacts[:, k], person.relative[:, foot], FOOT_LOCK_WEIGHT) for k, foot in enumerate(FEET)]
            person.root = root_trajectory(person.relative, person.keypoints_px[..., :2], person.keypoints_px[..., 2],
                                          intrinsics, fps, locks)
            feet = feet + (person.root - before)[:, None]  # the feet move with the body
            steps.append(f"foot skating: trajectory refined to hold feet in contact in place (weight "
                         f"{FOOT_LOCK_WEIGHT:g})")
        motions_contacts.append((contacts, steps, feet, known))
    for person, (_, _, feet, _) in zip(cameras, motions_contacts):
        _orient_ankles(person, feet, height_mm)
    to_world = world_frame(ground, cameras[0].joints[0, ROOT], up)
    origin = "below the root (pelvis) of the first frame" if len(people) == 1 else \
        f"below the root (pelvis) of person {names[0]} in their first frame (video frame {first_frames[0]}), " \
        f"the same for every person of the video"
    # the rest pose stands along the world's up: offsets in the world's axes (axes: Y up -> up)
    axes = Z_UP if up == "z" else np.eye(3)
    limits = [_root_speed_check(person.root, fps) if intrinsics is not None else "" for person in cameras]
    return [WorldMotion(
        joints=_to_world(person.joints, to_world), rotations=to_world[0] @ person.rotations @ axes.T,
        skeleton=person.skeleton.transformed(axes), contacts=contacts, camera_joints=person.joints,
        camera_root=person.root if intrinsics is not None else None, ground=ground, to_world=to_world, fps=float(fps),
        up=up, height_mm=height_mm, height_assumed=height_assumed, intrinsics=intrinsics,
        steps=person.steps + steps, notes=list(notes), first_frame=int(first), origin=origin,
        feet=None if person.feet_px is None else _to_world(feet, to_world),
        feet_from_keypoints=None if person.feet_px is None else known, implausible=limit)
        for person, (contacts, steps, feet, known), first, limit in zip(cameras, motions_contacts, first_frames,
                                                                        limits)]


def _root_speed_check(root, fps):
    """Why a camera-space root trajectory ``(F, 3)`` (mm) cannot be one person's ('' if it can): it moves faster than
    :data:`lib.data.plausibility.MAX_ROOT_SPEED_M_S`, measured over ±0.1 s (``lib.world.ground._speed``)."""
    if len(root) < 2:
        return ""
    speed = _speed(root, fps) / 1000.0  # over +-0.1 s: a root that jumps makes that whole span too fast
    fast = np.flatnonzero(speed > MAX_ROOT_SPEED_M_S)
    if not len(fast):
        return ""
    return (f"the root moves up to {speed.max():.0f} m/s (frames {frame_ranges(fast)} of the person's own, from 0), "
            f"faster than a person runs ({MAX_ROOT_SPEED_M_S:g} m/s): the track holds two people or wrong detections, "
            f"or the camera values are wrong")


def _orient_ankles(person, feet, height_mm):
    """Turn each ankle with its foot: its rotation carries a rest foot (flat, forward) onto the ankle-to-toe line of
    ``feet (F, 4, 3)`` (camera axes), and its end site is the rest toe, so the BVH's feet point where the feet do."""
    rest_toe = height_mm * np.array([0.0, -ANKLE_HEIGHT_FRACTION, FOOT_LENGTH_FRACTION - HEEL_BACK_FRACTION])
    joints = person.joints
    for side, ankle in enumerate(FEET):
        knee = PARENTS[ankle]
        carried = np.einsum("fij,j->fi", person.rotations[:, knee], _normalize(rest_toe))
        current = _normalize(feet[:, 2 * side + 1] - joints[:, ankle])
        person.rotations[:, ankle] = _shortest_rotation(carried, current) @ person.rotations[:, knee]
        person.skeleton.end_sites[ankle] = rest_toe.copy()


def world_motion(poses_3d, keypoints_px=None, image_size=None, fps=None, height=None, focal=None, fov=None,
                 center=None, up="y", smooth=False, foot_lock=True, feet_px=None, top=HEAD_TOP, pitch=None):
    """:class:`WorldMotion` of a lifted sequence ``poses_3d (F, 17, 3)`` (camera axes, any unit).

    ``keypoints_px (F, 17, 3)``: the 2D input (pixels and confidence) of the same frames, and
    ``image_size = (w, h)``: both needed for the root trajectory (without them the root stays above
    the origin). ``fps``: the video's (None: 25, noted). ``height``: the person's height in metres
    (None: :data:`DEFAULT_HEIGHT_M`, noted). ``focal``/``fov``/``center``: :func:`camera_intrinsics`.
    ``up``: "y" or "z". ``smooth``: :func:`smooth_poses` first. ``foot_lock``: hold feet in contact.
    ``feet_px (F, 4, 3)``: 2D foot keypoints (``lib.skeleton.FOOT_POINT_NAMES``), if the input has them. ``top``:
    what the skeleton's head_top is (``lib.skeleton.HEAD_TOP``, or ``EYES`` for COCO-17 and BlazePose input).
    ``pitch``: the camera's pitch (degrees down), when known.
    """
    return world_motions([(poses_3d, keypoints_px, feet_px)], image_size, fps, height, focal, fov, center, up,
                         smooth, foot_lock, top=top, pitch=pitch)[0]


def _to_world(points, to_world):
    rotation, origin = to_world
    return (points - origin) @ rotation.T


def world_of_tracks(poses, inputs, options):
    """:func:`world_motions` of every tracked person of ``inputs`` (``lib.data.wild_input.WildInputs``), in one
    shared world, each over their detected span (``PoseTrack.span``); ``poses``: each track's lifted ``(F, 17, 3)``;
    ``options``: the world options of the command line (``lib.world.options.add_world_arguments``)."""
    video, tracks = inputs.video, inputs.tracks
    spans = [track.span for track in tracks]
    people = [(pose[first:end], track.keypoints[first:end], None if track.feet is None else track.feet[first:end])
              for pose, track, (first, end) in zip(poses, tracks, spans)]
    return world_motions(people, video.size, video.fps, options.height, options.focal, options.fov, options.center,
                         options.up, options.smooth, names=[track.track_id for track in tracks],
                         first_frames=[first for first, _ in spans], top=inputs.fmt.top, pitch=options.pitch)
