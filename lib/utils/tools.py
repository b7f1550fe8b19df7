"""Config, pickle and filesystem helpers (``lib.utils.tools`` of the original)."""
import json
import os
import pickle

import yaml
from easydict import EasyDict

from lib.utils.errors import ConfigError, DataError, UserError

ROOT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


class TextLogger:
    """Append-only text log; the constructor truncates the file."""

    def __init__(self, log_path):
        self.log_path = log_path
        with open(self.log_path, "w") as f:
            f.write("")

    def log(self, log):
        with open(self.log_path, "a+") as f:
            f.write(log + "\n")


class Loader(yaml.SafeLoader):
    """YAML SafeLoader that remembers the including file's folder for ``!include``."""

    def __init__(self, stream):
        try:
            self._root = os.path.split(stream.name)[0]
        except AttributeError:
            self._root = os.path.curdir
        super().__init__(stream)


def construct_include(loader, node):
    """``!include path``: YAML/YML is parsed with ``Loader``, JSON as JSON, anything else is text."""
    filename = os.path.abspath(os.path.join(loader._root, loader.construct_scalar(node)))
    extension = os.path.splitext(filename)[1].lstrip(".")
    with open(filename, "r") as f:
        if extension in ("yaml", "yml"):
            return yaml.load(f, Loader)
        if extension == "json":
            return json.load(f)
        return "".join(f.readlines())


yaml.add_constructor("!include", construct_include, Loader)


class ConfigKeyError(UserError, AttributeError):
    """A script asked the config for a key that the YAML file does not define."""


class Config(EasyDict):
    """EasyDict whose missing-key error names the key and the YAML file.

    It stays an ``AttributeError`` so ``hasattr``/``getattr(..., default)`` keep working
    for the optional keys the scripts guard.
    """

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        source = self.__dict__.get("_config_path", "<config>")
        raise ConfigKeyError(f"config '{source}' has no key '{name}'; add it to that YAML file "
                             f"(see docs and configs/ for the keys each script reads)")


def get_config(config_path):
    """Load a YAML config into a ``Config`` (EasyDict) with ``name`` = file name without extension."""
    if not os.path.isfile(config_path):
        hint = ("; the default configs are relative to the repository: run from its folder or give --config"
                if not os.path.isabs(config_path) else "; check the path given to --config")
        raise FileNotFoundError(f"config file not found: {config_path}{hint}")
    with open(config_path, "r") as stream:
        config = yaml.load(stream, Loader)
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError(f"{config_path}: a config must be a YAML mapping of keys to values, got a "
                          f"{type(config).__name__}")
    config = Config(config)
    object.__setattr__(config, "_config_path", config_path)  # an attribute, not a config key
    config.name = os.path.splitext(os.path.basename(config_path))[0]
    return config


def ensure_dir(path):
    """Create ``path`` (and its parents) if missing."""
    os.makedirs(path, exist_ok=True)


def read_pkl(data_url):
    """Unpickle a file (datasets and parameter files are plain pickles); a damaged one raises ``DataError``."""
    with open(data_url, "rb") as f:
        try:
            return pickle.load(f)
        except Exception as e:  # unpickling damaged data raises almost any type
            raise DataError(f"cannot read {data_url}: it is truncated, corrupt or not a pickle "
                            f"({type(e).__name__}); re-create or re-download it") from e


# Pickle protocol of the files we write: the default of the Python versions the original ran on,
# pinned so that the bytes do not change with the Python version (3.14 defaults to 5).
PICKLE_PROTOCOL = 4


def write_pkl(obj, path):
    """Pickle ``obj`` to ``path`` (protocol :data:`PICKLE_PROTOCOL`)."""
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=PICKLE_PROTOCOL)
