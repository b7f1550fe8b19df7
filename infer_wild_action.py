"""NTU-60 action classes of the people in your own video (docs/inference.md).

    python infer_wild_action.py --vid_path video.mp4 --json_path alphapose-results.json --out_path output/

Takes the same keypoint files as ``infer_wild.py`` (or, without ``--json_path``, runs its built-in
2D detector on the video) and an NTU-60 action checkpoint
(``train_action.py``); prints and saves (``action.json``, or ``action_<id>.json`` per person)
the top-5 classes with probabilities for the whole clip and for sliding windows. Inputs are
prepared as the NTU training data were (spec 04 §2): pixel coordinates through ``make_cam``,
H36M joint order with the confidence channel in COCO order, a zero second person, frames
resampled to the config's ``clip_len``, then ``crop_scale`` with ``scale_range_test``.
"""
import argparse

import numpy as np
import torch

from lib.data.dataset_action import NTU60_ACTION_NAMES, make_cam
from lib.data.detector import KEYPOINTS_FILE, inputs_from_video_or_file, save_detections
from lib.data.wild_input import (DEFAULT_FPS, DEFAULT_VIDEO_SIZE, WildInputError, add_input_arguments,
                                 coco_order_confidence)
from lib.inference import (add_precision_argument, load_model, make_model_runner, prepare_device, report_outputs,
                           run_in_batches, sliding_windows)
from lib.utils.cli import add_debug_argument, run_cli
from lib.utils.config_schema import INFER_ACTION, load_config
from lib.utils.outputs import OutputSet, check_output_folder, write_json
from lib.utils.utils_data import crop_scale, resample

WINDOW_SECONDS = 3.0  # default window: about the length of an NTU action sample


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=str, default="configs/action/MB_ft_NTU60_xsub.yaml", help="config file")
    parser.add_argument("-e", "--evaluate", type=str, metavar="FILENAME",
                        default="checkpoint/action/FT_MB_release_MB_ft_NTU60_xsub/best_epoch.bin",
                        help="action checkpoint (train_action.py's best_epoch.bin)")
    add_input_arguments(parser)
    parser.add_argument("--window", type=int, default=None,
                        help=f"frames per window (default: {WINDOW_SECONDS:g} seconds of video)")
    parser.add_argument("--window_stride", type=int, default=None, help="frames between windows (default: half "
                                                                        "a window)")
    parser.add_argument("--top_k", type=int, default=5, help="classes listed per clip and window")
    parser.add_argument("--batch_size", type=int, default=8, help="clips per forward pass")
    add_precision_argument(parser)
    add_debug_argument(parser)
    return parser.parse_args(argv)


def class_names(num_classes):
    if num_classes == len(NTU60_ACTION_NAMES):
        return list(NTU60_ACTION_NAMES)
    print(f"Warning: the checkpoint has {num_classes} classes, not NTU-60's 60: classes are listed by number")
    return [f"class {k}" for k in range(num_classes)]


def check_classifier_config(cfg):
    if cfg.model_version != "class":
        raise WildInputError(f"config {cfg.name}: model_version '{cfg.model_version}' gives embeddings, not "
                             f"classes; use an NTU-60 classification config (model_version: class)")


def ntu_input(keypoints, img_shape):
    """Pixel keypoints ``(F, 17, 3)`` (H36M order) → NTU-style: make_cam x, y and COCO-order confidence.

    ``crop_scale`` later removes the scale and offset of ``make_cam``, so a guessed image shape
    (no video) does not change the result.
    """
    xy = make_cam(keypoints[..., :2], img_shape)
    return np.concatenate([xy, coco_order_confidence(keypoints)[..., None]], axis=-1)


def clip_sample(motion, clip_len, scale_range):
    """One clip ``(T, 17, 3)`` → the model input ``(2, clip_len, 17, 3)`` float32, as ``ActionDataset`` builds it."""
    idx = resample(len(motion), clip_len, randomness=False)
    persons = np.stack([motion[idx], np.zeros((clip_len,) + motion.shape[1:])])  # a zero second person
    return crop_scale(persons, scale_range).astype(np.float32)


def classify(model, samples, device, batch_size, precision="fp32"):
    """Class probabilities ``(N, num_classes)`` of ``(N, 2, T, 17, 3)`` samples."""
    run_model = make_model_runner(model, device, precision)

    def probabilities(batch):
        return torch.softmax(run_model(torch.from_numpy(batch).to(device)), dim=-1).cpu().numpy()
    return run_in_batches(probabilities, samples, batch_size)


def top_k(prob, names, k):
    order = np.argsort(-prob, kind="stable")[:k]
    return [{"class_id": int(c), "name": names[c], "probability": float(prob[c])} for c in order]


def _format(ranked):
    return "; ".join(f"{r['name']} {100 * r['probability']:.1f}%" for r in ranked)


def run(cli):
    cfg = load_config(cli.config, INFER_ACTION)
    for name in ("top_k", "window", "window_stride", "batch_size"):
        if getattr(cli, name) is not None and getattr(cli, name) < 1:
            raise WildInputError(f"--{name} must be positive, got {getattr(cli, name)}")
    inputs, detections = inputs_from_video_or_file(cli)
    print(inputs.summary())
    video = inputs.video
    window = cli.window or max(1, round(WINDOW_SECONDS * video.playback_fps))
    stride = cli.window_stride or max(1, window // 2)
    if not (cli.window or video.fps):
        print(f"  note: fps unknown: windows of {window} frames ({WINDOW_SECONDS:g} s at {DEFAULT_FPS:g} fps); "
              f"give --fps or --window")
    several = len(inputs.tracks) > 1
    names = {track.name: f"action_{track.name}.json" if several else "action.json" for track in inputs.tracks}
    check_output_folder(cli.out_path, list(names.values()))
    device = prepare_device(cli.precision)
    check_classifier_config(cfg)
    model = load_model(cfg, cli.evaluate, "action", device)
    classes = class_names(cfg.action_classes)
    k = min(cli.top_k, len(classes))
    image_shape = (video.height, video.width) if video.size else DEFAULT_VIDEO_SIZE[::-1]
    with OutputSet(cli.out_path, owned=("action*.json", KEYPOINTS_FILE), script="infer_wild_action.py") as out:
        save_detections(out, detections)
        for track in inputs.tracks:
            motion = ntu_input(track.keypoints, image_shape)
            windows = sliding_windows(len(motion), window, stride)
            samples = [clip_sample(motion, cfg.clip_len, cfg.scale_range_test)]
            samples += [clip_sample(motion[st:end], cfg.clip_len, cfg.scale_range_test) for st, end in windows]
            probs = classify(model, samples, device, cli.batch_size, cli.precision)
            result = {"track_id": track.track_id, "fps": video.fps, "n_frames": len(motion),
                      "classes": "NTU-60" if classes[0] == NTU60_ACTION_NAMES[0] else f"{len(classes)} classes",
                      "clip": {"frames": [0, len(motion) - 1], "top": top_k(probs[0], classes, k)},
                      "windows": [dict({"frames": [st, end - 1]},
                                       **({"seconds": [st / video.fps, end / video.fps]} if video.fps else {}),
                                       top=top_k(p, classes, k)) for (st, end), p in zip(windows, probs[1:])]}
            print(f"person {track.track_id}, whole clip ({len(motion)} frames): {_format(result['clip']['top'])}")
            for w in result["windows"]:
                seconds = f" ({w['seconds'][0]:.1f}-{w['seconds'][1]:.1f} s)" if "seconds" in w else ""
                print(f"  frames {w['frames'][0]}-{w['frames'][1]}{seconds}: {_format(w['top'])}")
            write_json(out.path(names[track.name]), result, indent=1)
    return report_outputs(out)


def main(argv=None):
    return run(parse_args(argv))


if __name__ == "__main__":
    run_cli(main)
