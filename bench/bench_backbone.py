"""Benchmark the DSTformer backbone: inference throughput, peak memory, training-step time.

    python bench/bench_backbone.py                 # MotionBERT and Lite, T=243, batch 1 and 8
    python bench/bench_backbone.py --models lite --batches 1 --repeat 2

Each case runs in a fresh subprocess so that its peak memory (CPU: peak resident set size of
that process; CUDA: ``torch.cuda.max_memory_allocated``) is its own. Times are wall-clock
medians over ``--repeat`` runs after one warm-up run.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

MODELS = {"full": ("MotionBERT", "configs/pretrain/MB_pretrain.yaml"),
          "lite": ("MotionBERT-Lite", "configs/pretrain/MB_lite.yaml")}


def _peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def run_case(case):
    """Run one case in this process; return a dict of measurements."""
    import torch

    from lib.utils.learning import load_backbone
    from lib.utils.tools import get_config

    torch.manual_seed(0)
    device = torch.device(case["device"])
    if case.get("threads"):
        torch.set_num_threads(case["threads"])
    args = get_config(os.path.join(REPO, MODELS[case["model"]][1]))
    model = load_backbone(args).to(device)
    x = torch.randn(case["batch"], case["frames"], args.num_joints, 3, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rss_before = _peak_rss_mb()

    if case["kind"] == "infer":
        model.eval()

        def step():
            with torch.inference_mode():
                model(x)
    else:
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        target = torch.randn(case["batch"], case["frames"], args.num_joints, 3, device=device)

        def step():
            loss = (model(x) - target).norm(dim=-1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    step()  # warm-up
    sync()
    times = []
    for _ in range(case["repeat"]):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    result = dict(case, seconds=seconds, clips_per_s=case["batch"] / seconds,
                  threads=torch.get_num_threads(), torch=torch.__version__)
    if device.type == "cuda":
        result["peak_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        result["peak_mb"] = _peak_rss_mb()
        result["peak_over_model_mb"] = _peak_rss_mb() - rss_before
    return result


def run_in_subprocess(case):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--case", json.dumps(case)],
                         capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def format_table(results):
    header = ["model", "mode", "batch", "frames", "s/step", "clips/s", "peak MB"]
    rows = []
    for r in results:
        mode = "inference fp32" if r["kind"] == "infer" else "train step fp32"
        rows.append([MODELS[r["model"]][0], mode, str(r["batch"]), str(r["frames"]), f"{r['seconds']:.3f}",
                     f"{r['clips_per_s']:.2f}", f"{r['peak_mb']:.0f}"])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="full,lite", help="comma list of: full, lite")
    parser.add_argument("--batches", default="1,8", help="inference batch sizes")
    parser.add_argument("--frames", type=int, default=243)
    parser.add_argument("--train-batch", type=int, default=2, help="batch of the training step (0: skip)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--device", default="cuda" if _cuda_available() else "cpu")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.case:
        print(json.dumps(run_case(json.loads(opts.case))))
        return 0

    cases = []
    for model in opts.models.split(","):
        for batch in map(int, opts.batches.split(",")):
            cases.append(dict(model=model, kind="infer", batch=batch, frames=opts.frames, repeat=opts.repeat,
                              device=opts.device, threads=opts.threads))
        if opts.train_batch:
            cases.append(dict(model=model, kind="train", batch=opts.train_batch, frames=opts.frames,
                              repeat=opts.repeat, device=opts.device, threads=opts.threads))
    results = []
    for case in cases:
        print(f"running {case['model']} {case['kind']} batch {case['batch']} ...", file=sys.stderr, flush=True)
        results.append(run_in_subprocess(case))
    r0 = results[0]
    print(f"torch {r0['torch']}, device {opts.device}, {r0['threads']} threads, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; median of {opts.repeat} runs after 1 warm-up")
    print(format_table(results))
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def _cuda_available():
    import torch
    return torch.cuda.is_available()


if __name__ == "__main__":
    sys.exit(main())
