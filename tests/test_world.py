"""lib/world.py on synthetic motion with known answers (tests/synthetic_motion.py)."""
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from lib import world
from lib.skeleton import BONES, EYES, JOINT_NAMES, PARENTS
from lib.utils.errors import OptionError
from synthetic_motion import REST_JOINTS, STANDING_HEIGHT, Camera, gait, moving_poses

FPS = 50.0


def test_stature_of_a_skeleton_with_vertical_legs_and_trunk():
    """Ankle to head top is the legs, the spine and the share of the neck and head bones that is height; the stature
    adds the ankle's height, and, for a skeleton whose top is the eyes, the head above them (anthropometric
    fractions)."""
    head = 1780.0 - 1440.0  # thorax-nose-head top, vertical here
    body = STANDING_HEIGHT - head
    assert world.standing_chain(REST_JOINTS[None]) == pytest.approx(body + 0.821 * head)
    assert world.stature(REST_JOINTS[None]) == pytest.approx((body + 0.821 * head) / (1 - 0.039))
    assert world.stature(REST_JOINTS[None], EYES) == pytest.approx((body + 0.865 * head) / (0.936 - 0.039))
    # no posture changes it
    assert world.standing_chain(moving_poses()) == pytest.approx(world.standing_chain(REST_JOINTS[None]))


@pytest.mark.parametrize("height", [1.55, 1.92])
def test_metric_scale_sets_the_stature(height):
    poses = moving_poses() * 0.0021  # normalised units
    motion = world.world_motion(poses, fps=FPS, height=height)
    relative = motion.joints - motion.joints[:, :1]
    assert world.stature(relative) == pytest.approx(1000 * height, rel=1e-3)
    truth = world.bone_lengths(REST_JOINTS)
    expected = truth * 1000 * height / world.stature(moving_poses())
    np.testing.assert_allclose(motion.skeleton.lengths, expected, rtol=2e-3, atol=1e-9)
    assert not motion.height_assumed and "assumed" not in " ".join(motion.notes)


def test_height_is_assumed_when_not_given():
    motion = world.world_motion(moving_poses(n_frames=30), fps=FPS)
    assert motion.height_mm == 1000 * world.DEFAULT_HEIGHT_M and motion.height_assumed
    assert any("assumed" in note for note in motion.notes)
    assert motion.describe()["height"].startswith("assumed")


def test_constant_bones_keep_each_frames_bone_directions():
    rng = np.random.default_rng(1)
    poses = moving_poses()
    # every bone stretched by its own factor in every frame, directions kept
    stretched = np.zeros_like(poses)
    for parent, child in BONES:
        factor = rng.uniform(0.8, 1.25, len(poses))[:, None]
        stretched[:, child] = stretched[:, parent] + factor * (poses[:, child] - poses[:, parent])
    assert world.bone_length_variation(stretched) > 0.05
    skeleton = world.fit_skeleton(stretched)
    fixed = world.forward_kinematics(skeleton.offsets, world.solve_rotations(stretched, skeleton))
    assert world.bone_length_variation(fixed) < 1e-9
    np.testing.assert_allclose(world.bone_lengths(fixed)[0], np.median(world.bone_lengths(stretched), 0), rtol=1e-9)
    for parent, child in BONES:
        if parent in world.SEGMENTS:
            continue  # rigid segments: best fit, not exact
        before = stretched[:, child] - stretched[:, parent]
        after = fixed[:, child] - fixed[:, parent]
        cos = np.sum(before * after, -1) / np.linalg.norm(before, axis=-1) / np.linalg.norm(after, axis=-1)
        assert cos.min() > 1 - 1e-9, JOINT_NAMES[child]


def test_rotations_reproduce_poses_of_a_rigid_segment_skeleton():
    """Poses made by forward kinematics of a skeleton (rigid pelvis and thorax) come back exactly."""
    poses = moving_poses(seed=3)
    skeleton = world.fit_skeleton(poses)
    rotations = world.solve_rotations(poses, skeleton)
    np.testing.assert_allclose(world.forward_kinematics(skeleton.offsets, rotations), poses, atol=1e-6)
    # proper rotations
    np.testing.assert_allclose(rotations @ np.swapaxes(rotations, -1, -2), np.broadcast_to(np.eye(3), rotations.shape),
                               atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(rotations), 1, atol=1e-9)


def test_pelvis_and_thorax_turn_with_the_hips_and_shoulders():
    """A pose turned about the vertical by 90 degrees: the pelvis's and the thorax's rotations are that turn."""
    poses = np.repeat(REST_JOINTS[None] - REST_JOINTS[0], 2, axis=0)
    turn = Rotation.from_euler("y", 90, degrees=True)
    poses[1] = turn.apply(poses[1])
    skeleton = world.fit_skeleton(poses)
    rotations = world.solve_rotations(poses, skeleton)
    for segment in world.SEGMENTS:
        np.testing.assert_allclose(rotations[1, segment] @ rotations[0, segment].T, turn.as_matrix(), atol=1e-9)


def test_rest_pose_is_a_t_pose_facing_forward():
    skeleton = world.fit_skeleton(moving_poses())
    offsets = dict(zip(JOINT_NAMES, skeleton.offsets))
    assert offsets["left_hip"][0] > 0 > offsets["right_hip"][0]  # the person's left is +X
    assert offsets["left_knee"][1] < 0 and offsets["head_top"][1] > 0  # legs down, head up
    assert offsets["left_elbow"][0] > 0 > offsets["right_elbow"][0]  # arms out to the side
    assert set(skeleton.end_sites) == {"right_ankle", "left_ankle", "head_top", "left_wrist", "right_wrist"} or \
        {JOINT_NAMES[j] for j in skeleton.end_sites} == {"right_ankle", "left_ankle", "head_top", "left_wrist",
                                                         "right_wrist"}


# ------------------------------------------------------------------ camera and trajectory

def test_intrinsics_given_or_assumed():
    given = world.camera_intrinsics((1920, 1080), focal=1500)
    assert (given.focal, given.center, given.assumed) == (1500.0, (960.0, 540.0), False)
    fov = world.camera_intrinsics((1000, 800), fov=90.0)
    assert fov.focal == pytest.approx(500.0) and fov.horizontal_fov == pytest.approx(90.0)
    assumed = world.camera_intrinsics((1920, 1080), center=(950, 530))
    assert assumed.assumed and assumed.focal == pytest.approx(math.hypot(1920, 1080)) and assumed.center == (950, 530)


def _walk_towards_camera(n_frames=150, tilt_deg=10.0):
    """Poses walking from 8 m to 4 m in front of a camera 1.4 m high, tilted down by ``tilt_deg``."""
    poses = moving_poses(n_frames, seed=5, amplitude=0.25)
    root = np.stack([np.linspace(-300, 300, n_frames), np.full(n_frames, 950.0), np.linspace(8000, 4000, n_frames)], -1)
    joints_world = poses + root[:, None]
    target = np.array([0.0, 1400 - 6000 * math.tan(math.radians(tilt_deg)), 6000.0])
    camera = Camera(position=(0.0, 1400.0, 0.0), target=target)
    return joints_world, camera


def test_per_frame_translation_is_exact_on_noise_free_projections():
    joints_world, camera = _walk_towards_camera()
    cam = camera.to_camera(joints_world)
    intrinsics = world.Intrinsics(camera.focal, tuple(camera.center), (1280, 720), False, "given")
    relative = cam - cam[:, :1]
    translation, weight = world.translations_per_frame(relative, camera.project(cam), np.ones(cam.shape[:2]),
                                                       intrinsics)
    np.testing.assert_allclose(translation, cam[:, 0], atol=1e-6)
    assert (weight == 17).all()
    # the depth changes as the person walks towards the camera
    assert translation[0, 2] - translation[-1, 2] > 3500


def test_frames_without_confidence_are_interpolated():
    joints_world, camera = _walk_towards_camera()
    cam = camera.to_camera(joints_world)
    confidence = np.ones(cam.shape[:2])
    confidence[40:60] = 0  # not detected
    intrinsics = world.Intrinsics(camera.focal, tuple(camera.center), (1280, 720), False, "given")
    root = world.root_trajectory(cam - cam[:, :1], camera.project(cam), confidence, intrinsics, FPS)
    # straight-line motion is what the smoother keeps: the gap is filled along it
    np.testing.assert_allclose(root, cam[:, 0], atol=1.0)


def test_whittaker_keeps_lines_and_halves_its_cutoff_period():
    t = np.arange(400.0)
    line = np.stack([3 * t + 1, -t], -1)
    np.testing.assert_allclose(world.whittaker(line, np.ones(400), 20), line, atol=1e-6)
    period = 20.0
    wave = np.sin(2 * np.pi * t / period)[:, None]
    smoothed = world.whittaker(wave, np.ones(400), period)
    amplitude = np.abs(smoothed[100:300]).max()
    assert amplitude == pytest.approx(0.5, abs=0.05)
    assert np.abs(world.whittaker(wave, np.ones(400), 4 * period)[100:300]).max() < 0.05


def test_locks_hold_a_point_still_while_flagged():
    rng = np.random.default_rng(0)
    n = 200
    values = np.cumsum(rng.normal(0, 5, (n, 3)), 0)
    offsets = rng.normal(0, 20, (n, 3))  # the foot relative to the root, jittering
    flags = np.zeros(n, dtype=bool)
    flags[50:120] = True
    free = world.whittaker(values, np.ones(n), 5.0)
    held = world.whittaker(values, np.ones(n), 5.0, locks=[(flags, offsets, 1e6)])
    foot_free, foot_held = (free + offsets)[50:120], (held + offsets)[50:120]
    assert np.ptp(foot_held, axis=0).max() < 1.0 < np.ptp(foot_free, axis=0).max()


# ------------------------------------------------------------------ ground, world frame, contacts

def _gait_in_camera(tilt_deg=12.0, roll_deg=4.0, moving=False, offset=(0.0, 0.0)):
    """A walk (tests/synthetic_motion.py's gait, an upright body above it) seen by a static camera tilted down by
    ``tilt_deg`` and rolled by ``roll_deg`` (or one tilting back and forth): camera-space joints ``(F, 17, 3)``,
    the camera and the true contacts. ``offset``: the walk moved along the floor (X, Z), mm."""
    ankles, head, contacts = gait()
    joints = np.repeat(REST_JOINTS[None], len(ankles), axis=0) + (head - [0.0, 1780.0, 0.0])[:, None]
    joints[:, JOINT_NAMES.index("left_ankle")], joints[:, JOINT_NAMES.index("right_ankle")] = ankles[:, 0], ankles[:, 1]
    joints = joints - [1800.0 - offset[0], 0.0, -offset[1]]
    camera = Camera(position=(0.0, 1500.0, 6000.0), target=(0.0, 1500 - 6000 * math.tan(math.radians(tilt_deg)), 0.0),
                    roll_deg=roll_deg)
    cam = camera.to_camera(joints)
    if moving:  # the camera tilts back and forth by +-15 degrees
        angles = np.radians(15) * np.sin(np.linspace(0, 6 * np.pi, len(cam)))
        turns = Rotation.from_rotvec(angles[:, None] * np.array([1.0, 0.0, 0.0]))
        cam = np.stack([turns.apply(cam[:, k]) for k in range(cam.shape[1])], 1)
    return cam, camera, contacts


def _ground(*people, pitch=None):
    """fit_ground of camera-space joints, the soles from the ankles (no foot keypoints)."""
    guess = world.initial_up(list(people), FPS, pitch).up
    soles = [world.ground.sole_points(j, np.zeros((len(j), 4, 3)), np.zeros((len(j), 2), bool), guess, 1700.0)
             for j in people]
    return world.fit_ground(list(people), soles, FPS, 1700.0, pitch)


def _angle(a, b):
    return math.degrees(math.acos(np.clip(a @ b, -1, 1)))


@pytest.mark.parametrize("tilt, roll, tolerance", [(12.0, 4.0, 1.0), (0.0, 0.0, 0.5), (25.0, -8.0, 2.5)])
def test_ground_of_a_static_tilted_camera(tilt, roll, tolerance):
    joints, camera, _ = _gait_in_camera(tilt, roll)
    fit = _ground(joints)
    assert fit.reliable and _angle(fit.up, camera.up) < tolerance
    assert {c["cue"] for c in fit.cues if c["used"]} == {"contact plane", "trunk", "camera prior"}
    assert 0 < fit.sigma_deg < 5 and "uncertain by" in fit.summary
    # the floor: the ankles in contact are the ankle's height above it
    floor = camera.to_camera(np.zeros((1, 3)))[0]
    assert fit.up @ floor - fit.offset == pytest.approx(0, abs=15.0)


def test_a_known_pitch_overrides_the_prior():
    joints, camera, _ = _gait_in_camera(30.0, 0.0)
    fit = _ground(joints, pitch=30.0)
    assert "--pitch" in [c["cue"] for c in fit.cues if c["used"]]
    assert world.angles_of_up(fit.up)[0] == pytest.approx(30.0, abs=0.6)


def test_a_moving_camera_gives_no_plane_and_says_how_uncertain_up_is():
    joints, _, _ = _gait_in_camera(moving=True)
    fit = _ground(joints)
    plane = [c for c in fit.cues if c["cue"] == "contact plane"]
    assert plane and not plane[0]["used"]
    assert fit.sigma_deg > 1 and fit.describe()["up_sigma_deg"] == pytest.approx(fit.sigma_deg, abs=1e-3)


def test_pitch_and_roll_angles_round_trip():
    for pitch, roll in ((0.0, 0.0), (20.0, 5.0), (-10.0, -3.0), (35.0, 0.0)):
        up = world.up_of_angles(pitch, roll)
        assert np.linalg.norm(up) == pytest.approx(1.0)
        assert world.angles_of_up(up) == pytest.approx((pitch, roll))
    # a camera pitched down sees the world's up tilted towards it (negative z), rolled clockwise towards +x
    assert world.up_of_angles(20.0, 0.0)[2] < 0 and world.up_of_angles(0.0, 5.0)[0] > 0
    joints, camera, _ = _gait_in_camera(18.0, 3.0)
    assert world.angles_of_up(camera.up) == pytest.approx((18.0, 3.0), abs=0.5)


def test_an_outlying_cue_is_left_out():
    prior = world.camera_prior()
    good = world.UpCue("a", np.array([20.0, 1.0]), np.eye(2) * 1.0)
    also = world.UpCue("b", np.array([20.5, 1.2]), np.eye(2) * 1.0)
    wrong = world.UpCue("c", np.array([45.0, 1.0]), np.eye(2) * 1.0)
    estimate = world.combine_cues([good, also, wrong, prior])
    assert [c.name for c in estimate.used] == ["a", "b", "camera prior"] and estimate.left_out[0][0] is wrong
    assert estimate.angles[0] == pytest.approx(20.25, abs=0.2)


@pytest.mark.parametrize("up", ["y", "z"])
def test_world_frame_puts_up_on_its_axis_and_the_first_root_above_the_origin(up):
    joints, camera, _ = _gait_in_camera()
    fit = _ground(joints)
    first_root = joints[0, 0]
    rotation, origin = world.world_frame(fit, first_root, up)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    axis = 1 if up == "y" else 2
    np.testing.assert_allclose(rotation @ fit.up, np.eye(3)[axis], atol=1e-9)
    root_world = rotation @ (first_root - origin)
    assert root_world[axis] == pytest.approx(950.0, abs=20.0)
    assert np.delete(root_world, axis) == pytest.approx([0, 0], abs=1e-6)
    # the camera's right stays +X
    assert (rotation @ np.array([1.0, 0.0, 0.0]))[0] > 0.9


def test_foot_contacts_and_skating_on_a_known_gait():
    ankles, _, truth = gait()
    contacts = world.foot_contacts(ankles, FPS, 1700.0)
    assert (contacts == truth).mean() > 0.9
    assert world.foot_skating(ankles, truth) == 0.0
    sliding = ankles.copy()
    sliding[..., 0] += 3.0 * np.arange(len(ankles))[:, None]  # every foot slides 3 mm per frame
    assert world.foot_skating(sliding, truth) == pytest.approx(3.0)


# ------------------------------------------------------------------ the pipeline

def test_world_motion_recovers_a_synthetic_walk():
    """Noise-free projections and known intrinsics: the camera-space joints, the trajectory and the upright
    world come back (the input: the model's kind of output, root-relative in arbitrary units)."""
    joints_world, camera = _walk_towards_camera()
    cam = camera.to_camera(joints_world)
    keypoints = np.concatenate([camera.project(cam), np.ones(cam.shape[:2] + (1,))], -1)
    lifted = (cam - cam[:, :1]) * 0.003 + [0.1, 0.2, 0.0]
    height = world.stature(cam - cam[:, :1]) / 1000
    motion = world.world_motion(lifted, keypoints, (1280, 720), FPS, height=height, focal=camera.focal,
                                center=camera.center, foot_lock=False)
    np.testing.assert_allclose(motion.camera_joints, cam, atol=2.0)
    np.testing.assert_allclose(motion.camera_root, cam[:, 0], atol=2.0)
    assert world.bone_length_variation(motion.joints) < 1e-9
    # the feet glide with the root (no steps): no ground is fitted, and the output says so
    assert not motion.ground.reliable and "up uncertain" in motion.describe()["axes"]
    description = motion.describe()
    assert description["units"] == "mm" and description["up"] == "+Y"
    assert description["intrinsics"]["assumed"] is False and description["height"].startswith("given")
    assert motion.joints[0, 0, 0] == pytest.approx(0, abs=1e-6) and motion.joints[0, 0, 2] == pytest.approx(0, abs=1e-6)


def test_world_motion_without_the_image_size_skips_the_trajectory():
    motion = world.world_motion(moving_poses(n_frames=60), fps=None)
    assert motion.camera_root is None and motion.intrinsics is None
    assert any("trajectory skipped" in note for note in motion.notes)
    assert any("fps unknown" in note for note in motion.notes)
    assert motion.describe()["intrinsics"] is None


def test_smoothing_reduces_jitter():
    rng = np.random.default_rng(2)
    poses = moving_poses()
    noisy = poses + rng.normal(0, 15, poses.shape)
    smoothed = world.smooth_poses(noisy, FPS)

    def jitter(x):
        return np.linalg.norm(np.diff(x, 2, axis=0), axis=-1).mean()
    assert jitter(smoothed) < 0.25 * jitter(noisy)
    assert np.linalg.norm(smoothed - poses, axis=-1).mean() < np.linalg.norm(noisy - poses, axis=-1).mean()
    assert world.world_motion(noisy, fps=FPS, smooth=True).steps[0].startswith("smoothing")


@pytest.mark.parametrize("kwargs, text", [
    ({"height": 0.3}, "--height"), ({"height": 2.6}, "--height"), ({"focal": 0.0}, "--focal"),
    ({"focal": -5.0}, "--focal"), ({"fov": 0.0}, "--fov"), ({"fov": 190.0}, "--fov"),
    ({"focal": 1000.0, "fov": 60.0}, "give one of them"), ({"up": "x"}, "--up")])
def test_bad_options_are_one_clear_error(kwargs, text):
    with pytest.raises(OptionError, match=text):
        world.check_world_options(**kwargs)


def test_tree_facts_come_from_the_skeleton():
    assert world.SEGMENTS == tuple(j for j in range(len(PARENTS)) if list(PARENTS).count(j) > 1)
    assert [JOINT_NAMES[j] for j in world.SEGMENTS] == ["pelvis", "thorax"]


# ------------------------------------------------------------------ several people, one world

def _two_people(n_frames=120, apart_mm=2000.0, second_starts=0):
    """Two people walking side by side towards a tilted camera, ``apart_mm`` apart along X (world, Y up); the second
    one is seen from frame ``second_starts`` on. Returns per person (lifted poses, keypoints, first frame), the
    camera and their true world joints."""
    joints_world, camera = _walk_towards_camera(n_frames)
    other = joints_world + [apart_mm, 0.0, 0.0]
    people, truth = [], []
    for k, (joints, first) in enumerate(((joints_world, 0), (other[second_starts:], second_starts))):
        cam = camera.to_camera(joints)
        keypoints = np.concatenate([camera.project(cam), np.ones(cam.shape[:2] + (1,))], -1)
        people.append(((cam - cam[:, :1]) * (0.003 + 0.001 * k), keypoints, first))  # each in their own units
        truth.append(joints)
    return people, camera, truth


def test_two_people_apart_stay_apart_in_one_world():
    people, camera, truth = _two_people(second_starts=30)
    height = world.stature(truth[0] - truth[0][:, :1]) / 1000
    motions = world.world_motions([(p, k) for p, k, _ in people], (1280, 720), FPS, height=height,
                                  focal=camera.focal, center=camera.center, foot_lock=False, names=[3, 5],
                                  first_frames=[f for _, _, f in people])
    first, second = motions
    assert first.to_world[0] is second.to_world[0] or np.array_equal(first.to_world[0], second.to_world[0])
    assert first.ground is second.ground
    # the same video frame of both: 2 m apart, as they were (second's frame 0 is video frame 30)
    distance = np.linalg.norm(first.joints[30:, 0] - second.joints[:, 0], axis=-1)
    np.testing.assert_allclose(distance, 2000.0, atol=15.0)
    assert second.first_frame == 30 and second.describe()["first_frame"] == 30
    assert "person 3" in second.describe()["origin"]
    # the up cues name the people as the files do
    trunks = {c["cue"] for c in first.ground.describe()["cues"] if c["cue"].startswith("trunk")}
    assert trunks and trunks <= {"trunk of person 3", "trunk of person 5"}
    # the origin is below person 3's first root, for both
    assert np.linalg.norm(first.joints[0, 0, [0, 2]]) < 1e-6


def test_one_person_world_is_the_single_person_pipeline():
    people, camera, _ = _two_people()
    poses, keypoints, _ = people[0]
    alone = world.world_motion(poses, keypoints, (1280, 720), FPS, focal=camera.focal)
    (listed,) = world.world_motions([(poses, keypoints)], (1280, 720), FPS, focal=camera.focal)
    np.testing.assert_array_equal(alone.joints, listed.joints)


def test_a_person_without_steps_levels_with_the_ground_of_the_others():
    """The floor fitted to everyone's feet: one person who only stands (feet still) and one who walks; with the
    walker's steps the joint fit has a plane, and both get its up."""
    walker, camera, _ = _gait_in_camera(12.0, 4.0)
    stander = np.repeat(_gait_in_camera(12.0, 4.0, offset=(600.0, 400.0))[0][:1], len(walker), axis=0)
    fit = _ground(walker, stander)
    assert fit.reliable and "contact plane" in [c["cue"] for c in fit.cues if c["used"]]
    assert _angle(fit.up, camera.up) < 1.0
