"""lib/data/scenes.py and tools/render_scenes.py: ground truth of rendered multi-person scenes (small pictures,
few frames)."""
import json
import math

import numpy as np
import pytest

pytest.importorskip("pybullet_data", reason="the humanoid and its motion clips ship with pybullet")

from lib.data import humanoid, scenes  # noqa: E402
from lib.utils.vismo import draw_solids  # noqa: E402
from tools import render_scenes  # noqa: E402

SIZE = (320, 240)
CAMERA = scenes.Camera(height_mm=2500.0, pitch_deg=15.0, focal_px=250.0, size=SIZE, fps=10.0)
RED, BLUE = scenes.SHIRTS_AND_TROUSERS["red"], scenes.SHIRTS_AND_TROUSERS["blue"]


@pytest.fixture(scope="module")
def passing():
    """A person standing 6 m away, a walker passing in front of them, and one far outside the picture who
    leaves the scene at 2 s."""
    scene = scenes.Scene("passing", CAMERA, (
        scenes.standing_person(stature_m=1.75, colors=RED, start_mm=(6000.0, 0.0), heading_deg=180.0, name="stander"),
        scenes.Person(motion="walk", stature_m=1.70, colors=BLUE, start_mm=(4000.0, -2500.0), heading_deg=90.0,
                      name="walker"),
        scenes.standing_person(stature_m=1.60, start_mm=(6000.0, 9000.0), disappear_s=2.0, name="outside")),
        seconds=4.0)
    return scene, scenes.render_scene(scene)


def test_keypoints_in_camera_and_pixels_are_the_world_ones_projected(passing):
    scene, truth = passing
    world, camera, px = truth["keypoints_world_mm"], truth["keypoints_camera_mm"], truth["keypoints_px"]
    assert world.shape == (3, scene.n_frames, len(humanoid.KEYPOINT_NAMES), 3) and px.shape[-1] == 2
    assert list(truth["keypoint_names"][:17]) == list(humanoid.H36M_KEYPOINTS)
    rotation, position = truth["rotation_world_to_camera"], truth["camera_position_mm"]
    np.testing.assert_allclose(camera, (world - position) @ rotation.T, atol=1e-6)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    focal, center = truth["focal_px"], truth["principal_point_px"]
    np.testing.assert_allclose(px, focal * camera[..., :2] / camera[..., 2:] + center, atol=1e-9)
    assert tuple(truth["image_size"]) == SIZE and truth["fps"] == 10.0


def test_boxes_hold_the_visible_projected_keypoints(passing):
    _, truth = passing
    px, box, w, h = truth["keypoints_px"], truth["box_px"][:, :, None], *SIZE
    inside = (px[..., 0] > 0) & (px[..., 0] < w - 1) & (px[..., 1] > 0) & (px[..., 1] < h - 1)
    check = inside & truth["in_picture"][..., None]
    assert check.sum() > 500
    assert np.all((px[..., 0] >= box[..., 0]) & (px[..., 0] <= box[..., 2]) & (px[..., 1] >= box[..., 1])
                  & (px[..., 1] <= box[..., 3])
                  | ~check)
    in_picture = truth["in_picture"]
    assert np.isfinite(truth["box_px"][in_picture]).all() and np.isnan(truth["box_px"][~in_picture]).all()
    np.testing.assert_array_equal(truth["height_px"], truth["box_px"][..., 3] - truth["box_px"][..., 1])
    visible = truth["visible_pixels"] > 0  # the visible box lies in the box
    vbox, fbox = truth["visible_box_px"][visible], truth["box_px"][visible]
    assert np.all((vbox[:, :2] >= fbox[:, :2]) & (vbox[:, 2:] <= fbox[:, 2:]))


def test_visible_fraction_alone_occluded_and_outside(passing):
    scene, truth = passing
    fraction, box = truth["visible_fraction"], truth["box_px"]
    stander, walker = 0, 1
    overlap = ((np.minimum(box[stander, :, 2], box[walker, :, 2]) > np.maximum(box[stander, :, 0], box[walker, :, 0]))
               & truth["in_picture"][walker])
    depth = truth["keypoints_camera_mm"][:, :, 0, 2]
    assert np.all(depth[walker] < depth[stander] - 1000)  # the walker passes in front
    assert overlap.any() and (~overlap).any()
    assert np.all(fraction[stander, ~overlap] == 1.0)  # alone and wholly in the picture: every pixel visible
    assert fraction[stander, overlap].min() < 0.6
    np.testing.assert_array_equal(fraction[stander], truth["visible_pixels"][stander]
                                  / truth["silhouette_pixels"][stander])
    # the far one: never in the picture, present until 2 s
    assert not truth["in_picture"][2].any() and np.all(fraction[2] == 0) and np.all(truth["visible_pixels"][2] == 0)
    np.testing.assert_array_equal(truth["present"][2], scene.times < 2.0)
    assert truth["silhouette_pixels"][2, 0] > 0 and truth["silhouette_pixels"][2, -1] == 0  # drawn only when present


def test_leaving_the_picture_counts_as_hidden():
    scene = scenes.Scene("leaving", CAMERA, (scenes.Person(start_mm=(5000.0, 1800.0), heading_deg=90.0),), 3.0)
    truth = scenes.render_scene(scene)
    fraction, in_picture = truth["visible_fraction"][0], truth["in_picture"][0]
    assert fraction[0] == 1.0 and not in_picture[-1] and fraction[-1] == 0.0
    cut = in_picture & (fraction < 1.0)  # at the border: part of the silhouette is outside
    assert cut.any() and np.all(np.diff(fraction[np.argmax(fraction < 1):]) <= 1e-9)


@pytest.mark.parametrize("stature_m", [1.55, 1.95])
def test_stature_is_floor_to_head_top(stature_m):
    skeleton, _ = humanoid.skeleton_of_height(humanoid.pybullet_data_dir(), 1000 * stature_m)
    assert humanoid.rest_height(skeleton) == pytest.approx(1000 * stature_m, rel=1e-9)
    scene = scenes.Scene("tall", CAMERA, (scenes.standing_person(stature_m=stature_m),), 1.0)
    world = scenes.render_scene(scene)["keypoints_world_mm"][0]
    names = list(humanoid.KEYPOINT_NAMES)
    feet = world[:, [names.index(n) for n in humanoid.FOOT_KEYPOINTS], 1]
    assert np.abs(feet.min(1)).max() < 10  # on the floor (swaying)
    head = world[:, names.index("head_top"), 1]
    np.testing.assert_allclose(head - feet.min(1), 1000 * stature_m, rtol=0.01)


@pytest.mark.parametrize("pitch_deg, roll_deg", [(0.0, 0.0), (20.0, 0.0), (35.0, 5.0), (10.0, -5.0)])
def test_pitch_and_roll_give_the_world_up_in_camera(pitch_deg, roll_deg):
    camera = scenes.Camera(height_mm=2000.0, pitch_deg=pitch_deg, roll_deg=roll_deg, yaw_deg=30.0, focal_px=250.0,
                           size=SIZE)
    p, r = math.radians(pitch_deg), math.radians(roll_deg)
    expected = [-math.sin(r) * math.cos(p), -math.cos(r) * math.cos(p), -math.sin(p)]
    np.testing.assert_allclose(camera.up_in_camera, expected, atol=1e-12)
    np.testing.assert_allclose(camera.rotation[2], [math.cos(p) * math.cos(math.radians(30)), -math.sin(p),
                                                    math.cos(p) * math.sin(math.radians(30))], atol=1e-12)
    # in the picture, world up points up, turned anticlockwise by the roll
    view = camera.view()
    target = camera.position + 5000 * camera.rotation[2]
    a, b = view.project(view.to_camera(np.stack([target, target + [0.0, 100.0, 0.0]])))
    assert math.degrees(math.atan2(-(b - a)[0], -(b - a)[1])) == pytest.approx(roll_deg, abs=0.5)
    again = scenes.Camera.looking_at(camera.position, target, roll_deg=roll_deg, focal_px=250.0, size=SIZE)
    np.testing.assert_allclose(again.rotation, camera.rotation, atol=1e-9)


def test_floor_in_camera_coordinates(passing):
    _, truth = passing
    up, offset = truth["floor_camera"][:3], truth["floor_camera"][3]
    np.testing.assert_allclose(up, truth["up_in_camera"])
    assert offset == -CAMERA.height_mm and tuple(truth["floor_world"]) == (0.0, 1.0, 0.0, 0.0)
    heights_world = truth["keypoints_world_mm"][..., 1]
    np.testing.assert_allclose(truth["keypoints_camera_mm"] @ up - offset, heights_world, atol=1e-6)


def test_walkers_walk_straight_and_turn_back():
    speed = scenes.travel_speed_mm_s("walk", 1.70)
    assert 900 < speed < 1200
    turns = ((2.0, 180.0),)
    scene = scenes.Scene("back", CAMERA, (scenes.Person(start_mm=(6000.0, 0.0), heading_deg=90.0, turns=turns),), 4.0)
    pelvis = scenes.render_scene(scene)["keypoints_world_mm"][0, :, 0]
    assert np.abs(pelvis[:, 0] - 6000).max() < 100  # straight along z, at its depth
    k = int(2.0 * CAMERA.fps)
    assert pelvis[k, 2] == pytest.approx(2.0 * speed, rel=0.1)
    assert pelvis[-1, 2] == pytest.approx(0.0, abs=0.1 * 2.0 * speed)  # back where it started
    still = scenes.Scene("treadmill", CAMERA, (scenes.Person(start_mm=(6000.0, 0.0), in_place=True),), 3.0)
    pelvis = scenes.render_scene(still)["keypoints_world_mm"][0, :, 0]
    assert np.linalg.norm(pelvis[:, [0, 2]] - [6000.0, 0.0], axis=1).max() < 150


def test_label_drawing_is_exact_on_a_crop():
    solids = [("box", np.array([[10.3, 10.1], [30.7, 12.0], [28.0, 31.2], [9.5, 29.0]]), 0.0, (1,)),
              ("sphere", np.array([[35.2, 20.6]]), 6.3, (1,)), ("capsule", np.array([[12.0, 40.0], [44.0, 50.0]]), 3.2,
                                                                 (1,))]
    full = np.zeros((64, 64), np.uint8)
    draw_solids(full, solids, antialias=False, outline_shade=1.0)
    crop = np.zeros((60, 50), np.uint8)
    draw_solids(crop, solids, antialias=False, outline_shade=1.0, offset=(5, 3))
    assert set(np.unique(full)) == {0, 1}
    np.testing.assert_array_equal(full[3:63, 5:55], crop)


def test_presets_and_their_overrides():
    for name in scenes.PRESETS:
        scene = scenes.make_scene(name)
        camera = scene.camera
        assert camera.size == (1280, 720) and camera.fps == 30.0 and 2000 <= camera.height_mm <= 3000
        assert 10 <= camera.pitch_deg <= 30 and scene.name == name and scene.description
        # people 4-10 m away and 150-450 px tall when wholly visible (a few frames of each)
        truth = scenes.render_scene(scene.with_options(fps=2))
        whole = truth["in_picture"] & (truth["visible_fraction"] == 1.0)
        assert whole.any(axis=1).all(), name
        assert 150 <= truth["height_px"][whole].min() and truth["height_px"][whole].max() <= 460, name
        depth = truth["keypoints_camera_mm"][:, :, 0, 2]
        assert 4000 <= depth.min() and depth.max() <= 10500, name
    assert len(scenes.make_scene("three").people) == 3 and len(scenes.make_scene("single").people) == 1
    identical, cross = (scenes.make_scene(name).people for name in ("identical", "cross"))
    assert identical[0].colors == identical[1].colors and cross[0].colors != cross[1].colors
    scene = scenes.make_scene("cross", size=(640, 360), fps=15, seconds=2)
    assert scene.camera.size == (640, 360) and scene.camera.focal_px == 500.0 and scene.n_frames == 30
    assert len(scenes.WORLD_PRESETS) == 36
    world = scenes.make_scene("ground_p35_r-5_195cm_stepping")
    assert (world.camera.pitch_deg, world.camera.roll_deg, world.people[0].stature_m) == (35, -5, 1.95)
    assert world.people[0].in_place


def test_rendering_is_deterministic_and_the_tool_writes_every_file(tmp_path, capsys):
    args = ["--names", "single", "occlude", "--size", "160", "96", "--fps", "10", "--seconds", "0.6"]
    assert render_scenes.main(["--out", str(tmp_path / "a"), *args]) == 0
    assert render_scenes.main(["--out", str(tmp_path / "b"), *args]) == 0
    for name in ("single", "occlude"):
        for ext in ("mp4", "npz", "json"):
            first, second = (tmp_path / d / f"{name}.{ext}" for d in "ab")
            assert first.read_bytes() == second.read_bytes(), f"{name}.{ext}"
    truth = np.load(tmp_path / "a" / "occlude.npz")
    assert set(truth.files) == set(scenes.TRUTH_KEYS) and truth["keypoints_px"].shape == (2, 6, 27, 2)
    description = json.load(open(tmp_path / "a" / "occlude.json"))
    assert description["camera"]["size"] == [160, 96] and len(description["people"]) == 2
    assert "wrote 2 scenes" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        f"{n}.{e}" for n in ("single", "occlude") for e in ("mp4", "npz", "json"))


def test_tool_rejects_unknown_names_and_odd_sizes(tmp_path, capsys):
    for bad in (["--names", "nope"], ["--size", "161", "96"]):
        with pytest.raises(SystemExit) as exc:
            render_scenes.main(["--out", str(tmp_path), *bad])
        assert exc.value.code == 2
    assert "unknown scene 'nope'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
