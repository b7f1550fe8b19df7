"""Online tracking: per-frame pose detections linked into identities as the frames come (a live stream, and the first
pass over a whole video; :mod:`lib.data.tracking`)."""
from dataclasses import dataclass, field

import numpy as np

from lib.data.tracking.appearance import appearance_distance
from lib.data.tracking.detections import keypoint_center, keypoint_distance
from lib.data.tracking.reassociation import (AMBIGUITY_MARGIN, APPEARANCE_WEIGHT, MIN_APPEARANCE_SAMPLES, SIZE_WEIGHT,
                                             Sighting, reassociation_cost)

# frame-to-frame gate: mean keypoint distance (track sizes) after the motion prediction, for a detection in the
# next frame, growing by GATE_GROWTH per missed frame (the prediction gets worse)
GATE = 0.25
GATE_GROWTH = 0.04
# a detection whose size differs from the track's by more than this factor is not the same person a frame later
MAX_SIZE_CHANGE = 1.5
# appearance (Bhattacharyya distance of the colour histograms, 0 = same, 1 = disjoint): above these a detection
# is another person a frame later
APPEARANCE_GATE = 0.5
# a track not seen for longer than this (detector misses) ends; later it can only be re-associated
SHORT_GAP_S = 0.3
# detections a new tracklet needs before it counts as a person (and can be re-associated)
CONFIRM_FRAMES = 5
# velocity: exponential smoothing of the per-frame displacement of the keypoints' mean
VELOCITY_SMOOTHING = 0.5
# appearance model of an identity: exponential average of its unoccluded detections' descriptors
APPEARANCE_SMOOTHING = 0.1


@dataclass(eq=False)  # compared by identity
class _Track:
    """A tracklet: detections linked frame to frame (and the identity it belongs to once confirmed)."""
    first_frame: int
    last_frame: int
    keypoints: np.ndarray          # the last detection's cue keypoints
    size: float
    velocity: np.ndarray           # (2,) pixels per frame, of the keypoints' mean
    appearance: np.ndarray = None  # exponential average of the unoccluded descriptors
    appearance_samples: int = 0
    hits: int = 1
    identity: int = None           # set when confirmed
    pending: list = field(default_factory=list)  # (frame, detection index) before confirmation

    def center(self):
        return keypoint_center(self.keypoints)

    def predict(self, frame):
        shifted = self.keypoints.copy()
        shifted[:, :2] += self.velocity * (frame - self.last_frame)
        return shifted


@dataclass(eq=False)
class _Identity:
    """A person: the tracklets joined into one id; what is needed to re-associate a later tracklet with it."""
    number: int
    last_frame: int
    keypoints: np.ndarray
    size: float
    velocity: np.ndarray
    appearance: np.ndarray
    appearance_samples: int
    tracklets: int = 1
    active: bool = True  # one of its tracklets is being followed


class PoseTracker:
    """Online tracking of several people (see the module docstring).

    ``fps``: the video's (the gaps and speeds are in seconds); ``cue_points``: the keypoint indices that drive
    the tracking (None: all; e.g. the COCO-17 points of BlazePose's 33), ``pairs`` their left/right pairs (default:
    COCO-17's for 17 cue points). :meth:`update` returns, per detection
    of the frame, its person id (0, 1, ... in order of confirmation), or None while its tracklet is not yet
    confirmed; :meth:`confirmed` then gives the earlier frames of a newly confirmed tracklet, so that offline use
    (:func:`track_people`) loses no frame.
    """

    def __init__(self, fps, cue_points=None, pairs=None):
        if not (fps and fps > 0):
            raise ValueError(f"tracking needs the frame rate, got {fps}")
        self.fps = float(fps)
        self.cue_points = None if cue_points is None else list(cue_points)
        self.pairs = pairs  # left/right pairs of the cue points (keypoint_distance; default: COCO-17's)
        self.fragments = []  # tracklets that ended before being confirmed: [(frame, detection index), ...] each
        self.short_gap = max(1, int(round(SHORT_GAP_S * self.fps)))
        self.tracks = []       # active tracklets
        self.identities = []   # every person so far
        self.newly_confirmed = []  # (identity, [(frame, detection index), ...]) since the last update
        self.splits = 0        # links refused in doubt

    def _cues(self, detection):
        return detection.keypoints if self.cue_points is None else detection.keypoints[self.cue_points]

    # ------------------------------------------------------------------ frame to frame

    def _link_cost(self, track, detection, frame):
        """Cost of continuing ``track`` with ``detection`` in ``frame``, or inf outside the gates."""
        dt = frame - track.last_frame
        distance = keypoint_distance(track.predict(frame), self._cues(detection), track.size, self.pairs)
        if distance > GATE + GATE_GROWTH * (dt - 1):
            return np.inf
        size_change = abs(np.log(detection.size / track.size))
        if size_change > np.log(MAX_SIZE_CHANGE):
            return np.inf
        cost = distance + SIZE_WEIGHT * size_change
        if track.appearance_samples >= MIN_APPEARANCE_SAMPLES:
            app = appearance_distance(track.appearance, detection.appearance)
            if app is not None:
                if app > APPEARANCE_GATE:
                    return np.inf
                cost += APPEARANCE_WEIGHT * app
        return cost

    def missing(self, frame, detections):
        """The people being followed (confirmed tracks) whom none of ``detections`` could continue in ``frame``: per
        person, their cue keypoints as predicted for the frame and a function of a candidate :class:`Detection`
        giving its link cost (inf: outside the gates, not them). For a second look where they should be
        (:mod:`lib.data.detector.second_look`)."""
        return [(track.predict(frame), lambda detection, track=track: self._link_cost(track, detection, frame))
                for track in self.tracks if track.identity is not None and frame - track.last_frame <= self.short_gap
                and not any(np.isfinite(self._link_cost(track, d, frame)) for d in detections)]

    def update(self, frame, detections):
        """Link the ``detections`` (a list of :class:`Detection`) of ``frame`` (increasing frame numbers); returns
        their person ids (None: not yet a confirmed person)."""
        self.newly_confirmed = []
        self._end_stale(frame)
        cost = np.full((len(self.tracks), len(detections)), np.inf)
        for i, track in enumerate(self.tracks):
            for j, detection in enumerate(detections):
                cost[i, j] = self._link_cost(track, detection, frame)
        linked = {}  # detection index -> track
        in_doubt = set()
        if np.isfinite(cost).any():
            from scipy.optimize import linear_sum_assignment  # here: scipy.optimize takes 0.5 s to import

            rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
            for i, j in zip(rows, cols):
                if not np.isfinite(cost[i, j]):
                    continue
                rivals = np.concatenate([np.delete(cost[i], j), np.delete(cost[:, j], i)])
                if rivals.size and rivals.min() < cost[i, j] + AMBIGUITY_MARGIN:
                    in_doubt.add(i)  # the track ends here, the detection starts anew
                else:
                    linked[j] = self.tracks[i]
        # a track that had a candidate but got none was outbid or is in doubt: it ends (no guessing)
        kept = {id(t) for t in linked.values()}
        ending = {i for i, t in enumerate(self.tracks) if np.isfinite(cost[i]).any() and id(t) not in kept}
        self.splits += len(in_doubt)
        for i in sorted(ending):
            self._release(self.tracks[i])
        self.tracks = [t for i, t in enumerate(self.tracks) if i not in ending]
        ids = []
        for j, detection in enumerate(detections):
            track = linked.get(j)
            if track is None:
                track = _Track(frame, frame, self._cues(detection).copy(), detection.size, np.zeros(2))
                self._observe_appearance(track, detection)
                self.tracks.append(track)
            else:
                self._extend(track, frame, detection)
            if track.identity is None:
                track.pending.append((frame, j))
                if track.hits >= CONFIRM_FRAMES:
                    self._confirm(track)
            else:
                self._refresh_identity(track)
            ids.append(track.identity)
        return ids

    def _extend(self, track, frame, detection):
        cues = self._cues(detection)
        dt = frame - track.last_frame
        step = (keypoint_center(cues) - track.center()) / dt
        track.velocity = (1 - VELOCITY_SMOOTHING) * track.velocity + VELOCITY_SMOOTHING * step if track.hits > 1 \
            else step
        track.keypoints, track.last_frame, track.hits = cues.copy(), frame, track.hits + 1
        track.size = 0.8 * track.size + 0.2 * detection.size
        self._observe_appearance(track, detection)

    @staticmethod
    def _observe_appearance(track, detection):
        if detection.appearance is None:
            return
        if track.appearance is None:
            track.appearance = detection.appearance.copy()
        else:
            track.appearance = ((1 - APPEARANCE_SMOOTHING) * track.appearance
                                + APPEARANCE_SMOOTHING * detection.appearance)
        track.appearance_samples += 1

    def _end_stale(self, frame):
        kept = []
        for track in self.tracks:
            if frame - track.last_frame > self.short_gap:
                self._release(track)
            else:
                kept.append(track)
        self.tracks = kept

    def _release(self, track):
        """A tracklet ends: its identity (if any) becomes lost and may be re-associated later; an unconfirmed one is
        kept in :attr:`fragments`."""
        if track.identity is not None:
            self.identities[track.identity].active = False
        elif track.pending:
            self.fragments.append(track.pending)

    def finish(self):
        """The end of the video: every tracklet ends (unconfirmed ones go to :attr:`fragments`)."""
        for track in self.tracks:
            self._release(track)
        self.tracks = []

    # ------------------------------------------------------------------ identities

    def _refresh_identity(self, track):
        person = self.identities[track.identity]
        person.last_frame, person.keypoints, person.size = track.last_frame, track.keypoints, track.size
        person.velocity = track.velocity
        if track.appearance is not None:
            person.appearance, person.appearance_samples = track.appearance, max(person.appearance_samples,
                                                                                 track.appearance_samples)

    def _stitch_cost(self, person, track):
        """Cost of ``track`` (a new tracklet) being the lost ``person``, or inf when implausible."""
        first = track.pending[0][0] if track.pending else track.first_frame
        # where the tracklet started: estimated from its current state moved back to its first frame
        start = track.center() - track.velocity * (track.last_frame - first)
        return reassociation_cost(Sighting(person.last_frame, keypoint_center(person.keypoints), person.velocity,
                                           person.size, person.appearance, person.appearance_samples),
                                  Sighting(first, start, track.velocity, track.size, track.appearance,
                                           track.appearance_samples), self.fps)

    def _confirm(self, track):
        """A tracklet has become a person: re-associate it with a lost identity, or give it a new one."""
        lost = [p for p in self.identities if not p.active]
        costs = np.array([self._stitch_cost(p, track) for p in lost]) if lost else np.array([])
        choice = None
        if costs.size and np.isfinite(costs).any():
            best = int(np.argmin(costs))
            # doubt: another lost identity, or another unconfirmed tracklet that could be this person as well
            rivals = np.delete(costs, best)
            others = [self._stitch_cost(lost[best], t) for t in self.tracks
                      if t is not track and t.identity is None and t.hits >= 2]
            if (rivals.size and rivals.min() < costs[best] + AMBIGUITY_MARGIN) or \
                    any(c < costs[best] + AMBIGUITY_MARGIN for c in others):
                self.splits += 1
            else:
                choice = lost[best]
        if choice is None:
            choice = _Identity(len(self.identities), track.last_frame, track.keypoints, track.size, track.velocity,
                               track.appearance, track.appearance_samples)
            self.identities.append(choice)
        else:
            choice.tracklets += 1
        choice.active = True
        track.identity = choice.number
        self.newly_confirmed.append((choice.number, track.pending))
        track.pending = []

    def confirmed(self):
        """The tracklets confirmed by the last :meth:`update`: ``[(person id, [(frame, detection index), ...])]``,
        their frames up to and including that update's."""
        return list(self.newly_confirmed)


