"""Convert InstaVariety 2D keypoint tracks for pretraining.

Step 1, once per action folder of ``<root>`` (``<root>/<action>/<video>/<clip>/*.json``, one json
per frame): every clip becomes a ``(T, 17, 3)`` array (x, y, logit) in H36M order, normalised by
``crop_scale``, made relative to the first frame's pelvis x, y, with undetected joints zeroed;
the list of clips is pickled to ``<root>/<action>/<action>.pkl``.

    python tools/convert_insta.py --name_action <action>

Step 2, after all actions: ``--merge`` concatenates the clips of every ``<action>.pkl`` (actions
in sorted order) into ``<out_dir>/motion_all.npy`` ``(N_frames, 17, 3)`` and
``<out_dir>/id_all.npy`` ``(N_frames,)`` (float, value i for every frame of clip i), the files
that ``InstaVDataset2D`` reads.

    python tools/convert_insta.py --merge
"""
import argparse
import json
import os
import pickle
import sys

import numpy as np
from tqdm import tqdm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from lib.skeleton import INSTAVARIETY_KEYS  # noqa: E402
from lib.utils.cli import add_debug_argument, run_cli  # noqa: E402
from lib.utils.errors import UserError  # noqa: E402
from lib.utils.outputs import OutputSet, check_output_file, check_output_folder  # noqa: E402
from lib.utils.tools import write_pkl  # noqa: E402
from lib.utils.utils_data import crop_scale  # noqa: E402

DEFAULT_ROOT = "data/motion2d/InstaVariety/InstaVariety_tracks/"


def json2pose(json_dict):
    """One frame's json → ``(17, 3)`` float64 (x, y, logits) in H36M order."""
    pose_h36m = np.zeros([17, 3])  # joints without a key stay at (0, 0, 0)
    for i, key in enumerate(INSTAVARIETY_KEYS):
        if key is not None:
            item = json_dict[key]
            pose_h36m[i] = item["x"], item["y"], item["logits"]
    return pose_h36m


def frame_files(clip_dir):
    return sorted(name for name in os.listdir(clip_dir) if name.endswith(".json"))


def load_motion(clip_dir):
    """The frames of one clip folder (json files in name order) → ``(T, 17, 3)``."""
    poses = []
    for name in frame_files(clip_dir):
        with open(os.path.join(clip_dir, name), "r") as f:
            poses.append(json2pose(json.load(f)))
    return np.array(poses)


def normalize_clip(motion):
    """crop_scale to [-1, 1], x, y relative to the first frame's pelvis, undetected joints zeroed."""
    motion = crop_scale(motion)
    motion[:, :, :2] = motion[:, :, :2] - motion[0:1, 0:1, :2]
    motion[motion[:, :, 2] == 0] = 0
    return motion


def subdirs(path):
    return sorted(name for name in os.listdir(path) if os.path.isdir(os.path.join(path, name)))


def convert_action(action_root):
    """Normalised clips of every ``<video>/<clip>`` folder of one action (folders without json skipped)."""
    motion_all = []
    for video_id in tqdm(subdirs(action_root), desc=os.path.basename(os.path.normpath(action_root))):
        video_root = os.path.join(action_root, video_id)
        for clip_id in subdirs(video_root):
            clip_root = os.path.join(video_root, clip_id)
            if not frame_files(clip_root):
                continue
            motion_all.append(normalize_clip(load_motion(clip_root)))
    return motion_all


def merge_actions(root):
    """All clips of every ``<root>/<action>/<action>.pkl`` → ``(motion_all, id_all, missing actions)``."""
    clips, missing = [], []
    for action in subdirs(root):
        pkl_path = os.path.join(root, action, f"{action}.pkl")
        if not os.path.isfile(pkl_path):
            missing.append(action)
            continue
        with open(pkl_path, "rb") as f:
            clips += pickle.load(f)
    if not clips:
        raise UserError(f"no converted clips under {root}: run 'python tools/convert_insta.py --name_action "
                        f"<action>' for each action folder first")
    motion_all = np.concatenate(clips)
    id_all = np.concatenate([np.full(len(clip), i, dtype=np.float64) for i, clip in enumerate(clips)])
    return motion_all, id_all, missing


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name_action", help="action folder to convert (step 1)")
    parser.add_argument("--merge", action="store_true",
                        help="step 2: merge every <action>.pkl into motion_all.npy and id_all.npy")
    parser.add_argument("--root", default=DEFAULT_ROOT, help="InstaVariety tracks folder (default: %(default)s)")
    parser.add_argument("--out_dir", default="data/motion2d/InstaVariety/",
                        help="where --merge writes motion_all.npy and id_all.npy (default: %(default)s)")
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if bool(args.name_action) == args.merge:
        parser.error("give either --name_action <action> or --merge")
    return args


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isdir(args.root):
        raise UserError(f"InstaVariety tracks folder not found: {args.root}. Unpack InstaVariety_tracks there "
                        f"(see docs/pretrain.md) or pass --root.")
    if args.merge:
        check_output_folder(args.out_dir, ["motion_all.npy", "id_all.npy"], option="--out_dir")
        motion_all, id_all, missing = merge_actions(args.root)
        if missing:
            print(f"not converted yet, left out: {', '.join(missing)}")
        with OutputSet(args.out_dir) as out:  # the two files belong together
            np.save(out.path("motion_all.npy"), motion_all)
            np.save(out.path("id_all.npy"), id_all)
        print(f"wrote {motion_all.shape[0]} frames of {int(id_all[-1]) + 1} clips to {args.out_dir}")
        return 0
    action_root = os.path.join(args.root, args.name_action)
    if not os.path.isdir(action_root):
        raise UserError(f"action folder not found: {action_root}")
    out_path = os.path.join(action_root, f"{args.name_action}.pkl")
    check_output_file(out_path, "--name_action")
    motion_all = convert_action(action_root)
    with OutputSet() as out:
        write_pkl(motion_all, out.path(out_path))
    print(f"wrote {len(motion_all)} clips to {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
