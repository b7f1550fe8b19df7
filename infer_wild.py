"""3D poses from the 2D keypoints of your own video (docs/inference.md).

    python infer_wild.py --vid_path video.mp4 --json_path alphapose-results.json --out_path output/

Writes ``X3D.npy`` (float32 ``(F, 17, 3)``, one pose per video frame), ``X3D.json`` (the same with
joint names, units, fps and size) and ``X3D.mp4`` (rendered skeleton); with several people and no
``--focus``, one ``X3D_<id>.*`` set per person. ``--stride`` equal to ``--clip_len`` reproduces
the original's non-overlapping chunks (and its ``X3D.npy``); the default blends overlapping
windows so poses do not jump at chunk borders.
"""
import argparse
import json
import os

import cv2
import imageio
import numpy as np
import torch
from tqdm import tqdm

from lib.data.dataset_wild import blend_windows, plan_windows
from lib.data.wild_input import (WildInputError, add_input_arguments, inputs_from_args, normalize_keypoints,
                                 pixel_mapping)
from lib.skeleton import BONES_RENDER_ORDER as BONES_3D, JOINT_NAMES as H36M_JOINT_NAMES
from lib.skeleton import LEFT_BONES as LEFT_BONES_3D, RIGHT_BONES as RIGHT_BONES_3D
from lib.utils.checkpoint import load_weights_from_file
from lib.utils.cli import add_debug_argument, run_cli
from lib.utils.config_schema import INFER_POSE3D, load_config
from lib.utils.learning import PRECISIONS, load_backbone, precision_context
from lib.utils.outputs import OutputSet, check_output_folder
from lib.utils.utils_data import lift_pose3d
from lib.utils.vismo import hex2rgb, render_and_save


REPO = os.path.dirname(os.path.abspath(__file__))
DEFAULTS = {"config": "configs/pose3d/MB_ft_h36m_global_lite.yaml",
            "evaluate": "checkpoint/pose3d/FT_MB_lite_MB_ft_h36m_global_lite/best_epoch.bin"}
# the offline demo (docs/demo.md); its files ship with the repository, so paths are relative to it
DEMO = {"config": os.path.join(REPO, "configs", "pose3d", "MB_demo.yaml"),
        "evaluate": os.path.join(REPO, "checkpoint", "demo", "best_epoch.bin"),
        "json_path": os.path.join(REPO, "examples", "demo_alphapose.json"),
        "vid_path": os.path.join(REPO, "examples", "demo.mp4"),
        "out_path": os.path.join("output", "demo")}


def add_window_arguments(parser):
    """Normalisation and temporal windows of the lifting scripts (``infer_wild.py``, ``infer_wild_mesh.py``)."""
    parser.add_argument("--pixel", action="store_true", help="normalise by the frame size (keep the pixel scale) "
                                                             "instead of the person's bounding box")
    parser.add_argument("--clip_len", type=int, default=None, help="frames per model window, at most the config's "
                                                                   "maxlen (default: maxlen, 243 for the released "
                                                                   "models)")
    parser.add_argument("--stride", type=int, default=None,
                        help="frames between window starts; default clip_len // 3 (overlapping windows, "
                             "blended); equal to --clip_len: the original's non-overlapping chunks")
    return parser


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=str, default=None,
                        help="config file (default: configs/pose3d/MB_ft_h36m_global_lite.yaml)")
    parser.add_argument("-e", "--evaluate", type=str, metavar="FILENAME", default=None,
                        help="checkpoint to run (default: "
                             "checkpoint/pose3d/FT_MB_lite_MB_ft_h36m_global_lite/best_epoch.bin)")
    parser.add_argument("--demo", action="store_true",
                        help="the offline demo: the small model trained on open motion capture "
                             f"({DEMO['config']}, {DEMO['evaluate']}) on {DEMO['json_path']} and "
                             f"{DEMO['vid_path']}; --out_path defaults to {DEMO['out_path']} (docs/demo.md)")
    add_input_arguments(parser, required=False)
    add_window_arguments(parser)
    add_runtime_arguments(parser)
    parser.add_argument("--overlay", action="store_true",
                        help="also write overlay.mp4: the 2D input skeletons drawn on the video")
    add_debug_argument(parser)
    opts = parser.parse_args(argv)
    defaults = dict(DEMO) if opts.demo else dict(DEFAULTS)
    if opts.demo and opts.json_path:  # your own keypoints with the demo model: no demo video
        defaults.pop("vid_path")
    for key, value in defaults.items():
        if getattr(opts, key, None) is None:
            setattr(opts, key, value)
    for key in ("json_path", "out_path"):
        if getattr(opts, key) is None:
            parser.error(f"--{key} is required (or run --demo)")
    return opts


def normalization(opts, video):
    """Keyword arguments of ``normalize_keypoints``/``pixel_mapping`` for the original's two modes:
    the frame size (``--pixel``) or the person's bounding box over the whole video."""
    if not opts.pixel:
        return {"scale_range": [1, 1]}
    if video.size is None:
        raise WildInputError("--pixel normalises by the frame size, which is unknown without a video: give "
                             "--vid_path or --size WIDTH HEIGHT")
    return {"vid_size": video.size}


def check_window_options(opts, maxlen):
    """Validate ``--clip_len`` (default: ``maxlen``) and ``--stride`` against the model; returns the stride."""
    if opts.clip_len is None:
        opts.clip_len = maxlen
    if opts.clip_len < 1:
        raise WildInputError(f"--clip_len must be positive, got {opts.clip_len}")
    if opts.clip_len > maxlen:
        raise WildInputError(f"--clip_len {opts.clip_len} is longer than the model's maxlen {maxlen} (config "
                             f"{opts.config}); use --clip_len {maxlen} or less")
    stride = opts.stride if opts.stride is not None else max(1, opts.clip_len // 3)
    if not 1 <= stride <= opts.clip_len:
        raise WildInputError(f"--stride must be between 1 and --clip_len ({opts.clip_len}), got {stride}")
    return stride


def get_device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_pose_model(args, checkpoint_path, device):
    """The backbone of ``args`` with the checkpoint's ``model_pos`` weights, in eval mode."""
    model = load_backbone(args)
    print(f"Loading checkpoint {checkpoint_path}")
    load_weights_from_file(model, checkpoint_path, key="model_pos")
    return model.to(device).eval()


def add_runtime_arguments(parser):
    """How the network runs: precision, or an exported ONNX file instead of the checkpoint."""
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="bf16: matrix products in bfloat16 (about 2x faster on recent CPUs, ~1%% output "
                             "deviation; docs/performance.md); fp16: CUDA only")
    parser.add_argument("--onnx", default=None, metavar="FILE",
                        help="run this ONNX export (tools/export_onnx.py) with onnxruntime instead of the "
                             "checkpoint; --config still gives flip/rootrel/no_conf/gt_2d and maxlen")
    return parser


def make_model_runner(model, device="cpu", precision="fp32"):
    """The one place the network is called: ``(B, T, 17, C)`` tensor → float32 ``(B, T, 17, 3)`` tensor."""
    def run(x):
        with torch.no_grad(), precision_context(precision, device):
            return model(x).float()
    return run


def make_onnx_runner(path):
    """A runner (as :func:`make_model_runner`) backed by an onnxruntime session of ``path``."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise WildInputError("--onnx needs onnxruntime: pip install onnxruntime")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX file not found: {path} (write it with tools/export_onnx.py)")
    try:
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for unreadable models
        raise WildInputError(f"--onnx {path} is not a readable ONNX model ({type(e).__name__}); write it with "
                             f"tools/export_onnx.py") from e
    name = session.get_inputs()[0].name

    def run(x):
        return torch.from_numpy(session.run(None, {name: x.detach().cpu().numpy()})[0]).to(x.device)
    return run


def lift_clip(run_model, clip, args, device, zero_first_root_depth=True):
    """One window ``(T, 17, 3)`` normalised 2D → ``(T, 17, 3)`` 3D, as the original's loop body
    (``zero_first_root_depth``: the original's chunk behaviour for global models)."""
    x = torch.from_numpy(np.ascontiguousarray(clip))[None].to(device)
    return lift_pose3d(args, run_model, x, zero_first_root_depth)[0].cpu().numpy()


def _align_depth(window, previous):
    """Shift a window's depth so its root depth agrees with the blend of earlier windows where they overlap.

    The model predicts depth relative to its window's first frame, so windows starting at
    different frames have different depth origins.
    """
    shifted = window.copy()
    shifted[..., 2] += np.mean(previous[:, 0, 2] - window[:len(previous), 0, 2])
    return shifted


def lift_motion(run_model, motion, args, device, clip_len, stride, desc="lift"):
    """Normalised 2D ``(F, 17, 3)`` → 3D ``(F, 17, 3)`` float32 over windows (see :func:`plan_windows`).

    Chunks (``stride == clip_len``) are concatenated exactly as the original did. Overlapping
    windows are depth-aligned and blended; the depth origin is then the root of frame 0.
    """
    windows = plan_windows(len(motion), clip_len, stride)
    chunked = stride == clip_len
    outputs = [lift_clip(run_model, motion[st:end], args, device, zero_first_root_depth=chunked)
               for st, end in tqdm(windows, desc=desc, leave=False)]
    if chunked or len(windows) == 1:
        if not chunked:  # a single window: same depth origin as the overlap mode
            outputs[0][..., 2] -= outputs[0][0, 0, 2]
        return np.concatenate(outputs, axis=0)
    result = blend_windows(outputs, windows, len(motion), align=_align_depth)
    result[..., 2] -= result[0, 0, 2]
    return result.astype(np.float32)


def to_pixels(results, vid_size):
    """The original's ``--pixel`` output mapping: ``· min(w, h)/2``, then ``+ (w/2, h/2)`` on x, y."""
    results = results * (min(vid_size) / 2.0)
    results[:, :, :2] = results[:, :, :2] + np.array(vid_size) / 2.0
    return results


def x3d_json(results, track, video, opts, mapping, stride):
    """``X3D.json``: the poses of ``X3D.npy`` with joint names, units and the video's fps and size
    (null when unknown: no video and no --fps/--size)."""
    pixel = opts.pixel
    doc = {
        "description": "MotionBERT 3D poses, one per video frame (see docs/inference.md)",
        "track_id": track.track_id,
        "fps": video.fps,
        "width": video.width,
        "height": video.height,
        "n_frames": int(len(results)),
        "joint_names": list(H36M_JOINT_NAMES),
        "bones": [list(b) for b in BONES_3D],
        "units": "pixels" if pixel else "normalised",
        "axes": "x: image right, y: image down, z: depth away from the camera, in the units of x and y",
        "origin": ("x, y: image pixels (origin at the top-left corner); z: 0 at the root (pelvis) of the first "
                   "frame" if pixel else
                   "x, y: the person's 2D bounding box over the whole video, mapped to [-1, 1] (longer side); "
                   "z: 0 at the root (pelvis) of the first frame"),
        "window": {"clip_len": opts.clip_len, "stride": stride,
                   "mode": "chunks (original)" if stride == opts.clip_len else "overlapping windows, blended"},
    }
    if stride == opts.clip_len:
        doc["origin"] = doc["origin"].replace("of the first frame", "of the first frame of every chunk "
                                              "(as the original; other frames keep the model's depth)")
    if not pixel and mapping is not None:
        scale, offset = mapping
        doc["to_pixels"] = {"scale": float(scale), "offset": [float(o) for o in offset],
                            "formula": "pixel_x = x * scale + offset[0]; pixel_y = y * scale + offset[1]; "
                                       "pixel_z = z * scale"}
    conf = track.keypoints[:, :, 2]
    doc["frames"] = [{"frame": t, "detected": bool(track.detected[t]),
                      "keypoints_3d": np.round(results[t].astype(np.float64), 6).tolist(),
                      "confidence_2d": np.round(conf[t], 4).tolist()} for t in range(len(results))]
    return doc


def write_overlay(video, tracks, save_path):
    """The input video with every person's 2D skeleton (and id) drawn on it."""
    left, middle, right = hex2rgb("#F96706#FB8D43#FDB381")  # the original's 2D skeleton colours (L, M, R)
    thickness = max(2, round(min(video.size) / 300))
    reader = imageio.get_reader(video.path, "ffmpeg")
    writer = imageio.get_writer(save_path, fps=video.fps, macro_block_size=2)
    try:
        for t, frame in enumerate(tqdm(reader, total=video.n_frames, desc="overlay")):
            if t >= video.n_frames:
                break
            img = np.ascontiguousarray(frame[..., :3])
            for track in tracks:
                kpts = track.keypoints[t]
                pts = np.round(kpts[:, :2] * 16).astype(np.int64)
                for bone in BONES_3D:
                    color = left if bone in LEFT_BONES_3D else right if bone in RIGHT_BONES_3D else middle
                    if not track.detected[t]:
                        color = (160, 160, 160)  # interpolated frame
                    cv2.line(img, tuple(pts[bone[0]]), tuple(pts[bone[1]]), color, thickness, cv2.LINE_AA, shift=4)
                if len(tracks) > 1:
                    head = tuple(int(v) for v in kpts[10, :2])
                    cv2.putText(img, str(track.track_id), (head[0], head[1] - 10), cv2.FONT_HERSHEY_SIMPLEX,
                                thickness / 3, left, thickness, cv2.LINE_AA)
            writer.append_data(img)
    finally:
        writer.close()
        reader.close()


def output_names(tracks, overlay=False):
    """Output file stems per track (``X3D``, or ``X3D_<id>`` with several people) and every file name."""
    stems = {t.name: f"X3D_{t.name}" if len(tracks) > 1 else "X3D" for t in tracks}
    names = [stem + ext for stem in stems.values() for ext in (".npy", ".json", ".mp4")]
    return stems, names + (["overlay.mp4"] if overlay else [])


def run(opts):
    args = load_config(opts.config, INFER_POSE3D)
    stride = check_window_options(opts, args.maxlen)
    if opts.overlay and not opts.vid_path:
        raise WildInputError("--overlay draws on the input video: give it with --vid_path")
    inputs = inputs_from_args(opts)
    print(inputs.summary())
    video = inputs.video
    motions = [normalize_keypoints(track.keypoints, **normalization(opts, video)) for track in inputs.tracks]
    stems, names = output_names(inputs.tracks, opts.overlay)
    check_output_folder(opts.out_path, names)
    device = get_device()
    precision_context(opts.precision, device)  # an unusable --precision fails before the model loads
    if opts.onnx:
        print(f"Running {opts.onnx} with onnxruntime")
        run_model = make_onnx_runner(opts.onnx)
    else:
        run_model = make_model_runner(load_pose_model(args, opts.evaluate, device), device, opts.precision)
    with OutputSet(opts.out_path) as out:
        for track, motion in zip(inputs.tracks, motions):
            mapping = pixel_mapping(track.keypoints, **normalization(opts, video))
            results = lift_motion(run_model, motion, args, device, opts.clip_len, stride,
                                  desc=f"lift person {track.track_id}")
            stem = stems[track.name]
            render_and_save(results, out.path(stem + ".mp4"), keep_imgs=False, fps=video.playback_fps)
            if opts.pixel:
                results = to_pixels(results, video.size)
            np.save(out.path(stem + ".npy"), results)
            with open(out.path(stem + ".json"), "w") as f:
                json.dump(x3d_json(results, track, video, opts, mapping, stride), f)
        if opts.overlay:
            write_overlay(video, inputs.tracks, out.path("overlay.mp4"))
    print("Wrote " + ", ".join(out.written))
    return out.written


def main(argv=None):
    return run(parse_args(argv))


if __name__ == "__main__":
    run_cli(main)
