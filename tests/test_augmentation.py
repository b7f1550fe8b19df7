"""Augmenter2D / Augmenter3D against spec 02 §4.4–4.5 (reference vector of §4.4.4)."""
import os
import random

import numpy as np
import pytest
import torch
from easydict import EasyDict

from conftest import REPO
from lib.data.augmentation import Augmenter2D, Augmenter3D
from lib.utils.utils_data import crop_scale_3d, flip_data


def make_args(**overrides):
    args = EasyDict(d2c_params_path=os.path.join(REPO, "params", "d2c_params.pkl"),
                    noise_path=os.path.join(REPO, "params", "synthetic_noise.pth"),
                    mask_ratio=0.05, mask_T_ratio=0.1)
    args.update(overrides)
    return args


def reference_input():
    """``sin(0.7 n)`` over (2, 30, 17, 3) in float32, confidence 1 (spec 02 §4.4.4)."""
    n = torch.arange(2 * 30 * 17 * 3, dtype=torch.float32)
    x = torch.sin(0.7 * n).reshape(2, 30, 17, 3)
    x[..., 2] = 1
    return x


@pytest.fixture(scope="module")
def aug():
    return Augmenter2D(make_args())


@pytest.mark.parity
def test_reference_vector_noise(aug):
    torch.manual_seed(0)
    out = aug.augment2D(reference_input(), noise=True)
    assert out.shape == (2, 30, 17, 3) and out.dtype == torch.float32
    assert out.sum().item() == pytest.approx(797.095398, abs=1e-3)
    assert out[..., 2].mean().item() == pytest.approx(0.780856, abs=1e-5)
    np.testing.assert_allclose(out[0, 0, 0].numpy(), [-0.0012543136, 0.6433547139, 1.0], atol=1e-6)
    np.testing.assert_allclose(out[1, 29, 16].numpy(), [-0.4605855644, -0.9202290773, 0.7215059996], atol=1e-6)


@pytest.mark.parity
def test_reference_vector_noise_and_mask(aug):
    torch.manual_seed(0)
    out = aug.augment2D(reference_input(), noise=True, mask=True)
    assert out.sum().item() == pytest.approx(653.197144, abs=1e-3)
    assert int((out == 0).all(dim=-1).sum()) == 178


def test_mask_draw_order_and_effect(aug):
    x = reference_input()
    torch.manual_seed(3)
    out = aug.augment2D(x, mask=True)
    torch.manual_seed(3)
    joint_keep = torch.rand((2, 30, 17, 1)) > 0.05
    frame_keep = torch.rand((1, 30, 1, 1)) > 0.1
    torch.testing.assert_close(out, x * joint_keep * frame_keep, rtol=0, atol=0)
    dropped_frames = ~frame_keep[0, :, 0, 0]
    assert (out[:, dropped_frames] == 0).all()


def test_noise_keeps_the_draw_order_of_the_cpu_generator(aug):
    """Everything add_noise draws comes from the CPU generator in the documented order."""
    x = reference_input()
    torch.manual_seed(5)
    aug.add_noise(x)
    after_noise = torch.rand(4)
    # the same draws: sel, gaussian, uniform, per-frame jitter, confidence shift
    torch.manual_seed(5)
    torch.rand((2, 27, 17, 1))
    torch.randn(2, 27, 17, 2)
    torch.rand((2, 27, 17, 2))
    torch.randn(30, 17, 2)
    torch.randn(2, 30, 17)
    torch.testing.assert_close(torch.rand(4), after_noise, rtol=0, atol=0)


def test_noise_replaces_confidence_and_accepts_two_channels(aug):
    x = reference_input()
    torch.manual_seed(1)
    out3 = aug.add_noise(x)
    torch.manual_seed(1)
    out2 = aug.add_noise(x[..., :2])
    torch.testing.assert_close(out3, out2, rtol=0, atol=0)
    assert out2.shape == (2, 30, 17, 3)
    assert ((out2[..., 2] >= 0) & (out2[..., 2] <= 1)).all()
    # offsets are small: the keypoints stay close to the input
    assert (out2[..., :2] - x[..., :2]).abs().max() < 0.1


def test_dis2conf_is_the_spec_curve(aug):
    # conf(d) = clip(a/(d + a) + b·d, 0, 1) without noise: 1 at d = 0, its minimum 2·sqrt(ab) − ab at
    # d = sqrt(a/b) − a (where the derivative −a/(d + a)² + b vanishes), clipped to 1 for d ≥ 1/b
    a, b = 0.028, 1.1
    d_min = np.sqrt(a / b) - a
    dis = torch.tensor([0.0, d_min - 0.01, d_min, d_min + 0.01, 1 / b, 2.0], dtype=torch.float64)
    conf = aug.dis2conf(dis, a, b, 0.0, 0.0)
    np.testing.assert_allclose(conf[[0, 2, 4, 5]].numpy(), [1.0, 2 * np.sqrt(a * b) - a * b, 1.0, 1.0], rtol=1e-12)
    assert conf[1] > conf[2] < conf[3]
    # the noise N(m, s²) is added before clipping: a mean shift m moves the curve by m
    shifted = aug.dis2conf(dis[1:4], a, b, -0.1, 0.0)
    np.testing.assert_allclose(shifted.numpy(), conf[1:4].numpy() - 0.1, rtol=1e-6)  # the noise is float32


def test_no_flags_is_identity(aug):
    x = reference_input()
    assert aug.augment2D(x) is x


@pytest.mark.parametrize("key", ["d2c_params_path", "noise_path"])
def test_missing_params_file_names_path_and_tool(tmp_path, key):
    missing = str(tmp_path / "nope.bin")
    with pytest.raises(FileNotFoundError) as err:
        Augmenter2D(make_args(**{key: missing}))
    assert missing in str(err.value) and "tools/make_pretrain_params.py" in str(err.value)


def test_augmenter3d_flip_follows_python_random():
    motion = np.random.RandomState(0).randn(5, 17, 3)
    aug = Augmenter3D(EasyDict(flip=True))
    assert aug.scale_range_pretrain is None
    random.seed(11)
    outs = [aug.augment3D(motion) for _ in range(8)]
    random.seed(11)
    for out in outs:
        expected = flip_data(motion) if random.random() > 0.5 else motion
        np.testing.assert_array_equal(out, expected)


def test_augmenter3d_without_flip_is_identity():
    motion = np.random.RandomState(1).randn(4, 17, 3)
    assert Augmenter3D(EasyDict(flip=False)).augment3D(motion) is motion


def test_augmenter3d_scale_range_pretrain():
    motion = np.random.RandomState(2).randn(6, 17, 3)
    aug = Augmenter3D(EasyDict(flip=False, scale_range_pretrain=[0.5, 1]))
    np.random.seed(4)
    out = aug.augment3D(motion)
    np.random.seed(4)
    np.testing.assert_array_equal(out, crop_scale_3d(motion, [0.5, 1]))
