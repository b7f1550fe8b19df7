"""Cut the preprocessed Human3.6M pickle into clip files for training.

Writes ``<out>/H36M-SH/{train,test}/%08d.pkl``, each a pickled dict
``{'data_input': float32 (n_frames, 17, 3) [x, y, conf], 'data_label': float32 (n_frames, 17, 3) [x, y, z]}``
in normalised image coordinates. Training clips overlap (stride 81 by default), test clips do
not; the test files are in the order that evaluation expects.

    python tools/convert_h36m.py [--input data/motion3d/h36m_sh_conf_cam_source_final.pkl]
                                 [--output data/motion3d/MB3D_f243s81]
"""
import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from lib.data.datareader_h36m import DataReaderH36M  # noqa: E402
from lib.data.dataset_motion_3d import write_clip_files  # noqa: E402
from lib.utils.cli import add_debug_argument, run_cli  # noqa: E402
from lib.utils.errors import UserError  # noqa: E402
from lib.utils.outputs import check_output_folder  # noqa: E402

SUBSET_NAME = "H36M-SH"


def save_clips(subset_name, root_path, data, labels):
    """Write clip ``i`` of ``data``/``labels`` to ``<root_path>/<subset_name>/%08d.pkl``."""
    write_clip_files(os.path.join(root_path, subset_name), zip(data, labels), desc=f"{subset_name} clips",
                     total=len(data))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default="data/motion3d/h36m_sh_conf_cam_source_final.pkl",
                        help="preprocessed H36M pickle (default: %(default)s)")
    parser.add_argument("--output", default="data/motion3d/MB3D_f243s81",
                        help=f"output root; clips go to <output>/{SUBSET_NAME}/{{train,test}} (default: %(default)s)")
    parser.add_argument("--n_frames", type=int, default=243, help="frames per clip (default: %(default)s)")
    parser.add_argument("--data_stride_train", type=int, default=81,
                        help="step between training clips (default: %(default)s)")
    parser.add_argument("--data_stride_test", type=int, default=243,
                        help="step between test clips; keep it equal to --n_frames for the evaluation protocol "
                             "(default: %(default)s)")
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isfile(args.input):
        raise UserError(f"H36M pickle not found: {args.input}. It is the preprocessed Human3.6M file "
                        f"(see docs/pretrain.md, 'Human3.6M clips'); pass its path with --input.")
    check_output_folder(args.output, [SUBSET_NAME], option="--output")
    dt_root, dt_file = os.path.split(args.input)
    datareader = DataReaderH36M(n_frames=args.n_frames, sample_stride=1, data_stride_train=args.data_stride_train,
                                data_stride_test=args.data_stride_test, dt_root=dt_root or ".", dt_file=dt_file)
    train_data, test_data, train_labels, test_labels = datareader.get_sliced_data()
    print(train_data.shape, test_data.shape)
    assert len(train_data) == len(train_labels)
    assert len(test_data) == len(test_labels)
    root_path = os.path.join(args.output, SUBSET_NAME)
    save_clips("train", root_path, train_data, train_labels)
    save_clips("test", root_path, test_data, test_labels)
    print(f"wrote {len(train_data)} train and {len(test_data)} test clips to {root_path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
