"""Reduce every AMASS motion to about 60 fps (step 1 of 3 of the AMASS preparation).

For each ``.npz`` under the AMASS folder (sorted paths), ``trans``, ``dmpls`` and ``poses`` are
subsampled with step ``round(fps / 60)`` and ``mocap_framerate`` is set to 60. Writes

* ``<out_dir>/<name>.npz``: the motion dict (``np.savez`` of the dict: a 0-d object array ``arr_0``);
* ``<fps_csv>``: ``fname_new, len_ori, fps, len_new`` per kept motion;
* ``<out_pkl>``: the list of motion dicts, read by ``tools/preprocess_amass.py``.

``<name>`` is the file's path from the AMASS folder's grandparent, ``/`` replaced by ``_``
(``data/AMASS/amass_202203/CMU/01/01_01_poses.npz`` → ``AMASS_amass_202203_CMU_01_01_01_poses.npz``).
Files that are not motions (``shape.npz``, licences, ...) are skipped and listed at the end.

    python tools/compress_amass.py [--src data/AMASS/amass_202203/]
"""
import argparse
import os
import sys
import zipfile

import numpy as np
from tqdm import tqdm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from lib.utils.cli import add_debug_argument, run_cli  # noqa: E402
from lib.utils.errors import UserError  # noqa: E402
from lib.utils.outputs import OutputSet, check_output_file, check_output_folder  # noqa: E402
from lib.utils.tools import write_pkl  # noqa: E402

TARGET_FPS = 60
SUBSAMPLED_KEYS = ("trans", "dmpls", "poses")


def list_files(src_dir):
    """Every file below ``src_dir``, sorted by path."""
    files = []
    for root, _, names in os.walk(src_dir):
        files += [os.path.join(root, name) for name in names]
    return sorted(files)


def output_name(path, src_dir):
    """``AMASS_amass_202203_CMU_01_01_01_poses.npz`` for ``<...>/AMASS/amass_202203/CMU/01_01/01_01_poses.npz``."""
    base = os.path.dirname(os.path.dirname(os.path.normpath(src_dir)))
    return "_".join(os.path.normpath(os.path.relpath(path, base)).split(os.sep))


def compress_motion(path):
    """The motion dict of ``path`` subsampled to ~60 fps → ``(motion, fps, len_ori)``.

    Raises ``ValueError`` with the reason if ``path`` is not an AMASS motion file.
    """
    if not path.endswith(".npz"):
        raise ValueError("not an .npz file")
    try:
        with np.load(path) as raw:
            motion = dict(raw)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"unreadable npz ({e})") from e
    missing = [k for k in ("mocap_framerate",) + SUBSAMPLED_KEYS if k not in motion]
    if missing:
        raise ValueError(f"no {', '.join(missing)} (not a motion, e.g. shape.npz)")
    fps = float(motion["mocap_framerate"])
    stride = round(fps / TARGET_FPS)
    if stride < 1:
        raise ValueError(f"frame rate {fps} is below {TARGET_FPS / 2} fps")
    len_ori = len(motion["trans"])
    motion["mocap_framerate"] = TARGET_FPS
    for key in SUBSAMPLED_KEYS:
        motion[key] = motion[key][::stride]
    return motion, fps, len_ori


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", default="data/AMASS/amass_202203/",
                        help="AMASS download: one folder per sub-dataset with SMPL+H .npz files (default: %(default)s)")
    parser.add_argument("--out_dir", default="data/AMASS/amass_fps60", help="per-motion output (default: %(default)s)")
    parser.add_argument("--fps_csv", default="data/AMASS/fps.csv", help="list of kept motions (default: %(default)s)")
    parser.add_argument("--out_pkl", default="data/AMASS/all_motions_fps60.pkl",
                        help="all motions in one pickle (default: %(default)s)")
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isdir(args.src):
        raise UserError(f"AMASS folder not found: {args.src}. Download AMASS (SMPL+H G) and unpack it there "
                        f"(see docs/pretrain.md), or pass --src.")
    check_output_folder(args.out_dir, option="--out_dir")
    check_output_file(args.fps_csv, "--fps_csv")
    check_output_file(args.out_pkl, "--out_pkl")
    all_motions = []
    skipped = []
    len_all = len_new_all = 0
    with OutputSet() as out, open(out.path(args.fps_csv), "w") as f:
        print("fname_new, len_ori, fps, len_new", file=f)
        for path in tqdm(list_files(args.src), desc="AMASS files"):
            try:
                motion, fps, len_ori = compress_motion(path)
            except ValueError as e:
                skipped.append((path, str(e)))
                continue
            fname_new = output_name(path, args.src)
            len_new = len(motion["trans"])
            len_all += len_ori
            len_new_all += len_new
            print(fname_new, ",", len_ori, ",", fps, ",", len_new, file=f)
            all_motions.append(motion)
            np.savez(out.path(os.path.join(args.out_dir, fname_new)), motion)
        write_pkl(all_motions, out.path(args.out_pkl))
    if skipped:
        print(f"skipped {len(skipped)} files:")
        for path, reason in skipped:
            print(f"  {path}: {reason}")
    print(f"kept {len(all_motions)} motions, {len_all} frames -> {len_new_all} frames at {TARGET_FPS} fps; "
          f"wrote {args.fps_csv} and {args.out_pkl}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
