"""People from frame to frame: per-frame pose detections linked into identities (docs/inference.md, "Several people").

:class:`PoseTracker` is an online tracker: :meth:`PoseTracker.update` takes one frame's detections and says which
identity each belongs to, so a live stream (``stream_wild.py``) and a whole video (:func:`track_people`) are
tracked alike. It works on 2D keypoints (any layout; ``cue_points`` picks the ones that drive the tracking) and,
where the caller has the image, an appearance descriptor of each detection (:func:`appearance_descriptor`: the
colours of the clothes over the torso and thighs).

Two levels, both solved as assignment problems (``scipy.optimize.linear_sum_assignment``):

1. **Frame to frame** (tracklets). Each active track predicts its keypoints in the new frame with a constant
   velocity; the cost of a detection is the mean keypoint distance to that prediction, in units of the track's
   size (the diagonal of its keypoints' box), plus terms for appearance and size change. A link needs the
   distance within a gate that grows with the frames missed (detector misses of up to :data:`SHORT_GAP_S`).
   **When in doubt, no link**: if another detection or another track comes within :data:`AMBIGUITY_MARGIN` of
   the chosen pair's cost (two people crossing, one occluding the other), the track is ended there and the
   detection starts a new tracklet. A track never jumps to another person; it is split instead.
2. **Re-association** (identities). A new tracklet, once it has :data:`CONFIRM_FRAMES` detections, is joined to a
   lost identity (one not seen for at most :data:`MAX_GAP_S`, and never seen at the same time as the tracklet) when
   it is plausibly the same person: reachable from where the identity was last seen at walking-to-running speed,
   of a similar size, similar in appearance, and moving on from its last position and velocity (or re-entering
   where it left). The same doubt rule holds: two candidate identities of similar cost give a new identity.

Without appearance (keypoint files have no images) re-association is allowed over short gaps only
(:data:`MAX_GAP_NO_APPEARANCE_S`), since position and size alone cannot tell two people apart after long.
What it cannot do: tell apart people who look alike and cross while both hidden for long, or follow a crowd
where people are rarely seen whole; such tracks are split, not swapped.
"""
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

# keypoints below this score count neither for the box nor for distances
MIN_SCORE = 0.3
# frame-to-frame gate: mean keypoint distance (track sizes) after the motion prediction, for a detection in the
# next frame, growing by GATE_GROWTH per missed frame (the prediction gets worse)
GATE = 0.25
GATE_GROWTH = 0.04
# a detection whose size differs from the track's by more than this factor is not the same person a frame later
MAX_SIZE_CHANGE = 1.5
# weights of the cost terms (the distance itself has weight 1)
APPEARANCE_WEIGHT = 1.0
SIZE_WEIGHT = 0.5
# appearance (Bhattacharyya distance of the colour histograms, 0 = same, 1 = disjoint): above these a detection
# is another person, frame to frame and over a gap
APPEARANCE_GATE = 0.5
APPEARANCE_STITCH_GATE = 0.4
# doubt: a competing pair within this much of the chosen pair's cost makes the link ambiguous
AMBIGUITY_MARGIN = 0.1
# a track not seen for longer than this (detector misses) ends; later it can only be re-associated
SHORT_GAP_S = 0.3
# re-association of a new tracklet with a lost identity: at most this long after it was last seen
MAX_GAP_S = 6.0
MAX_GAP_NO_APPEARANCE_S = 1.0
# ... at most this fast (track sizes per second; a sprinter covers about 5 body heights per second) plus a
# margin of REACH_MARGIN track sizes
MAX_SPEED = 5.0
REACH_MARGIN = 0.5
MAX_STITCH_SIZE_CHANGE = 1.6
# the stitch cost of where the tracklet starts: distance to the best of (the lost identity's position moved on
# with its velocity, where it was last seen), in track sizes, counted at this weight
STITCH_POSITION_WEIGHT = 0.3
STITCH_GATE = 1.2
# detections a new tracklet needs before it counts as a person (and can be re-associated)
CONFIRM_FRAMES = 5
# velocity: exponential smoothing of the per-frame displacement of the keypoints' mean
VELOCITY_SMOOTHING = 0.5
# appearance model of an identity: exponential average of its unoccluded detections' descriptors
APPEARANCE_SMOOTHING = 0.1
MIN_APPEARANCE_SAMPLES = 3
# two detections of one frame this close (mean keypoint distance in sizes) are one person found twice (the
# detector's regions of interest can both lock onto one person; one of them may see only part of the body)
DUPLICATE_DISTANCE = 0.15
# appearance: HSV histogram bins (hue, saturation, value) and the pixels that count (torso, thighs)
HISTOGRAM_BINS = (8, 4, 4)


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


def appearance_distance(a, b):
    """Bhattacharyya distance of two L1-normalised histograms (0 = same, 1 = disjoint); None if one is missing."""
    if a is None or b is None:
        return None
    return float(np.sqrt(max(0.0, 1.0 - np.sum(np.sqrt(a * b)))))


def appearance_descriptor(image_hsv, polygons):
    """The colours of a person: an L1-normalised HSV histogram (:data:`HISTOGRAM_BINS`) of the pixels inside
    ``polygons`` (each ``(n, 2)`` pixels: the torso, the thighs), or None when they cover no pixel.
    ``image_hsv``: the frame in OpenCV's HSV (``cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)``)."""
    import cv2

    height, width = image_hsv.shape[:2]
    points = np.concatenate(polygons)
    x0, y0 = np.clip(np.floor(points.min(axis=0)).astype(int), 0, [width, height])
    x1, y1 = np.clip(np.ceil(points.max(axis=0)).astype(int) + 1, 0, [width, height])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for polygon in polygons:
        hull = cv2.convexHull(np.round(polygon - [x0, y0]).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 255)
    if not mask.any():
        return None
    hist = cv2.calcHist([np.ascontiguousarray(image_hsv[y0:y1, x0:x1])], [0, 1, 2], mask, list(HISTOGRAM_BINS),
                        [0, 180, 0, 256, 0, 256]).ravel().astype(np.float64)
    total = hist.sum()
    return hist / total if total > 0 else None


@dataclass
class Detection:
    """One person found in one frame: keypoints ``(K, 3)`` (x, y pixels, score) and, when known, the appearance
    descriptor (:func:`appearance_descriptor`; None: unknown or spoilt by another person in front)."""
    keypoints: np.ndarray
    appearance: np.ndarray = None

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, dtype=np.float64)
        self.box = keypoint_box(self.keypoints)
        self.size = box_size(self.box)


def remove_duplicates(detections, cue_points=None):
    """The detections without those that repeat a better-scoring one (same place, same pose): returns the kept
    indices, in their order."""
    cues = [d.keypoints if cue_points is None else d.keypoints[list(cue_points)] for d in detections]
    order = sorted(range(len(detections)), key=lambda i: -detections[i].keypoints[:, 2].mean())
    kept = []
    for i in order:
        if not any(keypoint_distance(cues[i], cues[k], max(detections[i].size, detections[k].size))
                   < DUPLICATE_DISTANCE for k in kept):
            kept.append(i)
    return sorted(kept)


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
        return _center(self.keypoints)

    def predict(self, frame):
        shifted = self.keypoints.copy()
        shifted[:, :2] += self.velocity * (frame - self.last_frame)
        return shifted


def _center(keypoints):
    confident = keypoints[:, 2] >= MIN_SCORE
    xy = keypoints[confident, :2] if confident.sum() >= 2 else keypoints[:, :2]
    return xy.mean(axis=0)


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
        step = (_center(cues) - track.center()) / dt
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
        gap = (track.first_frame - person.last_frame) / self.fps
        both_seen = person.appearance_samples >= MIN_APPEARANCE_SAMPLES and \
            track.appearance_samples >= MIN_APPEARANCE_SAMPLES
        if gap <= 0 or gap > (MAX_GAP_S if both_seen else MAX_GAP_NO_APPEARANCE_S):
            return np.inf
        size = max(person.size, track.size)
        first = track.pending[0][0] if track.pending else track.first_frame
        # where the tracklet started: estimated from its current state moved back to its first frame
        start = track.center() - track.velocity * (track.last_frame - first)
        last = _center(person.keypoints)
        reach = np.linalg.norm(start - last) / size
        if reach > MAX_SPEED * gap + REACH_MARGIN:
            return np.inf
        if abs(np.log(track.size / person.size)) > np.log(MAX_STITCH_SIZE_CHANGE):
            return np.inf
        moved_on = last + person.velocity * (first - person.last_frame)
        position = min(np.linalg.norm(start - moved_on), np.linalg.norm(start - last)) / size
        cost = STITCH_POSITION_WEIGHT * position / (1.0 + gap) + SIZE_WEIGHT * abs(np.log(track.size / person.size))
        if both_seen:
            app = appearance_distance(person.appearance, track.appearance)
            if app > APPEARANCE_STITCH_GATE:
                return np.inf
            cost += APPEARANCE_WEIGHT * app
        return cost if cost < STITCH_GATE else np.inf

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


@dataclass
class TrackingResult:
    """People found in a video: ``ids[t][j]`` is the person of detection j of frame t (None: a tracklet never
    confirmed, dropped); ``n_people`` persons; ``splits`` links refused in doubt; ``tracklets`` per person, the
    number of tracklets joined into it (more than one: re-associated after a gap); ``fragments``: the tracklets
    never confirmed, each a list of ``(frame, detection index)``."""
    ids: list
    n_people: int
    splits: int
    tracklets: list
    fragments: list


def track_people(frames_detections, fps, cue_points=None, pairs=None):
    """Track a whole video: ``frames_detections[t]`` is the list of :class:`Detection` of frame t. Returns a
    :class:`TrackingResult`; a tracklet's frames before its confirmation get its id too."""
    tracker = PoseTracker(fps, cue_points, pairs)
    ids = []
    for t, detections in enumerate(frames_detections):
        ids.append(tracker.update(t, detections))
        for person, members in tracker.confirmed():
            for frame, j in members:
                ids[frame][j] = person
    tracker.finish()
    return TrackingResult(ids, len(tracker.identities), tracker.splits, [p.tracklets for p in tracker.identities],
                          tracker.fragments)
