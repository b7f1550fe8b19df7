"""Measurements of the in-the-wild pipeline quoted in docs/inference.md.

    python bench/bench_wild.py seams     # pose jumps at the original's chunk borders vs overlapping windows
    python bench/bench_wild.py render    # X3D.mp4 rendering speed on a 500-frame clip

``seams`` lifts a smooth synthetic 2D motion (270 frames) with the tiny test backbone
(tests/fixtures/tasks/wild, maxlen 27, so windows of 27 frames) in chunk mode and with
overlapping windows, and compares the mean joint displacement between consecutive frames at
the chunk borders with that everywhere else. ``render`` times ``render_and_save`` (projection,
drawing and H.264 encoding) on 500 frames, and for comparison a matplotlib figure per frame as
the original drew it (spec 06 §4.2) on ``--mpl_frames`` frames: the two take turns after a warm-up
over ``--rounds`` rounds (median, min-max, and the ratio round by round); a busy machine is refused
unless ``--allow-busy``, which marks the figures (``lib/utils/benchmark.py``). Both print the machine
and its load before and after.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from lib.utils.benchmark import BenchmarkRun, Spread, add_timing_arguments, mark, time_in_turn  # noqa: E402

WILD = os.path.join(REPO, "tests", "fixtures", "tasks", "wild")


def smooth_motion(n_frames):
    """The first pose of the fixture video, swaying and moving its joints smoothly (normalised units)."""
    from lib.data.dataset_wild import read_input

    base = read_input(os.path.join(WILD, "alphapose_single.json"), None, [1, 1], None)[0]
    t = np.arange(n_frames)[:, None]
    motion = np.repeat(base[None], n_frames, axis=0)
    motion[..., 0] += 0.2 * np.sin(2 * np.pi * t / 90) + 0.05 * np.sin(2 * np.pi * t / 37 + np.arange(17) / 3)
    motion[..., 1] += 0.05 * np.cos(2 * np.pi * t / 60 + np.arange(17) / 5)
    return motion.astype(np.float32)


def bench_seams(n_frames=270, clip_len=27):
    import torch

    from lib.inference import lift, load_model, plan_windows, seam_jump
    from lib.utils.config_schema import INFER_POSE3D, load_config

    torch.set_num_threads(1)
    cfg = load_config(os.path.join(WILD, "infer_single_flip_norm.yaml"), INFER_POSE3D)
    model = load_model(cfg, os.path.join(WILD, "pose3d_best_epoch.bin"), "pose3d", "cpu")
    motion = smooth_motion(n_frames)
    chunks = plan_windows(n_frames, clip_len, clip_len)
    print(f"{n_frames} frames, clip_len {clip_len}; mean joint displacement per frame (normalised units)")
    for stride in (clip_len, clip_len // 2, clip_len // 3):
        lifted = lift(motion, model, cfg, clip_len, stride)
        border, inside = seam_jump(lifted, chunks)
        mode = "chunks (original)" if stride == clip_len else "overlapping, blended"
        print(f"stride {stride:3d} {mode:22s} at chunk borders {border:.4f}  elsewhere {inside:.4f}  "
              f"ratio {border / inside:.2f}")


def matplotlib_frame(pose, fig_size=10, dpi=120):
    """One frame drawn the way the original did (matplotlib 3D axes, PNG round trip)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lib.skeleton import BONE_SIDES, BONES_RENDER_ORDER
    from lib.utils.vismo import BONE_COLORS_3D, get_img_from_fig
    fig = plt.figure(0, figsize=(fig_size, fig_size))
    ax = plt.axes(projection="3d")
    ax.set_xlim(-512, 0)
    ax.set_ylim(-256, 256)
    ax.set_zlim(-512, 0)
    ax.view_init(elev=12., azim=80)
    plt.tick_params(left=False, right=False, labelleft=False, labelbottom=False, bottom=False)
    for a, b in BONES_RENDER_ORDER:
        color = BONE_COLORS_3D[BONE_SIDES[(a, b)]]
        ax.plot(-pose[[a, b], 0], -pose[[a, b], 2], -pose[[a, b], 1], color=color, lw=3, marker="o",
                markerfacecolor="w", markersize=3, markeredgewidth=2)
    img = get_img_from_fig(fig, dpi=dpi)
    plt.close(fig)
    return img


def bench_render(n_frames=500, mpl_frames=20, rounds=1, run=None):
    """render_and_save on ``n_frames`` and the original's matplotlib drawing on ``mpl_frames``, in turn."""
    import imageio

    from lib.utils.vismo import pixel2world_vis_motion, render_and_save

    motion = smooth_motion(n_frames)
    motion[..., 2] = 0.1 * np.sin(np.arange(n_frames) / 20)[:, None]
    world = pixel2world_vis_motion(motion.transpose(1, 2, 0), dim=3)

    def draw_matplotlib():
        for i in range(mpl_frames):
            matplotlib_frame(world[:, :, i])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X3D.mp4")
        measured = time_in_turn({"render_and_save": lambda: render_and_save(motion, path, fps=30),
                                 "matplotlib": draw_matplotlib}, rounds, run)
        reader = imageio.get_reader(path, "ffmpeg")
        size, frames = reader.get_meta_data()["size"], reader.count_frames()
        reader.close()
    loaded = any(measured.under_load)
    ours = measured.spread("render_and_save", lambda s: n_frames / s)
    original = measured.spread("matplotlib", lambda s: mpl_frames / s)
    faster = Spread.of([(n_frames / a) / (mpl_frames / b) for a, b in
                        zip(measured.values["render_and_save"], measured.values["matplotlib"])], loaded)
    print(f"median (min-max) of {rounds} rounds after a warm-up, taking turns")
    print(mark(f"render_and_save: {frames} frames {size[0]}x{size[1]} in {measured.spread('render_and_save').cell(2)} "
               f"s = {ours.cell(1)} frames/s (drawing + H.264 encoding)", loaded))
    print(mark(f"matplotlib as the original (figure + PNG, no encoding), {mpl_frames} frames: "
               f"{original.cell(2)} frames/s", loaded))
    print(mark(f"render_and_save per frame against matplotlib's: {faster.cell(1, 'x')} faster (round by round)",
               loaded))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["seams", "render"])
    parser.add_argument("--frames", type=int, default=None, help="clip length (default 270 / 500)")
    parser.add_argument("--mpl_frames", type=int, default=20, help="frames drawn with matplotlib for comparison")
    add_timing_arguments(parser, what="render_and_save and matplotlib, taking turns (render only)")
    cli = parser.parse_args()
    run = BenchmarkRun(__file__, cli.allow_busy, timed=cli.what == "render", with_torch=cli.what == "seams").start()
    if cli.what == "seams":
        bench_seams(cli.frames or 270)
    else:
        bench_render(cli.frames or 500, cli.mpl_frames, cli.rounds, run)
    run.finish()


if __name__ == "__main__":
    main()
