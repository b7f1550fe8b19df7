"""3D poses live: stream 2D keypoints (a keypoint file, a video or a camera) and lift them as they come (docs/streaming.md).

    python stream_wild.py --demo                                   # the demo video, live, to stdout
    python stream_wild.py -j alphapose-results.json -v video.mp4 --lookahead 9 --out_path output/
    python stream_wild.py --vid_path 0 --metric                    # a camera, with the built-in 2D detector

Writes one JSON line per emitted pose, ``{"frame": 12, "time": 0.48, "person": 0, "keypoints_3d": [[x, y, z], ...]}``
(17 H36M joints; x, y image pixels, z depth in the same units, 0 at the root of the person's first frame;
with ``--metric``: millimetres in the camera's axes), to stdout or, with ``--out_path DIR``, to
``DIR/X3D.jsonl``. Every person in view is followed (the built-in detector and tracker, or the keypoint
file's tracks), one line per person and frame; ``person`` is the track id. The pose of frame ``t - lookahead``
is written once frame ``t`` has arrived. Ctrl-C stops: the poses still pending are written and
the file is left whole.
"""
import argparse
import contextlib
import json
import os
import signal
import sys

import numpy as np
import torch

from lib.data.detector import DEFAULT_MAX_PEOPLE, check_detector_options, default_tiles, open_video_session
from lib.data.stream_input import PeopleDetector, VideoSource, replay_people
from lib.data.wild_input import WildInputError, add_input_arguments, inputs_from_args
from lib.inference import (DEFAULT_FILES, DEMO_FILES, add_model_arguments, add_runtime_arguments, check_clip_len,
                           demo_defaults, fill_defaults, load_model, make_onnx_runner, prepare_device)
from lib.skeleton import BONES_RENDER_ORDER
from lib.streaming import (METRIC_CALIBRATION_S, NORMALIZATIONS, MetricPoses, PeopleLifter, PerPerson, StreamingLifter,
                           run_stream)
from lib.utils.cli import add_debug_argument, run_cli
from lib.utils.config_schema import INFER_POSE3D, load_config
from lib.utils.outputs import check_output_folder, remove_partial_files, strict, write_manifest
from lib.utils.vismo import Skeleton3DRenderer, pixel2world_vis_motion
from lib.world import METRIC_OPTIONS, add_metric_arguments, check_world_options

# the offline demo's files (docs/demo.md), streamed: its video through the built-in 2D detector
DEMO = DEMO_FILES
OUTPUT_NAME = "X3D.jsonl"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--demo", action="store_true",
                        help=f"stream the offline demo's video ({DEMO['vid_path']}) through the built-in 2D detector "
                             f"with its model (docs/demo.md); with --json_path or --vid_path: your input, the demo "
                             f"model")
    add_input_arguments(parser, required=False)
    parser.add_argument("--lookahead", type=int, default=9,
                        help="frames of look-ahead L: the pose of frame t-L is written when frame t arrives "
                             "(0: causal; more: more accurate, later) (default 9)")
    parser.add_argument("--hop", type=int, default=3,
                        help="frames between two model runs; one run writes hop poses (more: less compute, up to "
                             "hop-1 frames more latency) (default 3: with the detector, real time on 2 CPU cores)")
    parser.add_argument("--clip_len", type=int, default=None,
                        help="frames per model window, at most the config's maxlen (default: maxlen)")
    parser.add_argument("--normalization", choices=list(NORMALIZATIONS), default="frame",
                        help="how 2D keypoints are scaled for the model: 'frame': by the image size (needs "
                             "--vid_path or --size); 'window': by the person's box in each window (default frame)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="a keypoint file or video file is fed at its fps times this (0: as fast as it can be "
                             "lifted) (default 1: real time)")
    parser.add_argument("--preview", action="store_true",
                        help="show the video and the latest 3D pose in a window (needs a display)")
    metric = parser.add_argument_group(
        "metric output (millimetres, camera axes; on with --metric or any of these options)")
    metric.add_argument("--metric", action="store_true",
                        help="joints in millimetres with the root at its camera-space position, instead of pixels "
                             f"(the scale is estimated over the first {METRIC_CALIBRATION_S:g} s, then fixed)")
    add_metric_arguments(metric)
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of the model (default 1; 2 are faster on an idle machine, but much slower "
                             "than 1 when other work keeps the cores busy: docs/streaming.md)")
    add_runtime_arguments(parser)
    add_debug_argument(parser)
    cli = parser.parse_args(argv)
    cli.metric = cli.metric or any(getattr(cli, name) is not None for name in METRIC_OPTIONS)
    fill_defaults(cli, demo_defaults(cli, camera=cli.metric) if cli.demo else dict(DEFAULT_FILES))
    return cli


def check_stream_options(cli, maxlen):
    if not cli.json_path and not cli.vid_path:
        raise WildInputError("nothing to stream: give --json_path (a keypoint file), --vid_path (a video file, or a "
                             "camera number such as 0) or --demo")
    if not cli.json_path:
        given = [f"--{name}" for name in ("focus", "keypoints", "first_frame_id", "fps", "size")
                 if getattr(cli, name) is not None]
        if given:
            raise WildInputError(f"{', '.join(given)}: for a keypoint file (--json_path) only; a video or camera is "
                                 f"read by the built-in 2D detector, with its own fps and size: drop {' '.join(given)}")
    check_detector_options(cli)
    check_clip_len(cli, maxlen)
    if cli.lookahead < 0:
        raise WildInputError(f"--lookahead must be 0 (causal) or more frames, got {cli.lookahead}")
    if not 1 <= cli.hop <= cli.clip_len:
        raise WildInputError(f"--hop must be between 1 and --clip_len ({cli.clip_len}), got {cli.hop}")
    if not (np.isfinite(cli.speed) and cli.speed >= 0):
        raise WildInputError(f"--speed must be 0 (as fast as possible) or a positive factor, got {cli.speed:g}")
    cores = os.cpu_count() or 1
    if not 1 <= cli.threads <= cores:
        raise WildInputError(f"--threads must be between 1 and {cores} (the CPUs of this machine), got {cli.threads}")
    check_world_options(cli.height, cli.focal, cli.fov, center=cli.center)


def open_source(cli):
    """``(frames, image_size)``: a keypoint file's people replayed at its fps, or a video/camera through the detector
    and the tracker; every frame has ``people`` (by track id)."""
    if cli.json_path:
        inputs = inputs_from_args(cli)
        print(inputs.summary())
        if not inputs.video.fps:
            raise WildInputError("streaming a keypoint file feeds it at its frame rate: give --vid_path or --fps")
        return replay_people(inputs.tracks, inputs.video.fps, cli.speed), inputs.video.size
    source = VideoSource(cli.vid_path, None, cli.speed)
    try:
        max_people = cli.max_people or DEFAULT_MAX_PEOPLE
        tiles = default_tiles(source.size, max_people, cli.tiles)
        source.detect = PeopleDetector(open_video_session(max_people, source.fps, tiles), fps=source.fps)
    except BaseException:
        source.close()
        raise
    print(f"2D keypoints: {source.detect.name}, frame by frame, up to {cli.max_people or DEFAULT_MAX_PEOPLE} "
          f"people (--max_people), tracked")
    return source, source.size


class JsonLines:
    """One JSON line per pose, each written whole and flushed (a reader sees complete lines only). To a file, a line
    that cannot be written whole (a full disk) is cut off again, so the file ends with the last whole line; the error
    then says how many lines it holds."""

    def __init__(self, stream, path=None):
        self.stream = stream
        self.path = path  # a regular file: written through its descriptor, whole lines or nothing
        self.count = 0
        self.size = 0

    def write(self, frame, pose):
        record = {"frame": int(frame.index), "time": round(float(frame.time), 4)}
        if frame.person is not None:
            record["person"] = frame.person
        record["keypoints_3d"] = np.round(pose.astype(np.float64), 3).tolist()
        line = json.dumps(strict(record), allow_nan=False) + "\n"
        if self.path is None:
            self.stream.write(line)
            self.stream.flush()
        else:
            data = line.encode()
            try:
                written = 0
                while written < len(data):
                    written += os.write(self.stream.fileno(), data[written:])
            except OSError as e:
                os.ftruncate(self.stream.fileno(), self.size)  # back to the last whole line
                raise OSError(e.errno, f"{os.strerror(e.errno)}; {self.path} keeps its first {self.count} whole "
                                       f"lines", self.path) from e
            self.size += len(data)
        self.count += 1


class Preview:
    """A window with the newest video frame (and its 2D keypoints) and the latest 3D pose; q or Esc stops."""

    NAME = "stream_wild"

    def __init__(self):
        import cv2
        self.cv2 = cv2
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise WildInputError("--preview needs a display (DISPLAY is not set); run without --preview")
        try:
            cv2.namedWindow(self.NAME, cv2.WINDOW_NORMAL)
        except cv2.error as e:
            raise WildInputError("--preview needs OpenCV with a GUI (pip install opencv-python instead of "
                                 f"opencv-python-headless): {str(e).strip().splitlines()[-1]}") from e
        self.renderer = Skeleton3DRenderer(size=480)
        self.pose_image = self.renderer.background
        self.closed = False

    def pose(self, frame, pose):
        """Draw the latest emitted pose (root-relative, scaled to fit)."""
        rel = pose - pose[0]
        rel = rel / max(np.abs(rel).max() * 1.2, 1e-6)
        self.pose_image = self.renderer.render(pixel2world_vis_motion(rel[:, :, None], dim=3)[:, :, 0])

    def frame(self, frame):
        cv2 = self.cv2
        panels = [self.pose_image]
        if frame.image is not None:
            image = np.ascontiguousarray(frame.image)
            people = frame.people or ({} if frame.keypoints is None else {None: frame.keypoints})
            for keypoints in people.values():
                for a, b in BONES_RENDER_ORDER:
                    cv2.line(image, tuple(int(v) for v in keypoints[a, :2]),
                             tuple(int(v) for v in keypoints[b, :2]), (249, 103, 6), 2, cv2.LINE_AA)
            height = self.pose_image.shape[0]
            panels.insert(0, cv2.resize(image, (round(image.shape[1] * height / image.shape[0]), height)))
        cv2.imshow(self.NAME, cv2.cvtColor(np.concatenate(panels, axis=1), cv2.COLOR_RGB2BGR))
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.closed = True

    def close(self):
        self.cv2.destroyAllWindows()


@contextlib.contextmanager
def stop_on_sigint():
    """Within: Ctrl-C asks the stream to stop (the returned function says whether it was pressed) instead of
    raising in the middle of a write; the default handling comes back afterwards."""
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda signum, stack: pressed.append(signum))
    try:
        yield lambda: bool(pressed)
    finally:
        signal.signal(signal.SIGINT, previous)


def make_postprocess(cli, image_size):
    """The per-frame step from the lifter's pixel poses to the written units: :class:`MetricPoses` of each person
    with ``--metric``, else None (pixels)."""
    if not cli.metric:
        return None
    MetricPoses(image_size, cli.height, cli.focal, cli.fov, cli.center)  # bad values fail now, not at a first pose
    return PerPerson(lambda: MetricPoses(image_size, cli.height, cli.focal, cli.fov, cli.center))


def run(cli, stdout):
    """Stream as ``cli`` says; the poses go to ``DIR/X3D.jsonl`` or ``stdout``. Returns the number written."""
    cfg = load_config(cli.config, INFER_POSE3D)
    check_stream_options(cli, cfg.maxlen)
    if cli.out_path is not None:  # (an empty one is refused, not taken for stdout)
        check_output_folder(cli.out_path, [OUTPUT_NAME])
    with contextlib.ExitStack() as stack:
        preview = Preview() if cli.preview else None
        if preview is not None:
            stack.callback(preview.close)
        device = prepare_device(cli.precision)
        stack.callback(torch.set_num_threads, torch.get_num_threads())  # as it was, for a caller in this process
        torch.set_num_threads(cli.threads)
        # the model before the source: a bad checkpoint is reported before a camera or the detector starts
        if cli.onnx:
            print(f"Running {cli.onnx} with onnxruntime")
            model = make_onnx_runner(cli.onnx)
        else:
            model = load_model(cfg, cli.evaluate, "pose3d", device)
        frames, image_size = open_source(cli)
        stack.enter_context(contextlib.closing(frames))
        if cli.normalization == "frame" and not image_size:
            raise WildInputError("--normalization frame scales by the image size, which is unknown: give --vid_path "
                                 "or --size WIDTH HEIGHT, or use --normalization window")
        lifter = PeopleLifter(lambda: StreamingLifter(model, cfg, cli.clip_len, cli.lookahead, cli.hop,
                                                      cli.normalization, image_size, cli.precision, device))
        postprocess = make_postprocess(cli, image_size)
        units = "pixels" if postprocess is None else postprocess.make().describe()
        target = os.path.join(cli.out_path, OUTPUT_NAME) if cli.out_path else "stdout"
        print(f"Streaming: the pose of frame t-{cli.lookahead} when frame t arrives, a model run every {cli.hop} "
              f"frame(s) on {cli.clip_len} frames; {units}; to {target} (Ctrl-C stops)")
        if cli.out_path:  # the file appears only now, after every check
            os.makedirs(cli.out_path, exist_ok=True)
            stdout = stack.enter_context(open(target, "wb", buffering=0))
            for name in remove_partial_files(cli.out_path):
                print(f"removed {name}: a temporary file of an earlier run that was killed")
        lines = JsonLines(stdout, target if cli.out_path else None)
        write, watch = lines.write, None
        if preview is not None:
            write = lambda frame, pose: (lines.write(frame, pose), preview.pose(frame, pose))  # noqa: E731
            watch = preview.frame
        stopped = stack.enter_context(stop_on_sigint())
        try:
            run_stream(frames, lifter, write, postprocess,
                       stop=lambda: stopped() or (preview is not None and preview.closed), watch=watch)
        except BrokenPipeError:  # the reader of stdout went away: nothing more to write to
            os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())  # no second error when Python exits
            print(f"stdout was closed by its reader: stopped after {lines.count} poses", file=sys.stderr)
            return lines.count
        if stopped():
            print("stopped (Ctrl-C)", file=sys.stderr)
    if cli.out_path:
        write_manifest(cli.out_path, [OUTPUT_NAME], "stream_wild.py")
    print(f"Wrote {lines.count} poses to {target}", file=sys.stderr)
    return lines.count


def main(argv=None):
    cli = parse_args(argv)
    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the poses only
        run(cli, stdout)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
