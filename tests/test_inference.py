"""lib/inference.py: the Python API (lift, lift_pixels, load_model), windows, and batching of windows."""
import os

import numpy as np
import pytest
import torch
from easydict import EasyDict

import infer_wild
from bench.bench_wild import smooth_motion
from lib.data.dataset_wild import read_input
from lib.data.wild_input import load_wild_inputs
from lib.inference import (blend_windows, get_device, lift, lift_pixels, load_model, plan_windows, run_windows,
                           seam_jump, sliding_windows, window_weights)
from lib.utils.checkpoint import load_checkpoint
from lib.utils.tools import get_config
from test_infer_wild import CHECKPOINT, CONFIG, GOLDEN, RUNS, SINGLE, WILD

IMAGE_SIZE = (1920, 1080)  # of the fixture keypoints


@pytest.fixture(scope="module")
def pose_model():
    cfg = get_config(CONFIG)
    return load_model(cfg, CHECKPOINT, "pose3d", "cpu"), cfg


# ------------------------------------------------------------------ the Python API

@pytest.mark.parity
@pytest.mark.parametrize("spec", RUNS, ids=[r["name"] for r in RUNS])
def test_lift_reproduces_the_originals_x3d(spec):
    """lift (normalised mode) and lift_pixels (--pixel mode) in chunks give the original's X3D.npy."""
    cfg = get_config(os.path.join(WILD, spec["config"]))
    model = load_model(cfg, CHECKPOINT, "pose3d", "cpu")
    track = load_wild_inputs(os.path.join(WILD, spec["json"]), focus=spec["focus"]).tracks[0]
    if spec["pixel"]:
        x3d = lift_pixels(track.keypoints, IMAGE_SIZE, model, cfg, clip_len=20, stride=20)
    else:
        x3d = lift(read_input(os.path.join(WILD, spec["json"]), None, [1, 1], spec["focus"]), model, cfg, 20, 20)
    scale = min(IMAGE_SIZE) / 2 if spec["pixel"] else 1
    assert x3d.dtype == np.float32 and x3d.shape == (45, 17, 3)
    np.testing.assert_allclose(x3d, GOLDEN["X3D_" + spec["name"]], rtol=1e-6, atol=1e-7 * scale)


def test_lift_equals_the_cli_with_overlapping_windows(pose_model, tmp_path):
    model, cfg = pose_model
    infer_wild.main(["--config", CONFIG, "-e", CHECKPOINT, "-o", str(tmp_path), "-j", SINGLE, "--clip_len", "20"])
    motion = read_input(SINGLE, None, [1, 1], None)
    np.testing.assert_allclose(lift(motion, model, cfg, clip_len=20), np.load(tmp_path / "X3D.npy"), rtol=1e-6,
                               atol=1e-7)


def test_batched_windows_equal_windows_run_one_by_one(pose_model):
    model, cfg = pose_model
    motion = smooth_motion(100)
    for clip_len, stride in ((27, 9), (27, 27), (20, 20)):  # chunks of 27 and 20: a short last chunk
        one_by_one = lift(motion, model, cfg, clip_len, stride, batch_size=1)
        for batch_size in (3, 64):
            np.testing.assert_allclose(lift(motion, model, cfg, clip_len, stride, batch_size=batch_size), one_by_one,
                                       rtol=1e-5, atol=1e-6, err_msg=f"{clip_len}/{stride}, batch {batch_size}")


def test_lift_without_a_config(pose_model):
    """No cfg: no flip, all joints kept, clip_len = the model's maxlen (27); one window starts the depth at 0."""
    model, _ = pose_model
    motion = smooth_motion(27)
    with torch.no_grad():
        expected = model(torch.from_numpy(motion)[None])[0].numpy()
    expected[..., 2] -= expected[0, 0, 2]
    np.testing.assert_allclose(lift(motion, model), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="needs clip_len"):
        lift(motion, lambda x: x)  # a runner has no maxlen


def test_load_model_takes_the_checkpoints_pose_weights():
    model = load_model(get_config(CONFIG), CHECKPOINT, "pose3d")
    assert not model.training and next(model.parameters()).device == get_device()
    stored = load_checkpoint(CHECKPOINT)["model_pos"]
    name, value = next((k, v) for k, v in stored.items() if k.endswith("joints_embed.weight"))
    np.testing.assert_array_equal(model.joints_embed.weight.detach().cpu().numpy(), value.numpy())


def test_overlapping_windows_remove_the_seams(pose_model):
    """The seam measurement of docs/inference.md: jumps at the original's chunk borders vs elsewhere."""
    model, cfg = pose_model
    motion = smooth_motion(270)
    chunks = plan_windows(270, 27, 27)
    ratios = {}
    for stride in (27, 9):
        lifted = lift(motion, model, cfg, 27, stride)
        border, inside = seam_jump(lifted, chunks)
        ratios[stride] = border / inside
        print(f"stride {stride}: jump at chunk borders {border:.4f}, elsewhere {inside:.4f}")
    assert ratios[27] > 1.4  # the original's chunks: poses jump where a chunk starts
    assert ratios[9] < 1.0   # overlapping windows: no jump at those frames


def test_overlap_mode_aligns_each_windows_depth_origin():
    """A model whose depth is relative to its window's first frame (as the global models') has no seam."""
    def depth_from_window_start(x):  # z = root x-coordinate minus its value in the window's first frame
        out = x.clone()
        out[..., 2] = (x[..., 0, 0] - x[:, :1, 0, 0])[..., None]
        return out

    cfg = EasyDict(flip=False, rootrel=False, no_conf=False, gt_2d=False)
    n = 100
    motion = np.zeros((n, 17, 3), dtype=np.float32)
    motion[..., 0] = np.linspace(0, 1, n)[:, None]
    chunked = lift(motion, depth_from_window_start, cfg, 20, 20)
    blended = lift(motion, depth_from_window_start, cfg, 20, 5)
    assert np.abs(np.diff(chunked[:, 0, 2])).max() > 0.15            # depth falls back to 0 at every chunk
    np.testing.assert_allclose(blended[:, 0, 2], np.linspace(0, 1, n), atol=1e-5)  # one continuous depth


# ------------------------------------------------------------------ windows

def test_plan_windows():
    assert plan_windows(45, 20, 20) == [(0, 20), (20, 40), (40, 45)]  # the original's chunks
    assert plan_windows(15, 20, 7) == [(0, 15)]
    assert plan_windows(45, 20, 10) == [(0, 20), (10, 30), (20, 40), (25, 45)]  # last shifted back
    assert plan_windows(40, 20, 10) == [(0, 20), (10, 30), (20, 40)]
    assert plan_windows(0, 20, 10) == []
    with pytest.raises(ValueError, match="stride must be between 1 and clip_len"):
        plan_windows(45, 20, 21)


def test_sliding_windows_never_short():
    assert sliding_windows(45, 20, 20) == [(0, 20), (20, 40), (25, 45)]
    assert sliding_windows(50, 10, 20) == [(0, 10), (20, 30), (40, 50)]  # a stride above the window skips frames
    assert sliding_windows(8, 20, 5) == [(0, 8)]


def test_window_weights_are_positive_and_symmetric():
    for n in (1, 2, 27, 243):
        w = window_weights(n)
        assert (w > 0).all() and np.allclose(w, w[::-1])
    assert window_weights(27).argmax() == 13


def test_blend_windows():
    windows = plan_windows(45, 20, 10)
    constant = [np.full((e - s, 2), 3.0) for s, e in windows]
    np.testing.assert_allclose(blend_windows(constant, windows, 45), 3.0)
    chunks = plan_windows(45, 20, 20)
    pieces = [np.random.rand(e - s, 17, 3).astype(np.float32) for s, e in chunks]
    out = blend_windows(pieces, chunks, 45)
    np.testing.assert_array_equal(out, np.concatenate(pieces))  # chunks: plain concatenation
    # windows that disagree by a constant are aligned before blending
    offsets = [np.full((e - s, 1), float(k)) for k, (s, e) in enumerate(windows)]
    aligned = blend_windows(offsets, windows, 45, align=lambda out, prev: out - out[0] + prev[0])
    np.testing.assert_allclose(aligned, 0.0)


def test_run_windows_batches_windows_of_one_length_and_keeps_their_order():
    motion = np.arange(45 * 2, dtype=np.float32).reshape(45, 2)
    windows = plan_windows(45, 20, 20) + [(3, 23), (30, 35)]  # lengths 20, 20, 5, 20, 5
    calls = []

    def run(batch):
        calls.append(batch.shape)
        return batch + 1, batch[:, 0]

    outputs = run_windows(run, motion, windows, batch_size=2)
    assert calls == [(2, 20, 2), (1, 20, 2), (2, 5, 2)]
    for (st, end), (plus_one, first) in zip(windows, outputs):
        np.testing.assert_array_equal(plus_one, motion[st:end] + 1)
        np.testing.assert_array_equal(first, motion[st])


def test_seam_jump():
    motion = np.linspace(0, 1, 40)[:, None, None] * np.ones((40, 17, 3))
    jumpy = motion.copy()
    jumpy[20:] += 0.5
    chunks = plan_windows(40, 20, 20)
    border, inside = seam_jump(motion, chunks)
    assert border == pytest.approx(inside)
    border, inside = seam_jump(jumpy, chunks)
    assert border > 10 * inside


def test_a_background_model_reports_its_error_at_once_and_its_lines_when_taken(capsys):
    import time

    from lib.inference import BackgroundModel

    def broken(log):
        log("Loading checkpoint broken.bin")
        raise FileNotFoundError("broken.bin")
    model = BackgroundModel(broken)
    deadline = time.monotonic() + 10
    with pytest.raises(FileNotFoundError):
        while time.monotonic() < deadline:  # poll, as the detector does after every frame
            model.poll()
            time.sleep(0.01)
    with pytest.raises(FileNotFoundError):
        model.get()
    assert "Loading checkpoint broken.bin" in capsys.readouterr().out

    model = BackgroundModel(lambda log: (log("loaded"), 42)[1])
    assert model.get() == 42 and capsys.readouterr().out == "loaded\n"
