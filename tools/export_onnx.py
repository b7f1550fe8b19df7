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

from lib.inference import export_onnx, load_model, onnx_example_input  # noqa: E402
from lib.utils.config_schema import EXPORT_ACTION, EXPORT_POSE3D, validate_config  # noqa: E402
from lib.utils.cli import add_debug_argument, run_cli  # noqa: E402
from lib.utils.errors import UserError  # noqa: E402
from lib.utils.outputs import OutputSet, check_output_file  # noqa: E402
from lib.utils.tools import get_config  # noqa: E402

TOLERANCE = 1e-4  # max abs difference between onnxruntime and PyTorch outputs


def is_action_config(cfg):
    return "model_version" in cfg


def build_model(cfg, checkpoint=None):
    """The exported module, on the CPU: the backbone (pose configs) or ActionNet (configs with ``model_version``);
    returns ``(model, is_action)``."""
    is_action = is_action_config(cfg)
    return load_model(cfg, checkpoint, "action" if is_action else "pose3d", "cpu"), is_action


def check(model, cfg, is_action, path, shapes=((1, None), (3, 7))):
    """Max abs difference onnxruntime vs PyTorch for each ``(batch, frames)`` (None: maxlen)."""
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    diffs = []
    for batch, frames in shapes:
        x = onnx_example_input(cfg, is_action, batch, frames or cfg.maxlen)
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        diffs.append(((batch, frames or cfg.maxlen), float(np.abs(got - expected).max())))
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
    cli = parser.parse_args(argv)
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise UserError(f"exporting needs the onnx and onnxscript packages ({e}); pip install onnx onnxscript "
                        f"onnxruntime") from e
    check_output_file(cli.out, "--out")
    cfg = get_config(cli.config)
    validate_config(cfg, EXPORT_ACTION if is_action_config(cfg) else EXPORT_POSE3D)
    model, is_action = build_model(cfg, cli.checkpoint)
    if not cli.checkpoint:
        print("warning: no --checkpoint, exporting randomly initialised weights")
    with OutputSet() as out:  # the file appears only once exported (and checked)
        exported = out.path(cli.out)
        export_onnx(model, cfg, is_action, exported)
        print(f"exported {cli.out} ({os.path.getsize(exported) / 2 ** 20:.1f} MB)")
        worst = 0.0
        for shape, diff in ([] if cli.no_check else check(model, cfg, is_action, exported)):
            print(f"onnxruntime vs PyTorch, input batch {shape[0]}, frames {shape[1]}: max abs diff {diff:.2e}")
            worst = max(worst, diff)
    if cli.no_check:
        return 0
    if worst > TOLERANCE:
        print(f"error: the exported model differs from PyTorch by {worst:.2e} > {TOLERANCE:g}")
        return 1
    print(f"check passed (max abs diff {worst:.2e} <= {TOLERANCE:g})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
