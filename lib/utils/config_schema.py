"""The schema of the YAML configs: every key's type and range, and which script reads which key.

:func:`validate_config` checks a loaded config against it before a script touches any output
folder, data or model; :func:`load_config` loads and checks in one call. A config with an
unknown key (a typo: "did you mean ...?"), a value of the wrong type or out of range, or a
missing key that the script reads is one :class:`ConfigError` naming the file, the key, the
value and what is allowed; where YAML's own rules turned what was written into something else
(``1e-3`` is a string in YAML 1.1, ``off`` a boolean, ``010`` the octal number 8, a key given
twice keeps its last value) the message says so and what to write instead. The configs stay plain
YAML read into an attribute dict (:func:`lib.utils.tools.get_config`); nothing here changes a value.

The tables are spec 07: :data:`KEYS` lists every key of the shipped configs plus the optional
keys this project added (``dt_root``, ``posetrack_root``, ``insta_root``,
``scale_range_pretrain`` for 3D pose/pretraining, ``data_root`` for action), and one
:class:`Reader` per script lists the keys it needs (spec 07 §2).
"""
import difflib
import math
import re
from dataclasses import dataclass
from typing import Callable, Optional

import yaml

from lib.skeleton import NUM_JOINTS
from lib.utils.errors import ConfigError  # noqa: F401  (raised here; importable from here too)
from lib.utils.tools import Loader, get_config

# the mesh head's loss_type values: the keys of lib.model.loss_mesh.REGRESSION_CRITERIA (tests/test_config_schema.py
# checks that they agree), named here so that reading a config does not import torch
MESH_LOSS_TYPES = ("L1", "MSE")

POSE3D, ACTION, MESH = "pose3d", "action", "mesh"  # config families (configs/pretrain/ is pose3d)
ALL = (POSE3D, ACTION, MESH)

# Keys a script sets at run time (spec 07): never reported as unknown.
RUN_TIME_KEYS = ("name", "mask", "aug")

MAX_PROBLEMS_SHOWN = 3  # keeps the error one short line


@dataclass(frozen=True)
class Key:
    """Type, range and families of one config key.

    ``kind``: ``'bool'``, ``'int'``, ``'float'`` (an int is fine too, as YAML ``2`` for ``2.0``),
    ``'str'``, ``'str_list'`` (non-empty list of strings) or ``'scale_range'`` (``[low, high]``,
    two positive numbers, low <= high). ``low``/``high`` bound numbers (``low_open``: ``low``
    itself excluded); ``choices`` restricts strings; ``nullable`` also allows ``null``.
    """
    kind: str
    families: tuple
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    choices: Optional[tuple] = None
    nullable: bool = False

    def accepts(self, value):
        if value is None:
            return self.nullable
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind in ("int", "float"):
            return _is_number(value, integer=self.kind == "int") and self._in_range(value)
        if self.kind == "str":
            return isinstance(value, str) and (self.choices is None or value in self.choices)
        if self.kind == "str_list":
            return isinstance(value, list) and len(value) > 0 and all(isinstance(v, str) for v in value)
        if self.kind == "scale_range":
            return (isinstance(value, list) and len(value) == 2 and all(_is_number(v) and v > 0 for v in value)
                    and value[0] <= value[1])
        raise ValueError(f"unknown key kind {self.kind!r}")

    def _in_range(self, value):
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        return above and (self.high is None or value <= self.high)

    def allowed(self):
        """What the key accepts, for the error message ("must be ...")."""
        if self.kind == "bool":
            text = "true or false"
        elif self.kind == "int":
            text = "a positive integer" if self.low == 1 and self.high is None else "an integer" + self._range_text()
        elif self.kind == "float":
            text = "a number" + self._range_text()
        elif self.kind == "str":
            text = "one of " + ", ".join(repr(c) for c in self.choices) if self.choices else "a string"
        elif self.kind == "str_list":
            text = "a non-empty list of strings"
        else:
            text = "a list [low, high] of two positive numbers with low <= high"
        return text + " or null" if self.nullable else text

    def _range_text(self):
        if self.low is not None and self.high is not None:
            return f" in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"
        if self.low is not None:
            return f" {'>' if self.low_open else '>='} {self.low:g}"
        return ""


def _is_number(value, integer=False):
    if isinstance(value, bool):  # a bool is an int to Python, not to a config
        return False
    if integer:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


# ----------------------------------------------------------------------------------------------
# every key (spec 07 §1, meanings in specs 02-05)
# ----------------------------------------------------------------------------------------------
def _flag(*families):
    return Key("bool", families)


def _count(*families):
    """Sizes and counts: positive integers."""
    return Key("int", families, low=1)


def _epoch(*families):
    """An epoch index (0 = from the first epoch)."""
    return Key("int", families, low=0)


def _ratio(*families):
    return Key("float", families, low=0, high=1)


def _weight(*families):
    """Loss weights and weight decay: numbers >= 0."""
    return Key("float", families, low=0)


def _rate(*families):
    """Learning rates and temperatures: numbers > 0."""
    return Key("float", families, low=0, low_open=True)


def _text(*families):
    """File and folder names, data set names."""
    return Key("str", families)


KEYS = {
    # backbone (spec 07 §2.1; att_fuse is never read, fusion is always on)
    "maxlen": _count(*ALL),
    "dim_feat": _count(*ALL),
    "mlp_ratio": _rate(*ALL),
    "depth": _count(*ALL),
    "dim_rep": _count(*ALL),
    "num_heads": _count(*ALL),
    "num_joints": _count(*ALL),
    "att_fuse": _flag(*ALL),
    "backbone": Key("str", ALL, choices=("DSTformer",)),
    # shared by the training scripts
    "finetune": _flag(*ALL),
    "partial_train": Key("str_list", ALL, nullable=True),
    "epochs": _count(*ALL),
    "checkpoint_frequency": _count(POSE3D, MESH),
    "batch_size": _count(*ALL),
    "weight_decay": _weight(*ALL),
    "lr_decay": Key("float", ALL, low=0, high=1, low_open=True),
    "clip_len": _count(*ALL),
    "data_stride": _count(POSE3D, MESH),
    "sample_stride": _count(POSE3D, MESH),
    "data_root": _text(*ALL),  # for action an addition: the folder of the NTU pickles (default data/action)
    "flip": _flag(POSE3D, MESH),
    "dropout": _ratio(POSE3D, MESH),  # pose3d: never read
    "lambda_scale": _weight(POSE3D, MESH),
    "lambda_lv": _weight(POSE3D, MESH),
    "lambda_lg": _weight(POSE3D, MESH),
    "lambda_a": _weight(POSE3D, MESH),
    "lambda_av": _weight(POSE3D, MESH),
    # 3D pose and pretraining (spec 02, 03)
    "train_2d": _flag(POSE3D),
    "no_eval": _flag(POSE3D),
    "learning_rate": _rate(POSE3D),
    "pretrain_3d_curriculum": _epoch(POSE3D),
    "subset_list": Key("str_list", (POSE3D,)),
    "dt_file": _text(POSE3D),
    "rootrel": _flag(POSE3D),
    "no_conf": _flag(POSE3D),
    "gt_2d": _flag(POSE3D),
    "lambda_3d_velocity": _weight(POSE3D),
    "synthetic": _flag(POSE3D),
    "mask_ratio": _ratio(POSE3D),
    "mask_T_ratio": _ratio(POSE3D),
    "noise": _flag(POSE3D),
    "noise_path": _text(POSE3D),
    "d2c_params_path": _text(POSE3D),
    "dt_root": _text(POSE3D),  # addition: the folder of dt_file (default data/motion3d)
    "posetrack_root": _text(POSE3D),  # addition: PoseTrack folder for pretraining
    "insta_root": _text(POSE3D),  # addition: InstaVariety folder for pretraining
    "scale_range_pretrain": Key("scale_range", (POSE3D,)),  # addition: rescaling of 3D clips
    "stream_frames": Key("int", (POSE3D,), low=0),  # addition: the clip's last frames of the streaming loss term
    "lambda_stream": _weight(POSE3D),  # addition: its weight (docs/streaming.md)
    # action (spec 04)
    "lr_backbone": _rate(ACTION, MESH),
    "lr_head": _rate(ACTION, MESH),
    "hidden_dim": _count(ACTION, MESH),
    "model_version": Key("str", (ACTION,), choices=("class", "embed")),
    "dropout_ratio": _ratio(ACTION),
    "dataset": _text(ACTION),
    "data_split": _text(ACTION),
    "action_classes": _count(ACTION),
    "random_move": _flag(ACTION),
    "scale_range_train": Key("scale_range", (ACTION,)),
    "scale_range_test": Key("scale_range", (ACTION,)),
    "n_views": _count(ACTION),
    "temp": _rate(ACTION),
    # mesh (spec 05)
    "train_pw3d": _flag(MESH),
    "warmup_h36m": _epoch(MESH),
    "warmup_coco": _epoch(MESH),
    "batch_size_img": _count(MESH),
    "dropout_loc": Key("int", (MESH,), low=0),  # never read
    "dt_file_h36m": _text(MESH),
    "dt_file_coco": _text(MESH),
    "dt_file_pw3d": _text(MESH),
    "lambda_3d": _weight(MESH),
    "lambda_3dv": _weight(MESH),
    "lambda_pose": _weight(MESH),
    "lambda_shape": _weight(MESH),
    "lambda_norm": _weight(MESH),
    "loss_type": Key("str", (MESH,), choices=MESH_LOSS_TYPES),
}


def family_keys(family):
    """The keys a config of ``family`` may have."""
    return {name for name, key in KEYS.items() if family in key.families}


# ----------------------------------------------------------------------------------------------
# which script reads which key (spec 07 §2)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class When:
    """A condition on the (valid) config values, with its wording for the error message."""
    text: str
    holds: Callable


@dataclass(frozen=True)
class Reader:
    """The keys one script reads: ``required`` always, ``required_training`` unless it only
    evaluates (``--evaluate``), ``required_training_when`` = ``((keys, When), ...)`` only while
    training and when the condition holds. ``rules`` are extra checks of several keys
    (functions of the valid values returning a problem or None)."""
    script: str
    family: str
    required: tuple
    required_training: tuple = ()
    required_training_when: tuple = ()
    rules: tuple = ()


BACKBONE = ("dim_feat", "dim_rep", "depth", "num_heads", "mlp_ratio", "maxlen", "num_joints")
OPTIMISATION = ("lr_backbone", "lr_head", "weight_decay", "lr_decay", "epochs")


def _heads_divide_features(values):
    if "dim_feat" in values and "num_heads" in values and values["dim_feat"] % values["num_heads"]:
        return f"key 'dim_feat' ({values['dim_feat']}) must be a multiple of num_heads ({values['num_heads']})"
    return None


def _clip_fits_model(values):
    if "clip_len" in values and "maxlen" in values and values["clip_len"] > values["maxlen"]:
        return (f"key 'clip_len' ({values['clip_len']}) must not exceed maxlen ({values['maxlen']}), "
                f"the longest clip the model takes")
    return None


def _views_divide_batch(values):
    if "n_views" in values and "batch_size" in values and values["batch_size"] % values["n_views"]:
        return (f"key 'batch_size' ({values['batch_size']}) must be a multiple of n_views ({values['n_views']}) "
                f"(whole groups of views of one class)")
    return None


def _names_mesh_data(values):
    if "dt_file_h36m" not in values and "dt_file_pw3d" not in values:
        return "no mesh data set: set dt_file_h36m and/or dt_file_pw3d"
    return None


def _joints_of_the_skeleton(values):
    if values.get("num_joints", NUM_JOINTS) != NUM_JOINTS:
        return (f"key 'num_joints' must be {NUM_JOINTS}, got {values['num_joints']}: the data and the models use the "
                f"{NUM_JOINTS} joints of the H36M skeleton (lib/skeleton.py)")
    return None


def _stream_frames_fit_clip(values):
    if values.get("stream_frames", 0) > values.get("clip_len", float("inf")):
        return (f"key 'stream_frames' ({values['stream_frames']}) must not exceed clip_len ({values['clip_len']}): "
                f"it counts the last frames of each training clip")
    if values.get("lambda_stream") and not values.get("stream_frames"):
        return ("key 'lambda_stream' weighs the loss on the last stream_frames frames of each clip: "
                "set stream_frames too")
    return None


RULES = (_joints_of_the_skeleton, _heads_divide_features, _clip_fits_model, _views_divide_batch,
         _stream_frames_fit_clip)  # checked for every script

TRAIN_POSE3D = Reader(
    "train.py", POSE3D,
    required=BACKBONE + ("subset_list", "data_root", "flip", "synthetic", "gt_2d", "batch_size", "train_2d",
                         "clip_len", "sample_stride", "data_stride", "dt_file", "finetune", "partial_train",
                         "no_conf", "rootrel"),
    required_training=("learning_rate", "weight_decay", "lr_decay", "epochs", "checkpoint_frequency", "mask_ratio",
                       "mask_T_ratio", "noise", "lambda_scale", "lambda_3d_velocity", "lambda_lv", "lambda_lg",
                       "lambda_a", "lambda_av", "no_eval"),
    required_training_when=(
        (("pretrain_3d_curriculum",), When("train_2d is true", lambda v: v.get("train_2d") is True)),
        (("noise_path", "d2c_params_path"),
         When("noise or masking is on", lambda v: v.get("noise") is True
              or (v.get("mask_ratio", 0) > 0 and v.get("mask_T_ratio", 0) > 0))),
    ))
INFER_POSE3D = Reader("infer_wild.py", POSE3D, required=BACKBONE + ("no_conf", "flip", "rootrel", "gt_2d"))
TRAIN_ACTION = Reader(
    "train_action.py", ACTION,
    required=BACKBONE + ("finetune", "partial_train", "action_classes", "dropout_ratio", "model_version",
                         "hidden_dim", "batch_size", "dataset", "data_split", "clip_len", "scale_range_test"),
    required_training=OPTIMISATION + ("random_move", "scale_range_train"))
INFER_ACTION = Reader(
    "infer_wild_action.py", ACTION,
    required=BACKBONE + ("action_classes", "dropout_ratio", "model_version", "hidden_dim", "clip_len",
                         "scale_range_test"))
TRAIN_ACTION_1SHOT = Reader(
    "train_action_1shot.py", ACTION,
    required=BACKBONE + ("finetune", "partial_train", "dropout_ratio", "model_version", "hidden_dim", "temp",
                         "batch_size", "clip_len", "scale_range_test"),
    required_training=OPTIMISATION + ("random_move", "scale_range_train", "n_views"))
TRAIN_MESH = Reader(
    "train_mesh.py", MESH,
    required=BACKBONE + ("finetune", "partial_train", "hidden_dim", "dropout", "loss_type", "data_root", "clip_len",
                         "data_stride", "sample_stride", "flip", "batch_size", "lambda_3d", "lambda_scale",
                         "lambda_3dv", "lambda_lv", "lambda_lg", "lambda_a", "lambda_av", "lambda_shape",
                         "lambda_pose", "lambda_norm"),
    required_training=OPTIMISATION + ("checkpoint_frequency",),
    required_training_when=(
        (("warmup_h36m",), When("dt_file_h36m is set", lambda v: "dt_file_h36m" in v)),
        (("train_pw3d",), When("dt_file_pw3d is set", lambda v: "dt_file_pw3d" in v)),
        (("warmup_coco", "batch_size_img"), When("dt_file_coco is set", lambda v: "dt_file_coco" in v)),
    ),
    rules=(_names_mesh_data,))
INFER_MESH = Reader("infer_wild_mesh.py", MESH, required=BACKBONE + ("data_root", "hidden_dim", "dropout"))
# tools/export_onnx.py: a backbone (pose configs) or an ActionNet (configs with model_version)
EXPORT_POSE3D = Reader("tools/export_onnx.py", POSE3D, required=BACKBONE)
EXPORT_ACTION = Reader("tools/export_onnx.py", ACTION,
                       required=BACKBONE + ("dropout_ratio", "model_version", "hidden_dim"))

READERS = (TRAIN_POSE3D, INFER_POSE3D, TRAIN_ACTION, INFER_ACTION, TRAIN_ACTION_1SHOT, TRAIN_MESH, INFER_MESH,
           EXPORT_POSE3D, EXPORT_ACTION)


# ----------------------------------------------------------------------------------------------
# checking
# ----------------------------------------------------------------------------------------------
def validate_config(config, reader, training=True, source=None):
    """Check ``config`` (a loaded config, e.g. from ``get_config``) for ``reader``'s script.

    ``training``: the script trains (not ``--evaluate``), so it also reads the optimisation
    keys. ``source``: the file named in the message (default: the file the config was loaded
    from). Returns ``config`` unchanged; raises :class:`ConfigError` listing the problems.
    """
    source = source or getattr(config, "_config_path", None) or "config"
    known = family_keys(reader.family)
    unknown = [name for name in config if name not in known and name not in RUN_TIME_KEYS]
    problems = []
    other_families = [f for f in ALL if f != reader.family and set(unknown) <= family_keys(f)]
    if len(unknown) > 1 and other_families:
        problems.append(f"this looks like a {other_families[0]} config, but {reader.script} reads "
                        f"{reader.family} configs")
    for name in unknown:  # typos first: they explain the missing keys that follow
        close = difflib.get_close_matches(name, sorted(known), n=1)
        problems.append(f"unknown key '{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    path = getattr(config, "_config_path", None)
    written = written_entries(path) if path else ()
    problems += _given_twice(written, config)
    as_written = {entry.key: entry.text for entry in written}  # the last entry of a key is its value
    valid = {}
    for name, value in config.items():
        misread = _misreading(as_written.get(name), value, KEYS[name]) if name in known else None
        if name in known and KEYS[name].accepts(value) and not misread:
            valid[name] = value
        elif name in known and KEYS[name].accepts(value):
            problems.append(f"key '{name}': {misread}")
        elif name in known:
            problems.append(f"key '{name}' must be {KEYS[name].allowed()}, got {_show(value)}"
                            + (f" ({misread})" if misread else ""))

    needed = [(name, "") for name in reader.required + (reader.required_training if training else ())]
    if training:
        needed += [(name, f" when {when.text}") for names, when in reader.required_training_when
                   if when.holds(valid) for name in names]
    problems += [f"missing key '{name}' (read by {reader.script}{why})" for name, why in needed if name not in config]

    problems += [p for rule in RULES + reader.rules for p in [rule(valid)] if p]
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        raise ConfigError(f"{source}: {shown}" + (f"; and {more} more" if more > 0 else ""))
    return config


def load_config(path, reader, training=True):
    """``get_config(path)`` checked by :func:`validate_config`."""
    return validate_config(get_config(path), reader, training)


def _show(value, limit=60):
    """A value as written in YAML (``true``, ``null``, ``'Flase'``), shortened."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ----------------------------------------------------------------------------------------------
# what YAML 1.1 (PyYAML) made of what was written
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Written:
    """One top-level ``key: value`` of a YAML file as written."""
    key: str
    line: int             # 1-based
    text: Optional[str]   # the value's text if it is an unquoted scalar (YAML chose its type from it), else None


def written_entries(path):
    """The top-level entries of the YAML file ``path`` in file order (``()`` if it is not a readable mapping)."""
    try:
        with open(path) as f:
            node = yaml.compose(f, Loader)
    except (OSError, yaml.YAMLError):
        return ()
    if not isinstance(node, yaml.MappingNode):
        return ()
    return tuple(Written(k.value, k.start_mark.line + 1,
                         v.value if isinstance(v, yaml.ScalarNode) and v.style is None else None)
                 for k, v in node.value if isinstance(k, yaml.ScalarNode))


def _given_twice(written, config):
    lines = {}
    for entry in written:
        lines.setdefault(entry.key, []).append(str(entry.line))
    return [f"key '{key}' is given {'twice' if len(at) == 2 else f'{len(at)} times'} (lines {', '.join(at)}): "
            f"YAML keeps the last value, {_show(config[key])}; remove all but one"
            for key, at in lines.items() if len(at) > 1 and key in config]


_NUMBER = re.compile(r"[-+]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][-+]?\d+)?")  # what looks like a number
_OCTAL = re.compile(r"[-+]?0[0-7_]+")  # a YAML 1.1 octal integer


def _misreading(text, value, key):
    """How YAML 1.1 read the unquoted ``text`` of ``key`` into ``value`` when not as it looks, and what to write
    instead; None when it reads as it looks (or ``value`` no longer comes from ``text``)."""
    if text is None or not _reads_as(text, value):
        return None
    number_key = key.kind in ("int", "float")
    quote = f"quote it, '{text}'"
    if isinstance(value, str) and number_key and _NUMBER.fullmatch(text):
        return f"YAML 1.1 reads {text} as a string, not a number: write {_number_spellings(text, key)}"
    if isinstance(value, bool) and key.kind != "bool" and text.lower() not in ("true", "false"):
        return f"YAML 1.1 reads an unquoted {text} as {_show(value)}" + ("" if number_key else f": {quote}")
    if _is_number(value) and (_OCTAL.fullmatch(text) or ":" in text):
        how = "a base-60 number" if ":" in text else "an octal number"
        decimal = re.sub(r"^([-+]?)0+(?=\d)", r"\1", text)
        fix = (f"write {value}" + ("" if ":" in text else f", or {decimal} without the leading zero")
               if number_key else quote)
        return f"YAML 1.1 reads {text} as {how}, {value}: {fix}"
    return None


def _reads_as(text, value):
    try:
        resolved = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return type(resolved) is type(value) and resolved == value


def _number_spellings(text, key):
    """Spellings of the number ``text`` that YAML 1.1 reads as a number (``1e-3``: ``1.0e-3 or 0.001``)."""
    number = float(text.replace("_", ""))
    if key.kind == "int" and number.is_integer():
        return str(int(number))
    mantissa, _, exponent = text.lower().partition("e")
    spellings = [f"{mantissa if '.' in mantissa else mantissa + '.0'}e{'' if exponent[0] in '+-' else '+'}{exponent}"
                 ] if exponent else []
    return " or ".join(s for s in spellings + [repr(number)] if _is_number(yaml.safe_load(s)))
