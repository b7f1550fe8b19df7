"""The config schema: every shipped config passes, spec 07's keys are known, bad values are one clear
error, and every script stops on a bad config before it writes anything."""
import glob
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, fixture_path
from lib.utils import config_schema as schema
from lib.utils.config_schema import ConfigError, load_config, validate_config
from lib.utils.errors import UserError
from lib.utils.tools import Config, get_config

SPEC07 = json.load(open(fixture_path("configs_spec07.json")))
WILD = fixture_path("tasks", "wild")
SINGLE = os.path.join(WILD, "alphapose_single.json")

POSE3D_READERS = (schema.TRAIN_POSE3D, schema.INFER_POSE3D, schema.EXPORT_POSE3D)
READERS_OF_FOLDER = {  # which scripts read the configs of each folder (spec 07 §1-2)
    "pose3d": POSE3D_READERS,
    "pretrain": POSE3D_READERS,
    "action": (schema.TRAIN_ACTION, schema.INFER_ACTION, schema.EXPORT_ACTION),
    "action_oneshot": (schema.TRAIN_ACTION_1SHOT, schema.EXPORT_ACTION),
    "mesh": (schema.TRAIN_MESH, schema.INFER_MESH),
}


def readers_of(path):
    folder = os.path.basename(os.path.dirname(path))
    return READERS_OF_FOLDER["action_oneshot" if "oneshot" in path else folder]


def family_of(path):
    return readers_of(path)[0].family


SHIPPED = sorted(glob.glob(os.path.join(REPO, "configs", "*", "*.yaml")))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: os.path.relpath(p, REPO))
@pytest.mark.parametrize("training", [True, False], ids=["train", "evaluate"])
def test_every_shipped_config_passes_for_the_scripts_that_read_it(path, training):
    for reader in readers_of(path):
        assert validate_config(get_config(path), reader, training=training) is not None


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(WILD, "*.yaml"))), ids=os.path.basename)
def test_fixture_inference_configs_pass(path):
    load_config(path, schema.INFER_POSE3D)


@pytest.mark.parametrize("path", sorted(SPEC07))
def test_spec07_keys_and_values_are_known(path):
    family = family_of(path)
    for key, value in SPEC07[path].items():
        assert key in schema.family_keys(family), (path, key)
        assert schema.KEYS[key].accepts(value), (path, key, value)


def test_optional_extension_keys_are_known():
    for key in ("dt_root", "posetrack_root", "insta_root", "scale_range_pretrain", "backbone"):
        assert key in schema.family_keys(schema.POSE3D), key
    assert "data_root" in schema.family_keys(schema.ACTION)
    cfg = dict(SPEC07["configs/pose3d/MB_ft_h36m.yaml"], dt_root="data/motion3d", posetrack_root="data/pt/",
               insta_root="data/insta/", scale_range_pretrain=[0.5, 1], backbone="DSTformer")
    validate_config(Config(cfg), schema.TRAIN_POSE3D)


def test_readers_require_only_keys_of_their_family():
    for reader in schema.READERS:
        conditional = [k for keys, _ in reader.required_training_when for k in keys]
        for key in reader.required + reader.required_training + tuple(conditional):
            assert key in schema.family_keys(reader.family), (reader.script, key)


CONFIG_READERS = ["train.py", "train_action.py", "train_action_1shot.py", "train_mesh.py", "infer_wild.py",
                  "infer_wild_mesh.py", "infer_wild_action.py", "tools/export_onnx.py", "tools/demo_baselines.py",
                  *glob.glob(os.path.join(REPO, "lib", "data", "*.py")),
                  *glob.glob(os.path.join(REPO, "lib", "model", "*.py")),
                  "lib/utils/learning.py", "lib/utils/eval_h36m.py", "lib/utils/utils_mesh.py", "lib/utils/trainer.py"]
CONFIG = r"\b(?:args|cfg)"  # the original's name of the config, and the name the code now gives it
READ_PATTERNS = [CONFIG + r"\.(?!get\b)([A-Za-z_]\w*)", CONFIG + r"\.get\(\s*['\"](\w+)",
                 r"['\"](\w+)['\"] in (?:self\.)?" + CONFIG + r"\b", r"getattr\(" + CONFIG + r", ['\"](\w+)",
                 CONFIG + r"\[['\"](\w+)"]


def test_every_key_the_code_reads_is_in_the_schema():
    import train
    import train_mesh
    read = {name for _, name, _ in train.LOSSES_3D if name} | set(train_mesh.LOSS_WEIGHTS.values())
    for path in CONFIG_READERS:
        source = open(os.path.join(REPO, path)).read()
        read |= {m.group(1) for pattern in READ_PATTERNS for m in re.finditer(pattern, source)}
    assert read - set(schema.KEYS) - set(schema.RUN_TIME_KEYS) == set()


# ----------------------------------------------------------------------------------------------
# bad configs: one line naming the file, the key, the value and what is allowed
# ----------------------------------------------------------------------------------------------
DELETE = object()


def write_variant(tmp_path, shipped, changes, name="x.yaml"):
    """A copy of a shipped config with ``changes`` (value ``DELETE`` removes the key)."""
    cfg = yaml.safe_load(open(os.path.join(REPO, shipped)))
    for key, value in changes.items():
        if value is DELETE:
            del cfg[key]
        else:
            cfg[key] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


POSE3D = "configs/pose3d/MB_ft_h36m.yaml"
ACTION = "configs/action/MB_ft_NTU60_xsub.yaml"
ONESHOT = "configs/action/MB_ft_NTU120_oneshot.yaml"
MESH = "configs/mesh/MB_ft_pw3d.yaml"

BAD = [
    (POSE3D, schema.TRAIN_POSE3D, {"rootrel": "Flase"}, "key 'rootrel' must be true or false, got 'Flase'"),
    (POSE3D, schema.TRAIN_POSE3D, {"flpi": True}, "unknown key 'flpi' (did you mean 'flip'?)"),
    (POSE3D, schema.INFER_POSE3D, {"no_cnof": False}, "unknown key 'no_cnof' (did you mean 'no_conf'?)"),
    (POSE3D, schema.TRAIN_POSE3D, {"zzz": 1}, "unknown key 'zzz'"),
    (POSE3D, schema.TRAIN_POSE3D, {"rootrel": DELETE}, "missing key 'rootrel' (read by train.py)"),
    (POSE3D, schema.TRAIN_POSE3D, {"maxlen": 0}, "key 'maxlen' must be a positive integer, got 0"),
    (POSE3D, schema.TRAIN_POSE3D, {"depth": 5.0}, "key 'depth' must be a positive integer, got 5.0"),
    (POSE3D, schema.TRAIN_POSE3D, {"batch_size": "32"}, "key 'batch_size' must be a positive integer, got '32'"),
    (POSE3D, schema.TRAIN_POSE3D, {"epochs": True}, "key 'epochs' must be a positive integer, got true"),
    (POSE3D, schema.TRAIN_POSE3D, {"learning_rate": 0}, "key 'learning_rate' must be a number > 0, got 0"),
    (POSE3D, schema.TRAIN_POSE3D, {"lr_decay": 1.5}, "key 'lr_decay' must be a number in (0, 1], got 1.5"),
    (POSE3D, schema.TRAIN_POSE3D, {"mask_ratio": -0.1}, "key 'mask_ratio' must be a number in [0, 1], got -0.1"),
    (POSE3D, schema.TRAIN_POSE3D, {"lambda_scale": None}, "key 'lambda_scale' must be a number >= 0, got null"),
    (POSE3D, schema.TRAIN_POSE3D, {"subset_list": "H36M-SH"},
     "key 'subset_list' must be a non-empty list of strings, got 'H36M-SH'"),
    (POSE3D, schema.TRAIN_POSE3D, {"partial_train": "head"},
     "key 'partial_train' must be a non-empty list of strings or null, got 'head'"),
    (POSE3D, schema.TRAIN_POSE3D, {"scale_range_pretrain": [1, 0.5]},
     "key 'scale_range_pretrain' must be a list [low, high] of two positive numbers with low <= high, got [1, 0.5]"),
    (POSE3D, schema.TRAIN_POSE3D, {"backbone": "TCN"}, "key 'backbone' must be one of 'DSTformer', got 'TCN'"),
    (POSE3D, schema.TRAIN_POSE3D, {"dim_feat": 500}, "key 'dim_feat' (500) must be a multiple of num_heads (8)"),
    (POSE3D, schema.TRAIN_POSE3D, {"clip_len": 244}, "key 'clip_len' (244) must not exceed maxlen (243)"),
    (POSE3D, schema.TRAIN_POSE3D, {"train_2d": True},
     "missing key 'pretrain_3d_curriculum' (read by train.py when train_2d is true)"),
    (POSE3D, schema.TRAIN_POSE3D, {"stream_frames": 244, "lambda_stream": 1.0},
     "key 'stream_frames' (244) must not exceed clip_len (243)"),
    (POSE3D, schema.TRAIN_POSE3D, {"lambda_stream": 1.0}, "key 'lambda_stream' weighs the loss on the last "
                                                          "stream_frames frames of each clip: set stream_frames too"),
    (POSE3D, schema.TRAIN_POSE3D, {"stream_frames": -1}, "key 'stream_frames' must be an integer >= 0, got -1"),
    (POSE3D, schema.TRAIN_POSE3D, {"noise": True}, "missing key 'noise_path' (read by train.py when noise or masking"),
    (ACTION, schema.TRAIN_ACTION, {"model_version": "clas"},
     "key 'model_version' must be one of 'class', 'embed', got 'clas'"),
    (ACTION, schema.TRAIN_ACTION, {"scale_range_train": [3, 1]}, "key 'scale_range_train' must be a list [low, high]"),
    (ACTION, schema.TRAIN_ACTION, {"scale_range_test": [2]}, "key 'scale_range_test' must be a list [low, high]"),
    (ACTION, schema.TRAIN_ACTION, {"dropout_ratio": 1.5}, "key 'dropout_ratio' must be a number in [0, 1], got 1.5"),
    (ONESHOT, schema.TRAIN_ACTION, {}, "missing key 'action_classes' (read by train_action.py)"),
    (ONESHOT, schema.TRAIN_ACTION_1SHOT, {"batch_size": 33}, "key 'batch_size' (33) must be a multiple of n_views (2)"),
    (ONESHOT, schema.TRAIN_ACTION_1SHOT, {"temp": 0.0}, "key 'temp' must be a number > 0, got 0.0"),
    (MESH, schema.TRAIN_MESH, {"loss_type": "L2"}, "key 'loss_type' must be one of 'L1', 'MSE', got 'L2'"),
    (MESH, schema.TRAIN_MESH, {"dt_file_h36m": DELETE, "dt_file_pw3d": DELETE, "dt_file_coco": DELETE},
     "no mesh data set: set dt_file_h36m and/or dt_file_pw3d"),
    (MESH, schema.TRAIN_MESH, {"warmup_h36m": DELETE},
     "missing key 'warmup_h36m' (read by train_mesh.py when dt_file_h36m is set)"),
    (MESH, schema.INFER_MESH, {"lr_head": 0.0005, "lr_bakcbone": 0.0001},
     "unknown key 'lr_bakcbone' (did you mean 'lr_backbone'?)"),
    (MESH, schema.TRAIN_POSE3D, {}, "this looks like a mesh config, but train.py reads pose3d configs"),
    (POSE3D, schema.TRAIN_POSE3D, {"num_joints": 16}, "key 'num_joints' must be 17, got 16: the data and the "
                                                      "models use the 17 joints of the H36M skeleton"),
    (ACTION, schema.INFER_ACTION, {"num_joints": 25}, "key 'num_joints' must be 17, got 25"),
    (MESH, schema.TRAIN_MESH, {"num_joints": 24}, "key 'num_joints' must be 17, got 24"),
]


@pytest.mark.parametrize("shipped, reader, changes, message", BAD, ids=[m[:40] for *_, m in BAD])
def test_bad_config_is_one_line_naming_file_key_value_and_fix(tmp_path, shipped, reader, changes, message):
    path = write_variant(tmp_path, shipped, changes)
    with pytest.raises(ConfigError) as err:
        load_config(path, reader)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text
    assert isinstance(err.value, UserError) and isinstance(err.value, ValueError)


def test_yaml_typo_of_a_boolean_is_a_string_and_refused(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(open(os.path.join(REPO, POSE3D)).read().replace("rootrel: True", "rootrel: Flase"))
    assert get_config(str(path)).rootrel == "Flase"  # what the scripts would read as true
    with pytest.raises(ConfigError, match="key 'rootrel' must be true or false, got 'Flase'"):
        load_config(str(path), schema.INFER_POSE3D)


# ----------------------------------------------------------------------------------------------
# what YAML 1.1 (PyYAML) makes of a value differs from what it looks like: refused, with what to write
# ----------------------------------------------------------------------------------------------
def write_text_variant(tmp_path, shipped, replacements, append=""):
    """A copy of a shipped config with its text edited (so that the YAML spelling of a value is kept)."""
    text = open(os.path.join(REPO, shipped)).read()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "x.yaml"
    path.write_text(text + append)
    return str(path)


YAML_PITFALLS = [
    (POSE3D, {"learning_rate: 0.0002": "learning_rate: 2e-4"}, "",
     "key 'learning_rate' must be a number > 0, got '2e-4' (YAML 1.1 reads 2e-4 as a string, not a number: "
     "write 2.0e-4 or 0.0002)"),
    (POSE3D, {"learning_rate: 0.0002": "learning_rate: 1E-7"}, "", "(YAML 1.1 reads 1E-7 as a string, not a "
                                                                  "number: write 1.0e-7)"),
    (POSE3D, {"epochs: 60": "epochs: 6e1"}, "", "key 'epochs' must be a positive integer, got '6e1' (YAML 1.1 reads "
                                                "6e1 as a string, not a number: write 60)"),
    (POSE3D, {"epochs: 60": "epochs: 060"}, "", "key 'epochs': YAML 1.1 reads 060 as an octal number, 48: write 48, "
                                                "or 60 without the leading zero"),
    (POSE3D, {"batch_size: 32": "batch_size: 1:30"}, "", "key 'batch_size': YAML 1.1 reads 1:30 as a base-60 number, "
                                                         "90: write 90"),
    (POSE3D, {"lr_decay: 0.99": "lr_decay: off"}, "", "key 'lr_decay' must be a number in (0, 1], got false "
                                                      "(YAML 1.1 reads an unquoted off as false)"),
    (POSE3D, {"dt_file: h36m_sh_conf_cam_source_final.pkl": "dt_file: yes"}, "",
     "key 'dt_file' must be a string, got true (YAML 1.1 reads an unquoted yes as true: quote it, 'yes')"),
    (POSE3D, {"dt_file: h36m_sh_conf_cam_source_final.pkl": "dt_file: 0123"}, "",
     "key 'dt_file' must be a string, got 83 (YAML 1.1 reads 0123 as an octal number, 83: quote it, '0123')"),
    (ACTION, {}, "\nbatch_size: 16\n", "key 'batch_size' is given twice (lines 7, 37): YAML keeps the last value, "
                                        "16; remove all but one"),
]


@pytest.mark.parametrize("shipped, replacements, append, message", YAML_PITFALLS,
                         ids=[m[:40] for *_, m in YAML_PITFALLS])
def test_yaml_misreadings_are_refused_with_what_to_write(tmp_path, shipped, replacements, append, message):
    path = write_text_variant(tmp_path, shipped, replacements, append)
    reader = schema.TRAIN_POSE3D if shipped == POSE3D else schema.TRAIN_ACTION
    with pytest.raises(ConfigError) as err:
        load_config(path, reader)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text


@pytest.mark.parametrize("replacements", [{"flip: True": "flip: yes", "no_conf: False": "no_conf: off"},
                                          {"learning_rate: 0.0002": "learning_rate: 2.0e-4"},
                                          {"learning_rate: 0.0002": "learning_rate: 0.000_2"},
                                          {"dt_file: h36m_sh_conf_cam_source_final.pkl": "dt_file: '0123'"}],
                         ids=["yes-for-a-flag", "signed-exponent", "underscore", "quoted"])
def test_yaml_values_read_as_they_look_pass(tmp_path, replacements):
    load_config(write_text_variant(tmp_path, POSE3D, replacements), schema.TRAIN_POSE3D)


def test_a_quoted_number_gets_no_yaml_hint(tmp_path):
    path = write_text_variant(tmp_path, POSE3D, {"learning_rate: 0.0002": "learning_rate: '2e-4'"})
    with pytest.raises(ConfigError, match=r"got '2e-4'$"):
        load_config(path, schema.TRAIN_POSE3D)


def test_a_value_changed_after_loading_is_checked_as_it_is(tmp_path):
    cfg = get_config(write_text_variant(tmp_path, POSE3D, {"epochs: 60": "epochs: 060"}))
    assert cfg.epochs == 48  # get_config returns what YAML read, as before
    with pytest.raises(ConfigError, match="octal"):
        validate_config(cfg, schema.TRAIN_POSE3D)
    cfg.epochs = 60  # set by code: the file's spelling is no longer the value's
    validate_config(cfg, schema.TRAIN_POSE3D)


def test_numbers_keep_the_original_int_float_tolerance(tmp_path):
    # YAML `0.` is 0.0, and an int where a float is expected is fine
    path = write_variant(tmp_path, POSE3D, {"mask_ratio": 0.0, "learning_rate": 1, "lambda_scale": 0, "mlp_ratio": 2})
    load_config(path, schema.TRAIN_POSE3D)


def test_evaluation_does_not_need_the_training_keys(tmp_path):
    path = write_variant(tmp_path, POSE3D, {"learning_rate": DELETE, "epochs": DELETE})
    load_config(path, schema.TRAIN_POSE3D, training=False)
    with pytest.raises(ConfigError, match="missing key 'learning_rate'.*missing key 'epochs'"):
        load_config(path, schema.TRAIN_POSE3D, training=True)


def test_several_problems_share_one_short_line(tmp_path):
    path = write_variant(tmp_path, POSE3D, {"flpi": True, "rootrel": "yes", "depth": 0, "epochs": -1, "dt_file": 3})
    with pytest.raises(ConfigError) as err:
        load_config(path, schema.TRAIN_POSE3D)
    text = str(err.value)
    assert text.count(f"{path}: ") == 1 and "\n" not in text
    assert text.startswith(f"{path}: unknown key 'flpi' (did you mean 'flip'?); key '")  # typos first
    assert text.endswith("; and 2 more")  # 5 problems, 3 shown


def test_get_config_still_loads_any_yaml(tmp_path):
    path = tmp_path / "free.yaml"
    path.write_text("anything: 1\nflpi: Flase\n")
    assert get_config(str(path)).flpi == "Flase"  # public API: loading does not validate


# ----------------------------------------------------------------------------------------------
# every script stops on a bad config before touching output folders, data or models
# ----------------------------------------------------------------------------------------------
def test_train_py_stops_before_creating_its_output_folder(tmp_path):
    config = write_variant(tmp_path, POSE3D, {"flip": DELETE, "flpi": True})
    out = tmp_path / "new_dir"
    result = subprocess.run([sys.executable, "train.py", "--config", config, "-c", str(out), "--device", "cpu"],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode != 0
    assert f"{config}: unknown key 'flpi' (did you mean 'flip'?)" in result.stderr, result.stderr[-2000:]
    assert not out.exists()


SCRIPTS = [  # (module, shipped config, typo: (wrong key, right key), argv after --config)
    ("train_action", ACTION, ("radnom_move", "random_move"), ["-c", "{out}"]),
    ("train_action_1shot", ONESHOT, ("n_veiws", "n_views"), ["-c", "{out}"]),
    ("train_mesh", MESH, ("flpi", "flip"), ["-c", "{out}"]),
    ("infer_wild", POSE3D, ("roottrel", "rootrel"), ["-j", SINGLE, "-o", "{out}"]),
    ("infer_wild_mesh", MESH, ("hiden_dim", "hidden_dim"), ["-j", SINGLE, "-o", "{out}"]),
    ("infer_wild_action", ACTION, ("action_clases", "action_classes"), ["-j", SINGLE, "-o", "{out}"]),
    ("tools.export_onnx", ACTION, ("dropout_rate", "dropout_ratio"), ["--out", "{out}/model.onnx"]),
]


@pytest.mark.parametrize("module, shipped, typo, argv", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_scripts_stop_on_a_typo_before_writing(tmp_path, module, shipped, typo, argv):
    import importlib
    wrong, right = typo
    cfg = yaml.safe_load(open(os.path.join(REPO, shipped)))
    cfg[wrong] = cfg.pop(right)
    cfg["data_root"] = str(tmp_path / "no_data")  # a script that went on would fail elsewhere
    config = tmp_path / "typo.yaml"
    config.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    main = importlib.import_module(module).main
    # the message is the exception, or the one line a command-line wrapper exits with
    with pytest.raises((ConfigError, SystemExit), match=re.escape(f"unknown key '{wrong}' (did you mean '{right}'?)")):
        main(["--config", str(config)] + [a.format(out=out) for a in argv])
    assert not out.exists()


def test_mesh_loss_types_are_the_losses_of_the_mesh_head():
    from lib.model.loss_mesh import REGRESSION_CRITERIA
    from lib.utils.config_schema import MESH_LOSS_TYPES

    assert sorted(MESH_LOSS_TYPES) == sorted(REGRESSION_CRITERIA)
