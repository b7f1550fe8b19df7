"""Every shipped config: same keys and values as the original's (spec 07), and it builds its model."""
import glob
import json
import os

import pytest
import torch

from conftest import REPO, fixture_path
from lib.utils.learning import load_backbone
from lib.utils.tools import get_config

EXPECTED = json.load(open(fixture_path("configs_spec07.json")))
ORIGINAL_CONFIGS = sorted(EXPECTED)


def test_all_sixteen_configs_exist():
    assert len(ORIGINAL_CONFIGS) == 16
    for path in ORIGINAL_CONFIGS:
        assert os.path.isfile(os.path.join(REPO, path)), path


@pytest.mark.parametrize("path", ORIGINAL_CONFIGS)
def test_keys_and_values_match_the_original(path):
    args = get_config(os.path.join(REPO, path))
    assert args.name == os.path.splitext(os.path.basename(path))[0]
    got = {k: v for k, v in args.items() if k != "name"}
    assert set(got) == set(EXPECTED[path])
    for key, value in EXPECTED[path].items():
        assert got[key] == value and type(got[key]) is type(value), key


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "configs", "*", "*.yaml"))))
def test_config_builds_its_backbone(path):
    args = get_config(path)
    model = load_backbone(args).eval()
    assert args.backbone == "DSTformer"
    assert model.temp_embed.shape == (1, args.maxlen, 1, args.dim_feat)
    with torch.no_grad():
        y = model(torch.zeros(1, 2, args.num_joints, 3))
    assert y.shape == (1, 2, args.num_joints, 3)
