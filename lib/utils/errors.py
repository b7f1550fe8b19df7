"""The one base class of user errors.

A :class:`UserError` means the user can fix it (a missing or unreadable file, a bad option or
config value); the scripts report it in one line naming the file and the fix, without a
traceback. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input (file, option, config); the message names it and the fix."""
