"""One frame's people as the tracker sees them: keypoints, their box and size, distances between poses, duplicates."""
from dataclasses import dataclass

import numpy as np

# keypoints below this score count neither for the box nor for distances
MIN_SCORE = 0.3
# two detections of one frame this close (mean keypoint distance in sizes) are one person found twice (the
# detector's regions of interest can both lock onto one person; one of them may see only part of the body)
DUPLICATE_DISTANCE = 0.15


def keypoint_box(keypoints, min_score=MIN_SCORE):
    """``(x0, y0, x1, y1)`` of the keypoints ``(K, 3)`` scoring at least ``min_score`` (all of them if fewer
    than 2 do)."""
    confident = keypoints[:, 2] >= min_score
    xy = keypoints[confident, :2] if confident.sum() >= 2 else keypoints[:, :2]
    return np.concatenate([xy.min(axis=0), xy.max(axis=0)])


def box_size(box):
    """The diagonal of a box: the person's size, whatever their posture."""
    return max(float(np.hypot(box[2] - box[0], box[3] - box[1])), 1.0)


# COCO-17 left/right keypoint pairs: a detector's left/right swap of a limb must not look like motion
COCO17_PAIRS = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))


def keypoint_distance(a, b, size, pairs=None):
    """Mean distance of the keypoints confident in both ``(K, 3)`` poses, over ``size``; inf when none are.

    ``pairs``: left/right keypoint pairs (default :data:`COCO17_PAIRS` for 17 keypoints): each pair is compared
    as it is or exchanged, whichever is closer, so that a detector mistaking the left and right of a limb (common
    on symmetric figures) does not look like a jump."""
    both = (a[:, 2] >= MIN_SCORE) & (b[:, 2] >= MIN_SCORE)
    if both.sum() < 3:
        both = (a[:, 2] > 0) & (b[:, 2] > 0)
        if not both.any():
            return np.inf
    distance = np.linalg.norm(a[:, :2] - b[:, :2], axis=-1)
    pairs = COCO17_PAIRS if pairs is None and len(a) == 17 else pairs or ()
    for left, right in pairs:
        if both[left] and both[right]:
            crossed = (np.linalg.norm(a[left, :2] - b[right, :2]) + np.linalg.norm(a[right, :2] - b[left, :2])) / 2
            if crossed < (distance[left] + distance[right]) / 2:
                distance[left] = distance[right] = crossed
    return float(distance[both].mean() / size)



@dataclass
class Detection:
    """One person found in one frame: keypoints ``(K, 3)`` (x, y pixels, score) and, when known, the appearance
    descriptor (:func:`lib.data.tracking.appearance.appearance_descriptor`; None: unknown or spoilt by another
    person in front)."""
    keypoints: np.ndarray
    appearance: np.ndarray = None

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, dtype=np.float64)
        self.box = keypoint_box(self.keypoints)
        self.size = box_size(self.box)


def is_duplicate(a, b, cue_points=None):
    """Whether detections ``a`` and ``b`` of one frame are one person found twice (same place, same pose)."""
    cues = (lambda d: d.keypoints) if cue_points is None else (lambda d: d.keypoints[list(cue_points)])
    return keypoint_distance(cues(a), cues(b), max(a.size, b.size)) < DUPLICATE_DISTANCE


def remove_duplicates(detections, cue_points=None):
    """The detections without those that repeat a better-scoring one (:func:`is_duplicate`): returns the kept
    indices, in their order."""
    order = sorted(range(len(detections)), key=lambda i: -detections[i].keypoints[:, 2].mean())
    kept = []
    for i in order:
        if not any(is_duplicate(detections[i], detections[k], cue_points) for k in kept):
            kept.append(i)
    return sorted(kept)




def keypoint_center(keypoints):
    """The mean of the confident keypoints (all of them if fewer than 2 are)."""
    confident = keypoints[:, 2] >= MIN_SCORE
    xy = keypoints[confident, :2] if confident.sum() >= 2 else keypoints[:, :2]
    return xy.mean(axis=0)
