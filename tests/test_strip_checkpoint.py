"""tools/strip_checkpoint.py keeps the weights only."""
import pytest
import torch

from lib.utils.checkpoint import load_checkpoint, save_checkpoint
from lib.utils.errors import UserError
from tools.strip_checkpoint import main


def test_strip_keeps_weights_only(tmp_path):
    weights = {"module.w": torch.ones(3)}
    save_checkpoint(tmp_path / "full.bin", {"epoch": 3, "lr": 0.1, "optimizer": {"state": {}, "param_groups": []},
                                            "model_pos": weights, "min_loss": 12.0})
    assert main([str(tmp_path / "full.bin"), str(tmp_path / "w.bin")]) == 0
    stripped = load_checkpoint(tmp_path / "w.bin")
    assert list(stripped) == ["model_pos"] and torch.equal(stripped["model_pos"]["module.w"], weights["module.w"])
    save_checkpoint(tmp_path / "other.bin", {"epoch": 1})
    with pytest.raises(UserError, match="no 'model_pos' or 'model' entry"):
        main([str(tmp_path / "other.bin"), str(tmp_path / "x.bin")])
