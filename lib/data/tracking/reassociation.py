"""Is a person seen again the one lost earlier? The cost of joining where a new piece of track starts to where a
lost person was last seen, used online (:class:`lib.data.tracking.online.PoseTracker`, as a new tracklet is
confirmed) and offline (:func:`lib.data.tracking.offline.join_identities`, over the whole video)."""
from dataclasses import dataclass

import numpy as np

from lib.data.tracking.appearance import appearance_distance

# weights of the cost terms (a distance in track sizes has weight 1)
APPEARANCE_WEIGHT = 1.0
SIZE_WEIGHT = 0.5
# doubt: a competing pair within this much of the chosen pair's cost makes the link ambiguous
AMBIGUITY_MARGIN = 0.1
# appearance counts once both sides have this many unoccluded descriptors
MIN_APPEARANCE_SAMPLES = 3
# appearance (Bhattacharyya distance of the colour histograms, 0 = same, 1 = disjoint) above which a person seen
# again is another person
APPEARANCE_STITCH_GATE = 0.4
# re-association at most this long after the person was last seen (without appearance on both sides: position
# and size alone cannot tell two people apart after long)
MAX_GAP_S = 6.0
MAX_GAP_NO_APPEARANCE_S = 1.0
# ... at most this fast (track sizes per second; a sprinter covers about 5 body heights per second) plus a
# margin of REACH_MARGIN track sizes
MAX_SPEED = 5.0
REACH_MARGIN = 0.5
MAX_STITCH_SIZE_CHANGE = 1.6
# the cost of where the new piece starts: distance to the best of (the lost person's position moved on with their
# velocity, where they were last seen), in track sizes, counted at this weight
STITCH_POSITION_WEIGHT = 0.3
STITCH_GATE = 1.2


@dataclass
class Sighting:
    """A person at one end of a piece of track: the ``frame``, the keypoints' ``center`` (px), ``velocity``
    (px per frame), ``size`` (px, :func:`lib.data.tracking.detections.box_size`) and the ``appearance`` descriptor
    averaged over ``appearance_samples`` unoccluded detections."""
    frame: int
    center: np.ndarray
    velocity: np.ndarray
    size: float
    appearance: np.ndarray = None
    appearance_samples: int = 0


def reassociation_cost(last, first, fps, appearance_gate=APPEARANCE_STITCH_GATE):
    """Cost of ``first`` (where a new piece of track starts, a :class:`Sighting`) being the person last seen as
    ``last``, or inf when implausible: too long after, too far for the time, another size, other colours (an
    appearance distance above ``appearance_gate``)."""
    gap = (first.frame - last.frame) / fps
    both_seen = min(last.appearance_samples, first.appearance_samples) >= MIN_APPEARANCE_SAMPLES
    if gap <= 0 or gap > (MAX_GAP_S if both_seen else MAX_GAP_NO_APPEARANCE_S):
        return np.inf
    size = max(last.size, first.size)
    if np.linalg.norm(first.center - last.center) / size > MAX_SPEED * gap + REACH_MARGIN:
        return np.inf
    size_change = abs(np.log(first.size / last.size))
    if size_change > np.log(MAX_STITCH_SIZE_CHANGE):
        return np.inf
    moved_on = last.center + last.velocity * (first.frame - last.frame)
    position = min(np.linalg.norm(first.center - moved_on), np.linalg.norm(first.center - last.center)) / size
    cost = STITCH_POSITION_WEIGHT * position / (1.0 + gap) + SIZE_WEIGHT * size_change
    if both_seen:
        app = appearance_distance(last.appearance, first.appearance)
        if app > appearance_gate:
            return np.inf
        cost += APPEARANCE_WEIGHT * app
    return cost if cost < STITCH_GATE else np.inf
