"""lib/data/tracking/ (online and offline) on synthetic detections with known identities: crossings, occlusion gaps,
re-entry, misses, duplicates; an identity never passes from one person to another."""
from types import SimpleNamespace

import numpy as np
import pytest

from lib.data.tracking import (CONFIRM_FRAMES, Detection, PoseTracker, appearance_descriptor, appearance_distance,
                               join_identities, remove_duplicates, track_people)

FPS = 30.0
# a COCO-17 person of height 1 (nose at the top, ankles at the bottom), x to the image right, y down
TEMPLATE = np.array([[0.0, 0.05], [-0.03, 0.03], [0.03, 0.03], [-0.06, 0.05], [0.06, 0.05], [-0.12, 0.2],
                     [0.12, 0.2], [-0.15, 0.4], [0.15, 0.4], [-0.16, 0.55], [0.16, 0.55], [-0.08, 0.55],
                     [0.08, 0.55], [-0.09, 0.78], [0.09, 0.78], [-0.1, 1.0], [0.1, 1.0]])


def person(x, y, height, t, phase=0.0, score=0.9):
    """The template at feet position ``(x, y)`` pixels, ``height`` pixels tall, its legs and arms swinging."""
    swing = 0.06 * np.sin(2 * np.pi * t / FPS + phase)
    points = TEMPLATE.copy()
    points[[9, 15], 0] += swing
    points[[10, 16], 0] -= swing
    xy = np.array([x, y - height]) + points * height
    return np.concatenate([xy, np.full((17, 1), score)], axis=1)


def colour(hue):
    """A stand-in appearance descriptor: a histogram peaked at bin ``hue``."""
    hist = np.full(128, 0.01)
    hist[hue] = 1.0
    return hist / hist.sum()


def walk(start, velocity, height, n_frames, hue=None, phase=0.0):
    """Per frame: the keypoints of a person walking from ``start`` with ``velocity`` (px/frame)."""
    return [Detection(person(start[0] + velocity[0] * t, start[1] + velocity[1] * t, height, t, phase),
                      None if hue is None else colour(hue)) for t in range(n_frames)]


def scene(*people, hidden=None):
    """Frames of detections: ``people`` are per-frame lists (None: not detected); ``hidden[k]``: frames where
    person k is not detected. Returns (frames, truth) with truth[t][j] the person of detection j."""
    n_frames = max(len(p) for p in people)
    frames, truth = [], []
    for t in range(n_frames):
        dets, ids = [], []
        for k, track in enumerate(people):
            if t < len(track) and track[t] is not None and not (hidden and t in hidden.get(k, ())):
                dets.append(track[t])
                ids.append(k)
        frames.append(dets)
        truth.append(ids)
    return frames, truth


def identity_map(result, truth):
    """{true person: set of ids given to them} and {id: set of true persons}; switches show as an id with two
    true persons."""
    given, owners = {}, {}
    for frame_ids, frame_truth in zip(result.ids, truth):
        for found, true in zip(frame_ids, frame_truth):
            if found is None:
                continue
            given.setdefault(true, set()).add(found)
            owners.setdefault(found, set()).add(true)
    return given, owners


def coverage(result, truth, person_id):
    frames = [t for t, ids in enumerate(truth) if person_id in ids]
    return np.mean([result.ids[t][truth[t].index(person_id)] is not None for t in frames])


def test_two_people_apart_keep_their_ids():
    frames, truth = scene(walk((200, 600), (3, 0), 300, 90), walk((900, 650), (-2, 0), 320, 90, phase=1.0))
    result = track_people(frames, FPS)
    given, owners = identity_map(result, truth)
    assert given == {0: {0}, 1: {1}} and result.n_people == 2
    assert coverage(result, truth, 0) == 1.0


@pytest.mark.parametrize("with_appearance", [True, False])
def test_a_crossing_never_swaps_ids(with_appearance):
    """Two people walk through each other (the nearer one hides the other for some frames): each id stays with one
    person; with distinct clothes the two are recognised after the crossing, without they may be split."""
    hues = (5, 90) if with_appearance else (None, None)
    a = walk((200, 600), (8, 0), 300, 120, hues[0])
    b = walk((1160, 620), (-8, 0), 310, 120, hues[1], phase=2.0)
    # around frame 60 they overlap: the one behind (b) is not detected
    frames, truth = scene(a, b, hidden={1: range(54, 67)})
    result = track_people(frames, FPS)
    given, owners = identity_map(result, truth)
    assert all(len(v) == 1 for v in owners.values()), f"an id was given to two people: {owners}"
    if with_appearance:
        assert given == {0: {0}, 1: {1}}
    assert coverage(result, truth, 0) > 0.85


def test_a_miss_of_a_few_frames_keeps_the_id():
    frames, truth = scene(walk((200, 600), (4, 0), 300, 90), hidden={0: range(30, 36)})
    result = track_people(frames, FPS)
    assert identity_map(result, truth)[0] == {0: {0}}


def test_re_entry_after_seconds_is_recognised_by_appearance():
    """A person walks out of the picture to the right and comes back 3 s later at the same side; another person
    stays in view meanwhile."""
    out = walk((900, 600), (10, 0), 300, 40, hue=20)
    back = walk((1290, 600), (-10, 0), 300, 60, hue=20)
    gap = [None] * 90
    leaving = out + gap + back
    staying = walk((300, 650), (0.5, 0), 340, len(leaving), hue=70, phase=1.0)
    frames, truth = scene(leaving, staying)
    result = track_people(frames, FPS)
    given, owners = identity_map(result, truth)
    assert given == {0: {0}, 1: {1}}
    assert result.tracklets[0] == 2  # re-associated once


def test_someone_else_entering_where_a_person_left_gets_a_new_id():
    first = walk((900, 600), (10, 0), 300, 40, hue=20)
    other = walk((1290, 600), (-10, 0), 300, 60, hue=100)
    frames, truth = scene(first + [None] * 60, [None] * 100 + other)
    result = track_people(frames, FPS)
    given, owners = identity_map(result, truth)
    assert given == {0: {0}, 1: {1}}


def test_without_appearance_a_long_gap_gives_a_new_id():
    """Position and size alone do not say who comes back after seconds: a new id, not a guess."""
    out = walk((900, 600), (10, 0), 300, 40)
    back = walk((1290, 600), (-10, 0), 300, 60)
    frames, truth = scene(out + [None] * 90 + back)
    result = track_people(frames, FPS)
    assert result.n_people == 2


def test_a_jump_to_another_place_starts_a_new_person():
    """One id in the first half, another person elsewhere in the second half (the detector followed someone else):
    two people, never one with a teleport."""
    first = walk((200, 600), (3, 0), 300, 60, hue=10)
    second = walk((1000, 650), (-3, 0), 280, 60, hue=10)
    frames, truth = scene(first + second)
    result = track_people(frames, FPS)
    assert result.n_people == 2


def pieces(truth, cuts):
    """ids as an online pass might give them: person k's frames numbered by ``cuts[k]`` ``[(first, last, id)]``."""
    ids = []
    for t, people in enumerate(truth):
        ids.append([next((i for first, last, i in cuts[k] if first <= t <= last), None) for k in people])
    return ids


def test_offline_joining_makes_one_person_of_their_pieces():
    """One person hidden twice, each return an identity of its own (as online doubt leaves them), beside another
    person in other clothes: the pieces become one person again, the other stays apart."""
    a = walk((100, 600), (3, 0), 300, 150, hue=20)
    b = walk((900, 650), (-1, 0), 320, 150, hue=90, phase=1.0)
    frames, truth = scene(a, b, hidden={0: list(range(40, 50)) + list(range(90, 100))})
    online = pieces(truth, {0: [(0, 39, 0), (50, 89, 1), (100, 149, 3)], 1: [(0, 149, 2)]})
    ids, n_people, members = join_identities(frames, online, FPS)
    assert n_people == 2 and sorted(members) == [[0, 1, 3], [2]]
    given, owners = identity_map(SimpleNamespace(ids=ids), truth)
    assert given == {0: {0}, 1: {1}}


def test_offline_joining_leaves_lookalikes_in_doubt_apart():
    """Two people in the same clothes walk side by side, both hidden at once, then found again: which piece is
    whose is a guess, so nothing is joined (split, never swapped)."""
    a = walk((400, 600), (3, 0), 300, 100, hue=20)
    b = walk((480, 610), (3, 0), 300, 100, hue=20, phase=1.0)
    hidden = range(40, 50)
    frames, truth = scene(a, b, hidden={0: hidden, 1: hidden})
    online = pieces(truth, {0: [(0, 39, 0), (50, 99, 2)], 1: [(0, 39, 1), (50, 99, 3)]})
    ids, n_people, members = join_identities(frames, online, FPS)
    assert n_people == 4
    given, owners = identity_map(SimpleNamespace(ids=ids), truth)
    assert all(len(v) == 1 for v in owners.values())


def test_tracklets_shorter_than_confirmation_get_no_id():
    frames, truth = scene(walk((200, 600), (3, 0), 300, CONFIRM_FRAMES - 1))
    result = track_people(frames, FPS)
    assert result.n_people == 0 and all(i is None for ids in result.ids for i in ids)


def test_online_ids_are_given_from_confirmation_and_the_earlier_frames_reported():
    tracker = PoseTracker(FPS)
    track = walk((200, 600), (3, 0), 300, CONFIRM_FRAMES + 2)
    out = [tracker.update(t, [d]) for t, d in enumerate(track)]
    assert out[:CONFIRM_FRAMES - 1] == [[None]] * (CONFIRM_FRAMES - 1)
    assert out[CONFIRM_FRAMES - 1:] == [[0]] * 3


def test_duplicates_of_one_person_are_removed():
    a = Detection(person(300, 600, 300, 0))
    shifted = person(300, 600, 300, 0)
    shifted[:, :2] += 4
    shifted[:, 2] = 0.5
    b = Detection(shifted)
    c = Detection(person(800, 600, 300, 0))
    assert remove_duplicates([b, a, c]) == [1, 2]


def test_appearance_descriptor_tells_colours_apart():
    import cv2

    image = np.zeros((200, 300, 3), np.uint8)
    image[:, :150] = (200, 30, 30)
    image[:, 150:] = (30, 30, 200)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    left = appearance_descriptor(hsv, [np.array([[20, 20], [120, 20], [120, 180], [20, 180]])])
    left2 = appearance_descriptor(hsv, [np.array([[30, 40], [100, 40], [100, 150]])])
    right = appearance_descriptor(hsv, [np.array([[170, 20], [280, 20], [280, 180], [170, 180]])])
    assert appearance_distance(left, left2) < 0.05 and appearance_distance(left, right) > 0.9
    assert appearance_descriptor(hsv, [np.array([[-50, -50], [-10, -50], [-10, -10]])]) is None
