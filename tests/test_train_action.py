"""train_action.py: the original's validation numbers, and a tiny end-to-end run (train, resume,
evaluate, finetune, torchrun) on a synthetic NTU pickle."""
import json
import os

import numpy as np
import pytest
import torch
import yaml

import train_action
from conftest import REPO, run_torchrun, TINY_BACKBONE, fixture_path, make_ntu_pickle, tensorboard_scalars
from lib.data.dataset_action import NTURGBD
from lib.model.model_action import ActionNet
from lib.utils.checkpoint import load_checkpoint, load_weights_from_file, model_state_for_saving, save_checkpoint
from lib.utils.learning import load_backbone
from lib.utils.tools import Config

CLASSES = 6


@pytest.mark.parity
def test_validate_matches_original():
    cfg = json.load(open(fixture_path("tasks", "config.json")))
    model = ActionNet(load_backbone(Config(cfg["bb_class"])), cfg["bb_class"]["dim_rep"],
                      num_classes=cfg["num_classes"], version="class")
    load_weights_from_file(model, fixture_path("tasks", "action", "class_best_epoch.bin"), key="model")
    ds = NTURGBD(fixture_path("tasks", "action", "ntu_synth.pkl"), "xsub_val", n_frames=cfg["n_frames"],
                 random_move=False, scale_range=[2, 2])
    loader = torch.utils.data.DataLoader(ds, batch_size=2)
    loss, top1, top5 = train_action.validate(loader, model, torch.nn.CrossEntropyLoss())
    ref = np.load(fixture_path("tasks", "action", "class_model.npz"))
    assert loss == pytest.approx(float(ref["val_loss"]), rel=1e-5)
    assert top1 == pytest.approx(float(ref["val_top1"]), abs=1e-4)
    assert top5 == pytest.approx(float(ref["val_top5"]), abs=1e-4)


@pytest.fixture(scope="module")
def ntu(tmp_path_factory):
    root = tmp_path_factory.mktemp("ntu")
    labels = [i % CLASSES for i in range(24)]
    make_ntu_pickle(root / "ntu_tiny.pkl", labels,
                    {"xsub_train": range(0, 16), "xsub_val": range(16, 24), "xview_train": range(8, 24),
                     "xview_val": range(0, 8)})
    return root


def write_config(root, name, **overrides):
    cfg = dict(TINY_BACKBONE, finetune=False, partial_train=None, epochs=2, batch_size=4, lr_backbone=0.0001,
               lr_head=0.001, weight_decay=0.01, lr_decay=0.99, model_version="class", hidden_dim=2048,
               dropout_ratio=0.5, dataset="ntu_tiny", data_split="xsub", clip_len=16, action_classes=CLASSES,
               random_move=True, scale_range_train=[1, 3], scale_range_test=[2, 2], data_root=str(root))
    cfg.update(overrides)
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def run(*argv):
    train_action.main(list(argv) + ["--workers", "0", "--no-progress"])


def test_train_resume_evaluate(ntu, capsys):
    ckpt = ntu / "ckpt"
    run("--config", write_config(ntu, "tiny"), "-c", str(ckpt))
    latest = load_checkpoint(ckpt / "latest_epoch.bin")
    assert latest["epoch"] == 2 and len(latest["lr"]) == 2
    assert latest["lr"] == pytest.approx([0.0001 * 0.99 ** 2, 0.001 * 0.99 ** 2])
    assert [g["initial_lr"] for g in latest["optimizer"]["param_groups"]] == [0.0001, 0.001]
    assert all(k.startswith("module.backbone.") or k.startswith("module.head.") for k in latest["model"])
    assert (ckpt / "best_epoch.bin").is_file() and os.listdir(ckpt / "logs")
    best = torch.load(ckpt / "best_epoch.bin", weights_only=True)
    assert type(best["best_acc"]) is float
    capsys.readouterr()

    run("--config", write_config(ntu, "tiny3", epochs=3), "-c", str(ckpt))
    out = capsys.readouterr().out
    assert "Resuming after epoch 2" in out and "[3] time" in out and "[2] time" not in out
    assert load_checkpoint(ckpt / "latest_epoch.bin")["epoch"] == 3

    run("--config", write_config(ntu, "tiny"), "--evaluate", str(ckpt / "best_epoch.bin"))
    out = capsys.readouterr().out
    assert "Acc@1" in out and "Acc@5" in out
    report = json.load(open(ckpt / "best_epoch_eval.json"))
    assert 0 <= report["top1_percent"] <= 100


def test_finetune_from_pretrained_backbone(ntu, capsys):
    backbone = load_backbone(Config(TINY_BACKBONE))
    save_checkpoint(ntu / "pre" / "latest_epoch.bin", {"epoch": 1, "model_pos": model_state_for_saving(backbone)})
    out_dir = ntu / "ft"
    run("--config", write_config(ntu, "ft", finetune=True, epochs=1), "-p", str(ntu / "pre"), "-c", str(out_dir))
    assert "load_weight" in capsys.readouterr().out
    saved = load_checkpoint(out_dir / "latest_epoch.bin")["model"]
    assert not torch.equal(saved["module.backbone.pos_embed"], backbone.pos_embed)  # trained from the loaded weights


def test_bad_split_and_labels(ntu):
    with pytest.raises(ValueError, match=r"split 'xfoo_train' is not in .*available splits: xsub_train"):
        run("--config", write_config(ntu, "badsplit", data_split="xfoo"), "-c", str(ntu / "b1"))
    with pytest.raises(ValueError, match=r"sample .* has label [345], outside \[0, 3\)"):
        run("--config", write_config(ntu, "badlabel", action_classes=3), "-c", str(ntu / "b2"))
    with pytest.raises(FileNotFoundError, match=r"nope.pkl.*docs/action.md"):
        run("--config", write_config(ntu, "nofile", dataset="nope"), "-c", str(ntu / "b3"))


def test_torchrun_two_processes(ntu):
    out_dir = ntu / "ddp"
    cfg = write_config(ntu, "ddp", epochs=1)
    run_torchrun(os.path.join(REPO, "train_action.py"), cfg, out_dir)
    ckpt = load_checkpoint(out_dir / "latest_epoch.bin")
    model = ActionNet(load_backbone(Config(TINY_BACKBONE)), 16, num_classes=CLASSES)
    from lib.utils.checkpoint import load_model_weights
    load_model_weights(model, ckpt["model"], "ddp")


def test_resumed_finetuning_does_not_read_the_pretrained_file(ntu, capsys):
    backbone = load_backbone(Config(TINY_BACKBONE))
    pretrained = ntu / "pre_gone" / "latest_epoch.bin"
    save_checkpoint(pretrained, {"epoch": 1, "model_pos": model_state_for_saving(backbone)})
    out_dir = ntu / "ft_resume"
    run("--config", write_config(ntu, "ft_r1", finetune=True, epochs=1), "-p", str(pretrained.parent),
        "-c", str(out_dir))
    os.remove(pretrained)  # the pretrained weights are in the checkpoint now
    capsys.readouterr()
    run("--config", write_config(ntu, "ft_r2", finetune=True, epochs=2), "-p", str(pretrained.parent),
        "-c", str(out_dir))
    out = capsys.readouterr().out
    assert "Resuming after epoch 1" in out and "Loading backbone" not in out
    assert load_checkpoint(out_dir / "latest_epoch.bin")["epoch"] == 2


def test_importing_the_scripts_leaves_the_random_generators_alone():
    import subprocess
    import sys
    draw = "import random, numpy, torch; print(random.random(), numpy.random.rand(), torch.rand(1).item())"
    seed = "import random, numpy, torch; random.seed(7); numpy.random.seed(7); torch.manual_seed(7)"
    outputs = [subprocess.run([sys.executable, "-c", f"{seed}; {imports}; {draw}"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout
               for imports in ("pass", "import train_action, train_action_1shot")]
    assert outputs[0] == outputs[1]


def test_numpy_state_when_training_starts_is_the_originals(ntu, monkeypatch):
    # the original builds the training set, then the validation set, and each construction re-seeds NumPy
    # and resamples clips with it; the model (built here right after the data sets) draws from torch only
    states = []
    build_model = train_action.ActionTask.build_model
    monkeypatch.setattr(train_action.ActionTask, "build_model",
                        lambda self: states.append(np.random.get_state()) or build_model(self))
    run("--config", write_config(ntu, "numpy_state", epochs=1), "-c", str(ntu / "numpy_state"))
    path = str(ntu / "ntu_tiny.pkl")
    NTURGBD(path, "xsub_train", n_frames=16, random_move=True, scale_range=[1, 3])
    NTURGBD(path, "xsub_val", n_frames=16, random_move=False, scale_range=[2, 2])
    expected = np.random.get_state()
    assert states[0][2] == expected[2] and (states[0][1] == expected[1]).all()


def test_tensorboard_scalars_are_the_originals(ntu):
    run("--config", write_config(ntu, "tags"), "-c", str(ntu / "tags"))
    tags = ["train_loss", "train_top1", "train_top5", "test_loss", "test_top1", "test_top5"]  # spec 04 §5
    assert tensorboard_scalars(ntu / "tags" / "logs") == {tag: [1, 2] for tag in tags}
