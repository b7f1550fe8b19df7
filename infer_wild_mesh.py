"""SMPL meshes from the 2D keypoints of your own video (docs/mesh.md, docs/inference.md).

    python infer_wild_mesh.py --vid_path video.mp4 --json_path alphapose-results.json --out_path output/ \
        [--ref_3d_motion_path output/X3D.npy]

Without ``--json_path`` the built-in 2D detector finds and tracks everyone in the video (and writes
``keypoints_2d.json``, as ``infer_wild.py`` does).
Writes ``mesh.mp4`` (the mesh seen from the camera); with ``--save_npy`` also ``mesh.npy``
(vertices, mm) and ``mesh_joints.npy`` (H36M joints, mm). With ``--ref_3d_motion_path`` (the
``X3D.npy`` of ``infer_wild.py`` for the same person) the mesh follows that motion's root
trajectory. Several people without ``--focus``: one ``mesh_<id>.*`` set per person.
"""
import argparse
import os

import numpy as np
import torch
from scipy.optimize import least_squares

from lib.data.detector import KEYPOINTS_FILE, inputs_from_video_or_file, save_detections
from lib.data.wild_input import WildInputError, add_input_arguments, normalize_keypoints
from lib.inference import (add_precision_argument, add_window_arguments, blend_windows, check_window_options,
                           load_model, normalization, plan_windows, prepare_device, report_outputs, run_windows)
from lib.utils.cli import add_debug_argument, run_cli
from lib.utils.config_schema import INFER_MESH, load_config
from lib.utils.learning import precision_context
from lib.utils.outputs import OutputSet, check_output_folder
from lib.utils.utils_mesh import flip_averaged_output
from lib.utils.utils_smpl import SMPL
from lib.utils.vismo import motion2video_mesh


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=str, default="configs/mesh/MB_ft_pw3d.yaml", help="config file")
    parser.add_argument("-e", "--evaluate", type=str, metavar="FILENAME",
                        default="checkpoint/mesh/FT_MB_release_MB_ft_pw3d/best_epoch.bin", help="checkpoint to run")
    parser.add_argument("--ref_3d_motion_path", type=str, default=None,
                        help="X3D.npy of infer_wild.py for the same person (or, with several people, the folder "
                             "holding X3D_<id>.npy): the mesh follows its root trajectory")
    parser.add_argument("--save_npy", action="store_true", help="also write the vertices and joints (mm) as .npy")
    add_precision_argument(parser)
    add_input_arguments(parser)
    add_window_arguments(parser)
    add_debug_argument(parser)
    return parser.parse_args(argv)


def mean_distance(p, x, y):
    """Mean distance between ``σ·x + t`` and ``y`` for ``p = (σ, tx, ty, tz)``; x, y ``(N, 3)``."""
    return np.linalg.norm(p[0] * x + np.array([p[1], p[2], p[3]]) - y, axis=-1).mean()


def solve_scale(x, y):
    """Scale σ (with a translation) that best maps the reference motion ``x`` onto the mesh joints ``y``.

    Minimises :func:`mean_distance`, as the original. That objective is convex in
    ``(σ, t)``, so one solver run started from the least-squares fit reaches the optimum that the
    original searched for with 400 runs started at σ = 0, 5, …, 1995 (and takes milliseconds
    instead of minutes).
    """
    print('Estimating camera transformation.')
    x, y = x.reshape(-1, 3), y.reshape(-1, 3)
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    scale0 = float((xc * yc).sum() / max((xc * xc).sum(), 1e-12))
    start = np.concatenate([[scale0], y.mean(axis=0) - scale0 * x.mean(axis=0)])
    est = least_squares(mean_distance, start, args=(x, y))
    print('Pose matching error = %.2f mm.' % float(np.ravel(est.fun)[0]))
    return est.x[0]


@torch.no_grad()
def mesh_clips(model, smpl, clips, device, precision="fp32"):
    """Flip-averaged meshes of clips ``(B, T, 17, 3)``: vertices ``(B, T, V, 3)`` and H36M joints
    ``(B, T, 17, 3)``, mm.

    The original averaged the joints of the plain pass (mm) with those of the flipped pass in
    metres (so its joints came out at about half their size); here both are in millimetres.
    """
    x = torch.from_numpy(np.ascontiguousarray(clips)).to(device)
    with precision_context(precision, device):
        output = flip_averaged_output(model, smpl, x)
    return output['verts'].float().cpu().numpy(), output['kp_3d'].float().cpu().numpy()


def mesh_motion(model, smpl, motion, device, clip_len, stride, desc="mesh", precision="fp32"):
    """Vertices ``(F, V, 3)`` and joints ``(F, 17, 3)`` (mm, root-centred by SMPL) over windows.

    Overlapping windows are blended per vertex; ``stride == clip_len`` concatenates chunks as
    the original.
    """
    windows = plan_windows(len(motion), clip_len, stride)
    outputs = run_windows(lambda clips: mesh_clips(model, smpl, clips, device, precision), motion, windows,
                          desc=desc)
    verts = blend_windows([o[0] for o in outputs], windows, len(motion))
    joints = blend_windows([o[1] for o in outputs], windows, len(motion))
    return verts.astype(np.float32), joints.astype(np.float32)


def follow_reference(verts, joints, ref_motion):
    """Move the mesh (and its joints) along the root trajectory of ``ref_motion`` ``(F, 17, 3)``, as the original.

    The reference is scaled into millimetres by :func:`solve_scale`.
    """
    x = ref_motion - ref_motion[:, :1]
    y = joints - joints[:, :1]
    scale = solve_scale(x, y)
    shift = ref_motion[:, :1] * scale - joints[:, :1]
    return verts + shift, joints + shift


def _reference_path(cli, track, several):
    path = cli.ref_3d_motion_path
    if path is None:
        return None
    if os.path.isdir(path):
        path = os.path.join(path, f"X3D_{track.name}.npy" if several else "X3D.npy")
    elif several:
        raise WildInputError("several people are lifted: give --ref_3d_motion_path the folder of their "
                             "X3D_<id>.npy files, or pick one person with --focus")
    if not os.path.isfile(path):
        raise WildInputError(f"reference motion not found: {path} (write it with infer_wild.py)")
    return path


def load_reference(path, n_frames):
    """The reference motion ``(n_frames, 17, 3)`` of ``--ref_3d_motion_path`` (an ``X3D.npy``)."""
    try:
        motion = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise WildInputError(f"--ref_3d_motion_path {path} is not a readable .npy array ({str(e).splitlines()[0]}); "
                             f"use the X3D.npy of infer_wild.py") from e
    if motion.shape != (n_frames, 17, 3) or not np.issubdtype(motion.dtype, np.number):
        raise WildInputError(f"--ref_3d_motion_path {path} has shape {motion.shape} ({motion.dtype}), expected "
                             f"({n_frames}, 17, 3): use the X3D.npy of infer_wild.py for the same video and person")
    if not np.isfinite(motion).all():
        raise WildInputError(f"--ref_3d_motion_path {path} holds NaN or infinite values")
    return motion.astype(np.float64)


def run(cli):
    cfg = load_config(cli.config, INFER_MESH)
    stride = check_window_options(cli, cfg.maxlen)
    inputs, detections = inputs_from_video_or_file(cli)
    print(inputs.summary())
    video = inputs.video
    motions = [normalize_keypoints(track.keypoints, **normalization(cli, video)) for track in inputs.tracks]
    several = len(inputs.tracks) > 1
    references = {}
    for track in inputs.tracks:
        path = _reference_path(cli, track, several)
        references[track.name] = load_reference(path, len(track.detected)) if path else None
    stems = {track.name: f"mesh_{track.name}" if several else "mesh" for track in inputs.tracks}
    extensions = (".mp4", ".npy", "_joints.npy") if cli.save_npy else (".mp4",)
    names = [stem + ext for stem in stems.values() for ext in extensions]
    check_output_folder(cli.out_path, names)
    device = prepare_device(cli.precision)
    model = load_model(cfg, cli.evaluate, "mesh", device)
    smpl = SMPL(cfg.data_root, batch_size=1).to(device)
    with OutputSet(cli.out_path, owned=("mesh*", KEYPOINTS_FILE), script="infer_wild_mesh.py") as out:
        save_detections(out, detections)
        for track, motion in zip(inputs.tracks, motions):
            verts, joints = mesh_motion(model, smpl, motion, device, cli.clip_len, stride,
                                        desc=f"mesh person {track.track_id}", precision=cli.precision)
            if references[track.name] is not None:
                verts, joints = follow_reference(verts, joints, references[track.name])
            stem = stems[track.name]
            motion2video_mesh(np.transpose(verts, (1, 2, 0)), out.path(stem + ".mp4"), fps=video.playback_fps,
                              draw_face=True, faces=smpl.faces)
            if cli.save_npy:
                np.save(out.path(stem + ".npy"), verts)
                np.save(out.path(stem + "_joints.npy"), joints)
    return report_outputs(out)


def main(argv=None):
    return run(parse_args(argv))


# --- the original's script-level functions (spec 00 §7.10), kept for compatibility; solve_scale (above) is
# the original's name and signature too
def err(p, x, y):
    """The original's name of :func:`mean_distance`."""
    return mean_distance(p, x, y)


if __name__ == "__main__":
    run_cli(main)

