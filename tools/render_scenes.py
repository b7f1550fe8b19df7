"""Render scenes of several humanoids seen by a static camera, with their ground truth (lib/data/scenes.py).

Per scene, ``<out>/<name>.mp4`` (H.264), ``<name>.npz`` (keypoints in world, camera and pixel coordinates,
boxes, visibility, the camera; the keys in lib.data.scenes.TRUTH_KEYS) and ``<name>.json`` (the scene and a
summary). All files appear together at the end, or none. docs/demo.md describes the scenes.

    pip install pybullet   # the humanoid and its clips ship with it
    python tools/render_scenes.py --out data/scenes [--names cross occlude ... | tracking | world | all]
                                  [--size 1280 720] [--fps 30] [--seconds S]
"""
import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from lib.data.humanoid import pybullet_data_dir  # noqa: E402
from lib.data.scenes import PRESETS, WORLD_PRESETS, make_scene, scene_summary, write_scene  # noqa: E402
from lib.utils.cli import add_debug_argument, run_cli  # noqa: E402
from lib.utils.outputs import OutputSet, check_output_folder  # noqa: E402

GROUPS = {"tracking": list(PRESETS), "world": list(WORLD_PRESETS), "all": list(PRESETS) + list(WORLD_PRESETS)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/scenes", help="output folder (default: %(default)s)")
    parser.add_argument("--names", nargs="+", default=["tracking"], metavar="NAME",
                        help=f"scenes to render: names, or the groups {', '.join(GROUPS)} (default: tracking = "
                             f"{' '.join(PRESETS)}; world: {len(WORLD_PRESETS)} scenes named "
                             f"ground_p<pitch>_r<roll>_<stature cm>_<walk|standing|stepping>)")
    parser.add_argument("--size", nargs=2, type=int, metavar=("W", "H"), default=None,
                        help="image size, even numbers; the view stays the same (default: 1280 720)")
    parser.add_argument("--fps", type=float, default=None, help="frame rate (default: 30)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="duration (default: each scene's own, 10-12 s)")
    parser.add_argument("--list", action="store_true", help="print the scene names and exit")
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    names = []
    for name in args.names:
        for scene in GROUPS.get(name, [name]):
            if scene not in PRESETS and scene not in WORLD_PRESETS:
                parser.error(f"unknown scene '{scene}' (--list prints the names)")
            if scene not in names:
                names.append(scene)
    args.names = names
    if args.size is not None and (min(args.size) <= 0 or args.size[0] % 2 or args.size[1] % 2):
        parser.error(f"--size must be two positive even numbers (H.264), got {args.size[0]} {args.size[1]}")
    if (args.fps is not None and args.fps <= 0) or (args.seconds is not None and args.seconds <= 0):
        parser.error("--fps and --seconds must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        for group, names in (("tracking", PRESETS), ("world", WORLD_PRESETS)):
            print(f"{group}: {' '.join(names)}")
        return 0
    files = [f"{name}.{ext}" for name in args.names for ext in ("mp4", "npz", "json")]
    check_output_folder(args.out, files, option="--out")
    data_dir = pybullet_data_dir()
    lines = []
    with OutputSet(args.out) as out:
        for name in args.names:
            scene = make_scene(name, size=args.size, fps=args.fps, seconds=args.seconds)
            start = time.perf_counter()
            truth = write_scene(scene, out.path(f"{name}.mp4"), out.path(f"{name}.npz"), out.path(f"{name}.json"),
                                data_dir=data_dir, progress=True)
            heights = ", ".join(f"{s['name']} {s['height_px_whole_median']} px" for s in scene_summary(scene, truth))
            w, h = scene.camera.size
            lines.append(f"  {name}: {scene.n_frames} frames, {w}x{h} at {scene.camera.fps:g} fps, "
                         f"{time.perf_counter() - start:.1f} s to render; median height: {heights}")
    print(f"wrote {len(args.names)} scenes to {args.out} (<name>.mp4, .npz, .json):")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
