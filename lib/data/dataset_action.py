"""NTU RGB+D skeleton action data sets built from pyskl HRNet pickles (spec 04 §1–3).

Every sample becomes a float32 array ``(2, n_frames, 17, 3)``: two persons, H36M joint order,
(x, y, confidence), x and y mapped by :func:`make_cam`. Quirks of the original that trained
models depend on are kept: the confidence channel stays in COCO joint order and is not
person-swapped by :func:`human_tracking`; training sets draw their frame resampling once, at
construction (``np.random.seed(0)`` first), so it is fixed for the whole run.

Deliberate change from the original: :func:`random_move` does not write into its input. The
original transformed the dataset's stored array in place, so inside each persistent
DataLoader worker the random similarity transforms of successive epochs compounded on the
stored samples. Here every access gets exactly one fresh ``random_move`` of the stored sample
(same RNG draws and maths as one call of the original), and ``dataset.motions`` never changes.

Also beyond the original: samples with more than two persons are accepted (the two persons
that tracking follows are kept), and malformed inputs raise ``ValueError`` naming the split or
sample instead of failing deep inside NumPy.
"""
import random

import numpy as np
from torch.utils.data import Dataset

from lib.skeleton import FORMATS, to_h36m
from lib.utils.errors import DataError
from lib.utils.tools import read_pkl
from lib.utils.utils_data import crop_scale, resample

NUM_JOINTS = FORMATS["coco17"].num_keypoints  # the pickles hold COCO-17 keypoints
NTU120_NUM_CLASSES = 120
# NTU-120 one-shot protocol: every 6th class (0-based) is held out as a one-shot class
ONESHOT_CLASSES = list(range(0, NTU120_NUM_CLASSES, 6))
ANNOTATION_KEYS = ("frame_dir", "label", "img_shape", "total_frames", "keypoint", "keypoint_score")

# The 60 NTU RGB+D classes (index = 0-based label), as in the data set's official action list.
NTU60_ACTION_NAMES = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw",
    "sitting down", "standing up (from sitting position)", "clapping", "reading", "writing",
    "tear up paper", "wear jacket", "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses",
    "take off glasses", "put on a hat/cap", "take off a hat/cap", "cheer up", "hand waving",
    "kicking something", "reach into pocket", "hopping (one foot jumping)", "jump up",
    "make a phone call/answer phone", "playing with phone/tablet", "typing on a keyboard",
    "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute", "put the palms together",
    "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling", "touch head (headache)",
    "touch chest (stomachache/heart pain)", "touch back (backache)", "touch neck (neckache)",
    "nausea or vomiting condition", "use a fan (with hand or paper)/feeling warm",
    "punching/slapping other person", "kicking other person", "pushing other person",
    "pat on back of other person", "point finger at the other person", "hugging other person",
    "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
)


def get_action_names(file_path="data/action/ntu_actions.txt"):
    """Class names from a text file with lines like ``A1. drink water.`` → ``['drink water', ...]``.

    Returns the text between the first and second ``.`` minus its first character. Blank lines
    are skipped (the original failed on a trailing empty line).
    """
    with open(file_path, "r") as f:
        lines = [line for line in f.read().split("\n") if line.strip()]
    return [line.split(".")[1][1:] for line in lines]


def make_cam(x, img_shape):
    """Pixel coordinates → roughly [-1, 1]: both coordinates are ``v / max(h, w) * 2 - 1``.

    The same formula for x and y, so y is also offset by -1 (kept from the original).
    """
    h, w = img_shape
    return x / w * 2 - 1 if w >= h else x / h * 2 - 1


def human_tracking(x):
    """Keep persons 0 and 1 consistent over time by swapping their slots where that fits better.

    ``x (M, T, V, C)``. With one person ``x`` is returned unchanged. Otherwise a swap toggles
    whenever person 0 at frame t+1 is closer (sum of per-joint distances, measured on the
    unswapped input) to person 1 than to person 0 at frame t. Returns float64; persons with
    index >= 2 become zeros, as in the original.
    """
    if x.shape[0] == 1:
        return x
    dist_same = np.sum(np.linalg.norm(x[0, 1:] - x[0, :-1], axis=-1), axis=-1)
    dist_other = np.sum(np.linalg.norm(x[0, 1:] - x[1, :-1], axis=-1), axis=-1)
    swapped = (np.cumsum(dist_same > dist_other) % 2)[:, None, None]
    tracked = np.zeros(x.shape)
    tracked[:2, 0] = x[:2, 0]
    tracked[0, 1:] = x[1, 1:] * swapped + x[0, 1:] * (1 - swapped)
    tracked[1, 1:] = x[0, 1:] * swapped + x[1, 1:] * (1 - swapped)
    return tracked


def coco2h36m(x):
    """COCO-17 → H36M-17 joint order for ``x (M, T, 17, C)``; returns float64 (spec 04 §2.3).

    Midpoints of keypoints are computed in the input's precision before being stored, as in the
    original (``lib.skeleton.COCO17_TO_H36M``).
    """
    return to_h36m(x, "coco17")


def random_move(data, angle_range=(-10., 10.), scale_range=(0.9, 1.1), transform_range=(-0.1, 0.1),
                move_time_candidate=(1,)):
    """Random in-plane similarity transform whose parameters ramp linearly over time.

    ``data (M, T, V, C)``; channels 0–1 are rotated, scaled and translated, channel 2 is kept.
    Returns a new array of ``data``'s dtype; unlike the original, ``data`` is not modified.
    RNG use is the original's: one ``random.choice`` (Python), then NumPy uniform draws of the
    node angles, scales, x and y shifts, in that order.
    """
    num_frames = data.shape[1]
    move_time = random.choice(move_time_candidate)
    node = np.arange(0, num_frames, num_frames * 1.0 / move_time).round().astype(int)
    node = np.append(node, num_frames)
    num_node = len(node)
    node_angle = np.random.uniform(angle_range[0], angle_range[1], num_node)
    node_scale = np.random.uniform(scale_range[0], scale_range[1], num_node)
    node_tx = np.random.uniform(transform_range[0], transform_range[1], num_node)
    node_ty = np.random.uniform(transform_range[0], transform_range[1], num_node)

    angle, scale = np.zeros(num_frames), np.zeros(num_frames)
    tx, ty = np.zeros(num_frames), np.zeros(num_frames)
    for i in range(num_node - 1):
        seg = slice(node[i], node[i + 1])
        n = node[i + 1] - node[i]
        angle[seg] = np.linspace(node_angle[i], node_angle[i + 1], n) * np.pi / 180
        scale[seg] = np.linspace(node_scale[i], node_scale[i + 1], n)
        tx[seg] = np.linspace(node_tx[i], node_tx[i + 1], n)
        ty[seg] = np.linspace(node_ty[i], node_ty[i + 1], n)

    # per-frame 2x2 matrices s·R(a), applied to every joint of every person (float64)
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    x, y = data[..., 0], data[..., 1]
    f = (None, slice(None), None)  # broadcast per-frame values over (M, T, V)
    moved = data.copy()
    moved[..., 0] = cos[f] * x - sin[f] * y + tx[f]
    moved[..., 1] = sin[f] * x + cos[f] * y + ty[f]
    return moved


def _check_annotation(anno):
    """Raise ``ValueError`` naming the sample if its arrays cannot be processed."""
    name = anno.get("frame_dir", "<no frame_dir>")
    missing = [k for k in ANNOTATION_KEYS if k not in anno]
    if missing:
        raise DataError(f"sample '{name}' lacks the annotation keys {missing}")
    keypoint = np.asarray(anno["keypoint"])
    score = np.asarray(anno["keypoint_score"])
    total_frames = anno["total_frames"]
    if keypoint.ndim != 4 or keypoint.shape[-1] != 2:
        raise DataError(f"sample '{name}': keypoint must have shape (persons, frames, {NUM_JOINTS}, 2), "
                        f"got {keypoint.shape}")
    if keypoint.shape[2] != NUM_JOINTS:
        raise DataError(f"sample '{name}': keypoint has {keypoint.shape[2]} joints, expected {NUM_JOINTS} "
                        f"(COCO-17 order); shape {keypoint.shape}")
    if keypoint.shape[0] == 0:
        raise DataError(f"sample '{name}': keypoint holds no person; shape {keypoint.shape}")
    if total_frames == 0 or keypoint.shape[1] == 0:
        raise DataError(f"sample '{name}' has zero frames (total_frames={total_frames}, "
                        f"keypoint shape {keypoint.shape})")
    if keypoint.shape[1] != total_frames:
        raise DataError(f"sample '{name}': total_frames={total_frames} but keypoint has {keypoint.shape[1]} "
                        f"frames; shape {keypoint.shape}")
    if score.shape != keypoint.shape[:3]:
        raise DataError(f"sample '{name}': keypoint_score shape {score.shape} does not match keypoint shape "
                        f"{keypoint.shape} (expected {keypoint.shape[:3]})")
    img_shape = tuple(anno["img_shape"])
    if len(img_shape) != 2 or min(img_shape) <= 0:
        raise DataError(f"sample '{name}': img_shape must be a positive (height, width), got {img_shape}")
    return keypoint, score


class ActionDataset(Dataset):
    """Skeleton sequences of a pyskl pickle; items are ``(float32 (2, n_frames, 17, 3), label)``.

    ``check_split``: keep only the annotations listed in ``split[data_split]``. Training sets
    (split name containing ``'train'``, or ``check_split=False``, but never ``'oneshot'`` splits)
    resample frames at random, once, here. ``random_move``: augment every access with
    :func:`random_move`; ``scale_range``: :func:`crop_scale` ratio range (falsy: no cropping).
    ``num_classes``: if given, every label must lie in ``[0, num_classes)``.
    """

    def __init__(self, data_path, data_split, n_frames=243, random_move=True, scale_range=(1, 1),
                 check_split=True, num_classes=None):
        np.random.seed(0)
        dataset = read_pkl(data_path)
        if not isinstance(dataset, dict) or "annotations" not in dataset or (check_split and "split" not in dataset):
            found = sorted(dataset) if isinstance(dataset, dict) else type(dataset).__name__
            raise DataError(f"{data_path} is not a pyskl action pickle: expected a dict with 'split' and "
                            f"'annotations', found {found}")
        if check_split:
            if data_split not in dataset["split"]:
                raise DataError(f"split '{data_split}' is not in {data_path}; available splits: "
                                f"{', '.join(sorted(dataset['split']))}")
            split_members = set(dataset["split"][data_split])
        self.random_move = random_move
        self.scale_range = scale_range
        is_train = ("train" in data_split or not check_split) and "oneshot" not in data_split

        motions, labels = [], []
        for anno in dataset["annotations"]:
            if check_split and anno.get("frame_dir") not in split_members:
                continue
            keypoint, score = _check_annotation(anno)
            label = anno["label"]
            if num_classes is not None and not 0 <= label < num_classes:
                raise DataError(f"sample '{anno['frame_dir']}' has label {label}, outside [0, {num_classes})")
            idx = resample(ori_len=anno["total_frames"], target_len=n_frames, randomness=is_train)
            cam = coco2h36m(human_tracking(make_cam(keypoint, anno["img_shape"])))
            conf = score[..., None]  # stays in COCO order and untracked, as the released models expect
            # the original accepts 1 or 2 persons; with more, keep the two that tracking follows
            motion = np.concatenate((cam[:2, idx], conf[:2, idx]), axis=-1)
            if motion.shape[0] == 1:  # a second, all-zero person
                motion = np.concatenate((motion, np.zeros_like(motion)), axis=0)
            motions.append(motion.astype(np.float32))
            labels.append(label)
        if not motions:
            what = f"split '{data_split}'" if check_split else "the file"
            raise DataError(f"{data_path}: no annotation belongs to {what}")
        self.motions = np.array(motions)
        self.labels = np.array(labels)

    def __len__(self):
        return len(self.motions)

    def __getitem__(self, idx):
        motion, label = self.motions[idx], self.labels[idx]
        if self.random_move:
            motion = random_move(motion)  # a new array: the stored sample is never modified
        if self.scale_range:
            motion = crop_scale(motion, self.scale_range)
        return motion.astype(np.float32), label


class NTURGBD(ActionDataset):
    """One split (e.g. ``'xsub_train'``) of an NTU RGB+D pickle."""

    def __init__(self, data_path, data_split, n_frames=243, random_move=True, scale_range=(1, 1),
                 num_classes=None):
        super().__init__(data_path, data_split, n_frames=n_frames, random_move=random_move,
                         scale_range=scale_range, check_split=True, num_classes=num_classes)


class NTURGBD1Shot(ActionDataset):
    """NTU-120 training set for one-shot recognition: the 20 one-shot classes are removed.

    All annotations are read by default (``check_split=False``, random frame resampling); the
    remaining 100 classes are renumbered 0..99 in ascending order of their original id, and
    ``labels`` is a Python list, as in the original.
    """

    def __init__(self, data_path, data_split, n_frames=243, random_move=True, scale_range=(1, 1),
                 check_split=False):
        super().__init__(data_path, data_split, n_frames=n_frames, random_move=random_move,
                         scale_range=scale_range, check_split=check_split, num_classes=NTU120_NUM_CLASSES)
        new_classes = sorted(set(range(NTU120_NUM_CLASSES)) - set(ONESHOT_CLASSES))
        old2new = {old: new for new, old in enumerate(new_classes)}
        keep = ~np.isin(self.labels, ONESHOT_CLASSES)
        self.motions = self.motions[keep]
        self.labels = [old2new[int(label)] for label in self.labels[keep]]
