"""Mesh recovery model: DSTformer backbone + SMPL parameter regressor (spec 05 §2, 01 §8.2)."""
import zipfile

import numpy as np
import torch
from torch import nn

from lib.model.param_groups import BackboneHeadModel
from lib.utils.utils_mesh import rot6d_to_rotmat, rotation_matrix_to_angle_axis
from lib.utils.utils_smpl import SMPL, SMPLModelFileError, check_smpl_files, smpl_file_sources

NUM_POSE_6D = 24 * 6
NUM_BETAS = 10


def load_mean_params(path):
    """SMPL mean pose ``(1, 144)`` (6D, dtype as stored: float32) and mean shape ``(1, 10)`` float32."""
    try:
        with np.load(path, allow_pickle=False) as params:
            arrays = {k: params[k] for k in params.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise SMPLModelFileError(f"cannot read SMPL mean parameters {path}: it is corrupt or not an .npz "
                                 f"({type(e).__name__}: {e})") from e
    missing = [k for k in ('pose', 'shape') if k not in arrays]
    if missing:
        raise SMPLModelFileError(f"SMPL mean parameters {path} lack the entries {missing} (found {sorted(arrays)}); "
                                 f"expected 'pose' (144,) and 'shape' (10,)")
    pose, shape = arrays['pose'], arrays['shape']
    if pose.shape != (NUM_POSE_6D,) or shape.shape != (NUM_BETAS,):
        raise SMPLModelFileError(f"SMPL mean parameters {path}: 'pose' has shape {pose.shape} and 'shape' "
                                 f"{shape.shape}; expected ({NUM_POSE_6D},) and ({NUM_BETAS},)")
    if pose.dtype != np.float32:
        # the pose is used with its stored dtype (checkpoint compatibility); float64 would break the SMPL matmuls
        raise SMPLModelFileError(f"SMPL mean parameters {path}: 'pose' is {pose.dtype}, expected float32")
    return torch.from_numpy(pose).unsqueeze(0), torch.from_numpy(shape.astype('float32')).unsqueeze(0)


class SMPLRegressor(nn.Module):
    """Per-frame pose (6D per joint) and per-clip shape from DSTformer features, decoded by SMPL.

    ``forward(feat (N, T, J, C))`` → ``[{'theta': (N·T, 82), 'verts': (N·T, V, 3) mm,
    'kp_3d': (N·T, 17, 3) mm}]``; theta = 72 axis-angle pose values ++ 10 betas.
    """

    def __init__(self, args, dim_rep=512, num_joints=17, hidden_dim=2048, dropout_ratio=0.):
        super().__init__()
        check_smpl_files(args.data_root, list(smpl_file_sources()))  # all four files, one message
        # registration order fixes the initialisation sequence and the state_dict order of the released files
        self.dropout = nn.Dropout(p=dropout_ratio)
        self.fc1 = nn.Linear(num_joints * dim_rep, hidden_dim)
        self.pool2 = nn.AdaptiveAvgPool2d((None, 1))
        self.fc2 = nn.Linear(num_joints * dim_rep, hidden_dim)
        self.bn1 = nn.BatchNorm1d(hidden_dim, momentum=0.1)
        self.bn2 = nn.BatchNorm1d(hidden_dim, momentum=0.1)
        self.relu1 = nn.ReLU(inplace=True)
        self.relu2 = nn.ReLU(inplace=True)
        self.head_pose = nn.Linear(hidden_dim, NUM_POSE_6D)
        self.head_shape = nn.Linear(hidden_dim, NUM_BETAS)
        nn.init.xavier_uniform_(self.head_pose.weight, gain=0.01)
        nn.init.xavier_uniform_(self.head_shape.weight, gain=0.01)
        self.smpl = SMPL(args.data_root, batch_size=64, create_transl=False)
        init_pose, init_shape = load_mean_params(self.smpl.smpl_mean_params)
        self.register_buffer('init_pose', init_pose)
        self.register_buffer('init_shape', init_shape)

    @property
    def J_regressor(self):
        """The H36M joint regressor ``(17, V)`` (the SMPL buffer, so it follows ``.to(device)``)."""
        return self.smpl.J_regressor_h36m

    def forward(self, feat, init_pose=None, init_shape=None):
        """``init_pose (1 or N·T, 144)`` / ``init_shape (1 or N, 10)`` replace the mean parameters when given."""
        N, T, J, C = feat.shape
        NT = N * T
        feat = feat.reshape(N, T, -1)

        feat_pose = feat.reshape(NT, -1)  # (NT, J·C), joint-major
        feat_pose = self.dropout(feat_pose)
        feat_pose = self.relu1(self.bn1(self.fc1(feat_pose)))  # (NT, hidden)

        feat_shape = feat.permute(0, 2, 1)  # (N, J·C, T)
        feat_shape = self.pool2(feat_shape).reshape(N, -1)  # mean over time → (N, J·C)
        feat_shape = self.dropout(feat_shape)
        feat_shape = self.relu2(self.bn2(self.fc2(feat_shape)))  # (N, hidden)

        pred_pose = (self.init_pose if init_pose is None else init_pose).expand(NT, -1)
        pred_shape = (self.init_shape if init_shape is None else init_shape).expand(N, -1)
        pred_pose = self.head_pose(feat_pose) + pred_pose
        pred_shape = self.head_shape(feat_shape) + pred_shape
        # one shape per clip, repeated over its frames (sample n → rows n·T … n·T+T−1)
        pred_shape = pred_shape.expand(T, N, -1).permute(1, 0, 2).reshape(NT, -1)
        pred_rotmat = rot6d_to_rotmat(pred_pose).view(-1, 24, 3, 3)
        pred_output = self.smpl(betas=pred_shape, body_pose=pred_rotmat[:, 1:],
                                global_orient=pred_rotmat[:, 0].unsqueeze(1), pose2rot=False)
        pred_vertices = pred_output.vertices * 1000.0  # metres → mm
        J_regressor_batch = self.J_regressor[None, :].expand(pred_vertices.shape[0], -1, -1)
        pred_joints = torch.matmul(J_regressor_batch, pred_vertices)
        pose = rotation_matrix_to_angle_axis(pred_rotmat.reshape(-1, 3, 3)).reshape(-1, 72)
        return [{
            'theta': torch.cat([pose, pred_shape], dim=1),  # (NT, 72 + 10)
            'verts': pred_vertices,  # (NT, V, 3)
            'kp_3d': pred_joints,  # (NT, 17, 3)
        }]


class MeshRegressor(BackboneHeadModel):
    """``backbone`` representation → :class:`SMPLRegressor`; outputs reshaped to ``(N, T, …)``.

    ``param_groups(lr_backbone, lr_head)``: its optimizer groups, backbone then head.
    """

    def __init__(self, args, backbone, dim_rep=512, num_joints=17, hidden_dim=2048, dropout_ratio=0.5):
        super().__init__()
        self.backbone = backbone
        self.feat_J = num_joints
        self.head = SMPLRegressor(args, dim_rep, num_joints, hidden_dim, dropout_ratio)

    def forward(self, x, init_pose=None, init_shape=None, n_iter=3):
        """``x (N, T, 17, 3)`` → ``[{'theta': (N, T, 82), 'verts': (N, T, V, 3), 'kp_3d': (N, T, 17, 3)}]``.

        ``n_iter`` is accepted for signature compatibility; the head regresses in one pass.
        """
        N, T = x.shape[:2]
        feat = self.backbone.get_representation(x)
        feat = feat.reshape([N, T, self.feat_J, -1])
        smpl_output = self.head(feat, init_pose=init_pose, init_shape=init_shape)
        for s in smpl_output:
            s['theta'] = s['theta'].reshape(N, T, -1)
            s['verts'] = s['verts'].reshape(N, T, -1, 3)
            s['kp_3d'] = s['kp_3d'].reshape(N, T, -1, 3)
        return smpl_output
