"""The training engine: interrupts, resume bookkeeping, sharded prediction, worker counts."""
import os
import signal

import numpy as np
import pytest
import torch

from conftest import make_h36m_clips, write_pose3d_config
from lib.utils.checkpoint import load_checkpoint
from lib.utils.tools import Config
from lib.utils.trainer import Runtime, Task, TrainPass, deferred_interrupt, parse_args, run


def test_deferred_interrupt_finishes_the_block_then_raises():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("write finished")
    assert done == ["write finished"]
    with deferred_interrupt():  # nothing pending: no exception
        pass


def test_ctrl_c_keeps_latest_checkpoint_valid(tmp_path, monkeypatch, capsys):
    import train
    make_h36m_clips(tmp_path)
    config = write_pose3d_config(tmp_path, "tiny", epochs=3)
    calls = {"n": 0}
    original = train.Pose3DTask.train_step

    def interrupted_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:  # second epoch (5 batches per epoch)
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(train.Pose3DTask, "train_step", interrupted_step)
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--config", config, "-c", str(tmp_path / "ckpt"), "--workers", "0", "--no-progress"])
    assert exit_info.value.code == 130
    assert "latest_epoch.bin holds the last completed epoch" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "ckpt" / "latest_epoch.bin")["epoch"] == 1
    assert [f for f in os.listdir(tmp_path / "ckpt") if f.endswith(".tmp")] == []


def test_predict_keeps_dataset_order():
    runtime = Runtime(device="cpu", workers=0, progress=False)
    data = torch.arange(10, dtype=torch.float32).reshape(10, 1)
    out = runtime.predict(data, batch_size=3, fn=lambda batch: {"x2": (batch * 2).numpy()})
    np.testing.assert_array_equal(out["x2"][:, 0], np.arange(10) * 2)


def test_worker_count_fits_the_machine():
    runtime = Runtime(device="cpu", progress=False)
    cpus = len(os.sched_getaffinity(0))
    assert runtime.num_workers(12) == min(12, cpus)
    assert Runtime(device="cpu", workers=0, progress=False).num_workers(12) == 0


@pytest.mark.slow
def test_compiled_training_saves_plain_keys(tmp_path):
    import train
    make_h36m_clips(tmp_path)
    config = write_pose3d_config(tmp_path, "tiny", epochs=1)
    train.main(["--config", config, "-c", str(tmp_path / "ckpt"), "--workers", "0", "--no-progress", "--compile"])
    keys = list(load_checkpoint(tmp_path / "ckpt" / "latest_epoch.bin")["model_pos"])
    assert keys[0] == "module.temp_embed" and not any("_orig_mod" in k for k in keys)


# --- best metric and resume, on a toy task whose evaluation returns scripted accuracies ----------------
class ScriptedTask(Task):
    """A linear model trained on random numbers; ``evaluate`` returns the next of ``scores`` (higher is
    better, as the action scripts' top-1)."""
    scores = iter(())
    meter_names = ("loss",)

    def __init__(self, args, opts, runtime):
        super().__init__(args, opts, runtime)
        data = torch.utils.data.TensorDataset(torch.randn(12, 3), torch.randn(12, 1))
        self.loader = runtime.loader(data, 4, shuffle=True)

    def build_model(self):
        return torch.nn.Linear(3, 1)

    def param_groups(self, model):
        return [{"params": list(model.parameters()), "lr": 0.01}]

    def train_passes(self, epoch):
        return [TrainPass("toy", self.loader)]

    def train_step(self, model, batch, meters):
        x, y = batch
        loss = ((model(x) - y) ** 2).mean()
        meters["loss"].update(loss.item(), len(x))
        return loss

    def evaluate(self, model):
        return {"metric": next(self.scores)}

    def epoch_line(self, epoch, meters, metrics, lr, minutes):
        return f"[{epoch + 1}] top1 {metrics['metric']}"


def run_scripted(folder, epochs, scores, *argv):
    ScriptedTask.scores = iter(scores)
    opts = parse_args("toy", ["--config", "toy.yaml", "-c", str(folder), "--workers", "0", "--no-progress", *argv])
    args = Config(dict(epochs=epochs, finetune=False, weight_decay=0.01, lr_decay=0.99))
    run(ScriptedTask, opts, args)


def saved(folder, name):
    ckpt = load_checkpoint(folder / name)
    return ckpt["epoch"], ckpt["best_acc"]


def test_latest_checkpoint_holds_the_best_metric_of_its_epoch(tmp_path):
    run_scripted(tmp_path, 2, [50.0, 60.0])
    assert saved(tmp_path, "best_epoch.bin") == (2, 60.0)
    assert saved(tmp_path, "latest_epoch.bin") == (2, 60.0)
    run_scripted(tmp_path, 3, [55.0])  # resumes; a worse epoch 3 must not replace the best model
    assert saved(tmp_path, "best_epoch.bin") == (2, 60.0)
    assert saved(tmp_path, "latest_epoch.bin") == (3, 60.0)


def test_resume_restores_the_best_metric(tmp_path, capsys):
    run_scripted(tmp_path / "a", 2, [50.0, 60.0])
    # resume into a new folder (no best_epoch.bin there): only latest_epoch.bin knows the best so far
    run_scripted(tmp_path / "b", 3, [55.0], "-r", str(tmp_path / "a" / "latest_epoch.bin"))
    assert "Resuming after epoch 2 (best best_acc 60.0)" in capsys.readouterr().out
    assert not (tmp_path / "b" / "best_epoch.bin").exists()
    assert saved(tmp_path / "b", "latest_epoch.bin") == (3, 60.0)


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs."""


def test_kill_between_the_checkpoint_writes_keeps_the_best_model(tmp_path, monkeypatch):
    import lib.utils.trainer as trainer
    writes = []
    save = trainer.save_checkpoint

    def killed_after_the_first_write_of_epoch_2(path, payload):
        if payload["epoch"] == 2 and any(epoch == 2 for epoch, _ in writes):
            raise Killed
        writes.append((payload["epoch"], os.path.basename(path)))
        return save(path, payload)

    monkeypatch.setattr(trainer, "save_checkpoint", killed_after_the_first_write_of_epoch_2)
    with pytest.raises(Killed):
        run_scripted(tmp_path, 2, [50.0, 60.0])
    monkeypatch.undo()
    assert writes[-1] == (2, "best_epoch.bin")  # the model of the best epoch is on disk first
    assert saved(tmp_path, "latest_epoch.bin") == (1, 50.0)
    # the resumed run repeats epoch 2; here it scores worse (e.g. nondeterministic GPU kernels)
    run_scripted(tmp_path, 3, [55.0, 58.0])
    assert saved(tmp_path, "best_epoch.bin") == (2, 60.0)
    assert saved(tmp_path, "latest_epoch.bin") == (3, 60.0)


def test_a_training_run_removes_stale_checkpoint_temporaries(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    stale = [tmp_path / ".epoch_29.bin.k2j4h6d1.tmp", tmp_path / ".best_epoch.bin.0a1b2c3d.tmp"]
    for path in stale:
        path.write_bytes(b"killed while writing")
    (tmp_path / "notes.tmp").write_text("not ours")
    run_scripted(tmp_path, 1, [50.0])
    assert not any(path.exists() for path in stale)
    assert (tmp_path / "notes.tmp").exists()


# --- torch's global random stream: drawn as the original's persistent loaders draw it -----------------------
def _one_draw():
    """What PyTorch draws from the global generator for a loader's worker seed or a shuffle seed."""
    torch.empty((), dtype=torch.int64).random_()


@pytest.mark.parametrize("workers", [0, 2])
def test_evaluation_draws_a_worker_seed_once_per_run(workers):
    runtime = Runtime(device="cpu", workers=workers, progress=False)
    data = torch.arange(10, dtype=torch.float32).reshape(10, 1)
    torch.manual_seed(0)
    _one_draw()  # the original's persistent test loader: one worker seed, when first iterated
    expected = torch.get_rng_state()
    torch.manual_seed(0)
    for _ in range(3):  # three epochs' evaluations
        out = runtime.predict(data, batch_size=3, fn=lambda batch: {"x": batch.numpy()})
        np.testing.assert_array_equal(out["x"][:, 0], np.arange(10))
        assert torch.equal(torch.get_rng_state(), expected)


def test_training_loader_without_workers_draws_like_persistent_workers():
    data = torch.utils.data.TensorDataset(torch.arange(20))
    torch.manual_seed(0)
    reference = torch.utils.data.DataLoader(data, batch_size=4, shuffle=True, num_workers=2, persistent_workers=True)
    expected = [([b.tolist() for (b,) in reference], torch.get_rng_state()) for _ in range(3)]
    torch.manual_seed(0)
    loader = Runtime(device="cpu", workers=0, progress=False).loader(data, 4, shuffle=True)
    got = [([b.tolist() for (b,) in loader], torch.get_rng_state()) for _ in range(3)]
    for (batches, state), (ref_batches, ref_state) in zip(got, expected):
        assert batches == ref_batches and torch.equal(state, ref_state)


def test_logging_and_checkpoint_writing_leave_the_random_generators_alone(tmp_path):
    import random
    from tensorboardX import SummaryWriter
    from tqdm import tqdm
    from lib.utils.trainer import CheckpointWriter

    def states():
        return random.getstate(), np.random.get_state()[1].tolist(), torch.get_rng_state()

    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.AdamW(model.parameters())
    before = states()
    writer = SummaryWriter(str(tmp_path / "logs"))
    writer.add_scalar("x", 1.0, 1)
    writer.close()
    list(tqdm(range(3), desc="x"))
    CheckpointWriter(ScriptedTask, str(tmp_path)).save("latest_epoch.bin", 0, optimizer, model, 1.0)
    after = states()
    assert after[0] == before[0] and after[1] == before[1] and torch.equal(after[2], before[2])


# --- --pretrained that would not be read; a run failing before its first checkpoint -------------------------
def test_pretrained_is_marked_when_given():
    given = parse_args("toy", ["--config", "x.yaml", "-p", "pre"])
    default = parse_args("toy", ["--config", "x.yaml"])
    assert (given.pretrained, given.pretrained_given) == ("pre", True)
    assert (default.pretrained, default.pretrained_given) == ("checkpoint", False)


def test_pretrained_without_finetune_is_refused_before_the_folder_is_made(tmp_path):
    from lib.utils.errors import OptionError
    with pytest.raises(OptionError, match=r"^--pretrained pre is not used: toy.yaml has finetune: false, .*; "
                                          r"drop --pretrained, or set finetune: true in toy.yaml to finetune$"):
        run_scripted(tmp_path / "out", 1, [50.0], "-p", "pre")
    assert not (tmp_path / "out").exists()


def test_pretrained_with_resume_is_a_warning(tmp_path, capsys):
    run_scripted(tmp_path / "a", 1, [50.0])
    ScriptedTask.scores = iter([55.0])
    opts = parse_args("toy", ["--config", "toy.yaml", "-c", str(tmp_path / "b"), "--workers", "0", "--no-progress",
                              "-p", "pre", "-r", str(tmp_path / "a" / "latest_epoch.bin")])
    run(ScriptedTask, opts, Config(dict(epochs=2, finetune=True, weight_decay=0.01, lr_decay=0.99)))
    assert "warning: --pretrained pre is not read: the weights come from --resume" in capsys.readouterr().err
    assert saved(tmp_path / "b", "latest_epoch.bin") == (2, 55.0)


@pytest.mark.parametrize("before", [None, [], ["notes.txt"], ["logs/old.txt"]],
                         ids=["new", "empty", "with-a-file", "with-logs"])
def test_a_run_failing_before_its_first_checkpoint_removes_what_it_made(tmp_path, monkeypatch, before):
    from lib.utils.errors import DataError
    folder = tmp_path / "out"
    for name in before or []:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("kept")
    if before == []:
        folder.mkdir()

    def bad_batch(self, *args):
        raise DataError("clip x.pkl is truncated")

    monkeypatch.setattr(ScriptedTask, "train_step", bad_batch)
    with pytest.raises(DataError):
        run_scripted(folder, 2, [50.0])
    if before is None:
        assert not folder.exists()
    else:
        assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == before
        assert (folder / "logs").exists() == any(name.startswith("logs/") for name in before)


def test_a_run_failing_after_a_checkpoint_keeps_its_folder(tmp_path):
    with pytest.raises(StopIteration):  # the scripted scores run out in the second epoch
        run_scripted(tmp_path / "out", 2, [50.0])
    assert saved(tmp_path / "out", "latest_epoch.bin") == (1, 50.0) and (tmp_path / "out" / "logs").is_dir()
