"""Kernel choices of the backbone on the CPU: Linear layers through oneDNN (with GELU, tanh or a residual
add fused in), and the attention kernel for each dtype.

PyTorch runs float32 ``nn.Linear`` on the CPU through MKL's sgemm. On AMD CPUs MKL takes a generic
code path that reaches about a third of the machine's peak; oneDNN, which PyTorch also ships (and
already uses for bfloat16 products), runs the backbone's products near the peak on Intel and AMD
alike, and applies GELU, tanh or the residual add while the product's output is still in the
caches. :func:`linear` is the one entry point: it picks oneDNN where it applies (CPU tensors in
float32 or bfloat16, eager mode) and ``torch.nn.functional.linear`` everywhere else (CUDA, tracing
for the ONNX export, ``torch.compile``), with the same result up to float rounding. Under
autocast it casts to the autocast dtype as autocast does for ``F.linear``.

With autograd the product runs through :class:`OneDnnLinear` (oneDNN forward and backward) and the
activation or residual add stays a separate differentiable op, since the fused kernel keeps no
pre-activation for the backward pass.

:func:`attention` is ``scaled_dot_product_attention``, except in bfloat16 on CPUs without AMX: there SDPA's
fused kernel has no fast bfloat16 path (the spatial attention's many 17-joint blocks took 7x longer
forward and backward than explicit products in a training step; the temporal attention's 243 frames
1.4x longer in inference), so the scores are explicit bfloat16 products with the softmax in float32, as
autocast computes the original's attention. While gradients are recorded this holds for short sequences
only, since explicit products keep the probabilities for the backward pass.

:func:`int8_products` (``--precision int8``) runs the Linear layers of float32 CPU inference as int8
products: weights quantised once per output channel (symmetric), activations per call (dynamic), through
PyTorch's quantized engine (oneDNN where available). About 0.6 % output deviation on the demo model
(docs/performance.md); LayerNorm, attention and the rest stay float32.

:func:`stream_dtype` keeps the backbone's residual stream in bfloat16 under CPU bfloat16 autocast, so that
the residual adds fuse into the products instead of casting at every op.
"""
import contextlib
import contextvars
import warnings
import weakref

import torch
import torch.nn.functional as F

_ACTIVATIONS = {"gelu": F.gelu, "tanh": torch.tanh, None: None}
# oneDNN's post-op names and their "algorithm" argument (exact erf GELU, as nn.GELU's default)
_ONEDNN_POST_OPS = {None: ("none", ""), "gelu": ("gelu", "none"), "tanh": ("tanh", "")}


def _onednn_linear_op():
    ops = getattr(torch.ops, "mkldnn", None)
    try:
        return ops._linear_pointwise if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):  # a PyTorch build without the op
        return None


_LINEAR_POINTWISE = _onednn_linear_op()


def _onednn_has_bf16():
    """Whether oneDNN's products take bfloat16 on this CPU: they need AVX-512 (or AMX); on an AVX2-only CPU
    creating the primitive fails, and bfloat16 goes through PyTorch's own kernels instead."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


ONEDNN_BF16 = _LINEAR_POINTWISE is not None and _onednn_has_bf16()


def _cpu_has_amx():
    try:
        return bool(torch.cpu.get_capabilities().get("amx_bf16", False))
    except (AttributeError, RuntimeError):
        return False


CPU_HAS_AMX = _cpu_has_amx()


def is_tracing():
    """True while TorchScript, ``torch.compile`` or ``torch.export`` (the ONNX export) trace the model."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.compiler.is_exporting()


# oneDNN's products with fewer output channels than this (the streams' 2-way gate) are slower than MKL's
MIN_ONEDNN_OUTPUTS = 16


def onednn_applies(x, weight=None):
    """Whether :func:`linear` runs ``x`` (and ``weight``) through oneDNN: CPU, float32 (or bfloat16 where oneDNN has
    it, :data:`ONEDNN_BF16`), eager mode, and a contiguous weight with at least :data:`MIN_ONEDNN_OUTPUTS` rows
    (oneDNN falls back to a reference kernel for a strided weight, 100x slower, and has no fast kernel for very few
    outputs). Under bfloat16 autocast the operands are cast to bfloat16 first, so that needs :data:`ONEDNN_BF16`
    too."""
    if x.dtype == torch.bfloat16 or (torch.is_autocast_enabled("cpu")
                                     and torch.get_autocast_dtype("cpu") == torch.bfloat16):
        if not ONEDNN_BF16:
            return False
    return (_LINEAR_POINTWISE is not None and x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16)
            and (weight is None or (weight.is_contiguous() and weight.shape[0] >= MIN_ONEDNN_OUTPUTS))
            and not is_tracing())


def _autocast_cast(x, weight, bias):
    """The operands in the CPU autocast dtype when autocast is on (what autocast does for ``F.linear``)."""
    if not torch.is_autocast_enabled("cpu"):
        return x, weight, bias
    dtype = torch.get_autocast_dtype("cpu")
    weight, bias = derived(dtype, lambda: (weight.to(dtype), None if bias is None else bias.to(dtype)), weight, bias)
    return x.to(dtype), weight, bias


def stream_dtype(x):
    """The dtype of the backbone's residual stream for input ``x``: bfloat16 under CPU bfloat16 autocast (the
    residual adds then fuse into the products and LayerNorm reads and writes half the bytes, instead of casting
    at every op), else ``x.dtype``."""
    if (x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16 and not is_tracing()):
        return torch.bfloat16
    return x.dtype


def _version(t):
    """``t``'s version counter (bumped by in-place changes); 0 for an inference tensor, which has none (one made
    in ``torch.inference_mode``, such as a weight derived there: it is replaced, not changed in place)."""
    return 0 if t.is_inference() else t._version


_DERIVED = {}  # (id(source), kind) -> (the sources' versions and storages, derived value); dropped with the source


def derived(kind, make, source, *others):
    """``make()``, a value derived from the tensor ``source`` (and ``others``, tensors or None), kept while no
    gradients are recorded until one of them changes (a new version or storage) or ``source`` is freed: the
    head-major qkv weight, weights cast for autocast, packed int8 weights. With gradients, ``make()`` every
    time, so that gradients reach the sources; while tracing too, so that the traced graph derives it."""
    if torch.is_grad_enabled() or is_tracing():
        return make()
    key = tuple(None if t is None else (_version(t), t.data_ptr(), t.dtype) for t in (source, *others))
    entry = (id(source), kind)
    cached = _DERIVED.get(entry)
    if cached is None:
        weakref.finalize(source, _DERIVED.pop, entry, None)
    if cached is None or cached[0] != key:
        cached = _DERIVED[entry] = (key, make())
    return cached[1]


def _int8_engine():
    try:  # PyTorch has deprecated its quantized tensors; a build without these ops has no int8 path
        torch.ops.quantized.linear_dynamic, torch.ops.quantized.linear_prepack
    except (AttributeError, RuntimeError):
        return None
    engines = torch.backends.quantized.supported_engines
    return next((e for e in ("onednn", "x86", "fbgemm") if e in engines), None)


INT8_ENGINE = _int8_engine()


def _cpu_has_vnni():
    try:
        capabilities = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):
        return False
    return bool(capabilities.get("avx512_vnni") or capabilities.get("avx_vnni") or capabilities.get("amx_int8"))


# 7-bit activations: fbgemm's kernels, and oneDNN's on CPUs without VNNI, multiply uint8 by int8 pairs into int16
# with saturation (vpmaddubsw), which overflows for the whole range; oneDNN with VNNI takes the whole int8 range
INT8_REDUCE_RANGE = INT8_ENGINE != "onednn" or not _cpu_has_vnni()
_INT8 = contextvars.ContextVar("int8_products", default=False)


@contextlib.contextmanager
def int8_products():
    """Within this context, :func:`linear` runs float32 CPU products without gradients as int8 products (see the
    module doc); anything else (gradients, CUDA, small layers) is unchanged."""
    if INT8_ENGINE is None:
        raise RuntimeError("this PyTorch build has no quantized CPU engine for int8 products")
    token = _INT8.set(True)
    try:
        yield
    finally:
        _INT8.reset(token)


def _int8_applies(x, weight):
    return (_INT8.get() and x.device.type == "cpu" and x.dtype == torch.float32 and weight.dtype == torch.float32
            and min(weight.shape) >= MIN_ONEDNN_OUTPUTS and not torch.is_grad_enabled() and not is_tracing())


def _int8_weight(weight, bias):
    """``weight`` quantised per output channel (symmetric int8) and packed with ``bias`` for the quantized
    engine."""
    w = weight.detach()
    scales = (w.abs().amax(dim=1).double() / 127).clamp_min(1e-12)
    with warnings.catch_warnings():  # the deprecation of quantized tensors (see _int8_engine), once per weight
        warnings.simplefilter("ignore", UserWarning)
        qweight = torch.quantize_per_channel(w, scales, torch.zeros(len(scales), dtype=torch.long), 0, torch.qint8)
    engine, torch.backends.quantized.engine = torch.backends.quantized.engine, INT8_ENGINE
    try:
        return torch.ops.quantized.linear_prepack(qweight, None if bias is None else bias.detach())
    finally:
        torch.backends.quantized.engine = engine


def _int8_linear(x, weight, bias):
    rows = x.reshape(-1, x.shape[-1])
    packed = derived("int8", lambda: _int8_weight(weight, bias), weight, bias)
    y = torch.ops.quantized.linear_dynamic(rows, packed, INT8_REDUCE_RANGE)
    return y.view(*x.shape[:-1], -1)


class OneDnnLinear(torch.autograd.Function):
    """``x @ weightᵀ + bias`` with oneDNN products in the forward and the backward pass."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _LINEAR_POINTWISE(x, weight, bias, "none", [], "")

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = grad_weight = grad_bias = None
        rows = grad.reshape(-1, grad.shape[-1])
        # float32 through oneDNN (faster than MKL), bfloat16 through torch.mm (which already is oneDNN, and
        # reads the transposed operands without copies)
        if ctx.needs_input_grad[0]:
            grad_x = (_LINEAR_POINTWISE(grad, weight.t().contiguous(), None, "none", [], "")
                      if grad.dtype == torch.float32 else torch.mm(rows, weight).view(*grad.shape[:-1], -1))
        if ctx.needs_input_grad[1]:
            inputs = x.reshape(-1, x.shape[-1])
            grad_weight = (_LINEAR_POINTWISE(rows.t(), inputs.t(), None, "none", [], "")
                           if grad.dtype == torch.float32 else torch.mm(rows.t(), inputs))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = rows.sum(0)
        return grad_x, grad_weight, grad_bias


def linear(x, weight, bias=None, activation=None, residual=None):
    """``activation(x @ weightᵀ + bias) + residual`` (``activation``: None, ``'gelu'`` (exact) or ``'tanh'``;
    ``residual``: None or a tensor of the output's shape), with oneDNN on the CPU (see the module doc)."""
    if _int8_applies(x, weight):
        y = _int8_linear(x, weight, bias)
    elif not onednn_applies(x, weight):
        y = F.linear(x, weight, bias)
    else:
        x, weight, bias = _autocast_cast(x, weight, bias)
        if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
            y = OneDnnLinear.apply(x, weight, bias)  # the activation and the add stay differentiable ops
        elif residual is not None and activation is None and residual.dtype == x.dtype:
            return _LINEAR_POINTWISE.binary(x, residual, weight, bias, "add")
        else:
            attr, algorithm = _ONEDNN_POST_OPS[activation]
            y = _LINEAR_POINTWISE(x, weight, bias, attr, [], algorithm)
            activation = None  # applied by oneDNN
    y = y if activation is None else _ACTIVATIONS[activation](y)
    return y if residual is None else residual + y


# explicit bfloat16 attention runs in chunks of (batch, head) pairs whose scores take about this many bytes,
# so that each chunk's scores stay in the caches between the two products and the softmax
CHUNK_SCORE_BYTES = 1 << 22
# while gradients are recorded, only sequences up to this length (the 17 joints of spatial attention) take the
# explicit products: they keep every chunk's probabilities for the backward pass, which SDPA's fused kernel
# recomputes instead (48 MB per 243-frame temporal attention of a Lite clip)
SHORT_SEQUENCE = 64


def _explicit_attention(q, k, v, scale):
    """``softmax(q kᵀ · scale) v`` as two products in q's dtype and a float32 softmax (as autocast computes the
    original's attention; torch's float32 softmax is also faster than its bfloat16 one), chunk by chunk over the
    flattened leading axes."""
    *lead, length, _ = q.shape
    pairs = q[..., 0, 0].numel()
    chunk = max(1, CHUNK_SCORE_BYTES // (length * k.shape[-2] * q.element_size()))
    q, k, v = (t.reshape(pairs, *t.shape[-2:]) for t in (q * scale, k, v))
    parts = zip(q.split(chunk), k.split(chunk), v.split(chunk))

    def chunk_attention(qc, kc, vc, out=None):
        return torch.bmm(torch.bmm(qc, kc.transpose(1, 2)).float().softmax(dim=-1).to(vc.dtype), vc, out=out)
    with torch.autocast(q.device.type, enabled=False):
        if torch.is_grad_enabled():
            out = torch.cat([chunk_attention(*part) for part in parts])
        else:  # each chunk's product straight into the output
            out = q.new_empty(pairs, length, v.shape[-1])
            for part, out_chunk in zip(parts, out.split(chunk)):
                chunk_attention(*part, out=out_chunk)
    return out.view(*lead, length, v.shape[-1])


def attention(q, k, v, scale, dropout_p=0.):
    """``softmax(q kᵀ · scale) v`` over the last two axes, as ``F.scaled_dot_product_attention`` (q, k, v may
    be strided views); in bfloat16 on a CPU without AMX as explicit products (see the module doc)."""
    if (q.dtype == torch.bfloat16 and q.device.type == "cpu" and not CPU_HAS_AMX and dropout_p == 0
            and (q.shape[-2] <= SHORT_SEQUENCE or not torch.is_grad_enabled()) and not is_tracing()):
        return _explicit_attention(q, k, v, scale)
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, scale=scale)
