"""tools/prepare_demo_data.py on a subset of the clips: schema, geometry, noise, determinism, examples."""
import dataclasses
import json
import pickle
import re

import numpy as np
import pytest

pytest.importorskip("pybullet", reason="the demo data tool reads the motion clips shipped with pybullet")

from lib.data.datareader_h36m import CAMERA_RESOLUTION, DataReaderH36M  # noqa: E402
from lib.skeleton import BONES, JOINT_NAMES  # noqa: E402
from lib.data import humanoid  # noqa: E402
from tools import prepare_demo_data as demo  # noqa: E402

CLIPS = ["run", "kick", "walk"]  # a looped train clip, a one-shot test clip, a looped test clip
MIN_SECONDS = 3.0
EXAMPLE = dict(clip="walk", camera="55011271", fps=25, seconds=2.0, scale=0.5)
SCHEMA = {"joint_2d": (np.float32, (17, 2)), "confidence": (np.float32, (17,)),
          "joint3d_image": (np.float32, (17, 3)), "joints_2.5d_image": (np.float64, (17, 3)),
          "2.5d_factor": (np.float64, ()), "camera_name": (np.str_, ()), "action": (np.str_, ()),
          "source": (np.str_, ()), "c3d_frame": (np.int64, ()), "joints_cam_mm": (np.float32, (17, 3)),
          "camera_focal": (np.float64, ()), "camera_center": (np.float64, (2,)),
          "camera_rotation": (np.float64, (3, 3)), "camera_position": (np.float64, (3,))}
SOURCE = re.compile(r"s_(\d\d)_act_(\d\d)_subact_(\d\d)_ca_(\d\d)$")


def run_tool(folder, *extra, seed=0, clips=CLIPS):
    path = folder / "h36m_demo.pkl"
    args = ["--output", str(path), "--seed", str(seed), "--min-seconds", str(MIN_SECONDS), "--clips", *clips, *extra]
    assert demo.main(args) == 0
    return path


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    path = run_tool(folder, "--examples-dir", str(folder / "examples"), "--example-clip", EXAMPLE["clip"],
                    "--example-camera", EXAMPLE["camera"], "--example-fps", str(EXAMPLE["fps"]),
                    "--example-seconds", str(EXAMPLE["seconds"]), "--example-scale", str(EXAMPLE["scale"]),
                    "--test-videos", str(folder / "videos"), "--test-cameras", EXAMPLE["camera"])
    with open(path, "rb") as f:
        dataset = pickle.load(f)
    return folder, path, dataset


def videos(split):
    """``{source: slice}`` of the contiguous videos of a split."""
    sources = split["source"]
    starts = np.flatnonzero(np.r_[True, sources[1:] != sources[:-1]])
    ends = np.r_[starts[1:], len(sources)]
    return {sources[s]: slice(s, e) for s, e in zip(starts, ends)}


def video_of(split, action, camera):
    """Frames of the video of ``action`` seen by ``camera``."""
    return next(f for f in videos(split).values()
                if split["action"][f][0] == action and split["camera_name"][f][0] == camera)


def camera_space(split):
    """Metric camera coordinates (mm) rebuilt from the pickle and the tool's camera intrinsics."""
    intrinsics = {name: (focal, np.array(center)) for name, focal, center, _ in demo.CAMERAS}
    focal = np.array([intrinsics[c][0] for c in split["camera_name"]])[:, None]
    center = np.stack([intrinsics[c][1] for c in split["camera_name"]])[:, None]
    depth = focal * split["2.5d_factor"][:, None] + split["joints_2.5d_image"][..., 2]  # root depth + relative depth
    xy = (split["joint3d_image"][..., :2] - center) * depth[..., None] / focal[..., None]
    return np.concatenate([xy, depth[..., None]], axis=-1)


def test_schema_and_dtypes(generated):
    _, _, dataset = generated
    assert set(dataset) == {"train", "test"}
    for split_name, split in dataset.items():
        assert set(split) == set(SCHEMA)
        n = len(split["source"])
        for key, (dtype, shape) in SCHEMA.items():
            assert isinstance(split[key], np.ndarray), key
            assert np.issubdtype(split[key].dtype, dtype), (key, split[key].dtype)
            assert split[key].shape == (n,) + shape, key
        assert np.all(split["2.5d_factor"] > 0)
        assert np.all(split["joint3d_image"][:, 0, 2] == 0)  # depth is root-relative
        for source, frames in videos(split).items():
            subject, act, subact, camera = map(int, SOURCE.match(source).groups())
            assert subject == demo.SUBJECT[split_name] and subact == 1
            assert set(split["camera_name"][frames]) == {demo.CAMERAS[camera - 1][0]}
            assert set(split["action"][frames]) == {demo.MOTION_NAMES[act - 1]}
            np.testing.assert_array_equal(split["c3d_frame"][frames], np.arange(frames.stop - frames.start))
        n_runs = 1 + np.count_nonzero(split["source"][1:] != split["source"][:-1])
        assert n_runs == len(set(split["source"])) == 4 * len(set(split["action"]))  # contiguous videos, 4 cameras
    assert set(dataset["train"]["action"]) == {"run"}
    assert set(dataset["test"]["action"]) == {"kick", "walk"}
    assert set(dataset["test"]["camera_name"]) == set(CAMERA_RESOLUTION)  # both resolution rules occur
    # looped clips last at least --min-seconds at 50 Hz; kick is played once (1.53 s)
    lengths = {split["action"][f][0]: f.stop - f.start for split in dataset.values() for f in videos(split).values()}
    assert lengths["walk"] >= MIN_SECONDS * demo.FPS and lengths["run"] >= MIN_SECONDS * demo.FPS
    assert lengths["kick"] == 77


def test_the_first_keypoints_are_the_h36m_joints():
    assert demo.KEYPOINT_NAMES[:len(JOINT_NAMES)] == JOINT_NAMES


def test_subject_is_170_cm():
    subject = demo.DemoSubject(demo.pybullet_data_dir())
    assert humanoid.rest_height(subject.skeleton_mm) == pytest.approx(demo.SUBJECT_HEIGHT_MM)


def test_bone_lengths_constant_over_frames(generated):
    _, _, dataset = generated
    all_lengths = []
    for split in dataset.values():
        joints = camera_space(split)
        lengths = np.stack([np.linalg.norm(joints[:, a] - joints[:, b], axis=-1) for a, b in BONES], axis=1)
        assert lengths.min() > 50
        all_lengths.append(lengths)
    lengths = np.concatenate(all_lengths)
    # one skeleton in every frame of every video and camera (float32 pixels: ~0.01 mm)
    np.testing.assert_allclose(lengths, np.broadcast_to(lengths[0], lengths.shape), atol=0.05)


def test_views_of_a_clip_are_one_rigid_motion(generated):
    _, _, dataset = generated
    split = dataset["test"]
    joints = camera_space(split)
    walk = [f for s, f in videos(split).items() if split["action"][f][0] == "walk"]
    first, second = joints[walk[0]], joints[walk[1]]
    # the cameras move together (dolly), so one rotation + translation maps one view onto the other
    a = first.reshape(-1, 3) - first.reshape(-1, 3).mean(0)
    b = second.reshape(-1, 3) - second.reshape(-1, 3).mean(0)
    u, _, vt = np.linalg.svd(a.T @ b)
    rotation = (u @ vt).T
    assert np.linalg.det(rotation) > 0
    np.testing.assert_allclose(a @ rotation.T, b, atol=0.1)


def test_detections_are_the_projection_plus_noise(generated):
    _, _, dataset = generated
    for split in dataset.values():
        error = np.linalg.norm(split["joint_2d"] - split["joint3d_image"][..., :2], axis=-1)
        std = np.array([demo.NOISE_STD_PX[demo.body_part(n)] for n in demo.H36M_KEYPOINTS])
        # |2D Gaussian error| has median 1.18 std; wide bounds for the AR(1) correlation
        ratio = np.median(error, axis=0) / std
        assert np.all((ratio > 0.9) & (ratio < 1.45)), ratio
        assert error.max() < demo.OUTLIER_PX[1] + 8 * std.max()
        assert np.mean(error > 6 * std) < 0.01  # rare outliers
        assert np.all((split["confidence"] > 0) & (split["confidence"] <= demo.CONFIDENCE_MAX))
        assert np.corrcoef(error.ravel(), split["confidence"].ravel())[0, 1] < -0.8
        for source, frames in videos(split).items():
            w, h = CAMERA_RESOLUTION[split["camera_name"][frames][0]]
            xy = split["joint3d_image"][frames][..., :2]
            assert xy.min() > 0 and xy[..., 0].max() < w and xy[..., 1].max() < h, f"{source} leaves the image"


def test_camera_space_ground_truth_and_cameras(generated):
    """joints_cam_mm is the camera-space skeleton the image arrays were made from; the extrinsics put it on a
    floor at y = 0 in one world shared by the four views, with a fixed camera orientation per video."""
    _, _, dataset = generated
    for split in dataset.values():
        np.testing.assert_allclose(split["joints_cam_mm"], camera_space(split), rtol=1e-5, atol=0.05)
        projected = (split["camera_focal"][:, None, None] * split["joints_cam_mm"][..., :2]
                     / split["joints_cam_mm"][..., 2:] + split["camera_center"][:, None])
        np.testing.assert_allclose(projected, split["joint3d_image"][..., :2], atol=0.01)
        world = (np.einsum("tji,tkj->tki", split["camera_rotation"], split["joints_cam_mm"].astype(np.float64))
                 + split["camera_position"][:, None])
        for source, frames in videos(split).items():
            assert (split["camera_rotation"][frames] == split["camera_rotation"][frames][0]).all(), source
            assert world[frames][..., 1].min() > -100  # the feet near the floor, not under it
        walk = [f for s, f in videos(split).items() if split["action"][f][0] == "walk"]
        for frames in walk[1:]:  # every view of a clip: one motion in the world
            np.testing.assert_allclose(world[frames], world[walk[0]], atol=0.05)


def test_datareader_round_trip(generated):
    folder, path, dataset = generated
    reader = DataReaderH36M(n_frames=27, sample_stride=1, data_stride_train=9, data_stride_test=27,
                            dt_root=str(folder), dt_file=path.name)
    train_2d, test_2d, train_3d, test_3d = reader.get_sliced_data()
    assert len(train_2d) > 0 and len(test_2d) > 0
    for data in (train_2d, test_2d):
        assert np.abs(data[..., :2]).max() < 1
    test_mm = reader.denormalize(test_3d.copy()) * np.asarray(reader.get_test_frames("2.5d_factor"))[
        reader.get_split_id()[1]][..., None, None]
    gt_mm = np.asarray(reader.get_test_frames("joints_2.5d_image"))[reader.get_split_id()[1]]
    np.testing.assert_allclose(test_mm - test_mm[:, :, :1], gt_mm - gt_mm[:, :, :1], atol=0.01)
    np.testing.assert_allclose(dataset["test"]["joints_2.5d_image"],
                               dataset["test"]["joint3d_image"] * dataset["test"]["2.5d_factor"][:, None, None],
                               rtol=1e-6, atol=1e-3)


def test_deterministic_for_a_seed(generated, tmp_path):
    _, path, dataset = generated
    assert run_tool(tmp_path, "--no-examples").read_bytes() == path.read_bytes()
    with open(run_tool(tmp_path, "--no-examples", seed=1), "rb") as f:
        other = pickle.load(f)
    assert not np.array_equal(other["test"]["joint_2d"], dataset["test"]["joint_2d"])
    # a clip's videos do not depend on the other clips chosen
    with open(run_tool(tmp_path, "--no-examples", clips=["walk", "run"]), "rb") as f:
        subset = pickle.load(f)
    walk = dataset["test"]["action"] == "walk"
    for key in SCHEMA:
        np.testing.assert_array_equal(subset["test"][key], dataset["test"][key][walk])


def test_loops_join_without_a_jump():
    data_dir = demo.pybullet_data_dir()
    skeleton = humanoid.load_skeleton(humanoid.urdf_path(data_dir))
    motion = demo.read_motion(demo.motion_path(data_dir, "walk"), "walk")
    closed = humanoid.close_cycle(motion)
    angle, translation = humanoid.cycle_step(closed)

    def keypoints(pose):
        return demo.keypoints_from_frames(skeleton, demo.forward_kinematics(skeleton, *pose))

    first, last = keypoints(humanoid.raw_pose(closed, [0]))[0], keypoints(humanoid.raw_pose(closed, [-1]))[0]
    np.testing.assert_allclose(demo.rotation_y(angle).apply(first) + translation, last, atol=1e-9)
    # the raw clip does not close: that is what close_cycle is for
    assert np.abs(keypoints(humanoid.raw_pose(motion, [-1]))[0] - last).max() > 0.01
    # looped: no frame-to-frame step at a seam is larger than the largest inside the first cycle
    looped = keypoints(demo.resample_motion(motion, 3))
    step = np.linalg.norm(np.diff(looped, axis=0), axis=-1).max(axis=1)
    period = int(motion.times[-1] * demo.FPS)
    assert step[period - 2:period + 3].max() <= step[:period - 2].max()


def test_resampling_slerps_between_the_clip_frames():
    data_dir = demo.pybullet_data_dir()
    motion = demo.read_motion(demo.motion_path(data_dir, "kick"), "kick")  # played once
    motion = dataclasses.replace(motion, times=np.arange(len(motion.times)) / 30)  # exactly 30 Hz (0.0333333 s)
    root_position, root_rotation, joints = demo.resample_motion(motion, 1, fps=60)
    # even samples are the clip's frames, odd ones halfway between two of them (in angle, on one arc)
    frames = np.arange(len(motion.times) - 1)
    for ours, clip in [(root_rotation, motion.root_rotation), (joints["chest"], motion.joint_rotations["chest"])]:
        np.testing.assert_allclose((ours[0::2] * clip.inv()).magnitude(), 0, atol=1e-6)
        to_mid, mid_to_next = ((ours[1::2] * clip[frames].inv()).magnitude(),
                               (clip[frames + 1] * ours[1::2].inv()).magnitude())
        np.testing.assert_allclose(to_mid, mid_to_next, atol=1e-6)
        np.testing.assert_allclose(to_mid + mid_to_next, (clip[frames + 1] * clip[frames].inv()).magnitude(),
                                   atol=1e-6)
    np.testing.assert_allclose(joints["right_knee"][1::2], (motion.joint_rotations["right_knee"][:-1]
                                                            + motion.joint_rotations["right_knee"][1:]) / 2)


def pybullet_link_origins(urdf_file, frames):
    """World origins of every link of the humanoid in the motion-file ``frames`` (rows of the files'
    ``Frames``), computed by pybullet (DIRECT mode): an independent check of the tool's kinematics."""
    import pybullet
    client = pybullet.connect(pybullet.DIRECT)
    try:
        body = pybullet.loadURDF(urdf_file, globalScaling=humanoid.URDF_SCALE, useFixedBase=True,
                                 physicsClientId=client)
        joints = {}
        for j in range(pybullet.getNumJoints(body, physicsClientId=client)):
            info = pybullet.getJointInfo(body, j, physicsClientId=client)
            joints[info[1].decode()] = (j, info[12].decode())  # joint name -> (index, child link)

        def xyzw(wxyz):  # the motion files store w, x, y, z; pybullet takes x, y, z, w
            return np.roll(wxyz, -1) / np.linalg.norm(wxyz)

        origins = []
        for frame in frames:
            pybullet.resetBasePositionAndOrientation(body, frame[1:4], xyzw(frame[4:8]), physicsClientId=client)
            column = 8
            for joint, n in humanoid.MOTION_JOINTS:
                if n == 4:
                    pybullet.resetJointStateMultiDof(body, joints[joint][0], xyzw(frame[column:column + 4]),
                                                     physicsClientId=client)
                else:
                    pybullet.resetJointState(body, joints[joint][0], frame[column], physicsClientId=client)
                column += n
            link_origins = {"base": np.array(frame[1:4])}
            for j, link in joints.values():
                state = pybullet.getLinkState(body, j, computeForwardKinematics=True, physicsClientId=client)
                link_origins[link] = np.array(state[4])  # the URDF link frame, not the centre of mass
            origins.append(link_origins)
        return {link: np.stack([o[link] for o in origins]) for link in origins[0]}
    finally:
        pybullet.disconnect(client)


def test_forward_kinematics_matches_pybullet(tmp_path):
    data_dir = demo.pybullet_data_dir()
    urdf = tmp_path / "humanoid.urdf"
    urdf.write_text(humanoid.read_urdf_text(humanoid.urdf_path(data_dir)))  # without the shipped file's stray NUL byte
    skeleton = humanoid.load_skeleton(humanoid.urdf_path(data_dir))
    for name in demo.MOTION_NAMES:
        path = demo.motion_path(data_dir, name)
        with open(path) as f:
            frames = np.array(json.load(f)["Frames"])
        index = np.linspace(0, len(frames) - 1, 4).astype(int)
        theirs = pybullet_link_origins(str(urdf), frames[index])
        ours = demo.forward_kinematics(skeleton, *humanoid.raw_pose(demo.read_motion(path, name), index))
        assert set(theirs) <= set(ours)
        for link in theirs:
            np.testing.assert_allclose(ours[link][1], theirs[link], atol=1e-6, err_msg=f"{name}: link {link}")


def test_example_files(generated):
    import imageio

    from lib.data.dataset_wild import halpe2h36m
    from lib.data.wild_input import read_detections
    folder, _, dataset = generated
    with open(folder / "examples" / "demo_alphapose.json") as f:
        results = json.load(f)
    n_frames = int(EXAMPLE["seconds"] * EXAMPLE["fps"])
    assert len(results) == n_frames
    for i, det in enumerate(results):
        assert det["image_id"] == f"{i}.jpg" and det["category_id"] == 1 and det["idx"] == 1
        assert len(det["keypoints"]) == 26 * 3 and len(det["box"]) == 4 and det["score"] > 0
    detections = read_detections(str(folder / "examples" / "demo_alphapose.json"))
    assert detections.keypoints.shape == (n_frames, 26, 3)
    reader = imageio.get_reader(str(folder / "examples" / "demo.mp4"))
    frames = [frame for frame in reader]
    w, h = (int(v * EXAMPLE["scale"]) for v in CAMERA_RESOLUTION[EXAMPLE["camera"]])
    assert len(frames) == n_frames and frames[0].shape == (h, w, 3)
    assert reader.get_meta_data()["fps"] == EXAMPLE["fps"]
    # same clip and camera as the pickle's video, at the video's frame rate and size
    video = video_of(dataset["test"], EXAMPLE["clip"], EXAMPLE["camera"])
    truth = dataset["test"]["joint3d_image"][video][::demo.FPS // EXAMPLE["fps"]][:n_frames]
    h36m = halpe2h36m(detections.keypoints)[..., :2] / EXAMPLE["scale"]
    direct = [i for i in range(17) if i != 7]  # H36M spine = chest joint, not halpe2h36m's neck/hip midpoint
    error = np.linalg.norm(h36m[:, direct] - truth[:, direct, :2], axis=-1)
    assert np.median(error) < 6 and np.mean(error < 20) > 0.98


def test_test_videos_have_every_frame_of_their_source(generated):
    import imageio
    folder, _, dataset = generated
    test = dataset["test"]
    sources = {s for s in set(test["source"]) if test["camera_name"][test["source"] == s][0] == EXAMPLE["camera"]}
    assert sorted(p.stem for p in (folder / "videos").glob("*.mp4")) == sorted(sources)  # kick and walk
    for source in sources:
        reader = imageio.get_reader(str(folder / "videos" / f"{source}.mp4"))
        assert reader.get_meta_data()["fps"] == demo.FPS
        assert sum(1 for _ in reader) == np.count_nonzero(test["source"] == source)


def test_clips_must_cover_both_splits(capsys):
    with pytest.raises(SystemExit) as exc:
        demo.parse_args(["--clips", "walk", "kick"])
    assert exc.value.code == 2 and "one train clip" in capsys.readouterr().err
