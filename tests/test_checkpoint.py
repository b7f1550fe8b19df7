"""The checkpoint module: original formats, safe loading, clear mismatch errors, atomic saving."""
import argparse
import json
import os
import re
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from conftest import fixture_path
from lib.utils import checkpoint as ckpt_mod
from lib.utils.checkpoint import (CheckpointError, CheckpointMismatchError, infer_backbone_sizes, load_checkpoint,
                                  load_model_weights, load_weights_from_file, match_released_backbone,
                                  model_state_for_saving, save_checkpoint, state_dict_from_checkpoint)
from lib.utils.errors import UserError
from lib.utils.learning import load_backbone
from lib.utils.tools import Config, get_config

CONFIGS = json.load(open(fixture_path("pose3d", "backbone_configs.json")))
A = CONFIGS[0]


def fixture_model(entry=A):
    return load_backbone(Config(entry["config"]))


@pytest.mark.parametrize("entry", CONFIGS[:2], ids=[c["name"] for c in CONFIGS[:2]])
def test_fixture_checkpoints_load_safely(entry):
    path = fixture_path("pose3d", entry["checkpoint"])
    ckpt = load_checkpoint(path)  # weights_only=True underneath
    contents = entry["checkpoint_contents"]
    assert sorted(ckpt) == sorted(contents["keys"])
    assert isinstance(ckpt["min_loss"], np.float64) and ckpt["min_loss"] == contents["min_loss"]
    assert ckpt["epoch"] == contents["epoch"] and ckpt["lr"] == contents["lr"]
    assert all(k.startswith("module.") for k in ckpt["model_pos"])
    model = fixture_model(entry)
    load_model_weights(model, ckpt["model_pos"], path)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    optimizer.load_state_dict(ckpt["optimizer"])  # the optimizer state indexes the same parameter order
    assert len(optimizer.state) == contents["optimizer_num_states"]


def test_plain_torch_load_rejects_but_we_accept():
    path = fixture_path("pose3d", A["checkpoint"])
    with pytest.raises(Exception):
        torch.load(path, weights_only=True)
    assert load_checkpoint(path)["min_loss"] > 0


def test_numpy_1x_scalar_names_load(tmp_path):
    # a file written under NumPy 1.x names its scalar global numpy.core.multiarray.scalar
    src, dst = tmp_path / "np2.bin", tmp_path / "np1.bin"
    torch.save({"min_loss": np.float64(3.5), "model_pos": {"w": torch.ones(2)}}, src)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("data.pkl"):
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            zout.writestr(info, data)
    assert "numpy.core.multiarray.scalar" in torch.serialization.get_unsafe_globals_in_checkpoint(str(dst))
    assert load_checkpoint(dst)["min_loss"] == 3.5


@pytest.mark.parametrize("config", ["configs/pretrain/MB_pretrain.yaml", "configs/pretrain/MB_lite.yaml"])
def test_manifest_matches_load_backbone(config):
    name = os.path.splitext(os.path.basename(config))[0]
    manifest = json.load(open(fixture_path("pose3d", f"manifest_{name}.json")))
    model = load_backbone(get_config(config))
    saved = model_state_for_saving(model)
    assert [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in saved.items()] == manifest["state_dict"]
    assert [["module." + k, list(p.shape)] for k, p in model.named_parameters()] == manifest["named_parameters"]
    assert sum(p.numel() for p in model.parameters()) == manifest["num_params"]
    assert len(saved) == manifest["num_tensors"] == 260
    assert match_released_backbone(infer_backbone_sizes(saved)) == {
        "MB_pretrain": "MotionBERT", "MB_lite": "MotionBERT-Lite"}[name]


def test_lite_file_into_full_model_names_the_right_config():
    lite = model_state_for_saving(load_backbone(get_config("configs/pretrain/MB_lite.yaml")))
    full = load_backbone(get_config("configs/pose3d/MB_ft_h36m.yaml"))
    with pytest.raises(CheckpointMismatchError) as err:
        load_model_weights(full, lite, "checkpoint/pretrain/MB_release/lite.bin")
    msg = str(err.value)
    assert "checkpoint/pretrain/MB_release/lite.bin" in msg
    assert "MotionBERT-Lite" in msg and "MB_lite.yaml" in msg
    assert "different shapes" in msg and "temp_embed" in msg


def test_missing_and_unexpected_keys_in_one_message():
    model = fixture_model()
    sd = {k: v for k, v in model.state_dict().items() if not k.startswith("ts_attn.1")}
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError) as err:
        load_model_weights(model, sd, "f.bin")
    msg = str(err.value)
    assert "missing in the file (2): ts_attn.1.weight, ts_attn.1.bias" in msg
    assert "not in the model (1): extra.weight" in msg


def test_task_checkpoint_without_backbone_is_reported():
    with pytest.raises(CheckpointMismatchError, match="no DSTformer backbone"):
        load_model_weights(fixture_model(), {"head.fc1.weight": torch.zeros(2, 2)}, "f.bin")


def test_prefix_and_wrapping_are_handled():
    ckpt = load_checkpoint(fixture_path("pose3d", A["checkpoint"]))
    bare = {k[len("module."):]: v for k, v in ckpt["model_pos"].items()}
    for state in (ckpt["model_pos"], bare):
        for model in (fixture_model(), nn.DataParallel(fixture_model())):
            load_model_weights(model, state, "f.bin")
            inner = model.module if isinstance(model, nn.DataParallel) else model
            torch.testing.assert_close(inner.pos_embed, bare["pos_embed"])


def test_state_dict_formats():
    sd = {"a": torch.zeros(1)}
    assert state_dict_from_checkpoint({"model_pos": sd, "epoch": 1}) is sd
    assert state_dict_from_checkpoint({"model": sd, "epoch": 1}) is sd
    assert state_dict_from_checkpoint({"state_dict": sd}) is sd
    assert state_dict_from_checkpoint(sd) is sd
    assert state_dict_from_checkpoint({"model": {"b": torch.ones(1)}, "model_pos": sd}, key="model")["b"] == 1
    with pytest.raises(CheckpointError, match="holds no model weights"):
        state_dict_from_checkpoint({"epoch": 3}, path="x.bin")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.bin") as err:
        load_checkpoint(tmp_path / "nope.bin")
    assert isinstance(err.value, UserError)


def _fixture_bytes():
    return open(fixture_path("pose3d", A["checkpoint"]), "rb").read()


def test_truncated_file(tmp_path):
    data = _fixture_bytes()
    path = tmp_path / "cut.bin"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.bin: it is truncated or corrupt"):
        load_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="cut.bin: it is empty"):
        load_checkpoint(path)


def test_truncated_latest_names_the_epoch_to_resume_from(tmp_path):
    data = _fixture_bytes()
    for name, content in (("epoch_3.bin", data), ("epoch_12.bin", data), ("epoch_13.bin", data[:500]),
                          ("latest_epoch.bin", data[:-100])):
        (tmp_path / name).write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "latest_epoch.bin")
    assert f"resume from the last saved epoch with --resume {tmp_path / 'epoch_12.bin'}" in str(err.value)
    for name in ("epoch_3.bin", "epoch_12.bin"):
        os.unlink(tmp_path / name)
    with pytest.raises(CheckpointError, match="delete .*latest_epoch.bin to start afresh"):
        load_checkpoint(tmp_path / "latest_epoch.bin")


@pytest.mark.parametrize("name, content, what", [
    ("image.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "not a PyTorch checkpoint (a PNG image)"),
    ("notes.txt", b"hello world\n", "not a PyTorch checkpoint (12 bytes of something else)"),
    ("zeros.bin", bytes(4096), "not a PyTorch checkpoint"),
])
def test_non_checkpoints_are_named_as_such(tmp_path, name, content, what):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(CheckpointError, match=re.escape(what)) as err:
        load_checkpoint(tmp_path / name)
    assert "weights_only" not in str(err.value) and "arbitrary code" not in str(err.value)


def test_random_bytes_never_give_the_security_message_or_a_raw_error(tmp_path):
    rng = np.random.default_rng(0)  # among these, torch itself raises IndexError and KeyError for some
    for i in range(40):
        path = tmp_path / f"random{i}.bin"
        path.write_bytes(rng.bytes(int(rng.integers(1, 5000))))
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(path)
        message = str(err.value)
        assert f"random{i}.bin" in message and "not a PyTorch checkpoint" in message, message
        assert "weights_only" not in message and "arbitrary code" not in message, message


def test_an_npz_archive_is_not_a_checkpoint(tmp_path):
    np.savez(tmp_path / "arrays.npz", a=np.ones(3))
    with pytest.raises(CheckpointError, match="arrays.npz: it is a zip archive but not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "arrays.npz")


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.txt"):
        load_checkpoint(path)
    torch.save([1, 2, 3], tmp_path / "list.bin")
    with pytest.raises(CheckpointError, match="does not hold a checkpoint dict"):
        load_checkpoint(tmp_path / "list.bin")


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_malicious_pickle_does_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"model_pos": {}, "payload": _Evil()}, tmp_path / "evil.bin")
    with pytest.raises(CheckpointError, match="evil.bin: it holds the Python object posix.system.*arbitrary code") \
            as err:
        load_checkpoint(tmp_path / "evil.bin")
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()
    assert "weights_only" not in str(err.value)  # no hint at an unsafe load
    torch.save({"model_pos": {}, "args": argparse.Namespace(lr=1)}, tmp_path / "namespace.bin")
    with pytest.raises(CheckpointError, match="holds the Python object argparse.Namespace"):
        load_checkpoint(tmp_path / "namespace.bin")


def test_saved_files_use_original_layout_and_plain_numbers(tmp_path):
    model = fixture_model()
    path = save_checkpoint(tmp_path / "best_epoch.bin", {
        "epoch": 1, "lr": 1e-4, "model_pos": model_state_for_saving(nn.DataParallel(model)),
        "min_loss": np.float64(12.5), "best_acc": torch.tensor(80.0)})
    raw = torch.load(path, weights_only=True)  # no allow-list needed for our own files
    assert type(raw["min_loss"]) is float and raw["min_loss"] == 12.5
    assert type(raw["best_acc"]) is float
    assert all(k.startswith("module.") and not k.startswith("module.module.") for k in raw["model_pos"])
    fresh = fixture_model()
    load_weights_from_file(fresh, path)
    for a, b in zip(fresh.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


def test_interrupted_save_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "latest_epoch.bin"
    save_checkpoint(path, {"epoch": 1, "model_pos": {"w": torch.ones(3)}})
    before = path.read_bytes()

    def crash(obj, f, *a, **k):
        f.write(b"partial garbage")
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt_mod.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2, "model_pos": {"w": torch.zeros(3)}})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["latest_epoch.bin"]
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1


def test_saved_file_has_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "a.bin", {"epoch": 1})
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "a.bin").st_mode & 0o777) == 0o644


def test_saving_does_not_touch_the_process_umask(tmp_path, monkeypatch):
    # os.umask sets the mask of the whole process: changing it, even for a moment, races with other threads
    def umask(mask):
        raise AssertionError(f"save_checkpoint called os.umask({mask:o})")

    monkeypatch.setattr(os, "umask", umask)
    save_checkpoint(tmp_path / "a.bin", {"epoch": 1})
    assert load_checkpoint(tmp_path / "a.bin")["epoch"] == 1


_KILLED_WRITE = """
import os, signal, sys
import torch
sys.path.insert(0, {repo!r})
from lib.utils import checkpoint

def killed(obj, f, *args, **kwargs):
    f.write(b"half a checkpoint")
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)

checkpoint.torch.save = killed
checkpoint.save_checkpoint({path!r}, {{"epoch": 2}})
"""


def test_next_save_removes_the_temporary_of_a_killed_write(tmp_path):
    import subprocess
    import sys
    from conftest import REPO
    target = tmp_path / "latest_epoch.bin"
    save_checkpoint(target, {"epoch": 1})
    other = tmp_path / ".best_epoch.bin.abcd1234.tmp"  # the temporary of another file stays
    other.write_bytes(b"x")
    for _ in range(3):  # writes killed by SIGKILL (no cleanup can run): their temporaries do not pile up
        result = subprocess.run([sys.executable, "-c", _KILLED_WRITE.format(repo=REPO, path=str(target))])
        assert result.returncode == -9
        leftovers = [f for f in os.listdir(tmp_path) if f.startswith(".latest_epoch.bin.")]
        assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")
    assert load_checkpoint(target)["epoch"] == 1
    save_checkpoint(target, {"epoch": 3})
    assert sorted(os.listdir(tmp_path)) == [other.name, "latest_epoch.bin"]
    assert load_checkpoint(target)["epoch"] == 3
