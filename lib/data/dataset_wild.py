"""In-the-wild 2D detections as model input (spec 06 §1–2).

Faithful part: :func:`halpe2h36m`, :func:`read_input` and :class:`WildDetDataset` behave as the
original's (AlphaPose Halpe-26 JSON; every kept detection is one frame, in file order; chunks
of ``clip_len`` frames without overlap, the last one short). ``read_input`` also accepts the
other formats of :mod:`lib.data.wild_input` and fails with a clear message where the original
crashed.

The scripts cut a sequence into windows with ``lib.inference.plan_windows``, which also
reproduces these chunks (``stride == clip_len``) and by default overlaps and blends them.
"""
import numpy as np
from torch.utils.data import Dataset

from lib.data.wild_input import WildInputError, detect_format, normalize_keypoints, read_detections
from lib.skeleton import to_h36m

__all__ = ["halpe2h36m", "read_input", "WildDetDataset"]


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
