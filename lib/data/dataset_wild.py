"""In-the-wild 2D detections as model input (spec 06 §1–2), and the temporal windows used to lift them.

Faithful part: :func:`halpe2h36m`, :func:`read_input` and :class:`WildDetDataset` behave as the
original's (AlphaPose Halpe-26 JSON; every kept detection is one frame, in file order; chunks
of ``clip_len`` frames without overlap, the last one short). ``read_input`` also accepts the
other formats of :mod:`lib.data.wild_input` and fails with a clear message where the original
crashed.

Windows: :func:`plan_windows`, :func:`window_weights` and :func:`blend_windows` cut a long
sequence into overlapping ``clip_len`` windows and blend the per-window outputs smoothly, so
poses do not jump at chunk borders (with ``stride == clip_len`` they reproduce the original's
chunks exactly).
"""
import numpy as np
from torch.utils.data import Dataset

from lib.data.wild_input import WildInputError, detect_format, normalize_keypoints, read_detections
from lib.skeleton import to_h36m

__all__ = ["halpe2h36m", "read_input", "WildDetDataset", "plan_windows", "window_weights", "blend_windows",
           "seam_jump"]


def halpe2h36m(x):
    """Halpe-26 ``(T, 26, C)`` → H36M-17 ``(T, 17, C)`` float64 (spec 06 §1.1); every channel is mapped."""
    return to_h36m(x, "halpe26")


def read_input(json_path, vid_size, scale_range, focus):
    """Detections of ``json_path`` (track ``focus`` only, if given) as float32 ``(T, 17, 3)``.

    As the original: one frame per kept detection in file order (``image_id`` is not used, so
    several people interleave without ``focus``); ``vid_size=(w, h)`` gives the pixel-mode
    normalisation, ``scale_range`` the crop_scale one (it wins if both are given).
    """
    if not vid_size and not scale_range:
        raise ValueError("read_input needs vid_size (pixel mode) or scale_range (normalised mode); both are empty")
    det = read_detections(json_path)
    kpts = det.keypoints
    if focus is not None:
        if det.track_ids is None:
            raise WildInputError(f"{json_path}: focus={focus} but the detections have no track ids ('idx')")
        keep = [i for i, track_id in enumerate(det.track_ids) if track_id == focus]
        if not keep:
            present = sorted(set(det.track_ids), key=str)
            raise WildInputError(f"{json_path}: no detection with track id {focus}; ids present: "
                                 f"{', '.join(map(str, present))}")
        kpts = kpts[keep]
    fmt, _ = detect_format(kpts, path=json_path)
    return normalize_keypoints(fmt.to_h36m(kpts), vid_size, scale_range)


class WildDetDataset(Dataset):
    """The original's chunks of :func:`read_input`: item ``i`` = frames ``[i·clip_len, (i+1)·clip_len)``."""

    def __init__(self, json_path, clip_len=243, vid_size=None, scale_range=None, focus=None):
        self.json_path = json_path
        self.clip_len = clip_len
        self.vid_all = read_input(json_path, vid_size, scale_range, focus)

    def __len__(self):
        return int(np.ceil(len(self.vid_all) / self.clip_len))

    def __getitem__(self, index):
        st = index * self.clip_len
        end = min((index + 1) * self.clip_len, len(self.vid_all))
        return self.vid_all[st:end]


def plan_windows(n_frames, clip_len, stride):
    """``[(start, end), ...]`` windows covering ``n_frames`` frames.

    ``stride == clip_len``: the original's chunks (no overlap, the last one may be short).
    ``stride < clip_len``: windows of ``clip_len`` frames every ``stride`` frames; the last one
    is shifted back to end at the last frame, so no window is short unless the whole sequence
    is shorter than ``clip_len``.
    """
    if clip_len < 1:
        raise ValueError(f"clip_len must be at least 1, got {clip_len}")
    if not 1 <= stride <= clip_len:
        raise ValueError(f"stride must be between 1 and clip_len ({clip_len}), got {stride}; a larger stride "
                         f"would skip frames")
    if n_frames <= 0:
        return []
    if stride == clip_len or n_frames <= clip_len:
        return [(st, min(st + clip_len, n_frames)) for st in range(0, n_frames, clip_len)]
    starts = list(range(0, n_frames - clip_len + 1, stride))
    if starts[-1] + clip_len < n_frames:
        starts.append(n_frames - clip_len)
    return [(st, st + clip_len) for st in starts]


def window_weights(length):
    """Blending weights of one window: a raised cosine (Hann), strictly positive, peak in the middle.

    Frames near a window's ends, where the model sees the least context, count least, and a
    window fades in and out smoothly where it overlaps its neighbours.
    """
    t = (np.arange(length) + 0.5) / length
    return np.sin(np.pi * t) ** 2


def blend_windows(outputs, windows, n_frames, align=None):
    """Weighted average of per-window outputs ``(L_k, ...)`` into ``(n_frames, ...)`` float64.

    Windows must be in increasing start order. Non-overlapping windows are concatenated as
    they are. ``align(output, previous)`` may adjust a window before it is added, given the
    blend so far over the frames it shares with earlier windows (``previous`` is the blend of
    ``output[:len(previous)]``'s frames).
    """
    if all(a[1] <= b[0] for a, b in zip(windows, windows[1:])):
        return np.concatenate(outputs, axis=0)
    trailing = outputs[0].shape[1:]
    total = np.zeros((n_frames,) + trailing)
    weight_sum = np.zeros(n_frames)
    covered_end = 0
    expand = (slice(None),) + (None,) * len(trailing)
    for (st, end), out in zip(windows, outputs):
        out = np.asarray(out, dtype=np.float64)
        n_shared = max(0, min(covered_end, end) - st)
        if align is not None and n_shared:
            previous = total[st:st + n_shared] / weight_sum[st:st + n_shared][expand]
            out = align(out, previous)
        weights = window_weights(end - st)
        total[st:end] += weights[expand] * out
        weight_sum[st:end] += weights
        covered_end = max(covered_end, end)
    if (weight_sum == 0).any():
        raise ValueError("the windows do not cover every frame")
    return total / weight_sum[expand]


def seam_jump(motion, windows):
    """How much poses jump at window borders: ``(jump at borders, jump elsewhere)``.

    The jump of frame t is the mean joint displacement ``‖X[t+1] - X[t]‖`` (mean over joints);
    borders are the frames where a window starts (a new chunk in the original's chunking).
    On smooth motion both numbers are close when there is no seam.
    """
    step = np.linalg.norm(np.diff(motion, axis=0), axis=-1).mean(axis=-1)  # (F-1,): frame t -> t+1
    borders = sorted({st - 1 for st, _ in windows if st > 0})
    inside = np.ones(len(step), dtype=bool)
    inside[borders] = False
    return float(step[borders].mean()) if borders else 0.0, float(step[inside].mean())
