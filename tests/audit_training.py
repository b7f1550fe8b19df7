"""The bad-input audit's training cases of issue 26 (tests/audit_bad_inputs.py runs them with the others):
``--pretrained`` given but not read, YAML's pitfalls (``1e-3`` a string, ``off`` a boolean, ``010`` octal, ``1:30``
base 60, a key given twice), configs the model cannot fit (``num_joints``, ``dim_feat``/``num_heads``,
``clip_len``/``maxlen``) and a damaged clip in the first batch. Each is refused in one line naming the file, key or
flag, and nothing is left in the ``--checkpoint`` folder; ``--pretrained`` with ``--evaluate`` runs, with a warning.
"""
import os
import re
import shutil


def _edited(path, name, changes=(), added=()):
    """A copy of the YAML config ``path`` as ``<name>.yaml`` beside it, with ``changes`` ((key, raw text)) made to
    its top-level lines and the raw ``added`` lines appended: the text is written as given, unquoted."""
    with open(path) as f:
        text = f.read()
    for key, raw in changes:
        text, n = re.subn(rf"(?m)^{key}:.*$", f"{key}: {raw}", text)
        assert n == 1, (path, key)
    text += "".join(f"{line}\n" for line in added)
    out = os.path.join(os.path.dirname(path), f"{name}.yaml")
    with open(out, "w") as f:
        f.write(text)
    return out


def build_inputs(f, tmp):
    """The inputs of these cases, from the audit's tiny training configs ``f``."""
    import pathlib

    from conftest import write_pose3d_config
    from lib.utils.checkpoint import model_state_for_saving, save_checkpoint
    from lib.utils.learning import load_backbone
    from lib.utils.tools import get_config

    pose, action, oneshot, mesh = f["pose_cfg"], f["ntu_cfg"], f["oneshot_cfg_nodata"], f["mesh_train_cfg_nodt"]
    root = pathlib.Path(pose).parent  # the tiny H36M clips are in root/clips
    truncated = os.path.join(tmp, "train", "pretrained_truncated")  # never read: refused before
    os.makedirs(truncated, exist_ok=True)
    with open(os.path.join(truncated, "latest_epoch.bin"), "wb") as out:
        out.write(b"PK\x03\x04 truncated")
    t = {"pretrained_truncated": truncated,
         "t_pose_ft": write_pose3d_config(root, "t_pose_ft", finetune=True)}
    t["t_pose_ckpt"] = str(root / "t_pose_best_epoch.bin")
    save_checkpoint(t["t_pose_ckpt"], {"epoch": 1, "model_pos": model_state_for_saving(
        load_backbone(get_config(t["t_pose_ft"])))})
    # what YAML 1.1 reads otherwise than it looks
    t.update(t_lr_string=_edited(pose, "lr_string", [("learning_rate", "1e-3")]),
             t_decay_string=_edited(pose, "decay_string", [("weight_decay", "1e-2")]),
             t_action_lr=_edited(action, "action_lr", [("lr_backbone", "1e-4")]),
             t_lr_off=_edited(pose, "lr_off", [("learning_rate", "off")]),
             t_epochs_octal=_edited(pose, "epochs_octal", [("epochs", "010")]),
             t_twice=_edited(pose, "twice", added=["epochs: 3"]),
             t_split_yes=_edited(action, "split_yes", [("data_split", "yes")]),
             t_mesh_base60=_edited(mesh, "mesh_base60", [("batch_size", "1:30")]))
    # configs the model cannot fit
    t.update(t_joints16=_edited(pose, "joints16", [("num_joints", "16")]),
             t_action_joints=_edited(action, "action_joints16", [("num_joints", "16")]),
             t_mesh_joints=_edited(mesh, "mesh_joints24", [("num_joints", "24")]),
             t_heads=_edited(pose, "heads", [("num_heads", "7")]),
             t_oneshot_clip=_edited(oneshot, "oneshot_clip", [("clip_len", "28")]))
    # every training clip damaged: the first batch fails
    shutil.copytree(root / "clips", root / "damaged")
    for clip in (root / "damaged" / "H36M-SH" / "train").iterdir():
        clip.write_bytes(clip.read_bytes()[:100])
    t["t_damaged"] = write_pose3d_config(root, "t_damaged", data_root=str(root / "damaged") + "/")
    t["t_existing"] = str(root / "t_existing")
    os.makedirs(t["t_existing"])
    with open(os.path.join(t["t_existing"], "notes.txt"), "w") as out:
        out.write("kept")
    return t


def cases(f, tmp, Case):
    """The cases (``Case`` is tests/audit_bad_inputs.py's)."""
    c = []

    def train(script, name, config, expect, extra=(), fast=False, folder=None, **kw):
        folder = folder or os.path.join(tmp, "runs", f"training_{name}")
        c.append(Case(f"training/{name}", script, ["--config", config, "-c", folder, *extra, "--workers", "0",
                                                   "--no-progress"], expect, outputs=kw.pop("outputs", [folder]),
                      fast=fast, **kw))

    truncated = f["pretrained_truncated"]
    base = os.path.basename
    # --pretrained that would not be read
    for script, config, fast in (("train.py", f["pose_cfg"], True), ("train_action.py", f["ntu_cfg"], False),
                                 ("train_action_1shot.py", f["oneshot_cfg_nodata"], False),
                                 ("train_mesh.py", f["mesh_train_cfg_nodt"], False)):
        train(script, f"{script[:-3]}_pretrained_unused", config,
              [f"--pretrained {truncated} is not used", f"{base(config)} has finetune: false",
               "drop --pretrained, or set finetune: true"], ["-p", truncated], fast=fast)
    train("train.py", "pretrained_unused_file", f["pose_cfg"], ["--pretrained", "latest_epoch.bin is not used"],
          ["--pretrained", os.path.join(truncated, "latest_epoch.bin")])
    # YAML 1.1
    train("train.py", "lr_string", f["t_lr_string"],
          ["lr_string.yaml", "key 'learning_rate'", "got '1e-3'", "as a string", "write 1.0e-3 or 0.001"], fast=True)
    train("train.py", "weight_decay_string", f["t_decay_string"], ["decay_string.yaml", "weight_decay",
                                                                   "write 1.0e-2 or 0.01"])
    train("train_action.py", "action_lr_string", f["t_action_lr"], ["action_lr.yaml", "lr_backbone", "1.0e-4"])
    train("train.py", "lr_off", f["t_lr_off"], ["lr_off.yaml", "key 'learning_rate'",
                                                "YAML 1.1 reads an unquoted off as false"])
    train("train.py", "epochs_octal", f["t_epochs_octal"], ["epochs_octal.yaml", "key 'epochs'",
                                                            "reads 010 as an octal number, 8", "or 10 without"])
    train("train.py", "key_twice", f["t_twice"], ["twice.yaml", "key 'epochs' is given twice",
                                                  "YAML keeps the last value, 3"])
    train("train_action.py", "action_split_yes", f["t_split_yes"], ["split_yes.yaml", "key 'data_split'",
                                                                    "unquoted yes as true: quote it, 'yes'"])
    train("train_mesh.py", "mesh_batch_base60", f["t_mesh_base60"], ["mesh_base60.yaml", "key 'batch_size'",
                                                                     "reads 1:30 as a base-60 number, 90"])
    # configs the model cannot fit
    train("train.py", "num_joints_16", f["t_joints16"], ["joints16.yaml", "key 'num_joints' must be 17, got 16",
                                                         "H36M skeleton"], fast=True)
    train("train_action.py", "action_num_joints_16", f["t_action_joints"], ["action_joints16.yaml",
                                                                            "key 'num_joints' must be 17"])
    train("train_mesh.py", "mesh_num_joints_24", f["t_mesh_joints"], ["mesh_joints24.yaml",
                                                                      "key 'num_joints' must be 17, got 24"])
    train("train.py", "heads_do_not_divide", f["t_heads"], ["heads.yaml", "key 'dim_feat' (16) must be a multiple "
                                                            "of num_heads (7)"])
    train("train_action_1shot.py", "oneshot_clip_beyond_maxlen", f["t_oneshot_clip"],
          ["oneshot_clip.yaml", "key 'clip_len' (28) must not exceed maxlen (27)"])
    # the first batch fails: the folder this run made goes, an existing one is left as it was
    train("train.py", "damaged_clip_first_batch", f["t_damaged"], ["damaged/H36M-SH/train/",
                                                                   "truncated, corrupt or not a pickle"])
    train("train.py", "damaged_clip_existing_folder", f["t_damaged"], ["truncated, corrupt or not a pickle"],
          folder=f["t_existing"], outputs=[os.path.join(f["t_existing"], "logs")], folders=[f["t_existing"]])
    # --pretrained with --evaluate: read from --evaluate, with a warning
    report = os.path.splitext(f["t_pose_ckpt"])[0] + "_eval.json"
    c.append(Case("training/pretrained_with_evaluate", "train.py",
                  ["--config", f["t_pose_ft"], "-p", truncated, "--evaluate", f["t_pose_ckpt"], "--workers", "0",
                   "--no-progress"], [f"warning: --pretrained {truncated} is not read: the weights come from "
                                      "--evaluate", "Protocol #1 Error (MPJPE):"], succeeds=True,
                  check=lambda: [] if os.path.isfile(report) else [f"{report} not written"]))
    return c
