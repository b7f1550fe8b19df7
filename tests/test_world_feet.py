"""lib/world/feet.py and lib/world/angles.py on synthetic poses with known answers: heels and toes from their 2D
keypoints and the camera rays, flat feet without them, the exports' foot markers, joint-angle conventions."""
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from lib import export, world
from lib.skeleton import JOINT_NAMES
from lib.world.angles import COLUMNS, joint_angles, plot_angles, write_angles_csv
from lib.world.feet import (FOOT_LENGTH_FRACTION, HEEL_BACK_FRACTION, HEEL_DISTANCE_FRACTION, flat_feet,
                            place_feet)
from synthetic_motion import REST_JOINTS, Camera, moving_poses

H = 1770.0  # the stature of the synthetic feet, mm
J = {name: k for k, name in enumerate(JOINT_NAMES)}


def _feet_of(joints, pitch_deg=0.0):
    """True heels and toes (world, Y up) of joints facing +Z: the heel below and behind the ankle, the toe ahead,
    the foot pitched up by ``pitch_deg`` about the heel."""
    feet = []
    turn = Rotation.from_euler("x", -pitch_deg, degrees=True)
    for side in ("left", "right"):
        ankle = joints[:, J[f"{side}_ankle"]]
        heel = ankle + [0.0, -math.sqrt(HEEL_DISTANCE_FRACTION ** 2 - HEEL_BACK_FRACTION ** 2) * H,
                        -HEEL_BACK_FRACTION * H]
        toe = heel + turn.apply([0.0, 0.0, FOOT_LENGTH_FRACTION * H])
        feet += [heel, toe]
    return np.stack(feet, axis=1)


def _filmed(n_frames=20, pitch_deg=0.0):
    walk = np.linspace([0, 0, 0], [400.0, 0, 300.0], n_frames)
    poses = np.repeat(REST_JOINTS[None], n_frames, axis=0) + walk[:, None]
    feet = _feet_of(poses, pitch_deg)
    camera = Camera(position=(300.0, 1600.0, 5000.0), target=(0.0, 600.0, 0.0), focal=1200.0, center=(640.0, 360.0))
    cam_joints, cam_feet = camera.to_camera(poses), camera.to_camera(feet)
    pixels = np.concatenate([camera.project(cam_feet), np.ones(cam_feet.shape[:2] + (1,))], axis=-1)
    intrinsics = world.Intrinsics(camera.focal, tuple(camera.center), (1280, 720), False, "given")
    return cam_joints, cam_feet, pixels, intrinsics, camera


@pytest.mark.parametrize("pitch", [0.0, 25.0])
def test_heels_and_toes_come_back_from_their_pixels(pitch):
    """Noise-free foot keypoints: the heel on its ray at the heel's distance from the ankle, the toe on its ray a
    foot's length from the heel; of the two solutions each, the plausible one (also for a foot lifted at the toes)."""
    joints, truth, pixels, intrinsics, camera = _filmed(pitch_deg=pitch)
    feet, known = place_feet(joints, pixels, intrinsics, camera.up, H)
    assert known.all()
    np.testing.assert_allclose(feet, truth, atol=1.0)


def test_unsure_or_missing_foot_keypoints_give_a_flat_foot():
    joints, truth, pixels, intrinsics, camera = _filmed()
    pixels[5:8, 0:2, 2] = 0.1  # the left foot unsure in frames 5-7
    feet, known = place_feet(joints, pixels, intrinsics, camera.up, H)
    assert not known[5:8, 0].any() and known[5:8, 1].all() and known[:5].all()
    flat = flat_feet(joints, camera.up, H)
    np.testing.assert_allclose(feet[5:8, :2], flat[5:8, :2])
    # a flat foot: the heel the ankle's height below and behind the ankle, the toe a foot's length ahead, level
    np.testing.assert_allclose(np.linalg.norm(flat[:, 1] - flat[:, 0], axis=-1), FOOT_LENGTH_FRACTION * H)
    assert np.abs((flat[:, 1] - flat[:, 0]) @ camera.up).max() < 1e-6
    none, none_known = place_feet(joints, None, intrinsics, camera.up, H)
    assert not none_known.any()
    np.testing.assert_allclose(none, flat)


def test_world_motion_carries_the_feet_into_the_world_and_the_exports(tmp_path):
    import opensim
    joints, truth, pixels, intrinsics, camera = _filmed(n_frames=40)
    keypoints = np.concatenate([camera.project(joints), np.ones(joints.shape[:2] + (1,))], axis=-1)
    lifted = (joints - joints[:, :1]) * 0.003
    height = world.stature(joints - joints[:, :1]) / 1000
    motion = world.world_motion(lifted, keypoints, (1280, 720), 30.0, height=height, focal=camera.focal,
                                center=camera.center, feet_px=pixels, foot_lock=False)
    assert motion.feet.shape == (40, 4, 3) and motion.feet_from_keypoints.all()
    rotation, origin = motion.to_world
    np.testing.assert_allclose(motion.feet, (np.asarray(truth) - origin) @ rotation.T, atol=25.0)
    # the BVH's ankle turns with the foot: its end site lands on the toe
    ankle = J["left_ankle"]
    toe = motion.joints[:, ankle] + np.einsum("fij,j->fi", motion.rotations[:, ankle],
                                              motion.skeleton.end_sites[ankle])
    direction = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(direction(toe - motion.joints[:, ankle]),
                               direction(motion.feet[:, 1] - motion.joints[:, ankle]), atol=1e-6)
    path = str(tmp_path / "feet.trc")
    export.write_trc(path, motion)
    table = opensim.TimeSeriesTableVec3(path)
    assert list(table.getColumnLabels()) == list(JOINT_NAMES) + ["left_heel", "left_toe", "right_heel", "right_toe"]
    heel = np.array([table.getRowAtIndex(3)[17].get(a) for a in range(3)])
    np.testing.assert_allclose(heel, motion.feet[3, 0], atol=1e-3)
    assert motion.describe()["feet"]["from_keypoints_fraction"] == [1.0, 1.0]


def test_without_foot_keypoints_the_motion_says_so_and_exports_the_joints_only(tmp_path):
    motion = world.world_motion(moving_poses(n_frames=30), fps=30.0)
    assert motion.feet is None and motion.describe()["feet"] is None
    assert any("no foot keypoints" in note for note in motion.notes)
    path = str(tmp_path / "joints.trc")
    export.write_trc(path, motion)
    assert open(path).read().splitlines()[2].split("\t")[3] == "17"


def _pose(**degrees):
    """The rest skeleton (Y up, facing +Z, X its left) with some joints turned: hip/shoulder flexion (about X), knee
    and elbow flexion, the trunk leaning forward about the pelvis, the shoulders turned about Y."""
    p = {name: np.array(REST_JOINTS[k], dtype=float) for k, name in enumerate(JOINT_NAMES)}

    def turn(names, pivot, axis, angle):
        r = Rotation.from_euler(axis, angle, degrees=True)
        for name in names:
            p[name] = p[pivot] + r.apply(p[name] - p[pivot])

    upper = ["spine", "thorax", "nose", "head_top", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder",
             "right_elbow", "right_wrist"]
    turn([n for n in upper if "shoulder" in n or "elbow" in n or "wrist" in n or n in ("nose", "head_top")],
         "thorax", "y", degrees.get("rotation", 0.0))
    turn(["left_elbow", "left_wrist"], "left_shoulder", "z", -90.0)  # the arms down, from the T-pose
    turn(["right_elbow", "right_wrist"], "right_shoulder", "z", 90.0)
    turn(["left_elbow", "left_wrist"], "left_shoulder", "x", -degrees.get("shoulder", 0.0))
    turn(["left_wrist"], "left_elbow", "x", -degrees.get("elbow", 0.0))
    turn(["left_knee", "left_ankle"], "left_hip", "x", -degrees.get("hip", 0.0))
    turn(["left_ankle"], "left_knee", "x", degrees.get("knee", 0.0))
    turn(upper, "pelvis", "x", degrees.get("lean", 0.0))
    return np.stack([p[name] for name in JOINT_NAMES])[None]


def test_a_known_pose_gives_known_angles():
    angles = joint_angles(_pose(hip=30, knee=45, shoulder=60, elbow=80), np.array([0.0, 1.0, 0.0]))
    assert set(angles) == set(COLUMNS)
    for column, expected in (("left_hip_flexion", 30), ("right_hip_flexion", 0), ("left_knee_flexion", 45),
                             ("right_knee_flexion", 0), ("left_shoulder_flexion", 60), ("left_elbow_flexion", 80),
                             ("right_elbow_flexion", 0), ("trunk_forward_lean", 0), ("trunk_rotation", 0)):
        assert angles[column][0] == pytest.approx(expected, abs=1e-6), column
    assert np.isnan(angles["left_ankle_dorsiflexion"]).all()  # no feet given
    leaning = joint_angles(_pose(lean=20), np.array([0.0, 1.0, 0.0]))
    assert leaning["trunk_forward_lean"][0] == pytest.approx(20, abs=1e-6)
    assert leaning["trunk_side_lean"][0] == pytest.approx(0, abs=1e-6)
    assert leaning["trunk_rotation"][0] == pytest.approx(0, abs=1e-6)
    turned = joint_angles(_pose(rotation=15), np.array([0.0, 1.0, 0.0]))
    assert turned["trunk_rotation"][0] == pytest.approx(15, abs=1e-6)


def test_ankle_dorsiflexion_is_the_foot_against_the_shank():
    pose = _pose()
    feet = _feet_of(pose, pitch_deg=0.0)  # the foot at right angles to the vertical shank
    lifted = _feet_of(pose, pitch_deg=20.0)  # toes up 20 degrees
    up = np.array([0.0, 1.0, 0.0])
    assert joint_angles(pose, up, feet)["left_ankle_dorsiflexion"][0] == pytest.approx(0, abs=1e-6)
    assert joint_angles(pose, up, lifted)["right_ankle_dorsiflexion"][0] == pytest.approx(20, abs=1e-6)


def test_angles_csv_and_plot(tmp_path):
    motion = world.world_motion(moving_poses(n_frames=30), fps=30.0)
    write_angles_csv(tmp_path / "a.csv", motion)
    rows = (tmp_path / "a.csv").read_text().splitlines()
    assert rows[0] == "frame,time_s," + ",".join(COLUMNS) and len(rows) == 31
    assert rows[1].split(",")[6] == ""  # no feet: the ankle is empty, not made up
    plot_angles(tmp_path / "a.png", motion)
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
