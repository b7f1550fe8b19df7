"""DataReaderH36M against the original's outputs on the synthetic H36M pickle."""
import pickle

import numpy as np
import pytest

from conftest import assert_float_close, fixture_path
from lib.data.datareader_h36m import DataReaderH36M, camera_resolutions

REF = np.load(fixture_path("pose3d", "h36m_reader.npz"))


def reader(stride=1, **kw):
    return DataReaderH36M(n_frames=27, sample_stride=stride, data_stride_train=9, data_stride_test=27,
                          dt_root=fixture_path("pose3d"), dt_file="h36m_synthetic.pkl", **kw)


@pytest.mark.parity
def test_stride_1_matches_original():
    r = reader()
    train_ids, test_ids = r.get_split_id()
    np.testing.assert_array_equal(np.array([list(c) for c in train_ids]), REF["s1_split_train"])
    np.testing.assert_array_equal(np.array([list(c) for c in test_ids]), REF["s1_split_test"])
    tr2d, te2d = r.read_2d()
    tr3d, te3d = r.read_3d()
    for got, key in ((tr2d, "s1_read_2d_train"), (te2d, "s1_read_2d_test"),
                     (tr3d, "s1_read_3d_train"), (te3d, "s1_read_3d_test")):
        assert got.dtype == np.float32
        assert_float_close(got, REF[key], err_msg=key)
    np.testing.assert_array_equal(r.get_hw(), REF["s1_get_hw"])  # camera resolutions: integers
    train_data, test_data, train_labels, test_labels = r.get_sliced_data()
    assert_float_close(test_data, REF["s1_sliced_test_data"])
    assert_float_close(test_labels, REF["s1_sliced_test_labels"])
    assert_float_close(train_data, REF["s1_read_2d_train"][REF["s1_split_train"]])
    assert_float_close(train_labels, REF["s1_read_3d_train"][REF["s1_split_train"]])


def test_no_confidence():
    with_conf = reader().read_2d()
    without = reader(read_confidence=False).read_2d()
    for a, b in zip(with_conf, without):
        np.testing.assert_array_equal(a[..., :2], b)


@pytest.mark.parity
def test_denormalize_in_place_both_layouts():
    r = reader()
    labels = REF["s1_sliced_test_labels"].copy()
    out = r.denormalize(labels)
    assert_float_close(out, REF["s1_denorm_out"])
    assert_float_close(labels, REF["s1_denorm_out"])  # in place, as the original
    flat = REF["s1_sliced_test_data"].copy().reshape(17, 27, 51)
    assert_float_close(r.denormalize(flat), REF["s1_denorm51_out"])


def test_stride_2_works_and_is_consistent():
    # the original raises IndexError here; we subsample every per-frame array alike
    r = reader(stride=2)
    train_ids, test_ids = r.get_split_id()
    np.testing.assert_array_equal(np.array([list(c) for c in train_ids]), REF["s2_split_train"])
    np.testing.assert_array_equal(np.array([list(c) for c in test_ids]), REF["s2_split_test"])
    full = reader()
    tr2d, te2d = r.read_2d()
    np.testing.assert_array_equal(tr2d, full.read_2d()[0][::2])
    np.testing.assert_array_equal(r.read_3d()[1], full.read_3d()[1][::2])
    train_data, test_data, _, test_labels = r.get_sliced_data()
    assert test_data.shape == (7, 27, 17, 3)
    # each clip's resolution is that of its own camera
    cams = r.dt_dataset["test"]["camera_name"][::2]
    w, h = camera_resolutions([cams[c[0]] for c in test_ids])
    np.testing.assert_array_equal(r.get_hw(), np.stack([w, h], 1))
    # de-normalisation inverts normalisation
    pix = r.dt_dataset["test"]["joint3d_image"][::2][np.array([list(c) for c in test_ids])]
    np.testing.assert_allclose(r.denormalize(test_labels.copy()), pix, rtol=1e-5, atol=1e-3)


def test_missing_file_names_path_and_doc(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope.pkl.*docs/pose3d.md"):
        DataReaderH36M(27, 1, 9, 27, dt_root=str(tmp_path), dt_file="nope.pkl")


def test_unknown_camera_names_the_frame(tmp_path):
    data = pickle.load(open(fixture_path("pose3d", "h36m_synthetic.pkl"), "rb"))
    data["test"]["camera_name"] = np.array(data["test"]["camera_name"], dtype=object)
    data["test"]["camera_name"][42] = "12345678"
    with open(tmp_path / "bad.pkl", "wb") as f:
        pickle.dump(data, f)
    r = DataReaderH36M(27, 1, 9, 27, dt_root=str(tmp_path), dt_file="bad.pkl")
    with pytest.raises(ValueError, match="42 data item has an invalid camera name '12345678'"):
        r.read_2d()
