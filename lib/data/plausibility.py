"""Plausibility of people's motion, in one place: what a person can do between two frames, and what input looks wrong.

Used by the keypoint reading of every in-the-wild script and of ``stream_wild.py`` (``lib.data.wild_input``), and by
the world motion (``lib.world``):

* :func:`split_jumps`: a person's 2D track may not jump further between two detections than a person moves in that
  time (:data:`MAX_SPEED_SIZES_PER_S` of their size per second, plus :data:`MARGIN_SIZES`; their size may not change
  by more than :data:`MAX_SIZE_CHANGE`). Where it does, either the track comes back within :data:`OUTLIER_S` (the
  frames in between are wrong detections: dropped) or it does not (two people under one id: split into two tracks).
* :data:`MAX_ROOT_SPEED_M_S`: the fastest a person's root moves in the world (a sprinter's top speed, about
  12 m/s; ``lib.world`` refuses world motion faster than that).
* :func:`suspect_input`: one warning line each for keypoints outside the picture, confidences that are all near
  zero, and body parts never seen (which the model then invents).
"""
import numpy as np

from lib.skeleton import JOINT_NAMES

# a person covers at most this many of their own sizes (the diagonal of their keypoints' box, about 1.1 body
# heights) per second: a sprinter runs about 10 m/s, 5 to 6 body heights per second
MAX_SPEED_SIZES_PER_S = 5.0
MARGIN_SIZES = 0.5
MAX_SIZE_CHANGE = 1.6
# a track that jumps away and back within this long has wrong detections in between; beyond, another person
OUTLIER_S = 1.0
MAX_ROOT_SPEED_M_S = 12.0
# keypoints scoring below this do not count for a person's position and size
MIN_SCORE = 0.3
# suspect input: confidences all below NEAR_ZERO; a joint below NEVER_SEEN in every frame
NEAR_ZERO = 0.05
NEVER_SEEN = 0.1
OUTSIDE_SHARE = 0.5  # a frame whose confident keypoints lie outside the picture more than this share


def frame_ranges(frames, limit=6):
    """``"3-10, 15, 20-25"`` for sorted frame numbers (the first ``limit`` ranges, then ``...``)."""
    frames = [int(f) for f in frames]
    if not frames:
        return ""
    ranges, start = [], frames[0]
    for a, b in zip(frames, frames[1:] + [None]):
        if b is None or b != a + 1:
            ranges.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ", ".join(ranges[:limit]) + (", ..." if len(ranges) > limit else "")


def _position_and_size(keypoints):
    confident = keypoints[:, 2] >= MIN_SCORE
    xy = keypoints[confident, :2] if confident.sum() >= 2 else keypoints[:, :2]
    low, high = xy.min(axis=0), xy.max(axis=0)
    return (low + high) / 2, max(float(np.hypot(*(high - low))), 1.0)


def plausible_step(a, b, frames_apart, fps):
    """Whether a person can go from keypoints ``a`` to ``b`` (``(K, 3)`` pixels) in ``frames_apart`` frames."""
    (pa, sa), (pb, sb) = _position_and_size(a), _position_and_size(b)
    seconds = frames_apart / fps
    reach = np.linalg.norm(pb - pa) / max(sa, sb)
    size_change = abs(np.log(sb / sa))
    return reach <= MAX_SPEED_SIZES_PER_S * seconds + MARGIN_SIZES and \
        size_change <= np.log(MAX_SIZE_CHANGE) + 0.5 * seconds


def split_jumps(frames, keypoints, fps):
    """A track's detections at sorted ``frames (N,)`` with ``keypoints (N, K, 3)``, cut where it jumps (module
    docstring). Returns ``(pieces, dropped, events)``: lists of detection indices (one per person, in order), the
    indices dropped as wrong detections, and what was done as ``(kind, first frame, last frame, jump in sizes)``
    with kind ``"dropped"`` or ``"split"``."""
    n = len(frames)
    pieces, dropped, events = [[0]] if n else [], [], []
    horizon = max(1, int(round(OUTLIER_S * fps)))
    j = 1
    while j < n:
        last = pieces[-1][-1]
        if plausible_step(keypoints[last], keypoints[j], frames[j] - frames[last], fps):
            pieces[-1].append(j)
            j += 1
            continue
        (pa, sa), (pb, _) = _position_and_size(keypoints[last]), _position_and_size(keypoints[j])
        jump = float(np.linalg.norm(pb - pa) / sa)
        # back: reachable from before the jump, and nearer to where it was than to where it jumped
        back = next((k for k in range(j + 1, n) if frames[k] - frames[last] <= horizon and
                     plausible_step(keypoints[last], keypoints[k], frames[k] - frames[last], fps) and
                     np.linalg.norm(_position_and_size(keypoints[k])[0] - pa) <
                     np.linalg.norm(_position_and_size(keypoints[k])[0] - pb)), None)
        if back is not None:  # away and back: wrong detections in between
            dropped += list(range(j, back))
            events.append(("dropped", int(frames[j]), int(frames[back - 1]), jump))
            j = back
        else:  # another person from here on
            events.append(("split", int(frames[j]), int(frames[j]), jump))
            pieces.append([j])
            j += 1
    return [np.array(p) for p in pieces], np.array(dropped, dtype=int), events


def suspect_input(keypoints, detected, image_size=None):
    """Warnings (one line each) about one person's H36M-17 ``keypoints (F, 17, 3)`` in the frames ``detected (F,)``:
    most confident keypoints outside the picture (or at negative coordinates without its size), confidences all near
    zero, joints never seen."""
    warnings = []
    frames = np.flatnonzero(detected)
    if not len(frames):
        return warnings
    kp = keypoints[frames]
    confident = kp[..., 2] >= MIN_SCORE
    xy = kp[..., :2]
    if image_size is not None:
        w, h = image_size
        outside = (xy[..., 0] < 0) | (xy[..., 1] < 0) | (xy[..., 0] > w) | (xy[..., 1] > h)
        where = f"outside the {w}x{h} picture"
    else:
        outside = (xy[..., 0] < 0) | (xy[..., 1] < 0)
        where = "at negative pixel coordinates"
    share = np.where(confident.any(axis=1), (outside & confident).sum(axis=1) / np.maximum(confident.sum(axis=1), 1),
                     outside.mean(axis=1))
    bad = frames[share > OUTSIDE_SHARE]
    if len(bad):
        warnings.append(f"keypoints {where} in {len(bad)} of {len(frames)} frames ({frame_ranges(bad)}): are they "
                        f"from this video, in its pixels?")
    unsure = frames[kp[..., 2].max(axis=1) < NEAR_ZERO]
    if len(unsure):
        warnings.append(f"every confidence is below {NEAR_ZERO:g} in {len(unsure)} of {len(frames)} frames "
                        f"({frame_ranges(unsure)}): the detector was not sure of anything there, so the 3D poses of "
                        f"those frames are guesses")
    never = [JOINT_NAMES[j] for j in range(kp.shape[1]) if (kp[:, j, 2] < NEVER_SEEN).all()]
    if never and len(unsure) < len(frames):
        warnings.append(f"{', '.join(never)} never seen (confidence below {NEVER_SEEN:g} in every frame): the model "
                        f"invents {'them' if len(never) > 1 else 'it'}")
    return warnings
