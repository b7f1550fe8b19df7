"""The detector on tiles (lib/data/detector/tiles.py): the layout, the inner-edge rule, the merged session."""
import numpy as np
import pytest

from lib.data.detector.tiles import TiledSession, cut_by_inner_edge, tile_boxes
from lib.data.detector.video import check_tiles
from lib.utils.errors import OptionError


def test_tiles_are_squares_of_the_short_side_spread_over_the_long_one():
    assert tile_boxes(1280, 720, 3) == [(0, 0, 720, 720), (280, 0, 720, 720), (560, 0, 720, 720)]
    assert tile_boxes(720, 1280, 2) == [(0, 0, 720, 720), (0, 560, 720, 720)]
    assert tile_boxes(1280, 720, 1) == [(0, 0, 1280, 720)]


def person(x0, x1, y0=100, y1=500):
    landmarks = np.ones((33, 3))
    landmarks[:, 0] = np.linspace(x0, x1, 33)
    landmarks[:, 1] = np.linspace(y0, y1, 33)
    return landmarks


def test_only_inner_edges_cut():
    left, middle = (0, 0, 720, 720), (280, 0, 720, 720)
    assert not cut_by_inner_edge(person(0, 100), left, 1280, 720)  # the frame's own edge
    assert cut_by_inner_edge(person(650, 719), left, 1280, 720)
    assert cut_by_inner_edge(person(285, 400), middle, 1280, 720)
    assert not cut_by_inner_edge(person(400, 600), middle, 1280, 720)


class FakeSession:
    """Finds the people of ``everyone`` (frame pixels) that overlap its tile, in tile pixels."""
    def __init__(self, everyone, offsets):
        self.everyone, self.offset = everyone, offsets.pop(0)
        self.closed = False

    def detect_people(self, frame, timestamp_ms=None):
        x0, width = self.offset, frame.shape[1]
        return [p - np.array([x0, 0, 0]) for p in self.everyone
                if p[:, 0].max() > x0 and p[:, 0].min() < x0 + width]

    def close(self):
        self.closed = True


def test_a_person_is_found_once_in_frame_pixels_by_the_tile_that_holds_them_whole():
    everyone = [person(100, 200), person(600, 700), person(1150, 1270)]
    offsets = [0, 280, 560]
    with TiledSession(lambda: FakeSession(everyone, offsets), 3, "fake") as session:
        found = session.detect_people(np.zeros((720, 1280, 3), np.uint8))
        sessions = session.sessions
    assert session.name == "fake on 3 tiles"
    xs = sorted((round(p[:, 0].min()), round(p[:, 0].max())) for p in found)
    # (600-700) lies whole in every tile: found three times, left to remove_duplicates; (1150-1270) is cut by the
    # middle tile's right edge and found by the right tile alone
    assert xs == [(100, 200), (600, 700), (600, 700), (600, 700), (1150, 1270)]
    assert all(s.closed for s in sessions)


@pytest.mark.parametrize("tiles", [0, -1, 9])
def test_tiles_out_of_range_are_refused(tiles):
    with pytest.raises(OptionError, match="--tiles"):
        check_tiles(tiles)


@pytest.mark.slow
def test_two_rendered_walkers_are_two_unbroken_people(tmp_path):
    """The built-in detector (default: three tiles on this 16:9 frame) on the rendered scene 'cross' (a near and
    a far walker crossing): both found, and no track that infer_wild.py keeps ever on the other person."""
    pytest.importorskip("mediapipe")
    pytest.importorskip("pybullet")
    from lib.data.detector import default_min_track_frames, detect
    from lib.data.scenes import make_scene, render_scene

    video = str(tmp_path / "cross.mp4")
    truth = render_scene(make_scene("cross", seconds=5.0), video)
    people = detect(video, progress=False)
    assert people.tiles == 3
    names = [str(n) for n in truth["keypoint_names"]]
    limbs = [f"{side}_{part}" for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle") for side in
             ("left", "right")]
    truth_limbs = truth["keypoints_px"][:, :, [names.index(n) for n in limbs]]  # (P, T, 12, 2)
    landmarks = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # the same limbs in BlazePose-33
    who = {}
    kept = default_min_track_frames(people.fps, people.n_frames)  # what infer_wild.py keeps
    for person in (p for p in people.people if p.found.sum() >= kept):
        for t in np.flatnonzero(person.found):
            limb_distance = np.linalg.norm(truth_limbs[:, t] - person.keypoints[t, landmarks, :2], axis=-1)
            relative = np.median(limb_distance, axis=1) / np.maximum(truth["height_px"][:, t], 1.0)  # (P,)
            if np.nanmin(relative) < 0.25:
                who.setdefault(person.track_id, set()).add(int(np.nanargmin(relative)))
    assert sum(p.found.sum() >= 30 for p in people.people) >= 2
    assert all(len(matched) == 1 for matched in who.values()), who  # no track on both people
    assert set.union(*who.values()) == {0, 1}


def test_the_default_and_a_square_frame():
    from lib.data.detector.video import default_tiles
    assert default_tiles((1280, 720), 6) == 3 and default_tiles((720, 1280), 6) == 3
    assert default_tiles((640, 480), 6) == 1 and default_tiles((1280, 720), 1) == 1
    assert default_tiles((500, 500), 6, tiles=3) == 1  # a square frame is its one square: no tiles claimed
    assert default_tiles((1280, 720), 1, tiles=2) == 2 and default_tiles(None, 6, tiles=2) == 2


@pytest.mark.parametrize("size, tiles, noted", [((1280, 720), 1, True), ((1280, 720), 3, False),
                                                ((500, 500), 1, False)])
def test_small_people_on_the_whole_frame_are_noted_where_tiles_would_help(size, tiles, noted):
    from lib.data.detector.video import PersonKeypoints, VideoPeople
    keypoints = np.zeros((10, 33, 3))
    keypoints[:, :, 1] = np.linspace(100, 300, 33)  # 200 px tall: under 250 px in 1280 x 720
    person = PersonKeypoints(0, keypoints, np.ones(10, bool), np.zeros((10, 3), bool))
    summary = VideoPeople([person], 10, 25.0, size, "test", 1.0, 6, tiles).summary()
    assert ("--tiles 3 looks for them" in summary) == noted
