"""infer_wild_action.py end to end with a tiny NTU-60 ActionNet checkpoint made here."""
import json
import os

import numpy as np
import pytest
import torch
import yaml

import infer_wild_action
from conftest import fixture_path
from lib.utils.errors import UserError
from lib.data.dataset_action import NTU60_ACTION_NAMES
from lib.model.model_action import ActionNet
from lib.utils.checkpoint import model_state_for_saving, save_checkpoint
from lib.utils.learning import load_backbone
from lib.utils.tools import get_config

SINGLE = fixture_path("tasks", "wild", "alphapose_single.json")
TWO = fixture_path("tasks", "wild", "alphapose_two.json")
TINY = dict(dim_feat=16, dim_rep=16, depth=2, num_heads=2, mlp_ratio=2, maxlen=27, num_joints=17, att_fuse=True,
            model_version="class", hidden_dim=2048, dropout_ratio=0.5, action_classes=60, clip_len=27,
            scale_range_test=[2, 2])


@pytest.fixture(scope="module")
def tiny_action_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("action")
    config = folder / "tiny_action.yaml"
    config.write_text(yaml.safe_dump(TINY))
    args = get_config(str(config))
    torch.manual_seed(0)
    model = ActionNet(load_backbone(args), args.dim_rep, num_classes=60, dropout_ratio=0.5, version="class",
                      hidden_dim=2048, num_joints=17)
    with torch.no_grad():  # distinct running statistics, so eval-mode BatchNorm is not the identity
        model.head.bn.running_mean.uniform_(-0.1, 0.1)
    checkpoint = folder / "best_epoch.bin"
    save_checkpoint(str(checkpoint), {"epoch": 1, "model": model_state_for_saving(model), "best_acc": 0.0})
    return str(config), str(checkpoint)


def test_prints_and_saves_top5_class_names(tiny_action_model, tmp_path, capsys):
    config, checkpoint = tiny_action_model
    out = tmp_path / "out"
    infer_wild_action.main(["--config", config, "-e", checkpoint, "-j", SINGLE, "-o", str(out), "--fps", "15"])
    printed = capsys.readouterr().out
    clip_line = next(line for line in printed.splitlines() if line.startswith("person 1, whole clip"))
    assert sum(name in clip_line for name in NTU60_ACTION_NAMES) >= 5
    result = json.load(open(out / "action.json"))
    top = result["clip"]["top"]
    assert len(top) == 5 and all(t["name"] == NTU60_ACTION_NAMES[t["class_id"]] for t in top)
    probs = [t["probability"] for t in top]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    # 45 frames, 3 s windows at 15 fps = 45 frames: one window; shorter windows give several
    assert [w["frames"] for w in result["windows"]] == [[0, 44]]
    infer_wild_action.main(["--config", config, "-e", checkpoint, "-j", SINGLE, "-o", str(out), "--window", "20"])
    windows = json.load(open(out / "action.json"))["windows"]
    assert [w["frames"] for w in windows] == [[0, 19], [10, 29], [20, 39], [25, 44]]
    assert all(len(w["top"]) == 5 for w in windows)


def test_input_is_prepared_as_the_ntu_data():
    from lib.data.wild_input import load_wild_inputs
    # NTU's make_cam (spec 04 §2.1): both coordinates over the longer side, [0, w] onto [-1, 1]
    pixels = np.zeros((1, 17, 3))
    pixels[0, :3, :2] = [[0, 0], [1920, 960], [480, 1080]]
    np.testing.assert_allclose(infer_wild_action.ntu_input(pixels, (1080, 1920))[0, :3, :2],
                               [[-1, -1], [1, 0], [-0.5, 0.125]])
    np.testing.assert_allclose(infer_wild_action.ntu_input(pixels, (1920, 1080))[0, 1, :2], [1, 0])  # portrait: h
    track = load_wild_inputs(SINGLE).tracks[0]
    motion = infer_wild_action.ntu_input(track.keypoints, (1080, 1920))
    sample = infer_wild_action.clip_sample(motion, 27, [2, 2])
    assert sample.shape == (2, 27, 17, 3) and sample.dtype == np.float32
    assert np.abs(sample[0, ..., :2]).max() <= 0.5 + 1e-6  # scale 2: the person fills the middle half
    assert (sample[1, ..., 2] == 0).all()


def test_one_result_per_person(tiny_action_model, tmp_path):
    config, checkpoint = tiny_action_model
    infer_wild_action.main(["--config", config, "-e", checkpoint, "-j", TWO, "-o", str(tmp_path)])
    assert sorted(os.listdir(tmp_path)) == ["action_1.json", "action_2.json", "manifest.json"]


def test_embedding_config_is_refused(tiny_action_model, tmp_path):
    config, checkpoint = tiny_action_model
    embed = tmp_path / "embed.yaml"
    embed.write_text(yaml.safe_dump(dict(TINY, model_version="embed")))
    with pytest.raises(UserError, match="gives embeddings, not classes"):
        infer_wild_action.main(["--config", str(embed), "-e", checkpoint, "-j", SINGLE, "-o", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def test_without_a_video_or_fps_no_seconds_are_claimed(tiny_action_model, tmp_path, capsys):
    config, checkpoint = tiny_action_model
    infer_wild_action.main(["--config", config, "-e", checkpoint, "-j", SINGLE, "-o", str(tmp_path), "--window", "20"])
    result = json.load(open(tmp_path / "action.json"))
    assert result["fps"] is None and all("seconds" not in w for w in result["windows"])
    with pytest.raises(UserError, match="--fps must be a positive number"):
        infer_wild_action.main(["--config", config, "-e", checkpoint, "-j", SINGLE, "-o", str(tmp_path / "o"),
                                "--fps", "0"])
    assert not (tmp_path / "o").exists()
