"""Files that animation and biomechanics tools open, from a :class:`lib.world.WorldMotion`.

* **BVH** (Biovision hierarchy; Blender, MotionBuilder, Unity and Unreal importers): a hierarchy
  rooted at the pelvis (``lib.skeleton``'s bone tree and joint names), offsets from the constant bone
  lengths (the rest pose: a T-pose facing +Z), per-frame joint rotations (Euler angles in degrees,
  channels ``Zrotation Xrotation Yrotation``: R = Rz·Rx·Ry) and the root's position in the world
  frame, at the video's frame rate; millimetres, the world's axes (Y up unless ``--up z``).
* **TRC** (OpenSim marker file): the 17 joints as markers, mm, world frame, and the heels and toes
  (``left_heel``, ``left_toe``, ``right_heel``, ``right_toe``) where the 2D input had foot keypoints.
* **CSV**: one row per frame (frame, time in s), one column per joint (and foot point) coordinate.

The BVH's ankles turn with the feet: their end sites are the toes.

A motion covers the frames where its person was seen (``WorldMotion.first_frame`` on): TRC and CSV rows carry the
video's frame numbers and times (TRC numbers frames from 1, CSV from 0), the BVH starts with that frame.
"""
import os

import numpy as np

from lib.skeleton import CHILDREN, FOOT_POINT_NAMES, JOINT_NAMES, NUM_JOINTS, PARENTS, ROOT
from lib.utils.errors import OptionError

EXPORT_FORMATS = ("bvh", "trc", "csv")
BVH_ROTATION_ORDER = "ZXY"  # scipy's intrinsic order of the channels Zrotation Xrotation Yrotation


def parse_export_formats(text):
    """``"bvh,trc"`` → ``["bvh", "trc"]``; ``"none"`` or ``""`` → ``[]``; an unknown format, or ``none`` with
    others, is an :class:`OptionError`."""
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    if formats == ["none"]:
        return []
    if "none" in formats:
        raise OptionError(f"--export {text}: 'none' means no files besides X3D_world.npy, so it cannot come with "
                          f"{', '.join(f for f in formats if f != 'none')}: give 'none' alone, or the formats")
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown:
        raise OptionError(f"--export {text}: unknown format {', '.join(unknown)}; choose from "
                          f"{', '.join(EXPORT_FORMATS)} (comma-separated), or none")
    return list(dict.fromkeys(formats))


def _number(value, decimals):
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text.rstrip("0").rstrip(".")


def bvh_local_rotations(rotations):
    """Global rotations ``(F, 17, 3, 3)`` → each joint's rotation relative to its parent ``(F, 17, 3, 3)``."""
    local = rotations.copy()
    for joint in range(NUM_JOINTS):
        if PARENTS[joint] is not None:
            local[:, joint] = np.swapaxes(rotations[:, PARENTS[joint]], -1, -2) @ rotations[:, joint]
    return local


def write_bvh(path, motion, decimals=6):
    """Write ``motion`` (a :class:`lib.world.WorldMotion`) as a BVH file."""
    offsets, end_sites = motion.skeleton.offsets, motion.skeleton.end_sites
    lines, order = ["HIERARCHY"], []

    def add(joint, depth):
        pad = "  " * depth
        vector = " ".join(_number(v, decimals) for v in (np.zeros(3) if joint == ROOT else offsets[joint]))
        lines.append(f"{pad}{'ROOT' if joint == ROOT else 'JOINT'} {JOINT_NAMES[joint]}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {vector}")
        channels = "6 Xposition Yposition Zposition " if joint == ROOT else "3 "
        lines.append(f"{pad}  CHANNELS {channels}Zrotation Xrotation Yrotation")
        order.append(joint)
        for child in CHILDREN[joint]:
            add(child, depth + 1)
        if joint in end_sites:
            lines.append(f"{pad}  End Site")
            lines.append(pad + "  {")
            lines.append(f"{pad}    OFFSET {' '.join(_number(v, decimals) for v in end_sites[joint])}")
            lines.append(pad + "  }")
        lines.append(pad + "}")

    add(ROOT, 0)
    local = bvh_local_rotations(motion.rotations)
    n_frames = len(local)
    from scipy.spatial.transform import Rotation  # here: a run reads the export options before its work starts

    angles = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler(BVH_ROTATION_ORDER, degrees=True)
    # one angle + 360° is the same rotation: unwrapping each channel keeps the curves continuous
    angles = np.unwrap(angles.reshape(n_frames, NUM_JOINTS, 3), period=360.0, axis=0)
    columns = [motion.root] + [angles[:, joint] for joint in order]
    values = np.concatenate(columns, axis=1)
    lines += ["MOTION", f"Frames: {n_frames}", f"Frame Time: {1.0 / motion.fps:.8f}"]
    lines += [" ".join(_number(v, decimals) for v in row) for row in values]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def markers(motion):
    """``(names, positions (F, M, 3))``: the 17 joints, then the heels and toes where the input had foot keypoints
    (``lib.skeleton.FOOT_POINT_NAMES``)."""
    if motion.feet is None:
        return list(JOINT_NAMES), motion.joints
    return list(JOINT_NAMES) + list(FOOT_POINT_NAMES), np.concatenate([motion.joints, motion.feet], axis=1)


def write_trc(path, motion, name=None, decimals=4):
    """Write ``motion``'s joints (and heels and toes, :func:`markers`) as an OpenSim TRC marker file (mm, world
    frame)."""
    names, joints = markers(motion)
    n_frames = len(joints)
    first = motion.first_frame  # the video frame of the first row (its number is 1-based here)
    rate = _number(motion.fps, 6)
    header = [
        f"PathFileType\t4\t(X/Y/Z)\t{name or os.path.basename(path)}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate}\t{rate}\t{n_frames}\t{len(names)}\tmm\t{rate}\t{first + 1}\t{n_frames}",
        "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t",
        "\t\t" + "\t".join(f"{axis}{k + 1}" for k in range(len(names)) for axis in "XYZ"),
        "",
    ]
    rows = [f"{first + t + 1}\t{(first + t) / motion.fps:.6f}\t" + "\t".join(f"{v:.{decimals}f}" for v in
                                                                          joints[t].reshape(-1))
            for t in range(n_frames)]
    with open(path, "w") as f:
        f.write("\n".join(header + rows) + "\n")


def write_csv(path, motion, decimals=4):
    """Write ``motion``'s joints as CSV: a header, then one row per frame (the video frame from 0, time_s, joint
    coordinates in mm)."""
    axes = "xyz"
    first = motion.first_frame
    names, points = markers(motion)
    header = ["frame", "time_s"] + [f"{name}_{axes[a]}" for name in names for a in range(3)]
    rows = [",".join([str(first + t), f"{(first + t) / motion.fps:.6f}"] +
                     [f"{v:.{decimals}f}" for v in points[t].reshape(-1)]) for t in range(len(points))]
    with open(path, "w") as f:
        f.write(",".join(header) + "\n" + "\n".join(rows) + "\n")


WRITERS = {"bvh": write_bvh, "trc": write_trc, "csv": write_csv}


def write_export(fmt, path, motion, name=None):
    """Write ``motion`` to ``path`` in the format ``fmt`` (one of :data:`EXPORT_FORMATS`); ``name``: the file
    name the TRC header states (default: that of ``path``)."""
    if fmt == "trc":
        write_trc(path, motion, name)
    else:
        WRITERS[fmt](path, motion)
