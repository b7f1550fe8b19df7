"""World motion: lifted 3D poses as metric, upright, world-grounded motion (docs/inference.md, "World motion").

The lifting models give each frame's pose in the normalised units of the 2D input, in the camera's
axes, with bones whose lengths change from frame to frame and no root trajectory in depth.
:func:`world_motion` turns them into motion that an animation or biomechanics tool can take:

1. **metric scale**: the skeleton's stature (:func:`stature`: floor to the top of the head, from its legs,
   trunk and head, with the ankle's height and, when the top keypoint is the eyes, the head above them added from
   anthropometric proportions) is set to the person's height;
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

Several people of one video (:func:`world_motions`) share one world: their camera-space trajectories are in the
same camera, so one ground plane (fitted to everyone's feet), one up axis and one origin (below the first person's
first root) keep their positions relative to each other.

Pure NumPy/SciPy; skeleton facts from :mod:`lib.skeleton`. Modules, one per step: :mod:`lib.world.skeleton`
(scale, skeleton, rotations), :mod:`lib.world.camera` (intrinsics, root trajectory), :mod:`lib.world.ground`
(floor, world frame, contacts), :mod:`lib.world.motion` (the pipeline), :mod:`lib.world.options` (command line).
"""
# each public name and the module of lib/world that defines it: imported on first use (PEP 562), so that a
# script reading only the options (lib.world.options) does not pay for SciPy before its work starts
_MODULES = {
    "camera": ("FOV_RANGE_DEG", "TRAJECTORY_CUTOFF_S", "Intrinsics", "camera_intrinsics", "check_camera",
               "focal_range", "root_trajectory", "translations_per_frame", "whittaker"),
    "feet": ("FOOT_LENGTH_FRACTION", "HEEL_DISTANCE_FRACTION", "flat_feet", "place_feet"),
    "gravity": ("UpCue", "UpEstimate", "angles_of_up", "camera_prior", "combine_cues", "up_of_angles"),
    "ground": ("GroundFit", "Z_UP", "fit_ground", "foot_contacts", "foot_skating", "initial_up", "world_frame"),
    "motion": ("FOOT_LOCK_WEIGHT", "WorldMotion", "world_motion", "world_motions", "world_of_tracks"),
    "options": ("DEFAULT_HEIGHT_M", "HEIGHT_RANGE_M", "METRIC_OPTIONS", "PITCH_RANGE_DEG", "UP_AXES",
                "add_metric_arguments", "add_world_arguments", "check_world_arguments", "check_world_options"),
    "skeleton": ("ANKLE_HEIGHT_FRACTION", "END_SITE_FRACTION", "FEET", "HEAD", "JOINT", "LEAVES", "SEGMENTS",
                 "TOP_HEIGHT_FRACTION", "Skeleton", "best_rotation", "bone_length_variation", "bone_lengths",
                 "fit_skeleton", "forward_kinematics", "metric_scale", "segment_frames", "smooth_poses",
                 "solve_rotations", "standing_chain", "stature"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name):
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOME))


__all__ = ["ANKLE_HEIGHT_FRACTION", "DEFAULT_HEIGHT_M", "END_SITE_FRACTION", "FEET", "FOOT_LENGTH_FRACTION",
           "FOOT_LOCK_WEIGHT", "FOV_RANGE_DEG", "GroundFit", "HEAD", "HEEL_DISTANCE_FRACTION", "HEIGHT_RANGE_M",
           "Intrinsics", "JOINT", "LEAVES", "METRIC_OPTIONS", "PITCH_RANGE_DEG", "SEGMENTS", "Skeleton",
           "TOP_HEIGHT_FRACTION", "TRAJECTORY_CUTOFF_S", "UP_AXES", "UpCue", "UpEstimate", "WorldMotion", "Z_UP",
           "add_metric_arguments", "add_world_arguments", "angles_of_up", "best_rotation", "bone_length_variation",
           "bone_lengths", "camera_intrinsics", "camera_prior", "check_camera", "check_world_arguments",
           "check_world_options", "combine_cues", "fit_ground", "fit_skeleton", "flat_feet",
           "focal_range", "foot_contacts", "foot_skating", "forward_kinematics", "initial_up", "metric_scale",
           "place_feet", "root_trajectory", "segment_frames", "smooth_poses", "solve_rotations", "standing_chain",
           "stature", "translations_per_frame", "up_of_angles", "whittaker", "world_frame", "world_motion",
           "world_motions", "world_of_tracks"]
