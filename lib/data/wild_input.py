"""2D keypoints of your own video for in-the-wild inference: formats, frames, people.

Reads detections (AlphaPose / MMPose JSON, or a NumPy array), converts them to the H36M-17
joint order the models use, aligns them to video frames, splits them into people (tracks),
fills the frames where a person is missing and normalises them as the original
``infer_wild.py`` did. Shared by ``infer_wild.py``, ``infer_wild_action.py`` and
``infer_wild_mesh.py``; every problem with the inputs raises one :class:`WildInputError`
whose message says what is wrong and how to fix it. See ``docs/inference.md``.
"""
import json
import math
import os
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

import numpy as np

from lib.data.plausibility import MAX_SPEED_SIZES_PER_S, split_jumps, suspect_input
from lib.data.tracking import Detection, track_people
from lib.skeleton import COCO_FROM_H36M, FORMATS, LEFT_JOINTS, RIGHT_JOINTS, KeypointFormat
from lib.utils.errors import UserError
from lib.utils.utils_data import crop_scale

# The formats a keypoint file may have (the --keypoints choices), in the order they are tried;
# PoseTrack-17 is a training format only (17 points like COCO-17, from no detector).
KEYPOINT_FORMATS = OrderedDict((name, FORMATS[name])
                               for name in ("halpe26", "coco17", "h36m17", "halpe136", "coco_wholebody133",
                                                                 "blazepose33"))

DEFAULT_VIDEO_SIZE = (1920, 1080)
DEFAULT_FPS = 25.0


class WildInputError(UserError, ValueError):
    """The keypoint file, the video or the options cannot be used; the message says why."""


def _supported_counts():
    return ", ".join(f"{f.num_keypoints} ({f.name})" for f in KEYPOINT_FORMATS.values())


@dataclass
class Detections:
    """Every detected person of a keypoint file, in file order."""
    path: str
    style: str                 # 'alphapose', 'mmpose', 'mmpose_demo', 'npy'
    keypoints: np.ndarray      # (N, K, 3) float64 pixels (x, y, confidence)
    frames: np.ndarray = None  # (N,) int frame numbers as written in the file, or None (no frame information)
    track_ids: list = None     # N ids, or None when the file has no track ids
    first_frame_id: int = 0    # the file's number of the first video frame
    notes: list = field(default_factory=list)
    n_frames: int = None       # frames the file covers when it says so (a .npy array), else None
    warnings: list = field(default_factory=list)  # what was changed or dropped and may be wrong

    def select(self, keep):
        """Keep only the detections where the boolean mask ``keep`` is true."""
        if self.frames is None:  # one frame per entry: keep the numbering of the entries
            self.frames = np.arange(len(self.keypoints), dtype=np.int64)
        self.keypoints, self.frames = self.keypoints[keep], self.frames[keep]
        if self.track_ids is not None:
            self.track_ids = [i for i, k in zip(self.track_ids, keep) if k]


def _fail(path, message):
    raise WildInputError(f"{path}: {message}")


def _entry_keypoints(path, where, kpts, scores=None):
    """One person's keypoints as a ``(K, 3)`` float64 array (x, y, confidence)."""
    if kpts is None or (hasattr(kpts, "__len__") and len(kpts) == 0):
        _fail(path, f"{where} has no keypoints; every detection needs a non-empty 'keypoints' list")
    try:
        arr = np.asarray(kpts, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(path, f"{where}: 'keypoints' is not a list of numbers")
    if arr.ndim == 1:  # AlphaPose: flat x, y, score, x, y, score, ...
        if arr.size % 3:
            _fail(path, f"{where}: a flat 'keypoints' list needs 3 numbers (x, y, score) per keypoint, "
                        f"got {arr.size} numbers")
        arr = arr.reshape(-1, 3)
    if arr.ndim != 2 or arr.shape[1] not in (2, 3):
        _fail(path, f"{where}: 'keypoints' must be K x (x, y[, score]), got shape {arr.shape}")
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(scores) != len(arr):
            _fail(path, f"{where}: {len(arr)} keypoints but {len(scores)} keypoint_scores")
        arr = np.concatenate([arr[:, :2], scores[:, None]], axis=1)
    elif arr.shape[1] == 2:
        arr = np.concatenate([arr, np.ones((len(arr), 1))], axis=1)
    return arr


def _normalise_id(value):
    """Track ids as ints where possible (AlphaPose writes 1, 1.0 or [1.0])."""
    if isinstance(value, (list, tuple)):
        if not value:
            return None
        value = value[0]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def _frames_from_image_ids(image_ids, notes):
    """Frame numbers from AlphaPose ``image_id``s: the last number of the file name ('12.jpg' -> 12)."""
    numbers = []
    for image_id in image_ids:
        if isinstance(image_id, (int, np.integer)) and not isinstance(image_id, bool):
            numbers.append(int(image_id))
            continue
        match = _LAST_NUMBER.search(os.path.splitext(os.path.basename(str(image_id)))[0])
        if match is None:
            break
        numbers.append(int(match.group(1)))
    if len(numbers) == len(image_ids):
        return np.array(numbers, dtype=np.int64)
    # names without numbers: one frame per distinct name, in order of appearance
    order = {}
    for image_id in image_ids:
        order.setdefault(image_id, len(order))
    notes.append("image_id values are not frame numbers: frames are numbered by their first appearance")
    return np.array([order[i] for i in image_ids], dtype=np.int64)


def _read_alphapose(path, entries):
    notes = []
    kpts = [_entry_keypoints(path, f"entry #{i} (image_id {e.get('image_id', '?')!r})", e.get("keypoints"))
            for i, e in enumerate(entries)]
    if all("image_id" in e for e in entries):
        frames = _frames_from_image_ids([e["image_id"] for e in entries], notes)
    else:
        frames = None
        notes.append("no image_id: every entry is taken as one frame, as the original did")
    ids = [_normalise_id(e.get("idx")) for e in entries]
    track_ids = ids if all(i is not None for i in ids) else None
    return Detections(path, "alphapose", _stack(path, kpts), frames, track_ids, 0, notes)


def alphapose_results(keypoints, frames=None, track_id=1, scores=None):
    """AlphaPose result entries (the layout :func:`read_detections` reads) of one person.

    ``keypoints (N, K, 3)``: x, y (pixels), score per detection; ``frames``: their video frame
    numbers (default 0..N-1, written as ``image_id`` ``"<frame>.jpg"``); ``scores``: the detection
    scores (default: the mean keypoint score). Coordinates are rounded to 0.01 px, keypoint scores
    to 0.001; ``box`` is the keypoints' extent with a 10 % margin, as detector boxes are.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    frames = range(len(keypoints)) if frames is None else frames
    scores = keypoints[..., 2].mean(axis=-1) if scores is None else scores
    results = []
    for frame, kpts, score in zip(frames, keypoints, scores):
        low, high = kpts[:, :2].min(0), kpts[:, :2].max(0)
        margin = 0.1 * (high - low)
        box = np.concatenate([low - margin, high - low + 2 * margin])
        results.append({
            "image_id": f"{int(frame)}.jpg", "category_id": 1,
            "keypoints": [round(float(v), 3 if k % 3 == 2 else 2) for k, v in enumerate(kpts.ravel())],  # x, y, score
            "score": round(float(score), 4), "box": [round(float(v), 2) for v in box], "idx": track_id})
    return results


def _read_mmpose(path, frame_list, style, first_frame_id):
    kpts, frames, ids = [], [], []
    for pos, frame in enumerate(frame_list):
        if not isinstance(frame, dict) or not isinstance(frame.get("instances"), list):
            _fail(path, f"frame #{pos} is not an MMPose frame {{'frame_id': ..., 'instances': [...]}}")
        frame_id = frame.get("frame_id", pos + first_frame_id)
        for j, inst in enumerate(frame["instances"]):
            where = f"frame_id {frame_id}, instance #{j}"
            if not isinstance(inst, dict):
                _fail(path, f"{where} is not a dict with 'keypoints'")
            kpts.append(_entry_keypoints(path, where, inst.get("keypoints"), inst.get("keypoint_scores")))
            frames.append(int(frame_id))
            ids.append(_normalise_id(inst.get("track_id")))
    if not kpts:
        _fail(path, f"contains {len(frame_list)} frames but no person was detected in any of them")
    track_ids = ids if all(i is not None for i in ids) else None
    return Detections(path, style, _stack(path, kpts), np.array(frames, dtype=np.int64), track_ids, first_frame_id)


def _stack(path, kpts):
    counts = Counter(len(k) for k in kpts)
    if len(counts) > 1:
        _fail(path, f"detections have different numbers of keypoints ({dict(counts)} detections per count); "
                    f"use one keypoint model for the whole video")
    return np.stack(kpts)


def _read_npy(path):
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        _fail(path, f"cannot read the NumPy array ({e})")
    if arr.ndim == 3:
        arr = arr[None]  # one person
    if arr.ndim != 4 or arr.shape[-1] not in (2, 3) or arr.shape[1] == 0:
        _fail(path, f"a keypoint array must be (frames, K, 2|3) or (people, frames, K, 2|3); got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        _fail(path, f"a keypoint array must hold numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.shape[-1] == 2:
        arr = np.concatenate([arr, np.ones(arr.shape[:-1] + (1,))], axis=-1)
    n_people, n_frames = arr.shape[:2]
    # an array has a slot for every person in every frame: an empty slot holds no detection
    person, frame = np.nonzero(is_detection(arr))
    if len(person) == 0:
        _fail(path, f"holds no detection: {_NO_DETECTION}")
    return Detections(path, "npy", arr[person, frame], frame.astype(np.int64),
                      [int(p) for p in person] if n_people > 1 else None, 0, n_frames=n_frames)


_NO_DETECTION = "every confidence is 0, or all the joints of a person are at one point"


def is_detection(keypoints):
    """``(..., K, 3)`` → ``(...)`` bool: a real detection, not an empty slot.

    Detectors and converters write zeros (or one point for every joint) for a person they did
    not find: such an entry counts as missing, like a frame without the person.
    """
    xy = keypoints[..., :2]
    spread = (xy.max(axis=-2) - xy.min(axis=-2)).max(axis=-1)
    broken = ~np.isfinite(keypoints).all(axis=(-2, -1))  # kept, so that read_detections reports it
    return (np.any(keypoints[..., 2] != 0, axis=-1) & (spread > 0)) | broken


def _check_scores(det):
    """Confidences must be in [0, 1]: negative ones are an error, larger ones are rescaled (with a warning)."""
    scores = det.keypoints[..., 2]
    if (scores < 0).any():
        bad = np.nonzero((scores < 0).any(axis=1))[0]
        _fail(det.path, f"{len(bad)} detection(s) have negative keypoint scores (as low as {scores.min():g}; in "
                        f"{_where(det, bad)}); scores are confidences in [0, 1]: is the third number per keypoint a "
                        f"score?")
    top = scores.max()
    if top > 1:
        det.keypoints[..., 2] = scores / top
        det.warnings.append(f"keypoint scores go up to {top:g}, outside [0, 1]: all were divided by {top:g}")


def _where(det, index):
    """'frames 3, 7, ...' for detection indices (entries when the file has no frame numbers)."""
    if det.frames is None:
        return "entries " + _first_few(index)
    return "frames " + _first_few(det.frames[index])


def _first_few(values, n=5):
    return ", ".join(map(str, values[:n])) + (", ..." if len(values) > n else "")


def read_detections(path, first_frame_id=None):
    """Read a keypoint file (JSON or ``.npy``) into :class:`Detections`, checking its contents.

    JSON layouts: AlphaPose (a list of ``{'image_id', 'keypoints': [x, y, s, ...], 'idx'}``),
    the MMPose inferencer (a list of ``{'frame_id', 'instances': [{'keypoints': [[x, y], ...],
    'keypoint_scores', 'track_id'?}]}``) and the MMPose demo scripts (``{'meta_info',
    'instance_info': [...]}``, frames numbered from 1). ``first_frame_id`` overrides the number
    the file gives the first video frame (default: 1 for MMPose demo files, else 0).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise WildInputError(f"keypoint file {path} is a folder; give the detector's JSON file or a .npy array")
    if not os.path.isfile(path):
        raise WildInputError(f"keypoint file not found: {path}")
    if path.lower().endswith(".npy"):
        det = _read_npy(path)
    else:
        if os.path.getsize(path) == 0:
            _fail(path, "the file is empty; expected the JSON results of a 2D keypoint detector")
        try:
            with open(path, "r") as f:
                data = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            _fail(path, f"is not valid JSON ({e}); expected the results of a 2D keypoint detector "
                        f"(AlphaPose or MMPose JSON) or a .npy array")
        if isinstance(data, dict) and isinstance(data.get("instance_info"), list):
            data, style, base = data["instance_info"], "mmpose_demo", 1
        elif isinstance(data, dict) and "instances" in data:
            data, style, base = [data], "mmpose", 0
        else:
            style, base = None, 0
        if not isinstance(data, list):
            _fail(path, "unrecognised JSON layout: expected a list of detections (AlphaPose), a list of "
                        "frames with 'instances' (MMPose) or {'instance_info': [...]} (MMPose demo)")
        if not data:
            _fail(path, "contains no detections (an empty list): the detector found nobody, or the file is "
                        "not its result")
        if style is None:
            if all(isinstance(e, dict) and "instances" in e for e in data):
                style = "mmpose"
            elif all(isinstance(e, dict) for e in data):
                style = "alphapose"
            else:
                _fail(path, "unrecognised JSON layout: the list must hold one dict per detection or per frame")
        if style == "alphapose":
            det = _read_alphapose(path, data)
        else:
            det = _read_mmpose(path, data, style, base if first_frame_id is None else first_frame_id)
    if first_frame_id is not None:
        det.first_frame_id = first_frame_id
    bad = ~np.isfinite(det.keypoints).all(axis=(1, 2))
    if bad.any():
        where = np.nonzero(bad)[0]
        frames = det.frames[where] if det.frames is not None else where
        _fail(path, f"{len(where)} detection(s) have NaN or infinite coordinates or scores (in frames "
                    f"{_first_few(frames)}); remove or fix them")
    _check_scores(det)
    empty = ~is_detection(det.keypoints)
    if empty.all():
        _fail(path, f"holds no usable detection: {_NO_DETECTION} in all {len(empty)} entries")
    if empty.any():
        det.warnings.append(f"{empty.sum()} of {len(empty)} detections are empty ({_NO_DETECTION}) and count as "
                            f"missing, in {_where(det, np.nonzero(empty)[0])}")
        det.select(~empty)
    return det


def _face_spread_ratio(keypoints):
    """Median over detections of (spread of joints 0-4) / (diagonal of the whole skeleton)."""
    xy = keypoints[..., :2]
    spread = np.linalg.norm(xy[:, :5] - xy[:, :5].mean(axis=1, keepdims=True), axis=-1).max(axis=1)
    diag = np.linalg.norm(xy.max(axis=1) - xy.min(axis=1), axis=-1)
    ok = diag > 0
    return float(np.median(spread[ok] / diag[ok])) if ok.any() else 0.0


def detect_format(keypoints, forced=None, path="<keypoints>"):
    """The :class:`KeypointFormat` of ``(N, K, 3)`` keypoints, and why it was chosen.

    From the keypoint count; 17 points are COCO-17 unless their first five joints are spread
    like H36M's pelvis/hips/knee/ankle instead of COCO's face (nose, eyes, ears).
    ``forced`` (a format name) skips the detection but must fit the count.
    """
    count = keypoints.shape[1]
    if forced:
        if forced not in KEYPOINT_FORMATS:
            raise WildInputError(f"unknown keypoint format '{forced}'; use one of {', '.join(KEYPOINT_FORMATS)}")
        fmt = KEYPOINT_FORMATS[forced]
        if fmt.num_keypoints != count:
            _fail(path, f"--keypoints {forced} expects {fmt.num_keypoints} keypoints per person, the file has {count}")
        return fmt, "given with --keypoints"
    if count == 17:
        ratio = _face_spread_ratio(keypoints)
        if ratio > 0.25:
            return KEYPOINT_FORMATS["h36m17"], (f"17 keypoints whose first five are spread like H36M's hips and legs "
                                                f"({ratio:.2f} of the body size); force with --keypoints coco17")
        return KEYPOINT_FORMATS["coco17"], "17 keypoints (use --keypoints h36m17 for H36M-ordered input)"
    for fmt in KEYPOINT_FORMATS.values():
        if fmt.num_keypoints == count:
            return fmt, f"{count} keypoints"
    _fail(path, f"{count} keypoints per person fit no supported format; supported counts: {_supported_counts()}")


@dataclass
class PoseTrack:
    """One person over every video frame, H36M-17 order, pixels."""
    track_id: object
    keypoints: np.ndarray  # (F, 17, 3) float64 (x, y, confidence); missing frames interpolated, confidence 0
    detected: np.ndarray   # (F,) bool: the person was detected in this frame
    feet: np.ndarray = None  # (F, 4, 3) the foot points (lib.skeleton.FOOT_POINT_NAMES) where the format has them

    @property
    def name(self):
        """File-name-safe id."""
        return re.sub(r"[^A-Za-z0-9_.-]", "_", str(self.track_id))

    @property
    def span(self):
        """``(first, last + 1)``: the frames from the first to the last detection (before and after, the person was
        not there: their keypoints are held, at confidence 0)."""
        frames = np.flatnonzero(self.detected)
        return int(frames[0]), int(frames[-1]) + 1


def fill_missing_frames(frames, keypoints, n_frames):
    """Per-frame ``(n_frames, J, 3)`` from detections at sorted, distinct ``frames``.

    x and y are interpolated linearly between detections (held constant before the first and
    after the last one); the confidence of every filled frame is 0.
    """
    full = np.zeros((n_frames,) + keypoints.shape[1:])
    t = np.arange(n_frames)
    flat = keypoints[..., :2].reshape(len(frames), -1)
    full[..., :2] = np.stack([np.interp(t, frames, flat[:, k]) for k in range(flat.shape[1])],
                             axis=-1).reshape((n_frames,) + keypoints.shape[1:2] + (2,))
    full[frames] = keypoints
    detected = np.zeros(n_frames, dtype=bool)
    detected[frames] = True
    return full, detected


# the left/right joint pairs of H36M-17, for the tracker's distances
H36M17_PAIRS = tuple(zip(LEFT_JOINTS, RIGHT_JOINTS))


def assign_track_ids(frames, keypoints, fps=None):
    """Link untracked detections into people with the tracker of :mod:`lib.data.tracking` (positions, motion and
    size; a file has no images for the clothes' colours). ``frames (N,)``, ``keypoints (N, 17, 3)`` H36M-17
    pixels; ``fps`` (default :data:`DEFAULT_FPS`). Returns one int id per detection: the tracker's people 0, 1,
    ... in order of appearance, then each track too short to be confirmed as a person of its own (so that
    ``--min_track_frames`` can name and drop it)."""
    frames = np.asarray(frames)
    order = {t: np.flatnonzero(frames == t) for t in np.unique(frames)}
    n_frames = int(frames.max()) + 1
    per_frame = [[Detection(keypoints[i]) for i in order.get(t, ())] for t in range(n_frames)]
    result = track_people(per_frame, fps or DEFAULT_FPS, pairs=H36M17_PAIRS)
    ids = np.full(len(frames), -1)
    for t, found in enumerate(result.ids):
        for j, person in enumerate(found):
            if person is not None:
                ids[order[t][j]] = person
    for k, fragment in enumerate(result.fragments):
        for t, j in fragment:
            ids[order[t][j]] = result.n_people + k
    return ids.tolist()


@dataclass
class VideoInfo:
    """What is known of the video: without one, fps and size are None unless given with --fps/--size."""
    fps: float = None
    width: int = None
    height: int = None
    n_frames: int = None  # None: no video, the number of frames comes from the detections
    path: str = None

    @property
    def size(self):
        """``(width, height)``, or None when unknown."""
        return None if self.width is None else (self.width, self.height)

    @property
    def playback_fps(self):
        """The frame rate of the videos written: the video's, else :data:`DEFAULT_FPS`."""
        return self.fps or DEFAULT_FPS

    def describe(self):
        fps = f"{self.fps:g} fps" if self.fps else f"fps unknown (videos are written at {DEFAULT_FPS:g} fps)"
        size = f"{self.width}x{self.height}" if self.size else "size unknown"
        source = "" if self.path else " (no video: --fps/--size give what is known)"
        return f"{self.n_frames} frames at {fps}, {size}{source}"


def read_video_info(path):
    """fps and size as the original read them (imageio/ffmpeg metadata), and the frame count."""
    import cv2
    import imageio

    if os.path.isdir(path):
        raise WildInputError(f"video {path} is a folder; give the video file the keypoints were detected on")
    if not os.path.isfile(path):
        raise WildInputError(f"video not found: {path}")
    try:
        reader = imageio.get_reader(path, "ffmpeg")
        meta = reader.get_meta_data()
        reader.close()
        fps, (width, height) = float(meta["fps"]), meta["size"]
    except Exception as e:  # imageio/ffmpeg raise assorted types for unreadable files
        raise WildInputError(f"cannot open the video {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                             ) from e
    capture = cv2.VideoCapture(path)
    n_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    if not (math.isfinite(fps) and fps > 0):  # imageio reads "1k" (1000 fps) as 0: OpenCV's container rate instead
        fps = float(capture.get(cv2.CAP_PROP_FPS)) if capture.isOpened() else 0.0
    capture.release()
    fps = fps if math.isfinite(fps) and fps > 0 else None
    if n_frames <= 0:  # no frame count in the container: count by decoding
        import imageio_ffmpeg
        n_frames = imageio_ffmpeg.count_frames_and_secs(path)[0]
    if n_frames <= 0 or width <= 0 or height <= 0:
        raise WildInputError(f"cannot open the video {path}: it has no decodable frames")
    return VideoInfo(fps, int(width), int(height), int(n_frames), path)


@dataclass
class WildInputs:
    """Everything the in-the-wild scripts need from the keypoint file and the video."""
    video: VideoInfo
    tracks: list           # PoseTrack, one per person, each with video.n_frames frames
    fmt: KeypointFormat
    format_reason: str
    detections: Detections
    skipped: list = field(default_factory=list)  # (id, n detected frames) of tracks below min_frames

    def summary(self):
        det = self.detections
        lines = [f"{det.path}: {len(det.keypoints)} detections, {self.fmt.description} ({self.format_reason}); "
                 f"{self.video.describe()}"]
        lines += [f"  note: {n}" for n in det.notes]
        lines += [f"  warning: {w}" for w in det.warnings]
        for t in self.tracks:
            idx = np.nonzero(t.detected)[0]
            lines.append(f"  person {t.track_id}: detected in {len(idx)} of {len(t.detected)} frames "
                         f"({idx[0]}-{idx[-1]}), {len(t.detected) - len(idx)} filled by interpolation")
        for track_id, n in self.skipped:
            lines.append(f"  person {track_id}: skipped, detected in only {n} frames (--min_track_frames)")
        return "\n".join(lines)


def build_tracks(det, fmt, n_frames=None, focus=None, min_frames=1, fps=None, image_size=None):
    """Split detections into people, one pose per frame each (see :class:`PoseTrack`).

    Frames are aligned by the file's frame numbers (AlphaPose ``image_id``, MMPose ``frame_id``);
    people by their track ids, or linked with :func:`assign_track_ids` when the file has none
    and a frame holds several people. ``n_frames`` is the video's length (detections beyond it
    are an error); without it the last detected frame ends the motion.
    Returns ``(tracks, skipped)``.
    """
    path = det.path
    if det.frames is None:
        frames = np.arange(len(det.keypoints))
    else:
        frames = det.frames - det.first_frame_id
        if frames.min() < 0:
            _fail(path, f"frame number {frames.min() + det.first_frame_id} is before the first frame "
                        f"(numbered {det.first_frame_id}); check --first_frame_id")
    if n_frames is not None and frames.max() >= n_frames:
        beyond = np.unique(frames[frames >= n_frames])
        hint = (" The file seems to number frames from 1: pass --first_frame_id 1."
                if det.first_frame_id == 0 and frames.min() >= 1 and frames.max() == n_frames else "")
        _fail(path, f"detections for frame(s) {', '.join(map(str, beyond[:5] + det.first_frame_id))}"
                    f"{', ...' if len(beyond) > 5 else ''} beyond the video's length ({n_frames} frames, numbered "
                    f"{det.first_frame_id}-{n_frames - 1 + det.first_frame_id}); is it the video the keypoints "
                    f"were detected on?{hint}")
    total = int(frames.max()) + 1 if n_frames is None else n_frames
    keypoints = fmt.to_h36m(det.keypoints)
    feet = fmt.feet_of(det.keypoints)
    if det.track_ids is not None:
        ids = det.track_ids
    elif np.bincount(frames).max() > 1:
        ids = assign_track_ids(frames, keypoints, fps)
        det.notes.append("the file has no track ids: people were linked from frame to frame by position, motion "
                         "and size (lib/data/tracking/)")
    else:
        ids = [0] * len(frames)
    by_id = OrderedDict()
    for i in sorted(range(len(ids)), key=lambda i: (str(type(ids[i])), ids[i])):  # people in id order
        by_id.setdefault(ids[i], []).append(i)
    if focus is not None:
        if focus not in by_id:
            present = ", ".join(f"{k} ({len(v)} detections)" for k, v in by_id.items())
            raise WildInputError(f"--focus {focus}: no person with that id in {path}; ids present: {present}")
        by_id = OrderedDict([(focus, by_id[focus])])
    tracks, skipped = [], []
    new_ids = _unused_ids(ids)  # for a track split in two
    for track_id, members in by_id.items():
        members = np.array(members)
        # one detection per frame: keep the most confident one if an id repeats within a frame
        best, conflicts = {}, set()
        for i in members:
            score = keypoints[i, :, 2].mean()
            if frames[i] in best and not np.array_equal(keypoints[i], keypoints[best[frames[i]][1]]):
                conflicts.add(int(frames[i]))
            if frames[i] not in best or score > best[frames[i]][0]:
                best[frames[i]] = (score, i)
        if conflicts:
            det.warnings.append(f"person {track_id} has several different detections in {len(conflicts)} frame(s) "
                                f"({_first_few(sorted(c + det.first_frame_id for c in conflicts))}): the most "
                                f"confident one of each frame is used; check the tracker's ids")
        keep = np.array([best[f][1] for f in sorted(best)])
        pieces, dropped, events = split_jumps(frames[keep], keypoints[keep], fps or DEFAULT_FPS)
        piece_ids = [track_id] + [next(new_ids) for _ in pieces[1:]]
        det.warnings += _jump_warnings(track_id, events, dropped, piece_ids, det.first_frame_id)
        for piece_id, piece in zip(piece_ids, pieces):
            members = keep[piece]
            if len(members) < min_frames:
                skipped.append((piece_id, len(members)))
                continue
            full, detected = fill_missing_frames(frames[members], keypoints[members], total)
            full_feet = None if feet is None else fill_missing_frames(frames[members], feet[members], total)[0]
            tracks.append(PoseTrack(piece_id, full, detected, full_feet))
    if not tracks:
        raise WildInputError(f"{path}: every person is detected in fewer than --min_track_frames {min_frames} frames")
    for track in tracks:
        det.warnings += [f"person {track.track_id}: {w}" for w in suspect_input(track.keypoints, track.detected,
                                                                              image_size)]
    return tracks, skipped


def _unused_ids(ids):
    """New integer track ids after those of the file (for the parts of a split track)."""
    numbers = [i for i in ids if isinstance(i, (int, np.integer)) and not isinstance(i, bool)]
    start = max(numbers, default=-1) + 1
    while True:
        yield start
        start += 1


def _jump_warnings(track_id, events, dropped, piece_ids, first_frame_id):
    """The lines that say where a track jumped and what was done (:func:`lib.data.plausibility.split_jumps`)."""
    lines, parts = [], iter(piece_ids[1:])
    for kind, first, last, jump in events:
        first, last = first + first_frame_id, last + first_frame_id
        if kind == "dropped":
            lines.append(f"person {track_id}: the keypoints jump {jump:.1f} body sizes away in frame(s) {first}-{last} "
                         f"and come back (a person moves at most {MAX_SPEED_SIZES_PER_S:g} sizes per second): those "
                         f"frames are dropped as wrong detections")
        else:
            lines.append(f"person {track_id}: the keypoints jump {jump:.1f} body sizes at frame {first} and stay "
                         f"there (a person moves at most {MAX_SPEED_SIZES_PER_S:g} sizes per second): two people "
                         f"under one id, split; from frame {first} on it is person {next(parts)}")
    return lines


def check_no_video_description(fps, size):
    """With a video, ``--fps``/``--size`` (which describe the video when there is none) must not be given."""
    if fps is not None or size is not None:
        raise WildInputError("--fps and --size describe the video when there is none; with --vid_path the "
                             "video's own fps and size are used: drop --fps/--size")


def load_wild_inputs(keypoints_path, vid_path=None, keypoint_format=None, focus=None, fps=None, size=None,
                     first_frame_id=None, min_frames=1):
    """Read and check the keypoint file and the video; nothing is written.

    Without a video, ``fps``/``size`` describe it (None: unknown) and the last detected frame
    ends it.
    """
    if min_frames < 1:
        raise WildInputError(f"--min_track_frames must be at least 1, got {min_frames}")
    if vid_path:
        check_no_video_description(fps, size)
        video = read_video_info(vid_path)
    else:
        if fps is not None and not (np.isfinite(fps) and fps > 0):
            raise WildInputError(f"--fps must be a positive number of frames per second, got {fps:g}")
        if size is not None and (size[0] <= 0 or size[1] <= 0):
            raise WildInputError(f"--size must be two positive numbers (width height), got {size[0]} {size[1]}")
        video = VideoInfo(float(fps) if fps is not None else None, *(map(int, size) if size else (None, None)))
    det = read_detections(keypoints_path, first_frame_id)
    fmt, reason = detect_format(det.keypoints, keypoint_format, det.path)
    n_frames = video.n_frames if video.n_frames is not None else det.n_frames
    tracks, skipped = build_tracks(det, fmt, n_frames, focus, min_frames, video.fps, video.size)
    if video.n_frames is None:
        video.n_frames = len(tracks[0].detected)
    return WildInputs(video, tracks, fmt, reason, det, skipped)


def add_input_arguments(parser, required=True):
    """The in-the-wild scripts' input options (keypoint file, video, people); see :func:`inputs_from_args`.

    ``required=False`` leaves ``--out_path`` to the caller to check (e.g. when a demo mode fills
    it in). ``--json_path`` is optional: without it the built-in detector reads ``--vid_path``
    (lib/data/detector.py).
    """
    parser.add_argument("-j", "--json_path", type=str, default=None,
                        help="2D keypoints: AlphaPose or MMPose JSON, or a .npy array (docs/inference.md); without "
                             "it, the built-in detector finds and tracks everyone in --vid_path")
    parser.add_argument("-v", "--vid_path", type=str, default=None,
                        help="the video the keypoints were detected on (fps, size, frame count), or, without "
                             "--json_path, the video to detect them in")
    parser.add_argument("-o", "--out_path", type=str, required=required, help="output folder")
    parser.add_argument("--focus", type=int, default=None, help="only the person with this track id")
    parser.add_argument("--keypoints", choices=list(KEYPOINT_FORMATS), default=None,
                        help="keypoint format; default: detected from the keypoint count")
    parser.add_argument("--first_frame_id", type=int, default=None,
                        help="the number the keypoint file gives the first video frame (default 0; 1 for MMPose "
                             "demo files)")
    parser.add_argument("--min_track_frames", type=int, default=None,
                        help="skip people detected in fewer frames than this (default: 1 for a keypoint file; "
                             "half a second of video for the built-in detector)")
    parser.add_argument("--max_people", type=int, default=None,
                        help="the built-in detector (no --json_path): the most people it looks for in a frame "
                             "(default 6; 1 follows the most prominent person only, fastest)")
    parser.add_argument("--tiles", type=int, default=None,
                        help="the built-in detector: look for people on this many overlapping square tiles of the "
                             "frame, for people smaller than about a third of the frame's height (default: 3 on a "
                             "wide frame, 16:9 or 9:16, with --max_people above 1, else 1, the whole frame; 3 "
                             "tiles are about 3x slower)")
    parser.add_argument("--fps", type=float, default=None,
                        help=f"without --vid_path: the video's fps (default: unknown; videos are written at "
                             f"{DEFAULT_FPS:g} fps)")
    parser.add_argument("--size", type=int, nargs=2, default=None, metavar=("WIDTH", "HEIGHT"),
                        help="without --vid_path: the video's size (default: unknown; --pixel needs it)")
    return parser


def inputs_from_args(opts):
    """:func:`load_wild_inputs` with the options of :func:`add_input_arguments`."""
    return load_wild_inputs(opts.json_path, opts.vid_path, opts.keypoints, opts.focus, opts.fps, opts.size,
                            opts.first_frame_id, 1 if opts.min_track_frames is None else opts.min_track_frames)


def normalize_keypoints(keypoints, vid_size=None, scale_range=None):
    """The original's input normalisation (spec 06 §2): float32 ``(T, 17, 3)``.

    ``vid_size=(w, h)`` (``--pixel``): ``(x - w/2, y - h/2) / (min(w, h)/2)``; ``scale_range``
    (default mode, ``[1, 1]``): :func:`crop_scale` over the whole sequence, applied after the
    pixel mapping if both are given.
    """
    if not vid_size and not scale_range:
        raise ValueError("normalize_keypoints needs vid_size (pixel mode) or scale_range (normalised mode)")
    motion = keypoints
    if vid_size:
        w, h = vid_size
        scale = min(w, h) / 2.0
        motion = np.array(keypoints, dtype=np.float64)
        motion[..., :2] = motion[..., :2] - np.array([w, h]) / 2.0
        motion[..., :2] = motion[..., :2] / scale
    if scale_range:
        motion = crop_scale(motion, scale_range)
    return motion.astype(np.float32)


def from_normalized(poses, mapping):
    """Normalised poses ``(..., J, 3)`` in pixels through a :func:`pixel_mapping` ``(scale, (ox, oy))``: x, y times
    scale plus the offset, z times scale (a new array)."""
    scale, offset = mapping
    poses = poses * scale
    poses[..., :2] += offset
    return poses


def pixel_mapping(keypoints, vid_size=None, scale_range=None):
    """``(scale, (ox, oy))`` with pixels = normalised · scale + offset (z: · scale) for a track.

    The inverse of :func:`normalize_keypoints` for ``scale_range=[1, 1]`` (crop_scale's box)
    or for ``vid_size`` alone.
    """
    if scale_range:
        if list(scale_range) != [1, 1]:
            raise ValueError("pixel_mapping only inverts the deterministic scale_range [1, 1]")
        xy = keypoints[keypoints[..., 2] != 0][:, :2]
        if vid_size:  # crop_scale worked on the pixel-normalised coordinates
            scale0, offset0 = pixel_mapping(keypoints, vid_size)
            xy = (xy - offset0) / scale0
        if len(xy) < 4:
            return None
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        side = float(max(hi - lo))
        if side == 0:
            return None
        scale, offset = side / 2, (lo + hi) / 2
        if vid_size:
            return scale * scale0, offset * scale0 + offset0
        return scale, offset
    w, h = vid_size
    return min(w, h) / 2.0, np.array([w / 2.0, h / 2.0])


def coco_order_confidence(keypoints):
    """H36M-ordered ``(..., 17, 3)`` → its confidences in COCO-17 joint order ``(..., 17)``.

    The NTU action models were trained with the confidence channel left in COCO order (a quirk
    of the original, spec 04 §2); face points take the confidence of the H36M nose/head.
    """
    return keypoints[..., list(COCO_FROM_H36M), 2]
