"""3D pose losses (torch, 0-dim results) and evaluation metrics (NumPy, per-row results); spec 02 §6."""
import numpy as np
import torch
from torch.nn import functional as F

from lib.skeleton import BONES

# pairs of bones (indices into lib.skeleton.BONES, the losses' order) whose angle ``get_angles`` measures
ANGLE_PAIRS = [[0, 3], [0, 6], [3, 6], [0, 1], [1, 2], [3, 4], [4, 5], [6, 7], [7, 10], [7, 13], [8, 13],
               [10, 13], [7, 8], [8, 9], [10, 11], [11, 12], [13, 14], [14, 15]]


def mpjpe(predicted, target):
    """Per-row (axis 0) mean joint error; for ``(T, 17, 3)`` inputs the per-frame MPJPE ``(T,)``."""
    assert predicted.shape == target.shape
    return np.mean(np.linalg.norm(predicted - target, axis=len(target.shape) - 1), axis=1)


def p_mpjpe(predicted, target):
    """Per-row MPJPE after a similarity (Procrustes) alignment of ``predicted`` to ``target``."""
    assert predicted.shape == target.shape
    mu_x = np.mean(target, axis=1, keepdims=True)
    mu_y = np.mean(predicted, axis=1, keepdims=True)
    x0 = target - mu_x
    y0 = predicted - mu_y
    norm_x = np.sqrt(np.sum(x0 ** 2, axis=(1, 2), keepdims=True))
    norm_y = np.sqrt(np.sum(y0 ** 2, axis=(1, 2), keepdims=True))
    x0 /= norm_x
    y0 /= norm_y
    h = np.matmul(x0.transpose(0, 2, 1), y0)
    u, s, vt = np.linalg.svd(h)
    v = vt.transpose(0, 2, 1)
    r = np.matmul(v, u.transpose(0, 2, 1))
    # avoid improper rotations (reflections): flip the last singular vector where det(R) < 0
    sign_det_r = np.sign(np.expand_dims(np.linalg.det(r), axis=1))
    v[:, :, -1] *= sign_det_r
    s[:, -1] *= sign_det_r.flatten()
    r = np.matmul(v, u.transpose(0, 2, 1))
    tr = np.expand_dims(np.sum(s, axis=1, keepdims=True), axis=2)
    a = tr * norm_x / norm_y
    t = mu_x - a * np.matmul(mu_y, r)
    predicted_aligned = a * np.matmul(predicted, r) + t
    return np.mean(np.linalg.norm(predicted_aligned - target, axis=len(target.shape) - 1), axis=1)


def loss_mpjpe(predicted, target):
    """Mean per-joint position error."""
    assert predicted.shape == target.shape
    return torch.mean(torch.norm(predicted - target, dim=len(target.shape) - 1))


def weighted_mpjpe(predicted, target, w):
    """MPJPE weighted per joint by ``w``."""
    assert predicted.shape == target.shape
    assert w.shape[0] == predicted.shape[0]
    return torch.mean(w * torch.norm(predicted - target, dim=len(target.shape) - 1))


def loss_2d_weighted(predicted, target, conf):
    """Confidence-weighted 2D error on x, y; ``conf`` is ``(N, T, 17, 1)``."""
    assert predicted.shape == target.shape
    diff = (predicted[..., :2] - target[..., :2]) * conf
    return torch.mean(torch.norm(diff, dim=-1))


def n_mpjpe(predicted, target):
    """MPJPE after the least-squares scale of ``predicted`` per (sample, frame)."""
    assert predicted.shape == target.shape
    norm_predicted = torch.mean(torch.sum(predicted ** 2, dim=3, keepdim=True), dim=2, keepdim=True)
    norm_target = torch.mean(torch.sum(target * predicted, dim=3, keepdim=True), dim=2, keepdim=True)
    scale = norm_target / norm_predicted
    return loss_mpjpe(scale * predicted, target)


def weighted_bonelen_loss(predict_3d_length, gt_3d_length):
    return torch.mean((predict_3d_length - gt_3d_length) ** 2) * 0.001


def weighted_boneratio_loss(predict_3d_length, gt_3d_length):
    return torch.mean(((predict_3d_length - gt_3d_length) / gt_3d_length) ** 2) * 0.1


def _zero(x):
    return torch.zeros(1, dtype=torch.float32, device=x.device).squeeze()


def _bone_vectors(x):
    """Parent minus child joint ``(N, T, 16, 3)`` of every bone of ``(N, T, 17, 3)`` poses."""
    limbs = x[:, :, torch.tensor(BONES, device=x.device), :]
    return limbs[:, :, :, 0, :] - limbs[:, :, :, 1, :]


def get_limb_lens(x):
    """Bone lengths ``(N, T, 16)`` of ``(N, T, 17, 3)`` poses."""
    return torch.norm(_bone_vectors(x), dim=-1)


def loss_limb_var(x):
    """Mean (over samples and bones) of the unbiased temporal variance of bone lengths."""
    if x.shape[1] <= 1:
        return _zero(x)
    limb_lens = get_limb_lens(x)
    return torch.mean(torch.var(limb_lens, dim=1))


def loss_limb_gt(x, gt):
    """L1 between predicted and ground-truth bone lengths."""
    return F.l1_loss(get_limb_lens(x), get_limb_lens(gt))


def loss_velocity(predicted, target):
    """MPJPE of the frame-to-frame displacements."""
    assert predicted.shape == target.shape
    if predicted.shape[1] <= 1:
        return _zero(predicted)
    velocity_predicted = predicted[:, 1:] - predicted[:, :-1]
    velocity_target = target[:, 1:] - target[:, :-1]
    return torch.mean(torch.norm(velocity_predicted - velocity_target, dim=-1))


def loss_joint(predicted, target):
    assert predicted.shape == target.shape
    return F.l1_loss(predicted, target)


def get_angles(x):
    """Angles ``(N, T, 18)`` between the bone pairs of ``ANGLE_PAIRS``."""
    angle_id = torch.tensor(ANGLE_PAIRS, device=x.device)
    eps = 1e-7
    angles = _bone_vectors(x)[:, :, angle_id, :]
    angle_cos = F.cosine_similarity(angles[:, :, :, 0, :], angles[:, :, :, 1, :], dim=-1)
    return torch.acos(angle_cos.clamp(-1 + eps, 1 - eps))


def loss_angle(x, gt):
    """L1 between bone-pair angles."""
    return F.l1_loss(get_angles(x), get_angles(gt))


def loss_angle_velocity(x, gt):
    """L1 between the temporal differences of bone-pair angles."""
    assert x.shape == gt.shape
    if x.shape[1] <= 1:
        return _zero(x)
    x_a = get_angles(x)
    gt_a = get_angles(gt)
    return F.l1_loss(x_a[:, 1:] - x_a[:, :-1], gt_a[:, 1:] - gt_a[:, :-1])
