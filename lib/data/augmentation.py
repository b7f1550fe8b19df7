"""Training-time corruption of motion clips (spec 02 §4.4–4.5).

``Augmenter2D`` turns clean 2D keypoints into detector-like ones (per-joint offsets drawn from
a fitted noise model, confidences re-synthesised from the offset size) and masks random joints
and frames. ``Augmenter3D`` rescales and flips a single 3D clip.

The random draws follow the original exactly, so a given seed gives the same corruption:
noise comes from the CPU torch generator (then moved to the input's device), masks from the
input device's generator.
"""
import os
import random

import torch
import torch.nn.functional as F

from lib.utils.tools import read_pkl
from lib.utils.utils_data import crop_scale_3d, flip_data

PARAMS_TOOL = "tools/make_pretrain_params.py"


def _require_params_file(path, what):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path}. Run 'python {PARAMS_TOOL}' to write it "
                                f"(or fix the config key that names it).")


class Augmenter2D:
    """Synthetic 2D detection noise and joint/frame masking for batches ``(B, T, J, C)``."""

    def __init__(self, args):
        _require_params_file(args.d2c_params_path, "distance-to-confidence parameters (d2c_params_path)")
        _require_params_file(args.noise_path, "2D noise model (noise_path)")
        self.d2c_params = read_pkl(args.d2c_params_path)
        self.noise = torch.load(args.noise_path, map_location="cpu", weights_only=True)
        self.mask_ratio = args.mask_ratio
        self.mask_T_ratio = args.mask_T_ratio
        self.num_Kframes = 27  # keyframes at which independent offsets are drawn
        self.noise_std = 0.002  # small per-frame jitter on top of the interpolated offsets

    def dis2conf(self, dis, a, b, m, s):
        """Confidence from the offset length ``dis``: ``clip(a/(dis+a) + b·dis + N(m, s²), 0, 1)``."""
        f = a / (dis + a) + b * dis
        shift = (torch.randn(*dis.shape) * s + m).to(dis.device)
        return torch.clip(f + shift, 0, 1)

    def add_noise(self, motion_2d):
        """Add keyframe-interpolated offsets to x, y and replace confidence (input ``(B, T, J, ≥2)``)."""
        a, b, m, s = (self.d2c_params[k] for k in ("a", "b", "m", "s"))
        uniform_range = self.noise.get("uniform_range", 0.06)
        motion_2d = motion_2d[:, :, :, :2]
        batch_size, num_frames, num_joints = motion_2d.shape[:3]
        mean = self.noise["mean"].float()
        std = self.noise["std"].float()
        weight = self.noise["weight"][:, None].float()
        # CPU generator, in this order (the draw order is part of the reproducible behaviour)
        sel = torch.rand((batch_size, self.num_Kframes, num_joints, 1))
        gaussian_sample = torch.randn(batch_size, self.num_Kframes, num_joints, 2) * std + mean
        uniform_sample = (torch.rand((batch_size, self.num_Kframes, num_joints, 2)) - 0.5) * uniform_range
        delta_noise = torch.randn(num_frames, num_joints, 2) * self.noise_std  # shared by the whole batch
        device = motion_2d.device
        sel, gaussian_sample = sel.to(device), gaussian_sample.to(device)
        uniform_sample, delta_noise = uniform_sample.to(device), delta_noise.to(device)
        weight = weight.to(device)
        delta = gaussian_sample * (sel < weight) + uniform_sample * (sel >= weight)
        # (B, 1, K, J, 2) -> (B, 1, T, J, 2): linear interpolation of the keyframe offsets in time
        delta_expand = F.interpolate(delta.unsqueeze(1), [num_frames, num_joints, 2],
                                     mode="trilinear", align_corners=True)[:, 0]
        delta_final = delta_expand + delta_noise
        motion_2d = motion_2d + delta_final
        dist_2d = torch.sqrt(delta_final[:, :, :, 0] ** 2 + delta_final[:, :, :, 1] ** 2)
        conf = self.dis2conf(dist_2d, a, b, m, s)
        return torch.cat((motion_2d, conf[:, :, :, None]), dim=-1)

    def add_mask(self, x):
        """Zero random joints (ratio ``mask_ratio``) and random frames (``mask_T_ratio``), all channels."""
        batch_size, num_frames, num_joints = x.shape[:3]
        mask = torch.rand((batch_size, num_frames, num_joints, 1), dtype=x.dtype, device=x.device) > self.mask_ratio
        mask_T = torch.rand((1, num_frames, 1, 1), dtype=x.dtype, device=x.device) > self.mask_T_ratio
        return x * mask * mask_T

    def augment2D(self, motion_2d, mask=False, noise=False):
        """Noise (if ``noise``) then masking (if ``mask``)."""
        if noise:
            motion_2d = self.add_noise(motion_2d)
        if mask:
            motion_2d = self.add_mask(motion_2d)
        return motion_2d


class Augmenter3D:
    """Optional rescaling (``scale_range_pretrain``) and random horizontal flip of one 3D clip."""

    def __init__(self, args):
        self.flip = args.flip
        # optional key, absent from every shipped config
        self.scale_range_pretrain = getattr(args, "scale_range_pretrain", None)

    def augment3D(self, motion_3d):
        """``(T, 17, 3)`` NumPy clip → rescaled and/or flipped clip."""
        if self.scale_range_pretrain:
            motion_3d = crop_scale_3d(motion_3d, self.scale_range_pretrain)
        if self.flip and random.random() > 0.5:
            motion_3d = flip_data(motion_3d)
        return motion_3d
