"""lib.utils.tools: configs with !include, clear missing-key errors, pickles, folders."""
import copy
import json
import pickle

import pytest

from lib.utils.tools import ConfigKeyError, TextLogger, ensure_dir, get_config, read_pkl


def test_get_config_includes_yaml_json_and_text(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "model.yaml").write_text("dim_feat: 16\ndepth: 1\n")
    (tmp_path / "sub" / "extra.json").write_text(json.dumps({"classes": [1, 2]}))
    (tmp_path / "sub" / "note.txt").write_text("hello")
    cfg = tmp_path / "my_exp.yaml"
    cfg.write_text("model: !include sub/model.yaml\nmeta: !include sub/extra.json\nnote: !include sub/note.txt\n"
                   "lr: 0.0005\nsmall: 0.00005\n")
    args = get_config(str(cfg))
    assert args.name == "my_exp"
    assert args.model.dim_feat == 16 and args.meta.classes == [1, 2] and args.note == "hello"
    assert args.lr == 0.0005 and args.small == 5e-05


def test_missing_key_names_key_and_file(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("batch_size: 4\n")
    args = get_config(str(cfg))
    with pytest.raises(ConfigKeyError, match=r"tiny.yaml' has no key 'learning_rate'"):
        args.learning_rate
    # guarded optional keys keep working
    assert not hasattr(args, "scale_range_pretrain")
    assert getattr(args, "no_conf", False) is False
    # copies (e.g. into DataLoader workers) keep the file name
    with pytest.raises(ConfigKeyError, match="tiny.yaml"):
        copy.deepcopy(args).missing
    with pytest.raises(ConfigKeyError, match="tiny.yaml"):
        pickle.loads(pickle.dumps(args)).missing


def test_config_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        get_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        get_config(str(bad))


def test_read_pkl_ensure_dir_and_logger(tmp_path):
    path = tmp_path / "a" / "b"
    ensure_dir(str(path))
    ensure_dir(str(path))
    assert path.is_dir()
    with open(path / "x.pkl", "wb") as f:
        pickle.dump({"k": [1, 2]}, f)
    assert read_pkl(str(path / "x.pkl")) == {"k": [1, 2]}
    log = TextLogger(str(tmp_path / "log.txt"))
    log.log("one")
    log.log("two")
    assert (tmp_path / "log.txt").read_text() == "one\ntwo\n"
    TextLogger(str(tmp_path / "log.txt"))
    assert (tmp_path / "log.txt").read_text() == ""
