"""The training engine: interrupts, resume bookkeeping, sharded prediction, worker counts."""
import os
import signal

import numpy as np
import pytest
import torch

from conftest import make_h36m_clips, write_pose3d_config
from lib.utils.checkpoint import load_checkpoint
from lib.utils.trainer import Runtime, deferred_interrupt


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
