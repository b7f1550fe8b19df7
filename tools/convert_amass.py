"""Cut the AMASS joint trajectories into 3D clips for pretraining (step 3 of 3 of the AMASS preparation).

Each trajectory of ``amass_joints_h36m_60.pkl`` (from ``tools/preprocess_amass.py``) is turned
into camera-like axes, ``(x, y, z) → (x, −z, y)`` (y down, z into the scene), scaled by 0.298
(roughly the size of the normalised H36M poses) and cut into clips of 243 frames with step 81
(a trajectory shorter than 243 frames becomes one resampled clip). Writes
``<out>/AMASS/train/%08d.pkl`` = ``{'data_input': None, 'data_label': float32 (243, 17, 3)}`` and
creates the empty ``<out>/AMASS/test`` folder that the pretraining test set lists.

    python tools/convert_amass.py [--input data/AMASS/amass_joints_h36m_60.pkl] [--output data/motion3d/MB3D_f243s81]
"""
import argparse
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from lib.data.dataset_motion_3d import write_clip_files  # noqa: E402
from lib.utils.cli import add_debug_argument, run_cli  # noqa: E402
from lib.utils.errors import UserError  # noqa: E402
from lib.utils.outputs import check_output_folder  # noqa: E402
from lib.utils.tools import read_pkl  # noqa: E402
from lib.utils.utils_data import split_clips  # noqa: E402

SUBSET_NAME = "AMASS"
SCALE_FACTOR = 0.298
# row vectors times this matrix: (x, y, z) -> (x, -z, y)
REAL2CAM = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], dtype=np.float32)


def joints_to_camera(joints_all):
    """List of ``(17, T, 3)`` world trajectories → all frames ``(N, 17, 3)`` float32 and per-frame ids."""
    joints_cam = []
    vid_list = []
    for i, item in enumerate(joints_all):
        item = np.asarray(item).astype(np.float32)
        vid_list += [i] * item.shape[1]
        motion_cam = np.transpose(item, (1, 0, 2)) @ REAL2CAM
        motion_cam *= SCALE_FACTOR
        joints_cam.append(motion_cam)
    if not joints_cam:
        return np.zeros((0, 17, 3), dtype=np.float32), vid_list
    return np.vstack(joints_cam), vid_list


def save_clips(save_path, frames, split_id):
    """Write clip ``i`` (= ``frames[split_id[i]]``) to ``<save_path>/%08d.pkl`` with no 2D input.

    Clips are cut one at a time: materialising all of them at once would need several GB for AMASS.
    """
    clips = ((None, frames[np.asarray(clip_ids)]) for clip_ids in split_id)
    write_clip_files(save_path, clips, desc="AMASS clips", total=len(split_id))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default="data/AMASS/amass_joints_h36m_60.pkl",
                        help="joint trajectories written by tools/preprocess_amass.py (default: %(default)s)")
    parser.add_argument("--output", default="data/motion3d/MB3D_f243s81",
                        help=f"output root; clips go to <output>/{SUBSET_NAME}/train (default: %(default)s)")
    parser.add_argument("--n_frames", type=int, default=243, help="frames per clip (default: %(default)s)")
    parser.add_argument("--data_stride", type=int, default=81, help="step between clips (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=None,
                        help="NumPy seed for resampling short trajectories (default: unseeded, as the original)")
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isfile(args.input):
        raise UserError(f"AMASS joints not found: {args.input} (written by tools/preprocess_amass.py; "
                        f"see docs/pretrain.md)")
    check_output_folder(args.output, [SUBSET_NAME], option="--output")
    if args.seed is not None:
        np.random.seed(args.seed)
    joints_all = read_pkl(args.input)
    joints_cam_all, vid_list = joints_to_camera(joints_all)
    split_id = split_clips(vid_list, n_frames=args.n_frames, data_stride=args.data_stride)
    print(joints_cam_all.shape)
    if len(joints_cam_all):
        for axis, name in enumerate("xyz"):
            print(f"{name}: max {joints_cam_all[..., axis].max()}, min {joints_cam_all[..., axis].min()}")
    root_path = os.path.join(args.output, SUBSET_NAME)
    save_clips(os.path.join(root_path, "train"), joints_cam_all, split_id)
    # pretraining builds its test set from the same subset list, so this folder must exist (empty)
    os.makedirs(os.path.join(root_path, "test"), exist_ok=True)
    print(f"wrote {len(split_id)} clips to {root_path}/train")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
