"""Left/right swaps of a 2D detector, undone by temporal consistency.

On symmetric-looking figures BlazePose sometimes exchanges the left and right arm, leg or eye and ear for some
frames. :func:`correct_left_right_swaps` decides per group and frame whether to exchange the sides back.
"""
import numpy as np

# Left/right groups of keypoints that a detector can swap as a whole (left indices, right indices): COCO-17, and
# BlazePose-33 (the hands go with the arms, the heels and foot tips with the legs, the mouth with the face)
COCO17_MIRROR_GROUPS = {"arms": ((5, 7, 9), (6, 8, 10)), "legs": ((11, 13, 15), (12, 14, 16)),
                        "face": ((1, 3), (2, 4))}
BLAZEPOSE33_MIRROR_GROUPS = {"arms": ((11, 13, 15, 17, 19, 21), (12, 14, 16, 18, 20, 22)),
                             "legs": ((23, 25, 27, 29, 31), (24, 26, 28, 30, 32)),
                             "face": ((1, 2, 3, 7, 9), (4, 5, 6, 8, 10))}
MIRROR_GROUPS = {17: COCO17_MIRROR_GROUPS, 33: BLAZEPOSE33_MIRROR_GROUPS}
# Cost of a swapped frame in correct_left_right_swaps, in units of the person's size: small, so that a swap
# that makes a group jump is undone, but not zero, so that of two equally smooth sequences (a whole video
# and its mirror) the detector's own is kept.
SWAP_COST = 0.005


def correct_left_right_swaps(keypoints, found=None, groups=None, swap_cost=SWAP_COST):
    """Undo left/right swaps of a detector by temporal consistency.

    ``keypoints (F, K, 3)`` of one person (x, y, score); ``found (F,)`` marks the frames that hold
    a detection (default: all). For every group of ``groups`` (``{name: (left indices, right
    indices)}``; default: :data:`MIRROR_GROUPS` of the keypoint count) each frame is either kept or has its
    left and right sides exchanged; the choice
    is the sequence (found by dynamic programming over the two states) along which the group
    moves least from one found frame to the next (mean joint distance over the person's size)
    plus ``swap_cost`` per exchanged frame. A swap in some frames makes the group jump there and
    back, and is undone; a whole video is never mirrored. Returns the corrected copy and
    ``swapped (F, len(groups))`` bool, the frames changed per group.
    """
    keypoints = np.array(keypoints, dtype=np.float64)
    groups = MIRROR_GROUPS[keypoints.shape[1]] if groups is None else groups
    found = np.ones(len(keypoints), bool) if found is None else np.asarray(found, bool)
    index = np.flatnonzero(found)
    swapped = np.zeros((len(keypoints), len(groups)), bool)
    if len(index) < 2:
        return keypoints, swapped
    xy = keypoints[index, :, :2]
    size = max(float(np.median(np.linalg.norm(xy.max(1) - xy.min(1), axis=-1))), 1e-6)
    for g, (left, right) in enumerate(groups.values()):
        order, mirror = list(left) + list(right), list(right) + list(left)
        states = np.stack([xy[:, order], xy[:, mirror]], axis=1)  # (n, 2 states, J, 2)
        # move[t, a, b]: motion from state a in found frame t to state b in found frame t + 1
        move = np.linalg.norm(states[1:, None] - states[:-1, :, None], axis=-1).mean(-1) / size
        cost, back = np.array([0.0, swap_cost]), np.zeros((len(index), 2), int)
        for t in range(1, len(index)):
            total = cost[:, None] + move[t - 1]
            back[t] = total.argmin(0)
            cost = total.min(0) + [0.0, swap_cost]
        state = np.zeros(len(index), int)
        state[-1] = cost.argmin()
        for t in range(len(index) - 1, 0, -1):
            state[t - 1] = back[t, state[t]]
        frames = index[state == 1]
        swapped[frames, g] = True
        keypoints[np.ix_(frames, order)] = keypoints[np.ix_(frames, mirror)]
    return keypoints, swapped
