"""Demo data for the 3D-pose pipeline: the DeepMimic mocap clips shipped with pybullet, filmed by four
virtual Human3.6M-like cameras and written in the schema of ``h36m_sh_conf_cam_source_final.pkl``.

The 15 clips ``pybullet_data/data/motions/humanoid3d_*.txt`` are played on the skeleton of
``pybullet_data/humanoid/humanoid.urdf`` (forward kinematics from the URDF's joint origins, checked
against pybullet's by the tests, scaled to a 1.70 m subject), resampled to 50 Hz (slerp) and mapped to
the H36M-17 joints. Cyclic clips (``Loop: "wrap"``) are looped with continuous root motion until they
last ``--min-seconds``. Each of the four cameras (named and sized like H36M's, ~5 m away, ~1.5 m high,
following the subject) gives one video, ``source`` ``s_SS_act_AA_subact_01_ca_CC``; its 2D
"detections" are the projections plus detector-like noise, with a confidence that falls as the error
grows. Split: test = walk, kick, dance_b, jump (subject 11); train = the other clips (subject 1). The
output is deterministic for a ``--seed``, and a clip's data does not depend on which other clips are
chosen.

Also writes ``<examples-dir>/demo_alphapose.json`` (AlphaPose Halpe-26 results with noisy
detections) and ``<examples-dir>/demo.mp4`` (a rendering of the same clip and camera) for
``infer_wild.py``.

    pip install pybullet   # only this tool needs it, for its data files
    python tools/prepare_demo_data.py [--output data/motion3d/demo/h36m_demo.pkl] [--seed 0]
                                      [--clips walk kick ...] [--no-examples] [--test-videos DIR]
"""
import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from lib.data.datareader_h36m import CAMERA_RESOLUTION  # noqa: E402
from lib.data.humanoid import (  # noqa: E402
    FPS, HALPE26_KEYPOINTS, H36M_KEYPOINTS, KEYPOINT_NAMES, MOTION_NAMES, SUBJECT_HEIGHT_MM, CameraView, body_solids,
    floor_grid, floor_image, forward_kinematics, keypoints_from_frames, loops_for, motion_path, normalize, project,
    pybullet_data_dir, read_motion, resample_motion, rotation_y, skeleton_of_height, smooth_track)
from lib.data.wild_input import alphapose_results  # noqa: E402
from lib.utils.cli import add_debug_argument, run_cli  # noqa: E402
from lib.utils.outputs import OutputSet, check_output_file, check_output_folder  # noqa: E402
from lib.utils.tools import write_pkl  # noqa: E402
from lib.utils.vismo import draw_solids, write_video  # noqa: E402

# FPS (lib.data.humanoid): the frame rate of the pickle (that of H36M's videos)
DEFAULT_OUTPUT = "data/motion3d/demo/h36m_demo.pkl"

# --- the clips -----------------------------------------------------------------------------------------
# MOTION_NAMES (lib.data.humanoid): act id = position + 1
TEST_MOTIONS = ("walk", "kick", "dance_b", "jump")
SUBJECT = {"train": 1, "test": 11}  # H36M-style subject ids; s_11 is in none of evaluate()'s blocked sources

# --- the cameras ----------------------------------------------------------------------------------------
# H36M's four cameras: id, focal length (px; one value, square pixels), principal point (px) (both close
# to the real calibration) and the azimuth (deg) of their corner of the capture area; resolution from
# CAMERA_RESOLUTION. ca_01..ca_04 in this order, as in H36M.
CAMERAS = (("54138969", 1144.4, (512.5, 515.5), 45.0), ("55011271", 1148.6, (508.8, 508.1), -45.0),
           ("58860488", 1149.0, (519.8, 501.4), 135.0), ("60457274", 1145.1, (515.0, 501.9), -135.0))
CAMERA_NAMES = tuple(c[0] for c in CAMERAS)
AZIMUTH_JITTER_DEG = 15.0  # per video, uniform in +-this; the subject's heading is uniform per clip
CAMERA_DISTANCE_MM = (4500.0, 5500.0)  # horizontal distance to the subject, uniform per video
CAMERA_HEIGHT_MM = (1350.0, 1650.0)
LOOK_AT_HEIGHT_MM = (800.0, 1000.0)  # the camera aims at this height above the subject's ground position
# The cameras dolly along with the subject (fixed orientation), so that looped clips with much root
# travel (run: 3.5 m/s) stay in view; following a smoothed track keeps the subject's own sway visible.
DOLLY_SMOOTHING_S = 1.0

# --- the detector noise ---------------------------------------------------------------------------------
# Standard deviation (px, at ~5 m) of the 2D error per body part: extremities are the hardest to localise.
NOISE_STD_PX = {"pelvis": 2.0, "hip": 2.5, "knee": 3.0, "ankle": 4.5, "spine": 2.5, "thorax": 2.5, "nose": 2.5,
                "head_top": 3.0, "shoulder": 3.0, "elbow": 3.5, "wrist": 5.0, "eye": 2.0, "ear": 2.5,
                "big_toe": 5.0, "small_toe": 5.0, "heel": 4.5}
NOISE_CORRELATION = 0.6  # AR(1) coefficient between consecutive 50 Hz frames: detector errors persist a little
OUTLIER_RATE = 0.002  # per keypoint and frame; three times that on wrists, ankles, toes and heels
EXTREMITY_PARTS = ("wrist", "ankle", "big_toe", "small_toe", "heel")
OUTLIER_PX = (15.0, 60.0)  # outlier displacement, uniform, in a random direction
CONFIDENCE_MAX = 0.98
CONFIDENCE_FALLOFF_PX = 15.0  # confidence = max * exp(-(error / falloff)^2 / 2) * U(0.92, 1)

# --- the example files ----------------------------------------------------------------------------------
# H.264 settings of demo.mp4: small (constant quality) and bit-exact without metadata, so that the
# shipped file only changes when its pictures do
VIDEO_OPTIONS = dict(codec="libx264", quality=None, pixelformat="yuv420p",
                     ffmpeg_params=["-crf", "30", "-preset", "slow", "-map_metadata", "-1", "-fflags", "+bitexact",
                                    "-flags:v", "+bitexact"])


def body_part(name):
    """``left_big_toe`` → ``big_toe``: the keypoint's name without its side."""
    return name.replace("left_", "").replace("right_", "")


# ========================================================================================================
# Cameras and detections
# ========================================================================================================
@dataclass
class Camera:
    name: str
    focal: float  # px
    center: np.ndarray  # (2,) principal point, px
    size: tuple  # (w, h) px
    rotation: np.ndarray  # (3, 3) world → camera (rows: right, down, forward)
    position: np.ndarray  # (T, 3) world, mm

    def to_camera(self, points):
        """World ``(T, K, 3)`` → camera coordinates (x right, y down, z forward), mm."""
        return np.einsum("ij,tkj->tki", self.rotation, points - self.position[:, None])

    def at(self, t):
        """The camera at frame ``t`` (a :class:`CameraView`, as the renderer takes it)."""
        return CameraView(self.focal, self.center, self.size, self.rotation, self.position[t])

    def to_camera_at(self, points, t):
        """World ``(n, 3)`` at frame ``t`` → camera coordinates, mm."""
        return self.at(t).to_camera(points)

    def project(self, points_camera):
        """Camera coordinates ``(..., 3)`` → pixels ``(..., 2)``."""
        return project(points_camera, self.focal, self.center)


def place_camera(rng, spec, ground_track):
    """One camera of ``CAMERAS`` following the subject's smoothed ``ground_track (T, 3)`` (y = 0)."""
    name, focal, center, azimuth = spec
    azimuth = np.radians(azimuth + rng.uniform(-AZIMUTH_JITTER_DEG, AZIMUTH_JITTER_DEG))
    distance = rng.uniform(*CAMERA_DISTANCE_MM)
    offset = np.array([distance * np.cos(azimuth), rng.uniform(*CAMERA_HEIGHT_MM), distance * np.sin(azimuth)])
    forward = normalize(np.array([0.0, rng.uniform(*LOOK_AT_HEIGHT_MM), 0.0]) - offset)
    right = normalize(np.cross(forward, [0.0, 1.0, 0.0]))
    down = np.cross(forward, right)
    return Camera(name=name, focal=focal, center=np.array(center), size=CAMERA_RESOLUTION[name],
                  rotation=np.stack([right, down, forward]), position=ground_track + offset)


def detect(rng, pixels, names):
    """Detector-like 2D keypoints: ``pixels (T, K, 2)`` plus noise → ``(noisy (T, K, 2), confidence (T, K))``.

    The error of keypoint k is an AR(1) process with standard deviation ``NOISE_STD_PX[part]``
    (plus rare single-frame outliers); the confidence falls as a Gaussian of the error's length.
    """
    n_frames, n_points = pixels.shape[:2]
    std = np.array([NOISE_STD_PX[body_part(n)] for n in names])[:, None]
    innovation = rng.standard_normal((n_frames, n_points, 2)) * std
    error = np.empty_like(innovation)
    error[0] = innovation[0]
    for t in range(1, n_frames):
        error[t] = NOISE_CORRELATION * error[t - 1] + np.sqrt(1 - NOISE_CORRELATION ** 2) * innovation[t]
    rate = np.array([OUTLIER_RATE * (3 if body_part(n) in EXTREMITY_PARTS else 1) for n in names])
    outlier = rng.random((n_frames, n_points)) < rate
    direction = rng.uniform(0, 2 * np.pi, (n_frames, n_points))
    length = rng.uniform(*OUTLIER_PX, (n_frames, n_points))
    error += (outlier * length)[..., None] * np.stack([np.cos(direction), np.sin(direction)], -1)
    distance = np.linalg.norm(error, axis=-1)
    confidence = (CONFIDENCE_MAX * np.exp(-0.5 * (distance / CONFIDENCE_FALLOFF_PX) ** 2)
                  * rng.uniform(0.92, 1.0, (n_frames, n_points)))
    return pixels + error, confidence


# ========================================================================================================
# Takes and videos
# ========================================================================================================
@dataclass
class Take:
    """One clip played by the 1.70 m subject (world: y up, mm) and the four cameras filming it."""
    motion: str
    split: str
    act_id: int
    frames: dict  # link -> (T rotations, origin (T, 3)), for rendering
    keypoints: np.ndarray  # (T, len(KEYPOINT_NAMES), 3)
    cameras: list
    noise_seeds: list  # per camera: seed of the detection noise of its video
    example_seeds: list  # per camera: seed of the detection noise of the example files


def split_of(motion):
    return "test" if motion in TEST_MOTIONS else "train"


def simulate_take(skeleton_mm, mm_per_unit, motion, seed, min_seconds):
    """Play ``motion`` (looped to ``min_seconds`` if cyclic) with a random heading and place the cameras.

    The random streams depend only on ``seed`` and the motion, so a clip's data does not change with
    the selection of other clips.
    """
    act_id = MOTION_NAMES.index(motion.name) + 1
    n = len(CAMERAS)
    seeds = np.random.SeedSequence([seed, act_id]).spawn(1 + 3 * n)
    take_rng = np.random.default_rng(seeds[0])
    camera_rngs = [np.random.default_rng(s) for s in seeds[1:1 + n]]
    root_position, root_rotation, joint_rotations = resample_motion(motion, loops_for(motion, min_seconds))
    turn = rotation_y(take_rng.uniform(0, 2 * np.pi))  # the subject's heading
    frames = forward_kinematics(skeleton_mm, mm_per_unit * turn.apply(root_position), turn * root_rotation,
                                joint_rotations)
    keypoints = keypoints_from_frames(skeleton_mm, frames)
    ground_track = smooth_track(frames["root"][1], DOLLY_SMOOTHING_S * FPS)
    ground_track[:, 1] = 0.0
    cameras = [place_camera(rng, spec, ground_track) for rng, spec in zip(camera_rngs, CAMERAS)]
    return Take(motion=motion.name, split=split_of(motion.name), act_id=act_id, frames=frames, keypoints=keypoints,
                cameras=cameras, noise_seeds=seeds[1 + n:1 + 2 * n], example_seeds=seeds[1 + 2 * n:])


def source_name(take, camera_index):
    return f"s_{SUBJECT[take.split]:02d}_act_{take.act_id:02d}_subact_01_ca_{camera_index + 1:02d}"


def video_arrays(take, camera_index):
    """The per-frame arrays of one camera's video, in the schema and dtypes of the H36M pickle.

    ``joint3d_image``: noise-free pixel x, y and the depth relative to the root in the same pixel
    units; ``2.5d_factor`` = root depth / focal length (mm per pixel), so that
    ``joints_2.5d_image = joint3d_image * 2.5d_factor`` is in mm.

    Beyond H36M's schema, for metric benchmarks (``bench/bench_world.py``): ``joints_cam_mm``, the
    joints in camera coordinates (x right, y down, z forward, mm); the camera's intrinsics
    ``camera_focal`` (px) and ``camera_center`` (px); its extrinsics ``camera_rotation`` (world → camera)
    and ``camera_position`` (world, mm; the world is y up, the floor at y = 0).
    """
    camera = take.cameras[camera_index]
    points = camera.to_camera(take.keypoints[:, :len(H36M_KEYPOINTS)])
    root_depth = points[:, 0, 2]
    factor = root_depth / camera.focal
    depth_px = (points[..., 2] - root_depth[:, None]) / factor[:, None]
    joint3d_image = np.concatenate([camera.project(points), depth_px[..., None]], axis=-1)
    rng = np.random.default_rng(take.noise_seeds[camera_index])
    joint_2d, confidence = detect(rng, joint3d_image[..., :2], H36M_KEYPOINTS)
    n_frames = len(points)
    return {
        "joint_2d": joint_2d.astype(np.float32),
        "confidence": confidence.astype(np.float32),
        "joint3d_image": joint3d_image.astype(np.float32),
        "joints_2.5d_image": joint3d_image * factor[:, None, None],
        "2.5d_factor": factor,
        "camera_name": np.full(n_frames, camera.name),
        "action": np.full(n_frames, take.motion),
        "source": np.full(n_frames, source_name(take, camera_index)),
        "c3d_frame": np.arange(n_frames, dtype=np.int64),  # frame index in the video (50 Hz)
        "joints_cam_mm": points.astype(np.float32),
        "camera_focal": np.full(n_frames, camera.focal),
        "camera_center": np.tile(camera.center, (n_frames, 1)),
        "camera_rotation": np.tile(camera.rotation, (n_frames, 1, 1)),
        "camera_position": camera.position,
    }


def fraction_in_view(take, camera_index):
    """Fraction of the video's frames in which every H36M joint projects inside the image."""
    camera = take.cameras[camera_index]
    pixels = camera.project(camera.to_camera(take.keypoints[:, :len(H36M_KEYPOINTS)]))
    inside = (pixels >= 0).all(-1) & (pixels[..., 0] < camera.size[0]) & (pixels[..., 1] < camera.size[1])
    return inside.all(-1).mean()


class DemoSubject:
    """The DeepMimic humanoid scaled to a ``SUBJECT_HEIGHT_MM`` subject, and its clips."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.skeleton_mm, self.mm_per_unit = skeleton_of_height(data_dir, SUBJECT_HEIGHT_MM)

    def take(self, name, seed, min_seconds):
        motion = read_motion(motion_path(self.data_dir, name), name)
        return simulate_take(self.skeleton_mm, self.mm_per_unit, motion, seed, min_seconds)


def build_dataset(subject, clips, seed, min_seconds):
    """``({'train': arrays, 'test': arrays}, {clip: Take}, [(split, source, frames, in-view fraction)])``."""
    videos = {"train": [], "test": []}
    takes, report = {}, []
    for name in tqdm(clips, desc="clips"):
        take = takes[name] = subject.take(name, seed, min_seconds)
        for camera_index in range(len(CAMERAS)):
            arrays = video_arrays(take, camera_index)
            videos[take.split].append(arrays)
            report.append((take.split, source_name(take, camera_index), len(arrays["source"]),
                           fraction_in_view(take, camera_index)))
    dataset = {split: {key: np.concatenate([v[key] for v in vids]) for key in vids[0]}
               for split, vids in videos.items()}
    return dataset, takes, report


# ========================================================================================================
# Example files: AlphaPose JSON and video of one clip seen by one camera
# ========================================================================================================
def scaled_camera(camera, scale, size):
    """The camera of a video downscaled by ``scale`` (pixel coordinates times ``scale``)."""
    return dataclasses.replace(camera, focal=camera.focal * scale, center=camera.center * scale, size=size)


def demo_alphapose_results(keypoints, scores):
    """AlphaPose result list (one person per frame): Halpe-26 ``keypoints (T, 26, 2)``, ``scores (T, 26)``."""
    # detection scores on the scale of AlphaPose's (box score + keypoint terms, about 2.5-3.2)
    return alphapose_results(np.concatenate([keypoints, scores[..., None]], axis=-1),
                             scores=scores.mean(-1) + 1.25 * scores.max(-1) + 1.0)


def render_frame(camera, skeleton_mm, frames, t, grid_lines):
    """Frame ``t`` of the example video (RGB uint8): the body's collision shapes (and a face) over a floor grid.

    The tool's one rendering step: a renderer of another kind replaces this function.
    """
    view = camera.at(t)
    image = floor_image(view, grid_lines)
    draw_solids(image, body_solids(view, skeleton_mm, frames, t))
    return image


def render_video(subject, take, camera_index, frame_ids, fps, scale, path):
    """Write the video of ``take`` seen by camera ``camera_index`` (its frames ``frame_ids``, the image scaled
    by ``scale``) to ``path``; returns ``(w, h)``."""
    camera = take.cameras[camera_index]
    size = tuple(int(v * scale) // 2 * 2 for v in camera.size)  # even sizes for H.264 (cropping, not stretching)
    video_camera = scaled_camera(camera, scale, size)
    grid = floor_grid(take.frames["root"][1])
    write_video((render_frame(video_camera, subject.skeleton_mm, take.frames, t, grid)
                 for t in tqdm(frame_ids, desc="render video")), path, fps, **VIDEO_OPTIONS)
    return size


def write_examples(subject, take, camera_index, out_dir, fps, seconds, scale, out):
    """``demo_alphapose.json`` and ``demo.mp4`` of ``take`` seen by camera ``camera_index``, written under
    the temporary names of ``out`` (an ``OutputSet``).

    The detections are made on the camera's full-size image and scaled with the video. Returns
    ``(json path, video path, number of frames, (w, h))``.
    """
    frame_ids = np.arange(0, min(len(take.keypoints), int(round(seconds * FPS))), FPS // fps)
    camera = take.cameras[camera_index]
    halpe_ids = [KEYPOINT_NAMES.index(n) for n in HALPE26_KEYPOINTS]
    pixels = camera.project(camera.to_camera(take.keypoints[:, halpe_ids]))
    noisy, scores = detect(np.random.default_rng(take.example_seeds[camera_index]), pixels, HALPE26_KEYPOINTS)
    json_path, video_path = os.path.join(out_dir, "demo_alphapose.json"), os.path.join(out_dir, "demo.mp4")
    with open(out.path(json_path), "w") as f:
        json.dump(demo_alphapose_results(noisy[frame_ids] * scale, scores[frame_ids]), f, separators=(",", ":"))
    size = render_video(subject, take, camera_index, frame_ids, fps, scale, out.path(video_path))
    return json_path, video_path, len(frame_ids), size


def write_test_videos(subject, takes, camera_names, out_dir, scale, out):
    """The videos of the test clips seen by ``camera_names``, every frame of the pickle (50 fps), named
    ``<source>.mp4``: the input of bench/bench_video.py, whose ground truth is in the pickle. Returns the
    paths."""
    paths = []
    for take in takes:
        for name in camera_names:
            camera_index = CAMERA_NAMES.index(name)
            path = os.path.join(out_dir, source_name(take, camera_index) + ".mp4")
            render_video(subject, take, camera_index, np.arange(len(take.keypoints)), FPS, scale, out.path(path))
            paths.append(path)
    return paths


# ========================================================================================================
# Command line
# ========================================================================================================
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="pickle to write, H36M schema (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice, >= 0 (default: %(default)s)")
    parser.add_argument("--clips", nargs="+", choices=MOTION_NAMES, metavar="CLIP",
                        help=f"clips to use, at least one train and one test clip (default: all: "
                             f"{', '.join(MOTION_NAMES)}; the test clips are {', '.join(TEST_MOTIONS)})")
    parser.add_argument("--min-seconds", type=float, default=10.0,
                        help="cyclic clips are looped until they last at least this long (default: %(default)s)")
    parser.add_argument("--examples-dir", default="examples",
                        help="folder of demo_alphapose.json and demo.mp4 (default: %(default)s)")
    parser.add_argument("--no-examples", action="store_true", help="do not write the example files")
    parser.add_argument("--example-clip", default="walk", choices=MOTION_NAMES, metavar="CLIP",
                        help="clip of the example files (default: %(default)s)")
    parser.add_argument("--example-camera", default="55011271", choices=CAMERA_NAMES,
                        help="camera of the example files (default: %(default)s)")
    parser.add_argument("--example-seconds", type=float, default=8.0,
                        help="length of the example video, s (default: %(default)s)")
    parser.add_argument("--example-fps", type=int, default=25,
                        help=f"frame rate of the example video, a divisor of {FPS} (default: %(default)s)")
    parser.add_argument("--example-scale", type=float, default=0.5,
                        help="size of the example video relative to the camera image; the JSON is in the "
                             "video's pixels (default: %(default)s)")
    parser.add_argument("--test-videos", metavar="DIR", default=None,
                        help="also render the test clips' videos (every frame, 50 fps) into DIR, for "
                             "bench/bench_video.py (default: none)")
    parser.add_argument("--test-cameras", nargs="+", default=["54138969", "55011271"], choices=CAMERA_NAMES,
                        metavar="CAMERA", help="cameras of --test-videos (default: %(default)s)")
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error("--seed must be non-negative")
    if args.min_seconds <= 0 or args.example_seconds <= 0 or args.example_scale <= 0:
        parser.error("--min-seconds, --example-seconds and --example-scale must be positive")
    if args.example_fps <= 0 or FPS % args.example_fps:
        parser.error(f"--example-fps must divide {FPS}, got {args.example_fps}")
    args.clips = [c for c in MOTION_NAMES if args.clips is None or c in args.clips]  # canonical order, no duplicates
    if not any(c in TEST_MOTIONS for c in args.clips) or all(c in TEST_MOTIONS for c in args.clips):
        parser.error(f"--clips needs at least one test clip ({', '.join(TEST_MOTIONS)}) and one train clip: "
                     f"the pickle must have both splits")
    return args


def main(argv=None):
    args = parse_args(argv)
    check_output_file(args.output, "--output")
    if not args.no_examples:
        check_output_folder(args.examples_dir, ["demo_alphapose.json", "demo.mp4"], option="--examples-dir")
    if args.test_videos:
        check_output_folder(args.test_videos, option="--test-videos")
    subject = DemoSubject(pybullet_data_dir())
    dataset, takes, report = build_dataset(subject, args.clips, args.seed, args.min_seconds)
    with OutputSet() as out:  # the pickle and the examples appear together
        write_pkl(dataset, out.path(args.output))
        if not args.no_examples:
            take = takes.get(args.example_clip) or subject.take(args.example_clip, args.seed, args.min_seconds)
            camera_index = CAMERA_NAMES.index(args.example_camera)
            examples = write_examples(subject, take, camera_index, args.examples_dir, args.example_fps,
                                      args.example_seconds, args.example_scale, out)
        if args.test_videos:
            test_takes = [takes[c] for c in args.clips if split_of(c) == "test"]
            test_videos = write_test_videos(subject, test_takes, args.test_cameras, args.test_videos,
                                            args.example_scale, out)
    for split in ("train", "test"):
        clips = [c for c in args.clips if split_of(c) == split]
        print(f"{split}: {len(dataset[split]['source'])} frames; clips ({len(CAMERAS)} cameras each): "
              f"{', '.join(clips)}")
    for split, source, n_frames, in_view in report:
        note = "" if in_view == 1 else f"  (all joints in view in {100 * in_view:.1f}% of the frames)"
        print(f"  {split:5s} {source}  {n_frames:4d} frames{note}")
    print(f"wrote {args.output} ({os.path.getsize(args.output) / 2 ** 20:.1f} MiB)")
    if not args.no_examples:
        json_path, video_path, n_frames, size = examples
        print(f"wrote {json_path} and {video_path}: {args.example_clip} seen by camera {args.example_camera} "
              f"({source_name(take, camera_index)}), {n_frames} frames at {args.example_fps} fps, {size[0]}x{size[1]}")
    if args.test_videos:
        print(f"wrote {len(test_videos)} test videos to {args.test_videos} ({FPS} fps, --example-scale "
              f"{args.example_scale:g})")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
