"""3D poses from the 2D keypoints of your own video (docs/inference.md).

    python infer_wild.py --vid_path video.mp4 --json_path alphapose-results.json --out_path output/
    python infer_wild.py --vid_path video.mp4 --out_path output/    # built-in 2D detector: everyone in it

Writes ``X3D.npy`` (float32 ``(F, 17, 3)``, one pose per video frame), ``X3D.json`` (the same with
joint names, units, fps and size) and ``X3D.mp4`` (rendered skeleton); the same motion in metres,
upright and on the ground (``lib/world``) as ``X3D_world.npy`` (mm; the heels and toes in
``X3D_world_feet.npy`` when the input has foot keypoints), ``X3D.bvh``, ``X3D.trc``, ``X3D.csv``
(``--export``) and the joint angles ``X3D_angles.csv`` / ``.png`` (``--no_world``: none of them); without
``--json_path`` also ``keypoints_2d.json`` (the detected 2D keypoints, AlphaPose layout: give it as
``--json_path`` to skip detection). With several people and no ``--focus``, one ``X3D_<id>.*`` set per
person, in one shared world. ``--stride`` equal to ``--clip_len`` reproduces the original's
non-overlapping chunks (and its ``X3D.npy``); the default blends overlapping windows so poses do not jump
at chunk borders.

A run is a pipeline: the model loads in the background while the video is decoded and its people detected; then
every person is lifted and placed in the world, their motion files are written (and appear in the folder), and
last the renders (``X3D*.mp4``, ``overlay.mp4``, the angle plots) are drawn side by side; ``--no_render`` skips
the videos. One progress bar covers the whole run.
"""
import argparse
import os
from concurrent.futures import ThreadPoolExecutor

import cv2
import imageio
import numpy as np
from tqdm import tqdm

from lib.data.detector import KEYPOINTS_FILE, inputs_from_video_or_file, save_detections
from lib.data.detector.tiles import TILE_WORKERS
from lib.data.wild_input import WildInputError, add_input_arguments, normalize_keypoints, pixel_mapping
from lib.inference import (DEFAULT_FILES, DEMO_FILES, BackgroundModel, add_model_arguments, add_runtime_arguments,
                           add_window_arguments, check_window_options, demo_defaults, fill_defaults, lift, load_model,
                           make_onnx_runner, normalization, plan_windows, prepare_device, report_outputs, to_pixels)
from lib.skeleton import BONE_SIDES, BONES_RENDER_ORDER, JOINT_NAMES, LEFT, RIGHT
from lib.utils.cli import add_debug_argument, run_cli
from lib.utils.config_schema import INFER_POSE3D, load_config
from lib.utils.outputs import OutputSet, check_output_folder, write_json
from lib.utils.progress import RunProgress, StageClock, seconds_since_process_start
from lib.utils.vismo import FAST_ENCODING, hex2rgb, render_and_save
from lib.world.options import add_world_arguments, check_world_arguments


# the files of an infer_wild.py run: a run removes those of an earlier run into its folder that it does not write again
OWNED_OUTPUTS = ("X3D*", KEYPOINTS_FILE, "overlay.mp4")
# the offline demo (docs/demo.md); its files ship with the repository, so paths are relative to it
DEMO = {**DEMO_FILES, "out_path": os.path.join("output", "demo")}
# the expected seconds per unit of each stage of a run on 2 cores (bench/bench_pipeline.py), for the run's progress
# bar and its time left: detection per frame and tile (one person on the whole frame; several people cost about
# DETECT_PEOPLE_FACTOR times as much), lifting per window, the world step and the motion files per person-frame,
# rendering per person-frame (X3D.mp4, the angle plot per person), the overlay per frame
STAGE_COSTS = {"detect 2D": 0.03, "lift": 0.05, "world": 0.004, "write": 0.001, "render": 0.012, "overlay": 0.03}
DETECT_PEOPLE_FACTOR = 1.8
STARTUP = "start-up"  # to the first frame detected (or the keypoint file read)
RENDER_WORKERS = 2  # renders drawn at once (each one's H.264 encoder, ffmpeg, runs beside it)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--demo", action="store_true",
                        help="the offline demo: the small model trained on open motion capture "
                             f"({DEMO['config']}, {DEMO['evaluate']}) on the 2D keypoints that the built-in "
                             f"detector finds in {DEMO['vid_path']}; --out_path defaults to {DEMO['out_path']} "
                             f"(docs/demo.md)")
    add_input_arguments(parser, required=False)
    add_window_arguments(parser)
    add_runtime_arguments(parser)
    parser.add_argument("--overlay", action="store_true",
                        help="also write overlay.mp4: the 2D input skeletons drawn on the video")
    parser.add_argument("--no_render", action="store_true",
                        help="do not render X3D.mp4 (X3D_<id>.mp4): the motion files only, about as fast as the "
                             "detector")
    add_world_arguments(parser)
    add_debug_argument(parser)
    cli = parser.parse_args(argv)
    defaults = {**demo_defaults(cli, camera=not cli.no_world), "out_path": DEMO["out_path"]} if cli.demo else \
        dict(DEFAULT_FILES)
    fill_defaults(cli, defaults)
    if cli.out_path is None:
        parser.error("--out_path is required (or run --demo)")
    return cli


def x3d_json(results, track, video, cli, mapping, stride):
    """``X3D.json``: the poses of ``X3D.npy`` with joint names, units and the video's fps and size
    (null when unknown: no video and no --fps/--size)."""
    pixel = cli.pixel
    doc = {
        "description": "MotionBERT 3D poses, one per video frame (see docs/inference.md)",
        "track_id": track.track_id,
        "fps": video.fps,
        "width": video.width,
        "height": video.height,
        "n_frames": int(len(results)),
        "joint_names": list(JOINT_NAMES),
        "bones": [list(b) for b in BONES_RENDER_ORDER],
        "units": "pixels" if pixel else "normalised",
        "axes": "x: image right, y: image down, z: depth away from the camera, in the units of x and y",
        "origin": ("x, y: image pixels (origin at the top-left corner); z: 0 at the root (pelvis) of the first "
                   "frame" if pixel else
                   "x, y: the person's 2D bounding box over the whole video, mapped to [-1, 1] (longer side); "
                   "z: 0 at the root (pelvis) of the first frame"),
        "window": {"clip_len": cli.clip_len, "stride": stride,
                   "mode": "chunks (original)" if stride == cli.clip_len else "overlapping windows, blended"},
    }
    if stride == cli.clip_len:
        doc["origin"] = doc["origin"].replace("of the first frame", "of the first frame of every chunk "
                                              "(as the original; other frames keep the model's depth)")
    if not pixel and mapping is not None:
        scale, offset = mapping
        doc["to_pixels"] = {"scale": float(scale), "offset": [float(o) for o in offset],
                            "formula": "pixel_x = x * scale + offset[0]; pixel_y = y * scale + offset[1]; "
                                       "pixel_z = z * scale"}
    conf = track.keypoints[:, :, 2]
    doc["frames"] = [{"frame": t, "detected": bool(track.detected[t]),
                      "keypoints_3d": np.round(results[t].astype(np.float64), 6).tolist(),
                      "confidence_2d": np.round(conf[t], 4).tolist()} for t in range(len(results))]
    return doc


# one colour per person in overlay.mp4 (RGB; distinct hues, readable on light and dark pictures); a person's left
# side is drawn lighter, their right side darker
PERSON_COLORS = hex2rgb("#F96706#1F77B4#2CA02C#D62728#9467BD#8C564B#E377C2#17BECF#BCBD22#7F7F7F")


def _shade(color, factor):
    """``color`` towards white (factor > 1) or black (factor < 1)."""
    if factor >= 1:
        return tuple(int(round(c + (255 - c) * (factor - 1))) for c in color)
    return tuple(int(round(c * factor)) for c in color)


def write_overlay(video, tracks, save_path, progress=None):
    """The input video with every person's 2D skeleton drawn on it, each person in their own colour (left side
    lighter, right side darker) and labelled with their id; frames where a person was not detected (filled by
    interpolation) in grey, and nothing outside the frames where they were seen. ``progress``: called once per
    frame, instead of this function's own bar."""
    thickness = max(2, round(min(video.size) / 300))
    spans = [track.span for track in tracks]
    reader = imageio.get_reader(video.path, "ffmpeg")
    writer = imageio.get_writer(save_path, fps=video.fps, macro_block_size=2, ffmpeg_params=FAST_ENCODING)
    try:
        for t, frame in enumerate(tqdm(reader, total=video.n_frames, desc="overlay", disable=bool(progress))):
            if t >= video.n_frames:
                break
            img = np.ascontiguousarray(frame[..., :3])
            for k, (track, (first, end)) in enumerate(zip(tracks, spans)):
                if not first <= t < end:
                    continue
                base = PERSON_COLORS[k % len(PERSON_COLORS)]
                side_colors = {LEFT: _shade(base, 1.45), RIGHT: _shade(base, 0.7)}
                kpts = track.keypoints[t]
                pts = np.round(kpts[:, :2] * 16).astype(np.int64)
                for bone in BONES_RENDER_ORDER:
                    color = side_colors.get(BONE_SIDES[bone], base) if track.detected[t] else (160, 160, 160)
                    cv2.line(img, tuple(pts[bone[0]]), tuple(pts[bone[1]]), color, thickness, cv2.LINE_AA, shift=4)
                if len(tracks) > 1:
                    head = tuple(int(v) for v in kpts[10, :2])
                    cv2.putText(img, str(track.track_id), (head[0], head[1] - 10), cv2.FONT_HERSHEY_SIMPLEX,
                                thickness / 3, base, thickness, cv2.LINE_AA)
            writer.append_data(img)
            if progress:
                progress()
    finally:
        writer.close()
        reader.close()


def world_files(stem, exports, feet=False):
    """The world-motion files of one person: ``<stem>_world.npy`` (and ``<stem>_world_feet.npy`` with ``feet``), one per
    format of ``exports``, then the joint angles ``<stem>_angles.csv`` and their plot ``<stem>_angles.png``."""
    arrays = [stem + "_world.npy"] + ([stem + "_world_feet.npy"] if feet else [])
    return arrays + [f"{stem}.{fmt}" for fmt in exports] + [stem + "_angles.csv", stem + "_angles.png"]


def output_names(tracks, overlay=False, exports=None, feet=False, render=True):
    """Output file stems per track (``X3D``, or ``X3D_<id>`` with several people) and every file name;
    ``exports``: the world-motion formats (None: no world motion); ``feet``: the input has foot keypoints;
    ``render``: ``X3D.mp4`` too."""
    stems = {t.name: f"X3D_{t.name}" if len(tracks) > 1 else "X3D" for t in tracks}
    names = []
    for stem in stems.values():
        names += [stem + ext for ext in (".npy", ".json") + ((".mp4",) if render else ())]
        names += world_files(stem, exports, feet) if exports is not None else []
    return stems, names + (["overlay.mp4"] if overlay else [])


def write_world(out, stem, motion, exports):
    """One person's world motion (``lib/world``): ``<stem>_world.npy`` (and the feet), the ``exports`` files and the
    joint angles' CSV; returns its description for ``X3D.json`` (with the foot contacts per frame) and the angles
    (:func:`lib.world.angles.motion_angles`, for their plot ``<stem>_angles.png``, a render)."""
    from lib.export import write_export
    from lib.world.angles import motion_angles, write_angles_csv

    files = world_files(stem, exports, motion.feet is not None)
    np.save(out.path(stem + "_world.npy"), motion.joints.astype(np.float32))
    if motion.feet is not None:
        np.save(out.path(stem + "_world_feet.npy"), motion.feet.astype(np.float32))
    for fmt in exports:
        write_export(fmt, out.path(f"{stem}.{fmt}"), motion, name=f"{stem}.{fmt}")
    angles = motion_angles(motion)
    write_angles_csv(out.path(stem + "_angles.csv"), motion, angles)
    doc = motion.describe()
    doc["files"] = files
    doc["foot_contact"] = motion.contacts.astype(int).tolist()
    return doc, angles


def person_span(track, n_people):
    """The frames ``(first, end)`` a person is lifted over and their ``X3D*.mp4`` covers: with several people each
    one's frames from their first to their last detection (fleeting tracks are common in crowds, and the held
    frames before and after cost as much to lift and to encode as real ones), with one person every frame of the
    video."""
    return track.span if n_people > 1 else (0, len(track.detected))


def held_outside(poses, first, n_frames):
    """One pose per video frame from the poses of frames ``first ...``: the first and last held before and after
    (as the person's 2D keypoints are)."""
    return np.pad(poses, ((first, n_frames - first - len(poses)), (0, 0), (0, 0)), mode="edge")


def background_model(cfg, cli):
    """The run's lifting model (or its ONNX runner) and device, loading in the background (:class:`BackgroundModel`)."""
    def load(log):
        device = prepare_device(cli.precision)
        if cli.onnx:
            log(f"Running {cli.onnx} with onnxruntime")
            return make_onnx_runner(cli.onnx), device
        return load_model(cfg, cli.evaluate, "pose3d", device, log=log), device
    return BackgroundModel(load)


def detection_cost(cli):
    """The expected seconds per frame of the built-in detector with the run's options (for the progress bar)."""
    max_people = cli.max_people if cli.max_people is not None else 6
    if max_people == 1:
        return STAGE_COSTS["detect 2D"]
    tiles = cli.tiles or 3
    return STAGE_COSTS["detect 2D"] * DETECT_PEOPLE_FACTOR * tiles / min(tiles, TILE_WORKERS)


def run(cli):
    exports = check_world_arguments(cli)
    cfg = load_config(cli.config, INFER_POSE3D)
    stride = check_window_options(cli, cfg.maxlen)
    if cli.overlay and not cli.vid_path:
        raise WildInputError("--overlay draws on the input video: give it with --vid_path")
    model = background_model(cfg, cli)
    render = not cli.no_render
    stages = {name: (0, cost) for name, cost in STAGE_COSTS.items()}
    clock, started = StageClock(), seconds_since_process_start()
    with RunProgress(stages, desc="infer_wild") as progress:
        def on_frame(t, n_frames):  # the detector's frames: the model loads meanwhile
            if t == 0:
                progress.plan("detect 2D", n_frames, detection_cost(cli))
                progress.plan("world", n_frames)  # one person, until it is known how many
                clock.mark(STARTUP)
            progress.advance("detect 2D")
            model.poll()
        inputs, detections = inputs_from_video_or_file(cli, on_frame=on_frame)
        clock.mark("detection" if detections is not None else "reading the keypoints")
        print(inputs.summary())
        video, tracks = inputs.video, inputs.tracks
        if exports is not None and video.size is not None:  # camera values against the picture, before the work
            from lib.world import check_camera

            check_camera(video.size, cli.focal, cli.fov, cli.center)
        motions = [normalize_keypoints(track.keypoints, **normalization(cli, video)) for track in tracks]
        stems, names = output_names(tracks, cli.overlay, exports, inputs.fmt.feet is not None, render)
        check_output_folder(cli.out_path, names)
        person_frames = sum(len(m) for m in motions)
        spans = [person_span(track, len(tracks)) for track in tracks]
        progress.plan("lift", sum(len(plan_windows(end - first, cli.clip_len, stride)) for first, end in spans))
        progress.plan("world", person_frames if exports is not None else 0)
        progress.plan("write", person_frames)
        progress.plan("render", sum(end - first for first, end in spans) if render else 0)
        progress.plan("overlay", video.n_frames if cli.overlay else 0)
        lifter, device = model.get()
        clock.mark("waiting for the model")
        with OutputSet(cli.out_path, owned=OWNED_OUTPUTS, script="infer_wild.py") as out, \
                Renders(out, video, progress) as renders:
            # everyone is lifted before the renders start: torch's threads wait for each other at every operator, so
            # sharing the cores with the renders' drawing and encoders made the lifting 4-5 times slower
            results = [held_outside(lift(motion[first:end], lifter, cfg, cli.clip_len, stride, cli.precision, device,
                                         desc=f"lift person {track.track_id}", progress=progress.stage("lift")),
                                    first, len(motion))
                       for track, motion, (first, end) in zip(tracks, motions, spans)]
            clock.mark("lifting")
            for track, poses, (first, end) in zip(tracks, results, spans) if render else ():  # beside the motion files
                renders.person(poses[first:end], stems[track.name])
            if cli.overlay:
                renders.overlay(tracks)
            if exports is not None:
                from lib.world import world_of_tracks  # SciPy's parts, imported once the people are found

                worlds = world_of_tracks(results, inputs, cli)
            else:
                worlds = [None] * len(tracks)
            progress.advance("world", person_frames if exports is not None else 0)
            clock.mark("world")
            if worlds[0] is not None:  # what the world motion assumed and found: the same for everyone of the video
                for note in worlds[0].notes + ([worlds[0].ground.reason] if worlds[0].ground.reason else []):
                    print(f"  world: {note}")
            save_detections(out, detections)
            plots = write_motion_files(out, cli, inputs, results, worlds, stems, exports, stride, progress)
            out.publish(exclude=renders.being_written)  # the motion files are in the folder; the renders follow
            clock.mark("motion files")
            renders.finish(plots)
            clock.mark("renders")
    written = report_outputs(out)
    # the start-up: the seconds before run() (the interpreter and the imports) and to the first frame detected
    startup = clock.seconds.pop(STARTUP, 0.0) + (started or 0.0)
    clock.seconds = {STARTUP: startup, **clock.seconds}
    print(clock.line(sum(clock.seconds.values()), inputs.video.n_frames))
    return written


def write_motion_files(out, cli, inputs, results, worlds, stems, exports, stride, progress):
    """Every person's ``X3D.npy``, ``X3D.json`` and world-motion files; returns the angle plots still to draw
    ``[(file name, motion, angles, title)]``."""
    video, plots = inputs.video, []
    for track, poses, world in zip(inputs.tracks, results, worlds):
        mapping = pixel_mapping(track.keypoints, **normalization(cli, video))
        stem = stems[track.name]
        world_doc = None
        if world is not None and world.implausible:  # never write a motion no person can make
            print(f"  warning: person {track.track_id}: no world motion written: {world.implausible}")
            world_doc = {"skipped": world.implausible}
        elif world is not None:
            world_doc, angles = write_world(out, stem, world, exports)
            plots.append((stem + "_angles.png", world, angles, f"person {track.track_id}: joint angles"))
        if cli.pixel:
            poses = to_pixels(poses, video.size)
        np.save(out.path(stem + ".npy"), poses)
        doc = x3d_json(poses, track, video, cli, mapping, stride)
        if world_doc is not None:
            doc["world"] = world_doc
        write_json(out.path(stem + ".json"), doc)
        progress.advance("write", len(poses))
    return plots


class Renders:
    """The run's videos, each drawn in a thread once everyone is lifted: ``X3D.mp4`` per person (while the world
    step runs and the motion files are written) and ``overlay.mp4``, :data:`RENDER_WORKERS` at a time
    (drawing and encoding release the GIL; each encoder is its own ffmpeg process); :meth:`finish` draws the angle
    plots in this thread (matplotlib is not thread-safe) and waits for the videos."""

    def __init__(self, out, video, progress):
        self.out, self.video, self.progress = out, video, progress
        self.pool = ThreadPoolExecutor(RENDER_WORKERS, thread_name_prefix="render")
        self.jobs = {}  # temporary path -> future

    @property
    def being_written(self):
        """The temporary paths of the videos not finished (or failed: never published), which
        ``OutputSet.publish`` leaves."""
        return [path for path, job in self.jobs.items() if not (job.done() and job.exception() is None)]

    def person(self, poses, stem):
        path = self.out.path(stem + ".mp4")
        self.jobs[path] = self.pool.submit(render_and_save, poses, path, keep_imgs=False, fps=self.video.playback_fps,
                                           progress=self.progress.stage("render"))

    def overlay(self, tracks):
        path = self.out.path("overlay.mp4")
        self.jobs[path] = self.pool.submit(write_overlay, self.video, tracks, path,
                                           progress=self.progress.stage("overlay"))

    def finish(self, plots):
        from lib.world.angles import plot_angles

        for name, motion, angles, title in plots:
            plot_angles(self.out.path(name), motion, angles, title=title)
        for job in self.jobs.values():
            job.result()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pool.shutdown(wait=True, cancel_futures=True)  # before the output set removes what a failed run wrote
        return False


def main(argv=None):
    return run(parse_args(argv))


if __name__ == "__main__":
    run_cli(main)
