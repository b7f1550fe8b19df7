"""Mesh training losses: root-relative keypoint losses + SMPL pose/shape regression (spec 05 §5)."""
import torch
from torch import nn

from lib.model.loss import (loss_angle, loss_angle_velocity, loss_limb_gt, loss_limb_var, loss_mpjpe,
                            loss_velocity, n_mpjpe)
from lib.utils.utils_mesh import batch_rodrigues

REGRESSION_CRITERIA = {'MSE': nn.MSELoss, 'L1': nn.L1Loss}


class MeshLoss(nn.Module):
    """Dict of 0-dim losses between a :class:`~lib.model.model_mesh.MeshRegressor` output and ground truth.

    ``loss_type`` (``'MSE'`` or ``'L1'``) is the criterion of the SMPL parameter losses.
    ``device`` is accepted for compatibility with the original signature; every tensor is
    created on the inputs' device.
    """

    def __init__(self, loss_type='MSE', device='cuda'):
        super().__init__()
        if loss_type not in REGRESSION_CRITERIA:
            raise ValueError(f"MeshLoss loss_type must be one of {sorted(REGRESSION_CRITERIA)}, got {loss_type!r}")
        self.loss_type = loss_type
        self.criterion_regr = REGRESSION_CRITERIA[loss_type]()

    def forward(self, smpl_output, data_gt):
        """``smpl_output``: model output list (the last dict is used) with ``theta (N, T, 82)`` and
        ``kp_3d (N, T, 17, 3)``; ``data_gt``: dict with the same two keys.
        """
        def merge_time(x):
            return x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])

        preds = smpl_output[-1]
        gt_theta = merge_time(data_gt['theta'])
        pred_theta = merge_time(preds['theta'])
        preds_local = preds['kp_3d'] - preds['kp_3d'][:, :, 0:1, :]  # (N, T, 17, 3)
        gt_local = data_gt['kp_3d'] - data_gt['kp_3d'][:, :, 0:1, :]
        loss_dict = {
            'loss_3d_pos': loss_mpjpe(preds_local, gt_local),
            'loss_3d_scale': n_mpjpe(preds_local, gt_local),
            'loss_3d_velocity': loss_velocity(preds_local, gt_local),
            'loss_lv': loss_limb_var(preds_local),
            'loss_lg': loss_limb_gt(preds_local, gt_local),
            'loss_a': loss_angle(preds_local, gt_local),
            'loss_av': loss_angle_velocity(preds_local, gt_local),
        }
        loss_pose, loss_shape = self.smpl_losses(pred_theta[:, :72], pred_theta[:, 72:],
                                                 gt_theta[:, :72], gt_theta[:, 72:])
        loss_dict['loss_shape'] = loss_shape
        loss_dict['loss_pose'] = loss_pose
        loss_dict['loss_norm'] = (torch.norm(pred_theta, dim=-1).mean() if len(pred_theta) > 0
                                  else pred_theta.new_zeros(()))
        return loss_dict

    def smpl_losses(self, pred_rotmat, pred_betas, gt_pose, gt_betas):
        """Criterion between rotation matrices of the axis-angle poses ``(M, 72)``, and between betas ``(M, 10)``.

        Returns ``(loss_pose, loss_shape)``; zeros for an empty batch.
        """
        if len(pred_rotmat) == 0:
            zero = pred_rotmat.new_zeros(())
            return zero, zero
        pred_rotmat_valid = batch_rodrigues(pred_rotmat.reshape(-1, 3)).reshape(-1, 24, 3, 3)
        gt_rotmat_valid = batch_rodrigues(gt_pose.reshape(-1, 3)).reshape(-1, 24, 3, 3)
        loss_regr_pose = self.criterion_regr(pred_rotmat_valid, gt_rotmat_valid)
        loss_regr_betas = self.criterion_regr(pred_betas, gt_betas)
        return loss_regr_pose, loss_regr_betas
