"""Clip slicing, resampling, cropping and flipping of skeleton motion (spec 02 §3–4)."""
import copy

import numpy as np

from lib.skeleton import FLIP_PERMUTATION


def crop_scale(motion, scale_range=[1, 1]):
    """Map the square around the confident joints' bounding box to [-1, 1]² (2D motion with confidence).

    ``motion`` is ``(..., 17, 3)`` = (x, y, confidence). The box side is the larger bbox extent
    times a ratio drawn from ``U(scale_range)`` (always drawn, so NumPy's RNG advances even for
    ``[1, 1]``); all points are mapped and the result is clipped to [-1, 1]. Fewer than 4
    confident points, or a zero-size box, give zeros (float64).
    """
    result = copy.deepcopy(motion)
    valid_coords = motion[motion[..., 2] != 0][:, :2]
    if len(valid_coords) < 4:
        return np.zeros(motion.shape)
    xmin, xmax = min(valid_coords[:, 0]), max(valid_coords[:, 0])
    ymin, ymax = min(valid_coords[:, 1]), max(valid_coords[:, 1])
    ratio = np.random.uniform(low=scale_range[0], high=scale_range[1], size=1)[0]
    scale = max(xmax - xmin, ymax - ymin) * ratio
    if scale == 0:
        return np.zeros(motion.shape)
    xs = (xmin + xmax - scale) / 2
    ys = (ymin + ymax - scale) / 2
    result[..., :2] = (motion[..., :2] - [xs, ys]) / scale
    result[..., :2] = (result[..., :2] - 0.5) * 2
    result = np.clip(result, -1, 1)
    return result


def crop_scale_3d(motion, scale_range=[1, 1]):
    """Normalise a 3D clip ``(T, 17, 3)`` to its bounding square; depth relative to frame-0 root.

    Unlike :func:`crop_scale`, the side is the extent DIVIDED by the ratio, nothing is clipped,
    and all three channels (depth too) get the final ``(v - 0.5) * 2``.
    """
    result = copy.deepcopy(motion)
    result[:, :, 2] = result[:, :, 2] - result[0, 0, 2]
    xmin, xmax = np.min(motion[..., 0]), np.max(motion[..., 0])
    ymin, ymax = np.min(motion[..., 1]), np.max(motion[..., 1])
    ratio = np.random.uniform(low=scale_range[0], high=scale_range[1], size=1)[0]
    scale = max(xmax - xmin, ymax - ymin) / ratio
    if scale == 0:
        return np.zeros(motion.shape)
    xs = (xmin + xmax - scale) / 2
    ys = (ymin + ymax - scale) / 2
    result[..., :2] = (motion[..., :2] - [xs, ys]) / scale
    result[..., 2] = result[..., 2] / scale
    result = (result - 0.5) * 2
    return result


def flip_data(data):
    """Mirror horizontally: negate x and swap left/right joints. NumPy or torch, shape ``(..., 17, C)``."""
    flipped = data[..., list(FLIP_PERMUTATION), :]  # advanced indexing: a copy
    flipped[..., 0] *= -1
    return flipped


def flip_average(model, x):
    """Test-time flip augmentation of a pose model: ``(model(x) + flip(model(flip(x)))) / 2``, the clips and
    their mirror images in one batch."""
    import torch  # here: this module's NumPy helpers serve the video pipeline before torch is loaded

    y, y_flipped = model(torch.cat([x, flip_data(x)])).chunk(2)
    return (y + flip_data(y_flipped)) / 2


def lift_pose3d(args, model, x, zero_first_root_depth=False):
    """A pose model's output for normalised 2D clips ``x (B, T, 17, C)``, as evaluation and inference use it.

    Only x, y are fed with ``args.no_conf``; flip-averaged if ``args.flip``; root joint zeroed in
    every frame if ``args.rootrel``, else, with ``zero_first_root_depth`` (in-the-wild inference),
    only the first frame's root depth; x, y copied from the input if ``args.gt_2d``.
    """
    if args.no_conf:
        x = x[..., :2]
    pred = flip_average(model, x) if args.flip else model(x)
    if args.rootrel:
        pred[:, :, 0, :] = 0
    elif zero_first_root_depth:
        pred[:, 0, 0, 2] = 0
    if args.gt_2d:
        pred[..., :2] = x[..., :2]
    return pred


def resample(ori_len, target_len, replay=False, randomness=True):
    """Frame indices that stretch/shrink a sequence of ``ori_len`` frames to ``target_len``.

    ``replay``: a random window (longer input) or a looped repeat (shorter input). Otherwise
    evenly spaced indices, jittered at random within each interval when ``randomness``.
    """
    if replay:
        if ori_len > target_len:
            st = np.random.randint(ori_len - target_len)
            return range(st, st + target_len)
        return np.array(range(target_len)) % ori_len
    if randomness:
        even = np.linspace(0, ori_len, num=target_len, endpoint=False)
        if ori_len < target_len:
            low = np.floor(even)
            high = np.ceil(even)
            sel = np.random.randint(2, size=even.shape)
            result = np.sort(sel * low + (1 - sel) * high)
        else:
            interval = even[1] - even[0]
            result = np.random.random(even.shape) * interval + even
        result = np.clip(result, a_min=0, a_max=ori_len - 1).astype(np.uint32)
    else:
        result = np.linspace(0, ori_len, num=target_len, endpoint=False, dtype=int)
    return result


def split_clips(vid_list, n_frames, data_stride):
    """Cut a per-frame list of video ids into clips of ``n_frames`` frame indices.

    Sliding windows with step ``data_stride`` inside each video (tails that do not fill a
    window are dropped); a video shorter than ``n_frames`` gets one randomly resampled clip,
    except the last video of the list, which is then dropped (the original's behaviour).
    """
    result = []
    n_clips = 0
    st = 0
    i = 0
    saved = set()
    while i < len(vid_list):
        i += 1
        if i - st == n_frames:
            result.append(range(st, i))
            saved.add(vid_list[i - 1])
            st = st + data_stride
            n_clips += 1
        if i == len(vid_list):
            break
        if vid_list[i] != vid_list[i - 1]:
            if vid_list[i - 1] not in saved:
                resampled = resample(i - st, n_frames) + st
                result.append(resampled)
                saved.add(vid_list[i - 1])
            st = i
    return result



def _per_row(values, points):
    """Per-row (axis 0) values shaped to broadcast against ``points[..., k]``."""
    values = np.asarray(values, dtype=np.float64)
    return np.broadcast_to(values, (points.shape[0],)).reshape((-1,) + (1,) * (points.ndim - 2))


def normalize_screen_coordinates(points, res_w, res_h, dtype=None):
    """Pixels → the normalised image frame: x' = x/w·2 − 1, y' = y/w·2 − h/w, z' = z/w·2.

    The image width maps to [-1, 1] and y and depth use the same scale. ``points`` is
    ``(N, ..., C)`` (C ≥ 2; a third channel is depth, later ones are copied); ``res_w``/``res_h``
    are scalars or per-row ``(N,)``. As in the original, the scaling is done in the input's
    precision and the offset in float64; the result has ``dtype`` (default: the input's).
    """
    points = np.asarray(points)
    w, h = _per_row(res_w, points), _per_row(res_h, points)
    w_in = w.astype(points.dtype)
    out = np.array(points, dtype=dtype or points.dtype, copy=True)
    out[..., 0] = points[..., 0] / w_in * 2 - np.float64(1)
    out[..., 1] = points[..., 1] / w_in * 2 - h / w
    if points.shape[-1] > 2:
        out[..., 2] = points[..., 2] / w_in * 2
    return out


def denormalize_screen_coordinates(points, res_w, res_h):
    """Inverse of :func:`normalize_screen_coordinates` (computed in float64, returned in the input's dtype)."""
    points = np.asarray(points)
    w, h = _per_row(res_w, points), _per_row(res_h, points)
    out = np.array(points, copy=True)
    out[..., 0] = (points[..., 0] + np.float64(1)) * w / 2
    out[..., 1] = (points[..., 1] + h / w) * w / 2
    if points.shape[-1] > 2:
        out[..., 2] = points[..., 2] * w / 2
    return out
