"""The README's first command: the offline demo runs from the files shipped in the repository, and the
shipped demo model beats the baselines on its test clips by the margin docs/demo.md reports."""
import json
import os
import re

import numpy as np
import pytest

import infer_wild
from conftest import REPO
from lib.data.wild_input import read_detections
from lib.skeleton import BLAZEPOSE33_COCO17
from lib.utils.checkpoint import load_checkpoint
from lib.utils.tools import get_config


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
    for name in ("X3D.mp4", "X3D.npy", "X3D.json", "keypoints_2d.json"):
        assert (out / name).is_file(), name
    x3d = np.load(out / "X3D.npy")
    doc = json.load(open(out / "X3D.json"))
    assert x3d.shape == (doc["n_frames"], 17, 3) and doc["n_frames"] == 200
    assert np.isfinite(x3d).all()
    # from the video's pixels: the detections are near the synthetic ones of examples/demo_alphapose.json (the
    # projection of the same body plus a few pixels of noise)
    detected = read_detections(out / "keypoints_2d.json")
    synthetic = read_detections(os.path.join(REPO, "examples", "demo_alphapose.json"))
    assert len(detected.keypoints) == 200
    coco = detected.keypoints[:, list(BLAZEPOSE33_COCO17), :2]  # BlazePose's COCO points against Halpe's
    error = np.linalg.norm(coco - synthetic.keypoints[:, :17, :2], axis=-1)
    assert np.median(error) < 12


def test_demo_from_the_keypoint_file(tmp_path):
    infer_wild.main(["--demo", "-j", os.path.join(REPO, "examples", "demo_alphapose.json"), "-v",
                     os.path.join(REPO, "examples", "demo.mp4"), "--out_path", str(tmp_path)])
    assert np.load(tmp_path / "X3D.npy").shape == (200, 17, 3)
    assert not (tmp_path / "keypoints_2d.json").exists()


@pytest.fixture(scope="module")
def demo_scores(tmp_path_factory):
    """P1/P2 of the shipped model and of the two baselines on the demo test clips (docs/demo.md)."""
    pytest.importorskip("pybullet", reason="the demo data are made from the motion clips shipped with pybullet")
    from tools import demo_baselines, prepare_demo_data
    folder = tmp_path_factory.mktemp("demo_data")
    assert prepare_demo_data.main(["--output", str(folder / "h36m_demo.pkl"), "--no-examples"]) == 0
    args = get_config(os.path.join(REPO, "configs", "pose3d", "MB_demo.yaml"))
    args.dt_root = str(folder)
    return demo_baselines.score_all(args, os.path.join(REPO, "checkpoint", "demo", "best_epoch.bin"))


def test_demo_model_beats_the_baselines(demo_scores):
    assert set(demo_scores) == {"zero depth", "linear", "model"}
    assert demo_scores["model"]["action_names"] == ["dance_b", "jump", "kick", "walk"]  # the held-out clips
    mean_p1 = {name: errors["e1"] for name, errors in demo_scores.items()}
    assert mean_p1["model"] < mean_p1["linear"] < mean_p1["zero depth"]
    assert demo_scores["model"]["e2"] < demo_scores["linear"]["e2"]


@pytest.mark.parametrize("doc", ["README.md", "docs/demo.md"])
def test_demo_results_table_in_the_docs_is_current(demo_scores, doc):
    """The results table: the mean P1 and P2 of each method, to the 0.1 mm it prints."""
    rows = {"zero depth": "2D input, zero depth", "linear": "per-frame linear", "model": "demo DSTformer"}
    text = open(os.path.join(REPO, doc)).read()
    for name, label in rows.items():
        row = next(line for line in text.splitlines() if line.startswith("| ") and label in line)
        p1, p2 = (float(v) for v in re.findall(r"\*{0,2}(\d+\.\d)\*{0,2} \|", row)[-2:])
        assert demo_scores[name]["e1"] == pytest.approx(p1, abs=0.051), row
        assert demo_scores[name]["e2"] == pytest.approx(p2, abs=0.051), row
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


def test_the_demo_knows_its_camera_and_subject():
    """--demo's camera (lib.inference.DEMO_CAMERA) is the one tools/prepare_demo_data.py filmed examples/demo.mp4
    with (its default clip, camera, seed and scale), and its subject's stature; so its run assumes none of them."""
    pytest.importorskip("pybullet_data", reason="the demo's humanoid and clips ship with pybullet")
    import math

    from lib.inference import DEMO_CAMERA
    from tools import prepare_demo_data as demo
    args = demo.parse_args([])
    take = demo.DemoSubject(demo.pybullet_data_dir()).take(args.example_clip, args.seed, args.min_seconds)
    camera = take.cameras[demo.CAMERA_NAMES.index(args.example_camera)]
    assert DEMO_CAMERA["focal"] == pytest.approx(camera.focal * args.example_scale, abs=0.05)
    assert DEMO_CAMERA["center"] == pytest.approx(list(camera.center * args.example_scale), abs=0.05)
    assert DEMO_CAMERA["pitch"] == pytest.approx(math.degrees(math.asin(-camera.rotation[2, 1])), abs=0.05)
    assert DEMO_CAMERA["height"] * 1000 == pytest.approx(demo.SUBJECT_HEIGHT_MM)


def test_the_demo_run_assumes_nothing_the_project_knows(tmp_path, capsys):
    infer_wild.main(["--demo", "-j", os.path.join(REPO, "examples", "demo_alphapose.json"), "--out_path",
                     str(tmp_path / "own")])  # your keypoints: the demo camera is not assumed to be theirs
    assert "height 1.70 m assumed" in capsys.readouterr().out
    from lib.inference import DEMO_CAMERA
    cli = infer_wild.parse_args(["--demo"])
    assert (cli.focal, cli.center, cli.pitch, cli.height, cli.pixel) == (
        DEMO_CAMERA["focal"], DEMO_CAMERA["center"], DEMO_CAMERA["pitch"], DEMO_CAMERA["height"], True)
    assert infer_wild.parse_args(["--demo", "--no_world"]).focal is None
