"""lib/streaming.py: the streaming lifter against offline lifting, its ring buffer's edges, hops, gaps, run_stream."""
import os

import numpy as np
import pytest
import torch

from lib.data.stream_input import StreamFrame
from lib.data.wild_input import fill_missing_frames, load_wild_inputs, normalize_keypoints
from lib.inference import lift_pixels, load_model
from lib.streaming import MetricPoses, StreamingLifter, full_lookahead, run_stream
from lib.utils.errors import UserError
from lib.utils.tools import get_config
from lib.utils.utils_data import flip_average
from conftest import REPO
from lib.world import stature
from synthetic_motion import REST_JOINTS, Camera, moving_poses
from test_infer_wild import CHECKPOINT, CONFIG, SINGLE

IMAGE_SIZE = (1920, 1080)  # of the fixture keypoints
CLIP_LEN = 27  # the fixture model's maxlen


@pytest.fixture(scope="module")
def pose_model():
    cfg = get_config(CONFIG)
    return load_model(cfg, CHECKPOINT, "pose3d", "cpu"), cfg


@pytest.fixture(scope="module")
def keypoints():
    """A person walking across the image for 90 frames: the fixture's 45 frames there and back."""
    track = load_wild_inputs(SINGLE).tracks[0].keypoints
    return np.concatenate([track, track[::-1]])


def stream(lifter, keypoints, flush=True):
    """``{frame: pose}`` of every pose emitted for ``keypoints`` (rows of None: no detection), and for each
    push the frames it released."""
    poses, released = {}, []
    for t, k in enumerate(keypoints):
        out = lifter.push(k, t)
        released.append([p.frame for p in out])
        for p in out:
            assert p.frame not in poses, f"frame {p.frame} emitted twice"
            poses[p.frame] = p.pose
    if flush:
        for p in lifter.flush():
            assert p.frame not in poses
            poses[p.frame] = p.pose
    return poses, released


def as_array(poses, n):
    assert sorted(poses) == list(range(n))
    return np.stack([poses[t] for t in range(n)])


# ------------------------------------------------------------------ equivalence with offline lifting

@pytest.mark.parametrize("hop", [1, 4, 9])
def test_full_lookahead_equals_offline_lifting_with_stride_hop(pose_model, keypoints, hop):
    """With L >= clip_len - hop every window covering a frame has run before it is emitted: the stream is
    lift_pixels with stride = hop (the same windows, blend and depth alignment), in pixels up to float32
    rounding. The clip's length puts the last window on the hop grid (no shifted last window)."""
    model, cfg = pose_model
    n = CLIP_LEN + hop * ((len(keypoints) - CLIP_LEN) // hop)
    offline = lift_pixels(keypoints[:n], IMAGE_SIZE, model, cfg, stride=hop)
    for lookahead in (full_lookahead(CLIP_LEN, hop), 40):
        lifter = StreamingLifter(model, cfg, lookahead=lookahead, hop=hop, image_size=IMAGE_SIZE)
        poses, _ = stream(lifter, keypoints[:n])
        np.testing.assert_allclose(as_array(poses, n), offline, rtol=0, atol=2e-3,
                                   err_msg=f"hop {hop}, lookahead {lookahead}")


def test_the_last_offline_window_changes_only_frames_emitted_before_the_end(pose_model, keypoints):
    """Off the hop grid, offline lifting shifts its last window back to end at the last frame; a stream
    cannot wait for it, so only the frames that window covers and that were emitted before the end differ."""
    model, cfg = pose_model
    hop, n = 9, 85  # (85 - 27) % 9 = 4: a shifted last window [58, 85)
    offline = lift_pixels(keypoints[:n], IMAGE_SIZE, model, cfg, stride=hop)
    poses, _ = stream(StreamingLifter(model, cfg, lookahead=full_lookahead(CLIP_LEN, hop), hop=hop,
                                      image_size=IMAGE_SIZE), keypoints[:n])
    differs = np.abs(as_array(poses, n) - offline).max(axis=(1, 2)) > 2e-3
    assert differs.any() and differs[:n - CLIP_LEN].sum() == 0


def test_right_half_lookahead_is_close_to_offline_and_closer_than_causal():
    """The demo model on the demo clip: at L = 13 (the window's right half) each pose has as much context
    ahead as the middle of an offline window; its mean distance to the offline result (stride 1) is
    within 1 px (the person is about 300 px tall: ~6 mm, a tenth of the model's error of 68 mm), and
    the error falls as L grows."""
    cfg = get_config(os.path.join(REPO, "configs", "pose3d", "MB_demo.yaml"))
    model = load_model(cfg, os.path.join(REPO, "checkpoint", "demo", "best_epoch.bin"), "pose3d", "cpu")
    inputs = load_wild_inputs(os.path.join(REPO, "examples", "demo_alphapose.json"))
    kpts, size = inputs.tracks[0].keypoints[:120], (500, 500)
    offline = lift_pixels(kpts, size, model, cfg, stride=1)
    distance = {}
    for lookahead in (0, 4, 13):
        poses, _ = stream(StreamingLifter(model, cfg, lookahead=lookahead, hop=3, image_size=size), kpts)
        distance[lookahead] = np.linalg.norm(as_array(poses, len(kpts)) - offline, axis=-1).mean()
    assert distance[13] < 1.0
    assert distance[0] > distance[4] > distance[13]


# ------------------------------------------------------------------ the ring buffer's edges, hops

@pytest.mark.parametrize("lookahead,hop", [(0, 1), (0, 4), (5, 3), (13, 1), (30, 2), (0, 27)])
@pytest.mark.parametrize("n", [1, 10, 60])
def test_every_frame_is_emitted_once_in_order_with_its_lookahead(pose_model, keypoints, lookahead, hop, n):
    """Every frame comes out once, in order; before the end, the pose of frame s comes with frame
    s + L .. s + L + hop - 1; the rest (the last frames) comes with the flush."""
    model, cfg = pose_model
    lifter = StreamingLifter(model, cfg, lookahead=lookahead, hop=hop, image_size=IMAGE_SIZE)
    poses, released = stream(lifter, keypoints[:n], flush=False)
    for t, frames in enumerate(released):
        assert all(lookahead <= t - s <= lookahead + hop - 1 for s in frames), (t, frames)
    before = sorted(poses)
    assert before == list(range(len(before)))
    flushed = [p.frame for p in lifter.flush()]
    assert before + flushed == list(range(n))
    assert all(np.isfinite(p).all() for p in poses.values())


def test_the_first_pose_comes_from_a_window_padded_with_the_first_frame_not_observed(pose_model, keypoints):
    """L = 0: frame 0's pose is the last frame of a window of clip_len frames, frame 0 repeated at
    confidence 0 before it; depth 0 at its root."""
    model, cfg = pose_model
    lifter = StreamingLifter(model, cfg, lookahead=0, image_size=IMAGE_SIZE)
    first = lifter.push(keypoints[0])[0].pose
    window = np.repeat(keypoints[:1], CLIP_LEN, axis=0)
    window[:-1, :, 2] = 0
    x = torch.from_numpy(normalize_keypoints(window, vid_size=IMAGE_SIZE))[None]
    with torch.no_grad():  # the fixture config flips: the mean of the pose and the mirrored pose
        expected = flip_average(model, x)[0, -1].numpy() * (min(IMAGE_SIZE) / 2)
    expected[:, :2] += np.array(IMAGE_SIZE) / 2
    expected[:, 2] -= expected[0, 2]
    np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-3)


def test_one_model_run_every_hop_frames_emits_hop_poses(pose_model, keypoints):
    model, cfg = pose_model
    counts = {}
    for hop in (1, 3, 9):
        lifter = StreamingLifter(model, cfg, lookahead=4, hop=hop, image_size=IMAGE_SIZE)
        _, released = stream(lifter, keypoints, flush=False)
        runs = [len(r) for r in released[CLIP_LEN:] if r]  # after the first full window
        assert set(runs) == {hop}
        counts[hop] = lifter.windows_run
    assert counts[1] > 2.5 * counts[3] and counts[3] > 2.5 * counts[9]


# ------------------------------------------------------------------ gaps

def test_frames_without_a_detection_get_no_pose_and_the_stream_goes_on(pose_model, keypoints):
    model, cfg = pose_model
    kpts = list(keypoints[:60])
    for t in range(20, 25):
        kpts[t] = None
    lifter = StreamingLifter(model, cfg, lookahead=3, hop=2, image_size=IMAGE_SIZE)
    poses, _ = stream(lifter, kpts)
    assert sorted(poses) == [t for t in range(60) if not 20 <= t < 25]


def test_a_gap_is_seen_by_the_model_as_offline_fills_it(keypoints):
    """Once the person is seen again, the missing frames enter the windows linearly interpolated between
    the two detections, confidence 0 (as offline tracks are filled); until then, the last detection held."""
    inputs = []

    def recording_runner(x):
        inputs.append(x[0].numpy().copy())
        return torch.zeros(x.shape[:-1] + (3,))

    kpts = list(keypoints[:40])
    for t in range(30, 35):
        kpts[t] = None
    lifter = StreamingLifter(recording_runner, None, clip_len=CLIP_LEN, lookahead=0, image_size=IMAGE_SIZE)
    stream(lifter, kpts, flush=False)
    detected = np.array([k is not None for k in kpts])
    filled, _ = fill_missing_frames(np.nonzero(detected)[0], keypoints[:40][detected], 40)
    expected = normalize_keypoints(filled[40 - CLIP_LEN:], vid_size=IMAGE_SIZE)
    np.testing.assert_allclose(inputs[-1], expected, atol=1e-6)  # the window of frame 39
    held = normalize_keypoints(np.repeat(keypoints[29:30], 5, axis=0), vid_size=IMAGE_SIZE)
    np.testing.assert_allclose(inputs[34 - 0][-5:, :, :2], held[..., :2], atol=1e-6)  # frame 34's window
    assert (inputs[34][-5:, :, 2] == 0).all()


def test_a_gap_longer_than_max_gap_starts_a_new_stream(pose_model, keypoints):
    """After max_gap missing frames the lifter flushes and forgets: what follows is lifted as a new stream."""
    model, cfg = pose_model
    options = dict(lookahead=2, hop=1, image_size=IMAGE_SIZE, max_gap=10)
    kpts = list(keypoints[:30]) + [None] * 12 + list(keypoints[30:70])
    poses, _ = stream(StreamingLifter(model, cfg, **options), kpts)
    fresh, _ = stream(StreamingLifter(model, cfg, **options), keypoints[30:70])
    assert sorted(poses) == list(range(30)) + list(range(42, 82))
    np.testing.assert_allclose(np.stack([poses[42 + t] for t in range(40)]), as_array(fresh, 40), atol=1e-4)


# ------------------------------------------------------------------ normalisation

def test_window_normalisation_follows_the_person_not_the_image(pose_model, keypoints):
    """'window' scales each window by the person's box: a person twice as large and elsewhere in the image
    gives the same poses, twice as large there (depth too)."""
    model, cfg = pose_model
    moved = keypoints[:50].copy()
    moved[..., :2] = moved[..., :2] * 2 + [300, -200]
    options = dict(lookahead=5, hop=2, normalization="window")
    poses, _ = stream(StreamingLifter(model, cfg, **options), keypoints[:50])
    moved_poses, _ = stream(StreamingLifter(model, cfg, **options), moved)
    expected = as_array(poses, 50) * 2
    expected[..., :2] += [300, -200]
    np.testing.assert_allclose(as_array(moved_poses, 50), expected, rtol=1e-4, atol=0.05)


def test_bad_settings_are_refused(pose_model):
    model, cfg = pose_model
    for options, message in [(dict(lookahead=-1), "lookahead"), (dict(hop=0), "hop"), (dict(hop=28), "hop"),
                             (dict(normalization="frame"), "image_size"), (dict(normalization="box"), "one of"),
                             (dict(max_gap=28, normalization="window"), "max_gap")]:
        with pytest.raises(ValueError, match=message):
            StreamingLifter(model, cfg, **options)
    with pytest.raises(ValueError, match=r"\(17, 3\)"):
        StreamingLifter(model, cfg, normalization="window").push(np.zeros((17, 2)))


# ------------------------------------------------------------------ run_stream, the detector seam

def test_run_stream_writes_postprocessed_poses_and_stops_when_asked(pose_model, keypoints):
    model, cfg = pose_model
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    frames = [StreamFrame(t, t / 30, keypoints[t], image) for t in range(40)]
    written, watched = [], []

    def write(frame, pose):
        assert frame.image is None  # the lifter does not keep the images
        written.append((frame.index, pose))

    count = run_stream(iter(frames), StreamingLifter(model, cfg, lookahead=4, image_size=IMAGE_SIZE), write,
                       postprocess=lambda frame, pose: pose / 1000, stop=lambda: len(watched) == 25,
                       watch=lambda frame: watched.append(frame.image is image))
    assert count == len(written) == 25 and all(watched) and len(watched) == 25
    assert [i for i, _ in written] == list(range(25))  # reading stopped after frame 24; its poses flushed
    lifted, _ = stream(StreamingLifter(model, cfg, lookahead=4, image_size=IMAGE_SIZE), keypoints[:25])
    np.testing.assert_allclose(np.stack([p for _, p in written]), as_array(lifted, 25) / 1000, rtol=1e-6)


# ------------------------------------------------------------------ metric output

def filmed_motion(n_frames=45, fps=30.0):
    """A synthetic person (tests/synthetic_motion.py, 1.70 m) walking past a camera: its camera-space joints
    (mm) and their projections (pixels, confidence 1)."""
    camera = Camera(position=(0.0, 1200.0, 4500.0), target=(0.0, 900.0, 0.0), focal=1100.0, center=(640.0, 360.0))
    world = moving_poses(n_frames, fps) + np.array([800.0, 950.0, 0.0])
    world[:, :, 0] -= 1200.0 * np.arange(n_frames)[:, None] / fps  # walking to the left at 1.2 m/s
    joints = camera.to_camera(world)
    keypoints = np.concatenate([camera.project(joints), np.ones(joints.shape[:2] + (1,))], axis=-1)
    return camera, joints, keypoints


def as_lifted(joints, keypoints, units_per_mm=0.13):
    """What a lifter gives: the pose in its own units (root-relative depth), x, y at the 2D root."""
    lifted = (joints - joints[:, :1]) * units_per_mm
    lifted[:, :, :2] += keypoints[:, :1, :2]
    return lifted


def test_metric_poses_recover_a_filmed_person_in_millimetres_frame_by_frame():
    camera, joints, keypoints = filmed_motion()
    metric = MetricPoses((1280, 720), height=stature(REST_JOINTS[None]) / 1000, focal=camera.focal, center=camera.center)
    out = np.stack([metric(StreamFrame(t, t / 30, keypoints[t]), pose)
                    for t, pose in enumerate(as_lifted(joints, keypoints))])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, joints, atol=0.05)  # mm, at 4-5 m from the camera


def test_the_metric_scale_is_estimated_over_the_first_seconds_then_fixed():
    camera, joints, keypoints = filmed_motion(60)
    lifted = as_lifted(joints, keypoints)
    lifted[30:] = lifted[30:] * 2 - lifted[30:, :1] * [1, 1, 0]  # the lifter's units change at 1 s: x2 about the root
    metric = MetricPoses((1280, 720), height=1.5, focal=camera.focal, center=camera.center, calibration_s=0.5)
    out = np.stack([metric(StreamFrame(t, t / 30, keypoints[t]), pose) for t, pose in enumerate(lifted)])
    relative = out - out[:, :1]
    truth = joints - joints[:, :1]
    true_height = stature(REST_JOINTS[None]) / 1000  # the synthetic person's
    np.testing.assert_allclose(relative[:30], truth[:30] * 1.5 / true_height, atol=0.05)  # the height given
    np.testing.assert_allclose(relative[30:], truth[30:] * 2 * 1.5 / true_height, atol=0.05)  # frozen at 0.5 s


def test_metric_poses_without_the_image_size_stay_root_relative():
    camera, joints, keypoints = filmed_motion(10)
    metric = MetricPoses(None)
    assert "root-relative" in metric.describe() and "1.70 m (assumed" in metric.describe()
    out = np.stack([metric(StreamFrame(t, t / 30, keypoints[t]), pose)
                    for t, pose in enumerate(as_lifted(joints, keypoints))])
    default = 1700.0 / stature(REST_JOINTS[None])  # the default height, 1.70 m, against the synthetic person's
    np.testing.assert_allclose(out, (joints - joints[:, :1]) * default, atol=0.05)


@pytest.mark.parametrize("kwargs,text", [({"height": 3.0}, "--height"), ({"focal": -1.0}, "--focal"),
                                         ({"focal": 900.0, "fov": 60.0}, "--focal and --fov")])
def test_bad_metric_options_are_user_errors(kwargs, text):
    with pytest.raises(UserError, match=text):
        MetricPoses((640, 480), **kwargs)
