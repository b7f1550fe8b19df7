"""Reading and writing checkpoints in the original MotionBERT formats (spec 01 §9).

Every script goes through this module, so that:

* all file layouts load: ``train.py``'s ``{'model_pos', ...}``, the task scripts' ``{'model', ...}``
  and bare state dicts, with or without the ``module.`` prefix that ``nn.DataParallel`` added
  to the released files, on CPU or GPU;
* loading is safe: ``torch.load(weights_only=True)`` with an allow-list of exactly the NumPy
  scalar/dtype globals the original's files hold (``min_loss``/``best_jpe`` are
  ``numpy.float64``), so old files load and arbitrary pickled code does not run;
* a file that does not fit the model fails with one message listing the missing, unexpected
  and mis-shaped keys, and says which released backbone the file's shapes belong to;
* files are written atomically (temporary file + rename) in the original layout (``module.``
  keys, plain Python numbers), so the original code can read them too; the temporary a killed
  write leaves behind is removed by the next write of the same file.
"""
import os
import pickle
import re
import secrets
import zipfile
from collections import OrderedDict

import numpy as np
import torch

from lib.utils.errors import UserError

MODULE_PREFIX = "module."

# Backbones whose weights were released, with the configs that build them (spec 01 §1).
RELEASED_BACKBONES = OrderedDict([
    ("MotionBERT", dict(dim_feat=512, mlp_ratio=2, depth=5, dim_rep=512, maxlen=243, num_joints=17,
                        configs=("configs/pretrain/MB_pretrain.yaml", "configs/pose3d/MB_ft_h36m.yaml",
                                 "configs/pose3d/MB_ft_h36m_global.yaml", "configs/action/*.yaml",
                                 "configs/mesh/*.yaml"))),
    ("MotionBERT-Lite", dict(dim_feat=256, mlp_ratio=4, depth=5, dim_rep=512, maxlen=243, num_joints=17,
                             configs=("configs/pretrain/MB_lite.yaml",
                                      "configs/pose3d/MB_ft_h36m_global_lite.yaml"))),
])
_SIZE_KEYS = ("dim_feat", "mlp_ratio", "depth", "dim_rep", "maxlen", "num_joints")


class CheckpointError(UserError, RuntimeError):
    """A checkpoint file cannot be read, or does not fit the model."""


class CheckpointMismatchError(CheckpointError):
    """The file's keys or tensor shapes do not match the model."""


def _numpy_safe_globals():
    """NumPy globals that pickled ``numpy.float64`` metrics need (NumPy 1.x and 2.x names)."""
    scalar = np._core.multiarray.scalar if hasattr(np, "_core") else np.core.multiarray.scalar
    allowed = [(scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar"), np.dtype]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        allowed += [getattr(dtypes, n) for n in ("Float64DType", "Float32DType", "Int64DType", "Int32DType")
                    if hasattr(dtypes, n)]
    return allowed


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


# the first bytes of files that are often given by mistake
_FILE_SIGNATURES = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
                    (b"%PDF", "a PDF document"), (b"\x93NUMPY", "a NumPy .npy array"),
                    (b"\x1f\x8b", "a gzip archive"), (b"\x00\x00\x00", "a video or binary file"))
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6 (and .npz files)
_PICKLE_PROTOCOLS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")  # the legacy torch.save format
# what torch's weights-only unpickler says when the file holds a Python object outside the allow-list
_FORBIDDEN_OBJECT = re.compile(r"GLOBAL ([\w.]+)|allowlisted via `add_safe_globals`,? but got <class '([\w.]+)'>")


def resume_hint(path):
    """For a damaged ``latest_epoch.bin``: which intact ``epoch_N.bin`` of the same folder to resume from."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.basename(path) != "latest_epoch.bin":
        return ""
    epochs = sorted((int(m.group(1)), name) for name in os.listdir(folder)
                    if (m := re.fullmatch(r"epoch_(\d+)\.bin", name)))
    intact = [name for _, name in reversed(epochs) if zipfile.is_zipfile(os.path.join(folder, name))]
    if intact:
        return (f"; resume from the last saved epoch with --resume {os.path.join(folder, intact[0])}, or delete "
                f"{path} to start afresh")
    return f"; delete {path} to start afresh (no intact epoch_N.bin next to it)"


def _unreadable(path):
    """The :class:`CheckpointError` for a file that ``torch.load`` could not read: what the file seems to be.

    torch's own message is left out: it is about its internals and may suggest ``weights_only=False``.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if size == 0:
        what = "is empty (0 bytes): it was not written completely"
    elif head.startswith(_ZIP_MAGIC):
        what = ("is a zip archive but not a PyTorch checkpoint (an .npz?)" if zipfile.is_zipfile(path) else
                f"is truncated or corrupt ({size} bytes, a damaged zip archive)")
    elif head.startswith(_PICKLE_PROTOCOLS):
        what = f"is truncated or corrupt, or a plain pickle rather than a torch.save file ({size} bytes)"
    else:
        kind = next((name for magic, name in _FILE_SIGNATURES if head.startswith(magic)), f"{size} bytes of "
                                                                                           f"something else")
        what = f"is not a PyTorch checkpoint ({kind})"
    return CheckpointError(f"cannot read checkpoint {path}: it {what}{resume_hint(path)}")


def load_checkpoint(path, map_location="cpu"):
    """Load a checkpoint dict safely (``weights_only=True`` + the NumPy scalar allow-list).

    Raises :class:`CheckpointNotFoundError` for a missing file and :class:`CheckpointError`
    (naming the path) for an empty, truncated or corrupt file, a file that is not a PyTorch
    checkpoint, or one that holds Python objects outside the allow-list. No message suggests
    an unsafe load.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointNotFoundError(f"checkpoint not found: {path}")
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint path is a folder, expected a file: {path}")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for damaged files (even IndexError, KeyError)
        forbidden = _FORBIDDEN_OBJECT.search(str(e)) if isinstance(e, pickle.UnpicklingError) else None
        if forbidden:
            raise CheckpointError(
                f"refusing to load {path}: it holds the Python object {forbidden.group(1) or forbidden.group(2)}, "
                f"which is not a tensor, number or container, and unpickling it could run arbitrary code; a "
                f"checkpoint needs only weights and plain numbers: save the state_dict alone") from e
        raise _unreadable(path) from e
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} does not hold a checkpoint dict (found {type(ckpt).__name__})")
    return ckpt


def _is_state_dict(obj):
    return isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def state_dict_from_checkpoint(ckpt, key=None, path="<checkpoint>"):
    """Return the model weights stored in ``ckpt``.

    ``key`` names the preferred entry (``'model_pos'`` for ``train.py`` files, ``'model'`` for the
    task scripts'); otherwise ``model_pos``, ``model`` and ``state_dict`` are tried, then the
    checkpoint itself as a bare state dict.
    """
    candidates = ([key] if key else []) + ["model_pos", "model", "state_dict"]
    for k in candidates:
        if k in ckpt and _is_state_dict(ckpt[k]):
            return ckpt[k]
    if _is_state_dict(ckpt):
        return ckpt
    raise CheckpointError(f"{path} holds no model weights: expected a '{key or 'model_pos'}' entry or a bare state "
                          f"dict, found keys {sorted(map(str, ckpt))[:10]}")


def strip_prefix(state_dict, prefix=MODULE_PREFIX):
    """Drop ``prefix`` (once) from every key that starts with it."""
    return OrderedDict((k[len(prefix):] if k.startswith(prefix) else k, v) for k, v in state_dict.items())


def unwrap_model(model):
    """The bare model inside ``nn.DataParallel`` / ``DistributedDataParallel`` (or the model itself)."""
    while isinstance(model, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)):
        model = model.module
    return model


def infer_backbone_sizes(state_dict):
    """Backbone sizes read off the tensor shapes of a (possibly prefixed) DSTformer state dict.

    Returns ``None`` if the dict holds no DSTformer. ``num_heads`` cannot be read from shapes.
    """
    pos_keys = [k for k in state_dict if k.endswith("pos_embed") and state_dict[k].dim() == 3]
    if not pos_keys:
        return None
    prefix = pos_keys[0][:-len("pos_embed")]
    sd = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    sizes = {"dim_feat": sd["pos_embed"].shape[-1], "num_joints": sd["pos_embed"].shape[1]}
    if "temp_embed" in sd:
        sizes["maxlen"] = sd["temp_embed"].shape[1]
    blocks = {k.split(".")[1] for k in sd if k.startswith("blocks_st.")}
    sizes["depth"] = len(blocks)
    fc1 = sd.get("blocks_st.0.mlp_s.fc1.weight")
    if fc1 is not None:
        ratio = fc1.shape[0] / sizes["dim_feat"]
        sizes["mlp_ratio"] = int(ratio) if ratio == int(ratio) else ratio
    if "pre_logits.fc.weight" in sd:
        sizes["dim_rep"] = sd["pre_logits.fc.weight"].shape[0]
    if "joints_embed.weight" in sd:
        sizes["dim_in"] = sd["joints_embed.weight"].shape[1]
    sizes["att_fuse"] = any(k.startswith("ts_attn.") for k in sd)
    return sizes


def match_released_backbone(sizes):
    """Name of the released backbone with these sizes, or ``None``."""
    if not sizes:
        return None
    for name, ref in RELEASED_BACKBONES.items():
        if all(sizes.get(k) == ref[k] for k in _SIZE_KEYS):
            return name
    return None


def _describe_sizes(sizes):
    return ", ".join(f"{k}={sizes[k]}" for k in _SIZE_KEYS if k in sizes)


def _list(keys, limit=12):
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def check_state_dict(model, state_dict, path="<state dict>"):
    """Raise ``CheckpointMismatchError`` unless ``state_dict`` fits ``model`` key for key and shape."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mis_shaped = [k for k in own if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)]
    if not (missing or unexpected or mis_shaped):
        return
    lines = [f"checkpoint {path} does not fit the model ({type(model).__name__}, {len(own)} tensors; "
             f"file: {len(state_dict)} tensors):"]
    if missing:
        lines.append(f"  missing in the file ({len(missing)}): {_list(missing)}")
    if unexpected:
        lines.append(f"  not in the model ({len(unexpected)}): {_list(unexpected)}")
    if mis_shaped:
        shapes = [f"{k} file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}" for k in mis_shaped]
        lines.append(f"  different shapes ({len(mis_shaped)}): {_list(shapes, limit=6)}")
    file_sizes, model_sizes = infer_backbone_sizes(state_dict), infer_backbone_sizes(own)
    if file_sizes and model_sizes and file_sizes != model_sizes:
        released = match_released_backbone(file_sizes)
        what = f"the released {released} backbone" if released else "no released backbone"
        lines.append(f"The file holds a backbone with {_describe_sizes(file_sizes)}: that is {what}; "
                     f"the model was built with {_describe_sizes(model_sizes)}.")
        if released:
            lines.append(f"Use a config with the file's sizes, e.g. "
                         f"{' or '.join(RELEASED_BACKBONES[released]['configs'][:2])}.")
        else:
            lines.append("Use a config whose dim_feat, mlp_ratio, depth, dim_rep and maxlen match the file.")
    elif file_sizes is None and model_sizes is not None:
        lines.append("The file holds no DSTformer backbone weights.")
    raise CheckpointMismatchError("\n".join(lines))


def load_model_weights(model, state_dict, path="<state dict>"):
    """Strictly load ``state_dict`` into ``model`` (wrapped or not), whatever its ``module.`` prefix."""
    target = unwrap_model(model)
    state_dict = strip_prefix(state_dict)
    check_state_dict(target, state_dict, path)
    target.load_state_dict(state_dict, strict=True)
    return model


def load_weights_from_file(model, path, key=None, map_location="cpu"):
    """Load the weights entry ``key`` of the checkpoint at ``path`` into ``model``; return the checkpoint."""
    ckpt = load_checkpoint(path, map_location=map_location)
    load_model_weights(model, state_dict_from_checkpoint(ckpt, key, path), path)
    return ckpt


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return type(obj)((k, _to_cpu(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def plain_number(value):
    """A Python number for NumPy scalars and 0-dim tensors (metrics such as ``min_loss``, ``best_acc``)."""
    if isinstance(value, np.generic) or (isinstance(value, torch.Tensor) and value.dim() == 0):
        return value.item()
    return value


def model_state_for_saving(model):
    """The model's state dict with CPU tensors and the ``module.`` prefix of the released files."""
    state = unwrap_model(model).state_dict()
    return OrderedDict((MODULE_PREFIX + k, v.detach().cpu()) for k, v in state.items())


# ``.<file name>.<8 random characters>.tmp``: the temporary of a checkpoint being written
# (8 hex characters; earlier versions used tempfile's 8 characters of [a-z0-9_])
_TEMPORARY = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp\Z")


def remove_stale_temporaries(folder, name=None):
    """Delete the temporaries that killed checkpoint writes left in ``folder``: those of the file
    ``name``, or of every file when ``name`` is None. Returns the paths removed."""
    removed = []
    for entry in os.listdir(folder) if os.path.isdir(folder) else ():
        match = _TEMPORARY.match(entry)
        if match and (name is None or match.group("target") == name):
            try:
                os.unlink(os.path.join(folder, entry))
                removed.append(os.path.join(folder, entry))
            except FileNotFoundError:
                pass
    return removed


def _create_temporary(path):
    """Open a new hidden file next to ``path`` for writing; its permissions are the usual ones
    (0o666 minus the process umask, applied by ``open`` itself)."""
    folder, name = os.path.split(path)
    while True:
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue


def save_checkpoint(path, payload):
    """Write ``payload`` with ``torch.save`` atomically: a crash leaves any previous file intact.

    Tensors are moved to the CPU and scalar metrics stored as plain Python numbers.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(folder, os.path.basename(path))
    payload = {k: _to_cpu(plain_number(v)) for k, v in payload.items()}
    fd, tmp = _create_temporary(os.path.join(folder, os.path.basename(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
