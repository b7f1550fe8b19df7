"""Joint angles of a world motion, in degrees, per frame and side (docs/inference.md, "Joint angles").

Conventions (in the spirit of the ISB recommendations; a segment's frame from its joints):

* **pelvis frame**: lateral axis from the right to the left hip, up from the pelvis towards the spine
  (perpendicular to it), forward = lateral × up; **thorax frame** the same from the shoulders and spine to thorax.
* **hip flexion**: the thigh (hip to knee) in the pelvis' sagittal plane, from straight down; positive forward
  (flexion), negative backward (extension). **shoulder flexion**: the upper arm (shoulder to elbow) the same in the
  thorax frame (0 hanging, 90 forward horizontal, 180 overhead).
* **knee flexion**, **elbow flexion**: 180 minus the angle between the two bones at the joint (0 straight).
* **ankle dorsiflexion**: 90 minus the angle between the shank (ankle to knee) and the foot (heel to toe): 0 with
  the foot at right angles to the shank, positive with the toes towards the shin; only where the feet were placed
  from 2D foot keypoints (``lib/world/feet.py``), else empty.
* **trunk forward lean**, **trunk side lean**: the trunk (pelvis to thorax) from the world's vertical, towards the
  pelvis' horizontal forward (positive forward) and towards the person's right (positive right).
* **trunk rotation**: the shoulder line's turn against the hip line about the vertical, positive when the
  shoulders turn to the person's left (counter-clockwise seen from above).
"""
import numpy as np

from lib.world.skeleton import JOINT, ROOT, _normalize

COLUMNS = ("left_hip_flexion", "right_hip_flexion", "left_knee_flexion", "right_knee_flexion",
           "left_ankle_dorsiflexion", "right_ankle_dorsiflexion", "left_shoulder_flexion", "right_shoulder_flexion",
           "left_elbow_flexion", "right_elbow_flexion", "trunk_forward_lean", "trunk_side_lean", "trunk_rotation")
# the plot's panels: title, columns
PANELS = (("hip flexion", ("left_hip_flexion", "right_hip_flexion")),
          ("knee flexion", ("left_knee_flexion", "right_knee_flexion")),
          ("ankle dorsiflexion", ("left_ankle_dorsiflexion", "right_ankle_dorsiflexion")),
          ("shoulder flexion", ("left_shoulder_flexion", "right_shoulder_flexion")),
          ("elbow flexion", ("left_elbow_flexion", "right_elbow_flexion")),
          ("trunk", ("trunk_forward_lean", "trunk_side_lean", "trunk_rotation")))
SIDES = ("left", "right")


def _angle_between(a, b):
    cos = np.sum(_normalize(a) * _normalize(b), axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _segment_frame(left, right, base, top):
    """(lateral, up, forward) unit vectors ``(F, 3)`` of a segment from its left and right points and the line from
    ``base`` to ``top``."""
    lateral = _normalize(left - right)
    rise = top - base
    up = _normalize(rise - np.sum(rise * lateral, axis=-1, keepdims=True) * lateral)
    return lateral, up, np.cross(lateral, up)


def _sagittal(vector, up, forward):
    """The angle of a limb in a segment's sagittal plane, from pointing down, positive forward."""
    return np.degrees(np.arctan2(np.sum(vector * forward, axis=-1), -np.sum(vector * up, axis=-1)))


def joint_angles(joints, up, feet=None, feet_known=None):
    """``{column: (F,) degrees}`` (:data:`COLUMNS`) of world ``joints (F, 17, 3)`` whose vertical is ``up (3,)``;
    ``feet (F, 4, 3)`` (``lib.skeleton.FOOT_POINT_NAMES``) and ``feet_known (F, 2)`` give the ankles (NaN
    elsewhere)."""
    j = {name: joints[:, index] for name, index in JOINT.items()}
    up = _normalize(np.asarray(up, dtype=np.float64))
    pelvis = _segment_frame(j["left_hip"], j["right_hip"], j["pelvis"], j["spine"])
    thorax = _segment_frame(j["left_shoulder"], j["right_shoulder"], j["spine"], j["thorax"])
    out = {}
    for k, side in enumerate(SIDES):
        hip, knee, ankle = j[f"{side}_hip"], j[f"{side}_knee"], j[f"{side}_ankle"]
        shoulder, elbow, wrist = j[f"{side}_shoulder"], j[f"{side}_elbow"], j[f"{side}_wrist"]
        out[f"{side}_hip_flexion"] = _sagittal(knee - hip, pelvis[1], pelvis[2])
        out[f"{side}_knee_flexion"] = 180.0 - _angle_between(hip - knee, ankle - knee)
        out[f"{side}_shoulder_flexion"] = _sagittal(elbow - shoulder, thorax[1], thorax[2])
        out[f"{side}_elbow_flexion"] = 180.0 - _angle_between(shoulder - elbow, wrist - elbow)
        dorsiflexion = np.full(len(joints), np.nan)
        if feet is not None:
            value = 90.0 - _angle_between(knee - ankle, feet[:, 2 * k + 1] - feet[:, 2 * k])
            known = np.ones(len(joints), bool) if feet_known is None else feet_known[:, k]
            dorsiflexion[known] = value[known]
        out[f"{side}_ankle_dorsiflexion"] = dorsiflexion
    trunk = j["thorax"] - joints[:, ROOT]
    heading = _normalize(pelvis[2] - np.outer(pelvis[2] @ up, up))
    right = np.cross(heading, up)
    vertical = trunk @ up
    out["trunk_forward_lean"] = np.degrees(np.arctan2(np.sum(trunk * heading, axis=-1), vertical))
    out["trunk_side_lean"] = np.degrees(np.arctan2(np.sum(trunk * right, axis=-1), vertical))
    hips = pelvis[0] - np.outer(pelvis[0] @ up, up)
    shoulders = thorax[0] - np.outer(thorax[0] @ up, up)
    out["trunk_rotation"] = np.degrees(np.arctan2(np.cross(hips, shoulders) @ up, np.sum(hips * shoulders, axis=-1)))
    return {name: out[name] for name in COLUMNS}


def motion_angles(motion):
    """:func:`joint_angles` of a ``lib.world.WorldMotion``."""
    up = np.eye(3)[1 if motion.up == "y" else 2]
    return joint_angles(motion.joints, up, motion.feet, motion.feet_from_keypoints)


def write_angles_csv(path, motion, angles=None, decimals=2):
    """``frame,time_s,<COLUMNS>`` (degrees; empty where unknown), one row per frame of ``motion``."""
    angles = motion_angles(motion) if angles is None else angles
    first = motion.first_frame
    rows = [",".join(["frame", "time_s", *COLUMNS])]
    for t in range(len(motion.joints)):
        values = ["" if np.isnan(angles[c][t]) else f"{angles[c][t]:.{decimals}f}" for c in COLUMNS]
        rows.append(",".join([str(first + t), f"{(first + t) / motion.fps:.6f}", *values]))
    with open(path, "w") as f:
        f.write("\n".join(rows) + "\n")


def plot_angles(path, motion, angles=None, title=None):
    """A PNG of the angles over time: one panel per joint (:data:`PANELS`), left and right in their own colours."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    angles = motion_angles(motion) if angles is None else angles
    time = (motion.first_frame + np.arange(len(motion.joints))) / motion.fps
    figure, axes = plt.subplots(len(PANELS), 1, figsize=(10, 2.2 * len(PANELS)), sharex=True)
    colours = {"left": "#1F77B4", "right": "#D62728"}
    for axis, (name, columns) in zip(axes, PANELS):
        for column in columns:
            side = column.split("_")[0]
            label = side if side in colours else column.replace("trunk_", "").replace("_", " ")
            axis.plot(time, angles[column], color=colours.get(side), label=label, linewidth=1.2)
        axis.set_ylabel(f"{name} (°)")
        axis.grid(True, alpha=0.3)
        axis.legend(loc="upper right", fontsize=8)
        if name == "ankle dorsiflexion" and all(np.isnan(angles[c]).all() for c in columns):
            axis.text(0.5, 0.5, "no foot keypoints in the input", transform=axis.transAxes, ha="center",
                      va="center", color="grey")
    axes[-1].set_xlabel("time (s)")
    if title:
        axes[0].set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
