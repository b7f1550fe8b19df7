"""train_mesh.py end to end with the synthetic body model: the H36M/COCO/3DPW schedule, resume,
evaluate, finetune, and the flip-averaged validation."""
import json
import pickle
import shutil
from unittest import mock

import numpy as np
import pytest
import smplx.vertex_ids
import torch
import yaml

import train_mesh
from conftest import TINY_BACKBONE, fixture_path, tensorboard_scalars
from lib.model.model_mesh import MeshRegressor
from lib.utils.checkpoint import CheckpointNotFoundError, load_checkpoint, model_state_for_saving, save_checkpoint
from lib.utils.learning import AverageMeter, load_backbone
from lib.utils.tools import Config

VERTEX_IDS = json.load(open(fixture_path("tasks", "smpl", "vertex_ids.json")))
SMPL_FILES = ("SMPL_NEUTRAL.pkl", "J_regressor_extra.npy", "J_regressor_h36m_correct.npy", "smpl_mean_params.npz")


@pytest.fixture(autouse=True)
def synthetic_vertex_ids():
    # the synthetic body model has 306 vertices; smplx's default extra-joint ids index 6890
    with mock.patch.dict(smplx.vertex_ids.vertex_ids["smplh"], VERTEX_IDS):
        yield


@pytest.fixture(scope="module")
def mesh_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mesh")
    for name in SMPL_FILES:
        shutil.copy(fixture_path("tasks", "smpl_chumpy", name), root / name)  # the official-style pickle
    pw3d = pickle.load(open(fixture_path("tasks", "smpl", "mesh_det_pw3d.pkl"), "rb"))
    with open(root / "mesh_det_pw3d.pkl", "wb") as f:
        pickle.dump(pw3d, f)
    # H36M-style (camera names) and COCO-style (single frames) copies of the same motions
    h36m = {split: dict(d, camera_name=["54138969"] * len(d["source"])) for split, d in pw3d.items()}
    for split in h36m:
        h36m[split]["joint_2d"] = h36m[split]["joint_2d"] * (1000 / 1920)
    with open(root / "mesh_det_h36m.pkl", "wb") as f:
        pickle.dump(h36m, f)
    coco = {split: dict(d, source=[f"img{i}" for i in range(len(d["source"]))]) for split, d in pw3d.items()}
    with open(root / "mesh_det_coco.pkl", "wb") as f:
        pickle.dump(coco, f)
    return root


def write_config(root, name, **overrides):
    cfg = dict(TINY_BACKBONE, finetune=False, partial_train=None, train_pw3d=True, warmup_h36m=1, warmup_coco=1,
               epochs=2, checkpoint_frequency=2, batch_size=2, batch_size_img=8, dropout=0.1, lr_backbone=0.0001,
               lr_head=0.0001, weight_decay=0.01, lr_decay=0.98, hidden_dim=32, data_root=str(root),
               dt_file_h36m="mesh_det_h36m.pkl", dt_file_coco="mesh_det_coco.pkl", dt_file_pw3d="mesh_det_pw3d.pkl",
               clip_len=8, data_stride=4, sample_stride=1, lambda_3d=0.5, lambda_scale=0, lambda_3dv=10,
               lambda_lv=0, lambda_lg=0, lambda_a=0, lambda_av=0, lambda_pose=1000, lambda_shape=1,
               lambda_norm=20, loss_type="L1", flip=True)
    cfg.update(overrides)
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def run(*argv):
    train_mesh.main(list(argv) + ["--workers", "0", "--no-progress"])


def test_train_resume_evaluate(mesh_root, capsys):
    ckpt = mesh_root / "ckpt"
    config = write_config(mesh_root, "tiny")
    run("--config", config, "-c", str(ckpt))
    out = capsys.readouterr().out
    assert out.count("[h36m]") == 1 and out.count("[pw3d]") == 2  # H36M only during its warm-up epoch
    assert (ckpt / "tiny.yaml").is_file()  # the config is copied into a new checkpoint folder
    for name in ("latest_epoch.bin", "best_epoch.bin", "epoch_1.bin"):
        assert (ckpt / name).is_file(), name
    latest = load_checkpoint(ckpt / "latest_epoch.bin")
    assert latest["epoch"] == 2 and latest["lr"] == pytest.approx([1e-4 * 0.98 ** 2] * 2)
    assert "module.head.smpl.J_regressor_h36m" in latest["model"]
    best = torch.load(ckpt / "best_epoch.bin", weights_only=True)
    assert type(best["best_jpe"]) is float and best["best_jpe"] < 9999
    assert len(best["optimizer"]["param_groups"][1]["params"]) == 15  # head incl. the 3 unused SMPL parameters

    run("--config", write_config(mesh_root, "tiny3", epochs=3), "-c", str(ckpt))
    out = capsys.readouterr().out
    assert "Resuming after epoch 2" in out and "[3] time" in out
    assert load_checkpoint(ckpt / "latest_epoch.bin")["epoch"] == 3

    run("--config", config, "--evaluate", str(ckpt / "best_epoch.bin"))
    out = capsys.readouterr().out
    assert "[h36m] loss" in out and "[pw3d] loss" in out
    report = json.load(open(ckpt / "best_epoch_eval.json"))
    best = load_checkpoint(ckpt / "best_epoch.bin")  # epoch 3 may have improved on it
    assert report["pw3d"]["mpjpe"] == pytest.approx(best["best_jpe"], rel=1e-6)


def test_h36m_only_config_selects_on_h36m(mesh_root, capsys):
    config = write_config(mesh_root, "h36m_only", epochs=2, warmup_h36m=1)
    cfg = yaml.safe_load(open(config))
    for key in ("dt_file_pw3d", "dt_file_coco", "warmup_coco", "train_pw3d"):
        del cfg[key]
    open(config, "w").write(yaml.safe_dump(cfg))
    run("--config", config, "-c", str(mesh_root / "h36m_only"))
    out = capsys.readouterr().out
    # after the warm-up H36M is still validated, since it is the only test set (the original crashed)
    assert out.count("[h36m] loss") == 2
    assert load_checkpoint(mesh_root / "h36m_only" / "latest_epoch.bin")["epoch"] == 2


def test_finetune_copies_backbone(mesh_root, capsys):
    backbone = load_backbone(Config(TINY_BACKBONE))
    save_checkpoint(mesh_root / "pre" / "latest_epoch.bin", {"model_pos": model_state_for_saving(backbone)})
    run("--config", write_config(mesh_root, "ft", finetune=True, epochs=1), "-p", str(mesh_root / "pre"),
        "-c", str(mesh_root / "ft"))
    assert "load_weight" in capsys.readouterr().out


def test_validate_function(mesh_root):
    args = Config(yaml.safe_load(open(write_config(mesh_root, "val"))))
    task_model = MeshRegressor(args, load_backbone(args), dim_rep=args.dim_rep, hidden_dim=32,
                               dropout_ratio=0.1)
    ds = train_mesh.MotionSMPL(args, "test", "pw3d")
    loader = torch.utils.data.DataLoader(ds, batch_size=2)
    loss, mpjpe, pa_mpjpe, mpve, losses = train_mesh.validate(loader, task_model, train_mesh.MeshLoss("L1"),
                                                              "pw3d", args=args)
    assert np.isfinite([loss, mpjpe, pa_mpjpe, mpve]).all() and pa_mpjpe <= mpjpe
    assert set(losses) == set(train_mesh.LOSS_WEIGHTS)
    # without flip averaging the metrics come from the plain forward pass
    args.flip = False
    plain = train_mesh.validate(loader, task_model, train_mesh.MeshLoss("L1"), "pw3d", args=args)
    assert plain[1] != mpjpe


def test_missing_smpl_files_listed(mesh_root, tmp_path):
    for name in ("mesh_det_pw3d.pkl", "mesh_det_h36m.pkl", "mesh_det_coco.pkl"):
        shutil.copy(mesh_root / name, tmp_path / name)
    with pytest.raises(FileNotFoundError, match=r"(?s)SMPL_NEUTRAL.pkl.*J_regressor_extra.npy.*smpl_mean_params"):
        run("--config", write_config(tmp_path, "nosmpl"), "-c", str(tmp_path / "c"))


def test_torchrun_two_processes(mesh_root, tmp_path):
    from conftest import REPO, run_torchrun
    # torchrun runs a wrapper that installs the synthetic model's vertex ids, then train_mesh.main
    wrapper = tmp_path / "run_train_mesh.py"
    wrapper.write_text(
        "import json, sys, smplx.vertex_ids\n"
        f"sys.path.insert(0, {REPO!r})\n"
        f"smplx.vertex_ids.vertex_ids['smplh'].update(json.load(open({fixture_path('tasks', 'smpl', 'vertex_ids.json')!r})))\n"
        "import train_mesh\n"
        "train_mesh.main()\n")
    out_dir = tmp_path / "ddp"
    run_torchrun(wrapper, write_config(mesh_root, "ddp", epochs=1), out_dir)
    assert load_checkpoint(out_dir / "latest_epoch.bin")["epoch"] == 1


def test_h36m_is_validated_right_after_its_training_pass(mesh_root, monkeypatch):
    # the original's epoch: H36M pass, H36M validation, COCO pass, 3DPW pass, 3DPW validation
    events = []

    class LoggedLoader:
        def __init__(self, loader, name):
            self.loader, self.name = loader, name

        def __iter__(self):
            events.append(f"train {self.name}")
            return iter(self.loader)

        def __len__(self):
            return len(self.loader)

    passes, validate = train_mesh.MeshTask.train_passes, train_mesh.MeshTask._validate

    def logged_passes(self, epoch):
        result = passes(self, epoch)
        for train_pass in result:
            train_pass.loader = LoggedLoader(train_pass.loader, train_pass.name)
        return result

    def logged_validate(self, model, name):
        events.append(f"validate {name}")
        return validate(self, model, name)

    monkeypatch.setattr(train_mesh.MeshTask, "train_passes", logged_passes)
    monkeypatch.setattr(train_mesh.MeshTask, "_validate", logged_validate)
    run("--config", write_config(mesh_root, "order"), "-c", str(mesh_root / "order"))
    assert events == ["train H36M", "validate h36m", "train COCO", "train 3DPW", "validate pw3d",
                      "train 3DPW", "validate pw3d"]


def test_tensorboard_scalars_are_the_originals(mesh_root):
    run("--config", write_config(mesh_root, "tags"), "-c", str(mesh_root / "tags"))
    terms = list(train_mesh.LOSS_WEIGHTS)
    # spec 05 §8: H36M validated in its warm-up epoch (1), 3DPW every epoch, the training meters every epoch
    h36m = [f"test_loss/{k}" for k in terms] + ["test_loss", "test_mpjpe", "test_pa_mpjpe", "test_mpve"]
    pw3d = [f"test_loss_pw3d/{k}" for k in terms] + ["test_loss_pw3d", "test_mpjpe_pw3d", "test_pa_mpjpe_pw3d",
                                                      "test_mpve_pw3d"]
    train = [f"train_loss/{k}" for k in terms] + ["train_loss", "train_mpjpe", "train_mpve"]
    expected = {**{tag: [1] for tag in h36m}, **{tag: [1, 2] for tag in pw3d + train}}
    assert tensorboard_scalars(mesh_root / "tags" / "logs") == expected


def test_a_missing_pretrained_file_leaves_no_checkpoint_folder(mesh_root):
    # neither the folder nor the copy of the config
    with pytest.raises(CheckpointNotFoundError, match="nowhere/latest_epoch.bin"):
        run("--config", write_config(mesh_root, "ft_nofile", finetune=True), "-p", str(mesh_root / "nowhere"),
            "-c", str(mesh_root / "ft_nofile"))
    assert not (mesh_root / "ft_nofile").exists()


def test_train_epoch_makes_one_optimizer_step_per_batch(mesh_root):
    args = Config(yaml.safe_load(open(write_config(mesh_root, "epoch"))))
    model = MeshRegressor(args, load_backbone(args), dim_rep=args.dim_rep, hidden_dim=32, dropout_ratio=0.1)
    loader = torch.utils.data.DataLoader(train_mesh.MotionSMPL(args, "train", "pw3d"), batch_size=2, drop_last=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.001)
    losses_dict = {name: AverageMeter() for name in train_mesh.LOSS_WEIGHTS}
    losses_train, mpjpes, mpves = AverageMeter(), AverageMeter(), AverageMeter()
    train_mesh.train_epoch(args, None, model, loader, losses_train, losses_dict, mpjpes, mpves,
                           train_mesh.MeshLoss("L1"), optimizer, AverageMeter(), AverageMeter(), 0)
    samples = 2 * len(loader)
    assert optimizer.state[model.head.head_pose.weight]["step"].item() == len(loader) > 0
    assert losses_train.count == mpjpes.count == mpves.count == losses_dict["loss_pose"].count == samples
    assert losses_train.avg > 0 and mpjpes.avg > 0
