"""The command-line layer of every script: a user error ends the run with one line, not a traceback.

Each script keeps a ``main(argv)`` that raises (so tests and other code can call it) and runs it
with ``run_cli(main)`` under ``if __name__ == "__main__"``. A user error is printed as
``error: <message>`` on stderr and the exit code is 2; ``--debug`` or ``MOTIONBERT_DEBUG=1``
shows the traceback instead. Anything else (a bug) keeps Python's traceback.
"""
import errno
import os
import sys

import yaml

from lib.utils.errors import UserError
from lib.utils.malloc import keep_freed_memory

DEBUG_ENV = "MOTIONBERT_DEBUG"
# the network's --precision choices (lib.utils.learning.precision_context runs them); here, so that a script
# offers them before torch is imported
PRECISIONS = ("fp32", "bf16", "fp16", "int8")
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C

# a disk (or quota, or file size limit) that is full: one line, like a user error
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)

# Besides UserError: what the standard library and PyYAML raise for a user's path or YAML file.
USER_ERRORS = (UserError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
               yaml.YAMLError)


def add_debug_argument(parser):
    parser.add_argument("--debug", action="store_true",
                        help=f"on an error, show the full traceback (same as {DEBUG_ENV}=1)")
    return parser


def debug_requested(argv):
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


# how a DataLoader worker's error reaches the main process: the worker's traceback, then "Type: message"
_WORKER_TRACEBACK = "Original Traceback (most recent call last):"


def one_line(error):
    """The message of ``error`` on one line (multi-line reports such as a checkpoint mismatch are joined)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if _WORKER_TRACEBACK in lines and ": " in lines[-1]:
        lines = [lines[-1].split(": ", 1)[1]]
    return " ".join(lines) or type(error).__name__


def run_cli(main, argv=None):
    """Run ``main(argv)`` as a command; returns its result (the exit code for ``sys.exit``). The process's
    malloc keeps freed memory for reuse (:mod:`lib.utils.malloc`)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    keep_freed_memory()
    try:
        return main(argv)
    except USER_ERRORS as e:
        if debug_requested(argv):
            raise
        print(f"error: {one_line(e)}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USER_ERROR)
    except OSError as e:
        if e.errno not in DISK_FULL or debug_requested(argv):
            raise
        where = f" writing {e.filename}" if e.filename else ""
        print(f"error: the disk is full{where} ({e.strerror or os.strerror(e.errno)}): free some space or write "
              f"elsewhere; nothing partial was left", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        if debug_requested(argv):
            raise
        print("\ninterrupted", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_INTERRUPTED)
