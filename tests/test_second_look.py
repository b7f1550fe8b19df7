"""lib/data/detector/second_look.py: a followed person whom the frame's detections missed is looked for again on a
crop around where they should be; a pose found there is added only when it is them (not the person in front, not
someone elsewhere)."""
import numpy as np

from lib.data.detector.second_look import MIN_CROP_PX, SecondLook, crop_around
from lib.data.tracking import CONFIRM_FRAMES, Detection, PoseTracker
from test_tracking import FPS, person

COCO17 = list(range(17))


class FakeCropSession:
    """An image-mode landmarker that 'finds' the given frame-pixel poses, returned in the crop's pixels."""

    def __init__(self, poses_in_frame):
        self.poses_in_frame, self.crops = poses_in_frame, []

    def detect_people(self, crop_rgb, timestamp_ms=None):
        self.crops.append(crop_rgb.shape)
        return [pose - np.array([self.origin[0], self.origin[1], 0.0]) for pose in self.poses_in_frame]

    def close(self):
        pass


def followed(n_frames=CONFIRM_FRAMES + 5):
    """A tracker that has followed one person walking right (3 px/frame) for ``n_frames`` frames."""
    tracker = PoseTracker(FPS)
    for t in range(n_frames):
        tracker.update(t, [Detection(person(300 + 3 * t, 600, 300, t))])
    return tracker, n_frames


def look(tracker, frame, detections, poses):
    session = FakeCropSession(poses)
    second_look = SecondLook(tracker, COCO17, make_session=lambda: session)
    image = np.zeros((720, 1280, 3), np.uint8)
    # the fake needs the crop's origin to answer in crop pixels: the crop second_look will take
    predicted = tracker.missing(frame, detections)
    if predicted:
        from lib.data.tracking import keypoint_box
        session.origin = crop_around(keypoint_box(predicted[0][0]), 1280, 720)[:2]
    return second_look(image, detections, frame), second_look, session


def test_a_missed_person_found_on_the_crop_keeps_their_id():
    tracker, t = followed()
    there = person(300 + 3 * t, 600, 300, t)
    extra, second_look, session = look(tracker, t, [], [there])
    assert len(extra) == 1 and np.allclose(extra[0].keypoints, there)
    assert second_look.looks == 1 and second_look.found == 1
    height, width = session.crops[0][:2]
    assert abs(height - width) <= 1 and height >= 300  # a square around the person, larger than them
    assert tracker.update(t, extra) == [0]


def test_the_person_in_front_found_again_is_not_added():
    """The crop shows the occluder, already among the frame's detections: a duplicate, not the person looked for."""
    tracker, t = followed()
    in_front = Detection(person(300 + 3 * t + 40, 610, 320, t))
    extra, _, _ = look(tracker, t, [in_front], [in_front.keypoints])
    assert extra == []


def test_someone_else_in_the_crop_is_not_taken_for_them():
    tracker, t = followed()
    elsewhere = person(300 + 3 * t + 200, 600, 300, t)  # two thirds of a height away: outside the tracker's gate
    extra, second_look, _ = look(tracker, t, [], [elsewhere])
    assert extra == [] and second_look.looks == 1 and second_look.found == 0


def test_nobody_is_looked_for_when_the_detections_continue_everyone():
    tracker, t = followed()
    extra, second_look, session = look(tracker, t, [Detection(person(300 + 3 * t, 600, 300, t))], [])
    assert extra == [] and second_look.looks == 0 and second_look.session is None


def test_crop_around_is_square_cut_to_the_frame_and_none_when_tiny():
    assert crop_around((100, 100, 200, 300), 1280, 720) == (0, 40, 310, 360)
    x0, y0, x1, y1 = crop_around((1200, 500, 1300, 800), 1280, 720)
    assert (x1, y1) == (1280, 720)
    assert crop_around((1290, 10, 1400, 20), 1280, 720) is None  # under MIN_CROP_PX of it in the frame
    assert MIN_CROP_PX > 1
