"""Reader of the mesh detection pickles (COCO, 3DPW): 2D normalisation and clip ids (spec 05 §6.1–6.2).

Same pickle layout and clip slicing as Human3.6M (:class:`DataReaderH36M`), but one fixed image
resolution (``res``) instead of per-camera ones, and no 3D joint labels (the targets are SMPL
parameters, read by :mod:`lib.data.dataset_mesh`).
"""
import os

import numpy as np

from lib.data.datareader_h36m import DataReaderH36M
from lib.utils.errors import DataError

MESH_DATA_DOC = "docs/mesh.md"
SPLITS = ("train", "test")
NO_3D_LABELS = ("mesh data sets have no 3D joint labels (their targets are the SMPL parameters 'smpl_pose' and "
                "'smpl_shape'), so DataReaderMesh.read_3d / get_sliced_data are not available; use read_2d() with "
                "get_split_id(), as lib.data.dataset_mesh.SMPLDataset does")


def require_keys(dt_dataset, keys, path):
    """Raise ``DataError`` naming ``path`` and the key unless both splits of ``dt_dataset`` hold all ``keys``."""
    for split in SPLITS:
        if not isinstance(dt_dataset, dict) or split not in dt_dataset:
            raise DataError(f"data file {path} has no '{split}' split (expected a dict with 'train' and 'test')")
        missing = [k for k in keys if k not in dt_dataset[split]]
        if missing:
            raise DataError(f"data file {path}: split '{split}' lacks the key(s) {missing} "
                            f"(it has {sorted(dt_dataset[split])})")


class DataReaderMesh(DataReaderH36M):
    """``read_2d`` maps pixels with one resolution ``res = [w, h]``: x' = x/w·2 − 1, y' = y/w·2 − h/w.

    With ``res=None`` each frame uses ``max(img_hw)`` for both w and h. Outputs are float64, as
    in the original.
    """
    data_doc = MESH_DATA_DOC
    normalized_2d_dtype = np.float64

    def __init__(self, n_frames, sample_stride, data_stride_train, data_stride_test, read_confidence=True,
                 dt_root='data/mesh', dt_file='pw3d_det.pkl', res=[1920, 1920]):
        super().__init__(n_frames, sample_stride, data_stride_train, data_stride_test,
                         read_confidence=read_confidence, dt_root=dt_root, dt_file=dt_file)
        self.res = res
        required = ["joint_2d", "source"] + (["confidence"] if read_confidence else []) + \
                   (["img_hw"] if res is None else [])
        require_keys(self.dt_dataset, required, os.path.join(dt_root, dt_file))

    def _resolution(self, split):
        """Per-frame ``(w, h)`` float64 arrays: ``res``, or each frame's ``max(img_hw)`` for both."""
        if self.res is None:
            size = np.asarray(self._frames(split, "img_hw")).max(axis=1).astype(np.float64)
            return size, size
        n_frames = len(self._frames(split, "joint_2d"))
        res_w, res_h = self.res
        return np.full(n_frames, res_w, dtype=np.float64), np.full(n_frames, res_h, dtype=np.float64)

    def read_3d(self):
        raise NotImplementedError(NO_3D_LABELS)

    def get_sliced_data(self):
        raise NotImplementedError(NO_3D_LABELS)
