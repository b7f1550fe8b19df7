"""Mesh recovery data sets: 2D clips → SMPL pose/shape, H36M keypoints and vertices (spec 05 §6.3)."""
import os
import random

import numpy as np
import torch
from torch.utils.data import Dataset

from lib.data.datareader_h36m import DataReaderH36M
from lib.data.datareader_mesh import DataReaderMesh, require_keys
from lib.utils.utils_data import flip_data
from lib.utils.utils_mesh import flip_thetas
from lib.utils.utils_smpl import SMPL

MESH_DATASETS = ("h36m", "coco", "pw3d")


def mesh_datareader(args, dataset):
    """The reader of ``dataset`` configured as the original: COCO frames are single-frame clips."""
    if dataset == "h36m":
        return DataReaderH36M(n_frames=args.clip_len, sample_stride=args.sample_stride,
                              data_stride_train=args.data_stride, data_stride_test=args.clip_len,
                              dt_root=args.data_root, dt_file=args.dt_file_h36m), args.dt_file_h36m
    if dataset == "coco":
        return DataReaderMesh(n_frames=1, sample_stride=args.sample_stride, data_stride_train=1, data_stride_test=1,
                              dt_root=args.data_root, dt_file=args.dt_file_coco, res=[640, 640]), args.dt_file_coco
    if dataset == "pw3d":
        return DataReaderMesh(n_frames=args.clip_len, sample_stride=args.sample_stride,
                              data_stride_train=args.data_stride, data_stride_test=args.clip_len,
                              dt_root=args.data_root, dt_file=args.dt_file_pw3d, res=[1920, 1920]), args.dt_file_pw3d
    raise ValueError(f"Mesh dataset undefined: {dataset!r} (expected one of {MESH_DATASETS})")


class SMPLDataset(Dataset):
    """Clips of one split of a mesh data set: normalised 2D input and the matching SMPL parameters.

    Attributes ``motion_2d (n_clips, T, 17, 3)`` and ``motion_smpl_3d`` = ``{'pose': (n, T, 72),
    'shape': (n, T, 10)}``, and ``smpl`` (the body model that turns them into targets).
    """

    def __init__(self, args, data_split, dataset):
        if data_split not in ("train", "test"):
            raise ValueError(f"data_split must be 'train' or 'test', got {data_split!r}")
        # the original reseeds here: clip resampling of short videos depends on it
        random.seed(0)
        np.random.seed(0)
        self.clip_len = args.clip_len
        self.data_split = data_split
        datareader, dt_file = mesh_datareader(args, dataset)
        dt = datareader.dt_dataset
        require_keys(dt, ["smpl_pose", "smpl_shape"] + (["camera_name"] if dataset == "h36m" else []),
                     os.path.join(args.data_root, dt_file))

        split_id_train, split_id_test = datareader.get_split_id()
        train_data, test_data = datareader.read_2d()
        split_id = {"train": split_id_train, "test": split_id_test}[data_split]
        self.motion_2d = {"train": train_data, "test": test_data}[data_split][split_id]  # (N, T, 17, 3)
        self.motion_smpl_3d = {'pose': dt[data_split]['smpl_pose'][split_id],  # (N, T, 72)
                               'shape': dt[data_split]['smpl_shape'][split_id]}  # (N, T, 10)
        self.smpl = SMPL(args.data_root, batch_size=1)

    def __len__(self):
        return len(self.motion_2d)


class MotionSMPL(SMPLDataset):
    """Item ``i`` → ``(motion_2d (T, 17, 3), {'theta': (T, 82), 'kp_3d': (T, 17, 3), 'verts': (T, V, 3)})``.

    Targets are in mm, relative to the H36M-regressed root joint. Training items are flipped
    (2D input and SMPL pose) with probability 0.5 when ``args.flip``.
    """

    def __init__(self, args, data_split, dataset):
        super().__init__(args, data_split, dataset)
        self.flip = args.flip

    def __getitem__(self, index):
        motion_2d = self.motion_2d[index]  # (T, 17, 3), a view: the clip below is stored (harmless)
        motion_2d[:, :, 2] = np.clip(motion_2d[:, :, 2], 0, 1)
        motion_smpl_pose = self.motion_smpl_3d['pose'][index].reshape(-1, 24, 3)
        motion_smpl_shape = self.motion_smpl_3d['shape'][index]
        if self.data_split == "train" and self.flip and random.random() > 0.5:
            motion_2d = flip_data(motion_2d)
            motion_smpl_pose = flip_thetas(motion_smpl_pose)
        motion_smpl_pose = torch.from_numpy(motion_smpl_pose).reshape(-1, 72).float()
        motion_smpl_shape = torch.from_numpy(motion_smpl_shape).reshape(-1, 10).float()
        with torch.no_grad():
            motion_smpl = self.smpl(betas=motion_smpl_shape, body_pose=motion_smpl_pose[:, 3:],
                                    global_orient=motion_smpl_pose[:, :3], pose2rot=True)
        motion_verts = motion_smpl.vertices * 1000.0  # metres → mm
        J_regressor = self.smpl.J_regressor_h36m
        motion_3d_reg = torch.matmul(J_regressor[None, :].expand(motion_verts.shape[0], -1, -1), motion_verts)
        motion_verts = motion_verts - motion_3d_reg[:, :1, :]
        motion_3d_reg = motion_3d_reg - motion_3d_reg[:, :1, :]
        return motion_2d, {
            'theta': torch.cat((motion_smpl_pose, motion_smpl_shape), -1),  # SMPL pose (72) and shape (10)
            'kp_3d': motion_3d_reg,  # (T, 17, 3)
            'verts': motion_verts,  # (T, V, 3)
        }
