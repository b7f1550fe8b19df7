"""People from frame to frame: per-frame pose detections linked into identities (docs/inference.md, "Several people").

:class:`PoseTracker` is an online tracker: :meth:`PoseTracker.update` takes one frame's detections and says which
identity each belongs to, so a live stream (``stream_wild.py``) and a whole video (:func:`track_people`) are
tracked alike (a whole video then gets the offline pass 3). It works on 2D keypoints (any layout; ``cue_points``
picks the ones that drive the tracking) and, where the caller has the image, an appearance descriptor of each
detection (:func:`appearance_descriptor`: the colours of the clothes over the torso and thighs).

Three levels, each solved as assignment problems (``scipy.optimize.linear_sum_assignment``):

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
3. **Offline joining** (a whole video only, :func:`track_people`; a live stream has no future to look at). The
   identities of the online pass are seen whole: each one's end is matched to another's start over the whole video
   with the same cost, so that a person split into pieces by long occlusions (each return in doubt between their
   own earlier pieces) becomes one identity again (:mod:`lib.data.tracking.offline`).

Without appearance (keypoint files have no images) re-association is allowed over short gaps only
(:data:`MAX_GAP_NO_APPEARANCE_S`), since position and size alone cannot tell two people apart after long.
What it cannot do: tell apart people who look alike and cross while both hidden for long, or follow a crowd
where people are rarely seen whole; such tracks are split, not swapped.
"""
from lib.data.tracking.appearance import HISTOGRAM_BINS, appearance_descriptor, appearance_distance
from lib.data.tracking.detections import (COCO17_PAIRS, DUPLICATE_DISTANCE, MIN_SCORE, Detection, box_size,
                                          is_duplicate, keypoint_box, keypoint_center, keypoint_distance,
                                          remove_duplicates)
from lib.data.tracking.offline import TrackingResult, VideoTracker, join_identities, track_people
from lib.data.tracking.online import CONFIRM_FRAMES, SHORT_GAP_S, PoseTracker
from lib.data.tracking.reassociation import (AMBIGUITY_MARGIN, MAX_GAP_NO_APPEARANCE_S, MAX_GAP_S, Sighting,
                                             reassociation_cost)

__all__ = ["AMBIGUITY_MARGIN", "COCO17_PAIRS", "CONFIRM_FRAMES", "DUPLICATE_DISTANCE", "HISTOGRAM_BINS",
           "MAX_GAP_NO_APPEARANCE_S", "MAX_GAP_S", "MIN_SCORE", "SHORT_GAP_S", "Detection", "PoseTracker", "Sighting",
           "TrackingResult", "VideoTracker", "appearance_descriptor", "appearance_distance", "box_size", "is_duplicate",
           "join_identities", "keypoint_box", "keypoint_center", "keypoint_distance",
           "reassociation_cost", "remove_duplicates", "track_people"]
