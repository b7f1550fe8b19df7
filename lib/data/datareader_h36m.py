"""Reader of the preprocessed Human3.6M pickle: normalisation, clip ids, de-normalisation (spec 02 §1–2).

``sample_stride`` > 1 subsamples every per-frame array consistently (the original mixed
subsampled and full-rate arrays and crashed or mis-scaled there).
"""
import os
import random

import numpy as np

from lib.utils.errors import DataError
from lib.utils.tools import read_pkl
from lib.utils.utils_data import denormalize_screen_coordinates, normalize_screen_coordinates, split_clips

random.seed(0)  # the original seeds Python's RNG on import; kept for identical flip sequences

# (width, height) of the four H36M cameras
CAMERA_RESOLUTION = {
    "54138969": (1000, 1002),
    "55011271": (1000, 1000),
    "58860488": (1000, 1000),
    "60457274": (1000, 1002),
}
DATA_DOC = "docs/pose3d.md"


def camera_resolutions(camera_names):
    """Per-frame ``(w, h)`` float64 arrays for a sequence of H36M camera ids."""
    names = np.asarray(camera_names)
    w = np.empty(len(names), dtype=np.float64)
    h = np.empty(len(names), dtype=np.float64)
    known = np.zeros(len(names), dtype=bool)
    for name, (res_w, res_h) in CAMERA_RESOLUTION.items():
        sel = names == name
        w[sel], h[sel], known[sel] = res_w, res_h, True
    if not known.all():
        idx = int(np.flatnonzero(~known)[0])
        raise DataError(f"{idx} data item has an invalid camera name '{names[idx]}' "
                        f"(expected one of {sorted(CAMERA_RESOLUTION)})")
    return w, h


class DataReaderH36M:
    """Per-frame arrays of one split → normalised arrays and clips of ``n_frames`` frames."""
    data_doc = DATA_DOC  # where the missing-file error sends the user
    normalized_2d_dtype = None  # dtype of read_2d's output (None: float32, the input's)

    def __init__(self, n_frames, sample_stride, data_stride_train, data_stride_test, read_confidence=True,
                 dt_root='data/motion3d', dt_file='h36m_cpn_cam_source.pkl'):
        path = os.path.join(dt_root, dt_file)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"data file not found: {path}. {self.data_doc} explains how to get it.")
        self.gt_trainset = None
        self.gt_testset = None
        self.split_id_train = None
        self.split_id_test = None
        self.test_hw = None
        self.dt_dataset = read_pkl(path)
        self.n_frames = n_frames
        self.sample_stride = sample_stride
        self.data_stride_train = data_stride_train
        self.data_stride_test = data_stride_test
        self.read_confidence = read_confidence

    def _frames(self, split, key):
        """A per-frame entry of ``split``, subsampled by ``sample_stride``."""
        return self.dt_dataset[split][key][::self.sample_stride]

    def _resolution(self, split):
        return camera_resolutions(self._frames(split, "camera_name"))

    def _read_2d_split(self, split):
        joints = self._frames(split, "joint_2d")[:, :, :2].astype(np.float32)
        joints = normalize_screen_coordinates(joints, *self._resolution(split), dtype=self.normalized_2d_dtype)
        if not self.read_confidence:
            return joints
        if "confidence" in self.dt_dataset[split]:
            conf = self._frames(split, "confidence").astype(np.float32)
            if conf.ndim == 2:
                conf = conf[:, :, None]
        else:
            conf = np.ones(joints.shape[:2] + (1,), dtype=np.float32)
        return np.concatenate((joints, conf), axis=2)

    def read_2d(self):
        """Normalised 2D detections (+ confidence) of both splits, float32 ``(N, 17, 3)``."""
        return self._read_2d_split("train"), self._read_2d_split("test")

    def read_3d(self):
        """Normalised 3D image-space joints of both splits, float32 ``(N, 17, 3)``."""
        out = []
        for split in ("train", "test"):
            joints = self._frames(split, "joint3d_image")[:, :, :3].astype(np.float32)
            out.append(normalize_screen_coordinates(joints, *self._resolution(split)))
        return tuple(out)

    def read_hw(self):
        """Per test frame ``[w, h]`` (float64)."""
        if self.test_hw is not None:
            return self.test_hw
        w, h = self._resolution("test")
        self.test_hw = np.stack([w, h], axis=1)
        return self.test_hw

    def get_split_id(self):
        """Clips (lists of frame indices into the subsampled arrays) of both splits."""
        if self.split_id_train is not None and self.split_id_test is not None:
            return self.split_id_train, self.split_id_test
        vid_list_train = self._frames("train", "source")
        vid_list_test = self._frames("test", "source")
        self.split_id_train = split_clips(vid_list_train, self.n_frames, data_stride=self.data_stride_train)
        self.split_id_test = split_clips(vid_list_test, self.n_frames, data_stride=self.data_stride_test)
        return self.split_id_train, self.split_id_test

    def get_hw(self):
        """``(n_test_clips, 2)``: the ``[w, h]`` of each test clip's first frame."""
        test_hw = self.read_hw()
        _, split_id_test = self.get_split_id()
        return test_hw[split_id_test][:, 0, :]

    def get_sliced_data(self):
        """``train_data, test_data, train_labels, test_labels`` as ``(n_clips, n_frames, 17, 3)``."""
        train_data, test_data = self.read_2d()
        train_labels, test_labels = self.read_3d()
        split_id_train, split_id_test = self.get_split_id()
        return (train_data[split_id_train], test_data[split_id_test],
                train_labels[split_id_train], test_labels[split_id_test])

    def get_test_frames(self, key):
        """A per-frame entry of the test split, subsampled like the clips index it."""
        return self._frames("test", key)

    def denormalize(self, test_data):
        """Normalised test clips → pixel scale, in place on the ``(n_clips, n_frames, 17, 3)`` view."""
        n_clips = test_data.shape[0]
        test_hw = self.get_hw()
        data = test_data.reshape([n_clips, -1, 17, 3])
        assert len(data) == len(test_hw), (f"denormalize expects one entry per test clip ({len(test_hw)}), "
                                           f"got {len(data)}")
        data[...] = denormalize_screen_coordinates(data, test_hw[:, 0], test_hw[:, 1])
        return data
