"""DSTformer: the dual-stream spatio-temporal transformer backbone of MotionBERT.

Sub-module and parameter names are those of the original, so released checkpoints load with
strict key matching (spec 01 §2, §6), and ``state_dict()`` is the original's layout. Both attention
kinds (over joints, over frames) run through one ``Attention`` that differs only in how tokens are
grouped before ``torch.nn.functional.scaled_dot_product_attention``.

Speed (docs/performance.md): Linear layers go through :func:`lib.model.kernels.linear` (oneDNN on
the CPU, with GELU, tanh and the residual adds fused in when no gradient is needed); the qkv
product writes its channels head-major, so both attentions read q, k, v as strided views of its
output and SDPA writes its output straight into the ``(B*F, J, C)`` token layout (no permute
copies); the two streams' gate blends with one ``lerp`` instead of a concatenation. Training,
evaluation, inference and the ONNX export all run this code.
"""
import math
from collections import OrderedDict

import torch
from torch import nn

from lib.model.drop import DropPath
from lib.model.kernels import attention, derived, is_tracing, linear, stream_dtype

# tokens (frames x joints) per chunk of CPU inference: one 243-frame, 17-joint clip
CPU_INFERENCE_TOKENS = 243 * 17


def _normal_cdf(x):
    return (1. + math.erf(x / math.sqrt(2.))) / 2.


@torch.no_grad()
def trunc_normal_(tensor, mean=0., std=1., a=-2., b=2.):
    """Fill ``tensor`` in place from N(mean, std²) truncated to the ABSOLUTE bounds [a, b].

    The original's algorithm (spec 01 §4), step for step, so that a seed gives the original's
    initial weights: uniform in [2l − 1, 2u − 1] with l, u the normal CDF at the standardised
    bounds, inverse erf, times std·√2, plus mean, clamped, all in place in the tensor's dtype.
    (``torch.nn.init.trunc_normal_`` now uses a different, higher-precision algorithm, which
    draws other values for the same seed.)
    """
    lower, upper = _normal_cdf((a - mean) / std), _normal_cdf((b - mean) / std)
    tensor.uniform_(2 * lower - 1, 2 * upper - 1)
    tensor.erfinv_()
    tensor.mul_(std * math.sqrt(2.))
    tensor.add_(mean)
    tensor.clamp_(min=a, max=b)
    return tensor


class MLP(nn.Module):
    """fc1 → GELU (exact erf) → dropout → fc2 → dropout."""

    def __init__(self, in_features, hidden_features=None, out_features=None, act_layer=nn.GELU, drop=0.):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x, residual=None):
        """``residual + MLP(x)`` when ``residual`` is given (fused into fc2; dropout must then be inactive)."""
        if type(self.act) is nn.GELU and self.act.approximate == "none":
            x = linear(x, self.fc1.weight, self.fc1.bias, activation="gelu")
        else:
            x = self.act(self.fc1(x))
        return self.drop(linear(self.drop(x), self.fc2.weight, self.fc2.bias, residual=residual))


class Attention(nn.Module):
    """Multi-head self-attention over joints (``'spatial'``) or over frames (``'temporal'``).

    Input ``x`` is ``(B*F, J, C)`` with the batch-major row order ``b*F + f``; ``seqlen`` is F.
    ``'vanilla'`` is the original's name for spatial attention. The original's other modes
    (``series``, ``parallel``, ``coupling``) were never used by any model and are not provided.
    """

    _MODES = ("spatial", "temporal", "vanilla")

    def __init__(self, dim, num_heads=8, qkv_bias=False, qk_scale=None, attn_drop=0., proj_drop=0.,
                 st_mode='vanilla'):
        super().__init__()
        if st_mode not in self._MODES:
            raise NotImplementedError(f"Attention mode '{st_mode}' is not supported; use one of {self._MODES}")
        if dim % num_heads != 0:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = qk_scale or head_dim ** -0.5
        # registration order (proj before qkv) fixes the state_dict order of the released files
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.mode = st_mode
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj_drop = nn.Dropout(proj_drop)

    def _qkv_head_major(self):
        """The qkv weight and bias with output channels reordered from the original's ``s*C + h*c + i``
        (s in q, k, v) to ``h*3c + s*c + i``: then the (joint, head) pairs of the output are one
        evenly strided axis, which both attentions read as views. Derived from the parameters, so
        ``state_dict()`` keeps the original layout and gradients reach the original parameters; without
        gradients the reordered copy is kept until the parameters change (:func:`kernels.derived`)."""
        return derived("head-major", self._reorder_qkv, self.qkv.weight, self.qkv.bias)

    def _reorder_qkv(self):
        H, C = self.num_heads, self.qkv.in_features
        weight = self.qkv.weight.view(3, H, C // H, C).transpose(0, 1).reshape(3 * C, C)
        bias = self.qkv.bias
        if bias is not None:
            bias = bias.view(3, H, C // H).transpose(0, 1).reshape(3 * C)
        return weight, bias

    def forward(self, x, seqlen=1, residual=None):
        """Attention of ``x``; ``residual + attention`` when ``residual`` is given (fused into the output
        product; ``proj_drop`` must then be inactive)."""
        BF, J, C = x.shape
        H = self.num_heads
        q, k, v = linear(x, *self._qkv_head_major()).view(BF, J, H, 3, C // H).unbind(3)  # each (BF, J, H, c)
        dropout_p = self.attn_drop.p if self.training else 0.
        if self.mode == "temporal":
            # tokens of one (sample, joint, head) attend over the F frames: (B, J*H, F, c) views; SDPA's
            # fused CPU kernel takes them strided and writes its output in (B, F, J*H, c) order
            B = BF // seqlen
            q, k, v = (t.reshape(B, seqlen, J * H, -1).transpose(1, 2) for t in (q, k, v))
        else:
            # tokens of one (sample*frame, head) attend over the J joints: (BF, H, J, c) views
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        y = attention(q, k, v, self.scale, dropout_p)
        y = y.transpose(1, 2).reshape(BF, J, C)
        return self.proj_drop(linear(y, self.proj.weight, self.proj.bias, residual=residual))


class Block(nn.Module):
    """One spatial + one temporal attention/MLP pair, in the order given by ``st_mode``.

    ``'stage_st'``: spatial then temporal; ``'stage_ts'``: temporal then spatial. ``att_fuse``
    only mattered for the original's unused ``'stage_para'`` mode and is accepted for
    signature compatibility.
    """

    def __init__(self, dim, num_heads, mlp_ratio=4., mlp_out_ratio=1., qkv_bias=True, qk_scale=None, drop=0.,
                 attn_drop=0., drop_path=0., act_layer=nn.GELU, norm_layer=nn.LayerNorm, st_mode='stage_st',
                 att_fuse=False):
        super().__init__()
        if st_mode not in ("stage_st", "stage_ts"):
            raise NotImplementedError(f"Block mode '{st_mode}' is not supported; use 'stage_st' or 'stage_ts'")
        self.st_mode = st_mode
        self.norm1_s = norm_layer(dim)
        self.norm1_t = norm_layer(dim)
        self.attn_s = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias, qk_scale=qk_scale,
                                attn_drop=attn_drop, proj_drop=drop, st_mode="spatial")
        self.attn_t = Attention(dim, num_heads=num_heads, qkv_bias=qkv_bias, qk_scale=qk_scale,
                                attn_drop=attn_drop, proj_drop=drop, st_mode="temporal")
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2_s = norm_layer(dim)
        self.norm2_t = norm_layer(dim)
        mlp_hidden_dim = int(dim * mlp_ratio)
        mlp_out_dim = int(dim * mlp_out_ratio)
        self.mlp_s = MLP(in_features=dim, hidden_features=mlp_hidden_dim, out_features=mlp_out_dim,
                         act_layer=act_layer, drop=drop)
        self.mlp_t = MLP(in_features=dim, hidden_features=mlp_hidden_dim, out_features=mlp_out_dim,
                         act_layer=act_layer, drop=drop)

    def _residual_fused(self):
        """Whether the residual adds can go into the branches' last products: nothing random (drop
        path, dropout) sits between them."""
        return not self.training or (isinstance(self.drop_path, nn.Identity) and self.mlp_s.drop.p == 0
                                     and self.attn_s.proj_drop.p == 0)

    def _branch_pair(self, x, seqlen, norm1, attn, norm2, mlp):
        if self._residual_fused():
            x = attn(norm1(x), seqlen, residual=x)
            return mlp(norm2(x), residual=x)
        x = x + self.drop_path(attn(norm1(x), seqlen))
        return x + self.drop_path(mlp(norm2(x)))

    def _spatial(self, x, seqlen):
        return self._branch_pair(x, seqlen, self.norm1_s, self.attn_s, self.norm2_s, self.mlp_s)

    def _temporal(self, x, seqlen):
        return self._branch_pair(x, seqlen, self.norm1_t, self.attn_t, self.norm2_t, self.mlp_t)

    def forward(self, x, seqlen=1):
        if self.st_mode == "stage_st":
            return self._temporal(self._spatial(x, seqlen), seqlen)
        return self._spatial(self._temporal(x, seqlen), seqlen)


class DSTformer(nn.Module):
    """Maps ``(B, F, J, dim_in)`` 2D skeleton clips to ``(B, F, J, dim_out)`` (or the
    ``(B, F, J, dim_rep)`` motion representation with ``return_rep=True``)."""

    def __init__(self, dim_in=3, dim_out=3, dim_feat=256, dim_rep=512, depth=5, num_heads=8, mlp_ratio=4,
                 num_joints=17, maxlen=243, qkv_bias=True, qk_scale=None, drop_rate=0., attn_drop_rate=0.,
                 drop_path_rate=0., norm_layer=nn.LayerNorm, att_fuse=True):
        super().__init__()
        self.dim_in = dim_in
        self.dim_out = dim_out
        self.dim_feat = dim_feat
        self.dim_rep = dim_rep if dim_rep else dim_feat
        self.num_joints = num_joints
        self.maxlen = maxlen
        self.att_fuse = att_fuse
        # Construction order = the original's, so from-scratch initialisation draws the same
        # random numbers for the same seed.
        self.joints_embed = nn.Linear(dim_in, dim_feat)
        self.pos_drop = nn.Dropout(p=drop_rate)
        dpr = [r.item() for r in torch.linspace(0, drop_path_rate, depth)]
        block_kwargs = dict(dim=dim_feat, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                            qk_scale=qk_scale, drop=drop_rate, attn_drop=attn_drop_rate, norm_layer=norm_layer)
        self.blocks_st = nn.ModuleList([Block(drop_path=dpr[i], st_mode="stage_st", **block_kwargs)
                                        for i in range(depth)])
        self.blocks_ts = nn.ModuleList([Block(drop_path=dpr[i], st_mode="stage_ts", **block_kwargs)
                                        for i in range(depth)])
        self.norm = norm_layer(dim_feat)
        if dim_rep:
            self.pre_logits = nn.Sequential(OrderedDict([("fc", nn.Linear(dim_feat, dim_rep)), ("act", nn.Tanh())]))
        else:
            self.pre_logits = nn.Identity()
        self.head = nn.Linear(self.dim_rep, dim_out) if dim_out > 0 else nn.Identity()
        self.temp_embed = nn.Parameter(torch.zeros(1, maxlen, 1, dim_feat))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_joints, dim_feat))
        trunc_normal_(self.temp_embed, std=.02)
        trunc_normal_(self.pos_embed, std=.02)
        self.apply(self._init_weights)
        if self.att_fuse:
            self.ts_attn = nn.ModuleList([nn.Linear(dim_feat * 2, 2) for _ in range(depth)])
            for fuse in self.ts_attn:
                fuse.weight.data.fill_(0)
                fuse.bias.data.fill_(0.5)  # start as an even 0.5/0.5 blend of the two streams

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)

    def get_classifier(self):
        return self.head

    def reset_classifier(self, dim_out, global_pool=''):
        # The head reads the representation, so its input width is dim_rep (the original used
        # dim_feat, which is wrong whenever the two differ).
        self.dim_out = dim_out
        self.head = nn.Linear(self.dim_rep, dim_out) if dim_out > 0 else nn.Identity()

    def _check_input(self, x):
        expected = f"(batch, frames <= {self.maxlen}, joints = {self.num_joints}, channels = {self.dim_in})"
        if x.dim() != 4:
            raise ValueError(f"DSTformer expects a 4-D input {expected}, got shape {tuple(x.shape)}")
        _, frames, joints, channels = x.shape
        if joints != self.num_joints:
            raise ValueError(f"DSTformer was built for {self.num_joints} joints but the input has {joints}: "
                             f"expected {expected}, got {tuple(x.shape)}")
        if channels != self.dim_in:
            hint = " (x, y, confidence)" if self.dim_in == 3 else ""
            raise ValueError(f"DSTformer was built for {self.dim_in} input channels{hint} but the input has "
                             f"{channels}: expected {expected}, got {tuple(x.shape)}")
        if frames > self.maxlen:
            raise ValueError(f"input has {frames} frames but the model supports at most maxlen = {self.maxlen}; "
                             f"split the sequence into clips of at most {self.maxlen} frames")

    def forward(self, x, return_rep=False):
        tracing = is_tracing()
        if not tracing:
            self._check_input(x)
        B, F_, J, _ = x.shape
        clips_per_chunk = max(1, CPU_INFERENCE_TOKENS // (F_ * J))
        if B > clips_per_chunk and x.device.type == "cpu" and not torch.is_grad_enabled() and not tracing:
            # CPU inference runs chunk by chunk: the activations of ~one 243-frame clip stay in the
            # caches, which makes a batch of 8 about 1.4x faster per clip (same outputs)
            return torch.cat([self._forward(chunk, return_rep) for chunk in x.split(clips_per_chunk)])
        return self._forward(x, return_rep)

    def _forward(self, x, return_rep):
        B, F_, J, C = x.shape
        x = self.joints_embed(x.reshape(B * F_, J, C))
        x = x + self.pos_embed
        x = (x.reshape(B, F_, J, -1) + self.temp_embed[:, :F_]).reshape(B * F_, J, -1)
        x = self.pos_drop(x)
        x = x.to(stream_dtype(x))
        for idx, (blk_st, blk_ts) in enumerate(zip(self.blocks_st, self.blocks_ts)):
            x_st = blk_st(x, F_)
            x_ts = blk_ts(x, F_)
            if self.att_fuse:
                # the gate of concat(x_st, x_ts) as two products (no concatenated copy); the weights
                # sum to 1, so x_st*a0 + x_ts*a1 = lerp(x_ts, x_st, a0)
                gate = self.ts_attn[idx]
                logits = linear(x_ts, gate.weight[:, self.dim_feat:], gate.bias,
                                residual=linear(x_st, gate.weight[:, :self.dim_feat]))
                x = torch.lerp(x_ts, x_st, logits.softmax(dim=-1)[..., 0:1].to(x_st.dtype))
            else:
                x = (x_st + x_ts) * 0.5
        x = self.norm(x).reshape(B, F_, J, -1)
        if not isinstance(self.pre_logits, nn.Identity):  # fc then tanh
            x = linear(x, self.pre_logits.fc.weight, self.pre_logits.fc.bias, activation="tanh")
        if return_rep:
            return x
        return self.head(x)

    def get_representation(self, x):
        return self.forward(x, return_rep=True)
