"""tools/convert_h36m.py reproduces the clip files of the original (fixture convert_h36m, README §6)."""
import json
import os
import pickle
import pickletools
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, assert_float_close, fixture_path
from lib.data.datareader_h36m import DataReaderH36M
from lib.utils.errors import UserError
from tools.convert_h36m import main, save_clips

FIXTURE = fixture_path("pose3d", "convert_h36m.json")


@pytest.fixture(scope="module")
def reference():
    with open(FIXTURE) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def converted(tmp_path_factory, reference):
    ctor = reference["reader_ctor"]
    out = tmp_path_factory.mktemp("clips")
    assert main(["--input", fixture_path("pose3d", ctor["dt_file"]), "--output", str(out),
                 "--n_frames", str(ctor["n_frames"]), "--data_stride_train", str(ctor["data_stride_train"]),
                 "--data_stride_test", str(ctor["data_stride_test"])]) == 0
    return out / "H36M-SH"


def test_file_names_and_counts(converted, reference):
    for split in reference["subsets"]:
        names = sorted(os.listdir(converted / split))
        assert names == reference["files"][split]
        assert len(names) == reference["n_files"][split]


def pickle_layout(data):
    """A pickle's opcodes and arguments, with each array's raw bytes replaced by their length."""
    return [(op.name, len(arg) if isinstance(arg, bytes) and len(arg) > 16 else arg)
            for op, arg, _ in pickletools.genops(data)]


@pytest.mark.parity
def test_files_have_the_original_layout_and_values(converted, reference):
    # byte for byte the original's pickle except for the array values, which are float arithmetic
    # (the normalisation) and so are compared within float32 rounding
    for item in reference["copied"]:
        ours = (converted / item["split"] / ("%08d.pkl" % item["index"])).read_bytes()
        with open(fixture_path("pose3d", item["file"]), "rb") as f:
            original = f.read()
        assert pickle_layout(ours) == pickle_layout(original), item["file"]
        ours, original = pickle.loads(ours), pickle.loads(original)
        for key in item["keys"]:
            assert_float_close(ours[key], original[key], err_msg=f"{item['file']} {key}")


def test_every_file_holds_the_sliced_clip(converted, reference):
    ctor = reference["reader_ctor"]
    reader = DataReaderH36M(ctor["n_frames"], ctor["sample_stride"], ctor["data_stride_train"],
                            ctor["data_stride_test"], dt_root=fixture_path("pose3d"), dt_file=ctor["dt_file"])
    train_data, test_data, train_labels, test_labels = reader.get_sliced_data()
    for split, data, labels in (("train", train_data, train_labels), ("test", test_data, test_labels)):
        for i in range(len(data)):
            with open(converted / split / ("%08d.pkl" % i), "rb") as f:
                clip = pickle.load(f)
            assert list(clip) == ["data_input", "data_label"]
            for key, expected in (("data_input", data[i]), ("data_label", labels[i])):
                assert clip[key].dtype == np.float32 and clip[key].shape == (ctor["n_frames"], 17, 3)
                np.testing.assert_array_equal(clip[key], expected)


def test_save_clips_writes_numbered_files(tmp_path):
    data = np.arange(2 * 3 * 17 * 3, dtype=np.float32).reshape(2, 3, 17, 3)
    save_clips("train", str(tmp_path), data, -data)
    assert sorted(os.listdir(tmp_path / "train")) == ["00000000.pkl", "00000001.pkl"]
    with open(tmp_path / "train" / "00000001.pkl", "rb") as f:
        clip = pickle.load(f)
    np.testing.assert_array_equal(clip["data_label"], -data[1])


def test_missing_input_is_named(tmp_path):
    missing = str(tmp_path / "h36m.pkl")
    with pytest.raises(UserError) as err:
        main(["--input", missing, "--output", str(tmp_path)])
    assert missing in str(err.value)


def test_help_from_another_folder(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(REPO, "tools", "convert_h36m.py"), "--help"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "data/motion3d/h36m_sh_conf_cam_source_final.pkl" in result.stdout
    assert "data/motion3d/MB3D_f243s81" in result.stdout
