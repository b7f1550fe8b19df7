"""The one base class of user errors, and the kinds the scripts raise.

A :class:`UserError` means the user can fix it (a missing or unreadable file, a bad option or
config value); the scripts report it in one line naming the file and the fix, without a
traceback (``lib/utils/cli.py``). Anything else is a bug and keeps its traceback. The list a user
can meet is docs/errors.md.
"""


class UserError(Exception):
    """A problem with the user's input (file, option, config); the message names it and the fix."""


class ConfigError(UserError, ValueError):
    """A config file with an unknown key, a missing key or a value of the wrong type or range."""


class DataError(UserError, ValueError):
    """A data file (dataset pickle, clip, keypoint array) exists but its contents cannot be used."""


class OutputPathError(UserError, ValueError):
    """An output file or folder cannot be written: a file where a folder is wanted, a read-only folder, ..."""


class OptionError(UserError, ValueError):
    """A command-line option has a value that cannot be used (e.g. --precision fp16 without CUDA)."""
