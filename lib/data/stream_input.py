"""Frames for streaming: one person's 2D keypoints frame by frame, from a keypoint file or a video/camera.

A source is an iterable of :class:`StreamFrame` (frame number, time stamp, ``(17, 3)`` H36M
pixel keypoints or None when nobody was detected, and the RGB image when there is one);
``lib.streaming.run_stream`` lifts them. Two sources:

* :func:`replay_track`: a track of a keypoint file (``lib.data.wild_input``) replayed at its fps
  (tests, benchmarks, or lifting a finished detection live);
* :class:`VideoSource`: frames of a video file or a camera (OpenCV), each given to a per-frame
  2D detector ``detect(image_rgb) -> (17, 3) H36M pixels or None``.
"""
import os
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from lib.data.wild_input import WildInputError


@dataclass
class StreamFrame:
    index: int                              # frame number in the video or stream (0 = first)
    time: float                             # seconds since the first frame
    keypoints: Optional[np.ndarray]         # (17, 3) H36M pixels (x, y, confidence); None: nobody detected
    image: Optional[np.ndarray] = None      # the RGB frame, when the source has images


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


def video_spec(path):
    """``--vid_path`` as OpenCV opens it: a camera index for a number that is not a file ("0"), else the path."""
    text = str(path)
    if text.isdigit() and not os.path.exists(text):
        return int(text)
    return text


class VideoSource:
    """Frames of a video file or camera through a per-frame 2D ``detect`` callable.

    A camera's frames are stamped with the time since its first frame, a file's with
    ``index / fps``; ``speed`` paces a file as :func:`paced` (0: as fast as it decodes). Opening
    fails with one :class:`WildInputError` (no such camera, unreadable file).
    """

    def __init__(self, path, detect, speed=0.0):
        import cv2

        self.spec, self.detect, self.speed = video_spec(path), detect, speed
        self.is_camera = isinstance(self.spec, int)
        if not self.is_camera and not os.path.isfile(self.spec):
            raise WildInputError(f"video not found: {self.spec} (a number such as 0 opens a camera)")
        self.capture = cv2.VideoCapture(self.spec)
        if not self.capture.isOpened():
            self.capture.release()
            what = (f"camera {self.spec}: no camera with that index, or it is in use (give a video file, or the "
                    f"index of a connected camera)" if self.is_camera else
                    f"the video {self.spec}: OpenCV cannot decode it")
            raise WildInputError(f"cannot open {what}")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else None
        self.size = (int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if not self.is_camera and self.fps is None:
            raise WildInputError(f"the video {self.spec} has no frame rate; re-encode it (e.g. ffmpeg -r 30)")

    def _frames(self):
        import cv2

        began = None
        index = 0
        while True:
            ok, bgr = self.capture.read()
            if not ok:
                return
            now = time.monotonic()
            began = now if began is None else began
            stamp = now - began if self.is_camera else index / self.fps
            yield StreamFrame(index, stamp, None, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1

    def __iter__(self):
        try:
            for frame in self._frames() if self.is_camera else paced(self._frames(), self.speed):
                frame.keypoints = self.detect(frame.image)
                yield frame
        finally:
            self.close()

    def close(self):
        self.capture.release()
