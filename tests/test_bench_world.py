"""bench/bench_world.py --scenes: the metric functions behind the table of docs/inference.md ("World motion: measured
on rendered pitched cameras"), on inputs with known answers."""
import math

import numpy as np
import pytest

from bench.bench_world import (CAMERA_UP, angle_deg, camera_axes_motion, contact_flatness, plane_fit, root_error,
                               score_clip, skating, truth_contacts, write_true_keypoints)
from lib.data.humanoid import KEYPOINT_NAMES
from lib.data.scenes import Camera
from lib.world import stature
from lib.world.gravity import up_of_angles
from tests.synthetic_motion import REST_JOINTS


def test_the_up_error_of_a_camera_pitched_and_rolled_is_the_angle_between_the_up_vectors():
    assert angle_deg(CAMERA_UP, up_of_angles(20.0, 0.0)) == pytest.approx(20.0)
    assert angle_deg(CAMERA_UP, up_of_angles(0.0, -5.0)) == pytest.approx(5.0)
    assert angle_deg(up_of_angles(35.0, 0.0), up_of_angles(35.0, 0.0)) == pytest.approx(0.0, abs=1e-6)


def _tilted_floor(tilt_deg, n=200, seed=0, noise=0.0):
    """Points spread over a 1 m x 0.6 m patch of a plane tilted by ``tilt_deg`` about x, in pairs ``noise`` mm above
    and below it, and the plane's normal."""
    rng = np.random.default_rng(seed)
    t = math.radians(tilt_deg)
    normal = np.array([0.0, -math.cos(t), -math.sin(t)])
    a, b = np.array([1.0, 0.0, 0.0]), np.cross(normal, [1.0, 0.0, 0.0])
    uv = np.repeat(rng.uniform(-1, 1, (n // 2, 2)) * [500.0, 300.0], 2, axis=0)
    signs = np.where(np.arange(len(uv)) % 2, 1.0, -1.0)
    return np.array([0.0, 1500.0, 6000.0]) + uv[:, :1] * a + uv[:, 1:] * b + (noise * signs)[:, None] * normal, normal


def test_points_on_a_plane_are_flat_and_its_tilt_is_measured_against_up():
    points, normal = _tilted_floor(12.0, noise=4.0)
    fitted, offset, rms, spreads = plane_fit(points)
    assert abs(fitted @ normal) == pytest.approx(1.0, abs=1e-9)
    assert rms == pytest.approx(4.0, rel=1e-6)
    assert spreads[0] > spreads[1] > 100.0
    flatness, tilt = contact_flatness(points, CAMERA_UP)
    assert flatness == pytest.approx(4.0, rel=1e-6)
    assert tilt == pytest.approx(12.0, abs=1e-6)
    assert contact_flatness(points, normal)[1] == pytest.approx(0.0, abs=1e-4)


def test_points_along_a_line_have_no_tilt_and_too_few_points_no_plane():
    line = np.column_stack([np.linspace(0, 1000, 50), np.full(50, 1500.0), np.full(50, 6000.0)])
    line[::2, 1] += 3.0
    flatness, tilt = contact_flatness(line, CAMERA_UP)
    assert flatness < 3.0 and math.isnan(tilt)
    assert all(math.isnan(v) for v in contact_flatness(line[:2], CAMERA_UP))


def test_truth_contacts_are_sole_points_near_the_floor():
    heights = np.array([[0.0, 25.0], [19.9, 20.1]])
    points = np.stack([np.zeros_like(heights), heights, np.zeros_like(heights)], axis=-1)
    np.testing.assert_array_equal(truth_contacts(points), [[True, False], [True, False]])


def test_skating_counts_the_displacement_along_the_floor_between_frames_in_contact():
    up = np.array([0.0, -1.0, 0.0])
    t = np.arange(6, dtype=np.float64)
    point = np.column_stack([3.0 * t, -5.0 * t, np.zeros(6)])  # 3 mm/frame along the floor, 5 mm/frame up
    contacts = np.array([True, True, True, False, True, True])[:, None]
    assert skating(point[:, None], contacts, up) == pytest.approx(3.0)
    assert math.isnan(skating(point[:, None], np.zeros((6, 1), bool), up))


def test_root_error_is_the_median_distance_and_its_share_of_the_distance():
    truth = np.array([[0.0, 0.0, 5000.0], [0.0, 0.0, 6000.0], [0.0, 0.0, 8000.0]])
    mm, pct = root_error(truth + [300.0, 0.0, 0.0], truth)
    assert mm == pytest.approx(300.0)
    assert pct == pytest.approx(5.0)


def test_the_before_places_the_pixel_pose_at_the_distance_its_scale_gives():
    """A pose 6 m away seen in weak perspective (pixels = mm x f / Z): scaled back to its stature, it lands at Z."""
    focal, center, depth = 1000.0, np.array([640.0, 360.0]), 6000.0
    pose_mm = REST_JOINTS - REST_JOINTS[0]
    pose_mm = pose_mm * [1.0, -1.0, 1.0]  # camera axes: y down
    root_px = np.array([[700.0, 400.0], [500.0, 380.0]])
    pixels = pose_mm[None] * focal / depth + np.concatenate([root_px, [[0.0], [0.0]]], axis=1)[:, None]
    out = camera_axes_motion(pixels, focal, center, stature(pose_mm[None]))
    expected_root = np.column_stack([(root_px - center) * depth / focal, [depth, depth]])
    np.testing.assert_allclose(out[:, 0], expected_root, atol=1e-6)
    np.testing.assert_allclose(out - out[:, :1], np.broadcast_to(pose_mm, out.shape), atol=1e-6)


def _scene_truth(n=40):
    """A scene's truth (the keys score_clip reads) of a person gliding 2 m across the view of a camera pitched 20°
    down 6 m away, feet flat on the floor; the left heel lifts 60 mm halfway."""
    names = list(KEYPOINT_NAMES)
    world = np.zeros((n, len(names), 3))
    path = np.column_stack([np.full(n, 6000.0), np.zeros(n), np.linspace(-1000, 1000, n)])
    world[:, :17] = REST_JOINTS + path[:, None]
    for side in ("left", "right"):
        ankle = world[:, names.index(f"{side}_ankle")]
        world[:, names.index(f"{side}_heel")] = ankle * [1, 0, 1] + [-40.0, 0.0, 0.0]
        world[:, names.index(f"{side}_big_toe")] = ankle * [1, 0, 1] + [200.0, 0.0, 0.0]
        world[:, names.index(f"{side}_eye")] = world[:, names.index("head_top")] + [80.0, -110.0,
                                                                                   30.0 if side == "left" else -30.0]
    world[n // 2:, names.index("left_heel"), 1] = 60.0
    camera = Camera(height_mm=3000.0, pitch_deg=20.0)
    return {"keypoint_names": np.array(names), "keypoints_world_mm": world[None],
            "keypoints_camera_mm": ((world - camera.position) @ camera.rotation.T)[None],
            "up_in_camera": camera.up_in_camera}


def test_the_truth_scored_against_itself_has_no_error():
    truth = _scene_truth()
    names = list(KEYPOINT_NAMES)
    cam = truth["keypoints_camera_mm"][0]
    feet = cam[:, [names.index(k) for k in ("left_heel", "left_big_toe", "right_heel", "right_big_toe")]]
    eyes = truth["keypoints_world_mm"][0][:, [names.index("left_eye"), names.index("right_eye")]].mean(1)[:, 1]
    valid = np.ones(len(cam), bool)
    row = score_clip(truth, valid, truth["up_in_camera"], cam[:, :17], feet, eyes, top="eyes")
    assert row["up"] == pytest.approx(0.0, abs=1e-5)
    assert row["root_mm"] == row["root_pct"] == row["ankles"] == row["feet"] == pytest.approx(0.0, abs=1e-9)
    assert row["stature_pct"] == pytest.approx(0.0, abs=1e-9)
    assert row["flatness"] == pytest.approx(0.0, abs=1e-3) and row["tilt"] == pytest.approx(0.0, abs=1e-3)
    assert row["skating"] == pytest.approx(row["truth_skating"]) and row["skating"] == pytest.approx(2000 / 39)
    # the left heel's lifted half is not a contact: 40 + 20 + 40 + 40 points
    assert row["contact_points"] == 140
    # the camera's axes for up: the camera's pitch is the error; the ankles stand in for the feet
    before = score_clip(truth, valid, CAMERA_UP, cam[:, :17])
    assert before["up"] == pytest.approx(20.0)
    assert before["contact_points"] == 60 and "feet" not in before and "stature_pct" not in before


def test_the_true_keypoints_read_back_as_the_truths_pixels_with_its_feet(tmp_path):
    """The true-2D input: a Halpe-26 file that infer_wild.py reads as the truth's H36M joints (the spine: Halpe's
    midpoint of neck and hip) and its heels and toes, at the frames where the person is in the picture."""
    from lib.data.wild_input import load_wild_inputs
    truth = _scene_truth(n=12)
    names = list(KEYPOINT_NAMES)
    cam = truth["keypoints_camera_mm"]
    truth["keypoints_px"] = cam[..., :2] * 1000.0 / cam[..., 2:] + [640.0, 360.0]
    truth["present"] = np.ones((1, 12), bool)
    truth["in_picture"] = np.arange(12)[None] != 5  # out of the picture at frame 5
    path = write_true_keypoints(truth, str(tmp_path / "true.json"))
    track = load_wild_inputs(path, None, None, None, None, None, None, 1).tracks[0]
    assert track.detected.tolist() == [t != 5 for t in range(12)]
    pixels = truth["keypoints_px"][0]
    kept = track.detected
    joints = [j for j in range(17) if names[j] != "spine"]
    np.testing.assert_allclose(track.keypoints[kept][:, joints, :2], pixels[kept][:, joints], atol=0.006)
    spine = (pixels[:, names.index("thorax")] + pixels[:, names.index("pelvis")]) / 2
    np.testing.assert_allclose(track.keypoints[kept, names.index("spine"), :2], spine[kept], atol=0.006)
    np.testing.assert_array_equal(track.keypoints[kept, :, 2], 1.0)
    feet = [names.index(n) for n in ("left_heel", "left_big_toe", "right_heel", "right_big_toe")]
    np.testing.assert_allclose(track.feet[kept, :, :2], pixels[kept][:, feet], atol=0.006)
