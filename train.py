"""Pretraining and 3D pose training/evaluation on Human3.6M.

    python train.py --config configs/pose3d/MB_ft_h36m.yaml --pretrained checkpoint/pretrain/MB_release \
        --checkpoint checkpoint/pose3d/FT_MB_release_MB_ft_h36m
    python train.py --config configs/pose3d/MB_ft_h36m.yaml --evaluate checkpoint/pose3d/.../best_epoch.bin
    torchrun --nproc_per_node 2 train.py --config ...      # several GPUs / processes

See docs/pose3d.md and docs/pretrain.md.
"""

import torch

from lib.data.augmentation import Augmenter2D
from lib.data.datareader_h36m import DataReaderH36M
from lib.data.dataset_motion_2d import InstaVDataset2D, PoseTrackDataset2D
from lib.data.dataset_motion_3d import MotionDataset3D
from lib.model.loss import (loss_2d_weighted, loss_angle, loss_angle_velocity, loss_limb_gt, loss_limb_var,
                            loss_mpjpe, loss_velocity, n_mpjpe)
from lib.utils import checkpoint as checkpoint_io
from lib.utils import trainer
from lib.utils.cli import run_cli
from lib.utils.config_schema import TRAIN_POSE3D
from lib.utils.errors import DataError
from lib.utils.eval_h36m import format_h36m_table, h36m_errors, predict_pose3d
from lib.utils.trainer import Task, TrainPass

# 3D loss terms: (meter name, config weight, loss of (pred, gt)); the MPJPE weight is fixed to 1
LOSSES_3D = [
    ("3d_pos", None, loss_mpjpe),
    ("3d_scale", "lambda_scale", n_mpjpe),
    ("3d_velocity", "lambda_3d_velocity", loss_velocity),
    ("lv", "lambda_lv", lambda pred, gt: loss_limb_var(pred)),
    ("lg", "lambda_lg", loss_limb_gt),
    ("angle", "lambda_a", loss_angle),
    ("angle_velocity", "lambda_av", loss_angle_velocity),
]
METER_NAMES = ('3d_pos', '3d_scale', '2d_proj', 'lg', 'lv', 'total', '3d_velocity', 'angle', 'angle_velocity')
# tensorboard tag → meter, after 'Error P1' and 'Error P2' ('stream' only with the streaming loss term)
LOSS_TAGS = {'loss_3d_pos': '3d_pos', 'loss_2d_proj': '2d_proj', 'loss_3d_scale': '3d_scale',
             'loss_3d_velocity': '3d_velocity', 'loss_lv': 'lv', 'loss_lg': 'lg', 'loss_a': 'angle',
             'loss_av': 'angle_velocity', 'loss_total': 'total', 'loss_stream': 'stream'}


def weighted_3d_loss(cfg, predicted, target):
    """The 3D loss (:data:`LOSSES_3D` with the config's weights) and its terms."""
    terms = {name: fn(predicted, target) for name, _, fn in LOSSES_3D}
    return sum(terms[name] * (1 if key is None else cfg[key]) for name, key, _ in LOSSES_3D), terms


def streams_loss(cfg):
    """Whether the config adds the streaming term: the 3D loss again on the last ``stream_frames`` frames
    of each clip, weighted by ``lambda_stream`` (docs/streaming.md, "Training for the window's end")."""
    return bool(cfg.get('lambda_stream')) and bool(cfg.get('stream_frames'))


def pose3d_loss(cfg, model_pos, batch_input, batch_gt, has_3d, has_gt):
    """Loss of one batch and the values of its terms (spec 02 §7.4; plus the optional streaming term)."""
    with torch.no_grad():
        if cfg.no_conf:
            batch_input = batch_input[:, :, :, :2]
        if not has_3d:
            conf = batch_input[:, :, :, 2:].clone()  # 2D loss weights, taken before corruption
        if cfg.rootrel:
            batch_gt = batch_gt - batch_gt[:, :, 0:1, :]
        else:
            batch_gt[:, :, :, 2] = batch_gt[:, :, :, 2] - batch_gt[:, 0:1, 0:1, 2]
        if cfg.get('mask') or cfg.noise:
            batch_input = cfg.aug.augment2D(batch_input, noise=(cfg.noise and has_gt), mask=cfg.mask)
    predicted_3d_pos = model_pos(batch_input).float()  # losses in float32, also under --amp
    if has_3d:
        total, terms = weighted_3d_loss(cfg, predicted_3d_pos, batch_gt)
        if streams_loss(cfg):  # a streaming lifter with little look-ahead uses the clip's last frames
            last = cfg.stream_frames
            terms['stream'], _ = weighted_3d_loss(cfg, predicted_3d_pos[:, -last:], batch_gt[:, -last:])
            total = total + cfg.lambda_stream * terms['stream']
    else:
        terms = {'2d_proj': loss_2d_weighted(predicted_3d_pos, batch_gt, conf)}
        total = terms['2d_proj']
    terms['total'] = total
    return total, terms


def pose3d_step(cfg, model_pos, batch, meters, device, has_3d, has_gt):
    """Loss of one ``(2D input, 3D label)`` batch; its terms go to ``meters``."""
    batch_input, batch_gt = (t.to(device) for t in batch)
    loss, terms = pose3d_loss(cfg, model_pos, batch_input, batch_gt, has_3d, has_gt)
    for name, value in terms.items():
        meters[name].update(value.item(), batch_input.shape[0])
    return loss


def h36m_evaluation(cfg, model_pos, predict, datareader, print_fn=print):
    """H36M protocol errors of ``model_pos``; ``predict(fn)`` runs ``fn`` over the test clip batches in
    order. Prints the per-action table."""
    print_fn('INFO: Testing')
    model_pos.eval()
    results = predict(lambda batch: {'pred': predict_pose3d(cfg, model_pos, batch[0])})
    errors = h36m_errors(results['pred'], datareader)
    print_fn(format_h36m_table(errors))
    return errors


class Pose3DTask(Task):
    config_reader = TRAIN_POSE3D
    model_key = 'model_pos'
    best_key = 'min_loss'
    best_initial = 100000
    higher_is_better = False
    meter_names = METER_NAMES
    lr_as_list = False
    auto_resume_in_finetune = False
    strict_finetune = True

    def __init__(self, cfg, cli, runtime):
        super().__init__(cfg, cli, runtime)
        self.training = not cli.evaluate
        if streams_loss(cfg):
            self.meter_names = METER_NAMES + ('stream',)
        if self.training:
            cfg.mask = (cfg.mask_ratio > 0 and cfg.mask_T_ratio > 0)
            if cfg.mask or cfg.noise:
                cfg.aug = Augmenter2D(cfg)
            loader = lambda ds: runtime.loader(ds, cfg.batch_size, shuffle=True, original_workers=12)
            self.train_loader_3d = loader(MotionDataset3D(cfg, cfg.subset_list, 'train'))
            if cfg.train_2d:
                self.posetrack_loader_2d = loader(PoseTrackDataset2D(**self._path_kwargs('posetrack_root')))
                self.instav_loader_2d = loader(InstaVDataset2D(**self._path_kwargs('insta_root')))
        self.test_dataset = self.datareader = None
        if not (self.training and cfg.no_eval):
            self.test_dataset = MotionDataset3D(cfg, cfg.subset_list, 'test')
            self.datareader = DataReaderH36M(n_frames=cfg.clip_len, sample_stride=cfg.sample_stride,
                                             data_stride_train=cfg.data_stride, data_stride_test=cfg.clip_len,
                                             dt_root=cfg.get('dt_root', 'data/motion3d'), dt_file=cfg.dt_file)
            n_clips = len(self.datareader.get_split_id()[1])
            if n_clips != len(self.test_dataset):
                raise DataError(f"{len(self.test_dataset)} test clip files under {cfg.data_root} but {n_clips} test "
                                f"clips in {cfg.dt_file} with clip_len {cfg.clip_len}: re-create the clips with "
                                f"tools/convert_h36m.py (docs/pose3d.md)")

    def _path_kwargs(self, key):
        # optional config keys to move the 2D datasets away from their default folders
        return {'data_root': self.cfg[key]} if key in self.cfg else {}

    def train_passes(self, epoch):
        passes = []
        if self.cfg.train_2d and epoch >= self.cfg.pretrain_3d_curriculum:
            passes += [TrainPass('PoseTrack', self.posetrack_loader_2d, has_3d=False, has_gt=True),
                       TrainPass('InstaVariety', self.instav_loader_2d, has_3d=False, has_gt=False)]
        passes.append(TrainPass('3D', self.train_loader_3d, has_3d=True, has_gt=True))
        return passes

    def train_step(self, model, batch, meters, has_3d, has_gt):
        return pose3d_step(self.cfg, model, batch, meters, self.runtime.device, has_3d, has_gt)

    def evaluate(self, model):
        if self.training and self.cfg.no_eval:
            return None
        errors = h36m_evaluation(self.cfg, model, lambda fn: self.runtime.predict(
            self.test_dataset, self.cfg.batch_size, fn, workers=12), self.datareader, self.runtime.print)
        return dict(errors, metric=errors['e1'])

    def evaluation_report(self, metrics):
        return {'checkpoint': self.cli.evaluate, 'config': self.cli.config,
                'protocol_1_mpjpe_mm': float(metrics['e1']), 'protocol_2_p_mpjpe_mm': float(metrics['e2']),
                'per_action': {name: {'P1': float(p1), 'P2': float(p2)}
                               for name, p1, p2 in zip(metrics['action_names'], metrics['P1'], metrics['P2'])}}

    def epoch_line(self, epoch, meters, metrics, lr, minutes):
        line = '[%d] time %.2f lr %f 3d_train %f' % (epoch + 1, minutes, lr[0], meters['3d_pos'].avg)
        return line if metrics is None else line + ' e1 %f e2 %f' % (metrics['e1'], metrics['e2'])

    def epoch_scalars(self, meters, metrics):
        if metrics is None:  # no_eval: the original logged nothing
            return {}
        return {'Error P1': metrics['e1'], 'Error P2': metrics['e2'],
                **{tag: meters[name].avg for tag, name in LOSS_TAGS.items() if name in meters}}


def main(argv=None):
    trainer.main(Pose3DTask, argv)


# --- the original's script-level functions (spec 00 §7.10), kept for compatibility -------------------------
parse_args = Pose3DTask.parse_args
set_random_seed = trainer.set_random_seed


def save_checkpoint(chk_path, epoch, lr, optimizer, model_pos, min_loss):
    """Write a train.py checkpoint (the engine writes the same layout)."""
    print('Saving checkpoint to', chk_path)
    checkpoint_io.save_checkpoint(chk_path, trainer.training_checkpoint(epoch, lr, optimizer, model_pos, 'model_pos',
                                                                        'min_loss', min_loss))


def evaluate(args, model_pos, test_loader, datareader):
    """H36M protocol on ``test_loader`` batches of ``(2D input, 3D label)`` test clips in order.

    Prints the per-action table; returns ``(e1, e2, results_all)``.
    """
    errors = h36m_evaluation(args, model_pos, lambda fn: trainer.predict_loader(test_loader, fn), datareader)
    return errors['e1'], errors['e2'], errors['results_all']


def train_epoch(args, model_pos, train_loader, losses, optimizer, has_3d, has_gt):
    """One pass over ``train_loader``; ``losses``: the meters of :data:`METER_NAMES`."""
    model_pos.train()
    device = next(model_pos.parameters()).device
    trainer.optimise(train_loader, lambda batch: pose3d_step(args, model_pos, batch, losses, device, has_3d, has_gt),
                     optimizer)


def train_with_config(args, opts):
    """Train or evaluate with a loaded config; the config is checked first."""
    return trainer.run(Pose3DTask, opts, args)


if __name__ == "__main__":
    run_cli(main)
