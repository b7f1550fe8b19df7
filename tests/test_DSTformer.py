"""DSTformer against the original's outputs (fixtures) and the spec's golden architecture check."""
import json
from functools import partial

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from conftest import fixture_path, spec_default_linear, spec_trunc_normal
from lib.model.DSTformer import Attention, Block, DSTformer, trunc_normal_
from lib.utils.checkpoint import load_checkpoint, strip_prefix
from lib.utils.learning import load_backbone
from lib.utils.tools import Config, get_config

CONFIGS = json.load(open(fixture_path("pose3d", "backbone_configs.json")))


def build_fixture_model(entry):
    if entry["builder"] == "load_backbone":
        return load_backbone(Config(entry["config"]))
    return DSTformer(**entry["ctor_kwargs"], norm_layer=partial(nn.LayerNorm, eps=1e-6))


@pytest.fixture(params=CONFIGS, ids=[c["name"] for c in CONFIGS], scope="module")
def fixture_model(request):
    entry = request.param
    model = build_fixture_model(entry)
    ckpt = load_checkpoint(fixture_path("pose3d", entry["checkpoint"]))
    model.load_state_dict(strip_prefix(ckpt["model_pos"]), strict=True)
    return entry, model.eval(), np.load(fixture_path("pose3d", entry["npz"]))


def test_parameter_count(fixture_model):
    entry, model, _ = fixture_model
    assert sum(p.numel() for p in model.parameters()) == entry["num_params"]


@pytest.mark.parity
@pytest.mark.parametrize("length", ["full", "short"])
def test_outputs_match_original(fixture_model, length):
    entry, model, data = fixture_model
    x = torch.from_numpy(data[f"x_{length}"])
    with torch.no_grad():
        y = model(x).numpy()
        rep = model.get_representation(x).numpy()
        rep_direct = model(x, return_rep=True).numpy()
    np.testing.assert_allclose(y, data[f"y_{length}"], rtol=1e-5, atol=1e-5)
    expected_rep = data["rep_full0"] if length == "full" else data["rep_short"]
    np.testing.assert_allclose(rep[:len(expected_rep)], expected_rep, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(rep, rep_direct)


def test_train_mode_equals_eval_mode(fixture_model):
    entry, model, data = fixture_model
    x = torch.from_numpy(data["x_short"])
    with torch.no_grad():
        model.train()
        y_train = model(x)
        model.eval()
        y_eval = model(x)
    torch.testing.assert_close(y_train, y_eval)


def _golden_fill(model):
    """Spec 01 §5: deterministic weights computed in float64."""
    new = {}
    for i, (k, v) in enumerate(model.state_dict().items()):
        if k.endswith(".bias"):
            new[k] = torch.zeros_like(v)
        elif "norm" in k:
            new[k] = torch.ones_like(v)
        else:
            n = np.arange(v.numel(), dtype=np.float64)
            new[k] = torch.from_numpy(0.1 * np.sin(12.9898 * n + 78.233 * i)).reshape(v.shape).to(v.dtype)
    model.load_state_dict(new)
    return model


# spec 01 §5 table (values produced by the original)
GOLDEN = {
    "configs/pretrain/MB_lite.yaml": dict(
        sum=-1.6354649489, y000=[-0.0154098047, 0.0149650532, -0.0145102230],
        y1416=[-0.0038272294, 0.0036624189, -0.0034951418], y029=[0.1283315986, -0.1257238913, 0.1230315105],
        rep_sum=2.7697309931, rep025=[-0.7973742202, -0.7783769693, 0.8070055587, 0.7666767844],
        short_sum=-2.1244601052, short123=[-0.0093510653, 0.0081437428, -0.0069309356]),
    "configs/pretrain/MB_pretrain.yaml": dict(
        sum=-0.9993755866, y000=[-0.0106435959, 0.0104141199, -0.0101776302],
        y1416=[0.0009839719, -0.0009621856, 0.0009397514], y029=[-0.0782619385, 0.0765938809, -0.0748742383],
        rep_sum=-1.4246538047, rep025=[0.9864232204, -0.9864137088, 0.9863587798, -0.9862579234],
        short_sum=-1.1387711947, short123=[-0.0777659848, 0.0761084899, -0.0743997369]),
}


# the parity subset checks the lite model only: the full one runs the same code, 4x slower
@pytest.mark.parametrize("config", [pytest.param(c, marks=pytest.mark.parity) if "lite" in c else c
                                    for c in sorted(GOLDEN)])
def test_golden_architecture_check(config):
    g = GOLDEN[config]
    model = _golden_fill(load_backbone(get_config(config)).double().eval())
    x = torch.from_numpy(np.sin(1.3 * np.arange(2 * 5 * 17 * 3, dtype=np.float64)).reshape(2, 5, 17, 3))
    with torch.no_grad():
        y, rep, short = model(x), model.get_representation(x), model(x[:, :3])
    assert y.sum().item() == pytest.approx(g["sum"], abs=1e-9)
    np.testing.assert_allclose(y[0, 0, 0].numpy(), g["y000"], atol=1e-9)
    np.testing.assert_allclose(y[1, 4, 16].numpy(), g["y1416"], atol=1e-9)
    np.testing.assert_allclose(y[0, 2, 9].numpy(), g["y029"], atol=1e-9)
    assert rep.sum().item() == pytest.approx(g["rep_sum"], abs=1e-8)
    np.testing.assert_allclose(rep[0, 2, 5, :4].numpy(), g["rep025"], atol=1e-9)
    assert short.sum().item() == pytest.approx(g["short_sum"], abs=1e-9)
    np.testing.assert_allclose(short[1, 2, 3].numpy(), g["short123"], atol=1e-9)


@pytest.mark.parity
def test_float32_golden_agrees():
    model = _golden_fill(load_backbone(get_config("configs/pretrain/MB_lite.yaml")).double()).float().eval()
    x = torch.from_numpy(np.sin(1.3 * np.arange(2 * 5 * 17 * 3, dtype=np.float64)).reshape(2, 5, 17, 3)).float()
    with torch.no_grad():
        y = model(x)
    np.testing.assert_allclose(y[0, 2, 9].numpy(), GOLDEN["configs/pretrain/MB_lite.yaml"]["y029"], atol=1e-5)


def small_model(**kw):
    args = dict(dim_in=3, dim_out=3, dim_feat=16, dim_rep=8, depth=1, num_heads=2, mlp_ratio=2, maxlen=12)
    args.update(kw)
    return DSTformer(**args).eval()


@pytest.mark.parametrize("shape,match", [
    ((2, 5, 17), "4-D"),
    ((1, 2, 5, 17, 3), "4-D"),
    ((2, 5, 16, 3), "17 joints"),
    ((2, 5, 17, 2), "3 input channels"),
    ((2, 13, 17, 3), "maxlen = 12"),
])
def test_wrong_input_raises_value_error(shape, match):
    with pytest.raises(ValueError, match=match):
        small_model()(torch.zeros(shape))


def test_any_length_up_to_maxlen_and_dim_in_2():
    model = small_model(dim_in=2)
    for frames in (1, 7, 12):
        assert model(torch.zeros(3, frames, 17, 2)).shape == (3, frames, 17, 3)
        assert model.get_representation(torch.zeros(1, frames, 17, 2)).shape == (1, frames, 17, 8)


def test_frames_are_independent_of_batch_neighbours():
    model = small_model()
    x = torch.randn(3, 6, 17, 3)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[1:2], model(x[1:2]), rtol=1e-5, atol=1e-6)


def test_initialisation():
    torch.manual_seed(0)
    model = small_model(depth=2)
    for fuse in model.ts_attn:
        assert torch.all(fuse.weight == 0) and torch.all(fuse.bias == 0.5)
    assert torch.all(model.blocks_st[0].attn_s.qkv.bias == 0)
    assert torch.all(model.norm.weight == 1)
    assert model.temp_embed.std().item() == pytest.approx(0.02, rel=0.2)
    assert not hasattr(small_model(att_fuse=False), "ts_attn")


def test_same_seed_same_init():
    torch.manual_seed(3)
    a = small_model()
    torch.manual_seed(3)
    b = small_model()
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_trunc_normal_uses_absolute_bounds():
    t = trunc_normal_(torch.empty(10000), mean=0., std=0.02)
    assert t.abs().max() < 0.2 and t.std().item() == pytest.approx(0.02, rel=0.1)
    t = trunc_normal_(torch.empty(1000), mean=0., std=1.0, a=-0.5, b=0.5)
    assert t.abs().max() <= 0.5


def test_attention_scale_and_modes():
    assert Attention(512, num_heads=8).scale == 0.125
    assert Attention(256, num_heads=8).scale == pytest.approx(0.17677669529663687)
    assert list(dict(Attention(8, 2, qkv_bias=True).named_parameters())) == [
        "proj.weight", "proj.bias", "qkv.weight", "qkv.bias"]
    with pytest.raises(NotImplementedError):
        Attention(8, 2, st_mode="coupling")
    with pytest.raises(NotImplementedError):
        Block(8, 2, st_mode="stage_para")


@pytest.mark.parametrize("mode", ["temporal", "spatial"])
def test_attention_mixes_frames_or_joints_only(mode):
    """Temporal attention mixes the frames of one joint of one clip, spatial attention the joints of
    one frame (the values themselves are checked by the fixture tests of the whole model)."""
    torch.manual_seed(0)
    attn = Attention(8, num_heads=2, qkv_bias=True, st_mode=mode).double()
    B, F_, J, C = 2, 5, 3, 8
    x = torch.randn(B * F_, J, C, dtype=torch.float64)
    changed = x.clone()
    changed[1 * F_ + 2, 1] += 1.0  # clip 1, frame 2, joint 1
    with torch.no_grad():
        moved = (attn(changed, F_) - attn(x, F_)).abs().amax(-1).reshape(B, F_, J) > 1e-12
    expected = torch.zeros(B, F_, J, dtype=torch.bool)
    if mode == "temporal":
        expected[1, :, 1] = True
    else:
        expected[1, 2, :] = True
    assert torch.equal(moved, expected)


def test_training_gradients_match_a_float64_reference():
    """Training runs the fast path (oneDNN products forward and backward, head-major qkv, two-product gate,
    lerp); a float64 copy runs PyTorch's own ops: the parameter gradients agree."""
    torch.manual_seed(0)
    model = small_model(depth=2, mlp_ratio=4).train()
    for p in model.parameters():  # leave the initial values (zero biases, 0.5/0.5 gate) for general ones
        p.data.normal_(0, 0.2)
    reference = small_model(depth=2, mlp_ratio=4).double().train()
    reference.load_state_dict(model.state_dict())
    x = torch.randn(2, 7, 17, 3)
    weights = torch.randn(2, 7, 17, 3)
    (model(x) * weights).sum().backward()
    (reference(x.double()) * weights.double()).sum().backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad.double(), q.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_reset_classifier_uses_dim_rep():
    model = small_model()
    model.reset_classifier(5)
    assert model.get_classifier().in_features == 8
    assert model(torch.zeros(1, 2, 17, 3)).shape == (1, 2, 17, 5)
    model.reset_classifier(0)
    assert isinstance(model.head, nn.Identity)


def test_cpu_inference_in_chunks_matches_the_whole_batch():
    import lib.model.DSTformer as dst
    model = small_model()
    x = torch.randn(5, 12, 17, 3)
    with torch.no_grad():
        chunked = model(x)  # 5 clips of 12 frames fit one chunk: a single pass
        original = dst.CPU_INFERENCE_TOKENS
        try:
            dst.CPU_INFERENCE_TOKENS = 2 * 12 * 17  # two clips per chunk
            split = model(x)
        finally:
            dst.CPU_INFERENCE_TOKENS = original
    torch.testing.assert_close(split, chunked, rtol=1e-6, atol=1e-6)
    assert model(x).requires_grad  # with autograd the batch is one pass


# --- initialisation: the original's algorithm and order of draws (spec 01 §4) -----------------------------
def spec_backbone_init(dim_in, dim_feat, dim_rep, depth, mlp_ratio, maxlen, num_joints, dim_out=3, **_):
    """The initial weights the spec's construction order draws from the current state of torch's global
    generator: {name: values} of the randomly initialised tensors."""
    hidden = int(dim_feat * mlp_ratio)
    block = [("attn_s.proj", dim_feat, dim_feat), ("attn_s.qkv", 3 * dim_feat, dim_feat),
             ("attn_t.proj", dim_feat, dim_feat), ("attn_t.qkv", 3 * dim_feat, dim_feat),
             ("mlp_s.fc1", hidden, dim_feat), ("mlp_s.fc2", dim_feat, hidden),
             ("mlp_t.fc1", hidden, dim_feat), ("mlp_t.fc2", dim_feat, hidden)]
    linears = [("joints_embed", dim_feat, dim_in)]
    linears += [(f"{stream}.{d}.{name}", o, i) for stream in ("blocks_st", "blocks_ts") for d in range(depth)
                for name, o, i in block]
    linears += [("pre_logits.fc", dim_rep, dim_feat), ("head", dim_out, dim_rep)]
    for _, o, i in linears:  # PyTorch's default init when each Linear is created (overwritten below)
        spec_default_linear(o, i)
    weights = {"temp_embed": spec_trunc_normal((1, maxlen, 1, dim_feat), std=0.02),
               "pos_embed": spec_trunc_normal((1, num_joints, dim_feat), std=0.02)}
    for name, o, i in linears:  # the recursive apply visits the Linears in creation order
        weights[f"{name}.weight"] = spec_trunc_normal((o, i), std=0.02)
    for _ in range(depth):  # ts_attn: created after the apply (default init, then weight 0, bias 0.5)
        spec_default_linear(2, 2 * dim_feat)
    return weights


@pytest.mark.parametrize("seed", [0, 3])
def test_initialisation_draws_what_the_spec_draws(seed):
    sizes = dict(dim_in=3, dim_feat=16, dim_rep=24, depth=2, mlp_ratio=2, maxlen=9, num_joints=17)
    torch.manual_seed(seed)
    expected = spec_backbone_init(**sizes)
    expected_generator_state = torch.get_rng_state()
    torch.manual_seed(seed)
    model = load_backbone(Config(dict(sizes, num_heads=2)))
    assert torch.equal(torch.get_rng_state(), expected_generator_state)  # no draw more, no draw less
    state = model.state_dict()
    for name, values in expected.items():
        np.testing.assert_allclose(state[name].numpy(), values, rtol=1e-5, atol=1e-9, err_msg=name)
    assert all((state[k] == 0).all() for k in state if k.endswith(".bias") and not k.startswith("ts_attn"))


def test_initial_weights_are_the_originals():
    # the original's backbone right after torch.manual_seed(0) (tests/fixtures/training/README.md)
    config = yaml.safe_load(json.load(open(fixture_path("training", "training_run.json")))["config_yaml"])
    torch.manual_seed(0)
    state = load_backbone(Config(config)).state_dict()
    reference = np.load(fixture_path("training", "init_seed0.npz"))
    assert list(state) == list(reference.files)
    for name in reference.files:
        # identical on the machine that recorded them; other CPUs' erfinv may differ in the last bit or two
        np.testing.assert_allclose(state[name].numpy(), reference[name], rtol=1e-6, atol=1e-9, err_msg=name)


def test_bf16_inference_of_the_demo_model_within_one_percent():
    """bf16 autocast inference (bf16 residual stream, explicit bf16 attention without AMX) stays within 1 % of
    fp32 on a trained model: the demo model lifting the demo's 2D keypoints as infer_wild.py does."""
    import os

    from lib.data.wild_input import load_wild_inputs, normalize_keypoints
    from lib.inference import lift, load_demo_model
    model, cfg = load_demo_model()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    keypoints = load_wild_inputs(os.path.join(repo, "examples", "demo_alphapose.json")).tracks[0].keypoints
    fp32, bf16 = (lift(normalize_keypoints(keypoints, scale_range=[1, 1]), model, cfg, precision=precision)
                  for precision in ("fp32", "bf16"))
    deviation = float(np.linalg.norm(bf16 - fp32) / np.linalg.norm(fp32))
    assert 0 < deviation < 0.01


def test_inference_follows_parameter_changes_after_the_qkv_reorder_is_kept():
    """Without gradients the head-major qkv weight is kept between calls; an in-place update of the parameters
    (an optimizer step, load_state_dict) or a new storage (.to) must show in the next output."""
    torch.manual_seed(0)
    model = DSTformer(dim_feat=32, dim_rep=16, depth=1, num_heads=4, mlp_ratio=2, maxlen=8).eval()
    x = torch.randn(1, 8, 17, 3)
    with torch.no_grad():
        before = model(x)
        for name, p in model.named_parameters():
            if "qkv" in name:
                p.add_(0.05 * torch.randn_like(p))
        after = model(x)
        fresh = DSTformer(dim_feat=32, dim_rep=16, depth=1, num_heads=4, mlp_ratio=2, maxlen=8).eval()
        fresh.load_state_dict(model.state_dict())
        assert not torch.equal(before, after)
        torch.testing.assert_close(after, fresh(x))
        other = DSTformer(dim_feat=32, dim_rep=16, depth=1, num_heads=4, mlp_ratio=2, maxlen=8).eval()
        model.load_state_dict(other.state_dict())
        torch.testing.assert_close(model(x), other(x))
        torch.testing.assert_close(model.double()(x.double()), other.double()(x.double()))
