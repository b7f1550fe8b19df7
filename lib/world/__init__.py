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

Several people of one video (:func:`world_motions`) share one world: their camera-space trajectories are in the
same camera, so one ground plane (fitted to everyone's feet), one up axis and one origin (below the first person's
first root) keep their positions relative to each other.

Pure NumPy/SciPy; skeleton facts from :mod:`lib.skeleton`. Modules, one per step: :mod:`lib.world.skeleton`
(scale, skeleton, rotations), :mod:`lib.world.camera` (intrinsics, root trajectory), :mod:`lib.world.ground`
(floor, world frame, contacts), :mod:`lib.world.motion` (the pipeline), :mod:`lib.world.options` (command line).
"""
from lib.world.camera import (TRAJECTORY_CUTOFF_S, Intrinsics, camera_intrinsics, root_trajectory,
                              translations_per_frame, whittaker)
from lib.world.ground import (ANKLE_HEIGHT_FRACTION, GroundFit, Z_UP, fit_ground, foot_contacts, foot_skating,
                              world_frame)
from lib.world.motion import FOOT_LOCK_WEIGHT, WorldMotion, world_motion, world_motions
from lib.world.options import (DEFAULT_HEIGHT_M, HEIGHT_RANGE_M, METRIC_OPTIONS, UP_AXES, add_metric_arguments,
                               add_world_arguments, check_world_arguments, check_world_options)
from lib.world.skeleton import (END_SITE_FRACTION, FEET, HEAD, JOINT, LEAVES, SEGMENTS, Skeleton, best_rotation,
                                bone_length_variation, bone_lengths, fit_skeleton, forward_kinematics, metric_scale,
                                segment_frames, smooth_poses, solve_rotations, standing_height)

__all__ = ["ANKLE_HEIGHT_FRACTION", "DEFAULT_HEIGHT_M", "END_SITE_FRACTION", "FEET", "FOOT_LOCK_WEIGHT", "GroundFit",
           "HEAD", "HEIGHT_RANGE_M", "Intrinsics", "JOINT", "LEAVES", "METRIC_OPTIONS", "SEGMENTS", "Skeleton",
           "TRAJECTORY_CUTOFF_S", "UP_AXES", "WorldMotion", "Z_UP", "add_metric_arguments", "add_world_arguments",
           "best_rotation", "bone_length_variation", "bone_lengths", "camera_intrinsics", "check_world_arguments",
           "check_world_options", "fit_ground", "fit_skeleton", "foot_contacts", "foot_skating", "forward_kinematics",
           "metric_scale", "root_trajectory", "segment_frames", "smooth_poses", "solve_rotations", "standing_height",
           "translations_per_frame", "whittaker", "world_frame", "world_motion", "world_motions"]
