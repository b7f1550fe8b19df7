"""Score the demo model against two simple baselines on the demo test clips (docs/demo.md).

    python tools/demo_baselines.py [--config configs/pose3d/MB_demo.yaml] [--checkpoint checkpoint/demo/best_epoch.bin]

All three are scored with the same H36M protocol as ``train.py --evaluate`` (per-action P1/P2 in
mm, lib/utils/eval_h36m.py):

* **zero depth**: the 2D input itself, with depth 0 for every joint;
* **linear**: a per-frame linear map (with bias) from the 17 normalised 2D joints and their
  confidences to the 17 root-relative 3D joints, fitted by least squares on every training frame;
* **model**: the DSTformer checkpoint.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from lib.data.datareader_h36m import DataReaderH36M  # noqa: E402
from lib.utils.checkpoint import load_weights_from_file  # noqa: E402
from lib.utils.cli import add_debug_argument, run_cli  # noqa: E402
from lib.utils.config_schema import TRAIN_POSE3D, load_config  # noqa: E402
from lib.utils.errors import UserError  # noqa: E402
from lib.inference import DEMO_FILES  # noqa: E402
from lib.utils.eval_h36m import h36m_errors, markdown_table, predict_pose3d  # noqa: E402
from lib.utils.learning import load_backbone, precision_context  # noqa: E402
from lib.utils.outputs import OutputSet, check_output_file  # noqa: E402


def make_datareader(args):
    return DataReaderH36M(n_frames=args.clip_len, sample_stride=args.sample_stride, data_stride_train=args.data_stride,
                          data_stride_test=args.clip_len, dt_root=args.get("dt_root", "data/motion3d"),
                          dt_file=args.dt_file)


def zero_depth(test_2d):
    """The 2D input as the 3D prediction, depth 0."""
    pred = test_2d.copy()
    pred[..., 2] = 0
    return pred


def fit_linear(train_2d, train_3d):
    """Least-squares ``W`` with ``[2D, 1] @ W ≈ root-relative 3D``, one frame at a time."""
    x = np.concatenate([train_2d.reshape(len(train_2d), -1), np.ones((len(train_2d), 1))], axis=1)
    y = (train_3d - train_3d[:, :1]).reshape(len(train_3d), -1)
    return np.linalg.lstsq(x.astype(np.float64), y.astype(np.float64), rcond=None)[0]


def apply_linear(weights, test_2d):
    shape = test_2d.shape
    flat = test_2d.reshape(-1, shape[-2] * shape[-1])
    x = np.concatenate([flat, np.ones((len(flat), 1))], axis=1)
    return (x @ weights).reshape(shape[:-2] + (shape[-2], 3)).astype(np.float32)


def model_predictions(args, checkpoint, test_2d, batch_size=64, precision="fp32"):
    model = load_backbone(args)
    load_weights_from_file(model, checkpoint)
    model.eval()
    clips = torch.from_numpy(test_2d)
    with precision_context(precision, "cpu"):
        return np.concatenate([predict_pose3d(args, model, clips[i:i + batch_size])
                               for i in range(0, len(clips), batch_size)])


def score_all(args, checkpoint, precision="fp32"):
    """``{method: errors}`` for the two baselines and (if ``checkpoint`` exists) the model."""
    reader = make_datareader(args)
    train_2d, test_2d = reader.read_2d()
    train_3d, _ = reader.read_3d()
    _, split_test = reader.get_split_id()
    test_clips = test_2d[split_test]
    predictions = {"zero depth": zero_depth(test_clips),
                   "linear": apply_linear(fit_linear(train_2d, train_3d), test_clips)}
    if checkpoint and os.path.isfile(checkpoint):
        predictions["model"] = model_predictions(args, checkpoint, test_clips, precision=precision)
    return {name: h36m_errors(pred, reader) for name, pred in predictions.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=DEMO_FILES["config"])
    parser.add_argument("--checkpoint", default=DEMO_FILES["evaluate"])
    parser.add_argument("--precision", choices=("fp32", "bf16", "int8"), default="fp32", help="precision of the model")
    parser.add_argument("--json", help="also write the scores to this file")
    add_debug_argument(parser)
    opts = parser.parse_args(argv)
    args = load_config(opts.config, TRAIN_POSE3D, training=False)  # read as train.py --evaluate reads it
    data = os.path.join(args.get("dt_root", "data/motion3d"), args.dt_file)
    if not os.path.isfile(data):
        raise UserError(f"demo data not found: {data}; make it first with 'pip install pybullet && python "
                        f"tools/prepare_demo_data.py' (about 10 s, docs/demo.md)")
    if opts.json:
        check_output_file(opts.json, "--json")
    scores = score_all(args, opts.checkpoint, opts.precision)
    print(markdown_table(scores))
    if opts.json:
        with OutputSet() as out, open(out.path(opts.json), "w") as f:
            json.dump({name: {"P1": float(e["e1"]), "P2": float(e["e2"]),
                              "per_action": {a: {"P1": float(p1), "P2": float(p2)}
                                             for a, p1, p2 in zip(e["action_names"], e["P1"], e["P2"])}}
                       for name, e in scores.items()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
