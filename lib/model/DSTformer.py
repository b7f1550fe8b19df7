"""DSTformer: the dual-stream spatio-temporal transformer backbone of MotionBERT.

Sub-module and parameter names are those of the original, so released checkpoints load with
strict key matching (spec 01 §2, §6). Both attention kinds (over joints, over frames) run
through one ``Attention`` that differs only in how tokens are grouped before
``torch.nn.functional.scaled_dot_product_attention``.
"""
import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from lib.model.drop import DropPath

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

    def forward(self, x):
        x = self.drop(self.act(self.fc1(x)))
        return self.drop(self.fc2(x))


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

    def forward(self, x, seqlen=1):
        BF, J, C = x.shape
        H = self.num_heads
        qkv = self.qkv(x)  # channel o = s*C + h*c + i, s in (q, k, v)
        dropout_p = self.attn_drop.p if self.training else 0.
        if self.mode == "temporal":
            B = BF // seqlen
            # tokens of one (sample, joint, head) attend over the F frames; SDPA gets 4-D tensors
            # (B, J*H, F, c) because its fused CPU kernel only takes 4-D inputs
            qkv = qkv.reshape(B, seqlen, J, 3, H, C // H).permute(3, 0, 2, 4, 1, 5).reshape(3, B, J * H, seqlen, -1)
            y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], dropout_p=dropout_p, scale=self.scale)
            y = y.reshape(B, J, H, seqlen, -1).permute(0, 3, 1, 2, 4).reshape(BF, J, C)
        else:
            # tokens of one (sample*frame, head) attend over the J joints
            q, k, v = qkv.reshape(BF, J, 3, H, C // H).permute(2, 0, 3, 1, 4).unbind(0)
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, scale=self.scale)  # (BF, H, J, c)
            y = y.transpose(1, 2).reshape(BF, J, C)
        return self.proj_drop(self.proj(y))


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

    def _spatial(self, x, seqlen):
        x = x + self.drop_path(self.attn_s(self.norm1_s(x), seqlen))
        return x + self.drop_path(self.mlp_s(self.norm2_s(x)))

    def _temporal(self, x, seqlen):
        x = x + self.drop_path(self.attn_t(self.norm1_t(x), seqlen))
        return x + self.drop_path(self.mlp_t(self.norm2_t(x)))

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
        tracing = torch.jit.is_tracing() or torch.compiler.is_compiling()
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
        for idx, (blk_st, blk_ts) in enumerate(zip(self.blocks_st, self.blocks_ts)):
            x_st = blk_st(x, F_)
            x_ts = blk_ts(x, F_)
            if self.att_fuse:
                alpha = self.ts_attn[idx](torch.cat([x_st, x_ts], dim=-1)).softmax(dim=-1)
                x = x_st * alpha[..., 0:1] + x_ts * alpha[..., 1:2]
            else:
                x = (x_st + x_ts) * 0.5
        x = self.norm(x)
        x = self.pre_logits(x.reshape(B, F_, J, -1))
        if return_rep:
            return x
        return self.head(x)

    def get_representation(self, x):
        return self.forward(x, return_rep=True)
