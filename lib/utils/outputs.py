"""Output files of the scripts: checked before the work starts, and all or nothing at the end.

* :func:`check_output_folder` / :func:`check_output_file` run before a model is loaded and raise
  :class:`OutputPathError` for a file where a folder is wanted, a folder under a file, a folder
  that cannot be written, or an output name taken by a folder;
* :class:`OutputSet` writes every file of a run under a temporary name next to its target and
  renames them all only when the run succeeds; a failed run removes its temporary files and the
  folders it made, so it leaves nothing partial behind. With ``owned`` (the in-the-wild scripts) an output folder
  holds one run's outputs of each script: a run removes the earlier outputs of its kind (files matching ``owned``)
  that it does not write again, says so, and records what it wrote in the folder's :data:`MANIFEST`; temporary
  files of a run that was killed are removed by the next one;
* :func:`write_json` writes strict JSON (NaN and infinity as ``null``).
"""
import datetime
import fnmatch
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np

from lib.utils.errors import OutputPathError

# the list of the files a run wrote, in its output folder
MANIFEST = "manifest.json"
PARTIAL = ".partial-"  # the mark of a temporary name: .<stem>.partial-<pid><ext>


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
    if not os.fspath(folder).strip():
        raise OutputPathError(f"{option} is empty: give the folder to write to ('.' for the current folder)")
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

    def __init__(self, folder=None, owned=None, script=None):
        self.folder = os.fspath(folder) if folder is not None else None
        self._pending = {}  # final path -> temporary path
        self._published = set()  # final paths renamed before the end (publish())
        self._made = []     # folders this run created, in the order made
        # glob patterns of the files this kind of run writes (X3D*, ...): the folder then belongs to one run
        self.owned = list(owned) if owned is not None and self.folder is not None else None
        self.removed = []   # files of an earlier run removed at the end
        self.script = script  # the manifest's name of the run (default: the command's)

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
            if self.owned is not None:
                for name in remove_partial_files(self.folder):
                    print(f"removed {name}: a temporary file of an earlier run that was killed")
        return self

    def path(self, name):
        """The temporary path to write the output ``name`` (relative to the folder) to."""
        final = os.path.join(self.folder, name) if self.folder is not None else os.fspath(name)
        self._make_folders(os.path.dirname(final) or ".")
        stem, ext = os.path.splitext(os.path.basename(final))
        temporary = os.path.join(os.path.dirname(final), f".{stem}.partial-{os.getpid()}{ext}")
        self._pending[final] = temporary
        return temporary

    def publish(self, exclude=()):
        """Rename the files asked for so far (but those whose temporary paths are in ``exclude``: still being
        written) to their names now, the others at the end: outputs a user can open while the run goes on
        (infer_wild.py's motion files, before its renders). A run that fails after this keeps them (each is whole)
        and its manifest lists them; it removes only the files it had not published."""
        exclude = set(exclude)
        for final, temporary in self._pending.items():
            if final not in self._published and temporary not in exclude:
                os.replace(temporary, final)
                self._published.add(final)

    @property
    def written(self):
        """The final paths, in the order they were asked for."""
        return list(self._pending)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.publish()
            if self.owned is not None:
                self._own_folder()
            return False
        unpublished = [temporary for final, temporary in self._pending.items() if final not in self._published]
        for temporary in unpublished:
            if os.path.isdir(temporary) and not os.path.islink(temporary):
                shutil.rmtree(temporary, ignore_errors=True)
            elif os.path.lexists(temporary):
                os.unlink(temporary)
        for folder in reversed(self._made):
            try:
                os.rmdir(folder)
            except OSError:  # not empty: something else was put there meanwhile (or published files)
                pass
        if self._published and self.owned is not None:
            write_manifest(self.folder, [os.path.relpath(final, self.folder) for final in self._published],
                           self.script)
        return False

    def _own_folder(self):
        """After the renames: remove the earlier run's files that this run did not write again, write the manifest."""
        names = [os.path.relpath(final, self.folder) for final in self._pending]
        self.removed = earlier_outputs(self.folder, names, self.owned)
        for name in self.removed:
            os.unlink(os.path.join(self.folder, name))
        if self.removed:
            print(f"removed {len(self.removed)} file(s) of an earlier run in {self.folder}, which this run does not "
                  f"write: {', '.join(self.removed)}")
        write_manifest(self.folder, names, self.script)


def _pid_running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_partial_files(folder):
    """Remove the temporary files (``.<stem>.partial-<pid><ext>``) of runs that are no longer running; returns their
    names."""
    removed = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if not (name.startswith(".") and PARTIAL in name):
            continue
        digits = name.split(PARTIAL, 1)[1].split(".")[0]
        if digits.isdigit() and int(digits) != os.getpid() and not _pid_running(int(digits)):
            path = os.path.join(folder, name)
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)
            removed.append(name)
    return removed


def earlier_outputs(folder, keep, owned):
    """The files in ``folder`` that match the ``owned`` glob patterns (the outputs of this kind of run) and are not in
    ``keep`` (this run's): an earlier run's."""
    return [name for name in sorted(os.listdir(folder)) if name not in keep and name != MANIFEST and
            any(fnmatch.fnmatch(name, pattern) for pattern in owned) and os.path.isfile(os.path.join(folder, name))]


def read_manifest(folder):
    """The runs recorded in ``folder``'s :data:`MANIFEST`: ``{script: {"command", "finished", "files"}}`` ({} when
    there is none or it cannot be read)."""
    try:
        with open(os.path.join(folder, MANIFEST)) as f:
            runs = json.load(f).get("runs", {})
        return runs if isinstance(runs, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def write_manifest(folder, names, script=None):
    """Record in ``folder``'s :data:`MANIFEST` that this run (``script``, default the command's) wrote ``names``, with
    its command and time; the other scripts' entries stay, without the files that are gone (written whole)."""
    script = script or os.path.basename(sys.argv[0])
    runs = {other: dict(run, files=[n for n in run.get("files", []) if os.path.isfile(os.path.join(folder, n))])
            for other, run in read_manifest(folder).items() if other != script and isinstance(run, dict)}
    runs[script] = {"command": [os.path.basename(sys.argv[0])] + sys.argv[1:],
                    "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                    "files": sorted(names)}
    doc = {"description": "the files each script's last run wrote into this folder; a script's next run removes "
                          "its earlier outputs that it does not write again", "runs": runs}
    partial = os.path.join(folder, f".manifest{PARTIAL}{os.getpid()}.json")
    write_json(partial, doc, indent=1)
    os.replace(partial, os.path.join(folder, MANIFEST))


def strict(value):
    """``value`` with every NaN or infinite float (also in numpy arrays and scalars) as None, for strict JSON."""
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    if isinstance(value, np.ndarray):
        return strict(value.tolist())
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_json(path, doc, **options):
    """Write ``doc`` as strict JSON (:func:`strict`: no NaN, which other readers refuse)."""
    with open(path, "w") as f:
        json.dump(strict(doc), f, allow_nan=False, **options)
