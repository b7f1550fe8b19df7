"""The bad-input audit's training cases of issue 26 (tests/audit_bad_inputs.py runs them with the others):
``--pretrained`` given but not read, YAML's pitfalls (``1e-3`` a string, ``off`` a boolean, ``010`` octal, a key
given twice), structural config errors found before the first batch. Each is refused in one line naming the file,
key or flag, and nothing is left in the ``--checkpoint`` folder.
"""
import os
import re


def _edited(path, name, changes=(), added=()):
    """A copy of the YAML config ``path`` as ``<name>.yaml`` beside it, with ``changes`` ((key, raw text)) made to
    its top-level lines and the raw ``added`` lines appended: the text is written as given, unquoted."""
    with open(path) as f:
        text = f.read()
    for key, raw in changes:
        text, n = re.subn(rf"(?m)^{key}:.*$", f"{key}: {raw}", text)
        if not n:
            text += f"\n{key}: {raw}"
    text += "".join(f"\n{line}" for line in added) + "\n"
    out = os.path.join(os.path.dirname(path), f"{name}.yaml")
    with open(out, "w") as f:
        f.write(text)
    return out


def build_inputs(f, tmp):
    """The configs of these cases, from the audit's tiny training configs ``f``."""
    pose, action = f["pose_cfg"], f["ntu_cfg"]
    truncated = os.path.join(tmp, "train", "pretrained_truncated")
    os.makedirs(truncated, exist_ok=True)
    with open(os.path.join(truncated, "latest_epoch.bin"), "wb") as out:
        out.write(b"PK\x03\x04 truncated")
    return {
        "t_lr_string": _edited(pose, "lr_string", [("learning_rate", "1e-3")]),
        "t_decay_string": _edited(pose, "decay_string", [("weight_decay", "1e-2")]),
        "t_lr_off": _edited(pose, "lr_off", [("learning_rate", "off")]),
        "t_epochs_octal": _edited(pose, "epochs_octal", [("epochs", "010")]),
        "t_twice": _edited(pose, "twice", added=["epochs: 3"]),
        "t_joints16": _edited(pose, "joints16", [("num_joints", "16")]),
        "t_heads": _edited(pose, "heads", [("num_heads", "7")]),
        "t_action_joints": _edited(action, "action_joints16", [("num_joints", "16")]),
        "t_action_lr": _edited(action, "action_lr", [("lr_backbone", "1e-4")]),
        "pretrained_truncated": truncated,
    }


def cases(f, tmp, Case):
    """The cases (``Case`` is tests/audit_bad_inputs.py's)."""
    c = []

    def train(script, name, config, expect, extra=(), fast=False):
        folder = os.path.join(tmp, "runs", f"training_{name}")
        c.append(Case(f"training/{name}", script, ["--config", config, "-c", folder, *extra, "--workers", "0",
                                                   "--no-progress"], expect, outputs=[folder], fast=fast))

    truncated = f["pretrained_truncated"]
    train("train.py", "pretrained_unused", f["pose_cfg"], ["--pretrained", "finetune: false", "drop --pretrained"],
          ["-p", os.path.dirname(truncated)], fast=True)
    train("train.py", "pretrained_unused_truncated", f["pose_cfg"], ["--pretrained", "finetune: false"],
          ["--pretrained", truncated])
    train("train_action.py", "action_pretrained_unused", f["ntu_cfg"], ["--pretrained", "finetune: false"],
          ["-p", truncated])
    train("train.py", "lr_string", f["t_lr_string"], ["learning_rate", "1e-3", "as a string", "1.0e-3"], fast=True)
    train("train.py", "weight_decay_string", f["t_decay_string"], ["weight_decay", "1e-2", "as a string"])
    train("train_action.py", "action_lr_string", f["t_action_lr"], ["lr_backbone", "1e-4", "as a string"])
    train("train.py", "lr_off", f["t_lr_off"], ["learning_rate", "unquoted off"])
    train("train.py", "epochs_octal", f["t_epochs_octal"], ["epochs", "010", "octal"])
    train("train.py", "key_twice", f["t_twice"], ["epochs", "given twice", "keeps the last value"])
    train("train.py", "num_joints_16", f["t_joints16"], ["num_joints", "must be 17", "16"], fast=True)
    train("train_action.py", "action_num_joints_16", f["t_action_joints"], ["num_joints", "must be 17"])
    train("train.py", "heads_do_not_divide", f["t_heads"], ["num_heads"])
    return c
