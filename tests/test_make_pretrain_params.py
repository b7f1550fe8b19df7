"""tools/make_pretrain_params.py writes the noise-model files that the pretraining configs name."""
import os
import pickle

import numpy as np
import torch

from conftest import REPO
from tools.make_pretrain_params import main


def test_committed_params_equal_tool_output(tmp_path):
    assert main(["--out", str(tmp_path)]) == 0
    ours = torch.load(os.path.join(REPO, "params", "synthetic_noise.pth"), weights_only=True)
    fresh = torch.load(tmp_path / "synthetic_noise.pth", weights_only=True)
    assert sorted(ours) == ["mean", "std", "weight"]
    for k in ours:
        assert ours[k].dtype == torch.float64 and torch.equal(ours[k], fresh[k])
    assert ours["mean"].shape == (17, 2) and ours["weight"].shape == (17,)
    assert ours["std"][6, 0].item() == 0.009505804410684347
    d2c = pickle.load(open(os.path.join(REPO, "params", "d2c_params.pkl"), "rb"))
    assert d2c["a"] == 0.028 and d2c["b"] == 1.1
    assert isinstance(d2c["m"], np.float32) and d2c["m"].tobytes().hex() == "9c4396bb"
    assert float(d2c["s"]) == 0.14310568571090698
