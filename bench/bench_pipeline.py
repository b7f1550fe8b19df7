"""The whole video run against the detector alone (issue 27): the table of docs/performance.md ("The video run").

The clips are scenes of ``lib.data.scenes`` (``single``: one walker, ``cross``: two people, ``three``: three), 30 s
at 30 fps, at 640x360, 1280x720 and 1920x1080, rendered once into ``--clips`` (default data/pipeline/<W>x<H>/;
``tools/render_scenes.py``). Per clip, in turn, ``--rounds`` times:

* **detector alone**: ``lib.data.detector.detect()`` in this process (decoding, detection, tracking), with the
  options the whole run uses (``--max_people 6``, tiles by default; and ``--max_people 1`` on ``single``);
* **whole run**: ``python infer_wild.py --config configs/pose3d/MB_demo.yaml -e checkpoint/demo/best_epoch.bin
  --vid_path <clip> --out_path <tmp>`` in a fresh process, start to exit (every file, renders included), and the
  same with ``--no_render`` (the motion files only). Its closing line gives each stage's seconds (start-up to the
  first frame detected, detection, waiting for the model, lifting, world, motion files, renders).

    python bench/bench_pipeline.py [--sizes 640x360 1280x720 1920x1080] [--names single cross three]
                                   [--rounds 1] [--allow-busy] [--json FILE]

A busy machine is refused (lib/utils/benchmark.py) unless ``--allow-busy``, which marks the figures.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TQDM_DISABLE", "1")

from lib.utils.benchmark import BenchmarkRun, Spread, add_timing_arguments, ensure_scene, mark  # noqa: E402

SIZES = ("640x360", "1280x720", "1920x1080")
NAMES = {"single": 1, "cross": 2, "three": 3}  # scene: people in it
SECONDS = 30.0
DEMO_MODEL = ("configs/pose3d/MB_demo.yaml", "checkpoint/demo/best_epoch.bin")
TARGET_RATIO = 0.85  # issue 27: the whole run at least this fraction of the detector's rate
STAGE_LINE = re.compile(r"^done in ([\d.]+) s.*?\((.*)\)$", re.M)


def stage_seconds(stdout):
    """``{stage: seconds}`` of infer_wild.py's closing line (``done in ... (start-up 1.0 s, ...)``)."""
    found = STAGE_LINE.search(stdout)
    if not found:
        raise SystemExit(f"no closing line in infer_wild.py's output:\n{stdout[-1500:]}")
    stages = {}
    for part in found.group(2).split(", "):
        name, seconds = part.rsplit(" ", 2)[0], part.rsplit(" ", 2)[1]
        stages[name] = float(seconds)
    return stages


def whole_run(video, max_people, render, out):
    """``(seconds start to exit, {stage: seconds}, people lifted)`` of infer_wild.py in a fresh process."""
    command = [sys.executable, os.path.join(REPO, "infer_wild.py"), "--config", DEMO_MODEL[0], "-e", DEMO_MODEL[1],
               "--vid_path", video, "--out_path", out, "--max_people", str(max_people)]
    command += [] if render else ["--no_render"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    people = len([n for n in os.listdir(out) if re.fullmatch(r"X3D(_\d+)?\.npy", n)])
    return seconds, stage_seconds(done.stdout), people


def detect_alone(video, max_people):
    from lib.data.detector import detect

    start = time.perf_counter()
    found = detect(video, max_people=max_people, progress=False)
    return time.perf_counter() - start, found.n_frames


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), metavar="WxH")
    parser.add_argument("--names", nargs="+", default=list(NAMES), choices=list(NAMES))
    parser.add_argument("--clips", default=os.path.join(REPO, "data", "pipeline"),
                        help="folder of the clips, <W>x<H>/<name>.mp4 (rendered there when missing)")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="the clips' length (default %(default)s)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    add_timing_arguments(parser, rounds=1, what="the detector alone and the whole run (with and without renders)")
    cli = parser.parse_args()
    for size in cli.sizes:
        if not re.fullmatch(r"\d+x\d+", size):
            parser.error(f"--sizes: '{size}' is not WxH (e.g. 1280x720)")
    cases = [(size, name, max_people) for size in cli.sizes for name in cli.names
             for max_people in ((6, 1) if name == "single" else (6,))]
    clips = {(size, name): ensure_scene(os.path.join(cli.clips, size), name, size, cli.seconds)[0]
             for size, name, _ in cases}  # rendered before the load check
    run = BenchmarkRun(__file__, cli.allow_busy, timed=True, with_torch=True).start()
    rows = []
    for size, name, max_people in cases:
        video = clips[size, name]
        alone, whole, motion_only, stages, under_load = [], [], [], [], False
        label = f"{name} {size} --max_people {max_people}"
        for _ in range(cli.rounds):
            (seconds, n_frames), busy = run.run(lambda: detect_alone(video, max_people), f"{label}, detector alone")
            alone.append(seconds)
            under_load |= busy
            for render, into in ((True, whole), (False, motion_only)):
                with tempfile.TemporaryDirectory() as out:
                    (seconds, times, people), busy = run.run(lambda: whole_run(video, max_people, render, out),
                                                             f"{label}, whole run{'' if render else ' --no_render'}")
                into.append(seconds)
                under_load |= busy
                if render:
                    stages.append(times)
        fps = lambda values: Spread.of([n_frames / s for s in values])  # noqa: E731
        row = dict(clip=name, size=size, people=NAMES[name], max_people=max_people, frames=n_frames,
                   people_lifted=people, detect_fps=fps(alone), whole_fps=fps(whole), motion_fps=fps(motion_only),
                   stages={k: Spread.of([s[k] for s in stages]) for k in stages[0]}, under_load=under_load)
        row["ratio"] = row["whole_fps"].median / row["detect_fps"].median
        row["motion_ratio"] = row["motion_fps"].median / row["detect_fps"].median
        rows.append(row)
        print(f"  {label}: detector {row['detect_fps'].cell(1)} fps, whole {row['whole_fps'].cell(1)} fps "
              f"({row['ratio']:.2f}x), --no_render {row['motion_fps'].cell(1)} fps ({row['motion_ratio']:.2f}x); "
              + ", ".join(f"{k} {v.median:.1f} s" for k, v in row["stages"].items()), file=sys.stderr, flush=True)
    print(f"\nClips of lib.data.scenes, {cli.seconds:g} s at 30 fps; whole run = infer_wild.py with the demo model "
          f"from start to exit; median (min-max) of {cli.rounds} round(s); stage seconds from the whole run's closing "
          f"line\n")
    stage_names = list(rows[0]["stages"])
    print("| clip | size | --max_people | people lifted | detector alone (fps) | whole run (fps) | ratio | "
          "--no_render (fps) | ratio | " + " | ".join(f"{s} (s)" for s in stage_names) + " |")
    print("|---|---|---|---|---|---|---|---|---|" + "---|" * len(stage_names))
    for r in rows:
        print(f"| {mark(r['clip'], r['under_load'])} ({r['people']}) | {r['size']} | {r['max_people']} | "
              f"{r['people_lifted']} | {r['detect_fps'].cell(1)} | {r['whole_fps'].cell(1)} | {r['ratio']:.2f} | "
              f"{r['motion_fps'].cell(1)} | {r['motion_ratio']:.2f} | " +
              " | ".join(f"{r['stages'][s].median:.1f}" for s in stage_names) + " |")
    met = [r for r in rows if r["ratio"] >= TARGET_RATIO]
    met_motion = [r for r in rows if r["motion_ratio"] >= TARGET_RATIO]
    startup = max(r["stages"]["start-up"].median for r in rows)
    print(f"\nwhole run >= {TARGET_RATIO}x the detector: {len(met)} of {len(rows)} clips (with renders), "
          f"{len(met_motion)} of {len(rows)} (--no_render); start-up at most {startup:.2f} s")
    if cli.json:
        with open(cli.json, "w") as f:
            json.dump({**run.record(), "rows": [{k: (v.as_dict() if isinstance(v, Spread) else
                                                     {s: x.as_dict() for s, x in v.items()} if k == "stages" else v)
                                                 for k, v in r.items()} for r in rows]}, f, indent=1)
    print()
    run.finish()


if __name__ == "__main__":
    main()
