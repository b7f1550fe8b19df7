"""In-the-wild 2D datasets used by pretraining: PoseTrack18 and InstaVariety (spec 03 §2–3).

Both return ``(motion, motion)`` pairs of FloatTensors ``(T, 17, 3)`` = (x, y, confidence) in
H36M joint order, normalised to [-1, 1] by ``crop_scale``: the 2D pass of pretraining uses the
clean clip as its own target.
"""
import json
import os
import random
from collections import defaultdict

import numpy as np
import torch
from torch.utils.data import Dataset

from lib.skeleton import to_h36m
from lib.utils.errors import DataError
from lib.utils.utils_data import crop_scale, flip_data, split_clips

DATA_DOC = "docs/pretrain.md"
POSETRACK_ROOT = "data/motion2d/posetrack18_annotations/train/"
INSTAV_ROOT = "data/motion2d/InstaVariety/"
POSETRACK_CLIP_LEN = 30
POSETRACK_MIN_VISIBLE = 306  # visibility sum must exceed 60 % of 30 frames x 17 joints


def posetrack2h36m(x):
    """PoseTrack-17 joints ``(T, 17, C)`` → H36M-17 order, float64 (spec 03 §2.1).

    Pelvis = mean of the hips, belly = mean of the new pelvis and neck (head-bottom), over every
    channel; their confidences are the smaller of the two (``lib.skeleton.POSETRACK17_TO_H36M``).
    """
    return to_h36m(x, "posetrack17")


def _require(path, what, is_dir=False):
    exists = os.path.isdir(path) if is_dir else os.path.isfile(path)
    if not exists:
        kind = "folder" if is_dir else "file"
        raise FileNotFoundError(f"{what} {kind} not found: {path}. See {DATA_DOC} for how to prepare it.")


def read_posetrack_tracks(data_root):
    """Keypoint tracks of every annotation file: lists of ``(17, 3)`` arrays (x, y, visibility).

    Files in sorted name order; within a file, tracks in order of first appearance and poses in
    annotation order (no sorting by frame, no gap check), as the original.
    """
    _require(data_root, "PoseTrack18 annotation", is_dir=True)
    tracks = []
    for filename in sorted(os.listdir(data_root)):
        if not filename.endswith(".json"):
            continue
        with open(os.path.join(data_root, filename), "r") as f:
            annotations = json.load(f)["annotations"]
        motions = defaultdict(list)
        for annot in annotations:
            # float64 even if a file has only integer values (the original would keep int64
            # and crop_scale would then truncate the normalised coordinates)
            motions[annot["track_id"]].append(np.asarray(annot["keypoints"], dtype=np.float64).reshape(-1, 3))
        tracks += list(motions.values())
    return tracks


class PoseTrackDataset2D(Dataset):
    """30-frame PoseTrack18 tracks, cropped once at construction (NumPy RNG), flipped per access."""

    def __init__(self, flip=True, scale_range=[0.25, 1], data_root=POSETRACK_ROOT):
        super().__init__()
        self.flip = flip
        self.scale_range = scale_range
        motions_filtered = []
        for track in read_posetrack_tracks(data_root):
            if len(track) < POSETRACK_CLIP_LEN:
                continue
            motion = np.array(track[:POSETRACK_CLIP_LEN])
            if np.sum(motion[:, :, 2]) <= POSETRACK_MIN_VISIBLE:
                continue
            motion = crop_scale(motion, self.scale_range)
            motion = posetrack2h36m(motion)
            motion[motion[:, :, 2] == 0] = 0
            if np.sum(motion[:, 0, 2]) < POSETRACK_CLIP_LEN:
                continue  # root must be visible in every frame (targets are made root-relative per frame)
            motions_filtered.append(motion)
        self.motions_2d = np.array(motions_filtered).reshape(-1, POSETRACK_CLIP_LEN, 17, 3)

    def __len__(self):
        return len(self.motions_2d)

    def __getitem__(self, index):
        motion_2d = torch.FloatTensor(self.motions_2d[index])
        if self.flip and random.random() > 0.5:
            motion_2d = flip_data(motion_2d)
        return motion_2d, motion_2d


class InstaVDataset2D(Dataset):
    """InstaVariety windows of ``n_frames`` cut from ``motion_all.npy`` / ``id_all.npy``.

    Cropped (random zoom) and flipped anew at every access.
    """

    def __init__(self, n_frames=81, data_stride=27, flip=True, valid_threshold=0.0, scale_range=[0.25, 1],
                 data_root=INSTAV_ROOT):
        super().__init__()
        self.flip = flip
        self.scale_range = scale_range
        motion_path = os.path.join(data_root, "motion_all.npy")
        id_path = os.path.join(data_root, "id_all.npy")
        _require(motion_path, "InstaVariety keypoint")
        _require(id_path, "InstaVariety sequence-id")
        motion_all = np.load(motion_path)
        id_all = np.load(id_path)
        if len(motion_all) != len(id_all):
            raise DataError(f"{motion_path} has {len(motion_all)} frames but {id_path} has {len(id_all)} ids; "
                            f"rebuild both as described in {DATA_DOC}")
        split_id = split_clips(id_all, n_frames, data_stride)
        motions_2d = motion_all[split_id].reshape(-1, n_frames, *motion_all.shape[1:])
        valid_idx = motions_2d[:, 0, 0, 2] > valid_threshold  # root detected in the first frame
        self.motions_2d = motions_2d[valid_idx]

    def __len__(self):
        return len(self.motions_2d)

    def __getitem__(self, index):
        motion_2d = crop_scale(self.motions_2d[index], self.scale_range)
        motion_2d[motion_2d[:, :, 2] == 0] = 0
        if self.flip and random.random() > 0.5:
            motion_2d = flip_data(motion_2d)
        motion_2d = torch.FloatTensor(motion_2d)
        return motion_2d, motion_2d
