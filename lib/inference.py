"""Inference: device, precision, loading a task model, temporal windows, and lifting 2D keypoints to 3D.

The in-the-wild scripts (``infer_wild*.py``), ``tools/export_onnx.py`` and ``bench/`` share this
module; it can also be used without them (docs/inference.md, "Python API")::

    from lib.data.wild_input import load_wild_inputs
    from lib.inference import lift_pixels, load_model
    from lib.utils.tools import get_config

    cfg = get_config("configs/pose3d/MB_ft_h36m_global_lite.yaml")
    model = load_model(cfg, "checkpoint/pose3d/FT_MB_lite_MB_ft_h36m_global_lite/best_epoch.bin")
    keypoints = load_wild_inputs("alphapose-results.json").tracks[0].keypoints  # (F, 17, 3) pixels, H36M order
    poses_3d = lift_pixels(keypoints, (1920, 1080), model, cfg)                 # (F, 17, 3) pixels

:func:`lift` takes keypoints that are already normalised (``lib.data.wild_input.normalize_keypoints``);
:func:`lift_pixels` normalises pixel keypoints by the image size and maps the poses back to pixels,
as ``infer_wild.py --pixel`` does. Keypoints are H36M-17 ordered ``(x, y, confidence)``.

Windows: a sequence longer than the model's ``clip_len`` is cut into windows
(:func:`plan_windows`). ``stride == clip_len`` gives the original's non-overlapping chunks (and
its output); a smaller stride gives overlapping windows whose outputs are blended
(:func:`blend_windows`), so poses do not jump at window borders. Windows of one length run
through the model together, :data:`WINDOWS_PER_CALL` at a time.
"""
import os
from types import SimpleNamespace

import numpy as np
from tqdm import tqdm

from lib.data.wild_input import WildInputError, from_normalized, normalize_keypoints, pixel_mapping
from lib.utils.cli import PRECISIONS
from lib.utils.config_schema import INFER_POSE3D, load_config

# torch and the model code are imported where used, not here: a video run reads its options and starts decoding
# and detecting before they have loaded (infer_wild.py loads the model in the background meanwhile)

# the weights entry of each task's checkpoints (train.py saves 'model_pos', the task scripts 'model')
CHECKPOINT_KEYS = {"pose3d": "model_pos", "action": "model", "mesh": "model"}
# windows per forward call: bounds the memory of a long video on a GPU (on the CPU the backbone
# runs a batch clip by clip anyway)
WINDOWS_PER_CALL = 16
# what lift() reads from a config, and its values without one
LIFT_OPTIONS = {"flip": False, "rootrel": False, "no_conf": False, "gt_2d": False}


# the demo model and its video (docs/demo.md): they ship with the repository, so their paths are relative to it
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_FILES = {"config": os.path.join(_REPO, "configs", "pose3d", "MB_demo.yaml"),
              "evaluate": os.path.join(_REPO, "checkpoint", "demo", "best_epoch.bin"),
              "vid_path": os.path.join(_REPO, "examples", "demo.mp4")}
# the demo video's camera and subject, which the project knows (tools/prepare_demo_data.py: camera 55011271 of the walk
# take with seed 0, the video at --example-scale 0.5): focal length and principal point in the video's pixels, the
# camera's pitch (degrees down; it keeps its orientation as it follows the subject) and the humanoid's stature
DEMO_CAMERA = {"focal": 574.3, "center": [254.4, 254.05], "pitch": 5.6, "height": 1.70}
# the demo model was trained on 2D keypoints normalised by the frame size (train.py's H36M schema): --pixel
DEMO_NORMALIZATION = {"pixel": True}


def demo_defaults(cli, camera=True):
    """What ``--demo`` fills in: the demo model (:data:`DEMO_FILES`; its normalisation where the frame size is known),
    and, when the input is the
    demo video itself (no ``--json_path``, no ``--vid_path``) and ``camera``, the demo camera and subject
    (:data:`DEMO_CAMERA`) for the options ``cli`` has."""
    own_input = bool(cli.json_path or cli.vid_path)
    defaults = {key: value for key, value in DEMO_FILES.items() if not (own_input and key == "vid_path")}
    if camera and not own_input:
        defaults.update({key: value for key, value in DEMO_CAMERA.items() if hasattr(cli, key)})
    frame_size_known = not cli.json_path or cli.vid_path or getattr(cli, "size", None)
    for key, value in DEMO_NORMALIZATION.items():  # (a keypoint file without its video has no frame size)
        if hasattr(cli, key) and not getattr(cli, key) and frame_size_known:
            setattr(cli, key, value)
    return defaults


# what infer_wild.py and stream_wild.py run without --config/--evaluate: the released MotionBERT-Lite
DEFAULT_FILES = {"config": "configs/pose3d/MB_ft_h36m_global_lite.yaml",
                 "evaluate": "checkpoint/pose3d/FT_MB_lite_MB_ft_h36m_global_lite/best_epoch.bin"}


def add_model_arguments(parser):
    """``--config`` and ``-e/--evaluate``, unset by default (:func:`fill_defaults` gives :data:`DEFAULT_FILES` or
    the demo's)."""
    parser.add_argument("--config", type=str, default=None, help=f"config file (default: {DEFAULT_FILES['config']})")
    parser.add_argument("-e", "--evaluate", type=str, metavar="FILENAME", default=None,
                        help=f"checkpoint to run (default: {DEFAULT_FILES['evaluate']})")
    return parser


def fill_defaults(cli, defaults):
    """Give each option of ``defaults`` that the command line left unset (None) its default."""
    for key, value in defaults.items():
        if getattr(cli, key, None) is None:
            setattr(cli, key, value)


# ------------------------------------------------------------------ device, models, runners

def get_device(device=None):
    """``device`` as a ``torch.device``; by default CUDA when available, else the CPU."""
    import torch

    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(cfg, checkpoint=None, task="pose3d", device=None, log=print):
    """The ``task`` model of config ``cfg`` (``lib.model.factory``) with the weights of ``checkpoint``
    (its ``model_pos`` entry for pose3d, ``model`` otherwise; None: random weights), in eval mode
    on ``device`` (default: :func:`get_device`). ``log`` takes the line that names the checkpoint."""
    from lib.model.factory import build_model
    from lib.utils.checkpoint import load_weights_from_file

    model = build_model(cfg, task)
    if checkpoint:
        log(f"Loading checkpoint {checkpoint}")
        load_weights_from_file(model, checkpoint, key=CHECKPOINT_KEYS[task])
    return model.to(get_device(device)).eval()


class BackgroundModel:
    """A model loaded in a thread while the caller works (an in-the-wild run decodes and detects meanwhile: torch,
    the model code and the checkpoint take seconds to load). ``load(log)`` returns what :meth:`get` gives (the model,
    or a runner, and its device) and passes its console lines to ``log``; they are printed by :meth:`get`, not from
    the thread.

    :meth:`start` begins loading (once); :meth:`poll` starts it and re-raises a loading error as soon as there is one
    (a checkpoint that cannot be read stops the detection at once, not after it); :meth:`get` waits."""

    def __init__(self, load):
        self._load, self._future, self._lines = load, None, []

    def start(self):
        if self._future is None:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(1, thread_name_prefix="load-model")
            self._future = pool.submit(self._load, self._lines.append)
            pool.shutdown(wait=False)
        return self

    def poll(self):
        self.start()
        if self._future.done():
            self._future.result()

    def get(self):
        try:
            return self.start()._future.result()
        finally:
            for line in self._lines:
                print(line)
            self._lines.clear()


def load_demo_model(device="cpu"):
    """``(model, cfg)``: the demo model (:data:`DEMO_FILES`) as ``infer_wild.py --demo`` loads it."""
    cfg = load_config(DEMO_FILES["config"], INFER_POSE3D)
    return load_model(cfg, DEMO_FILES["evaluate"], "pose3d", device), cfg


def make_model_runner(model, device="cpu", precision="fp32"):
    """``model`` as a runner: ``(B, T, 17, C)`` tensor → float32 output tensor, without autograd, in ``precision``."""
    import torch

    from lib.utils.learning import precision_context

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
    import torch

    def run(x):
        return torch.from_numpy(session.run(None, {name: x.detach().cpu().numpy()})[0]).to(x.device)
    return run


def run_in_batches(run, inputs, batch_size, progress=None):
    """``run`` on ``inputs`` (a sequence of equally shaped arrays), ``batch_size`` of them per call.

    ``run`` maps a stacked batch to an array, or a tuple of arrays, with the batch first; the
    result is the same with all batches concatenated. ``progress`` (a tqdm bar) counts inputs.
    """
    results = []
    for start in range(0, len(inputs), batch_size):
        batch = np.stack(inputs[start:start + batch_size])
        result = run(batch)
        results.append(result if isinstance(result, tuple) else (result,))
        if progress is not None:
            progress.update(len(batch))
    joined = tuple(np.concatenate(parts) for parts in zip(*results))
    return joined if isinstance(result, tuple) else joined[0]


# ------------------------------------------------------------------ ONNX export

def onnx_example_input(cfg, is_action, batch, frames):
    """A random model input: ``(batch, frames, joints, channels)``, action models with a persons axis of 2."""
    import torch

    channels = 2 if cfg.get("no_conf", False) else 3
    shape = (batch, 2, frames, cfg.num_joints, channels) if is_action else (batch, frames, cfg.num_joints, channels)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(batch * 1000 + frames))


def export_onnx(model, cfg, is_action, path):
    """Write ``model`` to the ONNX file ``path`` with dynamic batch and frame count (frames ≤ ``cfg.maxlen``)."""
    import torch

    frames_axis = 2 if is_action else 1
    batch = torch.export.Dim("batch", min=1, max=4096)
    frames = torch.export.Dim("frames", min=2, max=cfg.maxlen)
    x = onnx_example_input(cfg, is_action, 2, cfg.maxlen)
    torch.onnx.export(model, (x,), path, input_names=["input"], output_names=["output"],
                      dynamic_shapes={"x": {0: batch, frames_axis: frames}}, dynamo=True, external_data=False)


# ------------------------------------------------------------------ windows

def sliding_windows(n_frames, window, stride):
    """``[(start, end), ...]``: ``window`` frames every ``stride`` frames, the last window shifted back to
    end at the last frame (no short window); one window of all frames if there are fewer."""
    if n_frames <= window:
        return [(0, n_frames)]
    starts = list(range(0, n_frames - window + 1, stride))
    if starts[-1] + window < n_frames:
        starts.append(n_frames - window)
    return [(st, st + window) for st in starts]


def plan_windows(n_frames, clip_len, stride):
    """``[(start, end), ...]`` windows covering ``n_frames`` frames.

    ``stride == clip_len``: the original's chunks (no overlap, the last one may be short).
    ``stride < clip_len``: :func:`sliding_windows` of ``clip_len`` frames every ``stride``
    frames, so no window is short unless the whole sequence is shorter than ``clip_len``.
    """
    if clip_len < 1:
        raise ValueError(f"clip_len must be at least 1, got {clip_len}")
    if not 1 <= stride <= clip_len:
        raise ValueError(f"stride must be between 1 and clip_len ({clip_len}), got {stride}; a larger stride "
                         f"would skip frames")
    if n_frames <= 0:
        return []
    if stride == clip_len:
        return [(st, min(st + clip_len, n_frames)) for st in range(0, n_frames, clip_len)]
    return sliding_windows(n_frames, clip_len, stride)


def window_weights(length):
    """Blending weights of one window: a raised cosine (Hann), strictly positive, peak in the middle.

    Frames near a window's ends, where the model sees the least context, count least, and a
    window fades in and out smoothly where it overlaps its neighbours.
    """
    t = (np.arange(length) + 0.5) / length
    return np.sin(np.pi * t) ** 2


def blend_windows(outputs, windows, n_frames, align=None):
    """Weighted average of per-window outputs ``(L_k, ...)`` into ``(n_frames, ...)`` float64.

    Windows must be in increasing start order. Non-overlapping windows are concatenated as
    they are. ``align(output, previous)`` may adjust a window before it is added, given the
    blend so far over the frames it shares with earlier windows (``previous`` is the blend of
    ``output[:len(previous)]``'s frames).
    """
    if all(a[1] <= b[0] for a, b in zip(windows, windows[1:])):
        return np.concatenate(outputs, axis=0)
    trailing = outputs[0].shape[1:]
    total = np.zeros((n_frames,) + trailing)
    weight_sum = np.zeros(n_frames)
    covered_end = 0
    for (st, end), out in zip(windows, outputs):
        n_shared = max(0, min(covered_end, end) - st)
        add_window(total, weight_sum, np.arange(st, end), np.asarray(out, dtype=np.float64),
                   window_weights(end - st), n_shared, align)
        covered_end = max(covered_end, end)
    if (weight_sum == 0).any():
        raise ValueError("the windows do not cover every frame")
    return total / weight_sum[(slice(None),) + (None,) * len(trailing)]


def add_window(total, weight_sum, frames, out, weights, n_shared=0, align=None):
    """Add one window's output ``out`` with per-frame ``weights`` to the running sums ``total`` and ``weight_sum`` at
    the indices ``frames`` (distinct), after ``align(out, previous)`` (see :func:`blend_windows`) when its first
    ``n_shared`` frames are covered by earlier windows. One step of :func:`blend_windows` and of the streaming
    lifter, which blends the same windows in a ring buffer."""
    expand = (slice(None),) + (None,) * (out.ndim - 1)
    if align is not None and n_shared:
        shared = frames[:n_shared]
        out = align(out, total[shared] / weight_sum[shared][expand])
    total[frames] += weights[expand] * out
    weight_sum[frames] += weights


def run_windows(run, motion, windows, batch_size=WINDOWS_PER_CALL, desc="windows", progress=None):
    """``run`` on every window ``motion[start:end]``: the per-window outputs, in window order.

    Windows of one length go through ``run`` together, ``batch_size`` per call (see
    :func:`run_in_batches`; an output that is a tuple gives a tuple per window). ``progress``: a function of the
    number of windows done (a whole run's bar, :class:`lib.utils.progress.RunProgress`) instead of this bar.
    """
    outputs = [None] * len(windows)
    by_length = {}
    for index, (st, end) in enumerate(windows):
        by_length.setdefault(end - st, []).append(index)
    with tqdm(total=len(windows), desc=desc, leave=False, disable=bool(progress)) as bar:
        counter = SimpleNamespace(update=progress) if progress else bar
        for indices in by_length.values():
            result = run_in_batches(run, [motion[windows[i][0]:windows[i][1]] for i in indices], batch_size,
                                    counter)
            for k, index in enumerate(indices):
                outputs[index] = tuple(r[k] for r in result) if isinstance(result, tuple) else result[k]
    return outputs


def seam_jump(motion, windows):
    """How much poses jump at window borders: ``(jump at borders, jump elsewhere)``.

    The jump of frame t is the mean joint displacement ``‖X[t+1] - X[t]‖`` (mean over joints);
    borders are the frames where a window starts (a new chunk in the original's chunking).
    On smooth motion both numbers are close when there is no seam.
    """
    step = np.linalg.norm(np.diff(motion, axis=0), axis=-1).mean(axis=-1)  # (F-1,): frame t -> t+1
    borders = sorted({st - 1 for st, _ in windows if st > 0})
    inside = np.ones(len(step), dtype=bool)
    inside[borders] = False
    return float(step[borders].mean()) if borders else 0.0, float(step[inside].mean())


# ------------------------------------------------------------------ lifting

def lift_options(cfg):
    """What lifting reads from a config (``flip``, ``rootrel``, ``no_conf``, ``gt_2d``; all off without one),
    as the options of ``lift_pose3d``."""
    return SimpleNamespace(**{key: (cfg or {}).get(key, default) for key, default in LIFT_OPTIONS.items()})


def model_clip_len(model, cfg=None):
    """The longest window ``model`` takes: the config's ``maxlen``, else the model's own."""
    clip_len = (cfg or {}).get("maxlen") or getattr(model, "maxlen", None)
    if clip_len is None:
        raise ValueError("lifting needs clip_len (or a cfg with maxlen) for a model runner")
    return clip_len


def as_runner(model, precision="fp32", device=None):
    """``(runner, device)``: a pose model (run in ``precision`` on its own device, or ``device``) as a
    :func:`make_model_runner` runner; a runner stays as it is (its inputs go to ``device``, default the CPU)."""
    import torch

    if isinstance(model, torch.nn.Module):
        device = device or next(model.parameters()).device
        model = make_model_runner(model, device, precision)
    return model, device or "cpu"


def align_depth(window, previous):
    """Shift a window's depth so its root depth agrees with the blend of earlier windows where they overlap.

    The model predicts depth relative to its window's first frame, so windows starting at
    different frames have different depth origins.
    """
    shifted = window.copy()
    shifted[..., 2] += np.mean(previous[:, 0, 2] - window[:len(previous), 0, 2])
    return shifted


def lift(keypoints_2d, model, cfg=None, clip_len=None, stride=None, precision="fp32", device=None,
         batch_size=WINDOWS_PER_CALL, desc="lift", progress=None):
    """Normalised 2D keypoints ``(F, 17, 3)`` → 3D poses ``(F, 17, 3)`` float32, as ``infer_wild.py``.

    ``model``: a pose model (:func:`load_model`), run with ``precision`` on its own device (or
    ``device``), or a runner (:func:`make_model_runner`, :func:`make_onnx_runner`; ``device``
    then says where its inputs go, default the CPU). ``cfg`` gives ``flip``, ``rootrel``,
    ``no_conf``, ``gt_2d`` (without it: all off) and ``maxlen``. ``clip_len`` defaults to the
    model's ``maxlen``; ``stride`` to ``clip_len // 3``.

    Chunks (``stride == clip_len``) are lifted and concatenated exactly as the original did
    (the root depth of each chunk's first frame set to 0 unless ``rootrel``). Overlapping
    windows are depth-aligned and blended; the depth origin is then the root of frame 0. ``progress``: see
    :func:`run_windows`.
    """
    options = lift_options(cfg)
    clip_len = clip_len if clip_len is not None else model_clip_len(model, cfg)
    stride = stride if stride is not None else max(1, clip_len // 3)
    model, device = as_runner(model, precision, device)
    motion = np.asarray(keypoints_2d, dtype=np.float32)
    windows = plan_windows(len(motion), clip_len, stride)
    chunked = stride == clip_len
    import torch

    from lib.utils.utils_data import lift_pose3d

    def lift_batch(clips):
        x = torch.from_numpy(clips).to(device)
        return lift_pose3d(options, model, x, zero_first_root_depth=chunked).cpu().numpy()

    outputs = run_windows(lift_batch, motion, windows, batch_size, desc, progress)
    if chunked or len(windows) == 1:
        if not chunked:  # a single window: same depth origin as the overlap mode
            outputs[0][..., 2] -= outputs[0][0, 0, 2]
        return np.concatenate(outputs, axis=0)
    result = blend_windows(outputs, windows, len(motion), align=align_depth)
    result[..., 2] -= result[0, 0, 2]
    return result.astype(np.float32)


def to_pixels(poses, image_size):
    """The original's ``--pixel`` output mapping of normalised poses: ``· min(w, h)/2``, then ``+ (w/2, h/2)``
    on x, y (z stays in the scaled units)."""
    return from_normalized(poses, pixel_mapping(None, vid_size=image_size))


def lift_pixels(keypoints_px, image_size, model, cfg=None, **options):
    """:func:`lift` for pixel keypoints ``(F, 17, 3)`` of ``image_size = (width, height)`` images: the
    original's ``--pixel`` mode (normalised by the frame size); poses in pixels (:func:`to_pixels`)."""
    poses = lift(normalize_keypoints(keypoints_px, vid_size=image_size), model, cfg, **options)
    return to_pixels(poses, image_size)


# ------------------------------------------------------------------ command line of the infer_wild*.py scripts

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


def add_precision_argument(parser):
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="bf16: matrix products in bfloat16 (about 2x faster on recent CPUs, ~1%% output "
                             "deviation); int8: Linear layers as int8 products (CPU only, ~0.6%% deviation on the "
                             "demo model); fp16: CUDA only; see docs/performance.md")
    return parser


def add_runtime_arguments(parser):
    """How the network runs: precision, or an exported ONNX file instead of the checkpoint."""
    add_precision_argument(parser)
    parser.add_argument("--onnx", default=None, metavar="FILE",
                        help="run this ONNX export (tools/export_onnx.py) with onnxruntime instead of the "
                             "checkpoint; --config still gives flip/rootrel/no_conf/gt_2d and maxlen")
    return parser


def check_clip_len(cli, maxlen):
    """Validate ``--clip_len`` against the model; sets its default, ``maxlen``."""
    if cli.clip_len is None:
        cli.clip_len = maxlen
    if cli.clip_len < 1:
        raise WildInputError(f"--clip_len must be positive, got {cli.clip_len}")
    if cli.clip_len > maxlen:
        raise WildInputError(f"--clip_len {cli.clip_len} is longer than the model's maxlen {maxlen} (config "
                             f"{cli.config}); use --clip_len {maxlen} or less")


def check_window_options(cli, maxlen):
    """Validate ``--clip_len`` (default: ``maxlen``) and ``--stride`` against the model; returns the stride."""
    check_clip_len(cli, maxlen)
    stride = cli.stride if cli.stride is not None else max(1, cli.clip_len // 3)
    if not 1 <= stride <= cli.clip_len:
        raise WildInputError(f"--stride must be between 1 and --clip_len ({cli.clip_len}), got {stride}")
    return stride


def normalization(cli, video):
    """Keyword arguments of ``normalize_keypoints``/``pixel_mapping`` for the original's two modes:
    the frame size (``--pixel``) or the person's bounding box over the whole video."""
    if not cli.pixel:
        return {"scale_range": [1, 1]}
    if video.size is None:
        raise WildInputError("--pixel normalises by the frame size, which is unknown without a video: give "
                             "--vid_path or --size WIDTH HEIGHT")
    return {"vid_size": video.size}


def prepare_device(precision):
    """:func:`get_device`, checked against ``--precision`` before any model loads."""
    from lib.utils.learning import precision_context

    device = get_device()
    precision_context(precision, device)  # an unusable --precision fails here
    return device


def report_outputs(out):
    """Print and return the files that the ``OutputSet`` ``out`` wrote: the end of a script's run."""
    print("Wrote " + ", ".join(out.written))
    return out.written
