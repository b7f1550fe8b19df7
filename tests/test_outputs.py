"""lib/utils/outputs.py: output paths checked up front, outputs written all together or not at all."""
import os

import numpy as np
import pytest

from lib.utils.errors import OutputPathError
from lib.utils.outputs import OutputSet, check_output_file, check_output_folder


def test_output_folder_checks(tmp_path, monkeypatch):
    check_output_folder(tmp_path / "new" / "deeper", ["X3D.npy"])  # a folder still to make is fine
    assert not (tmp_path / "new").exists()  # and checking makes nothing
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="--out_path .*file is a file, not a folder"):
        check_output_folder(tmp_path / "file")
    with pytest.raises(OutputPathError, match="file is a file, so no folder can be made under it"):
        check_output_folder(tmp_path / "file" / "sub", option="--checkpoint")
    (tmp_path / "out" / "X3D.json").mkdir(parents=True)
    with pytest.raises(OutputPathError, match="X3D.json is a folder"):
        check_output_folder(tmp_path / "out", ["X3D.npy", "X3D.json"])
    # a read-only folder (root can write anywhere, so the permission check is simulated)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(OutputPathError, match="cannot write to .*read-only or permission denied"):
        check_output_folder(tmp_path / "elsewhere")


def test_output_file_checks(tmp_path):
    check_output_file(tmp_path / "a" / "scores.json", "--json")
    with pytest.raises(OutputPathError, match="--json .* is a folder; give a file name"):
        check_output_file(tmp_path, "--json")


def test_an_output_set_appears_only_when_complete(tmp_path):
    folder = tmp_path / "out"
    with OutputSet(folder) as out:
        np.save(out.path("X3D.npy"), np.zeros(3))
        (folder / "X3D.npy").exists() and pytest.fail("renamed before the set is complete")
        with open(out.path("X3D.json"), "w") as f:
            f.write("{}")
    assert sorted(os.listdir(folder)) == ["X3D.json", "X3D.npy"]
    assert out.written == [str(folder / "X3D.npy"), str(folder / "X3D.json")]


def test_a_failed_set_leaves_nothing(tmp_path):
    folder = tmp_path / "new" / "out"
    with pytest.raises(RuntimeError):
        with OutputSet(folder) as out:
            np.save(out.path("X3D.npy"), np.zeros(3))
            raise RuntimeError("the JSON failed")
    assert not (tmp_path / "new").exists()  # the folders it made are gone too
    existing = tmp_path / "kept"
    existing.mkdir()
    (existing / "old.txt").write_text("x")
    with pytest.raises(RuntimeError):
        with OutputSet() as out:  # paths in several folders
            open(out.path(existing / "a.csv"), "w").close()
            open(out.path(existing / "sub" / "b.pkl"), "w").close()
            raise RuntimeError
    assert os.listdir(existing) == ["old.txt"]


def test_a_folder_that_refuses_new_entries_is_reported_even_when_permission_bits_allow(tmp_path, monkeypatch):
    """Root passes os.access on /proc or a read-only mount; the check tries to make a folder instead."""
    import tempfile

    from lib.utils import outputs

    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")
    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    with pytest.raises(outputs.OutputPathError, match="cannot write to"):
        outputs.check_output_folder(tmp_path / "out", ["X3D.npy"])
    assert not (tmp_path / "out").exists()


def test_published_files_appear_at_once_and_stay_when_the_run_fails_later(tmp_path):
    from lib.utils.outputs import read_manifest

    out_folder = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with OutputSet(out_folder, owned=["X3D*"], script="infer_wild.py") as out:
            np.save(out.path("X3D.npy"), np.zeros(3))
            out.publish()
            assert sorted(os.listdir(out_folder)) == ["X3D.npy"]  # there before the run ends
            with open(out.path("X3D.mp4"), "w") as f:
                f.write("half a video")
            raise RuntimeError("the render failed")
    assert sorted(os.listdir(out_folder)) == ["X3D.npy", "manifest.json"]  # no partial render left
    assert read_manifest(out_folder)["infer_wild.py"]["files"] == ["X3D.npy"]


def test_publishing_twice_and_finishing_renames_each_file_once(tmp_path):
    with OutputSet(tmp_path) as out:
        np.save(out.path("a.npy"), np.zeros(1))
        out.publish()
        out.publish()
        np.save(out.path("b.npy"), np.ones(1))
    assert sorted(os.listdir(tmp_path)) == ["a.npy", "b.npy"]
    assert out.written == [str(tmp_path / "a.npy"), str(tmp_path / "b.npy")]
