"""train.py end to end on a tiny model and the synthetic H36M data: train, resume, evaluate, finetune,
pretrain with 2D data, DDP with two gloo processes, and the bad-input errors."""
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
import yaml

import train
from conftest import (REPO, run_torchrun, TINY_POSE3D, fixture_path, make_h36m_clips, tensorboard_scalars,
                      write_pose3d_config as write_config)
from lib.data.dataset_motion_3d import MotionDataset3D
from lib.utils.checkpoint import CheckpointNotFoundError, load_checkpoint, load_model_weights
from lib.utils.config_schema import ConfigError
from lib.utils.learning import AverageMeter, load_backbone
from lib.utils.tools import get_config

@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("pose3d")
    make_h36m_clips(root)
    return root


def run_train(*argv):
    return train.main(list(argv) + ["--workers", "0", "--no-progress"])


@pytest.fixture(scope="module")
def trained(data):
    config = write_config(data, "tiny")
    ckpt = data / "ckpt"
    run_train("--config", config, "-c", str(ckpt))
    return data, config, ckpt


def test_training_writes_checkpoints_and_logs(trained, capsys):
    _, _, ckpt = trained
    for name in ("latest_epoch.bin", "best_epoch.bin", "epoch_0.bin", "epoch_1.bin"):
        assert (ckpt / name).is_file(), name
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(ckpt / "logs"))
    latest = load_checkpoint(ckpt / "latest_epoch.bin")
    assert latest["epoch"] == 2 and isinstance(latest["lr"], float)
    assert latest["lr"] == pytest.approx(0.0005 * 0.99 ** 2)
    assert all(k.startswith("module.") for k in latest["model_pos"])
    best = torch.load(ckpt / "best_epoch.bin", weights_only=True)  # plain Python numbers only
    assert type(best["min_loss"]) is float and best["min_loss"] < 100000


def test_resume_continues_from_epoch_3_with_optimizer_state(trained, capsys):
    data, _, ckpt = trained
    work = data / "resume"
    shutil.copytree(ckpt, work)
    steps_per_epoch = int(np.ceil(35 / 8))
    before = load_checkpoint(work / "latest_epoch.bin")
    assert before["optimizer"]["state"][0]["step"].item() == 2 * steps_per_epoch
    config = write_config(data, "tiny3", epochs=3)
    run_train("--config", config, "-c", str(work))  # automatic resume from latest_epoch.bin
    out = capsys.readouterr().out
    assert "Resuming after epoch 2" in out and "[3] time" in out and "[1] time" not in out
    after = load_checkpoint(work / "latest_epoch.bin")
    assert after["epoch"] == 3
    assert after["optimizer"]["state"][0]["step"].item() == 3 * steps_per_epoch
    assert after["lr"] == pytest.approx(0.0005 * 0.99 ** 3)


def test_evaluate_prints_table_and_writes_json(trained, capsys):
    _, config, ckpt = trained
    run_train("--config", config, "--evaluate", str(ckpt / "best_epoch.bin"))
    out = capsys.readouterr().out
    assert "| test_name |" in out and "Protocol #1 Error (MPJPE):" in out
    report = json.load(open(ckpt / "best_epoch_eval.json"))
    assert set(report["per_action"]) == {"Directions", "Greeting", "Waiting", "Walking"}
    best = load_checkpoint(ckpt / "best_epoch.bin")
    assert report["protocol_1_mpjpe_mm"] == pytest.approx(best["min_loss"])


def test_finetune_from_pretrained_backbone(trained, capsys):
    data, _, ckpt = trained
    config = write_config(data, "tiny_ft", finetune=True, epochs=1)
    out_dir = data / "ft"
    run_train("--config", config, "-p", str(ckpt), "-ms", "best_epoch.bin", "-c", str(out_dir))
    out = capsys.readouterr().out
    assert f"Loading checkpoint {ckpt / 'best_epoch.bin'}" in out
    assert load_checkpoint(out_dir / "latest_epoch.bin")["epoch"] == 1


def test_tensorboard_scalars_are_the_originals(trained):
    _, _, ckpt = trained
    # spec 02 §7.5: these tags, at steps epoch + 1
    tags = ["Error P1", "Error P2", "loss_3d_pos", "loss_2d_proj", "loss_3d_scale", "loss_3d_velocity", "loss_lv",
            "loss_lg", "loss_a", "loss_av", "loss_total"]
    # tensorboardX writes 'Error P1' as 'Error_P1' (so did the original, which used it too)
    assert tensorboard_scalars(ckpt / "logs") == {tag.replace(" ", "_"): [1, 2] for tag in tags}


def test_a_missing_pretrained_file_leaves_no_checkpoint_folder(data):
    config = write_config(data, "tiny_ft_nofile", finetune=True, epochs=1)
    with pytest.raises(CheckpointNotFoundError, match="nowhere/latest_epoch.bin"):
        run_train("--config", config, "-p", str(data / "nowhere"), "-c", str(data / "ft_nofile"))
    assert not (data / "ft_nofile").exists()


def test_train_epoch_makes_one_optimizer_step_per_batch(data):
    cfg = get_config(write_config(data, "tiny_epoch"))
    model = load_backbone(cfg)
    loader = torch.utils.data.DataLoader(MotionDataset3D(cfg, cfg.subset_list, "train"), batch_size=8)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.001)
    before = model.head.weight.detach().clone()
    losses = {name: AverageMeter() for name in train.METER_NAMES}
    train.train_epoch(cfg, model, loader, losses, optimizer, has_3d=True, has_gt=True)
    assert optimizer.state[model.head.weight]["step"].item() == len(loader) == 5
    assert losses["3d_pos"].count == losses["total"].count == len(loader.dataset)
    assert not torch.equal(model.head.weight, before) and model.training


def test_the_stream_loss_counts_the_clips_last_frames_again():
    """stream_frames/lambda_stream: the 3D loss of the last frames (as if they were a clip of their own) is
    added with its weight; an error in the first frames does not reach it."""
    cfg = dict(no_conf=False, rootrel=False, noise=False, lambda_scale=0.5, lambda_3d_velocity=20.0, lambda_lv=0.0,
               lambda_lg=0.0, lambda_a=0.0, lambda_av=0.0)
    gen = torch.Generator().manual_seed(0)
    gt = torch.randn(2, 9, 17, 3, generator=gen)
    gt[:, :, 0, 2] = 0  # root depth 0 in every frame: the target of any run of frames is its slice of gt
    inputs = torch.randn(2, 9, 17, 3, generator=gen)

    def loss(cfg, pred, frames=slice(None)):
        from easydict import EasyDict
        return train.pose3d_loss(EasyDict(cfg), lambda x: pred[:, frames], inputs[:, frames], gt[:, frames].clone(),
                                 has_3d=True, has_gt=True)

    stream = dict(cfg, stream_frames=3, lambda_stream=2.0)
    early, late = gt.clone(), gt.clone()
    early[:, 0] += 0.5
    late[:, -1] += 0.5
    total, terms = loss(stream, early)
    assert terms["stream"].item() == 0 and torch.allclose(total, loss(cfg, early)[0])
    total, terms = loss(stream, late)
    last_three, _ = loss(cfg, late, slice(-3, None))
    assert terms["stream"].item() > 0 and torch.allclose(terms["stream"], last_three)
    assert torch.allclose(total, loss(cfg, late)[0] + 2.0 * last_three)


def test_fine_tuning_for_streaming_logs_the_stream_term(trained):
    data, _, ckpt = trained
    config = write_config(data, "tiny_stream", finetune=True, epochs=1, stream_frames=2, lambda_stream=1.0)
    run_train("--config", config, "-p", str(ckpt), "-c", str(data / "ft_stream"))
    scalars = tensorboard_scalars(data / "ft_stream" / "logs")
    assert "loss_stream" in scalars and "loss_total" in scalars


def _posetrack_json(folder, n_frames=32, seed=0):
    rng = np.random.default_rng(seed)
    anns = []
    base = rng.uniform(100, 400, size=(17, 2))
    for t in range(n_frames):
        kp = np.concatenate([base + t + rng.normal(0, 2, size=(17, 2)), np.ones((17, 1))], axis=1)
        anns.append({"track_id": 0, "keypoints": kp.reshape(-1).tolist()})
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "000001_mpii_train.json"), "w") as f:
        json.dump({"images": [], "annotations": anns}, f)


def _insta_npy(folder, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    motion = rng.uniform(-1, 1, size=(200, 17, 3)).astype(np.float32)
    motion[..., 2] = 1
    np.save(os.path.join(folder, "motion_all.npy"), motion)
    np.save(os.path.join(folder, "id_all.npy"), np.repeat(np.arange(2), 100).astype(np.float64))


def test_pretraining_with_2d_data_runs_an_epoch(data, capsys):
    _posetrack_json(str(data / "posetrack"))
    _insta_npy(str(data / "insta"))
    config = write_config(
        data, "tiny_pretrain", maxlen=81, train_2d=True, pretrain_3d_curriculum=0, epochs=1, synthetic=True, noise=True,
        mask_ratio=0.05, mask_T_ratio=0.1, noise_path=os.path.join(REPO, "params", "synthetic_noise.pth"),
        d2c_params_path=os.path.join(REPO, "params", "d2c_params.pkl"),
        posetrack_root=str(data / "posetrack") + "/", insta_root=str(data / "insta") + "/")
    run_train("--config", config, "-c", str(data / "pretrain"))
    latest = load_checkpoint(data / "pretrain" / "latest_epoch.bin")
    assert latest["epoch"] == 1


def test_no_eval_trains_without_best_checkpoint(data):
    config = write_config(data, "tiny_noeval", no_eval=True, epochs=1)
    run_train("--config", config, "-c", str(data / "noeval"))
    assert (data / "noeval" / "latest_epoch.bin").is_file()
    assert not (data / "noeval" / "best_epoch.bin").exists()


def test_ddp_two_gloo_processes(trained):
    data, config, _ = trained
    out_dir = data / "ddp"
    cfg = write_config(data, "tiny_ddp", epochs=1)
    result = run_torchrun(os.path.join(REPO, "train.py"), cfg, out_dir)
    assert result.stdout.count("[1] time") == 1  # only rank 0 reports
    ckpt = load_checkpoint(out_dir / "latest_epoch.bin")
    assert all(k.startswith("module.") and not k.startswith("module.module.") for k in ckpt["model_pos"])
    model = load_backbone(get_config(cfg))
    load_model_weights(model, ckpt["model_pos"], "ddp")  # loads into the single-process model


def test_missing_dataset_file(data):
    config = write_config(data, "tiny_missing", dt_file="nope.pkl")
    with pytest.raises(FileNotFoundError, match=r"nope.pkl.*docs/pose3d.md"):
        run_train("--config", config, "-c", str(data / "x1"))


def test_missing_and_empty_clip_folder(data):
    config = write_config(data, "tiny_noclips", data_root=str(data / "nowhere") + "/")
    with pytest.raises(FileNotFoundError, match=r"nowhere/H36M-SH/train.*not found.*docs/pose3d.md"):
        run_train("--config", config, "-c", str(data / "x2"))
    os.makedirs(data / "empty" / "H36M-SH" / "train")
    shutil.copytree(data / "clips" / "H36M-SH" / "test", data / "empty" / "H36M-SH" / "test")
    config = write_config(data, "tiny_empty", data_root=str(data / "empty") + "/")
    with pytest.raises(FileNotFoundError, match=r"empty/H36M-SH/train is empty"):
        run_train("--config", config, "-c", str(data / "x3"))


def test_config_missing_key(data):
    cfg = dict(TINY_POSE3D, data_root=str(data / "clips") + "/", dt_root=fixture_path("pose3d"))
    del cfg["learning_rate"]
    path = data / "nolr.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"nolr.yaml: missing key 'learning_rate' \(read by train.py\)"):
        run_train("--config", str(path), "-c", str(data / "x4"))
    assert not (data / "x4").exists()


def test_unknown_camera_names_the_frame(data):
    raw = pickle.load(open(fixture_path("pose3d", "h36m_synthetic.pkl"), "rb"))
    raw["test"]["camera_name"] = np.array(raw["test"]["camera_name"], dtype=object)
    raw["test"]["camera_name"][7] = "cam?"
    with open(data / "badcam.pkl", "wb") as f:
        pickle.dump(raw, f)
    config = write_config(data, "tiny_badcam", dt_root=str(data), dt_file="badcam.pkl")
    with pytest.raises(ValueError, match="7 data item has an invalid camera name 'cam\\?'"):
        run_train("--config", config, "-c", str(data / "x5"))


def test_bf16_evaluation_and_amp_training(trained, capsys):
    data, config, ckpt = trained
    run_train("--config", config, "--evaluate", str(ckpt / "best_epoch.bin"), "--precision", "bf16")
    bf16 = json.load(open(ckpt / "best_epoch_eval.json"))["protocol_1_mpjpe_mm"]
    run_train("--config", config, "--evaluate", str(ckpt / "best_epoch.bin"))
    fp32 = json.load(open(ckpt / "best_epoch_eval.json"))["protocol_1_mpjpe_mm"]
    assert bf16 != fp32 and bf16 == pytest.approx(fp32, rel=0.02)
    out_dir = data / "amp"
    run_train("--config", write_config(data, "tiny_amp", epochs=1), "-c", str(out_dir), "--amp")
    assert load_checkpoint(out_dir / "latest_epoch.bin")["epoch"] == 1


def test_save_checkpoint_writes_the_original_layout(tmp_path):
    model = load_backbone(get_config(write_config(tmp_path, "tiny")))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    train.save_checkpoint(str(tmp_path / "x.bin"), 4, 0.05, optimizer, model, np.float64(12.5))
    ckpt = torch.load(tmp_path / "x.bin", weights_only=True)
    assert ckpt["epoch"] == 5 and ckpt["lr"] == 0.05 and ckpt["min_loss"] == 12.5
    assert sorted(ckpt) == ["epoch", "lr", "min_loss", "model_pos", "optimizer"]
    assert next(iter(ckpt["model_pos"])) == "module.temp_embed"


def test_two_process_evaluation_equals_single_process(trained):
    data, config, ckpt = trained
    best = data / "ddp_eval" / "best_epoch.bin"
    best.parent.mkdir()
    shutil.copy(ckpt / "best_epoch.bin", best)
    report = best.parent / "best_epoch_eval.json"
    run_train("--config", config, "--evaluate", str(best))
    single = json.load(open(report))
    os.remove(report)
    # 17 test clips: 9 in one process, 8 in the other; the gathered predictions must be in clip order
    run_torchrun(os.path.join(REPO, "train.py"), config, data / "ddp_eval", "--evaluate", best)
    double = json.load(open(report))
    assert list(double["per_action"]) == list(single["per_action"])
    for name, errors in single["per_action"].items():
        assert double["per_action"][name] == pytest.approx(errors, rel=1e-6)
    assert double["protocol_1_mpjpe_mm"] == pytest.approx(single["protocol_1_mpjpe_mm"], rel=1e-6)
    assert double["protocol_2_p_mpjpe_mm"] == pytest.approx(single["protocol_2_p_mpjpe_mm"], rel=1e-6)


# --- run for run: the original's training run on the synthetic data (tests/fixtures/training) ---------------
ORIGINAL_RUN = json.load(open(fixture_path("training", "training_run.json")))
EPOCH_LINE = r"\[(\d+)\] time [\d.]+ lr ([\d.]+) 3d_train ([\d.]+) e1 ([\d.]+) e2 ([\d.]+)"


@pytest.mark.parametrize("flip,workers", [(True, 12), (False, 12), (False, 0)],
                         ids=["flip-12-workers", "no-flip-12-workers", "no-flip-no-workers"])
def test_training_reproduces_the_originals_run(data, capsys, flip, workers):
    # same seed, config and worker count as the original's run: the same initial weights, batches, flips and
    # losses; without flipping nothing random happens inside the workers, so their number does not matter
    import re
    import warnings
    config = yaml.safe_load(ORIGINAL_RUN["config_yaml"].replace("FLIP", str(flip)))
    config.update(data_root=str(data / "clips") + "/", dt_root=fixture_path("pose3d"))
    path = data / f"original_run_{flip}.yaml"
    path.write_text(yaml.safe_dump(config))
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="This DataLoader will create")  # more workers than CPUs
        train.main(["--config", str(path), "-c", str(data / f"original_run_{flip}_{workers}"), "--seed", "0",
                    "--workers", str(workers), "--no-progress"])
    epochs = re.findall(EPOCH_LINE, capsys.readouterr().out)
    original = ORIGINAL_RUN["runs"]["flip_true" if flip else "flip_false"]
    assert [int(e[0]) for e in epochs] == [r["epoch"] for r in original]
    for (_, lr, loss, e1, e2), reference in zip(epochs, original):
        assert float(lr) == reference["lr"]
        assert float(loss) == pytest.approx(reference["loss_3d_pos"], rel=5e-5)
        assert float(e1) == pytest.approx(reference["e1"], rel=1e-5)
        assert float(e2) == pytest.approx(reference["e2"], rel=1e-5)


# --- user errors found before anything is written ----------------------------------------------------------
@pytest.mark.parametrize("script", ["train", "train_action", "train_action_1shot", "train_mesh"])
def test_pretrained_with_a_scratch_config_is_refused_before_anything(tmp_path, script):
    import importlib
    tests = importlib.import_module("test_" + script)
    config = (write_config(tmp_path, "scratch") if script == "train" else tests.write_config(tmp_path, "scratch"))
    (tmp_path / "pre").mkdir()
    (tmp_path / "pre" / "latest_epoch.bin").write_bytes(b"PK\x03\x04 truncated")  # never read
    from lib.utils.errors import OptionError
    with pytest.raises(OptionError, match=rf"^--pretrained {tmp_path}/pre is not used: {tmp_path}/scratch.yaml has "
                                          r"finetune: false.*drop --pretrained, or set finetune: true"):
        importlib.import_module(script).main(["--config", config, "-p", str(tmp_path / "pre"),
                                              "-c", str(tmp_path / "out"), "--workers", "0", "--no-progress"])
    assert not (tmp_path / "out").exists()


def test_pretrained_with_evaluate_is_a_warning(trained, capsys):
    data, _, ckpt = trained
    config = write_config(data, "tiny_ft_eval", finetune=True)
    run_train("--config", config, "-p", str(data / "nowhere"), "--evaluate", str(ckpt / "best_epoch.bin"))
    err = capsys.readouterr().err
    assert f"warning: --pretrained {data / 'nowhere'} is not read: the weights come from --evaluate" in err


def test_sixteen_joints_are_refused_before_the_first_batch(data):
    config = write_config(data, "tiny_j16", num_joints=16)
    with pytest.raises(ConfigError, match=r"tiny_j16.yaml: key 'num_joints' must be 17, got 16"):
        run_train("--config", config, "-c", str(data / "x_j16"))
    assert not (data / "x_j16").exists()


def test_a_damaged_clip_in_the_first_batch_leaves_no_folder(data):
    from lib.utils.errors import DataError
    shutil.copytree(data / "clips", data / "damaged")
    for clip in (data / "damaged" / "H36M-SH" / "train").iterdir():
        clip.write_bytes(clip.read_bytes()[:100])
    config = write_config(data, "tiny_damaged", data_root=str(data / "damaged") + "/")
    with pytest.raises(DataError, match=r"damaged/H36M-SH/train/\d+.pkl: it is truncated, corrupt or not a pickle"):
        run_train("--config", config, "-c", str(data / "x_damaged"))
    assert not (data / "x_damaged").exists()
