"""Streaming lifting: 3D poses live, one 2D frame at a time, with a chosen look-ahead (docs/streaming.md).

The DSTformer looks at a window of ``clip_len`` frames in both directions, so a live result
trades look-ahead (latency) for accuracy. :class:`StreamingLifter` takes one person's 2D
keypoints frame by frame and gives the 3D pose of frame ``t - lookahead`` once frame ``t`` has
arrived::

    lifter = StreamingLifter(model, cfg, lookahead=9, hop=3, image_size=(1280, 720))
    for keypoints in frames:                      # (17, 3) pixels (x, y, confidence), or None
        for pose in lifter.push(keypoints):       # StreamPose(frame, pose (17, 3) pixels)
            ...
    for pose in lifter.flush():                   # end of the stream: the frames still pending
        ...

It runs the model every ``hop`` frames on the last ``clip_len`` frames (a window ending at the
newest frame) and blends the windows as the offline windows are blended (``lib.inference``:
raised-cosine weights, depth aligned to the earlier windows over the frames they share, depth
0 at the root of the first frame). With ``lookahead >= clip_len - hop`` every window that covers
a frame has run before the frame is emitted, and the stream equals offline ``lift`` with
``stride = hop`` (:func:`full_lookahead`).

:func:`run_stream` drives a lifter from a source of :class:`lib.data.stream_input.StreamFrame`
and hands each pose, through an optional per-frame post-processing step (:class:`MetricPoses`:
millimetres), to a writer. Several people: :class:`PeopleLifter`, one lifter per person id of the frames'
``people`` (the tracker's ids, ``lib.data.stream_input.PeopleDetector``), and :class:`PerPerson` post-processing.
"""
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from lib.data.wild_input import from_normalized, normalize_keypoints, pixel_mapping
from lib.inference import add_window, align_depth, as_runner, lift_options, model_clip_len, window_weights
from lib.skeleton import ROOT
from lib.utils.utils_data import lift_pose3d
from lib.world import (DEFAULT_HEIGHT_M, camera_intrinsics, check_world_options, metric_scale,
                       translations_per_frame)

# how a window's 2D keypoints are normalised for the model (the offline modes need the whole video)
NORMALIZATIONS = {
    "frame": "the image size, as infer_wild.py --pixel (fixed for the whole stream)",
    "window": "the bounding box of the person's confident joints in the model's window (the offline default, "
              "over the window instead of the whole video)",
}
# MetricPoses: seconds of the stream over which the metric scale is estimated before it is frozen
METRIC_CALIBRATION_S = 2.0


@dataclass
class StreamPose:
    """One emitted pose: ``frame`` is what the caller passed with the frame's keypoints."""
    frame: object
    pose: np.ndarray  # (17, 3) float32 pixels: x, y in the image, z depth in the same units


def full_lookahead(clip_len, hop):
    """The smallest look-ahead at which a stream equals offline ``lift(..., stride=hop)``: every window
    covering a frame has run when the frame is emitted."""
    return clip_len - hop


class StreamingLifter:
    """One person's 2D keypoints in, one frame at a time; 3D poses out, ``lookahead`` frames later.

    ``model``: a pose model (:func:`lib.inference.load_model`) run in ``precision``, or a runner
    (``lib.inference.make_model_runner``/``make_onnx_runner``). ``cfg`` gives ``flip``, ``rootrel``,
    ``no_conf``, ``gt_2d`` and ``maxlen`` as for offline lifting. ``clip_len`` (default: maxlen)
    frames per window, one window every ``hop`` frames: a frame is emitted at the first run at or
    after ``lookahead`` frames past it, so its look-ahead is ``lookahead`` to ``lookahead + hop - 1``
    frames. ``normalization``: ``'frame'`` (needs ``image_size = (width, height)``) or
    ``'window'`` (:data:`NORMALIZATIONS`). Before ``clip_len`` frames have arrived the window is
    padded with the first frame at confidence 0 ("not observed"), as offline tracks are filled
    before a person's first detection.

    Frames without a detection (``None``) are gaps: the model sees the last detection held, then
    the gap linearly interpolated once the person is seen again (confidence 0, as offline), and no
    pose is emitted for them. After ``max_gap`` (default ``clip_len``) missing frames in a row the
    lifter flushes and starts afresh with the next detection.
    """

    def __init__(self, model, cfg=None, clip_len=None, lookahead=0, hop=1, normalization="frame", image_size=None,
                 precision="fp32", device=None, max_gap=None):
        self.clip_len = clip_len if clip_len is not None else model_clip_len(model, cfg)
        if lookahead < 0:
            raise ValueError(f"lookahead must be >= 0 frames, got {lookahead}")
        if not 1 <= hop <= self.clip_len:
            raise ValueError(f"hop must be between 1 and clip_len ({self.clip_len}), got {hop}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")
        if normalization == "frame" and not image_size:
            raise ValueError("normalization 'frame' needs image_size (width, height)")
        self.max_gap = max_gap if max_gap is not None else self.clip_len
        if not 1 <= self.max_gap <= self.clip_len:
            raise ValueError(f"max_gap must be between 1 and clip_len ({self.clip_len}), got {self.max_gap}")
        self.lookahead, self.hop = lookahead, hop
        self.options = lift_options(cfg)
        self.run, self.device = as_runner(model, precision, device)
        self.normalize = {"vid_size": tuple(image_size)} if normalization == "frame" else {"scale_range": [1, 1]}
        self.weights = window_weights(self.clip_len)
        # ring buffers indexed by frame % capacity: a frame stays until it is emitted and until no
        # later window needs it (as input, or as the blend its depth is aligned to)
        self.capacity = self.clip_len + lookahead + hop
        self.keypoints = np.zeros((self.capacity, 17, 3))
        self.detected = np.zeros(self.capacity, dtype=bool)
        self.tags = [None] * self.capacity
        self.total = np.zeros((self.capacity, 17, 3))  # weighted sum of the window outputs (pixels)
        self.weight_sum = np.zeros(self.capacity)
        self.windows_run = 0
        self.next_frame = 0  # the lifter's own frame count (pushes): it indexes the ring buffers
        self.reset()

    def reset(self):
        """Forget the stream: the next detection starts a new one (frame numbers go on)."""
        self.start = None         # the first frame of the current stream (its first detection)
        self.next_emit = None     # the first frame not emitted yet
        self.last_run = None      # the last frame a window ended at
        self.last_detection = None  # (frame, keypoints)
        self.gap = 0
        self.depth_origin = None  # root depth of the first emitted frame: depth 0 there

    @property
    def started(self):
        return self.start is not None

    def push(self, keypoints, frame=None):
        """The next frame's ``(17, 3)`` pixel keypoints (x, y, confidence), or None if nobody was detected.

        ``frame`` is passed back with its pose. Returns the poses emitted now (a list of
        :class:`StreamPose`, oldest first; empty while waiting for look-ahead or between runs).
        """
        if keypoints is None:
            if not self.started:
                return []  # nothing before the first detection
            self.gap += 1
            if self.gap > self.max_gap:
                return self.flush()
            _, held = self.last_detection
            keypoints, detected = held * [1, 1, 0], False
        else:
            keypoints = np.asarray(keypoints, dtype=np.float64)
            if keypoints.shape != (17, 3):
                raise ValueError(f"keypoints must be (17, 3) pixels (x, y, confidence), got shape {keypoints.shape}")
            detected = True
        t = self.next_frame
        self.next_frame += 1
        if not self.started:
            self.start, self.next_emit = t, t
        elif detected and self.gap:
            self._interpolate_gap(t, keypoints)
        if detected:
            self.gap, self.last_detection = 0, (t, keypoints)
        slot = t % self.capacity
        self.keypoints[slot], self.detected[slot], self.tags[slot] = keypoints, detected, frame
        self.total[slot], self.weight_sum[slot] = 0, 0
        if self._runs_at(t):
            self._run_window(t)
            return self._emit(t - self.lookahead)
        return []

    def flush(self):
        """End of the stream: run a last window ending at the newest frame (as the offline windows end
        at the last frame) and emit every pending pose. The lifter then starts afresh."""
        emitted = []
        if self.started:
            newest = self.next_frame - 1
            if self.last_run != newest and self.next_emit <= newest:
                self._run_window(newest)
            emitted = self._emit(newest)
        self.reset()
        return emitted

    # ------------------------------------------------------------------ internals

    def _runs_at(self, t):
        """Windows end every ``hop`` frames, aligned so that the first full window starts at the stream's
        first frame (the offline windows' grid); before that, only when a pose is due."""
        since_start = t - self.start
        if (since_start - (self.clip_len - 1)) % self.hop:
            return False
        return since_start >= self.clip_len - 1 or t - self.lookahead >= self.next_emit

    def _interpolate_gap(self, t, keypoints):
        """Fill the missing frames since the last detection by linear interpolation (confidence 0)."""
        last, held = self.last_detection
        gap = np.arange(last + 1, t)
        share = ((gap - last) / (t - last))[:, None, None]
        filled = held * (1 - share) + keypoints * share
        filled[..., 2] = 0
        self.keypoints[gap % self.capacity] = filled

    def _run_window(self, end):
        """Lift the window ending at frame ``end`` and add it to the blend of the frames it covers."""
        self.last_run = end
        frames = np.arange(end - self.clip_len + 1, end + 1)
        real = frames >= self.start
        window = self.keypoints[np.maximum(frames, self.start) % self.capacity]
        window[~real, :, 2] = 0  # padding: the first frame held, not observed
        mapping = pixel_mapping(window, **self.normalize)
        if mapping is None:  # 'window' normalisation with fewer than 4 confident points: no box
            return
        x = torch.from_numpy(normalize_keypoints(window, **self.normalize)[None]).to(self.device)
        with torch.no_grad():
            out = lift_pose3d(self.options, self.run, x)[0].cpu().numpy().astype(np.float64)
        self.windows_run += 1
        out = from_normalized(out, mapping)
        out, weights, slots = out[real], self.weights[real], frames[real] % self.capacity
        n_shared = int(np.count_nonzero(self.weight_sum[slots]))  # frames earlier windows cover: a prefix
        add_window(self.total, self.weight_sum, slots, out, weights, n_shared, align_depth)

    def _emit(self, last):
        """The poses of the frames up to ``last`` not emitted yet (frames without a detection: none)."""
        emitted = []
        for t in range(self.next_emit, last + 1):
            slot = t % self.capacity
            if not self.detected[slot] or self.weight_sum[slot] == 0:
                continue
            pose = self.total[slot] / self.weight_sum[slot]
            if self.depth_origin is None:
                self.depth_origin = pose[0, 2]
            pose = pose.copy()
            pose[:, 2] -= self.depth_origin
            emitted.append(StreamPose(self.tags[slot], pose.astype(np.float32)))
        self.next_emit = max(self.next_emit, last + 1)
        return emitted


class PeopleLifter:
    """Several people's 2D keypoints in, frame by frame: one :class:`StreamingLifter` per person, made by
    ``make_lifter()`` when the person first appears. A frame's ``people`` (``{id: (17, 3) keypoints}``) go to their
    lifters; a lifter whose person is absent gets a missing frame (a gap; after its ``max_gap`` it flushes and waits
    for the person to come back). The emitted poses' frames carry the person (``frame.person``) and their
    keypoints (``frame.keypoints``)."""

    def __init__(self, make_lifter):
        self.make_lifter = make_lifter
        self.lifters = {}

    def push(self, frame):
        """The poses emitted now (:class:`StreamPose`, by person in order of appearance, oldest first)."""
        people = frame.people or {}
        emitted = []
        for person in people:
            if person not in self.lifters:
                self.lifters[person] = self.make_lifter()
        for person, lifter in self.lifters.items():
            keypoints = people.get(person)
            tag = dataclasses.replace(frame, keypoints=keypoints, people=None, person=person, image=None)
            emitted += lifter.push(keypoints, tag)
        return emitted

    def flush(self):
        return [pose for lifter in self.lifters.values() for pose in lifter.flush()]


class PerPerson:
    """A ``postprocess(frame, pose)`` step of its own for each person (``frame.person``), made by ``make()`` at their
    first pose: e.g. :class:`MetricPoses`, whose scale and position are a person's own."""

    def __init__(self, make):
        self.make = make
        self.steps = {}

    def __call__(self, frame, pose):
        if frame.person not in self.steps:
            self.steps[frame.person] = self.make()
        return self.steps[frame.person](frame, pose)


def run_stream(source, lifter, write, postprocess=None, stop=None, watch=None):
    """Lift the frames of ``source`` (an iterable of ``StreamFrame``) as they come; returns the number of
    poses written.

    ``lifter``: a :class:`StreamingLifter` (one person: the frames' ``keypoints``) or a :class:`PeopleLifter`
    (several: the frames' ``people``). Each emitted pose goes through ``postprocess(frame, pose) -> pose``
    (:class:`MetricPoses`, :class:`PerPerson` for several people, or None: the pixel pose as it is) to
    ``write(frame, pose)``. ``watch(frame)`` sees every incoming frame, with its image, after the poses it released
    (a live preview). ``stop()`` is asked after every frame (e.g. a Ctrl-C flag): when it says so, reading stops
    and the pending poses are flushed as at the end of the stream.
    """
    written = 0

    def deliver(poses):
        nonlocal written
        for item in poses:
            pose = item.pose if postprocess is None else postprocess(item.frame, item.pose)
            write(item.frame, pose)
            written += 1

    for frame in source:
        if isinstance(lifter, PeopleLifter):
            deliver(lifter.push(frame))
        else:  # the lifter keeps frames until their poses are out: without their images
            deliver(lifter.push(frame.keypoints, dataclasses.replace(frame, image=None)))
        if watch is not None:
            watch(frame)
        if stop is not None and stop():
            break
    deliver(lifter.flush())
    return written


# ------------------------------------------------------------------ metric units, frame by frame

class MetricPoses:
    """A ``postprocess(frame, pose)`` step of :func:`run_stream`: the lifter's pixel poses in millimetres, with the
    root at its camera-space position, one frame at a time (docs/streaming.md, "Metric output").

    The causal part of ``lib.world.world_motion``: the scale that gives the skeleton the person's
    standing height (``height`` metres, default ``lib.world.DEFAULT_HEIGHT_M``) from the median bone
    lengths of the poses so far, frozen once ``calibration_s`` seconds of the stream have been
    written (so the units stop changing); and each frame's root translation that projects the pose
    onto its 2D keypoints through the camera (``focal``/``fov``/``center``; the image diagonal as
    focal length when not given), not smoothed over time. Without ``image_size`` the poses stay
    root-relative. Axes: the camera's (x right, y down, z forward).
    """

    def __init__(self, image_size=None, height=None, focal=None, fov=None, center=None,
                 calibration_s=METRIC_CALIBRATION_S):
        check_world_options(height, focal, fov, center=center)
        self.height_mm = 1000.0 * (height if height is not None else DEFAULT_HEIGHT_M)
        self.height_assumed = height is None
        self.intrinsics = camera_intrinsics(image_size, focal, fov, center) if image_size else None
        self.calibration_s = calibration_s
        self.calibration = []    # root-relative poses written while the scale is estimated
        self.began = None        # time stamp of the first pose
        self.scale = None        # the frozen scale
        self.translation = np.zeros(3)

    def describe(self):
        """One line on the units, for the user."""
        height = f"{self.height_mm / 1000:.2f} m" + (" (assumed: give --height)" if self.height_assumed else "")
        where = ("root at its camera-space position, camera focal length " + self.intrinsics.source
                 if self.intrinsics else "root-relative (the image size is unknown)")
        return (f"millimetres, camera axes (x right, y down, z forward), {where}; scale from the standing height "
                f"{height} over the first {self.calibration_s:g} s")

    def __call__(self, frame, pose):
        relative = np.asarray(pose, dtype=np.float64)
        relative = relative - relative[ROOT]
        if self.began is None:
            self.began = frame.time
        scale = self.scale
        if scale is None:
            self.calibration.append(relative)
            scale = metric_scale(np.stack(self.calibration), self.height_mm)
            if frame.time - self.began >= self.calibration_s:
                self.scale, self.calibration = scale, None
        relative = relative * scale  # a new array: the calibration keeps the unscaled pose
        if self.intrinsics is not None and frame.keypoints is not None:
            keypoints = np.asarray(frame.keypoints, dtype=np.float64)[None]
            translation, weight = translations_per_frame(relative[None], keypoints[..., :2], keypoints[..., 2],
                                                         self.intrinsics)
            if weight[0] > 0:  # else (no confident keypoint) the last position is kept
                self.translation = translation[0]
            relative = relative + self.translation
        return relative.astype(np.float32)
