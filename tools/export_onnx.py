"""Export a backbone (3D pose) or action model to ONNX and check it against PyTorch in onnxruntime.

    python tools/export_onnx.py --config configs/pose3d/MB_ft_h36m_global_lite.yaml \
        --checkpoint checkpoint/pose3d/FT_MB_lite_MB_ft_h36m_global_lite/best_epoch.bin --out lite.onnx
    python tools/export_onnx.py --config configs/action/MB_ft_NTU60_xsub.yaml \
        --checkpoint checkpoint/action/FT_MB_release_MB_ft_NTU60_xsub/best_epoch.bin --out action.onnx

The graph takes ``input`` of shape ``(batch, frames, 17, 3)`` (action models:
``(batch, persons, frames, 17, 3)``) with dynamic batch and frame count (frames ≤ the config's
``maxlen``) and returns ``output``. Needs ``pip install onnx onnxscript onnxruntime``.
"""
import argparse
import os
import sys

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from lib.model.model_action import ActionNet  # noqa: E402
from lib.utils.checkpoint import load_weights_from_file  # noqa: E402
from lib.utils.config_schema import EXPORT_ACTION, EXPORT_POSE3D, validate_config  # noqa: E402
from lib.utils.cli import add_debug_argument, run_cli  # noqa: E402
from lib.utils.errors import UserError  # noqa: E402
from lib.utils.learning import load_backbone  # noqa: E402
from lib.utils.outputs import OutputSet, check_output_file  # noqa: E402
from lib.utils.tools import get_config  # noqa: E402

TOLERANCE = 1e-4  # max abs difference between onnxruntime and PyTorch outputs


def is_action_config(args):
    return "model_version" in args


def build_model(args, checkpoint=None):
    """The exported module: the backbone (pose configs) or ActionNet (configs with ``model_version``)."""
    if is_action_config(args):
        model = ActionNet(load_backbone(args), args.dim_rep, num_classes=args.get("action_classes", 60),
                          dropout_ratio=args.dropout_ratio, version=args.model_version, hidden_dim=args.hidden_dim,
                          num_joints=args.num_joints)
        key = "model"
    else:
        model = load_backbone(args)
        key = "model_pos"
    if checkpoint:
        load_weights_from_file(model, checkpoint, key=key)
    return model.eval(), key == "model"


def example_input(args, is_action, batch, frames):
    channels = 2 if args.get("no_conf", False) else 3
    shape = (batch, 2, frames, args.num_joints, channels) if is_action else (batch, frames, args.num_joints, channels)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(batch * 1000 + frames))


def export(model, args, is_action, path):
    """Write ``path`` with dynamic batch and frame count."""
    frames_axis = 2 if is_action else 1
    batch = torch.export.Dim("batch", min=1, max=4096)
    frames = torch.export.Dim("frames", min=2, max=args.maxlen)
    x = example_input(args, is_action, 2, args.maxlen)
    torch.onnx.export(model, (x,), path, input_names=["input"], output_names=["output"],
                      dynamic_shapes={"x": {0: batch, frames_axis: frames}}, dynamo=True, external_data=False)


def check(model, args, is_action, path, shapes=((1, None), (3, 7))):
    """Max abs difference onnxruntime vs PyTorch for each ``(batch, frames)`` (None: maxlen)."""
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    diffs = []
    for batch, frames in shapes:
        x = example_input(args, is_action, batch, frames or args.maxlen)
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        diffs.append(((batch, frames or args.maxlen), float(np.abs(got - expected).max())))
    return diffs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="pose3d/pretrain config, or an action config")
    parser.add_argument("--checkpoint", default=None,
                        help="weights to export ('model_pos' for pose, 'model' for action files); default: the "
                             "randomly initialised model (only useful for testing the export)")
    parser.add_argument("--out", required=True, help="ONNX file to write")
    parser.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")
    add_debug_argument(parser)
    opts = parser.parse_args(argv)
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise UserError(f"exporting needs the onnx and onnxscript packages ({e}); pip install onnx onnxscript "
                        f"onnxruntime") from e
    check_output_file(opts.out, "--out")
    args = get_config(opts.config)
    validate_config(args, EXPORT_ACTION if is_action_config(args) else EXPORT_POSE3D)
    model, is_action = build_model(args, opts.checkpoint)
    if not opts.checkpoint:
        print("warning: no --checkpoint, exporting randomly initialised weights")
    with OutputSet() as out:  # the file appears only once exported (and checked)
        exported = out.path(opts.out)
        export(model, args, is_action, exported)
        print(f"exported {opts.out} ({os.path.getsize(exported) / 2 ** 20:.1f} MB)")
        worst = 0.0
        for shape, diff in ([] if opts.no_check else check(model, args, is_action, exported)):
            print(f"onnxruntime vs PyTorch, input batch {shape[0]}, frames {shape[1]}: max abs diff {diff:.2e}")
            worst = max(worst, diff)
    if opts.no_check:
        return 0
    if worst > TOLERANCE:
        print(f"error: the exported model differs from PyTorch by {worst:.2e} > {TOLERANCE:g}")
        return 1
    print(f"check passed (max abs diff {worst:.2e} <= {TOLERANCE:g})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
