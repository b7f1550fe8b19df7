"""tools/export_onnx.py: exports with dynamic batch and frames that match PyTorch, and infer_wild.py --onnx."""
import json
import os

import numpy as np
import pytest
import yaml

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

import infer_wild  # noqa: E402
from conftest import fixture_path  # noqa: E402
from tools import export_onnx  # noqa: E402

WILD = fixture_path("tasks", "wild")
CFG = json.load(open(fixture_path("tasks", "config.json")))


@pytest.fixture(scope="module")
def pose_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "pose.onnx"
    assert export_onnx.main(["--config", os.path.join(WILD, "infer_single_flip_norm.yaml"), "--checkpoint",
                             os.path.join(WILD, "pose3d_best_epoch.bin"), "--out", str(path)]) == 0
    return path


def test_pose_export_matches_pytorch_for_any_batch_and_length(pose_onnx):
    args = export_onnx.get_config(os.path.join(WILD, "infer_single_flip_norm.yaml"))
    model, is_action = export_onnx.build_model(args, os.path.join(WILD, "pose3d_best_epoch.bin"))
    diffs = export_onnx.check(model, args, is_action, str(pose_onnx), shapes=((1, None), (4, 2), (2, 13)))
    assert [shape for shape, _ in diffs] == [(1, 27), (4, 2), (2, 13)]
    assert max(d for _, d in diffs) <= 1e-4


def test_action_export(tmp_path):
    cfg = dict(CFG["bb_class"], model_version="class", action_classes=CFG["num_classes"], dropout_ratio=0.5,
               hidden_dim=2048)
    config = tmp_path / "action.yaml"
    config.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "action.onnx"
    assert export_onnx.main(["--config", str(config), "--checkpoint",
                             fixture_path("tasks", "action", "class_best_epoch.bin"), "--out", str(out)]) == 0
    assert out.is_file() and not os.path.exists(str(out) + ".data")  # one self-contained file


def test_infer_wild_runs_the_onnx_file(pose_onnx, tmp_path):
    common = ["--config", os.path.join(WILD, "infer_single_flip_norm.yaml"), "-j",
              os.path.join(WILD, "alphapose_single.json"), "--clip_len", "20", "--size", "1920", "1080"]
    infer_wild.main(common + ["-e", os.path.join(WILD, "pose3d_best_epoch.bin"), "-o", str(tmp_path / "torch")])
    infer_wild.main(common + ["--onnx", str(pose_onnx), "-o", str(tmp_path / "onnx")])
    np.testing.assert_allclose(np.load(tmp_path / "onnx" / "X3D.npy"), np.load(tmp_path / "torch" / "X3D.npy"),
                               atol=1e-4)
