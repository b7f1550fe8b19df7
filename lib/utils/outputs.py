"""Output files of the scripts: checked before the work starts, and all or nothing at the end.

* :func:`check_output_folder` / :func:`check_output_file` run before a model is loaded and raise
  :class:`OutputPathError` for a file where a folder is wanted, a folder under a file, a folder
  that cannot be written, or an output name taken by a folder;
* :class:`OutputSet` writes every file of a run under a temporary name next to its target and
  renames them all only when the run succeeds; a failed run removes its temporary files and the
  folders it made, so it leaves nothing partial behind.
"""
import os
import shutil
import tempfile

from lib.utils.errors import OutputPathError


def _nearest_existing(path):
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _can_make_entries(folder):
    """Whether a folder can be made in ``folder``: tried, not guessed from permission bits (which say yes to
    root on a read-only or virtual file system such as /proc)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=folder))
    except OSError:
        return False
    return True


def check_output_folder(folder, names=(), option="--out_path"):
    """Raise :class:`OutputPathError` unless ``folder`` (made if missing) can receive the files ``names``."""
    folder = os.path.abspath(os.fspath(folder))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OutputPathError(f"{option} {folder} is a file, not a folder: remove it or choose another {option}")
    existing = _nearest_existing(folder)
    if not os.path.isdir(existing):
        raise OutputPathError(f"{option} {folder}: {existing} is a file, so no folder can be made under it; "
                              f"choose another {option}")
    if not _can_make_entries(existing):
        raise OutputPathError(f"{option} {folder}: cannot write to {existing} (read-only or permission denied); "
                              f"choose another {option}")
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            raise OutputPathError(f"{option}: the output {path} is a folder; remove it or choose another {option}")


def check_output_file(path, option):
    """Raise :class:`OutputPathError` unless the file ``path`` (and its missing folders) can be written."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise OutputPathError(f"{option} {path} is a folder; give a file name")
    check_output_folder(os.path.dirname(path), option=option)


class OutputSet:
    """The files of one run, written under temporary names and renamed together on success.

    ::

        with OutputSet(out_folder) as out:
            np.save(out.path("X3D.npy"), poses)     # writes out_folder/.X3D.partial-<pid>.npy
            ...                                     # all renamed to their names at the end

    ``OutputSet()`` without a folder takes paths. Missing folders are made, and removed again
    if the run fails. Temporary names keep the extension (writers such as ffmpeg and
    ``np.save`` go by it).
    """

    def __init__(self, folder=None):
        self.folder = os.fspath(folder) if folder is not None else None
        self._pending = {}  # final path -> temporary path
        self._made = []     # folders this run created, in the order made

    def _make_folders(self, folder):
        missing, folder = [], os.path.abspath(folder)
        while not os.path.lexists(folder):
            missing.append(folder)
            folder = os.path.dirname(folder)
        for folder in reversed(missing):
            os.mkdir(folder)
            self._made.append(folder)

    def __enter__(self):
        if self.folder is not None:
            self._make_folders(self.folder)
        return self

    def path(self, name):
        """The temporary path to write the output ``name`` (relative to the folder) to."""
        final = os.path.join(self.folder, name) if self.folder is not None else os.fspath(name)
        self._make_folders(os.path.dirname(final) or ".")
        stem, ext = os.path.splitext(os.path.basename(final))
        temporary = os.path.join(os.path.dirname(final), f".{stem}.partial-{os.getpid()}{ext}")
        self._pending[final] = temporary
        return temporary

    @property
    def written(self):
        """The final paths, in the order they were asked for."""
        return list(self._pending)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            for final, temporary in self._pending.items():
                os.replace(temporary, final)
            return False
        for temporary in self._pending.values():
            if os.path.isdir(temporary) and not os.path.islink(temporary):
                shutil.rmtree(temporary, ignore_errors=True)
            elif os.path.lexists(temporary):
                os.unlink(temporary)
        for folder in reversed(self._made):
            try:
                os.rmdir(folder)
            except OSError:  # not empty: something else was put there meanwhile
                pass
        return False
