"""lib/skeleton.py: the H36M-17 joints, symmetry and bones (spec 00 §5, 06 §4) and the format maps."""
import numpy as np
import pytest

from conftest import fixture_path
from lib import skeleton
from lib.skeleton import (BONES, BONES_RENDER_ORDER, COCO_FROM_H36M, FLIP_PERMUTATION, FORMATS, JOINT_NAMES,
                          JOINT_SIDES, LEFT_BONES, LEFT_JOINTS, RIGHT_BONES, RIGHT_JOINTS, ROOT, Mean, to_h36m)

# spec 00 §5
SPEC_FLIP_PAIRS = {(4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)}
SPEC_LOSS_BONES = [[0, 1], [1, 2], [2, 3], [0, 4], [4, 5], [5, 6], [0, 7], [7, 8], [8, 9], [9, 10], [8, 11], [11, 12],
                   [12, 13], [8, 14], [14, 15], [15, 16]]
# spec 06 §4.2
SPEC_RENDER_BONES = [[0, 1], [1, 2], [2, 3], [0, 4], [4, 5], [5, 6], [0, 7], [7, 8], [8, 9], [8, 11], [8, 14], [9, 10],
                     [11, 12], [12, 13], [14, 15], [15, 16]]
SPEC_LEFT_BONES = {(8, 11), (11, 12), (12, 13), (0, 4), (4, 5), (5, 6)}
SPEC_RIGHT_BONES = {(8, 14), (14, 15), (15, 16), (0, 1), (1, 2), (2, 3)}
KEYPOINT_COUNTS = {"halpe26": 26, "coco17": 17, "h36m17": 17, "halpe136": 136, "coco_wholebody133": 133,
                   "blazepose33": 33, "posetrack17": 17}
# MediaPipe's BlazePose landmark indices of the COCO-17 points, in COCO order (nose, left/right eye, left/right
# ear, then shoulders to ankles, left before right), from MediaPipe's PoseLandmark numbering
BLAZEPOSE_COCO = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]

ACTION = np.load(fixture_path("tasks", "action", "helpers.npz"))
WILD = np.load(fixture_path("tasks", "wild", "wild_inputs.npz"))


# ------------------------------------------------------------------ joints and symmetry

def test_joint_names_agree_with_the_sides():
    assert len(JOINT_NAMES) == len(set(JOINT_NAMES)) == 17 and JOINT_NAMES[ROOT] == "pelvis"
    assert [j for j, n in enumerate(JOINT_NAMES) if n.startswith("left_")] == sorted(LEFT_JOINTS)
    assert [j for j, n in enumerate(JOINT_NAMES) if n.startswith("right_")] == sorted(RIGHT_JOINTS)
    assert JOINT_SIDES == tuple(n.split("_")[0] if n.startswith(("left_", "right_")) else "middle"
                                for n in JOINT_NAMES)


def test_flip_permutation_is_an_involution_swapping_the_spec_pairs():
    assert sorted(FLIP_PERMUTATION) == list(range(17))
    assert all(FLIP_PERMUTATION[FLIP_PERMUTATION[j]] == j for j in range(17))
    swapped = {(j, FLIP_PERMUTATION[j]) for j in range(17) if FLIP_PERMUTATION[j] != j}
    assert swapped == SPEC_FLIP_PAIRS | {(b, a) for a, b in SPEC_FLIP_PAIRS}
    # a mirrored joint is the joint of the other side with the same name
    for j, name in enumerate(JOINT_NAMES):
        mirrored = name.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
        assert JOINT_NAMES[FLIP_PERMUTATION[j]] == mirrored


# ------------------------------------------------------------------ bones

def test_bone_orders_are_the_specs():
    assert [list(b) for b in BONES] == SPEC_LOSS_BONES
    assert [list(b) for b in BONES_RENDER_ORDER] == SPEC_RENDER_BONES
    assert sorted(BONES) == sorted(BONES_RENDER_ORDER) and len(set(BONES)) == 16


def test_bones_form_a_tree_rooted_at_the_pelvis():
    children = [child for _, child in BONES]
    assert sorted(children) == [j for j in range(17) if j != ROOT]  # every other joint has one parent
    parent = {child: p for p, child in BONES}
    for j in range(17):
        seen = set()
        while j != ROOT:  # every joint reaches the pelvis without a cycle
            assert j not in seen
            seen.add(j)
            j = parent[j]


def test_bone_sides_are_the_renderers_colour_groups():
    assert LEFT_BONES == SPEC_LEFT_BONES and RIGHT_BONES == SPEC_RIGHT_BONES
    assert {b for b in BONES if skeleton.BONE_SIDES[b] == "middle"} == set(BONES) - SPEC_LEFT_BONES - SPEC_RIGHT_BONES
    # mirroring a left bone gives a right bone
    assert {(FLIP_PERMUTATION[a], FLIP_PERMUTATION[b]) for a, b in LEFT_BONES} == RIGHT_BONES


# ------------------------------------------------------------------ format tables

def test_every_format_has_a_row_per_joint_within_its_keypoints():
    assert {name: f.num_keypoints for name, f in FORMATS.items()} == KEYPOINT_COUNTS
    for fmt in FORMATS.values():
        assert len(fmt.rows) == 17
        sources = [i for row in fmt.rows for i in ((row.p, row.q) if isinstance(row, Mean) else (row,))]
        assert all(isinstance(i, str) and i in JOINT_NAMES or 0 <= i < fmt.num_keypoints for i in sources), fmt.name


def test_tables_are_checked_when_written():
    rows = dict(zip(JOINT_NAMES, range(17)))
    with pytest.raises(ValueError, match="missing \\['thorax'\\]"):
        skeleton._h36m_rows(**{k: v for k, v in rows.items() if k != "thorax"})
    with pytest.raises(ValueError, match="spine: a mean of H36M joints must use joints made from keypoints"):
        skeleton._h36m_rows(**dict(rows, pelvis=Mean("nose", "thorax"), spine=Mean("pelvis", "thorax")))
    with pytest.raises(ValueError, match="spine: 'chest' is not an H36M joint name"):
        skeleton._h36m_rows(**dict(rows, spine=Mean("pelvis", "chest")))
    with pytest.raises(TypeError):
        Mean(1, "pelvis")


def test_coco_from_h36m_inverts_the_coco_copies():
    copies = {row: j for j, row in enumerate(skeleton.COCO17_TO_H36M) if not isinstance(row, Mean)}
    for k, j in enumerate(COCO_FROM_H36M):
        assert j == copies.get(k, JOINT_NAMES.index("head_top")), k  # face points without a copy: the head


# ------------------------------------------------------------------ to_h36m
# The maps only copy, add, halve and take minima, which IEEE arithmetic does exactly alike on every
# CPU: the fixtures are matched bit for bit.

def _padded(x, count, seed=0):
    """``x (..., K, C)`` followed by random points up to ``count`` (the whole-body layouts' extra points)."""
    extra = np.random.default_rng(seed).normal(size=x.shape[:-2] + (count - x.shape[-2], x.shape[-1]))
    return np.concatenate([x, extra.astype(x.dtype)], axis=-2)


@pytest.mark.parity
@pytest.mark.parametrize("name,x,expected", [
    ("coco17", ACTION["coco2h36m_in"], ACTION["coco2h36m_out"]),  # float32 in: means of keypoints in float32
    ("coco_wholebody133", _padded(ACTION["coco2h36m_in"], 133), ACTION["coco2h36m_out"]),
    ("halpe26", WILD["halpe_in"], WILD["halpe2h36m"]),
    ("halpe136", _padded(WILD["halpe_in"], 136), WILD["halpe2h36m"]),
    ("h36m17", WILD["halpe2h36m"], WILD["halpe2h36m"]),
])
def test_to_h36m_matches_the_fixtures(name, x, expected):
    out = to_h36m(x, name)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(to_h36m(x, FORMATS[name]), expected)


def test_blazepose33_maps_like_its_coco_points():
    x = np.random.default_rng(0).uniform(0, 500, (3, 33, 3))
    np.testing.assert_array_equal(to_h36m(x, "blazepose33"), to_h36m(x[:, BLAZEPOSE_COCO], "coco17"))
    # the other 16 landmarks (inner/outer eyes, mouth, hands, feet) are not used
    unused = np.setdiff1d(np.arange(33), BLAZEPOSE_COCO)
    y = x.copy()
    y[:, unused] = -1
    np.testing.assert_array_equal(to_h36m(y, "blazepose33"), to_h36m(x, "blazepose33"))


def test_to_h36m_posetrack_follows_the_spec_table():
    """Spec 03 §2.1 on keypoints that say where they come from: x = 10·k, y = k, confidence per keypoint."""
    x = np.zeros((2, 17, 3), np.float32)
    x[..., 0], x[..., 1] = 10 * np.arange(17), np.arange(17)
    x[0, :, 2] = np.linspace(0.1, 0.9, 17)
    x[1, :, 2] = 1.0
    x[1, 12, 2] = 0.0  # one hip unseen: root and belly confidence 0 (min rule), not a mean
    y = to_h36m(x, "posetrack17")
    copies = {1: 12, 2: 14, 3: 16, 4: 11, 5: 13, 6: 15, 8: 1, 9: 0, 10: 2, 11: 5, 12: 7, 13: 9, 14: 6, 15: 8, 16: 10}
    for j, k in copies.items():
        np.testing.assert_array_equal(y[:, j], x[:, k])
    np.testing.assert_array_equal(y[:, 0, :2], [[115, 11.5]] * 2)
    np.testing.assert_array_equal(y[:, 7, :2], [[(115 + 10) / 2, (11.5 + 1) / 2]] * 2)
    root_conf = np.minimum(x[:, 11, 2], x[:, 12, 2])
    np.testing.assert_array_equal(y[:, 0, 2], root_conf)
    np.testing.assert_array_equal(y[:, 7, 2], np.minimum(root_conf, x[:, 1, 2]))
    assert y[1, 0, 2] == y[1, 7, 2] == 0


def test_to_h36m_maps_any_leading_shape_and_every_channel():
    x = np.random.default_rng(1).normal(size=(2, 3, 26, 4))
    out = to_h36m(x, "halpe26")
    assert out.shape == (2, 3, 17, 4)
    np.testing.assert_array_equal(out[1], to_h36m(x[1], "halpe26"))
    np.testing.assert_array_equal(out[1, 2], to_h36m(x[1, 2], "halpe26"))
    np.testing.assert_array_equal(out[..., 3], to_h36m(x[..., [3]], "halpe26")[..., 0])  # channels independent
    assert to_h36m(x[..., :2], "halpe26").shape == (2, 3, 17, 2)
    assert to_h36m(np.ones((5, 17, 2)), "posetrack17").shape == (5, 17, 2)  # no confidence: nothing to take min of


def test_to_h36m_rejects_the_wrong_keypoint_count():
    with pytest.raises(ValueError, match="coco17 keypoints are \\(..., 17, C\\), got shape \\(4, 26, 3\\)"):
        to_h36m(np.zeros((4, 26, 3)), "coco17")
    with pytest.raises(KeyError):
        to_h36m(np.zeros((4, 17, 3)), "openpose25")
