"""The built-in 2D detector on a whole video: every person's keypoints per frame, as tracked people.

Decoding (imageio/ffmpeg), detection (:class:`lib.data.detector.blazepose.BlazePoseSession`, up to ``max_people``
per frame), duplicate removal and tracking (:mod:`lib.data.tracking`, with the colours of each person's clothes
as appearance), then the left/right swap correction per person (:mod:`lib.data.detector.swaps`). The result,
:class:`VideoPeople`, is written as ``keypoints_2d.json`` (AlphaPose layout, BlazePose-33 keypoints, one track id
``idx`` per person), which :func:`inputs_from_video_or_file` reads back exactly as a later ``--json_path`` run
reads it.
"""
import json
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from lib.data.detector.blazepose import NAME, NUM_LANDMARKS, BlazePoseSession
from lib.data.detector.second_look import SecondLook
from lib.data.detector.tiles import TiledSession, tile_boxes
from lib.data.detector.swaps import MIRROR_GROUPS, correct_left_right_swaps
from lib.data.tracking import CONFIRM_FRAMES, Detection, VideoTracker, appearance_descriptor, remove_duplicates
from lib.data.wild_input import (WildInputError, alphapose_results, check_no_video_description, load_wild_inputs,
                                 read_video_info)
from lib.skeleton import BLAZEPOSE33_COCO17
from lib.utils.errors import OptionError
from lib.utils.outputs import check_output_folder

KEYPOINTS_FILE = "keypoints_2d.json"  # the detections, written next to the outputs (AlphaPose layout)
KEYPOINT_FORMAT = "blazepose33"
# people looked for per frame by default (--max_people): the person detector runs on every frame with fewer
DEFAULT_MAX_PEOPLE = 6
# the built-in detector's default --min_track_frames: people seen for less than this are dropped (a passer-by at
# the edge, a false detection), but never fewer frames than a tracklet needs to be confirmed
MIN_TRACK_S = 0.5
# BlazePose landmarks whose pixels show the clothes: the torso (shoulders, hips) and each thigh (hip, knee)
TORSO = (11, 12, 24, 23)
THIGHS = ((23, 25), (24, 26))
THIGH_WIDTH = 0.35  # of the thigh's length
# a detection overlapping another by this share of its box shows the other's colours too: no appearance
OCCLUDED_SHARE = 0.1
# a person found shorter than this in the person detector's 224 x 224 input (median over their frames; the frame's
# long side is scaled to 224) is near the size below which it misses people (about 250 px in 1280 x 720,
# lib.data.detector.tiles): others as small may have been missed
SMALL_PERSON_INPUT_PX = 44.0
DETECTOR_INPUT_PX = 224
MAX_TILES = 8
# --tiles by default: on a frame whose long side is at least WIDE_RATIO times its short side (16:9, 9:16), people
# are looked for on WIDE_TILES tiles (bench/bench_tracking.py: on the rendered scenes, no track jumped to another
# person and 86-95 % of the people were found, against two jumps and 50-90 % on the whole frame), else on the
# whole frame; --max_people 1 keeps the whole frame (the fast single-person mode)
WIDE_RATIO = 1.5
WIDE_TILES = 3


@dataclass
class PersonKeypoints:
    """One tracked person over the video."""
    track_id: int
    keypoints: np.ndarray  # (F, 33, 3) BlazePose: x, y (pixels), visibility; zeros where not found
    found: np.ndarray      # (F,) bool
    swapped: np.ndarray    # (F, groups) bool: left/right swaps corrected (MIRROR_GROUPS)


@dataclass
class VideoPeople:
    """Everyone the detector found in a video, tracked."""
    people: list           # PersonKeypoints, by track id
    n_frames: int
    fps: float
    size: tuple            # (width, height)
    detector: str
    seconds: float         # decoding, detection and tracking
    max_people: int
    tiles: int = 1
    crowded_frames: int = 0   # frames with max_people people found: there may have been more
    duplicates: int = 0       # detections removed as another detection of a person already found
    splits: int = 0           # links refused in doubt (identities ended rather than guessed)
    unconfirmed: int = 0      # detections of tracklets too short to be a person
    second_looks: int = 0     # poses of people lost behind others found by a second look (SecondLook)
    path: str = None
    kept: list = field(default_factory=list)  # the track ids written by save() (default: all)

    @property
    def frames_per_second(self):
        return self.n_frames / max(self.seconds, 1e-9)

    def summary(self):
        found = np.zeros(self.n_frames, bool)
        for p in self.people:
            found |= p.found
        people = "; ".join(f"person {p.track_id} in {p.found.sum()}" for p in self.people)
        lines = [f"{self.path}: {self.detector} found {len(self.people)} "
                 f"{'person' if len(self.people) == 1 else 'people'} ({people} of {self.n_frames} frames; "
                 f"somebody in {found.sum()}), {sum(p.swapped.any(1).sum() for p in self.people)} frames corrected "
                 f"for left/right swaps; {self.frames_per_second:.1f} frames/s ({self.seconds:.1f} s)"]
        if self.max_people == 1:
            lines.append("  following one person (--max_people 1): others in the picture are ignored")
        elif self.crowded_frames:
            lines.append(f"  warning: {self.crowded_frames} frames hold {self.max_people} people, the most it looks "
                         f"for (--max_people {self.max_people}): there may be more people than it followed; raise "
                         f"--max_people (slower)")
        small_px = SMALL_PERSON_INPUT_PX * max(self.size) / DETECTOR_INPUT_PX
        small = [p.track_id for p in self.people if np.median(_heights(p)) < small_px]
        if small and self.tiles == 1 and default_tiles(self.size, self.max_people, WIDE_TILES) > 1:
            lines.append(f"  note: {_people(small)} shorter than {small_px:.0f} px: people that small are often "
                         f"missed on the whole frame; --tiles 3 looks for them on three tiles (about 3x slower)")
        elif self.tiles > 1:
            lines.append(f"  looked for people on {self.tiles} tiles of each frame (--tiles; --tiles 1: the whole "
                         f"frame, about {self.tiles}x faster, misses people shorter than about a third of the frame)")
        if self.splits:
            lines.append(f"  note: {self.splits} frame-to-frame links were refused as ambiguous (people crossing or "
                         f"hiding each other): tracks ended there rather than risk swapping two people")
        if self.second_looks:
            lines.append(f"  a second look around people lost behind others found them in {self.second_looks} "
                         f"frames")
        if self.unconfirmed:
            lines.append(f"  note: {self.unconfirmed} detections belong to no person (tracks shorter than "
                         f"{CONFIRM_FRAMES} frames: false or fleeting detections)")
        return "\n".join(lines)

    def save(self, path, track_ids=None):
        """Write the detections as AlphaPose JSON (``keypoints_2d.json``): one entry per person and frame where they
        were found, ``idx`` their track id; ``track_ids``: only these people (default all)."""
        entries = []
        for p in self.people:
            if track_ids is not None and p.track_id not in track_ids:
                continue
            frames = np.flatnonzero(p.found)
            entries += alphapose_results(p.keypoints[frames], frames, track_id=p.track_id)
        entries.sort(key=lambda e: int(e["image_id"].split(".")[0]))  # frame by frame, as detectors write them
        with open(path, "w") as f:
            json.dump(entries, f, separators=(",", ":"))


def _heights(person):
    """The height (px) of a person's landmarks in each frame they were found."""
    keypoints = person.keypoints[person.found]
    return np.ptp(keypoints[:, :, 1], axis=1) if len(keypoints) else np.zeros(1)


def _people(ids):
    return f"person {ids[0]} is" if len(ids) == 1 else f"people {', '.join(map(str, ids))} are"


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


def clothes_polygons(landmarks):
    """The polygons ``(n, 2)`` (pixels) over a person's clothes in BlazePose ``landmarks (33, 3)``: the torso, and
    each thigh whose hip and knee are visible."""
    polygons = [landmarks[list(TORSO), :2]]
    for hip, knee in THIGHS:
        if min(landmarks[hip, 2], landmarks[knee, 2]) >= 0.5:
            a, b = landmarks[hip, :2], landmarks[knee, :2]
            across = np.array([b[1] - a[1], a[0] - b[0]]) * THIGH_WIDTH / 2
            polygons.append(np.stack([a - across, a + across, b + across, b - across]))
    return polygons


def frame_people(session, frame_rgb, timestamp_ms=None, second_look=None):
    """One frame through the detector ``session``: ``(detections, n_duplicates)``, the people found as
    :class:`lib.data.tracking.Detection` (BlazePose-33 keypoints, with the colours of their clothes) without the
    duplicates of one person, and how many duplicates were removed. ``second_look``: a function of ``(frame_rgb,
    detections)`` giving the poses of followed people these missed (:mod:`lib.data.detector.second_look`). The one
    detection step of :func:`detect` and of the live detector (``lib.data.stream_input.PeopleDetector``)."""
    detections = [Detection(landmarks) for landmarks in session.detect_people(frame_rgb, timestamp_ms)]
    kept = [detections[i] for i in remove_duplicates(detections, BLAZEPOSE33_COCO17)]
    removed = len(detections) - len(kept)
    if second_look is not None:
        kept += second_look(frame_rgb, kept)
    return _with_appearance(frame_rgb, kept), removed


def _with_appearance(frame_rgb, detections):
    """Each detection's clothes colours (:func:`lib.data.tracking.appearance_descriptor`), except where another
    detection overlaps it (its colours would be mixed in)."""
    if not detections:
        return detections
    import cv2

    hsv = cv2.cvtColor(np.ascontiguousarray(frame_rgb[..., :3]), cv2.COLOR_RGB2HSV)
    for i, detection in enumerate(detections):
        box = detection.box
        area = max((box[2] - box[0]) * (box[3] - box[1]), 1.0)
        overlap = max((max(0.0, min(box[2], o.box[2]) - max(box[0], o.box[0])) *
                       max(0.0, min(box[3], o.box[3]) - max(box[1], o.box[1])) for k, o in enumerate(detections)
                       if k != i), default=0.0)
        if overlap / area < OCCLUDED_SHARE:
            detection.appearance = appearance_descriptor(hsv, clothes_polygons(detection.keypoints))
    return detections


def check_max_people(max_people):
    if max_people is not None and max_people < 1:
        raise OptionError(f"--max_people is the most people the built-in detector looks for in a frame, at least 1; "
                          f"got {max_people}")


def check_tiles(tiles):
    if tiles is not None and not 1 <= tiles <= MAX_TILES:
        raise OptionError(f"--tiles is the number of square tiles the built-in detector looks for people on, 1 (the "
                          f"whole frame) to {MAX_TILES}; got {tiles}")


def check_detector_options(opts):
    """The built-in detector's options (``--max_people``, ``--tiles``) in range, and not given with a keypoint file
    (``--json_path``), for every script that can detect."""
    given = [(flag, getattr(opts, flag[2:], None)) for flag in ("--max_people", "--tiles")]
    given = [(flag, value) for flag, value in given if value is not None]
    if opts.json_path and given:
        flags = " ".join(f"{flag} {value}" for flag, value in given)
        raise OptionError(f"{flags}: for the built-in detector, which --json_path replaces (the keypoint file says who "
                          f"is there and where): drop {' '.join(flag for flag, _ in given)}")
    check_max_people(getattr(opts, "max_people", None))
    check_tiles(getattr(opts, "tiles", None))


def default_tiles(size, max_people, tiles=None):
    """The tiles of a frame of ``size`` (w, h): ``tiles`` (``--tiles``; None: :data:`WIDE_TILES` on a wide frame with
    ``max_people`` above 1, else 1), but 1 where the frame is square (its one square is the frame)."""
    if not size or min(size) <= 0:
        return tiles or 1
    if tiles is None:
        tiles = WIDE_TILES if max_people > 1 and max(size) >= WIDE_RATIO * min(size) else 1
    return len(tile_boxes(*size, tiles))


def open_video_session(max_people, fps, tiles=1):
    """The detector session of a video: BlazePose on the whole frame, or on ``tiles`` tiles of it."""
    if tiles > 1:
        return TiledSession(lambda: BlazePoseSession(max_people, fps=fps), tiles, NAME)
    return BlazePoseSession(max_people, fps=fps)


def detect(video_path, max_people=DEFAULT_MAX_PEOPLE, correct_swaps=True, progress=True, tiles=None,
           on_frame=None):
    """Find and track everyone (up to ``max_people`` per frame, on ``tiles`` tiles of the frame,
    :mod:`lib.data.detector.tiles`; None: :func:`default_tiles`) in the video: :class:`VideoPeople`.
    ``on_frame(t, n_frames)`` is called after each frame (a whole run's progress; an exception from it stops the
    detection).

    A video that cannot be read, has no frames, or in which nobody is found raises :class:`WildInputError`.
    """
    check_max_people(max_people)
    check_tiles(tiles)
    video = read_video_info(video_path)
    tiles = default_tiles(video.size, max_people, tiles)
    start = time.perf_counter()
    n_decoded = duplicates = 0
    frame_ms = 1000.0 / (video.fps if video.fps and video.fps > 0 else 30.0)
    tracker = VideoTracker(video.fps if video.fps and video.fps > 0 else 30.0, cue_points=BLAZEPOSE33_COCO17)
    # several people: a second look for those lost behind others (one person: nobody else to be hidden by)
    second_look = SecondLook(tracker.online) if max_people > 1 else None
    with open_video_session(max_people, video.fps, tiles) as session:
        try:
            for t, frame in enumerate(tqdm(_frames(video_path, video.n_frames), total=video.n_frames,
                                           desc="detect 2D", disable=not progress)):
                n_decoded += 1
                look = None if second_look is None else (lambda image, found, t=t: second_look(image, found, t))
                detections, removed = frame_people(session, frame, t * frame_ms, look)
                duplicates += removed
                tracker.add(detections)
                if on_frame is not None:
                    on_frame(t, video.n_frames)
        except (OSError, RuntimeError, ValueError) as e:  # imageio/ffmpeg's errors for broken streams
            raise WildInputError(f"cannot decode the video {video_path} (after {n_decoded} frames): "
                                 f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
        finally:
            if second_look is not None:
                second_look.close()
        name = session.name
    seconds = time.perf_counter() - start
    if n_decoded == 0:
        raise WildInputError(f"the video {video_path} has no frames to detect people in")
    frames_detections = tracker.frames_detections
    n_found = sum(len(f) for f in frames_detections)
    if not n_found:
        raise WildInputError(f"nobody was found in the video {video_path}: {name} found no person in any of its "
                             f"{n_decoded} frames; check that the people are fully in view, or give 2D keypoints "
                             f"with --json_path")
    tracking = tracker.finish()
    frames_ids, n_people = tracking.ids, tracking.n_people
    if n_people == 0:
        raise WildInputError(f"nobody was found in the video {video_path}: {name} found {n_found} detections in "
                             f"{n_decoded} frames, but none lasting {CONFIRM_FRAMES} frames (fleeting or false "
                             f"detections); give 2D keypoints with --json_path")
    people = []
    for person in range(n_people):
        keypoints = np.zeros((video.n_frames, NUM_LANDMARKS, 3))
        found = np.zeros(video.n_frames, bool)
        for t, (detections, ids) in enumerate(zip(frames_detections, frames_ids)):
            if person in ids:
                keypoints[t], found[t] = detections[ids.index(person)].keypoints, True
        swapped = np.zeros((video.n_frames, len(MIRROR_GROUPS[NUM_LANDMARKS])), bool)
        if correct_swaps:
            keypoints, swapped = correct_left_right_swaps(keypoints, found)
        people.append(PersonKeypoints(person, keypoints, found, swapped))
    unconfirmed = sum(ids.count(None) for ids in frames_ids)
    crowded = sum(len(f) >= max_people for f in frames_detections) if max_people > 1 else 0
    return VideoPeople(people, video.n_frames, video.fps, video.size, name, seconds, max_people, tiles, crowded,
                       duplicates, tracking.splits, unconfirmed,
                       0 if second_look is None else second_look.found, video_path)


def default_min_track_frames(fps, n_frames):
    """The built-in detector's ``--min_track_frames`` default: :data:`MIN_TRACK_S` of video, but at most half the
    video (a short clip of a fast camera keeps its people), and at least :data:`lib.data.tracking.CONFIRM_FRAMES`
    frames."""
    return max(CONFIRM_FRAMES, min(int(round(MIN_TRACK_S * (fps or 30.0))), n_frames // 2))


def inputs_from_video_or_file(opts, on_frame=None):
    """The in-the-wild scripts' inputs (``WildInputs``) and the detections made for them.

    With ``--json_path``: :func:`lib.data.wild_input.inputs_from_args`, and None. Without it the detector finds
    and tracks everyone in ``--vid_path``; their keypoints are read back from their AlphaPose JSON exactly as
    ``--json_path keypoints_2d.json`` reads them in a later run, so that run (which skips detection) gives the same
    result. Returns ``(inputs, VideoPeople)``; the caller saves the detections of the people it lifts with its
    outputs (:func:`save_detections`). ``on_frame``: see :func:`detect` (then it shows no bar of its own).
    """
    from lib.data.wild_input import inputs_from_args

    check_detector_options(opts)
    max_people, tiles = getattr(opts, "max_people", None), getattr(opts, "tiles", None)
    if opts.json_path:
        return inputs_from_args(opts), None
    if not opts.vid_path:
        raise WildInputError("give the 2D keypoints with --json_path, or a video with --vid_path to detect them in")
    check_no_video_description(opts.fps, opts.size)
    if opts.first_frame_id is not None:
        raise WildInputError("--first_frame_id numbers the frames of a keypoint file (--json_path); the built-in "
                             "detector numbers the video's own frames: drop --first_frame_id")
    if opts.keypoints not in (None, KEYPOINT_FORMAT):
        raise WildInputError(f"--keypoints {opts.keypoints} describes a keypoint file (--json_path); the built-in "
                             f"detector gives BlazePose-33 keypoints: drop --keypoints")
    if opts.min_track_frames is not None and opts.min_track_frames < 1:
        raise WildInputError(f"--min_track_frames must be at least 1, got {opts.min_track_frames}")
    check_output_folder(opts.out_path, [KEYPOINTS_FILE])  # before the work
    detections = detect(opts.vid_path, max_people if max_people is not None else DEFAULT_MAX_PEOPLE,
                        tiles=tiles, progress=on_frame is None, on_frame=on_frame)
    print(detections.summary())
    min_frames = opts.min_track_frames or default_min_track_frames(detections.fps, detections.n_frames)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, KEYPOINTS_FILE)
        detections.save(path)
        try:
            inputs = load_wild_inputs(path, opts.vid_path, KEYPOINT_FORMAT, opts.focus, min_frames=min_frames)
        except WildInputError as e:  # name what the user knows, not the temporary file
            raise WildInputError(str(e).replace(path, f"the people detected in {opts.vid_path}")) from e
    inputs.format_reason = "the built-in detector's keypoints"
    inputs.detections.path = os.path.join(opts.out_path, KEYPOINTS_FILE)
    detections.kept = [t.track_id for t in inputs.tracks]
    return inputs, detections


def save_detections(out, detections):
    """Write the built-in detector's keypoints of the people lifted (from :func:`inputs_from_video_or_file`; None:
    none were detected) as :data:`KEYPOINTS_FILE` of the ``OutputSet`` ``out`` (its folder was checked before the
    detection)."""
    if detections is not None:
        detections.save(out.path(KEYPOINTS_FILE), detections.kept or None)
