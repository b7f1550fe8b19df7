import os
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def fixture_path(*parts):
    return os.path.join(FIXTURES, *parts)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test, excluded from the default suite (run with -m slow)")


@pytest.fixture(autouse=True)
def _single_thread_determinism():
    # the fixtures were recorded with one thread; fewer threads also keep CI predictable
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- tiny 3D-pose setup shared by the end-to-end tests -----------------------------------------
TINY_POSE3D = dict(
    train_2d=False, no_eval=False, finetune=False, partial_train=None, epochs=2, checkpoint_frequency=1,
    batch_size=8, dropout=0.0, learning_rate=0.0005, weight_decay=0.01, lr_decay=0.99,
    maxlen=27, dim_feat=16, mlp_ratio=2, depth=1, dim_rep=16, num_heads=2, att_fuse=True,
    subset_list=["H36M-SH"], dt_file="h36m_synthetic.pkl", clip_len=27, data_stride=9,
    rootrel=True, sample_stride=1, num_joints=17, no_conf=False, gt_2d=False,
    lambda_3d_velocity=20.0, lambda_scale=0.5, lambda_lv=0.0, lambda_lg=0.0, lambda_a=0.0, lambda_av=0.0,
    synthetic=False, flip=True, mask_ratio=0.0, mask_T_ratio=0.0, noise=False)


def make_h36m_clips(folder):
    """Clip files of the synthetic H36M fixture (27-frame clips) under ``folder/clips``."""
    from tools import convert_h36m
    convert_h36m.main(["--input", fixture_path("pose3d", "h36m_synthetic.pkl"), "--output", str(folder / "clips"),
                       "--n_frames", "27", "--data_stride_train", "9", "--data_stride_test", "27"])


def write_pose3d_config(folder, name, **overrides):
    """A tiny train.py config reading the clips of :func:`make_h36m_clips`; returns its path."""
    import yaml
    cfg = dict(TINY_POSE3D, data_root=str(folder / "clips") + "/", dt_root=fixture_path("pose3d"))
    cfg.update(overrides)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)
