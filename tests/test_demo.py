"""The README's first command: the offline demo runs from the files shipped in the repository."""
import json
import os

import numpy as np

import infer_wild
from conftest import REPO
from lib.utils.checkpoint import load_checkpoint


def test_demo_files_ship_with_the_repository():
    for path in ("configs/pose3d/MB_demo.yaml", "checkpoint/demo/best_epoch.bin", "examples/demo_alphapose.json",
                 "examples/demo.mp4"):
        assert os.path.isfile(os.path.join(REPO, path)), path
    ckpt = load_checkpoint(os.path.join(REPO, "checkpoint", "demo", "best_epoch.bin"))
    assert sorted(ckpt) == ["model_pos"]  # weights only
    assert os.path.getsize(os.path.join(REPO, "checkpoint", "demo", "best_epoch.bin")) < 5 * 2 ** 20


def test_demo_command_writes_its_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the demo finds its files from any working directory
    infer_wild.main(["--demo"])
    out = tmp_path / "output" / "demo"
    for name in ("X3D.mp4", "X3D.npy", "X3D.json"):
        assert (out / name).is_file(), name
    x3d = np.load(out / "X3D.npy")
    doc = json.load(open(out / "X3D.json"))
    assert x3d.shape == (doc["n_frames"], 17, 3) and doc["n_frames"] == 200
    assert np.isfinite(x3d).all()
