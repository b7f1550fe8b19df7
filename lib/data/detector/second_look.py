"""A second look for people lost behind others: the landmarker on a crop around where a followed person should be.

BlazePose finds each person at most once per frame, and where one person walks in front of another the one behind
is often lost for some frames while still half visible (on the rendered scene ``occlude`` of docs/demo.md, half of
the person-frames more than 60 % covered by the other person's box were missed). For every person being followed
whom no detection of the frame continues (:meth:`lib.data.tracking.PoseTracker.missing`), the landmarker looks
again, in image mode, at a square crop around their predicted keypoints (their box grown by :data:`CROP_GROWTH`):
in the crop they are larger and the person in front no longer outweighs them. A pose found there joins the frame's
detections when it is not a person already found (a duplicate, usually the one in front) and the tracker could
link it to the person looked for (within its gates); the tracker's doubt rule still applies to it. Costs one
landmarker call per lost person and frame, while they are lost (at most ``SHORT_GAP_S``).
"""
import numpy as np

from lib.data.detector.blazepose import BlazePoseSession
from lib.data.tracking import Detection, is_duplicate, keypoint_box
from lib.skeleton import BLAZEPOSE33_COCO17

CROP_GROWTH = 1.6   # the crop's side: the predicted keypoints' box's longer side times this
MIN_CROP_PX = 32    # smaller crops (a person mostly out of the picture) are not looked at
CROP_PEOPLE = 2     # poses looked for in a crop: the person looked for and the one in front


def crop_around(box, width, height, growth=CROP_GROWTH):
    """The square ``(x0, y0, x1, y1)`` around ``box`` (x0, y0, x1, y1) with ``growth`` times its longer side, cut to
    the frame; None when less than :data:`MIN_CROP_PX` of it is in the frame."""
    center = (np.asarray(box[:2]) + np.asarray(box[2:])) / 2
    half = max(box[2] - box[0], box[3] - box[1]) * growth / 2
    x0, y0 = np.clip(np.round(center - half).astype(int), 0, [width, height])
    x1, y1 = np.clip(np.round(center + half).astype(int), 0, [width, height])
    if min(x1 - x0, y1 - y0) < MIN_CROP_PX:
        return None
    return int(x0), int(y0), int(x1), int(y1)


class SecondLook:
    """Poses of the people ``tracker`` follows that the frame's detections missed (see the module docstring):
    ``second_look(frame_rgb, detections, frame)`` → the extra :class:`Detection` list. ``looks`` and ``found`` count
    the crops looked at and the poses found. ``make_session``: the image-mode landmarker (default BlazePose)."""

    def __init__(self, tracker, cue_points=BLAZEPOSE33_COCO17, make_session=None):
        self.tracker, self.cue_points = tracker, list(cue_points)
        self.make_session = make_session or (lambda: BlazePoseSession(CROP_PEOPLE, tracking=False))
        self.session = None  # made at the first look
        self.looks = self.found = 0

    def __call__(self, frame_rgb, detections, frame):
        height, width = frame_rgb.shape[:2]
        extra = []
        for predicted, link_cost in self.tracker.missing(frame, detections):
            crop = crop_around(keypoint_box(predicted), width, height)
            if crop is None:
                continue
            if self.session is None:
                self.session = self.make_session()
            x0, y0, x1, y1 = crop
            self.looks += 1
            best = None
            for landmarks in self.session.detect_people(np.ascontiguousarray(frame_rgb[y0:y1, x0:x1])):
                candidate = Detection(landmarks + np.array([x0, y0, 0.0]))
                if any(is_duplicate(candidate, d, self.cue_points) for d in detections + extra):
                    continue
                cost = link_cost(candidate)
                if np.isfinite(cost) and (best is None or cost < best[0]):
                    best = (cost, candidate)
            if best is not None:
                extra.append(best[1])
                self.found += 1
        return extra

    def close(self):
        if self.session is not None:
            self.session.close()
            self.session = None
