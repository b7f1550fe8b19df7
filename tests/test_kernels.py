"""lib/model/kernels.py: oneDNN Linear layers agree with torch.nn.functional.linear, values and gradients."""
import pytest
import torch
import torch.nn.functional as F

from lib.model import kernels
from lib.model.kernels import linear, onednn_applies

pytestmark = pytest.mark.skipif(kernels._LINEAR_POINTWISE is None, reason="PyTorch build without oneDNN")


def operands(rows=37, inputs=24, outputs=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, rows, inputs, generator=g)
    weight = torch.randn(outputs, inputs, generator=g) / inputs ** 0.5
    bias = torch.randn(outputs, generator=g)
    residual = torch.randn(3, rows, outputs, generator=g)
    return x, weight, bias, residual


def reference(x, weight, bias, activation=None, residual=None):
    """The same computation in float64 with PyTorch's own ops."""
    y = F.linear(x.double(), weight.double(), None if bias is None else bias.double())
    y = {"gelu": F.gelu, "tanh": torch.tanh, None: lambda t: t}[activation](y)
    return y if residual is None else y + residual.double()


@pytest.mark.parametrize("activation", [None, "gelu", "tanh"])
@pytest.mark.parametrize("with_residual", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_float32_inference_matches_pytorch(activation, with_residual, with_bias):
    x, weight, bias, residual = operands()
    bias = bias if with_bias else None
    residual = residual if with_residual else None
    assert onednn_applies(x)
    with torch.no_grad():
        y = linear(x, weight, bias, activation, residual)
    assert y.dtype == torch.float32 and y.shape == (3, 37, 40)
    torch.testing.assert_close(y.double(), reference(x, weight, bias, activation, residual), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation", [None, "gelu"])
def test_gradients_match_pytorch(activation):
    x, weight, bias, residual = operands()
    leaves = [t.clone().requires_grad_() for t in (x, weight, bias, residual)]
    y = linear(*leaves[:3], activation, leaves[3])
    grad_out = torch.randn_like(y)
    grads = torch.autograd.grad(y, leaves, grad_out)
    ref_leaves = [t.double().requires_grad_() for t in (x, weight, bias, residual)]
    expected = torch.autograd.grad(reference(*ref_leaves[:3], activation, ref_leaves[3]), ref_leaves,
                                   grad_out.double())
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)


def test_gradient_of_the_weight_alone():
    """A frozen input (no gradient) still gives the weight's and the bias' gradients."""
    x, weight, bias, _ = operands()
    weight.requires_grad_()
    bias.requires_grad_()
    linear(x, weight, bias).pow(2).sum().backward()
    w64, b64 = weight.detach().double().requires_grad_(), bias.detach().double().requires_grad_()
    reference(x, w64, b64).pow(2).sum().backward()
    torch.testing.assert_close(weight.grad.double(), w64.grad, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(bias.grad.double(), b64.grad, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("activation", [None, "gelu"])
@pytest.mark.parametrize("grad", [False, True])
def test_autocast_runs_in_bfloat16_like_f_linear(activation, grad):
    x, weight, bias, residual = operands()
    with torch.set_grad_enabled(grad), torch.autocast("cpu", dtype=torch.bfloat16):
        y = linear(x, weight.requires_grad_(grad), bias, activation)
        plain = F.linear(x, weight, bias)
        expected = F.gelu(plain) if activation else plain
        with_residual = linear(x, weight, bias, residual=residual)
    assert y.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), expected.float(), rtol=2e-2, atol=2e-2)
    # a float32 residual stays float32: the sum is taken in float32
    assert with_residual.dtype == torch.float32
    torch.testing.assert_close(with_residual, residual + plain.float(), rtol=2e-2, atol=2e-2)


def test_other_dtypes_and_tracing_use_f_linear(monkeypatch):
    x, weight, bias, _ = operands()
    assert not onednn_applies(x.double())
    y = linear(x.double(), weight.double(), bias.double(), "tanh")
    torch.testing.assert_close(y, reference(x, weight, bias, "tanh"))
    # while the ONNX export or torch.compile traces the model, only standard ops are used
    monkeypatch.setattr(kernels, "is_tracing", lambda: True)
    assert not onednn_applies(x)

    def fail(*args):
        raise AssertionError("the oneDNN op was called while tracing")
    monkeypatch.setattr(kernels, "_LINEAR_POINTWISE", fail)
    torch.testing.assert_close(linear(x, weight, bias, "gelu").double(), reference(x, weight, bias, "gelu"),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("length", [17, 90])  # short sequences (explicit products in bf16) and long ones (SDPA)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_attention_matches_softmax_attention(length, dtype):
    """Values and gradients of strided q, k, v views (as the backbone passes them) against float64."""
    g = torch.Generator().manual_seed(length)
    qkv = torch.randn(6, length, 2, 3, 16, generator=g)  # (batch, tokens, heads, q/k/v, channels)
    scale = 16 ** -0.5
    leaf = qkv.to(dtype, copy=True).requires_grad_()
    q, k, v = (t.transpose(1, 2) for t in leaf.unbind(3))
    y = kernels.attention(q, k, v, scale)
    grad_out = torch.randn(y.shape, generator=g)
    y.backward(grad_out.to(dtype))
    ref_leaf = qkv.double().requires_grad_()
    rq, rk, rv = (t.transpose(1, 2) for t in ref_leaf.unbind(3))
    expected = torch.softmax(rq @ rk.transpose(-2, -1) * scale, dim=-1) @ rv
    expected.backward(grad_out.double())
    tolerance = 1e-5 if dtype == torch.float32 else 3e-2
    assert y.dtype == dtype
    torch.testing.assert_close(y.double(), expected, rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(leaf.grad.double(), ref_leaf.grad, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("chunk_bytes", [1 << 22, 3000])  # one chunk, and many chunks of one (batch, head) pair
def test_bfloat16_inference_attention_in_chunks(monkeypatch, chunk_bytes):
    """Without gradients, bf16 attention of long sequences (the temporal attention) takes the explicit products in
    chunks on a CPU without AMX; the result matches float64 whatever the chunk size."""
    monkeypatch.setattr(kernels, "CPU_HAS_AMX", False)
    monkeypatch.setattr(kernels, "CHUNK_SCORE_BYTES", chunk_bytes)

    def fail(*args, **kwargs):
        raise AssertionError("SDPA was called for bf16 inference without AMX")
    monkeypatch.setattr(kernels.F, "scaled_dot_product_attention", fail)
    g = torch.Generator().manual_seed(3)
    qkv = torch.randn(2, 90, 6, 3, 16, generator=g)
    q, k, v = (t.transpose(1, 2) for t in qkv.bfloat16().unbind(3))
    with torch.no_grad():
        y = kernels.attention(q, k, v, 0.25)
    rq, rk, rv = (t.transpose(1, 2) for t in qkv.double().unbind(3))
    expected = torch.softmax(rq @ rk.transpose(-2, -1) * 0.25, dim=-1) @ rv
    assert y.dtype == torch.bfloat16 and y.shape == expected.shape
    torch.testing.assert_close(y.double(), expected, rtol=3e-2, atol=3e-2)


def test_long_sequences_keep_sdpa_while_training(monkeypatch):
    """With gradients recorded, long bf16 sequences go through SDPA (which recomputes the probabilities in the
    backward pass instead of keeping them); short ones take the explicit products."""
    monkeypatch.setattr(kernels, "CPU_HAS_AMX", False)
    calls = []
    sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(kernels.F, "scaled_dot_product_attention",
                        lambda *a, **kw: calls.append(a[0].shape[-2]) or sdpa(*a, **kw))
    for length in (17, 90):
        q = torch.randn(2, 4, length, 16, dtype=torch.bfloat16, requires_grad=True)
        kernels.attention(q, q, q, 0.25).sum().backward()
    assert calls == [90]


def test_stream_dtype_is_bfloat16_under_cpu_bfloat16_autocast_only():
    x = torch.zeros(2, 3)
    assert kernels.stream_dtype(x) == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert kernels.stream_dtype(x) == torch.bfloat16
    with torch.autocast("cpu", dtype=torch.float16):
        assert kernels.stream_dtype(x) == torch.float32


@pytest.mark.parametrize("activation,with_residual", [(None, False), ("gelu", False), (None, True), ("tanh", False)])
def test_int8_products_are_close_to_float32(activation, with_residual):
    """Within ``int8_products``, float32 inference takes int8 products (per-channel weights, dynamic activations):
    close to float32, not equal to it."""
    g = torch.Generator().manual_seed(5)
    x, weight, bias = torch.randn(300, 64, generator=g), torch.randn(96, 64, generator=g) * 0.1, torch.randn(96)
    residual = torch.randn(300, 96, generator=g) if with_residual else None
    with torch.no_grad():
        expected = linear(x, weight, bias, activation, residual)
        with kernels.int8_products():
            y = linear(x, weight, bias, activation, residual)
    assert y.dtype == torch.float32 and not torch.equal(y, expected)
    assert float((y - expected).norm() / expected.norm()) < 0.02


def test_int8_weights_follow_in_place_changes_and_grad_mode_keeps_float32():
    g = torch.Generator().manual_seed(6)
    x, weight = torch.randn(50, 32, generator=g), torch.randn(40, 32, generator=g)
    with kernels.int8_products():
        with torch.no_grad():
            first = linear(x, weight)
            weight.mul_(2)  # an optimizer step or load_state_dict: the packed int8 weight must follow
            second = linear(x, weight)
        torch.testing.assert_close(second, 2 * first, rtol=0.02, atol=0.05)
        with torch.enable_grad():  # gradients: int8 does not apply
            exact = linear(x, weight.requires_grad_())
    torch.testing.assert_close(exact, x @ weight.t(), rtol=1e-5, atol=1e-5)


def test_int8_leaves_small_layers_other_dtypes_and_tracing_alone(monkeypatch):
    def fail(*args):
        raise AssertionError("int8 products were used")
    monkeypatch.setattr(kernels, "_int8_linear", fail)
    with kernels.int8_products(), torch.no_grad():
        linear(torch.randn(5, 64), torch.randn(2, 64))  # 2 outputs: the streams' gate
        linear(torch.randn(5, 3), torch.randn(64, 3))  # 3 inputs: the joint embedding's shape
        linear(torch.randn(5, 64, dtype=torch.float64), torch.randn(32, 64, dtype=torch.float64))
        monkeypatch.setattr(kernels, "is_tracing", lambda: True)
        linear(torch.randn(5, 64), torch.randn(32, 64))


def test_derived_values_are_kept_until_their_sources_change():
    calls = []
    source, other = torch.ones(3), torch.zeros(2)

    def make():
        calls.append(1)
        return source * 2 + other.sum()
    with torch.no_grad():
        first = kernels.derived("test", make, source, other)
        assert kernels.derived("test", make, source, other) is first and len(calls) == 1
        other.add_(1)  # any source changing in place makes it again
        torch.testing.assert_close(kernels.derived("test", make, source, other), torch.full((3,), 4.))
        source.data = torch.zeros(3)  # a new storage
        torch.testing.assert_close(kernels.derived("test", make, source, other), torch.full((3,), 2.))
    assert len(calls) == 3
    kernels.derived("test", make, source, other)  # gradients recorded: made every time
    assert len(calls) == 4
    entry = (id(source), "test")
    assert entry in kernels._DERIVED
    del source
    assert entry not in kernels._DERIVED  # dropped with its source


def test_autocast_weights_follow_in_place_changes():
    g = torch.Generator().manual_seed(8)
    x, weight = torch.randn(20, 32, generator=g), torch.randn(24, 32, generator=g)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        first = linear(x, weight).float()
        weight.mul_(-1)
        second = linear(x, weight).float()
    torch.testing.assert_close(second, -first)
