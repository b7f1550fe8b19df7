"""Frames for streaming: people's 2D keypoints frame by frame, from a keypoint file or a video/camera.

A source is an iterable of :class:`StreamFrame` (frame number, time stamp, the RGB image when there is one, and
either one person's ``(17, 3)`` H36M pixel keypoints, None when nobody was detected, or ``people``: every person
detected in the frame by id); ``lib.streaming.run_stream`` lifts them. Sources:

* :func:`replay_track` / :func:`replay_people`: one track, or every track, of a keypoint file
  (``lib.data.wild_input``) replayed at its fps (tests, benchmarks, or lifting a finished detection live);
* :class:`VideoSource`: frames of a video file or a camera (OpenCV), each given to a per-frame 2D detector: one
  person (``detect(image_rgb) -> (17, 3) H36M pixels or None``, :class:`FrameDetector`) or several
  (``detect(image_rgb) -> {id: (17, 3)}``, :class:`PeopleDetector`: the built-in detector and the tracker of
  ``lib.data.tracking``), or any such callable.
"""
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Optional

import numpy as np

from lib.data.detector import DEFAULT_MAX_PEOPLE, correct_left_right_swaps, frame_people, open_session
from lib.data.detector.second_look import SecondLook
from lib.data.tracking import PoseTracker
from lib.data.wild_input import WildInputError
from lib.skeleton import BLAZEPOSE33_COCO17, to_h36m

# FrameDetector: detections over which a left/right swap of the newest one is judged (about 1 s at 30 fps)
SWAP_HISTORY = 30


@dataclass
class StreamFrame:
    index: int                              # frame number in the video or stream (0 = first)
    time: float                             # seconds since the first frame
    keypoints: Optional[np.ndarray]         # (17, 3) H36M pixels (x, y, confidence); None: nobody detected
    image: Optional[np.ndarray] = None      # the RGB frame, when the source has images
    people: Optional[dict] = None           # several people: {person id: (17, 3) keypoints} of those detected
    person: object = None                   # the person a pose is of (lib.streaming.PeopleLifter's frames)


def paced(frames, speed=1.0, clock=time.monotonic, sleep=time.sleep):
    """``frames`` handed out no faster than their time stamps (``speed`` × real time; 0: as fast as they come)."""
    if speed < 0:
        raise ValueError(f"speed must be >= 0, got {speed}")
    began = None
    for frame in frames:
        if speed:
            now = clock()
            began = now - frame.time / speed if began is None else began
            wait = began + frame.time / speed - now
            if wait > 0:
                sleep(wait)
        yield frame


def replay_track(track, fps, speed=1.0, clock=time.monotonic, sleep=time.sleep):
    """The frames of a ``PoseTrack`` at ``fps`` (× ``speed``; 0: no waiting); undetected frames have no keypoints."""
    if not (fps and fps > 0):
        raise ValueError(f"replaying keypoints needs their fps, got {fps}")
    frames = (StreamFrame(t, t / fps, track.keypoints[t] if track.detected[t] else None)
              for t in range(len(track.detected)))
    return paced(frames, speed, clock, sleep)


def replay_people(tracks, fps, speed=1.0, clock=time.monotonic, sleep=time.sleep):
    """The frames of several ``PoseTrack``s together at ``fps`` (× ``speed``): each frame's ``people`` are the tracks
    detected in it, by track id."""
    if not (fps and fps > 0):
        raise ValueError(f"replaying keypoints needs their fps, got {fps}")
    frames = (StreamFrame(t, t / fps, None, people={track.track_id: track.keypoints[t] for track in tracks
                                                    if track.detected[t]})
              for t in range(len(tracks[0].detected)))
    return paced(frames, speed, clock, sleep)


def video_spec(path):
    """``--vid_path`` as OpenCV opens it: a camera index for a number that is not a file ("0"), else the path."""
    text = str(path)
    if text.isdigit() and not os.path.exists(text):
        return int(text)
    return text


class FrameDetector:
    """The built-in 2D detector (``lib.data.detector``) frame by frame: ``detector(image_rgb)`` gives one
    person's ``(17, 3)`` H36M-17 keypoints (x, y pixels, score) or None when nobody is found.

    ``session``: a per-frame detector session giving COCO-17 keypoints (default:
    ``lib.data.detector.open_session()``, MediaPipe BlazePose). Left/right swaps are undone causally:
    ``correct_left_right_swaps`` (the offline correction) runs over the last ``history`` detections
    and the newest one is taken as corrected there, so no frame waits for later ones.
    """

    def __init__(self, session=None, history=SWAP_HISTORY):
        self.session = session if session is not None else open_session()
        self.name = getattr(self.session, "name", type(self.session).__name__)
        self.recent = deque(maxlen=history)

    def __call__(self, image):
        keypoints = self.session.process(image)
        if keypoints is None:
            return None
        self.recent.append(np.asarray(keypoints, dtype=np.float64))
        corrected, _ = correct_left_right_swaps(np.stack(self.recent))
        return to_h36m(corrected[-1], "coco17")

    def close(self):
        self.session.close()


class PeopleDetector:
    """The built-in 2D detector (``lib.data.detector``) and the tracker (``lib.data.tracking``) frame by frame:
    ``detector(image_rgb)`` gives ``{person id: (17, 3) H36M-17 keypoints}`` (x, y pixels, score) of the people
    detected in the frame, as the offline detection of a whole video tracks them.

    ``session``: a detector session with ``detect_people`` (default: ``lib.data.detector.open_session`` with
    ``max_people``). A new person gets an id once seen in ``lib.data.tracking.CONFIRM_FRAMES`` frames (their poses
    start there; a live stream does not go back). Left/right swaps are undone causally per person over their last
    ``history`` detections, as :class:`FrameDetector` does for one.
    """

    def __init__(self, session=None, max_people=DEFAULT_MAX_PEOPLE, fps=None, history=SWAP_HISTORY):
        self.session = session if session is not None else open_session(max_people=max_people, fps=fps)
        self.name = getattr(self.session, "name", type(self.session).__name__)
        self.tracker = PoseTracker(fps or 30.0, cue_points=BLAZEPOSE33_COCO17)
        self.second_look = SecondLook(self.tracker) if max_people > 1 else None  # people lost behind others
        self.history = history
        self.recent = {}  # person id -> their last detections (BlazePose-33)
        self.frame = 0

    def __call__(self, image):
        look = None if self.second_look is None else (lambda frame, found: self.second_look(frame, found, self.frame))
        detections, _ = frame_people(self.session, image, second_look=look)
        ids = self.tracker.update(self.frame, detections)
        self.frame += 1
        people = {}
        for detection, person in zip(detections, ids):
            if person is None:
                continue
            recent = self.recent.setdefault(person, deque(maxlen=self.history))
            recent.append(detection.keypoints)
            corrected, _ = correct_left_right_swaps(np.stack(recent))
            people[person] = to_h36m(corrected[-1], "blazepose33")
        return people

    def close(self):
        self.session.close()
        if self.second_look is not None:
            self.second_look.close()


class VideoSource:
    """Frames of a video file or camera through a per-frame 2D ``detect`` callable (closed with the
    source when it has ``close()``, as :class:`FrameDetector` and :class:`PeopleDetector`); a detector that gives a
    dict fills the frames' ``people``, one that gives keypoints or None their ``keypoints``.

    A camera's frames are stamped with the time since its first frame, a file's with
    ``index / fps``; ``speed`` paces a file as :func:`paced` (0: as fast as it decodes). Opening
    fails with one :class:`WildInputError` (no such camera, unreadable file, no frame to read).
    """

    def __init__(self, path, detect, speed=0.0):
        import cv2

        self.spec, self.detect, self.speed = video_spec(path), detect, speed
        self.is_camera = isinstance(self.spec, int)
        if not self.is_camera and not os.path.isfile(self.spec):
            raise WildInputError(f"video not found: {self.spec} (a number such as 0 opens a camera)")
        self.capture = cv2.VideoCapture(self.spec)
        what = f"camera {self.spec}" if self.is_camera else f"the video {self.spec}"
        if not self.capture.isOpened():
            self._fail(f"cannot open {what}: " + ("no camera with that index, or it is in use (give a video file, or "
                                                  "the index of a connected camera)" if self.is_camera else
                                                  "OpenCV cannot decode it"))
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else None
        if not self.is_camera and self.fps is None:
            self._fail(f"the video {self.spec} has no frame rate; re-encode it (e.g. ffmpeg -r 30)")
        # the first frame now, so that a stream that gives none is an error before anything is written
        ok, self._first = self.capture.read()
        if not ok:
            self._fail(f"cannot read a frame from {what}: " + (
                "it opens but gives no picture (in use, or no permission?)" if self.is_camera else
                "it has no frames OpenCV can decode"))
        self.size = (self._first.shape[1], self._first.shape[0])

    def _fail(self, message):
        self.capture.release()
        raise WildInputError(message)

    def _frames(self):
        import cv2

        began = time.monotonic()
        index, bgr = 0, self._first
        self._first = None
        while bgr is not None:
            stamp = time.monotonic() - began if self.is_camera else index / self.fps
            yield StreamFrame(index, stamp, None, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
            ok, bgr = self.capture.read()
            bgr = bgr if ok else None

    def __iter__(self):
        try:
            for frame in self._frames() if self.is_camera else paced(self._frames(), self.speed):
                found = self.detect(frame.image)
                if isinstance(found, dict):  # several people, by id
                    frame.people = found
                else:
                    frame.keypoints = found
                yield frame
        finally:
            self.close()

    def close(self):
        self.capture.release()
        close_detector = getattr(self.detect, "close", None)
        if close_detector is not None:
            close_detector()
        self.detect = None
