"""Rotation conversions, SMPL pose flipping and mesh error metrics (spec 05 §3–4).

Rotation helpers are torch (batched, differentiable); ``rigid_*``, ``evaluate_mesh``,
``flip_thetas`` and ``estimate_translation_np`` are NumPy. Metrics take the vertex count from
the inputs (the original hard-coded SMPL's 6890, which gives the same numbers for SMPL).
"""
import numpy as np
import torch
from scipy.spatial.transform import Rotation
from torch.nn import functional as F

from lib.utils.utils_data import flip_data

# left/right SMPL joint pairs swapped by a horizontal flip
SMPL_FLIP_PAIRS = [(1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (22, 23)]
_FLIP_SRC = [a for a, _ in SMPL_FLIP_PAIRS] + [b for _, b in SMPL_FLIP_PAIRS]
_FLIP_DST = [b for _, b in SMPL_FLIP_PAIRS] + [a for a, _ in SMPL_FLIP_PAIRS]
# H36M-17 joints kept by the 14-joint metrics (drops root, belly and nose)
H36M_17_TO_14 = (1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16)


def batch_rodrigues(axisang):
    """Axis-angle ``(N, 3)`` → row-major rotation matrices ``(N, 9)`` (via a unit quaternion)."""
    # 1e-8 is added to every component before the norm so that a zero rotation does not divide by 0
    angle = torch.norm(axisang + 1e-8, p=2, dim=1).unsqueeze(-1)
    axis = axisang / angle
    half = angle * 0.5
    quat = torch.cat([torch.cos(half), torch.sin(half) * axis], dim=1)
    rot_mat = quat2mat(quat)
    return rot_mat.view(rot_mat.shape[0], 9)


def quat2mat(quat):
    """Quaternions ``(N, 4)`` (w, x, y, z; normalised here) → rotation matrices ``(N, 3, 3)``."""
    norm_quat = quat / quat.norm(p=2, dim=1, keepdim=True)
    w, x, y, z = norm_quat[:, 0], norm_quat[:, 1], norm_quat[:, 2], norm_quat[:, 3]
    w2, x2, y2, z2 = w.pow(2), x.pow(2), y.pow(2), z.pow(2)
    wx, wy, wz = w * x, w * y, w * z
    xy, xz, yz = x * y, x * z, y * z
    rot_mat = torch.stack([w2 + x2 - y2 - z2, 2 * xy - 2 * wz, 2 * wy + 2 * xz,
                           2 * wz + 2 * xy, w2 - x2 + y2 - z2, 2 * yz - 2 * wx,
                           2 * xz - 2 * wy, 2 * wx + 2 * yz, w2 - x2 - y2 + z2], dim=1)
    return rot_mat.view(quat.shape[0], 3, 3)


def rotation_matrix_to_angle_axis(rotation_matrix):
    """Rotation matrices ``(N, 3, 3)`` or ``(N, 3, 4)`` → axis-angle ``(N, 3)`` (kornia 0.1 algorithm).

    NaNs (degenerate inputs) are replaced by 0.
    """
    if rotation_matrix.shape[1:] == (3, 3):
        rot_mat = rotation_matrix.reshape(-1, 3, 3)
        hom = torch.tensor([0, 0, 1], dtype=rotation_matrix.dtype, device=rotation_matrix.device)
        hom = hom.reshape(1, 3, 1).expand(rot_mat.shape[0], -1, -1)
        rotation_matrix = torch.cat([rot_mat, hom], dim=-1)
    quaternion = rotation_matrix_to_quaternion(rotation_matrix)
    aa = quaternion_to_angle_axis(quaternion)
    aa[torch.isnan(aa)] = 0.0
    return aa


def quaternion_to_angle_axis(quaternion):
    """Quaternions ``(*, 4)`` (w first) → axis-angle ``(*, 3)``."""
    if not torch.is_tensor(quaternion):
        raise TypeError(f"Input type is not a torch.Tensor. Got {type(quaternion)}")
    if not quaternion.shape[-1] == 4:
        raise ValueError(f"Input must be a tensor of shape (*, 4). Got {tuple(quaternion.shape)}")
    q1, q2, q3 = quaternion[..., 1], quaternion[..., 2], quaternion[..., 3]
    sin_squared_theta = q1 * q1 + q2 * q2 + q3 * q3
    sin_theta = torch.sqrt(sin_squared_theta)
    cos_theta = quaternion[..., 0]
    two_theta = 2.0 * torch.where(cos_theta < 0.0, torch.atan2(-sin_theta, -cos_theta),
                                  torch.atan2(sin_theta, cos_theta))
    k_pos = two_theta / sin_theta
    k_neg = 2.0 * torch.ones_like(sin_theta)
    k = torch.where(sin_squared_theta > 0.0, k_pos, k_neg)
    angle_axis = torch.zeros_like(quaternion)[..., :3]
    angle_axis[..., 0] += q1 * k
    angle_axis[..., 1] += q2 * k
    angle_axis[..., 2] += q3 * k
    return angle_axis


def rotation_matrix_to_quaternion(rotation_matrix, eps=1e-6):
    """Rotation matrices ``(N, 3, 4)`` (only the 3×3 part is used) → quaternions ``(N, 4)`` (w, x, y, z)."""
    if not torch.is_tensor(rotation_matrix):
        raise TypeError(f"Input type is not a torch.Tensor. Got {type(rotation_matrix)}")
    if len(rotation_matrix.shape) > 3:
        raise ValueError(f"Input size must be a three dimensional tensor. Got {tuple(rotation_matrix.shape)}")
    if not rotation_matrix.shape[-2:] == (3, 4):
        raise ValueError(f"Input size must be a N x 3 x 4 tensor. Got {tuple(rotation_matrix.shape)}")

    rmat_t = torch.transpose(rotation_matrix, 1, 2)
    mask_d2 = rmat_t[:, 2, 2] < eps
    mask_d0_d1 = rmat_t[:, 0, 0] > rmat_t[:, 1, 1]
    mask_d0_nd1 = rmat_t[:, 0, 0] < -rmat_t[:, 1, 1]

    t0 = 1 + rmat_t[:, 0, 0] - rmat_t[:, 1, 1] - rmat_t[:, 2, 2]
    q0 = torch.stack([rmat_t[:, 1, 2] - rmat_t[:, 2, 1], t0,
                      rmat_t[:, 0, 1] + rmat_t[:, 1, 0], rmat_t[:, 2, 0] + rmat_t[:, 0, 2]], -1)
    t1 = 1 - rmat_t[:, 0, 0] + rmat_t[:, 1, 1] - rmat_t[:, 2, 2]
    q1 = torch.stack([rmat_t[:, 2, 0] - rmat_t[:, 0, 2], rmat_t[:, 0, 1] + rmat_t[:, 1, 0],
                      t1, rmat_t[:, 1, 2] + rmat_t[:, 2, 1]], -1)
    t2 = 1 - rmat_t[:, 0, 0] - rmat_t[:, 1, 1] + rmat_t[:, 2, 2]
    q2 = torch.stack([rmat_t[:, 0, 1] - rmat_t[:, 1, 0], rmat_t[:, 2, 0] + rmat_t[:, 0, 2],
                      rmat_t[:, 1, 2] + rmat_t[:, 2, 1], t2], -1)
    t3 = 1 + rmat_t[:, 0, 0] + rmat_t[:, 1, 1] + rmat_t[:, 2, 2]
    q3 = torch.stack([t3, rmat_t[:, 1, 2] - rmat_t[:, 2, 1],
                      rmat_t[:, 2, 0] - rmat_t[:, 0, 2], rmat_t[:, 0, 1] - rmat_t[:, 1, 0]], -1)

    # mask-weighted sums (not a gather) keep the original's arithmetic exactly
    mask_c0 = (mask_d2 & mask_d0_d1).view(-1, 1).type_as(q0)
    mask_c1 = (mask_d2 & ~mask_d0_d1).view(-1, 1).type_as(q1)
    mask_c2 = (~mask_d2 & mask_d0_nd1).view(-1, 1).type_as(q2)
    mask_c3 = (~mask_d2 & ~mask_d0_nd1).view(-1, 1).type_as(q3)
    q = q0 * mask_c0 + q1 * mask_c1 + q2 * mask_c2 + q3 * mask_c3
    t = t0[:, None] * mask_c0 + t1[:, None] * mask_c1 + t2[:, None] * mask_c2 + t3[:, None] * mask_c3
    q = q / torch.sqrt(t)
    return q * 0.5


def estimate_translation_np(S, joints_2d, joints_conf, focal_length=5000., img_size=224.):
    """Camera translation ``(3,)`` that best projects 3D joints ``S (J, 3)`` onto ``joints_2d (J, 2)``.

    Confidence-weighted linear least squares for a pinhole camera with the given focal length
    and the optical centre in the middle of a square image (SPIN).
    """
    num_joints = S.shape[0]
    f = np.array([focal_length, focal_length])
    center = np.array([img_size / 2., img_size / 2.])
    Z = np.reshape(np.tile(S[:, 2], (2, 1)).T, -1)
    XY = np.reshape(S[:, 0:2], -1)
    O = np.tile(center, num_joints)
    F_ = np.tile(f, num_joints)
    weight2 = np.reshape(np.tile(np.sqrt(joints_conf), (2, 1)).T, -1)
    Q = np.array([F_ * np.tile(np.array([1, 0]), num_joints), F_ * np.tile(np.array([0, 1]), num_joints),
                  O - np.reshape(joints_2d, -1)]).T
    c = (np.reshape(joints_2d, -1) - O) * Z - F_ * XY
    W = np.diagflat(weight2)
    Q = np.dot(W, Q)
    c = np.dot(W, c)
    A = np.dot(Q.T, Q)
    b = np.dot(Q.T, c)
    return np.linalg.solve(A, b)


def estimate_translation(S, joints_2d, focal_length=5000., img_size=224.):
    """Batched :func:`estimate_translation_np` on the 24 ground-truth joints (25:49) of 49-joint SMPL output.

    ``S (B, 49, 3)``, ``joints_2d (B, 49, 3)`` = (x, y, confidence) → ``(B, 3)`` float32 on ``S``'s device.
    """
    device = S.device
    S = S[:, 25:, :].cpu().numpy()
    joints_2d = joints_2d[:, 25:, :].cpu().numpy()
    joints_conf = joints_2d[:, :, -1]
    joints_2d = joints_2d[:, :, :-1]
    trans = np.zeros((S.shape[0], 3), dtype=np.float32)
    for i in range(S.shape[0]):
        trans[i] = estimate_translation_np(S[i], joints_2d[i], joints_conf[i], focal_length=focal_length,
                                           img_size=img_size)
    return torch.from_numpy(trans).to(device)


def rot6d_to_rotmat_spin(x):
    """SPIN's 6D → rotation matrix ``(B·k, 3, 3)`` (default normalisation eps 1e-12)."""
    x = x.view(-1, 3, 2)
    a1 = x[:, :, 0]
    a2 = x[:, :, 1]
    b1 = F.normalize(a1)
    b2 = F.normalize(a2 - torch.einsum('bi,bi->b', b1, a2).unsqueeze(-1) * b1)
    b3 = torch.cross(b1, b2, dim=1)
    return torch.stack((b1, b2, b3), dim=-1)


def rot6d_to_rotmat(x):
    """6D rotations ``(B, 6k)`` → rotation matrices ``(B·k, 3, 3)`` by Gram–Schmidt (columns b1, b2, b3)."""
    x = x.view(-1, 3, 2)
    b1 = F.normalize(x[:, :, 0], dim=1, eps=1e-6)
    dot_prod = torch.sum(b1 * x[:, :, 1], dim=1, keepdim=True)
    b2 = F.normalize(x[:, :, 1] - dot_prod * b1, dim=-1, eps=1e-6)
    b3 = torch.cross(b1, b2, dim=1)
    return torch.stack([b1, b2, b3], dim=-1)


def rigid_transform_3D(A, B):
    """Similarity transform ``(c, R, t)`` minimising ``‖c·R·A + t − B‖`` for point sets ``(n, 3)``."""
    n, _ = A.shape
    centroid_A = np.mean(A, axis=0)
    centroid_B = np.mean(B, axis=0)
    H = np.dot(np.transpose(A - centroid_A), B - centroid_B) / n
    U, s, V = np.linalg.svd(H)
    R = np.dot(np.transpose(V), np.transpose(U))
    if np.linalg.det(R) < 0:  # reflection: flip the weakest axis
        s[-1] = -s[-1]
        V[2] = -V[2]
        R = np.dot(np.transpose(V), np.transpose(U))
    var_A = np.var(A, axis=0).sum()
    c = 1 / var_A * np.sum(s)
    t = -np.dot(c * R, np.transpose(centroid_A)) + np.transpose(centroid_B)
    return c, R, t


def rigid_align(A, B):
    """``A (n, 3)`` after the similarity transform that best aligns it to ``B``."""
    c, R, t = rigid_transform_3D(A, B)
    return np.transpose(np.dot(c * R, np.transpose(A))) + t


def _rootrel_errors(output, target):
    """Per-frame (MPJPE, MPVE) tensors on the CPU; vertices and joints relative to their own joint 0."""
    with torch.no_grad():
        pred, num_verts = output[-1], output[-1]['verts'].shape[-2]
        pred_verts = pred['verts'].reshape(-1, num_verts, 3)
        target_verts = target['verts'].reshape(-1, num_verts, 3)
        pred_j3ds = pred['kp_3d'].reshape(-1, 17, 3)
        target_j3ds = target['kp_3d'].reshape(-1, 17, 3)

        pred_verts = pred_verts - pred_j3ds[:, :1, :]
        target_verts = target_verts - target_j3ds[:, :1, :]
        mpves = torch.sqrt(((pred_verts - target_verts) ** 2).sum(dim=-1)).mean(dim=-1).cpu()

        pred_j3ds = pred_j3ds - pred_j3ds[:, :1, :]
        target_j3ds = target_j3ds - target_j3ds[:, :1, :]
        mpjpes = torch.sqrt(((pred_j3ds - target_j3ds) ** 2).sum(dim=-1)).mean(dim=-1).cpu()
    return mpjpes, mpves


def compute_error(output, target):
    """Mean root-relative MPJPE and MPVE (0-dim CPU tensors, input units) of a model output list vs. GT."""
    mpjpes, mpves = _rootrel_errors(output, target)
    return mpjpes.mean(), mpves.mean()


def compute_error_frames(output, target):
    """Per-frame ``(N·T,)`` MPJPE and MPVE tensors (see :func:`compute_error`)."""
    return _rootrel_errors(output, target)


def _mean_joint_error(pred, target):
    """Per-frame mean Euclidean distance ``(N,)`` of ``(N, J, 3)`` arrays."""
    return np.mean(np.sqrt(np.square(pred - target).sum(axis=2)), axis=1)


def evaluate_mesh(results):
    """Mesh metrics (NumPy, input units) from ``verts, verts_gt (…, V, 3)`` and ``kp_3d, kp_3d_gt (…, 17, 3)``.

    Returns ``{'mpve', 'mpjpe', 'pa_mpjpe', 'mpjpe_17j', 'pa_mpjpe_17j'}``; ``mpjpe``/``pa_mpjpe``
    use the 14-joint subset (the reported and model-selection metric).
    """
    num_verts = results['verts'].shape[-2]
    pred_verts = results['verts'].reshape(-1, num_verts, 3)
    target_verts = results['verts_gt'].reshape(-1, num_verts, 3)
    pred_j3ds = results['kp_3d'].reshape(-1, 17, 3)
    target_j3ds = results['kp_3d_gt'].reshape(-1, 17, 3)

    pred_verts = pred_verts - pred_j3ds[:, :1, :]
    target_verts = target_verts - target_j3ds[:, :1, :]
    mpve = np.mean(np.mean(np.sqrt(np.square(pred_verts - target_verts).sum(axis=2)), axis=1))

    pred_j3ds_17j = pred_j3ds - pred_j3ds[:, :1, :]
    target_j3ds_17j = target_j3ds - target_j3ds[:, :1, :]
    pred_j3ds_14j = pred_j3ds_17j[:, H36M_17_TO_14, :].copy()
    target_j3ds_14j = target_j3ds_17j[:, H36M_17_TO_14, :].copy()

    mpjpe = _mean_joint_error(pred_j3ds_14j, target_j3ds_14j)
    mpjpe_17j = _mean_joint_error(pred_j3ds_17j, target_j3ds_17j)
    pred_pa = np.array([rigid_align(p, t) for p, t in zip(pred_j3ds_14j, target_j3ds_14j)])
    pred_pa_17j = np.array([rigid_align(p, t) for p, t in zip(pred_j3ds_17j, target_j3ds_17j)])
    pa_mpjpe = _mean_joint_error(pred_pa, target_j3ds_14j)
    pa_mpjpe_17j = _mean_joint_error(pred_pa_17j, target_j3ds_17j)
    return {
        'mpve': mpve.mean(),
        'mpjpe': mpjpe.mean(),
        'pa_mpjpe': pa_mpjpe.mean(),
        'mpjpe_17j': mpjpe_17j.mean(),
        'pa_mpjpe_17j': pa_mpjpe_17j.mean(),
    }


def rectify_pose(pose):
    """Rotate the root of an SMPL axis-angle pose ``(72,)`` by π about x (root ← root · R_x(π)); returns a copy."""
    pose = pose.copy()
    r_mod = Rotation.from_rotvec([np.pi, 0, 0])
    r_root = Rotation.from_rotvec(pose[:3])
    pose[:3] = (r_root * r_mod).as_rotvec()
    return pose


def flip_thetas(thetas):
    """Mirror SMPL axis-angle poses ``(F, 24, 3)`` (NumPy): negate y and z, swap left/right joints."""
    thetas_flip = thetas.copy()
    thetas_flip[..., 1:3] *= -1
    thetas_flip[..., _FLIP_DST, :] = thetas_flip[..., _FLIP_SRC, :]
    return thetas_flip


def flip_thetas_batch(thetas):
    """:func:`flip_thetas` for torch poses ``(N, F, 72)``; returns a new ``(N, F, 72)`` tensor."""
    thetas_flip = thetas.clone().reshape(*thetas.shape[:2], 24, 3)
    thetas_flip[..., 1:3] *= -1
    thetas_flip[..., _FLIP_DST, :] = thetas_flip[..., _FLIP_SRC, :]
    return thetas_flip.reshape(*thetas.shape[:2], -1)


def flip_averaged_output(model, smpl, batch_input):
    """Model output averaged with the (un-flipped) output for the mirrored input, in millimetres.

    The flipped pass's pose is mirrored back (axis-angle, averaged linearly as the original) and
    re-posed with ``smpl``; vertices and regressed joints are averaged.
    """
    output = model(batch_input)[0]
    output_flip = model(flip_data(batch_input))[0]
    batch_size, clip_len = batch_input.shape[:2]
    pose_flip = flip_thetas_batch(output_flip['theta'][:, :, :72]).reshape(-1, 72)
    shape_flip = output_flip['theta'][:, :, 72:].reshape(-1, 10)
    smpl_flip = smpl(betas=shape_flip, body_pose=pose_flip[:, 3:], global_orient=pose_flip[:, :3], pose2rot=True)
    verts_flip = smpl_flip.vertices * 1000.0
    kp_flip = torch.matmul(smpl.J_regressor_h36m, verts_flip)
    theta_flip = torch.cat((pose_flip, shape_flip), -1).reshape(batch_size, clip_len, -1)
    return {'theta': (output['theta'] + theta_flip) * 0.5,
            'verts': (output['verts'] + verts_flip.reshape(batch_size, clip_len, -1, 3)) * 0.5,
            'kp_3d': (output['kp_3d'] + kp_flip.reshape(batch_size, clip_len, -1, 3)) * 0.5}
