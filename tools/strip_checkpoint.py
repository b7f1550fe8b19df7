"""Keep only the weights of a training checkpoint (drop optimizer state, epoch, metrics).

    python tools/strip_checkpoint.py checkpoint/demo_train/best_epoch.bin checkpoint/demo/best_epoch.bin

The result holds one entry, ``model_pos`` (``train.py`` files) or ``model`` (task files), in the
original layout (``module.`` keys), and loads wherever the full file does except for resuming.
"""
import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from lib.utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from lib.utils.cli import add_debug_argument, run_cli  # noqa: E402
from lib.utils.outputs import check_output_file  # noqa: E402

WEIGHT_KEYS = ("model_pos", "model")


def strip(src, dst):
    ckpt = load_checkpoint(src)
    key = next((k for k in WEIGHT_KEYS if k in ckpt), None)
    if key is None:
        raise CheckpointError(f"{src} has no '{WEIGHT_KEYS[0]}' or '{WEIGHT_KEYS[1]}' entry (keys: {sorted(ckpt)})")
    save_checkpoint(dst, {key: ckpt[key]})
    return key


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="training checkpoint")
    parser.add_argument("dst", help="weights-only file to write")
    add_debug_argument(parser)
    opts = parser.parse_args(argv)
    check_output_file(opts.dst, "dst")
    key = strip(opts.src, opts.dst)  # save_checkpoint writes dst atomically
    print(f"wrote {opts.dst} ({key} only, {os.path.getsize(opts.dst) / 2 ** 20:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
