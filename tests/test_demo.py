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


def test_readme_and_demo_doc_agree_on_the_demo_model():
    import re

    from tools.prepare_demo_data import MOTION_NAMES, TEST_MOTIONS
    readme = " ".join(open(os.path.join(REPO, "README.md")).read().split())
    demo = " ".join(open(os.path.join(REPO, "docs", "demo.md")).read().split())
    n_train = len([m for m in MOTION_NAMES if m not in TEST_MOTIONS])
    assert f"trained on {n_train} motion-capture clips" in readme and f"the {len(MOTION_NAMES)} DeepMimic" in readme
    assert f"on {n_train} DeepMimic motion-capture clips" in demo
    minutes, seconds = map(int, re.search(r"\*\*(\d+) min (\d+) s\*\* in total", demo).groups())
    assert f"in {round(minutes + seconds / 60)} minutes on two CPU cores" in readme
    assert "python tools/prepare_demo_data.py && python tools/demo_baselines.py" in readme
