"""Benchmark the DSTformer backbone against the original-style computation and this machine's limits.

    python bench/bench_backbone.py                      # everything (~15 minutes on 2 cores)
    python bench/bench_backbone.py --skip video,memory  # the Lite table and the accuracy only
    python bench/bench_backbone.py --profile            # per-operator profiles (project and eb75ff5)

What it measures (docs/performance.md explains the figures):

* the matrix-product peak of this CPU at the backbone's Linear shapes (fp32 and bf16, the faster of
  PyTorch's ``F.linear`` and the project's oneDNN kernel), the FLOPs of one clip (torch's FLOP
  counter) and so the time bound of a clip: FLOPs / peak (in the table, the peak is timed again in
  every turn, since the machine's speed drifts);
* MotionBERT-Lite at T = 243: fp32, bf16 and int8 inference (batch 1) and training steps (batch 2,
  fp32 and ``--amp`` bf16), each against the **original-style computation** of spec 01 §2-3
  (:func:`original_style_forward`: explicit ``softmax(q kᵀ·scale) v``, the original's permutes and
  separate ops, same weights; its outputs are checked against the project's), timed in turn in
  one process with glibc's default malloc (``--rounds`` rounds after a warm-up),
  with the targets of issue 15 beside the results;
* what ``lib/utils/malloc.py`` (applied by every script) adds: project inference in fresh processes
  with glibc's default malloc and with freed memory kept, seconds and page faults per clip;
* peak memory of a training step (each in a fresh process): original-style, the code before
  issue 15 (``--today``, default commit eb75ff5, taken from git) and this project;
* whole videos: frames lifted per second by ``lib.inference.lift`` with the default overlapping
  windows (and the config's flip averaging), Lite and MotionBERT, fp32 and bf16, for the code before
  issue 15 and this project, in fresh processes taking turns;
* the accuracy of bf16 and int8: relative deviation from fp32 on random models, the demo model
  and the pose3d fixture models, and the P1 change of the fixture evaluation.

Every comparison runs its computations in turn (A, B, A, B, ...) over ``--rounds`` rounds, in one process or in
alternating fresh processes, and gives the median, the min-max and the ratio round by round. The machine, its
load before and after, and the busy rule are those of ``lib/utils/benchmark.py``: a timing run on a busy machine
is refused unless ``--allow-busy``, which marks every figure taken under load.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __name__ == "__main__" and "--case" in sys.argv:  # a case may run another tree's lib (--today)
    _case = json.loads(sys.argv[sys.argv.index("--case") + 1])
    sys.path.insert(0, _case.get("tree") or REPO)
else:
    sys.path.insert(0, REPO)

MODELS = {"full": ("MotionBERT", "configs/pretrain/MB_pretrain.yaml", "configs/pose3d/MB_ft_h36m_global.yaml"),
          "lite": ("MotionBERT-Lite", "configs/pretrain/MB_lite.yaml",
                   "configs/pose3d/MB_ft_h36m_global_lite.yaml")}
TODAY = "eb75ff5"  # the code before issue 15
TARGETS = {  # issue 15, as (speed-up over the original-style computation, max multiple of the time bound)
    "fp32": (1.7, 1.3), "bf16_amx": (2.5, 3.0), "bf16": (None, 1.5), "train_fp32": (1.8, None),
    "train_bf16": (3.0, None), "video_bf16": 3.0}
PEAK_DTYPES = {"fp32": "float32", "bf16": "bfloat16"}  # precision -> torch dtype of the peak
OUTPUT_TOLERANCE = 1e-5  # original-style vs project outputs (fp32)
PEAK_ROUNDS = 5  # rounds of each Linear kernel at each shape for the peak (the fastest counts)


# ------------------------------------------------------------------ the original-style computation

def _original_attention(p, prefix, x, seqlen, mode, heads):
    """Spec 01 §2.2: qkv viewed (BF, N, 3, H, c) and permuted to (3, BF, H, N, c); explicit attention."""
    import torch.nn.functional as F
    BF, N, C = x.shape
    qkv = F.linear(x, p[prefix + "qkv.weight"], p[prefix + "qkv.bias"])
    qkv = qkv.reshape(BF, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    scale = (C // heads) ** -0.5
    if mode == "spatial":
        attn = ((q @ k.transpose(-2, -1)) * scale).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(BF, N, C)
    else:  # (B, F, H, N, c) -> (B, H, N, F, c), attention over frames, back to (B, F, N, H, c)
        q, k, v = (t.reshape(-1, seqlen, heads, N, C // heads).permute(0, 2, 3, 1, 4) for t in (q, k, v))
        attn = ((q @ k.transpose(-2, -1)) * scale).softmax(dim=-1)
        x = (attn @ v).permute(0, 3, 2, 1, 4).reshape(BF, N, C)
    return F.linear(x, p[prefix + "proj.weight"], p[prefix + "proj.bias"])


def _original_block(p, prefix, x, seqlen, order, heads, eps):
    """Spec 01 §2.3: per attention kind, x + attn(LN(x)), then x + MLP(LN(x)) with fc1, exact GELU, fc2."""
    import torch.nn.functional as F
    C = x.shape[-1]
    for mode in order:
        s = mode[0]
        y = F.layer_norm(x, (C,), p[f"{prefix}norm1_{s}.weight"], p[f"{prefix}norm1_{s}.bias"], eps)
        x = x + _original_attention(p, f"{prefix}attn_{s}.", y, seqlen, mode, heads)
        y = F.layer_norm(x, (C,), p[f"{prefix}norm2_{s}.weight"], p[f"{prefix}norm2_{s}.bias"], eps)
        y = F.gelu(F.linear(y, p[f"{prefix}mlp_{s}.fc1.weight"], p[f"{prefix}mlp_{s}.fc1.bias"]))
        x = x + F.linear(y, p[f"{prefix}mlp_{s}.fc2.weight"], p[f"{prefix}mlp_{s}.fc2.bias"])
    return x


def original_style_forward(p, x, heads, eps=1e-6):
    """DSTformer's forward as the original computes it (spec 01 §3), from a state dict ``p`` in the
    original layout: the baseline of this benchmark (not used by the project)."""
    import torch
    import torch.nn.functional as F
    B, T, J, C_in = x.shape
    depth = sum(1 for k in p if k.startswith("ts_attn.") and k.endswith(".weight"))
    x = F.linear(x.reshape(B * T, J, C_in), p["joints_embed.weight"], p["joints_embed.bias"])
    x = x + p["pos_embed"]
    x = (x.reshape(B, T, J, -1) + p["temp_embed"][:, :T]).reshape(B * T, J, -1)
    for d in range(depth):
        x_st = _original_block(p, f"blocks_st.{d}.", x, T, ("spatial", "temporal"), heads, eps)
        x_ts = _original_block(p, f"blocks_ts.{d}.", x, T, ("temporal", "spatial"), heads, eps)
        alpha = F.linear(torch.cat([x_st, x_ts], dim=-1), p[f"ts_attn.{d}.weight"], p[f"ts_attn.{d}.bias"])
        alpha = alpha.softmax(dim=-1)
        x = x_st * alpha[:, :, 0:1] + x_ts * alpha[:, :, 1:2]
    x = F.layer_norm(x, (x.shape[-1],), p["norm.weight"], p["norm.bias"], eps).reshape(B, T, J, -1)
    x = torch.tanh(F.linear(x, p["pre_logits.fc.weight"], p["pre_logits.fc.bias"]))
    return F.linear(x, p["head.weight"], p["head.bias"])


# ------------------------------------------------------------------ FLOPs, peak

def _model(name, seed=0, threads=0):
    import torch

    from lib.model.factory import build_model
    from lib.utils.config_schema import INFER_POSE3D, load_config
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    cfg = load_config(os.path.join(REPO, MODELS[name][1]), INFER_POSE3D)
    return build_model(cfg, "pose3d"), cfg


def clip_flops(model, cfg, frames):
    """FLOPs of one clip (torch's FLOP counter on the original-style computation: the same products)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    x = torch.zeros(1, frames, cfg.num_joints, 3)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        original_style_forward(model.state_dict(), x, cfg.num_heads)
    return counter.get_total_flops()


def _peak_operands(model, cfg, frames, precision):
    """The backbone's four Linear shapes at one clip's tokens in ``precision`` (fp32, bf16): ``[(x, weight, bias),
    ...]`` and their FLOPs."""
    import torch
    dtype = getattr(torch, PEAK_DTYPES[precision])
    tokens = frames * cfg.num_joints
    block = model.blocks_st[0]
    operands, flops = [], 0
    for layer in (block.attn_s.qkv, block.attn_s.proj, block.mlp_s.fc1, block.mlp_s.fc2):
        operands.append((torch.randn(tokens, layer.in_features).to(dtype), layer.weight.detach().to(dtype),
                         layer.bias.detach().to(dtype)))
        flops += 2 * tokens * layer.in_features * layer.out_features
    return operands, flops


def _peak_kernels():
    """The Linear kernels the peak is the faster of: PyTorch's ``F.linear`` and the project's."""
    import torch.nn.functional as F

    from lib.model.kernels import linear
    return {"F.linear": F.linear, "project (oneDNN)": linear}


def matmul_peak(model, cfg, frames):
    """``{dtype: (GFLOP/s, {kernel: GFLOP/s})}`` (dtype: the values of :data:`PEAK_DTYPES`): the matrix-product
    rate at the backbone's Linear shapes (one clip's tokens) of each of :func:`_peak_kernels`; the peak is the
    faster."""
    import torch

    from lib.utils.benchmark import time_in_turn
    kernels, result = _peak_kernels(), {}
    for precision, dtype in PEAK_DTYPES.items():
        operands, flops = _peak_operands(model, cfg, frames, precision)
        seconds = dict.fromkeys(kernels, 0.)
        with torch.inference_mode():
            for x, w, b in operands:
                rounds = time_in_turn({name: (lambda k=kernel: k(x, w, b)) for name, kernel in kernels.items()},
                                      PEAK_ROUNDS)
                for name in kernels:  # a peak: the fastest round
                    seconds[name] += rounds.spread(name).low
        rates = {k: flops / s / 1e9 for k, s in seconds.items()}
        result[dtype] = (max(rates.values()), rates)
    return result


def peak_in_turn(model, cfg, frames, precision, peak):
    """A function running the four Linear shapes once through the faster kernel of ``peak`` (:func:`matmul_peak`)
    for ``precision``, and its FLOPs: timed in turn with the clips (``time_in_turn``), it gives each turn's
    bound at the machine's speed of that moment, which varies on a shared machine."""
    import torch
    rates = peak[PEAK_DTYPES[precision]][1]
    kernel = _peak_kernels()[max(rates, key=rates.get)]  # on a tie the first, F.linear
    operands, flops = _peak_operands(model, cfg, frames, precision)

    def products():
        with torch.inference_mode():
            for x, w, b in operands:
                kernel(x, w, b)
    return products, flops


# ------------------------------------------------------------------ timing in one process

def inference_fns(model, params, cfg, x, precision):
    import torch

    from lib.utils.learning import precision_context

    def original():  # (fp32 and bf16 only: the original had no int8)
        with torch.inference_mode(), precision_context(precision, "cpu"):
            return original_style_forward(params, x, cfg.num_heads).float()

    def project():
        with torch.inference_mode(), precision_context(precision, "cpu"):
            return model(x).float()
    return original, project


def training_step(forward, parameters, x, precision):
    """One training step (forward in ``precision``, float32 loss, backward, AdamW) as a function."""
    import torch

    from lib.utils.learning import precision_context
    optimizer = torch.optim.AdamW(parameters, lr=1e-4)
    target = torch.randn(x.shape[:-1] + (3,), generator=torch.Generator().manual_seed(2))

    def step():
        with precision_context(precision, "cpu"):
            loss = (forward(x).float() - target).norm(dim=-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return step


def original_training_step(model, cfg, x, precision):
    params = {k: v.detach().clone().requires_grad_() for k, v in model.state_dict().items()}
    return training_step(lambda inp: original_style_forward(params, inp, cfg.num_heads), list(params.values()), x,
                         precision)


def table_measurements(name, frames, train_batch, rounds, skip, peak, run):
    """The original-style computation and the project (Lite table) timed in turn in one process over ``rounds``
    rounds with ``run``'s load checks: ``(max abs output difference, {measurement: Rounds}, {measurement: FLOPs of
    its peak products})``. The training measurement times the original's fp32 step (the baseline of both training
    rows: the original had no mixed precision) and the project's fp32 and ``--amp`` bf16 steps in the same rounds."""
    import torch

    from lib.utils.benchmark import time_in_turn
    model, cfg = _model(name)
    model.eval()
    params = {k: v.detach() for k, v in model.state_dict().items()}
    x = torch.randn(1, frames, cfg.num_joints, 3, generator=torch.Generator().manual_seed(1))
    original, project = inference_fns(model, params, cfg, x, "fp32")
    check = float((original() - project()).abs().max())
    rows, peak_flops = {}, {}
    for precision in ("fp32", "bf16", "int8"):
        if "infer" in skip or precision in skip:
            continue
        print(f"timing {MODELS[name][0]} inference {precision} ...", file=sys.stderr, flush=True)
        if precision == "int8":  # no int8 in the original: its fp32 is the baseline, and no bound
            rows["infer_int8"] = time_in_turn({"original": inference_fns(model, params, cfg, x, "fp32")[0],
                                               "project": inference_fns(model, params, cfg, x, "int8")[1]}, rounds,
                                              run)
            continue
        original, project = inference_fns(model, params, cfg, x, precision)
        products, peak_flops[f"infer_{precision}"] = peak_in_turn(model, cfg, frames, precision, peak)
        rows[f"infer_{precision}"] = time_in_turn({"original": original, "project": project, "peak": products},
                                                  rounds, run)
    if "train" not in skip:
        print(f"timing {MODELS[name][0]} training ...", file=sys.stderr, flush=True)
        xt = torch.randn(train_batch, frames, cfg.num_joints, 3, generator=torch.Generator().manual_seed(3))
        steps = {"original": original_training_step(model, cfg, xt, "fp32"),
                 "project fp32": training_step(model.train(), list(model.parameters()), xt, "fp32")}
        if "bf16" not in skip:
            steps["project bf16"] = training_step(model, list(model.parameters()), xt, "bf16")
        rows["train"] = time_in_turn(steps, rounds, run)
        model.eval()
    return check, rows, peak_flops


# ------------------------------------------------------------------ cases in fresh processes

def _status_mb(field):
    """A memory field of ``/proc/self/status`` (Linux) in MB; NaN elsewhere."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024.0
    except (OSError, StopIteration):
        return float("nan")


def _reset_peak_rss():
    """Reset this process' peak resident set size (Linux: ``/proc/self/clear_refs``); the resident MB now."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _status_mb("VmRSS")


def _peak_rss_mb():
    """Peak resident set size of this process since the last reset (Linux ``VmHWM``; else ``ru_maxrss``)."""
    peak = _status_mb("VmHWM")
    if peak == peak:
        return peak
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_case(case):
    """One measurement in this (fresh) process; ``case['tree']`` is the code tree whose lib is used."""
    import numpy as np
    import torch
    if case["threads"]:
        torch.set_num_threads(case["threads"])
    if case.get("tree") is None and case.get("malloc", True):  # this tree's scripts run with it (older trees lack it)
        from lib.utils.malloc import keep_freed_memory
        keep_freed_memory()
    if case["kind"] == "clip":  # seconds and page faults per clip of project inference
        import resource

        from lib.utils.learning import precision_context
        model, cfg = _model(case["model"])
        model.eval()
        x = torch.randn(1, case["frames"], cfg.num_joints, 3)
        times = []
        with torch.inference_mode(), precision_context(case["precision"], "cpu"):
            for _ in range(2):
                model(x)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(case["repeat"]):
                t0 = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - t0)
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / case["repeat"]
        return {"times": times, "faults": faults}
    if case["kind"] == "memory":  # peak resident memory of a training step
        model, cfg = _model(case["model"])
        x = torch.randn(case["batch"], case["frames"], cfg.num_joints, 3)
        if case["what"] == "original":
            step = original_training_step(model, cfg, x, case["precision"])
        else:
            step = training_step(model.train(), list(model.parameters()), x, case["precision"])
        before = _reset_peak_rss()  # the imports' transient peak is not the step's
        for _ in range(3):
            step()
        return {"peak_mb": _peak_rss_mb(), "before_mb": before}
    if case["kind"] == "video":  # frames per second of lift() on a whole video
        from lib.inference import lift
        from lib.utils.config_schema import INFER_POSE3D, load_config
        cfg = load_config(os.path.join(REPO, MODELS[case["model"]][2]), INFER_POSE3D)
        torch.manual_seed(0)
        from lib.model.factory import build_model
        model = build_model(cfg, "pose3d").eval()
        rng = np.random.default_rng(0)
        t = np.arange(case["frames"])[:, None, None]
        motion = np.concatenate([0.3 * np.sin(t / 30 + rng.uniform(0, 6, (1, 17, 2))) +
                                 0.01 * rng.standard_normal((case["frames"], 17, 2)),
                                 np.ones((case["frames"], 17, 1))], axis=-1).astype(np.float32)
        lift(motion, model, cfg, precision=case["precision"])  # warm-up
        times = []
        for _ in range(case["repeat"]):
            t0 = time.perf_counter()
            lift(motion, model, cfg, precision=case["precision"])
            times.append(time.perf_counter() - t0)
        return {"times": times, "flip": bool(cfg.get("flip", False))}
    if case["kind"] == "profile":
        from torch.profiler import ProfilerActivity, profile

        from lib.utils.learning import precision_context
        model, cfg = _model(case["model"])
        model.eval()
        x = torch.randn(1, case["frames"], cfg.num_joints, 3)
        run = (lambda: original_style_forward(model.state_dict(), x, cfg.num_heads)) if case["what"] == "original" \
            else (lambda: model(x))
        with torch.inference_mode(), precision_context(case["precision"], "cpu"):
            run()
            run()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                run()
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=48)
        return {"table": table}
    raise ValueError(case["kind"])


def run_in_subprocess(case):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--case", json.dumps(case)],
                         capture_output=True, text=True, cwd=REPO, env=dict(os.environ, TQDM_DISABLE="1"))
    if out.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def today_tree(commit):
    """The lib/ and configs/ of ``commit`` (the code before issue 15) in a temporary folder, or None without git."""
    folder = tempfile.mkdtemp(prefix="bench_today_")
    try:
        archive = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", commit, "lib", "configs"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return folder


# ------------------------------------------------------------------ accuracy

def precision_accuracy(lows, models, frames):
    """``{low: (rows, p1)}`` for each reduced precision of ``lows`` (bf16, int8): the relative deviation of its
    outputs from fp32 (``rows``: ``[(what, deviation), ...]``) and the P1 of the pose3d fixture evaluation in fp32
    and in it (``p1``: ``{fixture: {precision: mm}}``). Each model runs once in fp32."""
    import numpy as np
    import torch

    from lib.data.datareader_h36m import DataReaderH36M
    from lib.data.wild_input import load_wild_inputs, normalize_keypoints
    from lib.inference import load_demo_model, load_model, make_model_runner
    from lib.utils.eval_h36m import h36m_errors, predict_pose3d
    from lib.utils.learning import precision_context
    from lib.utils.tools import Config
    result = {low: ([], {}) for low in lows}

    def compare(what, run):
        """``run(precision)`` → outputs; the deviation of each low precision; ``{precision: outputs}``."""
        outputs = {precision: run(precision) for precision in ("fp32", *lows)}
        for low in lows:
            deviation = np.linalg.norm(outputs[low] - outputs["fp32"]) / np.linalg.norm(outputs["fp32"])
            result[low][0].append((what, float(deviation)))
        return outputs

    def forward(model, x):
        return lambda precision: make_model_runner(model, "cpu", precision)(x).numpy()
    for name in models:
        model, cfg = _model(name)
        x = torch.randn(2, frames, cfg.num_joints, 3, generator=torch.Generator().manual_seed(1))
        compare(f"{MODELS[name][0]} (random init), output", forward(model.eval(), x))
    # a trained model: the demo model on the demo's 2D keypoints (27-frame windows)
    demo, demo_cfg = load_demo_model()
    track = load_wild_inputs(os.path.join(REPO, "examples", "demo_alphapose.json")).tracks[0]
    motion = normalize_keypoints(track.keypoints, scale_range=[1, 1])
    n = len(motion) // demo_cfg.maxlen * demo_cfg.maxlen
    clips = torch.from_numpy(motion[:n].reshape(-1, demo_cfg.maxlen, 17, 3))
    compare("demo model (trained), output on examples/demo_alphapose.json", forward(demo, clips))
    # the pose3d fixture models with their checkpoints, on the synthetic H36M test clips
    fixtures = os.path.join(REPO, "tests", "fixtures", "pose3d")
    clips = torch.from_numpy(np.load(os.path.join(fixtures, "h36m_reader.npz"))["s1_sliced_test_data"])
    datareader = DataReaderH36M(n_frames=27, sample_stride=1, data_stride_train=9, data_stride_test=27,
                                dt_root=fixtures, dt_file="h36m_synthetic.pkl")
    for entry in json.load(open(os.path.join(fixtures, "backbone_configs.json"))):
        if "config" not in entry:  # built from constructor arguments, not a config
            continue
        model = load_model(Config(entry["config"]), os.path.join(fixtures, entry["checkpoint"]), "pose3d", "cpu")
        eval_cfg = Config(entry["evaluate"]["args"])

        def run(precision):
            with precision_context(precision, "cpu"):
                return np.concatenate([predict_pose3d(eval_cfg, model, clips[i:i + 4])
                                       for i in range(0, len(clips), 4)])
        pred = compare(f"fixture model {entry['name']}, output on the H36M test clips", run)
        errors = {precision: float(h36m_errors(p, datareader)["e1"]) for precision, p in pred.items()}
        for low in lows:
            result[low][1][entry["name"]] = {"fp32": errors["fp32"], low: errors[low]}
    return result


# ------------------------------------------------------------------ report

TABLE_ROWS = (  # row, label, its measurement of table_measurements, the baseline's and the project's names in it
    ("infer_fp32", "fp32 inference, batch 1 (s/clip)", "infer_fp32", "original", "project"),
    ("infer_bf16", "bf16 inference, batch 1 (s/clip)", "infer_bf16", "original", "project"),
    ("infer_int8", "int8 inference, batch 1 (s/clip; vs original fp32)", "infer_int8", "original", "project"),
    ("train_fp32", "training step, batch 2, fp32 (s)", "train", "original", "project fp32"),
    ("train_bf16", "training step, batch 2, --amp bf16 (s)", "train", "original", "project bf16"))


def _met(ok):
    return "yes" if ok else "no"


def table_figures(rows, peak_flops, flops, amx):
    """The issue's table as figures, ``[{row, label, original, project, speedup, bound, per_bound, target, met,
    under_load}, ...]`` (Spreads: median and min-max over the rounds; the speed-up and project / bound round by
    round). The bound of a round is the clip's FLOPs at the rate the peak products ran in that round; the targets
    are checked on the medians."""
    from lib.utils.benchmark import Spread
    figures = []
    for key, label, measurement, baseline, project in TABLE_ROWS:
        rounds = rows.get(measurement)
        if rounds is None or project not in rounds.values:
            continue
        figure = dict(row=key, label=label, original=rounds.spread(baseline), project=rounds.spread(project),
                      speedup=rounds.ratio(baseline, project), bound=None, per_bound=None,
                      under_load=any(rounds.under_load))
        precision = key.split("_")[1]
        checks, target = [], []
        if key.startswith("infer") and key != "infer_int8":  # int8: the optional path, no target
            min_speedup, max_bound = TARGETS["bf16_amx" if precision == "bf16" and amx else precision]
            bounds = [flops * t / peak_flops[key] for t in rounds.values["peak"]]
            figure["bound"] = Spread.of(bounds, figure["under_load"])
            figure["per_bound"] = Spread.of([p / b for p, b in zip(rounds.values[project], bounds)],
                                            figure["under_load"])
            if min_speedup:
                target.append(f">= {min_speedup}x")
                checks.append(figure["speedup"].median >= min_speedup)
            target.append(f"<= {max_bound}x bound")
            checks.append(figure["per_bound"].median <= max_bound)
        elif key.startswith("train"):
            target.append(f">= {TARGETS[key][0]}x")
            checks.append(figure["speedup"].median >= TARGETS[key][0])
        figure.update(target=" and ".join(target), met=_met(all(checks)) if checks else "")
        figures.append(figure)
    return figures


def format_main_table(figures, title):
    """The issue's table: original-style vs project, the targets, the FLOP bounds."""
    from lib.utils.benchmark import format_table, mark
    lines = [[mark(f["label"], f["under_load"]), f["original"].cell(), f["project"].cell(), f["speedup"].cell(2, "x"),
              f["target"], f["bound"].cell() if f["bound"] else "",
              f["per_bound"].cell(2, "x") if f["per_bound"] else "", f["met"]] for f in figures]
    return format_table([f"{title}", "original-style", "this project", "speed-up", "target", "bound (s)",
                         "project / bound", "met"], lines)


def as_json(value):
    """Figures for the JSON file: Spreads as their median, min, max, rounds and load mark."""
    from lib.utils.benchmark import Spread
    if isinstance(value, Spread):
        return value.as_dict()
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--case" in argv:  # one measurement in this fresh process (run_in_subprocess)
        print(json.dumps(run_case(json.loads(argv[argv.index("--case") + 1]))))
        return 0
    # here, not at the top: a --case process may run another tree's lib (--today), which has no such module
    from lib.utils.benchmark import (BenchmarkRun, add_timing_arguments, format_table, in_turn, mark,
                                     positive_int)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="lite", choices=sorted(MODELS), help="model of the main table")
    parser.add_argument("--video-models", default="lite,full", help="comma list of: lite, full")
    parser.add_argument("--frames", type=int, default=243)
    parser.add_argument("--train-batch", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed runs in each fresh process of the malloc (clips) and video (lifts: half as many) "
                             "comparisons, after a warm-up; a round's figure is their median")
    parser.add_argument("--video-frames", type=int, default=600, help="length of the synthetic whole video")
    parser.add_argument("--video-rounds", type=positive_int, default=None,
                        help="rounds of fresh processes of the malloc and video comparisons, taking turns (default: "
                             "--rounds)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--today", default=TODAY, help="git commit of the code before issue 15 (for the video "
                                                       "and memory comparisons)")
    parser.add_argument("--skip", default="",
                        help="comma list of parts to skip: infer, bf16, int8, train, memory, malloc, video, accuracy")
    parser.add_argument("--profile", action="store_true", help="only print per-operator profiles of one Lite "
                                                               "clip (original-style, --today, project)")
    parser.add_argument("--json", help="also write the raw results to this file")
    add_timing_arguments(parser, what="the original-style computation and the project (the main table; also the "
                                      "fresh processes of --video-rounds), taking turns")
    cli = parser.parse_args(argv)
    import torch
    if cli.threads:
        torch.set_num_threads(cli.threads)
    skip = set(filter(None, cli.skip.split(",")))
    video_rounds = cli.video_rounds or cli.rounds
    timed = cli.profile or not {"infer", "train", "malloc", "video"} <= skip  # memory and accuracy time nothing
    print(time.strftime("%Y-%m-%d %H:%M"))
    run = BenchmarkRun(__file__, cli.allow_busy, timed=timed, with_torch=True).start()
    amx = run.machine["cpu_flags"]["amx_bf16"]
    today = today_tree(cli.today)
    base = dict(threads=cli.threads, frames=cli.frames)
    if cli.profile:
        for what, tree in (("original", None), ("today", today), ("project", None)):
            for precision in ("fp32", "bf16", "int8") if what == "project" else ("fp32", "bf16"):
                case = dict(base, kind="profile", model=cli.model, what=what, precision=precision, tree=tree)
                label = f"{what} ({cli.today if what == 'today' else 'this tree'}), {precision}"
                profiled, loaded = run.run(lambda: run_in_subprocess(case), label)
                print(f"\n{mark(label, loaded)}:")
                print(profiled["table"])
        run.finish()
        return 0
    results = {}

    model, cfg = _model(cli.model)
    flops = clip_flops(model, cfg, cli.frames)
    print(f"\n{MODELS[cli.model][0]}, T = {cli.frames}: {flops / 1e9:.1f} GFLOP per clip (torch's FLOP counter)")
    results["flops"] = flops
    if timed:
        peak, loaded = run.run(lambda: matmul_peak(model, cfg, cli.frames), "the matrix-product peak")
        bounds = {p: flops / (peak[dtype][0] * 1e9) for p, dtype in PEAK_DTYPES.items()}
        for precision, dtype in PEAK_DTYPES.items():
            rate, rates = peak[dtype]
            kernels = ", ".join(f"{k} {v:.0f}" for k, v in rates.items())
            print(mark(f"  {precision} matrix-product peak at the backbone's Linear shapes: {rate:.0f} GFLOP/s "
                       f"({kernels}); bound {bounds[precision]:.3f} s per clip", loaded))
        results["peak"], results["bounds"], results["peak_under_load"] = peak, bounds, loaded

        check, rows, peak_flops = table_measurements(cli.model, cli.frames, cli.train_batch, cli.rounds, skip, peak,
                                                     run)
        results["output_difference"] = check
        print(f"\noriginal-style vs project outputs (fp32): max abs difference {check:.2e} (limit "
              f"{OUTPUT_TOLERANCE:g}): {'ok' if check <= OUTPUT_TOLERANCE else 'FAILED'}")
        if rows:
            figures = table_figures(rows, peak_flops, flops, amx)
            results["rows"] = as_json(figures)
            print(f"median (min-max) of {cli.rounds} rounds after a warm-up, taking turns in one process; speed-up "
                  f"and project / bound round by round")
            print("bound: the clip's FLOPs at the rate of the four Linear shapes timed in each round (the machine's "
                  "speed varies)")
            print(format_main_table(figures, f"{MODELS[cli.model][0]}, T = {cli.frames}"))

    if "memory" not in skip and "train" not in skip:  # peak memory does not depend on the load: no checks
        print(f"\npeak memory of a training step, batch {cli.train_batch} (fresh processes):", flush=True)
        memory = {}
        versions = [("original-style", "original", None), ("project", "project", None)]
        if today:
            versions.insert(1, (f"before issue 15 ({cli.today})", "project", today))
        for label, what, tree in versions:
            for precision in ("fp32", "bf16") if what != "original" else ("fp32",):
                case = dict(base, kind="memory", model=cli.model, what=what, tree=tree, precision=precision,
                            batch=cli.train_batch)
                measured = run_in_subprocess(case)
                memory[f"{label} {precision}"] = measured["peak_mb"]
                print(f"  {label}, {precision}: {measured['peak_mb']:.0f} MB peak resident "
                      f"({measured['peak_mb'] - measured['before_mb']:.0f} MB above the process before the "
                      f"steps)", flush=True)
        results["memory"] = memory

    def in_fresh_processes(cases):  # {key: case} -> Rounds of their results, one fresh process per call
        return in_turn({key: (lambda c=case: run_in_subprocess(c)) for key, case in cases.items()}, video_rounds,
                       run, check_each_call=True)

    def round_seconds(result):  # a fresh process's figure: the median of its timed runs
        return statistics.median(result["times"])

    if "malloc" not in skip:
        print(f"\nmalloc (lib/utils/malloc.py, applied by every script): {MODELS[cli.model][0]} inference in fresh "
              f"processes with glibc's default and with keep_freed_memory(), taking turns ({video_rounds} rounds "
              f"of {cli.repeat} clips; median (min-max) of the rounds' medians):", flush=True)
        precisions = [precision for precision in ("fp32", "bf16", "int8") if precision not in skip]
        allocator = in_fresh_processes({f"{precision} {allocation}": dict(
            base, kind="clip", model=cli.model, precision=precision, malloc=allocation == "kept", tree=None,
            repeat=cli.repeat) for precision in precisions for allocation in ("default", "kept")})
        table, results["malloc"] = [], {}
        for precision in precisions:
            default, kept = (allocator.spread(f"{precision} {a}", round_seconds) for a in ("default", "kept"))
            faults = [statistics.median(r["faults"] for r in allocator.values[f"{precision} {a}"])
                      for a in ("default", "kept")]
            speedup = allocator.ratio(f"{precision} default", f"{precision} kept", round_seconds)
            table.append([mark(precision, speedup.under_load), default.cell(), f"{faults[0]:.0f}", kept.cell(),
                          f"{faults[1]:.0f}", speedup.cell(2, "x")])
            results["malloc"][precision] = as_json(dict(default=default, kept=kept, faults_default=faults[0],
                                                        faults_kept=faults[1], speedup=speedup))
        print(format_table(["precision", "default malloc (s/clip)", "page faults/clip", "keep_freed_memory (s/clip)",
                            "page faults/clip", "speed-up"], table))

    if "video" not in skip:
        video = {}
        print(f"\nwhole video: {cli.video_frames} frames, lift() with the default windows (clip_len = maxlen, stride "
              f"= clip_len // 3, flip averaging of the config), fresh processes taking turns ({video_rounds} rounds; "
              f"median (min-max))", flush=True)
        table = []
        for name in cli.video_models.split(","):
            for precision in ("fp32", "bf16"):
                if precision == "bf16" and "bf16" in skip:
                    continue
                runs = in_fresh_processes({version: dict(base, kind="video", model=name, precision=precision,
                                                         tree=tree, frames=cli.video_frames,
                                                         repeat=max(1, cli.repeat // 2))
                                           for version, tree in (("today", today), ("project", None))
                                           if version == "project" or today})
                fps = {v: runs.spread(v, lambda r: cli.video_frames / round_seconds(r)) for v in runs.values}
                gain = runs.ratio("today", "project", round_seconds) if "today" in fps else None
                target = f">= {TARGETS['video_bf16']}x" if precision == "bf16" else ""
                met = _met(gain.median >= TARGETS["video_bf16"]) if precision == "bf16" and gain else ""
                table.append([mark(MODELS[name][0], any(runs.under_load)), precision,
                              fps["today"].cell(0) if "today" in fps else "", fps["project"].cell(0),
                              gain.cell(2, "x") if gain else "", target, met])
                video[f"{name} {precision}"] = as_json(dict(fps=fps, speedup=gain))
        print(format_table(["model", "precision", f"frames/s before ({cli.today})", "frames/s now", "speed-up",
                            "target", "met"], table))
        results["video"] = video

    lows = [low for low in ("bf16", "int8") if low not in skip] if "accuracy" not in skip else []
    for low, (rows, p1) in (precision_accuracy(lows, sorted(MODELS), cli.frames) if lows else {}).items():
        print(f"\n{low} vs fp32: relative deviation ||y_{low} - y_fp32|| / ||y_fp32|| (target <= 1 %)")
        for what, value in rows:
            print(f"  {what}: {100 * value:.3f} %")
        for name, errors in p1.items():
            print(f"  fixture model {name}, H36M protocol P1: fp32 {errors['fp32']:.3f} mm, {low} {errors[low]:.3f} "
                  f"mm (difference {errors[low] - errors['fp32']:+.3f} mm, "
                  f"{100 * (errors[low] / errors['fp32'] - 1):+.3f} %)")
        results[f"accuracy_{low}"] = {"deviation": rows, "p1": p1}
    print()
    results.update(run.finish())
    if cli.json:
        with open(cli.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
