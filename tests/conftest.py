import os
import sys

import numpy as np
import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def fixture_path(*parts):
    return os.path.join(FIXTURES, *parts)


# Float results differ in the last bits between CPUs and between the code paths PyTorch and NumPy pick
# on one CPU (SIMD width, FMA, summation order): a float result is compared with its reference within
# the precision of the coarser of the two dtypes, never bit for bit.
FLOAT_TOLERANCE = {np.dtype(np.float16): dict(rtol=1e-3, atol=1e-3),
                   np.dtype(np.float32): dict(rtol=1e-6, atol=1e-6),
                   np.dtype(np.float64): dict(rtol=1e-9, atol=1e-9)}


def assert_float_close(actual, expected, precision=None, err_msg=""):
    """``actual`` equals ``expected`` (arrays, tensors or numbers, same shape) up to float rounding.

    ``precision``: the dtype of the coarsest arithmetic behind the values (e.g. float64 numbers
    computed from float32 data); default: the coarser of the two dtypes.
    """
    actual, expected = (np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v) for v in (actual, expected))
    dtypes = [np.dtype(precision)] if precision is not None else [a.dtype for a in (actual, expected) if a.dtype.kind == "f"]
    coarse = max(dtypes, key=lambda d: np.finfo(d).eps)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape} {err_msg}"
    np.testing.assert_allclose(actual, expected, err_msg=err_msg, **FLOAT_TOLERANCE[coarse])


@pytest.fixture(autouse=True, scope="session")
def _single_thread_determinism():
    # the fixtures were recorded with one thread; fewer threads also keep CI predictable (session
    # scope: module-scoped fixtures that run a model get one thread too)
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


# --- tiny NTU (pyskl) pickles shared by the action tests ------------------------------------------
def make_ntu_pickle(path, labels, splits, seed=0, frames=(12, 30), persons=(1, 2)):
    """A pyskl-format pickle: one annotation per entry of ``labels``; ``splits`` maps a split name to
    the sample indices it holds. Returns the frame_dir names."""
    import pickle

    import numpy as np
    rng = np.random.default_rng(seed)
    annotations, names = [], []
    for i, label in enumerate(labels):
        m = int(rng.integers(persons[0], persons[1] + 1))
        t = int(rng.integers(frames[0], frames[1] + 1))
        centre = rng.uniform(300, 1500, size=(m, 1, 1, 2))
        motion = centre + rng.normal(0, 80, size=(m, 1, 17, 2)) + np.cumsum(rng.normal(0, 3, size=(m, t, 17, 2)), 1)
        name = f"S{i % 3 + 1:03d}C001P{i:03d}R001A{label + 1:03d}"
        names.append(name)
        annotations.append(dict(frame_dir=name, label=int(label), img_shape=(1080, 1920),
                                original_shape=(1080, 1920), total_frames=t,
                                keypoint=motion.astype(np.float32),
                                keypoint_score=rng.uniform(0.3, 1.0, size=(m, t, 17)).astype(np.float32)))
    split = {k: [names[i] for i in idx] for k, idx in splits.items()}
    with open(path, "wb") as f:
        pickle.dump({"split": split, "annotations": annotations}, f)
    return names


TINY_BACKBONE = dict(maxlen=27, dim_feat=16, mlp_ratio=2, depth=1, dim_rep=16, num_heads=2, att_fuse=True,
                     num_joints=17)


def run_torchrun(script, config, out_dir, *extra_args):
    """Train ``script`` for the given config (or evaluate, with ``"--evaluate", path`` in ``extra_args``) with
    two gloo processes on the CPU (torchrun); returns the completed process after checking it succeeded.
    ``--standalone`` lets torchrun pick a free port, so concurrent runs cannot collide."""
    import subprocess
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             str(script), "--config", str(config), "-c", str(out_dir),
                             "--workers", "0", "--no-progress", "--device", "cpu", *map(str, extra_args)],
                            capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), cwd=REPO,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def tensorboard_scalars(logdir):
    """``{tag: [steps]}`` of the scalars in the tensorboard event files under ``logdir``, read as TFRecords
    (8-byte length, 4-byte CRC, an ``Event`` protobuf, 4-byte CRC) without tensorboard."""
    import struct
    from tensorboardX.proto import event_pb2
    scalars = {}
    for name in sorted(os.listdir(logdir)):
        data = open(os.path.join(logdir, name), "rb").read()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append(event.step)
    return scalars


# --- initialisation as the spec describes it (01 §4, 01 §8), for checking the models' random draws ------
def spec_trunc_normal(shape, std, mean=0., a=-2., b=2.):
    """The original's truncated normal (spec 01 §4), drawn from torch's global generator: the uniforms
    U(2l - 1, 2u - 1) come from ``torch.Tensor.uniform_``; the transform (inverse erf, scale, shift,
    clamp) is done here in float64 with SciPy. Returns float64 NumPy values."""
    import math

    import numpy as np
    from scipy.special import erfinv
    cdf = lambda x: (1. + math.erf(x / math.sqrt(2.))) / 2.  # noqa: E731
    lower, upper = cdf((a - mean) / std), cdf((b - mean) / std)
    uniforms = torch.empty(shape).uniform_(2 * lower - 1, 2 * upper - 1).numpy().astype(np.float64)
    return np.clip(erfinv(uniforms) * std * math.sqrt(2.) + mean, a, b)


def spec_default_linear(out_features, in_features):
    """PyTorch's default ``nn.Linear`` initialisation, drawn from torch's global generator: weight, then
    bias, each U(-1/sqrt(in_features), 1/sqrt(in_features))."""
    bound = in_features ** -0.5
    return (torch.empty(out_features, in_features).uniform_(-bound, bound),
            torch.empty(out_features).uniform_(-bound, bound))


def spec_xavier_uniform(out_features, in_features, gain):
    """Xavier-uniform values U(-g·sqrt(6/(in+out)), +g·sqrt(6/(in+out))) drawn from torch's global generator."""
    bound = gain * (6. / (in_features + out_features)) ** 0.5
    return torch.empty(out_features, in_features).uniform_(-bound, bound)
