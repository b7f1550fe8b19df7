"""lib/export.py: BVH, TRC and CSV files read back by independent readers (bvhio, OpenSim, csv) and, for BVH,
by Blender's own importer (the ``blender`` marker; CI runs it, see .ci/run)."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from lib import export, world
from lib.skeleton import JOINT_NAMES
from lib.utils.errors import OptionError
from synthetic_motion import moving_poses

HERE = os.path.dirname(os.path.abspath(__file__))
FPS = 30.0


@pytest.fixture(scope="module", params=["y", "z"])
def motion(request):
    """A world motion with large joint rotations (every angle range) and a moving root."""
    poses = moving_poses(n_frames=90, fps=FPS, seed=4, amplitude=1.4) * 0.002
    poses += np.linspace([0, 0, 0], [0.5, 0, 1.0], len(poses))[:, None]
    return world.world_motion(poses, fps=FPS, height=1.8, up=request.param)


def test_parse_export_formats():
    assert export.parse_export_formats("bvh,trc,csv") == ["bvh", "trc", "csv"]
    assert export.parse_export_formats(" CSV, bvh,csv") == ["csv", "bvh"]
    assert export.parse_export_formats("none") == [] == export.parse_export_formats("")
    with pytest.raises(OptionError, match="unknown format fbx"):
        export.parse_export_formats("bvh,fbx")


def bvh_joints_by_bvhio(path):
    import bvhio
    root = bvhio.readAsHierarchy(path)
    joints = {joint.Name: joint for joint, _, _ in root.layout()}
    n_frames = len(root.Keyframes)
    positions = np.zeros((n_frames, len(JOINT_NAMES), 3))
    for frame in range(n_frames):
        root.loadPose(frame)
        positions[frame] = [list(joints[name].PositionWorld) for name in JOINT_NAMES]
    return positions


def test_bvh_read_back_by_bvhio(motion, tmp_path):
    path = str(tmp_path / "motion.bvh")
    export.write_bvh(path, motion)
    text = open(path).read()
    assert text.startswith("HIERARCHY\nROOT pelvis\n") and f"Frames: {len(motion.joints)}\n" in text
    assert f"Frame Time: {1 / FPS:.8f}" in text
    assert text.count("End Site") == 5 and text.count("JOINT ") == len(JOINT_NAMES) - 1
    positions = bvh_joints_by_bvhio(path)
    assert positions.shape == motion.joints.shape
    np.testing.assert_allclose(positions, motion.joints, atol=0.01)  # bvhio computes in float32


def test_bvh_offsets_are_the_constant_bone_lengths(motion, tmp_path):
    path = str(tmp_path / "motion.bvh")
    export.write_bvh(path, motion)
    offsets = {}
    lines = open(path).read().split("MOTION")[0].splitlines()
    for k, line in enumerate(lines):
        words = line.split()
        if words and words[0] in ("ROOT", "JOINT"):
            offsets[words[1]] = np.array(lines[k + 2].split()[1:], dtype=float)
    lengths = np.linalg.norm(np.diff(motion.joints[:, [0, 1]], axis=1), axis=-1)  # pelvis-right hip, every frame
    assert np.linalg.norm(offsets["right_hip"]) == pytest.approx(lengths.mean(), abs=1e-4)
    for j, name in enumerate(JOINT_NAMES):
        assert np.linalg.norm(offsets[name]) == pytest.approx(motion.skeleton.lengths[j], abs=1e-4)


def test_trc_read_back_by_opensim(motion, tmp_path):
    import opensim
    path = str(tmp_path / "motion.trc")
    export.write_trc(path, motion)
    assert opensim.TRCFileAdapter().read(path)["markers"].getNumColumns() == len(JOINT_NAMES)
    table = opensim.TimeSeriesTableVec3(path)  # read by the same adapter, as a time series of 3-vectors
    assert list(table.getColumnLabels()) == list(JOINT_NAMES)
    assert table.getTableMetaDataAsString("Units") == "mm"
    assert float(table.getTableMetaDataAsString("DataRate")) == FPS
    assert table.getNumRows() == len(motion.joints)
    np.testing.assert_allclose(np.array(table.getIndependentColumn()), np.arange(len(motion.joints)) / FPS, atol=1e-6)
    values = np.array([[[table.getRowAtIndex(t)[k].get(a) for a in range(3)] for k in range(len(JOINT_NAMES))]
                       for t in range(table.getNumRows())])
    np.testing.assert_allclose(values, motion.joints, atol=1e-4)


def test_a_motion_starting_later_keeps_the_video_times_in_opensim(motion, tmp_path):
    """A person first seen at video frame 12: OpenSim reads the TRC's times from 12 / fps on."""
    import dataclasses

    import opensim
    later = dataclasses.replace(motion, first_frame=12)
    path = str(tmp_path / "later.trc")
    export.write_trc(path, later)
    table = opensim.TimeSeriesTableVec3(path)
    assert table.getNumRows() == len(motion.joints)
    np.testing.assert_allclose(np.array(table.getIndependentColumn()), (12 + np.arange(len(motion.joints))) / FPS,
                               atol=1e-6)


def test_csv_has_a_header_and_one_row_per_frame(motion, tmp_path):
    path = str(tmp_path / "motion.csv")
    export.write_csv(path, motion)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:5] == ["frame", "time_s", "pelvis_x", "pelvis_y", "pelvis_z"] and len(rows[0]) == 2 + 3 * 17
    assert len(rows) == 1 + len(motion.joints)
    values = np.array(rows[1:], dtype=float)
    np.testing.assert_array_equal(values[:, 0], np.arange(len(motion.joints)))
    np.testing.assert_allclose(values[:, 2:].reshape(-1, 17, 3), motion.joints, atol=1e-4)


@pytest.mark.slow
@pytest.mark.blender
def test_bvh_imported_by_blender_matches_the_joints(motion, tmp_path):
    """Blender's BVH importer (bpy, run in its own environment: it needs numpy < 2) puts every joint within
    1 mm of the written 3D joints, on every frame."""
    python = os.environ.get("BLENDER_PYTHON")
    if not python:
        if os.environ.get("CI"):
            pytest.fail("BLENDER_PYTHON is not set: .ci/run sets it to a Python with bpy installed")
        pytest.skip("set BLENDER_PYTHON to a Python with the bpy package (see .ci/run)")
    path, out = str(tmp_path / "motion.bvh"), str(tmp_path / "blender.npz")
    export.write_bvh(path, motion)
    result = subprocess.run([python, os.path.join(HERE, "blender_bvh_joints.py"), path, out, str(len(motion.joints))],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = np.load(out)
    names = list(imported["names"])
    heads = imported["heads"][:, [names.index(name) for name in JOINT_NAMES]]
    assert float(imported["fps"]) == pytest.approx(FPS)
    error = np.linalg.norm(heads - motion.joints, axis=-1)
    assert error.max() < 1.0, f"largest difference {error.max():.4f} mm"
