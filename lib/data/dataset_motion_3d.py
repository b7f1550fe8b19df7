"""Clip datasets written by tools/convert_h36m.py and tools/convert_amass.py (spec 02 §5)."""
import os
import random

import numpy as np
import torch
from torch.utils.data import Dataset

from lib.data.augmentation import Augmenter3D
from tqdm import tqdm

from lib.utils.errors import DataError
from lib.utils.tools import read_pkl, write_pkl
from lib.utils.utils_data import flip_data

DATA_DOC = "docs/pose3d.md (H36M) and docs/pretrain.md (AMASS)"


def write_clip_files(folder, clips, desc="clips", total=None):
    """Write clip ``i`` of ``clips`` (pairs ``(data_input, data_label)``) to ``<folder>/%08d.pkl``.

    The files :class:`MotionDataset3D` reads: ``{'data_input': 2D clip or None, 'data_label': 3D clip}``.
    """
    os.makedirs(folder, exist_ok=True)
    for i, (data_input, data_label) in enumerate(tqdm(clips, desc=desc, total=total)):
        write_pkl({"data_input": data_input, "data_label": data_label}, os.path.join(folder, "%08d.pkl" % i))


class MotionDataset(Dataset):
    """Lists ``<data_root>/<subset>/<data_split>/*.pkl`` for every subset, each folder in name order.

    A missing or empty training folder is an error. For the test split, subsets without test
    clips are skipped (the pretraining configs list AMASS, which has none; the original
    required an empty folder).
    """

    def __init__(self, args, subset_list, data_split):
        np.random.seed(0)
        self.data_root = args.data_root
        self.subset_list = subset_list
        self.data_split = data_split
        file_list_all = []
        for subset in self.subset_list:
            data_path = os.path.join(self.data_root, subset, self.data_split)
            motion_list = sorted(os.listdir(data_path)) if os.path.isdir(data_path) else None
            if not motion_list:
                if data_split == "test":
                    continue
                problem = "is empty" if motion_list is not None else "not found"
                raise FileNotFoundError(f"clip folder {data_path} {problem}. {DATA_DOC} explain how to make it.")
            file_list_all += [os.path.join(data_path, name) for name in motion_list]
        if not file_list_all:
            folders = ", ".join(os.path.join(self.data_root, s, data_split) for s in subset_list)
            raise FileNotFoundError(f"no {data_split} clips: {folders} not found or empty. "
                                    f"{DATA_DOC} explain how to make them.")
        self.file_list = file_list_all

    def __len__(self):
        return len(self.file_list)

    def __getitem__(self, index):
        raise NotImplementedError


class MotionDataset3D(MotionDataset):
    """Item = ``(2D input (T, 17, 3), 3D label (T, 17, 3))`` float tensors.

    Training: with ``synthetic``/``gt_2d`` the input is the (augmented) label's x, y with
    confidence 1; otherwise the stored detections, flipped together with the label at random.
    Test: the stored detections (x, y replaced by the label's with ``gt_2d``).
    """

    def __init__(self, args, subset_list, data_split):
        super().__init__(args, subset_list, data_split)
        self.flip = args.flip
        self.synthetic = args.synthetic
        self.aug = Augmenter3D(args)
        self.gt_2d = args.gt_2d

    def __getitem__(self, index):
        file_path = self.file_list[index]
        motion_file = read_pkl(file_path)
        motion_3d = motion_file["data_label"]
        if self.data_split == "train":
            if self.synthetic or self.gt_2d:
                motion_3d = self.aug.augment3D(motion_3d)
                motion_2d = np.zeros(motion_3d.shape, dtype=np.float32)
                motion_2d[:, :, :2] = motion_3d[:, :, :2]
                motion_2d[:, :, 2] = 1
            elif motion_file["data_input"] is not None:
                motion_2d = motion_file["data_input"]
                if self.flip and random.random() > 0.5:
                    motion_2d = flip_data(motion_2d)
                    motion_3d = flip_data(motion_3d)
            else:
                raise DataError(f"Training illegal: {file_path} has no 2D input ('data_input' is None); "
                                f"set synthetic: True to train on 3D-only clips")
        elif self.data_split == "test":
            motion_2d = motion_file["data_input"]
            if self.gt_2d:
                motion_2d[:, :, :2] = motion_3d[:, :, :2]
                motion_2d[:, :, 2] = 1
        else:
            raise ValueError(f"Data split unknown: {self.data_split}")
        return torch.FloatTensor(motion_2d), torch.FloatTensor(motion_3d)
