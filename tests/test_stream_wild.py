"""stream_wild.py end to end: JSON lines, stdout, offline equivalence, a video through the built-in detector, metric
output, gaps, people, Ctrl-C, a closed stdout."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import stream_wild
from conftest import REPO
from lib.data.wild_input import load_wild_inputs
from lib.inference import lift_pixels, load_model
from lib.data.stream_input import StreamFrame
from lib.streaming import MetricPoses, StreamingLifter
from lib.utils.tools import get_config
from test_infer_wild import CHECKPOINT, CONFIG, SINGLE, TWO, write_json

SIZE = ["--size", "1920", "1080"]
BASE = ["--config", CONFIG, "-e", CHECKPOINT, *SIZE, "--fps", "30", "--speed", "0"]


def read_lines(path):
    with open(path) as f:
        text = f.read()
    assert text == "" or text.endswith("\n"), "the last line is cut"
    return [json.loads(line) for line in text.splitlines()]


def poses_of(lines):
    return np.array([line["keypoints_3d"] for line in lines])


def test_writes_one_json_line_per_frame_as_the_lifter_emits_them(tmp_path):
    assert stream_wild.main(BASE + ["-j", SINGLE, "-o", str(tmp_path), "--lookahead", "5", "--hop", "2"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["X3D.jsonl", "manifest.json"]
    assert json.load(open(tmp_path / "manifest.json"))["runs"]["stream_wild.py"]["files"] == ["X3D.jsonl"]
    lines = read_lines(tmp_path / "X3D.jsonl")
    assert [line["frame"] for line in lines] == list(range(45))
    assert [line["time"] for line in lines] == [round(t / 30, 4) for t in range(45)]
    cfg = get_config(CONFIG)
    lifter = StreamingLifter(load_model(cfg, CHECKPOINT, "pose3d", "cpu"), cfg, lookahead=5, hop=2,
                             image_size=(1920, 1080))
    keypoints = load_wild_inputs(SINGLE).tracks[0].keypoints
    expected = [p.pose for t in range(45) for p in lifter.push(keypoints[t])] + [p.pose for p in lifter.flush()]
    np.testing.assert_allclose(poses_of(lines), np.stack(expected), atol=6e-4)  # rounded to 3 decimals


def test_full_lookahead_gives_the_offline_poses(tmp_path):
    """45 frames, windows of 27 every 9: L = 18 is full look-ahead, the last window is on the grid."""
    stream_wild.main(BASE + ["-j", SINGLE, "-o", str(tmp_path), "--lookahead", "18", "--hop", "9"])
    cfg = get_config(CONFIG)
    offline = lift_pixels(load_wild_inputs(SINGLE).tracks[0].keypoints, (1920, 1080),
                          load_model(cfg, CHECKPOINT, "pose3d", "cpu"), cfg, stride=9)
    np.testing.assert_allclose(poses_of(read_lines(tmp_path / "X3D.jsonl")), offline, atol=2e-3)


def test_stdout_carries_the_poses_only(capsys):
    stream_wild.main(BASE + ["-j", SINGLE, "--lookahead", "0"])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [line["frame"] for line in lines] == list(range(45))
    assert "Loading checkpoint" in captured.err and "Wrote 45 poses to stdout" in captured.err


def test_frames_without_a_detection_leave_a_gap(tmp_path):
    entries = [e for e in json.load(open(SINGLE)) if not 10 <= int(e["image_id"].split(".")[0]) < 15]
    stream_wild.main(BASE + ["-j", write_json(tmp_path / "gap.json", entries), "-o", str(tmp_path / "out")])
    frames = [line["frame"] for line in read_lines(tmp_path / "out" / "X3D.jsonl")]
    assert frames == [t for t in range(45) if not 10 <= t < 15]


def test_one_person_of_several_with_focus(tmp_path):
    stream_wild.main(BASE + ["-j", TWO, "--focus", "2", "-o", str(tmp_path)])
    track = load_wild_inputs(TWO, focus=2).tracks[0]
    assert [line["frame"] for line in read_lines(tmp_path / "X3D.jsonl")] == list(np.nonzero(track.detected)[0])


def demo_clip(path, n_frames=60):
    """The first ``n_frames`` frames of the demo video."""
    import imageio_ffmpeg
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i",
                    os.path.join(REPO, "examples", "demo.mp4"), "-frames:v", str(n_frames), str(path)], check=True)
    return str(path)


def test_a_video_streams_through_the_built_in_detector_as_offline_lifts_its_detections(tmp_path):
    """The demo model on a video from its pixels, at full look-ahead: the poses of offline lifting of the same
    detector's keypoints (lib.data.detector.detect: another decoder, swaps corrected over the whole video). Live,
    a person's poses start once the tracker has confirmed them (their first CONFIRM_FRAMES - 1 frames are not
    lifted)."""
    from lib.data.detector import detect
    from lib.data.tracking import CONFIRM_FRAMES
    from lib.skeleton import to_h36m
    video = demo_clip(tmp_path / "clip.mp4")
    assert stream_wild.main(["--demo", "-v", video, "--speed", "0", "--lookahead", "26", "-o", str(tmp_path)]) == 0
    lines = read_lines(tmp_path / "X3D.jsonl")
    start = CONFIRM_FRAMES - 1
    assert [line["frame"] for line in lines] == list(range(start, 60)) and {line["person"] for line in lines} == {0}
    assert [line["time"] for line in lines] == [round(t / 25, 4) for t in range(start, 60)]
    detections = detect(video, progress=False)
    cfg = get_config(stream_wild.DEMO["config"])
    offline = lift_pixels(to_h36m(detections.people[0].keypoints[start:], "blazepose33"), detections.size,
                          load_model(cfg, stream_wild.DEMO["evaluate"], "pose3d", "cpu"), cfg, stride=1)
    streamed = poses_of(lines)
    error = np.linalg.norm((streamed - streamed[:, :1]) - (offline - offline[:, :1]), axis=-1)
    assert error.mean() < 1.0 and np.median(error) < 0.5  # pixels, on a person about 170 px tall


def test_metric_output_is_the_pixel_stream_in_millimetres(tmp_path):
    args = BASE + ["-j", SINGLE, "--lookahead", "4"]
    stream_wild.main(args + ["-o", str(tmp_path / "px")])
    stream_wild.main(args + ["-o", str(tmp_path / "mm"), "--height", "1.8", "--focal", "1500"])
    pixels, metric = (read_lines(tmp_path / name / "X3D.jsonl") for name in ("px", "mm"))
    keypoints = load_wild_inputs(SINGLE).tracks[0].keypoints
    expected = MetricPoses((1920, 1080), height=1.8, focal=1500.0)
    expected = [expected(StreamFrame(line["frame"], line["time"], keypoints[line["frame"]]),
                         np.array(line["keypoints_3d"])) for line in pixels]
    np.testing.assert_allclose(poses_of(metric), np.stack(expected), atol=0.05)


def _start(args, **kwargs):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    return subprocess.Popen([sys.executable, os.path.join(REPO, "stream_wild.py"), "--config", CONFIG, "-e",
                             CHECKPOINT, "-j", SINGLE, *SIZE, *args], env=env, cwd=REPO, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def test_ctrl_c_stops_cleanly_and_leaves_whole_lines(tmp_path):
    """SIGINT in the middle of a real-time stream (45 frames at 10 fps): exit 0, every line whole, the
    poses of every frame read so far written (those waiting for look-ahead flushed), no more."""
    out = tmp_path / "X3D.jsonl"
    process = _start(["--fps", "10", "--lookahead", "9", "-o", str(tmp_path)])
    try:
        deadline = time.monotonic() + 120
        while not (out.exists() and len(read_lines(out)) >= 3):
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.05)
        seen = len(read_lines(out))
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "stopped (Ctrl-C)" in stderr and "Traceback" not in stderr
    frames = [line["frame"] for line in read_lines(out)]
    assert frames == list(range(len(frames))) and len(frames) < 45
    # the 9 poses that were waiting for look-ahead when the signal came were flushed
    assert len(frames) >= seen + 9 and f"Wrote {len(frames)} poses" in stderr


def test_a_reader_closing_stdout_ends_the_stream_cleanly():
    process = _start(["--fps", "30", "--lookahead", "0"], stdout=subprocess.PIPE)
    try:
        first = process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read()
        process.wait(timeout=60)
    finally:
        process.kill()
    assert json.loads(first)["frame"] == 0
    assert process.returncode == 0, stderr
    assert "stdout was closed by its reader" in stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr


@pytest.mark.parametrize("args,message", [
    (["--vid_path", "99"], "cannot open camera 99"),
    (["-j", SINGLE, "--lookahead", "-2"], "--lookahead"),
    (["--vid_path", "99", "--fps", "30"], "--fps: for a keypoint file"),
    (["-j", SINGLE, "--fps", "30", "--height", "0.2"], "--height"),
])
def test_bad_options_are_user_errors(args, message):
    from lib.utils.errors import UserError
    with pytest.raises(UserError, match=message):
        stream_wild.main(["--config", CONFIG, "-e", CHECKPOINT, "--speed", "0"] + args)


def test_the_preview_shows_each_frame_and_the_latest_pose(tmp_path, monkeypatch):
    """The preview's drawing, with OpenCV's window calls replaced (no display here): one image per frame,
    the video frame (with its 2D skeleton) beside the 3D pose; q closes it and stops the stream."""
    import cv2
    from lib.data.stream_input import StreamFrame
    shown, keys = [], iter([-1] * 5 + [ord("q")] + [-1] * 100)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(cv2, "imshow", lambda name, image: shown.append(image.shape))
    monkeypatch.setattr(cv2, "waitKey", lambda delay: next(keys))
    monkeypatch.setattr(cv2, "destroyAllWindows", lambda: None)
    stream_wild.main(BASE + ["-j", SINGLE, "-o", str(tmp_path), "--preview", "--lookahead", "2"])
    assert len(shown) == 6 and shown[0] == (480, 480, 3)  # stopped by q after the sixth frame
    assert [line["frame"] for line in read_lines(tmp_path / "X3D.jsonl")] == list(range(6))
    preview = stream_wild.Preview()
    keypoints = load_wild_inputs(SINGLE).tracks[0].keypoints[0] / 6
    preview.pose(None, keypoints * [1, 1, 0])
    preview.frame(StreamFrame(0, 0.0, keypoints, np.zeros((240, 320, 3), dtype=np.uint8)))
    assert shown[-1] == (480, 640 + 480, 3)


def test_several_people_stream_each_as_they_would_alone(tmp_path):
    """A keypoint file of two people, without --focus: one line per person and frame (``person`` their track id);
    each person's lines are the stream of that person alone."""
    stream_wild.main(BASE + ["-j", TWO, "--lookahead", "4", "-o", str(tmp_path / "both")])
    lines = read_lines(tmp_path / "both" / "X3D.jsonl")
    assert {line["person"] for line in lines} == {1, 2}
    for person in (1, 2):
        stream_wild.main(BASE + ["-j", TWO, "--lookahead", "4", "--focus", str(person), "-o", str(tmp_path / "one")])
        alone = read_lines(tmp_path / "one" / "X3D.jsonl")
        mine = [line for line in lines if line["person"] == person]
        assert [line["frame"] for line in mine] == [line["frame"] for line in alone]
        np.testing.assert_allclose(poses_of(mine), poses_of(alone), atol=1e-3)


def test_a_full_disk_keeps_whole_lines_and_is_one_error(tmp_path, monkeypatch):
    """The disk fills up in the middle of a line: the file keeps its whole lines, and the run ends with the disk-full
    error (lib.utils.cli.run_cli prints it as one line)."""
    import errno
    real_write, written = os.write, []

    def filling(fd, data):
        if len(written) == 5:  # the sixth line finds the disk full after a few bytes
            real_write(fd, data[:7])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(stream_wild.os, "write", filling)
    with pytest.raises(OSError) as caught:
        stream_wild.main(BASE + ["-j", SINGLE, "-o", str(tmp_path), "--lookahead", "0"])
    assert caught.value.errno == errno.ENOSPC and "keeps its first 5 whole lines" in str(caught.value)
    assert len(read_lines(tmp_path / "X3D.jsonl")) == 5
