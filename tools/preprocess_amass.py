"""Turn the 60-fps AMASS motions into H36M-17 joint trajectories (step 2 of 3 of the AMASS preparation).

Every motion of ``all_motions_fps60.pkl`` (from ``tools/compress_amass.py``) is posed with the
SMPL+H body model (+ DMPLs) of its gender, in slices of at most 2916 frames; the H36M joint
regressor maps the vertices to 17 joints (world coordinates, metres). Writes

* ``<out_pkl>``: list of ``(17, T, 3)`` arrays, one per slice;
* ``<clip_list>``: ``clip_id, fname, clip_len`` per slice.

Needs ``human_body_prior`` (v2, with ``BodyModel(bm_fname=...)``) and the SMPL+H and DMPL model
files under ``<body_models>/{smplh,dmpls}/{female,male,neutral}/model.npz``.

    python tools/preprocess_amass.py [--motions data/AMASS/all_motions_fps60.pkl]
"""
import argparse
import csv
import os
import pickle
import sys

import numpy as np
from tqdm import tqdm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from lib.utils.cli import add_debug_argument, run_cli  # noqa: E402
from lib.utils.errors import UserError  # noqa: E402
from lib.utils.outputs import check_output_file  # noqa: E402
from lib.utils.tools import write_pkl  # noqa: E402

MAX_SLICE_LEN = 2916  # frames posed at once (bounds the body model's memory)
NUM_BETAS = 16
NUM_DMPLS = 8
HUMAN_BODY_PRIOR_HELP = ("tools/preprocess_amass.py needs human_body_prior (v2): "
                         "pip install git+https://github.com/nghorbani/human_body_prior")


def slice_bounds(n_frames, max_len=MAX_SLICE_LEN):
    """``[(start, end), ...]`` covering ``n_frames`` in pieces of at most ``max_len``.

    Unlike the original, a length that is an exact multiple of ``max_len`` gets no extra empty slice.
    """
    return [(start, min(start + max_len, n_frames)) for start in range(0, n_frames, max_len)]


def body_gender(motion):
    """``female`` or ``male`` as stored; anything else (``neutral``, bytes, ...) uses the female model."""
    gender = str(motion["gender"])
    return gender if gender in ("female", "male") else "female"


def body_params(motion, start, end):
    """SMPL+H/DMPL parameters of frames ``[start, end)`` as float32 arrays."""
    poses = motion["poses"][start:end]
    n = len(poses)
    return {
        "root_orient": poses[:, :3],
        "pose_body": poses[:, 3:66],
        "pose_hand": poses[:, 66:],
        "trans": motion["trans"][start:end],
        "betas": np.repeat(motion["betas"][:NUM_BETAS][np.newaxis], repeats=n, axis=0),
        "dmpls": motion["dmpls"][start:end, :NUM_DMPLS],
    }


def make_smplh_vertices(body_models_dir, device=None):
    """``vertices(gender, params) -> (T, 6890, 3)`` NumPy, posed with human_body_prior's ``BodyModel``."""
    try:
        import torch
        from human_body_prior.body_model.body_model import BodyModel
    except ImportError as e:
        raise ImportError(f"{HUMAN_BODY_PRIOR_HELP} (import failed: {e})") from e
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    models = {}  # one body model per gender (the original rebuilt it for every motion)

    def vertices(gender, params):
        if gender not in models:
            bm_fname = os.path.join(body_models_dir, "smplh", gender, "model.npz")
            dmpl_fname = os.path.join(body_models_dir, "dmpls", gender, "model.npz")
            for path in (bm_fname, dmpl_fname):
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"body model not found: {path}. Download the SMPL+H and DMPL models "
                                            f"(see docs/pretrain.md) into {body_models_dir}.")
            models[gender] = BodyModel(bm_fname=bm_fname, num_betas=NUM_BETAS, num_dmpls=NUM_DMPLS,
                                       dmpl_fname=dmpl_fname).to(device)
        with torch.no_grad():
            tensors = {k: torch.Tensor(np.asarray(v)).to(device) for k, v in params.items()}
            return models[gender](**tensors).v.cpu().numpy()

    return vertices


def read_fname_list(fps_csv):
    """Motion names (first column) of ``fps.csv``, header skipped, surrounding spaces removed."""
    with open(fps_csv, newline="") as f:
        rows = list(csv.reader(f))
    return [row[0].strip() for row in rows[1:] if row]


def motions_to_joints(motions, fname_list, J_reg, vertices, clip_list_path):
    """H36M joints ``(17, T, 3)`` of every slice of every motion; writes the clip list.

    ``vertices(gender, params)`` poses the body (injected so the slicing runs without the body model).
    """
    if len(fname_list) != len(motions):
        raise ValueError(f"fps.csv lists {len(fname_list)} motions but the motions pickle has {len(motions)}; "
                         f"write both with one run of tools/compress_amass.py")
    all_joints = []
    with open(clip_list_path, "w") as f:
        print("clip_id, fname, clip_len", file=f)
        for motion, fname in tqdm(zip(motions, fname_list), total=len(motions), desc="AMASS motions"):
            gender = body_gender(motion)
            for start, end in slice_bounds(len(motion["trans"])):
                mesh = vertices(gender, body_params(motion, start, end))
                all_joints.append(np.dot(J_reg, mesh))  # (17, 6890) · (T, 6890, 3) -> (17, T, 3)
                print(len(all_joints) - 1, ",", fname, ",", end - start, file=f)
    return all_joints


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--motions", default="data/AMASS/all_motions_fps60.pkl",
                        help="motions written by tools/compress_amass.py (default: %(default)s)")
    parser.add_argument("--fps_csv", default="data/AMASS/fps.csv",
                        help="motion list written by tools/compress_amass.py (default: %(default)s)")
    parser.add_argument("--regressor", default="data/AMASS/J_regressor_h36m_correct.npy",
                        help="(17, 6890) vertex-to-H36M-joint regressor (default: %(default)s)")
    parser.add_argument("--body_models", default="data/AMASS/body_models",
                        help="folder with smplh/<gender>/model.npz and dmpls/<gender>/model.npz (default: %(default)s)")
    parser.add_argument("--out_pkl", default="data/AMASS/amass_joints_h36m_60.pkl",
                        help="joint trajectories (default: %(default)s)")
    parser.add_argument("--clip_list", default="data/AMASS/clip_list.csv", help="slice list (default: %(default)s)")
    parser.add_argument("--device", default=None, help="torch device for the body model (default: cuda if available)")
    add_debug_argument(parser)
    return parser.parse_args(argv)


def main(argv=None, vertices=None):
    """``vertices``: optional stand-in for the body model (see :func:`motions_to_joints`)."""
    args = parse_args(argv)
    for path, producer in ((args.motions, "tools/compress_amass.py"), (args.fps_csv, "tools/compress_amass.py"),
                           (args.regressor, "the MotionBERT data release (see docs/pretrain.md)")):
        if not os.path.isfile(path):
            raise UserError(f"input not found: {path} (comes from {producer})")
    check_output_file(args.out_pkl, "--out_pkl")
    check_output_file(args.clip_list, "--clip_list")
    if vertices is None:
        try:
            vertices = make_smplh_vertices(args.body_models, args.device)
        except ImportError as e:
            raise UserError(str(e)) from e
    with open(args.motions, "rb") as f:
        motions = pickle.load(f)
    J_reg = np.load(args.regressor)
    all_joints = motions_to_joints(motions, read_fname_list(args.fps_csv), J_reg, vertices, args.clip_list)
    write_pkl(all_joints, args.out_pkl)
    print(f"wrote {len(all_joints)} joint trajectories to {args.out_pkl} and {args.clip_list}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
