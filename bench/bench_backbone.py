"""Benchmark the DSTformer backbone: inference (fp32, bf16, ONNX Runtime), training steps, peak memory,
and the accuracy cost of bf16.

    python bench/bench_backbone.py                     # the whole table: MotionBERT and Lite, T=243
    python bench/bench_backbone.py --models lite --batches 1 --repeat 2 --skip onnx,train

Each timing case runs in a fresh subprocess, so its peak memory (CPU: peak resident set size of
that process; CUDA: ``torch.cuda.max_memory_allocated``) is its own. Times are wall-clock
medians over ``--repeat`` runs after one warm-up run (and the best run, since shared machines are
noisy); "s/clip" divides by the batch size. The "original-style attention" rows run the same
model with attention computed as the original does (explicit matrix products, 5-D temporal
tensors, whole batches): the baseline for what this implementation changed.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

MODELS = {"full": ("MotionBERT", "configs/pretrain/MB_pretrain.yaml"),
          "lite": ("MotionBERT-Lite", "configs/pretrain/MB_lite.yaml")}
KINDS = ("infer", "onnx", "train")


def _peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _model(case):
    import torch

    from lib.model.factory import build_model
    from lib.utils.config_schema import INFER_POSE3D, load_config
    torch.manual_seed(0)
    if case.get("threads"):
        torch.set_num_threads(case["threads"])
    cfg = load_config(os.path.join(REPO, MODELS[case["model"]][1]), INFER_POSE3D)
    return build_model(cfg, "pose3d"), cfg


def explicit_attention_forward(self, x, seqlen=1):
    """Attention as the original computes it (spec 01 §2.2): explicit ``softmax(q kᵀ · scale) v``
    with 5-D tensors for temporal attention, batch by batch in one pass. The baseline of the
    ``explicit`` rows."""
    B_, N, C = x.shape
    qkv = self.qkv(x).reshape(B_, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    if self.mode == "temporal":
        B = B_ // seqlen
        q, k, v = (t.reshape(-1, seqlen, self.num_heads, N, C // self.num_heads).permute(0, 2, 3, 1, 4)
                   for t in (q, k, v))
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        x = (attn @ v).permute(0, 3, 2, 1, 4).reshape(B, seqlen, N, C).reshape(B_, N, C)
    else:
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B_, N, C)
    return self.proj(x)


def _step_fn(case, model, cfg, device):
    """The function timed by a case."""
    import torch

    from lib.utils.learning import precision_context
    x = torch.randn(case["batch"], case["frames"], cfg.num_joints, 3, device=device)
    if case["kind"] == "explicit":
        from lib.model import DSTformer as dst
        dst.Attention.forward = explicit_attention_forward
        dst.CPU_INFERENCE_TOKENS = 10 ** 9  # whole batches at once, as the original
    if case["kind"] in ("infer", "explicit"):
        model.eval()

        def step():
            with torch.inference_mode(), precision_context(case["precision"], device):
                model(x)
        return step
    if case["kind"] == "onnx":
        import onnxruntime as ort

        from lib.inference import export_onnx
        path = os.path.join(tempfile.mkdtemp(), "backbone.onnx")
        export_onnx(model.eval(), cfg, False, path)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        feed = {"input": x.cpu().numpy()}
        return lambda: session.run(None, feed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    target = torch.randn_like(x)

    def step():
        with precision_context(case["precision"], device):
            loss = (model(x).float() - target).norm(dim=-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return step


def run_case(case):
    """Run one timing case in this process; return a dict of measurements."""
    import torch
    model, cfg = _model(case)
    device = torch.device(case["device"])
    model = model.to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step = _step_fn(case, model, cfg, device)
    step()  # warm-up
    sync()
    times = []
    for _ in range(case["repeat"]):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == "cuda" else _peak_rss_mb()
    return dict(case, seconds=seconds, best_seconds=min(times), s_per_clip=seconds / case["batch"],
                clips_per_s=case["batch"] / seconds, peak_mb=peak, threads=torch.get_num_threads(),
                torch=torch.__version__)


def bf16_accuracy(models, frames):
    """Relative deviation of bf16 from fp32 outputs, and the P1 change on the pose3d fixture evaluation."""
    import numpy as np
    import torch

    from lib.data.datareader_h36m import DataReaderH36M
    from lib.inference import load_model
    from lib.utils.eval_h36m import h36m_errors, predict_pose3d
    from lib.utils.learning import precision_context
    from lib.utils.tools import Config
    rows = []
    for name in models:
        model, cfg = _model({"model": name})
        model.eval()
        x = torch.randn(2, frames, cfg.num_joints, 3, generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            fp32 = model(x)
            with precision_context("bf16", "cpu"):
                bf16 = model(x).float()
        rows.append((f"{MODELS[name][0]} (random init), output", float((bf16 - fp32).norm() / fp32.norm())))
    # a trained model: the demo model on the demo's 2D keypoints (27-frame windows)
    from lib.data.wild_input import load_wild_inputs, normalize_keypoints
    from lib.utils.config_schema import INFER_POSE3D, load_config
    demo_cfg = load_config(os.path.join(REPO, "configs", "pose3d", "MB_demo.yaml"), INFER_POSE3D)
    demo = load_model(demo_cfg, os.path.join(REPO, "checkpoint", "demo", "best_epoch.bin"), "pose3d", "cpu")
    track = load_wild_inputs(os.path.join(REPO, "examples", "demo_alphapose.json")).tracks[0]
    motion = normalize_keypoints(track.keypoints, scale_range=[1, 1])
    n = len(motion) // demo_cfg.maxlen * demo_cfg.maxlen
    clips = torch.from_numpy(motion[:n].reshape(-1, demo_cfg.maxlen, 17, 3))
    with torch.inference_mode():
        fp32 = demo(clips)
        with precision_context("bf16", "cpu"):
            bf16 = demo(clips).float()
    rows.append(("demo model (trained), output on examples/demo_alphapose.json",
                 float((bf16 - fp32).norm() / fp32.norm())))
    # the fixture backbone A with its checkpoint, on the synthetic H36M test clips
    fixtures = os.path.join(REPO, "tests", "fixtures", "pose3d")
    entry = json.load(open(os.path.join(fixtures, "backbone_configs.json")))[0]
    model = load_model(Config(entry["config"]), os.path.join(fixtures, entry["checkpoint"]), "pose3d", "cpu")
    reader = np.load(os.path.join(fixtures, "h36m_reader.npz"))
    clips = torch.from_numpy(reader["s1_sliced_test_data"])
    eval_cfg = Config(entry["evaluate"]["args"])
    p1 = {}
    for precision in ("fp32", "bf16"):
        with precision_context(precision, "cpu"):
            pred = np.concatenate([predict_pose3d(eval_cfg, model, clips[i:i + 4]) for i in range(0, len(clips), 4)])
        if precision == "fp32":
            pred32 = pred.copy()
        else:
            rows.append(("fixture backbone A, output on the H36M test clips",
                         float(np.linalg.norm(pred - pred32) / np.linalg.norm(pred32))))
        datareader = DataReaderH36M(n_frames=27, sample_stride=1, data_stride_train=9, data_stride_test=27,
                                    dt_root=fixtures, dt_file="h36m_synthetic.pkl")
        p1[precision] = float(h36m_errors(pred, datareader)["e1"])
    return rows, p1


def run_in_subprocess(case):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--case", json.dumps(case)],
                         capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def format_table(results):
    header = ["model", "mode", "batch", "s/step", "best s/step", "s/clip", "clips/s", "peak MB"]
    rows = []
    for r in results:
        mode = {"infer": f"inference {r['precision']}", "onnx": "ONNX Runtime fp32",
                "explicit": "inference fp32, original-style attention",
                "train": "train step " + ("fp32" if r["precision"] == "fp32" else f"amp {r['precision']}")}[r["kind"]]
        rows.append([MODELS[r["model"]][0], mode, str(r["batch"]), f"{r['seconds']:.3f}", f"{r['best_seconds']:.3f}",
                     f"{r['s_per_clip']:.3f}", f"{r['clips_per_s']:.2f}", f"{r['peak_mb']:.0f}"])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="full,lite", help="comma list of: full, lite")
    parser.add_argument("--batches", default="1,8", help="inference batch sizes")
    parser.add_argument("--frames", type=int, default=243)
    parser.add_argument("--train-batch", type=int, default=2, help="batch of the training steps")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--skip", default="",
                        help="comma list of parts to skip: explicit, infer, bf16, onnx, train, accuracy")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    cli = parser.parse_args(argv)
    if cli.case:
        print(json.dumps(run_case(json.loads(cli.case))))
        return 0
    import torch

    from lib.inference import get_device
    device = str(get_device(cli.device))
    skip = set(filter(None, cli.skip.split(",")))
    models = cli.models.split(",")
    batches = list(map(int, cli.batches.split(",")))
    base = dict(frames=cli.frames, repeat=cli.repeat, device=device, threads=cli.threads)
    cases = []
    for model in models:
        for batch in batches:
            if "explicit" not in skip:
                cases.append(dict(base, model=model, kind="explicit", batch=batch, precision="fp32"))
            for precision in ("fp32", "bf16"):
                if "infer" not in skip and not (precision == "bf16" and "bf16" in skip):
                    cases.append(dict(base, model=model, kind="infer", batch=batch, precision=precision))
        if "onnx" not in skip and device == "cpu":
            cases += [dict(base, model=model, kind="onnx", batch=batch, precision="fp32") for batch in batches]
        if "train" not in skip:
            for precision in ("fp32", "bf16"):
                if not (precision == "bf16" and "bf16" in skip):
                    cases.append(dict(base, model=model, kind="train", batch=cli.train_batch, precision=precision))
    results = []
    for case in cases:
        print(f"running {case['model']} {case['kind']} {case['precision']} batch {case['batch']} ...",
              file=sys.stderr, flush=True)
        results.append(run_in_subprocess(case))
    threads = results[0]["threads"] if results else torch.get_num_threads()
    print(f"{time.strftime('%Y-%m-%d')}, torch {torch.__version__}, device {device}, {threads} threads, "
          f"{platform.machine()} with {os.cpu_count()} CPUs; T={cli.frames}; median of {cli.repeat} runs after "
          f"1 warm-up")
    if results:
        print(format_table(results))
    if "accuracy" not in skip and "bf16" not in skip:
        rows, p1 = bf16_accuracy(models, cli.frames)
        print("\nbf16 vs fp32: relative deviation ||y_bf16 - y_fp32|| / ||y_fp32||")
        for what, value in rows:
            print(f"  {what}: {100 * value:.3f} %")
        print(f"  fixture backbone A, H36M protocol P1: fp32 {p1['fp32']:.3f} mm, bf16 {p1['bf16']:.3f} mm "
              f"(difference {p1['bf16'] - p1['fp32']:+.3f} mm, {100 * (p1['bf16'] / p1['fp32'] - 1):+.3f} %)")
    if cli.json:
        with open(cli.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
