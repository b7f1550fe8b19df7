"""A whole video's tracking: the online pass (:class:`lib.data.tracking.online.PoseTracker`), then a second pass that
sees every identity whole and joins those that are one person seen in pieces (:func:`join_identities`).

Online, a person lost behind others and found again is re-associated only when no other lost identity is nearly as
likely; once a person is split into two identities, every later return of theirs is in doubt between the two, and
each doubt makes a new identity. Offline the pieces are known from end to end: each identity's end is matched to
another's start (one assignment problem over the whole video) with the same cost as online
(:func:`lib.data.tracking.reassociation.reassociation_cost`), and the same doubt rule, except that a rival which is
itself a later (or earlier) piece of the chosen one is no rival: the chain takes both.
"""
from dataclasses import dataclass

import numpy as np

from lib.data.tracking.detections import keypoint_center
from lib.data.tracking.online import PoseTracker
from lib.data.tracking.reassociation import AMBIGUITY_MARGIN, Sighting, reassociation_cost

# a piece's start and end state: from its first (last) this many detections
END_DETECTIONS = 5
# appearance gate of a join: tighter than online's (APPEARANCE_STITCH_GATE, 0.4), for a piece's colours are averaged
# over all of it rather than followed as they come; on the rendered scenes (bench/bench_tracking.py) one person's
# pieces were 0.07-0.11 apart, and the one wrong join at 0.4 (two 8-frame pieces of two people 6 s apart) at 0.35
APPEARANCE_JOIN_GATE = 0.25


@dataclass
class TrackingResult:
    """People found in a video: ``ids[t][j]`` is the person of detection j of frame t (None: a tracklet never
    confirmed, dropped); ``n_people`` persons; ``splits`` links refused in doubt; ``tracklets`` per person, the
    number of tracklets joined into it (more than one: re-associated after a gap); ``fragments``: the tracklets
    never confirmed, each a list of ``(frame, detection index)``; ``joined``: identities of the online pass joined
    to an earlier one by :func:`join_identities`."""
    ids: list
    n_people: int
    splits: int
    tracklets: list
    fragments: list
    joined: int = 0


def _sightings(members, cues):
    """``(start, end)`` :class:`Sighting` of a piece: its ``members`` ``[(frame, Detection)]`` in frame order."""
    def state(part, at):
        frames = np.array([t for t, _ in part], dtype=np.float64)
        centers = np.array([keypoint_center(cues(d)) for _, d in part])
        velocity = (centers[-1] - centers[0]) / (frames[-1] - frames[0]) if len(part) > 1 else np.zeros(2)
        return Sighting(int(frames[at]), centers[at], velocity, float(np.median([d.size for _, d in part])),
                        appearance, samples)

    descriptors = [d.appearance for _, d in members if d.appearance is not None]
    samples = len(descriptors)
    appearance = np.mean(descriptors, axis=0) if descriptors else None
    return state(members[:END_DETECTIONS], 0), state(members[-END_DETECTIONS:], -1)


def join_identities(frames_detections, ids, fps, cue_points=None):
    """Join identities of ``ids`` (``ids[t][j]``: the person of detection j of frame t, None: none) that are one
    person seen in pieces. Returns ``(ids, n_people, members)``: the new ids (0, 1, ... in order of the first piece
    of each), and per new person the old identities joined into it."""
    pieces = {}
    for t, (detections, row) in enumerate(zip(frames_detections, ids)):
        for detection, person in zip(detections, row):
            if person is not None:
                pieces.setdefault(person, []).append((t, detection))
    numbers = sorted(pieces)
    if len(numbers) < 2:
        return ids, len(numbers), [[p] for p in numbers]

    def cues(detection):
        return detection.keypoints if cue_points is None else detection.keypoints[cue_points]

    ends = [_sightings(pieces[p], cues) for p in numbers]
    frames = [{t for t, _ in pieces[p]} for p in numbers]
    n = len(numbers)
    cost = np.full((n, n), np.inf)
    for a in range(n):
        for b in range(n):
            if a != b and ends[a][1].frame < ends[b][0].frame:
                cost[a, b] = reassociation_cost(ends[a][1], ends[b][0], fps, APPEARANCE_JOIN_GATE)
    successor = {}
    if np.isfinite(cost).any():
        from scipy.optimize import linear_sum_assignment  # here: scipy.optimize takes 0.5 s to import

        rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
        for a, b in zip(rows, cols):
            if np.isfinite(cost[a, b]) and not _in_doubt(cost, frames, a, b):
                successor[a] = b
    heads = sorted(set(range(n)) - set(successor.values()))
    chains = []
    for head in heads:
        chain = [head]
        while chain[-1] in successor:
            chain.append(successor[chain[-1]])
        chains.append(chain)
    new_number = {numbers[k]: i for i, chain in enumerate(chains) for k in chain}
    new_ids = [[None if p is None else new_number[p] for p in row] for row in ids]
    return new_ids, len(chains), [[numbers[k] for k in chain] for chain in chains]


def _in_doubt(cost, frames, a, b):
    """Is the link of piece ``a``'s end to piece ``b``'s start in doubt? A rival within :data:`AMBIGUITY_MARGIN` of
    its cost is a doubt unless the chain can take both: a rival successor of ``a`` that is another piece of ``b``'s
    person (never seen with it, and linkable before or after it), or likewise a rival predecessor of ``b``."""
    limit = cost[a, b] + AMBIGUITY_MARGIN

    def chainable(x, y):
        return frames[x].isdisjoint(frames[y]) and (np.isfinite(cost[x, y]) or np.isfinite(cost[y, x]))

    rivals_of_b = [r for r in np.flatnonzero(cost[a] < limit) if r != b]
    rivals_of_a = [r for r in np.flatnonzero(cost[:, b] < limit) if r != a]
    return any(not chainable(b, r) for r in rivals_of_b) or any(not chainable(a, r) for r in rivals_of_a)


class VideoTracker:
    """A whole video's tracking, frame by frame: :meth:`add` each frame's detections (the online pass, its
    :attr:`online` tracker also answering :meth:`PoseTracker.missing`), then :meth:`finish` → the
    :class:`TrackingResult` after :func:`join_identities`. A tracklet's frames before its confirmation get its id
    too."""

    def __init__(self, fps, cue_points=None, pairs=None):
        self.online = PoseTracker(fps, cue_points, pairs)
        self.frames_detections, self.ids = [], []

    def add(self, detections):
        self.frames_detections.append(detections)
        self.ids.append(self.online.update(len(self.ids), detections))
        for person, members in self.online.confirmed():
            for frame, j in members:
                self.ids[frame][j] = person

    def finish(self):
        tracker = self.online
        tracker.finish()
        ids, n_people, members = join_identities(self.frames_detections, self.ids, tracker.fps, tracker.cue_points)
        tracklets = [sum(tracker.identities[p].tracklets for p in old) for old in members]
        return TrackingResult(ids, n_people, tracker.splits, tracklets, tracker.fragments,
                              sum(len(old) - 1 for old in members))


def track_people(frames_detections, fps, cue_points=None, pairs=None):
    """Track a whole video: ``frames_detections[t]`` is the list of :class:`Detection` of frame t. Returns a
    :class:`TrackingResult` (:class:`VideoTracker`)."""
    tracker = VideoTracker(fps, cue_points, pairs)
    for detections in frames_detections:
        tracker.add(detections)
    return tracker.finish()
