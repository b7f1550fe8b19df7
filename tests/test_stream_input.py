"""lib/data/stream_input.py: keypoint replay at its fps, pacing, video and camera sources."""
import numpy as np
import pytest

from lib.data.detector import COCO17_MIRROR_GROUPS
from lib.data.stream_input import FrameDetector, StreamFrame, VideoSource, paced, replay_track, video_spec
from lib.data.wild_input import PoseTrack, WildInputError
from lib.skeleton import BLAZEPOSE33_COCO17, FORMATS
from test_infer_wild import make_video


class FakeClock:
    """A clock that only moves when the code sleeps."""

    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def track(n=6, missing=(2, 3)):
    keypoints = np.arange(n * 17 * 3, dtype=float).reshape(n, 17, 3)
    detected = np.array([t not in missing for t in range(n)])
    return PoseTrack(1, keypoints, detected)


def test_replay_gives_every_frame_with_its_time_and_none_where_nobody_was_detected():
    clock = FakeClock()
    frames = list(replay_track(track(), fps=25, clock=clock.clock, sleep=clock.sleep))
    assert [f.index for f in frames] == list(range(6))
    assert [f.time for f in frames] == [t / 25 for t in range(6)]
    assert [f.keypoints is None for f in frames] == [False, False, True, True, False, False]
    np.testing.assert_array_equal(frames[4].keypoints, track().keypoints[4])
    # paced in real time: the clock ends where the last frame is due
    assert clock.now == pytest.approx(100 + 5 / 25)


def test_pacing_follows_the_time_stamps_at_any_speed_and_never_waits_to_catch_up():
    frames = [StreamFrame(t, t * 0.1, None) for t in range(5)]
    clock = FakeClock()
    list(paced(frames, speed=2, clock=clock.clock, sleep=clock.sleep))
    assert clock.sleeps == pytest.approx([0.05] * 4)
    clock = FakeClock()
    assert len(list(paced(frames, speed=0, clock=clock.clock, sleep=clock.sleep))) == 5 and clock.sleeps == []

    def slow():  # a source that is late already: no waiting
        for frame in frames:
            clock.now += 0.3
            yield frame
    clock = FakeClock()
    list(paced(slow(), clock=clock.clock, sleep=clock.sleep))
    assert clock.sleeps == []


def test_a_number_is_a_camera_unless_a_file_has_that_name(tmp_path, monkeypatch):
    assert video_spec("0") == 0 and video_spec("video.mp4") == "video.mp4"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "1").write_text("")
    assert video_spec("1") == "1"


def test_a_video_file_goes_frame_by_frame_through_the_detector(tmp_path):
    path = make_video(tmp_path / "clip.mp4", 7, fps=20)
    seen = []

    def detect(image):
        seen.append(image.shape)
        return None if len(seen) == 3 else np.full((17, 3), len(seen), dtype=float)

    source = VideoSource(path, detect)
    assert source.fps == 20 and source.size == (320, 240) and not source.is_camera
    frames = list(source)
    assert [f.index for f in frames] == list(range(7)) and [f.time for f in frames] == [t / 20 for t in range(7)]
    assert seen == [(240, 320, 3)] * 7 and frames[2].keypoints is None and frames[3].keypoints[0, 0] == 4
    assert frames[0].image.dtype == np.uint8 and frames[0].image.shape == (240, 320, 3)


def test_a_missing_camera_or_video_is_one_user_error(tmp_path):
    with pytest.raises(WildInputError, match="cannot open camera 99"):
        VideoSource("99", None)
    with pytest.raises(WildInputError, match="video not found"):
        VideoSource(str(tmp_path / "none.mp4"), None)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"no video" * 100)
    with pytest.raises(WildInputError, match="cannot open the video"):
        VideoSource(str(broken), None)


class FakeSession:
    """A detector session that gives prepared COCO-17 detections, one per frame."""
    name = "fake"

    def __init__(self, detections):
        self.detections, self.closed = list(detections), False

    def process(self, image):
        return self.detections.pop(0)

    def close(self):
        self.closed = True


def walking_coco17(n):
    """COCO-17 keypoints of a figure moving right, its left side at larger x (as seen from behind)."""
    base = np.zeros((17, 3))
    base[:, 0] = 100 + 10 * np.arange(17) % 7
    base[:, 1] = 50 + 20 * np.arange(17)
    for left, right in COCO17_MIRROR_GROUPS.values():
        base[list(left), 0] += 40
        base[list(right), 0] -= 40
    base[:, 2] = 0.9
    return np.stack([base + [3.0 * t, 0, 0] for t in range(n)])


def test_the_frame_detector_gives_h36m_keypoints_and_undoes_a_left_right_swap_causally():
    coco = walking_coco17(12)
    detections = list(coco)
    left, right = COCO17_MIRROR_GROUPS["arms"]
    swapped = coco[7].copy()
    swapped[list(left) + list(right)] = coco[7][list(right) + list(left)]
    detections[7] = swapped  # the detector mistook the arms in frame 7
    detections[4] = None     # and found nobody in frame 4
    session = FakeSession(detections)
    detector = FrameDetector(session)
    out = [detector(np.zeros((8, 8, 3), dtype=np.uint8)) for _ in range(12)]
    assert out[4] is None
    expected = FORMATS["coco17"].to_h36m(coco)
    for t in (0, 3, 5, 7, 11):  # frame 7 corrected when it arrives, from the frames before it only
        np.testing.assert_allclose(out[t], expected[t])
    detector.close()
    assert session.closed


def test_the_first_frame_of_a_stream_is_never_swapped():
    """With nothing before it, the detector's own orientation of the first frame is kept."""
    coco = walking_coco17(1)
    out = FrameDetector(FakeSession([coco[0]]))(np.zeros((8, 8, 3), dtype=np.uint8))
    np.testing.assert_allclose(out, FORMATS["coco17"].to_h36m(coco[0]))


def test_a_video_source_closes_its_detector(tmp_path):
    session = FakeSession([None] * 3)
    source = VideoSource(make_video(tmp_path / "clip.mp4", 3, fps=20), FrameDetector(session))
    assert len(list(source)) == 3 and session.closed
    source.close()  # again: nothing to close twice


class FakePeopleSession:
    """A detector session that gives prepared BlazePose-33 detections of several people, a list per frame."""
    name = "fake people"

    def __init__(self, frames):
        self.frames, self.closed = list(frames), False

    def detect_people(self, image, timestamp_ms=None):
        return self.frames.pop(0)

    def close(self):
        self.closed = True


def blazepose_of(coco):
    landmarks = np.repeat(coco[:1], 33, axis=0)
    landmarks[list(BLAZEPOSE33_COCO17)] = coco
    return landmarks


def test_the_people_detector_tracks_everyone_and_gives_ids_once_confirmed():
    from lib.data.stream_input import PeopleDetector
    from lib.data.tracking import CONFIRM_FRAMES
    a, b = walking_coco17(12), walking_coco17(12) + [600.0, 0.0, 0.0]
    frames = [[blazepose_of(b[t]), blazepose_of(a[t])] for t in range(12)]
    left, right = COCO17_MIRROR_GROUPS["arms"]
    swapped = a[8].copy()
    swapped[list(left) + list(right)] = a[8][list(right) + list(left)]
    frames[8][1] = blazepose_of(swapped)  # person a's arms mistaken in frame 8
    session = FakePeopleSession(frames)
    detector = PeopleDetector(session, fps=30.0)
    out = [detector(np.zeros((8, 8, 3), dtype=np.uint8)) for _ in range(12)]
    assert all(people == {} for people in out[:CONFIRM_FRAMES - 1])
    assert all(sorted(people) == [0, 1] for people in out[CONFIRM_FRAMES - 1:])
    first = out[-1]
    which = {person: 0 if np.allclose(first[person], FORMATS["coco17"].to_h36m(a[11])) else 1 for person in first}
    assert sorted(which.values()) == [0, 1]  # each id is one person
    a_id = next(p for p, k in which.items() if k == 0)
    for t in range(CONFIRM_FRAMES - 1, 12):  # a keeps its id, and frame 8 is corrected
        np.testing.assert_allclose(out[t][a_id], FORMATS["coco17"].to_h36m(a[t]))
    detector.close()
    assert session.closed
