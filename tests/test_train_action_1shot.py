"""train_action_1shot.py: the one-shot protocol on the original's checkpoint, and a tiny end-to-end run
(train, resume, evaluate, strict finetune, torchrun) on a synthetic NTU-120 pickle."""
import json
import os
import shutil

import numpy as np
import pytest
import torch
import yaml

import train_action_1shot
from conftest import REPO, run_torchrun, TINY_BACKBONE, fixture_path, make_ntu_pickle, tensorboard_scalars
from lib.data.dataset_action import NTURGBD
from lib.model.model_action import ActionNet
from lib.utils.checkpoint import load_checkpoint, load_weights_from_file, model_state_for_saving, save_checkpoint
from lib.utils.learning import load_backbone
from lib.utils.tools import Config


@pytest.mark.parity
def test_validate_matches_original_and_is_deterministic():
    cfg = json.load(open(fixture_path("tasks", "config.json")))
    model = ActionNet(load_backbone(Config(cfg["bb"])), cfg["bb"]["dim_rep"], version="embed",
                      hidden_dim=cfg["embed_hidden"], dropout_ratio=0.1)
    load_weights_from_file(model, fixture_path("tasks", "action", "embed_best_epoch.bin"), key="model")
    path = fixture_path("tasks", "action", "ntu120_synth.pkl")
    kwargs = dict(n_frames=cfg["n_frames_1shot"], random_move=False, scale_range=[2, 2])
    anchors = torch.utils.data.DataLoader(NTURGBD(path, "oneshot_train", **kwargs), batch_size=3)
    queries = torch.utils.data.DataLoader(NTURGBD(path, "oneshot_val", **kwargs), batch_size=3)
    ref = float(np.load(fixture_path("tasks", "action", "embed_model.npz"))["oneshot_acc"])
    model.train()  # the original would evaluate with dropout on; ours switches to eval mode
    accs = [train_action_1shot.validate(anchors, queries, model).item() for _ in range(3)]
    assert accs == [pytest.approx(ref)] * 3


@pytest.fixture(scope="module")
def ntu120(tmp_path_factory):
    root = tmp_path_factory.mktemp("ntu120")
    # classes 0 and 6 are one-shot classes (every 6th); the others train the embedding
    labels = [1, 2, 3, 4, 5, 7] * 3 + [0, 6, 0, 6, 0, 6]
    make_ntu_pickle(root / "ntu120_hrnet.pkl", labels,
                    {"oneshot_train": [18, 19], "oneshot_val": [20, 21, 22, 23]}, seed=1, frames=(8, 20))
    shutil.copy(root / "ntu120_hrnet.pkl", root / "ntu120_hrnet_oneshot.pkl")
    return root


def write_config(root, name, **overrides):
    cfg = dict(TINY_BACKBONE, finetune=False, partial_train=None, epochs=2, batch_size=4, lr_backbone=0.0001,
               lr_head=0.001, weight_decay=0.01, lr_decay=0.99, model_version="embed", hidden_dim=8,
               dropout_ratio=0.1, clip_len=10, random_move=True, scale_range_train=[1, 3],
               scale_range_test=[2, 2], n_views=2, temp=0.1, data_root=str(root))
    cfg.update(overrides)
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def run(*argv):
    train_action_1shot.main(list(argv) + ["--workers", "0", "--no-progress"])


def test_train_resume_evaluate(ntu120, capsys):
    ckpt = ntu120 / "ckpt"
    run("--config", write_config(ntu120, "tiny"), "-c", str(ckpt))
    latest = load_checkpoint(ckpt / "latest_epoch.bin")
    assert latest["epoch"] == 2 and 0 <= latest["best_acc"] <= 1
    assert set(latest["model"]) >= {"module.head.fc1.weight", "module.backbone.pos_embed"}
    capsys.readouterr()
    run("--config", write_config(ntu120, "tiny3", epochs=3), "-c", str(ckpt))
    out = capsys.readouterr().out
    assert "Resuming after epoch 2" in out and "[3] time" in out
    run("--config", write_config(ntu120, "tiny"), "--evaluate", str(ckpt / "best_epoch.bin"))
    out = capsys.readouterr().out
    assert "One-shot accuracy" in out and "(4 clips, 2 anchors)" in out
    assert 0 <= json.load(open(ckpt / "best_epoch_eval.json"))["oneshot_accuracy"] <= 1


def test_strict_finetune_reads_best_epoch(ntu120, capsys):
    backbone = load_backbone(Config(TINY_BACKBONE))
    save_checkpoint(ntu120 / "pre" / "best_epoch.bin", {"epoch": 1, "model_pos": model_state_for_saving(backbone)})
    run("--config", write_config(ntu120, "ft", finetune=True, epochs=1), "-p", str(ntu120 / "pre"),
        "-c", str(ntu120 / "ft"))
    assert f"Loading backbone {ntu120 / 'pre' / 'best_epoch.bin'}" in capsys.readouterr().out
    # a Lite-sized file is refused with the strict loader's message
    big = load_backbone(Config(dict(TINY_BACKBONE, dim_feat=32)))
    save_checkpoint(ntu120 / "pre2" / "best_epoch.bin", {"model_pos": model_state_for_saving(big)})
    with pytest.raises(Exception, match="does not fit the model"):
        run("--config", write_config(ntu120, "ft2", finetune=True, epochs=1), "-p", str(ntu120 / "pre2"),
            "-c", str(ntu120 / "ft2"))


def test_torchrun_two_processes(ntu120):
    out_dir = ntu120 / "ddp"
    cfg = write_config(ntu120, "ddp", epochs=1)
    run_torchrun(os.path.join(REPO, "train_action_1shot.py"), cfg, out_dir)
    assert load_checkpoint(out_dir / "latest_epoch.bin")["epoch"] == 1


def test_partial_training_selects_the_same_parameters_after_resume(ntu120, capsys):
    backbone = load_backbone(Config(TINY_BACKBONE))
    save_checkpoint(ntu120 / "pre_partial" / "best_epoch.bin", {"model_pos": model_state_for_saving(backbone)})
    out_dir = ntu120 / "partial"
    common = dict(finetune=True, partial_train=["blocks_st", "head"])
    run("--config", write_config(ntu120, "partial1", epochs=1, **common), "-p", str(ntu120 / "pre_partial"),
        "-c", str(out_dir))
    trainable = capsys.readouterr().out.split("Trainable parameter count:")[1].split()[0]
    run("--config", write_config(ntu120, "partial2", epochs=2, **common), "-p", str(ntu120 / "pre_partial"),
        "-c", str(out_dir))  # resumes: the optimizer state must fit the same parameter selection
    out = capsys.readouterr().out
    assert "Resuming after epoch 1" in out
    assert out.split("Trainable parameter count:")[1].split()[0] == trainable
    first = load_checkpoint(out_dir / "latest_epoch.bin")
    assert first["epoch"] == 2
    assert len(first["optimizer"]["param_groups"][0]["params"]) < len(list(backbone.parameters()))


def test_tensorboard_scalars_are_the_originals(ntu120):
    run("--config", write_config(ntu120, "tags"), "-c", str(ntu120 / "tags"))
    assert tensorboard_scalars(ntu120 / "tags" / "logs") == {"train_loss_supcon": [1, 2], "test_top1": [1, 2]}
